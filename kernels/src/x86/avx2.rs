//! The AVX2+FMA path, written with `std::arch::x86_64` intrinsics.
//!
//! Every kernel is a function compiled with
//! `#[target_feature(enable = "avx2,fma,f16c,popcnt")]`: safe to call
//! from code with those features (the kernels call one another directly),
//! and stored in [`TABLE`] as an `unsafe fn` pointer, which only the
//! `Kernels` methods call. A `&Kernels` of this path comes only from
//! `Kernels::for_isa(Isa::Avx2)`, which returns `None` unless run-time
//! detection found AVX2, FMA, F16C, POPCNT, SSSE3 and SSE4.1 (see
//! `isa.rs`), so the pointers' precondition holds whenever they are called.
//!
//! Design:
//! - f32 kernels keep 4 independent 8-wide accumulators (32 floats per
//!   iteration) so that the FMA latency (4-5 cycles) is hidden and the loop
//!   is limited by the two loads per cycle; `cosine` computes `ab`, `aa`
//!   and `bb` in the same pass.
//! - Tails shorter than one vector use `_mm256_maskload_ps` (masked-off lanes
//!   are not accessed, so nothing outside the slices is read) or, for 16-bit
//!   and 8-bit data, a copy into a zeroed stack buffer.
//! - Integer kernels widen to i16 and use `_mm256_madd_epi16`; sums wrap
//!   modulo 2³² exactly like the scalar reference.
//! - Bit kernels count 256 bits per step with Mula's nibble lookup
//!   (`vpshufb`), byte counters flushed by `vpsadbw` every 31 steps; the
//!   last 0-3 words use `popcnt`.
//! - Statistics accumulate in f64 (`_mm256_cvtps_pd`).

use std::arch::x86_64::*;

use crate::dispatch::Table;
use crate::scalar::{cosine_from_parts, jaccard_from_counts};

pub(crate) const TABLE: Table = Table {
    dot_f32: dot_f32_avx2,
    l2sq_f32: l2sq_f32_avx2,
    cosine_f32: cosine_f32_avx2,
    l1_f32: l1_f32_avx2,
    dot_i8: dot_i8_avx2,
    l2sq_i8: l2sq_i8_avx2,
    l2sq_u8: l2sq_u8_avx2,
    hamming_u64: hamming_u64_avx2,
    jaccard_u64: jaccard_u64_avx2,
    dot_f16: dot_f16_avx2,
    l2sq_f16: l2sq_f16_avx2,
    cosine_f16: cosine_f16_avx2,
    dot_f32_many: dot_f32_many_avx2,
    l2sq_f32_many: l2sq_f32_many_avx2,
    cosine_f32_many: cosine_f32_many_avx2,
    dot_i8_many: dot_i8_many_avx2,
    l2sq_i8_many: l2sq_i8_many_avx2,
    dot_f16_many: dot_f16_many_avx2,
    l2sq_f16_many: l2sq_f16_many_avx2,
    cosine_f16_many: cosine_f16_many_avx2,
    sum_f32: sum_f32_avx2,
    sum_sq_dev_f32: sum_sq_dev_f32_avx2,
    min_max_f32: min_max_f32_avx2,
    stream_decode: super::stream_vbyte::decode_avx2::<false>,
    stream_decode_delta: super::stream_vbyte::decode_avx2::<true>,
    stream_blocks: Some((
        super::stream_vbyte::encode_blocks::<false>,
        super::stream_vbyte::encode_blocks::<true>,
    )),
    unpack_u32: super::bitpack::unpack_u32_avx2,
    pack_u32: super::bitpack::pack_u32_avx2,
};

// ---------------------------------------------------------------------------
// Primitives. `#[inline(always)]` so they are compiled inside the callers'
// `target_feature` context; each is `unsafe` because it needs AVX2/FMA.
// ---------------------------------------------------------------------------

/// Horizontal sum of 8 f32 lanes.
///
/// # Safety
/// The CPU must support AVX.
#[inline(always)]
unsafe fn hsum_ps(v: __m256) -> f32 {
    // SAFETY: register-only AVX/SSE intrinsics; the caller guarantees AVX.
    unsafe {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_movehdup_ps(s));
        _mm_cvtss_f32(s)
    }
}

/// Horizontal sum of 4 f64 lanes.
///
/// # Safety
/// The CPU must support AVX.
#[inline(always)]
unsafe fn hsum_pd(v: __m256d) -> f64 {
    // SAFETY: register-only AVX/SSE2 intrinsics; the caller guarantees AVX.
    unsafe {
        let s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd::<1>(v));
        let s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
        _mm_cvtsd_f64(s)
    }
}

/// Horizontal wrapping sum of 8 i32 lanes.
///
/// # Safety
/// The CPU must support AVX2.
#[inline(always)]
unsafe fn hsum_epi32(v: __m256i) -> i32 {
    // SAFETY: register-only AVX2/SSE2 intrinsics; the caller guarantees AVX2.
    unsafe {
        let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
        _mm_cvtsi128_si32(s)
    }
}

/// Eight lanes of -1 followed by eight lanes of 0: loading 8 values at
/// `MASKS[8 - rem..]` gives a mask that enables the first `rem` lanes.
static MASKS: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];

/// Mask enabling the first `rem` (< 8) lanes.
///
/// # Safety
/// The CPU must support AVX; `rem <= 8`.
#[inline(always)]
unsafe fn tail_mask(rem: usize) -> __m256i {
    debug_assert!(rem <= 8);
    // SAFETY: `8 - rem <= 8`, so the 8 values read lie inside `MASKS` (16 values).
    unsafe { _mm256_loadu_si256(MASKS.as_ptr().add(8 - rem).cast()) }
}

/// Loads `rem` (< 8) values from `p`, zeros in the other lanes. Lanes
/// masked off are not accessed (no fault, no read).
///
/// # Safety
/// AVX; `p..p+rem` must be readable.
#[inline(always)]
unsafe fn load_tail(p: *const f32, mask: __m256i) -> __m256 {
    // SAFETY: only the lanes enabled by `mask` are read, and those are in
    // bounds by the caller's contract.
    unsafe { _mm256_maskload_ps(p, mask) }
}

/// Converts 8 halves (bits) at `p` to f32.
///
/// # Safety
/// AVX+F16C; 8 `u16` readable at `p`.
#[inline(always)]
unsafe fn load_f16(p: *const u16) -> __m256 {
    // SAFETY: the caller guarantees 16 readable bytes and F16C.
    unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast())) }
}

/// Copies up to 8 halves into a zero-padded buffer and converts them.
///
/// # Safety
/// AVX+F16C; `tail.len() <= 8`.
#[inline(always)]
unsafe fn load_f16_tail(tail: &[u16]) -> __m256 {
    let mut buf = [0u16; 8];
    buf[..tail.len()].copy_from_slice(tail);
    // SAFETY: `buf` holds 8 halves.
    unsafe { load_f16(buf.as_ptr()) }
}

// ---------------------------------------------------------------------------
// f32 one-to-one kernels.
// ---------------------------------------------------------------------------

/// Folds 8-wide f32 pair kernels: `$step(va, vb, acc) -> acc` applied with 4
/// independent accumulators over blocks of 32, then single vectors, then a
/// masked tail (masked lanes load 0.0 in both inputs, which every step maps
/// to an unchanged accumulator).
macro_rules! fold_f32 {
    ($a:expr, $b:expr, |$va:ident, $vb:ident, $acc:ident| $step:expr) => {{
        let (a, b): (&[f32], &[f32]) = ($a, $b);
        let n = a.len();
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc0 = _mm256_setzero_ps();
        let mut acc1 = _mm256_setzero_ps();
        let mut acc2 = _mm256_setzero_ps();
        let mut acc3 = _mm256_setzero_ps();
        let mut i = 0;
        while i + 32 <= n {
            // SAFETY: i + 32 <= n == a.len() == b.len(): all 32 lanes are in bounds.
            unsafe {
                let $acc = acc0;
                let ($va, $vb) = (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)));
                acc0 = $step;
                let $acc = acc1;
                let ($va, $vb) = (
                    _mm256_loadu_ps(pa.add(i + 8)),
                    _mm256_loadu_ps(pb.add(i + 8)),
                );
                acc1 = $step;
                let $acc = acc2;
                let ($va, $vb) = (
                    _mm256_loadu_ps(pa.add(i + 16)),
                    _mm256_loadu_ps(pb.add(i + 16)),
                );
                acc2 = $step;
                let $acc = acc3;
                let ($va, $vb) = (
                    _mm256_loadu_ps(pa.add(i + 24)),
                    _mm256_loadu_ps(pb.add(i + 24)),
                );
                acc3 = $step;
            }
            i += 32;
        }
        while i + 8 <= n {
            // SAFETY: i + 8 <= n.
            unsafe {
                let $acc = acc0;
                let ($va, $vb) = (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)));
                acc0 = $step;
            }
            i += 8;
        }
        if i < n {
            // SAFETY: the mask enables exactly the n - i < 8 remaining lanes.
            unsafe {
                let mask = tail_mask(n - i);
                let $acc = acc1;
                let ($va, $vb) = (load_tail(pa.add(i), mask), load_tail(pb.add(i), mask));
                acc1 = $step;
            }
        }
        _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3))
    }};
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn dot_f32_avx2(a: &[f32], b: &[f32]) -> f32 {
    let acc = fold_f32!(a, b, |x, y, acc| _mm256_fmadd_ps(x, y, acc));
    // SAFETY: AVX is enabled for this function.
    unsafe { hsum_ps(acc) }
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn l2sq_f32_avx2(a: &[f32], b: &[f32]) -> f32 {
    let acc = fold_f32!(a, b, |x, y, acc| {
        let d = _mm256_sub_ps(x, y);
        _mm256_fmadd_ps(d, d, acc)
    });
    // SAFETY: AVX is enabled for this function.
    unsafe { hsum_ps(acc) }
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn l1_f32_avx2(a: &[f32], b: &[f32]) -> f32 {
    let sign = _mm256_set1_ps(-0.0);
    let acc = fold_f32!(a, b, |x, y, acc| _mm256_add_ps(
        acc,
        _mm256_andnot_ps(sign, _mm256_sub_ps(x, y))
    ));
    // SAFETY: AVX is enabled for this function.
    unsafe { hsum_ps(acc) }
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn cosine_f32_avx2(a: &[f32], b: &[f32]) -> f32 {
    // ab, aa and bb in one pass: 3 FMAs per 8 pairs, so the loop is bound by
    // the two FMA ports (1.5 cycles per 8 pairs against dot's 1, limited by
    // two loads per cycle). Four chains per quantity (12 accumulators, 32
    // floats per iteration) give 12 independent FMAs per iteration, enough
    // to cover the FMA latency; two per quantity would be latency-bound.
    let n = a.len();
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let z = _mm256_setzero_ps();
    let (mut ab, mut aa, mut bb) = ([z; 4], [z; 4], [z; 4]);
    let mut i = 0;
    while i + 32 <= n {
        for k in 0..4 {
            let (qa, qb) = (pa.wrapping_add(i + 8 * k), pb.wrapping_add(i + 8 * k));
            // SAFETY: i + 8k + 8 <= i + 32 <= n == a.len() == b.len().
            let (x, y) = unsafe { (_mm256_loadu_ps(qa), _mm256_loadu_ps(qb)) };
            ab[k] = _mm256_fmadd_ps(x, y, ab[k]);
            aa[k] = _mm256_fmadd_ps(x, x, aa[k]);
            bb[k] = _mm256_fmadd_ps(y, y, bb[k]);
        }
        i += 32;
    }
    while i < n {
        let rem = (n - i).min(8);
        // SAFETY: the mask enables exactly the `rem` lanes at i..i+rem <= n.
        let (x, y) = unsafe {
            let mask = tail_mask(rem);
            (load_tail(pa.add(i), mask), load_tail(pb.add(i), mask))
        };
        ab[0] = _mm256_fmadd_ps(x, y, ab[0]);
        aa[0] = _mm256_fmadd_ps(x, x, aa[0]);
        bb[0] = _mm256_fmadd_ps(y, y, bb[0]);
        i += rem;
    }
    let sum4 = |v: [__m256; 4]| _mm256_add_ps(_mm256_add_ps(v[0], v[1]), _mm256_add_ps(v[2], v[3]));
    let (ab, aa, bb) = (sum4(ab), sum4(aa), sum4(bb));
    // SAFETY: AVX is enabled for this function.
    let (ab, aa, bb) = unsafe { (hsum_ps(ab), hsum_ps(aa), hsum_ps(bb)) };
    cosine_from_parts(ab, aa, bb)
}

// ---------------------------------------------------------------------------
// Integer kernels.
// ---------------------------------------------------------------------------

/// Folds 16-element blocks of byte vectors widened to i16:
/// `$widen(ptr) -> __m256i` loads 16 bytes and widens them, `$step(x, y)`
/// returns 8 i32 partial sums that are added (wrapping) to the accumulators.
/// Returns (wrapping sum of the vector part, index where the tail starts).
macro_rules! fold_i16 {
    ($a:expr, $b:expr, $widen:ident, |$x:ident, $y:ident| $step:expr) => {{
        let n = $a.len();
        let (pa, pb) = ($a.as_ptr(), $b.as_ptr());
        let mut acc0 = _mm256_setzero_si256();
        let mut acc1 = _mm256_setzero_si256();
        let mut i = 0;
        while i + 32 <= n {
            // SAFETY: i + 32 <= n == a.len() == b.len(): two 16-byte loads per slice.
            unsafe {
                let ($x, $y) = ($widen(pa.add(i)), $widen(pb.add(i)));
                acc0 = _mm256_add_epi32(acc0, $step);
                let ($x, $y) = ($widen(pa.add(i + 16)), $widen(pb.add(i + 16)));
                acc1 = _mm256_add_epi32(acc1, $step);
            }
            i += 32;
        }
        if i + 16 <= n {
            // SAFETY: i + 16 <= n.
            unsafe {
                let ($x, $y) = ($widen(pa.add(i)), $widen(pb.add(i)));
                acc0 = _mm256_add_epi32(acc0, $step);
            }
            i += 16;
        }
        // SAFETY: AVX2 is enabled in the calling function.
        (unsafe { hsum_epi32(_mm256_add_epi32(acc0, acc1)) }, i)
    }};
}

/// Loads 16 i8 and sign-extends them to i16.
///
/// # Safety
/// AVX2; 16 bytes readable at `p`.
#[inline(always)]
unsafe fn widen_i8(p: *const i8) -> __m256i {
    // SAFETY: the caller guarantees 16 readable bytes and AVX2.
    unsafe { _mm256_cvtepi8_epi16(_mm_loadu_si128(p.cast())) }
}

/// Loads 16 u8 and zero-extends them to i16.
///
/// # Safety
/// AVX2; 16 bytes readable at `p`.
#[inline(always)]
unsafe fn widen_u8(p: *const u8) -> __m256i {
    // SAFETY: the caller guarantees 16 readable bytes and AVX2.
    unsafe { _mm256_cvtepu8_epi16(_mm_loadu_si128(p.cast())) }
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn dot_i8_avx2(a: &[i8], b: &[i8]) -> i32 {
    // madd: products of i16 in [-128, 127] summed in pairs, at most
    // 2·128² = 32768, which fits i32 without saturation.
    let (sum, i) = fold_i16!(a, b, widen_i8, |x, y| _mm256_madd_epi16(x, y));
    let tail = crate::scalar::dot_i8(&a[i..], &b[i..]);
    sum.wrapping_add(tail)
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn l2sq_i8_avx2(a: &[i8], b: &[i8]) -> u32 {
    // Differences lie in [-255, 255] (fit i16); madd pairs give at most 130050.
    let (sum, i) = fold_i16!(a, b, widen_i8, |x, y| {
        let d = _mm256_sub_epi16(x, y);
        _mm256_madd_epi16(d, d)
    });
    (sum as u32).wrapping_add(crate::scalar::l2sq_i8(&a[i..], &b[i..]))
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn l2sq_u8_avx2(a: &[u8], b: &[u8]) -> u32 {
    let (sum, i) = fold_i16!(a, b, widen_u8, |x, y| {
        let d = _mm256_sub_epi16(x, y);
        _mm256_madd_epi16(d, d)
    });
    (sum as u32).wrapping_add(crate::scalar::l2sq_u8(&a[i..], &b[i..]))
}

/// Per-byte population counts of `v` (Mula's method): each nibble looks up
/// its count in a 16-entry table with `pshufb`, and the two are added.
///
/// # Safety
/// The CPU must support AVX2.
#[inline(always)]
unsafe fn popcount_bytes(v: __m256i) -> __m256i {
    // SAFETY: register-only AVX2 intrinsics; the caller guarantees AVX2.
    unsafe {
        let lut = _mm256_setr_epi8(
            0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, //
            0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
        );
        let low = _mm256_set1_epi8(0x0F);
        let lo = _mm256_and_si256(v, low);
        let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(v), low);
        _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi))
    }
}

/// Sum of the four u64 lanes.
///
/// # Safety
/// The CPU must support AVX2.
#[inline(always)]
unsafe fn hsum_epi64(v: __m256i) -> u64 {
    // SAFETY: register-only AVX2/SSE2 intrinsics; the caller guarantees AVX2.
    unsafe {
        let s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        let s = _mm_add_epi64(s, _mm_unpackhi_epi64(s, s));
        _mm_cvtsi128_si64(s) as u64
    }
}

/// Population counts of `N` bitwise combinations `f(x, y)` of the first
/// `4·⌊len/4⌋` words of `a` and `b`, 256 bits per step. Byte counters (from
/// [`popcount_bytes`]) gather at most 31 steps, 8 per byte each (31·8 = 248
/// < 256, no overflow), before `psadbw` adds them into u64 lanes. The
/// callers count the last 0-3 words with `popcnt`.
///
/// # Safety
/// AVX2; `a.len() == b.len()`.
#[inline(always)]
unsafe fn count_bits<const N: usize>(
    a: &[u64],
    b: &[u64],
    f: impl Fn(__m256i, __m256i) -> [__m256i; N],
) -> [u64; N] {
    let n = a.len() & !3;
    if n == 0 {
        return [0; N];
    }
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    // SAFETY: the caller guarantees AVX2 (every intrinsic below is
    // register-only unless noted).
    unsafe {
        let zero = _mm256_setzero_si256();
        let mut total = [zero; N];
        let mut i = 0;
        while i < n {
            let end = (i + 4 * 31).min(n);
            let mut bytes = [zero; N];
            while i < end {
                // SAFETY: i + 4 <= end <= n <= a.len() == b.len().
                let (x, y) = (
                    _mm256_loadu_si256(pa.add(i).cast()),
                    _mm256_loadu_si256(pb.add(i).cast()),
                );
                for (acc, v) in bytes.iter_mut().zip(f(x, y)) {
                    *acc = _mm256_add_epi8(*acc, popcount_bytes(v));
                }
                i += 4;
            }
            for (t, b) in total.iter_mut().zip(bytes) {
                *t = _mm256_add_epi64(*t, _mm256_sad_epu8(b, zero));
            }
        }
        total.map(|t| hsum_epi64(t))
    }
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn hamming_u64_avx2(a: &[u64], b: &[u64]) -> u64 {
    // SAFETY: AVX2 is enabled here; the lengths are equal (checked by the
    // `Kernels` method).
    let [c] = unsafe { count_bits(a, b, |x, y| [_mm256_xor_si256(x, y)]) };
    let m = a.len() & !3;
    let tail: u64 = a[m..]
        .iter()
        .zip(&b[m..])
        .map(|(x, y)| u64::from((x ^ y).count_ones()))
        .sum();
    c + tail
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn jaccard_u64_avx2(a: &[u64], b: &[u64]) -> f32 {
    // SAFETY: as in `hamming_u64_avx2`.
    let [inter, union] =
        unsafe { count_bits(a, b, |x, y| [_mm256_and_si256(x, y), _mm256_or_si256(x, y)]) };
    let (mut inter, mut union) = (inter, union);
    let m = a.len() & !3;
    for (x, y) in a[m..].iter().zip(&b[m..]) {
        inter += u64::from((x & y).count_ones());
        union += u64::from((x | y).count_ones());
    }
    jaccard_from_counts(inter, union)
}

// ---------------------------------------------------------------------------
// f16 kernels (F16C conversion, f32 accumulation).
// ---------------------------------------------------------------------------

/// Folds half-precision pairs: 4 accumulators over blocks of 32 values,
/// then blocks of 8, then a zero-padded tail.
macro_rules! fold_f16 {
    ($a:expr, $b:expr, |$x:ident, $y:ident, $acc:ident| $step:expr) => {{
        let (a, b): (&[u16], &[u16]) = ($a, $b);
        let n = a.len();
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let z = _mm256_setzero_ps();
        let mut accs = [z; 4];
        let mut i = 0;
        while i + 32 <= n {
            for (k, slot) in accs.iter_mut().enumerate() {
                let (pa, pb) = (pa.wrapping_add(i + 8 * k), pb.wrapping_add(i + 8 * k));
                // SAFETY: i + 8k + 8 <= i + 32 <= n == a.len() == b.len().
                let ($x, $y) = unsafe { (load_f16(pa), load_f16(pb)) };
                let $acc = *slot;
                *slot = $step;
            }
            i += 32;
        }
        while i + 8 <= n {
            // SAFETY: i + 8 <= n.
            let ($x, $y) = unsafe { (load_f16(pa.add(i)), load_f16(pb.add(i))) };
            let $acc = accs[0];
            accs[0] = $step;
            i += 8;
        }
        if i < n {
            // SAFETY: the tails hold n - i < 8 values each.
            let ($x, $y) = unsafe { (load_f16_tail(&a[i..]), load_f16_tail(&b[i..])) };
            let $acc = accs[1];
            accs[1] = $step;
        }
        accs
    }};
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn dot_f16_avx2(a: &[u16], b: &[u16]) -> f32 {
    let [a0, a1, a2, a3] = fold_f16!(a, b, |x, y, acc| _mm256_fmadd_ps(x, y, acc));
    // SAFETY: AVX is enabled for this function.
    unsafe { hsum_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3))) }
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn l2sq_f16_avx2(a: &[u16], b: &[u16]) -> f32 {
    let [a0, a1, a2, a3] = fold_f16!(a, b, |x, y, acc| {
        let d = _mm256_sub_ps(x, y);
        _mm256_fmadd_ps(d, d, acc)
    });
    // SAFETY: AVX is enabled for this function.
    unsafe { hsum_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3))) }
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn cosine_f16_avx2(a: &[u16], b: &[u16]) -> f32 {
    let n = a.len();
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let z = _mm256_setzero_ps();
    let (mut ab0, mut aa0, mut bb0, mut ab1, mut aa1, mut bb1) = (z, z, z, z, z, z);
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n == a.len() == b.len().
        let (x0, y0, x1, y1) = unsafe {
            (
                load_f16(pa.add(i)),
                load_f16(pb.add(i)),
                load_f16(pa.add(i + 8)),
                load_f16(pb.add(i + 8)),
            )
        };
        ab0 = _mm256_fmadd_ps(x0, y0, ab0);
        aa0 = _mm256_fmadd_ps(x0, x0, aa0);
        bb0 = _mm256_fmadd_ps(y0, y0, bb0);
        ab1 = _mm256_fmadd_ps(x1, y1, ab1);
        aa1 = _mm256_fmadd_ps(x1, x1, aa1);
        bb1 = _mm256_fmadd_ps(y1, y1, bb1);
        i += 16;
    }
    while i < n {
        let end = (i + 8).min(n);
        // SAFETY: each tail holds at most 8 values.
        let (x, y) = unsafe { (load_f16_tail(&a[i..end]), load_f16_tail(&b[i..end])) };
        ab0 = _mm256_fmadd_ps(x, y, ab0);
        aa0 = _mm256_fmadd_ps(x, x, aa0);
        bb0 = _mm256_fmadd_ps(y, y, bb0);
        i = end;
    }
    // SAFETY: AVX is enabled for this function.
    let (ab, aa, bb) = unsafe {
        (
            hsum_ps(_mm256_add_ps(ab0, ab1)),
            hsum_ps(_mm256_add_ps(aa0, aa1)),
            hsum_ps(_mm256_add_ps(bb0, bb1)),
        )
    };
    cosine_from_parts(ab, aa, bb)
}

// ---------------------------------------------------------------------------
// One-to-many kernels: each query vector is loaded once per group of 4 rows,
// and the 4 rows are processed together (4 independent dependency chains,
// 5 loads per 4 FMAs instead of 8).
// ---------------------------------------------------------------------------

/// `out[r] = Σ step(q, row r)` for 4 rows at a time; `$step(q, x, acc)`.
/// Rows left over (fewer than 4) go through `$single`.
macro_rules! many_f32 {
    ($q:expr, $rows:expr, $out:expr, $single:ident, |$vq:ident, $x:ident, $acc:ident| $step:expr) => {{
        let (q, rows, out): (&[f32], &[f32], &mut [f32]) = ($q, $rows, $out);
        let dim = q.len();
        if dim == 0 {
            out.fill($single(&[], &[]));
            return;
        }
        let groups = out.len() / 4;
        let pq = q.as_ptr();
        for g in 0..groups {
            let base = g * 4 * dim;
            let r0 = rows[base..base + 4 * dim].as_ptr();
            let z = _mm256_setzero_ps();
            let mut acc = [z; 4];
            let mut i = 0;
            while i + 8 <= dim {
                // SAFETY: i + 8 <= dim == q.len(); row r spans
                // r0 + r·dim .. r0 + (r+1)·dim inside the 4·dim slice.
                unsafe {
                    let $vq = _mm256_loadu_ps(pq.add(i));
                    for (r, slot) in acc.iter_mut().enumerate() {
                        let $x = _mm256_loadu_ps(r0.add(r * dim + i));
                        let $acc = *slot;
                        *slot = $step;
                    }
                }
                i += 8;
            }
            if i < dim {
                // SAFETY: the mask enables exactly the dim - i remaining lanes
                // of the query and of each row.
                unsafe {
                    let mask = tail_mask(dim - i);
                    let $vq = load_tail(pq.add(i), mask);
                    for (r, slot) in acc.iter_mut().enumerate() {
                        let $x = load_tail(r0.add(r * dim + i), mask);
                        let $acc = *slot;
                        *slot = $step;
                    }
                }
            }
            for (r, v) in acc.into_iter().enumerate() {
                // SAFETY: AVX is enabled in the calling function.
                out[g * 4 + r] = unsafe { hsum_ps(v) };
            }
        }
        for r in groups * 4..out.len() {
            out[r] = $single(q, &rows[r * dim..(r + 1) * dim]);
        }
    }};
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn dot_f32_many_avx2(q: &[f32], rows: &[f32], out: &mut [f32]) {
    many_f32!(q, rows, out, dot_f32_avx2, |vq, x, acc| _mm256_fmadd_ps(
        vq, x, acc
    ));
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn l2sq_f32_many_avx2(q: &[f32], rows: &[f32], out: &mut [f32]) {
    many_f32!(q, rows, out, l2sq_f32_avx2, |vq, x, acc| {
        let d = _mm256_sub_ps(vq, x);
        _mm256_fmadd_ps(d, d, acc)
    });
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn cosine_f32_many_avx2(q: &[f32], rows: &[f32], out: &mut [f32]) {
    let dim = q.len();
    if dim == 0 {
        out.fill(cosine_from_parts(0.0, 0.0, 0.0));
        return;
    }
    // The query's squared norm, once for all rows.
    let aa = dot_f32_avx2(q, q);
    let pq = q.as_ptr();
    let groups = out.len() / 4;
    for g in 0..groups {
        let base = g * 4 * dim;
        let r0 = rows[base..base + 4 * dim].as_ptr();
        let z = _mm256_setzero_ps();
        let (mut ab, mut bb) = ([z; 4], [z; 4]);
        let mut i = 0;
        while i + 8 <= dim {
            // SAFETY: i + 8 <= dim == q.len(); row r spans
            // r0 + r·dim .. r0 + (r+1)·dim inside the 4·dim slice.
            unsafe {
                let vq = _mm256_loadu_ps(pq.add(i));
                for r in 0..4 {
                    let x = _mm256_loadu_ps(r0.add(r * dim + i));
                    ab[r] = _mm256_fmadd_ps(vq, x, ab[r]);
                    bb[r] = _mm256_fmadd_ps(x, x, bb[r]);
                }
            }
            i += 8;
        }
        if i < dim {
            // SAFETY: the mask enables exactly the dim - i remaining lanes of
            // the query and of each row.
            unsafe {
                let mask = tail_mask(dim - i);
                let vq = load_tail(pq.add(i), mask);
                for r in 0..4 {
                    let x = load_tail(r0.add(r * dim + i), mask);
                    ab[r] = _mm256_fmadd_ps(vq, x, ab[r]);
                    bb[r] = _mm256_fmadd_ps(x, x, bb[r]);
                }
            }
        }
        for r in 0..4 {
            // SAFETY: AVX is enabled for this function.
            let (dot, norm) = unsafe { (hsum_ps(ab[r]), hsum_ps(bb[r])) };
            out[g * 4 + r] = cosine_from_parts(dot, aa, norm);
        }
    }
    for r in groups * 4..out.len() {
        out[r] = cosine_f32_avx2(q, &rows[r * dim..(r + 1) * dim]);
    }
}

// ---------------------------------------------------------------------------
// Statistics (f64 accumulation).
// ---------------------------------------------------------------------------

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn sum_f32_avx2(v: &[f32]) -> f64 {
    let n = v.len();
    let p = v.as_ptr();
    let z = _mm256_setzero_pd();
    let mut acc = [z; 4];
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n == v.len().
        unsafe {
            let x0 = _mm256_loadu_ps(p.add(i));
            let x1 = _mm256_loadu_ps(p.add(i + 8));
            acc[0] = _mm256_add_pd(acc[0], _mm256_cvtps_pd(_mm256_castps256_ps128(x0)));
            acc[1] = _mm256_add_pd(acc[1], _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(x0)));
            acc[2] = _mm256_add_pd(acc[2], _mm256_cvtps_pd(_mm256_castps256_ps128(x1)));
            acc[3] = _mm256_add_pd(acc[3], _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(x1)));
        }
        i += 16;
    }
    let tail: f64 = v[i..].iter().map(|&x| f64::from(x)).sum();
    let s = _mm256_add_pd(_mm256_add_pd(acc[0], acc[1]), _mm256_add_pd(acc[2], acc[3]));
    // SAFETY: AVX is enabled for this function.
    unsafe { hsum_pd(s) + tail }
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn sum_sq_dev_f32_avx2(v: &[f32], mean: f64) -> f64 {
    let n = v.len();
    let p = v.as_ptr();
    let m = _mm256_set1_pd(mean);
    let z = _mm256_setzero_pd();
    let mut acc = [z; 4];
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n == v.len().
        unsafe {
            let x0 = _mm256_loadu_ps(p.add(i));
            let x1 = _mm256_loadu_ps(p.add(i + 8));
            let parts = [
                _mm256_cvtps_pd(_mm256_castps256_ps128(x0)),
                _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(x0)),
                _mm256_cvtps_pd(_mm256_castps256_ps128(x1)),
                _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(x1)),
            ];
            for k in 0..4 {
                let d = _mm256_sub_pd(parts[k], m);
                acc[k] = _mm256_fmadd_pd(d, d, acc[k]);
            }
        }
        i += 16;
    }
    let tail = crate::scalar::sum_sq_dev_f32(&v[i..], mean);
    let s = _mm256_add_pd(_mm256_add_pd(acc[0], acc[1]), _mm256_add_pd(acc[2], acc[3]));
    // SAFETY: AVX is enabled for this function.
    unsafe { hsum_pd(s) + tail }
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn min_max_f32_avx2(v: &[f32]) -> Option<(f32, f32)> {
    // `minps(x, lo)` returns its second operand when either is NaN, so a NaN
    // in `x` leaves `lo` unchanged: NaN is ignored without a compare. `lo`
    // starts at +inf and `hi` at -inf; any non-NaN value v then gives
    // lo <= v <= hi, so `lo > hi` at the end means "no non-NaN value".
    let n = v.len();
    let p = v.as_ptr();
    let mut lo = [_mm256_set1_ps(f32::INFINITY); 2];
    let mut hi = [_mm256_set1_ps(f32::NEG_INFINITY); 2];
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n == v.len().
        unsafe {
            let x0 = _mm256_loadu_ps(p.add(i));
            let x1 = _mm256_loadu_ps(p.add(i + 8));
            lo[0] = _mm256_min_ps(x0, lo[0]);
            hi[0] = _mm256_max_ps(x0, hi[0]);
            lo[1] = _mm256_min_ps(x1, lo[1]);
            hi[1] = _mm256_max_ps(x1, hi[1]);
        }
        i += 16;
    }
    let lo = _mm256_min_ps(lo[0], lo[1]);
    let hi = _mm256_max_ps(hi[0], hi[1]);
    let (mut lo_arr, mut hi_arr) = ([0.0f32; 8], [0.0f32; 8]);
    // SAFETY: each array holds 8 f32.
    unsafe {
        _mm256_storeu_ps(lo_arr.as_mut_ptr(), lo);
        _mm256_storeu_ps(hi_arr.as_mut_ptr(), hi);
    }
    let (mut l, mut h) = (f32::INFINITY, f32::NEG_INFINITY);
    for k in 0..8 {
        if lo_arr[k] < l {
            l = lo_arr[k];
        }
        if hi_arr[k] > h {
            h = hi_arr[k];
        }
    }
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

// ---------------------------------------------------------------------------
// One-to-many f16 and i8 kernels: `G` rows per step share each query load
// (and its conversion or widening). Each f16 row keeps exactly the
// accumulators, block sizes, tails and reduction of the one-to-one kernel,
// so `out[r]` equals it bit for bit (2 rows per step: 4 accumulators per row
// fill 8 of the 16 registers); i8 sums are exact modulo 2³² in any order
// (4 rows per step). Rows left over go through the one-to-one kernel.
// ---------------------------------------------------------------------------

/// Runs `$group(rows: [&[T]; $g]) -> [$o; $g]` over groups of `$g` rows and
/// `$single` over the rest; a zero-dimensional query gives `$single`'s value
/// for empty vectors.
macro_rules! many_rows {
    ($g:literal, $q:expr, $rows:expr, $out:expr, $single:ident, |$gr:ident| $group:expr) => {{
        let (q, rows, out) = ($q, $rows, $out);
        let dim = q.len();
        if dim == 0 {
            out.fill($single(&[], &[]));
            return;
        }
        let mut out_groups = out.chunks_exact_mut($g);
        let mut row_groups = rows.chunks_exact($g * dim);
        for (o, g) in (&mut out_groups).zip(&mut row_groups) {
            let $gr: [_; $g] = std::array::from_fn(|r| &g[r * dim..(r + 1) * dim]);
            o.copy_from_slice(&$group);
        }
        for (o, row) in out_groups
            .into_remainder()
            .iter_mut()
            .zip(row_groups.remainder().chunks_exact(dim))
        {
            *o = $single(q, row);
        }
    }};
}

/// `fold_f16!` over 2 rows of `$q.len()` halves at once: `$step(x, y, acc)`
/// with `x` the query's converted halves and `y` a row's. Evaluates to each
/// row's 4 accumulators.
macro_rules! fold_f16_2 {
    ($q:expr, $rows:expr, |$x:ident, $y:ident, $acc:ident| $step:expr) => {{
        let (q, rows): (&[u16], [&[u16]; 2]) = ($q, $rows);
        let n = q.len();
        let pq = q.as_ptr();
        let z = _mm256_setzero_ps();
        let mut accs = [[z; 4]; 2];
        let mut i = 0;
        while i + 32 <= n {
            for k in 0..4 {
                // SAFETY: i + 8k + 8 <= i + 32 <= n == q.len() == row.len().
                unsafe {
                    let $x = load_f16(pq.add(i + 8 * k));
                    for (row, acc) in rows.iter().zip(accs.iter_mut()) {
                        let $y = load_f16(row.as_ptr().add(i + 8 * k));
                        let $acc = acc[k];
                        acc[k] = $step;
                    }
                }
            }
            i += 32;
        }
        while i + 8 <= n {
            // SAFETY: i + 8 <= n == q.len() == row.len().
            unsafe {
                let $x = load_f16(pq.add(i));
                for (row, acc) in rows.iter().zip(accs.iter_mut()) {
                    let $y = load_f16(row.as_ptr().add(i));
                    let $acc = acc[0];
                    acc[0] = $step;
                }
            }
            i += 8;
        }
        if i < n {
            // SAFETY: the tails hold n - i < 8 values each.
            unsafe {
                let $x = load_f16_tail(&q[i..]);
                for (row, acc) in rows.iter().zip(accs.iter_mut()) {
                    let $y = load_f16_tail(&row[i..]);
                    let $acc = acc[1];
                    acc[1] = $step;
                }
            }
        }
        accs
    }};
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn dot_f16_many_avx2(q: &[u16], rows: &[u16], out: &mut [f32]) {
    many_rows!(2, q, rows, out, dot_f16_avx2, |g| {
        fold_f16_2!(q, g, |x, y, acc| _mm256_fmadd_ps(x, y, acc)).map(|[a0, a1, a2, a3]| {
            // SAFETY: AVX is enabled for this function.
            unsafe { hsum_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3))) }
        })
    });
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn l2sq_f16_many_avx2(q: &[u16], rows: &[u16], out: &mut [f32]) {
    many_rows!(2, q, rows, out, l2sq_f16_avx2, |g| {
        fold_f16_2!(q, g, |x, y, acc| {
            let d = _mm256_sub_ps(x, y);
            _mm256_fmadd_ps(d, d, acc)
        })
        .map(|[a0, a1, a2, a3]| {
            // SAFETY: AVX is enabled for this function.
            unsafe { hsum_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3))) }
        })
    });
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn cosine_f16_many_avx2(q: &[u16], rows: &[u16], out: &mut [f32]) {
    let n = q.len();
    let pq = q.as_ptr();
    let z = _mm256_setzero_ps();
    // The query's squared norm, once, with the accumulators of
    // `cosine_f16_avx2` (its `aa` depends on the query alone).
    let (mut aa0, mut aa1) = (z, z);
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n == q.len().
        let (x0, x1) = unsafe { (load_f16(pq.add(i)), load_f16(pq.add(i + 8))) };
        aa0 = _mm256_fmadd_ps(x0, x0, aa0);
        aa1 = _mm256_fmadd_ps(x1, x1, aa1);
        i += 16;
    }
    while i < n {
        let end = (i + 8).min(n);
        // SAFETY: the tail holds at most 8 values.
        let x = unsafe { load_f16_tail(&q[i..end]) };
        aa0 = _mm256_fmadd_ps(x, x, aa0);
        i = end;
    }
    // SAFETY: AVX is enabled for this function.
    let aa = unsafe { hsum_ps(_mm256_add_ps(aa0, aa1)) };
    many_rows!(2, q, rows, out, cosine_f16_avx2, |g| {
        // Per row: [ab0, bb0, ab1, bb1].
        let mut acc = [[z; 4]; 2];
        let mut i = 0;
        while i + 16 <= n {
            // SAFETY: i + 16 <= n == q.len() == row.len().
            unsafe {
                let (x0, x1) = (load_f16(pq.add(i)), load_f16(pq.add(i + 8)));
                for (row, a) in g.iter().zip(acc.iter_mut()) {
                    let (y0, y1) = (
                        load_f16(row.as_ptr().add(i)),
                        load_f16(row.as_ptr().add(i + 8)),
                    );
                    a[0] = _mm256_fmadd_ps(x0, y0, a[0]);
                    a[1] = _mm256_fmadd_ps(y0, y0, a[1]);
                    a[2] = _mm256_fmadd_ps(x1, y1, a[2]);
                    a[3] = _mm256_fmadd_ps(y1, y1, a[3]);
                }
            }
            i += 16;
        }
        while i < n {
            let end = (i + 8).min(n);
            // SAFETY: each tail holds at most 8 values.
            unsafe {
                let x = load_f16_tail(&q[i..end]);
                for (row, a) in g.iter().zip(acc.iter_mut()) {
                    let y = load_f16_tail(&row[i..end]);
                    a[0] = _mm256_fmadd_ps(x, y, a[0]);
                    a[1] = _mm256_fmadd_ps(y, y, a[1]);
                }
            }
            i = end;
        }
        acc.map(|[ab0, bb0, ab1, bb1]| {
            // SAFETY: AVX is enabled for this function.
            let (ab, bb) = unsafe {
                (
                    hsum_ps(_mm256_add_ps(ab0, ab1)),
                    hsum_ps(_mm256_add_ps(bb0, bb1)),
                )
            };
            cosine_from_parts(ab, aa, bb)
        })
    });
}

/// 4 rows of i8 against the query, 16 bytes per step widened to i16:
/// `$step(x, y)` gives 8 i32 partial sums per row, added (wrapping) to the
/// row's accumulator. Evaluates to each row's wrapping vector sum and the
/// index where the scalar tail starts.
macro_rules! fold_i8_4 {
    ($q:expr, $rows:expr, |$x:ident, $y:ident| $step:expr) => {{
        let (q, rows): (&[i8], [&[i8]; 4]) = ($q, $rows);
        let n = q.len();
        let mut acc = [_mm256_setzero_si256(); 4];
        let mut i = 0;
        while i + 16 <= n {
            // SAFETY: i + 16 <= n == q.len() == row.len().
            unsafe {
                let $x = widen_i8(q.as_ptr().add(i));
                for (row, a) in rows.iter().zip(acc.iter_mut()) {
                    let $y = widen_i8(row.as_ptr().add(i));
                    *a = _mm256_add_epi32(*a, $step);
                }
            }
            i += 16;
        }
        // SAFETY: AVX2 is enabled in the calling function.
        (acc.map(|a| unsafe { hsum_epi32(a) }), i)
    }};
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn dot_i8_many_avx2(q: &[i8], rows: &[i8], out: &mut [i32]) {
    // As `dot_i8_avx2`: madd of i16 products, pairs at most 2·128².
    many_rows!(4, q, rows, out, dot_i8_avx2, |g| {
        let (sums, i) = fold_i8_4!(q, g, |x, y| _mm256_madd_epi16(x, y));
        std::array::from_fn::<i32, 4, _>(|r| {
            sums[r].wrapping_add(crate::scalar::dot_i8(&q[i..], &g[r][i..]))
        })
    });
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn l2sq_i8_many_avx2(q: &[i8], rows: &[i8], out: &mut [u32]) {
    // As `l2sq_i8_avx2`: differences in [-255, 255], madd pairs at most 130050.
    many_rows!(4, q, rows, out, l2sq_i8_avx2, |g| {
        let (sums, i) = fold_i8_4!(q, g, |x, y| {
            let d = _mm256_sub_epi16(x, y);
            _mm256_madd_epi16(d, d)
        });
        std::array::from_fn::<u32, 4, _>(|r| {
            (sums[r] as u32).wrapping_add(crate::scalar::l2sq_i8(&q[i..], &g[r][i..]))
        })
    });
}
