//! Offline-first in-memory database with typed schemas, change tracking and sync.
//!
//! Every replica (a phone, a server) holds a [`Database`]: typed tables in
//! memory ([`schema`]), written in atomic [`Transaction`]s and read through
//! consistent [`ReadView`]s. Each write is recorded as column-level
//! [`Change`]s stamped with a hybrid logical clock and the writing replica;
//! deletes use causal lengths so that a stale concurrent update cannot
//! resurrect a row ([`db`] documents the rule). Concurrent writes to one cell
//! are merged by a [`Resolver`] plugin (`lww` by default, `max`, `min`,
//! `counter`, or one registered by the user's crate), which makes the state
//! of every replica a function of the *set* of changes it holds: replicas
//! that exchanged their changes are identical, whatever the order,
//! duplication or delay of the messages.
//!
//! Replicas exchange changes through [`Session`]s speaking the [`wire`]
//! protocol over any transport (an in-process one is included): a
//! handshake of version vectors, size-bounded change batches,
//! acknowledgements and resumption from the last checkpoint. Schemas carry a
//! version and migrations travel with sync. [`sim`] runs the whole thing
//! through a simulated faulty network.
//!
//! Batches and snapshots are compressed with [`unidb_codec`]'s codecs, and
//! a codec the application registers ([`unidb_codec::register_codec!`])
//! takes part. The handshake settles which codecs each peer decodes, so a
//! batch never carries a codec its receiver lacks ([`sync`] has the rule),
//! and a snapshot that needs a codec this process lacks fails to open with
//! [`SyncError::MissingCodec`] naming it. Resolvers register with
//! [`register_resolver!`]; the registry and the codecs are re-exported
//! ([`unidb_registry`], [`unidb_codec`]), so syncdb is the one dependency
//! an application needs.
//!
//! Rows read as maps of column names to [`Value`]s, and cell by cell as
//! Rust types: `row.get::<i64>("qty")?` ([`Row::get`]). With the default
//! `serde` feature, rows, schema definitions and migrations, changes and
//! the simulation's configuration and reports implement serde's traits.
//!
//! ```
//! use std::sync::Arc;
//! use unidb_common::{id::ReplicaId, time::ManualClock};
//! use unidb_syncdb::{sync_pair, ColumnDef, ColumnType, Database, Migration, Session, SyncConfig, TableDef, Value};
//!
//! # fn main() -> Result<(), unidb_syncdb::SyncError> {
//! let schema = [Migration::AddTable(
//!     TableDef::new("items", "id", ColumnType::I64)
//!         .column(ColumnDef::new("name", ColumnType::Text).default_value(""))
//!         .column(ColumnDef::new("qty", ColumnType::I64).resolver("counter")),
//! )];
//! let clock = ManualClock::new(1_700_000_000_000);
//! let open = |id| Database::open(ReplicaId::from_u64(id), Arc::new(clock.clone()), &schema).map(Arc::new);
//! let (phone_a, phone_b, server) = (open(1)?, open(2)?, open(100)?);
//!
//! // Offline: both phones edit the same row.
//! phone_a.insert("items", [("id", Value::I64(1)), ("name", "milk".into()), ("qty", Value::I64(1))])?;
//! let (mut a, mut sa) = (Session::new(phone_a.clone(), SyncConfig::default()), Session::new(server.clone(), SyncConfig::default()));
//! let (mut b, mut sb) = (Session::new(phone_b.clone(), SyncConfig::default()), Session::new(server.clone(), SyncConfig::default()));
//! sync_pair(&mut a, &mut sa)?;
//! sync_pair(&mut b, &mut sb)?;
//! phone_a.increment("items", 1i64, "qty", 2)?;
//! clock.advance(10);
//! phone_b.increment("items", 1i64, "qty", 3)?;
//! phone_b.update("items", 1i64, [("name", Value::from("oat milk"))])?;
//!
//! // Back online: everyone converges; both increments count, the later name wins.
//! for _ in 0..2 {
//!     sync_pair(&mut a, &mut sa)?;
//!     sync_pair(&mut b, &mut sb)?;
//! }
//! for db in [&phone_a, &phone_b, &server] {
//!     let row = db.read().get("items", &Value::I64(1))?.expect("row");
//!     assert_eq!(row.get::<i64>("qty")?, 6);
//!     assert_eq!(row.get::<&str>("name")?, "oat milk");
//! }
//! # Ok(()) }
//! ```

pub mod change;
pub mod client;
pub mod columnar;
pub mod db;
pub mod error;
pub mod power;
pub mod resolver;
pub mod schema;
pub mod sim;
pub mod snapshot;
pub mod sync;
pub mod wire;

pub use change::{Change, ChangeOp, VersionVector};
pub use db::{
    Collected, Database, FromValue, Predicate, ReadView, Row, Transaction, DEFAULT_MAX_DRIFT,
};
pub use error::{Result, SyncError};
pub use resolver::{Cell, MergeStrategy, PnCounter, Register, Resolver};
pub use schema::{Column, ColumnDef, ColumnId, Migration, Schema, Table, TableDef, TableId};
pub use sync::{channel, sync_pair, Endpoint, Session, SyncConfig};
/// The column codecs (batches and snapshots are compressed with them),
/// re-exported so that an application registering its own
/// ([`unidb_codec::register_codec!`]) or pinning a [`CodecSet`](unidb_codec::CodecSet)
/// needs no dependency of its own on it.
pub use unidb_codec;
pub use unidb_common::value::{ColumnType, Value};
/// The plugin registry, re-exported so that [`register_resolver!`] and
/// direct registrations need no dependency of their own on it.
pub use unidb_registry;
pub use wire::Message;

/// Registers a register [`Resolver`] statically from any crate (no
/// dependency on `unidb-registry` needed):
/// `register_resolver!("name", "description", compare)` where
/// `compare: fn(&Register, &Register) -> Ordering` orders two written
/// values (the greater wins; ties fall back to last-writer-wins). It must
/// be a deterministic total preorder (see [`resolver`]).
///
/// ```
/// use std::cmp::Ordering;
/// use unidb_syncdb::{register_resolver, ColumnDef, ColumnType, Register, Resolver};
/// use unidb_syncdb::unidb_registry::PluginKind;
///
/// /// Longest text wins.
/// fn longest(a: &Register, b: &Register) -> Ordering {
///     let len = |r: &Register| r.value.as_text().map_or(0, str::len);
///     len(a).cmp(&len(b))
/// }
/// register_resolver!("doc-longest-macro", "longest text wins", longest);
///
/// assert!(Resolver::registry().get("doc-longest-macro").is_ok());
/// let column = ColumnDef::new("title", ColumnType::Text).resolver("doc-longest-macro");
/// # let _ = column;
/// ```
#[macro_export]
macro_rules! register_resolver {
    ($name:expr, $description:expr, $compare:expr $(,)?) => {
        $crate::unidb_registry::submit!($crate::Resolver::register(
            $crate::unidb_registry::plugin_info!($name, $description),
            $compare,
        ));
    };
}

/// The crate name.
pub const NAME: &str = "unidb-syncdb";
