//! Stream-vbyte with `pshufb` (SSSE3), compiled for the AVX2 path (VEX
//! encoding): decoding 32 values per loop iteration, encoding 8.

use std::arch::x86_64::*;
use std::mem::MaybeUninit;

use super::tables::{ENCODE_SHUFFLE, LENGTHS, MINIMUM, SHUFFLE};
use super::VarintError;

/// The AVX2 decode path (a [`super::DecodeFn`]).
///
/// # Safety
/// The `DecodeFn` contract: the CPU has AVX2, SSSE3 and SSE4.1 (the `avx2`
/// kernel path checks all three) and `ctrl` holds `ceil(out.len() / 4)`
/// bytes.
pub(super) unsafe fn decode(
    ctrl: &[u8],
    data: &[u8],
    out: &mut [MaybeUninit<u32>],
    delta: Option<u32>,
    base: usize,
) -> Result<usize, VarintError> {
    // SAFETY: the caller guarantees the CPU features (see above).
    unsafe {
        match delta {
            None => decode_avx2::<false>(ctrl, data, out, 0, base),
            Some(initial) => decode_avx2::<true>(ctrl, data, out, initial, base),
        }
    }
}

/// Loads the 16-byte table row `row` (aligned).
#[inline(always)]
fn row<T>(row: &T) -> __m128i {
    debug_assert_eq!(std::mem::size_of::<T>(), 16);
    // SAFETY: the table rows are 16-byte, 16-aligned `repr(C)` structs;
    // SSE2 is part of the x86-64 baseline.
    unsafe { _mm_load_si128(std::ptr::from_ref(row).cast::<__m128i>()) }
}

/// Adds the running total `prev` (broadcast) to the prefix sum of `v`'s
/// four lanes; returns the sums and the new running total (broadcast).
#[inline(always)]
fn prefix_sum(v: __m128i, prev: __m128i) -> (__m128i, __m128i) {
    // SAFETY: SSE2 only, part of the x86-64 baseline.
    unsafe {
        let v = _mm_add_epi32(v, _mm_slli_si128::<4>(v));
        let v = _mm_add_epi32(v, _mm_slli_si128::<8>(v));
        let v = _mm_add_epi32(v, prev);
        (v, _mm_shuffle_epi32::<0xFF>(v))
    }
}

/// One group of four values at `src + p` with control byte `c`: shuffled
/// into lanes, the canonical check folded into `bad`, prefix-summed in
/// differential mode, stored at `dst`. Returns the group's data length.
///
/// # Safety
/// `src + p .. src + p + 16` is readable and `dst .. dst + 4` writable; the
/// CPU has SSSE3 and SSE4.1.
#[inline(always)]
unsafe fn group<const DELTA: bool>(
    src: *const u8,
    p: usize,
    c: u8,
    dst: *mut u32,
    bad: &mut __m128i,
    prev: &mut __m128i,
) -> usize {
    let c = usize::from(c);
    // SAFETY: the caller guarantees the features and the bounds above.
    unsafe {
        let bytes = _mm_loadu_si128(src.add(p).cast::<__m128i>());
        let v = _mm_shuffle_epi8(bytes, row(&SHUFFLE[c]));
        // A lane below its length's minimum wraps to at least 0xFF00_0000;
        // a canonical lane stays at most 0xFEFF_FFFF.
        *bad = _mm_max_epu32(*bad, _mm_sub_epi32(v, row(&MINIMUM[c])));
        let v = if DELTA {
            let (v, next) = prefix_sum(v, *prev);
            *prev = next;
            v
        } else {
            v
        };
        _mm_storeu_si128(dst.cast::<__m128i>(), v);
    }
    usize::from(LENGTHS[c])
}

#[target_feature(enable = "avx2,ssse3,sse4.1")]
unsafe fn decode_avx2<const DELTA: bool>(
    ctrl: &[u8],
    data: &[u8],
    out: &mut [MaybeUninit<u32>],
    initial: u32,
    base: usize,
) -> Result<usize, VarintError> {
    let count = out.len();
    // Control bytes whose four values are all present.
    let full = (count / 4).min(ctrl.len());
    let src = data.as_ptr();
    let dst = out.as_mut_ptr().cast::<u32>();
    let mut j = 0usize; // control byte index
    let mut p = 0usize; // data offset
    let mut prev = _mm_set1_epi32(initial as i32);
    // Lane-wise maximum of `value - minimum(length)`, see `group`.
    let mut bad = _mm_setzero_si128();

    // 32 values (eight control bytes) per iteration. A group has at most
    // 16 data bytes, so the eight 16-byte loads start at most 112 bytes
    // after `p` and end by `p + 128 <= data.len()`.
    while j + 8 <= full && p + 128 <= data.len() {
        let c = u64::from_le_bytes(ctrl[j..j + 8].try_into().expect("8 bytes"));
        for k in 0..8 {
            // SAFETY: loads inside `data` (above); stores to
            // `out[4(j + k)..4(j + k) + 4]`, inside `out` as
            // `4 * (j + 8) <= 4 * full <= count`; features enabled here.
            unsafe {
                p += group::<DELTA>(
                    src,
                    p,
                    (c >> (8 * k)) as u8,
                    dst.add(4 * (j + k)),
                    &mut bad,
                    &mut prev,
                );
            }
        }
        j += 8;
    }
    // Four values per iteration while a full 16-byte load fits.
    while j < full && p + 16 <= data.len() {
        // SAFETY: `p + 16 <= data.len()`; `4 * j + 4 <= 4 * full <= count`.
        unsafe { p += group::<DELTA>(src, p, ctrl[j], dst.add(4 * j), &mut bad, &mut prev) };
        j += 1;
    }

    let limit = _mm_set1_epi32(0xFEFF_FFFFu32 as i32);
    if _mm_movemask_epi8(_mm_cmpeq_epi32(_mm_max_epu32(bad, limit), limit)) != 0xFFFF {
        // Some value is not in canonical form: let the reference find and
        // report the first one.
        return super::decode_scalar_from(ctrl, data, out, 0, 0, DELTA.then_some(initial), base);
    }
    let last = _mm_cvtsi128_si32(prev) as u32;
    super::decode_scalar_from(ctrl, data, out, 4 * j, p, DELTA.then_some(last), base)
}

/// The AVX2 encoder (the `stream_encode` entry of the AVX2 kernel table).
pub(crate) fn encode(values: &[u32], initial: Option<u32>, out: &mut Vec<u8>) -> usize {
    super::encode_with(
        values,
        initial,
        out,
        Some((encode_blocks::<false>, encode_blocks::<true>)),
    )
}

/// `CONTROL[lo | hi << 4]`: the control byte whose value `k` has code
/// `lo_k + 2·hi_k` (bit `k` of each nibble), i.e. the bits of `lo` at even
/// and those of `hi` at odd positions.
static CONTROL: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut x = 0;
    while x < 256 {
        let mut k = 0;
        while k < 4 {
            t[x] |= (((x >> k) & 1) << (2 * k) | ((x >> (4 + k)) & 1) << (2 * k + 1)) as u8;
            k += 1;
        }
        x += 1;
    }
    t
};

/// The SIMD part of the AVX2 encoder (a [`super::BlockEncoder`]): eight
/// values per iteration in one 256-bit register. The length codes come from
/// three compares (`v >> 8`, `v >> 16`, `v >> 24` non-zero: nested, so the
/// code's low bit is their xor and its high bit the middle one), gathered
/// with `movemask` and interleaved into two control bytes by [`CONTROL`];
/// each half is
/// then compacted with `pshufb` and [`ENCODE_SHUFFLE`] and stored as 16
/// bytes, advancing by its length.
///
/// # Safety
/// The `BlockEncoder` contract: the CPU has AVX2 and SSSE3, and `dst` has
/// `max_encoded_len(values.len())` writable bytes.
#[target_feature(enable = "avx2,ssse3,sse4.1")]
unsafe fn encode_blocks<const DELTA: bool>(
    values: &[u32],
    prev: u32,
    dst: *mut u8,
) -> (usize, usize, u32) {
    let n = values.len();
    let src = values.as_ptr();
    let mut pos = n.div_ceil(4);
    let zero = _mm256_setzero_si256();
    let mut i = 0usize;
    // Data offsets: group `g` (values 4g..4g+4) starts at most at `ctrl_len
    // + 4·4g`, so its 16-byte store ends by `ctrl_len + 4·(4g + 4) <=
    // max_encoded_len(n)` whenever the group is complete.
    while i + 8 <= n {
        // SAFETY: `i + 8 <= n`: eight readable values.
        let v = unsafe { _mm256_loadu_si256(src.add(i).cast()) };
        let v = if DELTA {
            let before = if i == 0 {
                // [prev, v0, ..., v6]: rotate the lanes up by one, then put
                // `prev` in lane 0.
                let up = _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 0, 1, 2, 3, 4, 5, 6));
                _mm256_blend_epi32::<1>(up, _mm256_set1_epi32(prev as i32))
            } else {
                // SAFETY: `1 <= i` and `i + 7 <= n`: values i-1..i+7.
                unsafe { _mm256_loadu_si256(src.add(i - 1).cast()) }
            };
            _mm256_sub_epi32(v, before)
        } else {
            v
        };
        let over = |s: __m256i| {
            _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(s, zero))) as u32
        };
        let b1 = over(_mm256_srli_epi32::<8>(v));
        let b2 = over(_mm256_srli_epi32::<16>(v));
        let b3 = over(_mm256_srli_epi32::<24>(v));
        let (lo, hi) = ((b1 ^ b2 ^ b3) as usize, b2 as usize);
        let c0 = CONTROL[(lo & 0x0F) | (hi & 0x0F) << 4];
        let c1 = CONTROL[(lo >> 4) | (hi & 0xF0)];
        let (c0, c1) = (usize::from(c0), usize::from(c1));
        let a = _mm_shuffle_epi8(_mm256_castsi256_si128(v), row(&ENCODE_SHUFFLE[c0]));
        let b = _mm_shuffle_epi8(_mm256_extracti128_si256::<1>(v), row(&ENCODE_SHUFFLE[c1]));
        // SAFETY: control bytes i/4 and i/4 + 1 are below ceil(n / 4); the
        // two data stores end inside `max_encoded_len(n)` (see above).
        unsafe {
            dst.add(i / 4).write(c0 as u8);
            dst.add(i / 4 + 1).write(c1 as u8);
            _mm_storeu_si128(dst.add(pos).cast(), a);
            pos += usize::from(LENGTHS[c0]);
            _mm_storeu_si128(dst.add(pos).cast(), b);
            pos += usize::from(LENGTHS[c1]);
        }
        i += 8;
    }
    let last = if DELTA && i > 0 { values[i - 1] } else { prev };
    (i, pos, last)
}
