//! The server's error type.

use std::path::PathBuf;

use unidb_common::ErrorKind;
use unidb_syncdb::SyncError;

/// What can go wrong in the server, its storage, its tokens and its client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An atomic file write (snapshot, auth file) failed.
    #[error(transparent)]
    Fs(#[from] unidb_common::fs::FsError),
    /// A network operation failed.
    #[error("{op}: {source}")]
    Net {
        /// What was being done.
        op: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A stored file (log, snapshot, auth file) is damaged or not ours.
    #[error("corrupt {what} at byte {offset}: {reason}")]
    Corrupt {
        /// Which file or record.
        what: String,
        /// Byte offset of the problem.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A setting or argument is invalid.
    #[error("invalid {name}: {reason}")]
    Invalid {
        /// The setting.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A token is malformed, badly signed, expired or of an unknown user.
    /// The server answers every such case with the same refusal.
    #[error("unauthorized: {reason}")]
    Unauthorized {
        /// What was wrong (said to the operator, never to the client).
        reason: String,
    },
    /// The token does not grant what was asked (a partition, or writes).
    #[error("forbidden: {reason}")]
    Forbidden {
        /// What was refused.
        reason: String,
    },
    /// The server refused or ended the connection (an error frame or an
    /// HTTP status): what a client surfaces.
    #[error("server refused: {code}: {message}")]
    Refused {
        /// The error's code (`unauthorized`, `forbidden`, `too_many_connections`,
        /// `protocol`, `limit`, HTTP status text, ...).
        code: String,
        /// The server's message.
        message: String,
    },
    /// A WebSocket protocol error (framing, size limit, handshake).
    #[error("websocket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    /// A sync database error (decode, apply, snapshot).
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// Waiting for the peer took longer than allowed.
    #[error("timed out: {0}")]
    Timeout(&'static str),
    /// The log could not be made durable; nothing more is acknowledged.
    #[error("log of partition {partition} failed: {reason}")]
    LogFailed {
        /// The partition.
        partition: String,
        /// What failed.
        reason: String,
    },
}

/// The server's result type.
pub type Result<T, E = ServerError> = std::result::Result<T, E>;

impl ServerError {
    /// The project-wide category of the error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ServerError::Io { source, .. } | ServerError::Net { source, .. } => {
                ErrorKind::of_io(source.kind())
            }
            ServerError::Fs(e) => ErrorKind::of_io(e.kind()),
            ServerError::Corrupt { .. } => ErrorKind::CorruptData,
            ServerError::Invalid { .. } => ErrorKind::Validation,
            ServerError::Unauthorized { .. } | ServerError::Forbidden { .. } => {
                ErrorKind::Validation
            }
            ServerError::Refused { .. } => ErrorKind::Conflict,
            ServerError::WebSocket(_) => ErrorKind::Io,
            ServerError::Sync(e) => e.kind(),
            ServerError::Timeout(_) => ErrorKind::Io,
            ServerError::LogFailed { .. } => ErrorKind::Io,
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ServerError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(name: impl Into<String>, reason: impl Into<String>) -> Self {
        ServerError::Invalid {
            name: name.into(),
            reason: reason.into(),
        }
    }
}

impl From<ServerError> for unidb_common::Error {
    fn from(e: ServerError) -> Self {
        unidb_common::Error::new(e.kind(), e.to_string()).with_source(e)
    }
}
