//! In-memory vector database: collections of vectors under a named metric,
//! with exact (`flat`), graph (`hnsw`) and inverted-file (`ivf`) indexes
//! chosen by name from plugin registries, saved to and memory-mapped from a
//! checksummed file.
//!
//! ```
//! use unidb_vectordb::{Collection, CollectionConfig, Params};
//! # fn main() -> Result<(), unidb_vectordb::VectorError> {
//! let mut c = Collection::new(CollectionConfig::new(2, "l2"))?;
//! c.insert(1u64, &[0.0, 0.0], None)?;
//! c.insert("b", &[1.0, 0.0], None)?;
//! c.insert(3u64, &[5.0, 5.0], None)?;
//! c.create_index("graph", "hnsw", Params::defaults())?;
//! let hits = c.search(&[0.9, 0.1], 2)?;
//! assert_eq!(hits[0].id, "b".into());
//! assert_eq!(hits[1].id, 1u64.into());
//! assert!(c.insert(4u64, &[1.0], None).is_err()); // wrong dimension
//! # Ok(()) }
//! ```
//!
//! # Storage
//! Vectors are stored as f32 (default), IEEE half (f16, half the memory)
//! or 8-bit scalar-quantized (i8, a quarter), chosen with
//! [`CollectionConfig::with_storage`]; every index and the file format work
//! on every storage, distances running on the encoded rows. See
//! [`Storage`] for the error each encoding gives and how the i8 quantizer
//! is trained.
//!
//! ```
//! use unidb_vectordb::{Collection, CollectionConfig, Params, Storage};
//! # fn main() -> Result<(), unidb_vectordb::VectorError> {
//! let mut c = Collection::new(CollectionConfig::new(2, "l2").with_storage(Storage::I8))?;
//! let sample = [0.0, 0.0, 1.0, 0.0, 5.0, 5.0];
//! c.train_quantizer(&sample)?; // range [0, 5]: one code step is 5/254
//! for (i, v) in sample.chunks_exact(2).enumerate() {
//!     c.insert(i as u64, v, None)?;
//! }
//! c.create_index("graph", "hnsw", Params::defaults())?;
//! let hits = c.search(&[0.9, 0.1], 1)?;
//! assert_eq!(hits[0].id, 1u64.into());
//! assert_eq!(c.vector_bytes(), 6); // one byte per value
//! # Ok(()) }
//! ```
//!
//! # Index parameters
//! Each index plugin declares the types of its build and search
//! parameters ([`IndexPlugin::new`]): [`hnsw::HnswConfig`] and
//! [`hnsw::HnswSearch`], [`ivf::IvfConfig`] and [`ivf::IvfSearch`], none
//! for `flat`. A caller hands them over as [`Params`]: the defaults, a
//! typed value, or a JSON object naming the fields to change; a key the
//! index does not have is [`VectorError::UnknownParam`], a bad value
//! [`VectorError::InvalidParam`], both naming the key. An index defined
//! in another crate declares and receives its own types the same way.
//!
//! ```
//! use unidb_vectordb::hnsw::{HnswConfig, HnswSearch};
//! use unidb_vectordb::{Collection, CollectionConfig, Params, SearchOptions, VectorError};
//! # fn main() -> Result<(), VectorError> {
//! let mut c = Collection::new(CollectionConfig::new(2, "l2"))?;
//! c.insert(1u64, &[0.0, 0.0], None)?;
//! let build = HnswConfig { m: 32, ef_construction: 400, ..HnswConfig::default() };
//! c.create_index("graph", "hnsw", Params::typed(&build))?;
//! let search = HnswSearch { ef: Some(128) };
//! let options = SearchOptions { params: Params::typed(&search), ..SearchOptions::default() };
//! assert_eq!(c.search_with(&[0.0, 1.0], 1, &options)?.len(), 1);
//! let typo = serde_json::json!({"efsearch": 10});
//! let err = c.create_index("g2", "hnsw", Params::json(&typo)).unwrap_err();
//! assert!(matches!(err, VectorError::UnknownParam { ref key, .. } if key == "efsearch"));
//! # Ok(()) }
//! ```
//!
//! # Metrics
//! Each collection counts its queries and inserts and records the latency
//! of every search in a lock-free histogram:
//! [`Collection::metrics`] gives p50/p99 latency and QPS since the
//! collection was created, opened or last reset
//! ([`Collection::reset_metrics`]).
//!
//! # serde
//! With the default `serde` feature, the data types a program stores or
//! sends serialize and deserialize: [`Hit`], [`Metadata`] (common's
//! [`Value`], tagged by type), [`CollectionConfig`] (only `dim` and
//! `metric` required; unknown fields refused), [`Storage`] (`"f32"`,
//! `"f16"`, `"i8"`), [`Quantizer`], [`Neighbor`], [`CollectionMetrics`],
//! and the index parameter types ([`hnsw::HnswConfig`], ...), which always
//! do.
//!
//! # Crate layout
//! One path per public item. The types a program uses — collections,
//! ids, options, errors, the plugin kinds and their traits, storage —
//! are at the crate root. Each index plugin is a module holding the index
//! and its parameter types ([`flat`], [`hnsw`], [`ivf`]), as an index from
//! another crate would be; [`transform`] holds the built-in transforms
//! (the [`Transform`] trait, [`TransformPlugin`] kind and
//! [`TransformChain`] are at the root); [`factory`] (FAISS `index_factory`
//! and search parameter strings), [`io`] (vector file readers), [`persist`] (the
//! file format), [`data`] (generated data) and [`bench`](mod@bench) are namespaces
//! of functions; [`quant`] holds the quantizers ([`quant::pq`]: product
//! quantization with 4-bit fast-scan scoring); [`experiments`] holds A/B
//! assignment and analysis.
//!
//! # Custom metrics
//! A crate registers its own metric with [`register_metric!`] (no direct
//! dependency on `inventory` or `unidb-registry` needed); every index can
//! then use it by name:
//!
//! ```
//! fn chebyshev(a: &[f32], b: &[f32]) -> f32 {
//!     a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
//! }
//! unidb_vectordb::register_metric!("chebyshev-doc", "max |a_i - b_i|", chebyshev);
//!
//! # fn main() -> Result<(), unidb_vectordb::VectorError> {
//! use unidb_vectordb::{Collection, CollectionConfig};
//! let mut c = Collection::new(CollectionConfig::new(2, "chebyshev-doc"))?;
//! c.insert(1u64, &[0.0, 3.0], None)?;
//! assert_eq!(c.metric().distance(&[1.0, 1.0], &[0.0, 3.0]), 2.0);
//! # Ok(()) }
//! ```

pub mod batch;
pub mod bench;
mod codec;
mod collection;
mod concurrent;
pub mod data;
mod error;
pub mod experiments;
pub mod factory;
pub mod features;
pub mod flat;
pub mod hnsw;
mod index;
pub mod io;
pub mod ivf;
mod kmeans;
mod metric;
mod params;
pub mod persist;
pub mod quant;
mod stats;
mod storage;
mod topk;
pub mod transform;

pub use collection::{
    Collection, CollectionConfig, FilterFn, Hit, Metadata, Record, SearchOptions,
};
pub use concurrent::SharedCollection;
pub use error::{Result, VectorError};
pub use index::{CreateFn, IndexPlugin, LoadFn, VectorData, VectorIndex};
pub use metric::{pack_bits, words_to_f32, DistanceFn, DistanceManyFn, Metric, MetricPlugin};
pub use params::{defaults_json, NoParams, Params, PluginConfig};
pub use stats::CollectionMetrics;
pub use storage::{Quantizer, RowsRef, Storage};
pub use topk::{Neighbor, TopK};
pub use transform::error::TransformError;
pub use transform::kind::{
    fit_transform, DecodeFn, FitFn, Transform, TransformChain, TransformPlugin, TransformStep,
    MAX_CHAIN_STEPS, MAX_TRANSFORM_DIM,
};
/// Users' keys (a number or a string), shared with the other modules.
pub use unidb_common::id::Id;
/// The value vocabulary both databases share (metadata values here).
pub use unidb_common::value::Value;
pub use unidb_registry;

/// Registers a transform plugin statically from any crate:
/// `register_transform!("name", "description", Params, fit, decode)` where
/// `Params` is the [`PluginConfig`] type `fit` reads its parameters as,
/// `fit` a [`FitFn`] and `decode` a [`DecodeFn`] that rebuilds what
/// [`Transform::encode`] wrote. The transform can then be fitted by name
/// ([`fit_transform`], [`TransformChain::fit`]) and decoded from a
/// [`TransformChain`]'s bytes.
///
/// ```
/// use unidb_vectordb::{NoParams, Params, Transform, TransformChain, TransformError};
///
/// /// Multiplies every value by 2.
/// #[derive(Debug)]
/// struct Double(usize);
///
/// impl Transform for Double {
///     fn name(&self) -> &'static str { "double-doc" }
///     fn dim_in(&self) -> usize { self.0 }
///     fn dim_out(&self) -> usize { self.0 }
///     fn transform_rows(&self, input: &[f32], output: &mut [f32]) {
///         for (o, v) in output.iter_mut().zip(input) { *o = 2.0 * v; }
///     }
///     fn encode(&self, out: &mut Vec<u8>) { out.extend_from_slice(&(self.0 as u32).to_le_bytes()); }
/// }
///
/// fn fit(_: &[f32], dim: usize, params: Params<'_>) -> unidb_vectordb::Result<Box<dyn Transform>> {
///     params.get::<NoParams>("double-doc")?;
///     Ok(Box::new(Double(dim)))
/// }
/// fn decode(bytes: &[u8]) -> Result<Box<dyn Transform>, TransformError> {
///     let dim: [u8; 4] = bytes.try_into().map_err(|_| TransformError::Decode {
///         offset: 0,
///         reason: "expected 4 bytes".into(),
///     })?;
///     Ok(Box::new(Double(u32::from_le_bytes(dim) as usize)))
/// }
/// unidb_vectordb::register_transform!("double-doc", "doubles every value", NoParams, fit, decode);
///
/// # fn main() -> Result<(), unidb_vectordb::VectorError> {
/// let chain = TransformChain::fit(&[1.0, 2.0], 2, &[("double-doc", Params::defaults())])?;
/// assert_eq!(chain.apply(&[3.0, 4.0])?, [6.0, 8.0]);
/// let again = TransformChain::from_bytes(&chain.to_bytes())?;
/// assert_eq!(again.apply(&[3.0, 4.0])?, [6.0, 8.0]);
/// # Ok(()) }
/// ```
#[macro_export]
macro_rules! register_transform {
    ($name:expr, $description:expr, $params:ty, $fit:expr, $decode:expr $(,)?) => {
        $crate::unidb_registry::submit!($crate::TransformPlugin::new::<$params>(
            $crate::unidb_registry::plugin_info!($name, $description),
            $fit,
            $decode,
        ));
    };
}

/// Registers a metric plugin statically from any crate:
/// `register_metric!("name", "description", distance_fn)` where
/// `distance_fn: fn(&[f32], &[f32]) -> f32` returns a distance (smaller is
/// closer). An optional fourth argument gives a one-to-many form
/// `fn(query, rows, out)`.
#[macro_export]
macro_rules! register_metric {
    ($name:expr, $description:expr, $distance:expr $(,)?) => {
        $crate::unidb_registry::submit!($crate::MetricPlugin {
            info: $crate::unidb_registry::plugin_info!($name, $description),
            binary: false,
            distance: $distance,
            distance_many: ::core::option::Option::None,
        });
    };
    ($name:expr, $description:expr, $distance:expr, $many:expr $(,)?) => {
        $crate::unidb_registry::submit!($crate::MetricPlugin {
            info: $crate::unidb_registry::plugin_info!($name, $description),
            binary: false,
            distance: $distance,
            distance_many: ::core::option::Option::Some($many),
        });
    };
}
