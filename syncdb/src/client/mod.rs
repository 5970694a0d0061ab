//! The client side of sync: [`Client`], an application's thread-safe
//! handle on its replica, with subscriptions to changes ([`Filter`],
//! [`ChangeSet`], [`Subscription`]) and a background worker that syncs
//! with the server as the power profile in force says
//! ([`crate::power`]); how a replica reaches its server ([`Transport`],
//! [`Connection`], the in-process [`InProcess`]); and one round of sync
//! over a connection ([`sync_round`]).
//!
//! # The worker
//!
//! A [`Client`] opened with [`ClientOptions::background`] runs one thread
//! that sleeps until the [`Scheduler`](crate::power::Scheduler) says a
//! round is due (local writes waited out the profile's flush window, the
//! poll interval passed, or a retry after a failed round is due), or
//! until a write or new [`Inputs`](crate::power::Inputs) wake it. A
//! failed round is retried after an exponential backoff with jitter
//! (the profile's base, cap and jitter) and resumes where the server's
//! checkpoint says. A live profile keeps its connection and checks it
//! for pushed changes every second. Changes of tables whose priority the
//! profile keeps off the current network stay local until it allows
//! them.
//!
//! [`Connection`]s, and the in-process transport ([`InProcess`]).
//!
//! # The contract
//!
//! A transport carries the encoded messages of the sync protocol
//! ([`crate::wire`]) between a client's [`Session`](crate::Session) and the server's
//! session for that connection, in order, each message whole (a network
//! transport frames them, e.g. with a length prefix). It is blocking: the
//! client's background worker is a thread, and a round of sync is
//! `connect`, then `send`/`recv` until both sides are quiet
//! ([`sync_round`]). A connection may be kept for several rounds (a live
//! profile) or dropped after each one.
//!
//! The server side of a connection is one [`Session`](crate::Session) over the server's
//! database: it sends [`Session::hello_encoded`](crate::Session::hello_encoded) when the connection
//! opens, and answers every message it receives with the messages
//! [`Session::handle_bytes`](crate::Session::handle_bytes) returns; after a local write (another
//! client's batch applied) it may push [`Session::poll_encoded`](crate::Session::poll_encoded). A
//! message the server refuses closes the connection: a server that says
//! why (a bad or expired token, a partition not granted, a write outside
//! its rights, a frame too large, a rate limit) surfaces as
//! [`TransportError::Refused`] with its code and message; the client
//! retries with backoff and resumes from its checkpoint (nothing is lost).
//!
//! # Plugging in a network transport
//!
//! Implement [`Transport::connect`] to open a socket (TCP, TLS, a
//! WebSocket...) and return a [`Connection`] whose [`send`](Connection::send)
//! writes one framed message and whose [`recv`](Connection::recv) waits at
//! most `timeout` for the next one (`Ok(None)` when none came). Map
//! failures onto [`TransportError`]: an unreachable peer is
//! [`TransportError::Unreachable`], a refusal the peer explained
//! [`TransportError::Refused`], a connection the peer closed
//! [`TransportError::Closed`], anything else [`TransportError::Io`]. The
//! client treats every transport error alike: the round fails, the worker
//! backs off and retries.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use unidb_common::{id::ReplicaId, time::ManualClock};
//! use unidb_syncdb::client::{sync_round, InProcess, Transport};
//! use unidb_syncdb::{ColumnDef, ColumnType, Database, Migration, Session, SyncConfig, TableDef, Value};
//!
//! # fn main() -> Result<(), unidb_syncdb::SyncError> {
//! let schema = [Migration::AddTable(
//!     TableDef::new("t", "id", ColumnType::I64).column(ColumnDef::new("v", ColumnType::I64)),
//! )];
//! let clock = Arc::new(ManualClock::new(1_700_000_000_000));
//! let server = Arc::new(Database::open(ReplicaId::from_u64(100), clock.clone(), &schema)?);
//! let phone = Arc::new(Database::open(ReplicaId::from_u64(1), clock, &schema)?);
//! phone.insert("t", [("id", Value::I64(1)), ("v", Value::I64(7))])?;
//!
//! let transport = InProcess::new(server.clone(), SyncConfig::default());
//! let mut session = Session::new(phone.clone(), SyncConfig::default());
//! let mut conn = transport.connect()?;
//! let round = sync_round(&mut session, conn.as_mut(), true, Duration::from_secs(5))?;
//! assert!(round.bytes_up > 0 && round.complete);
//! assert_eq!(server.read().dump(), phone.read().dump());
//! # Ok(()) }
//! ```

mod core;
mod observe;
mod round;
mod transport;

pub use self::core::{Client, ClientOptions};
pub use observe::{ChangeSet, Deleted, Filter, Inserted, Source, Subscription, Updated};
pub use round::{sync_round, RoundStats};
pub use transport::{Connection, InProcess, Transport, TransportError};
