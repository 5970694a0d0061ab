//! The bounded `Versioned` history.

use proptest::prelude::*;
use unidb_common::collections::*;
use unidb_common::time::HlcTimestamp;

fn retention() -> impl Strategy<Value = Retention> {
    (
        proptest::option::of(0..6usize),
        proptest::option::of(0..50u64),
    )
        .prop_map(|(max_versions, max_age_ms)| Retention {
            max_versions,
            max_age_ms,
        })
}

proptest! {
    /// Against a model that keeps every accepted insert and answers by
    /// linear scan: the retained versions are exactly the model's from
    /// the horizon on, queries at or after the horizon agree, the bounds
    /// hold, and nothing was pruned that the bounds did not require.
    #[test]
    fn as_of_matches_linear_scan(
        retention in retention(),
        ops in proptest::collection::vec((0..200u64, any::<u16>(), any::<bool>()), 0..100),
        queries in proptest::collection::vec(0..220u64, 20),
    ) {
        let mut v: Versioned<u16> = Versioned::new(retention);
        let mut model: Vec<(u64, u16)> = Vec::new();
        let mut newest = 0u64;
        for (ts, val, prune_now) in ops {
            if prune_now && ts % 3 == 0 {
                v.prune_at(ts);
                newest = newest.max(ts);
                continue;
            }
            let horizon_before = v.horizon();
            let res = v.insert(ts, val);
            match horizon_before {
                Some(h) if ts < h => { prop_assert!(res.is_err()); continue; }
                _ => {}
            }
            let old = model.iter().position(|e| e.0 == ts).map(|i| model.remove(i).1);
            prop_assert_eq!(res.unwrap(), old);
            model.push((ts, val));
            newest = newest.max(ts);
            let h = v.horizon();
            // Retained == model entries from the horizon on.
            let mut expect: Vec<(u64, u16)> =
                model.iter().copied().filter(|e| h.is_none_or(|h| e.0 >= h)).collect();
            expect.sort();
            let got: Vec<(u64, u16)> = v.iter().map(|(t, x)| (t, *x)).collect();
            prop_assert_eq!(&got, &expect);
            // Bounds hold.
            if let Some(m) = retention.max_versions {
                prop_assert!(v.len() <= m.max(1));
            }
            if let Some(age) = retention.max_age_ms {
                let cutoff = newest.saturating_sub(age);
                prop_assert!(got.len() <= 1 || got[1].0 > cutoff);
            }
            // Minimal pruning: the version just before the horizon had to go.
            if let Some(h) = h {
                let mut all: Vec<u64> = model.iter().map(|e| e.0).collect();
                all.sort();
                if let Some(&pred) = all.iter().rev().find(|&&t| t < h) {
                    let by_count = retention.max_versions.is_some_and(|m| v.len() == m.max(1));
                    let by_age = retention
                        .max_age_ms
                        .is_some_and(|a| h <= newest.saturating_sub(a));
                    prop_assert!(by_count || by_age, "version {} pruned without cause", pred);
                }
            }
        }
        for t in queries {
            let exact = v.horizon().is_none_or(|h| t >= h);
            let scan = model
                .iter()
                .filter(|e| e.0 <= t)
                .max_by_key(|e| e.0)
                .map(|e| e.1);
            if exact {
                prop_assert_eq!(v.as_of(t).copied(), scan);
            } else {
                prop_assert_eq!(v.as_of(t), None);
            }
        }
    }
}

#[test]
fn hlc_keyed_history() {
    let ts = |ms, c| HlcTimestamp::new(ms, c).unwrap();
    let mut v = Versioned::new(Retention::age_ms(100));
    v.insert(ts(1_000, 0), 'a').unwrap();
    v.insert(ts(1_000, 1), 'b').unwrap();
    v.insert(ts(1_050, 0), 'c').unwrap();
    assert_eq!(v.as_of(ts(1_000, 0)), Some(&'a'));
    assert_eq!(v.as_of(ts(1_020, 0)), Some(&'b'));
    assert_eq!(v.as_of(ts(999, 9)), None);
    v.insert(ts(1_200, 0), 'd').unwrap();
    // cutoff 1100: 'c' (superseded at 1200 > 1100) is still needed; 'a', 'b' go.
    assert_eq!(v.iter().map(|(_, x)| *x).collect::<String>(), "cd");
    assert_eq!(v.horizon(), Some(ts(1_050, 0)));
    assert_eq!(v.latest(), Some((ts(1_200, 0), &'d')));
    v.prune_at(1_300);
    assert_eq!(v.len(), 1);
    let err = v.insert(ts(1_100, 0), 'x').unwrap_err();
    assert_eq!(err.kind(), unidb_common::ErrorKind::Conflict);
    assert!(err.to_string().contains("horizon"));
}
