//! [`FeatureError`]: every way a feature-store call can fail, each naming
//! what was wrong and where (view, feature, column, row, byte offset).

use std::path::PathBuf;

use unidb_common::bytes::ReadError;
use unidb_common::csv::CsvError;
use unidb_common::ErrorKind;

use crate::VectorError;

/// Shorthand for results carrying a [`FeatureError`].
pub type FeatureResult<T> = std::result::Result<T, FeatureError>;

/// A feature-store error. Rows are numbered from 1 (the first data row of
/// a batch or file); columns are named.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FeatureError {
    /// No view of that name.
    #[error("unknown view {name:?}; views: {}", known.join(", "))]
    UnknownView {
        /// The name asked for.
        name: String,
        /// The views defined.
        known: Vec<String>,
    },
    /// No entity of that name.
    #[error("unknown entity {name:?}; entities: {}", known.join(", "))]
    UnknownEntity {
        /// The name asked for.
        name: String,
        /// The entities defined.
        known: Vec<String>,
    },
    /// A column that is not a feature of the view.
    #[error("view {view:?} has no feature {name:?}; features: {}", known.join(", "))]
    UnknownFeature {
        /// The view.
        view: String,
        /// The name given.
        name: String,
        /// The view's features.
        known: Vec<String>,
    },
    /// A table or file without a column it needs.
    #[error("{table}: no column {column:?}")]
    MissingColumn {
        /// The table or file.
        table: String,
        /// The column required.
        column: String,
    },
    /// A column of another type than declared.
    #[error("{table}, column {column:?}{}: expected {expected}, found {found}", row_suffix(*row))]
    TypeMismatch {
        /// The table, file or view.
        table: String,
        /// The column.
        column: String,
        /// The first row of the wrong type, when known.
        row: Option<usize>,
        /// The type declared.
        expected: String,
        /// The type given.
        found: String,
    },
    /// A cell that does not parse as its column's type.
    #[error("{table}, row {row}, column {column:?}: {value:?} is not {expected}")]
    BadCell {
        /// The table or file.
        table: String,
        /// 1-based data row.
        row: usize,
        /// The column.
        column: String,
        /// The cell (cut to 64 characters).
        value: String,
        /// What was expected.
        expected: String,
    },
    /// A timestamp that does not parse or does not fit nanoseconds in an
    /// `i64` (years 1677 to 2262).
    #[error("{table}, row {row}, column {column:?}: {value:?} is not a timestamp (RFC 3339 date-time, or epoch {unit})")]
    BadTimestamp {
        /// The table or file.
        table: String,
        /// 1-based data row.
        row: usize,
        /// The column.
        column: String,
        /// The cell (cut to 64 characters).
        value: String,
        /// The unit of epoch numbers.
        unit: &'static str,
    },
    /// Two rows of a view with the same entity, event time and created time.
    #[error("view {view:?}, row {row}: duplicate row for entity {entity}, event_timestamp {event}, created_timestamp {created}")]
    DuplicateRow {
        /// The view.
        view: String,
        /// 1-based row of the batch being appended.
        row: usize,
        /// The entity key.
        entity: String,
        /// Event time (ns).
        event: i64,
        /// Created time (ns).
        created: i64,
    },
    /// Columns of different lengths in one batch or table.
    #[error("{table}, column {column:?}: {got} rows, expected {expected}")]
    LengthMismatch {
        /// The table or view.
        table: String,
        /// The column.
        column: String,
        /// Rows expected.
        expected: usize,
        /// Rows given.
        got: usize,
    },
    /// A name defined twice.
    #[error("{what} {name:?} is already defined")]
    AlreadyDefined {
        /// `"view"`, `"entity"`, `"feature"` or `"column"`.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// An invalid definition or option.
    #[error("{what}: {reason}")]
    Invalid {
        /// What was invalid (an option or definition).
        what: String,
        /// Why.
        reason: String,
    },
    /// A snapshot file that fails a structural check.
    #[error("corrupt feature snapshot at byte {offset}: {reason}")]
    Corrupt {
        /// Byte offset in the file.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Malformed CSV.
    #[error("{table}: {source}")]
    Csv {
        /// The file.
        table: String,
        /// The reader's error.
        source: CsvError,
    },
    /// A format or operation this build does not support.
    #[error("{what} is not supported: {hint}")]
    Unsupported {
        /// What was asked for.
        what: String,
        /// How to get it.
        hint: String,
    },
    /// Building a collection failed.
    #[error(transparent)]
    Vector(#[from] VectorError),
}

fn row_suffix(row: Option<usize>) -> String {
    row.map(|r| format!(", row {r}")).unwrap_or_default()
}

impl FeatureError {
    /// The error's kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            FeatureError::UnknownView { .. }
            | FeatureError::UnknownEntity { .. }
            | FeatureError::UnknownFeature { .. }
            | FeatureError::MissingColumn { .. } => ErrorKind::NotFound,
            FeatureError::TypeMismatch { .. }
            | FeatureError::BadCell { .. }
            | FeatureError::BadTimestamp { .. }
            | FeatureError::LengthMismatch { .. }
            | FeatureError::Invalid { .. } => ErrorKind::Validation,
            FeatureError::DuplicateRow { .. } | FeatureError::AlreadyDefined { .. } => {
                ErrorKind::Conflict
            }
            FeatureError::Corrupt { .. } => ErrorKind::CorruptData,
            FeatureError::Io { source, .. } => ErrorKind::of_io(source.kind()),
            FeatureError::Csv { source, .. } => source.kind(),
            FeatureError::Unsupported { .. } => ErrorKind::Unsupported,
            FeatureError::Vector(e) => e.kind(),
        }
    }

    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        FeatureError::Invalid {
            what: what.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn corrupt(offset: usize, reason: impl Into<String>) -> Self {
        FeatureError::Corrupt {
            offset,
            reason: reason.into(),
        }
    }
}

impl From<ReadError> for FeatureError {
    fn from(e: ReadError) -> Self {
        FeatureError::Corrupt {
            offset: e.offset,
            reason: e.to_string(),
        }
    }
}

impl From<FeatureError> for unidb_common::Error {
    fn from(e: FeatureError) -> Self {
        unidb_common::Error::new(e.kind(), e.to_string()).with_source(e)
    }
}

/// A cell cut to 64 characters for an error message.
pub(crate) fn cut(cell: &str) -> String {
    if cell.chars().count() > 64 {
        let s: String = cell.chars().take(61).collect();
        format!("{s}...")
    } else {
        cell.to_owned()
    }
}
