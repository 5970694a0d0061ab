//! `l2norm`: scales every row to unit Euclidean length.

use unidb_common::bytes::Reader;
use unidb_kernels::Kernels;
use unidb_registry::{plugin_info, submit};

use super::error::TransformError;
use super::kind::{Transform, TransformPlugin};
use super::linear::{finish, read_dim, write_dim};
use crate::codec::Writer;
use crate::error::Result;
use crate::params::{NoParams, Params};

/// Divides each row by its Euclidean norm (an all-zero row stays zero),
/// so that inner product ranks as cosine similarity. Not invertible.
#[derive(Debug, Clone, PartialEq)]
pub struct L2Normalize {
    dim: usize,
}

impl L2Normalize {
    /// Normalizes rows of `dim` values.
    ///
    /// # Errors
    /// [`TransformError::Dimension`] when `dim` is 0.
    pub fn new(dim: usize) -> Result<Self, TransformError> {
        if dim == 0 {
            return Err(TransformError::Dimension {
                what: "row length (at least 1)",
                expected: 1,
                got: 0,
            });
        }
        Ok(L2Normalize { dim })
    }
}

impl Transform for L2Normalize {
    fn name(&self) -> &'static str {
        "l2norm"
    }
    fn dim_in(&self) -> usize {
        self.dim
    }
    fn dim_out(&self) -> usize {
        self.dim
    }
    fn transform_rows(&self, input: &[f32], output: &mut [f32]) {
        let k = Kernels::active();
        for (x, y) in input
            .chunks_exact(self.dim)
            .zip(output.chunks_exact_mut(self.dim))
        {
            // Equal lengths by construction: the kernel cannot fail.
            let sq = k.dot_f32(x, x).unwrap_or(0.0);
            let norm = f64::from(sq).sqrt();
            if norm > 0.0 && norm.is_finite() {
                let inv = 1.0 / norm;
                for (o, v) in y.iter_mut().zip(x) {
                    *o = (f64::from(*v) * inv) as f32;
                }
            } else if norm > 0.0 {
                // The squared norm overflowed f32: scale first.
                let m = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                let n = x
                    .iter()
                    .map(|v| (f64::from(*v) / f64::from(m)).powi(2))
                    .sum::<f64>()
                    .sqrt()
                    * f64::from(m);
                for (o, v) in y.iter_mut().zip(x) {
                    *o = (f64::from(*v) / n) as f32;
                }
            } else {
                y.copy_from_slice(x);
            }
        }
    }
    fn encode(&self, out: &mut Vec<u8>) {
        write_dim(&mut Writer(out), self.dim);
    }
}

fn fit(_sample: &[f32], dim: usize, params: Params<'_>) -> Result<Box<dyn Transform>> {
    params.get::<NoParams>("l2norm")?;
    Ok(Box::new(L2Normalize::new(dim)?))
}

fn decode(bytes: &[u8]) -> Result<Box<dyn Transform>, TransformError> {
    let mut r = Reader::new(bytes);
    let dim = read_dim(&mut r, "dimension")?;
    finish(&r)?;
    Ok(Box::new(L2Normalize { dim }))
}

submit!(TransformPlugin::new::<NoParams>(
    plugin_info!("l2norm", "scale each vector to unit Euclidean length"),
    fit,
    decode,
));
