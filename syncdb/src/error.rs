//! The errors of the sync database.

use unidb_common::bytes::ReadError;
use unidb_common::id::ReplicaId;
use unidb_common::time::ClockError;
use unidb_common::ErrorKind;

use unidb_common::value::ColumnType;

/// Everything that can go wrong in the sync database. Every error names what
/// was wrong and where; an operation that fails changes nothing.
///
/// [`kind`](Self::kind) gives its project-wide category, and it converts
/// into [`unidb_common::Error`] keeping itself (and through it a failed file
/// operation's [`std::io::Error`]) as the source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The kernels cannot run as configured: `UNIDB_ISA` names an unknown
    /// path or one this CPU lacks (checked when a database is opened or a
    /// snapshot loaded, so the setting is never silently ignored).
    #[error(transparent)]
    Kernels(#[from] unidb_kernels::KernelError),
    /// No table has this name (or id, written `#id`).
    #[error("unknown table {table:?}")]
    UnknownTable {
        /// The name or `#id` asked for.
        table: String,
    },
    /// The table has no column with this name (or id, written `#id`).
    #[error("table {table:?} has no column {column:?}")]
    UnknownColumn {
        /// The table.
        table: String,
        /// The name or `#id` asked for.
        column: String,
    },
    /// A value of the wrong type for its column.
    #[error("table {table:?} column {column:?} has type {expected}; got {value}")]
    TypeMismatch {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// The column's type.
        expected: ColumnType,
        /// The offending value, rendered (long values cut).
        value: String,
    },
    /// `null` written to a column that is not nullable.
    #[error("table {table:?} column {column:?} is not nullable; got null")]
    NullNotAllowed {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// A typed read ([`Row::get`](crate::Row::get)) of a column the row
    /// does not have.
    #[error("row has no column {column:?}; it has {}", columns.join(", "))]
    NoSuchColumn {
        /// The column asked for.
        column: String,
        /// The row's columns.
        columns: Vec<String>,
    },
    /// A typed read of a cell that holds another type.
    #[error("column {column:?} holds {found}, not {expected}")]
    WrongValueType {
        /// The column.
        column: String,
        /// The type asked for (`"i64"`, `"text"`, ...).
        expected: &'static str,
        /// The type of the value it holds.
        found: &'static str,
    },
    /// A typed read of a null cell as a type without null (read it as an
    /// `Option`).
    #[error("column {column:?} is null; read it as Option<{expected}>")]
    NullValue {
        /// The column.
        column: String,
        /// The type asked for.
        expected: &'static str,
    },
    /// An insert without a value for a column that is neither nullable nor defaulted.
    #[error(
        "insert into {table:?} lacks column {column:?}, which has no default and is not nullable"
    )]
    MissingColumn {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// An update tried to change the primary key.
    #[error("table {table:?}: primary key column {column:?} cannot be updated")]
    PrimaryKeyUpdate {
        /// The table.
        table: String,
        /// The key column.
        column: String,
    },
    /// An insert of a key that is already present.
    #[error("table {table:?} already has a row with key {key}")]
    RowExists {
        /// The table.
        table: String,
        /// The key, rendered.
        key: String,
    },
    /// An update, delete or increment of a key that is absent (or deleted).
    #[error("table {table:?} has no row with key {key}")]
    RowNotFound {
        /// The table.
        table: String,
        /// The key, rendered.
        key: String,
    },
    /// An increment of a column whose resolver is not `counter`.
    #[error("table {table:?} column {column:?} is not a counter column (resolver {resolver:?})")]
    NotACounter {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// The column's resolver.
        resolver: String,
    },
    /// A schema definition or migration that is not valid.
    #[error("invalid schema change: {reason}")]
    InvalidSchema {
        /// What is wrong.
        reason: String,
    },
    /// The column names a resolver that is not registered.
    #[error("table {table:?} column {column:?}: {source}")]
    UnknownResolver {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// The registry's answer (lists the known resolvers).
        source: Box<unidb_registry::RegistryError>,
    },
    /// A change batch written against a newer schema than this replica's.
    /// Nothing was applied; receive the migrations first.
    #[error("change batch needs schema version {remote}, this replica is at version {local}; apply the newer migrations first")]
    SchemaTooNew {
        /// This replica's schema version.
        local: u32,
        /// The batch's schema version.
        remote: u32,
    },
    /// Two replicas hold different migrations for the same schema version
    /// (migrations were authored in two places). Nothing was applied.
    #[error("schema histories diverge at version {version}: {reason}")]
    SchemaConflict {
        /// The first version at which the histories differ.
        version: u32,
        /// What differs.
        reason: String,
    },
    /// Changes stamped too far in the future (the HLC drift rule). Nothing was applied.
    #[error("changes from replica {replica} rejected: {source}")]
    ClockSkew {
        /// The replica whose changes carry the timestamp.
        replica: ReplicaId,
        /// The clock's verdict.
        source: ClockError,
    },
    /// The local hybrid logical clock cannot issue a timestamp.
    #[error("local clock: {0}")]
    Clock(ClockError),
    /// A sync message that cannot be decoded. Nothing was applied.
    #[error("malformed sync message at byte {offset}: {reason}")]
    Decode {
        /// Byte offset of the problem in the message.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// Encoded data (a sync message, a snapshot) names a codec this process
    /// lacks, or one outside the set a session declared it decodes.
    /// Nothing was applied or opened: register the codec, or have the
    /// writer encode without it (sessions negotiate this with their peer).
    #[error("{what} at byte {offset} needs codec {codec:?}, which this process does not decode (it decodes: {})", known.join(", "))]
    MissingCodec {
        /// What needs it: `"sync message"` or `"snapshot"`.
        what: &'static str,
        /// The codec's name.
        codec: String,
        /// Where the need was found (the codec's name in the data, or the
        /// snapshot's list of codecs).
        offset: usize,
        /// The codecs this process decodes there.
        known: Vec<String>,
    },
    /// A decoded change that is inconsistent (e.g. a column write on a
    /// deleted row life). Nothing was applied.
    #[error("invalid change from replica {origin} seq {seq}: {reason}")]
    InvalidChange {
        /// The change's origin replica.
        origin: ReplicaId,
        /// The change's sequence number.
        seq: u64,
        /// What is wrong.
        reason: String,
    },
    /// A message that does not fit the protocol state.
    #[error("protocol error: {reason}")]
    Protocol {
        /// What is wrong.
        reason: String,
    },
    /// A file operation failed (saving or opening a snapshot file).
    #[error("{op} {path:?} failed: {source}")]
    Io {
        /// The operation, e.g. `"write temporary file for"` or `"read snapshot file"`.
        op: &'static str,
        /// The file the caller named.
        path: std::path::PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The transport to the server failed (see
    /// [`crate::client::Transport`]).
    #[error(transparent)]
    Transport(#[from] crate::client::TransportError),
    /// A client option or power profile that is invalid or names
    /// something unknown (the configuration error says which field).
    #[error("invalid client configuration: {0}")]
    Config(#[source] unidb_common::Error),
}

impl From<ReadError> for SyncError {
    /// A [`SyncError::Decode`] at the read's offset, naming what was read.
    fn from(e: ReadError) -> Self {
        SyncError::Decode {
            offset: e.offset,
            reason: format!("{}: {}", e.what, e.kind),
        }
    }
}

impl SyncError {
    /// The project-wide category: an unknown table, column, row or
    /// resolver is [`NotFound`](ErrorKind::NotFound); a write or schema
    /// change that breaks the schema's rules, and a message that does not
    /// fit the protocol, [`Validation`](ErrorKind::Validation); a row that
    /// exists, a newer or diverging schema
    /// [`Conflict`](ErrorKind::Conflict); undecodable or inconsistent data
    /// [`CorruptData`](ErrorKind::CorruptData); data that needs a codec this
    /// process lacks [`Unsupported`](ErrorKind::Unsupported); clock errors the clock's
    /// kind; a failed file operation its I/O error's kind
    /// ([`ErrorKind::of_io`]); a transport failure the transport error's kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            SyncError::UnknownTable { .. }
            | SyncError::UnknownColumn { .. }
            | SyncError::RowNotFound { .. }
            | SyncError::NoSuchColumn { .. } => ErrorKind::NotFound,
            SyncError::UnknownResolver { source, .. } => source.kind(),
            SyncError::TypeMismatch { .. }
            | SyncError::WrongValueType { .. }
            | SyncError::NullValue { .. }
            | SyncError::NullNotAllowed { .. }
            | SyncError::MissingColumn { .. }
            | SyncError::PrimaryKeyUpdate { .. }
            | SyncError::NotACounter { .. }
            | SyncError::InvalidSchema { .. }
            | SyncError::Protocol { .. } => ErrorKind::Validation,
            SyncError::RowExists { .. }
            | SyncError::SchemaTooNew { .. }
            | SyncError::SchemaConflict { .. } => ErrorKind::Conflict,
            SyncError::ClockSkew { source, .. } | SyncError::Clock(source) => {
                unidb_common::Error::from(source.clone()).kind()
            }
            SyncError::Decode { .. } | SyncError::InvalidChange { .. } => ErrorKind::CorruptData,
            SyncError::MissingCodec { .. } => ErrorKind::Unsupported,
            SyncError::Kernels(e) => e.kind(),
            SyncError::Io { source, .. } => ErrorKind::of_io(source.kind()),
            SyncError::Transport(e) => e.kind(),
            SyncError::Config(e) => e.kind(),
        }
    }
}

impl From<SyncError> for unidb_common::Error {
    /// Located at the byte offset of a decode error or at the file of an
    /// I/O error; the sync error is the source.
    fn from(e: SyncError) -> Self {
        let location = match &e {
            SyncError::Decode { offset, .. } | SyncError::MissingCodec { offset, .. } => {
                Some(format!("byte {offset}"))
            }
            SyncError::Io { path, .. } => Some(path.display().to_string()),
            _ => None,
        };
        let err = unidb_common::Error::new(e.kind(), e.to_string());
        match location {
            Some(l) => err.with_location(l),
            None => err,
        }
        .with_source(e)
    }
}

/// Result alias of the crate.
pub type Result<T, E = SyncError> = std::result::Result<T, E>;
