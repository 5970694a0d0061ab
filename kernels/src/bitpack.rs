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

/// The kernels of `isa`, if this CPU can run it.
fn kernels(isa: Isa) -> Result<&'static Kernels, BitpackError> {
    Kernels::for_isa(isa).ok_or(BitpackError::UnavailableIsa(isa))
}

/// Checks the values, grows `out` by the run and packs into the new tail.
fn pack_append(
    k: &Kernels,
    values: &[u32],
    width: u32,
    out: &mut Vec<u8>,
) -> Result<(), BitpackError> {
    check_values_u32(values, width)?;
    let start = out.len();
    out.resize(start + packed_len(values.len(), width), 0);
    k.pack_u32(values, width, &mut out[start..]);
    Ok(())
}

/// Checks the values and the room in `out`, then packs into its start.
fn pack_slice(
    k: &Kernels,
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
    k.pack_u32(values, width, &mut out[..needed]);
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
    pack_append(Kernels::active(), values, width, out)
}

/// Packs `values` at `width` bits into the start of `out` on the active
/// path and returns the number of bytes written, [`packed_len`]`(values.len(),
/// width)`. Bytes of `out` after the run are left as they were.
///
/// # Errors
/// As [`pack_u32`], and [`BitpackError::OutputTooSmall`] (nothing written)
/// when `out` is shorter than the run.
pub fn pack_u32_into(values: &[u32], width: u32, out: &mut [u8]) -> Result<usize, BitpackError> {
    pack_slice(Kernels::active(), values, width, out)
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
    pack_append(kernels(isa)?, values, width, out)
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
    pack_slice(kernels(isa)?, values, width, out)
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
    Kernels::active().unpack_u32(&input[..needed], width, &mut out);
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
    Kernels::active().unpack_u32(&input[..needed], width, out);
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
    let k = kernels(isa)?;
    check_width(width, 32)?;
    let needed = check_input(input, count, width)?;
    let mut out = vec![0u32; count];
    k.unpack_u32(&input[..needed], width, &mut out);
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
    let k = kernels(isa)?;
    check_width(width, 32)?;
    let needed = check_input(input, out.len(), width)?;
    k.unpack_u32(&input[..needed], width, out);
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

#[cfg(test)]
mod tests;
