//! The errors of the sync database.

use unidb_common::id::ReplicaId;
use unidb_common::time::ClockError;

use unidb_common::value::ColumnType;

/// Everything that can go wrong in the sync database. Every error names what
/// was wrong and where; an operation that fails changes nothing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
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
    #[error("{op} {path:?} failed: {message}")]
    Io {
        /// The operation, e.g. `"write temporary file for"` or `"read snapshot file"`.
        op: &'static str,
        /// The file the caller named.
        path: std::path::PathBuf,
        /// The operating system's error kind.
        kind: std::io::ErrorKind,
        /// The operating system's message.
        message: String,
    },
}

/// Result alias of the crate.
pub type Result<T, E = SyncError> = std::result::Result<T, E>;
