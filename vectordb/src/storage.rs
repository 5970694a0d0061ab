//! Row encodings (f32, f16, i8 scalar quantization; see [`Storage`] for
//! what each costs and the error it gives) and `Space`, the one
//! row-distance abstraction every index computes distances through,
//! whatever the encoding: a query prepared once per search, distances
//! from it to a slot or to a run of slots, and between two slots.
//! `with_space!` matches the storage once per search or insert, so each
//! index is written once and monomorphised per encoding.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::str::FromStr;

use unidb_kernels::f16::{f16_to_f32, f32_to_f16};
use unidb_kernels::Kernels;

use crate::error::VectorError;
use crate::metric::Metric;
use crate::quant::pq::ProductQuantizer;
use crate::quant::sq4::{Sq4Quantizer, Sq4Table};

/// How vector components are stored: f32, IEEE half (f16) or 8-bit
/// scalar-quantized (i8).
///
/// # Choosing a storage
/// | storage | bytes/value | distance kernels | error of a stored value |
/// |---------|-------------|------------------|-------------------------|
/// | [`Storage::F32`] | 4 | f32 (one-to-many for exact search) | none |
/// | [`Storage::F16`] | 2 | `l2sq_f16`, `dot_f16`, `cosine_f16` | relative ≤ 2⁻¹¹ (round to nearest half; absolute ≤ 2⁻²⁵ below 2⁻¹⁴) |
/// | [`Storage::I8`]  | 1 (+ 4 per row) | `dot_i8` | ≤ `scale_j / 2` inside dimension `j`'s trained range |
/// | [`Storage::Pq`]  | `m` or `⌈m/2⌉` per row | per-query distance table | the sub-vectors' nearest centroids |
/// | [`Storage::Sq4`] | ½ (`⌈dim/2⌉` per row) | per-query table, 16 entries per dimension | ≤ `step_j / 2` inside dimension `j`'s range; beyond it, clamped to the range |
///
/// Every non-binary metric works on every storage: `l2`, `ip` and `cosine`
/// run the half/integer kernels directly on the encoded rows; other metrics
/// (`l1`, user metrics) decode the row into a per-thread buffer and call the
/// metric's f32 function. Binary metrics (`hamming`, `jaccard`) interpret
/// f32 bit patterns and are rejected for f16/i8 storage
/// ([`crate::VectorError::InvalidConfig`]).
///
/// # Queries
/// Queries stay f32 in the API. Each search encodes its query once: for
/// f16 rounded to half, so a distance is the one between the rounded query
/// and the stored row; for i8 as described below. Every result distance
/// is the distance between the encoded query and the decoded row,
/// computed by the kernels (within f32 accumulation error).
///
/// # f16
/// Rows are IEEE 754 binary16 bit patterns (`u16`), rounded to nearest,
/// ties to even. A finite component beyond ±65504 cannot be stored and is a
/// [`crate::VectorError::OutOfRange`] error on insert; in a query it
/// saturates to ±65504.
///
/// # i8 (scalar quantization)
/// One [`Quantizer`] per collection, with a range and a step per
/// dimension: `x_j ≈ offset_j + scale_j · q` with an integer code
/// `q ∈ [-127, 127]` (symmetric, so −128 is never used). Dimension `j`
/// covers `[offset_j − 127·scale_j, offset_j + 127·scale_j]`; a value
/// inside it (or within half a step beyond) is stored off by at most
/// `scale_j / 2`. Each dimension keeps all 255 codes, however narrow it
/// is next to the others.
///
/// * For `l2` (and the decoded metrics) each dimension's range is its
///   data's: `offset_j = (min_j + max_j) / 2`, `scale_j = (max_j − min_j)
///   / 254`.
/// * For `ip` and `cosine` every offset is zero and `scale_j = max_j |x| /
///   127`, so inner products need no offset terms.
///
/// Distances stay one integer kernel call per row. A query `x` is encoded
/// per search as codes of `u_j = (x_j − offset_j) · scale_j` with one step
/// `t` for the whole query ([`Quantizer::encode_query`]); then
/// `Σ_j (x̂_j − offset_j) · scale_j q_j = t · (p · q)` for the encoded
/// query `x̂`, and each stored row keeps `n = Σ_j scale_j² q_j²`
/// ([`Quantizer::code_norm`]), so `l2 = ‖x̂ − offset‖² − 2 t (p · q) + n`,
/// `ip = −t (p · q)` and `cosine = 1 − t (p · q) / (‖x̂‖ √n)`. A query value
/// outside the trained range is not clamped. The distance between two
/// stored rows (graph construction) is computed on their decoded values.
///
/// **Training, and values that do not fit.** A stored value is never
/// clamped. Until the quantizer is trained, an i8 collection holds its
/// rows as f32 (searches, indexes and saved files work on them as they
/// are); it trains on every stored row and the incoming ones as soon as
/// they make [`crate::CollectionConfig::i8_train_rows`] rows (default
/// 1000), or when [`crate::Collection::train_quantizer`] is called (on a
/// sample plus the stored rows), then encodes the stored rows and
/// rebuilds the indexes. A configured
/// [`crate::CollectionConfig::i8_range`] fixes the quantizer from the
/// start. Once trained, inserting a value more than half a step outside
/// its dimension's range (or any non-finite value) is refused with
/// [`crate::VectorError::OutOfRange`], naming the position, and nothing
/// is stored: train on a representative sample, or configure a range
/// wide enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Storage {
    /// 32-bit floats, exactly as inserted.
    #[default]
    F32,
    /// IEEE half floats (2 bytes per value).
    F16,
    /// 8-bit scalar quantization with one per-collection [`Quantizer`], a
    /// range per dimension (1 byte per value).
    I8,
    /// Product quantization ([`crate::quant::pq`]): `m` codes of 8 or 4
    /// bits per row, scored against a per-query distance table, with the
    /// quantizer trained on the collection's first rows or a sample
    /// ([`crate::CollectionConfig::pq`] sets `m` and `nbits`; `l2` and
    /// `ip` only). Distances are to the decoded (centroid) vectors;
    /// [`crate::CollectionConfig::refine`] keeps the original rows and
    /// re-scores the candidates exactly.
    Pq,
    /// 4-bit scalar quantization ([`crate::quant::sq4`]): a range of 16
    /// levels per dimension (min/max, or quantiles with
    /// [`crate::CollectionConfig::sq4_quantile`]) trained as i8's is,
    /// two codes per byte, scored through a per-query table (the exact
    /// distance between the f32 query and the decoded row, for `l2`,
    /// `ip` and `cosine`). Lossy like pq: a value beyond its dimension's
    /// range is stored as the extreme level (keep the originals with
    /// [`crate::CollectionConfig::refine`] to re-score exactly);
    /// non-finite values are refused.
    Sq4,
}

impl Storage {
    /// Bytes per stored component.
    pub const fn bytes_per_value(self) -> usize {
        match self {
            Storage::F32 => 4,
            Storage::F16 => 2,
            Storage::I8 => 1,
            // A value is a byte of codes (see `ProductQuantizer::code_bytes`
            // and `Sq4Quantizer::code_bytes`).
            Storage::Pq | Storage::Sq4 => 1,
        }
    }

    /// The lowercase name (`f32`, `f16`, `i8`, `pq`, `sq4`).
    pub const fn name(self) -> &'static str {
        match self {
            Storage::F32 => "f32",
            Storage::F16 => "f16",
            Storage::I8 => "i8",
            Storage::Pq => "pq",
            Storage::Sq4 => "sq4",
        }
    }

    pub(crate) const fn tag(self) -> u8 {
        match self {
            Storage::F32 => 0,
            Storage::F16 => 1,
            Storage::I8 => 2,
            Storage::Pq => 3,
            Storage::Sq4 => 4,
        }
    }

    pub(crate) const fn from_tag(tag: u8) -> Option<Storage> {
        match tag {
            0 => Some(Storage::F32),
            1 => Some(Storage::F16),
            2 => Some(Storage::I8),
            3 => Some(Storage::Pq),
            4 => Some(Storage::Sq4),
            _ => None,
        }
    }

    /// Whether rows wait as f32 until a quantizer is trained (i8, pq,
    /// sq4).
    pub const fn is_trained(self) -> bool {
        matches!(self, Storage::I8 | Storage::Pq | Storage::Sq4)
    }
}

impl fmt::Display for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Storage {
    type Err = VectorError;

    /// Parses `f32`, `f16`, `i8`, `pq` or `sq4` (case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "f32" => Ok(Storage::F32),
            "f16" => Ok(Storage::F16),
            "i8" => Ok(Storage::I8),
            "pq" => Ok(Storage::Pq),
            "sq4" => Ok(Storage::Sq4),
            _ => Err(VectorError::InvalidConfig(format!(
                "unknown storage {s:?}; known: f32, f16, i8, pq, sq4"
            ))),
        }
    }
}

/// The largest finite half value.
pub(crate) const F16_MAX: f32 = 65504.0;

/// The i8 scalar quantizer: per dimension `j`, `x ≈ offsets[j] +
/// scales[j] · q` with `q ∈ [-127, 127]` (see [`Storage`]).
///
/// Each dimension has its own range: its own offset and its own step, so a
/// narrow dimension keeps all 255 codes however wide the others are.
/// Distances stay integer kernel calls: a query is encoded per search
/// into codes weighted by the steps (see [`Storage`]), and each stored
/// row keeps `Σ scales[j]² q_j²`, computed when it is stored.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct Quantizer {
    /// Per dimension, the value code 0 stands for (all zero for `ip` and
    /// `cosine`).
    pub offsets: Vec<f32>,
    /// Per dimension, the value of one code step (finite, > 0).
    pub scales: Vec<f32>,
}

/// Clamps a bound to a finite value (NaN to 0).
fn finite_bound(v: f32) -> f32 {
    if v.is_nan() {
        0.0
    } else {
        v.clamp(-f32::MAX, f32::MAX)
    }
}

impl Quantizer {
    /// A quantizer giving every one of `dim` dimensions the range
    /// `[lo, hi]` (see [`Quantizer::for_ranges`]).
    pub fn for_range(lo: f32, hi: f32, dim: usize, symmetric: bool) -> Quantizer {
        Quantizer::for_ranges(&vec![(lo, hi); dim], symmetric)
    }

    /// A quantizer covering `ranges[j] = (lo, hi)` in dimension `j`: each
    /// dimension's offset is the middle of its range and its step the
    /// range over 254 steps; or, when `symmetric` (needed by `ip` and
    /// `cosine`), every offset is zero and each step is the dimension's
    /// largest magnitude over 127. Non-finite bounds are clamped to
    /// ±`f32::MAX` (NaN to 0); `lo > hi` is swapped. A dimension whose
    /// range is a single value gets the widest dimension's step (or, when
    /// every range is a single value, a range widened by 1 on each side).
    pub fn for_ranges(ranges: &[(f32, f32)], symmetric: bool) -> Quantizer {
        let fixed: Vec<(f32, f32)> = ranges
            .iter()
            .map(|&(a, b)| (finite_bound(a.min(b)), finite_bound(a.max(b))))
            .collect();
        let own: Vec<f32> = fixed
            .iter()
            .map(|&(lo, hi)| {
                if symmetric {
                    lo.abs().max(hi.abs()) / 127.0
                } else {
                    hi / 254.0 - lo / 254.0
                }
            })
            .collect();
        let widest = own.iter().copied().fold(0.0f32, f32::max);
        // A range of ±1 (symmetric) or of width 2: the same step.
        let fallback = if widest > 0.0 { widest } else { 1.0 / 127.0 };
        let scales = own
            .iter()
            .map(|&s| if s > 0.0 { s } else { fallback }.max(f32::MIN_POSITIVE))
            .collect();
        let offsets = if symmetric {
            vec![0.0; fixed.len()]
        } else {
            fixed.iter().map(|&(lo, hi)| lo / 2.0 + hi / 2.0).collect()
        };
        Quantizer { offsets, scales }
    }

    /// Trains on row-major sample vectors of dimension `dim`: the min and
    /// max of the finite values of each dimension (a dimension with none
    /// gets `[0, 0]`; see [`Quantizer::for_ranges`]). `None` when no value
    /// is finite or `dim` is 0.
    pub fn train(values: &[f32], dim: usize, symmetric: bool) -> Option<Quantizer> {
        Quantizer::train_parts(&[values], dim, symmetric)
    }

    /// [`Quantizer::train`] over several row-major parts at once (no copy).
    pub(crate) fn train_parts(parts: &[&[f32]], dim: usize, symmetric: bool) -> Option<Quantizer> {
        if dim == 0 {
            return None;
        }
        let mut ranges = vec![(f32::INFINITY, f32::NEG_INFINITY); dim];
        let mut any = false;
        for row in parts.iter().flat_map(|p| p.chunks(dim)) {
            for (r, &v) in ranges.iter_mut().zip(row) {
                if v.is_finite() {
                    any = true;
                    *r = (r.0.min(v), r.1.max(v));
                }
            }
        }
        if !any {
            return None;
        }
        for r in &mut ranges {
            if r.0 > r.1 {
                *r = (0.0, 0.0);
            }
        }
        Some(Quantizer::for_ranges(&ranges, symmetric))
    }

    /// The dimension.
    pub fn dim(&self) -> usize {
        self.offsets.len()
    }

    /// The values of the extreme codes ±127 in dimension `j`: a value is
    /// accepted by [`Quantizer::try_encode`] when it is at most half a step
    /// beyond them (it rounds to them); `None` when `j` is out of range.
    pub fn bounds(&self, j: usize) -> Option<(f32, f32)> {
        let o = *self.offsets.get(j)?;
        let s = self.scales[j];
        Some((o - 127.0 * s, o + 127.0 * s))
    }

    /// The unclamped code of `x` in dimension `j` (NaN when `x` is NaN).
    #[inline]
    fn raw_code(&self, x: f32, j: usize) -> f32 {
        ((x - self.offsets[j]) / self.scales[j]).round()
    }

    /// The code of `x` in dimension `j`, `None` when `x` is not finite or
    /// is more than half a step beyond [`Quantizer::bounds`] (it cannot be
    /// stored within `scales[j] / 2`).
    ///
    /// # Panics
    /// When `j` is not below [`Quantizer::dim`].
    #[inline]
    pub fn encode_one(&self, x: f32, j: usize) -> Option<i8> {
        let q = self.raw_code(x, j);
        (-127.0..=127.0).contains(&q).then_some(q as i8)
    }

    /// The code of `x` in dimension `j`, clamped to the range (NaN gives
    /// 0).
    #[inline]
    pub fn encode_clamped(&self, x: f32, j: usize) -> i8 {
        let q = self.raw_code(x, j);
        if q.is_nan() {
            0
        } else {
            q.clamp(-127.0, 127.0) as i8
        }
    }

    /// The value of code `q` in dimension `j`.
    #[inline]
    pub fn decode_one(&self, q: i8, j: usize) -> f32 {
        self.offsets[j] + self.scales[j] * f32::from(q)
    }

    /// Encodes one vector (of length [`Quantizer::dim`]) into `out`, or
    /// returns the position of the first value [`Quantizer::encode_one`]
    /// refuses (`out` is then partly written).
    pub fn try_encode(&self, v: &[f32], out: &mut [i8]) -> Result<(), usize> {
        for (j, (o, &x)) in out.iter_mut().zip(v).enumerate() {
            *o = self.encode_one(x, j).ok_or(j)?;
        }
        Ok(())
    }

    /// Encodes row-major vectors, clamping (see
    /// [`Quantizer::encode_clamped`]).
    pub fn encode(&self, v: &[f32], out: &mut [i8]) {
        let d = self.dim().max(1);
        for (i, (o, x)) in out.iter_mut().zip(v).enumerate() {
            *o = self.encode_clamped(*x, i % d);
        }
    }

    /// Decodes row-major codes whose first value is in dimension
    /// `start % dim`.
    pub fn decode_from(&self, start: usize, codes: &[i8], out: &mut [f32]) {
        let d = self.dim().max(1);
        let mut j = start % d;
        for (o, q) in out.iter_mut().zip(codes) {
            *o = self.decode_one(*q, j);
            j += 1;
            if j == d {
                j = 0;
            }
        }
    }

    /// Decodes row-major codes that start on a row boundary.
    pub fn decode(&self, codes: &[i8], out: &mut [f32]) {
        self.decode_from(0, codes, out);
    }

    /// `Σ scales[j]² · codes[j]²`: the squared norm of a decoded row
    /// minus the offsets (the norm itself for `ip` and `cosine`), the
    /// per-row term of every i8 distance (see [`Storage`]).
    pub fn code_norm(&self, codes: &[i8]) -> f32 {
        let s: f64 = codes
            .iter()
            .zip(&self.scales)
            .map(|(&c, &s)| {
                let v = f64::from(s) * f64::from(c);
                v * v
            })
            .sum();
        s as f32
    }

    /// [`Quantizer::code_norm`] of every row of row-major codes.
    pub(crate) fn code_norms(&self, codes: &[i8]) -> Vec<f32> {
        codes
            .chunks_exact(self.dim().max(1))
            .map(|r| self.code_norm(r))
            .collect()
    }

    /// Encodes a query for the i8 kernels: `u_j = (x_j − offsets[j]) ·
    /// scales[j]` rounded to codes `p_j = round(u_j / t)` with one step
    /// `t = max |u_j| / 127` for the whole query. Returns the codes and
    /// `t`; the query the distances are then exactly to (up to f32
    /// accumulation) is `x̂_j = offsets[j] + p_j · t / scales[j]`
    /// ([`Quantizer::decoded_query`]).
    pub fn encode_query(&self, x: &[f32]) -> (Vec<i8>, f32) {
        let u: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(j, &v)| (f64::from(v) - f64::from(self.offsets[j])) * f64::from(self.scales[j]))
            .collect();
        let largest = u.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let t = if largest > 0.0 && largest.is_finite() {
            (largest / 127.0) as f32
        } else {
            1.0
        };
        let t64 = f64::from(t);
        let codes = u
            .iter()
            .map(|v| {
                let c = (v / t64).round();
                if c.is_nan() {
                    0
                } else {
                    c.clamp(-127.0, 127.0) as i8
                }
            })
            .collect();
        (codes, t)
    }

    /// The query [`Quantizer::encode_query`]'s codes stand for:
    /// `offsets[j] + codes[j] · t / scales[j]`.
    pub fn decoded_query(&self, codes: &[i8], t: f32) -> Vec<f32> {
        codes
            .iter()
            .enumerate()
            .map(|(j, &c)| {
                (f64::from(self.offsets[j])
                    + f64::from(c) * f64::from(t) / f64::from(self.scales[j]))
                    as f32
            })
            .collect()
    }

    /// Whether every offset is 0 (required for `ip` and `cosine`).
    pub fn is_symmetric(&self) -> bool {
        self.offsets.iter().all(|&o| o == 0.0)
    }

    /// Whether the parameters are usable (finite offsets, finite steps
    /// > 0, finite extreme codes) for dimension `dim`.
    pub fn is_valid(&self, dim: usize) -> bool {
        self.offsets.len() == dim
            && self.scales.len() == dim
            && self.offsets.iter().zip(&self.scales).all(|(o, s)| {
                o.is_finite()
                    && s.is_finite()
                    && *s > 0.0
                    && (o - 127.0 * s).is_finite()
                    && (o + 127.0 * s).is_finite()
                    // The query weights `u · s` and the row norms stay finite.
                    && (127.0 * s * s).is_finite()
            })
    }
}

/// Converts a vector to half bits; components beyond ±65504 saturate
/// (inf and NaN are kept).
pub(crate) fn to_f16(v: &[f32], out: &mut [u16]) {
    for (o, x) in out.iter_mut().zip(v) {
        let x = if x.is_finite() {
            x.clamp(-F16_MAX, F16_MAX)
        } else {
            *x
        };
        *o = f32_to_f16(x);
    }
}

/// The rows of a collection, as stored (one row per slot, row-major).
#[derive(Debug, Clone, Copy)]
pub enum RowsRef<'a> {
    /// f32 rows.
    F32(&'a [f32]),
    /// IEEE half rows (bit patterns).
    F16(&'a [u16]),
    /// Quantized rows and their quantizer.
    I8 {
        /// The codes.
        codes: &'a [i8],
        /// How codes map to values.
        quantizer: &'a Quantizer,
        /// Per row, [`Quantizer::code_norm`] of its codes.
        norms: &'a [f32],
    },
    /// Product-quantization codes ([`ProductQuantizer::code_bytes`] per
    /// row) and their quantizer.
    Pq {
        /// The rows of codes.
        codes: &'a [u8],
        /// How codes map to vectors.
        pq: &'a ProductQuantizer,
    },
    /// 4-bit scalar codes ([`Sq4Quantizer::code_bytes`] per row) and
    /// their quantizer.
    Sq4 {
        /// The rows of codes.
        codes: &'a [u8],
        /// How codes map to values.
        quant: &'a Sq4Quantizer,
        /// Per row, [`Sq4Quantizer::code_norm`] of its codes.
        norms: &'a [f32],
    },
}

impl RowsRef<'_> {
    /// The storage kind.
    pub fn storage(&self) -> Storage {
        match self {
            RowsRef::F32(_) => Storage::F32,
            RowsRef::F16(_) => Storage::F16,
            RowsRef::I8 { .. } => Storage::I8,
            RowsRef::Pq { .. } => Storage::Pq,
            RowsRef::Sq4 { .. } => Storage::Sq4,
        }
    }

    /// Number of stored values (slots × dimension; for pq and sq4,
    /// slots × code bytes).
    pub fn values(&self) -> usize {
        match self {
            RowsRef::F32(r) => r.len(),
            RowsRef::F16(r) => r.len(),
            RowsRef::I8 { codes, .. } => codes.len(),
            RowsRef::Pq { codes, .. } | RowsRef::Sq4 { codes, .. } => codes.len(),
        }
    }

    /// Decodes values `start..start + out.len()` into `out` (positions
    /// count `dim` values per row whatever the encoding).
    pub fn decode_into(&self, start: usize, out: &mut [f32]) {
        if let RowsRef::Pq { codes, pq } = self {
            let (dim, bytes) = (pq.dim(), pq.code_bytes());
            let mut row = vec![0.0; dim];
            for (i, o) in out.iter_mut().enumerate() {
                let (slot, j) = ((start + i) / dim, (start + i) % dim);
                if i == 0 || j == 0 {
                    pq.decode_row(&codes[slot * bytes..(slot + 1) * bytes], &mut row);
                }
                *o = row[j];
            }
            return;
        }
        if let RowsRef::Sq4 { codes, quant, .. } = self {
            let (dim, bytes) = (quant.dim(), quant.code_bytes());
            let mut row = vec![0.0; dim];
            for (i, o) in out.iter_mut().enumerate() {
                let (slot, j) = ((start + i) / dim, (start + i) % dim);
                if i == 0 || j == 0 {
                    quant.decode_row(&codes[slot * bytes..(slot + 1) * bytes], &mut row);
                }
                *o = row[j];
            }
            return;
        }
        let end = start + out.len();
        match self {
            RowsRef::F32(r) => out.copy_from_slice(&r[start..end]),
            RowsRef::F16(r) => {
                for (o, h) in out.iter_mut().zip(&r[start..end]) {
                    *o = f16_to_f32(*h);
                }
            }
            RowsRef::I8 {
                codes, quantizer, ..
            } => quantizer.decode_from(start, &codes[start..end], out),
            RowsRef::Pq { .. } | RowsRef::Sq4 { .. } => {}
        }
    }
}

// ---------- the row-distance abstraction ----------

/// Which fast path a metric has on encoded rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fast {
    L2,
    Ip,
    Cosine,
    /// Decode the row and call the metric's f32 function.
    Decode,
}

impl Fast {
    pub(crate) fn of(metric: Metric) -> Fast {
        match metric.name() {
            "l2" => Fast::L2,
            "ip" => Fast::Ip,
            "cosine" => Fast::Cosine,
            _ => Fast::Decode,
        }
    }
}

/// Distances from prepared queries to stored rows, and between two stored
/// rows, for one storage encoding. Indexes are written once, generic over
/// `Space`, and monomorphised per storage (see `with_space!`): the storage
/// is matched once per search or insert, never per distance.
pub(crate) trait Space: Copy + Send + Sync {
    /// A query encoded for this space.
    type Query<'q>: Sync
    where
        Self: 'q;

    /// Encodes an f32 query (once per search).
    fn prepare<'q>(&'q self, q: &'q [f32]) -> Self::Query<'q>;
    /// A stored row as a query (borrowed where possible).
    fn prepare_slot(&self, slot: u32) -> Self::Query<'_>;
    /// Distance of the query to `slot`.
    fn dist(&self, q: &Self::Query<'_>, slot: u32) -> f32;
    /// `out[i] = dist(q, first + i)`.
    fn dist_many(&self, q: &Self::Query<'_>, first: usize, out: &mut [f32]);
    /// Distance between two stored rows.
    fn pair(&self, a: u32, b: u32) -> f32;
    /// Hints the CPU to fetch a row (up to its first 512 bytes).
    fn prefetch(&self, slot: u32);
}

/// Hints the CPU to fetch a stored row, up to its first 512 bytes.
#[inline(always)]
fn prefetch_row<T>(row: &[T]) {
    let n = row.len().min(512 / std::mem::size_of::<T>().max(1));
    unidb_kernels::prefetch(&row[..n]);
}

thread_local! {
    /// Scratch rows for the decoding fallback (no allocation per distance
    /// once warm).
    static SCRATCH: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Calls `f` with two scratch buffers of `dim` values each.
fn with_scratch<R>(dim: usize, f: impl FnOnce(&mut [f32], &mut [f32]) -> R) -> R {
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut s) => {
            let (a, b) = &mut *s;
            a.resize(dim, 0.0);
            b.resize(dim, 0.0);
            f(&mut a[..dim], &mut b[..dim])
        }
        // Re-entered from inside a user metric: use fresh buffers.
        Err(_) => f(&mut vec![0.0; dim], &mut vec![0.0; dim]),
    })
}

/// f32 rows: `l2`, `ip` and `cosine` call the active kernels directly
/// (resolved once, when the space is made); other metrics call the
/// metric's own function. Both give the metric's value exactly (the
/// metric plugins of those three names are these kernels).
#[derive(Clone, Copy)]
pub(crate) struct F32Space<'a> {
    pub(crate) dim: usize,
    pub(crate) rows: &'a [f32],
    pub(crate) metric: Metric,
    pub(crate) fast: Fast,
    pub(crate) k: &'static Kernels,
}

impl<'a> F32Space<'a> {
    #[inline(always)]
    fn row(&self, slot: u32) -> &'a [f32] {
        let s = slot as usize * self.dim;
        &self.rows[s..s + self.dim]
    }

    #[inline(always)]
    fn kernel(&self, a: &[f32], b: &[f32]) -> f32 {
        // Lengths are equal by construction; NaN keeps a bug visible.
        match self.fast {
            Fast::L2 => self.k.l2sq_f32(a, b).unwrap_or(f32::NAN),
            Fast::Ip => self.k.dot_f32(a, b).map_or(f32::NAN, |d| -d),
            Fast::Cosine => self.k.cosine_f32(a, b).unwrap_or(f32::NAN),
            Fast::Decode => self.metric.distance(a, b),
        }
    }
}

impl Space for F32Space<'_> {
    type Query<'q>
        = &'q [f32]
    where
        Self: 'q;

    #[inline]
    fn prepare<'q>(&'q self, q: &'q [f32]) -> &'q [f32] {
        q
    }
    #[inline]
    fn prepare_slot(&self, slot: u32) -> &[f32] {
        self.row(slot)
    }
    #[inline(always)]
    fn dist(&self, q: &&[f32], slot: u32) -> f32 {
        self.kernel(q, self.row(slot))
    }
    #[inline]
    fn dist_many(&self, q: &&[f32], first: usize, out: &mut [f32]) {
        let d = self.dim;
        self.metric
            .distance_many(q, &self.rows[first * d..(first + out.len()) * d], out);
    }
    #[inline(always)]
    fn pair(&self, a: u32, b: u32) -> f32 {
        self.kernel(self.row(a), self.row(b))
    }
    #[inline(always)]
    fn prefetch(&self, slot: u32) {
        prefetch_row(self.row(slot));
    }
}

/// Half rows: the f16 kernels for l2/ip/cosine, decoding otherwise.
#[derive(Clone, Copy)]
pub(crate) struct F16Space<'a> {
    pub(crate) dim: usize,
    pub(crate) rows: &'a [u16],
    pub(crate) metric: Metric,
    pub(crate) fast: Fast,
    pub(crate) k: &'static Kernels,
}

/// A query for [`F16Space`]: half bits, plus the f32 values for the
/// decoding fallback.
pub(crate) struct HalfQuery<'q> {
    h: Cow<'q, [u16]>,
    f: Cow<'q, [f32]>,
}

impl<'a> F16Space<'a> {
    #[inline(always)]
    fn row(&self, slot: u32) -> &'a [u16] {
        let s = slot as usize * self.dim;
        &self.rows[s..s + self.dim]
    }

    #[inline(always)]
    fn kernel(&self, a: &[u16], b: &[u16]) -> f32 {
        // Lengths are equal by construction; NaN keeps a bug visible.
        match self.fast {
            Fast::L2 => self.k.l2sq_f16(a, b).unwrap_or(f32::NAN),
            Fast::Ip => self.k.dot_f16(a, b).map_or(f32::NAN, |d| -d),
            Fast::Cosine => self.k.cosine_f16(a, b).unwrap_or(f32::NAN),
            Fast::Decode => with_scratch(self.dim, |x, y| {
                for (o, h) in x.iter_mut().zip(a) {
                    *o = f16_to_f32(*h);
                }
                for (o, h) in y.iter_mut().zip(b) {
                    *o = f16_to_f32(*h);
                }
                self.metric.distance(x, y)
            }),
        }
    }
}

impl Space for F16Space<'_> {
    type Query<'q>
        = HalfQuery<'q>
    where
        Self: 'q;

    fn prepare<'q>(&'q self, q: &'q [f32]) -> HalfQuery<'q> {
        let mut h = vec![0u16; q.len()];
        to_f16(q, &mut h);
        let f = if self.fast == Fast::Decode {
            // The decoded query, so the fallback sees what the kernels see.
            Cow::Owned(h.iter().map(|&b| f16_to_f32(b)).collect())
        } else {
            Cow::Borrowed(&[][..])
        };
        HalfQuery {
            h: Cow::Owned(h),
            f,
        }
    }

    fn prepare_slot(&self, slot: u32) -> HalfQuery<'_> {
        let r = self.row(slot);
        let f = if self.fast == Fast::Decode {
            Cow::Owned(r.iter().map(|&b| f16_to_f32(b)).collect())
        } else {
            Cow::Borrowed(&[][..])
        };
        HalfQuery {
            h: Cow::Borrowed(r),
            f,
        }
    }

    #[inline(always)]
    fn dist(&self, q: &HalfQuery<'_>, slot: u32) -> f32 {
        let row = self.row(slot);
        if self.fast == Fast::Decode {
            return with_scratch(self.dim, |x, _| {
                for (o, h) in x.iter_mut().zip(row) {
                    *o = f16_to_f32(*h);
                }
                self.metric.distance(&q.f, x)
            });
        }
        self.kernel(&q.h, row)
    }

    fn dist_many(&self, q: &HalfQuery<'_>, first: usize, out: &mut [f32]) {
        // The one-to-many kernels give exactly what `dist` gives row by row
        // (same kernel arithmetic per row), with the query loaded once per
        // group of rows instead of once per row.
        let d = self.dim;
        let rows = &self.rows[first * d..(first + out.len()) * d];
        let done = match self.fast {
            Fast::L2 => self.k.l2sq_f16_many(&q.h, rows, out).is_ok(),
            Fast::Ip => {
                let ok = self.k.dot_f16_many(&q.h, rows, out).is_ok();
                if ok {
                    for o in out.iter_mut() {
                        *o = -*o;
                    }
                }
                ok
            }
            Fast::Cosine => self.k.cosine_f16_many(&q.h, rows, out).is_ok(),
            Fast::Decode => false,
        };
        if !done {
            for (i, o) in out.iter_mut().enumerate() {
                *o = self.dist(q, (first + i) as u32);
            }
        }
    }

    #[inline(always)]
    fn pair(&self, a: u32, b: u32) -> f32 {
        self.kernel(self.row(a), self.row(b))
    }

    #[inline(always)]
    fn prefetch(&self, slot: u32) {
        prefetch_row(self.row(slot));
    }
}

/// Quantized rows: the i8 kernels for l2/ip/cosine (the query encoded by
/// [`Quantizer::encode_query`], each row's [`Quantizer::code_norm`]
/// precomputed), decoding otherwise.
#[derive(Clone, Copy)]
pub(crate) struct I8Space<'a> {
    pub(crate) dim: usize,
    pub(crate) codes: &'a [i8],
    /// Per row (from the first row of `codes`), its code norm.
    pub(crate) norms: &'a [f32],
    pub(crate) quant: &'a Quantizer,
    pub(crate) metric: Metric,
    pub(crate) fast: Fast,
    pub(crate) k: &'static Kernels,
}

/// A query for [`I8Space`]: weighted codes and their step, the query's
/// own term (`l2`: `‖x̂ − offsets‖²`; `cosine`: `‖x̂‖`), and the decoded
/// query for the decoding fallback.
pub(crate) struct CodeQuery {
    c: Vec<i8>,
    t: f32,
    own: f64,
    f: Vec<f32>,
}

/// Cosine distance from a dot product and the two norms, with the
/// zero-vector rules of [`Kernels::cosine_f32`].
#[inline(always)]
fn cosine_of(dot: f64, na: f64, nb: f64) -> f32 {
    if na == 0.0 && nb == 0.0 {
        return 0.0;
    }
    if na == 0.0 || nb == 0.0 {
        return 1.0;
    }
    (1.0 - dot / (na * nb)).clamp(0.0, 2.0) as f32
}

impl<'a> I8Space<'a> {
    #[inline(always)]
    fn row(&self, slot: u32) -> &'a [i8] {
        let s = slot as usize * self.dim;
        &self.codes[s..s + self.dim]
    }

    fn query_of(&self, x: &[f32]) -> CodeQuery {
        let (c, t) = self.quant.encode_query(x);
        let decoded = self.quant.decoded_query(&c, t);
        let own = match self.fast {
            Fast::L2 => decoded
                .iter()
                .zip(&self.quant.offsets)
                .map(|(&v, &o)| {
                    let d = f64::from(v) - f64::from(o);
                    d * d
                })
                .sum(),
            Fast::Cosine => decoded
                .iter()
                .map(|&v| f64::from(v) * f64::from(v))
                .sum::<f64>()
                .sqrt(),
            _ => 0.0,
        };
        let f = if self.fast == Fast::Decode {
            decoded
        } else {
            Vec::new()
        };
        CodeQuery { c, t, own, f }
    }

    /// The distance from the query to a row with integer dot product
    /// `dot` and code norm `norm`.
    #[inline(always)]
    fn finish(&self, q: &CodeQuery, dot: i32, norm: f32) -> f32 {
        let cross = f64::from(q.t) * f64::from(dot);
        match self.fast {
            Fast::L2 => (q.own - 2.0 * cross + f64::from(norm)).max(0.0) as f32,
            Fast::Ip => -cross as f32,
            _ => cosine_of(cross, q.own, f64::from(norm).sqrt()),
        }
    }

    /// The exact distance between two rows on their decoded values.
    fn decoded_pair(&self, a: &[i8], b: &[i8]) -> f32 {
        with_scratch(self.dim, |x, y| {
            self.quant.decode(a, x);
            self.quant.decode(b, y);
            match self.fast {
                Fast::L2 => self.k.l2sq_f32(x, y).unwrap_or(f32::NAN),
                Fast::Ip => self.k.dot_f32(x, y).map_or(f32::NAN, |d| -d),
                Fast::Cosine => self.k.cosine_f32(x, y).unwrap_or(f32::NAN),
                Fast::Decode => self.metric.distance(x, y),
            }
        })
    }
}

impl Space for I8Space<'_> {
    type Query<'q>
        = CodeQuery
    where
        Self: 'q;

    fn prepare<'q>(&'q self, q: &'q [f32]) -> CodeQuery {
        self.query_of(q)
    }

    fn prepare_slot(&self, slot: u32) -> CodeQuery {
        let mut x = vec![0.0; self.dim];
        self.quant.decode(self.row(slot), &mut x);
        self.query_of(&x)
    }

    #[inline(always)]
    fn dist(&self, q: &CodeQuery, slot: u32) -> f32 {
        let row = self.row(slot);
        if self.fast == Fast::Decode {
            return with_scratch(self.dim, |x, _| {
                self.quant.decode(row, x);
                self.metric.distance(&q.f, x)
            });
        }
        let dot = self.k.dot_i8(&q.c, row).unwrap_or(0);
        self.finish(q, dot, self.norms[slot as usize])
    }

    fn dist_many(&self, q: &CodeQuery, first: usize, out: &mut [f32]) {
        // The one-to-many i8 kernel (integer results equal to the
        // one-to-one ones), then per row the arithmetic of `dist`.
        // Integer results go through a stack buffer, `CHUNK` rows per
        // kernel call.
        const CHUNK: usize = 64;
        let d = self.dim;
        let mut dots = [0i32; CHUNK];
        let mut done = self.fast != Fast::Decode;
        for (c, chunk) in out.chunks_mut(CHUNK).enumerate() {
            if !done {
                break;
            }
            let start = first + c * CHUNK;
            let rows = &self.codes[start * d..(start + chunk.len()) * d];
            let n = chunk.len();
            done = self.k.dot_i8_many(&q.c, rows, &mut dots[..n]).is_ok();
            let norms = &self.norms[start..start + n];
            for ((o, &v), &norm) in chunk.iter_mut().zip(&dots[..n]).zip(norms) {
                *o = self.finish(q, v, norm);
            }
        }
        if !done {
            for (i, o) in out.iter_mut().enumerate() {
                *o = self.dist(q, (first + i) as u32);
            }
        }
    }

    #[inline(always)]
    fn pair(&self, a: u32, b: u32) -> f32 {
        self.decoded_pair(self.row(a), self.row(b))
    }

    #[inline(always)]
    fn prefetch(&self, slot: u32) {
        prefetch_row(self.row(slot));
    }
}

/// Product-quantization rows: a per-query table of distances to every
/// centroid (`l2` or `ip`), summed per row.
#[derive(Clone, Copy)]
pub(crate) struct PqSpace<'a> {
    pub(crate) codes: &'a [u8],
    pub(crate) pq: &'a ProductQuantizer,
    /// Inner product (negated) rather than squared l2.
    pub(crate) ip: bool,
    pub(crate) k: &'static Kernels,
}

impl<'a> PqSpace<'a> {
    #[inline(always)]
    fn row(&self, slot: u32) -> &'a [u8] {
        let b = self.pq.code_bytes();
        let s = slot as usize * b;
        &self.codes[s..s + b]
    }

    fn table_of(&self, x: &[f32]) -> Vec<f32> {
        use crate::quant::pq::PqDistance;
        let distance = if self.ip {
            PqDistance::InnerProduct
        } else {
            PqDistance::L2
        };
        // The query's length is the quantizer's (checked by the caller).
        self.pq
            .table(x, distance)
            .map(|t| t.values().to_vec())
            .unwrap_or_else(|_| vec![f32::NAN; self.pq.m() * self.pq.ksub()])
    }
}

impl Space for PqSpace<'_> {
    type Query<'q>
        = Vec<f32>
    where
        Self: 'q;

    fn prepare<'q>(&'q self, q: &'q [f32]) -> Vec<f32> {
        self.table_of(q)
    }

    fn prepare_slot(&self, slot: u32) -> Vec<f32> {
        let mut x = vec![0.0; self.pq.dim()];
        self.pq.decode_row(self.row(slot), &mut x);
        self.table_of(&x)
    }

    #[inline(always)]
    fn dist(&self, q: &Vec<f32>, slot: u32) -> f32 {
        self.pq.row_distance(q, self.row(slot))
    }

    fn dist_many(&self, q: &Vec<f32>, first: usize, out: &mut [f32]) {
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.dist(q, (first + i) as u32);
        }
    }

    fn pair(&self, a: u32, b: u32) -> f32 {
        let dim = self.pq.dim();
        with_scratch(dim, |x, y| {
            self.pq.decode_row(self.row(a), x);
            self.pq.decode_row(self.row(b), y);
            if self.ip {
                self.k.dot_f32(x, y).map_or(f32::NAN, |d| -d)
            } else {
                self.k.l2sq_f32(x, y).unwrap_or(f32::NAN)
            }
        })
    }

    #[inline(always)]
    fn prefetch(&self, slot: u32) {
        prefetch_row(self.row(slot));
    }
}

/// 4-bit scalar rows: a per-query table of 16 entries per dimension
/// (`l2`: squared differences; `ip`, `cosine`: products, with each row's
/// decoded norm for cosine), decoding for other metrics.
#[derive(Clone, Copy)]
pub(crate) struct Sq4Space<'a> {
    pub(crate) codes: &'a [u8],
    pub(crate) quant: &'a Sq4Quantizer,
    /// Per row, [`Sq4Quantizer::code_norm`].
    pub(crate) norms: &'a [f32],
    pub(crate) metric: Metric,
    pub(crate) fast: Fast,
    pub(crate) k: &'static Kernels,
}

/// A query for [`Sq4Space`]: its table, its norm (cosine) and, for the
/// decoding fallback, its values.
pub(crate) struct Sq4Query {
    table: Sq4Table,
    norm: f64,
    f: Vec<f32>,
}

impl<'a> Sq4Space<'a> {
    #[inline(always)]
    fn row(&self, slot: u32) -> &'a [u8] {
        let b = self.quant.code_bytes();
        let s = slot as usize * b;
        &self.codes[s..s + b]
    }

    fn query_of(&self, x: &[f32]) -> Sq4Query {
        let table = match self.fast {
            Fast::L2 => Sq4Table::l2(self.quant, x),
            Fast::Ip | Fast::Cosine => Sq4Table::dot(self.quant, x),
            Fast::Decode => Sq4Table::dot(self.quant, &[]),
        };
        let norm = x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>();
        let f = if self.fast == Fast::Decode {
            x.to_vec()
        } else {
            Vec::new()
        };
        Sq4Query {
            table,
            norm: norm.sqrt(),
            f,
        }
    }

    fn decoded(&self, slot: u32, f: impl FnOnce(&[f32], &mut [f32]) -> f32) -> f32 {
        with_scratch(self.quant.dim(), |x, y| {
            self.quant.decode_row(self.row(slot), x);
            f(x, y)
        })
    }
}

impl Space for Sq4Space<'_> {
    type Query<'q>
        = Sq4Query
    where
        Self: 'q;

    fn prepare<'q>(&'q self, q: &'q [f32]) -> Sq4Query {
        self.query_of(q)
    }

    fn prepare_slot(&self, slot: u32) -> Sq4Query {
        let mut x = vec![0.0; self.quant.dim()];
        self.quant.decode_row(self.row(slot), &mut x);
        self.query_of(&x)
    }

    #[inline(always)]
    fn dist(&self, q: &Sq4Query, slot: u32) -> f32 {
        let row = self.row(slot);
        match self.fast {
            Fast::L2 => q.table.sum(row).max(0.0),
            Fast::Ip => -q.table.sum(row),
            Fast::Cosine => cosine_of(
                f64::from(q.table.sum(row)),
                q.norm,
                f64::from(self.norms[slot as usize]).sqrt(),
            ),
            Fast::Decode => self.decoded(slot, |x, _| self.metric.distance(&q.f, x)),
        }
    }

    fn dist_many(&self, q: &Sq4Query, first: usize, out: &mut [f32]) {
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.dist(q, (first + i) as u32);
        }
    }

    fn pair(&self, a: u32, b: u32) -> f32 {
        self.decoded(a, |x, y| {
            self.quant.decode_row(self.row(b), y);
            match self.fast {
                Fast::L2 => self.k.l2sq_f32(x, y).unwrap_or(f32::NAN),
                Fast::Ip => self.k.dot_f32(x, y).map_or(f32::NAN, |d| -d),
                Fast::Cosine => self.k.cosine_f32(x, y).unwrap_or(f32::NAN),
                Fast::Decode => self.metric.distance(x, y),
            }
        })
    }

    #[inline(always)]
    fn prefetch(&self, slot: u32) {
        prefetch_row(self.row(slot));
    }
}

/// Runs `$body` with `$s` bound to the [`Space`] of a `VectorData`,
/// monomorphising the body once per storage (the match runs once).
macro_rules! with_space {
    ($data:expr, |$s:ident| $body:expr) => {{
        let data: &$crate::index::VectorData<'_> = &$data;
        match data.rows {
            $crate::storage::RowsRef::F32(rows) => {
                let $s = $crate::storage::F32Space {
                    dim: data.dim,
                    rows,
                    metric: data.metric,
                    fast: $crate::storage::Fast::of(data.metric),
                    k: ::unidb_kernels::Kernels::active(),
                };
                $body
            }
            $crate::storage::RowsRef::F16(rows) => {
                let $s = $crate::storage::F16Space {
                    dim: data.dim,
                    rows,
                    metric: data.metric,
                    fast: $crate::storage::Fast::of(data.metric),
                    k: ::unidb_kernels::Kernels::active(),
                };
                $body
            }
            $crate::storage::RowsRef::I8 {
                codes,
                quantizer,
                norms,
            } => {
                let $s = $crate::storage::I8Space {
                    dim: data.dim,
                    codes,
                    norms,
                    quant: quantizer,
                    metric: data.metric,
                    fast: $crate::storage::Fast::of(data.metric),
                    k: ::unidb_kernels::Kernels::active(),
                };
                $body
            }
            $crate::storage::RowsRef::Pq { codes, pq } => {
                let $s = $crate::storage::PqSpace {
                    codes,
                    pq,
                    ip: $crate::storage::Fast::of(data.metric) == $crate::storage::Fast::Ip,
                    k: ::unidb_kernels::Kernels::active(),
                };
                $body
            }
            $crate::storage::RowsRef::Sq4 {
                codes,
                quant,
                norms,
            } => {
                let $s = $crate::storage::Sq4Space {
                    codes,
                    quant,
                    norms,
                    metric: data.metric,
                    fast: $crate::storage::Fast::of(data.metric),
                    k: ::unidb_kernels::Kernels::active(),
                };
                $body
            }
        }
    }};
}
pub(crate) use with_space;

#[cfg(test)]
mod tests;
