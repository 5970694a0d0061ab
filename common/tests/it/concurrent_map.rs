//! The sharded concurrent map.

use std::collections::BTreeMap;

use proptest::prelude::*;
use unidb_common::collections::*;

#[test]
fn send_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ConcurrentMap<String, Vec<u8>>>();
}

#[test]
fn shard_counts() {
    assert_eq!(ConcurrentMap::<u8, u8>::with_shards(0).shard_count(), 1);
    assert_eq!(ConcurrentMap::<u8, u8>::with_shards(5).shard_count(), 8);
    assert_eq!(
        ConcurrentMap::<u8, u8>::with_shards(usize::MAX).shard_count(),
        1 << 16
    );
}

proptest! {
    #[test]
    fn matches_btreemap(shards in 1..9usize, ops in proptest::collection::vec((0..4u8, 0..32u16, any::<u32>()), 0..200)) {
        let map = ConcurrentMap::with_shards(shards);
        let mut model = BTreeMap::new();
        for (op, k, v) in ops {
            match op {
                0 => prop_assert_eq!(map.insert(k, v), model.insert(k, v)),
                1 => prop_assert_eq!(map.remove(&k), model.remove(&k)),
                2 => prop_assert_eq!(map.get(&k), model.get(&k).copied()),
                _ => {
                    let got = map.upsert(k, || 0, |x| { *x = x.wrapping_add(v); *x });
                    let m = model.entry(k).or_insert(0);
                    *m = m.wrapping_add(v);
                    prop_assert_eq!(got, *m);
                }
            }
            prop_assert_eq!(map.len(), model.len());
        }
        let mut snap = map.snapshot();
        snap.sort();
        prop_assert_eq!(snap, model.into_iter().collect::<Vec<_>>());
    }
}

#[test]
fn hammered_counts_are_exact() {
    let map: ConcurrentMap<u32, u64> = ConcurrentMap::with_shards(8);
    let threads = 4u64;
    let per = 6_400u64; // a multiple of the 64 keys
    std::thread::scope(|s| {
        for t in 0..threads {
            let map = &map;
            s.spawn(move || {
                for i in 0..per {
                    let k = (i % 64) as u32;
                    map.upsert(k, || 0, |c| *c += 1);
                    // Readers interleaved with writers.
                    let _ = map.get(&k);
                    // Per-thread keys: insert then remove, never seen by others.
                    let own = 1_000 + t as u32;
                    map.insert(own, i);
                    assert_eq!(map.remove(&own), Some(i));
                }
            });
        }
    });
    let total: u64 = map.snapshot().iter().map(|(_, c)| c).sum();
    assert_eq!(total, threads * per);
    assert_eq!(map.len(), 64);
    for k in 0..64u32 {
        assert_eq!(map.get(&k), Some(threads * per / 64));
    }
    map.retain(|k, _| k % 2 == 0);
    assert_eq!(map.len(), 32);
    map.clear();
    assert!(map.is_empty());
}
