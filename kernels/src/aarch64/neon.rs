//! The NEON path, written with `std::arch::aarch64` intrinsics.
//!
//! Every kernel is a function compiled with
//! `#[target_feature(enable = "neon")]`, stored in [`TABLE`] as an `unsafe
//! fn` pointer that only the `Kernels` methods call; a `&Kernels` of this
//! path comes only from `Kernels::for_isa(Isa::Neon)`, which requires
//! run-time detection of NEON.
//!
//! Design notes:
//! - The f32 and f16 folds, the one-to-many f32 and f16 kernels and the bit
//!   kernels are the shared loops of `lanes.rs` over [`Neon`], the lane
//!   token of this path: 4 independent 4-wide FMA accumulators (16 floats
//!   per iteration), 2 chains per quantity in `cosine`, 4 f32 rows (2 f16
//!   rows, 4 accumulators each) per query load; tails go through a
//!   zero-padded stack buffer, so nothing outside the slices is read.
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
use crate::lanes::{self, BitLanes, Dot, Lanes, L1, L2};

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
    min_max_i64: min_max_i64_neon,
    stream_decode: super::stream_vbyte::decode_neon::<false>,
    stream_decode_delta: super::stream_vbyte::decode_neon::<true>,
    stream_blocks: Some((
        super::stream_vbyte::encode_blocks::<false>,
        super::stream_vbyte::encode_blocks::<true>,
    )),
    unpack_u32: super::bitpack::unpack_u32_neon,
    pack_u32: super::bitpack::pack_u32_neon,
    pq4_fastscan: super::pq4::fastscan_neon,
    rans16_decode: crate::rans::decode_scalar,
};

// ---------------------------------------------------------------------------
// The lane token and the shared loops' kernels.
// ---------------------------------------------------------------------------

/// The lane token of this path (`lanes.rs`): a value exists only where
/// NEON does, because its one constructor is a `#[target_feature]`
/// function, which only code already compiled for NEON may call without
/// `unsafe` (this module's kernels).
#[derive(Clone, Copy)]
pub(crate) struct Neon(());

impl Neon {
    /// The token; see the type's documentation.
    #[target_feature(enable = "neon")]
    fn new() -> Neon {
        Neon(())
    }
}

// Every method below calls NEON intrinsics, which `self` proves present;
// loads read only inside the slices they are given (or the `N` values the
// caller of `load`/`load_f16` guarantees).
impl Lanes for Neon {
    type F32 = float32x4_t;
    const N: usize = 4;

    #[inline(always)]
    fn zero(self) -> float32x4_t {
        // SAFETY: `self` proves NEON; register-only.
        unsafe { vdupq_n_f32(0.0) }
    }

    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> float32x4_t {
        // SAFETY: `self` proves NEON; the caller guarantees the 4 values.
        unsafe { vld1q_f32(p) }
    }

    #[inline(always)]
    fn load_partial(self, s: &[f32]) -> float32x4_t {
        let mut buf = [0.0f32; 4];
        let k = s.len().min(4);
        buf[..k].copy_from_slice(&s[..k]);
        // SAFETY: `buf` holds 4 values.
        unsafe { self.load(buf.as_ptr()) }
    }

    #[inline(always)]
    unsafe fn load_f16(self, p: *const u16) -> float32x4_t {
        // SAFETY: `self` proves NEON; the caller guarantees the 4 halves.
        unsafe { half4(vmovl_u16(vld1_u16(p))) }
    }

    #[inline(always)]
    unsafe fn load_f16_x2(self, p: *const u16) -> [float32x4_t; 2] {
        // SAFETY: `self` proves NEON; the caller guarantees the 8 halves.
        unsafe {
            let h = vld1q_u16(p);
            [half4(vmovl_u16(vget_low_u16(h))), half4(vmovl_high_u16(h))]
        }
    }

    #[inline(always)]
    fn load_f16_partial(self, s: &[u16]) -> float32x4_t {
        let mut buf = [0u16; 4];
        let k = s.len().min(4);
        buf[..k].copy_from_slice(&s[..k]);
        // SAFETY: `buf` holds 4 halves.
        unsafe { self.load_f16(buf.as_ptr()) }
    }

    #[inline(always)]
    fn add(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: `self` proves NEON; register-only.
        unsafe { vaddq_f32(a, b) }
    }

    #[inline(always)]
    fn sub(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: `self` proves NEON; register-only.
        unsafe { vsubq_f32(a, b) }
    }

    #[inline(always)]
    fn mul_add(self, a: float32x4_t, b: float32x4_t, c: float32x4_t) -> float32x4_t {
        // SAFETY: `self` proves NEON; register-only.
        unsafe { vfmaq_f32(c, a, b) }
    }

    #[inline(always)]
    fn abs_diff(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // vabd = |a - b| with a single rounding, identical to abs(a - b).
        // SAFETY: `self` proves NEON; register-only.
        unsafe { vabdq_f32(a, b) }
    }

    #[inline(always)]
    fn reduce_add(self, v: float32x4_t) -> f32 {
        // SAFETY: `self` proves NEON; register-only.
        unsafe { vaddvq_f32(v) }
    }
}

impl BitLanes for Neon {
    type Bits = uint8x16_t;
    const WORDS: usize = 2;
    type Counts = uint64x2_t;

    #[inline(always)]
    unsafe fn load_bits(self, p: *const u64) -> uint8x16_t {
        // SAFETY: `self` proves NEON; the caller guarantees the 16 bytes.
        unsafe { vld1q_u8(p.cast()) }
    }

    #[inline(always)]
    fn xor(self, a: uint8x16_t, b: uint8x16_t) -> uint8x16_t {
        // SAFETY: `self` proves NEON; register-only.
        unsafe { veorq_u8(a, b) }
    }

    #[inline(always)]
    fn and(self, a: uint8x16_t, b: uint8x16_t) -> uint8x16_t {
        // SAFETY: `self` proves NEON; register-only.
        unsafe { vandq_u8(a, b) }
    }

    #[inline(always)]
    fn or(self, a: uint8x16_t, b: uint8x16_t) -> uint8x16_t {
        // SAFETY: `self` proves NEON; register-only.
        unsafe { vorrq_u8(a, b) }
    }

    #[inline(always)]
    fn zero_bits(self) -> uint8x16_t {
        // SAFETY: `self` proves NEON; register-only.
        unsafe { vdupq_n_u8(0) }
    }

    #[inline(always)]
    fn add_byte_counts(self, acc: uint8x16_t, v: uint8x16_t) -> uint8x16_t {
        // SAFETY: `self` proves NEON; register-only.
        unsafe { vaddq_u8(acc, vcntq_u8(v)) }
    }

    #[inline(always)]
    fn zero_counts(self) -> uint64x2_t {
        // SAFETY: `self` proves NEON; register-only.
        unsafe { vdupq_n_u64(0) }
    }

    #[inline(always)]
    fn add_counts(self, c: uint64x2_t, bytes: uint8x16_t) -> uint64x2_t {
        // Pairwise widening adds: u8 to u16, u16 to u32, then into u64.
        // SAFETY: `self` proves NEON; register-only.
        unsafe { vpadalq_u32(c, vpaddlq_u16(vpaddlq_u8(bytes))) }
    }

    #[inline(always)]
    fn total(self, c: uint64x2_t) -> u64 {
        // SAFETY: `self` proves NEON; register-only.
        unsafe { vaddvq_u64(c) }
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

#[target_feature(enable = "neon")]
fn dot_f32_neon(a: &[f32], b: &[f32]) -> f32 {
    lanes::pair::<_, Dot, _>(Neon::new(), a, b)
}

#[target_feature(enable = "neon")]
fn l2sq_f32_neon(a: &[f32], b: &[f32]) -> f32 {
    lanes::pair::<_, L2, _>(Neon::new(), a, b)
}

#[target_feature(enable = "neon")]
fn l1_f32_neon(a: &[f32], b: &[f32]) -> f32 {
    lanes::pair::<_, L1, _>(Neon::new(), a, b)
}

#[target_feature(enable = "neon")]
fn cosine_f32_neon(a: &[f32], b: &[f32]) -> f32 {
    lanes::cosine::<_, f32, 2>(Neon::new(), a, b)
}

#[target_feature(enable = "neon")]
fn dot_f16_neon(a: &[u16], b: &[u16]) -> f32 {
    lanes::pair::<_, Dot, _>(Neon::new(), a, b)
}

#[target_feature(enable = "neon")]
fn l2sq_f16_neon(a: &[u16], b: &[u16]) -> f32 {
    lanes::pair::<_, L2, _>(Neon::new(), a, b)
}

#[target_feature(enable = "neon")]
fn cosine_f16_neon(a: &[u16], b: &[u16]) -> f32 {
    lanes::cosine::<_, u16, 2>(Neon::new(), a, b)
}

#[target_feature(enable = "neon")]
fn dot_f32_many_neon(q: &[f32], rows: &[f32], out: &mut [f32]) {
    lanes::f32_many::<_, Dot>(Neon::new(), q, rows, out);
}

#[target_feature(enable = "neon")]
fn l2sq_f32_many_neon(q: &[f32], rows: &[f32], out: &mut [f32]) {
    lanes::f32_many::<_, L2>(Neon::new(), q, rows, out);
}

#[target_feature(enable = "neon")]
fn cosine_f32_many_neon(q: &[f32], rows: &[f32], out: &mut [f32]) {
    lanes::cosine_f32_many::<_, 2>(Neon::new(), q, rows, out);
}

// The f16 one-to-many kernels: 2 rows per query conversion, each row
// computed exactly as by the one-to-one kernel, so `out[r]` equals it bit
// for bit.

#[target_feature(enable = "neon")]
fn dot_f16_many_neon(q: &[u16], rows: &[u16], out: &mut [f32]) {
    lanes::f16_many::<_, Dot, 2>(Neon::new(), q, rows, out);
}

#[target_feature(enable = "neon")]
fn l2sq_f16_many_neon(q: &[u16], rows: &[u16], out: &mut [f32]) {
    lanes::f16_many::<_, L2, 2>(Neon::new(), q, rows, out);
}

#[target_feature(enable = "neon")]
fn cosine_f16_many_neon(q: &[u16], rows: &[u16], out: &mut [f32]) {
    lanes::cosine_f16_many::<_, 2, 2>(Neon::new(), q, rows, out);
}

#[target_feature(enable = "neon")]
fn hamming_u64_neon(a: &[u64], b: &[u64]) -> u64 {
    lanes::hamming(Neon::new(), a, b)
}

#[target_feature(enable = "neon")]
fn jaccard_u64_neon(a: &[u64], b: &[u64]) -> f32 {
    lanes::jaccard(Neon::new(), a, b)
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
fn min_max_i64_neon(v: &[i64]) -> Option<(i64, i64)> {
    // `cmgt` and a bit select per bound; two accumulators each.
    let (&first, _) = v.split_first()?;
    let n = v.len();
    let p = v.as_ptr();
    let mut lo = [vdupq_n_s64(first); 2];
    let mut hi = lo;
    let mut i = 0;
    while i + 4 <= n {
        for k in 0..2 {
            // SAFETY: i + 2k + 2 <= i + 4 <= n == v.len().
            let x = unsafe { vld1q_s64(p.add(i + 2 * k)) };
            lo[k] = vbslq_s64(vcgtq_s64(lo[k], x), x, lo[k]);
            hi[k] = vbslq_s64(vcgtq_s64(x, hi[k]), x, hi[k]);
        }
        i += 4;
    }
    let mut l = first;
    let mut h = first;
    for k in 0..2 {
        l = l
            .min(vgetq_lane_s64::<0>(lo[k]))
            .min(vgetq_lane_s64::<1>(lo[k]));
        h = h
            .max(vgetq_lane_s64::<0>(hi[k]))
            .max(vgetq_lane_s64::<1>(hi[k]));
    }
    for &x in &v[i..] {
        l = l.min(x);
        h = h.max(x);
    }
    Some((l, h))
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

// One-to-many i8 kernels: the one-to-one kernel of this path per row, so
// each result equals that kernel bit for bit.
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
}
