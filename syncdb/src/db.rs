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

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ops::Bound;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use unidb_common::id::ReplicaId;
use unidb_common::time::{Clock, Hlc, HlcTimestamp};

use crate::change::{Change, ChangeOp, VersionVector};
use crate::error::{Result, SyncError};
use crate::resolver::{Cell, PnCounter, Register};
use crate::schema::{Column, ColumnId, Migration, Schema, Table, TableId};
use crate::snapshot;
use crate::value::{ColumnType, Value};

/// Default bound on how far ahead of the local clock a remote change may be
/// stamped: 5 minutes.
pub const DEFAULT_MAX_DRIFT: Duration = Duration::from_secs(300);

/// A row as read: column name → value (the primary key included).
pub type Row = BTreeMap<String, Value>;

/// A condition on rows for [`ReadView::scan`].
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    /// Every row.
    All,
    /// `column == value` (uses the column's index if it has one).
    Eq(String, Value),
    /// `column != value`.
    Ne(String, Value),
    /// `column < value` (in [`Value`] order).
    Lt(String, Value),
    /// `column <= value`.
    Le(String, Value),
    /// `column > value`.
    Gt(String, Value),
    /// `column >= value`.
    Ge(String, Value),
    /// `column` is null.
    IsNull(String),
    /// Every predicate holds.
    And(Vec<Predicate>),
    /// At least one predicate holds.
    Or(Vec<Predicate>),
}

/// A predicate with columns resolved to ids.
enum Bound_ {
    All,
    Cmp(ColumnId, std::cmp::Ordering, bool, Value),
    IsNull(ColumnId),
    And(Vec<Bound_>),
    Or(Vec<Bound_>),
}

impl Predicate {
    fn bind(&self, table: &Table) -> Result<Bound_> {
        use std::cmp::Ordering::*;
        let col = |name: &str| table.column(name).map(|c| c.id);
        Ok(match self {
            Predicate::All => Bound_::All,
            Predicate::Eq(c, v) => Bound_::Cmp(col(c)?, Equal, true, v.clone()),
            Predicate::Ne(c, v) => Bound_::Cmp(col(c)?, Equal, false, v.clone()),
            Predicate::Lt(c, v) => Bound_::Cmp(col(c)?, Less, true, v.clone()),
            Predicate::Ge(c, v) => Bound_::Cmp(col(c)?, Less, false, v.clone()),
            Predicate::Gt(c, v) => Bound_::Cmp(col(c)?, Greater, true, v.clone()),
            Predicate::Le(c, v) => Bound_::Cmp(col(c)?, Greater, false, v.clone()),
            Predicate::IsNull(c) => Bound_::IsNull(col(c)?),
            Predicate::And(ps) => {
                Bound_::And(ps.iter().map(|p| p.bind(table)).collect::<Result<_>>()?)
            }
            Predicate::Or(ps) => {
                Bound_::Or(ps.iter().map(|p| p.bind(table)).collect::<Result<_>>()?)
            }
        })
    }
}

impl Bound_ {
    fn eval(&self, value_of: &dyn Fn(ColumnId) -> Value) -> bool {
        match self {
            Bound_::All => true,
            Bound_::Cmp(c, ord, want, v) => (value_of(*c).cmp(v) == *ord) == *want,
            Bound_::IsNull(c) => value_of(*c).is_null(),
            Bound_::And(ps) => ps.iter().all(|p| p.eval(value_of)),
            Bound_::Or(ps) => ps.iter().any(|p| p.eval(value_of)),
        }
    }

    /// An equality on an indexed column usable to narrow the scan.
    fn index_probe(&self, table: &Table) -> Option<(ColumnId, Value)> {
        match self {
            Bound_::Cmp(c, std::cmp::Ordering::Equal, true, v)
                if *c != 0 && table.all_columns()[*c as usize].def.indexed =>
            {
                Some((*c, v.clone()))
            }
            Bound_::And(ps) => ps.iter().find_map(|p| p.index_probe(table)),
            _ => None,
        }
    }
}

/// The replicated state of one row.
#[derive(Debug, Clone, Default, PartialEq)]
struct RowState {
    cl: u64,
    /// By column id; `None` = not written in this life.
    cells: Vec<Option<Cell>>,
}

impl RowState {
    fn alive(&self) -> bool {
        self.cl & 1 == 1
    }

    fn cell(&self, column: ColumnId) -> Option<&Cell> {
        self.cells.get(column as usize).and_then(Option::as_ref)
    }

    fn value(&self, key: &Value, column: &Column) -> Value {
        if column.id == 0 {
            return key.clone();
        }
        match self.cell(column.id) {
            Some(c) => c.value(),
            None => column.def.fallback(),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct TableData {
    rows: BTreeMap<Value, RowState>,
    /// Column id → visible value → keys of live rows.
    indexes: BTreeMap<ColumnId, BTreeMap<Value, BTreeSet<Value>>>,
}

impl TableData {
    fn index_entries(table: &Table, key: &Value, row: Option<&RowState>) -> Vec<(ColumnId, Value)> {
        match row {
            Some(r) if r.alive() => table
                .columns()
                .filter(|c| c.def.indexed && c.id != 0)
                .map(|c| (c.id, r.value(key, c)))
                .collect(),
            _ => Vec::new(),
        }
    }

    fn unindex(&mut self, key: &Value, entries: Vec<(ColumnId, Value)>) {
        for (c, v) in entries {
            if let Some(idx) = self.indexes.get_mut(&c) {
                if let Some(keys) = idx.get_mut(&v) {
                    keys.remove(key);
                    if keys.is_empty() {
                        idx.remove(&v);
                    }
                }
            }
        }
    }

    fn index(&mut self, key: &Value, entries: Vec<(ColumnId, Value)>) {
        for (c, v) in entries {
            self.indexes
                .entry(c)
                .or_default()
                .entry(v)
                .or_default()
                .insert(key.clone());
        }
    }

    /// Replaces a row (or removes it), keeping indexes right.
    fn put_row(&mut self, table: &Table, key: &Value, row: Option<RowState>) {
        let old = Self::index_entries(table, key, self.rows.get(key));
        self.unindex(key, old);
        match row {
            Some(r) => {
                let new = Self::index_entries(table, key, Some(&r));
                self.rows.insert(key.clone(), r);
                self.index(key, new);
            }
            None => {
                self.rows.remove(key);
            }
        }
    }

    fn rebuild_indexes(&mut self, table: &Table) {
        self.indexes.clear();
        for c in table.columns().filter(|c| c.def.indexed && c.id != 0) {
            self.indexes.insert(c.id, BTreeMap::new());
        }
        let rows = std::mem::take(&mut self.rows);
        for (k, r) in &rows {
            let e = Self::index_entries(table, k, Some(r));
            self.index(k, e);
        }
        self.rows = rows;
    }

    /// Merges one validated change.
    fn apply(&mut self, table: &Table, change: &Change) {
        // Indexed tables have an entry per indexed column (see `rebuild_indexes`).
        let indexed = !self.indexes.is_empty();
        let old_entries = if indexed {
            Self::index_entries(table, &change.key, self.rows.get(&change.key))
        } else {
            Vec::new()
        };
        let row = self.rows.entry(change.key.clone()).or_default();
        if change.cl < row.cl {
            return;
        }
        if change.cl > row.cl {
            row.cl = change.cl;
            row.cells.clear();
        }
        let (column, incoming) = match &change.op {
            ChangeOp::Row => (None, None),
            ChangeOp::Set { column, value } => (
                Some(*column),
                Some(Cell::Register(Register {
                    value: value.clone(),
                    ts: change.ts,
                    replica: change.origin,
                })),
            ),
            ChangeOp::Count { column, inc, dec } => {
                let mut c = PnCounter::default();
                c.entries.insert(change.origin, (*inc, *dec));
                (Some(*column), Some(Cell::Counter(c)))
            }
        };
        if let (Some(col), Some(incoming)) = (column, incoming) {
            let column = &table.all_columns()[col as usize];
            if !column.dropped {
                let i = col as usize;
                if row.cells.len() <= i {
                    row.cells.resize(i + 1, None);
                }
                match &mut row.cells[i] {
                    Some(cell) => column.resolver().merge_into(cell, &incoming),
                    slot @ None => *slot = Some(incoming),
                }
            }
        }
        if indexed {
            let new_entries = Self::index_entries(table, &change.key, Some(row));
            if new_entries != old_entries {
                self.unindex(&change.key, old_entries);
                self.index(&change.key, new_entries);
            }
        }
    }
}

/// The changes of one origin replica.
#[derive(Debug, Clone, Default)]
struct OriginLog {
    /// Changes `1..=frontier` are all known: held, or garbage-collected
    /// (then absent from `changes`).
    frontier: u64,
    changes: BTreeMap<u64, Change>,
    /// Ranges `first -> last` above the frontier that a peer reported as
    /// garbage-collected.
    collected: BTreeMap<u64, u64>,
}

impl OriginLog {
    fn advance(&mut self) {
        loop {
            let next = self.frontier + 1;
            if self.changes.contains_key(&next) {
                self.frontier = next;
                continue;
            }
            // A collected range starting at or below `next` that reaches past the frontier.
            let reach = self
                .collected
                .range(..=next)
                .map(|(_, last)| *last)
                .max()
                .filter(|last| *last > self.frontier);
            match reach {
                Some(last) => self.frontier = last,
                None => break,
            }
        }
        let frontier = self.frontier;
        self.collected.retain(|_, last| *last > frontier);
    }
}

/// A range of one origin's sequence numbers that were garbage-collected
/// (changes of deleted rows that every known replica holds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Collected {
    /// The origin replica.
    pub origin: ReplicaId,
    /// First sequence number of the range.
    pub first: u64,
    /// Last sequence number of the range (inclusive).
    pub last: u64,
}

#[derive(Debug)]
struct State {
    schema: Arc<Schema>,
    tables: Vec<TableData>,
    log: BTreeMap<ReplicaId, OriginLog>,
    /// Version vectors acknowledged by peers heard from directly.
    acks: BTreeMap<ReplicaId, VersionVector>,
    /// Garbage-collection epoch: the stable vector and the ack diagonal
    /// when it started.
    gc_epoch: Option<(VersionVector, VersionVector)>,
    /// Deletes covered by this vector may be collected (see [`Database::collect_garbage`]).
    gc_frontier: VersionVector,
}

impl State {
    fn seen(&self, origin: ReplicaId, seq: u64) -> bool {
        self.log.get(&origin).is_some_and(|l| {
            seq <= l.frontier
                || l.changes.contains_key(&seq)
                || l.collected.range(..=seq).any(|(_, last)| seq <= *last)
        })
    }

    fn record(&mut self, change: Change) {
        let log = self.log.entry(change.origin).or_default();
        log.changes.insert(change.seq, change);
        log.advance();
    }

    fn mark_collected(&mut self, collected: &[Collected]) {
        for c in collected {
            let log = self.log.entry(c.origin).or_default();
            if c.last > log.frontier {
                let e = log.collected.entry(c.first).or_insert(c.last);
                *e = (*e).max(c.last);
                log.advance();
            }
        }
    }

    fn own_vv(&self) -> VersionVector {
        self.log.iter().map(|(r, l)| (*r, l.frontier)).collect()
    }

    fn next_seq(&self, me: ReplicaId) -> u64 {
        self.log.get(&me).map_or(0, |l| {
            l.frontier
                .max(l.changes.keys().next_back().copied().unwrap_or(0))
        }) + 1
    }

    fn sync_tables(&mut self) {
        while self.tables.len() < self.schema.tables().len() {
            self.tables.push(TableData::default());
        }
        for (t, data) in self.schema.tables().iter().zip(self.tables.iter_mut()) {
            data.rebuild_indexes(t);
        }
    }

    /// Checks a change from elsewhere against the schema.
    fn validate(&self, c: &Change) -> Result<()> {
        let bad = |reason: String| SyncError::InvalidChange {
            origin: c.origin,
            seq: c.seq,
            reason,
        };
        if c.seq == 0 {
            return Err(bad("sequence number 0".into()));
        }
        if c.cl == 0 {
            return Err(bad("causal length 0".into()));
        }
        let table = self.schema.table_by_id(c.table)?;
        table.check_value(table.primary_key(), &c.key)?;
        match &c.op {
            ChangeOp::Row => {}
            ChangeOp::Set { column, value } => {
                let col = table.column_by_id(*column)?;
                if col.id == 0 {
                    return Err(bad("write to the primary key column".into()));
                }
                if col.resolver().is_counter() {
                    return Err(bad(format!(
                        "register write to counter column {:?}",
                        col.def.name
                    )));
                }
                table.check_value(col, value)?;
            }
            ChangeOp::Count { column, .. } => {
                let col = table.column_by_id(*column)?;
                if !col.resolver().is_counter() {
                    return Err(bad(format!(
                        "counter write to non-counter column {:?}",
                        col.def.name
                    )));
                }
            }
        }
        if !matches!(c.op, ChangeOp::Row) && c.cl & 1 == 0 {
            return Err(bad(format!(
                "column write in deleted row life (causal length {})",
                c.cl
            )));
        }
        Ok(())
    }
}

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
#[derive(Debug)]
pub struct Database {
    replica: ReplicaId,
    hlc: Hlc,
    state: RwLock<State>,
}

impl Database {
    /// A replica with schema built from `migrations` and the default drift
    /// bound ([`DEFAULT_MAX_DRIFT`]).
    ///
    /// # Errors
    /// The first invalid migration's error.
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
    /// The first invalid migration's error.
    pub fn with_max_drift(
        replica: ReplicaId,
        clock: Arc<dyn Clock>,
        max_drift: Duration,
        migrations: &[Migration],
    ) -> Result<Self> {
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

    /// This replica's version vector: per origin, the contiguous frontier of
    /// the changes it holds.
    pub fn version_vector(&self) -> VersionVector {
        self.read_state().own_vv()
    }

    /// Every held change the holder of `known` lacks (`seq > known[origin]`),
    /// by origin then sequence number.
    pub fn changes_since(&self, known: &VersionVector) -> Vec<Change> {
        let st = self.read_state();
        let mut out = Vec::new();
        for (origin, log) in &st.log {
            let from = known.get(*origin);
            out.extend(
                log.changes
                    .range((Bound::Excluded(from), Bound::Unbounded))
                    .map(|(_, c)| c.clone()),
            );
        }
        out
    }

    /// Number of changes held in the log.
    pub fn log_len(&self) -> usize {
        self.read_state()
            .log
            .values()
            .map(|l| l.changes.len())
            .sum()
    }

    /// Merges changes from another replica, written against schema version
    /// `schema_version`. Changes already held are skipped, so applying a
    /// batch twice is a no-op, and batches may come in any order. Returns
    /// the number of changes that were new.
    ///
    /// All changes are validated (schema ids, types, causal lengths) and the
    /// newest timestamp is checked against the HLC drift bound before any is
    /// applied: on error nothing changes.
    ///
    /// # Errors
    /// [`SyncError::SchemaTooNew`], [`SyncError::ClockSkew`], or a
    /// validation error naming the change.
    pub fn apply_changes(&self, schema_version: u32, changes: &[Change]) -> Result<usize> {
        self.apply_batch(schema_version, changes.to_vec(), &[])
    }

    /// [`Database::apply_changes`] plus ranges of sequence numbers that the
    /// sender garbage-collected ([`Database::collected_since`]): they count
    /// as held, so version vectors still advance over them.
    ///
    /// # Errors
    /// As [`Database::apply_changes`], or [`SyncError::Protocol`] for an
    /// empty or reversed range.
    pub fn apply_batch(
        &self,
        schema_version: u32,
        changes: Vec<Change>,
        collected: &[Collected],
    ) -> Result<usize> {
        for c in collected {
            if c.first == 0 || c.first > c.last {
                return Err(SyncError::Protocol {
                    reason: format!(
                        "invalid collected range {}..={} of replica {}",
                        c.first, c.last, c.origin
                    ),
                });
            }
        }
        let mut st = self.write_state();
        let local = st.schema.version();
        if schema_version > local {
            return Err(SyncError::SchemaTooNew {
                local,
                remote: schema_version,
            });
        }
        let mut newest: Option<&Change> = None;
        for c in &changes {
            st.validate(c)?;
            if !st.seen(c.origin, c.seq) && !matches!(newest, Some(n) if c.ts <= n.ts) {
                newest = Some(c);
            }
        }
        let Some(newest) = newest else {
            st.mark_collected(collected);
            return Ok(0);
        };
        self.hlc
            .update(newest.ts)
            .map_err(|source| SyncError::ClockSkew {
                replica: newest.origin,
                source,
            })?;
        let mut applied = 0;
        let st = &mut *st;
        let schema = st.schema.clone();
        for c in changes {
            if st.seen(c.origin, c.seq) {
                continue;
            }
            let table = schema.table_by_id(c.table)?;
            st.tables[c.table as usize].apply(table, &c);
            st.record(c);
            applied += 1;
        }
        st.mark_collected(collected);
        Ok(applied)
    }
}

impl Database {
    /// Saves the whole replicated state as a snapshot (format in
    /// [`snapshot`]): every held change column by column
    /// with the codecs, version vector, schema history, acknowledgements and
    /// garbage-collection state, closed by a CRC-32.
    pub fn save_snapshot(&self) -> Vec<u8> {
        let st = self.read_state();
        let parts = snapshot::Parts {
            replica: self.replica,
            max_drift: self.hlc.max_drift(),
            hlc_last: self.hlc.last(),
            migrations: st.schema.history().to_vec(),
            origins: st
                .log
                .iter()
                .map(|(r, l)| snapshot::OriginState {
                    origin: *r,
                    frontier: l.frontier,
                    collected: l.collected.iter().map(|(f, l)| (*f, *l)).collect(),
                })
                .collect(),
            acks: st.acks.iter().map(|(r, v)| (*r, v.clone())).collect(),
            gc_epoch: st.gc_epoch.clone(),
            gc_frontier: st.gc_frontier.clone(),
            changes: st
                .log
                .values()
                .flat_map(|l| l.changes.values().cloned())
                .collect(),
        };
        drop(st);
        snapshot::encode(&parts)
    }

    /// Opens a database from a snapshot made by [`Database::save_snapshot`],
    /// with `clock` as its physical clock. Its rows, cells, indexes, version
    /// vector and merge behaviour are those of the saved database.
    ///
    /// # Errors
    /// [`SyncError::Decode`] for a snapshot that is truncated, corrupt
    /// (checksum), of another format version or inconsistent; the schema
    /// and validation errors of a change that does not fit the schema.
    pub fn load_snapshot(bytes: &[u8], clock: Arc<dyn Clock>) -> Result<Database> {
        let p = snapshot::decode(bytes)?;
        let mut st = State {
            schema: Arc::new(Schema::from_migrations(&p.migrations)?),
            tables: Vec::new(),
            log: BTreeMap::new(),
            acks: p.acks.into_iter().collect(),
            gc_epoch: p.gc_epoch,
            gc_frontier: p.gc_frontier,
        };
        st.sync_tables();
        for o in p.origins {
            st.log.insert(
                o.origin,
                OriginLog {
                    frontier: o.frontier,
                    changes: BTreeMap::new(),
                    collected: o.collected.into_iter().collect(),
                },
            );
        }
        let schema = st.schema.clone();
        let mut newest = p.hlc_last;
        for c in p.changes {
            st.validate(&c)?;
            let inconsistent = |reason: &str| SyncError::Decode {
                offset: 0,
                reason: format!("snapshot: change ({}, {}) {reason}", c.origin, c.seq),
            };
            let Some(log) = st.log.get(&c.origin) else {
                return Err(inconsistent("of an origin the snapshot does not list"));
            };
            if log.changes.contains_key(&c.seq) {
                return Err(inconsistent("appears twice"));
            }
            if c.ts > newest {
                newest = c.ts;
            }
            let table = schema.table_by_id(c.table)?;
            st.tables[c.table as usize].apply(table, &c);
            if let Some(log) = st.log.get_mut(&c.origin) {
                log.changes.insert(c.seq, c);
            }
        }
        Ok(Database {
            replica: p.replica,
            hlc: Hlc::with_last(clock, p.max_drift, newest),
            state: RwLock::new(state_checked(st)?),
        })
    }

    /// Saves a snapshot ([`Database::save_snapshot`]) to the file `path`,
    /// atomically: the bytes are written to a temporary file in the same
    /// directory, synced to disk and renamed over `path`, and the directory
    /// is synced (on Unix). A crash or error leaves either the old file or
    /// the complete new one, never a part; on error the temporary file is
    /// removed.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use unidb_common::{id::ReplicaId, time::ManualClock};
    /// use unidb_syncdb::{ColumnDef, ColumnType, Database, Migration, TableDef, Value};
    ///
    /// # fn main() -> Result<(), unidb_syncdb::SyncError> {
    /// let schema = [Migration::AddTable(
    ///     TableDef::new("todo", "id", ColumnType::I64).column(ColumnDef::new("title", ColumnType::Text)),
    /// )];
    /// let clock = Arc::new(ManualClock::new(1_000));
    /// let db = Database::open(ReplicaId::from_u64(1), clock.clone(), &schema)?;
    /// db.insert("todo", [("id", Value::I64(1)), ("title", "milk".into())])?;
    ///
    /// let path = std::env::temp_dir().join(format!("unidb-doc-{}.snapshot", std::process::id()));
    /// db.save_snapshot_to(&path)?;
    /// let back = Database::open_snapshot(&path, clock);
    /// std::fs::remove_file(&path).ok();
    /// assert_eq!(back?.read().dump(), db.read().dump());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`SyncError::Io`] naming `path` and the step that failed (creating,
    /// writing or syncing the temporary file, the rename, the directory sync),
    /// e.g. for a missing directory or a `path` that is a directory.
    pub fn save_snapshot_to(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        snapshot::write_file_atomic(path.as_ref(), &self.save_snapshot())
    }

    /// Opens a database from a snapshot file written by
    /// [`Database::save_snapshot_to`] (or the bytes of
    /// [`Database::save_snapshot`]), with `clock` as its physical clock; see
    /// [`Database::load_snapshot`]. Example at [`Database::save_snapshot_to`].
    ///
    /// # Errors
    /// [`SyncError::Io`] naming `path` when the file is missing or unreadable
    /// (e.g. a directory); the errors of [`Database::load_snapshot`] for its
    /// content.
    pub fn open_snapshot(
        path: impl AsRef<std::path::Path>,
        clock: Arc<dyn Clock>,
    ) -> Result<Database> {
        Database::load_snapshot(&snapshot::read_file(path.as_ref())?, clock)
    }
}

/// Checks that every origin's stored frontier is where the log would have
/// advanced it (the change or collected range right after it is absent).
/// Changes at or below the frontier may have been garbage-collected, which
/// a snapshot cannot tell from loss; they are not checked.
fn state_checked(st: State) -> Result<State> {
    for (origin, log) in &st.log {
        let next = log.frontier.saturating_add(1);
        let stalled = log.changes.contains_key(&next)
            || log
                .collected
                .range(..=next)
                .any(|(_, last)| *last > log.frontier);
        if stalled {
            return Err(SyncError::Decode {
                offset: 0,
                reason: format!(
                    "snapshot: frontier {} of replica {origin} is behind its log",
                    log.frontier
                ),
            });
        }
    }
    Ok(st)
}

impl Database {
    /// Ranges of sequence numbers above `known` and within this replica's
    /// frontier that were garbage-collected here; send them with the changes
    /// so that the receiver's version vector advances over them.
    pub fn collected_since(&self, known: &VersionVector) -> Vec<Collected> {
        let st = self.read_state();
        let mut out = Vec::new();
        for (origin, log) in &st.log {
            let mut prev = known.get(*origin);
            if prev >= log.frontier {
                continue;
            }
            for &seq in log.changes.range(prev + 1..=log.frontier).map(|(s, _)| s) {
                if seq > prev + 1 {
                    out.push(Collected {
                        origin: *origin,
                        first: prev + 1,
                        last: seq - 1,
                    });
                }
                prev = seq;
            }
            if log.frontier > prev {
                out.push(Collected {
                    origin: *origin,
                    first: prev + 1,
                    last: log.frontier,
                });
            }
        }
        out
    }

    /// Records that `peer` holds every change covered by `known` (from its
    /// handshake or acknowledgement). Used for garbage collection.
    pub fn record_ack(&self, peer: ReplicaId, known: &VersionVector) {
        if peer != self.replica {
            self.write_state()
                .acks
                .entry(peer)
                .or_default()
                .merge(known);
        }
    }

    /// The garbage-collection frontier: deletes covered by it may be
    /// collected on every replica.
    pub fn gc_frontier(&self) -> VersionVector {
        self.read_state().gc_frontier.clone()
    }

    /// Adopts a garbage-collection frontier announced by a peer (the server).
    pub fn learn_gc_frontier(&self, frontier: &VersionVector) {
        self.write_state().gc_frontier.merge(frontier);
    }

    /// Garbage-collects deleted rows that every known replica has
    /// acknowledged: every change of their past lives leaves the log except
    /// the delete itself, and the tombstone shrinks to the key and its causal
    /// length (kept, as in cr-sqlite, so that a later insert of the key
    /// starts a newer life everywhere and a replica joining later learns of
    /// the delete). Returns the number of changes collected. Peers learn the
    /// collected sequence numbers through [`Database::collected_since`], so
    /// version vectors stay exact.
    ///
    /// The rule (run on the server, whose peers are every replica; clients
    /// adopt the server's frontier through the handshake): the *known*
    /// replicas are this one, every peer that acknowledged, and every origin
    /// in the log. An epoch starts by noting `S`, the pointwise minimum of
    /// their acknowledged version vectors (what everyone holds), and `T`, each
    /// replica's acknowledgement of its own changes. A replica that has
    /// acknowledged a delete made every stale write to that row before, so
    /// within `T`; once the minimum reaches `T`, every replica holds those
    /// stale writes, and a late duplicate of one is ignored as already seen.
    /// Then deletes within `S` are safe to collect: the frontier becomes `S`
    /// and a new epoch starts. A replica that never acknowledged holds the
    /// minimum at zero, so nothing is collected while any known replica is
    /// silent. This assumes a star topology (replicas sync with the server,
    /// not with each other) and that replicas join by syncing with the server.
    pub fn collect_garbage(&self) -> usize {
        let mut guard = self.write_state();
        let st = &mut *guard;
        let own = st.own_vv();
        let mut known: BTreeSet<ReplicaId> = st.log.keys().copied().collect();
        known.extend(st.acks.keys().copied());
        known.remove(&self.replica);
        let empty = VersionVector::new();
        let mut ids = known.clone();
        ids.insert(self.replica);
        let stable: VersionVector = ids
            .iter()
            .map(|r| {
                let m = known
                    .iter()
                    .map(|p| st.acks.get(p).unwrap_or(&empty).get(*r))
                    .chain(std::iter::once(own.get(*r)))
                    .min()
                    .unwrap_or(0);
                (*r, m)
            })
            .collect();
        let diagonal: VersionVector = known
            .iter()
            .map(|p| (*p, st.acks.get(p).unwrap_or(&empty).get(*p)))
            .chain(std::iter::once((self.replica, own.get(self.replica))))
            .collect();
        match &st.gc_epoch {
            Some((s1, t1)) if stable.dominates(t1) => {
                let s1 = s1.clone();
                st.gc_frontier.merge(&s1);
                st.gc_epoch = Some((stable, diagonal));
            }
            Some(_) => {}
            None => st.gc_epoch = Some((stable, diagonal)),
        }
        if st.gc_frontier.is_empty() {
            return 0;
        }
        // Deleted rows whose delete is within the frontier: keep that delete
        // (it carries the causal length) and drop every other change of the
        // row's past lives.
        let mut doomed: BTreeMap<(TableId, Value), (ReplicaId, u64)> = BTreeMap::new();
        for log in st.log.values() {
            for c in log.changes.values() {
                if matches!(c.op, ChangeOp::Row)
                    && c.cl & 1 == 0
                    && st.gc_frontier.covers(c.origin, c.seq)
                {
                    let row = st
                        .tables
                        .get(c.table as usize)
                        .and_then(|t| t.rows.get(&c.key));
                    if row.is_some_and(|r| r.cl == c.cl) {
                        doomed
                            .entry((c.table, c.key.clone()))
                            .or_insert((c.origin, c.seq));
                    }
                }
            }
        }
        let mut collected = 0;
        for log in st.log.values_mut() {
            let frontier = log.frontier;
            let before = log.changes.len();
            log.changes.retain(|seq, c| {
                *seq > frontier
                    || !matches!(doomed.get(&(c.table, c.key.clone())), Some(keep) if *keep != (c.origin, c.seq))
            });
            collected += before - log.changes.len();
        }
        collected
    }
}

/// A staged operation.
#[derive(Debug, Clone)]
enum Op {
    Insert(String, Vec<(String, Value)>),
    Update(String, Value, Vec<(String, Value)>),
    Delete(String, Value),
    Increment(String, Value, String, i64),
}

/// A set of writes applied all together or not at all.
///
/// Operations are staged without locks and checked and applied by
/// [`Transaction::commit`]; a transaction dropped without commit does nothing.
#[derive(Debug)]
pub struct Transaction<'a> {
    db: &'a Database,
    ops: Vec<Op>,
}

impl Transaction<'_> {
    /// Stages an insert of a row given as (column, value) pairs. Columns left
    /// out take their default (or null if nullable, 0 for counters).
    pub fn insert<K: Into<String>>(
        &mut self,
        table: &str,
        row: impl IntoIterator<Item = (K, Value)>,
    ) -> &mut Self {
        self.ops.push(Op::Insert(
            table.to_owned(),
            row.into_iter().map(|(k, v)| (k.into(), v)).collect(),
        ));
        self
    }

    /// Stages an update of some columns of the row with key `key`.
    pub fn update<K: Into<String>>(
        &mut self,
        table: &str,
        key: impl Into<Value>,
        values: impl IntoIterator<Item = (K, Value)>,
    ) -> &mut Self {
        self.ops.push(Op::Update(
            table.to_owned(),
            key.into(),
            values.into_iter().map(|(k, v)| (k.into(), v)).collect(),
        ));
        self
    }

    /// Stages a delete of the row with key `key`.
    pub fn delete(&mut self, table: &str, key: impl Into<Value>) -> &mut Self {
        self.ops.push(Op::Delete(table.to_owned(), key.into()));
        self
    }

    /// Stages adding `delta` to the counter column `column`.
    pub fn increment(
        &mut self,
        table: &str,
        key: impl Into<Value>,
        column: &str,
        delta: i64,
    ) -> &mut Self {
        self.ops.push(Op::Increment(
            table.to_owned(),
            key.into(),
            column.to_owned(),
            delta,
        ));
        self
    }

    /// Number of staged operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether nothing is staged.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Applies every staged operation atomically and returns the changes
    /// recorded (one per changed column, plus one per insert or delete).
    ///
    /// # Errors
    /// The first failing operation's error ([`SyncError::UnknownTable`],
    /// [`SyncError::UnknownColumn`], [`SyncError::TypeMismatch`],
    /// [`SyncError::NullNotAllowed`], [`SyncError::MissingColumn`],
    /// [`SyncError::RowExists`], [`SyncError::RowNotFound`],
    /// [`SyncError::PrimaryKeyUpdate`], [`SyncError::NotACounter`]); then no
    /// operation of the transaction is applied.
    pub fn commit(self) -> Result<usize> {
        let db = self.db;
        let mut guard = db.write_state();
        let st = &mut *guard;
        let mut undo: Vec<(TableId, Value, Option<RowState>)> = Vec::new();
        let mut touched: HashSet<(TableId, Value)> = HashSet::new();
        let mut changes: Vec<Change> = Vec::new();
        let first_seq = st.next_seq(db.replica);
        let mut result = Ok(());
        for op in &self.ops {
            let mut emit =
                |st: &mut State, table: &Table, key: &Value, cl: u64, op: ChangeOp| -> Result<()> {
                    let ts = db.hlc.try_now().map_err(SyncError::Clock)?;
                    let c = Change {
                        origin: db.replica,
                        seq: first_seq + changes.len() as u64,
                        ts,
                        table: table.id,
                        key: key.clone(),
                        cl,
                        op,
                    };
                    let data = &mut st.tables[table.id as usize];
                    if touched.insert((table.id, key.clone())) {
                        undo.push((table.id, key.clone(), data.rows.get(key).cloned()));
                    }
                    data.apply(table, &c);
                    changes.push(c);
                    Ok(())
                };
            if let Err(e) = run_op(st, db.replica, op, &mut emit) {
                result = Err(e);
                break;
            }
        }
        if let Err(e) = result {
            let schema = st.schema.clone();
            for (t, key, prev) in undo.into_iter().rev() {
                let table = schema.table_by_id(t)?;
                st.tables[t as usize].put_row(table, &key, prev);
            }
            return Err(e);
        }
        let n = changes.len();
        for c in changes {
            st.record(c);
        }
        Ok(n)
    }
}

type Emit<'e> = dyn FnMut(&mut State, &Table, &Value, u64, ChangeOp) -> Result<()> + 'e;

fn run_op(st: &mut State, me: ReplicaId, op: &Op, emit: &mut Emit<'_>) -> Result<()> {
    let schema = st.schema.clone();
    match op {
        Op::Insert(tname, values) => {
            let table = schema.table(tname)?;
            let pk = table.primary_key();
            let mut given: BTreeMap<ColumnId, Value> = BTreeMap::new();
            for (name, v) in values {
                let col = table.column(name)?;
                table.check_value(col, v)?;
                given.insert(col.id, v.clone());
            }
            let key = given.remove(&0).ok_or_else(|| SyncError::MissingColumn {
                table: table.name.clone(),
                column: pk.def.name.clone(),
            })?;
            let cl = st.tables[table.id as usize]
                .rows
                .get(&key)
                .map_or(0, |r| r.cl);
            if cl & 1 == 1 {
                return Err(SyncError::RowExists {
                    table: table.name.clone(),
                    key: key.describe(),
                });
            }
            let mut writes = Vec::new();
            for col in table.columns().filter(|c| c.id != 0) {
                let v = match given.remove(&col.id) {
                    Some(v) => v,
                    None => match &col.def.default {
                        Some(d) => d.clone(),
                        None if col.def.nullable => Value::Null,
                        None if col.resolver().is_counter() => Value::I64(0),
                        None => {
                            return Err(SyncError::MissingColumn {
                                table: table.name.clone(),
                                column: col.def.name.clone(),
                            })
                        }
                    },
                };
                writes.push((col.id, col.resolver().is_counter(), v));
            }
            let cl = cl + 1;
            emit(st, table, &key, cl, ChangeOp::Row)?;
            for (column, counter, v) in writes {
                let op = if counter {
                    let delta = v.as_i64().unwrap_or(0);
                    let (inc, dec) = PnCounter::default().bumped(me, delta);
                    ChangeOp::Count { column, inc, dec }
                } else {
                    ChangeOp::Set { column, value: v }
                };
                emit(st, table, &key, cl, op)?;
            }
        }
        Op::Update(tname, key, values) => {
            let table = schema.table(tname)?;
            let cl = live_row(st, table, key)?;
            let mut ops = Vec::new();
            for (name, v) in values {
                let col = table.column(name)?;
                if col.id == 0 {
                    return Err(SyncError::PrimaryKeyUpdate {
                        table: table.name.clone(),
                        column: col.def.name.clone(),
                    });
                }
                table.check_value(col, v)?;
                ops.push((col.id, col.resolver().is_counter(), v.clone()));
            }
            for (column, counter, v) in ops {
                let op = if counter {
                    let current = counter_state(st, table, key, column);
                    let delta = v.as_i64().unwrap_or(0).wrapping_sub(current.value());
                    let (inc, dec) = current.bumped(me, delta);
                    ChangeOp::Count { column, inc, dec }
                } else {
                    ChangeOp::Set { column, value: v }
                };
                emit(st, table, key, cl, op)?;
            }
        }
        Op::Delete(tname, key) => {
            let table = schema.table(tname)?;
            check_key(table, key)?;
            let cl = live_row(st, table, key)?;
            emit(st, table, key, cl + 1, ChangeOp::Row)?;
        }
        Op::Increment(tname, key, cname, delta) => {
            let table = schema.table(tname)?;
            let col = table.column(cname)?;
            if !col.resolver().is_counter() {
                return Err(SyncError::NotACounter {
                    table: table.name.clone(),
                    column: col.def.name.clone(),
                    resolver: col.def.resolver.clone(),
                });
            }
            let column = col.id;
            let cl = live_row(st, table, key)?;
            let (inc, dec) = counter_state(st, table, key, column).bumped(me, *delta);
            emit(st, table, key, cl, ChangeOp::Count { column, inc, dec })?;
        }
    }
    Ok(())
}

fn check_key(table: &Table, key: &Value) -> Result<()> {
    table.check_value(table.primary_key(), key)
}

/// The causal length of a live row, or [`SyncError::RowNotFound`].
fn live_row(st: &State, table: &Table, key: &Value) -> Result<u64> {
    check_key(table, key)?;
    match st.tables[table.id as usize].rows.get(key) {
        Some(r) if r.alive() => Ok(r.cl),
        _ => Err(SyncError::RowNotFound {
            table: table.name.clone(),
            key: key.describe(),
        }),
    }
}

/// The counter state of a cell; a column never written in this life holds
/// its default as the value.
fn counter_state(st: &State, table: &Table, key: &Value, column: ColumnId) -> PnCounter {
    let row = st.tables[table.id as usize].rows.get(key);
    match row.and_then(|r| r.cell(column)) {
        Some(Cell::Counter(c)) => c.clone(),
        _ => PnCounter::default(),
    }
}

/// A consistent read-only view of a database (holds its read lock).
#[derive(Debug)]
pub struct ReadView<'a> {
    state: RwLockReadGuard<'a, State>,
}

impl ReadView<'_> {
    /// The schema.
    pub fn schema(&self) -> &Schema {
        &self.state.schema
    }

    fn row(table: &Table, key: &Value, r: &RowState) -> Row {
        table
            .columns()
            .map(|c| (c.def.name.clone(), r.value(key, c)))
            .collect()
    }

    /// The row with primary key `key`, if alive.
    ///
    /// # Errors
    /// [`SyncError::UnknownTable`], or a type error for a key of the wrong type.
    pub fn get(&self, table: &str, key: &Value) -> Result<Option<Row>> {
        let t = self.state.schema.table(table)?;
        check_key(t, key)?;
        Ok(self.state.tables[t.id as usize]
            .rows
            .get(key)
            .filter(|r| r.alive())
            .map(|r| Self::row(t, key, r)))
    }

    /// The live rows matching `predicate`, in key order. An equality on an
    /// indexed column reads only the matching keys from the index.
    ///
    /// # Errors
    /// [`SyncError::UnknownTable`] or [`SyncError::UnknownColumn`].
    pub fn scan(&self, table: &str, predicate: &Predicate) -> Result<Vec<Row>> {
        let t = self.state.schema.table(table)?;
        let bound = predicate.bind(t)?;
        let data = &self.state.tables[t.id as usize];
        let matches = |key: &Value, r: &RowState| {
            r.alive() && bound.eval(&|c: ColumnId| r.value(key, &t.all_columns()[c as usize]))
        };
        let mut out = Vec::new();
        if let Some((c, v)) = bound.index_probe(t) {
            if let Some(keys) = data.indexes.get(&c).and_then(|i| i.get(&v)) {
                for key in keys {
                    if let Some(r) = data.rows.get(key).filter(|r| matches(key, r)) {
                        out.push(Self::row(t, key, r));
                    }
                }
            }
        } else {
            for (key, r) in &data.rows {
                if matches(key, r) {
                    out.push(Self::row(t, key, r));
                }
            }
        }
        Ok(out)
    }

    /// Number of live rows of a table.
    ///
    /// # Errors
    /// [`SyncError::UnknownTable`].
    pub fn count(&self, table: &str) -> Result<usize> {
        let t = self.state.schema.table(table)?;
        Ok(self.state.tables[t.id as usize]
            .rows
            .values()
            .filter(|r| r.alive())
            .count())
    }

    /// Every live row of every table: table name → key → row. Two replicas
    /// that converged return equal dumps.
    pub fn dump(&self) -> BTreeMap<String, BTreeMap<Value, Row>> {
        let mut out = BTreeMap::new();
        for t in self.state.schema.tables() {
            let rows = self.state.tables[t.id as usize]
                .rows
                .iter()
                .filter(|(_, r)| r.alive())
                .map(|(k, r)| (k.clone(), Self::row(t, k, r)))
                .collect();
            out.insert(t.name.clone(), rows);
        }
        out
    }

    /// Number of deleted rows still held (tombstones).
    pub fn tombstones(&self) -> usize {
        self.state
            .tables
            .iter()
            .map(|t| t.rows.values().filter(|r| !r.alive()).count())
            .sum()
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
