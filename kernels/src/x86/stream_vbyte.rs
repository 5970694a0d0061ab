//! Stream-vbyte with `pshufb` (SSSE3), compiled for the AVX2 path (VEX
//! encoding): decoding 32 values per loop iteration, encoding 16.

use std::arch::x86_64::*;
use std::mem::MaybeUninit;

use crate::varint::stream::tables::{ENCODE_SHUFFLE, LENGTHS, MINIMUM, SHUFFLE};
use crate::varint::VarintError;

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

/// The AVX2 decode path (a `varint::stream::DecodeFn`, plain or
/// differential by `DELTA`): 32 values per iteration, the rest and any
/// error through the scalar code.
///
/// Compiled for AVX2, SSSE3 and SSE4.1 (the `avx2` and `avx512` kernel
/// paths check all three); reached through those tables' `unsafe fn`
/// pointers.
#[target_feature(enable = "avx2,ssse3,sse4.1")]
pub(crate) fn decode_avx2<const DELTA: bool>(
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
        return crate::varint::stream::decode_scalar_from(
            ctrl,
            data,
            out,
            0,
            0,
            DELTA.then_some(initial),
            base,
        );
    }
    let last = _mm_cvtsi128_si32(prev) as u32;
    crate::varint::stream::decode_scalar_from(
        ctrl,
        data,
        out,
        4 * j,
        p,
        DELTA.then_some(last),
        base,
    )
}

/// The two control bytes of the eight values in `lo` and `hi` (the
/// saturation trick of aqrit's SSE4.1 encoder in Lemire's library): bytes
/// clamped to 0/1 (`min`), each half value's two bytes saturated into one
/// (`packus`: 0, 1, or 255 when its high byte is set), then `min` with
/// `0x0101` and a saturating add of `0x7F00` leave, per value, a sign bit
/// in its low byte iff the code's low bit is set and in its high byte iff
/// the code's high bit is, so `movemask` reads the control bytes.
///
/// # Safety
/// SSE4.1 (register-only).
#[inline(always)]
unsafe fn control(lo: __m128i, hi: __m128i) -> u32 {
    // SAFETY: register-only SSE2 intrinsics, part of the x86-64 baseline.
    unsafe {
        let ones = _mm_set1_epi8(1);
        let packed = _mm_packus_epi16(_mm_min_epu8(lo, ones), _mm_min_epu8(hi, ones));
        let flags = _mm_adds_epu16(
            _mm_min_epi16(packed, _mm_set1_epi16(0x0101)),
            _mm_set1_epi16(0x7F00),
        );
        _mm_movemask_epi8(flags) as u32
    }
}

/// The SIMD part of the AVX2 encoder (a `varint::stream::BlockEncoder`): sixteen
/// values per iteration as four 128-bit groups (on 128-bit registers the
/// shuffle port does only the `packus` and `pshufb` work, no lane
/// crossing). Control bytes come from [`control`]; each group is then
/// compacted with `pshufb` and [`ENCODE_SHUFFLE`] and stored as 16 bytes,
/// advancing by its length.
///
/// Compiled for AVX2, SSSE3 and SSE4.1, like the decoder. Panics unless
/// `dst` holds `max_encoded_len(values.len())` bytes.
#[target_feature(enable = "avx2,ssse3,sse4.1")]
pub(crate) fn encode_blocks<const DELTA: bool>(
    values: &[u32],
    prev: u32,
    dst: &mut [MaybeUninit<u8>],
) -> (usize, usize, u32) {
    let n = values.len();
    // Every store below stays inside `dst` given this.
    assert!(dst.len() >= crate::varint::stream::max_encoded_len(n));
    let dst = dst.as_mut_ptr().cast::<u8>();
    let src = values.as_ptr();
    let mut pos = n.div_ceil(4);
    let mut i = 0usize;
    // Data offsets: group `g` (values 4g..4g+4) starts at most at `ctrl_len
    // + 4·4g`, so its 16-byte store ends by `ctrl_len + 4·(4g + 4) <=
    // max_encoded_len(n)` whenever the group is complete.
    while i + 16 <= n {
        // SAFETY: `i + 16 <= n`: sixteen readable values.
        let q: [__m128i; 4] =
            std::array::from_fn(|k| unsafe { _mm_loadu_si128(src.add(i + 4 * k).cast()) });
        let q = if DELTA {
            let before: [__m128i; 4] = std::array::from_fn(|k| {
                if i + k == 0 {
                    // [prev, v0, v1, v2].
                    _mm_alignr_epi8::<12>(q[0], _mm_set1_epi32(prev as i32))
                } else {
                    // SAFETY: `1 <= i + 4k` and `i + 4k + 3 <= n`.
                    unsafe { _mm_loadu_si128(src.add(i + 4 * k - 1).cast()) }
                }
            });
            std::array::from_fn(|k| _mm_sub_epi32(q[k], before[k]))
        } else {
            q
        };
        // SAFETY: SSE2 is part of the baseline.
        let ctrl = unsafe { control(q[0], q[1]) | control(q[2], q[3]) << 16 };
        // SAFETY: control bytes i/4 .. i/4 + 4 are below ceil(n / 4); each
        // group's data store ends inside `max_encoded_len(n)` (see above).
        unsafe {
            dst.add(i / 4)
                .cast::<[u8; 4]>()
                .write_unaligned(ctrl.to_le_bytes());
            for (g, group) in q.into_iter().enumerate() {
                let c = ((ctrl >> (8 * g)) & 0xFF) as usize;
                let data = _mm_shuffle_epi8(group, row(&ENCODE_SHUFFLE[c]));
                _mm_storeu_si128(dst.add(pos).cast(), data);
                pos += usize::from(LENGTHS[c]);
            }
        }
        i += 16;
    }
    let last = if DELTA && i > 0 { values[i - 1] } else { prev };
    (i, pos, last)
}
