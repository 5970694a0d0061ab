//! Read views: a consistent read-only view of the committed state.

use std::collections::BTreeMap;
use std::sync::RwLockReadGuard;

use crate::error::Result;
use crate::schema::{ColumnId, Schema, Table};
use unidb_common::value::Value;

use super::predicate::Predicate;
use super::state::State;
use super::table::{check_key, RowState};
use super::Row;

/// A consistent read-only view of a database (holds its read lock).
#[derive(Debug)]
pub struct ReadView<'a> {
    pub(super) state: RwLockReadGuard<'a, State>,
}

impl ReadView<'_> {
    /// The schema.
    pub fn schema(&self) -> &Schema {
        &self.state.schema
    }

    pub(super) fn row(table: &Table, key: &Value, r: &RowState) -> Row {
        table
            .columns()
            .map(|c| (c.def.name.clone(), r.value(key, c)))
            .collect()
    }

    /// The row with primary key `key`, if alive.
    ///
    /// # Errors
    /// [`SyncError::UnknownTable`](crate::SyncError::UnknownTable), or a type
    /// error for a key of the wrong type.
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
    /// [`SyncError::UnknownTable`](crate::SyncError::UnknownTable) or
    /// [`SyncError::UnknownColumn`](crate::SyncError::UnknownColumn).
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
    /// [`SyncError::UnknownTable`](crate::SyncError::UnknownTable).
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
