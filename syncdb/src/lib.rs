//! Offline-first in-memory database with typed schemas, change tracking and sync.
//!
//! ```
//! assert!(!unidb_syncdb::NAME.is_empty());
//! ```

pub mod change;
pub mod codec;
pub mod db;
pub mod error;
pub mod resolver;
pub mod schema;
pub mod sim;
pub mod sync;
pub mod value;
pub mod wire;

#[cfg(test)]
mod sync_tests;
#[cfg(test)]
mod tests;

pub use change::{Change, ChangeOp, VersionVector};
pub use db::{Database, Predicate, ReadView, Row, Transaction, DEFAULT_MAX_DRIFT};
pub use error::{Result, SyncError};
pub use resolver::{Cell, MergeStrategy, PnCounter, Register, Resolver};
pub use schema::{Column, ColumnDef, ColumnId, Migration, Schema, Table, TableDef, TableId};
pub use sync::{channel, sync_pair, Endpoint, Session, SyncConfig};
pub use value::{ColumnType, Value};
pub use wire::Message;

/// The crate name.
pub const NAME: &str = "unidb-syncdb";
