//! The LRU cache.

use proptest::prelude::*;
use unidb_common::collections::*;

/// The naive model: a Vec ordered from least to most recently used.
struct Model {
    entries: Vec<(u8, u32, usize)>, // key, value, weight
    max: usize,
}

impl Model {
    fn weight(&self) -> usize {
        self.entries.iter().map(|e| e.2).sum()
    }
    fn get(&mut self, k: u8) -> Option<u32> {
        let i = self.entries.iter().position(|e| e.0 == k)?;
        let e = self.entries.remove(i);
        self.entries.push(e);
        Some(e.1)
    }
    fn put(&mut self, k: u8, v: u32, w: usize) -> (Option<u32>, Vec<(u8, u32)>) {
        let old = self.remove(k);
        let mut ev = Vec::new();
        if w > self.max {
            ev.push((k, v));
            return (old, ev);
        }
        while self.weight() + w > self.max {
            let e = self.entries.remove(0);
            ev.push((e.0, e.1));
        }
        self.entries.push((k, v, w));
        (old, ev)
    }
    fn remove(&mut self, k: u8) -> Option<u32> {
        let i = self.entries.iter().position(|e| e.0 == k)?;
        Some(self.entries.remove(i).1)
    }
}

#[derive(Debug, Clone)]
enum Op {
    Get(u8),
    Peek(u8),
    Put(u8, u32),
    Remove(u8),
    PopLru,
    Resize(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..16u8).prop_map(Op::Get),
        1 => (0..16u8).prop_map(Op::Peek),
        5 => (0..16u8, any::<u32>()).prop_map(|(k, v)| Op::Put(k, v)),
        1 => (0..16u8).prop_map(Op::Remove),
        1 => Just(Op::PopLru),
        1 => (0..40usize).prop_map(Op::Resize),
    ]
}

fn weight_of(weighted: bool, v: u32) -> usize {
    if weighted {
        (v % 7) as usize
    } else {
        1
    }
}

fn run(weighted: bool, max: usize, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut cache: LruCache<u8, u32> = if weighted {
        LruCache::with_weigher(max, |_, v| (v % 7) as usize)
    } else {
        LruCache::new(max)
    };
    let mut model = Model {
        entries: Vec::new(),
        max,
    };
    for op in ops {
        match op {
            Op::Get(k) => prop_assert_eq!(cache.get(&k).copied(), model.get(k)),
            Op::Peek(k) => prop_assert_eq!(
                cache.peek(&k).copied(),
                model.entries.iter().find(|e| e.0 == k).map(|e| e.1)
            ),
            Op::Put(k, v) => {
                let mut ev = Vec::new();
                let old = cache.put_with_evictions(k, v, &mut ev);
                let (mold, mev) = model.put(k, v, weight_of(weighted, v));
                prop_assert_eq!(old, mold);
                prop_assert_eq!(ev, mev);
            }
            Op::Remove(k) => prop_assert_eq!(cache.remove(&k), model.remove(k)),
            Op::PopLru => {
                let m = if model.entries.is_empty() {
                    None
                } else {
                    let e = model.entries.remove(0);
                    Some((e.0, e.1))
                };
                prop_assert_eq!(cache.pop_lru(), m);
            }
            Op::Resize(m) => {
                let ev = cache.set_max_weight(m);
                model.max = m;
                let mut mev = Vec::new();
                while model.weight() > m {
                    let e = model.entries.remove(0);
                    mev.push((e.0, e.1));
                }
                prop_assert_eq!(ev, mev);
            }
        }
        prop_assert_eq!(cache.len(), model.entries.len());
        prop_assert_eq!(cache.weight(), model.weight());
        prop_assert!(cache.weight() <= cache.max_weight());
        let order: Vec<(u8, u32)> = cache.iter().map(|(k, v)| (*k, *v)).collect();
        let morder: Vec<(u8, u32)> = model.entries.iter().rev().map(|e| (e.0, e.1)).collect();
        prop_assert_eq!(order, morder);
        prop_assert_eq!(
            cache.peek_lru().map(|(k, v)| (*k, *v)),
            model.entries.first().map(|e| (e.0, e.1))
        );
    }
    Ok(())
}

proptest! {
    #[test]
    fn lru_count_bound_matches_model(max in 0..10usize, ops in proptest::collection::vec(op(), 0..300)) {
        run(false, max, ops)?;
    }

    #[test]
    fn lru_weight_bound_matches_model(max in 0..30usize, ops in proptest::collection::vec(op(), 0..300)) {
        run(true, max, ops)?;
    }
}

#[test]
fn borrowed_lookup_and_clear() {
    let mut c: LruCache<String, i32> = LruCache::new(3);
    c.put("x".to_string(), 1);
    assert_eq!(c.get("x"), Some(&1));
    assert!(c.contains("x"));
    c.clear();
    assert!(c.is_empty());
    assert_eq!(c.weight(), 0);
    c.put("y".to_string(), 2);
    assert_eq!(c.peek("y"), Some(&2));
}

#[test]
fn send_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<LruCache<String, Vec<u8>>>();
    assert_send_sync::<SharedLru<String, Vec<u8>>>();
}

#[test]
fn shared_lru_hammered_from_threads_stays_consistent() {
    let cache: SharedLru<u32, u64> = SharedLru::with_weigher(64, |_, v| (*v % 4) as usize);
    std::thread::scope(|s| {
        for t in 0..4u32 {
            let cache = &cache;
            s.spawn(move || {
                for i in 0..5_000u32 {
                    let k = (i * 7 + t) % 50;
                    // Values encode their key so a torn entry would show.
                    let v = u64::from(k) * 1_000 + u64::from(i % 4);
                    match i % 3 {
                        0 => {
                            cache.put(k, v);
                        }
                        1 => {
                            if let Some(got) = cache.get(&k) {
                                assert_eq!(got / 1_000, u64::from(k));
                            }
                        }
                        _ => {
                            if i % 11 == 0 {
                                cache.remove(&k);
                            }
                        }
                    }
                }
            });
        }
    });
    cache.with(|c| {
        assert!(c.weight() <= 64);
        let w: usize = c.iter().map(|(_, v)| (*v % 4) as usize).sum();
        assert_eq!(w, c.weight());
        assert_eq!(c.iter().count(), c.len());
        for (k, v) in c.iter() {
            assert_eq!(v / 1_000, u64::from(*k));
        }
    });
}
