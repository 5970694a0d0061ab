//! Collections: vectors of a fixed dimension with ids, metadata and indexes.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use unidb_common::id::Id;
use unidb_common::value::Value;
use unidb_registry::PluginKind;

use crate::error::{Result, VectorError};
use crate::flat;
use crate::index::{IndexPlugin, VectorData, VectorIndex};
use crate::metric::Metric;
use crate::params::{NoParams, Params};
use crate::quant::pq::{PqConfig, ProductQuantizer};
use crate::quant::sq4::Sq4Quantizer;
use crate::stats::{CollectionMetrics, Stats};
use crate::storage::{to_f16, Fast, Quantizer, RowsRef, Storage, F16_MAX};
use crate::topk::Neighbor;
use crate::transform::kind::{fit_steps, TransformChain, TransformStep};

/// Key/value metadata of one vector (used by search filters), in the
/// value vocabulary both databases share ([`Value`]).
pub type Metadata = BTreeMap<String, Value>;

/// How a collection is configured.
///
/// ```
/// use unidb_vectordb::{Collection, CollectionConfig, Storage};
/// # fn main() -> Result<(), unidb_vectordb::VectorError> {
/// // 8-bit rows for l2, quantizing the value range [-1, 1].
/// let config = CollectionConfig::new(2, "l2")
///     .with_storage(Storage::I8)
///     .with_i8_range(-1.0, 1.0);
/// let mut c = Collection::new(config)?;
/// c.insert(1u64, &[0.5, -0.25], None)?;
/// let v = c.get(1u64)?.vector; // the dequantized values
/// assert!((v[0] - 0.5).abs() <= 1.0 / 254.0 + 1e-6);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct CollectionConfig {
    /// Number of f32 values per vector (for binary metrics: 32-bit words).
    pub dim: usize,
    /// The metric name (a registered metric plugin).
    pub metric: String,
    /// Accept vectors containing NaN (always true for binary metrics; must
    /// be false for i8 storage, which has no NaN code).
    #[cfg_attr(feature = "serde", serde(default))]
    pub allow_nan: bool,
    /// How components are stored (see [`Storage`](crate::Storage)): f32 (default),
    /// f16, or i8 scalar-quantized. f16/i8 need a non-binary metric.
    #[cfg_attr(feature = "serde", serde(default))]
    pub storage: Storage,
    /// i8 storage: the value range `(min, max)` every dimension's
    /// quantizer covers. When `None` the quantizer is trained per
    /// dimension by [`Collection::train_quantizer`] or, at the latest, on
    /// the first [`CollectionConfig::i8_train_rows`] rows (see
    /// [`Storage`](crate::Storage)). Ignored for other storages.
    #[cfg_attr(feature = "serde", serde(default))]
    pub i8_range: Option<(f32, f32)>,
    /// i8 storage without `i8_range`: how many rows are held as f32 before
    /// the quantizer is trained on them (default
    /// [`CollectionConfig::DEFAULT_I8_TRAIN_ROWS`]; at least 1).
    #[cfg_attr(
        feature = "serde",
        serde(default = "CollectionConfig::default_i8_train_rows")
    )]
    pub i8_train_rows: usize,
    /// pq storage: the product quantizer's shape and training
    /// ([`PqConfig`]: `m`, `nbits`, iterations, sample, seed); required
    /// with [`Storage::Pq`], ignored otherwise. Rows are held as f32 until
    /// it is trained, by [`Collection::train`] or on reaching
    /// [`CollectionConfig::i8_train_rows`] rows.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub pq: Option<PqConfig>,
    /// Keep every inserted vector as f32 beside its encoding, and re-score
    /// the candidates of every search exactly on them (FAISS's `RFlat`):
    /// a search fetches `k · k_factor` candidates
    /// ([`SearchOptions::k_factor`]) from the index over the encoded rows
    /// and returns the `k` nearest by the metric on the originals.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "std::ops::Not::not")
    )]
    pub refine: bool,
    /// sq4 storage: train each dimension's range on its `q` and `1 − q`
    /// quantiles instead of its min and max (`0 ≤ q < 0.5`; values beyond
    /// are stored as the extreme level). `None` (the default): min and
    /// max. Ignored for other storages.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub sq4_quantile: Option<f32>,
    /// Transforms applied to every vector before it is stored and to
    /// every query before it is searched (PCA, a rotation, ...; see
    /// [`transform`](crate::transform)), fitted in order on the first
    /// [`CollectionConfig::i8_train_rows`] rows (held as f32 meanwhile,
    /// and searched untransformed) or on the sample given to
    /// [`Collection::train`]. The storage then encodes the transformed
    /// rows (a quantizer is trained on them); with
    /// [`CollectionConfig::refine`] the originals stay untransformed and
    /// re-scoring is exact in the input space. Empty: no transform.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Vec::is_empty")
    )]
    pub transforms: Vec<TransformStep>,
}

impl CollectionConfig {
    /// The default of [`CollectionConfig::i8_train_rows`].
    pub const DEFAULT_I8_TRAIN_ROWS: usize = 1000;

    #[cfg(feature = "serde")]
    fn default_i8_train_rows() -> usize {
        Self::DEFAULT_I8_TRAIN_ROWS
    }

    /// A configuration with `dim` and `metric`, rejecting NaN, f32 storage.
    pub fn new(dim: usize, metric: &str) -> Self {
        CollectionConfig {
            dim,
            metric: metric.to_owned(),
            allow_nan: false,
            storage: Storage::F32,
            i8_range: None,
            i8_train_rows: Self::DEFAULT_I8_TRAIN_ROWS,
            pq: None,
            refine: false,
            sq4_quantile: None,
            transforms: Vec::new(),
        }
    }

    /// The same configuration with transforms fitted on the training
    /// rows ([`CollectionConfig::transforms`]).
    pub fn with_transforms(mut self, steps: Vec<TransformStep>) -> Self {
        self.transforms = steps;
        self
    }

    /// The length of a stored row as the configured transforms declare
    /// it ([`TransformStep::dim_out`]); `dim` without transforms.
    pub fn row_dim(&self) -> usize {
        self.transforms
            .iter()
            .fold(self.dim, |d, step| step.dim_out(d))
    }

    /// The same configuration with product-quantization storage.
    pub fn with_pq(mut self, pq: PqConfig) -> Self {
        self.storage = Storage::Pq;
        self.pq = Some(pq);
        self
    }

    /// The same configuration keeping the original rows for exact
    /// re-scoring ([`CollectionConfig::refine`]).
    pub fn with_refine(mut self, refine: bool) -> Self {
        self.refine = refine;
        self
    }

    /// The same configuration training the i8 quantizer after `rows` rows.
    pub fn with_i8_train_rows(mut self, rows: usize) -> Self {
        self.i8_train_rows = rows;
        self
    }

    /// The same configuration with another storage.
    pub fn with_storage(mut self, storage: Storage) -> Self {
        self.storage = storage;
        self
    }

    /// The same configuration with a fixed i8 quantization range.
    pub fn with_i8_range(mut self, min: f32, max: f32) -> Self {
        self.i8_range = Some((min, max));
        self
    }
}

/// 64 bytes of vector data, 64-byte aligned: the unit of owned storage, so
/// row-major data always starts on a cache line.
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C, align(64))]
pub(crate) struct Line([u8; 64]);

/// Vector storage (encoded rows as bytes): owned, or borrowed from a
/// memory-mapped file.
#[derive(Clone)]
pub(crate) enum Rows {
    Owned {
        lines: Vec<Line>,
        bytes: usize,
    },
    Mapped {
        map: Arc<memmap2::Mmap>,
        offset: usize,
        bytes: usize,
    },
}

impl fmt::Debug for Rows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rows({} bytes)", self.as_bytes().len())
    }
}

impl Rows {
    pub(crate) fn new() -> Self {
        Rows::Owned {
            lines: Vec::new(),
            bytes: 0,
        }
    }

    /// The stored bytes (64-byte aligned: owned lines are, and mapped
    /// sections were checked to start on a multiple of 64 of a page-aligned
    /// map in `persist::open`).
    #[inline]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Rows::Owned { lines, bytes } => &bytemuck::cast_slice::<Line, u8>(lines)[..*bytes],
            Rows::Mapped { map, offset, bytes } => &map[*offset..*offset + *bytes],
        }
    }

    fn make_owned(&mut self) -> (&mut Vec<Line>, &mut usize) {
        if let Rows::Mapped { .. } = self {
            let data = self.as_bytes().to_vec();
            let mut lines = vec![Line([0; 64]); data.len().div_ceil(64)];
            bytemuck::cast_slice_mut::<Line, u8>(&mut lines)[..data.len()].copy_from_slice(&data);
            *self = Rows::Owned {
                lines,
                bytes: data.len(),
            };
        }
        match self {
            Rows::Owned { lines, bytes } => (lines, bytes),
            Rows::Mapped { .. } => unreachable!("converted above"),
        }
    }

    /// Appends encoded bytes.
    pub(crate) fn push(&mut self, v: &[u8]) {
        let (lines, len) = self.make_owned();
        let new_len = *len + v.len();
        if new_len > lines.len() * 64 {
            let want = new_len.div_ceil(64).max(lines.len() * 2);
            lines.resize(want, Line([0; 64]));
        }
        bytemuck::cast_slice_mut::<Line, u8>(lines)[*len..new_len].copy_from_slice(v);
        *len = new_len;
    }

    /// The rows typed by `storage` (the byte length is a multiple of the
    /// value size by construction and by `persist`'s checks). i8 rows
    /// without a quantizer are f32 rows waiting for its training; `norms`
    /// are the i8 rows' code norms (one per row).
    pub(crate) fn view<'a>(
        &'a self,
        storage: Storage,
        quantizer: Option<&'a Quantizer>,
        norms: &'a [f32],
        pq: Option<&'a ProductQuantizer>,
        sq4: Option<&'a Sq4Quantizer>,
    ) -> RowsRef<'a> {
        let b = self.as_bytes();
        match (storage, quantizer, pq) {
            (Storage::F32, ..) | (Storage::I8, None, _) | (Storage::Pq, _, None) => {
                RowsRef::F32(bytemuck::cast_slice(b))
            }
            (Storage::Sq4, ..) => match sq4 {
                None => RowsRef::F32(bytemuck::cast_slice(b)),
                Some(quant) => RowsRef::Sq4 {
                    codes: b,
                    quant,
                    norms,
                },
            },
            (Storage::F16, ..) => RowsRef::F16(bytemuck::cast_slice(b)),
            (Storage::I8, Some(quantizer), _) => RowsRef::I8 {
                codes: bytemuck::cast_slice(b),
                quantizer,
                norms,
            },
            (Storage::Pq, _, Some(pq)) => RowsRef::Pq { codes: b, pq },
        }
    }

    pub(crate) fn is_mapped(&self) -> bool {
        matches!(self, Rows::Mapped { .. })
    }
}

/// One stored vector, as returned by [`Collection::get`] and [`Collection::iter`].
#[derive(Debug, Clone, PartialEq)]
pub struct Record<'a> {
    /// The user id.
    pub id: &'a Id,
    /// The vector: borrowed from storage for f32 collections; for f16 and
    /// i8 storage the decoded values (the half-rounded or dequantized
    /// vector the indexes search over, not the inserted one). With
    /// [`CollectionConfig::refine`] the original as inserted. With fitted
    /// transforms (and no refine) the stored row mapped back by their
    /// inverse (for PCA keeping fewer components, the projection onto
    /// them), or the transformed row when a step has no inverse.
    pub vector: Cow<'a, [f32]>,
    /// Its metadata, if any.
    pub metadata: Option<&'a Metadata>,
}

/// A search hit.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Hit {
    /// The user id.
    pub id: Id,
    /// Distance to the query (smaller is closer).
    pub distance: f32,
}

/// A filter on ids and metadata.
pub type FilterFn<'a> = &'a (dyn Fn(&Id, Option<&Metadata>) -> bool + Sync);

/// Options of [`Collection::search_with`].
///
/// ```
/// use unidb_vectordb::hnsw::HnswSearch;
/// use unidb_vectordb::{Collection, CollectionConfig, Params, SearchOptions};
/// # fn main() -> Result<(), unidb_vectordb::VectorError> {
/// let mut c = Collection::new(CollectionConfig::new(1, "l2"))?;
/// for i in 0..100u64 {
///     c.insert(i, &[i as f32], None)?;
/// }
/// c.create_index("graph", "hnsw", Params::defaults())?;
/// let even = |id: &unidb_vectordb::Id, _: Option<&unidb_vectordb::Metadata>| {
///     matches!(id, unidb_vectordb::Id::Num(n) if n % 2 == 0)
/// };
/// let wide = HnswSearch { ef: Some(200) };
/// let options = SearchOptions {
///     index: Some("graph"),
///     params: Params::typed(&wide),
///     filter: Some(&even),
///     k_factor: None,
/// };
/// assert_eq!(c.search_with(&[7.2], 1, &options)?[0].id, 8u64.into());
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Default)]
pub struct SearchOptions<'a> {
    /// The attached index to use; `None` uses the first attached index, or
    /// exact search when none is attached.
    pub index: Option<&'a str>,
    /// The index's search parameters (e.g.
    /// [`HnswSearch`](crate::hnsw::HnswSearch),
    /// [`IvfSearch`](crate::ivf::IvfSearch)); the defaults when not given.
    /// An exact search without an index takes none.
    pub params: Params<'a>,
    /// Only vectors for which this returns true are returned.
    pub filter: Option<FilterFn<'a>>,
    /// With [`CollectionConfig::refine`]: fetch `⌈k · k_factor⌉`
    /// candidates from the index (FAISS's `k_factor_rf`; at least 1,
    /// `None` is 1) and return the `k` nearest on the original rows.
    /// Ignored without refine.
    pub k_factor: Option<f32>,
}

impl fmt::Debug for SearchOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SearchOptions")
            .field("index", &self.index)
            .field("params", &self.params)
            .field("filter", &self.filter.is_some())
            .field("k_factor", &self.k_factor)
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
    /// The i8 quantizer, once fixed (always `None` for f32/f16; `None` for
    /// i8 while the rows wait as f32 for training).
    pub(crate) quantizer: Option<Quantizer>,
    /// With a quantizer: each row's [`Quantizer::code_norm`] (derived from
    /// the codes, never saved).
    pub(crate) norms: Vec<f32>,
    /// The product quantizer of pq storage, once trained.
    pub(crate) pq: Option<ProductQuantizer>,
    /// The 4-bit scalar quantizer of sq4 storage, once trained (its rows'
    /// decoded squared norms are in `norms`).
    pub(crate) sq4: Option<Sq4Quantizer>,
    /// With [`CollectionConfig::refine`]: every slot's vector as f32.
    pub(crate) originals: Option<Rows>,
    /// The fitted [`CollectionConfig::transforms`] (`None` without
    /// transforms, and while they await fitting).
    pub(crate) transform: Option<TransformChain>,
    pub(crate) ids: Vec<Id>,
    pub(crate) meta: Vec<Option<Metadata>>,
    pub(crate) live: Vec<bool>,
    pub(crate) n_live: usize,
    pub(crate) slot_of: HashMap<Id, u32>,
    pub(crate) indexes: Vec<(String, Box<dyn VectorIndex>)>,
    /// Search and insert figures ([`Collection::metrics`]).
    pub(crate) stats: Stats,
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
    /// [`VectorError::InvalidConfig`] for dimension 0, an unknown metric, a
    /// binary metric with f16/i8 storage, `allow_nan` with i8 storage, a
    /// non-finite `i8_range` or `i8_train_rows` 0; [`VectorError::Kernels`]
    /// when `UNIDB_ISA` is invalid ([`unidb_kernels::Kernels::try_active`]).
    pub fn new(config: CollectionConfig) -> Result<Self> {
        unidb_kernels::Kernels::try_active()?;
        if config.dim == 0 {
            return Err(VectorError::InvalidConfig(
                "dimension must be at least 1".into(),
            ));
        }
        let metric = Metric::by_name(&config.metric)?;
        let quantizer = validate_storage(&config, metric)?;
        let originals = config.refine.then(Rows::new);
        Ok(Collection {
            config,
            metric,
            rows: Rows::new(),
            quantizer,
            norms: Vec::new(),
            pq: None,
            sq4: None,
            originals,
            transform: None,
            ids: Vec::new(),
            meta: Vec::new(),
            live: Vec::new(),
            n_live: 0,
            slot_of: HashMap::new(),
            indexes: Vec::new(),
            stats: Stats::default(),
        })
    }

    /// An empty collection described by a FAISS `index_factory` string
    /// (see [`factory`](crate::factory)): its storage from the encoding
    /// (`Flat` f32, `SQfp16` f16, `SQ8` i8, `PQ{M}x{nbits}` and
    /// `PQ{M}x4fs` pq), the originals kept for re-scoring with `RFlat`
    /// ([`CollectionConfig::refine`]; FAISS's `k_factor_rf` is
    /// [`SearchOptions::k_factor`]), and one index attached, named after
    /// its plugin (`flat`, `hnsw` or `ivf`). `PCA{d}`, `PCAW{d}` and
    /// `PCAR{d}` prefixes become [`CollectionConfig::transforms`], fitted
    /// with the quantizer on the first rows (see
    /// [`FactorySpec::transform_steps`](crate::factory::FactorySpec::transform_steps)).
    ///
    /// As in FAISS, an IVF index is trained: its lists are made when the
    /// index is built, so insert the vectors (or a representative
    /// sample), then [`Collection::rebuild_index`]; vectors inserted
    /// before that are scanned exhaustively. An i8 or pq collection
    /// trains its quantizer on its first
    /// [`CollectionConfig::i8_train_rows`] rows, or when
    /// [`Collection::train`] is called.
    ///
    /// ```
    /// use unidb_vectordb::{Collection, Storage};
    /// # fn main() -> Result<(), unidb_vectordb::VectorError> {
    /// let mut c = Collection::from_factory(2, "l2", "HNSW16,SQfp16")?;
    /// assert_eq!((c.storage(), c.index_names()), (Storage::F16, vec!["hnsw".to_owned()]));
    /// c.insert_rows(0u64..3, &[0.0, 0.0, 1.0, 0.0, 5.0, 5.0])?;
    /// assert_eq!(c.search(&[0.9, 0.1], 1)?[0].id, 1u64.into());
    /// let err = Collection::from_factory(64, "l2", "OPQ16,IVF256,PQ16x4fs,RFlat").unwrap_err();
    /// assert!(err.to_string().contains("OPQ16"));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`VectorError::Factory`]: a string that does not parse, a spec
    /// that does not fit `dim`, or one holding parts this build cannot
    /// construct yet (`OPQ`, RaBitQ, and `PCA` without the
    /// `linalg` feature:
    /// [`FactoryError::Unsupported`](crate::factory::FactoryError::Unsupported));
    /// otherwise as [`Collection::new`] and [`Collection::create_index`].
    pub fn from_factory(dim: usize, metric: &str, factory: &str) -> Result<Self> {
        let (config, index) = crate::factory::spec_for(dim, metric, factory)?;
        let mut c = Collection::new(config)?;
        c.create_index(index.plugin(), index.plugin(), index.params())?;
        Ok(c)
    }

    /// Rebuilds the attached index `name` from scratch over the live
    /// vectors (an IVF index retrains its lists; HNSW relinks).
    ///
    /// # Errors
    /// [`VectorError::UnknownIndex`], or the index's build error.
    pub fn rebuild_index(&mut self, name: &str) -> Result<()> {
        let pos = self.index_position(name)?;
        self.build_indexes(|i| i == pos)
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

    /// The storage kind.
    pub fn storage(&self) -> Storage {
        self.config.storage
    }

    /// The i8 quantizer once fixed (`None` for f32/f16 storage, and for i8
    /// before training).
    pub fn quantizer(&self) -> Option<&Quantizer> {
        self.quantizer.as_ref()
    }

    /// The product quantizer of a pq collection, once trained.
    pub fn product_quantizer(&self) -> Option<&ProductQuantizer> {
        self.pq.as_ref()
    }

    /// The 4-bit scalar quantizer of an sq4 collection, once trained.
    pub fn sq4_quantizer(&self) -> Option<&Sq4Quantizer> {
        self.sq4.as_ref()
    }

    /// Whether this is an i8, pq or sq4 collection whose quantizer is not
    /// trained yet (its rows are held as f32 meanwhile).
    pub fn is_awaiting_training(&self) -> bool {
        if self.is_awaiting_transform() {
            return true;
        }
        match self.config.storage {
            Storage::I8 => self.quantizer.is_none(),
            Storage::Pq => self.pq.is_none(),
            Storage::Sq4 => self.sq4.is_none(),
            _ => false,
        }
    }

    /// Whether the configured transforms are not fitted yet (the rows are
    /// held untransformed as f32 meanwhile).
    pub fn is_awaiting_transform(&self) -> bool {
        !self.config.transforms.is_empty() && self.transform.is_none()
    }

    /// The fitted transforms, once fitted.
    pub fn transform(&self) -> Option<&TransformChain> {
        self.transform.as_ref()
    }

    /// The length of a stored row: the fitted transforms' output
    /// dimension, else the dimension.
    pub fn row_dim(&self) -> usize {
        self.transform
            .as_ref()
            .map_or(self.config.dim, TransformChain::dim_out)
    }

    /// A query (or rows of queries) as the stored rows are searched: put
    /// through the fitted transforms (unchanged without them).
    fn to_row_space<'q>(&self, query: &'q [f32]) -> Result<Cow<'q, [f32]>> {
        match &self.transform {
            None => Ok(Cow::Borrowed(query)),
            Some(t) => Ok(Cow::Owned(t.apply(query)?)),
        }
    }

    /// Bytes of one row in its encoding: the row length (the dimension,
    /// or the transforms' output) `×` 4, 2 or 1, the product quantizer's
    /// code bytes, or half the row length, rounded up, for sq4 (4 per
    /// value while an i8, pq or sq4 collection awaits training). The
    /// originals kept by
    /// [`CollectionConfig::refine`] are extra ([`Collection::refine_bytes`]).
    pub fn bytes_per_vector(&self) -> usize {
        match (&self.pq, self.row_storage()) {
            (Some(pq), Storage::Pq) => pq.code_bytes(),
            (_, Storage::Sq4) => self.row_dim().div_ceil(2),
            (_, storage) => self.row_dim() * storage.bytes_per_value(),
        }
    }

    /// Bytes of the f32 originals kept for exact re-scoring (0 without
    /// [`CollectionConfig::refine`]).
    pub fn refine_bytes(&self) -> usize {
        self.originals.as_ref().map_or(0, |o| o.as_bytes().len())
    }

    /// The rows as the indexes see them.
    pub(crate) fn rows_ref(&self) -> RowsRef<'_> {
        self.rows.view(
            self.row_storage(),
            self.quantizer.as_ref(),
            &self.norms,
            self.pq.as_ref(),
            self.sq4.as_ref(),
        )
    }

    /// How the rows are encoded now: the storage, except f32 for an i8
    /// collection awaiting training.
    pub(crate) fn row_storage(&self) -> Storage {
        if self.is_awaiting_training() {
            Storage::F32
        } else {
            self.config.storage
        }
    }

    /// Bytes the stored rows take (every slot, deleted ones included, until
    /// [`Collection::compact`]; 4 per value for an i8 collection awaiting
    /// training); indexes are extra.
    pub fn vector_bytes(&self) -> usize {
        self.rows.as_bytes().len()
    }

    /// Trains the i8 quantizer now, per dimension, on the row-major
    /// `sample` vectors together with the rows already stored: the min and
    /// max of their finite values in each dimension (symmetric around zero
    /// for `ip` and `cosine`; see [`Storage`](crate::Storage)). The stored
    /// rows are then encoded and every index is rebuilt. Without a call,
    /// the collection trains itself on its first
    /// [`CollectionConfig::i8_train_rows`] rows; `train_quantizer(&[])`
    /// trains on the rows stored so far. Once trained, a value that does
    /// not fit is refused ([`VectorError::OutOfRange`]).
    ///
    /// ```
    /// use unidb_vectordb::{Collection, CollectionConfig, Storage, VectorError};
    /// # fn main() -> Result<(), VectorError> {
    /// let mut c = Collection::new(CollectionConfig::new(2, "l2").with_storage(Storage::I8))?;
    /// c.insert(1u64, &[0.0, 100.0], None)?;
    /// c.insert(2u64, &[1.0, 110.0], None)?;
    /// let q = c.train_quantizer(&[])?; // dimension 0 spans [0, 1], 1 spans [100, 110]
    /// assert_eq!(q.offsets, vec![0.5, 105.0]);
    /// let err = c.insert(3u64, &[0.0, 200.0], None).unwrap_err();
    /// assert!(matches!(err, VectorError::OutOfRange { position: 1, .. }));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`VectorError::InvalidConfig`] when the storage is not i8, a range
    /// was configured, the quantizer is already trained, or neither the
    /// sample nor the stored rows hold a finite value;
    /// [`VectorError::WrongDimension`] when the sample's length is not a
    /// multiple of the dimension; an index's build error.
    pub fn train_quantizer(&mut self, sample: &[f32]) -> Result<Quantizer> {
        if self.config.storage != Storage::I8 {
            return Err(VectorError::InvalidConfig(format!(
                "train_quantizer needs i8 storage, this collection stores {}",
                self.config.storage
            )));
        }
        if self.config.i8_range.is_some() {
            return Err(VectorError::InvalidConfig(
                "the i8 range is fixed by the configuration".into(),
            ));
        }
        if self.quantizer.is_some() {
            return Err(VectorError::InvalidConfig(
                "the i8 quantizer is already trained".into(),
            ));
        }
        let extra = sample.len() % self.config.dim;
        if extra != 0 {
            return Err(VectorError::WrongDimension {
                expected: self.config.dim,
                got: extra,
            });
        }
        let sample = self.to_row_space(sample)?;
        self.train_with(&sample)?;
        Ok(self.quantizer.clone().expect("trained above"))
    }

    /// Trains the quantizer of an i8 collection awaiting training on its
    /// stored rows plus `extra` (row-major), encodes the rows and rebuilds
    /// the indexes.
    fn train_with(&mut self, extra: &[f32]) -> Result<()> {
        if self.is_awaiting_transform() {
            return self.fit_transforms(extra);
        }
        if self.config.storage == Storage::Pq {
            return self.train_pq(extra);
        }
        if self.config.storage == Storage::Sq4 {
            return self.train_sq4(extra);
        }
        let dim = self.row_dim();
        let stored: &[f32] = bytemuck::cast_slice(self.rows.as_bytes());
        let symmetric = symmetric_for(self.metric);
        let q = Quantizer::train_parts(&[stored, extra], dim, symmetric).ok_or_else(|| {
            VectorError::InvalidConfig("the i8 quantizer needs a finite value to train on".into())
        })?;
        // Every stored value is inside the trained range: nothing clamps.
        let mut codes = vec![0i8; stored.len()];
        q.encode(stored, &mut codes);
        let mut rows = Rows::new();
        rows.push(bytemuck::cast_slice(&codes));
        self.rows = rows;
        self.norms = q.code_norms(&codes);
        self.quantizer = Some(q);
        self.rebuild_indexes()
    }

    /// Fits the configured transforms on the stored (untransformed) rows
    /// plus `extra` (row-major, finite), replaces the stored rows by their
    /// transforms, trains the quantizer (if the storage has one) on them
    /// and `extra` transformed, and rebuilds the indexes. On error the
    /// collection is as it was.
    fn fit_transforms(&mut self, extra: &[f32]) -> Result<()> {
        let dim = self.config.dim;
        let stored: &[f32] = bytemuck::cast_slice(self.rows.as_bytes());
        let sample: Cow<'_, [f32]> = if extra.is_empty() {
            Cow::Borrowed(stored)
        } else {
            Cow::Owned([stored, extra].concat())
        };
        let chain = fit_steps(&sample, dim, &self.config.transforms)?;
        let out = chain.dim_out();
        if out == 0 {
            return Err(VectorError::InvalidConfig(
                "the transforms give rows of 0 values".into(),
            ));
        }
        let transformed = chain.apply(stored)?;
        let extra = chain.apply(extra)?;
        let old_rows = std::mem::replace(&mut self.rows, Rows::new());
        self.transform = Some(chain);
        let committed = self.commit_transformed(&transformed, &extra);
        if committed.is_err() {
            self.rows = old_rows;
            self.transform = None;
            self.quantizer = None;
            self.norms.clear();
            self.pq = None;
            self.sq4 = None;
        }
        committed
    }

    /// With the transforms just fitted: stores the transformed rows in
    /// the storage's encoding (training its quantizer on them and on
    /// `extra`) and rebuilds the indexes.
    fn commit_transformed(&mut self, rows: &[f32], extra: &[f32]) -> Result<()> {
        let dim = self.row_dim();
        for row in rows.chunks_exact(dim).chain(extra.chunks_exact(dim)) {
            self.check_row(row)?;
        }
        let mut stored = Rows::new();
        if self.config.storage == Storage::F16 {
            let mut h = vec![0u16; rows.len()];
            to_f16(rows, &mut h);
            stored.push(bytemuck::cast_slice(&h));
        } else {
            stored.push(bytemuck::cast_slice(rows));
        }
        self.rows = stored;
        if self.is_awaiting_training() {
            // An i8 or pq quantizer, trained on the transformed rows.
            return self.train_with(extra);
        }
        self.rebuild_indexes()
    }

    /// Rebuilds every attached index over the current rows (after the
    /// rows were re-encoded by a trained quantizer).
    fn rebuild_indexes(&mut self) -> Result<()> {
        self.build_indexes(|_| true)
    }

    /// Builds the attached indexes whose position `which` accepts over
    /// [`Collection::data`], stopping at the first error. The indexes are
    /// moved out while they build, so that they can borrow the rows.
    fn build_indexes(&mut self, which: impl Fn(usize) -> bool) -> Result<()> {
        let mut indexes = std::mem::take(&mut self.indexes);
        let data = self.data();
        let built = indexes
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| which(*i))
            .try_for_each(|(_, (_, index))| index.build(&data));
        self.indexes = indexes;
        built
    }

    /// Trains the product quantizer of a pq collection awaiting training
    /// on its stored rows plus `extra`, encodes the rows (in parallel) and
    /// rebuilds the indexes.
    fn train_pq(&mut self, extra: &[f32]) -> Result<()> {
        let dim = self.row_dim();
        let config = self.config.pq.clone().unwrap_or_default();
        let stored: &[f32] = bytemuck::cast_slice(self.rows.as_bytes());
        let sample: Cow<'_, [f32]> = if extra.is_empty() {
            Cow::Borrowed(stored)
        } else {
            Cow::Owned([stored, extra].concat())
        };
        let pq = ProductQuantizer::train(dim, &config, &sample)?;
        let codes = pq.encode_batch(stored)?;
        let mut packed = Vec::with_capacity(codes.len());
        for row in codes.chunks_exact(pq.m()) {
            pq.pack_row(row, &mut packed);
        }
        let mut rows = Rows::new();
        rows.push(&packed);
        self.rows = rows;
        self.pq = Some(pq);
        self.rebuild_indexes()
    }

    /// Trains the 4-bit scalar quantizer of an sq4 collection awaiting
    /// training on its stored rows plus `extra`, encodes the rows and
    /// rebuilds the indexes.
    fn train_sq4(&mut self, extra: &[f32]) -> Result<()> {
        let dim = self.row_dim();
        let stored: &[f32] = bytemuck::cast_slice(self.rows.as_bytes());
        let q = Sq4Quantizer::train_parts(&[stored, extra], dim, self.config.sq4_quantile)
            .ok_or_else(|| {
                VectorError::InvalidConfig(
                    "the sq4 quantizer needs a finite value to train on".into(),
                )
            })?;
        let codes = q.encode_rows(stored);
        self.norms = codes
            .chunks_exact(q.code_bytes())
            .map(|r| q.code_norm(r))
            .collect();
        let mut rows = Rows::new();
        rows.push(&codes);
        self.rows = rows;
        self.sq4 = Some(q);
        self.rebuild_indexes()
    }

    /// Trains the quantizer of an i8, pq or sq4 collection now, on the
    /// row-major `sample` together with the rows already stored (as
    /// [`Collection::train_quantizer`] does for i8), then encodes the
    /// stored rows and rebuilds every index. A pq collection needs at
    /// least `2^nbits` vectors in all. A collection with
    /// [`CollectionConfig::transforms`] not fitted yet fits them first on
    /// the same rows, whatever its storage, then trains its quantizer on
    /// the transformed rows.
    ///
    /// # Errors
    /// [`VectorError::InvalidConfig`] when there is nothing to train (no
    /// transform awaiting its fit, and the storage is not i8, pq or sq4
    /// or its quantizer is already trained); a transform's fitting
    /// errors ([`VectorError::Transform`]);
    /// [`VectorError::WrongDimension`] when the sample's length is not a
    /// multiple of the dimension; the quantizer's training errors.
    pub fn train(&mut self, sample: &[f32]) -> Result<()> {
        if self.is_awaiting_transform() {
            crate::transform::kind::check_finite_rows("sample", sample, self.config.dim)?;
            return self.train_with(sample);
        }
        if self.config.storage == Storage::I8 {
            return self.train_quantizer(sample).map(|_| ());
        }
        let trainable = matches!(self.config.storage, Storage::Pq | Storage::Sq4);
        if !trainable || !self.is_awaiting_training() {
            return Err(VectorError::InvalidConfig(format!(
                "nothing to train: the storage is {}{}",
                self.config.storage,
                if trainable { ", already trained" } else { "" }
            )));
        }
        let extra = sample.len() % self.config.dim;
        if extra != 0 {
            return Err(VectorError::WrongDimension {
                expected: self.config.dim,
                got: extra,
            });
        }
        if let Some(p) = sample.iter().position(|v| !v.is_finite()) {
            return Err(VectorError::OutOfRange {
                position: p % self.config.dim,
                value: sample[p],
                storage: self.config.storage,
            });
        }
        let sample = self.to_row_space(sample)?;
        self.train_with(&sample)
    }

    /// Before `rows` (row-major, checked) are appended: trains the i8 or
    /// pq quantizer on the stored rows and these when that makes
    /// [`CollectionConfig::i8_train_rows`] rows (for pq, at least
    /// `2^nbits`).
    fn train_if_due(&mut self, rows: &[f32]) -> Result<()> {
        let n = rows.len() / self.config.dim;
        let least = match (&self.config.pq, self.config.storage) {
            (Some(p), Storage::Pq) => 1usize << p.nbits.min(8),
            _ => 1,
        };
        let due = self.config.i8_train_rows.max(least);
        if self.is_awaiting_training() && self.live.len() + n >= due {
            self.train_with(rows)?;
        }
        Ok(())
    }

    /// The view indexes work on.
    pub fn data(&self) -> VectorData<'_> {
        VectorData {
            dim: self.row_dim(),
            rows: self.rows_ref(),
            live: &self.live,
            all_live: self.n_live == self.live.len(),
            metric: self.metric,
        }
    }

    /// Checks a vector's dimension, (unless allowed) NaN, and that the
    /// storage can hold it: f16 up to ±65504; i8 finite values only and,
    /// once the quantizer is trained, within half a step of each
    /// dimension's range ([`Quantizer::bounds`]).
    ///
    /// # Errors
    /// [`VectorError::WrongDimension`], [`VectorError::NaN`] or
    /// [`VectorError::OutOfRange`] (naming the first such position).
    pub fn check(&self, vector: &[f32]) -> Result<()> {
        self.check_input(vector)?;
        match &self.transform {
            Some(t) => self.check_row(&t.apply(vector)?),
            None if self.is_awaiting_transform() => Ok(()),
            None => self.check_row(vector),
        }
    }

    /// Checks an input vector's dimension and (unless allowed) NaN; with
    /// transforms, that every value is finite.
    fn check_input(&self, vector: &[f32]) -> Result<()> {
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
        if !self.config.transforms.is_empty() {
            crate::transform::kind::check_finite_rows("vector", vector, self.config.dim)?;
        }
        Ok(())
    }

    /// Checks that the storage can hold a row (as stored: transformed
    /// when there are transforms).
    fn check_row(&self, vector: &[f32]) -> Result<()> {
        if self.config.storage == Storage::F16 {
            if let Some(position) = vector
                .iter()
                .position(|v| v.is_finite() && v.abs() > F16_MAX)
            {
                return Err(VectorError::OutOfRange {
                    position,
                    value: vector[position],
                    storage: Storage::F16,
                });
            }
        }
        if matches!(self.config.storage, Storage::Pq | Storage::Sq4) {
            if let Some(position) = vector.iter().position(|v| !v.is_finite()) {
                return Err(VectorError::OutOfRange {
                    position,
                    value: vector[position],
                    storage: self.config.storage,
                });
            }
        }
        if self.config.storage == Storage::I8 {
            let refused = match &self.quantizer {
                None => vector.iter().position(|v| !v.is_finite()),
                Some(q) => (0..vector.len()).find(|&j| q.encode_one(vector[j], j).is_none()),
            };
            if let Some(position) = refused {
                return Err(VectorError::OutOfRange {
                    position,
                    value: vector[position],
                    storage: Storage::I8,
                });
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
        self.check_input(vector)?;
        let rows = self.prepare(vector)?;
        self.append(id, vector, &rows, metadata)
    }

    /// Checks row-major input `vectors` (see [`Collection::check`]),
    /// trains what is due on them, and returns them as they are stored
    /// (transformed when there are fitted transforms, as one batch).
    fn prepare<'v>(&mut self, vectors: &'v [f32]) -> Result<Cow<'v, [f32]>> {
        let dim = self.config.dim;
        for row in vectors.chunks_exact(dim) {
            self.check_input(row)?;
        }
        let mut rows = self.to_row_space(vectors)?;
        if !self.is_awaiting_transform() {
            for row in rows.chunks_exact(self.row_dim()) {
                self.check_row(row)?;
            }
        }
        let fitted = self.transform.is_some();
        self.train_if_due(vectors)?;
        if !fitted && self.transform.is_some() {
            rows = self.to_row_space(vectors)?;
        }
        Ok(rows)
    }

    /// Adds many vectors at once: `ids[i]` gets row `i` of the row-major
    /// `vectors` (no metadata; [`Collection::insert_rows_with`] takes it).
    /// Everything is validated before anything is stored, so an error
    /// leaves the collection unchanged. When the rows make an i8
    /// collection awaiting training reach
    /// [`CollectionConfig::i8_train_rows`], the quantizer is trained on the
    /// stored rows and the whole batch.
    ///
    /// ```
    /// use unidb_vectordb::{Collection, CollectionConfig, Storage};
    /// # fn main() -> Result<(), unidb_vectordb::VectorError> {
    /// let config = CollectionConfig::new(2, "l2").with_storage(Storage::I8).with_i8_train_rows(3);
    /// let mut c = Collection::new(config)?;
    /// c.insert_rows(0u64..3, &[0.0, 0.0, 1.0, 1.0, 2.0, 2.0])?;
    /// assert_eq!(c.len(), 3);
    /// assert_eq!(c.quantizer().unwrap().scales, vec![2.0 / 254.0; 2]); // range [0, 2]
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`VectorError::WrongDimension`] when `vectors.len()` is not
    /// `ids.len() × dim`, a bad row (see [`Collection::check`]), or
    /// [`VectorError::DuplicateId`] for an id present or repeated.
    pub fn insert_rows<I: Into<Id>>(
        &mut self,
        ids: impl IntoIterator<Item = I>,
        vectors: &[f32],
    ) -> Result<()> {
        self.insert_batch(ids.into_iter().map(Into::into).collect(), vectors, None)
    }

    /// [`Collection::insert_rows`] with metadata: `metadata[i]` belongs
    /// to row `i` (as fast: one validation pass, then one append per row).
    ///
    /// ```
    /// use unidb_vectordb::{Collection, CollectionConfig, Metadata, Value};
    /// # fn main() -> Result<(), unidb_vectordb::VectorError> {
    /// let mut c = Collection::new(CollectionConfig::new(1, "l2"))?;
    /// let tag = |t: &str| Some(Metadata::from([("tag".to_owned(), Value::from(t))]));
    /// c.insert_rows_with(["a", "b"], &[0.0, 1.0], [tag("x"), None])?;
    /// assert_eq!(c.get("a")?.metadata, tag("x").as_ref());
    /// assert_eq!(c.get("b")?.metadata, None);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Collection::insert_rows`], and
    /// [`VectorError::WrongDimension`] when there are not as many metadata
    /// entries as ids (`expected` the ids, `got` the entries).
    pub fn insert_rows_with<I: Into<Id>>(
        &mut self,
        ids: impl IntoIterator<Item = I>,
        vectors: &[f32],
        metadata: impl IntoIterator<Item = Option<Metadata>>,
    ) -> Result<()> {
        let ids: Vec<Id> = ids.into_iter().map(Into::into).collect();
        let metadata: Vec<Option<Metadata>> = metadata.into_iter().collect();
        if metadata.len() != ids.len() {
            return Err(VectorError::WrongDimension {
                expected: ids.len(),
                got: metadata.len(),
            });
        }
        self.insert_batch(ids, vectors, Some(metadata))
    }

    fn insert_batch(
        &mut self,
        ids: Vec<Id>,
        vectors: &[f32],
        metadata: Option<Vec<Option<Metadata>>>,
    ) -> Result<()> {
        let dim = self.config.dim;
        if ids.len().checked_mul(dim) != Some(vectors.len()) {
            return Err(VectorError::WrongDimension {
                expected: ids.len().saturating_mul(dim),
                got: vectors.len(),
            });
        }
        let mut seen = std::collections::HashSet::with_capacity(ids.len());
        for id in &ids {
            if self.slot_of.contains_key(id) || !seen.insert(id) {
                return Err(VectorError::DuplicateId(id.clone()));
            }
        }
        let rows = self.prepare(vectors)?;
        let row_dim = self.row_dim();
        let encoded = self.encode_pq_batch(&rows);
        let mut metadata = metadata.map(Vec::into_iter);
        for (i, ((id, vector), row)) in ids
            .into_iter()
            .zip(vectors.chunks_exact(dim))
            .zip(rows.chunks_exact(row_dim))
            .enumerate()
        {
            let m = metadata.as_mut().and_then(|m| m.next().flatten());
            let code = encoded.as_ref().map(|(w, e)| &e[i * w..(i + 1) * w]);
            self.append_encoded(id, vector, row, code, m)?;
        }
        Ok(())
    }

    /// A trained pq collection's packed codes of many (checked, and
    /// transformed when there are transforms) rows,
    /// encoded in parallel (rayon), with the bytes per row; `None` for
    /// other storages and small batches, whose rows `push_row` encodes
    /// one by one (the same codes).
    fn encode_pq_batch(&self, vectors: &[f32]) -> Option<(usize, Vec<u8>)> {
        const PARALLEL_ROWS: usize = 64;
        let pq = self.pq.as_ref()?;
        if self.config.storage != Storage::Pq || vectors.len() < PARALLEL_ROWS * self.row_dim() {
            return None;
        }
        let codes = pq.encode_batch(vectors).ok()?;
        let mut packed = Vec::with_capacity(codes.len() / pq.m() * pq.code_bytes());
        for row in codes.chunks_exact(pq.m()) {
            pq.pack_row(row, &mut packed);
        }
        Some((pq.code_bytes(), packed))
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
        self.check_input(vector)?;
        let rows = self.prepare(vector)?;
        if let Some(slot) = self.slot_of.remove(&id) {
            self.kill(slot);
        }
        self.append(id, vector, &rows, metadata)
    }

    /// Appends a checked vector: `vector` as given (kept as the original),
    /// `row` as stored (transformed when there are fitted transforms).
    fn append(
        &mut self,
        id: Id,
        vector: &[f32],
        row: &[f32],
        metadata: Option<Metadata>,
    ) -> Result<()> {
        self.append_encoded(id, vector, row, None, metadata)
    }

    /// [`Collection::append`] with the row's pq code when already encoded.
    fn append_encoded(
        &mut self,
        id: Id,
        vector: &[f32],
        row: &[f32],
        code: Option<&[u8]>,
        metadata: Option<Metadata>,
    ) -> Result<()> {
        let slot = self.live.len();
        if slot >= u32::MAX as usize {
            return Err(VectorError::Full(slot));
        }
        let slot = slot as u32;
        match code {
            Some(code) => {
                if let Some(o) = &mut self.originals {
                    o.push(bytemuck::cast_slice(vector));
                }
                self.rows.push(code);
            }
            None => self.push_row(vector, row),
        }
        self.ids.push(id.clone());
        self.meta.push(metadata);
        self.live.push(true);
        self.n_live += 1;
        self.slot_of.insert(id, slot);
        let data = VectorData {
            dim: self.row_dim(),
            rows: self.rows.view(
                self.row_storage(),
                self.quantizer.as_ref(),
                &self.norms,
                self.pq.as_ref(),
                self.sq4.as_ref(),
            ),
            live: &self.live,
            all_live: self.n_live == self.live.len(),
            metric: self.metric,
        };
        self.stats.inserted();
        for (_, index) in &mut self.indexes {
            index.insert(&data, slot)?;
        }
        Ok(())
    }

    /// Encodes and stores one (checked) vector: as f32 while an i8
    /// collection awaits training.
    fn push_row(&mut self, original: &[f32], vector: &[f32]) {
        if let Some(o) = &mut self.originals {
            o.push(bytemuck::cast_slice(original));
        }
        match self.row_storage() {
            Storage::F32 => self.rows.push(bytemuck::cast_slice(vector)),
            Storage::F16 => {
                let mut h = vec![0u16; vector.len()];
                to_f16(vector, &mut h);
                self.rows.push(bytemuck::cast_slice(&h));
            }
            Storage::I8 => match &self.quantizer {
                None => self.rows.push(bytemuck::cast_slice(vector)),
                Some(q) => {
                    // `check` refused what does not fit: nothing clamps.
                    let mut c = vec![0i8; vector.len()];
                    q.encode(vector, &mut c);
                    self.norms.push(q.code_norm(&c));
                    self.rows.push(bytemuck::cast_slice(&c));
                }
            },
            Storage::Pq => match &self.pq {
                None => self.rows.push(bytemuck::cast_slice(vector)),
                Some(pq) => {
                    // `check` made sure of the length and finite values.
                    let codes = pq.encode(vector).unwrap_or_default();
                    let mut row = Vec::with_capacity(pq.code_bytes());
                    pq.pack_row(&codes, &mut row);
                    self.rows.push(&row);
                }
            },
            Storage::Sq4 => match &self.sq4 {
                None => self.rows.push(bytemuck::cast_slice(vector)),
                Some(q) => {
                    let mut row = vec![0u8; q.code_bytes()];
                    q.encode_row(vector, &mut row);
                    self.norms.push(q.code_norm(&row));
                    self.rows.push(&row);
                }
            },
        }
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
        let originals = self
            .originals
            .as_ref()
            .map(|o| RowsRef::F32(bytemuck::cast_slice(o.as_bytes())));
        let vector = match (originals, &self.transform) {
            (Some(RowsRef::F32(r)), _) => Cow::Borrowed(&r[s * dim..(s + 1) * dim]),
            (_, Some(t)) => {
                // The stored row mapped back when the transforms have an
                // inverse, else as stored.
                let rd = t.dim_out();
                let mut v = vec![0.0; rd];
                self.data().rows.decode_into(s * rd, &mut v);
                match t.inverse(&v) {
                    Ok(back) => Cow::Owned(back),
                    Err(_) => Cow::Owned(v),
                }
            }
            (_, None) => match self.data().rows {
                RowsRef::F32(r) => Cow::Borrowed(&r[s * dim..(s + 1) * dim]),
                rows => {
                    let mut v = vec![0.0; dim];
                    rows.decode_into(s * dim, &mut v);
                    Cow::Owned(v)
                }
            },
        };
        Record {
            id: &self.ids[s],
            vector,
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

    /// Attaches an index built by the plugin `kind` with build parameters
    /// `params` under `name`, building it over the current vectors. Later
    /// inserts update it.
    ///
    /// # Errors
    /// Unknown plugin, duplicate name, the parameters' errors
    /// ([`VectorError::UnknownParam`], [`VectorError::InvalidParam`]), or
    /// the index's build error.
    pub fn create_index(&mut self, name: &str, kind: &str, params: Params<'_>) -> Result<()> {
        if self.indexes.iter().any(|(n, _)| n == name) {
            return Err(VectorError::InvalidConfig(format!(
                "an index named {name:?} exists"
            )));
        }
        let plugin = IndexPlugin::registry().get(kind)?;
        let mut index = (plugin.create)(params)?;
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
    /// insertion order), by the first attached index with its default
    /// search parameters, or exactly when none is attached.
    ///
    /// A query must be finite (NaN or an infinity is
    /// [`VectorError::NonFiniteQuery`]; binary metrics take any bits).
    /// Under `cosine` a zero query is at distance 1 from every non-zero
    /// vector and 0 from a zero vector (the cosine kernels' rule), so an
    /// exact search returns the zero vectors first, then the others in
    /// insertion order; an index returns `k` vectors at distance 1.
    ///
    /// # Errors
    /// A bad query vector ([`VectorError::WrongDimension`],
    /// [`VectorError::NonFiniteQuery`]).
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>> {
        self.search_with(query, k, &SearchOptions::default())
    }

    /// [`Collection::search`] with a chosen index, search parameters and
    /// filter.
    ///
    /// # Errors
    /// A bad query vector, an unknown index name, or search parameters the
    /// index refuses ([`VectorError::UnknownParam`],
    /// [`VectorError::InvalidParam`]).
    pub fn search_with(
        &self,
        query: &[f32],
        k: usize,
        options: &SearchOptions<'_>,
    ) -> Result<Vec<Hit>> {
        Ok(self.hits(self.search_slots(query, k, options)?))
    }

    /// As [`Collection::search_with`], returning slots (see
    /// [`Collection::id_of_slot`]).
    ///
    /// # Errors
    /// As [`Collection::search_with`].
    pub fn search_slots(
        &self,
        query: &[f32],
        k: usize,
        options: &SearchOptions<'_>,
    ) -> Result<Vec<Neighbor>> {
        let timer = self.stats.start();
        let found = self.search_slots_untimed(query, k, options);
        match found {
            Ok(_) => self.stats.answered(timer),
            Err(_) => timer.discard(),
        }
        found
    }

    fn search_slots_untimed(
        &self,
        query: &[f32],
        k: usize,
        options: &SearchOptions<'_>,
    ) -> Result<Vec<Neighbor>> {
        self.check_query(query)?;
        let row_query = self.to_row_space(query)?;
        self.search_prepared(query, &row_query, k, options)
    }

    /// A search with a checked query, `row_query` being it as the rows
    /// are stored (transformed when there are fitted transforms).
    fn search_prepared(
        &self,
        query: &[f32],
        row_query: &[f32],
        k: usize,
        options: &SearchOptions<'_>,
    ) -> Result<Vec<Neighbor>> {
        let data = self.data();
        let filter = options.filter.map(|f| self.slot_filter(f));
        let filter_ref: Option<&dyn Fn(u32) -> bool> =
            filter.as_ref().map(|f| f as &dyn Fn(u32) -> bool);
        let index: Option<&dyn VectorIndex> = match options.index {
            Some(name) => Some(self.index(name)?),
            None => self.indexes.first().map(|(_, i)| i.as_ref()),
        };
        let fetch = match (&self.originals, options.k_factor) {
            (Some(_), Some(f)) if !(f.is_finite() && f >= 1.0) => {
                return Err(VectorError::InvalidConfig(format!(
                    "k_factor must be a finite number of at least 1, got {f}"
                )))
            }
            (Some(_), Some(f)) => ((k as f64 * f64::from(f)).ceil() as usize).max(k),
            _ => k,
        };
        let found = match index {
            Some(index) => index.search(&data, row_query, fetch, options.params, filter_ref)?,
            None => {
                options.params.get::<NoParams>("exact search")?;
                flat::knn(&data, row_query, fetch, filter_ref)
            }
        };
        Ok(self.rerank(query, found, k))
    }

    /// With originals kept: the `k` nearest of `found` by the metric on
    /// the original rows (ties by slot); otherwise `found` as it is.
    fn rerank(&self, query: &[f32], mut found: Vec<Neighbor>, k: usize) -> Vec<Neighbor> {
        let Some(originals) = &self.originals else {
            return found;
        };
        let rows: &[f32] = bytemuck::cast_slice(originals.as_bytes());
        let dim = self.config.dim;
        for n in &mut found {
            let s = n.slot as usize * dim;
            n.distance = self.metric.distance(query, &rows[s..s + dim]);
        }
        found.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.slot.cmp(&b.slot)));
        found.truncate(k);
        found
    }

    /// The rows exact searches run over: the originals when kept, else
    /// the stored rows; and `queries` in their space (put through the
    /// fitted transforms when the stored rows are searched).
    fn exact_data<'q>(&self, queries: &'q [f32]) -> Result<(VectorData<'_>, Cow<'q, [f32]>)> {
        match &self.originals {
            Some(o) => Ok((
                VectorData {
                    dim: self.config.dim,
                    rows: RowsRef::F32(bytemuck::cast_slice(o.as_bytes())),
                    ..self.data()
                },
                Cow::Borrowed(queries),
            )),
            None => Ok((self.data(), self.to_row_space(queries)?)),
        }
    }

    /// Checks a query: its dimension, and (unless the metric is binary,
    /// whose queries are bit patterns) that every value is finite.
    fn check_query(&self, query: &[f32]) -> Result<()> {
        if query.len() != self.config.dim {
            return Err(VectorError::WrongDimension {
                expected: self.config.dim,
                got: query.len(),
            });
        }
        if !self.metric.is_binary() {
            if let Some(position) = query.iter().position(|v| !v.is_finite()) {
                return Err(VectorError::NonFiniteQuery {
                    position,
                    value: query[position],
                });
            }
        }
        Ok(())
    }

    /// The exact `k` nearest live vectors to `query` by brute force over the
    /// stored rows, whatever index is attached (the reference an index's
    /// recall is measured against); the same distances as
    /// [`Collection::search`] with no index.
    ///
    /// ```
    /// use unidb_vectordb::{Collection, CollectionConfig, Params};
    /// # fn main() -> Result<(), unidb_vectordb::VectorError> {
    /// let mut c = Collection::new(CollectionConfig::new(1, "l2"))?;
    /// c.insert_rows(0u64..100, &(0..100).map(|i| i as f32).collect::<Vec<_>>())?;
    /// c.create_index("graph", "hnsw", Params::defaults())?;
    /// let exact = c.search_exact(&[41.2], 3, None)?;
    /// let ids: Vec<_> = exact.iter().map(|h| h.id.clone()).collect();
    /// assert_eq!(ids, [41u64.into(), 42u64.into(), 40u64.into()]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// A bad query vector, as [`Collection::search`].
    pub fn search_exact(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<FilterFn<'_>>,
    ) -> Result<Vec<Hit>> {
        self.brute_force(query, filter, |data, q, f| flat::knn(data, q, k, f))
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
        for q in queries.chunks_exact(self.config.dim) {
            self.check_query(q)?;
        }
        let started = Instant::now();
        let (data, queries) = self.exact_data(queries)?;
        let filter = filter.map(|f| self.slot_filter(f));
        let filter_ref: Option<&(dyn Fn(u32) -> bool + Sync)> =
            filter.as_ref().map(|f| f as &(dyn Fn(u32) -> bool + Sync));
        let found = flat::knn_batch(&data, &queries, k, filter_ref);
        let hits = found.into_iter().map(|f| self.hits(f)).collect();
        self.stats
            .answered_batch(queries.len() / data.dim, started.elapsed());
        Ok(hits)
    }

    /// [`Collection::search_with`] for many row-major queries, in parallel
    /// (rayon).
    ///
    /// # Errors
    /// [`VectorError::WrongDimension`] when `queries.len()` is not a multiple
    /// of the dimension, or as [`Collection::search_with`].
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
        for q in queries.chunks_exact(dim) {
            self.check_query(q)?;
        }
        // The whole batch through the transforms at once.
        let row_queries = self.to_row_space(queries)?;
        let row_dim = self.row_dim();
        queries
            .par_chunks_exact(dim)
            .zip(row_queries.par_chunks_exact(row_dim))
            .map(|(q, rq)| {
                let timer = self.stats.start();
                let found = self.search_prepared(q, rq, k, options);
                match found {
                    Ok(found) => {
                        self.stats.answered(timer);
                        Ok(self.hits(found))
                    }
                    Err(e) => {
                        timer.discard();
                        Err(e)
                    }
                }
            })
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
        self.brute_force(query, filter, |data, q, f| flat::range(data, q, radius, f))
    }

    /// A checked, timed brute-force pass over the storage (`run` gets the
    /// rows and the user's filter over slots): what `search_exact` and
    /// `range_search` share.
    fn brute_force(
        &self,
        query: &[f32],
        filter: Option<FilterFn<'_>>,
        run: impl FnOnce(&VectorData<'_>, &[f32], Option<&dyn Fn(u32) -> bool>) -> Vec<Neighbor>,
    ) -> Result<Vec<Hit>> {
        self.check_query(query)?;
        let (data, query) = self.exact_data(query)?;
        let timer = self.stats.start();
        let filter = filter.map(|f| self.slot_filter(f));
        let filter_ref: Option<&dyn Fn(u32) -> bool> =
            filter.as_ref().map(|f| f as &dyn Fn(u32) -> bool);
        let hits = self.hits(run(&data, &query, filter_ref));
        self.stats.answered(timer);
        Ok(hits)
    }

    /// How many queries and inserts this collection served, the latency
    /// of its searches (p50, p99, ...) and its queries per second, since
    /// it was created or opened or [`Collection::reset_metrics`] was last
    /// called. Every search method records here (a batch counts each of
    /// its queries); recording is a few relaxed atomic operations and two
    /// clock reads per query, with no lock.
    ///
    /// ```
    /// use unidb_vectordb::{Collection, CollectionConfig};
    /// # fn main() -> Result<(), unidb_vectordb::VectorError> {
    /// let mut c = Collection::new(CollectionConfig::new(2, "l2"))?;
    /// c.insert_rows(0u64..3, &[0.0, 0.0, 1.0, 0.0, 0.0, 1.0])?;
    /// for _ in 0..10 {
    ///     c.search(&[0.2, 0.1], 1)?;
    /// }
    /// let m = c.metrics();
    /// assert_eq!((m.queries, m.inserts, m.latency.count), (10, 3, 10));
    /// assert!(m.p50() <= m.p99() && m.qps > 0.0);
    /// assert_eq!(c.reset_metrics().queries, 10);
    /// assert_eq!(c.metrics().queries, 0);
    /// # Ok(()) }
    /// ```
    pub fn metrics(&self) -> CollectionMetrics {
        self.stats.snapshot()
    }

    /// Returns [`Collection::metrics`] and starts them over from zero (a
    /// monitor that calls this every interval gets each interval's QPS and
    /// latencies). A query answered during the reset may be counted in
    /// neither interval.
    pub fn reset_metrics(&self) -> CollectionMetrics {
        self.stats.reset()
    }

    /// Drops dead slots (renumbering the live ones in order) and rebuilds
    /// every index from scratch, which also rebuilds HNSW links.
    ///
    /// # Errors
    /// An index build error.
    pub fn compact(&mut self) -> Result<()> {
        let dim = self.config.dim;
        // Encoded rows are copied as they are (never re-encoded).
        let row_bytes = self.bytes_per_vector();
        let old = self.rows.as_bytes();
        let mut originals = self.originals.as_ref().map(|_| Rows::new());
        let old_originals = self.originals.as_ref().map(Rows::as_bytes);
        let mut rows = Rows::new();
        let mut ids = Vec::with_capacity(self.n_live);
        let mut meta = Vec::with_capacity(self.n_live);
        let mut norms = Vec::new();
        for s in 0..self.live.len() {
            if self.live[s] {
                rows.push(&old[s * row_bytes..(s + 1) * row_bytes]);
                if let (Some(o), Some(old)) = (&mut originals, old_originals) {
                    o.push(&old[s * dim * 4..(s + 1) * dim * 4]);
                }
                if let Some(&n) = self.norms.get(s) {
                    norms.push(n);
                }
                ids.push(self.ids[s].clone());
                meta.push(self.meta[s].take());
            }
        }
        self.rows = rows;
        self.originals = originals;
        self.norms = norms;
        self.slot_of = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i as u32))
            .collect();
        self.ids = ids;
        self.meta = meta;
        self.live = vec![true; self.ids.len()];
        self.n_live = self.ids.len();
        self.rebuild_indexes()
    }
}

/// Whether the i8 quantizer of `metric` must be symmetric around zero
/// (inner products and angles are not translation invariant).
pub(crate) fn symmetric_for(metric: Metric) -> bool {
    matches!(Fast::of(metric), Fast::Ip | Fast::Cosine)
}

/// Checks the storage options against the metric; returns the quantizer
/// fixed by the configuration, if any.
pub(crate) fn validate_storage(
    config: &CollectionConfig,
    metric: Metric,
) -> Result<Option<Quantizer>> {
    validate_transforms(config, metric)?;
    if config.storage == Storage::F32 {
        return Ok(None);
    }
    if metric.is_binary() {
        return Err(VectorError::InvalidConfig(format!(
            "metric {} works on bit-packed f32 words; {} storage would change the bits",
            metric.name(),
            config.storage
        )));
    }
    if config.storage == Storage::Pq {
        validate_pq(config, metric)?;
    }
    if config.storage == Storage::Sq4 {
        if config.allow_nan {
            return Err(VectorError::InvalidConfig(
                "sq4 storage cannot hold NaN; allow_nan must be false".into(),
            ));
        }
        if let Some(q) = config.sq4_quantile {
            if !(0.0..0.5).contains(&q) {
                return Err(VectorError::InvalidConfig(format!(
                    "sq4_quantile must be in [0, 0.5), got {q}"
                )));
            }
        }
    }
    if config.storage != Storage::I8 {
        return Ok(None);
    }
    if config.allow_nan {
        return Err(VectorError::InvalidConfig(
            "i8 storage cannot hold NaN; allow_nan must be false".into(),
        ));
    }
    if config.i8_train_rows == 0 {
        return Err(VectorError::InvalidConfig(
            "i8_train_rows must be at least 1".into(),
        ));
    }
    match config.i8_range {
        None => Ok(None),
        Some((lo, hi)) if lo.is_finite() && hi.is_finite() => Ok(Some(Quantizer::for_range(
            lo,
            hi,
            config.dim,
            symmetric_for(metric),
        ))),
        Some((lo, hi)) => Err(VectorError::InvalidConfig(format!(
            "i8_range must be finite, got ({lo}, {hi})"
        ))),
    }
}

/// Checks pq storage's options: a [`PqConfig`] whose `m` divides the
/// dimension, `nbits` 4 or 8, limits as [`ProductQuantizer::train`]
/// checks them; the `l2` or `ip` metric; no NaN.
fn validate_pq(config: &CollectionConfig, metric: Metric) -> Result<()> {
    use crate::quant::pq::{PqDistance, MAX_ITERATIONS, MAX_M};
    let Some(pq) = &config.pq else {
        return Err(VectorError::InvalidConfig(
            "pq storage needs its pq configuration (m, nbits)".into(),
        ));
    };
    PqDistance::for_metric(metric.name())?;
    if config.allow_nan {
        return Err(VectorError::InvalidConfig(
            "pq storage cannot hold NaN; allow_nan must be false".into(),
        ));
    }
    let bad = |key: &str, reason: String| VectorError::InvalidParam {
        plugin: "pq".into(),
        key: key.into(),
        reason,
    };
    let dim = config.row_dim();
    if pq.m == 0 || pq.m > MAX_M || !dim.is_multiple_of(pq.m) {
        return Err(bad(
            "m",
            format!(
                "{} does not divide the dimension {dim} (at most {MAX_M})",
                pq.m
            ),
        ));
    }
    if pq.nbits != 4 && pq.nbits != 8 {
        return Err(bad("nbits", format!("{} is not 4 or 8", pq.nbits)));
    }
    if pq.iterations > MAX_ITERATIONS {
        return Err(bad(
            "iterations",
            format!("{} is above {MAX_ITERATIONS}", pq.iterations),
        ));
    }
    if pq.max_train < 1 << pq.nbits {
        return Err(bad(
            "max_train",
            format!("{} is below 2^nbits", pq.max_train),
        ));
    }
    Ok(())
}

/// Checks the configured transforms: registered names, at most
/// [`MAX_CHAIN_STEPS`](crate::MAX_CHAIN_STEPS), a non-binary metric, no
/// NaN and no fixed i8 range (the range of transformed values is known
/// only once they are fitted).
fn validate_transforms(config: &CollectionConfig, metric: Metric) -> Result<()> {
    if config.transforms.is_empty() {
        return Ok(());
    }
    if config.transforms.len() > crate::MAX_CHAIN_STEPS {
        return Err(VectorError::InvalidConfig(format!(
            "{} transforms, at most {}",
            config.transforms.len(),
            crate::MAX_CHAIN_STEPS
        )));
    }
    for step in &config.transforms {
        crate::TransformPlugin::by_name(&step.name)?;
        if !(step.params.is_object() || step.params.is_null()) {
            return Err(VectorError::InvalidConfig(format!(
                "transform {}: parameters must be a JSON object, got {}",
                step.name, step.params
            )));
        }
    }
    let refuse = |why: &str| Err(VectorError::InvalidConfig(format!("transforms {why}")));
    if metric.is_binary() {
        return refuse(&format!(
            "need a real-valued metric, {} works on bits",
            metric.name()
        ));
    }
    if config.allow_nan {
        return refuse("cannot take NaN; allow_nan must be false");
    }
    if config.i8_range.is_some() {
        return refuse("need a trained i8 quantizer, not a fixed i8_range");
    }
    Ok(())
}
