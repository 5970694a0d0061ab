//! The [`Transport`] trait, its [`Connection`]s, and the in-process
//! transport ([`InProcess`]); the contract is in the [client module docs](crate::client).

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::db::Database;
use crate::sync::{Session, SyncConfig};

/// Why a transport could not carry a message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The server could not be reached (no network, refused, DNS...).
    #[error("server unreachable: {reason}")]
    Unreachable {
        /// What failed.
        reason: String,
    },
    /// The connection was closed (by the peer, or after it refused a
    /// message).
    #[error("connection closed: {reason}")]
    Closed {
        /// Why, when known.
        reason: String,
    },
    /// No answer within the round's time limit.
    #[error("no answer from the server within {0:?}")]
    Timeout(Duration),
    /// The server refused the connection or a message and said why: a
    /// bad or expired token, a partition not granted, a write outside
    /// the token's rights, a rate or size limit. Retrying the same
    /// request does not help unless the code says it is temporary.
    #[error("server refused: {code}: {message}")]
    Refused {
        /// The refusal's code (`unauthorized`, `forbidden`,
        /// `rate_limited`, `too_large`, ...).
        code: String,
        /// The server's message, about this client's own request.
        message: String,
    },
    /// An I/O error of the underlying socket.
    #[error("transport I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl TransportError {
    /// The project-wide category: [`Io`](unidb_common::ErrorKind::Io)
    /// for all but an I/O error, which has its own kind
    /// ([`ErrorKind::of_io`](unidb_common::ErrorKind::of_io)), and a
    /// refusal, which is [`Validation`](unidb_common::ErrorKind::Validation).
    pub fn kind(&self) -> unidb_common::ErrorKind {
        match self {
            TransportError::Io(e) => unidb_common::ErrorKind::of_io(e.kind()),
            TransportError::Refused { .. } => unidb_common::ErrorKind::Validation,
            _ => unidb_common::ErrorKind::Io,
        }
    }
}

impl From<TransportError> for unidb_common::Error {
    fn from(e: TransportError) -> Self {
        unidb_common::Error::new(e.kind(), e.to_string()).with_source(e)
    }
}

/// A way to reach the server: opens [`Connection`]s. Shared by the
/// client's threads, hence `Send + Sync`. See the [client module docs](crate::client)
/// for the contract and how a network transport plugs in.
pub trait Transport: Send + Sync + fmt::Debug {
    /// Opens a connection to the server.
    ///
    /// # Errors
    /// [`TransportError::Unreachable`] when there is no way to the server.
    fn connect(&self) -> Result<Box<dyn Connection>, TransportError>;
}

/// One open, ordered, message-framed connection to the server.
pub trait Connection: Send + fmt::Debug {
    /// Sends one encoded message.
    ///
    /// # Errors
    /// A [`TransportError`] when the message could not be handed over.
    fn send(&mut self, message: Vec<u8>) -> Result<(), TransportError>;

    /// The next message from the server, waiting at most `timeout`;
    /// `Ok(None)` when none came in time.
    ///
    /// # Errors
    /// A [`TransportError`] when the connection failed.
    fn recv(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>, TransportError>;
}

/// What a connection's server side does: one [`Session`] over the
/// server's database, answering each message as it arrives.
#[derive(Debug)]
struct ServerEnd {
    session: Session,
    replies: VecDeque<Vec<u8>>,
    closed: Option<String>,
}

/// Fault injection shared by an [`InProcess`] transport and its
/// connections.
#[derive(Debug, Default)]
struct Faults {
    offline: bool,
    /// Connections or sends still to fail.
    fail_next: u32,
}

/// The in-process transport: every connection is a [`Session`] on the
/// server's [`Database`] in this process, which handles each message as
/// it is sent (so a round runs without threads or waiting, and a
/// simulation stays deterministic). For tests it can be put offline
/// ([`InProcess::set_offline`]) or made to fail the next operations
/// ([`InProcess::fail_next`]).
#[derive(Debug, Clone)]
pub struct InProcess {
    server: Arc<Database>,
    config: SyncConfig,
    faults: Arc<Mutex<Faults>>,
}

impl InProcess {
    /// A transport to `server`, whose sessions use `config`.
    pub fn new(server: Arc<Database>, config: SyncConfig) -> Self {
        InProcess {
            server,
            config,
            faults: Arc::default(),
        }
    }

    /// The server's database.
    pub fn server(&self) -> &Arc<Database> {
        &self.server
    }

    /// While `offline`, connecting and sending fail with
    /// [`TransportError::Unreachable`].
    pub fn set_offline(&self, offline: bool) {
        self.faults().offline = offline;
    }

    /// The next `n` connects or sends fail (with
    /// [`TransportError::Unreachable`] or [`TransportError::Closed`]).
    pub fn fail_next(&self, n: u32) {
        self.faults().fail_next = n;
    }

    fn faults(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes one injected failure, if any is due.
    fn injected(&self) -> Option<String> {
        let mut f = self.faults();
        if f.offline {
            return Some("offline".into());
        }
        if f.fail_next > 0 {
            f.fail_next -= 1;
            return Some("injected failure".into());
        }
        None
    }
}

impl Transport for InProcess {
    fn connect(&self) -> Result<Box<dyn Connection>, TransportError> {
        if let Some(reason) = self.injected() {
            return Err(TransportError::Unreachable { reason });
        }
        let mut session = Session::new(self.server.clone(), self.config.clone());
        let hello = session.hello_encoded();
        Ok(Box::new(InProcessConnection {
            transport: self.clone(),
            end: ServerEnd {
                session,
                replies: VecDeque::from([hello]),
                closed: None,
            },
        }))
    }
}

/// A connection of the [`InProcess`] transport.
#[derive(Debug)]
struct InProcessConnection {
    transport: InProcess,
    end: ServerEnd,
}

impl Connection for InProcessConnection {
    fn send(&mut self, message: Vec<u8>) -> Result<(), TransportError> {
        if let Some(reason) = &self.end.closed {
            return Err(TransportError::Closed {
                reason: reason.clone(),
            });
        }
        if let Some(reason) = self.transport.injected() {
            self.end.closed = Some(reason.clone());
            return Err(TransportError::Closed { reason });
        }
        match self.end.session.handle_bytes(&message) {
            Ok(replies) => {
                self.end.replies.extend(replies);
                Ok(())
            }
            Err(e) => {
                // A server closes a connection that sent what it refuses.
                let reason = format!("the server refused a message: {e}");
                self.end.closed = Some(reason.clone());
                Err(TransportError::Closed { reason })
            }
        }
    }

    fn recv(&mut self, _timeout: Duration) -> Result<Option<Vec<u8>>, TransportError> {
        if let Some(m) = self.end.replies.pop_front() {
            return Ok(Some(m));
        }
        // A live connection also carries what the server learnt since
        // (other clients' changes), as a network server would push it.
        if self.end.closed.is_none() {
            let pushed = self.end.session.poll_encoded();
            self.end.replies.extend(pushed);
        }
        Ok(self.end.replies.pop_front())
    }
}
