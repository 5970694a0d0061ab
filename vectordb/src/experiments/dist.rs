//! The distributions the tests use, from `statrs`, behind checked
//! helpers (statrs panics on a probability outside `[0, 1]`; callers here
//! validate alpha first).

use statrs::distribution::{ChiSquared, ContinuousCDF, Normal, StudentsT};

/// A reference distribution of a test statistic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Reference {
    /// Student's t with these degrees of freedom.
    T(f64),
    /// The standard normal.
    Normal,
}

fn std_normal() -> Normal {
    Normal::standard()
}

impl Reference {
    /// `P(|T| >= |stat|)`.
    pub(crate) fn two_sided_p(self, stat: f64) -> f64 {
        let s = stat.abs();
        let p = match self {
            Reference::T(df) => match StudentsT::new(0.0, 1.0, df) {
                Ok(t) => 2.0 * t.sf(s),
                Err(_) => 2.0 * std_normal().sf(s),
            },
            Reference::Normal => 2.0 * std_normal().sf(s),
        };
        p.clamp(0.0, 1.0)
    }

    /// The `q` quantile, `q` in `(0, 1)`.
    pub(crate) fn quantile(self, q: f64) -> f64 {
        match self {
            Reference::T(df) => match StudentsT::new(0.0, 1.0, df) {
                Ok(t) => t.inverse_cdf(q),
                Err(_) => std_normal().inverse_cdf(q),
            },
            Reference::Normal => std_normal().inverse_cdf(q),
        }
    }
}

/// The standard normal's survival function.
pub(crate) fn normal_sf(z: f64) -> f64 {
    std_normal().sf(z)
}

/// The standard normal's CDF.
pub(crate) fn normal_cdf(z: f64) -> f64 {
    std_normal().cdf(z)
}

/// The standard normal's quantile, `q` in `(0, 1)`.
pub(crate) fn normal_quantile(q: f64) -> f64 {
    std_normal().inverse_cdf(q)
}

/// The chi-square survival function with `df` degrees of freedom
/// (`df >= 1`).
pub(crate) fn chi2_sf(x: f64, df: f64) -> f64 {
    match ChiSquared::new(df) {
        Ok(c) => c.sf(x).clamp(0.0, 1.0),
        Err(_) => 1.0,
    }
}
