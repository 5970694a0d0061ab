//! The server's limits and settings.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use unidb_common::config::{check_range, Validate};

/// Limits against abuse, timeouts and durability settings of a
/// [`Server`](crate::Server). Loadable from JSON with
/// `unidb_common::config` (unknown fields are an error naming them).
///
/// ```
/// use unidb_server::ServerConfig;
///
/// let c: ServerConfig = unidb_common::config::from_json_str(r#"{"max_frame_bytes": 65536}"#, "server.json")?;
/// assert_eq!(c.max_frame_bytes, 65536);
/// let err = unidb_common::config::from_json_str::<ServerConfig>(r#"{"max_frame_bytes": 10}"#, "server.json")
///     .unwrap_err();
/// assert_eq!(err.location(), Some("max_frame_bytes"));
/// # Ok::<(), unidb_common::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Largest WebSocket message (and so change batch) a client may send;
    /// a larger one closes its connection. Default 4 MiB.
    pub max_frame_bytes: usize,
    /// Largest change batch the server sends (syncdb's
    /// `SyncConfig::max_batch_bytes`). Default 64 KiB.
    pub max_batch_bytes: usize,
    /// Open connections allowed per token. Default 64.
    pub max_connections_per_token: usize,
    /// Open connections allowed in all. Default 100 000.
    pub max_connections: usize,
    /// Milliseconds a client has to send its HTTP request and then its
    /// `Hello`. Default 10 000.
    pub handshake_timeout_ms: u64,
    /// Milliseconds without any frame (pings count) after which a
    /// connection is closed. Default 300 000.
    pub idle_timeout_ms: u64,
    /// Messages per second a connection may send (a token bucket of one
    /// second's worth; a faster client is slowed down). Default 1000.
    pub rate_messages_per_s: u32,
    /// Bytes per second a connection may send (same bucket rule).
    /// Default 16 MiB.
    pub rate_bytes_per_s: u64,
    /// Messages in a row a connection may have slowed down by the rate
    /// limits; the next one closes it with the refusal `rate_limited`.
    /// Default 10 000.
    pub rate_limit_close_after: u32,
    /// Log bytes after which a partition is compacted into a snapshot.
    /// Default 64 MiB.
    pub compact_log_bytes: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_frame_bytes: 4 << 20,
            max_batch_bytes: 64 << 10,
            max_connections_per_token: 64,
            max_connections: 100_000,
            handshake_timeout_ms: 10_000,
            idle_timeout_ms: 300_000,
            rate_messages_per_s: 1000,
            rate_bytes_per_s: 16 << 20,
            rate_limit_close_after: 10_000,
            compact_log_bytes: 64 << 20,
        }
    }
}

impl ServerConfig {
    /// The handshake timeout.
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.handshake_timeout_ms)
    }

    /// The idle timeout.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }
}

impl Validate for ServerConfig {
    fn validate(&self) -> unidb_common::Result<()> {
        check_range("max_frame_bytes", self.max_frame_bytes, 1024..=(256 << 20))?;
        check_range(
            "max_batch_bytes",
            self.max_batch_bytes,
            unidb_syncdb::SyncConfig::MIN_BATCH_BYTES..=unidb_syncdb::SyncConfig::MAX_BATCH_BYTES,
        )?;
        check_range(
            "max_connections_per_token",
            self.max_connections_per_token,
            1..=usize::MAX,
        )?;
        check_range("max_connections", self.max_connections, 1..=usize::MAX)?;
        check_range(
            "handshake_timeout_ms",
            self.handshake_timeout_ms,
            1..=3_600_000,
        )?;
        check_range("idle_timeout_ms", self.idle_timeout_ms, 1..=86_400_000)?;
        check_range(
            "rate_messages_per_s",
            self.rate_messages_per_s,
            1..=u32::MAX,
        )?;
        check_range("rate_bytes_per_s", self.rate_bytes_per_s, 1024..=u64::MAX)?;
        check_range(
            "rate_limit_close_after",
            self.rate_limit_close_after,
            1..=u32::MAX,
        )?;
        check_range("compact_log_bytes", self.compact_log_bytes, 1..=u64::MAX)
    }
}
