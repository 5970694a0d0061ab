//! Order statistics and histograms over f32 data.
//!
//! - [`quantile`] and [`quantiles`]: numpy's default (`method="linear"`)
//!   interpolation, by O(n) selection (`select_nth_unstable`) on a copy
//!   rather than a full sort.
//! - [`Histogram`]: fixed-width bins over `[lo, hi]` with numpy's bin
//!   rule, plus underflow, overflow and NaN counts; histograms with the
//!   same layout merge.
//!
//! NaN policy: quantiles of data containing NaN are an error
//! ([`StatsError::NaN`], naming the first NaN's index) rather than a silent
//! NaN result or a silently shortened input; filter NaN first to ignore
//! it. Infinities are ordinary values (numpy's interpolation formula then
//! gives ±inf or NaN where it would). Histograms count NaN separately.
//!
//! ```
//! use unidb_kernels::stats::{quantile, quantiles, Histogram};
//! # fn main() -> Result<(), unidb_kernels::stats::StatsError> {
//! let v = [15.0f32, 20.0, 35.0, 40.0, 50.0];
//! assert_eq!(quantile(&v, 0.4)?, Some(29.0)); // numpy.quantile(v, 0.4)
//! assert_eq!(quantiles(&v, &[0.0, 0.5, 1.0])?, Some(vec![15.0, 35.0, 50.0]));
//! assert_eq!(quantile(&[], 0.5)?, None);
//!
//! let h = Histogram::from_slice(&v, 0.0, 50.0, 5)?;
//! assert_eq!(h.counts(), &[0, 1, 1, 1, 2]); // 50.0 falls in the last, closed bin
//! # Ok(()) }
//! ```

use std::cmp::Ordering;

/// Errors of the statistics functions.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StatsError {
    /// The data holds NaN (quantiles are undefined); `index` is the first one.
    #[error("value at index {index} is NaN; quantiles need NaN-free data")]
    NaN {
        /// Index of the first NaN in the input.
        index: usize,
    },
    /// A quantile outside `[0, 1]` (or NaN).
    #[error("quantile {q} at position {position} is outside [0, 1]")]
    QuantileOutOfRange {
        /// The value given.
        q: f64,
        /// Its position in the list of quantiles asked for.
        position: usize,
    },
    /// Histogram bounds that are not finite with `lo < hi`.
    #[error("histogram bounds [{lo}, {hi}] must be finite with lo < hi")]
    InvalidBounds {
        /// Lower bound given.
        lo: f64,
        /// Upper bound given.
        hi: f64,
    },
    /// A bin count of zero or above [`Histogram::MAX_BINS`].
    #[error("histogram bin count {bins} must be between 1 and {max}")]
    InvalidBins {
        /// Bin count given.
        bins: usize,
        /// The largest bin count accepted.
        max: usize,
    },
    /// Merging histograms with different bounds or bin counts.
    #[error("cannot merge histogram over [{other_lo}, {other_hi}] with {other_bins} bins into one over [{lo}, {hi}] with {bins} bins")]
    LayoutMismatch {
        /// Lower bound of the receiving histogram.
        lo: f64,
        /// Upper bound of the receiving histogram.
        hi: f64,
        /// Bins of the receiving histogram.
        bins: usize,
        /// Lower bound of the other histogram.
        other_lo: f64,
        /// Upper bound of the other histogram.
        other_hi: f64,
        /// Bins of the other histogram.
        other_bins: usize,
    },
}

/// The `q`-quantile of `values` with linear interpolation (numpy's default):
/// with the values sorted as `x₀ <= … <= xₙ₋₁`, position `h = (n - 1)·q`,
/// `j = ⌊h⌋`, `g = h - j`, the result is `xⱼ + g·(xⱼ₊₁ - xⱼ)` (numpy's
/// `_lerp`, which uses `xⱼ₊₁ - (1 - g)·(xⱼ₊₁ - xⱼ)` when `g >= 0.5`).
///
/// `Ok(None)` for empty data. O(n) time (selection on a copy), O(n) memory.
///
/// # Errors
/// [`StatsError::QuantileOutOfRange`] unless `0 <= q <= 1`;
/// [`StatsError::NaN`] when `values` holds NaN.
pub fn quantile(values: &[f32], q: f64) -> Result<Option<f64>, StatsError> {
    Ok(quantiles(values, &[q])?.map(|v| v[0]))
}

/// Several quantiles of the same data (see [`quantile`]), in the order of
/// `qs`. Selects only the order statistics needed: O(n·log k) for k
/// quantiles, never a full sort.
///
/// `Ok(None)` for empty data.
///
/// # Errors
/// As [`quantile`], for the first offending quantile.
pub fn quantiles(values: &[f32], qs: &[f64]) -> Result<Option<Vec<f64>>, StatsError> {
    for (position, &q) in qs.iter().enumerate() {
        if !(0.0..=1.0).contains(&q) {
            return Err(StatsError::QuantileOutOfRange { q, position });
        }
    }
    if let Some(index) = values.iter().position(|v| v.is_nan()) {
        return Err(StatsError::NaN { index });
    }
    if values.is_empty() {
        return Ok(None);
    }
    let n = values.len();
    let positions: Vec<(usize, f64)> = qs.iter().map(|&q| position(n, q)).collect();
    let mut ranks: Vec<usize> = positions
        .iter()
        .flat_map(|&(j, g)| {
            let next = if g > 0.0 {
                Some((j + 1).min(n - 1))
            } else {
                None
            };
            std::iter::once(j).chain(next)
        })
        .collect();
    ranks.sort_unstable();
    ranks.dedup();
    let mut data = values.to_vec();
    multi_select(&mut data, &ranks, 0);
    let out = positions
        .iter()
        .map(|&(j, g)| {
            let a = f64::from(data[j]);
            if g > 0.0 {
                lerp(a, f64::from(data[(j + 1).min(n - 1)]), g)
            } else {
                a
            }
        })
        .collect();
    Ok(Some(out))
}

/// numpy's virtual index for `method="linear"`: `(n - 1)·q`, split into
/// the integer part `j` (clamped to the last index) and the fraction `g`.
fn position(n: usize, q: f64) -> (usize, f64) {
    let h = (n - 1) as f64 * q;
    let j = h.floor();
    let g = h - j;
    ((j as usize).min(n - 1), g)
}

/// numpy's `_lerp(a, b, t)`: `a + (b - a)·t`, or `b - (b - a)·(1 - t)` for
/// `t >= 0.5` (exact at both ends, monotone).
fn lerp(a: f64, b: f64, t: f64) -> f64 {
    let diff = b - a;
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}

fn order(a: &f32, b: &f32) -> Ordering {
    // No NaN here (checked by the caller), so this is the numeric order
    // except that -0.0 sorts before 0.0, which changes no quantile's value.
    a.total_cmp(b)
}

/// Places the order statistic of every rank in `ranks` (sorted, relative to
/// the whole array; `offset` is `data`'s position in it) at its index:
/// select the middle rank, then recurse into the two sides.
fn multi_select(data: &mut [f32], ranks: &[usize], offset: usize) {
    if ranks.is_empty() || data.is_empty() {
        return;
    }
    let mid = ranks.len() / 2;
    let k = ranks[mid] - offset;
    data.select_nth_unstable_by(k, order);
    let (left, right) = data.split_at_mut(k);
    multi_select(left, &ranks[..mid], offset);
    multi_select(&mut right[1..], &ranks[mid + 1..], offset + k + 1);
}

/// A fixed-bin histogram over `[lo, hi]`.
///
/// `bins` equal-width bins; bin `i` covers `[eᵢ, eᵢ₊₁)` with
/// `eᵢ = lo + i·(hi - lo)/bins`, except the last, which also holds `hi`
/// (numpy's `histogram` rule, including its correction of rounding at the
/// edges). Values below `lo` (including -inf) count as underflow, above
/// `hi` (including +inf) as overflow, NaN separately.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    lo: f64,
    hi: f64,
    counts: Vec<u64>,
    underflow: u64,
    overflow: u64,
    nan: u64,
}

impl Histogram {
    /// The largest bin count [`Histogram::new`] accepts (bounds memory).
    pub const MAX_BINS: usize = 1 << 24;

    /// An empty histogram.
    ///
    /// # Errors
    /// [`StatsError::InvalidBounds`] unless `lo < hi` are finite;
    /// [`StatsError::InvalidBins`] unless `1 <= bins <= MAX_BINS`.
    pub fn new(lo: f64, hi: f64, bins: usize) -> Result<Self, StatsError> {
        if !(lo.is_finite() && hi.is_finite() && lo < hi && (hi - lo).is_finite()) {
            return Err(StatsError::InvalidBounds { lo, hi });
        }
        if bins == 0 || bins > Self::MAX_BINS {
            return Err(StatsError::InvalidBins {
                bins,
                max: Self::MAX_BINS,
            });
        }
        Ok(Histogram {
            lo,
            hi,
            counts: vec![0; bins],
            underflow: 0,
            overflow: 0,
            nan: 0,
        })
    }

    /// A histogram of `values`.
    ///
    /// # Errors
    /// As [`Histogram::new`].
    pub fn from_slice(values: &[f32], lo: f64, hi: f64, bins: usize) -> Result<Self, StatsError> {
        let mut h = Histogram::new(lo, hi, bins)?;
        h.extend(values);
        Ok(h)
    }

    /// Counts one value.
    pub fn add(&mut self, value: f32) {
        let x = f64::from(value);
        if x.is_nan() {
            self.nan += 1;
        } else if x < self.lo {
            self.underflow += 1;
        } else if x > self.hi {
            self.overflow += 1;
        } else {
            let i = self.bin_of(x);
            self.counts[i] += 1;
        }
    }

    /// Counts every value of `values`.
    pub fn extend(&mut self, values: &[f32]) {
        for &v in values {
            self.add(v);
        }
    }

    /// Adds the counts of `other`, which must have the same bounds and bins.
    ///
    /// # Errors
    /// [`StatsError::LayoutMismatch`] when the layouts differ (nothing is added).
    pub fn merge(&mut self, other: &Histogram) -> Result<(), StatsError> {
        if self.lo != other.lo || self.hi != other.hi || self.counts.len() != other.counts.len() {
            return Err(StatsError::LayoutMismatch {
                lo: self.lo,
                hi: self.hi,
                bins: self.counts.len(),
                other_lo: other.lo,
                other_hi: other.hi,
                other_bins: other.counts.len(),
            });
        }
        for (c, o) in self.counts.iter_mut().zip(&other.counts) {
            *c += o;
        }
        self.underflow += other.underflow;
        self.overflow += other.overflow;
        self.nan += other.nan;
        Ok(())
    }

    /// The bin of `x`, with `lo <= x <= hi` (numpy's computation: scale,
    /// truncate, then correct by one against the actual edges).
    fn bin_of(&self, x: f64) -> usize {
        let bins = self.counts.len();
        let scaled = (x - self.lo) / (self.hi - self.lo) * bins as f64;
        let mut i = (scaled as usize).min(bins - 1);
        if x < self.edge(i) {
            i -= 1;
        } else if i + 1 < bins && x >= self.edge(i + 1) {
            i += 1;
        }
        i
    }

    /// Edge `i` (0 ..= bins): `lo + i·(hi - lo)/bins`, exactly `hi` for the last.
    pub fn edge(&self, i: usize) -> f64 {
        let bins = self.counts.len();
        if i >= bins {
            self.hi
        } else {
            self.lo + i as f64 * ((self.hi - self.lo) / bins as f64)
        }
    }

    /// `(lo, hi)`.
    pub fn bounds(&self) -> (f64, f64) {
        (self.lo, self.hi)
    }

    /// Number of bins.
    pub fn bins(&self) -> usize {
        self.counts.len()
    }

    /// Count per bin.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Values below `lo`.
    pub fn underflow(&self) -> u64 {
        self.underflow
    }

    /// Values above `hi`.
    pub fn overflow(&self) -> u64 {
        self.overflow
    }

    /// NaN values.
    pub fn nan(&self) -> u64 {
        self.nan
    }

    /// Every value counted: bins, underflow, overflow and NaN.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum::<u64>() + self.underflow + self.overflow + self.nan
    }
}

#[cfg(test)]
mod tests;
