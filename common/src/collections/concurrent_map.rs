//! A sharded concurrent hash map for read-mostly workloads.

use std::borrow::Borrow;
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// A hash map split into shards, each a `RwLock<HashMap>`.
///
/// Readers of different keys rarely meet, and readers of the same shard
/// share its read lock; a writer blocks only its own shard. Values are
/// returned as clones ([`get`](Self::get)) or seen through a closure run
/// under the read lock ([`with`](Self::with)), so no reference outlives a
/// lock. Operations spanning shards ([`len`](Self::len),
/// [`snapshot`](Self::snapshot), ...) lock one shard at a time and are not
/// atomic snapshots under concurrent writes.
///
/// ```
/// use unidb_common::collections::ConcurrentMap;
///
/// let map = ConcurrentMap::new();
/// std::thread::scope(|s| {
///     for t in 0..4 {
///         let map = &map;
///         s.spawn(move || map.insert(t, t * 10));
///     }
/// });
/// assert_eq!(map.len(), 4);
/// assert_eq!(map.get(&2), Some(20));
/// assert_eq!(map.with(&3, |v| v + 1), Some(31));
/// ```
#[derive(Debug)]
pub struct ConcurrentMap<K, V, S = RandomState> {
    shards: Box<[RwLock<HashMap<K, V, S>>]>,
    hasher: S,
    shift: u32,
}

/// Default number of shards.
pub const DEFAULT_SHARDS: usize = 32;

impl<K: Hash + Eq, V> Default for ConcurrentMap<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Hash + Eq, V> ConcurrentMap<K, V> {
    /// An empty map with [`DEFAULT_SHARDS`] shards.
    pub fn new() -> Self {
        Self::with_shards(DEFAULT_SHARDS)
    }

    /// An empty map with `shards` shards, rounded up to a power of two
    /// between 1 and 65536.
    pub fn with_shards(shards: usize) -> Self {
        Self::with_shards_and_hasher(shards, RandomState::new())
    }
}

impl<K: Hash + Eq, V, S: BuildHasher + Clone> ConcurrentMap<K, V, S> {
    /// An empty map with `shards` shards (rounded up to a power of two between
    /// 1 and 65536) hashing with `hasher`.
    pub fn with_shards_and_hasher(shards: usize, hasher: S) -> Self {
        let n = shards.clamp(1, 1 << 16).next_power_of_two();
        let shards = (0..n)
            .map(|_| RwLock::new(HashMap::with_hasher(hasher.clone())))
            .collect();
        Self {
            shards,
            hasher,
            shift: n.trailing_zeros(),
        }
    }

    /// Number of shards.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    fn shard_index<Q: Hash + ?Sized>(&self, key: &Q) -> usize {
        if self.shift == 0 {
            return 0;
        }
        // The inner HashMap indexes buckets by the low bits of the same hash
        // and tags them by the top 7; bits 32.. are unused by both for any
        // table under 2^32 buckets, so shard choice does not skew buckets.
        let h = self.hasher.hash_one(key);
        ((h >> 32) as usize) & ((1usize << self.shift) - 1)
    }

    fn read<Q: Hash + ?Sized>(&self, key: &Q) -> RwLockReadGuard<'_, HashMap<K, V, S>> {
        read_shard(&self.shards[self.shard_index(key)])
    }

    fn write<Q: Hash + ?Sized>(&self, key: &Q) -> RwLockWriteGuard<'_, HashMap<K, V, S>> {
        write_shard(&self.shards[self.shard_index(key)])
    }

    /// A clone of the value for `key`.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: Clone,
    {
        self.read(key).get(key).cloned()
    }

    /// Runs `f` on the value for `key` under the shard's read lock.
    ///
    /// `f` must not access this map (a write to the same shard would deadlock).
    pub fn with<Q, R>(&self, key: &Q, f: impl FnOnce(&V) -> R) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.read(key).get(key).map(f)
    }

    /// True if `key` is present.
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.read(key).contains_key(key)
    }

    /// Inserts `value` for `key`, returning the previous value.
    pub fn insert(&self, key: K, value: V) -> Option<V> {
        self.write(&key).insert(key, value)
    }

    /// Removes `key`, returning its value.
    pub fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.write(key).remove(key)
    }

    /// Atomically updates the value for `key` under the shard's write lock:
    /// inserts `init()` if absent, then runs `f` on the value.
    ///
    /// `f` and `init` must not access this map.
    pub fn upsert<R>(&self, key: K, init: impl FnOnce() -> V, f: impl FnOnce(&mut V) -> R) -> R {
        let mut shard = self.write(&key);
        f(shard.entry(key).or_insert_with(init))
    }

    /// Runs `f` on the value for `key` under the shard's write lock, if present.
    pub fn update<Q, R>(&self, key: &Q, f: impl FnOnce(&mut V) -> R) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.write(key).get_mut(key).map(f)
    }

    /// Keeps only the entries for which `keep` returns true.
    pub fn retain(&self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        for s in self.shards.iter() {
            write_shard(s).retain(&mut keep);
        }
    }

    /// Number of entries (summed shard by shard).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| read_shard(s).len()).sum()
    }

    /// True if no shard holds an entry.
    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(|s| read_shard(s).is_empty())
    }

    /// Removes every entry.
    pub fn clear(&self) {
        for s in self.shards.iter() {
            write_shard(s).clear();
        }
    }

    /// Calls `f` on every entry, one shard (read-locked) at a time.
    pub fn for_each(&self, mut f: impl FnMut(&K, &V)) {
        for s in self.shards.iter() {
            for (k, v) in read_shard(s).iter() {
                f(k, v);
            }
        }
    }

    /// Clones of all entries, in no particular order.
    pub fn snapshot(&self) -> Vec<(K, V)>
    where
        K: Clone,
        V: Clone,
    {
        let mut out = Vec::new();
        self.for_each(|k, v| out.push((k.clone(), v.clone())));
        out
    }
}

// A panic while a shard is locked can only come from a user closure; the
// HashMap itself stays consistent, so poisoned locks are used as they are.
fn read_shard<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write_shard<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}
