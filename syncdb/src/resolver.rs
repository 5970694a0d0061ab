//! Conflict resolution as plugins (registry kind `"resolver"`).
//!
//! Every column has a resolver that merges concurrent writes to one cell.
//! The replicated state of a cell is a [`Cell`]; merging two cells must be
//! commutative, associative and idempotent (a join semilattice), so that any
//! set of changes merged in any order, with duplicates, gives one result.
//!
//! Two strategies exist:
//!
//! * **Register** resolvers keep one written value, a [`Register`] (value,
//!   HLC timestamp, writing replica). The resolver supplies a comparison and
//!   the merge keeps the greater register. Ties of the comparison are broken
//!   by `(timestamp, replica)` and then by the value, so the combined order is
//!   total and the merge is a semilattice whatever the user comparison does,
//!   as long as it is a deterministic total preorder (pure, consistent,
//!   transitive).
//!   * `lww` (the default): last writer wins by HLC timestamp, then replica id.
//!   * `max`: the largest value wins ([`Value`] order), ties by `lww`.
//!   * `min`: the smallest value wins, ties by `lww`.
//! * **Counter** (`counter`, `i64` columns only): a PN-counter. Each replica's
//!   cell contribution is its cumulative increments and decrements in the
//!   current row life; merging takes the per-replica maximum of each; the
//!   value is the sum of increments minus the sum of decrements (wrapping on
//!   `i64` overflow). Writing a value `v` to a counter column records the
//!   increment `v - current`.
//!
//! A user crate registers its own register resolver statically:
//!
//! ```
//! use std::cmp::Ordering;
//! use unidb_registry::{plugin_info, submit, PluginKind};
//! use unidb_syncdb::{Register, Resolver};
//!
//! /// Longest text wins (then the default last-writer-wins tie-break).
//! fn longest(a: &Register, b: &Register) -> Ordering {
//!     let len = |r: &Register| r.value.as_text().map_or(0, str::len);
//!     len(a).cmp(&len(b))
//! }
//! submit!(Resolver::register(plugin_info!("doc-longest", "longest text wins"), longest));
//!
//! assert!(Resolver::registry().get("doc-longest").is_ok());
//! ```

use std::cmp::Ordering;
use std::collections::BTreeMap;

use unidb_common::id::ReplicaId;
use unidb_common::time::HlcTimestamp;
use unidb_registry::{plugin_info, plugin_kind, submit, Plugin, PluginInfo};

use unidb_common::value::Value;

/// One written value with the stamp of its write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Register {
    /// The value written.
    pub value: Value,
    /// When it was written (hybrid logical clock).
    pub ts: HlcTimestamp,
    /// Who wrote it.
    pub replica: ReplicaId,
}

impl Register {
    /// The last-writer-wins order: timestamp, then replica id.
    pub fn lww_cmp(&self, other: &Register) -> Ordering {
        (self.ts, self.replica).cmp(&(other.ts, other.replica))
    }
}

/// A PN-counter: per replica, cumulative increments and decrements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PnCounter {
    /// Replica → (sum of increments, sum of decrements).
    pub entries: BTreeMap<ReplicaId, (u64, u64)>,
}

impl PnCounter {
    /// The counter's value: increments minus decrements (wrapping).
    pub fn value(&self) -> i64 {
        let mut total = 0u64;
        for (p, n) in self.entries.values() {
            total = total.wrapping_add(*p).wrapping_sub(*n);
        }
        total as i64
    }

    /// Merges `other` in: per replica, the maximum of each sum.
    pub fn merge(&mut self, other: &PnCounter) {
        for (r, (p, n)) in &other.entries {
            let e = self.entries.entry(*r).or_insert((0, 0));
            e.0 = e.0.max(*p);
            e.1 = e.1.max(*n);
        }
    }

    /// This replica's contribution after adding `delta` to it.
    pub fn bumped(&self, replica: ReplicaId, delta: i64) -> (u64, u64) {
        let (p, n) = self.entries.get(&replica).copied().unwrap_or((0, 0));
        if delta >= 0 {
            (p.wrapping_add(delta as u64), n)
        } else {
            (p, n.wrapping_add(delta.unsigned_abs()))
        }
    }
}

/// The replicated state of one cell (row × column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// A register (every resolver except `counter`).
    Register(Register),
    /// A PN-counter (`counter`).
    Counter(PnCounter),
}

impl Cell {
    /// The value the cell shows.
    pub fn value(&self) -> Value {
        match self {
            Cell::Register(r) => r.value.clone(),
            Cell::Counter(c) => Value::I64(c.value()),
        }
    }
}

/// How a resolver merges.
#[derive(Debug, Clone, Copy)]
pub enum MergeStrategy {
    /// Keep the greater register under this comparison (ties: `lww`, then value).
    Register(fn(&Register, &Register) -> Ordering),
    /// A PN-counter.
    Counter,
}

/// A conflict resolver plugin.
#[derive(Debug)]
pub struct Resolver {
    info: PluginInfo,
    strategy: MergeStrategy,
}

impl Plugin for Resolver {
    fn info(&self) -> &PluginInfo {
        &self.info
    }
}

plugin_kind!(Resolver, "resolver");

impl Resolver {
    /// A register resolver keeping the greater register under `cmp`.
    /// `cmp` must be deterministic and a total preorder.
    pub const fn register(info: PluginInfo, cmp: fn(&Register, &Register) -> Ordering) -> Self {
        Resolver {
            info,
            strategy: MergeStrategy::Register(cmp),
        }
    }

    /// A PN-counter resolver (what the built-in `counter` is).
    pub const fn counter(info: PluginInfo) -> Self {
        Resolver {
            info,
            strategy: MergeStrategy::Counter,
        }
    }

    /// The merge strategy.
    pub fn strategy(&self) -> MergeStrategy {
        self.strategy
    }

    /// Whether this is a counter resolver.
    pub fn is_counter(&self) -> bool {
        matches!(self.strategy, MergeStrategy::Counter)
    }

    /// Merges `incoming` into `cell`. Cells of mismatched kinds (which the
    /// database never produces) keep `cell` unchanged.
    pub fn merge_into(&self, cell: &mut Cell, incoming: &Cell) {
        match (self.strategy, cell, incoming) {
            (MergeStrategy::Register(cmp), Cell::Register(a), Cell::Register(b))
                if register_order(cmp, b, a) == Ordering::Greater =>
            {
                *a = b.clone();
            }
            (MergeStrategy::Counter, Cell::Counter(a), Cell::Counter(b)) => a.merge(b),
            _ => {}
        }
    }

    /// `merge(a, b)` as a new cell.
    pub fn merge(&self, a: &Cell, b: &Cell) -> Cell {
        let mut out = a.clone();
        self.merge_into(&mut out, b);
        out
    }
}

fn register_order(
    cmp: fn(&Register, &Register) -> Ordering,
    a: &Register,
    b: &Register,
) -> Ordering {
    cmp(a, b)
        .then_with(|| a.lww_cmp(b))
        .then_with(|| a.value.cmp(&b.value))
}

fn lww(a: &Register, b: &Register) -> Ordering {
    a.lww_cmp(b)
}
fn max(a: &Register, b: &Register) -> Ordering {
    a.value.cmp(&b.value)
}
fn min(a: &Register, b: &Register) -> Ordering {
    b.value.cmp(&a.value)
}

/// Name of the default resolver.
pub const DEFAULT_RESOLVER: &str = "lww";

submit!(Resolver::register(
    plugin_info!(
        "lww",
        "last writer wins: highest HLC timestamp, then replica id"
    ),
    lww
));
submit!(Resolver::register(
    plugin_info!("max", "largest value wins, ties by last writer"),
    max
));
submit!(Resolver::register(
    plugin_info!("min", "smallest value wins, ties by last writer"),
    min
));
submit!(Resolver::counter(plugin_info!(
    "counter",
    "PN-counter: concurrent increments and decrements all count (i64 columns)"
)));
