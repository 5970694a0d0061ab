//! The NEON path, written with `std::arch::aarch64` intrinsics.
//!
//! Every kernel is a function compiled with
//! `#[target_feature(enable = "neon")]`, stored in [`TABLE`] as an `unsafe
//! fn` pointer that only the `Kernels` methods call; a `&Kernels` of this
//! path comes only from `Kernels::for_isa(Isa::Neon)`, which requires
//! run-time detection of NEON.
//!
//! Design notes:
//! - f32 kernels keep 4 independent 4-wide FMA accumulators (16 floats per
//!   iteration); tails go through a zero-padded stack buffer, so nothing
//!   outside the slices is read.
//! - Half precision: the stable `std::arch` conversion intrinsics
//!   (`vcvt_f32_f16`) need the unstable `float16x4_t` type, so halves are
//!   converted by integer bit manipulation in NEON registers (`half4`),
//!   exact for every input (same method as the portable path).
//! - i8/u8 kernels widen with `vmlal`/`vsubl`/`vabdl`; i32 sums wrap like the
//!   scalar reference. Bit kernels add `vcnt` byte counts for up to 31
//!   steps, then widen them once with pairwise adds.
//! - Statistics accumulate in f64 (`vcvt_f64_f32`). `vminnm`/`vmaxnm` return
//!   the number when one operand is NaN, which is the scalar NaN policy.

use std::arch::aarch64::*;

use crate::dispatch::Table;
use crate::scalar::{cosine_from_parts, jaccard_from_counts};

pub(crate) const TABLE: Table = Table {
    dot_f32: dot_f32_neon,
    l2sq_f32: l2sq_f32_neon,
    cosine_f32: cosine_f32_neon,
    l1_f32: l1_f32_neon,
    dot_i8: dot_i8_neon,
    l2sq_i8: l2sq_i8_neon,
    l2sq_u8: l2sq_u8_neon,
    hamming_u64: hamming_u64_neon,
    jaccard_u64: jaccard_u64_neon,
    dot_f16: dot_f16_neon,
    l2sq_f16: l2sq_f16_neon,
    cosine_f16: cosine_f16_neon,
    dot_f32_many: dot_f32_many_neon,
    l2sq_f32_many: l2sq_f32_many_neon,
    cosine_f32_many: cosine_f32_many_neon,
    dot_i8_many: dot_i8_many_neon,
    l2sq_i8_many: l2sq_i8_many_neon,
    dot_f16_many: dot_f16_many_neon,
    l2sq_f16_many: l2sq_f16_many_neon,
    cosine_f16_many: cosine_f16_many_neon,
    sum_f32: sum_f32_neon,
    sum_sq_dev_f32: sum_sq_dev_f32_neon,
    min_max_f32: min_max_f32_neon,
    stream_decode: super::stream_vbyte::decode_neon::<false>,
    stream_decode_delta: super::stream_vbyte::decode_neon::<true>,
    stream_blocks: Some((
        super::stream_vbyte::encode_blocks::<false>,
        super::stream_vbyte::encode_blocks::<true>,
    )),
    unpack_u32: super::bitpack::unpack_u32_neon,
    pack_u32: super::bitpack::pack_u32_neon,
};

/// Loads up to 4 f32, zero-padded.
///
/// # Safety
/// NEON.
#[inline(always)]
unsafe fn load_tail(c: &[f32]) -> float32x4_t {
    let mut buf = [0.0f32; 4];
    buf[..c.len()].copy_from_slice(c);
    // SAFETY: `buf` holds 4 f32.
    unsafe { vld1q_f32(buf.as_ptr()) }
}

/// Loads `s` (at most 4 values), zero-padded when shorter.
///
/// # Safety
/// NEON.
#[inline(always)]
unsafe fn load_upto4(s: &[f32]) -> float32x4_t {
    if s.len() == 4 {
        // SAFETY: 4 values are readable at `s`.
        unsafe { vld1q_f32(s.as_ptr()) }
    } else {
        // SAFETY: the caller guarantees NEON; `s` holds fewer than 4 values.
        unsafe { load_tail(s) }
    }
}

/// Converts 4 halves (bits, widened to u32) to f32 exactly: exponent and
/// mantissa moved to the f32 positions read as an f32 give the value times
/// 2⁻¹¹² (normal and subnormal halves alike); one exact multiplication by
/// 2¹¹² fixes the scale. Exponent 31 (inf, NaN) maps to 255, mantissa kept.
///
/// # Safety
/// NEON.
#[inline(always)]
unsafe fn half4(h: uint32x4_t) -> float32x4_t {
    // SAFETY: register-only NEON intrinsics; the caller guarantees NEON.
    unsafe {
        let mag = vshlq_n_u32::<13>(vandq_u32(h, vdupq_n_u32(0x7fff)));
        let scale = vdupq_n_f32(f32::from_bits((127 + 112) << 23));
        let finite = vreinterpretq_u32_f32(vmulq_f32(vreinterpretq_f32_u32(mag), scale));
        let special = vorrq_u32(
            vshlq_n_u32::<13>(vandq_u32(h, vdupq_n_u32(0x3ff))),
            vdupq_n_u32(0x7f80_0000),
        );
        let exp = vandq_u32(h, vdupq_n_u32(0x7c00));
        let is_special = vceqq_u32(exp, vdupq_n_u32(0x7c00));
        let sign = vshlq_n_u32::<16>(vandq_u32(h, vdupq_n_u32(0x8000)));
        vreinterpretq_f32_u32(vorrq_u32(vbslq_u32(is_special, special, finite), sign))
    }
}

/// Loads 8 halves at `p` as two f32 vectors.
///
/// # Safety
/// NEON; 8 `u16` readable at `p`.
#[inline(always)]
unsafe fn load_f16x8(p: *const u16) -> (float32x4_t, float32x4_t) {
    // SAFETY: the caller guarantees 16 readable bytes and NEON.
    unsafe {
        let h = vld1q_u16(p);
        (half4(vmovl_u16(vget_low_u16(h))), half4(vmovl_high_u16(h)))
    }
}

/// Up to 8 halves, zero-padded, as two f32 vectors.
///
/// # Safety
/// NEON; `c.len() <= 8`.
#[inline(always)]
unsafe fn load_f16_tail(c: &[u16]) -> (float32x4_t, float32x4_t) {
    let mut buf = [0u16; 8];
    buf[..c.len()].copy_from_slice(c);
    // SAFETY: `buf` holds 8 halves.
    unsafe { load_f16x8(buf.as_ptr()) }
}

// ---------------------------------------------------------------------------
// f32 one-to-one kernels.
// ---------------------------------------------------------------------------

/// Folds f32 pairs, `$step(x, y, acc) -> acc`, with 4 accumulators over
/// blocks of 16, single vectors, then a zero-padded tail.
macro_rules! fold_f32 {
    ($a:expr, $b:expr, |$x:ident, $y:ident, $acc:ident| $step:expr) => {{
        let (a, b): (&[f32], &[f32]) = ($a, $b);
        let n = a.len();
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut accs = [vdupq_n_f32(0.0); 4];
        let mut i = 0;
        while i + 16 <= n {
            for (k, slot) in accs.iter_mut().enumerate() {
                let (qa, qb) = (pa.wrapping_add(i + 4 * k), pb.wrapping_add(i + 4 * k));
                // SAFETY: i + 4k + 4 <= i + 16 <= n == a.len() == b.len().
                let ($x, $y) = unsafe { (vld1q_f32(qa), vld1q_f32(qb)) };
                let $acc = *slot;
                *slot = $step;
            }
            i += 16;
        }
        while i + 4 <= n {
            // SAFETY: i + 4 <= n.
            let ($x, $y) = unsafe { (vld1q_f32(pa.add(i)), vld1q_f32(pb.add(i))) };
            let $acc = accs[0];
            accs[0] = $step;
            i += 4;
        }
        if i < n {
            // SAFETY: the tails hold n - i < 4 values each.
            let ($x, $y) = unsafe { (load_tail(&a[i..]), load_tail(&b[i..])) };
            let $acc = accs[1];
            accs[1] = $step;
        }
        vaddvq_f32(vaddq_f32(
            vaddq_f32(accs[0], accs[1]),
            vaddq_f32(accs[2], accs[3]),
        ))
    }};
}

#[target_feature(enable = "neon")]
fn dot_f32_neon(a: &[f32], b: &[f32]) -> f32 {
    fold_f32!(a, b, |x, y, acc| vfmaq_f32(acc, x, y))
}

#[target_feature(enable = "neon")]
fn l2sq_f32_neon(a: &[f32], b: &[f32]) -> f32 {
    fold_f32!(a, b, |x, y, acc| {
        let d = vsubq_f32(x, y);
        vfmaq_f32(acc, d, d)
    })
}

#[target_feature(enable = "neon")]
fn l1_f32_neon(a: &[f32], b: &[f32]) -> f32 {
    // vabd = |x - y| with a single rounding, identical to abs(x - y).
    fold_f32!(a, b, |x, y, acc| vaddq_f32(acc, vabdq_f32(x, y)))
}

#[target_feature(enable = "neon")]
fn cosine_f32_neon(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len();
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let z = vdupq_n_f32(0.0);
    let (mut ab, mut aa, mut bb) = ([z; 2], [z; 2], [z; 2]);
    let mut i = 0;
    while i + 8 <= n {
        for k in 0..2 {
            let (qa, qb) = (pa.wrapping_add(i + 4 * k), pb.wrapping_add(i + 4 * k));
            // SAFETY: i + 4k + 4 <= i + 8 <= n == a.len() == b.len().
            let (x, y) = unsafe { (vld1q_f32(qa), vld1q_f32(qb)) };
            ab[k] = vfmaq_f32(ab[k], x, y);
            aa[k] = vfmaq_f32(aa[k], x, x);
            bb[k] = vfmaq_f32(bb[k], y, y);
        }
        i += 8;
    }
    while i < n {
        let end = (i + 4).min(n);
        // SAFETY: each tail holds at most 4 values.
        let (x, y) = unsafe { (load_tail(&a[i..end]), load_tail(&b[i..end])) };
        ab[0] = vfmaq_f32(ab[0], x, y);
        aa[0] = vfmaq_f32(aa[0], x, x);
        bb[0] = vfmaq_f32(bb[0], y, y);
        i = end;
    }
    cosine_from_parts(
        vaddvq_f32(vaddq_f32(ab[0], ab[1])),
        vaddvq_f32(vaddq_f32(aa[0], aa[1])),
        vaddvq_f32(vaddq_f32(bb[0], bb[1])),
    )
}

// ---------------------------------------------------------------------------
// Integer kernels.
// ---------------------------------------------------------------------------

#[target_feature(enable = "neon")]
fn dot_i8_neon(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len();
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [vdupq_n_s32(0); 2];
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n == a.len() == b.len().
        let (x, y) = unsafe { (vld1q_s8(pa.add(i)), vld1q_s8(pb.add(i))) };
        let (xl, yl) = (vmovl_s8(vget_low_s8(x)), vmovl_s8(vget_low_s8(y)));
        let (xh, yh) = (vmovl_high_s8(x), vmovl_high_s8(y));
        // i16 products of i8 values, widened to i32; the i32 adds wrap.
        acc[0] = vmlal_s16(acc[0], vget_low_s16(xl), vget_low_s16(yl));
        acc[1] = vmlal_high_s16(acc[1], xl, yl);
        acc[0] = vmlal_s16(acc[0], vget_low_s16(xh), vget_low_s16(yh));
        acc[1] = vmlal_high_s16(acc[1], xh, yh);
        i += 16;
    }
    // ADDV wraps modulo 2³² like the lane additions.
    let sum = vaddvq_s32(vaddq_s32(acc[0], acc[1]));
    sum.wrapping_add(crate::scalar::dot_i8(&a[i..], &b[i..]))
}

#[target_feature(enable = "neon")]
fn l2sq_i8_neon(a: &[i8], b: &[i8]) -> u32 {
    let n = a.len();
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [vdupq_n_s32(0); 2];
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n == a.len() == b.len().
        let (x, y) = unsafe { (vld1q_s8(pa.add(i)), vld1q_s8(pb.add(i))) };
        // Differences in [-255, 255] fit i16; squares fit i32.
        let dl = vsubl_s8(vget_low_s8(x), vget_low_s8(y));
        let dh = vsubl_high_s8(x, y);
        acc[0] = vmlal_s16(acc[0], vget_low_s16(dl), vget_low_s16(dl));
        acc[1] = vmlal_high_s16(acc[1], dl, dl);
        acc[0] = vmlal_s16(acc[0], vget_low_s16(dh), vget_low_s16(dh));
        acc[1] = vmlal_high_s16(acc[1], dh, dh);
        i += 16;
    }
    let sum = vaddvq_s32(vaddq_s32(acc[0], acc[1])) as u32;
    sum.wrapping_add(crate::scalar::l2sq_i8(&a[i..], &b[i..]))
}

#[target_feature(enable = "neon")]
fn l2sq_u8_neon(a: &[u8], b: &[u8]) -> u32 {
    let n = a.len();
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [vdupq_n_u32(0); 2];
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n == a.len() == b.len().
        let (x, y) = unsafe { (vld1q_u8(pa.add(i)), vld1q_u8(pb.add(i))) };
        // |x - y| widened to u16, squared and accumulated in u32 (wrapping).
        let dl = vabdl_u8(vget_low_u8(x), vget_low_u8(y));
        let dh = vabdl_high_u8(x, y);
        acc[0] = vmlal_u16(acc[0], vget_low_u16(dl), vget_low_u16(dl));
        acc[1] = vmlal_high_u16(acc[1], dl, dl);
        acc[0] = vmlal_u16(acc[0], vget_low_u16(dh), vget_low_u16(dh));
        acc[1] = vmlal_high_u16(acc[1], dh, dh);
        i += 16;
    }
    let sum = vaddvq_u32(vaddq_u32(acc[0], acc[1]));
    sum.wrapping_add(crate::scalar::l2sq_u8(&a[i..], &b[i..]))
}

/// Population counts of `N` bitwise combinations `f(x, y)` of the first
/// `2·⌊len/2⌋` words of `a` and `b`, 128 bits per step: `vcnt` byte counts
/// gather in u8 lanes for at most 31 steps (8 per byte each, 31·8 = 248 <
/// 256), then widen once (`vpaddl` to u16, `vpadal` into u32 and u64). The
/// callers count the last word, if any, in scalar code.
///
/// # Safety
/// NEON; `a.len() == b.len()`.
#[inline(always)]
unsafe fn count_bits<const N: usize>(
    a: &[u64],
    b: &[u64],
    f: impl Fn(uint8x16_t, uint8x16_t) -> [uint8x16_t; N],
) -> [u64; N] {
    let n = a.len() & !1;
    let (pa, pb) = (a.as_ptr().cast::<u8>(), b.as_ptr().cast::<u8>());
    // SAFETY: the caller guarantees NEON (every intrinsic below is
    // register-only unless noted).
    unsafe {
        let mut total = [vdupq_n_u64(0); N];
        let mut i = 0;
        while i < n {
            let end = (i + 2 * 31).min(n);
            let mut bytes = [vdupq_n_u8(0); N];
            while i < end {
                // SAFETY: words i .. i + 2 <= end <= n <= a.len() == b.len(),
                // 16 bytes from each slice.
                let (x, y) = (vld1q_u8(pa.add(8 * i)), vld1q_u8(pb.add(8 * i)));
                for (acc, v) in bytes.iter_mut().zip(f(x, y)) {
                    *acc = vaddq_u8(*acc, vcntq_u8(v));
                }
                i += 2;
            }
            for (t, b) in total.iter_mut().zip(bytes) {
                *t = vpadalq_u32(*t, vpaddlq_u16(vpaddlq_u8(b)));
            }
        }
        total.map(|t| vaddvq_u64(t))
    }
}

#[target_feature(enable = "neon")]
fn hamming_u64_neon(a: &[u64], b: &[u64]) -> u64 {
    // SAFETY: NEON is enabled here; the lengths are equal (checked by the
    // `Kernels` method).
    let [c] = unsafe { count_bits(a, b, |x, y| [veorq_u8(x, y)]) };
    let m = a.len() & !1;
    let tail: u64 = a[m..]
        .iter()
        .zip(&b[m..])
        .map(|(x, y)| u64::from((x ^ y).count_ones()))
        .sum();
    c + tail
}

#[target_feature(enable = "neon")]
fn jaccard_u64_neon(a: &[u64], b: &[u64]) -> f32 {
    // SAFETY: as in `hamming_u64_neon`.
    let [mut inter, mut union] =
        unsafe { count_bits(a, b, |x, y| [vandq_u8(x, y), vorrq_u8(x, y)]) };
    let m = a.len() & !1;
    for (x, y) in a[m..].iter().zip(&b[m..]) {
        inter += u64::from((x & y).count_ones());
        union += u64::from((x | y).count_ones());
    }
    jaccard_from_counts(inter, union)
}

// ---------------------------------------------------------------------------
// f16 kernels.
// ---------------------------------------------------------------------------

/// Folds half pairs 8 at a time (two f32 vectors), `$step(x, y, acc)`, with
/// 4 accumulators; returns the accumulators' sum as f32.
macro_rules! fold_f16 {
    ($a:expr, $b:expr, |$x:ident, $y:ident, $acc:ident| $step:expr) => {{
        let (a, b): (&[u16], &[u16]) = ($a, $b);
        let n = a.len();
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut accs = [vdupq_n_f32(0.0); 4];
        let mut i = 0;
        while i + 16 <= n {
            for k in 0..2 {
                let (qa, qb) = (pa.wrapping_add(i + 8 * k), pb.wrapping_add(i + 8 * k));
                // SAFETY: i + 8k + 8 <= i + 16 <= n == a.len() == b.len().
                let ((x0, x1), (y0, y1)) = unsafe { (load_f16x8(qa), load_f16x8(qb)) };
                let ($x, $y, $acc) = (x0, y0, accs[2 * k]);
                accs[2 * k] = $step;
                let ($x, $y, $acc) = (x1, y1, accs[2 * k + 1]);
                accs[2 * k + 1] = $step;
            }
            i += 16;
        }
        while i < n {
            let end = (i + 8).min(n);
            let (ta, tb) = (&a[i..end], &b[i..end]);
            // SAFETY: each tail holds at most 8 values.
            let ((x0, x1), (y0, y1)) = unsafe { (load_f16_tail(ta), load_f16_tail(tb)) };
            let ($x, $y, $acc) = (x0, y0, accs[0]);
            accs[0] = $step;
            let ($x, $y, $acc) = (x1, y1, accs[1]);
            accs[1] = $step;
            i = end;
        }
        vaddvq_f32(vaddq_f32(
            vaddq_f32(accs[0], accs[1]),
            vaddq_f32(accs[2], accs[3]),
        ))
    }};
}

#[target_feature(enable = "neon")]
fn dot_f16_neon(a: &[u16], b: &[u16]) -> f32 {
    fold_f16!(a, b, |x, y, acc| vfmaq_f32(acc, x, y))
}

#[target_feature(enable = "neon")]
fn l2sq_f16_neon(a: &[u16], b: &[u16]) -> f32 {
    fold_f16!(a, b, |x, y, acc| {
        let d = vsubq_f32(x, y);
        vfmaq_f32(acc, d, d)
    })
}

#[target_feature(enable = "neon")]
fn cosine_f16_neon(a: &[u16], b: &[u16]) -> f32 {
    let z = vdupq_n_f32(0.0);
    let (mut ab, mut aa, mut bb) = ([z; 2], [z; 2], [z; 2]);
    for (x, y) in a.chunks(8).zip(b.chunks(8)) {
        // SAFETY: chunks hold at most 8 values; NEON is enabled.
        let ((x0, x1), (y0, y1)) = unsafe { (load_f16_tail(x), load_f16_tail(y)) };
        ab[0] = vfmaq_f32(ab[0], x0, y0);
        aa[0] = vfmaq_f32(aa[0], x0, x0);
        bb[0] = vfmaq_f32(bb[0], y0, y0);
        ab[1] = vfmaq_f32(ab[1], x1, y1);
        aa[1] = vfmaq_f32(aa[1], x1, x1);
        bb[1] = vfmaq_f32(bb[1], y1, y1);
    }
    cosine_from_parts(
        vaddvq_f32(vaddq_f32(ab[0], ab[1])),
        vaddvq_f32(vaddq_f32(aa[0], aa[1])),
        vaddvq_f32(vaddq_f32(bb[0], bb[1])),
    )
}

// ---------------------------------------------------------------------------
// One-to-many: 4 rows in flight, the query chunk loaded once per group.
// ---------------------------------------------------------------------------

macro_rules! many_f32 {
    ($q:expr, $rows:expr, $out:expr, $single:ident, |$vq:ident, $x:ident, $acc:ident| $step:expr) => {{
        let (q, rows, out): (&[f32], &[f32], &mut [f32]) = ($q, $rows, $out);
        let dim = q.len();
        if dim == 0 {
            out.fill($single(&[], &[]));
            return;
        }
        let groups = out.len() / 4;
        for g in 0..groups {
            let block = &rows[g * 4 * dim..(g + 1) * 4 * dim];
            let mut acc = [vdupq_n_f32(0.0); 4];
            let mut i = 0;
            while i < dim {
                let end = (i + 4).min(dim);
                // SAFETY: NEON is enabled in the calling function.
                let $vq = unsafe { load_upto4(&q[i..end]) };
                for (r, slot) in acc.iter_mut().enumerate() {
                    // SAFETY: as above.
                    let $x = unsafe { load_upto4(&block[r * dim + i..r * dim + end]) };
                    let $acc = *slot;
                    *slot = $step;
                }
                i = end;
            }
            for (r, v) in acc.into_iter().enumerate() {
                out[g * 4 + r] = vaddvq_f32(v);
            }
        }
        for r in groups * 4..out.len() {
            out[r] = $single(q, &rows[r * dim..(r + 1) * dim]);
        }
    }};
}

#[target_feature(enable = "neon")]
fn dot_f32_many_neon(q: &[f32], rows: &[f32], out: &mut [f32]) {
    many_f32!(q, rows, out, dot_f32_neon, |vq, x, acc| vfmaq_f32(
        acc, vq, x
    ));
}

#[target_feature(enable = "neon")]
fn l2sq_f32_many_neon(q: &[f32], rows: &[f32], out: &mut [f32]) {
    many_f32!(q, rows, out, l2sq_f32_neon, |vq, x, acc| {
        let d = vsubq_f32(vq, x);
        vfmaq_f32(acc, d, d)
    });
}

#[target_feature(enable = "neon")]
fn cosine_f32_many_neon(q: &[f32], rows: &[f32], out: &mut [f32]) {
    let dim = q.len();
    if dim == 0 {
        out.fill(cosine_from_parts(0.0, 0.0, 0.0));
        return;
    }
    let aa = dot_f32_neon(q, q);
    let groups = out.len() / 4;
    for g in 0..groups {
        let block = &rows[g * 4 * dim..(g + 1) * 4 * dim];
        let z = vdupq_n_f32(0.0);
        let (mut ab, mut bb) = ([z; 4], [z; 4]);
        let mut i = 0;
        while i < dim {
            let end = (i + 4).min(dim);
            // SAFETY: NEON is enabled for this function.
            let vq = unsafe { load_upto4(&q[i..end]) };
            for r in 0..4 {
                // SAFETY: as above.
                let x = unsafe { load_upto4(&block[r * dim + i..r * dim + end]) };
                ab[r] = vfmaq_f32(ab[r], vq, x);
                bb[r] = vfmaq_f32(bb[r], x, x);
            }
            i = end;
        }
        for r in 0..4 {
            out[g * 4 + r] = cosine_from_parts(vaddvq_f32(ab[r]), aa, vaddvq_f32(bb[r]));
        }
    }
    for r in groups * 4..out.len() {
        out[r] = cosine_f32_neon(q, &rows[r * dim..(r + 1) * dim]);
    }
}

// ---------------------------------------------------------------------------
// Statistics.
// ---------------------------------------------------------------------------

#[target_feature(enable = "neon")]
fn sum_f32_neon(v: &[f32]) -> f64 {
    let n = v.len();
    let p = v.as_ptr();
    let mut acc = [vdupq_n_f64(0.0); 4];
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n == v.len().
        let (x0, x1) = unsafe { (vld1q_f32(p.add(i)), vld1q_f32(p.add(i + 4))) };
        acc[0] = vaddq_f64(acc[0], vcvt_f64_f32(vget_low_f32(x0)));
        acc[1] = vaddq_f64(acc[1], vcvt_high_f64_f32(x0));
        acc[2] = vaddq_f64(acc[2], vcvt_f64_f32(vget_low_f32(x1)));
        acc[3] = vaddq_f64(acc[3], vcvt_high_f64_f32(x1));
        i += 8;
    }
    let tail: f64 = v[i..].iter().map(|&x| f64::from(x)).sum();
    vaddvq_f64(vaddq_f64(
        vaddq_f64(acc[0], acc[1]),
        vaddq_f64(acc[2], acc[3]),
    )) + tail
}

#[target_feature(enable = "neon")]
fn sum_sq_dev_f32_neon(v: &[f32], mean: f64) -> f64 {
    let n = v.len();
    let p = v.as_ptr();
    let m = vdupq_n_f64(mean);
    let mut acc = [vdupq_n_f64(0.0); 4];
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n == v.len().
        let (x0, x1) = unsafe { (vld1q_f32(p.add(i)), vld1q_f32(p.add(i + 4))) };
        let parts = [
            vcvt_f64_f32(vget_low_f32(x0)),
            vcvt_high_f64_f32(x0),
            vcvt_f64_f32(vget_low_f32(x1)),
            vcvt_high_f64_f32(x1),
        ];
        for k in 0..4 {
            let d = vsubq_f64(parts[k], m);
            acc[k] = vfmaq_f64(acc[k], d, d);
        }
        i += 8;
    }
    let tail = crate::scalar::sum_sq_dev_f32(&v[i..], mean);
    vaddvq_f64(vaddq_f64(
        vaddq_f64(acc[0], acc[1]),
        vaddq_f64(acc[2], acc[3]),
    )) + tail
}

#[target_feature(enable = "neon")]
fn min_max_f32_neon(v: &[f32]) -> Option<(f32, f32)> {
    // vminnm/vmaxnm return the number when one operand is NaN, so NaN is
    // ignored; lo starts at +inf and hi at -inf, never NaN. Any non-NaN
    // value v gives lo <= v <= hi, so `lo > hi` means "no non-NaN value".
    let n = v.len();
    let p = v.as_ptr();
    let mut lo = [vdupq_n_f32(f32::INFINITY); 2];
    let mut hi = [vdupq_n_f32(f32::NEG_INFINITY); 2];
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n == v.len().
        let (x0, x1) = unsafe { (vld1q_f32(p.add(i)), vld1q_f32(p.add(i + 4))) };
        lo[0] = vminnmq_f32(lo[0], x0);
        hi[0] = vmaxnmq_f32(hi[0], x0);
        lo[1] = vminnmq_f32(lo[1], x1);
        hi[1] = vmaxnmq_f32(hi[1], x1);
        i += 8;
    }
    let mut l = vminnmvq_f32(vminnmq_f32(lo[0], lo[1]));
    let mut h = vmaxnmvq_f32(vmaxnmq_f32(hi[0], hi[1]));
    for &x in &v[i..] {
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
/// `crate::scalar::per_row_many!` for this path: each one-to-many kernel
/// is a NEON function applying the one-to-one kernel to each row.
macro_rules! per_row_many_neon {
    ($($name:ident($t:ty) -> $o:ty = $one:ident;)*) => {
        $(
            #[target_feature(enable = "neon")]
            fn $name(query: &[$t], rows: &[$t], out: &mut [$o]) {
                crate::scalar::many(query, rows, out, |a, b| $one(a, b));
            }
        )*
    };
}

per_row_many_neon! {
    dot_i8_many_neon(i8) -> i32 = dot_i8_neon;
    l2sq_i8_many_neon(i8) -> u32 = l2sq_i8_neon;
    dot_f16_many_neon(u16) -> f32 = dot_f16_neon;
    l2sq_f16_many_neon(u16) -> f32 = l2sq_f16_neon;
    cosine_f16_many_neon(u16) -> f32 = cosine_f16_neon;
}
