//! The portable SIMD path, built on `wide`.
//!
//! `wide` chooses its instructions when this crate is compiled: SSE2 on a
//! default x86-64 build, NEON on aarch64, plain arrays elsewhere (and under
//! Miri, which interprets the same code). The only `unsafe` here is the
//! three unaligned loads of [`Wide`]'s lane impls.
//!
//! The f32 and f16 folds, the one-to-many f32 and f16 kernels are the shared
//! loops of `lanes.rs` over [`Wide`] (8 lanes): 4 accumulators per fold,
//! 2 chains per quantity in `cosine` (each `f32x8` is two SSE2 registers,
//! so 12 accumulators would not fit the 16), 4 f32 rows per query load.
//! Without FMA in the compile target, `mul_add` is a multiply followed by
//! an add.

use wide::{f32x8, f64x4, i16x16, i32x8, i8x16, u16x8, u64x4, u8x16, CmpEq};

use crate::dispatch::Table;
use crate::lanes::{self, BitLanes, Dot, Lanes, L1, L2};

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
    pack_u32: crate::bitpack::pack_u32_words,
    pq4_fastscan: crate::pq4::fastscan_scalar,
    rans16_decode: crate::rans::decode_scalar,
};

/// The lane token of this path: `wide` needs no CPU feature beyond the
/// compile target's, so anyone may hold one.
#[derive(Clone, Copy)]
struct Wide;

impl Lanes for Wide {
    type F32 = f32x8;
    const N: usize = 8;

    #[inline(always)]
    fn zero(self) -> f32x8 {
        f32x8::ZERO
    }

    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> f32x8 {
        // SAFETY: the caller guarantees 8 readable values at `p`.
        f32x8::new(unsafe { p.cast::<[f32; 8]>().read_unaligned() })
    }

    #[inline(always)]
    fn load_partial(self, s: &[f32]) -> f32x8 {
        let mut buf = [0.0f32; 8];
        let k = s.len().min(8);
        buf[..k].copy_from_slice(&s[..k]);
        f32x8::new(buf)
    }

    #[inline(always)]
    unsafe fn load_f16(self, p: *const u16) -> f32x8 {
        // SAFETY: the caller guarantees 8 readable halves at `p`.
        half8(unsafe { p.cast::<[u16; 8]>().read_unaligned() })
    }

    #[inline(always)]
    fn load_f16_partial(self, s: &[u16]) -> f32x8 {
        let mut buf = [0u16; 8];
        let k = s.len().min(8);
        buf[..k].copy_from_slice(&s[..k]);
        half8(buf)
    }

    #[inline(always)]
    fn add(self, a: f32x8, b: f32x8) -> f32x8 {
        a + b
    }

    #[inline(always)]
    fn sub(self, a: f32x8, b: f32x8) -> f32x8 {
        a - b
    }

    #[inline(always)]
    fn mul_add(self, a: f32x8, b: f32x8, c: f32x8) -> f32x8 {
        a.mul_add(b, c)
    }

    #[inline(always)]
    fn abs_diff(self, a: f32x8, b: f32x8) -> f32x8 {
        (a - b).abs()
    }

    #[inline(always)]
    fn reduce_add(self, v: f32x8) -> f32 {
        v.reduce_add()
    }
}

// `wide` has no population count: bytes are counted in u64 lanes by the
// SWAR method (2-bit, 4-bit, then byte sums), whose lane-wise u64 additions
// never carry across a byte while every byte stays below 256.
impl BitLanes for Wide {
    type Bits = u64x4;
    const WORDS: usize = 4;
    // The SWAR widening of the counters costs about as much as counting
    // 8 words with `count_ones`: measured break-even between 12 and 24.
    const MIN_WORDS: usize = 16;
    type Counts = u64x4;

    #[inline(always)]
    unsafe fn load_bits(self, p: *const u64) -> u64x4 {
        // SAFETY: the caller guarantees 4 readable words at `p`.
        u64x4::new(unsafe { p.cast::<[u64; 4]>().read_unaligned() })
    }

    #[inline(always)]
    fn xor(self, a: u64x4, b: u64x4) -> u64x4 {
        a ^ b
    }

    #[inline(always)]
    fn and(self, a: u64x4, b: u64x4) -> u64x4 {
        a & b
    }

    #[inline(always)]
    fn or(self, a: u64x4, b: u64x4) -> u64x4 {
        a | b
    }

    #[inline(always)]
    fn zero_bits(self) -> u64x4 {
        u64x4::ZERO
    }

    #[inline(always)]
    fn add_byte_counts(self, acc: u64x4, v: u64x4) -> u64x4 {
        let m1 = u64x4::splat(0x5555_5555_5555_5555);
        let m2 = u64x4::splat(0x3333_3333_3333_3333);
        let m4 = u64x4::splat(0x0f0f_0f0f_0f0f_0f0f);
        let v = v - ((v >> 1) & m1);
        let v = (v & m2) + ((v >> 2) & m2);
        acc + ((v + (v >> 4)) & m4)
    }

    #[inline(always)]
    fn zero_counts(self) -> u64x4 {
        u64x4::ZERO
    }

    #[inline(always)]
    fn add_counts(self, c: u64x4, bytes: u64x4) -> u64x4 {
        let m8 = u64x4::splat(0x00ff_00ff_00ff_00ff);
        let m16 = u64x4::splat(0x0000_ffff_0000_ffff);
        let v = (bytes & m8) + ((bytes >> 8) & m8);
        let v = (v & m16) + ((v >> 16) & m16);
        c + ((v + (v >> 32)) & u64x4::splat(0xffff_ffff))
    }

    #[inline(always)]
    fn total(self, c: u64x4) -> u64 {
        c.to_array().iter().sum()
    }
}

fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    lanes::pair::<_, Dot, _>(Wide, a, b)
}

fn l2sq_f32(a: &[f32], b: &[f32]) -> f32 {
    lanes::pair::<_, L2, _>(Wide, a, b)
}

fn l1_f32(a: &[f32], b: &[f32]) -> f32 {
    lanes::pair::<_, L1, _>(Wide, a, b)
}

fn cosine_f32(a: &[f32], b: &[f32]) -> f32 {
    lanes::cosine::<_, f32, 2>(Wide, a, b)
}

fn dot_f16(a: &[u16], b: &[u16]) -> f32 {
    lanes::pair::<_, Dot, _>(Wide, a, b)
}

fn l2sq_f16(a: &[u16], b: &[u16]) -> f32 {
    lanes::pair::<_, L2, _>(Wide, a, b)
}

fn cosine_f16(a: &[u16], b: &[u16]) -> f32 {
    lanes::cosine::<_, u16, 2>(Wide, a, b)
}

fn dot_f32_many(q: &[f32], rows: &[f32], out: &mut [f32]) {
    lanes::f32_many::<_, Dot>(Wide, q, rows, out);
}

fn l2sq_f32_many(q: &[f32], rows: &[f32], out: &mut [f32]) {
    lanes::f32_many::<_, L2>(Wide, q, rows, out);
}

fn cosine_f32_many(q: &[f32], rows: &[f32], out: &mut [f32]) {
    lanes::cosine_f32_many::<_, 2>(Wide, q, rows, out);
}

// The f16 one-to-many kernels: 2 rows per query conversion, each row
// computed exactly as by the one-to-one kernel.

fn dot_f16_many(q: &[u16], rows: &[u16], out: &mut [f32]) {
    lanes::f16_many::<_, Dot, 2>(Wide, q, rows, out);
}

fn l2sq_f16_many(q: &[u16], rows: &[u16], out: &mut [f32]) {
    lanes::f16_many::<_, L2, 2>(Wide, q, rows, out);
}

fn cosine_f16_many(q: &[u16], rows: &[u16], out: &mut [f32]) {
    lanes::cosine_f16_many::<_, 2, 2>(Wide, q, rows, out);
}

fn hamming_u64(a: &[u64], b: &[u64]) -> u64 {
    lanes::hamming(Wide, a, b)
}

fn jaccard_u64(a: &[u64], b: &[u64]) -> f32 {
    lanes::jaccard(Wide, a, b)
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
fn half8(h: [u16; 8]) -> f32x8 {
    let h = i32x8::from_u16x8(u16x8::new(h));
    let magnitude = (h & i32x8::splat(0x7fff)) << 13;
    let scaled: f32x8 = bytemuck::cast(magnitude);
    let finite: i32x8 = bytemuck::cast(scaled * f32x8::splat(f32::from_bits((127 + 112) << 23)));
    let special = (h & i32x8::splat(0x3ff)) << 13 | i32x8::splat(0x7f80_0000);
    let is_special = (h & i32x8::splat(0x7c00)).cmp_eq(i32x8::splat(0x7c00));
    let sign = (h & i32x8::splat(0x8000)) << 16;
    bytemuck::cast(is_special.blend(special, finite) | sign)
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

/// Loads an exact chunk of 8 f32.
#[inline(always)]
fn f8(c: &[f32]) -> f32x8 {
    f32x8::new(c.try_into().expect("chunk of 8"))
}

/// Four independent chains of branch-free compares (`wide` has no 64-bit
/// integer minimum).
fn min_max_i64(v: &[i64]) -> Option<(i64, i64)> {
    let (&first, _) = v.split_first()?;
    let (mut lo, mut hi) = ([first; 4], [first; 4]);
    let quads = v.chunks_exact(4);
    let rest = quads.remainder();
    for q in quads {
        for j in 0..4 {
            lo[j] = lo[j].min(q[j]);
            hi[j] = hi[j].max(q[j]);
        }
    }
    for &x in rest {
        lo[0] = lo[0].min(x);
        hi[0] = hi[0].max(x);
    }
    Some((
        lo.into_iter().min().unwrap_or(first),
        hi.into_iter().max().unwrap_or(first),
    ))
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

// One-to-many i8 kernels: the one-to-one kernel of this path per row, so
// each result equals that kernel bit for bit.
crate::scalar::per_row_many! {
    dot_i8_many(i8) -> i32 = dot_i8;
    l2sq_i8_many(i8) -> u32 = l2sq_i8;
}
