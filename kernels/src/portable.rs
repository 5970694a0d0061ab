//! The portable SIMD path, built on `wide`.
//!
//! `wide` chooses its instructions when this crate is compiled: SSE2 on a
//! default x86-64 build, NEON on aarch64, plain arrays elsewhere (and under
//! Miri, which interprets the same code). There is no `unsafe` here.
//!
//! Every kernel keeps several independent accumulators so that consecutive
//! additions do not wait on each other. Without FMA in the compile target,
//! `mul_add` is a multiply followed by an add.

use wide::{f32x8, f64x4, i16x16, i32x8, i8x16, u16x8, u8x16, CmpEq};

use crate::dispatch::Table;
use crate::scalar::{cosine_from_parts, jaccard_from_counts};

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
    stream_decode: crate::varint::stream::decode_scalar,
    stream_decode_delta: crate::varint::stream::decode_scalar_delta,
    stream_blocks: None,
    unpack_u32: crate::bitpack::unpack_u32_scalar,
    pack_u32: crate::bitpack::pack_u32_words,
};

/// Loads an exact chunk of 8 f32.
#[inline(always)]
fn f8(c: &[f32]) -> f32x8 {
    f32x8::new(c.try_into().expect("chunk of 8"))
}

/// Loads up to 8 f32, zero-padded.
#[inline(always)]
fn f8_tail(c: &[f32]) -> f32x8 {
    let mut buf = [0.0f32; 8];
    buf[..c.len()].copy_from_slice(c);
    f32x8::new(buf)
}

/// Folds f32 pairs with 4 accumulators over blocks of 32, then single
/// vectors, then a zero-padded tail (zero pairs leave every step's
/// accumulator unchanged). Returns the sum of the accumulators.
#[inline(always)]
fn fold_f32(a: &[f32], b: &[f32], step: impl Fn(f32x8, f32x8, f32x8) -> f32x8) -> f32x8 {
    let z = f32x8::ZERO;
    let mut acc = [z; 4];
    let (ca, cb) = (a.chunks_exact(32), b.chunks_exact(32));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            acc[k] = step(f8(&x[8 * k..8 * k + 8]), f8(&y[8 * k..8 * k + 8]), acc[k]);
        }
    }
    let (ca, cb) = (ra.chunks_exact(8), rb.chunks_exact(8));
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        acc[0] = step(f8(x), f8(y), acc[0]);
    }
    if !ta.is_empty() {
        acc[1] = step(f8_tail(ta), f8_tail(tb), acc[1]);
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    fold_f32(a, b, |x, y, acc| x.mul_add(y, acc)).reduce_add()
}

fn l2sq_f32(a: &[f32], b: &[f32]) -> f32 {
    fold_f32(a, b, |x, y, acc| {
        let d = x - y;
        d.mul_add(d, acc)
    })
    .reduce_add()
}

fn l1_f32(a: &[f32], b: &[f32]) -> f32 {
    fold_f32(a, b, |x, y, acc| acc + (x - y).abs()).reduce_add()
}

/// `(ab, aa, bb)` of two f32 slices, two accumulators per quantity.
#[inline(always)]
fn cosine_parts(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
    let z = f32x8::ZERO;
    let (mut ab, mut aa, mut bb) = ([z; 2], [z; 2], [z; 2]);
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..2 {
            let (vx, vy) = (f8(&x[8 * k..8 * k + 8]), f8(&y[8 * k..8 * k + 8]));
            ab[k] = vx.mul_add(vy, ab[k]);
            aa[k] = vx.mul_add(vx, aa[k]);
            bb[k] = vy.mul_add(vy, bb[k]);
        }
    }
    for (x, y) in ra.chunks(8).zip(rb.chunks(8)) {
        let (vx, vy) = (f8_tail(x), f8_tail(y));
        ab[0] = vx.mul_add(vy, ab[0]);
        aa[0] = vx.mul_add(vx, aa[0]);
        bb[0] = vy.mul_add(vy, bb[0]);
    }
    (
        (ab[0] + ab[1]).reduce_add(),
        (aa[0] + aa[1]).reduce_add(),
        (bb[0] + bb[1]).reduce_add(),
    )
}

fn cosine_f32(a: &[f32], b: &[f32]) -> f32 {
    let (ab, aa, bb) = cosine_parts(a, b);
    cosine_from_parts(ab, aa, bb)
}

// ---------------------------------------------------------------------------
// Integer kernels: widen 16 bytes to i16x16, `dot` (pmaddwd) to i32x8.
// i32x8 addition wraps, like the scalar reference's wrapping sums.
// ---------------------------------------------------------------------------

/// Wrapping horizontal sum (wide's `reduce_add` may use checked arithmetic
/// in debug builds).
#[inline(always)]
fn wrapping_sum(v: i32x8) -> i32 {
    v.to_array().iter().fold(0i32, |s, &x| s.wrapping_add(x))
}

#[inline(always)]
fn widen_i8(c: &[i8]) -> i16x16 {
    i16x16::from_i8x16(i8x16::new(c.try_into().expect("chunk of 16")))
}

#[inline(always)]
fn widen_u8(c: &[u8]) -> i16x16 {
    i16x16::from(u8x16::new(c.try_into().expect("chunk of 16")))
}

/// Folds 32-byte blocks with two i32x8 accumulators; returns the wrapping
/// sum and the index where the scalar tail starts.
#[inline(always)]
fn fold_bytes<T>(
    a: &[T],
    b: &[T],
    widen: impl Fn(&[T]) -> i16x16,
    step: impl Fn(i16x16, i16x16) -> i32x8,
) -> (i32, usize) {
    let mut acc = [i32x8::ZERO; 2];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let done = a.len() - ca.remainder().len();
    for (k, (x, y)) in ca.zip(cb).enumerate() {
        acc[k & 1] += step(widen(x), widen(y));
    }
    (wrapping_sum(acc[0] + acc[1]), done)
}

fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    // Pairs of products of values in [-128, 127]: at most 2·128² = 32768.
    let (sum, i) = fold_bytes(a, b, widen_i8, |x, y| x.dot(y));
    sum.wrapping_add(crate::scalar::dot_i8(&a[i..], &b[i..]))
}

fn l2sq_i8(a: &[i8], b: &[i8]) -> u32 {
    // Differences in [-255, 255] fit i16; pairs of squares at most 130050.
    let (sum, i) = fold_bytes(a, b, widen_i8, |x, y| {
        let d = x - y;
        d.dot(d)
    });
    (sum as u32).wrapping_add(crate::scalar::l2sq_i8(&a[i..], &b[i..]))
}

fn l2sq_u8(a: &[u8], b: &[u8]) -> u32 {
    let (sum, i) = fold_bytes(a, b, widen_u8, |x, y| {
        let d = x - y;
        d.dot(d)
    });
    (sum as u32).wrapping_add(crate::scalar::l2sq_u8(&a[i..], &b[i..]))
}

// `wide` has no population count, so the bit kernels count per u64 lane in
// plain Rust (`count_ones`, which compiles to whatever the target offers),
// with four independent counters.

fn hamming_u64(a: &[u64], b: &[u64]) -> u64 {
    let mut c = [0u64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            c[k] += u64::from((x[k] ^ y[k]).count_ones());
        }
    }
    let tail: u64 = ra
        .iter()
        .zip(rb)
        .map(|(x, y)| u64::from((x ^ y).count_ones()))
        .sum();
    c.iter().sum::<u64>() + tail
}

fn jaccard_u64(a: &[u64], b: &[u64]) -> f32 {
    let (mut inter, mut union) = ([0u64; 2], [0u64; 2]);
    let (ca, cb) = (a.chunks_exact(2), b.chunks_exact(2));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..2 {
            inter[k] += u64::from((x[k] & y[k]).count_ones());
            union[k] += u64::from((x[k] | y[k]).count_ones());
        }
    }
    for (x, y) in ra.iter().zip(rb) {
        inter[0] += u64::from((x & y).count_ones());
        union[0] += u64::from((x | y).count_ones());
    }
    jaccard_from_counts(inter[0] + inter[1], union[0] + union[1])
}

// ---------------------------------------------------------------------------
// f16: converted to f32 in SIMD registers by bit manipulation, exact for
// every input (see `half8`).
// ---------------------------------------------------------------------------

/// Converts 8 halves (bits) to f32, exactly.
///
/// `(h & 0x7fff) << 13` places the half's exponent and mantissa at the f32
/// positions; read as an f32 that is the value scaled by 2⁻¹¹², for normal
/// and subnormal halves alike (a subnormal half becomes an f32 subnormal),
/// so one multiplication by 2¹¹² (exact: a power of two, no overflow or
/// underflow in range) gives the value. Infinities and NaN (exponent 31) get
/// the f32 exponent 255 with the mantissa kept. The sign is ORed back in.
#[inline(always)]
pub(crate) fn half8(c: &[u16]) -> f32x8 {
    let h = i32x8::from_u16x8(u16x8::new(c.try_into().expect("chunk of 8")));
    let magnitude = (h & i32x8::splat(0x7fff)) << 13;
    let scaled: f32x8 = bytemuck::cast(magnitude);
    let finite: i32x8 = bytemuck::cast(scaled * f32x8::splat(f32::from_bits((127 + 112) << 23)));
    let special = (h & i32x8::splat(0x3ff)) << 13 | i32x8::splat(0x7f80_0000);
    let is_special = (h & i32x8::splat(0x7c00)).cmp_eq(i32x8::splat(0x7c00));
    let sign = (h & i32x8::splat(0x8000)) << 16;
    bytemuck::cast(is_special.blend(special, finite) | sign)
}

#[inline(always)]
fn half8_tail(c: &[u16]) -> f32x8 {
    let mut buf = [0u16; 8];
    buf[..c.len()].copy_from_slice(c);
    half8(&buf)
}

#[inline(always)]
fn fold_f16(a: &[u16], b: &[u16], step: impl Fn(f32x8, f32x8, f32x8) -> f32x8) -> f32x8 {
    let mut acc = [f32x8::ZERO; 4];
    let (ca, cb) = (a.chunks_exact(32), b.chunks_exact(32));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            acc[k] = step(
                half8(&x[8 * k..8 * k + 8]),
                half8(&y[8 * k..8 * k + 8]),
                acc[k],
            );
        }
    }
    for (x, y) in ra.chunks(8).zip(rb.chunks(8)) {
        acc[0] = step(half8_tail(x), half8_tail(y), acc[0]);
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

fn dot_f16(a: &[u16], b: &[u16]) -> f32 {
    fold_f16(a, b, |x, y, acc| x.mul_add(y, acc)).reduce_add()
}

fn l2sq_f16(a: &[u16], b: &[u16]) -> f32 {
    fold_f16(a, b, |x, y, acc| {
        let d = x - y;
        d.mul_add(d, acc)
    })
    .reduce_add()
}

fn cosine_f16(a: &[u16], b: &[u16]) -> f32 {
    let z = f32x8::ZERO;
    let (mut ab, mut aa, mut bb) = ([z; 2], [z; 2], [z; 2]);
    for (k, (x, y)) in a.chunks(8).zip(b.chunks(8)).enumerate() {
        let (vx, vy) = (half8_tail(x), half8_tail(y));
        let s = k & 1;
        ab[s] = vx.mul_add(vy, ab[s]);
        aa[s] = vx.mul_add(vx, aa[s]);
        bb[s] = vy.mul_add(vy, bb[s]);
    }
    cosine_from_parts(
        (ab[0] + ab[1]).reduce_add(),
        (aa[0] + aa[1]).reduce_add(),
        (bb[0] + bb[1]).reduce_add(),
    )
}

// ---------------------------------------------------------------------------
// One-to-many: 4 rows in flight, each query vector loaded once per group.
// ---------------------------------------------------------------------------

#[inline(always)]
fn many4(
    q: &[f32],
    rows: &[f32],
    out: &mut [f32],
    single: fn(&[f32], &[f32]) -> f32,
    step: impl Fn(f32x8, f32x8, f32x8) -> f32x8,
) {
    let dim = q.len();
    if dim == 0 {
        out.fill(single(&[], &[]));
        return;
    }
    let mut out_groups = out.chunks_exact_mut(4);
    let mut row_groups = rows.chunks_exact(4 * dim);
    for (o, g) in (&mut out_groups).zip(&mut row_groups) {
        let r: [&[f32]; 4] = [
            &g[..dim],
            &g[dim..2 * dim],
            &g[2 * dim..3 * dim],
            &g[3 * dim..],
        ];
        let mut acc = [f32x8::ZERO; 4];
        let mut i = 0;
        while i + 8 <= dim {
            let vq = f8(&q[i..i + 8]);
            for k in 0..4 {
                acc[k] = step(vq, f8(&r[k][i..i + 8]), acc[k]);
            }
            i += 8;
        }
        if i < dim {
            let vq = f8_tail(&q[i..]);
            for k in 0..4 {
                acc[k] = step(vq, f8_tail(&r[k][i..]), acc[k]);
            }
        }
        for k in 0..4 {
            o[k] = acc[k].reduce_add();
        }
    }
    let rest = row_groups.remainder();
    for (o, row) in out_groups
        .into_remainder()
        .iter_mut()
        .zip(rest.chunks_exact(dim))
    {
        *o = single(q, row);
    }
}

fn dot_f32_many(q: &[f32], rows: &[f32], out: &mut [f32]) {
    many4(q, rows, out, dot_f32, |vq, x, acc| vq.mul_add(x, acc));
}

fn l2sq_f32_many(q: &[f32], rows: &[f32], out: &mut [f32]) {
    many4(q, rows, out, l2sq_f32, |vq, x, acc| {
        let d = vq - x;
        d.mul_add(d, acc)
    });
}

fn cosine_f32_many(q: &[f32], rows: &[f32], out: &mut [f32]) {
    let dim = q.len();
    if dim == 0 {
        out.fill(cosine_from_parts(0.0, 0.0, 0.0));
        return;
    }
    let aa = dot_f32(q, q);
    let mut out_groups = out.chunks_exact_mut(4);
    let mut row_groups = rows.chunks_exact(4 * dim);
    for (o, g) in (&mut out_groups).zip(&mut row_groups) {
        let r: [&[f32]; 4] = [
            &g[..dim],
            &g[dim..2 * dim],
            &g[2 * dim..3 * dim],
            &g[3 * dim..],
        ];
        let (mut ab, mut bb) = ([f32x8::ZERO; 4], [f32x8::ZERO; 4]);
        let mut i = 0;
        while i < dim {
            let end = (i + 8).min(dim);
            let load = |c: &[f32]| if c.len() == 8 { f8(c) } else { f8_tail(c) };
            let vq = load(&q[i..end]);
            for k in 0..4 {
                let x = load(&r[k][i..end]);
                ab[k] = vq.mul_add(x, ab[k]);
                bb[k] = x.mul_add(x, bb[k]);
            }
            i = end;
        }
        for k in 0..4 {
            o[k] = cosine_from_parts(ab[k].reduce_add(), aa, bb[k].reduce_add());
        }
    }
    let rest = row_groups.remainder();
    for (o, row) in out_groups
        .into_remainder()
        .iter_mut()
        .zip(rest.chunks_exact(dim))
    {
        *o = cosine_f32(q, row);
    }
}

// ---------------------------------------------------------------------------
// Statistics. `wide` has no f32 -> f64 conversion, so each group of 4 is
// widened lane by lane into an f64x4 (the compiler turns this into
// `cvtps2pd` where available); the additions are 4-wide with 4 accumulators.
// ---------------------------------------------------------------------------

#[inline(always)]
fn widen4(c: &[f32]) -> f64x4 {
    f64x4::new([
        f64::from(c[0]),
        f64::from(c[1]),
        f64::from(c[2]),
        f64::from(c[3]),
    ])
}

fn sum_f32(v: &[f32]) -> f64 {
    let mut acc = [f64x4::ZERO; 4];
    let chunks = v.chunks_exact(16);
    let tail: f64 = chunks.remainder().iter().map(|&x| f64::from(x)).sum();
    for c in chunks {
        for k in 0..4 {
            acc[k] += widen4(&c[4 * k..4 * k + 4]);
        }
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])).reduce_add() + tail
}

fn sum_sq_dev_f32(v: &[f32], mean: f64) -> f64 {
    let m = f64x4::splat(mean);
    let mut acc = [f64x4::ZERO; 4];
    let chunks = v.chunks_exact(16);
    let tail = crate::scalar::sum_sq_dev_f32(chunks.remainder(), mean);
    for c in chunks {
        for k in 0..4 {
            let d = widen4(&c[4 * k..4 * k + 4]) - m;
            acc[k] = d.mul_add(d, acc[k]);
        }
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])).reduce_add() + tail
}

fn min_max_f32(v: &[f32]) -> Option<(f32, f32)> {
    // NaN lanes are replaced by the neutral element (+inf for the minimum,
    // -inf for the maximum) before the comparison. Any non-NaN value v gives
    // lo <= v <= hi, so `lo > hi` at the end means "no non-NaN value".
    let (pinf, ninf) = (f32x8::splat(f32::INFINITY), f32x8::splat(f32::NEG_INFINITY));
    let (mut lo, mut hi) = ([pinf; 2], [ninf; 2]);
    let chunks = v.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..2 {
            let x = f8(&c[8 * k..8 * k + 8]);
            let nan = x.is_nan();
            lo[k] = lo[k].fast_min(nan.blend(pinf, x));
            hi[k] = hi[k].fast_max(nan.blend(ninf, x));
        }
    }
    // Lanes that saw no value hold the neutral elements, which cannot win.
    let mut l = lo[0]
        .fast_min(lo[1])
        .to_array()
        .into_iter()
        .fold(f32::INFINITY, |l, x| if x < l { x } else { l });
    let mut h = hi[0]
        .fast_max(hi[1])
        .to_array()
        .into_iter()
        .fold(f32::NEG_INFINITY, |h, x| if x > h { x } else { h });
    for &x in rest {
        if x < l {
            l = x;
        }
        if x > h {
            h = x;
        }
    }
    if l > h {
        None
    } else {
        Some((l, h))
    }
}

// One-to-many f16 and i8 kernels: the one-to-one kernel of this path per
// row, so each result equals that kernel bit for bit.
crate::scalar::per_row_many! {
    dot_i8_many(i8) -> i32 = dot_i8;
    l2sq_i8_many(i8) -> u32 = l2sq_i8;
    dot_f16_many(u16) -> f32 = dot_f16;
    l2sq_f16_many(u16) -> f32 = l2sq_f16;
    cosine_f16_many(u16) -> f32 = cosine_f16;
}
