//! The errors of assignment and analysis.

/// What was wrong with an experiment's configuration or data.
///
/// Every analysis refuses input it cannot give a finite answer for, so no
/// output of this module holds NaN or an infinity.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ExperimentError {
    /// A hash version other than 1 or 2.
    #[error("unknown hash version {0} (1 or 2)")]
    HashVersion(u32),
    /// Weights that are negative, non-finite, or do not sum to 1.
    #[error("weights {weights:?} {reason}")]
    Weights {
        /// The weights given.
        weights: Vec<f64>,
        /// What is wrong with them.
        reason: &'static str,
    },
    /// A number outside the range its parameter allows.
    #[error("{what} must be in {range}, got {value}")]
    OutOfRange {
        /// The parameter ("coverage", "alpha", "p-value 3", ...).
        what: String,
        /// The allowed range, written out ("[0, 1]").
        range: &'static str,
        /// The value given.
        value: f64,
    },
    /// A variant name (or index) the experiment does not have.
    #[error("unknown variant {name:?} (known: {})", .known.join(", "))]
    UnknownVariant {
        /// The variant asked for.
        name: String,
        /// The variants the experiment has.
        known: Vec<String>,
    },
    /// A method, test or metric name that is not one of the known ones.
    #[error("unknown {what} {name:?} (known: {})", .known.join(", "))]
    UnknownName {
        /// What was named ("correction", ...).
        what: &'static str,
        /// The name given.
        name: String,
        /// The known names.
        known: Vec<String>,
    },
    /// Two variants with the same name.
    #[error("variant {0:?} is given twice")]
    DuplicateVariant(String),
    /// Fewer than two variants (a control and a treatment).
    #[error("an experiment needs a control and at least one treatment, got {0} variant(s)")]
    TooFewVariants(usize),
    /// A variant without enough units to estimate a variance.
    #[error("variant {variant:?} has {n} unit(s); at least {need} are needed")]
    EmptyArm {
        /// The variant.
        variant: String,
        /// Its units.
        n: u64,
        /// The fewest units the analysis needs.
        need: u64,
    },
    /// A variant whose metric does not vary, so no standard error exists.
    #[error("variant {variant:?} has zero variance in {what}")]
    ZeroVariance {
        /// The variant.
        variant: String,
        /// What does not vary ("the metric", "the denominator", "the pre-period covariate").
        what: &'static str,
    },
    /// A NaN or infinite value in the input.
    #[error("{what} has the non-finite value {value} at position {position}")]
    NonFinite {
        /// Where ("variant \"b\" values", "sum of squares", ...).
        what: String,
        /// Its position (0 for a single number).
        position: usize,
        /// The value.
        value: f64,
    },
    /// Sufficient statistics or counts that cannot come from any data
    /// (a negative variance, a count above the number of trials, ...).
    #[error("inconsistent statistics for {what}: {reason}")]
    Inconsistent {
        /// The variant or input.
        what: String,
        /// What is inconsistent.
        reason: String,
    },
    /// Input arrays that must be parallel have different lengths.
    #[error("{what}: {left} has {left_len} values, {right} has {right_len}")]
    Length {
        /// The variant or input.
        what: String,
        /// One array.
        left: &'static str,
        /// Its length.
        left_len: usize,
        /// The other.
        right: &'static str,
        /// Its length.
        right_len: usize,
    },
    /// A combination of options the analysis does not define (e.g. CUPED
    /// for a ratio metric, or a test that needs raw values given counts).
    #[error("{0}")]
    Unsupported(String),
    /// An analysis specification that does not parse or describes a
    /// variant in no known form.
    #[error("invalid analysis spec: {0}")]
    Spec(String),
    /// A computation that overflowed to a non-finite result (e.g. a
    /// variance of values near `f64::MAX`).
    #[error("{0} is not finite (input too large)")]
    Overflow(&'static str),
}

impl ExperimentError {
    /// The project-wide category of this error.
    pub fn kind(&self) -> unidb_common::ErrorKind {
        use unidb_common::ErrorKind as K;
        match self {
            ExperimentError::UnknownVariant { .. } | ExperimentError::UnknownName { .. } => {
                K::NotFound
            }
            ExperimentError::DuplicateVariant(_) => K::Conflict,
            ExperimentError::Unsupported(_) => K::Unsupported,
            ExperimentError::Spec(_) => K::Serialization,
            ExperimentError::HashVersion(_)
            | ExperimentError::Weights { .. }
            | ExperimentError::OutOfRange { .. } => K::Configuration,
            _ => K::Validation,
        }
    }

    pub(crate) fn range(what: impl Into<String>, range: &'static str, value: f64) -> Self {
        ExperimentError::OutOfRange {
            what: what.into(),
            range,
            value,
        }
    }
}

impl From<ExperimentError> for unidb_common::Error {
    fn from(e: ExperimentError) -> Self {
        unidb_common::Error::new(e.kind(), e.to_string()).with_source(e)
    }
}

/// Shorthand for results of the experiments module.
pub type Result<T, E = ExperimentError> = std::result::Result<T, E>;
