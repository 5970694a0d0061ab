//! Fixed-horizon frequentist tests of a treatment against the control:
//! Welch's and Student's t, the z-test (two proportions pooled or not),
//! and gbstats' frequentist engine, each for the absolute difference and
//! for the relative lift by the delta method.

use super::dist::Reference;
use super::estimate::ArmEstimate;
use super::sequential;
use super::{Estimate, TestKind};

/// One effect (absolute or relative): estimate, the variance of the
/// estimate, and the distribution its standardised value follows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Effect {
    pub est: f64,
    pub var: f64,
    pub reference: Reference,
    /// The standard error of the test statistic when it differs from the
    /// estimate's (the pooled two-proportion z-test).
    pub null_se: Option<f64>,
}

impl Effect {
    /// The estimate with its confidence interval at `1 - alpha` and its
    /// two-sided p-value: fixed-horizon, or from the confidence sequence
    /// with `tuning` for `total_n` units.
    pub(crate) fn finish(&self, alpha: f64, sequential: Option<(f64, f64)>) -> Estimate {
        let se = self.var.sqrt();
        match sequential {
            Some((tuning, total_n)) => {
                let (half, p) = sequential::interval(self.est, self.var, total_n, alpha, tuning);
                Estimate {
                    est: self.est,
                    se,
                    ci95: [self.est - half, self.est + half],
                    p,
                }
            }
            None => {
                let q = self.reference.quantile(1.0 - alpha / 2.0);
                let stat = self.est / self.null_se.unwrap_or(se);
                Estimate {
                    est: self.est,
                    se,
                    ci95: [self.est - q * se, self.est + q * se],
                    p: self.reference.two_sided_p(stat),
                }
            }
        }
    }

    /// The standardised statistic (t or z).
    pub(crate) fn statistic(&self) -> f64 {
        self.est / self.null_se.unwrap_or_else(|| self.var.sqrt())
    }
}

/// Welch–Satterthwaite degrees of freedom.
fn welch_df(a: &ArmEstimate, b: &ArmEstimate) -> f64 {
    let (qa, qb) = (a.var / a.n, b.var / b.n);
    (qa + qb) * (qa + qb) / (qa * qa / (a.n - 1.0) + qb * qb / (b.n - 1.0))
}

/// The absolute and relative effects of `b` against the control `a`
/// (relative: `None` when the control's mean is 0).
pub(crate) fn effects(
    a: &ArmEstimate,
    b: &ArmEstimate,
    test: TestKind,
    pooled: bool,
) -> (Effect, Option<Effect>) {
    let (mut va, mut vb) = (a.var, b.var);
    let reference = match test {
        TestKind::Welch | TestKind::Gbstats => Reference::T(welch_df(a, b)),
        TestKind::Student => {
            let sp = ((a.n - 1.0) * a.var + (b.n - 1.0) * b.var) / (a.n + b.n - 2.0);
            va = sp;
            vb = sp;
            Reference::T(a.n + b.n - 2.0)
        }
        TestKind::Ztest => Reference::Normal,
    };
    let null_se = match (test, pooled, a.successes, b.successes) {
        (TestKind::Ztest, true, Some(ca), Some(cb)) => {
            let p = (ca + cb) / (a.n + b.n);
            Some((p * (1.0 - p) * (1.0 / a.n + 1.0 / b.n)).sqrt()).filter(|s| *s > 0.0)
        }
        _ => None,
    };
    let abs = Effect {
        est: b.mean - a.mean,
        var: va / a.n + vb / b.n,
        reference,
        null_se,
    };
    let rel = (a.unadjusted != 0.0).then(|| {
        let (ma, mb) = (a.unadjusted, b.unadjusted);
        Effect {
            est: (b.mean - a.mean) / ma,
            var: vb / (ma * ma * b.n) + va * mb * mb / (ma * ma * ma * ma * a.n),
            reference,
            null_se: None,
        }
    });
    (abs, rel)
}
