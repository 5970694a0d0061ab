//! The state behind a [`Database`](super::Database)'s lock: schema, table
//! data, the change log of every origin replica and the bookkeeping of
//! acknowledgements and garbage collection.

use std::collections::BTreeMap;
use std::sync::Arc;

use unidb_common::id::ReplicaId;

use crate::change::{Change, VersionVector};
use crate::schema::Schema;

use super::gc::Collected;
use super::table::TableData;

/// The changes of one origin replica.
#[derive(Debug, Clone, Default)]
pub(super) struct OriginLog {
    /// Changes `1..=frontier` are all known: held, or garbage-collected
    /// (then absent from `changes`).
    pub(super) frontier: u64,
    pub(super) changes: BTreeMap<u64, Change>,
    /// Ranges `first -> last` above the frontier that a peer reported as
    /// garbage-collected.
    pub(super) collected: BTreeMap<u64, u64>,
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

#[derive(Debug)]
pub(super) struct State {
    pub(super) schema: Arc<Schema>,
    pub(super) tables: Vec<TableData>,
    pub(super) log: BTreeMap<ReplicaId, OriginLog>,
    /// Version vectors acknowledged by peers heard from directly.
    pub(super) acks: BTreeMap<ReplicaId, VersionVector>,
    /// Garbage-collection epoch: the stable vector and the ack diagonal
    /// when it started.
    pub(super) gc_epoch: Option<(VersionVector, VersionVector)>,
    /// Deletes covered by this vector may be collected (see
    /// [`Database::collect_garbage`](super::Database::collect_garbage)).
    pub(super) gc_frontier: VersionVector,
}

impl State {
    pub(super) fn seen(&self, origin: ReplicaId, seq: u64) -> bool {
        self.log.get(&origin).is_some_and(|l| {
            seq <= l.frontier
                || l.changes.contains_key(&seq)
                || l.collected.range(..=seq).any(|(_, last)| seq <= *last)
        })
    }

    pub(super) fn record(&mut self, change: Change) {
        let log = self.log.entry(change.origin).or_default();
        log.changes.insert(change.seq, change);
        log.advance();
    }

    pub(super) fn mark_collected(&mut self, collected: &[Collected]) {
        for c in collected {
            let log = self.log.entry(c.origin).or_default();
            if c.last > log.frontier {
                let e = log.collected.entry(c.first).or_insert(c.last);
                *e = (*e).max(c.last);
                log.advance();
            }
        }
    }

    pub(super) fn own_vv(&self) -> VersionVector {
        self.log.iter().map(|(r, l)| (*r, l.frontier)).collect()
    }

    pub(super) fn next_seq(&self, me: ReplicaId) -> u64 {
        self.log.get(&me).map_or(0, |l| {
            l.frontier
                .max(l.changes.keys().next_back().copied().unwrap_or(0))
        }) + 1
    }

    pub(super) fn sync_tables(&mut self) {
        while self.tables.len() < self.schema.tables().len() {
            self.tables.push(TableData::default());
        }
        for (t, data) in self.schema.tables().iter().zip(self.tables.iter_mut()) {
            data.rebuild_indexes(t);
        }
    }
}
