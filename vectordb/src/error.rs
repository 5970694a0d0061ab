//! The crate's error type.

use unidb_common::id::Id;

/// Errors of the vector database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VectorError {
    /// A vector's length differs from the collection's dimension.
    #[error("wrong dimension: expected {expected}, got {got}")]
    WrongDimension {
        /// The collection's dimension.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// A vector holds NaN and the collection does not allow it.
    #[error("vector has NaN at position {position} (set allow_nan to accept)")]
    NaN {
        /// Index of the first NaN.
        position: usize,
    },
    /// A component cannot be represented in the collection's storage: a
    /// finite value beyond ±65504 for f16; for i8, a non-finite value, or
    /// (once the quantizer is trained) a value more than half a code step
    /// outside its dimension's range ([`Quantizer::bounds`](crate::Quantizer::bounds)).
    #[error("value {value} at position {position} is out of range for {storage} storage")]
    OutOfRange {
        /// Index of the first such component.
        position: usize,
        /// Its value.
        value: f32,
        /// The storage.
        storage: crate::storage::Storage,
    },
    /// A query holds NaN or an infinity (refused for every non-binary
    /// metric: its distances would be NaN or infinite and unordered).
    #[error("query has the non-finite value {value} at position {position}")]
    NonFiniteQuery {
        /// Index of the first non-finite component.
        position: usize,
        /// Its value.
        value: f32,
    },
    /// No live vector has this id.
    #[error("unknown id {0}")]
    UnknownId(Id),
    /// `insert` of an id that is already present (use `upsert`).
    #[error("id {0} already exists (use upsert to replace)")]
    DuplicateId(Id),
    /// An invalid configuration value.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A plugin was given a parameter it does not have.
    #[error("{plugin} has no parameter {key:?} (its parameters: {})", .known.join(", "))]
    UnknownParam {
        /// The plugin (e.g. `hnsw`).
        plugin: String,
        /// The parameter given (a path such as `a.b` for a nested one).
        key: String,
        /// The parameters it has.
        known: Vec<String>,
    },
    /// A plugin parameter of the wrong type, or outside its allowed values.
    #[error("{plugin} parameter {key:?}: {reason}")]
    InvalidParam {
        /// The plugin (e.g. `hnsw`).
        plugin: String,
        /// The parameter (a path such as `a.b` for a nested one).
        key: String,
        /// What is wrong with its value.
        reason: String,
    },
    /// No index with this name is attached to the collection.
    #[error("no index named {name:?}; attached: {known:?}")]
    UnknownIndex {
        /// The name asked for.
        name: String,
        /// The attached index names.
        known: Vec<String>,
    },
    /// The kernels cannot run as configured: `UNIDB_ISA` names an unknown
    /// path or one this CPU lacks (checked when a collection is created
    /// or opened).
    #[error(transparent)]
    Kernels(#[from] unidb_kernels::KernelError),
    /// A metric or index plugin lookup failed.
    #[error(transparent)]
    Registry(#[from] unidb_registry::RegistryError),
    /// Fitting, applying or decoding a transform failed.
    #[error(transparent)]
    Transform(crate::TransformError),
    /// The collection holds more vectors than the 32-bit slot space allows.
    #[error("collection is full ({0} slots)")]
    Full(usize),
    /// An I/O error, with the file it concerns.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A vector file (fvecs, ivecs, npy) is malformed.
    #[error("{path}: bad vector file at byte {offset}: {reason}")]
    BadVectorFile {
        /// The file.
        path: String,
        /// Byte offset of the problem.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// A saved collection file is not one (wrong magic).
    #[error("not a unidb collection file (bad magic)")]
    BadMagic,
    /// A saved collection file of an unsupported format version.
    #[error("unsupported collection file version {found} (this build reads {supported})")]
    UnsupportedVersion {
        /// The version in the file.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// A FAISS factory or search-parameter string that does not parse,
    /// or a spec that does not fit or cannot be built yet.
    #[error(transparent)]
    Factory(crate::factory::FactoryError),
    /// A saved collection file is damaged: truncated, checksum mismatch or
    /// inconsistent contents.
    #[error("corrupt collection file: {0}")]
    Corrupt(String),
}

/// Shorthand for results of this crate.
pub type Result<T, E = VectorError> = std::result::Result<T, E>;

impl VectorError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        VectorError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

impl VectorError {
    /// The project-wide category of this error (an I/O error's is its
    /// `io::ErrorKind`'s, by [`ErrorKind::of_io`](unidb_common::ErrorKind::of_io)).
    pub fn kind(&self) -> unidb_common::ErrorKind {
        use unidb_common::ErrorKind as K;
        use unidb_registry::RegistryError as R;
        match self {
            VectorError::WrongDimension { .. }
            | VectorError::NaN { .. }
            | VectorError::OutOfRange { .. }
            | VectorError::NonFiniteQuery { .. } => K::Validation,
            VectorError::UnknownId(_) | VectorError::UnknownIndex { .. } => K::NotFound,
            VectorError::DuplicateId(_) => K::Conflict,
            VectorError::InvalidConfig(_)
            | VectorError::UnknownParam { .. }
            | VectorError::InvalidParam { .. } => K::Configuration,
            VectorError::Kernels(e) => e.kind(),
            VectorError::Factory(e) => e.kind(),
            VectorError::Registry(R::Unknown { .. }) => K::NotFound,
            VectorError::Registry(R::Duplicate { .. }) => K::Conflict,
            VectorError::Registry(_) => K::Configuration,
            VectorError::Full(_)
            | VectorError::BadMagic
            | VectorError::UnsupportedVersion { .. } => K::Unsupported,
            VectorError::Io { source, .. } => K::of_io(source.kind()),
            VectorError::BadVectorFile { .. } => K::Serialization,
            VectorError::Corrupt(_) => K::CorruptData,
            VectorError::Transform(e) => e.kind(),
        }
    }
}

impl From<VectorError> for unidb_common::Error {
    fn from(e: VectorError) -> Self {
        let location = match &e {
            VectorError::Io { path, .. } | VectorError::BadVectorFile { path, .. } => {
                Some(path.clone())
            }
            _ => None,
        };
        let err = unidb_common::Error::new(e.kind(), e.to_string());
        let err = match location {
            Some(path) => err.with_location(path),
            None => err,
        };
        err.with_source(e)
    }
}
