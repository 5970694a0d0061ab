//! Mergeable sufficient statistics of a metric `x` and a second column `y`
//! (a pre-period covariate for CUPED, or a ratio's denominator), and their
//! aggregation over an event log in parallel.

use rayon::prelude::*;

use super::error::{ExperimentError, Result};

/// Count, means, centred sums of squares and co-moment of `(x, y)` pairs:
/// everything the analyses need, mergeable across shards.
///
/// Values are kept in centred form (Welford/Chan), which merges without
/// the cancellation raw sums suffer; [`SufficientStats::sums`] gives the
/// raw form (`n, Σx, Σx², Σy, Σy², Σxy`) and [`SufficientStats::from_sums`]
/// reads it, so a job elsewhere (Spark, Ray, SQL) can produce them.
///
/// ```
/// use unidb_vectordb::experiments::SufficientStats;
/// # fn main() -> Result<(), unidb_vectordb::experiments::ExperimentError> {
/// let a = SufficientStats::from_values(&[1.0, 2.0], None)?;
/// let b = SufficientStats::from_values(&[3.0, 4.0], None)?;
/// let mut all = a;
/// all.merge(&b);
/// assert_eq!(all.n(), 4);
/// assert_eq!(all.mean_x(), 2.5);
/// assert_eq!(all.var_x(), 5.0 / 3.0);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SufficientStats {
    n: u64,
    mean_x: f64,
    mean_y: f64,
    m2_x: f64,
    m2_y: f64,
    c_xy: f64,
}

fn check_finite(what: &str, values: &[f64]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(position) => Err(ExperimentError::NonFinite {
            what: what.to_owned(),
            position,
            value: values[position],
        }),
        None => Ok(()),
    }
}

impl SufficientStats {
    /// No observations.
    pub const EMPTY: SufficientStats = SufficientStats {
        n: 0,
        mean_x: 0.0,
        mean_y: 0.0,
        m2_x: 0.0,
        m2_y: 0.0,
        c_xy: 0.0,
    };

    /// Adds one observation (Welford's update). `y` is 0 for a metric
    /// without a second column.
    #[inline]
    pub fn push(&mut self, x: f64, y: f64) {
        self.n += 1;
        let n = self.n as f64;
        let dx = x - self.mean_x;
        let dy = y - self.mean_y;
        self.mean_x += dx / n;
        self.mean_y += dy / n;
        self.m2_x += dx * (x - self.mean_x);
        self.m2_y += dy * (y - self.mean_y);
        self.c_xy += dx * (y - self.mean_y);
    }

    /// The statistics of `x` (and `y`, parallel to it, if given).
    ///
    /// # Errors
    /// A non-finite value, or `y` of another length than `x`.
    pub fn from_values(x: &[f64], y: Option<&[f64]>) -> Result<Self> {
        check_finite("values", x)?;
        if let Some(y) = y {
            check_finite("second column", y)?;
            if y.len() != x.len() {
                return Err(ExperimentError::Length {
                    what: "values".into(),
                    left: "x",
                    left_len: x.len(),
                    right: "y",
                    right_len: y.len(),
                });
            }
        }
        let mut s = SufficientStats::EMPTY;
        match y {
            Some(y) => x.iter().zip(y).for_each(|(&a, &b)| s.push(a, b)),
            None => x.iter().for_each(|&a| s.push(a, 0.0)),
        }
        s.check_overflow()?;
        Ok(s)
    }

    /// The statistics of `n` observations with raw sums `Σx, Σx², Σy,
    /// Σy², Σxy` (all 0 for `n = 0`; pass 0 for the `y` sums of a metric
    /// without a second column).
    ///
    /// # Errors
    /// A non-finite sum, or sums no data has (a negative variance).
    pub fn from_sums(n: u64, sx: f64, sxx: f64, sy: f64, syy: f64, sxy: f64) -> Result<Self> {
        for (i, v) in [sx, sxx, sy, syy, sxy].into_iter().enumerate() {
            if !v.is_finite() {
                return Err(ExperimentError::NonFinite {
                    what: "sums".into(),
                    position: i,
                    value: v,
                });
            }
        }
        if n == 0 {
            if [sx, sxx, sy, syy, sxy].iter().any(|v| *v != 0.0) {
                return Err(ExperimentError::Inconsistent {
                    what: "sums".into(),
                    reason: "non-zero sums of no observations".into(),
                });
            }
            return Ok(SufficientStats::EMPTY);
        }
        let nf = n as f64;
        let (mean_x, mean_y) = (sx / nf, sy / nf);
        let m2_x = sxx - sx * mean_x;
        let m2_y = syy - sy * mean_y;
        // Rounding can leave a tiny negative centred sum of equal values.
        let tol = |raw: f64| 1e-12 * raw.abs().max(f64::MIN_POSITIVE);
        if m2_x < -tol(sxx) || m2_y < -tol(syy) {
            return Err(ExperimentError::Inconsistent {
                what: "sums".into(),
                reason: format!("Σx² or Σy² below (Σ)²/n for n = {n}: negative variance"),
            });
        }
        Ok(SufficientStats {
            n,
            mean_x,
            mean_y,
            m2_x: clamp_rounding(m2_x),
            m2_y: clamp_rounding(m2_y),
            c_xy: sxy - sx * mean_y,
        })
    }

    /// The statistics of `n` observations of `x` with this mean and sample
    /// standard deviation (divisor `n - 1`).
    ///
    /// # Errors
    /// A non-finite or negative `sd`, a non-finite mean.
    pub fn from_mean_sd(n: u64, mean: f64, sd: f64) -> Result<Self> {
        for (i, v) in [mean, sd].into_iter().enumerate() {
            if !v.is_finite() {
                return Err(ExperimentError::NonFinite {
                    what: "mean and sd".into(),
                    position: i,
                    value: v,
                });
            }
        }
        if sd < 0.0 {
            return Err(ExperimentError::range("sd", "[0, inf)", sd));
        }
        let m2_x = sd * sd * n.saturating_sub(1) as f64;
        let s = SufficientStats {
            n,
            mean_x: if n == 0 { 0.0 } else { mean },
            m2_x,
            ..SufficientStats::EMPTY
        };
        s.check_overflow()?;
        Ok(s)
    }

    /// `count` successes in `nobs` trials (a 0/1 metric).
    ///
    /// # Errors
    /// `count > nobs`.
    pub fn from_counts(count: u64, nobs: u64) -> Result<Self> {
        if count > nobs {
            return Err(ExperimentError::Inconsistent {
                what: "counts".into(),
                reason: format!("count {count} is above nobs {nobs}"),
            });
        }
        if nobs == 0 {
            return Ok(SufficientStats::EMPTY);
        }
        let p = count as f64 / nobs as f64;
        Ok(SufficientStats {
            n: nobs,
            mean_x: p,
            m2_x: count as f64 * (1.0 - p),
            ..SufficientStats::EMPTY
        })
    }

    fn check_overflow(&self) -> Result<()> {
        let all = [self.mean_x, self.mean_y, self.m2_x, self.m2_y, self.c_xy];
        if all.iter().all(|v| v.is_finite()) {
            Ok(())
        } else {
            Err(ExperimentError::Overflow("a sum of squares"))
        }
    }

    /// Merges `other` into `self` (Chan et al.'s parallel update), as if
    /// its observations had been pushed.
    pub fn merge(&mut self, other: &SufficientStats) {
        if other.n == 0 {
            return;
        }
        if self.n == 0 {
            *self = *other;
            return;
        }
        let (na, nb) = (self.n as f64, other.n as f64);
        let n = na + nb;
        let dx = other.mean_x - self.mean_x;
        let dy = other.mean_y - self.mean_y;
        let w = na * nb / n;
        self.m2_x += other.m2_x + dx * dx * w;
        self.m2_y += other.m2_y + dy * dy * w;
        self.c_xy += other.c_xy + dx * dy * w;
        self.mean_x += dx * nb / n;
        self.mean_y += dy * nb / n;
        self.n += other.n;
    }

    /// The number of observations (units).
    pub fn n(&self) -> u64 {
        self.n
    }
    /// The mean of `x`.
    pub fn mean_x(&self) -> f64 {
        self.mean_x
    }
    /// The mean of `y`.
    pub fn mean_y(&self) -> f64 {
        self.mean_y
    }
    /// `Σ(x - x̄)²`.
    pub fn m2_x(&self) -> f64 {
        self.m2_x
    }
    /// `Σ(y - ȳ)²`.
    pub fn m2_y(&self) -> f64 {
        self.m2_y
    }
    /// `Σ(x - x̄)(y - ȳ)`.
    pub fn comoment(&self) -> f64 {
        self.c_xy
    }
    /// The sample variance of `x` (divisor `n - 1`; 0 below 2 observations).
    pub fn var_x(&self) -> f64 {
        if self.n < 2 {
            0.0
        } else {
            self.m2_x / (self.n - 1) as f64
        }
    }
    /// The sample variance of `y` (divisor `n - 1`).
    pub fn var_y(&self) -> f64 {
        if self.n < 2 {
            0.0
        } else {
            self.m2_y / (self.n - 1) as f64
        }
    }
    /// The sample covariance of `x` and `y` (divisor `n - 1`).
    pub fn cov_xy(&self) -> f64 {
        if self.n < 2 {
            0.0
        } else {
            self.c_xy / (self.n - 1) as f64
        }
    }

    /// The raw sums `(n, Σx, Σx², Σy, Σy², Σxy)`.
    pub fn sums(&self) -> (u64, f64, f64, f64, f64, f64) {
        let n = self.n as f64;
        let sx = n * self.mean_x;
        let sy = n * self.mean_y;
        (
            self.n,
            sx,
            self.m2_x + sx * self.mean_x,
            sy,
            self.m2_y + sy * self.mean_y,
            self.c_xy + sx * self.mean_y,
        )
    }
}

/// A centred sum of squares that rounding took below zero is zero; NaN
/// stays NaN (so an overflow is caught, not hidden).
fn clamp_rounding(m2: f64) -> f64 {
    if m2 < 0.0 {
        0.0
    } else {
        m2
    }
}

/// An event log as parallel columns: each event's variant index, its
/// value and, optionally, a second column (pre-period value or ratio
/// denominator).
#[derive(Debug, Clone, Copy)]
pub struct EventLog<'a> {
    /// Each event's variant, in `0..variants`.
    pub variant: &'a [u32],
    /// Each event's metric value.
    pub value: &'a [f64],
    /// Each event's second column, if any.
    pub second: Option<&'a [f64]>,
    /// The number of variants.
    pub variants: usize,
}

/// Events per task of the parallel aggregation: large enough to amortise
/// a task, small enough that shifted sums stay accurate.
const CHUNK: usize = 1 << 16;

/// Per-variant raw sums of one chunk, shifted by the chunk's first values
/// (the "shifted data" form: accurate when the shift is near the mean,
/// and free of divisions in the loop).
#[derive(Clone, Copy, Default)]
struct Shifted {
    n: f64,
    sx: f64,
    sxx: f64,
    sy: f64,
    syy: f64,
    sxy: f64,
}

fn chunk_stats<const Y: bool>(
    variant: &[u32],
    value: &[f64],
    second: &[f64],
    out: &mut [SufficientStats],
) -> std::result::Result<(), usize> {
    let k = out.len();
    let kx = value[0];
    let ky = if Y { second[0] } else { 0.0 };
    // Two interleaved accumulator sets halve the store-to-load chains when
    // consecutive events hit the same variant.
    let mut acc = vec![[Shifted::default(); 2]; k];
    let mut bad = None;
    for (i, (&v, &x)) in variant.iter().zip(value).enumerate() {
        let Some(slot) = acc.get_mut(v as usize) else {
            bad.get_or_insert(i);
            continue;
        };
        let a = &mut slot[i & 1];
        let dx = x - kx;
        a.n += 1.0;
        a.sx += dx;
        a.sxx += dx * dx;
        if Y {
            let dy = second[i] - ky;
            a.sy += dy;
            a.syy += dy * dy;
            a.sxy += dx * dy;
        }
    }
    if let Some(i) = bad {
        return Err(i);
    }
    for (slot, o) in acc.iter().zip(out.iter_mut()) {
        for a in slot {
            if a.n == 0.0 {
                continue;
            }
            let n = a.n;
            let (mx, my) = (a.sx / n, a.sy / n);
            o.merge(&SufficientStats {
                n: n as u64,
                mean_x: kx + mx,
                mean_y: ky + my,
                m2_x: clamp_rounding(a.sxx - a.sx * mx),
                m2_y: clamp_rounding(a.syy - a.sy * my),
                c_xy: a.sxy - a.sx * my,
            });
        }
    }
    Ok(())
}

/// The sufficient statistics of each variant of `log`, computed in
/// parallel (rayon) over chunks of events and merged with
/// [`SufficientStats::merge`]; the result is one entry per variant.
///
/// ```
/// use unidb_vectordb::experiments::{aggregate, EventLog};
/// # fn main() -> Result<(), unidb_vectordb::experiments::ExperimentError> {
/// let log = EventLog {
///     variant: &[0, 1, 0, 1],
///     value: &[1.0, 2.0, 3.0, 6.0],
///     second: None,
///     variants: 2,
/// };
/// let stats = aggregate(&log)?;
/// assert_eq!((stats[0].n(), stats[0].mean_x()), (2, 2.0));
/// assert_eq!((stats[1].n(), stats[1].mean_x()), (2, 4.0));
/// # Ok(()) }
/// ```
///
/// # Errors
/// Columns of different lengths, a variant index not below
/// `log.variants` ([`ExperimentError::UnknownVariant`]), a non-finite
/// value ([`ExperimentError::NonFinite`], naming the first), or sums that
/// overflow.
pub fn aggregate(log: &EventLog<'_>) -> Result<Vec<SufficientStats>> {
    let len = log.value.len();
    let length_error = |right: &'static str, right_len| ExperimentError::Length {
        what: "event log".into(),
        left: "value",
        left_len: len,
        right,
        right_len,
    };
    if log.variant.len() != len {
        return Err(length_error("variant", log.variant.len()));
    }
    if let Some(s) = log.second {
        if s.len() != len {
            return Err(length_error("second", s.len()));
        }
    }
    let k = log.variants;
    let empty: &[f64] = &[];
    let results: Vec<std::result::Result<Vec<SufficientStats>, usize>> = (0..len.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| {
            let lo = c * CHUNK;
            let hi = (lo + CHUNK).min(len);
            let mut out = vec![SufficientStats::EMPTY; k];
            let r = match log.second {
                Some(s) => chunk_stats::<true>(
                    &log.variant[lo..hi],
                    &log.value[lo..hi],
                    &s[lo..hi],
                    &mut out,
                ),
                None => {
                    chunk_stats::<false>(&log.variant[lo..hi], &log.value[lo..hi], empty, &mut out)
                }
            };
            r.map(|()| out).map_err(|i| lo + i)
        })
        .collect();
    let mut total = vec![SufficientStats::EMPTY; k];
    for r in results {
        match r {
            Ok(part) => total.iter_mut().zip(&part).for_each(|(t, p)| t.merge(p)),
            Err(i) => {
                return Err(ExperimentError::UnknownVariant {
                    name: format!("{} (event {i})", log.variant[i]),
                    known: (0..k).map(|v| v.to_string()).collect(),
                })
            }
        }
    }
    if total.iter().any(|s| s.check_overflow().is_err()) {
        // The slow path: name the first non-finite input, else overflow.
        check_finite("event log value", log.value)?;
        if let Some(s) = log.second {
            check_finite("event log second column", s)?;
        }
        return Err(ExperimentError::Overflow("a sum of squares"));
    }
    Ok(total)
}
