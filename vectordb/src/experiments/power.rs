//! Planning: power, sample size and minimum detectable effect of a
//! two-sided two-sample z-test, as statsmodels' `NormalIndPower` (both
//! tails counted).

use super::dist::{normal_cdf, normal_quantile, normal_sf};
use super::error::{ExperimentError, Result};

/// A planned comparison of a treatment against the control.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerPlan {
    /// The significance level, in `(0, 1)`.
    pub alpha: f64,
    /// The standard deviation of the metric per unit (`> 0`).
    pub sd: f64,
    /// Treatment units per control unit (`> 0`).
    pub ratio: f64,
}

impl Default for PowerPlan {
    /// `alpha` 0.05, `sd` 1, equal arms.
    fn default() -> Self {
        PowerPlan {
            alpha: 0.05,
            sd: 1.0,
            ratio: 1.0,
        }
    }
}

fn positive(what: &str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(ExperimentError::range(what, "(0, inf)", v))
    }
}

fn probability(what: &str, v: f64) -> Result<()> {
    if v > 0.0 && v < 1.0 {
        Ok(())
    } else {
        Err(ExperimentError::range(what, "(0, 1)", v))
    }
}

impl PowerPlan {
    fn validate(&self) -> Result<()> {
        probability("alpha", self.alpha)?;
        positive("sd", self.sd)?;
        positive("ratio", self.ratio)
    }

    /// `d √(n_eff)` for an absolute effect and control units.
    fn shift(&self, effect: f64, n_control: f64) -> f64 {
        let n_eff = 1.0 / (1.0 / n_control + 1.0 / (n_control * self.ratio));
        effect.abs() / self.sd * n_eff.sqrt()
    }

    /// The power to detect an absolute `effect` with `n_control` control
    /// units.
    ///
    /// # Errors
    /// Invalid plan, `n_control <= 0` or a non-finite effect.
    pub fn power(&self, effect: f64, n_control: f64) -> Result<f64> {
        self.validate()?;
        positive("n_control", n_control)?;
        if !effect.is_finite() {
            return Err(ExperimentError::NonFinite {
                what: "effect".into(),
                position: 0,
                value: effect,
            });
        }
        let crit = normal_quantile(1.0 - self.alpha / 2.0);
        let s = self.shift(effect, n_control);
        Ok(normal_sf(crit - s) + normal_cdf(-crit - s))
    }

    /// The control units needed to detect an absolute `effect` with
    /// probability `power` (not rounded up).
    ///
    /// ```
    /// use unidb_vectordb::experiments::PowerPlan;
    /// let n = PowerPlan::default().sample_size(0.1, 0.8).unwrap();
    /// assert!((n - 1569.77).abs() < 0.01);
    /// ```
    ///
    /// # Errors
    /// Invalid plan, a zero or non-finite effect, `power` outside
    /// `(alpha, 1)`.
    pub fn sample_size(&self, effect: f64, power: f64) -> Result<f64> {
        self.validate()?;
        positive("effect (absolute value)", effect.abs())?;
        if !(power > self.alpha && power < 1.0) {
            return Err(ExperimentError::range("power", "(alpha, 1)", power));
        }
        // Power grows with n: bracket, then bisect to full precision.
        let f = |n: f64| self.power(effect, n).map(|p| p - power);
        let (mut lo, mut hi) = (1e-12, 1.0);
        while f(hi)? < 0.0 {
            lo = hi;
            hi *= 2.0;
            if !hi.is_finite() {
                return Err(ExperimentError::Overflow("the sample size"));
            }
        }
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if f(mid)? < 0.0 {
                lo = mid;
            } else {
                hi = mid;
            }
            if hi - lo <= 1e-13 * hi {
                break;
            }
        }
        Ok(0.5 * (lo + hi))
    }

    /// The smallest absolute effect detected with probability `power`
    /// with `n_control` control units.
    ///
    /// # Errors
    /// Invalid plan, `n_control <= 0`, `power` outside `(alpha, 1)`.
    pub fn mde(&self, n_control: f64, power: f64) -> Result<f64> {
        self.validate()?;
        positive("n_control", n_control)?;
        if !(power > self.alpha && power < 1.0) {
            return Err(ExperimentError::range("power", "(alpha, 1)", power));
        }
        let f = |e: f64| self.power(e, n_control).map(|p| p - power);
        let (mut lo, mut hi) = (0.0, self.sd);
        while f(hi)? < 0.0 {
            lo = hi;
            hi *= 2.0;
            if !hi.is_finite() {
                return Err(ExperimentError::Overflow("the effect"));
            }
        }
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if f(mid)? < 0.0 {
                lo = mid;
            } else {
                hi = mid;
            }
            if hi - lo <= 1e-13 * hi {
                break;
            }
        }
        Ok(0.5 * (lo + hi))
    }
}
