//! Per-arm estimates: a metric's mean and per-unit variance from its
//! sufficient statistics — sample means, proportions, ratios by the delta
//! method, and CUPED's regression adjustment with a pre-period covariate.

use super::error::{ExperimentError, Result};
use super::stats::SufficientStats;
use super::{Metric, TestKind};

/// What a test needs of one arm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ArmEstimate {
    /// Units.
    pub n: f64,
    /// The (CUPED-adjusted) mean.
    pub mean: f64,
    /// The mean before adjustment (the denominator of a relative lift).
    pub unadjusted: f64,
    /// The per-unit variance (the variance of the mean is `var / n`).
    pub var: f64,
    /// For a proportion, the successes (the pooled z-test uses them).
    pub successes: Option<f64>,
}

/// CUPED's θ for a control and a treatment, as gbstats computes it: the
/// covariance of metric and covariate over the two arms together divided
/// by the covariate's variance there; 0 (no adjustment) when either does
/// not vary.
///
/// ```
/// use unidb_vectordb::experiments::{cuped_theta, SufficientStats};
/// # fn main() -> Result<(), unidb_vectordb::experiments::ExperimentError> {
/// let a = SufficientStats::from_values(&[2.0, 4.0, 6.0], Some(&[1.0, 2.0, 3.0]))?;
/// let b = SufficientStats::from_values(&[3.0, 5.0, 7.0], Some(&[1.0, 2.0, 3.0]))?;
/// assert!((cuped_theta(&a, &b) - 2.0).abs() < 1e-12);
/// # Ok(()) }
/// ```
pub fn cuped_theta(control: &SufficientStats, treatment: &SufficientStats) -> f64 {
    // gbstats sums the raw sums of both arms and centres them on the joint
    // means, which is exactly a merge.
    let mut joint = *control;
    joint.merge(treatment);
    if joint.m2_y() <= 0.0 || joint.m2_x() <= 0.0 {
        return 0.0;
    }
    joint.comoment() / joint.m2_y()
}

fn zero_variance(name: &str, what: &'static str) -> ExperimentError {
    ExperimentError::ZeroVariance {
        variant: name.to_owned(),
        what,
    }
}

/// The estimate of one arm for `metric` under `test`, CUPED-adjusted by
/// `theta` when given.
pub(crate) fn arm_estimate(
    name: &str,
    s: &SufficientStats,
    metric: Metric,
    test: TestKind,
    theta: Option<f64>,
) -> Result<ArmEstimate> {
    if s.n() < 2 {
        return Err(ExperimentError::EmptyArm {
            variant: name.to_owned(),
            n: s.n(),
            need: 2,
        });
    }
    let n = s.n() as f64;
    // The size of the terms a variance is a difference of: a result
    // within rounding of zero is zero.
    let mut magnitude = s.var_x();
    let est = match metric {
        Metric::Mean => {
            let (mean, var) = match theta {
                Some(t) => {
                    magnitude += t * t * s.var_y();
                    (
                        s.mean_x() - t * s.mean_y(),
                        s.var_x() + t * t * s.var_y() - 2.0 * t * s.cov_xy(),
                    )
                }
                None => (s.mean_x(), s.var_x()),
            };
            ArmEstimate {
                n,
                mean,
                unadjusted: s.mean_x(),
                var,
                successes: None,
            }
        }
        Metric::Proportion => {
            let p = s.mean_x();
            if !(0.0..=1.0).contains(&p) {
                return Err(ExperimentError::Inconsistent {
                    what: format!("variant {name:?}"),
                    reason: format!("a proportion of {p} is outside [0, 1]"),
                });
            }
            // gbstats and the z-tests use p(1 - p); the t-tests the sample
            // variance of the 0/1 values, p(1 - p) n / (n - 1).
            let var = match test {
                TestKind::Gbstats | TestKind::Ztest => p * (1.0 - p),
                TestKind::Welch | TestKind::Student => s.var_x(),
            };
            ArmEstimate {
                n,
                mean: p,
                unadjusted: p,
                var,
                successes: Some(p * n),
            }
        }
        Metric::Ratio => {
            let (mx, my) = (s.mean_x(), s.mean_y());
            if my == 0.0 {
                return Err(zero_variance(name, "the denominator (its mean is 0)"));
            }
            let mean = mx / my;
            let my2 = my * my;
            magnitude = s.var_x() / my2 + mx * mx * s.var_y() / (my2 * my2);
            let var = s.var_x() / (my * my) - 2.0 * s.cov_xy() * mx / (my * my * my)
                + mx * mx * s.var_y() / (my * my * my * my);
            ArmEstimate {
                n,
                mean,
                unadjusted: mean,
                var,
                successes: None,
            }
        }
    };
    if !(est.mean.is_finite() && est.var.is_finite()) {
        return Err(ExperimentError::Overflow("a variant's variance"));
    }
    if est.var <= 1e-12 * magnitude || est.var <= 0.0 {
        return Err(zero_variance(name, "the metric"));
    }
    Ok(est)
}
