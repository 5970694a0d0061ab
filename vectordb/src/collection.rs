//! Collections: vectors of a fixed dimension with ids, metadata and indexes.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use unidb_registry::PluginKind;

use crate::error::{Result, VectorError};
use crate::flat;
use crate::index::{IndexConfig, IndexPlugin, SearchParams, VectorData, VectorIndex};
use crate::metric::Metric;
use crate::topk::Neighbor;

/// A user id: a number or a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Id {
    /// A numeric id.
    Num(u64),
    /// A string id.
    Str(String),
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::Num(n) => write!(f, "{n}"),
            Id::Str(s) => write!(f, "{s:?}"),
        }
    }
}

impl From<u64> for Id {
    fn from(v: u64) -> Self {
        Id::Num(v)
    }
}
impl From<&str> for Id {
    fn from(v: &str) -> Self {
        Id::Str(v.to_owned())
    }
}
impl From<String> for Id {
    fn from(v: String) -> Self {
        Id::Str(v)
    }
}
impl From<&Id> for Id {
    fn from(v: &Id) -> Self {
        v.clone()
    }
}

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(v)
    }
}

/// Key/value metadata of one vector (used by search filters).
pub type Metadata = BTreeMap<String, Value>;

/// How a collection is configured.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionConfig {
    /// Number of f32 values per vector (for binary metrics: 32-bit words).
    pub dim: usize,
    /// The metric name (a registered metric plugin).
    pub metric: String,
    /// Accept vectors containing NaN (always true for binary metrics).
    pub allow_nan: bool,
}

impl CollectionConfig {
    /// A configuration with `dim` and `metric`, rejecting NaN.
    pub fn new(dim: usize, metric: &str) -> Self {
        CollectionConfig {
            dim,
            metric: metric.to_owned(),
            allow_nan: false,
        }
    }
}

/// 64 bytes of vector data, 64-byte aligned: the unit of owned storage, so
/// row-major data always starts on a cache line.
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C, align(64))]
pub(crate) struct Line([f32; 16]);

/// Vector storage: owned, or borrowed from a memory-mapped file.
pub(crate) enum Rows {
    Owned {
        lines: Vec<Line>,
        len: usize,
    },
    Mapped {
        map: Arc<memmap2::Mmap>,
        offset: usize,
        len: usize,
    },
}

impl Rows {
    pub(crate) fn new() -> Self {
        Rows::Owned {
            lines: Vec::new(),
            len: 0,
        }
    }

    #[inline]
    pub(crate) fn as_slice(&self) -> &[f32] {
        match self {
            Rows::Owned { lines, len } => &bytemuck::cast_slice::<Line, f32>(lines)[..*len],
            // The offset and length were validated (alignment included) when
            // the file was opened; see `persist::open`.
            Rows::Mapped { map, offset, len } => {
                bytemuck::cast_slice(&map[*offset..*offset + *len * 4])
            }
        }
    }

    fn make_owned(&mut self) -> (&mut Vec<Line>, &mut usize) {
        if let Rows::Mapped { .. } = self {
            let data = self.as_slice().to_vec();
            let mut lines = vec![Line([0.0; 16]); data.len().div_ceil(16)];
            bytemuck::cast_slice_mut::<Line, f32>(&mut lines)[..data.len()].copy_from_slice(&data);
            *self = Rows::Owned {
                lines,
                len: data.len(),
            };
        }
        match self {
            Rows::Owned { lines, len } => (lines, len),
            Rows::Mapped { .. } => unreachable!("converted above"),
        }
    }

    pub(crate) fn push(&mut self, v: &[f32]) {
        let (lines, len) = self.make_owned();
        let new_len = *len + v.len();
        if new_len > lines.len() * 16 {
            let want = new_len.div_ceil(16).max(lines.len() * 2);
            lines.resize(want, Line([0.0; 16]));
        }
        bytemuck::cast_slice_mut::<Line, f32>(lines)[*len..new_len].copy_from_slice(v);
        *len = new_len;
    }

    pub(crate) fn is_mapped(&self) -> bool {
        matches!(self, Rows::Mapped { .. })
    }
}

/// One stored vector, as returned by [`Collection::get`] and [`Collection::iter`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Record<'a> {
    /// The user id.
    pub id: &'a Id,
    /// The vector.
    pub vector: &'a [f32],
    /// Its metadata, if any.
    pub metadata: Option<&'a Metadata>,
}

/// A search hit.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The user id.
    pub id: Id,
    /// Distance to the query (smaller is closer).
    pub distance: f32,
}

/// A filter on ids and metadata.
pub type FilterFn<'a> = &'a (dyn Fn(&Id, Option<&Metadata>) -> bool + Sync);

/// Options of [`Collection::search`].
#[derive(Clone, Copy, Default)]
pub struct SearchOptions<'a> {
    /// The attached index to use; `None` uses the first attached index, or
    /// exact search when none is attached.
    pub index: Option<&'a str>,
    /// Index parameters (HNSW `ef`, IVF `nprobe`).
    pub params: SearchParams,
    /// Only vectors for which this returns true are returned.
    pub filter: Option<FilterFn<'a>>,
}

impl fmt::Debug for SearchOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SearchOptions")
            .field("index", &self.index)
            .field("params", &self.params)
            .field("filter", &self.filter.is_some())
            .finish()
    }
}

/// A collection of vectors of one dimension under one metric, each with a
/// user [`Id`] and optional [`Metadata`], with any number of named indexes.
///
/// Vectors live in slots numbered in insertion order. Deleting marks a slot
/// dead (indexes skip it); `upsert` of an existing id deletes its slot and
/// appends a new one. [`Collection::compact`] drops dead slots and rebuilds
/// every index.
pub struct Collection {
    pub(crate) config: CollectionConfig,
    pub(crate) metric: Metric,
    pub(crate) rows: Rows,
    pub(crate) ids: Vec<Id>,
    pub(crate) meta: Vec<Option<Metadata>>,
    pub(crate) live: Vec<bool>,
    pub(crate) n_live: usize,
    pub(crate) slot_of: HashMap<Id, u32>,
    pub(crate) indexes: Vec<(String, Box<dyn VectorIndex>)>,
}

impl fmt::Debug for Collection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Collection")
            .field("config", &self.config)
            .field("len", &self.n_live)
            .field("slots", &self.live.len())
            .field("indexes", &self.index_names())
            .finish()
    }
}

impl Collection {
    /// An empty collection.
    ///
    /// # Errors
    /// [`VectorError::InvalidConfig`] for dimension 0, or an unknown metric.
    pub fn new(config: CollectionConfig) -> Result<Self> {
        if config.dim == 0 {
            return Err(VectorError::InvalidConfig(
                "dimension must be at least 1".into(),
            ));
        }
        let metric = Metric::by_name(&config.metric)?;
        Ok(Collection {
            config,
            metric,
            rows: Rows::new(),
            ids: Vec::new(),
            meta: Vec::new(),
            live: Vec::new(),
            n_live: 0,
            slot_of: HashMap::new(),
            indexes: Vec::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &CollectionConfig {
        &self.config
    }

    /// The dimension.
    pub fn dim(&self) -> usize {
        self.config.dim
    }

    /// The metric.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// Number of live vectors.
    pub fn len(&self) -> usize {
        self.n_live
    }

    /// Whether no vector is live.
    pub fn is_empty(&self) -> bool {
        self.n_live == 0
    }

    /// Whether the vectors are read from a memory-mapped file (until the
    /// first write, which copies them).
    pub fn is_mapped(&self) -> bool {
        self.rows.is_mapped()
    }

    /// The view indexes work on.
    pub fn data(&self) -> VectorData<'_> {
        VectorData {
            dim: self.config.dim,
            vectors: self.rows.as_slice(),
            live: &self.live,
            all_live: self.n_live == self.live.len(),
            metric: self.metric,
        }
    }

    /// Checks a vector's dimension and (unless allowed) NaN.
    ///
    /// # Errors
    /// [`VectorError::WrongDimension`] or [`VectorError::NaN`].
    pub fn check(&self, vector: &[f32]) -> Result<()> {
        if vector.len() != self.config.dim {
            return Err(VectorError::WrongDimension {
                expected: self.config.dim,
                got: vector.len(),
            });
        }
        if !self.config.allow_nan && !self.metric.is_binary() {
            if let Some(position) = vector.iter().position(|v| v.is_nan()) {
                return Err(VectorError::NaN { position });
            }
        }
        Ok(())
    }

    /// Adds a vector under a new id.
    ///
    /// # Errors
    /// [`VectorError::DuplicateId`], a bad vector (see [`Collection::check`]),
    /// or an index error.
    pub fn insert(
        &mut self,
        id: impl Into<Id>,
        vector: &[f32],
        metadata: Option<Metadata>,
    ) -> Result<()> {
        let id = id.into();
        if self.slot_of.contains_key(&id) {
            return Err(VectorError::DuplicateId(id));
        }
        self.check(vector)?;
        self.append(id, vector, metadata)
    }

    /// Adds a vector, replacing any vector with the same id.
    ///
    /// # Errors
    /// A bad vector (see [`Collection::check`]) or an index error.
    pub fn upsert(
        &mut self,
        id: impl Into<Id>,
        vector: &[f32],
        metadata: Option<Metadata>,
    ) -> Result<()> {
        let id = id.into();
        self.check(vector)?;
        if let Some(slot) = self.slot_of.remove(&id) {
            self.kill(slot);
        }
        self.append(id, vector, metadata)
    }

    fn append(&mut self, id: Id, vector: &[f32], metadata: Option<Metadata>) -> Result<()> {
        let slot = self.live.len();
        if slot >= u32::MAX as usize {
            return Err(VectorError::Full(slot));
        }
        let slot = slot as u32;
        self.rows.push(vector);
        self.ids.push(id.clone());
        self.meta.push(metadata);
        self.live.push(true);
        self.n_live += 1;
        self.slot_of.insert(id, slot);
        let data = VectorData {
            dim: self.config.dim,
            vectors: self.rows.as_slice(),
            live: &self.live,
            all_live: self.n_live == self.live.len(),
            metric: self.metric,
        };
        for (_, index) in &mut self.indexes {
            index.insert(&data, slot)?;
        }
        Ok(())
    }

    fn kill(&mut self, slot: u32) {
        if std::mem::replace(&mut self.live[slot as usize], false) {
            self.n_live -= 1;
        }
    }

    /// Deletes the vector with this id (indexes exclude it from then on).
    ///
    /// # Errors
    /// [`VectorError::UnknownId`].
    pub fn delete(&mut self, id: impl Into<Id>) -> Result<()> {
        let id = id.into();
        match self.slot_of.remove(&id) {
            Some(slot) => {
                self.kill(slot);
                Ok(())
            }
            None => Err(VectorError::UnknownId(id)),
        }
    }

    /// Whether a live vector has this id.
    pub fn contains(&self, id: impl Into<Id>) -> bool {
        self.slot_of.contains_key(&id.into())
    }

    /// The vector with this id.
    ///
    /// # Errors
    /// [`VectorError::UnknownId`].
    pub fn get(&self, id: impl Into<Id>) -> Result<Record<'_>> {
        let id = id.into();
        match self.slot_of.get(&id) {
            Some(&slot) => Ok(self.record(slot)),
            None => Err(VectorError::UnknownId(id)),
        }
    }

    fn record(&self, slot: u32) -> Record<'_> {
        let s = slot as usize;
        let dim = self.config.dim;
        Record {
            id: &self.ids[s],
            vector: &self.rows.as_slice()[s * dim..(s + 1) * dim],
            metadata: self.meta[s].as_ref(),
        }
    }

    /// The live vectors, in slot (insertion) order.
    pub fn iter(&self) -> impl Iterator<Item = Record<'_>> + '_ {
        (0..self.live.len() as u32)
            .filter(|&s| self.live[s as usize])
            .map(|s| self.record(s))
    }

    /// The id stored in a slot (for index-level results).
    pub fn id_of_slot(&self, slot: u32) -> Option<&Id> {
        self.ids.get(slot as usize)
    }

    /// Attaches an index built by the plugin `kind` under `name`, building it
    /// over the current vectors. Later inserts update it.
    ///
    /// # Errors
    /// Unknown plugin, duplicate name, or the index's build error.
    pub fn create_index(&mut self, name: &str, kind: &str, config: &IndexConfig) -> Result<()> {
        if self.indexes.iter().any(|(n, _)| n == name) {
            return Err(VectorError::InvalidConfig(format!(
                "an index named {name:?} exists"
            )));
        }
        let plugin = IndexPlugin::registry().get(kind)?;
        let mut index = (plugin.create)(config)?;
        index.build(&self.data())?;
        self.indexes.push((name.to_owned(), index));
        Ok(())
    }

    /// Attaches an index already built over [`Collection::data`] (used when
    /// a build needs progress reporting or other control).
    pub(crate) fn attach_built_index(&mut self, name: &str, index: Box<dyn VectorIndex>) {
        self.indexes.push((name.to_owned(), index));
    }

    /// Detaches an index.
    ///
    /// # Errors
    /// [`VectorError::UnknownIndex`].
    pub fn drop_index(&mut self, name: &str) -> Result<()> {
        let pos = self.index_position(name)?;
        self.indexes.remove(pos);
        Ok(())
    }

    /// The attached index names, in creation order.
    pub fn index_names(&self) -> Vec<String> {
        self.indexes.iter().map(|(n, _)| n.clone()).collect()
    }

    fn index_position(&self, name: &str) -> Result<usize> {
        self.indexes
            .iter()
            .position(|(n, _)| n == name)
            .ok_or_else(|| VectorError::UnknownIndex {
                name: name.to_owned(),
                known: self.index_names(),
            })
    }

    /// The attached index called `name`.
    ///
    /// # Errors
    /// [`VectorError::UnknownIndex`].
    pub fn index(&self, name: &str) -> Result<&dyn VectorIndex> {
        Ok(self.indexes[self.index_position(name)?].1.as_ref())
    }

    fn slot_filter<'a>(&'a self, f: FilterFn<'a>) -> impl Fn(u32) -> bool + Sync + 'a {
        move |slot: u32| f(&self.ids[slot as usize], self.meta[slot as usize].as_ref())
    }

    fn hits(&self, found: Vec<Neighbor>) -> Vec<Hit> {
        found
            .into_iter()
            .map(|n| Hit {
                id: self.ids[n.slot as usize].clone(),
                distance: n.distance,
            })
            .collect()
    }

    /// The `k` nearest live vectors to `query` (closest first; ties by
    /// insertion order).
    ///
    /// # Errors
    /// A bad query vector, or an unknown index name.
    pub fn search(&self, query: &[f32], k: usize, options: &SearchOptions<'_>) -> Result<Vec<Hit>> {
        Ok(self.hits(self.search_slots(query, k, options)?))
    }

    /// As [`Collection::search`], returning slots (see [`Collection::id_of_slot`]).
    ///
    /// # Errors
    /// As [`Collection::search`].
    pub fn search_slots(
        &self,
        query: &[f32],
        k: usize,
        options: &SearchOptions<'_>,
    ) -> Result<Vec<Neighbor>> {
        self.check_query(query)?;
        let data = self.data();
        let filter = options.filter.map(|f| self.slot_filter(f));
        let filter_ref: Option<&dyn Fn(u32) -> bool> =
            filter.as_ref().map(|f| f as &dyn Fn(u32) -> bool);
        let index: Option<&dyn VectorIndex> = match options.index {
            Some(name) => Some(self.index(name)?),
            None => self.indexes.first().map(|(_, i)| i.as_ref()),
        };
        Ok(match index {
            Some(index) => index.search(&data, query, k, &options.params, filter_ref),
            None => flat::knn(&data, query, k, filter_ref),
        })
    }

    fn check_query(&self, query: &[f32]) -> Result<()> {
        if query.len() != self.config.dim {
            return Err(VectorError::WrongDimension {
                expected: self.config.dim,
                got: query.len(),
            });
        }
        Ok(())
    }

    /// Exact k-NN for many row-major queries at once (parallel and blocked;
    /// see [`flat::knn_batch`]).
    ///
    /// # Errors
    /// [`VectorError::WrongDimension`] when `queries.len()` is not a multiple
    /// of the dimension.
    pub fn search_exact_batch(
        &self,
        queries: &[f32],
        k: usize,
        filter: Option<FilterFn<'_>>,
    ) -> Result<Vec<Vec<Hit>>> {
        let extra = queries.len() % self.config.dim;
        if extra != 0 {
            return Err(VectorError::WrongDimension {
                expected: self.config.dim,
                got: extra,
            });
        }
        let filter = filter.map(|f| self.slot_filter(f));
        let filter_ref: Option<&(dyn Fn(u32) -> bool + Sync)> =
            filter.as_ref().map(|f| f as &(dyn Fn(u32) -> bool + Sync));
        let found = flat::knn_batch(&self.data(), queries, k, filter_ref);
        Ok(found.into_iter().map(|f| self.hits(f)).collect())
    }

    /// [`Collection::search`] for many row-major queries, in parallel (rayon).
    ///
    /// # Errors
    /// [`VectorError::WrongDimension`] when `queries.len()` is not a multiple
    /// of the dimension, or an unknown index name.
    pub fn search_batch(
        &self,
        queries: &[f32],
        k: usize,
        options: &SearchOptions<'_>,
    ) -> Result<Vec<Vec<Hit>>> {
        use rayon::prelude::*;
        let dim = self.config.dim;
        let extra = queries.len() % dim;
        if extra != 0 {
            return Err(VectorError::WrongDimension {
                expected: dim,
                got: extra,
            });
        }
        queries
            .par_chunks_exact(dim)
            .map(|q| self.search(q, k, options))
            .collect()
    }

    /// Every live vector within `radius` of `query` (inclusive), closest first.
    ///
    /// # Errors
    /// A bad query vector.
    pub fn range_search(
        &self,
        query: &[f32],
        radius: f32,
        filter: Option<FilterFn<'_>>,
    ) -> Result<Vec<Hit>> {
        self.check_query(query)?;
        let filter = filter.map(|f| self.slot_filter(f));
        let filter_ref: Option<&dyn Fn(u32) -> bool> =
            filter.as_ref().map(|f| f as &dyn Fn(u32) -> bool);
        Ok(self.hits(flat::range(&self.data(), query, radius, filter_ref)))
    }

    /// Drops dead slots (renumbering the live ones in order) and rebuilds
    /// every index from scratch, which also rebuilds HNSW links.
    ///
    /// # Errors
    /// An index build error.
    pub fn compact(&mut self) -> Result<()> {
        let dim = self.config.dim;
        let old = self.rows.as_slice();
        let mut rows = Rows::new();
        let mut ids = Vec::with_capacity(self.n_live);
        let mut meta = Vec::with_capacity(self.n_live);
        for s in 0..self.live.len() {
            if self.live[s] {
                rows.push(&old[s * dim..(s + 1) * dim]);
                ids.push(self.ids[s].clone());
                meta.push(self.meta[s].take());
            }
        }
        self.rows = rows;
        self.slot_of = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i as u32))
            .collect();
        self.ids = ids;
        self.meta = meta;
        self.live = vec![true; self.ids.len()];
        self.n_live = self.ids.len();
        let data = VectorData {
            dim,
            vectors: self.rows.as_slice(),
            live: &self.live,
            all_live: self.n_live == self.live.len(),
            metric: self.metric,
        };
        for (_, index) in &mut self.indexes {
            index.build(&data)?;
        }
        Ok(())
    }
}
