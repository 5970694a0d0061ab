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
//! - The f32 and f16 folds, the one-to-many f32 and f16 kernels and the bit
//!   kernels are the shared loops of `lanes.rs` over [`Avx2`], the lane
//!   token of this path: 4 independent 8-wide accumulators (32 floats per
//!   iteration) hide the FMA latency (4-5 cycles), so the loop is limited
//!   by the two loads per cycle; `cosine` keeps 4 chains per quantity
//!   (12 accumulators). The one-to-many kernels score 4 f32 rows (2 f16
//!   rows, 4 accumulators each) per query load.
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
use crate::lanes::{self, BitLanes, Dot, Lanes, L1, L2};

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
    min_max_i64: min_max_i64_avx2,
    stream_decode: super::stream_vbyte::decode_avx2::<false>,
    stream_decode_delta: super::stream_vbyte::decode_avx2::<true>,
    stream_blocks: Some((
        super::stream_vbyte::encode_blocks::<false>,
        super::stream_vbyte::encode_blocks::<true>,
    )),
    unpack_u32: super::bitpack::unpack_u32_avx2,
    pack_u32: super::bitpack::pack_u32_avx2,
    pq4_fastscan: super::pq4::fastscan_avx2,
    rans16_decode: super::rans::decode_avx2,
};

// ---------------------------------------------------------------------------
// The lane token and the shared loops' kernels.
// ---------------------------------------------------------------------------

/// The lane token of this path (`lanes.rs`): a value exists only where
/// AVX2, FMA, F16C and POPCNT do, because its one constructor is a
/// `#[target_feature]` function, which only code already compiled for
/// those features may call without `unsafe` (this module's kernels).
#[derive(Clone, Copy)]
pub(crate) struct Avx2(());

impl Avx2 {
    /// The token; see the type's documentation.
    #[target_feature(enable = "avx2,fma,f16c,popcnt")]
    fn new() -> Avx2 {
        Avx2(())
    }
}

// Every method below calls intrinsics of AVX, AVX2, FMA or F16C (or SSE2,
// part of x86-64), which `self` proves present; loads read only inside the
// slices they are given.
impl Lanes for Avx2 {
    type F32 = __m256;
    const N: usize = 8;
    const PAIR_ROWS: bool = false;

    #[inline(always)]
    fn zero(self) -> __m256 {
        // SAFETY: `self` proves AVX; register-only.
        unsafe { _mm256_setzero_ps() }
    }

    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> __m256 {
        // SAFETY: `self` proves AVX; the caller guarantees the 8 values.
        unsafe { _mm256_loadu_ps(p) }
    }

    #[inline(always)]
    fn load_partial(self, s: &[f32]) -> __m256 {
        let mask = tail_mask(s.len());
        // SAFETY: `self` proves AVX; the mask enables the first
        // `min(s.len(), 8)` lanes, which lie in `s`, and masked-off lanes
        // are not accessed.
        unsafe { _mm256_maskload_ps(s.as_ptr(), mask) }
    }

    #[inline(always)]
    unsafe fn load_f16(self, p: *const u16) -> __m256 {
        // SAFETY: `self` proves AVX and F16C; the caller guarantees the 8
        // halves (16 bytes).
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast())) }
    }

    #[inline(always)]
    fn load_f16_partial(self, s: &[u16]) -> __m256 {
        let mut buf = [0u16; 8];
        let k = s.len().min(8);
        buf[..k].copy_from_slice(&s[..k]);
        // SAFETY: `buf` holds 8 halves.
        unsafe { self.load_f16(buf.as_ptr()) }
    }

    #[inline(always)]
    fn add(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: `self` proves AVX; register-only.
        unsafe { _mm256_add_ps(a, b) }
    }

    #[inline(always)]
    fn sub(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: `self` proves AVX; register-only.
        unsafe { _mm256_sub_ps(a, b) }
    }

    #[inline(always)]
    fn mul_add(self, a: __m256, b: __m256, c: __m256) -> __m256 {
        // SAFETY: `self` proves FMA; register-only.
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }

    #[inline(always)]
    fn abs_diff(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: `self` proves AVX; register-only. Clearing the sign bit
        // is `abs`.
        unsafe { _mm256_andnot_ps(_mm256_set1_ps(-0.0), _mm256_sub_ps(a, b)) }
    }

    #[inline(always)]
    fn reduce_add(self, v: __m256) -> f32 {
        // SAFETY: `self` proves AVX; register-only.
        unsafe {
            let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            let s = _mm_add_ss(s, _mm_movehdup_ps(s));
            _mm_cvtss_f32(s)
        }
    }
}

impl BitLanes for Avx2 {
    type Bits = __m256i;
    const WORDS: usize = 4;
    type Counts = __m256i;

    #[inline(always)]
    unsafe fn load_bits(self, p: *const u64) -> __m256i {
        // SAFETY: `self` proves AVX; the caller guarantees the 32 bytes.
        unsafe { _mm256_loadu_si256(p.cast()) }
    }

    #[inline(always)]
    fn xor(self, a: __m256i, b: __m256i) -> __m256i {
        // SAFETY: `self` proves AVX2; register-only.
        unsafe { _mm256_xor_si256(a, b) }
    }

    #[inline(always)]
    fn and(self, a: __m256i, b: __m256i) -> __m256i {
        // SAFETY: `self` proves AVX2; register-only.
        unsafe { _mm256_and_si256(a, b) }
    }

    #[inline(always)]
    fn or(self, a: __m256i, b: __m256i) -> __m256i {
        // SAFETY: `self` proves AVX2; register-only.
        unsafe { _mm256_or_si256(a, b) }
    }

    #[inline(always)]
    fn zero_bits(self) -> __m256i {
        // SAFETY: `self` proves AVX; register-only.
        unsafe { _mm256_setzero_si256() }
    }

    #[inline(always)]
    fn add_byte_counts(self, acc: __m256i, v: __m256i) -> __m256i {
        // Mula's method: each nibble looks up its count in a 16-entry
        // table with `vpshufb`, and the two are added.
        // SAFETY: `self` proves AVX2; register-only.
        unsafe {
            let lut = _mm256_setr_epi8(
                0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, //
                0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
            );
            let low = _mm256_set1_epi8(0x0F);
            let lo = _mm256_and_si256(v, low);
            let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(v), low);
            let counts =
                _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi));
            _mm256_add_epi8(acc, counts)
        }
    }

    #[inline(always)]
    fn zero_counts(self) -> __m256i {
        self.zero_bits()
    }

    #[inline(always)]
    fn add_counts(self, c: __m256i, bytes: __m256i) -> __m256i {
        // SAFETY: `self` proves AVX2; register-only. `vpsadbw` against zero
        // adds each group of 8 bytes into a u64 lane.
        unsafe { _mm256_add_epi64(c, _mm256_sad_epu8(bytes, _mm256_setzero_si256())) }
    }

    #[inline(always)]
    fn total(self, c: __m256i) -> u64 {
        // SAFETY: `self` proves AVX2; register-only.
        unsafe {
            let s = _mm_add_epi64(_mm256_castsi256_si128(c), _mm256_extracti128_si256::<1>(c));
            let s = _mm_add_epi64(s, _mm_unpackhi_epi64(s, s));
            _mm_cvtsi128_si64(s) as u64
        }
    }
}

/// Eight lanes of -1 followed by eight lanes of 0: loading 8 values at
/// `MASKS[8 - rem..]` gives a mask that enables the first `rem` lanes.
static MASKS: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];

/// Mask enabling the first `min(rem, 8)` lanes.
#[inline(always)]
fn tail_mask(rem: usize) -> __m256i {
    let m = &MASKS[8 - rem.min(8)..][..8];
    // SAFETY: `m` holds the 8 values (32 bytes) read; an unaligned AVX load
    // (AVX is part of every CPU this module runs on; its callers are
    // `Avx2` methods).
    unsafe { _mm256_loadu_si256(m.as_ptr().cast()) }
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn dot_f32_avx2(a: &[f32], b: &[f32]) -> f32 {
    lanes::pair::<_, Dot, _>(Avx2::new(), a, b)
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn l2sq_f32_avx2(a: &[f32], b: &[f32]) -> f32 {
    lanes::pair::<_, L2, _>(Avx2::new(), a, b)
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn l1_f32_avx2(a: &[f32], b: &[f32]) -> f32 {
    lanes::pair::<_, L1, _>(Avx2::new(), a, b)
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn cosine_f32_avx2(a: &[f32], b: &[f32]) -> f32 {
    // 3 FMAs per 8 pairs, so the loop is bound by the two FMA ports (1.5
    // cycles per 8 pairs against dot's 1, limited by two loads per cycle).
    // Four chains per quantity (12 accumulators) give 12 independent FMAs
    // per iteration, enough to cover the FMA latency; two per quantity
    // would be latency-bound.
    lanes::cosine::<_, f32, 4>(Avx2::new(), a, b)
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn dot_f16_avx2(a: &[u16], b: &[u16]) -> f32 {
    lanes::pair::<_, Dot, _>(Avx2::new(), a, b)
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn l2sq_f16_avx2(a: &[u16], b: &[u16]) -> f32 {
    lanes::pair::<_, L2, _>(Avx2::new(), a, b)
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn cosine_f16_avx2(a: &[u16], b: &[u16]) -> f32 {
    // The conversions take the load ports' place as the bound; two chains
    // per quantity suffice.
    lanes::cosine::<_, u16, 2>(Avx2::new(), a, b)
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn dot_f32_many_avx2(q: &[f32], rows: &[f32], out: &mut [f32]) {
    lanes::f32_many::<_, Dot>(Avx2::new(), q, rows, out);
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn l2sq_f32_many_avx2(q: &[f32], rows: &[f32], out: &mut [f32]) {
    lanes::f32_many::<_, L2>(Avx2::new(), q, rows, out);
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn cosine_f32_many_avx2(q: &[f32], rows: &[f32], out: &mut [f32]) {
    lanes::cosine_f32_many::<_, 4>(Avx2::new(), q, rows, out);
}

// The f16 one-to-many kernels: 2 rows per step (4 accumulators per row
// fill 8 of the 16 registers), each row computed exactly as by the
// one-to-one kernel, so `out[r]` equals it bit for bit.

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn dot_f16_many_avx2(q: &[u16], rows: &[u16], out: &mut [f32]) {
    lanes::f16_many::<_, Dot, 2>(Avx2::new(), q, rows, out);
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn l2sq_f16_many_avx2(q: &[u16], rows: &[u16], out: &mut [f32]) {
    lanes::f16_many::<_, L2, 2>(Avx2::new(), q, rows, out);
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn cosine_f16_many_avx2(q: &[u16], rows: &[u16], out: &mut [f32]) {
    lanes::cosine_f16_many::<_, 2, 2>(Avx2::new(), q, rows, out);
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn hamming_u64_avx2(a: &[u64], b: &[u64]) -> u64 {
    lanes::hamming(Avx2::new(), a, b)
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn jaccard_u64_avx2(a: &[u64], b: &[u64]) -> f32 {
    lanes::jaccard(Avx2::new(), a, b)
}

// ---------------------------------------------------------------------------
// Horizontal sums of the hand-written kernels below. `#[inline(always)]` so
// they are compiled inside the callers' `target_feature` context; each is
// `unsafe` because it needs AVX/AVX2.
// ---------------------------------------------------------------------------

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
fn min_max_i64_avx2(v: &[i64]) -> Option<(i64, i64)> {
    // `vpcmpgtq` and a blend per bound; two accumulators each.
    let (&first, _) = v.split_first()?;
    let n = v.len();
    let p = v.as_ptr();
    let mut lo = [_mm256_set1_epi64x(first); 2];
    let mut hi = lo;
    let mut i = 0;
    while i + 8 <= n {
        for k in 0..2 {
            // SAFETY: i + 4k + 4 <= i + 8 <= n == v.len(); unaligned load.
            let x = unsafe { _mm256_loadu_si256(p.add(i + 4 * k).cast()) };
            lo[k] = _mm256_blendv_epi8(lo[k], x, _mm256_cmpgt_epi64(lo[k], x));
            hi[k] = _mm256_blendv_epi8(hi[k], x, _mm256_cmpgt_epi64(x, hi[k]));
        }
        i += 8;
    }
    let (mut l, mut h) = ([0i64; 4], [0i64; 4]);
    let lo = _mm256_blendv_epi8(lo[0], lo[1], _mm256_cmpgt_epi64(lo[0], lo[1]));
    let hi = _mm256_blendv_epi8(hi[0], hi[1], _mm256_cmpgt_epi64(hi[1], hi[0]));
    // SAFETY: each array holds 4 i64.
    unsafe {
        _mm256_storeu_si256(l.as_mut_ptr().cast(), lo);
        _mm256_storeu_si256(h.as_mut_ptr().cast(), hi);
    }
    let mut lo = l.into_iter().min().unwrap_or(first);
    let mut hi = h.into_iter().max().unwrap_or(first);
    for &x in &v[i..] {
        lo = lo.min(x);
        hi = hi.max(x);
    }
    Some((lo, hi))
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
// One-to-many i8 kernels: 4 rows per step share each query load and its
// widening; i8 sums are exact modulo 2³² in any order. Rows left over go
// through the one-to-one kernel.
// ---------------------------------------------------------------------------

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
    lanes::many_rows!(4, q, rows, out, |a, b| dot_i8_avx2(a, b), |g| {
        let (sums, i) = fold_i8_4!(q, g, |x, y| _mm256_madd_epi16(x, y));
        std::array::from_fn::<i32, 4, _>(|r| {
            sums[r].wrapping_add(crate::scalar::dot_i8(&q[i..], &g[r][i..]))
        })
    });
}

#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn l2sq_i8_many_avx2(q: &[i8], rows: &[i8], out: &mut [u32]) {
    // As `l2sq_i8_avx2`: differences in [-255, 255], madd pairs at most 130050.
    lanes::many_rows!(4, q, rows, out, |a, b| l2sq_i8_avx2(a, b), |g| {
        let (sums, i) = fold_i8_4!(q, g, |x, y| {
            let d = _mm256_sub_epi16(x, y);
            _mm256_madd_epi16(d, d)
        });
        std::array::from_fn::<u32, 4, _>(|r| {
            (sums[r] as u32).wrapping_add(crate::scalar::l2sq_i8(&q[i..], &g[r][i..]))
        })
    });
}
