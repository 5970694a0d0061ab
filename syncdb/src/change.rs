//! Changes (the unit of replication) and version vectors.

use std::collections::BTreeMap;

use unidb_common::id::ReplicaId;
use unidb_common::time::HlcTimestamp;

use crate::schema::{ColumnId, TableId};
use unidb_common::value::Value;

/// What a change does to its row.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum ChangeOp {
    /// Sets the row's causal length: odd creates (or re-creates) the row,
    /// even deletes it.
    Row,
    /// A register write to a column.
    Set {
        /// The column.
        column: ColumnId,
        /// The value written.
        value: Value,
    },
    /// A counter column contribution: the origin replica's cumulative
    /// increments and decrements in this row life.
    Count {
        /// The column.
        column: ColumnId,
        /// Sum of increments by the origin.
        inc: u64,
        /// Sum of decrements by the origin.
        dec: u64,
    },
}

/// One replicated change: a row-life event or a write of one column.
///
/// Every change is identified by `(origin, seq)`: the replica that made it
/// and that replica's sequence number (1, 2, 3, ... without gaps).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Change {
    /// The replica that made the change.
    pub origin: ReplicaId,
    /// The origin's sequence number of the change (from 1).
    pub seq: u64,
    /// When the change was made.
    pub ts: HlcTimestamp,
    /// The table.
    pub table: TableId,
    /// The row's primary key.
    pub key: Value,
    /// The causal length of the row life the change belongs to.
    pub cl: u64,
    /// What the change does.
    pub op: ChangeOp,
}

/// For each replica, the highest sequence number `n` such that changes
/// `1..=n` of that replica are all known (the contiguous frontier).
///
/// This is the "what have I seen" summary exchanged in the handshake: a peer
/// sends exactly the changes with `seq > vv[origin]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct VersionVector {
    entries: BTreeMap<ReplicaId, u64>,
}

impl VersionVector {
    /// The empty vector.
    pub fn new() -> Self {
        VersionVector::default()
    }

    /// The frontier of `replica` (0 when unknown).
    pub fn get(&self, replica: ReplicaId) -> u64 {
        self.entries.get(&replica).copied().unwrap_or(0)
    }

    /// Sets the frontier of `replica` (0 removes it).
    pub fn set(&mut self, replica: ReplicaId, seq: u64) {
        if seq == 0 {
            self.entries.remove(&replica);
        } else {
            self.entries.insert(replica, seq);
        }
    }

    /// Whether change `(origin, seq)` is covered.
    pub fn covers(&self, origin: ReplicaId, seq: u64) -> bool {
        seq <= self.get(origin)
    }

    /// Whether every entry of `other` is covered by `self`.
    pub fn dominates(&self, other: &VersionVector) -> bool {
        other.iter().all(|(r, s)| self.get(r) >= s)
    }

    /// Pointwise maximum.
    pub fn merge(&mut self, other: &VersionVector) {
        for (r, s) in other.iter() {
            if s > self.get(r) {
                self.entries.insert(r, s);
            }
        }
    }

    /// The entries, by replica.
    pub fn iter(&self) -> impl Iterator<Item = (ReplicaId, u64)> + '_ {
        self.entries.iter().map(|(r, s)| (*r, *s))
    }

    /// Number of replicas with a non-zero frontier.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no replica has a non-zero frontier.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Total number of changes covered.
    pub fn total(&self) -> u64 {
        self.entries
            .values()
            .fold(0u64, |a, b| a.saturating_add(*b))
    }
}

impl FromIterator<(ReplicaId, u64)> for VersionVector {
    fn from_iter<T: IntoIterator<Item = (ReplicaId, u64)>>(iter: T) -> Self {
        let mut vv = VersionVector::new();
        for (r, s) in iter {
            if s > vv.get(r) {
                vv.set(r, s);
            }
        }
        vv
    }
}
