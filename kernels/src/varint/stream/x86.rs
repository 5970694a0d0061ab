//! Stream-vbyte decoding with `pshufb` (SSSE3) on 256-bit registers (AVX2).

use std::arch::x86_64::*;
use std::mem::MaybeUninit;

use super::tables::{LENGTHS, MINIMUM, SHUFFLE};
use super::VarintError;

/// The AVX2 decode path (a [`super::DecodeFn`]).
///
/// # Safety
/// The `DecodeFn` contract: the CPU has AVX2, SSSE3 and SSE4.1 (the `avx2`
/// kernel path checks all three), `ctrl` holds `ceil(out.len() / 4)` bytes
/// and `data.len()` is exactly the length they announce.
pub(super) unsafe fn decode(
    ctrl: &[u8],
    data: &[u8],
    out: &mut [MaybeUninit<u32>],
    delta: Option<u32>,
    base: usize,
) -> Result<(), VarintError> {
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

#[target_feature(enable = "avx2,ssse3,sse4.1")]
unsafe fn decode_avx2<const DELTA: bool>(
    ctrl: &[u8],
    data: &[u8],
    out: &mut [MaybeUninit<u32>],
    initial: u32,
    base: usize,
) -> Result<(), VarintError> {
    let count = out.len();
    // Control bytes whose four values are all present.
    let full = (count / 4).min(ctrl.len());
    let src = data.as_ptr();
    let dst = out.as_mut_ptr().cast::<u32>();
    let mut j = 0usize; // control byte index
    let mut p = 0usize; // data offset
    let mut prev = _mm_set1_epi32(initial as i32);
    // All-ones while every lane so far held at least its length's minimum.
    let mut ok = _mm256_set1_epi32(-1);

    // Eight values per iteration. Both 16-byte loads end at or before
    // `p + 32` (the first group has at most 16 bytes).
    while j + 2 <= full && p + 32 <= data.len() {
        let c0 = usize::from(ctrl[j]);
        let c1 = usize::from(ctrl[j + 1]);
        let l0 = usize::from(LENGTHS[c0]);
        // SAFETY: `p + 16 <= data.len()` and `p + l0 + 16 <= p + 32 <=
        // data.len()`: both unaligned loads are in bounds.
        let (a, b) = unsafe {
            (
                _mm_loadu_si128(src.add(p).cast::<__m128i>()),
                _mm_loadu_si128(src.add(p + l0).cast::<__m128i>()),
            )
        };
        let bytes = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(a), b);
        let mask = _mm256_inserti128_si256::<1>(
            _mm256_castsi128_si256(row(&SHUFFLE[c0])),
            row(&SHUFFLE[c1]),
        );
        let mins = _mm256_inserti128_si256::<1>(
            _mm256_castsi128_si256(row(&MINIMUM[c0])),
            row(&MINIMUM[c1]),
        );
        let v = _mm256_shuffle_epi8(bytes, mask);
        ok = _mm256_and_si256(ok, _mm256_cmpeq_epi32(_mm256_max_epu32(v, mins), v));
        if DELTA {
            let (lo, next) = prefix_sum(_mm256_castsi256_si128(v), prev);
            let (hi, next) = prefix_sum(_mm256_extracti128_si256::<1>(v), next);
            prev = next;
            // SAFETY: `4 * j + 8 <= 4 * full <= out.len()`: eight `u32`
            // slots of `out`, unaligned stores.
            unsafe {
                _mm_storeu_si128(dst.add(4 * j).cast::<__m128i>(), lo);
                _mm_storeu_si128(dst.add(4 * j + 4).cast::<__m128i>(), hi);
            }
        } else {
            // SAFETY: as above, eight `u32` slots of `out`.
            unsafe { _mm256_storeu_si256(dst.add(4 * j).cast::<__m256i>(), v) };
        }
        p += l0 + usize::from(LENGTHS[c1]);
        j += 2;
    }

    // Four values per iteration.
    let mut ok128 = _mm_and_si128(
        _mm256_castsi256_si128(ok),
        _mm256_extracti128_si256::<1>(ok),
    );
    while j < full && p + 16 <= data.len() {
        let c = usize::from(ctrl[j]);
        // SAFETY: `p + 16 <= data.len()`.
        let bytes = unsafe { _mm_loadu_si128(src.add(p).cast::<__m128i>()) };
        let v = _mm_shuffle_epi8(bytes, row(&SHUFFLE[c]));
        ok128 = _mm_and_si128(
            ok128,
            _mm_cmpeq_epi32(_mm_max_epu32(v, row(&MINIMUM[c])), v),
        );
        let v = if DELTA {
            let (v, next) = prefix_sum(v, prev);
            prev = next;
            v
        } else {
            v
        };
        // SAFETY: `4 * j + 4 <= 4 * full <= out.len()`.
        unsafe { _mm_storeu_si128(dst.add(4 * j).cast::<__m128i>(), v) };
        p += usize::from(LENGTHS[c]);
        j += 1;
    }

    if _mm_movemask_epi8(ok128) != 0xFFFF {
        // Some value is not in canonical form: let the reference find and
        // report the first one.
        return super::decode_scalar_from(ctrl, data, out, 0, 0, DELTA.then_some(initial), base);
    }
    let last = _mm_cvtsi128_si32(prev) as u32;
    super::decode_scalar_from(ctrl, data, out, 4 * j, p, DELTA.then_some(last), base)
}
