//! Multiple-comparison adjustment of p-values: Bonferroni and Holm
//! (family-wise error) and Benjamini–Hochberg (false discovery rate), as
//! statsmodels' `multipletests`.

use super::error::{ExperimentError, Result};

/// A multiple-comparison correction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Correction {
    /// `min(1, m p)`.
    Bonferroni,
    /// Holm's step-down.
    Holm,
    /// Benjamini–Hochberg's step-up (false discovery rate).
    Bh,
}

impl std::str::FromStr for Correction {
    type Err = ExperimentError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "bonferroni" => Ok(Correction::Bonferroni),
            "holm" => Ok(Correction::Holm),
            "bh" | "fdr_bh" => Ok(Correction::Bh),
            other => Err(ExperimentError::UnknownName {
                what: "correction",
                name: other.to_owned(),
                known: vec!["bonferroni".into(), "holm".into(), "bh".into()],
            }),
        }
    }
}

/// The adjusted p-values of `p`, in input order.
///
/// ```
/// use unidb_vectordb::experiments::{adjust, Correction};
/// let p = [0.01, 0.04, 0.03];
/// assert_eq!(adjust(&p, Correction::Bonferroni).unwrap(), [0.03, 0.12, 0.09]);
/// assert_eq!(adjust(&p, Correction::Holm).unwrap(), [0.03, 0.06, 0.06]);
/// assert!(adjust(&[1.5], Correction::Holm).is_err());
/// ```
///
/// # Errors
/// A p-value that is NaN or outside `[0, 1]`.
pub fn adjust(p: &[f64], method: Correction) -> Result<Vec<f64>> {
    for (i, &v) in p.iter().enumerate() {
        if v.is_nan() {
            return Err(ExperimentError::NonFinite {
                what: "p-values".into(),
                position: i,
                value: v,
            });
        }
        if !(0.0..=1.0).contains(&v) {
            return Err(ExperimentError::range(format!("p-value {i}"), "[0, 1]", v));
        }
    }
    let m = p.len() as f64;
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut out = vec![0.0; p.len()];
    match method {
        Correction::Bonferroni => {
            for (o, &v) in out.iter_mut().zip(p) {
                *o = (v * m).min(1.0);
            }
        }
        Correction::Holm => {
            let mut running: f64 = 0.0;
            for (rank, &i) in order.iter().enumerate() {
                running = running.max(((m - rank as f64) * p[i]).min(1.0));
                out[i] = running;
            }
        }
        Correction::Bh => {
            let mut running: f64 = 1.0;
            for (rank, &i) in order.iter().enumerate().rev() {
                running = running.min(p[i] * m / (rank + 1) as f64);
                out[i] = running.min(1.0);
            }
        }
    }
    Ok(out)
}
