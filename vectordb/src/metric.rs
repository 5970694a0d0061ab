//! Metric plugins: named distance functions backed by the dispatched kernels.
//!
//! Every metric is a *distance*: smaller is closer. `ip` (inner product) is
//! therefore the negated dot product.
//!
//! # Binary vectors
//! `hamming` and `jaccard` work on bit-packed vectors stored in an ordinary
//! f32 collection: each f32 element is a word of 32 bits (its IEEE bit
//! pattern is never interpreted as a number). A collection with `d` elements
//! holds `32·d` bits; pack bits with [`pack_bits`] or [`words_to_f32`].
//! Collections whose metric is binary never reject NaN bit patterns. When the
//! slices are 8-byte aligned and of even length the `u64` kernels run on
//! them directly (collection storage is 64-byte aligned, so use an even
//! dimension); otherwise a portable 32-bit loop gives the same result.

use unidb_kernels::Kernels;
use unidb_registry::{plugin_info, plugin_kind, submit, Plugin, PluginInfo, PluginKind};

use crate::error::Result;

/// Distance between two vectors of equal length (smaller is closer).
pub type DistanceFn = fn(&[f32], &[f32]) -> f32;
/// `out[i] = distance(query, row i)` for row-major `rows` of `query.len()` values.
pub type DistanceManyFn = fn(&[f32], &[f32], &mut [f32]);

/// A metric plugin. Register one with [`crate::register_metric!`] (statically,
/// from any crate) or [`MetricPlugin::registry`]`().register(..)` (at run time).
#[derive(Debug)]
pub struct MetricPlugin {
    /// Name and origin.
    pub info: PluginInfo,
    /// Whether vectors are bit-packed words (no NaN check on insert).
    pub binary: bool,
    /// The distance of two vectors.
    pub distance: DistanceFn,
    /// An optional one-to-many form (faster for exact search); when `None`
    /// the distance is called once per row.
    pub distance_many: Option<DistanceManyFn>,
}

impl Plugin for MetricPlugin {
    fn info(&self) -> &PluginInfo {
        &self.info
    }
}
plugin_kind!(MetricPlugin, "metric");

impl MetricPlugin {
    /// A float metric from a distance function.
    pub const fn new(info: PluginInfo, distance: DistanceFn) -> Self {
        MetricPlugin {
            info,
            binary: false,
            distance,
            distance_many: None,
        }
    }
}

/// A metric chosen by name: a cheap copyable handle to a registered plugin.
#[derive(Debug, Clone, Copy)]
pub struct Metric(&'static MetricPlugin);

impl Metric {
    /// Looks a metric up by (case-insensitive) name.
    ///
    /// # Errors
    /// [`crate::VectorError::Registry`] for an unknown name.
    pub fn by_name(name: &str) -> Result<Metric> {
        Ok(Metric(MetricPlugin::registry().get(name)?))
    }

    /// The names of every registered metric, sorted.
    pub fn names() -> Vec<&'static str> {
        MetricPlugin::registry().names()
    }

    /// The metric's name.
    pub fn name(&self) -> &'static str {
        self.0.info.name
    }

    /// Whether vectors are bit-packed.
    pub fn is_binary(&self) -> bool {
        self.0.binary
    }

    /// The plugin.
    pub fn plugin(&self) -> &'static MetricPlugin {
        self.0
    }

    /// Distance of `a` and `b` (equal lengths; checked by callers).
    #[inline]
    pub fn distance(&self, a: &[f32], b: &[f32]) -> f32 {
        (self.0.distance)(a, b)
    }

    /// `out[i] = distance(query, row i)`; `rows.len()` must be
    /// `out.len() * query.len()`.
    #[inline]
    pub fn distance_many(&self, query: &[f32], rows: &[f32], out: &mut [f32]) {
        debug_assert_eq!(rows.len(), out.len() * query.len());
        match self.0.distance_many {
            Some(f) => f(query, rows, out),
            None => {
                if query.is_empty() {
                    out.fill(0.0);
                    return;
                }
                for (o, row) in out.iter_mut().zip(rows.chunks_exact(query.len())) {
                    *o = (self.0.distance)(query, row);
                }
            }
        }
    }
}

// Lengths are always validated by the collection before a metric is called,
// so a kernel length error cannot happen; NaN keeps any such bug visible.
fn l2(a: &[f32], b: &[f32]) -> f32 {
    Kernels::active().l2sq_f32(a, b).unwrap_or(f32::NAN)
}
fn l2_many(q: &[f32], rows: &[f32], out: &mut [f32]) {
    if Kernels::active().l2sq_f32_many(q, rows, out).is_err() {
        out.fill(f32::NAN);
    }
}
fn ip(a: &[f32], b: &[f32]) -> f32 {
    Kernels::active().dot_f32(a, b).map_or(f32::NAN, |d| -d)
}
fn ip_many(q: &[f32], rows: &[f32], out: &mut [f32]) {
    if Kernels::active().dot_f32_many(q, rows, out).is_err() {
        out.fill(f32::NAN);
    }
    for o in out {
        *o = -*o;
    }
}
fn cosine(a: &[f32], b: &[f32]) -> f32 {
    Kernels::active().cosine_f32(a, b).unwrap_or(f32::NAN)
}
fn cosine_many(q: &[f32], rows: &[f32], out: &mut [f32]) {
    if Kernels::active().cosine_f32_many(q, rows, out).is_err() {
        out.fill(f32::NAN);
    }
}
fn l1(a: &[f32], b: &[f32]) -> f32 {
    Kernels::active().l1_f32(a, b).unwrap_or(f32::NAN)
}

fn as_words(a: &[f32]) -> Option<&[u64]> {
    bytemuck::try_cast_slice::<f32, u64>(a).ok()
}

fn hamming(a: &[f32], b: &[f32]) -> f32 {
    if let (Some(x), Some(y)) = (as_words(a), as_words(b)) {
        return Kernels::active()
            .hamming_u64(x, y)
            .map_or(f32::NAN, |d| d as f32);
    }
    let d: u64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| u64::from((x.to_bits() ^ y.to_bits()).count_ones()))
        .sum();
    d as f32
}

fn jaccard(a: &[f32], b: &[f32]) -> f32 {
    if let (Some(x), Some(y)) = (as_words(a), as_words(b)) {
        return Kernels::active().jaccard_u64(x, y).unwrap_or(f32::NAN);
    }
    let (mut inter, mut union) = (0u64, 0u64);
    for (x, y) in a.iter().zip(b) {
        inter += u64::from((x.to_bits() & y.to_bits()).count_ones());
        union += u64::from((x.to_bits() | y.to_bits()).count_ones());
    }
    if union == 0 {
        0.0
    } else {
        (1.0 - inter as f64 / union as f64) as f32
    }
}

submit!(MetricPlugin {
    info: plugin_info!("l2", "squared Euclidean distance"),
    binary: false,
    distance: l2,
    distance_many: Some(l2_many),
});
submit!(MetricPlugin {
    info: plugin_info!("ip", "negated inner product (larger dot product is closer)"),
    binary: false,
    distance: ip,
    distance_many: Some(ip_many),
});
submit!(MetricPlugin {
    info: plugin_info!("cosine", "cosine distance 1 - cos(a, b)"),
    binary: false,
    distance: cosine,
    distance_many: Some(cosine_many),
});
submit!(MetricPlugin {
    info: plugin_info!("l1", "Manhattan distance"),
    binary: false,
    distance: l1,
    distance_many: None,
});
submit!(MetricPlugin {
    info: plugin_info!(
        "hamming",
        "differing bits of bit-packed vectors (32 bits per f32 word)"
    ),
    binary: true,
    distance: hamming,
    distance_many: None,
});
submit!(MetricPlugin {
    info: plugin_info!(
        "jaccard",
        "Jaccard distance of bit-packed sets (32 bits per f32 word)"
    ),
    binary: true,
    distance: jaccard,
    distance_many: None,
});

/// Packs bits into f32 words for the binary metrics: bit `i` is bit
/// `i % 32` of word `i / 32`. The result has `ceil(bits.len() / 32)` words,
/// rounded up to an even count so the 64-bit kernels apply.
pub fn pack_bits(bits: &[bool]) -> Vec<f32> {
    let words = bits.len().div_ceil(32).next_multiple_of(2);
    let mut out = vec![0u32; words];
    for (i, &b) in bits.iter().enumerate() {
        if b {
            out[i / 32] |= 1 << (i % 32);
        }
    }
    out.into_iter().map(f32::from_bits).collect()
}

/// Reinterprets 64-bit words as f32 words (two per `u64`, low half first)
/// for the binary metrics.
pub fn words_to_f32(words: &[u64]) -> Vec<f32> {
    words
        .iter()
        .flat_map(|w| [f32::from_bits(*w as u32), f32::from_bits((*w >> 32) as u32)])
        .collect()
}
