//! A least-recently-used cache with O(1) operations and a weight bound.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::Mutex;

const NIL: usize = usize::MAX;

type Weigher<K, V> = Box<dyn Fn(&K, &V) -> usize + Send + Sync>;

struct Node<K, V> {
    key: K,
    value: V,
    weight: usize,
    prev: usize,
    next: usize,
}

/// A least-recently-used cache bounded by total weight.
///
/// Entries live in a slab (`Vec`) linked into a doubly-linked recency list by
/// index, with a `HashMap` from key to slot, so [`get`](Self::get),
/// [`put`](Self::put) and [`remove`](Self::remove) are O(1) (amortised,
/// plus the evictions they cause) and no `unsafe` is needed.
///
/// Each entry has a weight: 1 for caches made with [`LruCache::new`] (the
/// bound is an entry count), or whatever the weigher returns for caches made
/// with [`LruCache::with_weigher`] (e.g. bytes). After every operation the
/// total weight is at most the bound; the least recently used entries are
/// evicted to get there. An entry heavier than the whole bound is never
/// stored.
///
/// ```
/// use unidb_common::collections::LruCache;
///
/// let mut cache = LruCache::new(2);
/// cache.put("a", 1);
/// cache.put("b", 2);
/// assert_eq!(cache.get("a"), Some(&1)); // "a" is now most recent
/// cache.put("c", 3);                    // evicts "b"
/// assert_eq!(cache.get("b"), None);
///
/// // Bounded by bytes instead of count:
/// let mut bytes = LruCache::with_weigher(10, |_k: &u32, v: &String| v.len());
/// bytes.put(1, "hello".to_string());
/// bytes.put(2, "world!".to_string()); // 5 + 6 > 10: evicts key 1
/// assert!(!bytes.contains(&1));
/// assert_eq!(bytes.weight(), 6);
/// ```
pub struct LruCache<K, V> {
    map: HashMap<K, usize>,
    nodes: Vec<Option<Node<K, V>>>,
    free: Vec<usize>,
    head: usize, // most recently used
    tail: usize, // least recently used
    weight: usize,
    max_weight: usize,
    weigher: Option<Weigher<K, V>>,
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for LruCache<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LruCache")
            .field("len", &self.map.len())
            .field("weight", &self.weight)
            .field("max_weight", &self.max_weight)
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq + Clone, V> LruCache<K, V> {
    /// A cache holding at most `max_entries` entries.
    pub fn new(max_entries: usize) -> Self {
        Self {
            map: HashMap::new(),
            nodes: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            weight: 0,
            max_weight: max_entries,
            weigher: None,
        }
    }

    /// A cache whose entries weigh `weigher(key, value)` (e.g. bytes) and
    /// whose total weight stays at most `max_weight`.
    ///
    /// The weight of an entry is computed once, when it is put.
    pub fn with_weigher(
        max_weight: usize,
        weigher: impl Fn(&K, &V) -> usize + Send + Sync + 'static,
    ) -> Self {
        let mut c = Self::new(max_weight);
        c.weigher = Some(Box::new(weigher));
        c
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True if the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Total weight of the entries (their count for count-bounded caches).
    pub fn weight(&self) -> usize {
        self.weight
    }

    /// The weight bound.
    pub fn max_weight(&self) -> usize {
        self.max_weight
    }

    /// Changes the weight bound, evicting least recently used entries as
    /// needed; returns them, least recent first.
    pub fn set_max_weight(&mut self, max_weight: usize) -> Vec<(K, V)> {
        self.max_weight = max_weight;
        let mut evicted = Vec::new();
        self.evict_to(max_weight, &mut evicted);
        evicted
    }

    /// True if `key` is cached (does not change recency).
    pub fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.contains_key(key)
    }

    /// The value for `key`, marking it most recently used.
    pub fn get<Q>(&mut self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let idx = *self.map.get(key)?;
        self.move_to_front(idx);
        self.nodes[idx].as_ref().map(|n| &n.value)
    }

    /// The value for `key` without changing its recency.
    pub fn peek<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let idx = *self.map.get(key)?;
        self.nodes[idx].as_ref().map(|n| &n.value)
    }

    /// Inserts or replaces `key`, making it most recently used, and returns
    /// the value it replaced. Entries evicted to respect the bound are dropped;
    /// see [`put_with_evictions`](Self::put_with_evictions) to receive them.
    pub fn put(&mut self, key: K, value: V) -> Option<V> {
        let mut evicted = Vec::new();
        self.put_with_evictions(key, value, &mut evicted)
    }

    /// Like [`put`](Self::put), appending the evicted entries (least recent
    /// first) to `evicted`. If the new entry alone outweighs the bound it is
    /// not stored and is itself appended to `evicted` (any old value for the
    /// key is removed and returned).
    pub fn put_with_evictions(&mut self, key: K, value: V, evicted: &mut Vec<(K, V)>) -> Option<V> {
        let w = match &self.weigher {
            Some(f) => f(&key, &value),
            None => 1,
        };
        let old = self.remove(&key);
        if w > self.max_weight {
            evicted.push((key, value));
            return old;
        }
        self.evict_to(self.max_weight - w, evicted);
        let node = Node {
            key: key.clone(),
            value,
            weight: w,
            prev: NIL,
            next: self.head,
        };
        let idx = match self.free.pop() {
            Some(i) => {
                self.nodes[i] = Some(node);
                i
            }
            None => {
                self.nodes.push(Some(node));
                self.nodes.len() - 1
            }
        };
        self.link_front(idx);
        self.weight += w;
        self.map.insert(key, idx);
        old
    }

    /// Removes `key`, returning its value.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let idx = self.map.remove(key)?;
        self.take_node(idx).map(|(_, v)| v)
    }

    /// Removes and returns the least recently used entry.
    pub fn pop_lru(&mut self) -> Option<(K, V)> {
        if self.tail == NIL {
            return None;
        }
        let idx = self.tail;
        let (k, v) = self.take_node(idx)?;
        self.map.remove(&k);
        Some((k, v))
    }

    /// The least recently used entry, without changing recency.
    pub fn peek_lru(&self) -> Option<(&K, &V)> {
        self.node(self.tail).map(|n| (&n.key, &n.value))
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.map.clear();
        self.nodes.clear();
        self.free.clear();
        self.head = NIL;
        self.tail = NIL;
        self.weight = 0;
    }

    /// Entries from most to least recently used.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        let mut cur = self.head;
        std::iter::from_fn(move || {
            let n = self.node(cur)?;
            cur = n.next;
            Some((&n.key, &n.value))
        })
    }

    fn node(&self, idx: usize) -> Option<&Node<K, V>> {
        self.nodes.get(idx).and_then(Option::as_ref)
    }

    fn evict_to(&mut self, limit: usize, evicted: &mut Vec<(K, V)>) {
        while self.weight > limit {
            match self.pop_lru() {
                Some(kv) => evicted.push(kv),
                None => break,
            }
        }
    }

    fn take_node(&mut self, idx: usize) -> Option<(K, V)> {
        self.unlink(idx);
        let n = self.nodes.get_mut(idx)?.take()?;
        self.free.push(idx);
        self.weight -= n.weight;
        Some((n.key, n.value))
    }

    fn unlink(&mut self, idx: usize) {
        let (prev, next) = match self.node(idx) {
            Some(n) => (n.prev, n.next),
            None => return,
        };
        match self.nodes.get_mut(prev).and_then(Option::as_mut) {
            Some(p) => p.next = next,
            None => self.head = next,
        }
        match self.nodes.get_mut(next).and_then(Option::as_mut) {
            Some(nx) => nx.prev = prev,
            None => self.tail = prev,
        }
    }

    fn link_front(&mut self, idx: usize) {
        let old_head = self.head;
        if let Some(n) = self.nodes[idx].as_mut() {
            n.prev = NIL;
            n.next = old_head;
        }
        match self.nodes.get_mut(old_head).and_then(Option::as_mut) {
            Some(h) => h.prev = idx,
            None => self.tail = idx,
        }
        self.head = idx;
    }

    fn move_to_front(&mut self, idx: usize) {
        if self.head != idx {
            self.unlink(idx);
            self.link_front(idx);
        }
    }
}

/// An [`LruCache`] behind a mutex, for sharing between threads.
///
/// Every operation takes the lock briefly; [`get`](Self::get) returns a
/// clone of the value because the reference could not outlive the lock.
///
/// ```
/// use unidb_common::collections::SharedLru;
///
/// let cache = SharedLru::new(100);
/// std::thread::scope(|s| {
///     s.spawn(|| cache.put(1, "one".to_string()));
/// });
/// assert_eq!(cache.get(&1).as_deref(), Some("one"));
/// ```
#[derive(Debug)]
pub struct SharedLru<K, V> {
    inner: Mutex<LruCache<K, V>>,
}

impl<K: Hash + Eq + Clone, V> SharedLru<K, V> {
    /// A shared cache holding at most `max_entries` entries.
    pub fn new(max_entries: usize) -> Self {
        Self::from_cache(LruCache::new(max_entries))
    }

    /// A shared cache bounded by total weight (see [`LruCache::with_weigher`]).
    pub fn with_weigher(
        max_weight: usize,
        weigher: impl Fn(&K, &V) -> usize + Send + Sync + 'static,
    ) -> Self {
        Self::from_cache(LruCache::with_weigher(max_weight, weigher))
    }

    /// Wraps an existing cache.
    pub fn from_cache(cache: LruCache<K, V>) -> Self {
        Self {
            inner: Mutex::new(cache),
        }
    }

    /// Runs `f` with the locked cache, for several operations done atomically.
    pub fn with<R>(&self, f: impl FnOnce(&mut LruCache<K, V>) -> R) -> R {
        // The cache's invariants hold between operations, and a panic inside
        // a user closure cannot leave it half-updated, so a poisoned lock is
        // still safe to use.
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    /// A clone of the value for `key`, marking it most recently used.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: Clone,
    {
        self.with(|c| c.get(key).cloned())
    }

    /// Inserts or replaces `key`; returns the replaced value.
    pub fn put(&self, key: K, value: V) -> Option<V> {
        self.with(|c| c.put(key, value))
    }

    /// Removes `key`, returning its value.
    pub fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.with(|c| c.remove(key))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.with(|c| c.len())
    }

    /// True if the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total weight of the entries.
    pub fn weight(&self) -> usize {
        self.with(|c| c.weight())
    }
}
