//! Sequential testing with GrowthBook's asymptotic confidence sequences
//! (Waudby-Smith et al., "Time-uniform central limit theory and
//! asymptotic confidence sequences", eqs. 9, 155 and 161, as gbstats):
//! intervals and p-values valid at every look, so an experiment can be
//! watched continuously without inflating its error rate.

/// gbstats' default tuning parameter (the sample size at which the
/// sequence is tightest).
pub const DEFAULT_SEQUENTIAL_TUNING: f64 = 5000.0;

/// The half-width of the confidence sequence and the always-valid
/// p-value of an effect `est` whose estimate has variance `var`, after
/// `total_n` units (both arms), at level `alpha` with tuning `tuning`.
pub(crate) fn interval(est: f64, var: f64, total_n: f64, alpha: f64, tuning: f64) -> (f64, f64) {
    let l = -2.0 * alpha.ln();
    let rho2 = (l + (l + 1.0).ln()) / tuning;
    let n = total_n;
    let s2 = var * n;
    let nr2p1 = n * rho2 + 1.0;
    let half = s2.sqrt() * ((2.0 * nr2p1) * (nr2p1.sqrt() / alpha).ln() / (n * n * rho2)).sqrt();
    let st2 = est * est * n / var;
    // 1 / e-value, computed in logs so a huge e-value gives p = 0, not NaN.
    let log_e = rho2 * st2 / (2.0 * nr2p1) - 0.5 * nr2p1.ln();
    let p = (-log_e).exp().min(1.0);
    (half, p)
}
