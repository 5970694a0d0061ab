//! The analysis of an experiment: each treatment against the control,
//! with the chosen test, optional CUPED, sequential intervals, chance to
//! win and a multiplicity correction across treatments.

use super::adjust::{adjust, Correction};
use super::bayes::chance_to_win;
use super::error::{ExperimentError, Result};
use super::estimate::{arm_estimate, cuped_theta};
use super::frequentist::effects;
use super::stats::SufficientStats;

/// How a metric is summarised per unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// The mean of a value per unit.
    #[default]
    Mean,
    /// The share of units that converted (0/1 values or counts).
    Proportion,
    /// `Σ numerator / Σ denominator` with units as the unit of
    /// randomisation (e.g. revenue per session, users randomised); its
    /// variance by the delta method.
    Ratio,
}

/// The test of a treatment against the control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TestKind {
    /// Welch's t-test (unequal variances, Welch–Satterthwaite df).
    #[default]
    Welch,
    /// Student's t-test (pooled variance, `n_a + n_b - 2` df).
    Student,
    /// The z-test; for proportions the two-proportion test, pooled under
    /// the null unless `pooled` is off (intervals always unpooled).
    Ztest,
    /// GrowthBook's frequentist engine (gbstats): Welch's df, proportion
    /// variance `p(1 - p)`, plus the Bayesian chance to win.
    Gbstats,
}

/// Settings of an analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisOptions {
    /// How the metric is summarised.
    pub metric: Metric,
    /// The test.
    pub test: TestKind,
    /// The significance level; intervals are at `1 - alpha`.
    pub alpha: f64,
    /// With a value, intervals and p-values come from GrowthBook's
    /// asymptotic confidence sequences with this tuning parameter
    /// (valid under continuous peeking).
    pub sequential_tuning: Option<f64>,
    /// CUPED: adjust the metric by the pre-period covariate (the second
    /// column of the statistics); mean metrics only.
    pub cuped: bool,
    /// The z-test of proportions pools the two arms under the null.
    pub pooled: bool,
    /// A correction of the absolute p-values across treatments.
    pub correction: Option<Correction>,
}

impl Default for AnalysisOptions {
    /// A fixed-horizon Welch test of means at `alpha` 0.05.
    fn default() -> Self {
        AnalysisOptions {
            metric: Metric::Mean,
            test: TestKind::Welch,
            alpha: 0.05,
            sequential_tuning: None,
            cuped: false,
            pooled: true,
            correction: None,
        }
    }
}

/// A variant's name and the sufficient statistics of its units.
#[derive(Debug, Clone, PartialEq)]
pub struct Arm {
    /// The variant's name.
    pub name: String,
    /// Its units' statistics (`x` the metric or a ratio's numerator, `y`
    /// the pre-period covariate or the ratio's denominator).
    pub stats: SufficientStats,
}

/// An effect with its standard error, interval and p-value.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Estimate {
    /// The estimate.
    pub est: f64,
    /// Its standard error.
    pub se: f64,
    /// The interval at `1 - alpha` (95% by default).
    pub ci95: [f64; 2],
    /// The two-sided p-value.
    pub p: f64,
}

/// One treatment against the control.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Comparison {
    /// The treatment.
    pub variant: String,
    /// The absolute difference of means.
    pub abs: Estimate,
    /// The relative lift `(b - a) / a` by the delta method; `None` when
    /// the control's mean is 0.
    pub rel: Option<Estimate>,
    /// The t statistic (t-tests, fixed horizon).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub t: Option<f64>,
    /// The degrees of freedom (t-tests, fixed horizon).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub df: Option<f64>,
    /// The z statistic (z-test, fixed horizon).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub z: Option<f64>,
    /// CUPED's θ for this pair.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub theta: Option<f64>,
    /// `P(lift > 0)` under a flat prior (gbstats test).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chance_to_win: Option<f64>,
    /// The absolute p-value adjusted across treatments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p_adj: Option<f64>,
}

impl AnalysisOptions {
    /// Checks the settings on their own.
    ///
    /// # Errors
    /// `alpha` outside `(0, 1)`, a tuning parameter that is not positive
    /// and finite, CUPED with a metric other than means.
    pub fn validate(&self) -> Result<()> {
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(ExperimentError::range("alpha", "(0, 1)", self.alpha));
        }
        if let Some(t) = self.sequential_tuning {
            if !(t.is_finite() && t > 0.0) {
                return Err(ExperimentError::range("sequential_tuning", "(0, inf)", t));
            }
        }
        if self.cuped && self.metric != Metric::Mean {
            return Err(ExperimentError::Unsupported(format!(
                "CUPED adjusts mean metrics, not {:?} ones",
                self.metric
            )));
        }
        Ok(())
    }
}

/// Compares every arm after the first (the control) with it.
///
/// ```
/// use unidb_vectordb::experiments::{analyze, AnalysisOptions, Arm, SufficientStats};
/// # fn main() -> Result<(), unidb_vectordb::experiments::ExperimentError> {
/// let arm = |name: &str, v: &[f64]| -> Result<Arm, _> {
///     Ok(Arm { name: name.into(), stats: SufficientStats::from_values(v, None)? })
/// };
/// let arms = [arm("a", &[1.0, 2.0, 3.0, 4.0])?, arm("b", &[2.0, 3.0, 4.0, 6.0])?];
/// let out = analyze(&arms, &AnalysisOptions::default())?;
/// assert_eq!(out[0].variant, "b");
/// assert!((out[0].abs.est - 1.25).abs() < 1e-12);
/// assert!(out[0].abs.p > 0.05);
/// # Ok(()) }
/// ```
///
/// # Errors
/// Fewer than two arms, duplicate names, invalid options, an arm with
/// fewer than 2 units or zero variance.
pub fn analyze(arms: &[Arm], options: &AnalysisOptions) -> Result<Vec<Comparison>> {
    options.validate()?;
    if arms.len() < 2 {
        return Err(ExperimentError::TooFewVariants(arms.len()));
    }
    for (i, a) in arms.iter().enumerate() {
        if arms[..i].iter().any(|b| b.name == a.name) {
            return Err(ExperimentError::DuplicateVariant(a.name.clone()));
        }
    }
    let control = &arms[0];
    let mut out = Vec::with_capacity(arms.len() - 1);
    for arm in &arms[1..] {
        let theta = options
            .cuped
            .then(|| cuped_theta(&control.stats, &arm.stats));
        let estimate =
            |a: &Arm| arm_estimate(&a.name, &a.stats, options.metric, options.test, theta);
        let (ea, eb) = (estimate(control)?, estimate(arm)?);
        let (abs, rel) = effects(&ea, &eb, options.test, options.pooled);
        let sequential = options.sequential_tuning.map(|t| (t, ea.n + eb.n));
        let abs_est = abs.finish(options.alpha, sequential);
        let rel_est = rel.map(|r| r.finish(options.alpha, sequential));
        let fixed = sequential.is_none();
        let is_t = matches!(
            options.test,
            super::TestKind::Welch | super::TestKind::Student | super::TestKind::Gbstats
        );
        let df = match abs.reference {
            super::dist::Reference::T(df) => Some(df),
            super::dist::Reference::Normal => None,
        };
        let ctw = (options.test == super::TestKind::Gbstats).then(|| match rel_est {
            Some(r) => chance_to_win(r.est, r.se),
            None => chance_to_win(abs_est.est, abs_est.se),
        });
        out.push(Comparison {
            variant: arm.name.clone(),
            abs: abs_est,
            rel: rel_est,
            t: (fixed && is_t).then(|| abs.statistic()),
            df: if fixed && is_t { df } else { None },
            z: (fixed && !is_t).then(|| abs.statistic()),
            theta,
            chance_to_win: ctw,
            p_adj: None,
        });
    }
    if let Some(method) = options.correction {
        let p: Vec<f64> = out.iter().map(|c| c.abs.p).collect();
        for (c, q) in out.iter_mut().zip(adjust(&p, method)?) {
            c.p_adj = Some(q);
        }
    }
    for c in &out {
        let all = [c.abs.est, c.abs.se, c.abs.ci95[0], c.abs.ci95[1], c.abs.p];
        if all.iter().any(|v| !v.is_finite()) {
            return Err(ExperimentError::Overflow("an estimate"));
        }
        if let Some(r) = c.rel {
            if [r.est, r.se, r.ci95[0], r.ci95[1], r.p]
                .iter()
                .any(|v| !v.is_finite())
            {
                return Err(ExperimentError::Overflow("a relative lift"));
            }
        }
    }
    Ok(out)
}
