//! Commit observation: what each commit (a local transaction or an
//! applied remote batch) changed, handed to one [`CommitObserver`] while
//! the write lock is still held, so that observers see commits in commit
//! order.

use std::sync::Arc;

use unidb_common::id::ReplicaId;
use unidb_common::value::Value;

use crate::schema::{Table, TableId};

use super::table::RowState;
use super::view::ReadView;
use super::{Database, Row};

/// The visible state of one row before and after a commit.
#[derive(Debug, Clone, PartialEq)]
pub struct RowEvent {
    /// The row's table.
    pub table: String,
    /// Its primary key.
    pub key: Value,
    /// The replica that made the last change of this commit to the row.
    pub origin: ReplicaId,
    /// The live row before the commit (`None`: absent or deleted).
    pub before: Option<Row>,
    /// The live row after it.
    pub after: Option<Row>,
}

/// What one commit changed.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitEvent {
    /// Whether this replica's own transaction made it (else a batch from
    /// a peer).
    pub local: bool,
    /// Changes recorded (local) or newly applied (remote).
    pub changes: usize,
    /// The tables written, each once, in first-write order.
    pub tables: Vec<String>,
    /// Each row the commit touched, once, in first-touch order, with its
    /// visible state before and after; empty unless the observer
    /// [wants rows](CommitObserver::wants_rows). A row whose visible state
    /// did not change (a write that lost its merge) is left out.
    pub rows: Vec<RowEvent>,
}

/// Receives every commit of a [`Database`] ([`Database::set_commit_observer`]).
///
/// [`committed`](Self::committed) runs while the database's write lock is
/// held, which is what puts events in commit order: it must be quick,
/// must not block, and must not call into the database (that deadlocks).
/// Hand the event to another thread (a channel) and return.
pub trait CommitObserver: Send + Sync {
    /// Whether events should carry [`CommitEvent::rows`] (computing them
    /// costs a copy of every touched row, before and after).
    fn wants_rows(&self) -> bool;
    /// Called once per commit that recorded or applied at least one
    /// change, under the write lock.
    fn committed(&self, event: CommitEvent);
}

/// The rows a commit touches, captured before their first change.
#[derive(Default)]
pub(super) struct Touched {
    pub(super) rows: Vec<(TableId, Value, Option<RowState>, ReplicaId)>,
    pub(super) index: std::collections::HashMap<(TableId, Value), usize>,
}

impl Touched {
    /// Records the state of a row before its first change in the commit,
    /// and the origin of its latest change.
    pub(super) fn touch(
        &mut self,
        table: TableId,
        key: &Value,
        prev: Option<&RowState>,
        origin: ReplicaId,
    ) {
        match self.index.get(&(table, key.clone())) {
            Some(&i) => self.rows[i].3 = origin,
            None => {
                self.index.insert((table, key.clone()), self.rows.len());
                self.rows.push((table, key.clone(), prev.cloned(), origin));
            }
        }
    }
}

impl super::state::State {
    /// The event of a commit that touched `touched` (prior states) with
    /// `changes` changes.
    pub(super) fn commit_event(
        &self,
        local: bool,
        changes: usize,
        touched: Touched,
        want_rows: bool,
    ) -> CommitEvent {
        let mut tables: Vec<String> = Vec::new();
        let mut rows = Vec::new();
        for (t, key, prev, origin) in touched.rows {
            let Ok(table) = self.schema.table_by_id(t) else {
                continue;
            };
            if !tables.contains(&table.name) {
                tables.push(table.name.clone());
            }
            if want_rows {
                let before = visible(table, &key, prev.as_ref());
                let after = visible(table, &key, self.tables[t as usize].rows.get(&key));
                if before != after {
                    rows.push(RowEvent {
                        table: table.name.clone(),
                        key,
                        origin,
                        before,
                        after,
                    });
                }
            }
        }
        CommitEvent {
            local,
            changes,
            tables,
            rows,
        }
    }
}

pub(super) fn visible(table: &Table, key: &Value, r: Option<&RowState>) -> Option<Row> {
    r.filter(|r| r.alive())
        .map(|r| ReadView::row(table, key, r))
}

impl Database {
    /// Installs (or with `None` removes) the observer of every commit. One
    /// observer at a time; the client's subscriptions are built on it.
    pub fn set_commit_observer(&self, observer: Option<Arc<dyn CommitObserver>>) {
        *self.observer.write().unwrap_or_else(|e| e.into_inner()) = observer;
    }

    pub(super) fn observer(&self) -> Option<Arc<dyn CommitObserver>> {
        self.observer
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
