//! The database: typed tables in memory, local transactions, change
//! tracking and merging of remote changes.
//!
//! # Row lives and deletes (causal length)
//!
//! Every row has a *causal length* `cl`, as in cr-sqlite: `0` means never
//! seen, odd means alive, even means deleted. An insert of an absent or
//! deleted row moves `cl` to the next odd number, a delete to the next even
//! number. Every column write carries the `cl` of the row life it was made
//! in. Merging keeps the largest `cl`; a change with a smaller `cl` than the
//! row's is ignored, and a change with a larger one first moves the row to
//! that life and clears the cells of the old life. Hence a concurrent update
//! made before a delete was seen (smaller `cl`) can never resurrect the row,
//! while a re-insert after the delete (larger `cl`) does. The state of a row
//! is a function of the *set* of its changes: `cl` = maximum over changes,
//! each cell = the resolver's merge of the column's changes in that life.
//! Columns not written in the current life show their default.
//!
//! # Concurrency
//!
//! The state sits behind one `RwLock`. A [`Transaction`] stages its
//! operations without any lock; [`Transaction::commit`] takes the write lock,
//! applies every operation (undoing them all on the first error) and
//! releases it. Readers ([`Database::read`]) hold the read lock for the life
//! of a [`ReadView`], so a reader sees one consistent committed state: never
//! part of a transaction. A long-lived `ReadView` delays commits (not the
//! staging of transactions); drop it promptly.

mod gc;
mod merge;
mod observe;
mod predicate;
mod row;
mod snapshot;
mod state;
mod table;
mod txn;
mod view;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use unidb_common::id::ReplicaId;
use unidb_common::time::{Clock, Hlc, HlcTimestamp};

use crate::change::{Change, VersionVector};
use crate::error::{Result, SyncError};
use crate::schema::{Migration, Schema};
use unidb_common::value::{ColumnType, Value};

pub use gc::Collected;
pub use observe::{CommitEvent, CommitObserver, RowEvent};
pub use predicate::Predicate;
pub use row::{FromValue, Row};
pub use txn::Transaction;
pub use view::ReadView;

use state::State;

/// Default bound on how far ahead of the local clock a remote change may be
/// stamped: 5 minutes.
pub const DEFAULT_MAX_DRIFT: Duration = Duration::from_secs(300);

/// An in-memory replica of the database.
///
/// ```
/// use std::sync::Arc;
/// use unidb_common::{id::ReplicaId, time::ManualClock};
/// use unidb_syncdb::{ColumnDef, ColumnType, Database, Migration, TableDef, Value};
///
/// # fn main() -> Result<(), unidb_syncdb::SyncError> {
/// let schema = [Migration::AddTable(
///     TableDef::new("todo", "id", ColumnType::I64)
///         .column(ColumnDef::new("title", ColumnType::Text))
///         .column(ColumnDef::new("done", ColumnType::Bool).default_value(false)),
/// )];
/// let db = Database::open(ReplicaId::from_u64(1), Arc::new(ManualClock::new(1_000)), &schema)?;
/// let mut tx = db.transaction();
/// tx.insert("todo", [("id", Value::I64(1)), ("title", "milk".into())]);
/// tx.update("todo", 1i64, [("done", Value::Bool(true))]);
/// tx.commit()?;
/// let row = db.read().get("todo", &Value::I64(1))?.expect("inserted");
/// assert_eq!(row["done"], Value::Bool(true));
/// # Ok(()) }
/// ```
pub struct Database {
    replica: ReplicaId,
    hlc: Hlc,
    state: RwLock<State>,
    /// Sees every commit, under the write lock ([`CommitObserver`]).
    observer: RwLock<Option<Arc<dyn CommitObserver>>>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("replica", &self.replica)
            .field("hlc", &self.hlc)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Database {
    /// A replica with schema built from `migrations` and the default drift
    /// bound ([`DEFAULT_MAX_DRIFT`]).
    ///
    /// # Errors
    /// [`SyncError::Kernels`] when `UNIDB_ISA` is invalid; the first invalid
    /// migration's error.
    pub fn open(
        replica: ReplicaId,
        clock: Arc<dyn Clock>,
        migrations: &[Migration],
    ) -> Result<Self> {
        Self::with_max_drift(replica, clock, DEFAULT_MAX_DRIFT, migrations)
    }

    /// Like [`Database::open`], rejecting remote changes stamped more than
    /// `max_drift` ahead of the local clock.
    ///
    /// # Errors
    /// [`SyncError::Kernels`] when `UNIDB_ISA` is invalid (an unknown path
    /// or one this CPU lacks); the first invalid migration's error.
    pub fn with_max_drift(
        replica: ReplicaId,
        clock: Arc<dyn Clock>,
        max_drift: Duration,
        migrations: &[Migration],
    ) -> Result<Self> {
        unidb_kernels::Kernels::try_active()?;
        let mut state = State {
            schema: Arc::new(Schema::from_migrations(migrations)?),
            tables: Vec::new(),
            log: BTreeMap::new(),
            acks: BTreeMap::new(),
            gc_epoch: None,
            gc_frontier: VersionVector::new(),
        };
        state.sync_tables();
        Ok(Database {
            replica,
            hlc: Hlc::new(clock, max_drift),
            state: RwLock::new(state),
            observer: RwLock::new(None),
        })
    }

    /// This replica's id.
    pub fn replica(&self) -> ReplicaId {
        self.replica
    }

    /// The hybrid logical clock stamping this replica's changes.
    pub fn hlc(&self) -> &Hlc {
        &self.hlc
    }

    fn read_state(&self) -> RwLockReadGuard<'_, State> {
        // Writers never panic half-way through a change (validation happens
        // first), so the state behind a poisoned lock is still consistent.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// A consistent read-only view of the committed state.
    pub fn read(&self) -> ReadView<'_> {
        ReadView {
            state: self.read_state(),
        }
    }

    /// The current schema (shared; a migration replaces it).
    pub fn schema(&self) -> Arc<Schema> {
        self.read_state().schema.clone()
    }

    /// The current schema version.
    pub fn schema_version(&self) -> u32 {
        self.read_state().schema.version()
    }

    /// Starts a transaction.
    pub fn transaction(&self) -> Transaction<'_> {
        Transaction {
            db: self,
            ops: Vec::new(),
        }
    }

    /// Inserts one row (a one-operation transaction).
    ///
    /// # Errors
    /// As [`Transaction::commit`].
    pub fn insert<K: Into<String>>(
        &self,
        table: &str,
        row: impl IntoIterator<Item = (K, Value)>,
    ) -> Result<()> {
        let mut tx = self.transaction();
        tx.insert(table, row);
        tx.commit().map(|_| ())
    }

    /// Updates some columns of one row.
    ///
    /// # Errors
    /// As [`Transaction::commit`].
    pub fn update<K: Into<String>>(
        &self,
        table: &str,
        key: impl Into<Value>,
        values: impl IntoIterator<Item = (K, Value)>,
    ) -> Result<()> {
        let mut tx = self.transaction();
        tx.update(table, key, values);
        tx.commit().map(|_| ())
    }

    /// Deletes one row.
    ///
    /// # Errors
    /// As [`Transaction::commit`].
    pub fn delete(&self, table: &str, key: impl Into<Value>) -> Result<()> {
        let mut tx = self.transaction();
        tx.delete(table, key);
        tx.commit().map(|_| ())
    }

    /// Adds `delta` to a counter column of one row.
    ///
    /// # Errors
    /// As [`Transaction::commit`].
    pub fn increment(
        &self,
        table: &str,
        key: impl Into<Value>,
        column: &str,
        delta: i64,
    ) -> Result<()> {
        let mut tx = self.transaction();
        tx.increment(table, key, column, delta);
        tx.commit().map(|_| ())
    }

    /// Applies a migration locally. Indexes of the changed table are rebuilt.
    ///
    /// # Errors
    /// As [`Schema::apply`]; nothing changes on error.
    pub fn migrate(&self, migration: Migration) -> Result<()> {
        let mut st = self.write_state();
        let mut next = (*st.schema).clone();
        next.apply(migration)?;
        st.schema = Arc::new(next);
        st.sync_tables();
        Ok(())
    }

    /// Applies migrations received from a peer: `migrations[i]` is the
    /// migration that produced version `from_version + i + 1`. Those this
    /// replica already has must be equal to its own.
    ///
    /// # Errors
    /// [`SyncError::SchemaConflict`] when histories differ or leave a gap,
    /// or a migration's own error; nothing changes on error.
    pub fn apply_migrations(&self, from_version: u32, migrations: &[Migration]) -> Result<usize> {
        let mut st = self.write_state();
        let local = st.schema.version();
        if from_version > local {
            return Err(SyncError::SchemaConflict {
                version: local,
                reason: format!(
                    "migrations start after version {from_version}, this replica is at {local}"
                ),
            });
        }
        let mut next = (*st.schema).clone();
        let mut applied = 0;
        for (i, m) in migrations.iter().enumerate() {
            let version = from_version as usize + i; // index into history
            if version < local as usize {
                if &next.history()[version] != m {
                    return Err(SyncError::SchemaConflict {
                        version: version as u32 + 1,
                        reason: format!(
                            "local migration {:?} differs from remote {:?}",
                            next.history()[version],
                            m
                        ),
                    });
                }
            } else {
                next.apply(m.clone())?;
                applied += 1;
            }
        }
        if applied > 0 {
            st.schema = Arc::new(next);
            st.sync_tables();
        }
        Ok(applied)
    }
}

/// The latest timestamp among changes (for tests and diagnostics).
pub fn newest_timestamp(changes: &[Change]) -> Option<HlcTimestamp> {
    changes.iter().map(|c| c.ts).max()
}

#[allow(dead_code)]
fn _assert_types() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Database>();
    let _ = ColumnType::I64;
}
