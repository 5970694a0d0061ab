//! The scalar reference path: plain Rust, no explicit SIMD.
//!
//! Every other path is tested against these functions. They favour clarity
//! over speed, but keep the same accumulation semantics the SIMD paths use
//! (wrapping integer sums, f64 statistics) so results are comparable.

use crate::dispatch::Table;
use crate::f16::f16_to_f32;

pub(crate) const TABLE: Table = Table {
    dot_f32,
    l2sq_f32,
    cosine_f32,
    l1_f32,
    dot_i8,
    l2sq_i8,
    l2sq_u8,
    hamming_u64,
    jaccard_u64,
    dot_f16,
    l2sq_f16,
    cosine_f16,
    dot_f32_many,
    l2sq_f32_many,
    cosine_f32_many,
    dot_i8_many,
    l2sq_i8_many,
    dot_f16_many,
    l2sq_f16_many,
    cosine_f16_many,
    sum_f32,
    sum_sq_dev_f32,
    min_max_f32,
    min_max_i64,
    stream_decode: crate::varint::stream::decode_scalar,
    stream_decode_delta: crate::varint::stream::decode_scalar_delta,
    stream_blocks: None,
    unpack_u32: crate::bitpack::unpack_u32_scalar,
    pack_u32: crate::bitpack::pack_u32_scalar,
    pq4_fastscan: crate::pq4::fastscan_scalar,
    rans16_decode: crate::rans::decode_scalar,
};

pub(crate) fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0.0, |acc, (x, y)| acc + x * y)
}

pub(crate) fn l2sq_f32(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0.0, |acc, (x, y)| {
        let d = x - y;
        acc + d * d
    })
}

pub(crate) fn cosine_f32(a: &[f32], b: &[f32]) -> f32 {
    let (mut ab, mut aa, mut bb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    cosine_from_parts(ab, aa, bb)
}

/// Turns a dot product and two squared norms into a cosine distance.
///
/// The rules every path shares: both vectors zero gives 0 (identical), one
/// zero gives 1 (orthogonal), otherwise `1 - ab / sqrt(aa * bb)` computed with
/// an exact square root in f64 and clamped to `[0, 2]`. NaN inputs give NaN.
#[inline]
pub(crate) fn cosine_from_parts(ab: f32, aa: f32, bb: f32) -> f32 {
    if aa.is_nan() || bb.is_nan() || ab.is_nan() {
        return f32::NAN;
    }
    if aa == 0.0 && bb == 0.0 {
        return 0.0;
    }
    if aa == 0.0 || bb == 0.0 {
        return 1.0;
    }
    let denom = (f64::from(aa) * f64::from(bb)).sqrt();
    let cos = f64::from(ab) / denom;
    (1.0 - cos).clamp(0.0, 2.0) as f32
}

pub(crate) fn l1_f32(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0.0, |acc, (x, y)| acc + (x - y).abs())
}

pub(crate) fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).fold(0i32, |acc, (&x, &y)| {
        acc.wrapping_add(i32::from(x) * i32::from(y))
    })
}

pub(crate) fn l2sq_i8(a: &[i8], b: &[i8]) -> u32 {
    a.iter().zip(b).fold(0u32, |acc, (&x, &y)| {
        let d = i32::from(x) - i32::from(y);
        acc.wrapping_add((d * d) as u32)
    })
}

pub(crate) fn l2sq_u8(a: &[u8], b: &[u8]) -> u32 {
    a.iter().zip(b).fold(0u32, |acc, (&x, &y)| {
        let d = i32::from(x) - i32::from(y);
        acc.wrapping_add((d * d) as u32)
    })
}

pub(crate) fn hamming_u64(a: &[u64], b: &[u64]) -> u64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| u64::from((x ^ y).count_ones()))
        .sum()
}

pub(crate) fn jaccard_u64(a: &[u64], b: &[u64]) -> f32 {
    let (mut inter, mut union) = (0u64, 0u64);
    for (x, y) in a.iter().zip(b) {
        inter += u64::from((x & y).count_ones());
        union += u64::from((x | y).count_ones());
    }
    jaccard_from_counts(inter, union)
}

/// Jaccard distance `1 - |a ∧ b| / |a ∨ b|`; two empty sets are identical (0).
#[inline]
pub(crate) fn jaccard_from_counts(inter: u64, union: u64) -> f32 {
    if union == 0 {
        0.0
    } else {
        (1.0 - inter as f64 / union as f64) as f32
    }
}

pub(crate) fn dot_f16(a: &[u16], b: &[u16]) -> f32 {
    a.iter()
        .zip(b)
        .fold(0.0, |acc, (&x, &y)| acc + f16_to_f32(x) * f16_to_f32(y))
}

pub(crate) fn l2sq_f16(a: &[u16], b: &[u16]) -> f32 {
    a.iter().zip(b).fold(0.0, |acc, (&x, &y)| {
        let d = f16_to_f32(x) - f16_to_f32(y);
        acc + d * d
    })
}

pub(crate) fn cosine_f16(a: &[u16], b: &[u16]) -> f32 {
    let (mut ab, mut aa, mut bb) = (0.0f32, 0.0f32, 0.0f32);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f16_to_f32(x), f16_to_f32(y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    cosine_from_parts(ab, aa, bb)
}

/// Defines one-to-many kernels as one-to-one kernels of the calling module
/// applied to each row (with [`many`]), so each result equals that kernel
/// bit for bit. Paths without a multi-row version of a kernel use it.
macro_rules! per_row_many {
    ($($name:ident($t:ty) -> $o:ty = $one:ident;)*) => {
        $(
            pub(crate) fn $name(query: &[$t], rows: &[$t], out: &mut [$o]) {
                $crate::scalar::many(query, rows, out, $one);
            }
        )*
    };
}
pub(crate) use per_row_many;

per_row_many! {
    dot_f32_many(f32) -> f32 = dot_f32;
    l2sq_f32_many(f32) -> f32 = l2sq_f32;
    cosine_f32_many(f32) -> f32 = cosine_f32;
    dot_i8_many(i8) -> i32 = dot_i8;
    l2sq_i8_many(i8) -> u32 = l2sq_i8;
    dot_f16_many(u16) -> f32 = dot_f16;
    l2sq_f16_many(u16) -> f32 = l2sq_f16;
    cosine_f16_many(u16) -> f32 = cosine_f16;
}

/// Applies a one-to-one kernel to each row. Shapes are checked by the caller;
/// a zero-dimensional query gives the kernel's value for empty vectors.
#[inline]
pub(crate) fn many<T, O: Copy>(
    query: &[T],
    rows: &[T],
    out: &mut [O],
    f: impl Fn(&[T], &[T]) -> O,
) {
    let dim = query.len();
    if dim == 0 {
        out.fill(f(&[], &[]));
        return;
    }
    for (o, row) in out.iter_mut().zip(rows.chunks_exact(dim)) {
        *o = f(query, row);
    }
}

pub(crate) fn sum_f32(values: &[f32]) -> f64 {
    values.iter().fold(0.0, |acc, &v| acc + f64::from(v))
}

pub(crate) fn sum_sq_dev_f32(values: &[f32], mean: f64) -> f64 {
    values.iter().fold(0.0, |acc, &v| {
        let d = f64::from(v) - mean;
        acc + d * d
    })
}

pub(crate) fn min_max_i64(values: &[i64]) -> Option<(i64, i64)> {
    let (&first, rest) = values.split_first()?;
    Some(
        rest.iter()
            .fold((first, first), |(lo, hi), &v| (lo.min(v), hi.max(v))),
    )
}

pub(crate) fn min_max_f32(values: &[f32]) -> Option<(f32, f32)> {
    let mut it = values.iter().copied().filter(|v| !v.is_nan());
    let first = it.next()?;
    Some(it.fold((first, first), |(lo, hi), v| {
        (if v < lo { v } else { lo }, if v > hi { v } else { hi })
    }))
}
