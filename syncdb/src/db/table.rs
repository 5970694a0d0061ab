//! Table storage: the replicated state of each row (its causal length and
//! cells), the rows of a table with their secondary indexes, and the merge
//! of one validated change into a row.

use std::collections::{BTreeMap, BTreeSet};

use crate::change::{Change, ChangeOp};
use crate::error::Result;
use crate::resolver::{Cell, PnCounter, Register};
use crate::schema::{Column, ColumnId, Table};
use unidb_common::value::Value;

/// The replicated state of one row.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct RowState {
    pub(super) cl: u64,
    /// By column id; `None` = not written in this life.
    pub(super) cells: Vec<Option<Cell>>,
}

impl RowState {
    pub(super) fn alive(&self) -> bool {
        self.cl & 1 == 1
    }

    pub(super) fn cell(&self, column: ColumnId) -> Option<&Cell> {
        self.cells.get(column as usize).and_then(Option::as_ref)
    }

    pub(super) fn value(&self, key: &Value, column: &Column) -> Value {
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
pub(super) struct TableData {
    pub(super) rows: BTreeMap<Value, RowState>,
    /// Column id → visible value → keys of live rows.
    pub(super) indexes: BTreeMap<ColumnId, BTreeMap<Value, BTreeSet<Value>>>,
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
    pub(super) fn put_row(&mut self, table: &Table, key: &Value, row: Option<RowState>) {
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

    pub(super) fn rebuild_indexes(&mut self, table: &Table) {
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
    pub(super) fn apply(&mut self, table: &Table, change: &Change) {
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

pub(super) fn check_key(table: &Table, key: &Value) -> Result<()> {
    table.check_value(table.primary_key(), key)
}
