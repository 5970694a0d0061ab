//! Product quantization (Jégou, Douze and Schmid, *Product quantization
//! for nearest neighbor search*, TPAMI 2011), as FAISS's `PQ{M}x{nbits}`.
//!
//! A vector of dimension `d` is cut into `m` sub-vectors of `d / m`
//! values; each sub-space has its own codebook of `2^nbits` centroids
//! (`nbits` 8 or 4), learned by k-means (k-means++ seeding, Lloyd
//! iterations, seeded, sub-spaces trained in parallel with rayon, always
//! under squared l2 as FAISS does), and a vector is stored as the `m`
//! indices of its sub-vectors' nearest centroids.
//!
//! A query is scored against codes without decoding them (asymmetric
//! distance computation, ADC): a per-query [`DistanceTable`] holds, for
//! each sub-space and centroid, the distance between the query's
//! sub-vector and the centroid (squared l2, or the negated dot product for
//! inner product, as the `l2` and `ip` metrics); a code's distance is the
//! sum of its `m` entries, which equals the distance between the query
//! and the decoded vector.
//!
//! With 4-bit codes the table is further quantized to `u8`
//! ([`FastScanTable`]) and [`PqCodes`] stores the codes in the fast-scan
//! block layout of [`unidb_kernels::pq4`], scored 32 vectors at a time by
//! the `pq4_fastscan` kernel; the estimate is within
//! [`FastScanTable::max_error`] of the f32 ADC distance.
//!
//! ```
//! use unidb_vectordb::quant::pq::{PqCodes, PqConfig, PqDistance, ProductQuantizer};
//! # fn main() -> Result<(), unidb_vectordb::VectorError> {
//! let dim = 8;
//! let data = unidb_vectordb::data::clustered(500, dim, 10, 0.05, 7);
//! let config = PqConfig { m: 4, nbits: 4, ..PqConfig::default() };
//! let pq = ProductQuantizer::train(dim, &config, &data)?;
//! let codes = PqCodes::encode(&pq, &data)?;
//! assert_eq!(codes.bytes_per_vector(), 2.0); // 4 codes of 4 bits
//! let query = &data[..dim];
//! let hits = codes.search_rerank(query, 5, 10, &data, PqDistance::L2)?;
//! assert_eq!(hits[0].slot, 0); // the query itself, found and scored exactly
//! assert_eq!(hits[0].distance, 0.0);
//! # Ok(()) }
//! ```

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use unidb_kernels::{pq4, Kernels};

use crate::data::Rng;
use crate::error::{Result, VectorError};
use crate::kmeans;
use crate::metric::Metric;
use crate::topk::{Neighbor, TopK};

/// The largest number of sub-quantizers: 4096 (FAISS allows any, but
/// beyond this a code is longer than the vectors it compresses in practice).
pub const MAX_M: usize = 4096;
/// The largest number of Lloyd iterations per sub-space.
pub const MAX_ITERATIONS: usize = 1000;

/// How a product quantizer is trained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PqConfig {
    /// Sub-quantizers (bytes per vector with 8-bit codes); must divide the
    /// dimension.
    pub m: usize,
    /// Bits per code: 8 (256 centroids per sub-space) or 4 (16, the
    /// fast-scan layout).
    pub nbits: u32,
    /// Lloyd iterations per sub-space (FAISS's default is 25).
    pub iterations: usize,
    /// Training vectors used at most (a seeded sample of the input);
    /// FAISS samples `256 · 2^nbits`.
    pub max_train: usize,
    /// Seed of the sample and of the k-means initialisation.
    pub seed: u64,
}

impl Default for PqConfig {
    fn default() -> Self {
        PqConfig {
            m: 8,
            nbits: 8,
            iterations: 25,
            max_train: 65_536,
            seed: 0x5EED_C0DE,
        }
    }
}

/// The distance a [`DistanceTable`] adds up, as the collection metric of
/// the same name computes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PqDistance {
    /// Squared Euclidean distance (metric `l2`).
    L2,
    /// Negated inner product, smaller is closer (metric `ip`).
    InnerProduct,
}

impl PqDistance {
    /// The distance of the metric named `name` (`l2` or `ip`).
    ///
    /// # Errors
    /// [`VectorError::InvalidParam`] for any other metric: PQ tables add up
    /// per-sub-space terms, which cosine and the other metrics are not.
    pub fn for_metric(name: &str) -> Result<Self> {
        match name {
            "l2" => Ok(PqDistance::L2),
            "ip" => Ok(PqDistance::InnerProduct),
            other => Err(invalid(
                "metric",
                format!("product quantization scores l2 or ip, not {other:?}"),
            )),
        }
    }

    /// The metric's name (`l2` or `ip`).
    pub fn metric_name(self) -> &'static str {
        match self {
            PqDistance::L2 => "l2",
            PqDistance::InnerProduct => "ip",
        }
    }
}

fn invalid(key: &str, reason: String) -> VectorError {
    VectorError::InvalidParam {
        plugin: "pq".into(),
        key: key.into(),
        reason,
    }
}

fn l2_metric() -> Result<Metric> {
    Metric::by_name("l2")
}

/// A trained product quantizer: `m` codebooks of `2^nbits` centroids of
/// `dim / m` values.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductQuantizer {
    dim: usize,
    m: usize,
    nbits: u32,
    /// `m` codebooks in order, each `ksub` centroids of `dsub` values.
    centroids: Vec<f32>,
}

impl ProductQuantizer {
    /// Trains on the row-major vectors `data` of dimension `dim`.
    ///
    /// # Errors
    /// [`VectorError::InvalidParam`] naming the field when `m` is 0, above
    /// [`MAX_M`] or does not divide `dim`, `nbits` is not 4 or 8,
    /// `iterations` is above [`MAX_ITERATIONS`] or `max_train` is below
    /// `2^nbits`; [`VectorError::WrongDimension`] when `dim` is 0 or does
    /// not divide `data.len()`; [`VectorError::InvalidConfig`] with fewer
    /// than `2^nbits` vectors or a non-finite value in them.
    pub fn train(dim: usize, config: &PqConfig, data: &[f32]) -> Result<Self> {
        let PqConfig {
            m,
            nbits,
            iterations,
            max_train,
            seed,
        } = *config;
        if nbits != 4 && nbits != 8 {
            return Err(invalid("nbits", format!("{nbits} is not 4 or 8")));
        }
        let ksub = 1usize << nbits;
        if m == 0 || m > MAX_M {
            return Err(invalid("m", format!("{m} is not in 1..={MAX_M}")));
        }
        if dim == 0 || !data.len().is_multiple_of(dim) {
            return Err(VectorError::WrongDimension {
                expected: dim,
                got: data.len(),
            });
        }
        if !dim.is_multiple_of(m) {
            return Err(invalid(
                "m",
                format!("{m} sub-quantizers do not divide the dimension {dim}"),
            ));
        }
        if iterations > MAX_ITERATIONS {
            return Err(invalid(
                "iterations",
                format!("{iterations} is above {MAX_ITERATIONS}"),
            ));
        }
        if max_train < ksub {
            return Err(invalid(
                "max_train",
                format!("{max_train} is below the {ksub} centroids per sub-space"),
            ));
        }
        let n = data.len() / dim;
        if n < ksub {
            return Err(VectorError::InvalidConfig(format!(
                "product quantization with {nbits}-bit codes needs at least {ksub} training \
                 vectors, got {n}"
            )));
        }
        if let Some(p) = data.iter().position(|v| !v.is_finite()) {
            return Err(VectorError::InvalidConfig(format!(
                "training value {} at position {p} is not finite",
                data[p]
            )));
        }
        let mut rng = Rng::new(seed);
        // Seeded sample without replacement (partial Fisher–Yates).
        let mut sample: Vec<usize> = (0..n).collect();
        let want = max_train.min(n);
        for i in 0..want {
            let j = i + rng.index(n - i);
            sample.swap(i, j);
        }
        sample.truncate(want);
        let dsub = dim / m;
        let l2 = l2_metric()?;
        let books: Vec<Vec<f32>> = (0..m)
            .into_par_iter()
            .map(|q| {
                let mut xs = Vec::with_capacity(sample.len() * dsub);
                for &i in &sample {
                    xs.extend_from_slice(&data[i * dim + q * dsub..i * dim + (q + 1) * dsub]);
                }
                let mut rng = Rng::new(seed ^ (q as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                kmeans::train(&xs, dsub, ksub, iterations, l2, &mut rng)
            })
            .collect();
        Ok(ProductQuantizer {
            dim,
            m,
            nbits,
            centroids: books.concat(),
        })
    }

    /// The vectors' dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Sub-quantizers (codes per vector).
    pub fn m(&self) -> usize {
        self.m
    }

    /// Bits per code (4 or 8).
    pub fn nbits(&self) -> u32 {
        self.nbits
    }

    /// Centroids per sub-space, `2^nbits`.
    pub fn ksub(&self) -> usize {
        1 << self.nbits
    }

    /// Values per sub-vector, `dim / m`.
    pub fn dsub(&self) -> usize {
        self.dim / self.m
    }

    /// The codebooks: sub-space `q`'s centroid `c` is
    /// `centroids()[(q·ksub + c)·dsub..][..dsub]`.
    pub fn centroids(&self) -> &[f32] {
        &self.centroids
    }

    fn codebook(&self, q: usize) -> &[f32] {
        let size = self.ksub() * self.dsub();
        &self.centroids[q * size..(q + 1) * size]
    }

    fn check_dim(&self, len: usize) -> Result<()> {
        if len == self.dim {
            Ok(())
        } else {
            Err(VectorError::WrongDimension {
                expected: self.dim,
                got: len,
            })
        }
    }

    fn encode_into(&self, x: &[f32], codes: &mut [u8], l2: Metric, buf: &mut Vec<f32>) {
        let dsub = self.dsub();
        for (q, code) in codes.iter_mut().enumerate() {
            let sub = &x[q * dsub..(q + 1) * dsub];
            *code = kmeans::nearest(l2, self.codebook(q), sub, buf) as u8;
        }
    }

    /// The `m` codes (one per byte) of `x`: each sub-vector's nearest
    /// centroid in squared l2.
    ///
    /// # Errors
    /// [`VectorError::WrongDimension`] when `x.len()` is not the dimension.
    pub fn encode(&self, x: &[f32]) -> Result<Vec<u8>> {
        self.check_dim(x.len())?;
        let mut codes = vec![0u8; self.m];
        self.encode_into(x, &mut codes, l2_metric()?, &mut Vec::new());
        Ok(codes)
    }

    /// The codes of the row-major vectors `xs`, `m` per vector, in
    /// parallel.
    ///
    /// # Errors
    /// [`VectorError::WrongDimension`] when `xs.len()` is not a multiple
    /// of the dimension.
    pub fn encode_batch(&self, xs: &[f32]) -> Result<Vec<u8>> {
        if !xs.len().is_multiple_of(self.dim) {
            return Err(VectorError::WrongDimension {
                expected: self.dim,
                got: xs.len() % self.dim,
            });
        }
        let l2 = l2_metric()?;
        let mut codes = vec![0u8; xs.len() / self.dim * self.m];
        codes
            .par_chunks_exact_mut(self.m)
            .zip(xs.par_chunks_exact(self.dim))
            .for_each_init(Vec::new, |buf, (c, x)| self.encode_into(x, c, l2, buf));
        Ok(codes)
    }

    /// The vector the `m` codes stand for: each sub-vector its centroid.
    ///
    /// # Errors
    /// [`VectorError::InvalidParam`] (key `codes`) when there are not `m`
    /// codes or one is `2^nbits` or more.
    pub fn decode(&self, codes: &[u8]) -> Result<Vec<f32>> {
        self.check_codes(codes)?;
        let dsub = self.dsub();
        let mut out = Vec::with_capacity(self.dim);
        for (q, &c) in codes.iter().enumerate() {
            let c = usize::from(c);
            out.extend_from_slice(&self.codebook(q)[c * dsub..(c + 1) * dsub]);
        }
        Ok(out)
    }

    fn check_codes(&self, codes: &[u8]) -> Result<()> {
        if codes.len() != self.m {
            return Err(invalid(
                "codes",
                format!(
                    "{} codes given, the quantizer has m = {}",
                    codes.len(),
                    self.m
                ),
            ));
        }
        if let Some(q) = codes.iter().position(|&c| usize::from(c) >= self.ksub()) {
            return Err(invalid(
                "codes",
                format!(
                    "code {} of sub-quantizer {q} is not below {}",
                    codes[q],
                    self.ksub()
                ),
            ));
        }
        Ok(())
    }

    /// Bytes of one stored row of codes: `m` with 8-bit codes, `⌈m / 2⌉`
    /// with 4-bit codes (two per byte, the even sub-quantizer in the low
    /// nibble; see [`ProductQuantizer::pack_row`]).
    pub fn code_bytes(&self) -> usize {
        if self.nbits == 4 {
            self.m.div_ceil(2)
        } else {
            self.m
        }
    }

    /// One vector's `m` codes (one per byte) as a stored row of
    /// [`ProductQuantizer::code_bytes`] bytes, appended to `out`.
    pub fn pack_row(&self, codes: &[u8], out: &mut Vec<u8>) {
        if self.nbits == 4 {
            out.extend(
                codes
                    .chunks(2)
                    .map(|p| (p[0] & 15) | (p.get(1).copied().unwrap_or(0) << 4)),
            );
        } else {
            out.extend_from_slice(codes);
        }
    }

    /// The code of sub-quantizer `q` in a stored row.
    #[inline(always)]
    pub(crate) fn code_at(&self, row: &[u8], q: usize) -> usize {
        if self.nbits == 4 {
            usize::from((row[q / 2] >> ((q & 1) * 4)) & 15)
        } else {
            usize::from(row[q])
        }
    }

    /// Decodes a stored row (see [`ProductQuantizer::pack_row`]) into
    /// `out` (`dim` values). Rows come from the collection, whose codes
    /// are below `2^nbits` by construction (4-bit ones by their width).
    pub(crate) fn decode_row(&self, row: &[u8], out: &mut [f32]) {
        let dsub = self.dsub();
        for q in 0..self.m {
            let c = self.code_at(row, q);
            out[q * dsub..(q + 1) * dsub]
                .copy_from_slice(&self.codebook(q)[c * dsub..(c + 1) * dsub]);
        }
    }

    /// The asymmetric distance of a stored row under a query's table
    /// values (`m · ksub` of them, see [`DistanceTable::values`]).
    #[inline(always)]
    pub(crate) fn row_distance(&self, table: &[f32], row: &[u8]) -> f32 {
        let ksub = self.ksub();
        let mut sum = 0.0f32;
        if self.nbits == 8 {
            for (t, &c) in table.chunks_exact(ksub).zip(row) {
                sum += t[usize::from(c)];
            }
        } else {
            for (q, t) in table.chunks_exact(ksub).enumerate() {
                sum += t[self.code_at(row, q)];
            }
        }
        sum
    }

    /// The saved form: dimension, `m`, `nbits` and the codebooks.
    pub(crate) fn save(&self, w: &mut crate::codec::Writer<'_>) {
        w.u64(self.dim as u64);
        w.u64(self.m as u64);
        w.u8(self.nbits as u8);
        w.f32s(&self.centroids);
    }

    /// Reads [`ProductQuantizer::save`]'s form, refusing a dimension that
    /// `m` does not divide, `nbits` other than 4 or 8, a codebook size
    /// other than `m · 2^nbits · dim / m`, or a non-finite centroid.
    pub(crate) fn load(r: &mut crate::codec::Reader<'_>) -> Result<Self> {
        use crate::codec::ReadExt;
        let bad = |w: String| VectorError::Corrupt(format!("pq: {w}"));
        let dim = r.usize("pq dimension")?;
        let m = r.usize("pq m")?;
        let nbits = u32::from(r.u8("pq nbits")?);
        let centroids = r.f32s("pq centroids")?;
        if m == 0 || m > MAX_M || dim == 0 || !dim.is_multiple_of(m) {
            return Err(bad(format!("m = {m} does not divide the dimension {dim}")));
        }
        if nbits != 4 && nbits != 8 {
            return Err(bad(format!("nbits {nbits} is not 4 or 8")));
        }
        if dim.checked_mul(1 << nbits) != Some(centroids.len()) {
            return Err(bad(format!(
                "{} centroid values, {m} codebooks of {} centroids of dimension {} need more",
                centroids.len(),
                1 << nbits,
                dim / m,
            )));
        }
        if centroids.iter().any(|v| !v.is_finite()) {
            return Err(bad("a centroid is not finite".into()));
        }
        Ok(ProductQuantizer {
            dim,
            m,
            nbits,
            centroids,
        })
    }

    /// The per-query table of `query`'s distances to every centroid of
    /// every sub-space.
    ///
    /// # Errors
    /// [`VectorError::WrongDimension`] when `query.len()` is not the
    /// dimension.
    pub fn table(&self, query: &[f32], distance: PqDistance) -> Result<DistanceTable> {
        self.check_dim(query.len())?;
        let (ksub, dsub) = (self.ksub(), self.dsub());
        let k = Kernels::active();
        let mut values = vec![0.0f32; self.m * ksub];
        for (q, out) in values.chunks_exact_mut(ksub).enumerate() {
            let sub = &query[q * dsub..(q + 1) * dsub];
            let book = self.codebook(q);
            // The shapes hold by construction (ksub rows of dsub values).
            let shaped = match distance {
                PqDistance::L2 => k.l2sq_f32_many(sub, book, out),
                PqDistance::InnerProduct => k.dot_f32_many(sub, book, out).map(|()| {
                    for v in out.iter_mut() {
                        *v = -*v;
                    }
                }),
            };
            shaped.map_err(|e| VectorError::InvalidConfig(e.to_string()))?;
        }
        Ok(DistanceTable {
            m: self.m,
            ksub,
            values,
        })
    }
}

/// A query's distances to every centroid: `values()[q·ksub + c]` is the
/// distance between its sub-vector `q` and centroid `c` of sub-space `q`.
#[derive(Debug, Clone, PartialEq)]
pub struct DistanceTable {
    m: usize,
    ksub: usize,
    values: Vec<f32>,
}

impl DistanceTable {
    /// The table's values, sub-space by sub-space.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// The asymmetric distance of one vector's `m` codes: the sum of
    /// their entries, which is the distance between the query and the
    /// decoded vector (up to f32 rounding). A code out of range or a
    /// wrong count gives NaN.
    pub fn distance(&self, codes: &[u8]) -> f32 {
        if codes.len() != self.m {
            return f32::NAN;
        }
        let mut sum = 0.0f32;
        for (q, &c) in codes.iter().enumerate() {
            match self.values.get(q * self.ksub + usize::from(c)) {
                Some(v) if usize::from(c) < self.ksub => sum += v,
                _ => return f32::NAN,
            }
        }
        sum
    }

    /// The table quantized to `u8` for the fast-scan kernel (4-bit codes
    /// only): entry `(q, c)` becomes `round((t[q][c] - min_q) · scale)`
    /// with one scale for every sub-space, chosen so the largest range
    /// `max_q - min_q` maps to `min(255, 65535 / m)`, so a vector's sum of
    /// `m` entries never saturates the kernel's 16-bit lanes.
    ///
    /// # Errors
    /// [`VectorError::InvalidParam`] (key `nbits`) for 8-bit codes;
    /// [`VectorError::InvalidConfig`] when the table holds a non-finite
    /// value (a query with NaN or infinities).
    pub fn quantize(&self) -> Result<FastScanTable> {
        if self.ksub != 16 {
            return Err(invalid(
                "nbits",
                format!(
                    "fast-scan tables need 4-bit codes, the table has {} centroids per sub-space",
                    self.ksub
                ),
            ));
        }
        if let Some(p) = self.values.iter().position(|v| !v.is_finite()) {
            return Err(VectorError::InvalidConfig(format!(
                "distance table entry {p} is {} (query not finite?)",
                self.values[p]
            )));
        }
        let mins: Vec<f32> = self
            .values
            .chunks_exact(16)
            .map(|t| t.iter().copied().fold(f32::INFINITY, f32::min))
            .collect();
        let range = self
            .values
            .chunks_exact(16)
            .zip(&mins)
            .map(|(t, &lo)| t.iter().map(|&v| v - lo).fold(0.0f32, f32::max))
            .fold(0.0f32, f32::max);
        let cap = (65_535 / self.m.max(1)).min(255) as f32;
        let scale = if range > 0.0 && range.is_finite() {
            cap / range
        } else {
            1.0
        };
        let luts = self
            .values
            .chunks_exact(16)
            .zip(&mins)
            .flat_map(|(t, &lo)| {
                t.iter()
                    .map(move |&v| ((v - lo) * scale).round().clamp(0.0, cap) as u8)
            })
            .collect();
        Ok(FastScanTable {
            m: self.m,
            luts,
            scale,
            bias: mins.iter().map(|&v| f64::from(v)).sum::<f64>() as f32,
        })
    }
}

/// A [`DistanceTable`] of 4-bit codes quantized to `u8` for
/// `Kernels::pq4_fastscan`: a kernel sum `s` estimates the ADC distance as
/// `bias + s / scale`.
#[derive(Debug, Clone, PartialEq)]
pub struct FastScanTable {
    m: usize,
    luts: Vec<u8>,
    scale: f32,
    bias: f32,
}

impl FastScanTable {
    /// The `16·m` table bytes in the kernel's order.
    pub fn luts(&self) -> &[u8] {
        &self.luts
    }

    /// The distance a kernel sum stands for: `bias + sum / scale`.
    pub fn estimate(&self, sum: u16) -> f32 {
        self.bias + f32::from(sum) / self.scale
    }

    /// The bound on `|estimate - ADC distance|` from rounding the table:
    /// each of the `m` entries is off by at most half a step, `0.5 / scale`
    /// (f32 rounding of the sums comes on top).
    pub fn max_error(&self) -> f32 {
        self.m as f32 * 0.5 / self.scale
    }
}

/// Vectors encoded by one product quantizer: 8-bit codes row-major, 4-bit
/// codes in the fast-scan block layout of [`unidb_kernels::pq4`].
#[derive(Debug, Clone)]
pub struct PqCodes {
    pq: ProductQuantizer,
    n: usize,
    codes: Vec<u8>,
}

impl PqCodes {
    /// Encodes the row-major vectors `xs` (in parallel).
    ///
    /// # Errors
    /// [`VectorError::WrongDimension`] when `xs.len()` is not a multiple
    /// of the dimension.
    pub fn encode(pq: &ProductQuantizer, xs: &[f32]) -> Result<Self> {
        let codes = pq.encode_batch(xs)?;
        let n = xs.len() / pq.dim();
        let codes = if pq.nbits() == 4 {
            let mut packed = Vec::with_capacity(pq4::packed_len(n, pq.m()));
            pq4::pack(&codes, pq.m(), &mut packed)
                .map_err(|e| VectorError::InvalidConfig(e.to_string()))?;
            packed
        } else {
            codes
        };
        Ok(PqCodes {
            pq: pq.clone(),
            n,
            codes,
        })
    }

    /// Number of vectors.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The quantizer.
    pub fn quantizer(&self) -> &ProductQuantizer {
        &self.pq
    }

    /// Bytes of codes per vector: `m` with 8-bit codes, `m / 2` with 4-bit
    /// ones (the last block's padding aside).
    pub fn bytes_per_vector(&self) -> f64 {
        self.pq.m() as f64 * f64::from(self.pq.nbits()) / 8.0
    }

    /// The `m` codes of vector `i` (`None` past the end).
    pub fn codes(&self, i: usize) -> Option<Vec<u8>> {
        if i >= self.n {
            return None;
        }
        let m = self.pq.m();
        if self.pq.nbits() == 8 {
            return Some(self.codes[i * m..(i + 1) * m].to_vec());
        }
        let bytes = pq4::block_bytes(m);
        let block = &self.codes[(i / pq4::BLOCK) * bytes..(i / pq4::BLOCK + 1) * bytes];
        let all = pq4::unpack(block, m, pq4::BLOCK).ok()?;
        let j = i % pq4::BLOCK;
        Some(all[j * m..(j + 1) * m].to_vec())
    }

    /// The estimated distance of every vector to `query`: the f32 ADC
    /// distance with 8-bit codes, the fast-scan estimate with 4-bit ones.
    ///
    /// # Errors
    /// [`VectorError::WrongDimension`] for a query of another dimension;
    /// [`VectorError::InvalidConfig`] for a non-finite query with 4-bit
    /// codes.
    pub fn distances(&self, query: &[f32], distance: PqDistance) -> Result<Vec<f32>> {
        let table = self.pq.table(query, distance)?;
        let m = self.pq.m();
        if self.pq.nbits() == 8 {
            return Ok(self
                .codes
                .chunks_exact(m)
                .map(|c| table.distance(c))
                .collect());
        }
        let fast = table.quantize()?;
        let mut sums = vec![0u16; self.n.div_ceil(pq4::BLOCK) * pq4::BLOCK];
        Kernels::active()
            .pq4_fastscan(&self.codes, fast.luts(), m, &mut sums)
            .map_err(|e| VectorError::InvalidConfig(e.to_string()))?;
        Ok(sums[..self.n].iter().map(|&s| fast.estimate(s)).collect())
    }

    /// The `k` vectors with the smallest estimated distance (see
    /// [`PqCodes::distances`]), closest first, ties by index.
    ///
    /// # Errors
    /// As [`PqCodes::distances`].
    pub fn search(&self, query: &[f32], k: usize, distance: PqDistance) -> Result<Vec<Neighbor>> {
        let mut top = TopK::new(k);
        for (i, d) in self.distances(query, distance)?.into_iter().enumerate() {
            top.push(Neighbor {
                distance: d,
                slot: i as u32,
            });
        }
        Ok(top.into_sorted())
    }

    /// The `k · k_factor` best by estimate, re-scored exactly on the
    /// original rows `originals` (row-major, same order as encoded), of
    /// which the `k` nearest, closest first with exact distances.
    ///
    /// # Errors
    /// As [`PqCodes::distances`], and [`VectorError::WrongDimension`] when
    /// `originals` does not hold the encoded number of rows.
    pub fn search_rerank(
        &self,
        query: &[f32],
        k: usize,
        k_factor: usize,
        originals: &[f32],
        distance: PqDistance,
    ) -> Result<Vec<Neighbor>> {
        let dim = self.pq.dim();
        if originals.len() != self.n * dim {
            return Err(VectorError::WrongDimension {
                expected: self.n * dim,
                got: originals.len(),
            });
        }
        let metric = Metric::by_name(distance.metric_name())?;
        let candidates = self.search(query, k.saturating_mul(k_factor.max(1)), distance)?;
        let mut top = TopK::new(k);
        for c in candidates {
            let i = c.slot as usize;
            top.push(Neighbor {
                distance: metric.distance(query, &originals[i * dim..(i + 1) * dim]),
                slot: c.slot,
            });
        }
        Ok(top.into_sorted())
    }
}
