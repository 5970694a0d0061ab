//! Bit-packing: fixed-width unsigned integers packed densely into bytes.
//!
//! Value `i` of a run packed at width `w` occupies bits `i*w .. (i+1)*w` of
//! the output, least significant bit first (bit `b` of the stream is bit
//! `b % 8` of byte `b / 8`). A run of `n` values takes exactly
//! [`packed_len`]`(n, w)` = ⌈n·w / 8⌉ bytes; unused high bits of the last
//! byte are zero. Width 0 stores nothing (every value is 0).
//!
//! `u32` values take widths 0..=32 and `u64` values 0..=64. Packing rejects
//! values that do not fit the width; unpacking checks the width and that the
//! input holds the whole run *before* allocating, so a corrupt count cannot
//! make it allocate more than the input can describe.
//!
//! Unpacking `u32` has a scalar reference path, an AVX2 path (in-lane byte
//! shuffles of the bytes holding eight values, then per-lane variable
//! shifts) and a NEON
//! path (`tbl` lookups of those bytes from a 32-byte window, then per-lane
//! variable shifts), chosen
//! from the active kernel path ([`Kernels::active`]) once per process;
//! [`unpack_u32_with`] runs a named path, to compare them.
//!
//! ```
//! use unidb_kernels::bitpack;
//! # fn main() -> Result<(), bitpack::BitpackError> {
//! let values = [1u32, 5, 7, 0, 3];
//! let width = bitpack::width_u32(&values); // 3 bits suffice
//! assert_eq!(width, 3);
//! let mut bytes = Vec::new();
//! bitpack::pack_u32(&values, width, &mut bytes)?;
//! assert_eq!(bytes.len(), bitpack::packed_len(5, 3)); // 15 bits -> 2 bytes
//! assert_eq!(bitpack::unpack_u32(&bytes, 5, width)?, values);
//! assert!(bitpack::unpack_u32(&bytes[..1], 5, width).is_err());
//! # Ok(()) }
//! ```

use crate::{Isa, Kernels};

/// Errors of bit-packing and unpacking.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BitpackError {
    /// The width exceeds the integer's size.
    #[error("bit width {width} is larger than {max}")]
    WidthTooLarge {
        /// The width given.
        width: u32,
        /// The largest width of the integer type (32 or 64).
        max: u32,
    },
    /// A value needs more bits than the width.
    #[error("value {value} at index {index} does not fit in {width} bits")]
    ValueTooWide {
        /// Index of the value.
        index: usize,
        /// The value.
        value: u64,
        /// The width asked for.
        width: u32,
    },
    /// The input is shorter than the packed run.
    #[error("truncated input: {count} values of {width} bits need {needed} bytes, the input has {available}")]
    Truncated {
        /// Number of values asked for.
        count: usize,
        /// Their width.
        width: u32,
        /// Bytes needed (saturated at `usize::MAX` when the count overflows).
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// The path asked for cannot run on this CPU.
    #[error("kernel path {0} is not available on this CPU")]
    UnavailableIsa(Isa),
}

/// Bytes taken by `count` values packed at `width` bits: ⌈count·width/8⌉,
/// saturating at `usize::MAX`.
pub fn packed_len(count: usize, width: u32) -> usize {
    match count.checked_mul(width as usize) {
        Some(bits) => bits.div_ceil(8),
        None => usize::MAX,
    }
}

/// The fewest bits that hold every value (0 for an empty or all-zero slice).
pub fn width_u32(values: &[u32]) -> u32 {
    32 - values.iter().fold(0, |acc, &v| acc | v).leading_zeros()
}

/// The fewest bits that hold every value (0 for an empty or all-zero slice).
pub fn width_u64(values: &[u64]) -> u32 {
    64 - values.iter().fold(0, |acc, &v| acc | v).leading_zeros()
}

fn check_width(width: u32, max: u32) -> Result<(), BitpackError> {
    if width > max {
        Err(BitpackError::WidthTooLarge { width, max })
    } else {
        Ok(())
    }
}

fn check_input(input: &[u8], count: usize, width: u32) -> Result<usize, BitpackError> {
    let needed = packed_len(count, width);
    if input.len() < needed {
        return Err(BitpackError::Truncated {
            count,
            width,
            needed,
            available: input.len(),
        });
    }
    Ok(needed)
}

/// Appends `values` packed at `width` bits to `out`.
///
/// # Errors
/// [`BitpackError::WidthTooLarge`] when `width > 32`, and
/// [`BitpackError::ValueTooWide`] (nothing appended) when a value needs more
/// than `width` bits.
pub fn pack_u32(values: &[u32], width: u32, out: &mut Vec<u8>) -> Result<(), BitpackError> {
    check_width(width, 32)?;
    let mask = low_mask(width);
    if let Some(index) = values.iter().position(|&v| u64::from(v) & !mask != 0) {
        return Err(BitpackError::ValueTooWide {
            index,
            value: u64::from(values[index]),
            width,
        });
    }
    let total = packed_len(values.len(), width);
    out.reserve(total);
    let start = out.len();
    let mut acc: u64 = 0;
    let mut bits = 0u32;
    for &v in values {
        acc |= u64::from(v) << bits;
        bits += width;
        while bits >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            bits -= 8;
        }
    }
    if bits > 0 {
        out.push(acc as u8);
    }
    debug_assert_eq!(out.len() - start, total);
    Ok(())
}

/// Appends `values` packed at `width` bits to `out`.
///
/// # Errors
/// As [`pack_u32`], with widths up to 64.
pub fn pack_u64(values: &[u64], width: u32, out: &mut Vec<u8>) -> Result<(), BitpackError> {
    check_width(width, 64)?;
    let mask = low_mask(width);
    if let Some(index) = values.iter().position(|&v| v & !mask != 0) {
        return Err(BitpackError::ValueTooWide {
            index,
            value: values[index],
            width,
        });
    }
    out.reserve(packed_len(values.len(), width));
    let mut acc: u128 = 0;
    let mut bits = 0u32;
    for &v in values {
        acc |= u128::from(v) << bits;
        bits += width;
        while bits >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            bits -= 8;
        }
    }
    if bits > 0 {
        out.push(acc as u8);
    }
    Ok(())
}

fn low_mask(width: u32) -> u64 {
    if width >= 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    }
}

/// Reads up to 8 bytes at `at` as a little-endian `u64` (missing bytes are 0).
#[inline(always)]
fn read_u64_le(input: &[u8], at: usize) -> u64 {
    if let Some(chunk) = input.get(at..at + 8) {
        u64::from_le_bytes(chunk.try_into().expect("8 bytes"))
    } else {
        let mut buf = [0u8; 8];
        let tail = input.get(at..).unwrap_or(&[]);
        buf[..tail.len()].copy_from_slice(tail);
        u64::from_le_bytes(buf)
    }
}

/// Scalar reference: unpacks `out.len()` values; `input` holds them all.
pub(crate) fn unpack_u32_scalar(input: &[u8], width: u32, out: &mut [u32]) {
    if width == 0 {
        out.fill(0);
        return;
    }
    let mask = low_mask(width);
    let mut bit = 0usize;
    for slot in out.iter_mut() {
        // width <= 32 and shift <= 7: the value lies in the 8 bytes read.
        let word = read_u64_le(input, bit >> 3);
        *slot = ((word >> (bit & 7)) & mask) as u32;
        bit += width as usize;
    }
}

fn unpack_u64_scalar(input: &[u8], width: u32, out: &mut [u64]) {
    if width == 0 {
        out.fill(0);
        return;
    }
    let mask = low_mask(width);
    let mut bit = 0usize;
    for slot in out.iter_mut() {
        let at = bit >> 3;
        let shift = bit & 7;
        let lo = read_u64_le(input, at);
        // A value of up to 64 bits starting at bit `shift` of byte `at`
        // may spill into byte `at + 8`.
        let hi = input.get(at + 8).copied().unwrap_or(0);
        let v = if shift == 0 {
            lo
        } else {
            (lo >> shift) | (u64::from(hi) << (64 - shift))
        };
        *slot = v & mask;
        bit += width as usize;
    }
}

/// The active path's unpack function (from the shared kernel table).
fn active() -> fn(&[u8], u32, &mut [u32]) {
    Kernels::active().table().unpack_u32
}

/// Unpacks `count` values of `width` bits from the start of `input`, on the
/// active kernel path. Bytes after the run are ignored.
///
/// # Errors
/// [`BitpackError::WidthTooLarge`] when `width > 32`,
/// [`BitpackError::Truncated`] when `input` is shorter than
/// [`packed_len`]`(count, width)` (checked before allocating).
pub fn unpack_u32(input: &[u8], count: usize, width: u32) -> Result<Vec<u32>, BitpackError> {
    check_width(width, 32)?;
    let needed = check_input(input, count, width)?;
    let mut out = vec![0u32; count];
    active()(&input[..needed], width, &mut out);
    Ok(out)
}

/// Unpacks `out.len()` values into `out` on the active path; returns the
/// number of input bytes the run takes.
///
/// # Errors
/// As [`unpack_u32`].
pub fn unpack_u32_into(input: &[u8], width: u32, out: &mut [u32]) -> Result<usize, BitpackError> {
    check_width(width, 32)?;
    let needed = check_input(input, out.len(), width)?;
    active()(&input[..needed], width, out);
    Ok(needed)
}

/// [`unpack_u32`] on a named kernel path (to compare paths).
///
/// # Errors
/// As [`unpack_u32`], and [`BitpackError::UnavailableIsa`] when this CPU
/// cannot run `isa`.
pub fn unpack_u32_with(
    isa: Isa,
    input: &[u8],
    count: usize,
    width: u32,
) -> Result<Vec<u32>, BitpackError> {
    let unpack = Kernels::for_isa(isa)
        .ok_or(BitpackError::UnavailableIsa(isa))?
        .table()
        .unpack_u32;
    check_width(width, 32)?;
    let needed = check_input(input, count, width)?;
    let mut out = vec![0u32; count];
    unpack(&input[..needed], width, &mut out);
    Ok(out)
}

/// [`unpack_u32_into`] on a named kernel path (to compare paths without
/// allocating).
///
/// # Errors
/// As [`unpack_u32_with`].
pub fn unpack_u32_into_with(
    isa: Isa,
    input: &[u8],
    width: u32,
    out: &mut [u32],
) -> Result<usize, BitpackError> {
    let unpack = Kernels::for_isa(isa)
        .ok_or(BitpackError::UnavailableIsa(isa))?
        .table()
        .unpack_u32;
    check_width(width, 32)?;
    let needed = check_input(input, out.len(), width)?;
    unpack(&input[..needed], width, out);
    Ok(needed)
}

/// Unpacks `count` values of `width` bits (up to 64) from the start of
/// `input` (scalar path).
///
/// # Errors
/// [`BitpackError::WidthTooLarge`] when `width > 64`,
/// [`BitpackError::Truncated`] when the input is too short (checked before
/// allocating).
pub fn unpack_u64(input: &[u8], count: usize, width: u32) -> Result<Vec<u64>, BitpackError> {
    check_width(width, 64)?;
    let needed = check_input(input, count, width)?;
    let mut out = vec![0u64; count];
    unpack_u64_scalar(&input[..needed], width, &mut out);
    Ok(out)
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    use std::arch::x86_64::*;

    /// Safe entry stored in the AVX2 kernel table, which is only reachable
    /// through `Kernels::for_isa(Isa::Avx2)` after run-time detection.
    pub(crate) fn unpack_u32(input: &[u8], width: u32, out: &mut [u32]) {
        debug_assert!(std::arch::is_x86_feature_detected!("avx2"));
        // SAFETY: this function is only stored in the AVX2 kernel table,
        // reachable only through `Kernels::for_isa(Isa::Avx2)`, which returns
        // `None` unless run-time detection found AVX2 on this CPU.
        unsafe { unpack_u32_avx2(input, width, out) }
    }

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
    /// The CPU must support AVX2. `input` must hold ⌈out.len()·w/8⌉ bytes.
    #[target_feature(enable = "avx2")]
    unsafe fn unpack_u32_avx2(input: &[u8], width: u32, out: &mut [u32]) {
        let n = out.len();
        if width == 0 || n < 8 {
            super::unpack_u32_scalar(input, width, out);
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
                let bytes = unsafe {
                    _mm256_loadu2_m128i(win.as_ptr().add(off).cast(), win.as_ptr().cast())
                };
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
        super::unpack_u32_scalar(&input[(i / 8) * w..], width, &mut out[i..]);
    }
}

#[cfg(target_arch = "aarch64")]
pub(crate) mod neon {
    use std::arch::aarch64::*;

    /// Safe entry stored in the NEON kernel table, which is only reachable
    /// through `Kernels::for_isa(Isa::Neon)` after run-time detection.
    pub(crate) fn unpack_u32(input: &[u8], width: u32, out: &mut [u32]) {
        // SAFETY: this function is only stored in the NEON kernel table,
        // reachable only through `Kernels::for_isa(Isa::Neon)`, which returns
        // `None` unless run-time detection found NEON on this CPU.
        unsafe { unpack_u32_neon(input, width, out) }
    }

    /// The 32 bytes at `input[at..]`: loaded in place when they are all
    /// inside `input`, else copied into `buf` with zeros after the end.
    ///
    /// # Safety
    /// NEON.
    #[inline(always)]
    unsafe fn window(input: &[u8], at: usize, buf: &mut [u8; 32]) -> uint8x16x2_t {
        let p = match input.get(at..at + 32) {
            Some(w) => w.as_ptr(),
            None => {
                let rest = input.get(at..).unwrap_or(&[]);
                *buf = [0; 32];
                buf[..rest.len()].copy_from_slice(rest);
                buf.as_ptr()
            }
        };
        // SAFETY: `p` points at 32 readable bytes (a sub-slice of `input` or
        // `buf`); the caller guarantees NEON.
        unsafe { uint8x16x2_t(vld1q_u8(p), vld1q_u8(p.add(16))) }
    }

    /// Unpacks blocks of 8 values with table lookups (`tbl` over a 32-byte
    /// window), then per-lane variable shifts; fewer than 8 values at the
    /// end go to the scalar path.
    ///
    /// Eight values at width `w` take exactly `w` bytes, so block `j`
    /// starts at byte `j·w` and lane `k` reads from byte `(k·w) / 8` of the
    /// block, shifted right by `(k·w) % 8`: one index vector and one shift
    /// vector serve the whole run. Every byte of a block lies in its first
    /// `w <= 32` bytes, so one 32-byte window holds it; near the end of the
    /// input the window is copied into a zero-padded buffer, so nothing past
    /// `input` is read.
    ///
    /// # Safety
    /// The CPU must support NEON. `input` must hold ⌈out.len()·w/8⌉ bytes.
    #[target_feature(enable = "neon")]
    unsafe fn unpack_u32_neon(input: &[u8], width: u32, out: &mut [u32]) {
        let n = out.len();
        if width == 0 || n < 8 {
            super::unpack_u32_scalar(input, width, out);
            return;
        }
        let w = width as usize;
        let dst = out.as_mut_ptr();
        let mut buf = [0u8; 32];
        let mut i = 0usize;
        if width <= 25 {
            // 32-bit lanes: shift (<= 7) + width (<= 25) fits in 32 bits,
            // so lane k needs the 4 bytes from (k·w)/8, all below 32.
            let mut idx = [0u8; 32];
            let mut sh = [0i32; 8];
            for k in 0..8 {
                let bit = k * w;
                for b in 0..4 {
                    idx[4 * k + b] = ((bit >> 3) + b) as u8;
                }
                sh[k] = -((bit & 7) as i32);
            }
            // SAFETY: loads from local arrays of 32 u8 and 8 i32.
            let (idx_lo, idx_hi, sh_lo, sh_hi) = unsafe {
                (
                    vld1q_u8(idx.as_ptr()),
                    vld1q_u8(idx.as_ptr().add(16)),
                    vld1q_s32(sh.as_ptr()),
                    vld1q_s32(sh.as_ptr().add(4)),
                )
            };
            let mask = vdupq_n_u32(((1u64 << width) - 1) as u32);
            while i + 8 <= n {
                // SAFETY: `window` reads inside `input` or `buf`; NEON is
                // enabled here.
                let t = unsafe { window(input, (i / 8) * w, &mut buf) };
                let lo = vreinterpretq_u32_u8(vqtbl2q_u8(t, idx_lo));
                let hi = vreinterpretq_u32_u8(vqtbl2q_u8(t, idx_hi));
                // A negative count shifts right.
                let lo = vandq_u32(vshlq_u32(lo, sh_lo), mask);
                let hi = vandq_u32(vshlq_u32(hi, sh_hi), mask);
                // SAFETY: `i + 8 <= n = out.len()`: eight u32 slots.
                unsafe {
                    vst1q_u32(dst.add(i), lo);
                    vst1q_u32(dst.add(i + 4), hi);
                }
                i += 8;
            }
        } else {
            // 64-bit lanes: lane k takes the 8 bytes from (k·w)/8; indices
            // past the window (>= 32) select 0, and any bytes after the
            // value's last one only feed bits above it, masked off.
            let mut idx = [0u8; 64];
            let mut sh = [0i64; 8];
            for k in 0..8 {
                let bit = k * w;
                for b in 0..8 {
                    let at = (bit >> 3) + b;
                    idx[8 * k + b] = if at < 32 { at as u8 } else { 0xFF };
                }
                sh[k] = -((bit & 7) as i64);
            }
            // SAFETY: loads from local arrays of 64 u8 and 8 i64.
            let (ix, sx) = unsafe {
                (
                    [0, 16, 32, 48].map(|o| vld1q_u8(idx.as_ptr().add(o))),
                    [0, 2, 4, 6].map(|o| vld1q_s64(sh.as_ptr().add(o))),
                )
            };
            let mask = vdupq_n_u32(((1u64 << width) - 1) as u32);
            while i + 8 <= n {
                // SAFETY: as in the 32-bit branch.
                let t = unsafe { window(input, (i / 8) * w, &mut buf) };
                let lane = |q: usize| {
                    let v = vreinterpretq_u64_u8(vqtbl2q_u8(t, ix[q]));
                    // Keep the low 32 bits of each shifted 64-bit lane.
                    vmovn_u64(vshlq_u64(v, sx[q]))
                };
                let lo = vandq_u32(vcombine_u32(lane(0), lane(1)), mask);
                let hi = vandq_u32(vcombine_u32(lane(2), lane(3)), mask);
                // SAFETY: `i + 8 <= out.len()`: eight u32 slots.
                unsafe {
                    vst1q_u32(dst.add(i), lo);
                    vst1q_u32(dst.add(i + 4), hi);
                }
                i += 8;
            }
        }
        // The rest starts at bit i*w, a byte boundary (i is a multiple of 8).
        super::unpack_u32_scalar(&input[(i / 8) * w..], width, &mut out[i..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Independent oracle: bit-by-bit.
    fn oracle_pack(values: &[u64], width: u32) -> Vec<u8> {
        let mut out = vec![0u8; packed_len(values.len(), width)];
        for (i, &v) in values.iter().enumerate() {
            for b in 0..width as usize {
                if (v >> b) & 1 == 1 {
                    let bit = i * width as usize + b;
                    out[bit / 8] |= 1 << (bit % 8);
                }
            }
        }
        out
    }

    fn oracle_unpack(input: &[u8], count: usize, width: u32) -> Vec<u64> {
        (0..count)
            .map(|i| {
                (0..width as usize).fold(0u64, |acc, b| {
                    let bit = i * width as usize + b;
                    acc | (u64::from((input[bit / 8] >> (bit % 8)) & 1) << b)
                })
            })
            .collect()
    }

    /// Deterministic values of exactly `width` bits at most, with the top
    /// bit hit often.
    fn values(count: usize, width: u32, seed: u64) -> Vec<u64> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..count)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let v = if i % 5 == 0 { u64::MAX } else { s };
                v & low_mask(width)
            })
            .collect()
    }

    // Miri interprets every bit operation: keep its sweep small.
    const LENS: &[usize] = if cfg!(miri) {
        &[0, 1, 7, 33]
    } else {
        &[0, 1, 7, 31, 33, 1023]
    };

    #[test]
    fn u32_every_width_and_length_matches_oracle_on_every_path() {
        for width in 0..=32u32 {
            for &n in LENS {
                let v64 = values(n, width, u64::from(width) * 1000 + n as u64);
                let v32: Vec<u32> = v64.iter().map(|&v| v as u32).collect();
                let mut packed = Vec::new();
                pack_u32(&v32, width, &mut packed).unwrap();
                assert_eq!(packed, oracle_pack(&v64, width), "pack w={width} n={n}");
                let oracle: Vec<u32> = oracle_unpack(&packed, n, width)
                    .into_iter()
                    .map(|v| v as u32)
                    .collect();
                assert_eq!(oracle, v32);
                let scalar = unpack_u32_with(Isa::Scalar, &packed, n, width).unwrap();
                assert_eq!(scalar, v32, "scalar w={width} n={n}");
                for isa in Isa::available() {
                    let got = unpack_u32_with(isa, &packed, n, width).unwrap();
                    assert_eq!(got, scalar, "{isa} w={width} n={n}");
                }
                assert_eq!(unpack_u32(&packed, n, width).unwrap(), v32);
                let mut into = vec![7u32; n];
                assert_eq!(
                    unpack_u32_into(&packed, width, &mut into).unwrap(),
                    packed.len()
                );
                assert_eq!(into, v32);
                for isa in Isa::available() {
                    let mut into = vec![7u32; n];
                    assert_eq!(
                        unpack_u32_into_with(isa, &packed, width, &mut into).unwrap(),
                        packed.len()
                    );
                    assert_eq!(into, v32, "{isa} into w={width} n={n}");
                }
            }
        }
    }

    #[test]
    fn u32_unpack_with_trailing_bytes_and_offsets() {
        // Extra bytes after the run must not change the result, on any path.
        for width in [1u32, 9, 25, 26, 31, 32] {
            let v: Vec<u32> = values(100, width, 3).iter().map(|&x| x as u32).collect();
            let mut packed = Vec::new();
            pack_u32(&v, width, &mut packed).unwrap();
            packed.extend_from_slice(&[0xFF; 16]);
            for isa in Isa::available() {
                assert_eq!(unpack_u32_with(isa, &packed, 100, width).unwrap(), v);
            }
        }
    }

    /// Offsets of the packed run in its buffer.
    const SHIFTS: &[usize] = if cfg!(miri) {
        &[0, 3]
    } else {
        &[0, 1, 3, 7, 15]
    };

    #[test]
    fn u32_unaligned_input_and_extreme_values_on_every_path() {
        // The packed run starts at every offset 0..16 of a buffer (so vector
        // loads see every alignment); values are all-ones of the width, all
        // zeros, or alternating extremes.
        // Miri interprets every shuffle: a sample of the widths there.
        let widths: Vec<u32> = if cfg!(miri) {
            vec![0, 1, 7, 8, 13, 25, 26, 32]
        } else {
            (0..=32).collect()
        };
        for width in widths {
            let max = low_mask(width) as u32;
            for &n in LENS {
                let shapes: [Vec<u32>; 3] = [
                    vec![max; n],
                    vec![0; n],
                    (0..n).map(|i| if i % 2 == 0 { max } else { 0 }).collect(),
                ];
                for v in &shapes {
                    let mut packed = Vec::new();
                    pack_u32(v, width, &mut packed).unwrap();
                    for &shift in SHIFTS {
                        let mut buf = vec![0xA5u8; shift];
                        buf.extend_from_slice(&packed);
                        let input = &buf[shift..];
                        let scalar = unpack_u32_with(Isa::Scalar, input, n, width).unwrap();
                        assert_eq!(&scalar, v, "scalar w={width} n={n} shift={shift}");
                        for isa in Isa::available() {
                            let got = unpack_u32_with(isa, input, n, width).unwrap();
                            assert_eq!(got, scalar, "{isa} w={width} n={n} shift={shift}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn u64_every_width_and_length_matches_oracle() {
        for width in 0..=64u32 {
            for &n in LENS {
                let v = values(n, width, u64::from(width) * 7 + n as u64);
                let mut packed = Vec::new();
                pack_u64(&v, width, &mut packed).unwrap();
                assert_eq!(packed, oracle_pack(&v, width), "pack w={width} n={n}");
                assert_eq!(unpack_u64(&packed, n, width).unwrap(), v, "w={width} n={n}");
                assert_eq!(oracle_unpack(&packed, n, width), v);
            }
        }
    }

    #[test]
    fn errors_are_typed() {
        assert_eq!(
            pack_u32(&[1], 33, &mut Vec::new()),
            Err(BitpackError::WidthTooLarge { width: 33, max: 32 })
        );
        assert_eq!(
            pack_u32(&[0, 8], 3, &mut Vec::new()),
            Err(BitpackError::ValueTooWide {
                index: 1,
                value: 8,
                width: 3
            })
        );
        assert!(matches!(
            pack_u64(&[1 << 40], 40, &mut Vec::new()),
            Err(BitpackError::ValueTooWide { index: 0, .. })
        ));
        assert!(matches!(
            unpack_u64(&[], 1, 65),
            Err(BitpackError::WidthTooLarge { .. })
        ));
        // A huge count in a tiny input errors before allocating.
        assert!(matches!(
            unpack_u32(&[0; 20], 1 << 40, 5),
            Err(BitpackError::Truncated { available: 20, .. })
        ));
        assert!(matches!(
            unpack_u64(&[0; 20], usize::MAX, 64),
            Err(BitpackError::Truncated {
                needed: usize::MAX,
                ..
            })
        ));
        // Width 0 needs no bytes for any count.
        assert_eq!(unpack_u32(&[], 3, 0).unwrap(), vec![0, 0, 0]);
        // Every truncation of a packed run is rejected.
        let v: Vec<u32> = (0..40).collect();
        let mut packed = Vec::new();
        pack_u32(&v, 6, &mut packed).unwrap();
        for cut in 0..packed.len() {
            for isa in Isa::available() {
                assert!(matches!(
                    unpack_u32_with(isa, &packed[..cut], 40, 6),
                    Err(BitpackError::Truncated { .. })
                ));
            }
        }
    }

    #[test]
    fn widths() {
        assert_eq!(width_u32(&[]), 0);
        assert_eq!(width_u32(&[0, 0]), 0);
        assert_eq!(width_u32(&[1, 2, 4]), 3);
        assert_eq!(width_u32(&[u32::MAX]), 32);
        assert_eq!(width_u64(&[u64::MAX]), 64);
        assert_eq!(width_u64(&[1 << 40]), 41);
    }

    proptest::proptest! {
        #[test]
        fn round_trip_random(v in proptest::collection::vec(proptest::num::u32::ANY, 0..300), width in 0u32..=32) {
            let v: Vec<u32> = v.into_iter().map(|x| (u64::from(x) & low_mask(width)) as u32).collect();
            let mut packed = Vec::new();
            pack_u32(&v, width, &mut packed).unwrap();
            for isa in Isa::available() {
                proptest::prop_assert_eq!(&unpack_u32_with(isa, &packed, v.len(), width).unwrap(), &v);
            }
        }
    }
}
