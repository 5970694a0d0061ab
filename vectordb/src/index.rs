//! Index plugins and the trait every index implements.

use std::fmt::Debug;

use unidb_registry::{plugin_info, plugin_kind, submit, Plugin, PluginInfo, PluginKind};

use std::borrow::Cow;

use crate::error::Result;
use crate::metric::Metric;
use crate::storage::{with_space, RowsRef, Space, Storage};
use crate::topk::Neighbor;

/// A read-only view of a collection's vectors, given to indexes.
///
/// Rows may be stored as f32, f16 or i8 codes ([`RowsRef`]); indexes
/// compute distances through [`VectorData::distances`] and
/// [`VectorData::pair_distance`] (the built-in indexes use the crate's
/// monomorphised row-distance trait directly), and read a row's values
/// with [`VectorData::row_f32`] (decoded for f16/i8).
#[derive(Clone, Copy)]
pub struct VectorData<'a> {
    /// The dimension.
    pub dim: usize,
    /// Row-major stored rows, one row per slot.
    pub rows: RowsRef<'a>,
    /// Whether each slot is live (deleted slots are `false`).
    pub live: &'a [bool],
    /// Whether every slot is live (no deletions): lets searches skip checks.
    pub all_live: bool,
    /// The collection's metric.
    pub metric: Metric,
}

impl Debug for VectorData<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorData")
            .field("dim", &self.dim)
            .field("slots", &self.live.len())
            .field("metric", &self.metric.name())
            .finish()
    }
}

impl<'a> VectorData<'a> {
    /// Number of slots (live or not).
    #[inline]
    pub fn slots(&self) -> usize {
        self.live.len()
    }

    /// The storage kind of the rows.
    pub fn storage(&self) -> Storage {
        self.rows.storage()
    }

    /// The values of `slot`: borrowed for f32 storage, decoded (the
    /// stored, rounded or dequantized values) for f16 and i8.
    pub fn row_f32(&self, slot: u32) -> Cow<'a, [f32]> {
        let s = slot as usize * self.dim;
        match self.rows {
            RowsRef::F32(r) => Cow::Borrowed(&r[s..s + self.dim]),
            other => {
                let mut out = vec![0.0; self.dim];
                other.decode_into(s, &mut out);
                Cow::Owned(out)
            }
        }
    }

    /// Decodes the values of `slot` into `out` (`out.len()` = dimension).
    pub fn decode_row(&self, slot: u32, out: &mut [f32]) {
        self.rows.decode_into(slot as usize * self.dim, out);
    }

    /// `out[i]` = distance from `query` to `slots[i]`, computed on the
    /// stored encoding (the query is encoded once; see
    /// [`Storage`](crate::Storage)). `query.len()` must be the dimension and
    /// `out.len()` must be `slots.len()`.
    pub fn distances(&self, query: &[f32], slots: &[u32], out: &mut [f32]) {
        debug_assert_eq!(query.len(), self.dim);
        with_space!(*self, |s| {
            let q = s.prepare(query);
            for (o, &slot) in out.iter_mut().zip(slots) {
                *o = s.dist(&q, slot);
            }
        })
    }

    /// Distance between two stored rows.
    pub fn pair_distance(&self, a: u32, b: u32) -> f32 {
        with_space!(*self, |s| s.pair(a, b))
    }

    /// Whether `slot` is live and passes `filter`.
    #[inline]
    pub fn accepts(&self, slot: u32, filter: Option<&dyn Fn(u32) -> bool>) -> bool {
        self.live[slot as usize] && filter.map(|f| f(slot)).unwrap_or(true)
    }
}

/// Search-time parameters; `None` takes the index's default.
#[derive(Debug, Clone, Copy, Default)]
pub struct SearchParams {
    /// HNSW: size of the dynamic candidate list.
    pub ef: Option<usize>,
    /// IVF: number of lists probed.
    pub nprobe: Option<usize>,
}

/// HNSW build parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HnswConfig {
    /// Links per node on upper layers (layer 0 keeps `2·m`).
    pub m: usize,
    /// Candidate list size while building.
    pub ef_construction: usize,
    /// Default candidate list size while searching.
    pub ef_search: usize,
    /// RNG seed (levels are a pure function of seed and slot).
    pub seed: u64,
    /// Build in parallel with rayon (same recall as serial; the graph may
    /// differ, so results are only deterministic with `parallel = false`).
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
            parallel: false,
            exact_below: 0.05,
        }
    }
}

/// IVF build parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IvfConfig {
    /// Number of lists (k-means centroids); capped at the number of vectors.
    pub nlist: usize,
    /// Default number of lists probed.
    pub nprobe: usize,
    /// Lloyd iterations.
    pub iterations: usize,
    /// Training sample size per list (`nlist · sample_per_list` vectors).
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

/// The typed configuration an index plugin is built from; each index reads
/// its own part.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexConfig {
    /// For `hnsw`.
    pub hnsw: HnswConfig,
    /// For `ivf`.
    pub ivf: IvfConfig,
}

/// An index over a collection's slots. Indexes never copy vectors: every
/// call receives the collection's [`VectorData`].
pub trait VectorIndex: Send + Sync + Debug {
    /// The plugin name (`flat`, `hnsw`, `ivf`, ...).
    fn kind(&self) -> &'static str;

    /// (Re)builds over every live slot of `data`.
    ///
    /// # Errors
    /// Index-specific (e.g. invalid configuration).
    fn build(&mut self, data: &VectorData<'_>) -> Result<()>;

    /// Adds `slot` (already stored in `data`).
    ///
    /// # Errors
    /// Index-specific.
    fn insert(&mut self, data: &VectorData<'_>, slot: u32) -> Result<()>;

    /// The `k` nearest live slots accepted by `filter`, closest first.
    fn search(
        &self,
        data: &VectorData<'_>,
        query: &[f32],
        k: usize,
        params: &SearchParams,
        filter: Option<&dyn Fn(u32) -> bool>,
    ) -> Vec<Neighbor>;

    /// Serialises the index (see [`IndexPlugin::load`]).
    fn save(&self, out: &mut Vec<u8>);

    /// Checks an index restored by [`IndexPlugin::load`] against the
    /// collection it was loaded into (dimension, storage, stored copies of
    /// rows): opening a saved file calls it and refuses the file when it
    /// fails. Checks that need only the index's own bytes belong in
    /// `load`. The default accepts.
    ///
    /// # Errors
    /// [`VectorError::Corrupt`](crate::VectorError::Corrupt) naming what
    /// is inconsistent.
    fn validate(&self, data: &VectorData<'_>) -> Result<()> {
        let _ = data;
        Ok(())
    }
}

/// Builds an index from its configuration.
pub type CreateFn = fn(&IndexConfig) -> Result<Box<dyn VectorIndex>>;
/// Restores an index from the bytes written by [`VectorIndex::save`];
/// `slots` is the collection's slot count (for validation).
pub type LoadFn = fn(bytes: &[u8], slots: usize) -> Result<Box<dyn VectorIndex>>;

/// An index plugin.
#[derive(Debug)]
pub struct IndexPlugin {
    /// Name and origin.
    pub info: PluginInfo,
    /// Creates an empty index.
    pub create: CreateFn,
    /// Restores a saved index.
    pub load: LoadFn,
}

impl Plugin for IndexPlugin {
    fn info(&self) -> &PluginInfo {
        &self.info
    }
}
plugin_kind!(IndexPlugin, "index");

impl IndexPlugin {
    /// The names of every registered index, sorted.
    pub fn names() -> Vec<&'static str> {
        IndexPlugin::registry().names()
    }
}

submit!(IndexPlugin {
    info: plugin_info!("flat", "exact search over every vector"),
    create: crate::flat::create,
    load: crate::flat::load,
});
submit!(IndexPlugin {
    info: plugin_info!("hnsw", "hierarchical navigable small world graph"),
    create: crate::hnsw::create,
    load: crate::hnsw::load,
});
submit!(IndexPlugin {
    info: plugin_info!("ivf", "inverted file over k-means lists"),
    create: crate::ivf::create,
    load: crate::ivf::load,
});
