//! The network [`Transport`] of syncdb's client: a WebSocket connection
//! to one partition of a server, blocking as the client's worker expects,
//! with reconnection under exponential backoff and jitter.
//!
//! Resumption is the protocol's: each connection starts with both sides'
//! `Hello`, whose version vectors are the checkpoints, so a new
//! connection after a failure sends and receives exactly what the other
//! side lacks.
//!
//! A server's refusal is [`TransportError::Refused`] with the server's
//! code and message: a refused upgrade (`unauthorized`, `forbidden`,
//! `too_many_connections`; not retried when it is `unauthorized` or
//! `forbidden`, since retrying cannot help) and an error frame after the
//! upgrade (`forbidden` for a write outside the token's rights,
//! `rate_limited`, `too_large` for an oversized frame, `protocol`,
//! `rejected` for a batch the server's replica refused).
//!
//! ```no_run
//! use std::time::Duration;
//! use unidb_server::transport::WsTransport;
//! use unidb_syncdb::client::{sync_round, Transport};
//! # fn run(session: &mut unidb_syncdb::Session) -> Result<(), unidb_syncdb::SyncError> {
//! let transport = WsTransport::new("ws://127.0.0.1:7700", "shop-1").with_token("v1....");
//! let mut conn = transport.connect()?;
//! sync_round(session, conn.as_mut(), true, Duration::from_secs(10))?;
//! # Ok(()) }
//! ```

use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::HandshakeError;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage, WebSocket};
use unidb_common::rng::SplitMix64;
use unidb_syncdb::client::{Connection, Transport, TransportError};

use crate::client::partition_url;

/// How [`WsTransport::connect`] retries.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    /// Connection attempts per `connect` call (at least 1).
    pub attempts: u32,
    /// The first wait.
    pub base: Duration,
    /// The longest wait.
    pub cap: Duration,
    /// Each wait is drawn uniformly from `[(1 - jitter) w, w]`.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            attempts: 5,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(10),
            jitter: 0.5,
        }
    }
}

impl Backoff {
    /// The wait after failed attempt `n` (0-based), `u` a uniform draw
    /// in `[0, 1)`: `min(cap, base * 2^n)`, less up to `jitter` of it.
    pub fn wait(&self, n: u32, u: f64) -> Duration {
        let full = self
            .base
            .saturating_mul(1u32.checked_shl(n.min(31)).unwrap_or(u32::MAX))
            .min(self.cap);
        full.mul_f64(1.0 - self.jitter.clamp(0.0, 1.0) * u.clamp(0.0, 1.0))
    }
}

/// A WebSocket transport to one partition of a server.
#[derive(Debug, Clone)]
pub struct WsTransport {
    url: String,
    token: Option<String>,
    connect_timeout: Duration,
    backoff: Backoff,
    max_message_bytes: usize,
}

impl WsTransport {
    /// A transport to partition `partition` of the server at `server`
    /// (`ws://host:port`), without a token, with [`Backoff::default`].
    pub fn new(server: &str, partition: &str) -> Self {
        WsTransport {
            url: partition_url(server, partition),
            token: None,
            connect_timeout: Duration::from_secs(10),
            backoff: Backoff::default(),
            max_message_bytes: 64 << 20,
        }
    }

    /// Presents `token` when connecting.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Retries as `backoff` says.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Bounds each TCP connect and WebSocket handshake.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The partition URL connected to.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn attempt(&self) -> Result<WsConnection, (TransportError, bool)> {
        let unreachable = |reason: String| {
            (
                TransportError::Unreachable { reason },
                true, // worth retrying
            )
        };
        let mut request = self.url.as_str().into_client_request().map_err(|e| {
            (
                TransportError::Unreachable {
                    reason: e.to_string(),
                },
                false,
            )
        })?;
        if let Some(t) = &self.token {
            let value = HeaderValue::from_str(&format!("Bearer {t}")).map_err(|e| {
                (
                    TransportError::Unreachable {
                        reason: format!("token: {e}"),
                    },
                    false,
                )
            })?;
            request.headers_mut().insert("authorization", value);
        }
        let uri = request.uri();
        let host = uri.host().unwrap_or("localhost").to_owned();
        let port = uri.port_u16().unwrap_or(80);
        let addrs = (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| unreachable(format!("resolve {host}: {e}")))?;
        let mut last = None;
        let mut stream = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, self.connect_timeout) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let Some(stream) = stream else {
            return Err(unreachable(format!(
                "connect to {host}:{port}: {}",
                last.map_or("no address".to_owned(), |e| e.to_string())
            )));
        };
        let _ = stream.set_nodelay(true);
        let _ = stream.set_read_timeout(Some(self.connect_timeout));
        let _ = stream.set_write_timeout(Some(self.connect_timeout));
        let config = WebSocketConfig::default()
            .write_buffer_size(0)
            .max_message_size(Some(self.max_message_bytes))
            .max_frame_size(Some(self.max_message_bytes));
        match tungstenite::client::client_with_config(request, stream, Some(config)) {
            Ok((ws, _)) => Ok(WsConnection { ws }),
            Err(HandshakeError::Failure(tungstenite::Error::Http(response))) => {
                let body = response.body().as_deref().unwrap_or_default();
                let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
                let code = v["error"].as_str().unwrap_or("unknown").to_owned();
                let permanent = code == "unauthorized" || code == "forbidden";
                Err((
                    TransportError::Refused {
                        code,
                        message: format!("HTTP {}", response.status()),
                    },
                    !permanent,
                ))
            }
            Err(e) => Err(unreachable(format!("WebSocket handshake: {e}"))),
        }
    }
}

impl Transport for WsTransport {
    /// Connects, retrying failed attempts after [`Backoff::wait`] (not a
    /// refusal of the token or partition).
    fn connect(&self) -> Result<Box<dyn Connection>, TransportError> {
        let mut rng = SplitMix64::new(unidb_common::id::ReplicaId::random().as_u64());
        let attempts = self.backoff.attempts.max(1);
        let mut n = 0;
        loop {
            match self.attempt() {
                Ok(c) => return Ok(Box::new(c)),
                Err((e, retry)) => {
                    n += 1;
                    if !retry || n >= attempts {
                        return Err(e);
                    }
                    std::thread::sleep(self.backoff.wait(n - 1, rng.f64()));
                }
            }
        }
    }
}

/// An open connection of a [`WsTransport`].
#[derive(Debug)]
pub struct WsConnection {
    ws: WebSocket<TcpStream>,
}

fn closed(reason: impl Into<String>) -> TransportError {
    TransportError::Closed {
        reason: reason.into(),
    }
}

fn map_error(e: tungstenite::Error) -> TransportError {
    match e {
        tungstenite::Error::Io(e) => TransportError::Io(e),
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            closed("closed by the server")
        }
        other => closed(other.to_string()),
    }
}

impl Connection for WsConnection {
    fn send(&mut self, message: Vec<u8>) -> Result<(), TransportError> {
        let stream = self.ws.get_mut();
        stream.set_nonblocking(false)?;
        self.ws
            .send(WsMessage::Binary(message.into()))
            .map_err(map_error)
    }

    fn recv(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>, TransportError> {
        let stream = self.ws.get_mut();
        if timeout.is_zero() {
            stream.set_nonblocking(true)?;
        } else {
            stream.set_nonblocking(false)?;
            stream.set_read_timeout(Some(timeout))?;
        }
        loop {
            match self.ws.read() {
                Ok(WsMessage::Binary(b)) => return Ok(Some(b.to_vec())),
                Ok(WsMessage::Text(t)) => {
                    let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap_or_default();
                    return Err(TransportError::Refused {
                        code: v["error"].as_str().unwrap_or("unknown").to_owned(),
                        message: v["message"].as_str().unwrap_or(t.as_str()).to_owned(),
                    });
                }
                Ok(WsMessage::Close(frame)) => {
                    return Err(closed(
                        frame.map_or("closed by the server".to_owned(), |f| {
                            format!("closed by the server: {}", f.reason)
                        }),
                    ))
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None)
                }
                Err(e) => return Err(map_error(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests;
