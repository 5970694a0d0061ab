//! `center`: subtracts the sample mean.

use unidb_common::bytes::Reader;
use unidb_registry::{plugin_info, submit};

use super::error::TransformError;
use super::kind::{check_finite_rows, Transform, TransformPlugin};
use super::linear::{finish, read_dim, read_f32s, write_dim, write_f32s};
use crate::codec::Writer;
use crate::error::Result;
use crate::params::{NoParams, Params};

/// Subtracts a mean vector (the mean of the sample it was fitted on);
/// the inverse adds it back.
#[derive(Debug, Clone, PartialEq)]
pub struct Center {
    mean: Vec<f32>,
}

impl Center {
    /// Fits on `sample`, rows of `dim` values: the mean of each column,
    /// summed in f64.
    ///
    /// # Errors
    /// [`TransformError::EmptySample`] for no rows,
    /// [`TransformError::Dimension`] / [`TransformError::NotWholeRows`] /
    /// [`TransformError::NotFinite`] for a malformed sample.
    pub fn fit(sample: &[f32], dim: usize) -> Result<Self, TransformError> {
        check_finite_rows("sample", sample, dim)?;
        if sample.is_empty() {
            return Err(TransformError::EmptySample {
                transform: "center",
            });
        }
        Ok(Center {
            mean: column_means(sample, dim)
                .iter()
                .map(|m| *m as f32)
                .collect(),
        })
    }

    /// The mean subtracted.
    pub fn mean(&self) -> &[f32] {
        &self.mean
    }
}

/// Column means of non-empty rows of `dim`, in f64.
pub(crate) fn column_means(sample: &[f32], dim: usize) -> Vec<f64> {
    let mut sum = vec![0.0f64; dim];
    let rows = sample.len() / dim;
    for row in sample.chunks_exact(dim) {
        for (s, v) in sum.iter_mut().zip(row) {
            *s += f64::from(*v);
        }
    }
    for s in &mut sum {
        *s /= rows as f64;
    }
    sum
}

impl Transform for Center {
    fn name(&self) -> &'static str {
        "center"
    }
    fn dim_in(&self) -> usize {
        self.mean.len()
    }
    fn dim_out(&self) -> usize {
        self.mean.len()
    }
    fn transform_rows(&self, input: &[f32], output: &mut [f32]) {
        for (x, y) in input
            .chunks_exact(self.mean.len())
            .zip(output.chunks_exact_mut(self.mean.len()))
        {
            for ((o, v), m) in y.iter_mut().zip(x).zip(&self.mean) {
                *o = v - m;
            }
        }
    }
    fn is_invertible(&self) -> bool {
        true
    }
    fn inverse_rows(&self, input: &[f32], output: &mut [f32]) {
        for (x, y) in input
            .chunks_exact(self.mean.len())
            .zip(output.chunks_exact_mut(self.mean.len()))
        {
            for ((o, v), m) in y.iter_mut().zip(x).zip(&self.mean) {
                *o = v + m;
            }
        }
    }
    fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer(out);
        write_dim(&mut w, self.mean.len());
        write_f32s(&mut w, &self.mean);
    }
}

fn fit(sample: &[f32], dim: usize, params: Params<'_>) -> Result<Box<dyn Transform>> {
    params.get::<NoParams>("center")?;
    Ok(Box::new(Center::fit(sample, dim)?))
}

fn decode(bytes: &[u8]) -> Result<Box<dyn Transform>, TransformError> {
    let mut r = Reader::new(bytes);
    let dim = read_dim(&mut r, "dimension")?;
    let mean = read_f32s(&mut r, dim, "mean")?;
    finish(&r)?;
    Ok(Box::new(Center { mean }))
}

submit!(TransformPlugin::new::<NoParams>(
    plugin_info!("center", "subtract the mean of the fit sample"),
    fit,
    decode,
));
