//! The AVX-512 path, written with `std::arch::x86_64` intrinsics.
//!
//! Every kernel of its own is a function compiled with
//! `#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vpopcntdq,avx512vnni,avx2,fma,f16c,popcnt")]`,
//! stored in [`TABLE`] as an `unsafe fn` pointer that only the `Kernels`
//! methods call (see `x86/avx2.rs`).
//!
//! Kernels without an AVX-512 version here (bit-packing, stream-vbyte
//! encoding) reuse the AVX2 path's entries. That is sound because this table
//! is only reachable through `Kernels::for_isa(Isa::Avx512)`, which returns
//! `None` unless run-time detection found AVX-512 F, BW, DQ, VL, VPOPCNTDQ
//! and VNNI *and* every feature the AVX2 path needs (AVX2, FMA, F16C,
//! POPCNT, SSSE3, SSE4.1; see `isa.rs`), so the AVX2 entries' precondition
//! holds here as well.
//!
//! This path does not use the shared loops of `lanes.rs` (AVX2, NEON and
//! portable do): its f32 folds peel an aligning masked head and end in up
//! to four masked vectors, one per chain, its integer kernels use VNNI and
//! its bit kernels `vpopcntq`, so it would need hooks the other paths do
//! not. Its kernels are tested against the scalar reference like every
//! path's, on CPUs with AVX-512 (CI's included).
//!
//! Design:
//! - f32 kernels keep 4 independent 16-wide accumulators (64 floats per
//!   iteration); `cosine` computes `ab`, `aa` and `bb` in the same pass.
//!   From 128 values on, the one-to-one f32 kernels first take one masked
//!   step of up to 15 values so that the loads of the first slice are
//!   64-byte aligned (an unaligned 64-byte load splits a cache line).
//! - `cosine` issues 3 FMAs per 16 pairs against `dot`'s 1 and `dot` is
//!   bound by two loads per cycle, so its loop takes about 1.5 times as
//!   long on cores with two 512-bit FMA units and about 3 times on cores
//!   with one (where AVX2 has the same FMA throughput, so AVX-512 speeds up
//!   `dot` but hardly `cosine`). The f64 square root and division of
//!   [`cosine_from_parts`] (kept for results identical to every path) add
//!   a fixed latency on top.
//! - Tails use masked loads (`vmovups` with a `k` mask): masked-off lanes
//!   are zero and are not accessed, so nothing outside the slices is read
//!   and no scalar loop remains.
//! - `dot_i8` uses `vpdpbusd` (VNNI) on 64 bytes per step with a sign-bias
//!   correction; the squared distances take `max - min` of 64 bytes,
//!   zero-extend by unpacking and use `vpdpwssd`. Sums wrap modulo 2³² exactly like the scalar reference.
//! - Bit kernels count 512 bits per step with `vpopcntq` (VPOPCNTDQ).
//! - Half-precision kernels convert 16 halves per step with `vcvtph2ps`.
//! - Statistics accumulate in f64 (`vcvtps2pd`, 8 lanes per step).

use std::arch::x86_64::*;

use crate::dispatch::Table;
use crate::scalar::{cosine_from_parts, jaccard_from_counts};

pub(crate) const TABLE: Table = Table {
    dot_f32: dot_f32_avx512,
    l2sq_f32: l2sq_f32_avx512,
    cosine_f32: cosine_f32_avx512,
    l1_f32: l1_f32_avx512,
    dot_i8: dot_i8_avx512,
    l2sq_i8: l2sq_i8_avx512,
    l2sq_u8: l2sq_u8_avx512,
    hamming_u64: hamming_u64_avx512,
    jaccard_u64: jaccard_u64_avx512,
    dot_f16: dot_f16_avx512,
    l2sq_f16: l2sq_f16_avx512,
    cosine_f16: cosine_f16_avx512,
    dot_f32_many: dot_f32_many_avx512,
    l2sq_f32_many: l2sq_f32_many_avx512,
    cosine_f32_many: cosine_f32_many_avx512,
    dot_i8_many: dot_i8_many_avx512,
    l2sq_i8_many: l2sq_i8_many_avx512,
    dot_f16_many: dot_f16_many_avx512,
    l2sq_f16_many: l2sq_f16_many_avx512,
    cosine_f16_many: cosine_f16_many_avx512,
    sum_f32: sum_f32_avx512,
    sum_sq_dev_f32: sum_sq_dev_f32_avx512,
    min_max_f32: min_max_f32_avx512,
    min_max_i64: min_max_i64_avx512,
    pq4_fastscan: super::pq4::fastscan_avx512,
    rans16_decode: super::rans::decode_avx512,
    // Reused AVX2 entries (bit-packing, stream-vbyte): see the module documentation for why they are
    // sound in this table.
    ..super::avx2::TABLE
};

/// Mask enabling the first `rem` lanes (`rem <= 16`) of a 16-lane vector.
#[inline(always)]
fn mask16(rem: usize) -> __mmask16 {
    debug_assert!(rem <= 16);
    ((1u32 << rem) - 1) as __mmask16
}

/// How many leading values of a slice at `p` of `n` f32 to take in one
/// masked head step so that the blocks after it load `p` from 64-byte
/// aligned addresses (an unaligned 64-byte load splits a cache line and
/// costs two). 0 for short slices, where the head would not pay off.
#[inline(always)]
fn align_head(p: *const f32, n: usize) -> usize {
    if n < 128 {
        return 0;
    }
    // Slices of f32 are 4-byte aligned, so this is 0..=15 values.
    ((p as usize).wrapping_neg() & 63) / 4
}

/// Lane bits of the last `rem < 64` f32 values, 16 per 16-lane vector:
/// bits `16k..16k + 16` are the mask of the `k`-th vector after the blocks.
#[inline(always)]
fn tail_bits(rem: usize) -> u64 {
    debug_assert!(rem < 64);
    (1u64 << rem) - 1
}

/// Mask enabling the first `rem` lanes (`rem <= 8`) of an 8-lane vector.
#[inline(always)]
fn mask8(rem: usize) -> __mmask8 {
    debug_assert!(rem <= 8);
    ((1u32 << rem) - 1) as __mmask8
}

// ---------------------------------------------------------------------------
// f32 one-to-one kernels.
// ---------------------------------------------------------------------------

/// Folds 16-wide f32 pair kernels: `$step(va, vb, acc) -> acc` applied with 4
/// independent accumulators over blocks of 64, then up to 4 masked vectors
/// (masked lanes load 0.0 in both inputs, which every step maps to an
/// unchanged accumulator). Evaluates to the sum of the accumulators.
macro_rules! fold_f32 {
    ($a:expr, $b:expr, |$va:ident, $vb:ident, $acc:ident| $step:expr) => {{
        let (a, b): (&[f32], &[f32]) = ($a, $b);
        let n = a.len();
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let z = _mm512_setzero_ps();
        let mut acc = [z; 4];
        let mut i = align_head(pa, n);
        if i > 0 {
            let m = mask16(i);
            // SAFETY: the mask enables exactly the lanes 0..i <= n, which
            // are in bounds; masked-off lanes are not accessed.
            let $va = unsafe { _mm512_maskz_loadu_ps(m, pa) };
            // SAFETY: as above, b.len() == n.
            let $vb = unsafe { _mm512_maskz_loadu_ps(m, pb) };
            let $acc = acc[3];
            acc[3] = $step;
        }
        while i + 64 <= n {
            for (k, slot) in acc.iter_mut().enumerate() {
                // SAFETY: i + 16k + 16 <= i + 64 <= n == a.len() == b.len().
                let ($va, $vb) = unsafe {
                    (
                        _mm512_loadu_ps(pa.add(i + 16 * k)),
                        _mm512_loadu_ps(pb.add(i + 16 * k)),
                    )
                };
                let $acc = *slot;
                *slot = $step;
            }
            i += 64;
        }
        // The last 0-63 values: up to 4 vectors, one per chain, the last
        // one masked. The loop is unrolled, so the chains stay in registers.
        let bits = tail_bits(n - i);
        for (k, slot) in acc.iter_mut().enumerate() {
            let m = (bits >> (16 * k)) as __mmask16;
            if m != 0 {
                // SAFETY: `m` enables exactly the lanes of i + 16k .. n that
                // lie in this vector (at least one, so i + 16k < n and the
                // pointers are in bounds); masked-off lanes are not accessed.
                let ($va, $vb) = unsafe {
                    (
                        _mm512_maskz_loadu_ps(m, pa.add(i + 16 * k)),
                        _mm512_maskz_loadu_ps(m, pb.add(i + 16 * k)),
                    )
                };
                let $acc = *slot;
                *slot = $step;
            }
        }
        _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]))
    }};
}

#[target_feature(
    enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vpopcntdq,avx512vnni,avx2,fma,f16c,popcnt"
)]
fn dot_f32_avx512(a: &[f32], b: &[f32]) -> f32 {
    let acc = fold_f32!(a, b, |x, y, acc| _mm512_fmadd_ps(x, y, acc));
    _mm512_reduce_add_ps(acc)
}

#[target_feature(
    enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vpopcntdq,avx512vnni,avx2,fma,f16c,popcnt"
)]
fn l2sq_f32_avx512(a: &[f32], b: &[f32]) -> f32 {
    let acc = fold_f32!(a, b, |x, y, acc| {
        let d = _mm512_sub_ps(x, y);
        _mm512_fmadd_ps(d, d, acc)
    });
    _mm512_reduce_add_ps(acc)
}

#[target_feature(
    enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vpopcntdq,avx512vnni,avx2,fma,f16c,popcnt"
)]
fn l1_f32_avx512(a: &[f32], b: &[f32]) -> f32 {
    let acc = fold_f32!(a, b, |x, y, acc| _mm512_add_ps(
        acc,
        _mm512_abs_ps(_mm512_sub_ps(x, y))
    ));
    _mm512_reduce_add_ps(acc)
}

#[target_feature(
    enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vpopcntdq,avx512vnni,avx2,fma,f16c,popcnt"
)]
fn cosine_f32_avx512(a: &[f32], b: &[f32]) -> f32 {
    // ab, aa and bb in one pass: 3 FMAs per 16 pairs against dot's 1.
    // Four chains per quantity (12 accumulators, 64 floats per iteration)
    // cover the FMA latency.
    let n = a.len();
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let z = _mm512_setzero_ps();
    let (mut ab, mut aa, mut bb) = ([z; 4], [z; 4], [z; 4]);
    let mut i = align_head(pa, n);
    if i > 0 {
        let m = mask16(i);
        // SAFETY: the mask enables exactly the lanes 0..i <= n, which are in
        // bounds; masked-off lanes are not accessed.
        let (x, y) = unsafe { (_mm512_maskz_loadu_ps(m, pa), _mm512_maskz_loadu_ps(m, pb)) };
        ab[3] = _mm512_fmadd_ps(x, y, ab[3]);
        aa[3] = _mm512_fmadd_ps(x, x, aa[3]);
        bb[3] = _mm512_fmadd_ps(y, y, bb[3]);
    }
    while i + 64 <= n {
        for k in 0..4 {
            // SAFETY: i + 16k + 16 <= i + 64 <= n == a.len() == b.len().
            let (x, y) = unsafe {
                (
                    _mm512_loadu_ps(pa.add(i + 16 * k)),
                    _mm512_loadu_ps(pb.add(i + 16 * k)),
                )
            };
            ab[k] = _mm512_fmadd_ps(x, y, ab[k]);
            aa[k] = _mm512_fmadd_ps(x, x, aa[k]);
            bb[k] = _mm512_fmadd_ps(y, y, bb[k]);
        }
        i += 64;
    }
    // The last 0-63 values: up to 4 vectors, one per chain, the last one
    // masked. The loop is unrolled, so the 12 chains stay in registers.
    let bits = tail_bits(n - i);
    for k in 0..4 {
        let m = (bits >> (16 * k)) as __mmask16;
        if m != 0 {
            // SAFETY: `m` enables exactly the lanes of i + 16k .. n that lie
            // in this vector (at least one, so i + 16k < n and the pointers
            // are in bounds); masked-off lanes are not accessed.
            let (x, y) = unsafe {
                (
                    _mm512_maskz_loadu_ps(m, pa.add(i + 16 * k)),
                    _mm512_maskz_loadu_ps(m, pb.add(i + 16 * k)),
                )
            };
            ab[k] = _mm512_fmadd_ps(x, y, ab[k]);
            aa[k] = _mm512_fmadd_ps(x, x, aa[k]);
            bb[k] = _mm512_fmadd_ps(y, y, bb[k]);
        }
    }
    let sum4 = |v: [__m512; 4]| _mm512_add_ps(_mm512_add_ps(v[0], v[1]), _mm512_add_ps(v[2], v[3]));
    cosine_from_parts(
        _mm512_reduce_add_ps(sum4(ab)),
        _mm512_reduce_add_ps(sum4(aa)),
        _mm512_reduce_add_ps(sum4(bb)),
    )
}

// ---------------------------------------------------------------------------
// Integer kernels.
// ---------------------------------------------------------------------------

/// Mask enabling the first `rem` lanes (`1 <= rem <= 64`) of a 64-lane vector.
#[inline(always)]
fn mask64(rem: usize) -> __mmask64 {
    debug_assert!((1..=64).contains(&rem));
    u64::MAX >> (64 - rem)
}

#[target_feature(
    enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vpopcntdq,avx512vnni,avx2,fma,f16c,popcnt"
)]
fn dot_i8_avx512(a: &[i8], b: &[i8]) -> i32 {
    // `vpdpbusd` multiplies unsigned by signed bytes and adds groups of four
    // products to i32 lanes (wrapping, no saturation). Flipping the sign bit
    // reads x as the unsigned x + 128, so Σ (x + 128)·y - Σ 128·y = Σ x·y,
    // both sums taken modulo 2³² like the scalar reference. Each group of
    // four products lies within ±4·255·128, far inside i32.
    let n = a.len();
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let bias = _mm512_set1_epi8(-128);
    let z = _mm512_setzero_si512();
    let (mut acc, mut corr) = ([z; 2], [z; 2]);
    let mut i = 0;
    while i + 128 <= n {
        for k in 0..2 {
            // SAFETY: i + 64k + 64 <= i + 128 <= n == a.len() == b.len().
            let (x, y) = unsafe {
                (
                    _mm512_loadu_si512(pa.add(i + 64 * k).cast()),
                    _mm512_loadu_si512(pb.add(i + 64 * k).cast()),
                )
            };
            acc[k] = _mm512_dpbusd_epi32(acc[k], _mm512_xor_si512(x, bias), y);
            corr[k] = _mm512_dpbusd_epi32(corr[k], bias, y);
        }
        i += 128;
    }
    while i < n {
        let m = mask64((n - i).min(64));
        // SAFETY: the mask enables exactly the bytes i..min(i + 64, n), which
        // are in bounds; masked-off bytes are not accessed (they read 0,
        // and 0 in `y` adds nothing to either sum).
        let (x, y) = unsafe {
            (
                _mm512_maskz_loadu_epi8(m, pa.add(i)),
                _mm512_maskz_loadu_epi8(m, pb.add(i)),
            )
        };
        acc[0] = _mm512_dpbusd_epi32(acc[0], _mm512_xor_si512(x, bias), y);
        corr[0] = _mm512_dpbusd_epi32(corr[0], bias, y);
        i += 64;
    }
    let s = _mm512_reduce_add_epi32(_mm512_add_epi32(acc[0], acc[1]));
    let c = _mm512_reduce_add_epi32(_mm512_add_epi32(corr[0], corr[1]));
    s.wrapping_sub(c)
}

/// Squared distance of byte vectors, 64 bytes per step: `|x - y|` as an
/// unsigned byte is `max - min` (`$max`/`$min` are the signed or unsigned
/// byte compares of the element type), zero-extended to i16 by unpacking
/// with zeros (which reorders lanes, harmless for a sum), and `vpdpwssd`
/// adds pairs of squares (at most 2·255² = 130050) to i32 lanes, wrapping.
/// The last 1-127 bytes go through masked loads (zero bytes, distance 0).
macro_rules! l2sq_bytes {
    ($a:expr, $b:expr, $max:ident, $min:ident) => {{
        let n = $a.len();
        let (pa, pb) = ($a.as_ptr().cast::<i8>(), $b.as_ptr().cast::<i8>());
        let zero = _mm512_setzero_si512();
        let mut acc = [zero; 4];
        let step = |acc: &mut [__m512i], x: __m512i, y: __m512i| {
            let d = _mm512_sub_epi8($max(x, y), $min(x, y));
            let (lo, hi) = (_mm512_unpacklo_epi8(d, zero), _mm512_unpackhi_epi8(d, zero));
            acc[0] = _mm512_dpwssd_epi32(acc[0], lo, lo);
            acc[1] = _mm512_dpwssd_epi32(acc[1], hi, hi);
        };
        let mut i = 0;
        while i + 128 <= n {
            for (k, pair) in acc.chunks_exact_mut(2).enumerate() {
                // SAFETY: i + 64k + 64 <= i + 128 <= n == a.len() == b.len().
                let (x, y) = unsafe {
                    (
                        _mm512_loadu_si512(pa.add(i + 64 * k).cast()),
                        _mm512_loadu_si512(pb.add(i + 64 * k).cast()),
                    )
                };
                step(pair, x, y);
            }
            i += 128;
        }
        while i < n {
            let m = mask64((n - i).min(64));
            // SAFETY: the mask enables exactly the bytes i..min(i + 64, n),
            // which are in bounds; masked-off bytes are not accessed.
            let (x, y) = unsafe {
                (
                    _mm512_maskz_loadu_epi8(m, pa.add(i)),
                    _mm512_maskz_loadu_epi8(m, pb.add(i)),
                )
            };
            step(&mut acc[..2], x, y);
            i += 64;
        }
        let s = _mm512_add_epi32(
            _mm512_add_epi32(acc[0], acc[1]),
            _mm512_add_epi32(acc[2], acc[3]),
        );
        _mm512_reduce_add_epi32(s) as u32
    }};
}

#[target_feature(
    enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vpopcntdq,avx512vnni,avx2,fma,f16c,popcnt"
)]
fn l2sq_i8_avx512(a: &[i8], b: &[i8]) -> u32 {
    l2sq_bytes!(a, b, _mm512_max_epi8, _mm512_min_epi8)
}

#[target_feature(
    enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vpopcntdq,avx512vnni,avx2,fma,f16c,popcnt"
)]
fn l2sq_u8_avx512(a: &[u8], b: &[u8]) -> u32 {
    l2sq_bytes!(a, b, _mm512_max_epu8, _mm512_min_epu8)
}

/// Population counts of `N` bitwise combinations `f(x, y)` of `a` and `b`,
/// 512 bits per step with `vpopcntq`; the last 1-7 words through one masked
/// load (zero words, which `and`, `or` and `xor` of two zeros keep zero).
macro_rules! count_bits {
    ($a:expr, $b:expr, $n:literal, |$x:ident, $y:ident| $f:expr) => {{
        let (a, b): (&[u64], &[u64]) = ($a, $b);
        let n = a.len();
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut total = [_mm512_setzero_si512(); $n];
        let mut i = 0;
        while i + 8 <= n {
            // SAFETY: i + 8 <= n == a.len() == b.len().
            let ($x, $y) = unsafe {
                (
                    _mm512_loadu_si512(pa.add(i).cast()),
                    _mm512_loadu_si512(pb.add(i).cast()),
                )
            };
            let v: [__m512i; $n] = $f;
            for (t, v) in total.iter_mut().zip(v) {
                *t = _mm512_add_epi64(*t, _mm512_popcnt_epi64(v));
            }
            i += 8;
        }
        if i < n {
            let m = mask8(n - i);
            // SAFETY: the mask enables exactly the n - i < 8 remaining words,
            // which are in bounds; masked-off words are not accessed.
            let ($x, $y) = unsafe {
                (
                    _mm512_maskz_loadu_epi64(m, pa.add(i).cast()),
                    _mm512_maskz_loadu_epi64(m, pb.add(i).cast()),
                )
            };
            let v: [__m512i; $n] = $f;
            for (t, v) in total.iter_mut().zip(v) {
                *t = _mm512_add_epi64(*t, _mm512_popcnt_epi64(v));
            }
        }
        total.map(|t| _mm512_reduce_add_epi64(t) as u64)
    }};
}

#[target_feature(
    enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vpopcntdq,avx512vnni,avx2,fma,f16c,popcnt"
)]
fn hamming_u64_avx512(a: &[u64], b: &[u64]) -> u64 {
    let [c] = count_bits!(a, b, 1, |x, y| [_mm512_xor_si512(x, y)]);
    c
}

#[target_feature(
    enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vpopcntdq,avx512vnni,avx2,fma,f16c,popcnt"
)]
fn jaccard_u64_avx512(a: &[u64], b: &[u64]) -> f32 {
    let [inter, union] = count_bits!(a, b, 2, |x, y| [
        _mm512_and_si512(x, y),
        _mm512_or_si512(x, y)
    ]);
    jaccard_from_counts(inter, union)
}

// ---------------------------------------------------------------------------
// f16 kernels (`vcvtph2ps`, f32 accumulation).
// ---------------------------------------------------------------------------

/// Folds half-precision pairs converted to f32, 16 per step: 2 accumulators
/// over blocks of 32 values, then one masked tail (zero halves convert to
/// 0.0, which every step maps to an unchanged accumulator). Evaluates to the
/// two accumulators.
macro_rules! fold_f16 {
    ($a:expr, $b:expr, |$x:ident, $y:ident, $acc:ident| $step:expr) => {{
        let (a, b): (&[u16], &[u16]) = ($a, $b);
        let n = a.len();
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let z = _mm512_setzero_ps();
        let mut accs = [z; 2];
        let mut i = 0;
        while i + 32 <= n {
            for (k, slot) in accs.iter_mut().enumerate() {
                // SAFETY: i + 16k + 16 <= i + 32 <= n == a.len() == b.len().
                let (ra, rb) = unsafe {
                    (
                        _mm256_loadu_si256(pa.add(i + 16 * k).cast()),
                        _mm256_loadu_si256(pb.add(i + 16 * k).cast()),
                    )
                };
                let ($x, $y) = (_mm512_cvtph_ps(ra), _mm512_cvtph_ps(rb));
                let $acc = *slot;
                *slot = $step;
            }
            i += 32;
        }
        while i < n {
            let m = mask16((n - i).min(16));
            // SAFETY: the mask enables exactly the halves i..min(i + 16, n),
            // which are in bounds; masked-off halves are not accessed.
            let (ra, rb) = unsafe {
                (
                    _mm256_maskz_loadu_epi16(m, pa.add(i).cast()),
                    _mm256_maskz_loadu_epi16(m, pb.add(i).cast()),
                )
            };
            let ($x, $y) = (_mm512_cvtph_ps(ra), _mm512_cvtph_ps(rb));
            let $acc = accs[0];
            accs[0] = $step;
            i += 16;
        }
        accs
    }};
}

#[target_feature(
    enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vpopcntdq,avx512vnni,avx2,fma,f16c,popcnt"
)]
fn dot_f16_avx512(a: &[u16], b: &[u16]) -> f32 {
    let [a0, a1] = fold_f16!(a, b, |x, y, acc| _mm512_fmadd_ps(x, y, acc));
    _mm512_reduce_add_ps(_mm512_add_ps(a0, a1))
}

#[target_feature(
    enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vpopcntdq,avx512vnni,avx2,fma,f16c,popcnt"
)]
fn l2sq_f16_avx512(a: &[u16], b: &[u16]) -> f32 {
    let [a0, a1] = fold_f16!(a, b, |x, y, acc| {
        let d = _mm512_sub_ps(x, y);
        _mm512_fmadd_ps(d, d, acc)
    });
    _mm512_reduce_add_ps(_mm512_add_ps(a0, a1))
}

#[target_feature(
    enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vpopcntdq,avx512vnni,avx2,fma,f16c,popcnt"
)]
fn cosine_f16_avx512(a: &[u16], b: &[u16]) -> f32 {
    let n = a.len();
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let z = _mm512_setzero_ps();
    let (mut ab, mut aa, mut bb) = ([z; 2], [z; 2], [z; 2]);
    let mut i = 0;
    while i + 32 <= n {
        for k in 0..2 {
            // SAFETY: i + 16k + 16 <= i + 32 <= n == a.len() == b.len().
            let (ra, rb) = unsafe {
                (
                    _mm256_loadu_si256(pa.add(i + 16 * k).cast()),
                    _mm256_loadu_si256(pb.add(i + 16 * k).cast()),
                )
            };
            let (x, y) = (_mm512_cvtph_ps(ra), _mm512_cvtph_ps(rb));
            ab[k] = _mm512_fmadd_ps(x, y, ab[k]);
            aa[k] = _mm512_fmadd_ps(x, x, aa[k]);
            bb[k] = _mm512_fmadd_ps(y, y, bb[k]);
        }
        i += 32;
    }
    while i < n {
        let m = mask16((n - i).min(16));
        // SAFETY: the mask enables exactly the halves i..min(i + 16, n),
        // which are in bounds; masked-off halves are not accessed.
        let (ra, rb) = unsafe {
            (
                _mm256_maskz_loadu_epi16(m, pa.add(i).cast()),
                _mm256_maskz_loadu_epi16(m, pb.add(i).cast()),
            )
        };
        let (x, y) = (_mm512_cvtph_ps(ra), _mm512_cvtph_ps(rb));
        ab[0] = _mm512_fmadd_ps(x, y, ab[0]);
        aa[0] = _mm512_fmadd_ps(x, x, aa[0]);
        bb[0] = _mm512_fmadd_ps(y, y, bb[0]);
        i += 16;
    }
    cosine_from_parts(
        _mm512_reduce_add_ps(_mm512_add_ps(ab[0], ab[1])),
        _mm512_reduce_add_ps(_mm512_add_ps(aa[0], aa[1])),
        _mm512_reduce_add_ps(_mm512_add_ps(bb[0], bb[1])),
    )
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
            let mut acc = [_mm512_setzero_ps(); 4];
            let mut i = 0;
            while i + 16 <= dim {
                // SAFETY: i + 16 <= dim == q.len(); row r spans
                // r0 + r·dim .. r0 + (r+1)·dim inside the 4·dim slice.
                unsafe {
                    let $vq = _mm512_loadu_ps(pq.add(i));
                    for (r, slot) in acc.iter_mut().enumerate() {
                        let $x = _mm512_loadu_ps(r0.add(r * dim + i));
                        let $acc = *slot;
                        *slot = $step;
                    }
                }
                i += 16;
            }
            if i < dim {
                let m = mask16(dim - i);
                // SAFETY: the mask enables exactly the dim - i remaining
                // lanes of the query and of each row; masked-off lanes are
                // not accessed.
                unsafe {
                    let $vq = _mm512_maskz_loadu_ps(m, pq.add(i));
                    for (r, slot) in acc.iter_mut().enumerate() {
                        let $x = _mm512_maskz_loadu_ps(m, r0.add(r * dim + i));
                        let $acc = *slot;
                        *slot = $step;
                    }
                }
            }
            for (r, v) in acc.into_iter().enumerate() {
                out[g * 4 + r] = _mm512_reduce_add_ps(v);
            }
        }
        for r in groups * 4..out.len() {
            out[r] = $single(q, &rows[r * dim..(r + 1) * dim]);
        }
    }};
}

#[target_feature(
    enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vpopcntdq,avx512vnni,avx2,fma,f16c,popcnt"
)]
fn dot_f32_many_avx512(q: &[f32], rows: &[f32], out: &mut [f32]) {
    many_f32!(q, rows, out, dot_f32_avx512, |vq, x, acc| _mm512_fmadd_ps(
        vq, x, acc
    ));
}

#[target_feature(
    enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vpopcntdq,avx512vnni,avx2,fma,f16c,popcnt"
)]
fn l2sq_f32_many_avx512(q: &[f32], rows: &[f32], out: &mut [f32]) {
    many_f32!(q, rows, out, l2sq_f32_avx512, |vq, x, acc| {
        let d = _mm512_sub_ps(vq, x);
        _mm512_fmadd_ps(d, d, acc)
    });
}

#[target_feature(
    enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vpopcntdq,avx512vnni,avx2,fma,f16c,popcnt"
)]
fn cosine_f32_many_avx512(q: &[f32], rows: &[f32], out: &mut [f32]) {
    let dim = q.len();
    if dim == 0 {
        out.fill(cosine_from_parts(0.0, 0.0, 0.0));
        return;
    }
    // The query's squared norm, once for all rows.
    let aa = dot_f32_avx512(q, q);
    let pq = q.as_ptr();
    let groups = out.len() / 4;
    for g in 0..groups {
        let base = g * 4 * dim;
        let r0 = rows[base..base + 4 * dim].as_ptr();
        let z = _mm512_setzero_ps();
        let (mut ab, mut bb) = ([z; 4], [z; 4]);
        let mut i = 0;
        while i + 16 <= dim {
            // SAFETY: i + 16 <= dim == q.len(); row r spans
            // r0 + r·dim .. r0 + (r+1)·dim inside the 4·dim slice.
            unsafe {
                let vq = _mm512_loadu_ps(pq.add(i));
                for r in 0..4 {
                    let x = _mm512_loadu_ps(r0.add(r * dim + i));
                    ab[r] = _mm512_fmadd_ps(vq, x, ab[r]);
                    bb[r] = _mm512_fmadd_ps(x, x, bb[r]);
                }
            }
            i += 16;
        }
        if i < dim {
            let m = mask16(dim - i);
            // SAFETY: the mask enables exactly the dim - i remaining lanes of
            // the query and of each row; masked-off lanes are not accessed.
            unsafe {
                let vq = _mm512_maskz_loadu_ps(m, pq.add(i));
                for r in 0..4 {
                    let x = _mm512_maskz_loadu_ps(m, r0.add(r * dim + i));
                    ab[r] = _mm512_fmadd_ps(vq, x, ab[r]);
                    bb[r] = _mm512_fmadd_ps(x, x, bb[r]);
                }
            }
        }
        for r in 0..4 {
            out[g * 4 + r] =
                cosine_from_parts(_mm512_reduce_add_ps(ab[r]), aa, _mm512_reduce_add_ps(bb[r]));
        }
    }
    for r in groups * 4..out.len() {
        out[r] = cosine_f32_avx512(q, &rows[r * dim..(r + 1) * dim]);
    }
}

// ---------------------------------------------------------------------------
// One-to-many f16 and i8 kernels: 4 rows per step share each query load (and
// its conversion). Each row keeps exactly the accumulators, block sizes,
// masks and reduction of the one-to-one kernel, so `out[r]` equals it bit
// for bit; rows left over (fewer than 4) go through the one-to-one kernel.
// ---------------------------------------------------------------------------

/// `fold_f16!` over 4 rows at once: `$step(x, y, acc)` with `x` the query's
/// converted halves and `y` a row's, each accumulator starting at `$z`.
/// Evaluates to each row's 2 accumulators.
///
/// `$r0` points at 4 rows of `$q.len()` halves each, in bounds.
macro_rules! fold_f16_4 {
    ($q:expr, $r0:expr, $z:expr, |$x:ident, $y:ident, $acc:ident| $step:expr) => {{
        let q: &[u16] = $q;
        let r0: *const u16 = $r0;
        let n = q.len();
        let pq = q.as_ptr();
        let z = $z;
        let mut accs = [[z; 2]; 4];
        let mut i = 0;
        while i + 32 <= n {
            for k in 0..2 {
                // SAFETY: i + 16k + 16 <= i + 32 <= n == q.len(); row r spans
                // r0 + r·n .. r0 + (r+1)·n, in bounds by the caller.
                unsafe {
                    let $x = _mm512_cvtph_ps(_mm256_loadu_si256(pq.add(i + 16 * k).cast()));
                    for (r, row) in accs.iter_mut().enumerate() {
                        let $y =
                            _mm512_cvtph_ps(_mm256_loadu_si256(r0.add(r * n + i + 16 * k).cast()));
                        let $acc = row[k];
                        row[k] = $step;
                    }
                }
            }
            i += 32;
        }
        while i < n {
            let m = mask16((n - i).min(16));
            // SAFETY: the mask enables exactly the halves i..min(i + 16, n)
            // of the query and of each row, which are in bounds; masked-off
            // halves are not accessed.
            unsafe {
                let $x = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, pq.add(i).cast()));
                for (r, row) in accs.iter_mut().enumerate() {
                    let $y = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, r0.add(r * n + i).cast()));
                    let $acc = row[0];
                    row[0] = $step;
                }
            }
            i += 16;
        }
        accs
    }};
}

/// Runs `$group(q, r0) -> [$o; 4]` over groups of 4 rows and `$single` over
/// the rest; a zero-dimensional query gives `$single`'s value for empty
/// vectors.
macro_rules! many_rows {
    ($q:expr, $rows:expr, $out:expr, $single:ident, |$gq:ident, $gr:ident| $group:expr) => {{
        let (q, rows, out) = ($q, $rows, $out);
        let dim = q.len();
        if dim == 0 {
            out.fill($single(&[], &[]));
            return;
        }
        let mut out_groups = out.chunks_exact_mut(4);
        let mut row_groups = rows.chunks_exact(4 * dim);
        for (o, g) in (&mut out_groups).zip(&mut row_groups) {
            let ($gq, $gr) = (q, g.as_ptr());
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

#[target_feature(
    enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vpopcntdq,avx512vnni,avx2,fma,f16c,popcnt"
)]
fn dot_f16_many_avx512(q: &[u16], rows: &[u16], out: &mut [f32]) {
    many_rows!(q, rows, out, dot_f16_avx512, |q, r0| {
        fold_f16_4!(q, r0, _mm512_setzero_ps(), |x, y, acc| _mm512_fmadd_ps(
            x, y, acc
        ))
        .map(|[a0, a1]| _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)))
    });
}

#[target_feature(
    enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vpopcntdq,avx512vnni,avx2,fma,f16c,popcnt"
)]
fn l2sq_f16_many_avx512(q: &[u16], rows: &[u16], out: &mut [f32]) {
    many_rows!(q, rows, out, l2sq_f16_avx512, |q, r0| {
        fold_f16_4!(q, r0, _mm512_setzero_ps(), |x, y, acc| {
            let d = _mm512_sub_ps(x, y);
            _mm512_fmadd_ps(d, d, acc)
        })
        .map(|[a0, a1]| _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)))
    });
}

#[target_feature(
    enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vpopcntdq,avx512vnni,avx2,fma,f16c,popcnt"
)]
fn cosine_f16_many_avx512(q: &[u16], rows: &[u16], out: &mut [f32]) {
    // The query's squared norm, once, with the accumulators of
    // `cosine_f16_avx512` (its `aa` depends on the query alone).
    let [q0, q1] = fold_f16!(q, q, |x, _y, acc| _mm512_fmadd_ps(x, x, acc));
    let aa = _mm512_reduce_add_ps(_mm512_add_ps(q0, q1));
    many_rows!(q, rows, out, cosine_f16_avx512, |q, r0| {
        // Each accumulator is a (dot, row norm) pair.
        let z = _mm512_setzero_ps();
        fold_f16_4!(q, r0, (z, z), |x, y, acc| (
            _mm512_fmadd_ps(x, y, acc.0),
            _mm512_fmadd_ps(y, y, acc.1)
        ))
        .map(|[(ab0, bb0), (ab1, bb1)]| {
            cosine_from_parts(
                _mm512_reduce_add_ps(_mm512_add_ps(ab0, ab1)),
                aa,
                _mm512_reduce_add_ps(_mm512_add_ps(bb0, bb1)),
            )
        })
    });
}

#[target_feature(
    enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vpopcntdq,avx512vnni,avx2,fma,f16c,popcnt"
)]
fn dot_i8_many_avx512(q: &[i8], rows: &[i8], out: &mut [i32]) {
    // `vpdpbusd` with the roles of `dot_i8_avx512` swapped: each row is the
    // unsigned operand (sign-flipped: y + 128) and the query the signed one,
    // so Σ x·(y + 128) - 128·Σ x = Σ x·y, and the correction 128·Σ x
    // depends on the query alone (computed once). Every group of four
    // products lies within ±4·255·128; integer sums modulo 2³² do not
    // depend on the order, so results equal `dot_i8_avx512` exactly.
    let bias = _mm512_set1_epi8(-128);
    let n = q.len();
    let pq = q.as_ptr();
    let mut corr = _mm512_setzero_si512();
    let mut i = 0;
    while i < n {
        let m = mask64((n - i).min(64));
        // SAFETY: the mask enables exactly the bytes i..min(i + 64, n) of the
        // query, which are in bounds; masked-off bytes are not accessed.
        let x = unsafe { _mm512_maskz_loadu_epi8(m, pq.add(i)) };
        corr = _mm512_dpbusd_epi32(corr, bias, x);
        i += 64;
    }
    let corr = _mm512_reduce_add_epi32(corr);
    many_rows!(q, rows, out, dot_i8_avx512, |q, r0| {
        let z = _mm512_setzero_si512();
        let mut acc = [z; 4];
        let mut i = 0;
        while i < n {
            let m = mask64((n - i).min(64));
            // SAFETY: the mask enables exactly the bytes i..min(i + 64, n) of
            // the query and of each row (row r spans r0 + r·n .. r0 + (r+1)·n,
            // in bounds); masked-off bytes are not accessed (they read 0 in
            // `x`, which adds nothing).
            unsafe {
                let x = _mm512_maskz_loadu_epi8(m, q.as_ptr().add(i));
                for (r, a) in acc.iter_mut().enumerate() {
                    let y = _mm512_maskz_loadu_epi8(m, r0.add(r * n + i));
                    *a = _mm512_dpbusd_epi32(*a, _mm512_xor_si512(y, bias), x);
                }
            }
            i += 64;
        }
        acc.map(|a| _mm512_reduce_add_epi32(a).wrapping_sub(corr))
    });
}

#[target_feature(
    enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vpopcntdq,avx512vnni,avx2,fma,f16c,popcnt"
)]
fn l2sq_i8_many_avx512(q: &[i8], rows: &[i8], out: &mut [u32]) {
    // As `l2sq_i8_avx512`: |x - y| as max - min, widened with zeros, squares
    // paired by `vpdpwssd` (wrapping i32 lanes; exact modulo 2³² in any order).
    let zero = _mm512_setzero_si512();
    many_rows!(q, rows, out, l2sq_i8_avx512, |q, r0| {
        let n = q.len();
        let pq = q.as_ptr();
        // Two chains per row (low and high byte halves), as the one-to-one
        // kernel's pair of accumulators.
        let mut acc = [[zero; 2]; 4];
        let mut i = 0;
        while i < n {
            let m = mask64((n - i).min(64));
            // SAFETY: the mask enables exactly the bytes i..min(i + 64, n) of
            // the query and of each row (row r spans r0 + r·n .. r0 + (r+1)·n,
            // in bounds); masked-off bytes are not accessed (zero in both,
            // distance 0).
            unsafe {
                let x = _mm512_maskz_loadu_epi8(m, pq.add(i));
                for (r, a) in acc.iter_mut().enumerate() {
                    let y = _mm512_maskz_loadu_epi8(m, r0.add(r * n + i));
                    let d = _mm512_sub_epi8(_mm512_max_epi8(x, y), _mm512_min_epi8(x, y));
                    let (lo, hi) = (_mm512_unpacklo_epi8(d, zero), _mm512_unpackhi_epi8(d, zero));
                    a[0] = _mm512_dpwssd_epi32(a[0], lo, lo);
                    a[1] = _mm512_dpwssd_epi32(a[1], hi, hi);
                }
            }
            i += 64;
        }
        acc.map(|[a0, a1]| _mm512_reduce_add_epi32(_mm512_add_epi32(a0, a1)) as u32)
    });
}

// ---------------------------------------------------------------------------
// Statistics (f64 accumulation).
// ---------------------------------------------------------------------------

/// Folds f32 values widened to f64, 8 per step: `$step(x, acc, mask)` with 4
/// accumulators over blocks of 32, then up to 4 masked steps (masked-off
/// lanes load 0.0; `mask` lets a step ignore them where 0.0 is not neutral).
/// Evaluates to the sum of the accumulators.
macro_rules! fold_f64 {
    ($v:expr, |$x:ident, $acc:ident, $m:ident| $step:expr) => {{
        let v: &[f32] = $v;
        let n = v.len();
        let p = v.as_ptr();
        let mut acc = [_mm512_setzero_pd(); 4];
        let mut i = 0;
        while i + 32 <= n {
            for (k, slot) in acc.iter_mut().enumerate() {
                // SAFETY: i + 8k + 8 <= i + 32 <= n == v.len().
                let $x = _mm512_cvtps_pd(unsafe { _mm256_loadu_ps(p.add(i + 8 * k)) });
                let $m: __mmask8 = 0xFF;
                let $acc = *slot;
                *slot = $step;
            }
            i += 32;
        }
        // The last 0-31 values: up to 4 masked steps, one per chain.
        let bits = (1u64 << (n - i)) - 1;
        for (k, slot) in acc.iter_mut().enumerate() {
            let $m = (bits >> (8 * k)) as __mmask8;
            if $m != 0 {
                // SAFETY: the mask enables exactly the lanes of i + 8k .. n
                // in this step (at least one, so the pointer is in bounds);
                // masked-off lanes are not accessed.
                let $x = _mm512_cvtps_pd(unsafe { _mm256_maskz_loadu_ps($m, p.add(i + 8 * k)) });
                let $acc = *slot;
                *slot = $step;
            }
        }
        _mm512_add_pd(_mm512_add_pd(acc[0], acc[1]), _mm512_add_pd(acc[2], acc[3]))
    }};
}

#[target_feature(
    enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vpopcntdq,avx512vnni,avx2,fma,f16c,popcnt"
)]
fn sum_f32_avx512(v: &[f32]) -> f64 {
    let s = fold_f64!(v, |x, acc, _m| _mm512_add_pd(acc, x));
    _mm512_reduce_add_pd(s)
}

#[target_feature(
    enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vpopcntdq,avx512vnni,avx2,fma,f16c,popcnt"
)]
fn sum_sq_dev_f32_avx512(v: &[f32], mean: f64) -> f64 {
    let mean = _mm512_set1_pd(mean);
    // Masked-off lanes get a zero deviation (not 0.0 - mean).
    let s = fold_f64!(v, |x, acc, m| {
        let d = _mm512_maskz_sub_pd(m, x, mean);
        _mm512_fmadd_pd(d, d, acc)
    });
    _mm512_reduce_add_pd(s)
}

#[target_feature(
    enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vpopcntdq,avx512vnni,avx2,fma,f16c,popcnt"
)]
fn min_max_i64_avx512(v: &[i64]) -> Option<(i64, i64)> {
    // `vpminsq`/`vpmaxsq`, two accumulators each, then one masked vector
    // per 8 values left (masked-off lanes keep their accumulator).
    let (&first, _) = v.split_first()?;
    let n = v.len();
    let p = v.as_ptr();
    let mut lo = [_mm512_set1_epi64(first); 2];
    let mut hi = lo;
    let mut i = 0;
    while i + 16 <= n {
        for k in 0..2 {
            // SAFETY: i + 8k + 8 <= i + 16 <= n == v.len(); unaligned load.
            let x = unsafe { _mm512_loadu_si512(p.add(i + 8 * k).cast()) };
            lo[k] = _mm512_min_epi64(lo[k], x);
            hi[k] = _mm512_max_epi64(hi[k], x);
        }
        i += 16;
    }
    while i < n {
        let m = mask8((n - i).min(8));
        // SAFETY: the mask enables exactly the values i..min(i + 8, n),
        // which are in bounds; masked-off lanes are not accessed.
        let x = unsafe { _mm512_maskz_loadu_epi64(m, p.add(i)) };
        lo[0] = _mm512_mask_min_epi64(lo[0], m, lo[0], x);
        hi[0] = _mm512_mask_max_epi64(hi[0], m, hi[0], x);
        i += 8;
    }
    Some((
        _mm512_reduce_min_epi64(_mm512_min_epi64(lo[0], lo[1])),
        _mm512_reduce_max_epi64(_mm512_max_epi64(hi[0], hi[1])),
    ))
}

#[target_feature(
    enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vpopcntdq,avx512vnni,avx2,fma,f16c,popcnt"
)]
fn min_max_f32_avx512(v: &[f32]) -> Option<(f32, f32)> {
    // `vminps(x, lo)` returns its second operand when either is NaN, so a NaN
    // in `x` leaves `lo` unchanged: NaN is ignored without a compare. `lo`
    // starts at +inf and `hi` at -inf; any non-NaN value v then gives
    // lo <= v <= hi, so `lo > hi` at the end means "no non-NaN value".
    let n = v.len();
    let p = v.as_ptr();
    let mut lo = [_mm512_set1_ps(f32::INFINITY); 2];
    let mut hi = [_mm512_set1_ps(f32::NEG_INFINITY); 2];
    let mut i = 0;
    while i + 32 <= n {
        for k in 0..2 {
            // SAFETY: i + 16k + 16 <= i + 32 <= n == v.len().
            let x = unsafe { _mm512_loadu_ps(p.add(i + 16 * k)) };
            lo[k] = _mm512_min_ps(x, lo[k]);
            hi[k] = _mm512_max_ps(x, hi[k]);
        }
        i += 32;
    }
    while i < n {
        let m = mask16((n - i).min(16));
        // SAFETY: the mask enables exactly the values i..min(i + 16, n),
        // which are in bounds; masked-off lanes are not accessed.
        let x = unsafe { _mm512_maskz_loadu_ps(m, p.add(i)) };
        // Masked-off lanes keep their accumulator.
        lo[0] = _mm512_mask_min_ps(lo[0], m, x, lo[0]);
        hi[0] = _mm512_mask_max_ps(hi[0], m, x, hi[0]);
        i += 16;
    }
    let l = _mm512_reduce_min_ps(_mm512_min_ps(lo[0], lo[1]));
    let h = _mm512_reduce_max_ps(_mm512_max_ps(hi[0], hi[1]));
    if l > h {
        None
    } else {
        Some((l, h))
    }
}
