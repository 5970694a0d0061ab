//! Resolver plugins: the built-ins' merges are semilattices (commutative,
//! associative, idempotent) that pick per their rule, and every built-in
//! is registered.

use proptest::prelude::*;
use unidb_common::id::ReplicaId;
use unidb_common::time::HlcTimestamp;
use unidb_registry::PluginKind;
use unidb_syncdb::resolver::*;
use unidb_syncdb::Value;

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
