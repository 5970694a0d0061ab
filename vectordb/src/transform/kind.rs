//! The `transform` plugin kind: the [`Transform`] trait, the plugin type
//! that fits and decodes transforms by name, and [`TransformChain`], a
//! sequence of fitted transforms with its byte encoding.

use std::fmt;

use rayon::prelude::*;
use unidb_common::bytes::Reader;
use unidb_registry::{plugin_kind, Plugin, PluginInfo, PluginKind};

use super::error::TransformError;
use crate::error::{Result, VectorError};
use crate::params::{defaults_json, Params, PluginConfig};

/// The largest dimension a transform takes or gives (encoded transforms
/// naming more are rejected before anything is allocated).
pub const MAX_TRANSFORM_DIM: usize = 1 << 20;

/// Rows per parallel task when a batch is transformed with rayon.
const ROWS_PER_TASK: usize = 256;

/// A fitted map from vectors of [`dim_in`](Transform::dim_in) values to
/// vectors of [`dim_out`](Transform::dim_out) values, applied to batches
/// of rows (row-major, one row after the other).
///
/// An implementation provides the two unchecked row loops and its
/// encoding; callers use the checked [`apply`](Transform::apply) and
/// [`inverse`](Transform::inverse) (and their `_into` forms), which
/// validate lengths and finiteness and split large batches over threads.
pub trait Transform: Send + Sync + fmt::Debug {
    /// The name of the plugin that fitted it, and decodes its bytes.
    fn name(&self) -> &'static str;

    /// The length of an input row.
    fn dim_in(&self) -> usize;

    /// The length of an output row.
    fn dim_out(&self) -> usize;

    /// Transforms whole rows: `input` holds `n * dim_in` finite values,
    /// `output` has room for `n * dim_out` (both checked by the caller).
    fn transform_rows(&self, input: &[f32], output: &mut [f32]);

    /// Whether [`inverse_rows`](Transform::inverse_rows) undoes the
    /// transform (exactly for a lossless one, up to rounding; a projection
    /// onto the kept components for PCA with fewer components).
    fn is_invertible(&self) -> bool {
        false
    }

    /// Maps whole output rows back: `input` holds `n * dim_out` values,
    /// `output` has room for `n * dim_in`. Called only when
    /// [`is_invertible`](Transform::is_invertible) is true.
    fn inverse_rows(&self, input: &[f32], output: &mut [f32]) {
        let _ = (input, output);
    }

    /// Appends the parameters, everything its plugin's decode function
    /// needs to rebuild it.
    fn encode(&self, out: &mut Vec<u8>);

    /// Transforms `input` (rows of `dim_in`) into `output` (rows of
    /// `dim_out`), large batches in parallel.
    ///
    /// # Errors
    /// [`TransformError::Dimension`] when `input` is not a whole number of
    /// rows or `output` does not match it, [`TransformError::NotFinite`]
    /// naming the first NaN or infinity.
    fn apply_into(&self, input: &[f32], output: &mut [f32]) -> Result<(), TransformError> {
        let rows = check_rows("input", input, self.dim_in(), self.dim_out(), output.len())?;
        run_rows(
            input,
            output,
            rows,
            self.dim_in(),
            self.dim_out(),
            |i, o| self.transform_rows(i, o),
        );
        Ok(())
    }

    /// [`apply_into`](Transform::apply_into) into a new vector.
    ///
    /// # Errors
    /// As [`apply_into`](Transform::apply_into).
    fn apply(&self, input: &[f32]) -> Result<Vec<f32>, TransformError> {
        let rows = input.len() / self.dim_in().max(1);
        let mut out = vec![0.0; rows * self.dim_out()];
        self.apply_into(input, &mut out)?;
        Ok(out)
    }

    /// Maps `input` (rows of `dim_out`) back into `output` (rows of
    /// `dim_in`).
    ///
    /// # Errors
    /// [`TransformError::NotInvertible`] for a transform without an
    /// inverse, otherwise as [`apply_into`](Transform::apply_into).
    fn inverse_into(&self, input: &[f32], output: &mut [f32]) -> Result<(), TransformError> {
        if !self.is_invertible() {
            return Err(TransformError::NotInvertible {
                transform: self.name(),
            });
        }
        let rows = check_rows("input", input, self.dim_out(), self.dim_in(), output.len())?;
        run_rows(
            input,
            output,
            rows,
            self.dim_out(),
            self.dim_in(),
            |i, o| self.inverse_rows(i, o),
        );
        Ok(())
    }

    /// [`inverse_into`](Transform::inverse_into) into a new vector.
    ///
    /// # Errors
    /// As [`inverse_into`](Transform::inverse_into).
    fn inverse(&self, input: &[f32]) -> Result<Vec<f32>, TransformError> {
        let rows = input.len() / self.dim_out().max(1);
        let mut out = vec![0.0; rows * self.dim_in()];
        self.inverse_into(input, &mut out)?;
        Ok(out)
    }
}

/// Checks that `data` is whole finite rows of `dim` and that `out_len`
/// is as many rows of `dim_out`; returns the row count.
fn check_rows(
    what: &'static str,
    data: &[f32],
    dim: usize,
    dim_out: usize,
    out_len: usize,
) -> Result<usize, TransformError> {
    check_finite_rows(what, data, dim)?;
    let rows = data.len() / dim;
    if out_len != rows * dim_out {
        return Err(TransformError::Dimension {
            what: "output length",
            expected: rows * dim_out,
            got: out_len,
        });
    }
    Ok(rows)
}

/// Checks that `data` is a whole number of rows of `dim` (> 0), all finite.
pub(crate) fn check_finite_rows(
    what: &'static str,
    data: &[f32],
    dim: usize,
) -> Result<(), TransformError> {
    if dim == 0 {
        return Err(TransformError::Dimension {
            what: "row length (at least 1)",
            expected: 1,
            got: 0,
        });
    }
    if !data.len().is_multiple_of(dim) {
        return Err(TransformError::NotWholeRows {
            what,
            len: data.len(),
            dim,
        });
    }
    if let Some(at) = data.iter().position(|v| !v.is_finite()) {
        return Err(TransformError::NotFinite {
            what,
            row: at / dim,
            column: at % dim,
        });
    }
    Ok(())
}

/// Runs `f` over whole rows, in parallel chunks when there are many.
fn run_rows(
    input: &[f32],
    output: &mut [f32],
    rows: usize,
    dim_in: usize,
    dim_out: usize,
    f: impl Fn(&[f32], &mut [f32]) + Sync,
) {
    if rows <= ROWS_PER_TASK || dim_out == 0 {
        f(input, output);
        return;
    }
    input
        .par_chunks(ROWS_PER_TASK * dim_in)
        .zip(output.par_chunks_mut(ROWS_PER_TASK * dim_out))
        .for_each(|(i, o)| f(i, o));
}

/// Fits a transform on a sample: `sample` holds rows of `dim` finite
/// values (checked before this is called), `params` are read as the
/// plugin's parameter type with [`Params::get`].
pub type FitFn = fn(sample: &[f32], dim: usize, params: Params<'_>) -> Result<Box<dyn Transform>>;

/// Rebuilds a transform from the bytes its [`Transform::encode`] wrote.
/// It must validate what it reads (dimensions against
/// [`MAX_TRANSFORM_DIM`] and against the bytes present before it
/// allocates, values finite) and reject trailing bytes.
pub type DecodeFn = fn(bytes: &[u8]) -> Result<Box<dyn Transform>, TransformError>;

/// A transform plugin: its name, the type of its fit parameters, and how
/// to fit and decode it. Register one with [`crate::register_transform!`].
#[derive(Debug)]
pub struct TransformPlugin {
    /// Name and origin.
    pub info: PluginInfo,
    /// The defaults of its fit parameters ([`defaults_json`] of the type
    /// `fit` reads).
    pub params: fn() -> Result<serde_json::Value>,
    fit: FitFn,
    decode: DecodeFn,
}

impl Plugin for TransformPlugin {
    fn info(&self) -> &PluginInfo {
        &self.info
    }
}
plugin_kind!(TransformPlugin, "transform");

impl TransformPlugin {
    /// A plugin whose `fit` reads parameters of type `P`.
    pub const fn new<P: PluginConfig>(info: PluginInfo, fit: FitFn, decode: DecodeFn) -> Self {
        TransformPlugin {
            info,
            params: defaults_json::<P>,
            fit,
            decode,
        }
    }

    /// Looks a transform plugin up by (case-insensitive) name.
    ///
    /// # Errors
    /// [`VectorError::Registry`] for an unknown name.
    pub fn by_name(name: &str) -> Result<&'static TransformPlugin> {
        Ok(Self::registry().get(name)?)
    }

    /// The names of every registered transform, sorted.
    pub fn names() -> Vec<&'static str> {
        Self::registry().names()
    }

    /// Fits the transform on `sample` (rows of `dim` values).
    ///
    /// # Errors
    /// [`TransformError::Dimension`] when `dim` is 0 or `sample` is not
    /// whole rows, [`TransformError::NotFinite`] for a NaN or infinity in
    /// it; the plugin's own errors ([`TransformError::EmptySample`],
    /// [`TransformError::TooManyDimensions`], bad parameters as
    /// [`VectorError::UnknownParam`] / [`VectorError::InvalidParam`]).
    pub fn fit(
        &self,
        sample: &[f32],
        dim: usize,
        params: Params<'_>,
    ) -> Result<Box<dyn Transform>> {
        check_finite_rows("sample", sample, dim)?;
        let t = (self.fit)(sample, dim, params)?;
        if t.dim_in() != dim {
            return Err(TransformError::Dimension {
                what: "fitted transform input dimension",
                expected: dim,
                got: t.dim_in(),
            }
            .into());
        }
        Ok(t)
    }

    /// Rebuilds a transform from its [`Transform::encode`] bytes.
    ///
    /// # Errors
    /// [`TransformError::Decode`] naming the byte offset of the problem.
    pub fn decode(&self, bytes: &[u8]) -> Result<Box<dyn Transform>, TransformError> {
        let t = (self.decode)(bytes)?;
        if t.dim_in() == 0 || t.dim_in() > MAX_TRANSFORM_DIM || t.dim_out() > MAX_TRANSFORM_DIM {
            return Err(TransformError::decode(0, "dimension out of range"));
        }
        Ok(t)
    }
}

/// Transforms applied one after the other: the input of each step is the
/// output of the previous one.
///
/// ```
/// use unidb_vectordb::{Params, TransformChain};
/// # fn main() -> Result<(), unidb_vectordb::VectorError> {
/// let sample: Vec<f32> = (0..300).map(|i| ((i * 7919) % 101) as f32).collect(); // 100 rows of 3
/// let jl = serde_json::json!({"dim_out": 2, "seed": 7});
/// let chain = TransformChain::fit(&sample, 3, &[("center", Params::defaults()), ("projection", Params::json(&jl))])?;
/// assert_eq!((chain.dim_in(), chain.dim_out()), (3, 2));
/// let out = chain.apply(&sample[..6])?; // two rows in, two rows of 2 out
/// assert_eq!(out.len(), 4);
/// let bytes = chain.to_bytes();
/// let again = TransformChain::from_bytes(&bytes)?;
/// assert_eq!(again.apply(&sample[..6])?, out);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TransformChain {
    dim: usize,
    steps: Vec<Box<dyn Transform>>,
}

const CHAIN_MAGIC: &[u8; 8] = b"UDBXFORM";
const CHAIN_VERSION: u32 = 1;
/// The most steps a chain holds.
pub const MAX_CHAIN_STEPS: usize = 64;
const MAX_NAME_LEN: usize = 255;

impl TransformChain {
    /// A chain of fitted steps taking rows of `dim` values; an empty chain
    /// is the identity.
    ///
    /// # Errors
    /// [`TransformError::Dimension`] when `dim` is 0 or out of range, when
    /// a step does not take what the previous one gives, or when there are
    /// more than [`MAX_CHAIN_STEPS`].
    pub fn new(dim: usize, steps: Vec<Box<dyn Transform>>) -> Result<Self, TransformError> {
        if dim == 0 || dim > MAX_TRANSFORM_DIM {
            return Err(TransformError::Dimension {
                what: "chain input dimension (1 to 2^20)",
                expected: dim.clamp(1, MAX_TRANSFORM_DIM),
                got: dim,
            });
        }
        if steps.len() > MAX_CHAIN_STEPS {
            return Err(TransformError::Dimension {
                what: "chain steps",
                expected: MAX_CHAIN_STEPS,
                got: steps.len(),
            });
        }
        let mut d = dim;
        for step in &steps {
            if step.dim_in() != d {
                return Err(TransformError::Dimension {
                    what: "chain step input dimension",
                    expected: d,
                    got: step.dim_in(),
                });
            }
            d = step.dim_out();
        }
        Ok(TransformChain { dim, steps })
    }

    /// Fits each named step in order on `sample` (rows of `dim`), each on
    /// the sample as the steps before it transformed it.
    ///
    /// # Errors
    /// As [`TransformPlugin::fit`] for each step, [`VectorError::Registry`]
    /// for an unknown name.
    pub fn fit(sample: &[f32], dim: usize, steps: &[(&str, Params<'_>)]) -> Result<Self> {
        check_finite_rows("sample", sample, dim)?;
        let mut fitted: Vec<Box<dyn Transform>> = Vec::with_capacity(steps.len());
        let mut current: Option<Vec<f32>> = None;
        let mut d = dim;
        for (i, (name, params)) in steps.iter().enumerate() {
            let plugin = TransformPlugin::by_name(name)?;
            let input = current.as_deref().unwrap_or(sample);
            let t = plugin.fit(input, d, *params)?;
            if i + 1 < steps.len() {
                current = Some(t.apply(input)?);
            }
            d = t.dim_out();
            fitted.push(t);
        }
        Ok(TransformChain::new(dim, fitted)?)
    }

    /// The steps, in the order they are applied.
    pub fn steps(&self) -> &[Box<dyn Transform>] {
        &self.steps
    }

    /// The length of an input row.
    pub fn dim_in(&self) -> usize {
        self.dim
    }

    /// The length of an output row.
    pub fn dim_out(&self) -> usize {
        self.steps.last().map_or(self.dim, |s| s.dim_out())
    }

    /// Applies every step in order to rows of [`dim_in`](Self::dim_in).
    ///
    /// # Errors
    /// As [`Transform::apply`] (for the input given; steps keep values finite).
    pub fn apply(&self, input: &[f32]) -> Result<Vec<f32>, TransformError> {
        let Some((first, rest)) = self.steps.split_first() else {
            check_finite_rows("input", input, self.dim)?;
            return Ok(input.to_vec());
        };
        let mut rows = first.apply(input)?;
        for step in rest {
            rows = step.apply(&rows)?;
        }
        Ok(rows)
    }

    /// Maps rows of [`dim_out`](Self::dim_out) back through every step,
    /// last first.
    ///
    /// # Errors
    /// [`TransformError::NotInvertible`] naming the first step (from the
    /// end) without an inverse; otherwise as [`Transform::inverse`].
    pub fn inverse(&self, input: &[f32]) -> Result<Vec<f32>, TransformError> {
        if let Some(step) = self.steps.iter().find(|s| !s.is_invertible()) {
            return Err(TransformError::NotInvertible {
                transform: step.name(),
            });
        }
        let Some((last, rest)) = self.steps.split_last() else {
            check_finite_rows("input", input, self.dim)?;
            return Ok(input.to_vec());
        };
        let mut rows = last.inverse(input)?;
        for step in rest.iter().rev() {
            rows = step.inverse(&rows)?;
        }
        Ok(rows)
    }

    /// The chain as bytes: magic `UDBXFORM`, format version (u32), input
    /// dimension (u32), step count (LEB128), then per step its plugin name
    /// (LEB128 length + UTF-8) and its [`Transform::encode`] bytes (u64
    /// length + bytes), closed by a CRC-32 of everything before it.
    /// Little-endian throughout.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(CHAIN_MAGIC);
        out.extend_from_slice(&CHAIN_VERSION.to_le_bytes());
        out.extend_from_slice(&(self.dim as u32).to_le_bytes());
        push_varint(&mut out, self.steps.len() as u64);
        let mut payload = Vec::new();
        for step in &self.steps {
            let name = step.name().as_bytes();
            push_varint(&mut out, name.len() as u64);
            out.extend_from_slice(name);
            payload.clear();
            step.encode(&mut payload);
            out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
            out.extend_from_slice(&payload);
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Rebuilds a chain from [`to_bytes`](Self::to_bytes), decoding each
    /// step with the registered plugin of its name. Allocation is bounded
    /// by the input: every count and dimension is checked against the
    /// bytes present first.
    ///
    /// # Errors
    /// [`TransformError::Decode`] naming the byte offset: bad magic, an
    /// unknown version, a checksum mismatch, truncation, an unknown
    /// transform name, a step whose bytes its plugin rejects or whose
    /// dimensions do not follow the previous step.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TransformError> {
        const FIXED: usize = 8 + 4 + 4;
        if bytes.len() < FIXED + 1 + 4 {
            return Err(TransformError::decode(
                bytes.len(),
                format!("{} bytes is too short for a transform chain", bytes.len()),
            ));
        }
        if &bytes[..8] != CHAIN_MAGIC {
            return Err(TransformError::decode(
                0,
                "not a transform chain (bad magic)",
            ));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
        let mut r = Reader::new(body);
        r.advance(8, "magic")?;
        let version = r.u32("version")?;
        if version != CHAIN_VERSION {
            return Err(TransformError::decode(
                8,
                format!("unsupported transform chain version {version} (this build reads {CHAIN_VERSION})"),
            ));
        }
        let computed = crc32fast::hash(body);
        if computed != stored {
            return Err(TransformError::decode(
                body.len(),
                format!("checksum mismatch (stored {stored:08x}, computed {computed:08x})"),
            ));
        }
        let at = r.offset();
        let dim = r.u32("input dimension")? as usize;
        if dim == 0 || dim > MAX_TRANSFORM_DIM {
            return Err(TransformError::decode(
                at,
                format!("input dimension {dim} out of range"),
            ));
        }
        // Each step takes at least a name length, a name byte and a u64 length.
        let count = r.count("step count", MAX_CHAIN_STEPS)?;
        let mut steps: Vec<Box<dyn Transform>> = Vec::with_capacity(count.min(r.remaining() / 10));
        let mut d = dim;
        for _ in 0..count {
            let at = r.offset();
            let len = r.count("transform name length", MAX_NAME_LEN)?;
            let name = r.utf8(len, "transform name")?;
            let plugin = TransformPlugin::registry()
                .get(name)
                .map_err(|e| TransformError::decode(at, e.to_string()))?;
            let len = r.u64_count_items("transform length", 1)?;
            let base = r.offset();
            let payload = r.take(len, "transform")?;
            let step = plugin.decode(payload).map_err(|e| match e {
                TransformError::Decode { offset, reason } => {
                    TransformError::decode(base + offset, format!("{name}: {reason}"))
                }
                other => other,
            })?;
            if step.dim_in() != d {
                return Err(TransformError::decode(
                    base,
                    format!(
                        "{name} takes {} values, the step before gives {d}",
                        step.dim_in()
                    ),
                ));
            }
            d = step.dim_out();
            steps.push(step);
        }
        r.finish("end of transform chain")?;
        TransformChain::new(dim, steps)
    }
}

/// Fits one transform by plugin name: [`TransformPlugin::fit`] of the
/// plugin called `name`.
///
/// # Errors
/// [`VectorError::Registry`] for an unknown name, otherwise as
/// [`TransformPlugin::fit`].
pub fn fit_transform(
    name: &str,
    sample: &[f32],
    dim: usize,
    params: Params<'_>,
) -> Result<Box<dyn Transform>> {
    TransformPlugin::by_name(name)?.fit(sample, dim, params)
}

fn push_varint(out: &mut Vec<u8>, v: u64) {
    unidb_kernels::varint::encode_u64(v, out);
}

impl From<TransformError> for VectorError {
    fn from(e: TransformError) -> Self {
        VectorError::Transform(e)
    }
}

/// One transform of a collection's configuration, fitted when the
/// collection trains (see
/// [`CollectionConfig::transforms`](crate::CollectionConfig::transforms)):
/// a registered transform plugin's name and its fit parameters.
///
/// ```
/// use unidb_vectordb::TransformStep;
/// let pca = TransformStep::new("pca", serde_json::json!({"dim_out": 64}));
/// assert_eq!(pca.dim_out(128), 64);
/// assert_eq!(TransformStep::new("center", serde_json::json!({})).dim_out(128), 128);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct TransformStep {
    /// The transform plugin's name.
    pub name: String,
    /// Its fit parameters (a JSON object; `{}` takes the defaults).
    pub params: serde_json::Value,
}

impl TransformStep {
    /// A step fitting the plugin `name` with `params`.
    pub fn new(name: &str, params: serde_json::Value) -> Self {
        TransformStep {
            name: name.to_owned(),
            params,
        }
    }

    /// The output dimension this step declares for inputs of `dim_in`
    /// values: its `dim_out` parameter when given (PCA, projection),
    /// otherwise `dim_in`. The fitted transform's own
    /// [`Transform::dim_out`] is what counts once it is fitted.
    pub fn dim_out(&self, dim_in: usize) -> usize {
        self.params
            .get("dim_out")
            .and_then(serde_json::Value::as_u64)
            .map_or(dim_in, |d| usize::try_from(d).unwrap_or(usize::MAX))
    }
}

/// Fits the steps of a collection's configuration in order on `sample`
/// (rows of `dim`).
///
/// # Errors
/// As [`TransformChain::fit`].
pub(crate) fn fit_steps(
    sample: &[f32],
    dim: usize,
    steps: &[TransformStep],
) -> Result<TransformChain> {
    let empty = serde_json::Value::Object(serde_json::Map::new());
    let named: Vec<(&str, Params<'_>)> = steps
        .iter()
        .map(|s| {
            let p = if s.params.is_null() {
                &empty
            } else {
                &s.params
            };
            (s.name.as_str(), Params::json(p))
        })
        .collect();
    TransformChain::fit(sample, dim, &named)
}
