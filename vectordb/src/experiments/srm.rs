//! Sample-ratio mismatch: a chi-square goodness-of-fit test of the units
//! each variant received against the configured weights.

use super::assign::check_weights;
use super::dist::chi2_sf;
use super::error::{ExperimentError, Result};

/// The p-value below which a split is flagged as a mismatch.
pub const SRM_THRESHOLD: f64 = 0.001;

/// The result of [`srm`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Srm {
    /// Pearson's chi-square statistic.
    pub chi2: f64,
    /// Its p-value with `variants - 1` degrees of freedom.
    pub p: f64,
    /// Whether `p` is below [`SRM_THRESHOLD`].
    pub mismatch: bool,
}

/// Tests `counts` (units per variant) against `weights` (the configured
/// split; equal when `None`), as gbstats' `check_srm` and scipy's
/// `chisquare`. Weights are divided by their sum.
///
/// ```
/// use unidb_vectordb::experiments::srm;
/// let r = srm(&[5100, 4900], None).unwrap();
/// assert!((r.chi2 - 4.0).abs() < 1e-12);
/// assert!(!r.mismatch);
/// assert!(srm(&[5100, 4900], Some(&[0.7, 0.7])).is_err()); // do not sum to 1
/// ```
///
/// # Errors
/// Fewer than two variants, weights not one per count or refused by
/// [`check_weights`], a zero weight, or no units at all.
pub fn srm(counts: &[u64], weights: Option<&[f64]>) -> Result<Srm> {
    if counts.len() < 2 {
        return Err(ExperimentError::TooFewVariants(counts.len()));
    }
    let equal = vec![1.0 / counts.len() as f64; counts.len()];
    let weights = weights.unwrap_or(&equal);
    if weights.len() != counts.len() {
        return Err(ExperimentError::Weights {
            weights: weights.to_vec(),
            reason: "must give one weight per count",
        });
    }
    check_weights(weights)?;
    if weights.iter().any(|w| *w <= 0.0) {
        return Err(ExperimentError::Weights {
            weights: weights.to_vec(),
            reason: "must be positive to test a split",
        });
    }
    let total: f64 = counts.iter().map(|&c| c as f64).sum();
    if total == 0.0 {
        return Err(ExperimentError::EmptyArm {
            variant: "every variant".into(),
            n: 0,
            need: 1,
        });
    }
    let wsum: f64 = weights.iter().sum();
    let chi2: f64 = counts
        .iter()
        .zip(weights)
        .map(|(&o, &w)| {
            let e = w / wsum * total;
            let d = o as f64 - e;
            d * d / e
        })
        .sum();
    let p = chi2_sf(chi2, (counts.len() - 1) as f64);
    Ok(Srm {
        chi2,
        p,
        mismatch: p < SRM_THRESHOLD,
    })
}
