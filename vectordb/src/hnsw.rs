//! HNSW (Malkov & Yashunin): a layered proximity graph.
//!
//! Layout for speed: layer-0 links of every node in one flat array
//! (`[count, link…]` with `2·M` link slots per node), upper layers per node;
//! all links are `AtomicU32` so searches read without locks while a writer
//! (or the parallel build) updates a node's list under that node's mutex.
//! A search's visited set is a generation-stamped `Vec<u16>` per thread.
//! Unfiltered searches (and the build) run one sorted pool of the `ef`
//! best nodes, packed as `u64` keys that order like [`Neighbor`]; each
//! expanded list is filtered against the visited stamps without branches,
//! its rows prefetched ahead of the distances, which are computed in one
//! batch and screened against the pool's farthest before insertion.
//! Filtered searches, and searches over deleted slots, use the two-heap
//! form with an acceptance test.
//! Neighbours are chosen with the heuristic of the paper's algorithm 4.
//! Node levels are a pure function of the seed and the slot, so a serial
//! build (`HnswConfig::parallel = false`) is deterministic; the default
//! build is parallel.
//!
//! Every distance goes through the storage's row-distance space (f32, f16
//! or i8 rows; see [`Storage`](crate::Storage)): the graph code is generic over it
//! and monomorphised, the storage being matched once per search or insert.
//! Build, insert and compaction link nodes with distances between encoded
//! rows; a search encodes its query once.

use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use unidb_common::config::{check_range, Validate};
use unidb_common::rng::splitmix64;

use rayon::prelude::*;

use crate::codec::{ReadExt, Reader, Writer};
use crate::error::{Result, VectorError};
use crate::flat;
use crate::index::{VectorData, VectorIndex};
use crate::params::Params;
use crate::storage::{with_space, Space};
use crate::topk::Neighbor;

const NO_LEVEL: u8 = u8::MAX;
const MAX_LEVEL: usize = 30;
const EMPTY: u64 = u64::MAX;
/// How many rows ahead the pool search prefetches.
const AHEAD: usize = 2;

/// A generation-stamped visited set: `marks[i] >= generation` means node
/// `i` was reached in this search, `== generation + 1` that it was also
/// expanded (the pool search). Each search advances the generation by 2,
/// so resetting is free except once per 32 767 searches, when the stamps
/// are cleared. 16-bit stamps keep the array small enough to stay cached.
#[derive(Default)]
struct Visited {
    marks: Vec<u16>,
    generation: u16,
}

impl Visited {
    fn reset(&mut self, n: usize) {
        if self.marks.len() < n {
            self.marks.resize(n, 0);
        }
        if self.generation >= u16::MAX - 2 {
            self.marks.fill(0);
            self.generation = 0;
        }
        self.generation += 2;
    }

    /// Marks `i`; true when it was not yet visited (without a branch on
    /// the stamp, which is unpredictable; an expanded stamp is kept).
    #[inline(always)]
    fn insert(&mut self, i: u32) -> bool {
        let m = &mut self.marks[i as usize];
        let fresh = *m < self.generation;
        *m = (*m).max(self.generation);
        fresh
    }

    /// Marks `i` (visited) as expanded.
    #[inline(always)]
    fn expand(&mut self, i: u32) {
        self.marks[i as usize] = self.generation + 1;
    }

    /// Whether `i` was expanded.
    #[inline(always)]
    fn expanded(&self, i: u32) -> bool {
        self.marks[i as usize] == self.generation + 1
    }

    /// Hints the CPU to fetch `i`'s stamp.
    #[inline(always)]
    fn prefetch(&self, i: u32) {
        if let Some(m) = self.marks.get(i as usize) {
            unidb_kernels::prefetch(std::slice::from_ref(m));
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Per-thread buffers of the pool search.
#[derive(Default)]
struct Scratch {
    visited: Visited,
    keys: Vec<u64>,
    fresh: Vec<u32>,
    found: Vec<u64>,
}

/// A neighbour as one integer whose unsigned order is [`Neighbor`]'s order
/// (distance by `total_cmp`, then slot): the distance's bits mapped to an
/// order-preserving unsigned form in the high half, the slot in the low.
#[inline(always)]
fn key(n: Neighbor) -> u64 {
    let b = n.distance.to_bits();
    let t = if b >> 31 == 1 { !b } else { b | 0x8000_0000 };
    (u64::from(t) << 32) | u64::from(n.slot)
}

/// The inverse of [`key`].
#[inline(always)]
fn unkey(k: u64) -> Neighbor {
    let t = (k >> 32) as u32;
    let b = if t >> 31 == 1 { t & 0x7fff_ffff } else { !t };
    Neighbor {
        distance: f32::from_bits(b),
        slot: k as u32,
    }
}

/// The build parameters of the `hnsw` index (the keys of
/// [`Params::json`](crate::Params::json) are the field names).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HnswConfig {
    /// Links per node on upper layers (layer 0 keeps `2·m`); 2 to 1000.
    pub m: usize,
    /// Candidate list size while building; at least 1.
    pub ef_construction: usize,
    /// Default candidate list size while searching ([`HnswSearch::ef`]
    /// overrides it per search); at least 1.
    pub ef_search: usize,
    /// RNG seed (levels are a pure function of seed and slot).
    pub seed: u64,
    /// Build in parallel on the rayon pool the build runs in (the default:
    /// the same recall as serial, a fraction of the time on several
    /// cores). The graph then depends on thread timing, so two builds may
    /// answer differently; `parallel = false` asks for a deterministic
    /// serial build (the same graph, hence the same results, for the same
    /// seed and data). Inserts after the build are always serial.
    pub parallel: bool,
    /// A filtered search whose estimated pass fraction is below this runs
    /// exactly over the passing vectors instead of walking the graph.
    pub exact_below: f64,
}

impl Default for HnswConfig {
    fn default() -> Self {
        HnswConfig {
            m: 16,
            ef_construction: 200,
            ef_search: 64,
            seed: 0x5eed,
            parallel: true,
            exact_below: 0.05,
        }
    }
}

impl Validate for HnswConfig {
    /// `m` in 2..=1000, each ef at least 1. Any `exact_below` is harmless
    /// (NaN or above 1 only change when a filtered search runs exactly).
    fn validate(&self) -> unidb_common::Result<()> {
        check_range("m", self.m, 2..=1000)?;
        check_range("ef_construction", self.ef_construction, 1..=usize::MAX)?;
        check_range("ef_search", self.ef_search, 1..=usize::MAX)
    }
}

/// The search parameters of the `hnsw` index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HnswSearch {
    /// Size of the dynamic candidate list (raised to `k` when smaller);
    /// `None` takes the index's [`HnswConfig::ef_search`].
    pub ef: Option<usize>,
}

impl Validate for HnswSearch {
    fn validate(&self) -> unidb_common::Result<()> {
        Ok(())
    }
}

/// The `hnsw` index.
pub struct HnswIndex {
    config: HnswConfig,
    m0: usize,
    levels: Vec<u8>,
    layer0: Vec<AtomicU32>,
    upper: Vec<Box<[AtomicU32]>>,
    locks: Vec<Mutex<()>>,
    entry: AtomicU64,
    entry_lock: Mutex<()>,
}

impl std::fmt::Debug for HnswIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HnswIndex")
            .field("config", &self.config)
            .field(
                "nodes",
                &self.levels.iter().filter(|&&l| l != NO_LEVEL).count(),
            )
            .finish()
    }
}

impl HnswIndex {
    /// An empty index.
    ///
    /// # Errors
    /// [`VectorError::InvalidParam`] naming the parameter when `m < 2` or
    /// `m > 1000`, or an ef is 0.
    pub fn new(config: HnswConfig) -> Result<Self> {
        config.validate().map_err(|e| VectorError::InvalidParam {
            plugin: "hnsw".into(),
            key: e.location().unwrap_or_default().to_owned(),
            reason: e.message().to_owned(),
        })?;
        Ok(HnswIndex {
            m0: 2 * config.m,
            config,
            levels: Vec::new(),
            layer0: Vec::new(),
            upper: Vec::new(),
            locks: Vec::new(),
            entry: AtomicU64::new(EMPTY),
            entry_lock: Mutex::new(()),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &HnswConfig {
        &self.config
    }

    fn level_for(&self, slot: u32) -> usize {
        let ml = 1.0 / (self.config.m as f64).ln();
        let r = splitmix64(self.config.seed ^ u64::from(slot).wrapping_mul(0xd134_2543_de82_ef95));
        // Uniform in (0, 1].
        let u = ((r >> 11) + 1) as f64 / (1u64 << 53) as f64;
        ((-u.ln() * ml) as usize).min(MAX_LEVEL)
    }

    /// Grows per-node storage to `n` slots (new slots not in the graph).
    fn grow(&mut self, n: usize) {
        let old = self.levels.len();
        if n <= old {
            return;
        }
        self.levels.resize(n, NO_LEVEL);
        self.layer0.reserve((n - old) * (self.m0 + 1));
        for _ in 0..(n - old) * (self.m0 + 1) {
            self.layer0.push(AtomicU32::new(0));
        }
        for _ in old..n {
            self.upper.push(Box::new([]));
            self.locks.push(Mutex::new(()));
        }
    }

    /// Assigns `slot` its level and upper-layer storage (before linking).
    fn prepare(&mut self, slot: u32) {
        let level = self.level_for(slot);
        self.levels[slot as usize] = level as u8;
        self.upper[slot as usize] = (0..level * (self.config.m + 1))
            .map(|_| AtomicU32::new(0))
            .collect();
        let base = slot as usize * (self.m0 + 1);
        self.layer0[base].store(0, Relaxed);
    }

    #[inline]
    fn links(&self, node: u32, level: usize) -> &[AtomicU32] {
        if level == 0 {
            let b = node as usize * (self.m0 + 1);
            &self.layer0[b..b + self.m0 + 1]
        } else {
            let m = self.config.m;
            &self.upper[node as usize][(level - 1) * (m + 1)..level * (m + 1)]
        }
    }

    #[inline]
    fn for_links(&self, node: u32, level: usize, mut f: impl FnMut(u32)) {
        let l = self.links(node, level);
        let cnt = (l[0].load(Relaxed) as usize).min(l.len() - 1);
        for a in &l[1..=cnt] {
            f(a.load(Relaxed));
        }
    }

    fn set_links(&self, node: u32, level: usize, to: &[Neighbor]) {
        let l = self.links(node, level);
        let cnt = to.len().min(l.len() - 1);
        for (a, n) in l[1..=cnt].iter().zip(to) {
            a.store(n.slot, Relaxed);
        }
        l[0].store(cnt as u32, Relaxed);
    }

    fn entry(&self) -> Option<(u32, usize)> {
        let e = self.entry.load(Relaxed);
        (e != EMPTY).then_some((e as u32, (e >> 32) as usize))
    }

    /// Greedy descent through the upper layers down to `stop_level + 1`.
    fn descend<S: Space>(
        &self,
        s: &S,
        q: &S::Query<'_>,
        ep: u32,
        top: usize,
        stop_level: usize,
    ) -> Neighbor {
        let mut cur = Neighbor {
            distance: s.dist(q, ep),
            slot: ep,
        };
        for level in (stop_level + 1..=top).rev() {
            loop {
                let mut changed = false;
                self.for_links(cur.slot, level, |nb| {
                    let d = s.dist(q, nb);
                    if d < cur.distance {
                        cur = Neighbor {
                            distance: d,
                            slot: nb,
                        };
                        changed = true;
                    }
                });
                if !changed {
                    break;
                }
            }
        }
        cur
    }

    /// Best-first search of one layer; `accept` decides which nodes may be
    /// results (all are traversed). Returns up to `ef` results, closest first.
    fn search_layer<S: Space>(
        &self,
        s: &S,
        q: &S::Query<'_>,
        eps: &[Neighbor],
        ef: usize,
        level: usize,
        accept: Option<&dyn Fn(u32) -> bool>,
    ) -> Vec<Neighbor> {
        SCRATCH.with(|cell| {
            let mut fallback = Scratch::default();
            let mut borrowed = cell.try_borrow_mut();
            // Re-entered (a user metric or filter searching from inside
            // this search): fresh scratch.
            let scratch = match borrowed.as_deref_mut() {
                Ok(s) => s,
                Err(_) => &mut fallback,
            };
            let visited = &mut scratch.visited;
            visited.reset(self.levels.len());
            let mut candidates: BinaryHeap<Reverse<Neighbor>> =
                BinaryHeap::with_capacity(ef.min(self.levels.len()) * 2);
            let mut top: BinaryHeap<Neighbor> =
                BinaryHeap::with_capacity(ef.min(self.levels.len()) + 1);
            for &ep in eps {
                if !visited.insert(ep.slot) {
                    continue;
                }
                candidates.push(Reverse(ep));
                if accept.map(|a| a(ep.slot)).unwrap_or(true) {
                    top.push(ep);
                    if top.len() > ef {
                        top.pop();
                    }
                }
            }
            let mut bound = if top.len() >= ef {
                top.peek().map_or(f32::INFINITY, |n| n.distance)
            } else {
                f32::INFINITY
            };
            while let Some(Reverse(c)) = candidates.pop() {
                if c.distance > bound {
                    break;
                }
                self.for_links(c.slot, level, |nb| {
                    if !visited.insert(nb) {
                        return;
                    }
                    let d = s.dist(q, nb);
                    if top.len() < ef || d < bound {
                        let n = Neighbor {
                            distance: d,
                            slot: nb,
                        };
                        candidates.push(Reverse(n));
                        if accept.map(|a| a(nb)).unwrap_or(true) {
                            top.push(n);
                            if top.len() > ef {
                                top.pop();
                            }
                            if top.len() >= ef {
                                bound = top.peek().map_or(f32::INFINITY, |n| n.distance);
                            }
                        }
                    }
                });
            }
            top.into_sorted_vec()
        })
    }

    /// Unfiltered best-first search of one layer with one sorted pool of the
    /// `ef` best nodes seen (the closest unexpanded one is expanded next);
    /// equivalent to the two-heap form, with cheaper bookkeeping. Returns
    /// the `take` closest of the pool, closest first.
    ///
    /// The pool holds [`key`]s (distance and slot packed so that integer
    /// order is [`Neighbor`] order) in per-thread scratch, reused across
    /// searches; whether a node was expanded is its visited stamp. While a
    /// list is scanned, the stamps of its nodes, the rows [`AHEAD`] places
    /// on and the next pool entry's layer-0 list are prefetched.
    #[allow(clippy::too_many_arguments)]
    fn search_layer_pool<S: Space>(
        &self,
        s: &S,
        q: &S::Query<'_>,
        eps: &[Neighbor],
        ef: usize,
        level: usize,
        take: usize,
    ) -> Vec<Neighbor> {
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => self.pool_in(&mut scratch, s, q, eps, ef, level, take),
            // Re-entered (a user metric searching from inside a distance):
            // fresh scratch.
            Err(_) => self.pool_in(&mut Scratch::default(), s, q, eps, ef, level, take),
        })
    }

    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn pool_in<S: Space>(
        &self,
        scratch: &mut Scratch,
        s: &S,
        q: &S::Query<'_>,
        eps: &[Neighbor],
        ef: usize,
        level: usize,
        take: usize,
    ) -> Vec<Neighbor> {
        let Scratch {
            visited,
            keys,
            fresh,
            found,
        } = scratch;
        visited.reset(self.levels.len());
        keys.clear();
        // Inserts `k` in order, dropping the farthest when full; the
        // position, or `usize::MAX` when `k` is not among the `ef` best.
        #[inline(always)]
        fn insert(keys: &mut Vec<u64>, ef: usize, k: u64) -> usize {
            let len = keys.len();
            if len >= ef && keys.last().is_some_and(|&l| k >= l) {
                return usize::MAX;
            }
            let pos = keys.partition_point(|&x| x < k);
            if len >= ef {
                keys.pop();
            }
            keys.insert(pos, k);
            pos
        }
        for &ep in eps {
            if visited.insert(ep.slot) {
                insert(keys, ef, key(ep));
            }
        }
        let mut i = 0;
        while i < keys.len() {
            let c = keys[i] as u32;
            visited.expand(c);
            if level == 0 {
                // The list expanded next is usually the next in the pool.
                if let Some(&next) = keys.get(i + 1) {
                    let b = (next as u32 as usize) * (self.m0 + 1);
                    if let Some(a) = self.layer0.get(b) {
                        unidb_kernels::prefetch(std::slice::from_ref(a));
                    }
                }
            }
            let l = self.links(c, level);
            let cnt = (l[0].load(Relaxed) as usize).min(l.len() - 1);
            let l = &l[1..=cnt];
            for a in l {
                visited.prefetch(a.load(Relaxed));
            }
            // Branch-free: every link is written to `fresh`, the count
            // advancing only past unvisited ones.
            fresh.resize(l.len().max(fresh.len()), 0);
            let mut n = 0;
            for a in l {
                let nb = a.load(Relaxed);
                fresh[n] = nb;
                n += usize::from(visited.insert(nb));
            }
            let fresh = &fresh[..n];
            for &nb in fresh.iter().take(AHEAD) {
                s.prefetch(nb);
            }
            // All distances first, then (without a branch) keep those that
            // beat the pool's farthest as it was: most do not, and testing
            // them one by one is an unpredictable branch.
            found.clear();
            for (j, &nb) in fresh.iter().enumerate() {
                if let Some(&next) = fresh.get(j + AHEAD) {
                    s.prefetch(next);
                }
                found.push(key(Neighbor {
                    distance: s.dist(q, nb),
                    slot: nb,
                }));
            }
            let worst = if keys.len() >= ef {
                keys.last().copied().unwrap_or(u64::MAX)
            } else {
                u64::MAX
            };
            let mut kept = 0;
            for j in 0..found.len() {
                let k = found[j];
                found[kept] = k;
                kept += usize::from(k < worst);
            }
            let mut lowest = usize::MAX;
            for &k in &found[..kept] {
                lowest = lowest.min(insert(keys, ef, k));
            }
            if lowest <= i {
                i = lowest;
            }
            while i < keys.len() && visited.expanded(keys[i] as u32) {
                i += 1;
            }
        }
        keys.iter().take(take).map(|&k| unkey(k)).collect()
    }

    /// Algorithm 4 of the paper (without extending candidates): keep a
    /// candidate only if it is closer to the base than to every neighbour
    /// kept so far. `sorted` is ascending by distance to the base.
    fn select<S: Space>(&self, s: &S, sorted: &[Neighbor], m: usize) -> Vec<Neighbor> {
        let mut out: Vec<Neighbor> = Vec::with_capacity(m);
        for &c in sorted {
            if out.len() >= m {
                break;
            }
            let good = out.iter().all(|r| s.pair(c.slot, r.slot) >= c.distance);
            if good {
                out.push(c);
            }
        }
        out
    }

    /// Adds `q` to `node`'s list at `level`, shrinking with the heuristic
    /// when full.
    fn connect<S: Space>(&self, s: &S, node: u32, q: u32, d: f32, level: usize) {
        let cap = if level == 0 { self.m0 } else { self.config.m };
        let _guard = self.locks[node as usize]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let l = self.links(node, level);
        let cnt = (l[0].load(Relaxed) as usize).min(cap);
        if l[1..=cnt].iter().any(|a| a.load(Relaxed) == q) {
            return;
        }
        if cnt < cap {
            l[cnt + 1].store(q, Relaxed);
            l[0].store(cnt as u32 + 1, Relaxed);
            return;
        }
        let mut cands: Vec<Neighbor> = l[1..=cnt]
            .iter()
            .map(|a| {
                let other = a.load(Relaxed);
                Neighbor {
                    distance: s.pair(node, other),
                    slot: other,
                }
            })
            .collect();
        cands.push(Neighbor {
            distance: d,
            slot: q,
        });
        cands.sort_unstable();
        let kept = self.select(s, &cands, cap);
        self.set_links(node, level, &kept);
    }

    /// Links a prepared node into the graph (callable from many threads).
    fn link(&self, data: &VectorData<'_>, q: u32) {
        with_space!(*data, |s| self.link_in(&s, q))
    }

    fn link_in<S: Space>(&self, s: &S, q: u32) {
        let level = self.levels[q as usize] as usize;
        let row = s.prepare_slot(q);
        let Some((ep, top)) = self.entry() else {
            let _g = self.entry_lock.lock().unwrap_or_else(|e| e.into_inner());
            if self.entry().is_none() {
                self.entry
                    .store(((level as u64) << 32) | u64::from(q), Relaxed);
                return;
            }
            drop(_g);
            return self.link_in(s, q);
        };
        let mut eps = vec![self.descend(s, &row, ep, top, level)];
        for lc in (0..=level.min(top)).rev() {
            let ef = self.config.ef_construction;
            let found = self.search_layer_pool(s, &row, &eps, ef, lc, ef);
            let found: Vec<Neighbor> = found.into_iter().filter(|n| n.slot != q).collect();
            let chosen = self.select(s, &found, self.config.m);
            {
                let _g = self.locks[q as usize]
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                self.set_links(q, lc, &chosen);
            }
            for n in &chosen {
                self.connect(s, n.slot, q, n.distance, lc);
            }
            if !found.is_empty() {
                eps = found;
            }
        }
        if level > top {
            let _g = self.entry_lock.lock().unwrap_or_else(|e| e.into_inner());
            if self.entry().map(|(_, t)| level > t).unwrap_or(true) {
                self.entry
                    .store(((level as u64) << 32) | u64::from(q), Relaxed);
            }
        }
    }

    /// Builds over every live slot, calling `progress(done)` now and then
    /// (from any thread).
    ///
    /// # Errors
    /// Never fails today.
    pub fn build_with_progress(
        &mut self,
        data: &VectorData<'_>,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<()> {
        let n = data.slots();
        self.levels.clear();
        self.layer0.clear();
        self.upper.clear();
        self.locks.clear();
        self.entry.store(EMPTY, Relaxed);
        self.grow(n);
        let live: Vec<u32> = (0..n as u32).filter(|&s| data.live[s as usize]).collect();
        for &s in &live {
            self.prepare(s);
        }
        let this = &*self;
        let done = std::sync::atomic::AtomicUsize::new(0);
        let step = |s: u32| {
            this.link(data, s);
            let d = done.fetch_add(1, Relaxed) + 1;
            let since_report = d % 1024;
            if since_report == 0 || d == live.len() {
                progress(d);
            }
        };
        if this.config.parallel && live.len() > 1 {
            // A small serial head gives the graph a backbone before threads
            // start linking concurrently.
            let head = live.len().min(256);
            live[..head].iter().for_each(|&s| step(s));
            live[head..].par_iter().for_each(|&s| step(s));
        } else {
            live.iter().for_each(|&s| step(s));
        }
        Ok(())
    }

    fn search_impl(
        &self,
        data: &VectorData<'_>,
        q: &[f32],
        k: usize,
        ef: Option<usize>,
        filter: Option<&dyn Fn(u32) -> bool>,
    ) -> Vec<Neighbor> {
        if k == 0 {
            return Vec::new();
        }
        let Some((ep, top)) = self.entry() else {
            return flat::knn(data, q, k, filter);
        };
        let n = data.slots().min(self.levels.len());
        if let Some(f) = filter {
            // Estimate the fraction of slots passing from an even sample.
            let stride = (n / 512).max(1);
            let (mut seen, mut pass) = (0usize, 0usize);
            for s in (0..n).step_by(stride) {
                seen += 1;
                pass += usize::from(data.accepts(s as u32, Some(f)));
            }
            if seen > 0 && (pass as f64) < self.config.exact_below * seen as f64 {
                let slots: Vec<u32> = (0..n as u32)
                    .filter(|&s| data.accepts(s, Some(f)))
                    .collect();
                return flat::knn_slots(data, q, k, &slots);
            }
        }
        let ef = ef.unwrap_or(self.config.ef_search).max(k);
        with_space!(*data, |s| self.walk(
            data,
            &s,
            &s.prepare(q),
            k,
            ef,
            (ep, top),
            filter
        ))
    }

    /// The graph part of a search, on one storage's space.
    #[allow(clippy::too_many_arguments)]
    fn walk<S: Space>(
        &self,
        data: &VectorData<'_>,
        s: &S,
        q: &S::Query<'_>,
        k: usize,
        mut ef: usize,
        (ep, top): (u32, usize),
        filter: Option<&dyn Fn(u32) -> bool>,
    ) -> Vec<Neighbor> {
        let n = data.slots().min(self.levels.len());
        let accept = |slot: u32| data.accepts(slot, filter);
        let start = self.descend(s, q, ep, top, 0);
        if filter.is_none() && data.all_live {
            return self.search_layer_pool(s, q, &[start], ef, 0, k);
        }
        loop {
            let mut found = self.search_layer(s, q, &[start], ef, 0, Some(&accept));
            if found.len() >= k || ef >= n {
                found.truncate(k);
                return found;
            }
            // Filter or deletions left too few: widen, then fall back.
            ef = ef.saturating_mul(4).min(n);
            if ef >= n {
                let mut buf = Vec::new();
                let mut top = crate::topk::TopK::new(k);
                flat::scan_in(data, s, q, filter, |nb| top.push(nb), &mut buf);
                return top.into_sorted();
            }
        }
    }
}

impl VectorIndex for HnswIndex {
    fn kind(&self) -> &'static str {
        "hnsw"
    }

    fn build(&mut self, data: &VectorData<'_>) -> Result<()> {
        self.build_with_progress(data, &|_| {})
    }

    fn insert(&mut self, data: &VectorData<'_>, slot: u32) -> Result<()> {
        self.grow(data.slots());
        if self.levels[slot as usize] != NO_LEVEL {
            return Ok(());
        }
        self.prepare(slot);
        self.link(data, slot);
        Ok(())
    }

    fn search(
        &self,
        data: &VectorData<'_>,
        query: &[f32],
        k: usize,
        params: Params<'_>,
        filter: Option<&dyn Fn(u32) -> bool>,
    ) -> Result<Vec<Neighbor>> {
        let ef = params.get::<HnswSearch>("hnsw")?.ef;
        Ok(self.search_impl(data, query, k, ef, filter))
    }

    fn save(&self, out: &mut Vec<u8>) {
        let mut w = Writer(out);
        let c = &self.config;
        w.u64(c.m as u64);
        w.u64(c.ef_construction as u64);
        w.u64(c.ef_search as u64);
        w.u64(c.seed);
        w.u8(u8::from(c.parallel));
        w.f64(c.exact_below);
        w.u64(self.entry.load(Relaxed));
        w.bytes(&self.levels);
        let l0: Vec<u32> = self.layer0.iter().map(|a| a.load(Relaxed)).collect();
        w.u32s(&l0);
        for (s, up) in self.upper.iter().enumerate() {
            if self.levels[s] != NO_LEVEL && self.levels[s] > 0 {
                let v: Vec<u32> = up.iter().map(|a| a.load(Relaxed)).collect();
                w.u32s(&v);
            }
        }
    }
}

pub(crate) fn create(params: Params<'_>) -> Result<Box<dyn VectorIndex>> {
    Ok(Box::new(HnswIndex::new(
        *params.get::<HnswConfig>("hnsw")?,
    )?))
}

fn bad(what: &str) -> VectorError {
    VectorError::Corrupt(format!("hnsw: {what}"))
}

/// Restores a saved graph, refusing (with [`VectorError::Corrupt`] naming
/// the problem) anything a search or an insert could trip over, even under
/// a valid checksum:
/// - the configuration is one [`HnswIndex::new`] accepts;
/// - one level per slot, each [`MAX_LEVEL`] at most or "not in the graph";
///   a node on level `l` stores `l` upper lists of `m + 1` words, a node
///   outside the graph none and no layer-0 links;
/// - every list holds at most its capacity (`2m` on layer 0, `m` above) of
///   links, each to another node (no self-link) of the graph that exists
///   on that layer, none twice;
/// - the entry point is empty exactly when the graph is, and otherwise a
///   node of the graph, stored with its own level, which is the graph's top
///   level.
pub(crate) fn load(bytes: &[u8], slots: usize) -> Result<Box<dyn VectorIndex>> {
    let mut r = Reader::new(bytes);
    let config = HnswConfig {
        m: r.usize("hnsw m")?,
        ef_construction: r.usize("hnsw ef_construction")?,
        ef_search: r.usize("hnsw ef_search")?,
        seed: r.u64("hnsw seed")?,
        parallel: r.u8("hnsw parallel")? != 0,
        exact_below: r.f64("hnsw exact_below")?,
    };
    // Any `exact_below` is harmless (NaN or above 1 only change when a
    // filtered search runs exactly), and `new` accepts every value: a file
    // holding one must load.
    let mut h = HnswIndex::new(config).map_err(|e| bad(&crate::index::stored_param(e)))?;
    let entry = r.u64("hnsw entry")?;
    let levels = r.bytes("hnsw levels")?.to_vec();
    if levels.len() != slots {
        return Err(bad("level count differs from slot count"));
    }
    let l0 = r.u32s("hnsw layer 0")?;
    if Some(l0.len()) != slots.checked_mul(h.m0 + 1) {
        return Err(bad("layer 0 size"));
    }
    for (s, &lv) in levels.iter().enumerate() {
        if lv != NO_LEVEL && lv as usize > MAX_LEVEL {
            return Err(bad(&format!("slot {s} has level {lv}, above {MAX_LEVEL}")));
        }
    }
    // Every link at layer `lc` must name another node present on layer
    // `lc`, at most once.
    let mut sorted = Vec::new();
    let mut check_list = |node: usize, list: &[u32], cap: usize, first_level: usize| {
        for (i, chunk) in list.chunks_exact(cap + 1).enumerate() {
            let cnt = chunk[0] as usize;
            let lc = first_level + i;
            if cnt > cap {
                return Err(bad(&format!(
                    "slot {node} has {cnt} links on level {lc}, above {cap}"
                )));
            }
            let links = &chunk[1..=cnt];
            if let Some(&to) = links.iter().find(|&&s| {
                levels
                    .get(s as usize)
                    .is_none_or(|&l| l == NO_LEVEL || (l as usize) < lc)
            }) {
                return Err(bad(&format!(
                    "link out of range: slot {node} links to {to}, not on level {lc}"
                )));
            }
            if links.iter().any(|&s| s as usize == node) {
                return Err(bad(&format!("slot {node} links to itself on level {lc}")));
            }
            sorted.clear();
            sorted.extend_from_slice(links);
            sorted.sort_unstable();
            if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
                return Err(bad(&format!(
                    "slot {node} links to {} twice on level {lc}",
                    w[0]
                )));
            }
        }
        Ok(())
    };
    for (s, chunk) in l0.chunks_exact(h.m0 + 1).enumerate() {
        if levels[s] == NO_LEVEL && chunk[0] != 0 {
            return Err(bad("links on a node outside the graph"));
        }
        check_list(s, chunk, h.m0, 0)?;
    }
    h.grow(slots);
    for (a, v) in h.layer0.iter().zip(&l0) {
        a.store(*v, Relaxed);
    }
    for (s, &lv) in levels.iter().enumerate() {
        if lv != NO_LEVEL && lv > 0 {
            let up = r.u32s("hnsw upper links")?;
            if up.len() != lv as usize * (config.m + 1) {
                return Err(bad("upper list size"));
            }
            check_list(s, &up, config.m, 1)?;
            h.upper[s] = up.into_iter().map(AtomicU32::new).collect();
        }
    }
    r.finish("hnsw")?;
    let top = levels.iter().filter(|&&l| l != NO_LEVEL).max();
    match (entry, top) {
        (EMPTY, None) => {}
        (EMPTY, Some(_)) => return Err(bad("no entry point, but the graph has nodes")),
        (_, None) => return Err(bad("an entry point, but the graph is empty")),
        (_, Some(&top)) => {
            let (node, level) = (entry as u32 as usize, entry >> 32);
            if node >= slots {
                return Err(bad(&format!(
                    "entry point slot {node} is outside the {slots} slots"
                )));
            }
            if levels[node] == NO_LEVEL {
                return Err(bad(&format!("entry point slot {node} is not in the graph")));
            }
            if level != u64::from(levels[node]) {
                return Err(bad(&format!(
                    "entry point level {level} differs from slot {node}'s level {}",
                    levels[node]
                )));
            }
            if levels[node] != top {
                return Err(bad(&format!(
                    "entry point level {level} is below the top level {top}"
                )));
            }
        }
    }
    h.levels = levels;
    h.entry.store(entry, Relaxed);
    Ok(Box::new(h))
}

#[cfg(test)]
mod tests;
