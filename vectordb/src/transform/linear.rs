//! What the linear transforms share: the row loop `y = M (x - pre) + post`
//! over the dispatched dot-product kernel, and the layout of dimensions
//! and value arrays in their encodings.

use unidb_common::bytes::Reader;
use unidb_kernels::Kernels;

use super::error::TransformError;
use super::kind::MAX_TRANSFORM_DIM;
use crate::codec::Writer;

/// `y = matrix · (x - pre) + post` for every row `x` of `input`, where
/// `matrix` is row-major `dim_out × dim_in` (each output value is one dot
/// product: a one-to-many kernel call per row).
pub(crate) fn affine_rows(
    input: &[f32],
    output: &mut [f32],
    dim_in: usize,
    dim_out: usize,
    pre: Option<&[f32]>,
    matrix: &[f32],
    post: Option<&[f32]>,
) {
    debug_assert_eq!(matrix.len(), dim_in * dim_out);
    let k = Kernels::active();
    let mut shifted = vec![0.0f32; if pre.is_some() { dim_in } else { 0 }];
    for (x, y) in input
        .chunks_exact(dim_in)
        .zip(output.chunks_exact_mut(dim_out))
    {
        let x = match pre {
            Some(pre) => {
                for ((s, v), p) in shifted.iter_mut().zip(x).zip(pre) {
                    *s = v - p;
                }
                &shifted[..]
            }
            None => x,
        };
        // Lengths hold by construction (`matrix` is `dim_out` rows of
        // `dim_in`); a kernel length error cannot happen.
        let done = k.dot_f32_many(x, matrix, y);
        debug_assert!(done.is_ok());
        if let Some(post) = post {
            for (v, p) in y.iter_mut().zip(post) {
                *v += p;
            }
        }
    }
}

/// The transpose of a row-major `rows × cols` matrix.
pub(crate) fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; m.len()];
    for (i, row) in m.chunks_exact(cols.max(1)).enumerate().take(rows) {
        for (j, v) in row.iter().enumerate() {
            t[j * rows + i] = *v;
        }
    }
    t
}

/// Writes a dimension (u32).
pub(crate) fn write_dim(w: &mut Writer<'_>, dim: usize) {
    w.u32(dim as u32);
}

/// Writes values (f32 each, no length: the dimensions give it).
pub(crate) fn write_f32s(w: &mut Writer<'_>, values: &[f32]) {
    for v in values {
        w.f32(*v);
    }
}

/// Reads a dimension: a u32 in `1..=MAX_TRANSFORM_DIM`.
pub(crate) fn read_dim(r: &mut Reader<'_>, what: &'static str) -> Result<usize, TransformError> {
    let at = r.offset();
    let d = r.u32(what)? as usize;
    if d == 0 || d > MAX_TRANSFORM_DIM {
        return Err(TransformError::decode(
            at,
            format!("{what} {d} is out of range (1 to {MAX_TRANSFORM_DIM})"),
        ));
    }
    Ok(d)
}

/// Reads `n` finite f32 values, checking the bytes are present before
/// allocating.
pub(crate) fn read_f32s(
    r: &mut Reader<'_>,
    n: usize,
    what: &'static str,
) -> Result<Vec<f32>, TransformError> {
    let at = r.offset();
    let bytes = n
        .checked_mul(4)
        .ok_or_else(|| TransformError::decode(at, format!("{what}: {n} values overflow")))?;
    let raw = r.take(bytes, what)?;
    let values: Vec<f32> = raw
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(TransformError::decode(
            at + 4 * i,
            format!("{what}: value {i} is not finite"),
        ));
    }
    Ok(values)
}

/// Checks that every byte was read.
pub(crate) fn finish(r: &Reader<'_>) -> Result<(), TransformError> {
    Ok(r.finish("end of transform")?)
}
