//! 4-bit scalar quantization (FAISS's `SQ4`): per dimension `j` a range
//! `[lo_j, lo_j + 15 · step_j]` cut into 16 levels, a value stored as the
//! code `c ∈ 0..16` of its nearest level, two codes per byte (dimension
//! `2i` in the low nibble of byte `i`, `2i + 1` in the high one).
//!
//! Ranges come from the training data: each dimension's min and max, or
//! (to spend the 16 levels where the values are) its `q` and `1 − q`
//! quantiles, values beyond them then stored as the extreme level.
//!
//! Distances are asymmetric: a query stays f32 and is turned once per
//! search into a table of 16 entries per dimension (`l2`: `(x_j − v)²`;
//! `ip` and `cosine`: `x_j · v` for every level `v`), so the distance to a
//! row is one table lookup per dimension and is the distance between the
//! query and the decoded row, for every metric: nothing assumes
//! normalised vectors, so inner product keeps its magnitudes. Cosine also
//! needs the decoded row's norm, which the collection derives from the
//! codes when a row is stored ([`Sq4Quantizer::code_norm`]).
//!
//! ```
//! use unidb_vectordb::quant::sq4::{Sq4Quantizer, Sq4Table};
//! let data = [0.0, 10.0, 1.5, 20.0, 3.0, 40.0];
//! let q = Sq4Quantizer::train(&data, 2, None).unwrap();
//! assert_eq!(q.code_bytes(), 1);
//! let mut codes = [0u8];
//! q.encode_row(&[1.5, 40.0], &mut codes);
//! let mut back = [0.0; 2];
//! q.decode_row(&codes, &mut back);
//! assert!((back[0] - 1.6).abs() < 1e-5 && back[1] == 40.0);
//! let t = Sq4Table::l2(&q, &[1.5, 40.0]);
//! assert!((t.sum(&codes) - 0.01).abs() < 1e-5); // (1.5 − 1.6)²
//! ```

use unidb_kernels::stats::quantiles;

use crate::codec::{ReadExt, Reader, Writer};
use crate::error::{Result, VectorError};

/// The number of levels of a code.
pub const LEVELS: usize = 16;
/// The most rows quantile training looks at (an even stride through the
/// data beyond that).
pub const QUANTILE_SAMPLE: usize = 1 << 16;

/// A trained 4-bit scalar quantizer: per dimension the value of code 0
/// and the step between levels.
#[derive(Debug, Clone, PartialEq)]
pub struct Sq4Quantizer {
    /// Per dimension, the value of code 0.
    pub lo: Vec<f32>,
    /// Per dimension, the step between consecutive levels (finite, > 0).
    pub step: Vec<f32>,
}

impl Sq4Quantizer {
    /// A quantizer covering `ranges[j] = (lo, hi)` in dimension `j` with
    /// 16 levels from `lo` to `hi`. Non-finite bounds are clamped to
    /// ±`f32::MAX / 2` (NaN to 0), `lo > hi` is swapped; a single-value
    /// range gets the widest dimension's step (1/15 when all are single
    /// values).
    pub fn for_ranges(ranges: &[(f32, f32)]) -> Sq4Quantizer {
        let fix = |v: f32| {
            if v.is_nan() {
                0.0
            } else {
                v.clamp(-f32::MAX / 2.0, f32::MAX / 2.0)
            }
        };
        let fixed: Vec<(f32, f32)> = ranges
            .iter()
            .map(|&(a, b)| (fix(a.min(b)), fix(a.max(b))))
            .collect();
        let own: Vec<f32> = fixed.iter().map(|&(lo, hi)| (hi - lo) / 15.0).collect();
        let widest = own.iter().copied().fold(0.0f32, f32::max);
        let fallback = if widest > 0.0 { widest } else { 1.0 / 15.0 };
        Sq4Quantizer {
            lo: fixed.iter().map(|&(lo, _)| lo).collect(),
            step: own
                .iter()
                .map(|&s| if s > 0.0 { s } else { fallback }.max(f32::MIN_POSITIVE))
                .collect(),
        }
    }

    /// Trains on row-major vectors of dimension `dim`: each dimension's
    /// range is the min and max of its finite values, or with
    /// `Some(q)` (`0 ≤ q < 0.5`) its `q` and `1 − q` quantiles (numpy's
    /// linear interpolation, over at most [`QUANTILE_SAMPLE`] rows).
    /// `None` when `dim` is 0, no value is finite or `q` is out of range.
    pub fn train(values: &[f32], dim: usize, quantile: Option<f32>) -> Option<Sq4Quantizer> {
        Sq4Quantizer::train_parts(&[values], dim, quantile)
    }

    /// [`Sq4Quantizer::train`] over several row-major parts (no copy
    /// for min/max).
    pub(crate) fn train_parts(
        parts: &[&[f32]],
        dim: usize,
        quantile: Option<f32>,
    ) -> Option<Sq4Quantizer> {
        if dim == 0 {
            return None;
        }
        let rows = || parts.iter().flat_map(|p| p.chunks_exact(dim));
        let mut ranges = vec![(f32::INFINITY, f32::NEG_INFINITY); dim];
        let mut any = false;
        match quantile {
            None | Some(0.0) => {
                for row in rows() {
                    for (r, &v) in ranges.iter_mut().zip(row) {
                        if v.is_finite() {
                            any = true;
                            *r = (r.0.min(v), r.1.max(v));
                        }
                    }
                }
            }
            Some(q) => {
                if !(0.0..0.5).contains(&q) {
                    return None;
                }
                let n = rows().count();
                let stride = n.div_ceil(QUANTILE_SAMPLE).max(1);
                let mut col = Vec::with_capacity(n / stride + 1);
                for (j, r) in ranges.iter_mut().enumerate() {
                    col.clear();
                    col.extend(
                        rows()
                            .step_by(stride)
                            .map(|row| row[j])
                            .filter(|v| v.is_finite()),
                    );
                    let qs = [f64::from(q), 1.0 - f64::from(q)];
                    if let Ok(Some(v)) = quantiles(&col, &qs) {
                        any = true;
                        *r = (v[0] as f32, v[1] as f32);
                    }
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
        Some(Sq4Quantizer::for_ranges(&ranges))
    }

    /// The dimension.
    pub fn dim(&self) -> usize {
        self.lo.len()
    }

    /// Bytes per encoded row: `⌈dim / 2⌉`.
    pub fn code_bytes(&self) -> usize {
        self.dim().div_ceil(2)
    }

    /// The code of `x` in dimension `j`: its nearest level, clamped to
    /// the range (NaN gives 0).
    #[inline]
    pub fn code(&self, x: f32, j: usize) -> u8 {
        let c = ((x - self.lo[j]) / self.step[j]).round();
        if c.is_nan() {
            0
        } else {
            c.clamp(0.0, 15.0) as u8
        }
    }

    /// The value of code `c` (below 16) in dimension `j`.
    #[inline]
    pub fn level(&self, c: u8, j: usize) -> f32 {
        self.lo[j] + self.step[j] * f32::from(c)
    }

    /// Encodes one vector of length [`Sq4Quantizer::dim`] into
    /// [`Sq4Quantizer::code_bytes`] bytes (values beyond a range take its
    /// extreme level; an odd dimension leaves the last high nibble 0).
    pub fn encode_row(&self, v: &[f32], out: &mut [u8]) {
        for (i, o) in out.iter_mut().enumerate() {
            let lo = v.get(2 * i).map_or(0, |&x| self.code(x, 2 * i));
            let hi = v.get(2 * i + 1).map_or(0, |&x| self.code(x, 2 * i + 1));
            *o = lo | hi << 4;
        }
    }

    /// Encodes row-major vectors.
    pub fn encode_rows(&self, v: &[f32]) -> Vec<u8> {
        let (d, b) = (self.dim().max(1), self.code_bytes());
        let mut out = vec![0u8; v.len() / d * b];
        for (row, o) in v.chunks_exact(d).zip(out.chunks_exact_mut(b.max(1))) {
            self.encode_row(row, o);
        }
        out
    }

    /// Decodes one row of codes into `out` (length [`Sq4Quantizer::dim`]).
    pub fn decode_row(&self, codes: &[u8], out: &mut [f32]) {
        for (j, o) in out.iter_mut().enumerate() {
            let b = codes[j / 2];
            let c = if j % 2 == 0 { b & 15 } else { b >> 4 };
            *o = self.level(c, j);
        }
    }

    /// The squared norm of the decoded row (cosine's per-row term).
    pub fn code_norm(&self, codes: &[u8]) -> f32 {
        let mut s = 0.0f64;
        for j in 0..self.dim() {
            let b = codes[j / 2];
            let v = f64::from(self.level(if j % 2 == 0 { b & 15 } else { b >> 4 }, j));
            s += v * v;
        }
        s as f32
    }

    /// Whether the parameters are usable for dimension `dim`: finite
    /// values, steps > 0, a finite top level, and the largest squared
    /// norm a decoded row can have finite in f32 (cosine divides by it).
    pub fn is_valid(&self, dim: usize) -> bool {
        let mut norm = 0.0f64;
        self.lo.len() == dim
            && self.step.len() == dim
            && self.lo.iter().zip(&self.step).all(|(&l, &s)| {
                let top = l + 15.0 * s;
                let big = f64::from(l.abs().max(top.abs()));
                norm += big * big;
                l.is_finite() && s.is_finite() && s > 0.0 && top.is_finite()
            })
            && norm < f64::from(f32::MAX)
    }

    /// Appends the parameters (dimension, then every `lo`, then every
    /// step).
    pub(crate) fn save(&self, w: &mut Writer<'_>) {
        w.u64(self.dim() as u64);
        self.lo.iter().for_each(|&v| w.f32(v));
        self.step.iter().for_each(|&v| w.f32(v));
    }

    /// Reads what [`Sq4Quantizer::save`] wrote, checking the count
    /// against the bytes present before allocating, and the values
    /// ([`Sq4Quantizer::is_valid`]).
    pub(crate) fn load(r: &mut Reader<'_>) -> Result<Sq4Quantizer> {
        let dim = r.usize("sq4 dimension")?;
        if dim == 0 || dim > r.remaining() / 8 {
            return Err(VectorError::Corrupt(format!(
                "sq4 quantizer of dimension {dim} does not fit"
            )));
        }
        let mut floats = |what: &'static str| -> Result<Vec<f32>> {
            (0..dim).map(|_| r.f32(what).map_err(Into::into)).collect()
        };
        let lo = floats("sq4 lo")?;
        let step = floats("sq4 step")?;
        let q = Sq4Quantizer { lo, step };
        if !q.is_valid(dim) {
            return Err(VectorError::Corrupt(
                "sq4 quantizer with a non-finite value or a step not above 0".into(),
            ));
        }
        Ok(q)
    }
}

/// A per-query table: 16 entries per dimension (padded to an even number
/// of dimensions with zeros), summed over a row's codes.
#[derive(Debug, Clone)]
pub struct Sq4Table {
    t: Vec<f32>,
}

impl Sq4Table {
    fn build(q: &Sq4Quantizer, f: impl Fn(f32, f32) -> f32, x: &[f32]) -> Sq4Table {
        let mut t = vec![0.0f32; q.code_bytes() * 2 * LEVELS];
        for (j, (&xj, row)) in x.iter().zip(t.chunks_exact_mut(LEVELS)).enumerate() {
            for (c, o) in row.iter_mut().enumerate() {
                *o = f(xj, q.level(c as u8, j));
            }
        }
        Sq4Table { t }
    }

    /// Squared l2 distances: `(x_j − v)²` per level `v`.
    pub fn l2(q: &Sq4Quantizer, x: &[f32]) -> Sq4Table {
        Sq4Table::build(
            q,
            |a, v| {
                let d = a - v;
                d * d
            },
            x,
        )
    }

    /// Dot products: `x_j · v` per level `v`.
    pub fn dot(q: &Sq4Quantizer, x: &[f32]) -> Sq4Table {
        Sq4Table::build(q, |a, v| a * v, x)
    }

    /// The table's sum over one row of codes: the distance (or dot
    /// product) between the query and the decoded row.
    #[inline]
    pub fn sum(&self, codes: &[u8]) -> f32 {
        let (mut a, mut b) = (0.0f32, 0.0f32);
        for (t, &c) in self.t.chunks_exact(2 * LEVELS).zip(codes) {
            a += t[usize::from(c & 15)];
            b += t[LEVELS + usize::from(c >> 4)];
        }
        a + b
    }

    /// The entries, 16 per dimension.
    pub fn values(&self) -> &[f32] {
        &self.t
    }
}
