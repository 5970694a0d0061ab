//! Bayesian chance to win with a flat (improper) prior, as gbstats'
//! effect engine: the posterior of the lift is normal around its
//! estimate with the estimate's standard error.

use super::dist::normal_cdf;

/// `P(lift > 0)` for a normal posterior with mean `est` and standard
/// deviation `se` (`se > 0`).
///
/// ```
/// use unidb_vectordb::experiments::chance_to_win;
/// assert!((chance_to_win(0.0, 1.0) - 0.5).abs() < 1e-15);
/// assert!((chance_to_win(1.959963984540054, 1.0) - 0.975).abs() < 1e-9);
/// ```
pub fn chance_to_win(est: f64, se: f64) -> f64 {
    normal_cdf(est / se)
}
