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
//! Packing `u32` likewise has a scalar reference path (a byte-at-a-time
//! accumulator), a portable path (a 64-bit accumulator flushed 8 bytes at
//! a time), and AVX2 and NEON paths that merge eight values into their `w`
//! bytes with 64-bit variable shifts (pairs into `2w`-bit fields, then
//! fields into one `4w`-bit field per 128 bits) and two 16-byte stores; for
//! widths up to 8 (16) the AVX2 path first narrows 32 (16) values to 8-bit
//! (16-bit) lanes and merges neighbours with multiply-adds, so the stores
//! start on byte boundaries. Every path writes the same bytes;
//! [`pack_u32_with`] runs a named path. Values are validated before any
//! path runs (one OR over the run, and a search for the offending index
//! only when it fails).
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
//! // Into a caller's buffer; every path writes the same bytes.
//! let mut buf = [0xFFu8; 4];
//! assert_eq!(bitpack::pack_u32_into(&values, width, &mut buf)?, 2);
//! assert_eq!(buf[..2], bytes[..]);
//! let mut scalar = Vec::new();
//! bitpack::pack_u32_with(unidb_kernels::Isa::Scalar, &values, width, &mut scalar)?;
//! assert_eq!(scalar, bytes);
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
    /// The output slice given to [`pack_u32_into`] is shorter than the
    /// packed run.
    #[error("output too small: {count} values of {width} bits need {needed} bytes, the output has {available}")]
    OutputTooSmall {
        /// Number of values to pack.
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

/// Checks `width <= 32` and that every value fits it: one OR over all
/// values, and only when that fails a search for the first offending one.
fn check_values_u32(values: &[u32], width: u32) -> Result<(), BitpackError> {
    check_width(width, 32)?;
    let mask = low_mask(width);
    if u64::from(values.iter().fold(0, |acc, &v| acc | v)) & !mask == 0 {
        return Ok(());
    }
    let index = values
        .iter()
        .position(|&v| u64::from(v) & !mask != 0)
        .expect("the OR of the values exceeds the mask, so one value does");
    Err(BitpackError::ValueTooWide {
        index,
        value: u64::from(values[index]),
        width,
    })
}

/// Scalar reference: packs `values` (each fitting `width <= 32`) into
/// `out`, which holds exactly [`packed_len`]`(values.len(), width)` bytes;
/// every byte of `out` is written.
pub(crate) fn pack_u32_scalar(values: &[u32], width: u32, out: &mut [u8]) {
    let mut acc: u64 = 0;
    let mut bits = 0u32;
    let mut at = 0usize;
    for &v in values {
        // bits < 8 here, so the value lands below bit 40.
        acc |= u64::from(v) << bits;
        bits += width;
        while bits >= 8 {
            out[at] = acc as u8;
            at += 1;
            acc >>= 8;
            bits -= 8;
        }
    }
    if bits > 0 {
        out[at] = acc as u8;
        at += 1;
    }
    debug_assert_eq!(at, out.len());
}

/// Word-at-a-time scalar packing (the portable path, and the tail of the
/// SIMD paths): a 64-bit accumulator flushed 8 bytes at a time. Same
/// contract as [`pack_u32_scalar`].
pub(crate) fn pack_u32_words(values: &[u32], width: u32, out: &mut [u8]) {
    if width == 0 {
        return;
    }
    let mut acc: u64 = 0;
    let mut bits = 0u32;
    let mut at = 0usize;
    for &v in values {
        let v = u64::from(v);
        // bits < 64 here.
        acc |= v << bits;
        bits += width;
        if bits >= 64 {
            // The 64 bits flushed are all part of the run, so 8 bytes fit.
            out[at..at + 8].copy_from_slice(&acc.to_le_bytes());
            at += 8;
            bits -= 64;
            // The `bits` high bits of `v` that did not fit.
            acc = if bits == 0 { 0 } else { v >> (width - bits) };
        }
    }
    let rest = bits.div_ceil(8) as usize;
    out[at..at + rest].copy_from_slice(&acc.to_le_bytes()[..rest]);
    debug_assert_eq!(at + rest, out.len());
}

/// A path's pack function (see `Table::pack_u32`).
type PackFn = fn(&[u32], u32, &mut [u8]);

/// The active path's pack function (from the shared kernel table).
fn active_pack() -> PackFn {
    Kernels::active().table().pack_u32
}

/// The pack function of `isa`, if this CPU can run it.
fn pack_fn(isa: Isa) -> Result<PackFn, BitpackError> {
    Ok(Kernels::for_isa(isa)
        .ok_or(BitpackError::UnavailableIsa(isa))?
        .table()
        .pack_u32)
}

/// Checks the values, grows `out` by the run and packs into the new tail.
fn pack_append(
    pack: PackFn,
    values: &[u32],
    width: u32,
    out: &mut Vec<u8>,
) -> Result<(), BitpackError> {
    check_values_u32(values, width)?;
    let start = out.len();
    out.resize(start + packed_len(values.len(), width), 0);
    pack(values, width, &mut out[start..]);
    Ok(())
}

/// Checks the values and the room in `out`, then packs into its start.
fn pack_slice(
    pack: PackFn,
    values: &[u32],
    width: u32,
    out: &mut [u8],
) -> Result<usize, BitpackError> {
    check_values_u32(values, width)?;
    let needed = packed_len(values.len(), width);
    if out.len() < needed {
        return Err(BitpackError::OutputTooSmall {
            count: values.len(),
            width,
            needed,
            available: out.len(),
        });
    }
    pack(values, width, &mut out[..needed]);
    Ok(needed)
}

/// Appends `values` packed at `width` bits to `out`, on the active kernel
/// path.
///
/// # Errors
/// [`BitpackError::WidthTooLarge`] when `width > 32`, and
/// [`BitpackError::ValueTooWide`] (nothing appended) when a value needs more
/// than `width` bits.
pub fn pack_u32(values: &[u32], width: u32, out: &mut Vec<u8>) -> Result<(), BitpackError> {
    pack_append(active_pack(), values, width, out)
}

/// Packs `values` at `width` bits into the start of `out` on the active
/// path and returns the number of bytes written, [`packed_len`]`(values.len(),
/// width)`. Bytes of `out` after the run are left as they were.
///
/// # Errors
/// As [`pack_u32`], and [`BitpackError::OutputTooSmall`] (nothing written)
/// when `out` is shorter than the run.
pub fn pack_u32_into(values: &[u32], width: u32, out: &mut [u8]) -> Result<usize, BitpackError> {
    pack_slice(active_pack(), values, width, out)
}

/// [`pack_u32`] on a named kernel path (to compare paths).
///
/// # Errors
/// As [`pack_u32`], and [`BitpackError::UnavailableIsa`] when this CPU
/// cannot run `isa`.
pub fn pack_u32_with(
    isa: Isa,
    values: &[u32],
    width: u32,
    out: &mut Vec<u8>,
) -> Result<(), BitpackError> {
    pack_append(pack_fn(isa)?, values, width, out)
}

/// [`pack_u32_into`] on a named kernel path (to compare paths without
/// allocating).
///
/// # Errors
/// As [`pack_u32_into`], and [`BitpackError::UnavailableIsa`] when this CPU
/// cannot run `isa`.
pub fn pack_u32_into_with(
    isa: Isa,
    values: &[u32],
    width: u32,
    out: &mut [u8],
) -> Result<usize, BitpackError> {
    pack_slice(pack_fn(isa)?, values, width, out)
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

    /// Safe entry stored in the AVX2 and AVX-512 kernel tables, which are
    /// only reachable through `Kernels::for_isa` after run-time detection
    /// (the AVX-512 path requires every AVX2-path feature too).
    pub(crate) fn unpack_u32(input: &[u8], width: u32, out: &mut [u32]) {
        debug_assert!(std::arch::is_x86_feature_detected!("avx2"));
        // SAFETY: this function is only stored in the AVX2 and AVX-512
        // kernel tables, reachable only through `Kernels::for_isa`, which
        // returns `None` unless run-time detection found AVX2 on this CPU
        // (the AVX-512 path's detection includes every AVX2-path feature).
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
    /// Safe entry stored in the AVX2 and AVX-512 kernel tables, which are
    /// only reachable through `Kernels::for_isa` after run-time detection
    /// (the AVX-512 path requires every AVX2-path feature too).
    pub(crate) fn pack_u32(values: &[u32], width: u32, out: &mut [u8]) {
        debug_assert!(std::arch::is_x86_feature_detected!("avx2"));
        // SAFETY: this function is only stored in the AVX2 and AVX-512
        // kernel tables, reachable only through `Kernels::for_isa`, which
        // returns `None` unless run-time detection found AVX2 on this CPU
        // (the AVX-512 path's detection includes every AVX2-path feature).
        unsafe { pack_u32_avx2(values, width, out) }
    }

    /// Packs `values` on AVX2: runs of 32 values for widths up to 8
    /// ([`pack_small_avx2`]) or of 16 values for widths up to 16
    /// ([`pack_mid_avx2`]), then blocks of 8 ([`pack_blocks_avx2`]), then
    /// fewer than 8 values with the word-at-a-time scalar path. Each part
    /// ends on a byte boundary, as 8 values take exactly `w` bytes.
    ///
    /// # Safety
    /// The CPU must support AVX2. Every value fits `width <= 32` and
    /// `out.len() == ⌈values.len()·w/8⌉`.
    #[target_feature(enable = "avx2")]
    unsafe fn pack_u32_avx2(values: &[u32], width: u32, out: &mut [u8]) {
        if width == 0 || values.len() < 8 {
            super::pack_u32_words(values, width, out);
            return;
        }
        let w = width as usize;
        let small = match width {
            // SAFETY: AVX2 as guaranteed by the caller; values fit `width`.
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
        super::pack_u32_words(&values[i..], width, &mut out[(i / 8) * w..]);
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
    unsafe fn pack_small_avx2<const MADD: bool>(
        values: &[u32],
        width: u32,
        out: &mut [u8],
    ) -> usize {
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
    unsafe fn pack_blocks_avx2<const ODD: bool>(
        values: &[u32],
        width: u32,
        out: &mut [u8],
    ) -> usize {
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
    /// Safe entry stored in the NEON kernel table, which is only reachable
    /// through `Kernels::for_isa(Isa::Neon)` after run-time detection.
    pub(crate) fn pack_u32(values: &[u32], width: u32, out: &mut [u8]) {
        // SAFETY: this function is only stored in the NEON kernel table,
        // reachable only through `Kernels::for_isa(Isa::Neon)`, which returns
        // `None` unless run-time detection found NEON on this CPU.
        unsafe { pack_u32_neon(values, width, out) }
    }

    /// Packs blocks of 8 values with 64-bit variable shifts (`ushl`, whose
    /// negative counts shift right and counts of ±64 give zero); fewer than
    /// 8 values at the end go to the word-at-a-time scalar path.
    ///
    /// The layout is the AVX2 one: each 64-bit lane turns its pair of
    /// values into a `2w`-bit field, each 128-bit register (values 0-3 and
    /// 4-7) its two fields into a `4w`-bit field. The first register is
    /// stored at the block start (byte `j·w`), the second at byte `w/2`,
    /// shifted left by 4 bits for odd `w` with the shared byte merged in.
    /// Both stores end within 32 bytes of the block start; a block closer
    /// than that to the end of `out` is stored into a local buffer and its
    /// `w` bytes copied, so nothing past `out` is written.
    ///
    /// # Safety
    /// The CPU must support NEON. Every value fits `width <= 32` and
    /// `out.len() == ⌈values.len()·w/8⌉`.
    #[target_feature(enable = "neon")]
    unsafe fn pack_u32_neon(values: &[u32], width: u32, out: &mut [u8]) {
        let n = values.len();
        if width == 0 || n < 8 {
            super::pack_u32_words(values, width, out);
            return;
        }
        let w = width as usize;
        let half = w / 2;
        let odd = i64::from(4 * (width & 1));
        let two_w = 2 * i64::from(width);
        let keep_lo = vdupq_n_u64(0xffff_ffff);
        let pair_shift = vdupq_n_s64(i64::from(width));
        let quad = [0, two_w, -64, two_w - 64];
        let shared = if odd != 0 { half as u8 } else { 0xFF };
        let mut take = [0xFFu8; 16];
        take[0] = shared;
        // SAFETY: loads from local arrays of 4 i64 and 16 u8.
        let (quad_left, quad_right, take_shared) = unsafe {
            (
                vld1q_s64(quad.as_ptr()),
                vld1q_s64(quad.as_ptr().add(2)),
                vld1q_u8(take.as_ptr()),
            )
        };
        let nib_left = vdupq_n_s64(odd);
        let nib_right = vdupq_n_s64(odd - 64);
        let zero = vdupq_n_u8(0);
        // Four values as one 4w-bit field in a 128-bit register.
        let fold = |x: uint32x4_t| -> uint64x2_t {
            let x = vreinterpretq_u64_u32(x);
            let pair = vorrq_u64(
                vandq_u64(x, keep_lo),
                vshlq_u64(vshrq_n_u64::<32>(x), pair_shift),
            );
            let t = vshlq_u64(pair, quad_left);
            let u = vshlq_u64(pair, quad_right);
            vorrq_u64(vzip1q_u64(t, u), vzip2q_u64(t, u))
        };
        let src = values.as_ptr();
        let dst = out.as_mut_ptr();
        let mut buf = [0u8; 32];
        let mut i = 0usize;
        while i + 8 <= n {
            // SAFETY: `i + 8 <= n = values.len()`: eight u32 readable.
            let (a, b) = unsafe { (vld1q_u32(src.add(i)), vld1q_u32(src.add(i + 4))) };
            let lo = vreinterpretq_u8_u64(fold(a));
            let hi = fold(b);
            // Shift left by 0 or 4 bits across 128 bits, merge the shared byte.
            let carry = vreinterpretq_u64_u8(vextq_u8::<8>(zero, vreinterpretq_u8_u64(hi)));
            let hi = vorrq_u8(
                vreinterpretq_u8_u64(vorrq_u64(
                    vshlq_u64(hi, nib_left),
                    vshlq_u64(carry, nib_right),
                )),
                vqtbl1q_u8(lo, take_shared),
            );
            let at = (i / 8) * w;
            if at + 32 <= out.len() {
                // SAFETY: the stores cover bytes `at .. at + 16` and
                // `at + half .. at + half + 16` (`half <= 16`), all below
                // `at + 32 <= out.len()`.
                unsafe {
                    vst1q_u8(dst.add(at), lo);
                    vst1q_u8(dst.add(at + half), hi);
                }
            } else {
                let p = buf.as_mut_ptr();
                // SAFETY: both stores end at `half + 16 <= 32`, inside `buf`.
                unsafe {
                    vst1q_u8(p, lo);
                    vst1q_u8(p.add(half), hi);
                }
                // The two stores wrote every byte of `buf[..w]`.
                out[at..at + w].copy_from_slice(&buf[..w]);
            }
            i += 8;
        }
        // The rest starts at bit i*w, a byte boundary (i is a multiple of 8).
        super::pack_u32_words(&values[i..], width, &mut out[(i / 8) * w..]);
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

    /// Lengths of the pack sweep: around the 8-value blocks and the 32-byte
    /// store window, and long runs.
    const PACK_LENS: &[usize] = if cfg!(miri) {
        &[0, 1, 9, 33]
    } else {
        &[0, 1, 7, 8, 9, 15, 16, 31, 33, 127, 1023, 1536]
    };

    /// Widths of the pack sweep (Miri interprets every bit operation).
    fn pack_widths() -> Vec<u32> {
        if cfg!(miri) {
            vec![0, 1, 3, 8, 11, 27, 31, 32]
        } else {
            (0..=32).collect()
        }
    }

    /// Packs `v` on `isa` three ways (appending to a non-empty `Vec`, into
    /// a longer slice full of garbage, into an exact slice full of garbage)
    /// and checks each against `want`; then unpacks on the same path.
    fn check_pack_on(isa: Isa, v: &[u32], width: u32, want: &[u8], what: &str) {
        let mut appended = vec![0x5A, 0xC3];
        pack_u32_with(isa, v, width, &mut appended).unwrap();
        assert_eq!(&appended[..2], &[0x5A, 0xC3], "{isa} {what}: prefix");
        assert_eq!(&appended[2..], want, "{isa} {what}: append");
        let mut longer = vec![0xFFu8; want.len() + 40];
        assert_eq!(
            pack_u32_into_with(isa, v, width, &mut longer).unwrap(),
            want.len()
        );
        assert_eq!(&longer[..want.len()], want, "{isa} {what}: into");
        assert!(
            longer[want.len()..].iter().all(|&b| b == 0xFF),
            "{isa} {what}: wrote past the run"
        );
        // The table entry itself, on an exact slice of garbage.
        let mut exact = vec![0xFFu8; want.len()];
        let pack = Kernels::for_isa(isa).unwrap().table().pack_u32;
        pack(v, width, &mut exact);
        assert_eq!(exact, want, "{isa} {what}: exact garbage slice");
        assert_eq!(
            unpack_u32_with(isa, want, v.len(), width).unwrap(),
            v,
            "{isa} {what}: round trip"
        );
    }

    #[test]
    fn pack_u32_every_path_matches_scalar_and_oracle() {
        for width in pack_widths() {
            let max = low_mask(width) as u32;
            for &n in PACK_LENS {
                let random: Vec<u32> = values(n, width, u64::from(width) * 31 + n as u64)
                    .iter()
                    .map(|&x| x as u32)
                    .collect();
                let shapes: [(&str, Vec<u32>); 4] = [
                    ("random", random),
                    ("ones", vec![max; n]),
                    ("zeros", vec![0; n]),
                    (
                        "alternating",
                        (0..n).map(|i| if i % 2 == 0 { max } else { 0 }).collect(),
                    ),
                ];
                for (shape, v) in &shapes {
                    let v64: Vec<u64> = v.iter().map(|&x| u64::from(x)).collect();
                    let want = oracle_pack(&v64, width);
                    assert_eq!(want.len(), packed_len(n, width));
                    let mut scalar = vec![0xFFu8; want.len()];
                    pack_u32_scalar(v, width, &mut scalar);
                    assert_eq!(scalar, want, "reference w={width} n={n} {shape}");
                    // The values start at offsets 0..=3 of a bigger buffer, so
                    // vector loads see every alignment (a sample under Miri).
                    let shifts: &[usize] = if cfg!(miri) { &[0, 3] } else { &[0, 1, 2, 3] };
                    for &shift in shifts {
                        let mut buf = vec![u32::MAX; shift];
                        buf.extend_from_slice(v);
                        let v = &buf[shift..];
                        let what = format!("w={width} n={n} {shape} shift={shift}");
                        for isa in Isa::available() {
                            check_pack_on(isa, v, width, &want, &what);
                        }
                        let mut active = Vec::new();
                        pack_u32(v, width, &mut active).unwrap();
                        assert_eq!(active, want, "active {what}");
                        let mut into = vec![0xFFu8; want.len()];
                        assert_eq!(pack_u32_into(v, width, &mut into).unwrap(), want.len());
                        assert_eq!(into, want, "active into {what}");
                    }
                }
            }
        }
    }

    #[test]
    fn pack_u32_errors_leave_the_output_alone() {
        for isa in Isa::available() {
            // The first value too wide is reported, and nothing is appended.
            let mut out = vec![9u8];
            assert_eq!(
                pack_u32_with(isa, &[0, 1, 9, 3, 200, 8], 3, &mut out),
                Err(BitpackError::ValueTooWide {
                    index: 2,
                    value: 9,
                    width: 3
                })
            );
            assert_eq!(out, [9]);
            // Width 0 takes only zeros.
            assert!(matches!(
                pack_u32_with(isa, &[0, 0, 1], 0, &mut out),
                Err(BitpackError::ValueTooWide { index: 2, .. })
            ));
            assert_eq!(
                pack_u32_with(isa, &[1], 33, &mut out),
                Err(BitpackError::WidthTooLarge { width: 33, max: 32 })
            );
            assert_eq!(out, [9]);
            // A too-wide value far into a long run (past many SIMD blocks).
            let mut v = vec![(1u32 << 11) - 1; 1000];
            v[777] = 1 << 11;
            let mut slice = [0xEEu8; 2000];
            assert_eq!(
                pack_u32_into_with(isa, &v, 11, &mut slice),
                Err(BitpackError::ValueTooWide {
                    index: 777,
                    value: 1 << 11,
                    width: 11
                })
            );
            // A slice one byte short is rejected before anything is written.
            let v: Vec<u32> = (0..20).collect();
            let needed = packed_len(20, 5);
            let mut short = vec![0xEEu8; needed - 1];
            assert_eq!(
                pack_u32_into_with(isa, &v, 5, &mut short),
                Err(BitpackError::OutputTooSmall {
                    count: 20,
                    width: 5,
                    needed,
                    available: needed - 1
                })
            );
            assert!(short.iter().chain(&slice).all(|&b| b == 0xEE));
            // Width 0 writes nothing, whatever the count.
            assert_eq!(pack_u32_into_with(isa, &[0; 100], 0, &mut []), Ok(0));
            pack_u32_with(isa, &[0; 100], 0, &mut out).unwrap();
            assert_eq!(out, [9]);
        }
        for isa in Isa::ALL {
            if !isa.is_available() {
                assert_eq!(
                    pack_u32_with(isa, &[1], 1, &mut Vec::new()),
                    Err(BitpackError::UnavailableIsa(isa))
                );
                assert_eq!(
                    pack_u32_into_with(isa, &[1], 1, &mut [0]),
                    Err(BitpackError::UnavailableIsa(isa))
                );
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn pack_random_every_path(
            raw in proptest::collection::vec(proptest::num::u32::ANY, 0..600),
            width in 0u32..=32,
            shift in 0usize..4,
        ) {
            let v: Vec<u32> = raw.iter().map(|&x| (u64::from(x) & low_mask(width)) as u32).collect();
            let v64: Vec<u64> = v.iter().map(|&x| u64::from(x)).collect();
            let want = oracle_pack(&v64, width);
            let mut buf = vec![7u32; shift];
            buf.extend_from_slice(&v);
            let v = &buf[shift..];
            let mut scalar = vec![0xFFu8; want.len()];
            pack_u32_scalar(v, width, &mut scalar);
            proptest::prop_assert_eq!(&scalar, &want);
            for isa in Isa::available() {
                let mut got = vec![0xFFu8; want.len() + 3];
                proptest::prop_assert_eq!(pack_u32_into_with(isa, v, width, &mut got), Ok(want.len()));
                proptest::prop_assert_eq!(&got[..want.len()], &want[..]);
                proptest::prop_assert_eq!(&got[want.len()..], &[0xFF; 3][..]);
                proptest::prop_assert_eq!(&unpack_u32_with(isa, &want, v.len(), width).unwrap(), v);
            }
        }
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
