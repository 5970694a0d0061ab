//! IVF: a k-means coarse quantizer (k-means++ initialisation, Lloyd
//! iterations on a seeded sample) over flat inverted lists of slots.
//!
//! Assignment uses the collection's metric; centroids are arithmetic means.
//! Vectors inserted after training go to their nearest list; vectors
//! inserted while the index is untrained (it was built over an empty
//! collection) are scanned exhaustively until the next build
//! ([`crate::Collection::compact`] rebuilds every index).
//!
//! On f16/i8 storage, training and list assignment use the decoded rows
//! (centroids are f32); a search ranks centroids with the f32 query and
//! scores the probed lists on the encoded rows with the query encoded once.
//!
//! With [`IvfConfig::copy_rows`] (the default) each list also holds a copy
//! of its rows, in the collection's encoding, contiguously in list order:
//! a probe then runs the one-to-many form of the distance over one block
//! of memory (for f32 the blocked one-to-many kernel) instead of gathering
//! rows slot by slot across the collection. Files saved without the copy
//! (or by format version 1) load as slot-only lists.
//!
//! On 4-bit pq storage (`PQ{M}x4` / `PQ{M}x4fs`) each list's codes are
//! also held in the fast-scan block layout of [`unidb_kernels::pq4`]
//! (derived from the collection's codes when a search first needs them,
//! kept up to date by inserts, never saved): a probe quantizes the
//! query's distance table to `u8` once and scores 32 codes per kernel
//! step (`Kernels::pq4_fastscan`); the candidates kept are then given
//! their exact table distance, so the distances returned are those of the
//! per-row table scan, only the selection uses the quantized sums.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use unidb_common::config::{check_range, Validate};

use unidb_kernels::Kernels;

use crate::codec::{ReadExt, Reader, Writer};
use crate::collection::Rows;
use crate::data::Rng;
use crate::error::{Result, VectorError};
use crate::flat;
use crate::index::{VectorData, VectorIndex};
use crate::kmeans::{self, nearest};
use crate::params::Params;
use crate::quant::pq::{PqDistance, ProductQuantizer};
use crate::storage::{with_space, F16Space, F32Space, Fast, I8Space, RowsRef, Space, Storage};
use crate::topk::{Neighbor, TopK};

/// The build parameters of the `ivf` index (the keys of
/// [`Params::json`](crate::Params::json) are the field names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IvfConfig {
    /// Number of lists (k-means centroids); capped at the number of
    /// vectors. 1 to [`MAX_NLIST`].
    pub nlist: usize,
    /// Default number of lists probed ([`IvfSearch::nprobe`] overrides it
    /// per search); 1 to [`MAX_NLIST`].
    pub nprobe: usize,
    /// Lloyd iterations; at most [`MAX_ITERATIONS`].
    pub iterations: usize,
    /// Training sample size per list (`nlist · sample_per_list` vectors);
    /// 1 to [`MAX_SAMPLE_PER_LIST`].
    pub sample_per_list: usize,
    /// RNG seed.
    pub seed: u64,
    /// Keep a copy of each list's (encoded) rows contiguously in the index,
    /// so a probe streams one block of memory through the one-to-many
    /// kernels instead of gathering rows by slot. Costs one more copy of
    /// the vectors (in memory and in saved files; the copy is read into
    /// memory when a file is opened). `false` keeps only slot ids.
    pub copy_rows: bool,
}

impl Default for IvfConfig {
    fn default() -> Self {
        IvfConfig {
            nlist: 64,
            nprobe: 8,
            iterations: 10,
            sample_per_list: 64,
            seed: 0x5eed,
            copy_rows: true,
        }
    }
}

impl Validate for IvfConfig {
    /// Every count within its limit, and at least 1 except `iterations`.
    fn validate(&self) -> unidb_common::Result<()> {
        check_range("nlist", self.nlist, 1..=MAX_NLIST)?;
        check_range("nprobe", self.nprobe, 1..=MAX_NLIST)?;
        check_range("iterations", self.iterations, 0..=MAX_ITERATIONS)?;
        check_range(
            "sample_per_list",
            self.sample_per_list,
            1..=MAX_SAMPLE_PER_LIST,
        )
    }
}

/// The search parameters of the `ivf` index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IvfSearch {
    /// Number of lists probed (clamped to 1..=lists); `None` takes the
    /// index's [`IvfConfig::nprobe`].
    pub nprobe: Option<usize>,
}

impl Validate for IvfSearch {
    fn validate(&self) -> unidb_common::Result<()> {
        Ok(())
    }
}

/// The `ivf` index.
#[derive(Debug, Clone)]
pub struct IvfIndex {
    config: IvfConfig,
    dim: usize,
    centroids: Vec<f32>,
    lists: Vec<Vec<u32>>,
    /// Slots inserted before training (scanned exhaustively).
    pending: Vec<u32>,
    /// With `copy_rows`: each list's encoded rows, in list order (one per
    /// list, or none when the copy is off or not yet built).
    rows: Vec<Rows>,
    /// The encoding of `rows`.
    storage: Storage,
    /// On 4-bit pq storage: each list's codes in the fast-scan block
    /// layout (derived on the first search that needs them; reset by a
    /// build, extended by inserts).
    fastscan: std::sync::OnceLock<Vec<Vec<u8>>>,
}

/// The codes of `slot` (one per byte) of a 4-bit product quantizer's
/// stored row, appended to `out`.
fn push_codes(pq: &ProductQuantizer, codes: &[u8], slot: u32, out: &mut Vec<u8>) {
    let b = pq.code_bytes();
    let row = &codes[slot as usize * b..(slot as usize + 1) * b];
    out.extend((0..pq.m()).map(|q| pq.code_at(row, q) as u8));
}

/// The stored bytes of `slot` (native byte order).
fn slot_bytes<'a>(rows: RowsRef<'a>, slot: u32, dim: usize) -> &'a [u8] {
    let s = slot as usize * dim;
    match rows {
        RowsRef::F32(r) => bytemuck::cast_slice(&r[s..s + dim]),
        RowsRef::F16(r) => bytemuck::cast_slice(&r[s..s + dim]),
        RowsRef::I8 { codes, .. } => bytemuck::cast_slice(&codes[s..s + dim]),
        RowsRef::Pq { codes, pq } => {
            let b = pq.code_bytes();
            &codes[slot as usize * b..(slot as usize + 1) * b]
        }
        RowsRef::Sq4 { codes, quant, .. } => {
            let b = quant.code_bytes();
            &codes[slot as usize * b..(slot as usize + 1) * b]
        }
    }
}

/// The largest [`IvfConfig::nlist`] and [`IvfConfig::nprobe`]: 2^20 lists.
pub const MAX_NLIST: usize = 1 << 20;
/// The largest [`IvfConfig::iterations`]: 1000 Lloyd iterations (k-means
/// converges in tens; the default is 10).
pub const MAX_ITERATIONS: usize = 1000;
/// The largest [`IvfConfig::sample_per_list`]: 2^20 vectors per list.
pub const MAX_SAMPLE_PER_LIST: usize = 1 << 20;

impl IvfIndex {
    /// An empty, untrained index.
    ///
    /// # Errors
    /// [`VectorError::InvalidParam`] naming the parameter when `nlist`,
    /// `nprobe` or `sample_per_list` is 0, or a parameter is above its
    /// limit ([`MAX_NLIST`] for `nlist` and `nprobe`, [`MAX_ITERATIONS`],
    /// [`MAX_SAMPLE_PER_LIST`]); saved files are held to the same limits.
    pub fn new(config: IvfConfig) -> Result<Self> {
        config.validate().map_err(|e| VectorError::InvalidParam {
            plugin: "ivf".into(),
            key: e.location().unwrap_or_default().to_owned(),
            reason: e.message().to_owned(),
        })?;
        Ok(IvfIndex {
            config,
            dim: 0,
            centroids: Vec::new(),
            lists: Vec::new(),
            pending: Vec::new(),
            rows: Vec::new(),
            storage: Storage::F32,
            fastscan: std::sync::OnceLock::new(),
        })
    }

    /// The `k` nearest live slots accepted by `filter` from the `nprobe`
    /// lists nearest the query (`None`: the configured `nprobe`).
    fn search_lists(
        &self,
        data: &VectorData<'_>,
        query: &[f32],
        k: usize,
        nprobe: Option<usize>,
        filter: Option<&dyn Fn(u32) -> bool>,
    ) -> Vec<Neighbor> {
        if self.lists.is_empty() {
            return flat::knn(data, query, k, filter);
        }
        let nlist = self.lists.len();
        let nprobe = nprobe.unwrap_or(self.config.nprobe).clamp(1, nlist);
        let mut cd = vec![0.0f32; nlist];
        data.metric.distance_many(query, &self.centroids, &mut cd);
        let mut order: Vec<u32> = (0..nlist as u32).collect();
        let key = |c: &u32| Neighbor {
            distance: cd[*c as usize],
            slot: *c,
        };
        if nprobe < nlist {
            order.select_nth_unstable_by_key(nprobe - 1, key);
            order.truncate(nprobe);
        }
        let mut top = TopK::new(k);
        if let Some(blocks) = self.fastscan_blocks(data) {
            if self.scan_fastscan(data, blocks, query, &order, filter, &mut top) {
                with_space!(*data, |s| self.scan_lists(
                    data,
                    &s,
                    query,
                    &[],
                    filter,
                    &mut top
                ));
                if top.len() < k && (filter.is_some() || nprobe < nlist) {
                    return flat::knn(data, query, k, filter);
                }
                return exact_pq(data, query, top.into_sorted());
            }
        }
        if self.rows_usable(data) {
            self.scan_copies(data, query, &order, filter, &mut top);
            if !self.pending.is_empty() {
                with_space!(*data, |s| self.scan_lists(
                    data,
                    &s,
                    query,
                    &[],
                    filter,
                    &mut top
                ));
            }
        } else {
            with_space!(*data, |s| self
                .scan_lists(data, &s, query, &order, filter, &mut top));
        }
        if top.len() < k && (filter.is_some() || nprobe < nlist) {
            // Too few in the probed lists (selective filter or deletions).
            return flat::knn(data, query, k, filter);
        }
        top.into_sorted()
    }

    /// On 4-bit pq rows: every list's codes in the fast-scan block
    /// layout, made from `data` on the first call.
    fn fastscan_blocks(&self, data: &VectorData<'_>) -> Option<&Vec<Vec<u8>>> {
        let RowsRef::Pq { codes, pq } = data.rows else {
            return None;
        };
        if pq.nbits() != 4 || self.lists.is_empty() || Fast::of(data.metric) == Fast::Decode {
            return None;
        }
        Some(self.fastscan.get_or_init(|| {
            let mut row_major = Vec::new();
            self.lists
                .iter()
                .map(|list| {
                    row_major.clear();
                    for &slot in list {
                        push_codes(pq, codes, slot, &mut row_major);
                    }
                    let mut blocks = Vec::new();
                    // 4-bit codes always pack; were one refused, the empty
                    // blocks would fail `scan_fastscan`'s length check and
                    // the list be scanned code by code.
                    if unidb_kernels::pq4::pack(&row_major, pq.m(), &mut blocks).is_err() {
                        blocks.clear();
                    }
                    blocks
                })
                .collect()
        }))
    }

    /// Scores the probed lists with the fast-scan kernel on the query's
    /// table quantized to `u8`, offering each vector at its estimated
    /// distance; `false` (nothing offered) when the table cannot be
    /// quantized (a query with infinities) or the blocks do not fit.
    fn scan_fastscan(
        &self,
        data: &VectorData<'_>,
        blocks: &[Vec<u8>],
        query: &[f32],
        order: &[u32],
        filter: Option<&dyn Fn(u32) -> bool>,
        top: &mut TopK,
    ) -> bool {
        let RowsRef::Pq { pq, .. } = data.rows else {
            return false;
        };
        let distance = if Fast::of(data.metric) == Fast::Ip {
            PqDistance::InnerProduct
        } else {
            PqDistance::L2
        };
        let Ok(table) = pq.table(query, distance).and_then(|t| t.quantize()) else {
            return false;
        };
        let fits = order.iter().all(|&c| {
            let n = self.lists[c as usize].len();
            blocks[c as usize].len() == unidb_kernels::pq4::packed_len(n, pq.m())
        });
        if !fits {
            return false;
        }
        let k = Kernels::active();
        let mut sums = Vec::new();
        for &c in order {
            let list = &self.lists[c as usize];
            sums.resize(list.len().next_multiple_of(unidb_kernels::pq4::BLOCK), 0);
            if k.pq4_fastscan(&blocks[c as usize], table.luts(), pq.m(), &mut sums)
                .is_err()
            {
                continue;
            }
            for (&slot, &s) in list.iter().zip(&sums) {
                let d = table.estimate(s);
                if d <= top.worst() && data.accepts(slot, filter) {
                    top.push(Neighbor { distance: d, slot });
                }
            }
        }
        true
    }

    /// Number of lists (0 until trained).
    pub fn nlist(&self) -> usize {
        self.lists.len()
    }

    fn train(&mut self, data: &VectorData<'_>, live: &[u32]) {
        let dim = data.dim;
        let nlist = self.config.nlist.min(live.len());
        let mut rng = Rng::new(self.config.seed);
        // Seeded sample without replacement (partial Fisher–Yates).
        let mut sample = live.to_vec();
        let want = nlist
            .saturating_mul(self.config.sample_per_list)
            .min(sample.len());
        for i in 0..want {
            let j = i + rng.index(sample.len() - i);
            sample.swap(i, j);
        }
        sample.truncate(want);
        // The sample's values (decoded for f16/i8 storage), row i = sample[i].
        let mut xs = vec![0.0f32; sample.len() * dim];
        for (row, &s) in xs.chunks_exact_mut(dim).zip(&sample) {
            data.decode_row(s, row);
        }
        let cents = kmeans::train(
            &xs,
            dim,
            nlist,
            self.config.iterations,
            data.metric,
            &mut rng,
        );
        self.centroids = cents;
        self.lists = vec![Vec::new(); nlist];
    }

    fn assign_all(&mut self, data: &VectorData<'_>, slots: &[u32]) {
        let cents = &self.centroids;
        let dim = data.dim;
        let assign: Vec<usize> = slots
            .par_iter()
            .map_init(
                || (Vec::new(), vec![0.0f32; dim]),
                |(buf, row), &s| {
                    data.decode_row(s, row);
                    nearest(data.metric, cents, row, buf)
                },
            )
            .collect();
        for (&s, c) in slots.iter().zip(assign) {
            self.lists[c].push(s);
        }
    }
}

impl IvfIndex {
    /// Scores the probed lists (slot by slot) and the pending slots on one
    /// storage's space.
    fn scan_lists<S: Space>(
        &self,
        data: &VectorData<'_>,
        s: &S,
        query: &[f32],
        order: &[u32],
        filter: Option<&dyn Fn(u32) -> bool>,
        top: &mut TopK,
    ) {
        let q = s.prepare(query);
        let mut offer = |slot: u32| {
            if data.accepts(slot, filter) {
                top.push(Neighbor {
                    distance: s.dist(&q, slot),
                    slot,
                });
            }
        };
        for &c in order {
            self.lists[c as usize].iter().for_each(|&slot| offer(slot));
        }
        self.pending.iter().for_each(|&slot| offer(slot));
    }

    /// Whether the contiguous copies can serve a search over `data`.
    fn rows_usable(&self, data: &VectorData<'_>) -> bool {
        self.config.copy_rows
            && self.rows.len() == self.lists.len()
            && self.storage == data.storage()
            && self.dim == data.dim
    }

    /// Copies every list's rows out of `data`.
    fn copy_all_rows(&mut self, data: &VectorData<'_>) {
        self.rows.clear();
        // pq codes are a few bytes per row: gathering them by slot costs
        // little, and their copies would need the quantizer to be sized.
        if !self.config.copy_rows || matches!(data.storage(), Storage::Pq | Storage::Sq4) {
            return;
        }
        self.storage = data.storage();
        for list in &self.lists {
            let mut rows = Rows::new();
            for &slot in list {
                rows.push(slot_bytes(data.rows, slot, data.dim));
            }
            self.rows.push(rows);
        }
    }

    /// Scores the probed lists over their contiguous rows: the storage is
    /// matched once, then every list runs the space's one-to-many form.
    fn scan_copies<'l>(
        &'l self,
        data: &VectorData<'l>,
        query: &[f32],
        order: &[u32],
        filter: Option<&dyn Fn(u32) -> bool>,
        top: &mut TopK,
    ) {
        let (dim, metric) = (data.dim, data.metric);
        match data.rows {
            RowsRef::F32(_) => {
                let (fast, k) = (Fast::of(metric), Kernels::active());
                let mk = |b: &'l [u8]| F32Space {
                    dim,
                    rows: bytemuck::cast_slice(b),
                    metric,
                    fast,
                    k,
                };
                self.scan_rows(data, mk, &query, order, filter, top);
            }
            RowsRef::F16(_) => {
                let (fast, k) = (Fast::of(metric), Kernels::active());
                let mk = |b: &'l [u8]| F16Space {
                    dim,
                    rows: bytemuck::cast_slice(b),
                    metric,
                    fast,
                    k,
                };
                // An empty but aligned row block (only the query is prepared).
                let s0 = mk(bytemuck::cast_slice::<u16, u8>(&[]));
                let q = s0.prepare(query);
                self.scan_rows(data, mk, &q, order, filter, top);
            }
            RowsRef::I8 {
                quantizer, norms, ..
            } => {
                // The copies equal the rows (`validate`), so a list's
                // code norms are its slots' norms, gathered per list.
                let space0 = I8Space {
                    dim,
                    codes: &[],
                    norms: &[],
                    quant: quantizer,
                    metric,
                    fast: Fast::of(metric),
                    k: Kernels::active(),
                };
                let q = space0.prepare(query);
                let (mut buf, mut list_norms) = (Vec::new(), Vec::new());
                for &c in order {
                    let list = &self.lists[c as usize];
                    list_norms.clear();
                    list_norms.extend(list.iter().map(|&s| norms[s as usize]));
                    let space = I8Space {
                        codes: bytemuck::cast_slice(self.rows[c as usize].as_bytes()),
                        norms: &list_norms,
                        ..space0
                    };
                    buf.resize(list.len(), 0.0);
                    space.dist_many(&q, 0, &mut buf);
                    offer_all(data, list, &buf, filter, top);
                }
            }
            // No copies are made of pq or sq4 codes (see `copy_all_rows`).
            RowsRef::Pq { .. } | RowsRef::Sq4 { .. } => {
                with_space!(*data, |s| self
                    .scan_lists(data, &s, query, order, filter, top))
            }
        }
    }

    fn scan_rows<'l, S: Space + 'l>(
        &'l self,
        data: &VectorData<'_>,
        mk: impl Fn(&'l [u8]) -> S,
        q: &S::Query<'_>,
        order: &[u32],
        filter: Option<&dyn Fn(u32) -> bool>,
        top: &mut TopK,
    ) {
        let mut buf = Vec::new();
        for &c in order {
            let list = &self.lists[c as usize];
            let space = mk(self.rows[c as usize].as_bytes());
            buf.resize(list.len(), 0.0);
            space.dist_many(q, 0, &mut buf);
            offer_all(data, list, &buf, filter, top);
        }
    }
}

/// The fast-scan candidates with their exact table distances (the
/// per-row scan's), sorted by distance then slot.
fn exact_pq(data: &VectorData<'_>, query: &[f32], found: Vec<Neighbor>) -> Vec<Neighbor> {
    with_space!(*data, |s| {
        let q = s.prepare(query);
        let mut out: Vec<Neighbor> = found
            .into_iter()
            .map(|n| Neighbor {
                distance: s.dist(&q, n.slot),
                slot: n.slot,
            })
            .collect();
        out.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.slot.cmp(&b.slot)));
        out
    })
}

/// Offers `list[i]` at distance `dists[i]` to `top`.
fn offer_all(
    data: &VectorData<'_>,
    list: &[u32],
    dists: &[f32],
    filter: Option<&dyn Fn(u32) -> bool>,
    top: &mut TopK,
) {
    for (&slot, &d) in list.iter().zip(dists) {
        if d <= top.worst() && data.accepts(slot, filter) {
            top.push(Neighbor { distance: d, slot });
        }
    }
}

impl VectorIndex for IvfIndex {
    fn kind(&self) -> &'static str {
        "ivf"
    }

    fn build(&mut self, data: &VectorData<'_>) -> Result<()> {
        self.dim = data.dim;
        self.centroids.clear();
        self.lists.clear();
        self.pending.clear();
        self.rows.clear();
        self.fastscan = std::sync::OnceLock::new();
        let live: Vec<u32> = (0..data.slots() as u32)
            .filter(|&s| data.live[s as usize])
            .collect();
        if live.is_empty() {
            return Ok(());
        }
        self.train(data, &live);
        self.assign_all(data, &live);
        self.copy_all_rows(data);
        Ok(())
    }

    fn insert(&mut self, data: &VectorData<'_>, slot: u32) -> Result<()> {
        self.dim = data.dim;
        if self.lists.is_empty() {
            self.pending.push(slot);
        } else {
            let c = nearest(
                data.metric,
                &self.centroids,
                &data.row_f32(slot),
                &mut Vec::new(),
            );
            self.lists[c].push(slot);
            if let (Some(blocks), RowsRef::Pq { codes, pq }) = (self.fastscan.get_mut(), data.rows)
            {
                let mut row = Vec::with_capacity(pq.m());
                push_codes(pq, codes, slot, &mut row);
                let n = self.lists[c].len() - 1;
                if unidb_kernels::pq4::push(&mut blocks[c], n, &row).is_err() {
                    // Out of step with the list: rebuilt on the next search.
                    self.fastscan = std::sync::OnceLock::new();
                }
            }
            if self.rows_usable(data) {
                self.rows[c].push(slot_bytes(data.rows, slot, data.dim));
            }
        }
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
        let nprobe = params.get::<IvfSearch>("ivf")?.nprobe;
        Ok(self.search_lists(data, query, k, nprobe, filter))
    }

    /// The trained dimension is the collection's, and the row copies are
    /// in its storage and equal its rows (a search scores the copies).
    fn validate(&self, data: &VectorData<'_>) -> Result<()> {
        let bad = |w: String| VectorError::Corrupt(format!("ivf: {w}"));
        if !self.lists.is_empty() && self.dim != data.dim {
            return Err(bad(format!(
                "dimension {} differs from the collection's {}",
                self.dim, data.dim
            )));
        }
        if self.rows.is_empty() {
            return Ok(());
        }
        if self.storage != data.storage() {
            return Err(bad(format!(
                "row copies are {} but the collection stores {}",
                self.storage,
                data.storage()
            )));
        }
        for (c, (list, rows)) in self.lists.iter().zip(&self.rows).enumerate() {
            let copy = rows.as_bytes();
            let width = copy.len() / list.len().max(1);
            for (i, &slot) in list.iter().enumerate() {
                if copy[i * width..(i + 1) * width] != *slot_bytes(data.rows, slot, data.dim) {
                    return Err(bad(format!(
                        "list {c} holds a copy of slot {slot} that differs from its row"
                    )));
                }
            }
        }
        Ok(())
    }

    fn save(&self, out: &mut Vec<u8>) {
        let mut w = Writer(out);
        let c = &self.config;
        w.u64(c.nlist as u64);
        w.u64(c.nprobe as u64);
        w.u64(c.iterations as u64);
        w.u64(c.sample_per_list as u64);
        w.u64(c.seed);
        w.u64(self.dim as u64);
        w.f32s(&self.centroids);
        w.u64(self.lists.len() as u64);
        for l in &self.lists {
            w.u32s(l);
        }
        w.u32s(&self.pending);
        // Optional trailing section: the contiguous row copies.
        if self.config.copy_rows && self.rows.len() == self.lists.len() {
            w.u8(1);
            w.u8(self.storage.tag());
            let bpv = self.storage.bytes_per_value();
            for rows in &self.rows {
                // Little-endian on disk, native in memory.
                w.bytes(&swap_le(rows.as_bytes(), bpv));
            }
        } else {
            w.u8(0);
        }
    }
}

pub(crate) fn create(params: Params<'_>) -> Result<Box<dyn VectorIndex>> {
    Ok(Box::new(IvfIndex::new(*params.get::<IvfConfig>("ivf")?)?))
}

/// Restores a saved index, refusing (with [`VectorError::Corrupt`] naming
/// the problem) what later operations could trip over: parameters outside
/// [`IvfIndex::new`]'s limits, more lists than `nlist`, centroids that are
/// not one per list of the stored dimension, row copies of the wrong size,
/// slots out of range or in more than one list; [`VectorIndex::validate`]
/// then checks the dimension and the row copies against the collection.
pub(crate) fn load(bytes: &[u8], slots: usize) -> Result<Box<dyn VectorIndex>> {
    let bad = |w: &str| VectorError::Corrupt(format!("ivf: {w}"));
    let mut r = Reader::new(bytes);
    let config = IvfConfig {
        nlist: r.usize("ivf nlist")?,
        nprobe: r.usize("ivf nprobe")?,
        iterations: r.usize("ivf iterations")?,
        sample_per_list: r.usize("ivf sample")?,
        seed: r.u64("ivf seed")?,
        copy_rows: false,
    };
    let mut ivf = IvfIndex::new(config).map_err(|e| bad(&crate::index::stored_param(e)))?;
    ivf.dim = r.usize("ivf dim")?;
    ivf.centroids = r.f32s("ivf centroids")?;
    let nlist = r.len(8, "ivf lists")?;
    if nlist.checked_mul(ivf.dim) != Some(ivf.centroids.len()) || (nlist > 0 && ivf.dim == 0) {
        return Err(bad("centroid count differs from list count"));
    }
    for _ in 0..nlist {
        ivf.lists.push(r.u32s("ivf list")?);
    }
    ivf.pending = r.u32s("ivf pending")?;
    // Absent in files written before the row copies existed.
    if r.remaining() > 0 && r.u8("ivf row copies")? == 1 {
        let tag = r.u8("ivf storage")?;
        let storage = Storage::from_tag(tag).ok_or_else(|| bad("storage tag"))?;
        let bpv = storage.bytes_per_value();
        for list in &ivf.lists {
            let le = r.bytes("ivf rows")?;
            if list
                .len()
                .checked_mul(ivf.dim)
                .and_then(|n| n.checked_mul(bpv))
                != Some(le.len())
            {
                return Err(bad("row copy size differs from list size"));
            }
            let native = swap_le(le, bpv);
            let mut rows = Rows::new();
            rows.push(&native);
            ivf.rows.push(rows);
        }
        ivf.storage = storage;
        ivf.config.copy_rows = true;
    }
    r.finish("ivf")?;
    if nlist > ivf.config.nlist {
        return Err(bad(&format!(
            "{nlist} lists, more than the configured {}",
            ivf.config.nlist
        )));
    }
    // Each slot in range and in at most one list (or pending): a slot
    // listed twice would be returned twice.
    let mut seen = vec![false; slots];
    for &s in ivf.lists.iter().chain([&ivf.pending]).flatten() {
        match seen.get_mut(s as usize) {
            None => return Err(bad(&format!("slot {s} out of range ({slots} slots)"))),
            Some(true) => return Err(bad(&format!("slot {s} is listed twice"))),
            Some(f) => *f = true,
        }
    }
    Ok(Box::new(ivf))
}

/// Values of `width` bytes between little-endian (on disk) and native order
/// (in memory); the same swap both ways, a copy on little-endian hosts.
fn swap_le(bytes: &[u8], width: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    if cfg!(target_endian = "big") {
        for v in out.chunks_exact_mut(width) {
            v.reverse();
        }
    }
    out
}
