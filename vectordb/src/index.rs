//! Index plugins and the trait every index implements.

use std::fmt::Debug;

use unidb_registry::{plugin_info, plugin_kind, submit, Plugin, PluginInfo, PluginKind};

use std::borrow::Cow;

use crate::error::Result;
use crate::hnsw::{HnswConfig, HnswSearch};
use crate::ivf::{IvfConfig, IvfSearch};
use crate::metric::Metric;
use crate::params::{defaults_json, NoParams, Params, PluginConfig};
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
    /// `params` are the search parameters, read as the plugin's search
    /// parameter type with [`Params::get`].
    ///
    /// # Errors
    /// The parameters' errors ([`Params::get`]).
    fn search(
        &self,
        data: &VectorData<'_>,
        query: &[f32],
        k: usize,
        params: Params<'_>,
        filter: Option<&dyn Fn(u32) -> bool>,
    ) -> Result<Vec<Neighbor>>;

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

/// A stored parameter refused by an index's `new`, as a corrupt file's
/// message (`parameter "nprobe": 0 is outside ...`).
pub(crate) fn stored_param(e: crate::VectorError) -> String {
    match e {
        crate::VectorError::InvalidParam { key, reason, .. } => {
            format!("parameter {key:?}: {reason}")
        }
        other => other.to_string(),
    }
}

/// Builds an empty index from its build parameters, read as the plugin's
/// build parameter type with [`Params::get`].
pub type CreateFn = fn(Params<'_>) -> Result<Box<dyn VectorIndex>>;
/// Restores an index from the bytes written by [`VectorIndex::save`];
/// `slots` is the collection's slot count (for validation).
pub type LoadFn = fn(bytes: &[u8], slots: usize) -> Result<Box<dyn VectorIndex>>;

/// An index plugin: its name, the types of its build and search
/// parameters, and how to create and restore it.
///
/// A crate registers its own index with [`IndexPlugin::new`] and
/// `unidb_vectordb::unidb_registry::submit!`; its `create` and `search`
/// read their parameters with [`Params::get`] as the types it declared.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use serde_json::json;
/// use unidb_common::config::{check_range, Validate};
/// use unidb_vectordb::unidb_registry::{plugin_info, submit};
/// use unidb_vectordb::{
///     Collection, CollectionConfig, IndexPlugin, Neighbor, NoParams, Params, SearchOptions,
///     VectorData, VectorError, VectorIndex,
/// };
///
/// /// Scans the first `limit` slots only.
/// #[derive(Debug, Clone, Default, Serialize, Deserialize)]
/// struct Prefix {
///     limit: u32,
/// }
///
/// impl Validate for Prefix {
///     fn validate(&self) -> unidb_common::Result<()> {
///         check_range("limit", self.limit, 1..=1_000_000)
///     }
/// }
///
/// impl VectorIndex for Prefix {
///     fn kind(&self) -> &'static str {
///         "prefix-doc"
///     }
///     fn build(&mut self, _: &VectorData<'_>) -> unidb_vectordb::Result<()> {
///         Ok(())
///     }
///     fn insert(&mut self, _: &VectorData<'_>, _: u32) -> unidb_vectordb::Result<()> {
///         Ok(())
///     }
///     fn search(
///         &self,
///         data: &VectorData<'_>,
///         query: &[f32],
///         k: usize,
///         params: Params<'_>,
///         filter: Option<&dyn Fn(u32) -> bool>,
///     ) -> unidb_vectordb::Result<Vec<Neighbor>> {
///         params.get::<NoParams>("prefix-doc")?;
///         let slots: Vec<u32> = (0..data.slots().min(self.limit as usize) as u32)
///             .filter(|&s| data.accepts(s, filter))
///             .collect();
///         let mut d = vec![0.0; slots.len()];
///         data.distances(query, &slots, &mut d);
///         let mut found: Vec<Neighbor> =
///             slots.iter().zip(d).map(|(&slot, distance)| Neighbor { slot, distance }).collect();
///         found.sort();
///         found.truncate(k);
///         Ok(found)
///     }
///     fn save(&self, out: &mut Vec<u8>) {
///         out.extend_from_slice(&self.limit.to_le_bytes());
///     }
/// }
///
/// fn create(params: Params<'_>) -> unidb_vectordb::Result<Box<dyn VectorIndex>> {
///     Ok(Box::new(params.get::<Prefix>("prefix-doc")?.into_owned()))
/// }
///
/// fn load(bytes: &[u8], _slots: usize) -> unidb_vectordb::Result<Box<dyn VectorIndex>> {
///     let limit = bytes.try_into().map(u32::from_le_bytes);
///     let limit = limit.map_err(|_| VectorError::Corrupt("prefix-doc: 4 bytes".into()))?;
///     Ok(Box::new(Prefix { limit }))
/// }
///
/// submit!(IndexPlugin::new::<Prefix, NoParams>(
///     plugin_info!("prefix-doc", "exact search over the first slots"),
///     create,
///     load,
/// ));
///
/// # fn main() -> Result<(), VectorError> {
/// let mut c = Collection::new(CollectionConfig::new(1, "l2"))?;
/// for i in 0..10u64 {
///     c.insert(i, &[i as f32], None)?;
/// }
/// let params = json!({"limit": 3});
/// c.create_index("p", "prefix-doc", Params::json(&params))?;
/// assert_eq!(c.search(&[9.0], 1)?[0].id, 2u64.into());
/// let bad = json!({"limit": 0});
/// let err = c.create_index("q", "prefix-doc", Params::json(&bad)).unwrap_err();
/// assert!(matches!(err, VectorError::InvalidParam { ref key, .. } if key == "limit"));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct IndexPlugin {
    /// Name and origin.
    pub info: PluginInfo,
    /// The defaults of its build parameters ([`defaults_json`] of the
    /// type `create` reads).
    pub build_params: fn() -> Result<serde_json::Value>,
    /// The defaults of its search parameters ([`defaults_json`] of the
    /// type `search` reads).
    pub search_params: fn() -> Result<serde_json::Value>,
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
    /// A plugin whose `create` reads build parameters of type `B` and
    /// whose indexes' `search` reads search parameters of type `S`.
    pub const fn new<B: PluginConfig, S: PluginConfig>(
        info: PluginInfo,
        create: CreateFn,
        load: LoadFn,
    ) -> Self {
        IndexPlugin {
            info,
            build_params: defaults_json::<B>,
            search_params: defaults_json::<S>,
            create,
            load,
        }
    }

    /// The names of every registered index, sorted.
    pub fn names() -> Vec<&'static str> {
        IndexPlugin::registry().names()
    }
}

submit!(IndexPlugin::new::<NoParams, NoParams>(
    plugin_info!("flat", "exact search over every vector"),
    crate::flat::create,
    crate::flat::load,
));
submit!(IndexPlugin::new::<HnswConfig, HnswSearch>(
    plugin_info!("hnsw", "hierarchical navigable small world graph"),
    crate::hnsw::create,
    crate::hnsw::load,
));
submit!(IndexPlugin::new::<IvfConfig, IvfSearch>(
    plugin_info!("ivf", "inverted file over k-means lists"),
    crate::ivf::create,
    crate::ivf::load,
));
