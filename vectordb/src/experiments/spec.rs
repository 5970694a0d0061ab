//! The JSON form of an analysis: the metric, the test and each variant's
//! data as raw values, sufficient statistics or counts.

use serde::Deserialize;

use super::adjust::Correction;
use super::analysis::{analyze, AnalysisOptions, Arm, Comparison, Metric, TestKind};
use super::error::{ExperimentError, Result};
use super::stats::SufficientStats;

fn default_alpha() -> f64 {
    AnalysisOptions::default().alpha
}

/// An analysis as JSON:
/// `{"metric": "mean"|"proportion"|"ratio", "test": "welch"|"student"|"ztest"|"gbstats",
/// "variants": [...], "alpha": 0.05, "sequential_tuning": N?, "cuped": bool?,
/// "control": NAME?, "pooled": bool?, "correction": "bonferroni"|"holm"|"bh"?}`.
///
/// The control is the variant named by `control`, else the first.
///
/// ```
/// use unidb_vectordb::experiments::AnalysisSpec;
/// # fn main() -> Result<(), unidb_vectordb::experiments::ExperimentError> {
/// let spec = AnalysisSpec::from_json(r#"{
///     "metric": "proportion", "test": "ztest",
///     "variants": [{"name": "a", "count": 100, "nobs": 1000},
///                  {"name": "b", "count": 130, "nobs": 1000}]
/// }"#)?;
/// let out = spec.run()?;
/// assert!((out[0].abs.est - 0.03).abs() < 1e-12);
/// assert!(out[0].z.is_some());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisSpec {
    /// How the metric is summarised (default `mean`).
    #[serde(default)]
    pub metric: Metric,
    /// The test (default `welch`).
    #[serde(default)]
    pub test: TestKind,
    /// The variants' data.
    pub variants: Vec<VariantData>,
    /// The significance level (default 0.05).
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// GrowthBook's sequential tuning parameter, for always-valid results.
    #[serde(default)]
    pub sequential_tuning: Option<f64>,
    /// CUPED with each variant's `pre` values.
    #[serde(default)]
    pub cuped: Option<bool>,
    /// The control's name (default: the first variant).
    #[serde(default)]
    pub control: Option<String>,
    /// Pool the two proportions under the null in the z-test (default true).
    #[serde(default)]
    pub pooled: Option<bool>,
    /// A correction of the p-values across treatments.
    #[serde(default)]
    pub correction: Option<Correction>,
}

/// One variant's data, in one of four forms: raw values
/// (`values`, with `pre` for CUPED), a ratio's raw numerator and
/// denominator per unit (`num`, `den`), sufficient statistics (`n`,
/// `mean`, `sd`), or counts (`count`, `nobs`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct VariantData {
    /// The variant's name.
    pub name: String,
    pub values: Option<Vec<f64>>,
    pub pre: Option<Vec<f64>>,
    pub num: Option<Vec<f64>>,
    pub den: Option<Vec<f64>>,
    pub n: Option<u64>,
    pub mean: Option<f64>,
    pub sd: Option<f64>,
    pub count: Option<u64>,
    pub nobs: Option<u64>,
}

fn in_variant(name: &str, e: ExperimentError) -> ExperimentError {
    match e {
        ExperimentError::NonFinite {
            what,
            position,
            value,
        } => ExperimentError::NonFinite {
            what: format!("variant {name:?} {what}"),
            position,
            value,
        },
        ExperimentError::Length {
            left,
            left_len,
            right,
            right_len,
            ..
        } => ExperimentError::Length {
            what: format!("variant {name:?}"),
            left,
            left_len,
            right,
            right_len,
        },
        ExperimentError::Inconsistent { reason, .. } => ExperimentError::Inconsistent {
            what: format!("variant {name:?}"),
            reason,
        },
        other => other,
    }
}

impl VariantData {
    fn stats(&self, metric: Metric, cuped: bool) -> Result<SufficientStats> {
        let name = &self.name;
        let form = |what: &str| Err(ExperimentError::Spec(format!("variant {name:?}: {what}")));
        let stats = match self {
            VariantData {
                values: Some(v),
                num: None,
                den: None,
                n: None,
                mean: None,
                sd: None,
                count: None,
                nobs: None,
                pre,
                ..
            } => {
                if metric == Metric::Ratio {
                    return form("a ratio metric takes \"num\" and \"den\", not \"values\"");
                }
                if metric == Metric::Proportion {
                    if let Some(i) = v.iter().position(|x| *x != 0.0 && *x != 1.0) {
                        return Err(ExperimentError::Inconsistent {
                            what: format!("variant {name:?}"),
                            reason: format!(
                                "proportion values must be 0 or 1, value {i} is {}",
                                v[i]
                            ),
                        });
                    }
                }
                if cuped && pre.is_none() {
                    return form("CUPED needs \"pre\" values");
                }
                SufficientStats::from_values(v, pre.as_deref())
            }
            VariantData {
                values: None,
                pre: None,
                num: Some(num),
                den: Some(den),
                n: None,
                mean: None,
                sd: None,
                count: None,
                nobs: None,
                ..
            } => {
                if metric != Metric::Ratio {
                    return form("\"num\" and \"den\" describe a ratio metric");
                }
                SufficientStats::from_values(num, Some(den))
            }
            VariantData {
                values: None,
                pre: None,
                num: None,
                den: None,
                n: Some(n),
                mean: Some(mean),
                sd: Some(sd),
                count: None,
                nobs: None,
                ..
            } => {
                if metric == Metric::Ratio || cuped {
                    return form("a ratio or CUPED needs raw values, not n/mean/sd");
                }
                SufficientStats::from_mean_sd(*n, *mean, *sd)
            }
            VariantData {
                values: None,
                pre: None,
                num: None,
                den: None,
                n: None,
                mean: None,
                sd: None,
                count: Some(count),
                nobs: Some(nobs),
                ..
            } => {
                if metric != Metric::Proportion || cuped {
                    return form("counts describe a proportion metric without CUPED");
                }
                SufficientStats::from_counts(*count, *nobs)
            }
            _ => form(
                "give \"values\" (and \"pre\"), \"num\" and \"den\", \
                 \"n\", \"mean\" and \"sd\", or \"count\" and \"nobs\"",
            ),
        };
        stats.map_err(|e| in_variant(name, e))
    }
}

impl AnalysisSpec {
    /// Parses a spec from JSON.
    ///
    /// # Errors
    /// [`ExperimentError::Spec`] with serde's message (unknown fields,
    /// unknown metric or test names, wrong types).
    pub fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| ExperimentError::Spec(e.to_string()))
    }

    /// The analysis options this spec asks for.
    pub fn options(&self) -> AnalysisOptions {
        let d = AnalysisOptions::default();
        AnalysisOptions {
            metric: self.metric,
            test: self.test,
            alpha: self.alpha,
            sequential_tuning: self.sequential_tuning,
            cuped: self.cuped.unwrap_or(d.cuped),
            pooled: self.pooled.unwrap_or(d.pooled),
            correction: self.correction,
        }
    }

    /// The arms, control first.
    ///
    /// # Errors
    /// A variant in no known form or with bad data, an unknown control.
    pub fn arms(&self) -> Result<Vec<Arm>> {
        let options = self.options();
        options.validate()?;
        let mut arms = self
            .variants
            .iter()
            .map(|v| {
                Ok(Arm {
                    name: v.name.clone(),
                    stats: v.stats(options.metric, options.cuped)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if let Some(control) = &self.control {
            let Some(i) = arms.iter().position(|a| &a.name == control) else {
                return Err(ExperimentError::UnknownVariant {
                    name: control.clone(),
                    known: arms.iter().map(|a| a.name.clone()).collect(),
                });
            };
            let c = arms.remove(i);
            arms.insert(0, c);
        }
        Ok(arms)
    }

    /// Runs the analysis: each treatment against the control.
    ///
    /// # Errors
    /// As [`AnalysisSpec::arms`] and [`analyze`].
    pub fn run(&self) -> Result<Vec<Comparison>> {
        analyze(&self.arms()?, &self.options())
    }
}
