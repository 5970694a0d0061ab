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

use crate::value::Value;

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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use unidb_registry::PluginKind;

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            (-3i64..3).prop_map(Value::I64),
            prop_oneof![Just(0.5f64), Just(-0.0), Just(f64::NAN)].prop_map(Value::F64),
            "[ab]{0,2}".prop_map(Value::Text),
        ]
    }

    fn register() -> impl Strategy<Value = Register> {
        // Small domains so that ties (same ts, same replica) really happen.
        (value(), 0u64..4, 0u64..3).prop_map(|(value, ts, r)| Register {
            value,
            ts: HlcTimestamp::from_u64(ts),
            replica: ReplicaId::from_u64(r),
        })
    }

    fn counter() -> impl Strategy<Value = Cell> {
        proptest::collection::btree_map(0u64..4, (0u64..5, 0u64..5), 0..4).prop_map(|m| {
            Cell::Counter(PnCounter {
                entries: m
                    .into_iter()
                    .map(|(k, v)| (ReplicaId::from_u64(k), v))
                    .collect(),
            })
        })
    }

    fn check_laws(res: &Resolver, a: &Cell, b: &Cell, c: &Cell) {
        assert_eq!(res.merge(a, b), res.merge(b, a), "commutative");
        assert_eq!(
            res.merge(&res.merge(a, b), c),
            res.merge(a, &res.merge(b, c)),
            "associative"
        );
        assert_eq!(res.merge(a, a), *a, "idempotent");
        // Absorption: merging in something already merged changes nothing.
        let ab = res.merge(a, b);
        assert_eq!(res.merge(&ab, b), ab);
    }

    proptest! {
        #[test]
        fn register_resolvers_are_semilattices(a in register(), b in register(), c in register()) {
            for name in ["lww", "max", "min"] {
                let res = Resolver::registry().get(name).unwrap();
                let (a, b, c) = (Cell::Register(a.clone()), Cell::Register(b.clone()), Cell::Register(c.clone()));
                check_laws(res, &a, &b, &c);
                // The merge picks one of its inputs.
                let m = res.merge(&a, &b);
                prop_assert!(m == a || m == b);
            }
        }

        #[test]
        fn counter_is_a_semilattice(a in counter(), b in counter(), c in counter()) {
            let res = Resolver::registry().get("counter").unwrap();
            check_laws(res, &a, &b, &c);
        }

        #[test]
        fn register_resolvers_pick_per_their_rule(a in register(), b in register()) {
            let pick = |name: &str| match Resolver::registry().get(name).unwrap()
                .merge(&Cell::Register(a.clone()), &Cell::Register(b.clone())) {
                Cell::Register(r) => r,
                Cell::Counter(_) => unreachable!(),
            };
            // Oracles written independently of the resolver code.
            let newest = if (a.ts, a.replica, &a.value) >= (b.ts, b.replica, &b.value) { &a } else { &b };
            prop_assert_eq!(&pick("lww"), newest);
            prop_assert_eq!(pick("max").value, std::cmp::max(a.value.clone(), b.value.clone()));
            prop_assert_eq!(pick("min").value, std::cmp::min(a.value.clone(), b.value.clone()));
        }
    }

    #[test]
    fn counter_counts_concurrent_increments() {
        let r1 = ReplicaId::from_u64(1);
        let r2 = ReplicaId::from_u64(2);
        let base = PnCounter::default();
        // Both replicas add concurrently from the same base: both count.
        let mut a = PnCounter::default();
        a.entries.insert(r1, base.bumped(r1, 5));
        let mut b = PnCounter::default();
        b.entries.insert(r2, base.bumped(r2, -2));
        a.merge(&b);
        assert_eq!(a.value(), 3);
        // A later increment by r1 supersedes its earlier contribution.
        let mut c = PnCounter::default();
        c.entries.insert(r1, a.bumped(r1, 10));
        a.merge(&c);
        assert_eq!(a.value(), 13);
    }

    #[test]
    fn builtins_are_registered() {
        let names = Resolver::registry().names();
        for n in ["counter", "lww", "max", "min"] {
            assert!(names.contains(&n), "{names:?}");
        }
        assert!(Resolver::registry().validate().is_ok());
    }
}
