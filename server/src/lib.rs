//! The syncdb network server: clients sync over WebSocket, every accepted
//! write is durable before it is acknowledged, tokens grant partitions.
//!
//! - **Protocol.** Each WebSocket binary message is one encoded syncdb
//!   message ([`unidb_syncdb::wire`]); the server runs one
//!   [`unidb_syncdb::Session`] per connection, so the handshake, batches,
//!   acknowledgements and resumption are syncdb's. A connection is to one
//!   partition: `ws://HOST:PORT/sync/PARTITION`. Errors come back as
//!   text frames `{"error": code, "message": ...}` ([`Refusal`]).
//! - **Partitions.** Each partition is its own server-side replica and
//!   log ([`partition`]): a client sees only the version vectors, changes
//!   and errors of partitions its token grants, with read (`r`) or
//!   read-write (`rw`) rights; a write without them is refused with
//!   `forbidden` and not applied. [`partition::PartitionRules`] place
//!   rows in partitions (a table by a column, `todos` by `owner`, or in
//!   one fixed partition): a batch writing a row of another partition
//!   is refused whole, so a partition holds its own rows alone.
//! - **Durability.** Every accepted write is appended to the partition's
//!   log ([`log`]: length + CRC-32 records), written and fsynced in groups
//!   ([`storage`]); its `Ack` is sent only once the log is durable past
//!   it, so `kill -9` loses no acknowledged write. Logs are compacted into
//!   checksummed snapshots; start-up loads the newest snapshot, replays
//!   the logs after it and truncates a torn tail, reporting it.
//! - **Auth.** HMAC-SHA-256 tokens with an expiry ([`auth`]); a refused
//!   client gets `401 {"error":"unauthorized"}` or
//!   `403 {"error":"forbidden"}`, the same whatever the reason, and
//!   nothing else.
//! - **Limits.** Frame size, connections in all and per token, handshake
//!   and idle timeouts, message and byte rates ([`ServerConfig`]); a
//!   malformed frame closes its own connection only.
//! - **HTTP.** `GET /health` and `GET /metrics` (JSON: connections,
//!   frames, bytes, handling and durability-wait percentiles, log size).
//!
//! ```
//! use unidb_server::auth::{AuthFile, Rights};
//! use unidb_server::client::{partition_url, Connection};
//! use unidb_server::{Server, ServerOptions, ServerError};
//!
//! # fn main() -> Result<(), ServerError> {
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! rt.block_on(async {
//!     let dir = std::env::temp_dir().join(format!("unidb-server-doc-{}", std::process::id()));
//!     let mut auth = AuthFile::generate()?;
//!     auth.grant("alice", "shop", Rights::ReadWrite)?;
//!     let token = auth.mint("alice", 60, unidb_server::auth::now_s())?;
//!     let options = ServerOptions { auth: Some(auth), ..ServerOptions::default() };
//!     let server = Server::bind("127.0.0.1:0", &dir, options).await?;
//!     let url = partition_url(&format!("ws://{}", server.local_addr()), "shop");
//!     tokio::spawn(server.run());
//!     // A wrong token is refused before the upgrade.
//!     let refused = Connection::connect(&url, Some("v1.00.00")).await.unwrap_err();
//!     assert!(matches!(refused, ServerError::Refused { ref code, .. } if code == "unauthorized"));
//!     // A good one gets the server's Hello.
//!     let mut conn = Connection::connect(&url, Some(&token)).await?;
//!     let hello = conn.recv().await?.expect("the server greets");
//!     assert!(matches!(unidb_syncdb::Message::decode(&hello)?, unidb_syncdb::Message::Hello { .. }));
//!     std::fs::remove_dir_all(&dir).ok();
//!     Ok(())
//! })
//! # }
//! ```

pub mod auth;
pub mod client;
mod config;
mod error;
pub mod http;
pub mod load;
pub mod log;
pub mod partition;
mod server;
pub mod storage;
pub mod transport;

pub use config::ServerConfig;
pub use error::{Result, ServerError};
pub use server::{handle_frame, Handled, Recovered, Refusal, Server, ServerOptions};

/// The async runtime the server and the load generator run on (tokio's),
/// re-exported so that a program can start one without depending on
/// tokio itself.
pub use tokio::runtime;

/// The crate name.
pub const NAME: &str = "unidb-server";
