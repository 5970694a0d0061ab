//! `pca`: principal component analysis, fitted by an eigendecomposition
//! of the sample covariance (in f64, by `faer`).

use serde::{Deserialize, Serialize};
use unidb_common::bytes::Reader;
use unidb_common::config::Validate;
use unidb_registry::{plugin_info, submit};

use super::center::column_means;
use super::error::TransformError;
use super::kind::{check_finite_rows, Transform, TransformPlugin};
use super::linear::{affine_rows, finish, read_dim, read_f32s, transpose, write_dim, write_f32s};
use crate::codec::Writer;
use crate::error::Result;
use crate::params::Params;

/// The fit parameters of the `pca` transform (the keys of
/// [`Params::json`](crate::Params::json) are the field names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PcaConfig {
    /// Components kept (`d'`, at most the input dimension); `None` keeps
    /// all of them.
    pub dim_out: Option<usize>,
    /// Divide each component by its standard deviation, so the fit
    /// sample has identity covariance afterwards.
    pub whiten: bool,
    /// Added to each variance before whitening (regularizes components
    /// with little variance); at least 0.
    pub eps: f64,
}

impl Default for PcaConfig {
    fn default() -> Self {
        PcaConfig {
            dim_out: None,
            whiten: false,
            eps: 0.0,
        }
    }
}

impl Validate for PcaConfig {
    fn validate(&self) -> unidb_common::Result<()> {
        if self.dim_out == Some(0) {
            return Err(unidb_common::Error::new(
                unidb_common::ErrorKind::Configuration,
                "must be at least 1",
            )
            .with_location("dim_out"));
        }
        if !(self.eps.is_finite() && self.eps >= 0.0) {
            return Err(unidb_common::Error::new(
                unidb_common::ErrorKind::Configuration,
                format!("must be finite and at least 0, got {}", self.eps),
            )
            .with_location("eps"));
        }
        Ok(())
    }
}

/// A fitted PCA: `y = W (x - mean)` where the rows of `W` are the
/// principal directions of the fit sample (unit vectors, by decreasing
/// variance), each divided by `sqrt(variance + eps)` when whitening.
///
/// The covariance is the population covariance of the sample (divided
/// by its row count), accumulated and decomposed in f64 (`faer`'s
/// self-adjoint eigendecomposition). Each direction's sign is fixed so
/// that its largest-magnitude entry is positive, so a fit is
/// reproducible. The inverse maps back to `mean + Wᵀ y` (unscaled when
/// whitening): exact up to rounding when every component is kept, the
/// projection onto the kept components otherwise.
#[derive(Debug, Clone)]
pub struct Pca {
    dim_in: usize,
    dim_out: usize,
    whiten: bool,
    eps: f64,
    total_variance: f64,
    mean: Vec<f32>,
    variances: Vec<f64>,
    components: Vec<f32>,
    /// `dim_out × dim_in`: the components, scaled when whitening.
    forward: Vec<f32>,
    /// `dim_in × dim_out`: the inverse map.
    backward: Vec<f32>,
}

impl Pca {
    /// Fits on `sample`, rows of `dim` values.
    ///
    /// # Errors
    /// [`TransformError::EmptySample`] for no rows,
    /// [`TransformError::TooManyDimensions`] when `config.dim_out` exceeds
    /// `dim`, [`TransformError::Degenerate`] when whitening a component
    /// without variance, [`TransformError::Dimension`] /
    /// [`TransformError::NotWholeRows`] / [`TransformError::NotFinite`] for
    /// a malformed sample, [`TransformError::Unsupported`] in a build
    /// without the `linalg` feature.
    pub fn fit(sample: &[f32], dim: usize, config: &PcaConfig) -> Result<Self, TransformError> {
        check_finite_rows("sample", sample, dim)?;
        if sample.is_empty() {
            return Err(TransformError::EmptySample { transform: "pca" });
        }
        let dim_out = config.dim_out.unwrap_or(dim);
        if dim_out > dim {
            return Err(TransformError::TooManyDimensions {
                transform: "pca",
                requested: dim_out,
                available: dim,
            });
        }
        if dim_out == 0 {
            return Err(TransformError::Dimension {
                what: "pca dim_out (at least 1)",
                expected: 1,
                got: 0,
            });
        }
        let mean = column_means(sample, dim);
        let (values, vectors) = eigen_descending(sample, dim, &mean)?;
        let total_variance: f64 = values.iter().map(|v| v.max(0.0)).sum();
        let mut components = Vec::with_capacity(dim_out * dim);
        for v in vectors.chunks_exact(dim).take(dim_out) {
            // The sign that makes the largest-magnitude entry positive
            // (the first one on ties).
            let big = v
                .iter()
                .fold(0.0f64, |m, x| if x.abs() > m.abs() { *x } else { m });
            let sign = if big < 0.0 { -1.0 } else { 1.0 };
            components.extend(v.iter().map(|x| (x * sign) as f32));
        }
        let variances: Vec<f64> = values.iter().take(dim_out).map(|v| v.max(0.0)).collect();
        Pca::from_parts(
            mean.iter().map(|m| *m as f32).collect(),
            variances,
            components,
            total_variance,
            config.whiten,
            config.eps,
            0,
        )
    }

    /// Builds the maps from the stored parameters (the one path both
    /// fitting and decoding take, so a decoded PCA is bit for bit the
    /// fitted one). `at` is the offset reported for a degenerate
    /// component of a decoded PCA.
    fn from_parts(
        mean: Vec<f32>,
        variances: Vec<f64>,
        components: Vec<f32>,
        total_variance: f64,
        whiten: bool,
        eps: f64,
        at: usize,
    ) -> Result<Self, TransformError> {
        let (dim_in, dim_out) = (mean.len(), variances.len());
        let largest = variances.iter().fold(0.0f64, |m, v| m.max(*v)) + eps;
        let mut forward = components.clone();
        let mut backward = transpose(&components, dim_out, dim_in);
        if whiten {
            for (i, v) in variances.iter().enumerate() {
                let var = v + eps;
                if var.is_nan() || var <= 1e-12 * largest {
                    return Err(if at == 0 {
                        TransformError::Degenerate {
                            component: i,
                            variance: var,
                        }
                    } else {
                        TransformError::decode(
                            at,
                            format!("component {i} has no variance to whiten"),
                        )
                    });
                }
                let sd = var.sqrt();
                for w in &mut forward[i * dim_in..(i + 1) * dim_in] {
                    *w = (f64::from(*w) / sd) as f32;
                }
                for row in backward.chunks_exact_mut(dim_out) {
                    row[i] = (f64::from(row[i]) * sd) as f32;
                }
            }
        }
        Ok(Pca {
            dim_in,
            dim_out,
            whiten,
            eps,
            total_variance,
            mean,
            variances,
            components,
            forward,
            backward,
        })
    }

    /// The mean subtracted first.
    pub fn mean(&self) -> &[f32] {
        &self.mean
    }

    /// The principal directions, `dim_out` unit rows of `dim_in` values
    /// (row-major), by decreasing variance.
    pub fn components(&self) -> &[f32] {
        &self.components
    }

    /// The sample variance along each kept direction (the covariance's
    /// eigenvalues, decreasing; negative rounding clamped to 0).
    pub fn variances(&self) -> &[f64] {
        &self.variances
    }

    /// The fraction of the sample's total variance each kept component
    /// explains.
    pub fn explained_variance_ratio(&self) -> Vec<f64> {
        self.variances
            .iter()
            .map(|v| {
                if self.total_variance > 0.0 {
                    v / self.total_variance
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// Whether components are scaled to unit variance.
    pub fn whitens(&self) -> bool {
        self.whiten
    }
}

#[cfg(feature = "linalg")]
fn eigen_descending(
    sample: &[f32],
    dim: usize,
    mean: &[f64],
) -> Result<(Vec<f64>, Vec<f64>), TransformError> {
    use faer::linalg::matmul::matmul;
    use faer::{Accum, Mat, Par, Side};

    const CHUNK_ROWS: usize = 1024;
    let rows = sample.len() / dim;
    let mut cov = Mat::<f64>::zeros(dim, dim);
    for chunk in sample.chunks(CHUNK_ROWS * dim) {
        let n = chunk.len() / dim;
        let x = Mat::<f64>::from_fn(n, dim, |i, j| f64::from(chunk[i * dim + j]) - mean[j]);
        matmul(
            cov.as_mut(),
            Accum::Add,
            x.transpose(),
            x.as_ref(),
            1.0 / rows as f64,
            Par::Seq,
        );
    }
    let evd = cov
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| TransformError::Linalg {
            transform: "pca",
            reason: format!("the covariance eigendecomposition failed: {e:?}"),
        })?;
    let values = evd.S().column_vector();
    let vectors = evd.U();
    let mut out_values = Vec::with_capacity(dim);
    let mut out_vectors = Vec::with_capacity(dim * dim);
    for k in (0..dim).rev() {
        out_values.push(values[k]);
        out_vectors.extend((0..dim).map(|j| vectors[(j, k)]));
    }
    if out_values
        .iter()
        .chain(&out_vectors)
        .any(|v| !v.is_finite())
    {
        return Err(TransformError::Linalg {
            transform: "pca",
            reason: "the covariance is not finite (values too large)".into(),
        });
    }
    Ok((out_values, out_vectors))
}

#[cfg(not(feature = "linalg"))]
fn eigen_descending(
    _sample: &[f32],
    _dim: usize,
    _mean: &[f64],
) -> Result<(Vec<f64>, Vec<f64>), TransformError> {
    Err(TransformError::Unsupported {
        transform: "pca",
        feature: "linalg",
    })
}

impl Transform for Pca {
    fn name(&self) -> &'static str {
        "pca"
    }
    fn dim_in(&self) -> usize {
        self.dim_in
    }
    fn dim_out(&self) -> usize {
        self.dim_out
    }
    fn transform_rows(&self, input: &[f32], output: &mut [f32]) {
        affine_rows(
            input,
            output,
            self.dim_in,
            self.dim_out,
            Some(&self.mean),
            &self.forward,
            None,
        );
    }
    fn is_invertible(&self) -> bool {
        true
    }
    fn inverse_rows(&self, input: &[f32], output: &mut [f32]) {
        affine_rows(
            input,
            output,
            self.dim_out,
            self.dim_in,
            None,
            &self.backward,
            Some(&self.mean),
        );
    }
    /// `dim_in` (u32), `dim_out` (u32), flags (u8, bit 0: whiten), `eps`
    /// and the total variance (f64), the mean (`dim_in` f32), the
    /// variances (`dim_out` f64), the components (`dim_out × dim_in` f32).
    fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer(out);
        write_dim(&mut w, self.dim_in);
        write_dim(&mut w, self.dim_out);
        w.u8(u8::from(self.whiten));
        w.f64(self.eps);
        w.f64(self.total_variance);
        write_f32s(&mut w, &self.mean);
        for v in &self.variances {
            w.f64(*v);
        }
        write_f32s(&mut w, &self.components);
    }
}

fn fit(sample: &[f32], dim: usize, params: Params<'_>) -> Result<Box<dyn Transform>> {
    let config = params.get::<PcaConfig>("pca")?;
    Ok(Box::new(Pca::fit(sample, dim, &config)?))
}

fn decode(bytes: &[u8]) -> Result<Box<dyn Transform>, TransformError> {
    let mut r = Reader::new(bytes);
    let dim_in = read_dim(&mut r, "input dimension")?;
    let at = r.offset();
    let dim_out = read_dim(&mut r, "output dimension")?;
    if dim_out > dim_in {
        return Err(TransformError::decode(
            at,
            format!("{dim_out} components of {dim_in} dimensions"),
        ));
    }
    let at = r.offset();
    let whiten = match r.u8("flags")? {
        0 => false,
        1 => true,
        f => return Err(TransformError::decode(at, format!("unknown flags {f:#x}"))),
    };
    let at = r.offset();
    let eps = r.f64("eps")?;
    let total_variance = r.f64("total variance")?;
    if !(eps.is_finite() && eps >= 0.0 && total_variance.is_finite() && total_variance >= 0.0) {
        return Err(TransformError::decode(
            at,
            "eps or total variance negative or not finite",
        ));
    }
    let mean = read_f32s(&mut r, dim_in, "mean")?;
    let at = r.offset();
    r.take(dim_out * 8, "variances")?; // dim_out <= 2^20: no overflow
    let variances: Vec<f64> = bytes[at..at + dim_out * 8]
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
        .collect();
    if let Some(i) = variances.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
        return Err(TransformError::decode(
            at + 8 * i,
            format!("variance {i} is negative or not finite"),
        ));
    }
    let n = dim_out
        .checked_mul(dim_in)
        .ok_or_else(|| TransformError::decode(at, "component matrix size overflows"))?;
    let components = read_f32s(&mut r, n, "components")?;
    finish(&r)?;
    Ok(Box::new(Pca::from_parts(
        mean,
        variances,
        components,
        total_variance,
        whiten,
        eps,
        at.max(1),
    )?))
}

submit!(TransformPlugin::new::<PcaConfig>(
    plugin_info!(
        "pca",
        "principal components of the fit sample (keep dim_out, optional whitening)"
    ),
    fit,
    decode,
));
