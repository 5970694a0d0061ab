//! Deterministic, stateless assignment of units to variants, compatible
//! with GrowthBook's SDKs: the FNV-1a 32-bit hash (versions 1 and 2),
//! bucket ranges from weights and coverage, namespaces and forced
//! variations.

use std::collections::BTreeMap;

use super::error::{ExperimentError, Result};

/// How text is fed to the FNV-1a hash.
///
/// GrowthBook's JavaScript SDK hashes UTF-16 code units (`charCodeAt`),
/// and its Python SDK does the same; SDKs that hash a string's bytes hash
/// UTF-8. The two agree on ASCII text and differ on anything else, so a
/// team keeps the units of the SDK its users were assigned with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum HashUnits {
    /// UTF-16 code units, each XORed in whole (the JavaScript and Python
    /// SDKs; an astral character is two units).
    #[default]
    Utf16,
    /// UTF-8 bytes.
    Utf8,
}

const FNV_OFFSET: u32 = 0x811C_9DC5;
const FNV_PRIME: u32 = 0x0100_0193;

/// FNV-1a 32-bit of the concatenation of `parts`, over `units`.
fn fnv1a32_parts(parts: &[&str], units: HashUnits) -> u32 {
    let mut h = FNV_OFFSET;
    for part in parts {
        match units {
            HashUnits::Utf8 => {
                for &b in part.as_bytes() {
                    h = (h ^ u32::from(b)).wrapping_mul(FNV_PRIME);
                }
            }
            HashUnits::Utf16 => {
                for unit in part.encode_utf16() {
                    h = (h ^ u32::from(unit)).wrapping_mul(FNV_PRIME);
                }
            }
        }
    }
    h
}

/// The FNV-1a 32-bit hash of `text` over `units`.
///
/// ```
/// use unidb_vectordb::experiments::{fnv1a32, HashUnits};
/// assert_eq!(fnv1a32("", HashUnits::Utf8), 0x811C_9DC5);
/// assert_eq!(fnv1a32("a", HashUnits::Utf8), 0xE40C_292C);
/// ```
pub fn fnv1a32(text: &str, units: HashUnits) -> u32 {
    fnv1a32_parts(&[text], units)
}

/// GrowthBook's hash of `value` under `seed`, in `[0, 1)`, over UTF-16
/// code units as the JavaScript SDK ([`hash_with`] chooses the units).
///
/// Version 1 is `(fnv(value + seed) % 1000) / 1000`; version 2 is
/// `(fnv(decimal(fnv(seed + value))) % 10000) / 10000`.
///
/// ```
/// use unidb_vectordb::experiments::hash;
/// assert_eq!(hash("", "a", 1).unwrap(), 0.22);
/// assert_eq!(hash("seed", "a", 2).unwrap(), 0.0505);
/// assert!(hash("abc", "def", 99).is_err());
/// ```
///
/// # Errors
/// [`ExperimentError::HashVersion`] for a version other than 1 or 2.
pub fn hash(seed: &str, value: &str, version: u32) -> Result<f64> {
    hash_with(seed, value, version, HashUnits::Utf16)
}

/// [`hash`] over the given units.
///
/// # Errors
/// [`ExperimentError::HashVersion`] for a version other than 1 or 2.
pub fn hash_with(seed: &str, value: &str, version: u32, units: HashUnits) -> Result<f64> {
    match version {
        1 => Ok(f64::from(fnv1a32_parts(&[value, seed], units) % 1000) / 1000.0),
        2 => {
            let inner = fnv1a32_parts(&[seed, value], units).to_string();
            Ok(f64::from(fnv1a32_parts(&[&inner], units) % 10000) / 10000.0)
        }
        v => Err(ExperimentError::HashVersion(v)),
    }
}

/// How far the weights may sum from 1 (GrowthBook's SDKs accept the same
/// band and fall back to equal weights outside it; here that is an error).
pub const WEIGHT_SUM_TOLERANCE: f64 = 0.01;

/// Checks that `weights` are finite, non-negative and sum to 1 within
/// [`WEIGHT_SUM_TOLERANCE`].
///
/// # Errors
/// [`ExperimentError::Weights`] naming what is wrong.
pub fn check_weights(weights: &[f64]) -> Result<()> {
    let bad = |reason| {
        Err(ExperimentError::Weights {
            weights: weights.to_vec(),
            reason,
        })
    };
    if weights.is_empty() {
        return bad("are empty");
    }
    if weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
        return bad("must be finite and non-negative");
    }
    let sum: f64 = weights.iter().sum();
    if (sum - 1.0).abs() > WEIGHT_SUM_TOLERANCE {
        return bad("do not sum to 1");
    }
    Ok(())
}

/// The bucket range `[start, end)` of each variation, as GrowthBook's
/// `getBucketRanges`: variation `i` starts at the sum of the weights before
/// it and covers `coverage` of its weight. `weights` of `None` are equal.
///
/// ```
/// use unidb_vectordb::experiments::bucket_ranges;
/// let r = bucket_ranges(3, 0.2, Some(&[0.2, 0.3, 0.5])).unwrap();
/// assert_eq!(r, [(0.0, 0.04000000000000001), (0.2, 0.26), (0.5, 0.6)]);
/// ```
///
/// # Errors
/// A coverage outside `[0, 1]`, no variations, weights not one per
/// variation, or weights [`check_weights`] refuses.
pub fn bucket_ranges(
    variations: usize,
    coverage: f64,
    weights: Option<&[f64]>,
) -> Result<Vec<(f64, f64)>> {
    if !(0.0..=1.0).contains(&coverage) {
        return Err(ExperimentError::range("coverage", "[0, 1]", coverage));
    }
    let equal;
    let weights = match weights {
        Some(w) => w,
        None => {
            if variations == 0 {
                return Err(ExperimentError::TooFewVariants(0));
            }
            equal = vec![1.0 / variations as f64; variations];
            &equal
        }
    };
    if weights.len() != variations {
        return Err(ExperimentError::Weights {
            weights: weights.to_vec(),
            reason: "must give one weight per variation",
        });
    }
    check_weights(weights)?;
    let mut cumulative = 0.0;
    Ok(weights
        .iter()
        .map(|w| {
            let start = cumulative;
            cumulative += w;
            (start, start + coverage * w)
        })
        .collect())
}

/// The variation whose range holds `n` (`start <= n < end`), as
/// GrowthBook's `chooseVariation`; `None` when no range holds it.
pub fn choose_variation(n: f64, ranges: &[(f64, f64)]) -> Option<usize> {
    ranges.iter().position(|&(lo, hi)| lo <= n && n < hi)
}

/// A namespace: experiments in one namespace with disjoint ranges never
/// share a unit.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Namespace {
    /// The namespace's name.
    pub id: String,
    /// Start of this experiment's share, in `[0, 1]`.
    pub start: f64,
    /// End of its share (exclusive), in `[start, 1]`.
    pub end: f64,
}

impl Namespace {
    /// A namespace share `[start, end)` of `id`.
    ///
    /// # Errors
    /// Bounds outside `[0, 1]` or `start > end`.
    pub fn new(id: impl Into<String>, start: f64, end: f64) -> Result<Self> {
        let ns = Namespace {
            id: id.into(),
            start,
            end,
        };
        ns.validate()?;
        Ok(ns)
    }

    fn validate(&self) -> Result<()> {
        for (what, v) in [("namespace start", self.start), ("namespace end", self.end)] {
            if !(0.0..=1.0).contains(&v) {
                return Err(ExperimentError::range(what, "[0, 1]", v));
            }
        }
        if self.start > self.end {
            return Err(ExperimentError::range(
                "namespace end",
                "[start, 1]",
                self.end,
            ));
        }
        Ok(())
    }

    /// Whether `id` falls in this share, as GrowthBook's `inNamespace`:
    /// the version-1 hash of `id` under the seed `"__" + namespace`.
    pub fn contains(&self, id: &str, units: HashUnits) -> bool {
        let seed = format!("__{}", self.id);
        let n = f64::from(fnv1a32_parts(&[id, &seed], units) % 1000) / 1000.0;
        self.start <= n && n < self.end
    }
}

/// An experiment's assignment settings.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields, default))]
pub struct ExperimentConfig {
    /// The experiment's key (logged with every exposure).
    pub key: String,
    /// The hash seed; the key when `None`.
    pub seed: Option<String>,
    /// GrowthBook hash version (1 or 2).
    pub hash_version: u32,
    /// One weight per variant, summing to 1 (variant 0 is the control).
    pub weights: Vec<f64>,
    /// The share of units in the experiment, in `[0, 1]`.
    pub coverage: f64,
    /// The namespace share the experiment runs in, if any.
    pub namespace: Option<Namespace>,
    /// Units with a fixed variant (QA, staff), by id.
    pub forced: BTreeMap<String, usize>,
    /// The units text is hashed over.
    pub units: HashUnits,
}

impl Default for ExperimentConfig {
    /// Key `""`, hash version 2, two variants at 50/50, full coverage.
    fn default() -> Self {
        ExperimentConfig {
            key: String::new(),
            seed: None,
            hash_version: 2,
            weights: vec![0.5, 0.5],
            coverage: 1.0,
            namespace: None,
            forced: BTreeMap::new(),
            units: HashUnits::Utf16,
        }
    }
}

/// One assignment, as logged: which unit saw which variant of which
/// experiment, and why.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Exposure {
    /// The experiment's key.
    pub experiment: String,
    /// The unit.
    pub id: String,
    /// The variant, or `None` when the unit is not in the experiment.
    pub variant: Option<usize>,
    /// The unit's hash under the experiment's seed (`None` when forced).
    pub bucket: Option<f64>,
    /// Whether the variant was forced rather than hashed.
    pub forced: bool,
    /// The hash version used.
    pub hash_version: u32,
}

/// A validated experiment, ready to assign units.
///
/// ```
/// use unidb_vectordb::experiments::{Experiment, ExperimentConfig};
/// # fn main() -> Result<(), unidb_vectordb::experiments::ExperimentError> {
/// let exp = Experiment::new(ExperimentConfig {
///     key: "ranker-v2".into(),
///     weights: vec![0.5, 0.5],
///     ..ExperimentConfig::default()
/// })?;
/// let a = exp.assign("user-1");
/// assert_eq!(a, exp.assign("user-1")); // deterministic
/// assert!(a.variant.is_some());
/// assert_eq!(a.experiment, "ranker-v2");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Experiment {
    config: ExperimentConfig,
    ranges: Vec<(f64, f64)>,
}

impl Experiment {
    /// Validates `config` and computes its bucket ranges.
    ///
    /// # Errors
    /// An unknown hash version, weights that are not valid for
    /// [`bucket_ranges`], fewer than two variants, a coverage or namespace
    /// out of range, or a forced variant the experiment does not have.
    pub fn new(config: ExperimentConfig) -> Result<Self> {
        if !matches!(config.hash_version, 1 | 2) {
            return Err(ExperimentError::HashVersion(config.hash_version));
        }
        if config.weights.len() < 2 {
            return Err(ExperimentError::TooFewVariants(config.weights.len()));
        }
        let ranges = bucket_ranges(config.weights.len(), config.coverage, Some(&config.weights))?;
        if let Some(ns) = &config.namespace {
            ns.validate()?;
        }
        let known = || (0..config.weights.len()).map(|i| i.to_string()).collect();
        for &v in config.forced.values() {
            if v >= config.weights.len() {
                return Err(ExperimentError::UnknownVariant {
                    name: v.to_string(),
                    known: known(),
                });
            }
        }
        Ok(Experiment { config, ranges })
    }

    /// The settings.
    pub fn config(&self) -> &ExperimentConfig {
        &self.config
    }

    /// Each variant's bucket range.
    pub fn ranges(&self) -> &[(f64, f64)] {
        &self.ranges
    }

    /// Assigns `id`: its forced variant if it has one; else nothing when
    /// it is outside the namespace share; else the variant whose range
    /// holds its hash (nothing when coverage leaves it out).
    pub fn assign(&self, id: &str) -> Exposure {
        let c = &self.config;
        let exposure = |variant, bucket, forced| Exposure {
            experiment: c.key.clone(),
            id: id.to_owned(),
            variant,
            bucket,
            forced,
            hash_version: c.hash_version,
        };
        if let Some(&v) = c.forced.get(id) {
            return exposure(Some(v), None, true);
        }
        if let Some(ns) = &c.namespace {
            if !ns.contains(id, c.units) {
                return exposure(None, None, false);
            }
        }
        let seed = c.seed.as_deref().unwrap_or(&c.key);
        // The version was checked in `new`.
        let n = hash_with(seed, id, c.hash_version, c.units).unwrap_or(0.0);
        exposure(choose_variation(n, &self.ranges), Some(n), false)
    }
}
