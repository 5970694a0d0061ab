//! Garbage collection of deleted rows' changes once every known replica
//! holds them, and the acknowledgements and frontiers it relies on.

use std::collections::{BTreeMap, BTreeSet};

use unidb_common::id::ReplicaId;

use crate::change::{ChangeOp, VersionVector};
use crate::schema::TableId;
use unidb_common::value::Value;

use super::Database;

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
