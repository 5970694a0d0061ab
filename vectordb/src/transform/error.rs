//! The errors of fitting, applying and decoding transforms.

use unidb_common::bytes::ReadError;

/// What went wrong fitting, applying or decoding a transform.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TransformError {
    /// A dimension is zero or out of range, an output buffer of the wrong
    /// length, or a chain step that does not take what the previous one
    /// gives.
    #[error("{what}: expected {expected}, got {got}")]
    Dimension {
        /// What was checked ("input length", "sample length", "chain step 2 input", ...).
        what: &'static str,
        /// What it should be (a row length, or the dimension expected).
        expected: usize,
        /// What it is.
        got: usize,
    },
    /// A batch whose length is not a whole number of rows.
    #[error("{what} has {len} values, not a whole number of rows of {dim}")]
    NotWholeRows {
        /// "sample" or "input".
        what: &'static str,
        /// Its length.
        len: usize,
        /// The row length.
        dim: usize,
    },
    /// A value that is NaN or infinite, in a sample or in rows to transform.
    #[error("{what} has a non-finite value at row {row}, column {column}")]
    NotFinite {
        /// "sample" or "input".
        what: &'static str,
        /// Its row.
        row: usize,
        /// Its column.
        column: usize,
    },
    /// A transform that learns from data was given no rows.
    #[error("{transform} needs a non-empty sample to fit")]
    EmptySample {
        /// The transform.
        transform: &'static str,
    },
    /// More output dimensions than the input has.
    #[error("{transform} cannot give {requested} dimensions from {available}")]
    TooManyDimensions {
        /// The transform.
        transform: &'static str,
        /// The output dimension asked for.
        requested: usize,
        /// The input dimension.
        available: usize,
    },
    /// Whitening a principal component that has (numerically) no variance.
    #[error(
        "pca: cannot whiten component {component}: its variance {variance:e} is zero \
         (keep fewer components or set eps)"
    )]
    Degenerate {
        /// The component (0 = largest variance).
        component: usize,
        /// Its variance (plus `eps`).
        variance: f64,
    },
    /// `inverse` of a transform that loses information (normalize, a
    /// random projection).
    #[error("{transform} has no inverse")]
    NotInvertible {
        /// The transform.
        transform: &'static str,
    },
    /// The linear-algebra routine failed (an eigendecomposition that did
    /// not converge).
    #[error("{transform}: {reason}")]
    Linalg {
        /// The transform.
        transform: &'static str,
        /// What failed.
        reason: String,
    },
    /// Fitting needs a feature this build was compiled without.
    #[error("{transform} cannot be fitted: built without the `{feature}` feature")]
    Unsupported {
        /// The transform.
        transform: &'static str,
        /// The cargo feature of `unidb-vectordb` it needs.
        feature: &'static str,
    },
    /// Encoded transform bytes that are truncated, damaged or inconsistent.
    #[error("bad transform bytes at byte {offset}: {reason}")]
    Decode {
        /// Byte offset of the problem.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
}

impl TransformError {
    /// The project-wide category: bad bytes are
    /// [`CorruptData`](unidb_common::ErrorKind::CorruptData), a missing
    /// feature [`Unsupported`](unidb_common::ErrorKind::Unsupported),
    /// anything else [`Validation`](unidb_common::ErrorKind::Validation)
    /// (the input was wrong; a decomposition fails only on data it cannot
    /// handle, such as values near the float range).
    pub fn kind(&self) -> unidb_common::ErrorKind {
        use unidb_common::ErrorKind as K;
        match self {
            TransformError::Decode { .. } => K::CorruptData,
            TransformError::Unsupported { .. } => K::Unsupported,
            _ => K::Validation,
        }
    }

    /// A decode error at `offset`.
    pub(crate) fn decode(offset: usize, reason: impl Into<String>) -> Self {
        TransformError::Decode {
            offset,
            reason: reason.into(),
        }
    }
}

impl From<ReadError> for TransformError {
    fn from(e: ReadError) -> Self {
        TransformError::Decode {
            offset: e.offset,
            reason: format!("{}: {}", e.what, e.kind),
        }
    }
}

impl From<TransformError> for unidb_common::Error {
    fn from(e: TransformError) -> Self {
        unidb_common::Error::new(e.kind(), e.to_string()).with_source(e)
    }
}
