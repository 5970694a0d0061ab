//! A/B experiments: deterministic assignment compatible with GrowthBook's
//! SDKs, and the statistics analysts check results with (gbstats, scipy,
//! statsmodels), computed from mergeable sufficient statistics so that
//! event logs too large to hold as raw values can be analysed.
//!
//! - Assignment ([`Experiment`], [`hash`], [`bucket_ranges`],
//!   [`Namespace`]): GrowthBook's FNV-1a hash versions 1 and 2, weights,
//!   coverage, namespaces, forced variations; each assignment is an
//!   [`Exposure`] record to log.
//! - Statistics ([`SufficientStats`], [`aggregate`]): count, means,
//!   centred sums of squares and co-moment per variant, aggregated over an
//!   [`EventLog`] in parallel and merged with Chan's update.
//! - Tests ([`analyze`], [`AnalysisSpec`]): Welch's and Student's t, the
//!   z-test of two proportions (pooled or not), gbstats' frequentist
//!   engine; absolute and relative lift (delta method); ratio metrics;
//!   CUPED ([`cuped_theta`]); GrowthBook's sequential confidence
//!   sequences; Bayesian [`chance_to_win`] with a flat prior; a
//!   correction across treatments.
//! - Checks and planning: sample-ratio mismatch ([`srm`]),
//!   multiple-comparison adjustment ([`adjust`]), power and minimum
//!   detectable effect ([`PowerPlan`]).
//!
//! Distributions come from `statrs`. Bad input is an [`ExperimentError`]
//! naming what was wrong; no output holds NaN or an infinity.
//!
//! ```
//! use unidb_vectordb::experiments::{
//!     aggregate, analyze, AnalysisOptions, Arm, EventLog, Experiment, ExperimentConfig, TestKind,
//! };
//! # fn main() -> Result<(), unidb_vectordb::experiments::ExperimentError> {
//! let exp = Experiment::new(ExperimentConfig { key: "ranker".into(), ..Default::default() })?;
//! let (mut variant, mut value) = (Vec::new(), Vec::new());
//! for user in 0..2000 {
//!     let v = exp.assign(&format!("user-{user}")).variant.unwrap();
//!     variant.push(v as u32);
//!     value.push((user % 7) as f64 + v as f64 * 0.5); // the treatment adds 0.5
//! }
//! let stats = aggregate(&EventLog { variant: &variant, value: &value, second: None, variants: 2 })?;
//! let arms: Vec<Arm> = ["control", "treatment"]
//!     .iter()
//!     .zip(stats)
//!     .map(|(name, stats)| Arm { name: name.to_string(), stats })
//!     .collect();
//! let options = AnalysisOptions { test: TestKind::Gbstats, ..AnalysisOptions::default() };
//! let result = &analyze(&arms, &options)?[0];
//! assert!(result.abs.ci95[0] < 0.5 && 0.5 < result.abs.ci95[1]);
//! assert!(result.chance_to_win.unwrap() > 0.99);
//! # Ok(()) }
//! ```

mod adjust;
mod analysis;
mod assign;
mod bayes;
mod dist;
mod error;
mod estimate;
mod frequentist;
mod power;
mod sequential;
mod spec;
mod srm;
mod stats;

pub use adjust::{adjust, Correction};
pub use analysis::{analyze, AnalysisOptions, Arm, Comparison, Estimate, Metric, TestKind};
pub use assign::{
    bucket_ranges, check_weights, choose_variation, fnv1a32, hash, hash_with, Experiment,
    ExperimentConfig, Exposure, HashUnits, Namespace, WEIGHT_SUM_TOLERANCE,
};
pub use bayes::chance_to_win;
pub use error::{ExperimentError, Result};
pub use estimate::cuped_theta;
pub use power::PowerPlan;
pub use sequential::DEFAULT_SEQUENTIAL_TUNING;
pub use spec::{AnalysisSpec, VariantData};
pub use srm::{srm, Srm, SRM_THRESHOLD};
pub use stats::{aggregate, EventLog, SufficientStats};
