//! `rotation` and `projection`: seeded random linear maps that need no
//! data (the sample is only checked).

use serde::{Deserialize, Serialize};
use unidb_common::bytes::Reader;
use unidb_common::config::Validate;
use unidb_common::rng::SplitMix64;
use unidb_registry::{plugin_info, submit};

use super::error::TransformError;
use super::kind::{Transform, TransformPlugin, MAX_TRANSFORM_DIM};
use super::linear::{affine_rows, finish, read_dim, read_f32s, transpose, write_dim, write_f32s};
use crate::codec::Writer;
use crate::error::Result;
use crate::params::Params;

const DEFAULT_SEED: u64 = 0x5eed;

fn check_dim(what: &'static str, dim: usize) -> Result<(), TransformError> {
    if dim == 0 || dim > MAX_TRANSFORM_DIM {
        return Err(TransformError::Dimension {
            what,
            expected: dim.clamp(1, MAX_TRANSFORM_DIM),
            got: dim,
        });
    }
    Ok(())
}

/// The fit parameters of the `rotation` transform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RotationConfig {
    /// The seed of the Gaussian matrix whose QR factor is the rotation.
    pub seed: u64,
}

impl Default for RotationConfig {
    fn default() -> Self {
        RotationConfig { seed: DEFAULT_SEED }
    }
}

impl Validate for RotationConfig {
    fn validate(&self) -> unidb_common::Result<()> {
        Ok(())
    }
}

/// A random orthogonal map `y = Q x`: `Q` is the QR factor of a seeded
/// matrix of standard normal values (by `faer`), its columns' signs
/// chosen so `R` has a positive diagonal, which makes `Q` uniformly
/// distributed over the orthogonal group. It keeps Euclidean distances
/// and inner products; the inverse is `Qᵀ`. The matrix is stored, not
/// the seed, so a decoded rotation does not depend on how this build's
/// floating point rounds.
#[derive(Debug, Clone)]
pub struct Rotation {
    dim: usize,
    /// `Q`, row-major.
    matrix: Vec<f32>,
    /// `Qᵀ`, row-major.
    inverse: Vec<f32>,
}

impl Rotation {
    /// A rotation of `dim` dimensions from `seed`.
    ///
    /// # Errors
    /// [`TransformError::Dimension`] for `dim` 0 or above
    /// [`MAX_TRANSFORM_DIM`], [`TransformError::Unsupported`] in a build
    /// without the `linalg` feature.
    pub fn new(dim: usize, seed: u64) -> Result<Self, TransformError> {
        check_dim("rotation dimension", dim)?;
        let matrix = random_orthogonal(dim, seed)?;
        Ok(Rotation {
            dim,
            inverse: transpose(&matrix, dim, dim),
            matrix,
        })
    }

    /// The matrix `Q`, row-major `dim × dim`.
    pub fn matrix(&self) -> &[f32] {
        &self.matrix
    }
}

#[cfg(feature = "linalg")]
fn random_orthogonal(dim: usize, seed: u64) -> Result<Vec<f32>, TransformError> {
    let mut rng = SplitMix64::new(seed);
    let g: Vec<f64> = (0..dim * dim).map(|_| rng.normal()).collect();
    let g = faer::Mat::<f64>::from_fn(dim, dim, |i, j| g[i * dim + j]);
    let qr = g.qr();
    let q = qr.compute_Q();
    let r = qr.R();
    let signs: Vec<f64> = (0..dim)
        .map(|k| if r[(k, k)] < 0.0 { -1.0 } else { 1.0 })
        .collect();
    let mut out = Vec::with_capacity(dim * dim);
    for i in 0..dim {
        out.extend((0..dim).map(|j| (q[(i, j)] * signs[j]) as f32));
    }
    Ok(out)
}

#[cfg(not(feature = "linalg"))]
fn random_orthogonal(_dim: usize, _seed: u64) -> Result<Vec<f32>, TransformError> {
    Err(TransformError::Unsupported {
        transform: "rotation",
        feature: "linalg",
    })
}

impl Transform for Rotation {
    fn name(&self) -> &'static str {
        "rotation"
    }
    fn dim_in(&self) -> usize {
        self.dim
    }
    fn dim_out(&self) -> usize {
        self.dim
    }
    fn transform_rows(&self, input: &[f32], output: &mut [f32]) {
        affine_rows(input, output, self.dim, self.dim, None, &self.matrix, None);
    }
    fn is_invertible(&self) -> bool {
        true
    }
    fn inverse_rows(&self, input: &[f32], output: &mut [f32]) {
        affine_rows(input, output, self.dim, self.dim, None, &self.inverse, None);
    }
    /// `dim` (u32), then `Q` (`dim × dim` f32, row-major).
    fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer(out);
        write_dim(&mut w, self.dim);
        write_f32s(&mut w, &self.matrix);
    }
}

fn fit_rotation(_sample: &[f32], dim: usize, params: Params<'_>) -> Result<Box<dyn Transform>> {
    let config = params.get::<RotationConfig>("rotation")?;
    Ok(Box::new(Rotation::new(dim, config.seed)?))
}

fn decode_rotation(bytes: &[u8]) -> Result<Box<dyn Transform>, TransformError> {
    let mut r = Reader::new(bytes);
    let dim = read_dim(&mut r, "dimension")?;
    let at = r.offset();
    let n = dim
        .checked_mul(dim)
        .ok_or_else(|| TransformError::decode(at, "matrix size overflows"))?;
    let matrix = read_f32s(&mut r, n, "matrix")?;
    finish(&r)?;
    Ok(Box::new(Rotation {
        dim,
        inverse: transpose(&matrix, dim, dim),
        matrix,
    }))
}

submit!(TransformPlugin::new::<RotationConfig>(
    plugin_info!(
        "rotation",
        "random orthogonal rotation (QR of a seeded Gaussian matrix)"
    ),
    fit_rotation,
    decode_rotation,
));

/// The fit parameters of the `projection` transform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProjectionConfig {
    /// The output dimension `d'` (at most the input dimension); `None`
    /// keeps the input dimension.
    pub dim_out: Option<usize>,
    /// The seed of the Gaussian matrix.
    pub seed: u64,
}

impl Default for ProjectionConfig {
    fn default() -> Self {
        ProjectionConfig {
            dim_out: None,
            seed: DEFAULT_SEED,
        }
    }
}

impl Validate for ProjectionConfig {
    fn validate(&self) -> unidb_common::Result<()> {
        if self.dim_out == Some(0) {
            return Err(unidb_common::Error::new(
                unidb_common::ErrorKind::Configuration,
                "must be at least 1",
            )
            .with_location("dim_out"));
        }
        Ok(())
    }
}

/// A Johnson–Lindenstrauss random projection `y = R x / sqrt(d')`, `R` a
/// seeded `d' × d` matrix of standard normal values. For any vector
/// `x`, `|y|² / |x|²` is distributed as `χ²(d') / d'`, so each
/// squared distance is kept within a factor `1 ± ε` except with
/// probability at most `2 exp(-(ε²/2 - ε³/3) d'/2)` (Dasgupta and Gupta,
/// 2003). Not invertible.
#[derive(Debug, Clone)]
pub struct Projection {
    dim_in: usize,
    dim_out: usize,
    /// `dim_out × dim_in`, row-major, already divided by `sqrt(dim_out)`.
    matrix: Vec<f32>,
}

impl Projection {
    /// A projection from `dim_in` to `dim_out` dimensions from `seed`.
    ///
    /// # Errors
    /// [`TransformError::TooManyDimensions`] when `dim_out > dim_in`,
    /// [`TransformError::Dimension`] for a dimension of 0 or above
    /// [`MAX_TRANSFORM_DIM`].
    pub fn new(dim_in: usize, dim_out: usize, seed: u64) -> Result<Self, TransformError> {
        check_dim("projection input dimension", dim_in)?;
        check_dim("projection output dimension", dim_out)?;
        if dim_out > dim_in {
            return Err(TransformError::TooManyDimensions {
                transform: "projection",
                requested: dim_out,
                available: dim_in,
            });
        }
        let mut rng = SplitMix64::new(seed);
        let scale = 1.0 / (dim_out as f64).sqrt();
        let matrix = (0..dim_in * dim_out)
            .map(|_| (rng.normal() * scale) as f32)
            .collect();
        Ok(Projection {
            dim_in,
            dim_out,
            matrix,
        })
    }

    /// The matrix `R / sqrt(d')`, row-major `dim_out × dim_in`.
    pub fn matrix(&self) -> &[f32] {
        &self.matrix
    }

    /// The probability bound above: that one squared distance is
    /// distorted by more than a factor `1 ± eps` (`0 < eps < 1`).
    pub fn distortion_probability(dim_out: usize, eps: f64) -> f64 {
        (2.0 * (-(eps * eps / 2.0 - eps * eps * eps / 3.0) * dim_out as f64 / 2.0).exp()).min(1.0)
    }
}

impl Transform for Projection {
    fn name(&self) -> &'static str {
        "projection"
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
            None,
            &self.matrix,
            None,
        );
    }
    /// `dim_in` (u32), `dim_out` (u32), then the scaled matrix
    /// (`dim_out × dim_in` f32, row-major).
    fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer(out);
        write_dim(&mut w, self.dim_in);
        write_dim(&mut w, self.dim_out);
        write_f32s(&mut w, &self.matrix);
    }
}

fn fit_projection(_sample: &[f32], dim: usize, params: Params<'_>) -> Result<Box<dyn Transform>> {
    let config = params.get::<ProjectionConfig>("projection")?;
    let dim_out = config.dim_out.unwrap_or(dim);
    Ok(Box::new(Projection::new(dim, dim_out, config.seed)?))
}

fn decode_projection(bytes: &[u8]) -> Result<Box<dyn Transform>, TransformError> {
    let mut r = Reader::new(bytes);
    let dim_in = read_dim(&mut r, "input dimension")?;
    let at = r.offset();
    let dim_out = read_dim(&mut r, "output dimension")?;
    if dim_out > dim_in {
        return Err(TransformError::decode(
            at,
            format!("projection from {dim_in} to {dim_out} dimensions"),
        ));
    }
    let n = dim_in
        .checked_mul(dim_out)
        .ok_or_else(|| TransformError::decode(at, "matrix size overflows"))?;
    let matrix = read_f32s(&mut r, n, "matrix")?;
    finish(&r)?;
    Ok(Box::new(Projection {
        dim_in,
        dim_out,
        matrix,
    }))
}

submit!(TransformPlugin::new::<ProjectionConfig>(
    plugin_info!(
        "projection",
        "Johnson-Lindenstrauss random projection (seeded Gaussian / sqrt(dim_out))"
    ),
    fit_projection,
    decode_projection,
));
