//! One error type for the whole project.
//!
//! An [`Error`] has a [`ErrorKind`] (what category of failure), a message
//! (what was wrong), an optional location (where: a field, a file, a key, an
//! offset), a chain of context notes added on the way up, and an optional
//! source error. Member crates keep their own precise error enums and convert
//! them with `impl From<TheirError> for unidb_common::Error`, typically
//! `Error::new(e.kind(), e.to_string()).with_source(e)`: every member
//! crate's error has a `kind()` giving its [`ErrorKind`], and the source
//! chain ([`std::error::Error::source`]) reaches the original error, down
//! to the [`std::io::Error`] where there is one. Libraries return errors
//! and never print them; only the command-line tool does.
//!
//! ```
//! use unidb_common::error::{Error, ErrorKind, Result};
//!
//! fn parse_dim(s: &str) -> Result<usize> {
//!     s.parse::<usize>()
//!         .map_err(|e| Error::validation(format!("{s:?} is not a dimension"), "index.dim").with_source(e))
//! }
//!
//! let err = parse_dim("x").unwrap_err().context("loading collection \"docs\"");
//! assert_eq!(err.kind(), ErrorKind::Validation);
//! assert_eq!(err.location(), Some("index.dim"));
//! assert_eq!(
//!     err.to_string(),
//!     "validation error at index.dim: \"x\" is not a dimension (while loading collection \"docs\")"
//! );
//! assert!(std::error::Error::source(&err).is_some());
//! ```

use std::borrow::Cow;
use std::fmt;

/// Shorthand for results carrying an [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The category of an [`Error`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An input value is out of range or malformed.
    Validation,
    /// A configuration is invalid or inconsistent.
    Configuration,
    /// Encoding or decoding failed.
    Serialization,
    /// A named thing does not exist.
    NotFound,
    /// The operation conflicts with existing state (duplicate, concurrent change).
    Conflict,
    /// Stored or received data fails integrity checks.
    CorruptData,
    /// An operating-system I/O error.
    Io,
    /// The operation or format is not supported.
    Unsupported,
}

impl ErrorKind {
    /// A short lowercase name: `"validation"`, `"not found"`, ...
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Validation => "validation",
            ErrorKind::Configuration => "configuration",
            ErrorKind::Serialization => "serialization",
            ErrorKind::NotFound => "not found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::CorruptData => "corrupt data",
            ErrorKind::Io => "I/O",
            ErrorKind::Unsupported => "unsupported",
        }
    }
}

impl ErrorKind {
    /// The kind of an I/O error of kind `io`: a missing file is
    /// [`NotFound`](Self::NotFound), invalid data
    /// [`CorruptData`](Self::CorruptData), an unsupported operation
    /// [`Unsupported`](Self::Unsupported), anything else [`Io`](Self::Io).
    /// Member crates map the I/O errors they wrap with it, as the
    /// conversion from [`std::io::Error`] does.
    pub fn of_io(io: std::io::ErrorKind) -> Self {
        match io {
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            std::io::ErrorKind::InvalidData => ErrorKind::CorruptData,
            std::io::ErrorKind::Unsupported => ErrorKind::Unsupported,
            _ => ErrorKind::Io,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The project's error: kind, what was wrong, where, context and source.
///
/// `Display` reads `"<kind> error[ at <location>]: <message>[ (while <ctx>; while <ctx>)]"`;
/// the source is reachable through [`std::error::Error::source`]. The error
/// is one pointer wide, so `Result<T>` stays small.
pub struct Error(Box<Inner>);

struct Inner {
    kind: ErrorKind,
    message: Cow<'static, str>,
    location: Option<Cow<'static, str>>,
    context: Vec<Cow<'static, str>>,
    source: Option<Source>,
}

impl Error {
    /// An error of `kind` with `message` (what was wrong).
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self(Box::new(Inner {
            kind,
            message: message.into(),
            location: None,
            context: Vec::new(),
            source: None,
        }))
    }

    /// An error of `kind`: `what` was wrong at `location` (a field, path, key ...).
    pub fn at(
        kind: ErrorKind,
        what: impl Into<Cow<'static, str>>,
        location: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::new(kind, what).with_location(location)
    }

    /// [`ErrorKind::Validation`]: `what` was wrong at `location`.
    pub fn validation(
        what: impl Into<Cow<'static, str>>,
        location: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::at(ErrorKind::Validation, what, location)
    }

    /// [`ErrorKind::Configuration`]: `what` was wrong at `location`.
    pub fn configuration(
        what: impl Into<Cow<'static, str>>,
        location: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::at(ErrorKind::Configuration, what, location)
    }

    /// [`ErrorKind::Serialization`]: `what` was wrong at `location`.
    pub fn serialization(
        what: impl Into<Cow<'static, str>>,
        location: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::at(ErrorKind::Serialization, what, location)
    }

    /// [`ErrorKind::NotFound`]: `what` was not found in `location`.
    pub fn not_found(
        what: impl Into<Cow<'static, str>>,
        location: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::at(ErrorKind::NotFound, what, location)
    }

    /// [`ErrorKind::Conflict`]: `what` conflicts at `location`.
    pub fn conflict(
        what: impl Into<Cow<'static, str>>,
        location: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::at(ErrorKind::Conflict, what, location)
    }

    /// [`ErrorKind::CorruptData`]: `what` was wrong at `location` (e.g. a byte offset).
    pub fn corrupt_data(
        what: impl Into<Cow<'static, str>>,
        location: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::at(ErrorKind::CorruptData, what, location)
    }

    /// [`ErrorKind::Io`]: `what` failed at `location` (e.g. a path).
    pub fn io(what: impl Into<Cow<'static, str>>, location: impl Into<Cow<'static, str>>) -> Self {
        Self::at(ErrorKind::Io, what, location)
    }

    /// [`ErrorKind::Unsupported`]: `what` is not supported at `location`.
    pub fn unsupported(
        what: impl Into<Cow<'static, str>>,
        location: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::at(ErrorKind::Unsupported, what, location)
    }

    /// Sets where the error happened (replacing an earlier location).
    pub fn with_location(mut self, location: impl Into<Cow<'static, str>>) -> Self {
        self.0.location = Some(location.into());
        self
    }

    /// Attaches the underlying error.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.0.source = Some(Box::new(source));
        self
    }

    /// Attaches an already boxed underlying error.
    pub fn with_boxed_source(mut self, source: Source) -> Self {
        self.0.source = Some(source);
        self
    }

    /// Adds a note on what was being done ("loading collection docs"); notes
    /// print innermost first.
    pub fn context(mut self, ctx: impl Into<Cow<'static, str>>) -> Self {
        self.0.context.push(ctx.into());
        self
    }

    /// The category.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// What was wrong.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// Where it was wrong, if known.
    pub fn location(&self) -> Option<&str> {
        self.0.location.as_deref()
    }

    /// The context notes, innermost first.
    pub fn context_notes(&self) -> impl Iterator<Item = &str> {
        self.0.context.iter().map(|c| c.as_ref())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.0.kind)
            .field("message", &self.0.message);
        if let Some(l) = &self.0.location {
            d.field("location", l);
        }
        if !self.0.context.is_empty() {
            d.field("context", &self.0.context);
        }
        if let Some(s) = &self.0.source {
            d.field("source", s);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} error", self.0.kind)?;
        if let Some(l) = &self.0.location {
            write!(f, " at {l}")?;
        }
        write!(f, ": {}", self.0.message)?;
        if !self.0.context.is_empty() {
            f.write_str(" (")?;
            for (i, c) in self.0.context.iter().enumerate() {
                if i > 0 {
                    f.write_str("; ")?;
                }
                write!(f, "while {c}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::new(ErrorKind::of_io(e.kind()), e.to_string()).with_source(e)
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        let kind = if e.is_io() {
            ErrorKind::Io
        } else {
            ErrorKind::Serialization
        };
        let location = format!("JSON line {} column {}", e.line(), e.column());
        let mut err = Error::new(kind, e.to_string());
        if e.line() > 0 {
            err = err.with_location(location);
        }
        err.with_source(e)
    }
}

impl From<crate::time::ClockError> for Error {
    fn from(e: crate::time::ClockError) -> Self {
        use crate::time::ClockError;
        let kind = match e {
            ClockError::DriftExceeded { .. } | ClockError::PhysicalOutOfRange { .. } => {
                ErrorKind::Validation
            }
            _ => ErrorKind::Conflict,
        };
        Error::at(kind, e.to_string(), "hybrid logical clock").with_source(e)
    }
}

impl From<crate::id::IdError> for Error {
    fn from(e: crate::id::IdError) -> Self {
        Error::at(ErrorKind::Validation, e.to_string(), "identifier").with_source(e)
    }
}
