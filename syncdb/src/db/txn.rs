//! Transactions: staged local writes, checked and applied all together
//! under the write lock, with the changes they record.

use std::collections::{BTreeMap, HashSet};

use unidb_common::id::ReplicaId;

use crate::change::{Change, ChangeOp};
use crate::error::{Result, SyncError};
use crate::resolver::{Cell, PnCounter};
use crate::schema::{ColumnId, Table, TableId};
use unidb_common::value::Value;

use super::observe::Touched;
use super::state::State;
use super::table::{check_key, RowState};
use super::Database;

/// A staged operation.
#[derive(Debug, Clone)]
pub(super) enum Op {
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
    pub(super) db: &'a Database,
    pub(super) ops: Vec<Op>,
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
        if n > 0 {
            if let Some(observer) = db.observer() {
                let mut t = Touched::default();
                for (table, key, prev) in undo {
                    t.touch(table, &key, prev.as_ref(), db.replica);
                }
                observer.committed(st.commit_event(true, n, t, observer.wants_rows()));
            }
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
