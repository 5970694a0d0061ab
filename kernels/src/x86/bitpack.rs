//! Bit-packing with AVX2: `vpshufb` unpacking and variable-shift packing
//! (see `crate::bitpack` for the format and the scalar reference).

use std::arch::x86_64::*;

/// The `N` bytes at `input[at..]`: in place when they are all inside
/// `input`, else copied into `buf` with zeros after the end.
#[inline(always)]
fn window<'a, const N: usize>(input: &'a [u8], at: usize, buf: &'a mut [u8; N]) -> &'a [u8; N] {
    match input.get(at..at + N) {
        Some(w) => w.try_into().expect("N bytes"),
        None => {
            let rest = input.get(at..).unwrap_or(&[]);
            *buf = [0; N];
            buf[..rest.len()].copy_from_slice(rest);
            buf
        }
    }
}

/// Unpacks blocks of 8 values with in-lane byte shuffles (`vpshufb`)
/// and per-lane variable shifts; fewer than 8 values at the end go to
/// the scalar path.
///
/// Eight values at width `w` take exactly `w` bytes, so block `j` starts
/// at byte `j·w`. Each 128-bit lane is loaded from the byte where its
/// first value starts, so a lane's values lie in its first 13 bytes and
/// one shuffle moves each value's bytes into place: for `w <= 25` a
/// lane holds four values as 32-bit lanes (shift <= 7 plus width fits
/// 32 bits); above, two values as 64-bit lanes, and two registers make
/// the block. Index, offset and shift vectors are the same for every
/// block. Near the end of the input the block's 32- or 48-byte window is
/// copied into a zero-padded buffer, so nothing past `input` is read.
///
/// # Safety
/// The CPU must support AVX2. `width <= 32` and `input` holds
/// ⌈out.len()·w/8⌉ bytes (`Kernels::unpack_u32` asserts both).
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn unpack_u32_avx2(input: &[u8], width: u32, out: &mut [u32]) {
    let n = out.len();
    if width == 0 || n < 8 {
        crate::bitpack::unpack_u32_scalar(input, width, out);
        return;
    }
    let w = width as usize;
    let dst = out.as_mut_ptr();
    let mut i = 0usize;
    // Byte offset in the block where value `k` starts, and its shift.
    let start = |k: usize| (k * w) >> 3;
    // Indices of `bytes` bytes from each of `per_lane` values, relative
    // to the lane's start byte (that of its first value `first`).
    let lane_idx = |first: usize, per_lane: usize, bytes: usize| -> [i8; 16] {
        let mut idx = [-1i8; 16];
        for v in 0..per_lane {
            let at = start(first + v) - start(first);
            for b in 0..bytes {
                idx[v * bytes + b] = (at + b) as i8;
            }
        }
        idx
    };
    if width <= 25 {
        let (lo, hi) = (lane_idx(0, 4, 4), lane_idx(4, 4, 4));
        let sh: [i32; 8] = std::array::from_fn(|k| ((k * w) & 7) as i32);
        // SAFETY: loads from local arrays of 16 i8 and 8 i32.
        let (idx, vsh) = unsafe {
            (
                _mm256_loadu2_m128i(hi.as_ptr().cast(), lo.as_ptr().cast()),
                _mm256_loadu_si256(sh.as_ptr().cast()),
            )
        };
        let mask = _mm256_set1_epi32(((1u64 << width) - 1) as u32 as i32);
        let off = start(4);
        let mut buf = [0u8; 32];
        while i + 8 <= n {
            let win = window(input, (i / 8) * w, &mut buf);
            // SAFETY: both 16-byte loads lie in the 32-byte window
            // (`off <= (4·25) / 8 = 12`).
            let bytes =
                unsafe { _mm256_loadu2_m128i(win.as_ptr().add(off).cast(), win.as_ptr().cast()) };
            let v = _mm256_shuffle_epi8(bytes, idx);
            let v = _mm256_and_si256(_mm256_srlv_epi32(v, vsh), mask);
            // SAFETY: `i + 8 <= n = out.len()`: eight u32 slots.
            unsafe { _mm256_storeu_si256(dst.add(i).cast(), v) };
            i += 8;
        }
    } else {
        let idx: [[i8; 16]; 4] = std::array::from_fn(|q| lane_idx(2 * q, 2, 8));
        let offs: [usize; 4] = std::array::from_fn(|q| start(2 * q));
        let sh: [i64; 8] = std::array::from_fn(|k| ((k * w) & 7) as i64);
        // SAFETY: loads from local arrays of 16 i8 and 8 i64.
        let (ia, ib, sa, sb) = unsafe {
            (
                _mm256_loadu2_m128i(idx[1].as_ptr().cast(), idx[0].as_ptr().cast()),
                _mm256_loadu2_m128i(idx[3].as_ptr().cast(), idx[2].as_ptr().cast()),
                _mm256_loadu_si256(sh.as_ptr().cast()),
                _mm256_loadu_si256(sh.as_ptr().add(4).cast()),
            )
        };
        let mask = _mm256_set1_epi32(((1u64 << width) - 1) as u32 as i32);
        let mut buf = [0u8; 48];
        while i + 8 <= n {
            let win = window(input, (i / 8) * w, &mut buf);
            let p = win.as_ptr();
            // SAFETY: the four 16-byte loads start at `offs[q] <=
            // (6·32) / 8 = 24`, inside the 48-byte window.
            let (a, b) = unsafe {
                (
                    _mm256_loadu2_m128i(p.add(offs[1]).cast(), p.add(offs[0]).cast()),
                    _mm256_loadu2_m128i(p.add(offs[3]).cast(), p.add(offs[2]).cast()),
                )
            };
            let a = _mm256_srlv_epi64(_mm256_shuffle_epi8(a, ia), sa);
            let b = _mm256_srlv_epi64(_mm256_shuffle_epi8(b, ib), sb);
            // The low 32 bits of each 64-bit lane, in order: a0 a1 b0 b1
            // | a2 a3 b2 b3 after the in-lane shuffle, then reordered.
            let v = _mm256_castps_si256(_mm256_shuffle_ps::<0b10_00_10_00>(
                _mm256_castsi256_ps(a),
                _mm256_castsi256_ps(b),
            ));
            let v = _mm256_permute4x64_epi64::<0b11_01_10_00>(v);
            let v = _mm256_and_si256(v, mask);
            // SAFETY: `i + 8 <= out.len()`: eight u32 slots.
            unsafe { _mm256_storeu_si256(dst.add(i).cast(), v) };
            i += 8;
        }
    }
    // The rest starts at bit i*w, a byte boundary (i is a multiple of 8).
    crate::bitpack::unpack_u32_scalar(&input[(i / 8) * w..], width, &mut out[i..]);
}

/// Packs `values` on AVX2: runs of 32 values for widths up to 8
/// ([`pack_small_avx2`]) or of 16 values for widths up to 16
/// ([`pack_mid_avx2`]), then blocks of 8 ([`pack_blocks_avx2`]), then
/// fewer than 8 values with the word-at-a-time scalar path. Each part
/// ends on a byte boundary, as 8 values take exactly `w` bytes.
///
/// # Safety
/// The CPU must support AVX2. `width <= 32` and `out.len() ==
/// ⌈values.len()·w/8⌉` (`Kernels::pack_u32` asserts both); every value
/// fits `width` (the `bitpack` front ends check; a wider value gives wrong
/// bytes, never an access outside `out`).
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn pack_u32_avx2(values: &[u32], width: u32, out: &mut [u8]) {
    if width == 0 || values.len() < 8 {
        crate::bitpack::pack_u32_words(values, width, out);
        return;
    }
    let w = width as usize;
    let small = match width {
        // SAFETY: AVX2 and the lengths as guaranteed by the caller; the
        // width is in the callee's range.
        1..=6 => unsafe { pack_small_avx2::<true>(values, width, out) },
        // SAFETY: as above.
        7 | 8 => unsafe { pack_small_avx2::<false>(values, width, out) },
        // SAFETY: as above.
        9..=14 => unsafe { pack_mid_avx2::<true>(values, width, out) },
        // SAFETY: as above.
        15 | 16 => unsafe { pack_mid_avx2::<false>(values, width, out) },
        _ => 0,
    };
    let (values, out) = (&values[small..], &mut out[(small / 8) * w..]);
    // SAFETY: AVX2 as guaranteed by the caller; the rest of the contract
    // holds for the remaining values and their bytes.
    let i = unsafe {
        if width % 2 == 1 {
            pack_blocks_avx2::<true>(values, width, out)
        } else {
            pack_blocks_avx2::<false>(values, width, out)
        }
    };
    // The rest starts at bit i*w, a byte boundary (i is a multiple of 8).
    crate::bitpack::pack_u32_words(&values[i..], width, &mut out[(i / 8) * w..]);
}

/// Packs runs of 16 values of width `9 <= w <= 16`: a saturating pack
/// narrows them to 16-bit lanes (exact, as every value is below 2^16)
/// and a permute restores their order. Neighbours merge into `2w`-bit
/// fields (a multiply-add by `[1, 2^w]` with `MADD`, for `w <= 14`, else
/// masks and shifts), then into `4w`-bit fields per 64-bit lane, then
/// into one `8w`-bit field (`w` bytes) per 128-bit lane across its two
/// 64-bit halves. Each lane is stored at its byte offset (`0` and `w`):
/// 16 values end on a byte boundary whatever the parity of `w`. Both
/// stores end within 32 bytes of the run start; closer to the end of
/// `out` they go through a local buffer. Returns the number of values
/// packed (a multiple of 16).
///
/// # Safety
/// AVX2; `9 <= width <= 16` (`<= 14` with `MADD`), every value fits
/// `width`, `out.len() == ⌈values.len()·w/8⌉`.
#[target_feature(enable = "avx2")]
unsafe fn pack_mid_avx2<const MADD: bool>(values: &[u32], width: u32, out: &mut [u8]) -> usize {
    let n = values.len();
    let w = width as usize;
    let four_w = 4 * i64::from(width);
    // The multiplier of the first merge (`MADD` only, where it fits i16).
    let by_w = if MADD {
        _mm256_set1_epi32(1 | 1i32 << (width + 16))
    } else {
        _mm256_setzero_si256()
    };
    let (sh1, sh2) = (
        _mm_cvtsi32_si128(width as i32),
        _mm_cvtsi32_si128(2 * width as i32),
    );
    let (m32, m64) = (_mm256_set1_epi32(0xffff), _mm256_set1_epi64x(0xffff_ffff));
    let oct_left = _mm256_setr_epi64x(0, four_w, 0, four_w);
    let oct_right = _mm256_setr_epi64x(64, 64 - four_w, 64, 64 - four_w);
    let src = values.as_ptr();
    let dst = out.as_mut_ptr();
    let mut buf = [0u8; 32];
    let mut i = 0usize;
    while i + 16 <= n {
        // SAFETY: `i + 16 <= n = values.len()`: 16 u32 readable.
        let (a, b) = unsafe {
            (
                _mm256_loadu_si256(src.add(i).cast()),
                _mm256_loadu_si256(src.add(i + 8).cast()),
            )
        };
        // a0-3 b0-3 | a4-7 b4-7 as 16-bit lanes; the permute makes it
        // a0-7 | b0-7.
        let x = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packus_epi32(a, b));
        // Each 32-bit lane: even | odd << w.
        let x = if MADD {
            // Every lane is below 2^14, so signed 16-bit products are
            // exact and the sum is below 2^28.
            _mm256_madd_epi16(x, by_w)
        } else {
            _mm256_or_si256(
                _mm256_and_si256(x, m32),
                _mm256_sll_epi32(_mm256_srli_epi32::<16>(x), sh1),
            )
        };
        // Each 64-bit lane: 4w bits.
        let x = _mm256_or_si256(
            _mm256_and_si256(x, m64),
            _mm256_sll_epi64(_mm256_srli_epi64::<32>(x), sh2),
        );
        // Each 128-bit lane: low field | high field << 4w (8w bits).
        let t = _mm256_sllv_epi64(x, oct_left);
        let u = _mm256_srlv_epi64(x, oct_right);
        let x = _mm256_or_si256(_mm256_unpacklo_epi64(t, u), _mm256_unpackhi_epi64(t, u));
        let lo = _mm256_castsi256_si128(x);
        let hi = _mm256_extracti128_si256::<1>(x);
        let at = (i / 8) * w;
        if at + 32 <= out.len() {
            // SAFETY: the stores cover bytes `at .. at + 16` and
            // `at + w .. at + w + 16` (`w <= 16`), all below `at + 32 <=
            // out.len()`.
            unsafe {
                _mm_storeu_si128(dst.add(at).cast(), lo);
                _mm_storeu_si128(dst.add(at + w).cast(), hi);
            }
        } else {
            let p = buf.as_mut_ptr();
            // SAFETY: both stores end at `w + 16 <= 32`, inside `buf`.
            unsafe {
                _mm_storeu_si128(p.cast(), lo);
                _mm_storeu_si128(p.add(w).cast(), hi);
            }
            // The stores wrote every byte of `buf[..2w]`, and the run's
            // `2w` bytes lie inside `out`.
            out[at..at + 2 * w].copy_from_slice(&buf[..2 * w]);
        }
        i += 16;
    }
    i
}

/// Packs runs of 32 values of width `w <= 8` (byte-sized values):
/// saturating packs narrow 32 values to 32 bytes (exact, as every value
/// is below 256) and a permute restores their order, so each 64-bit lane
/// holds 8 consecutive values. Within the lane, neighbours merge into
/// `2w`-bit, `4w`-bit and finally `8w`-bit fields (`w` bytes); with `MADD`
/// (`w <= 6`) the first two merges are multiply-adds by `[1, 2^w]` and
/// `[1, 2^2w]`, else masks and shifts. A byte shuffle then puts the two
/// fields of each 128-bit lane side by side (`2w` bytes), stored at the
/// run start and `2w` bytes further. Both stores end within 32 bytes of
/// the run start; closer to the end of `out` they go through a local
/// buffer. Returns the number of values packed (a multiple of 32).
///
/// # Safety
/// AVX2; `1 <= width <= 8` (`<= 6` with `MADD`), every value fits
/// `width`, `out.len() == ⌈values.len()·w/8⌉`.
#[target_feature(enable = "avx2")]
unsafe fn pack_small_avx2<const MADD: bool>(values: &[u32], width: u32, out: &mut [u8]) -> usize {
    let n = values.len();
    let w = width as usize;
    let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    // Multipliers of the merges (`MADD` only, where they fit i8/i16).
    let (by_w, by_2w) = if MADD {
        (
            _mm256_set1_epi16(1 | 1i16 << (width + 8)),
            _mm256_set1_epi32(1 | 1i32 << (2 * width + 16)),
        )
    } else {
        (_mm256_setzero_si256(), _mm256_setzero_si256())
    };
    let (sh1, sh2, sh4) = (
        _mm_cvtsi32_si128(width as i32),
        _mm_cvtsi32_si128(2 * width as i32),
        _mm_cvtsi32_si128(4 * width as i32),
    );
    let (m16, m32, m64) = (
        _mm256_set1_epi16(0xff),
        _mm256_set1_epi32(0xffff),
        _mm256_set1_epi64x(0xffff_ffff),
    );
    // In each 128-bit lane: the low field's `w` bytes, then the high one's.
    let mut idx = [-1i8; 16];
    for b in 0..w {
        idx[b] = b as i8;
        idx[w + b] = (8 + b) as i8;
    }
    // SAFETY: two 16-byte loads from a local array of 16 i8.
    let compact = unsafe { _mm256_loadu2_m128i(idx.as_ptr().cast(), idx.as_ptr().cast()) };
    let src = values.as_ptr();
    let dst = out.as_mut_ptr();
    let mut buf = [0u8; 32];
    let mut i = 0usize;
    while i + 32 <= n {
        // SAFETY: `i + 32 <= n = values.len()`: 32 u32 readable.
        let (a, b, c, d) = unsafe {
            (
                _mm256_loadu_si256(src.add(i).cast()),
                _mm256_loadu_si256(src.add(i + 8).cast()),
                _mm256_loadu_si256(src.add(i + 16).cast()),
                _mm256_loadu_si256(src.add(i + 24).cast()),
            )
        };
        // Per 128-bit lane: a0-3 b0-3 c0-3 d0-3 | a4-7 b4-7 c4-7 d4-7
        // as bytes; the permute puts every 8 consecutive values in one
        // 64-bit lane.
        let x = _mm256_packus_epi16(_mm256_packus_epi32(a, b), _mm256_packus_epi32(c, d));
        let x = _mm256_permutevar8x32_epi32(x, order);
        let x = if MADD {
            // even + odd·2^w (< 2^12, no saturation), then even +
            // odd·2^2w (< 2^24) in each 32-bit lane.
            _mm256_madd_epi16(_mm256_maddubs_epi16(x, by_w), by_2w)
        } else {
            let x = _mm256_or_si256(
                _mm256_and_si256(x, m16),
                _mm256_sll_epi16(_mm256_srli_epi16::<8>(x), sh1),
            );
            _mm256_or_si256(
                _mm256_and_si256(x, m32),
                _mm256_sll_epi32(_mm256_srli_epi32::<16>(x), sh2),
            )
        };
        let x = _mm256_or_si256(
            _mm256_and_si256(x, m64),
            _mm256_sll_epi64(_mm256_srli_epi64::<32>(x), sh4),
        );
        let x = _mm256_shuffle_epi8(x, compact);
        let lo = _mm256_castsi256_si128(x);
        let hi = _mm256_extracti128_si256::<1>(x);
        let at = (i / 8) * w;
        if at + 32 <= out.len() {
            // SAFETY: the stores cover bytes `at .. at + 16` and
            // `at + 2w .. at + 2w + 16` (`2w <= 16`), all below
            // `at + 32 <= out.len()`.
            unsafe {
                _mm_storeu_si128(dst.add(at).cast(), lo);
                _mm_storeu_si128(dst.add(at + 2 * w).cast(), hi);
            }
        } else {
            let p = buf.as_mut_ptr();
            // SAFETY: both stores end at `2w + 16 <= 32`, inside `buf`.
            unsafe {
                _mm_storeu_si128(p.cast(), lo);
                _mm_storeu_si128(p.add(2 * w).cast(), hi);
            }
            // The stores wrote every byte of `buf[..4w]`, and the run's
            // `4w` bytes lie inside `out`.
            out[at..at + 4 * w].copy_from_slice(&buf[..4 * w]);
        }
        i += 32;
    }
    i
}

/// Packs blocks of 8 values with 64-bit variable shifts, for odd
/// (`ODD`) or even widths; returns the number of values packed (a
/// multiple of 8).
///
/// Eight values at width `w` take exactly `w` bytes, so block `j`
/// starts at byte `j·w`. In each 64-bit lane the pair of values becomes
/// one `2w`-bit field (`lo | hi << w`); in each 128-bit lane the two
/// fields become one `4w`-bit field (the upper one shifted left by `2w`
/// across the 64-bit halves, counts of 64 giving zero). The low lane
/// (values 0-3) is stored at the block start; the high lane (values
/// 4-7) starts at bit `4w`, byte `w/2`: for odd `w` it is first shifted
/// left by 4 bits across its 128 bits and takes over the low lane's
/// half-filled byte. Both stores end within 32 bytes of the block start;
/// a block closer than that to the end of `out` is stored into a local
/// buffer and its `w` bytes copied, so nothing past `out` is written.
///
/// # Safety
/// As [`pack_u32_avx2`], with `1 <= width <= 32` of parity `ODD`.
#[target_feature(enable = "avx2")]
unsafe fn pack_blocks_avx2<const ODD: bool>(values: &[u32], width: u32, out: &mut [u8]) -> usize {
    let n = values.len();
    let w = width as usize;
    // The byte where the high lane's first bit lands.
    let half = w / 2;
    let two_w = 2 * i64::from(width);
    let keep_lo = _mm256_set1_epi64x(0xffff_ffff);
    let pair_shift = _mm_cvtsi64_si128(i64::from(width));
    let quad_left = _mm256_setr_epi64x(0, two_w, 0, two_w);
    let quad_right = _mm256_setr_epi64x(64, 64 - two_w, 64, 64 - two_w);
    // For odd `w`, byte `half` of the low lane holds the low 4 bits of
    // the byte the high lane starts in.
    let take_shared = _mm_setr_epi8(
        half as i8, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    );
    let src = values.as_ptr();
    let dst = out.as_mut_ptr();
    let mut buf = [0u8; 32];
    let mut i = 0usize;
    while i + 8 <= n {
        // SAFETY: `i + 8 <= n = values.len()`: eight u32 readable.
        let x = unsafe { _mm256_loadu_si256(src.add(i).cast()) };
        // Each 64-bit lane: value 2k | value 2k+1 << w (2w bits).
        let pair = _mm256_or_si256(
            _mm256_and_si256(x, keep_lo),
            _mm256_sll_epi64(_mm256_srli_epi64::<32>(x), pair_shift),
        );
        // Each 128-bit lane: low field | high field << 2w (4w bits).
        let t = _mm256_sllv_epi64(pair, quad_left);
        let u = _mm256_srlv_epi64(pair, quad_right);
        let quad = _mm256_or_si256(_mm256_unpacklo_epi64(t, u), _mm256_unpackhi_epi64(t, u));
        let lo = _mm256_castsi256_si128(quad);
        let mut hi = _mm256_extracti128_si256::<1>(quad);
        if ODD {
            // Bit 4w is bit 4 of byte `half`: shift the high lane left
            // by 4 bits across its 128 bits (4w + 4 <= 128 for w <= 31)
            // and merge the low lane's part of the shared byte.
            hi = _mm_or_si128(
                _mm_or_si128(
                    _mm_slli_epi64::<4>(hi),
                    _mm_srli_epi64::<60>(_mm_bslli_si128::<8>(hi)),
                ),
                _mm_shuffle_epi8(lo, take_shared),
            );
        }
        // For even `w` the low lane's bytes from `half` on are zero, so
        // the second store overwrites nothing of it.
        let at = (i / 8) * w;
        if at + 32 <= out.len() {
            // SAFETY: the stores cover bytes `at .. at + 16` and
            // `at + half .. at + half + 16` (`half <= 16`), all below
            // `at + 32 <= out.len()`.
            unsafe {
                _mm_storeu_si128(dst.add(at).cast(), lo);
                _mm_storeu_si128(dst.add(at + half).cast(), hi);
            }
        } else {
            let b = buf.as_mut_ptr();
            // SAFETY: both stores end at `half + 16 <= 32`, inside `buf`.
            unsafe {
                _mm_storeu_si128(b.cast(), lo);
                _mm_storeu_si128(b.add(half).cast(), hi);
            }
            // The two stores wrote every byte of `buf[..w]` (`w <= half
            // + 16`), and the block's `w` bytes lie inside `out`.
            out[at..at + w].copy_from_slice(&buf[..w]);
        }
        i += 8;
    }
    i
}
