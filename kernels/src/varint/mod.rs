//! Variable-length integers: LEB128, zigzag and stream-vbyte.
//!
//! # LEB128
//!
//! Unsigned LEB128 (as in protobuf, WebAssembly and DWARF): seven bits per
//! byte, least significant group first, the high bit of each byte set when
//! another byte follows. A `u64` takes 1 to 10 bytes, a `u32` 1 to 5.
//!
//! The encoding is canonical: the encoder always writes the fewest bytes, and
//! the decoders accept only that form, so equal values have equal bytes (the
//! bytes can be compared and hashed). Decoders reject, with a
//! [`VarintError`] naming the byte offset:
//!
//! - truncated input ([`VarintError::Truncated`]),
//! - too long input: a continuation bit on the 10th byte of a `u64` or the
//!   5th byte of a `u32` ([`VarintError::TooLong`]),
//! - bits beyond 64 (or 32) in the last byte ([`VarintError::Overflow`]),
//! - a redundant trailing zero byte, e.g. `80 00` for 0
//!   ([`VarintError::NonCanonical`]).
//!
//! ```
//! use unidb_kernels::varint;
//! # fn main() -> Result<(), varint::VarintError> {
//! let mut buf = Vec::new();
//! varint::encode_u64(300, &mut buf);
//! assert_eq!(buf, [0xAC, 0x02]);
//! assert_eq!(varint::decode_u64(&buf)?, (300, 2));
//! assert!(varint::decode_u64(&[0x80, 0x00]).is_err()); // non-canonical 0
//!
//! assert_eq!(varint::zigzag_encode_i64(-1), 1);
//! assert_eq!(varint::zigzag_decode_i64(2), 1);
//!
//! let values = [1u32, 300, 70_000, u32::MAX];
//! let mut bytes = Vec::new();
//! varint::encode_u32_slice(&values, &mut bytes);
//! assert_eq!(varint::decode_u32_slice(&bytes, 4)?, (values.to_vec(), bytes.len()));
//! # Ok(()) }
//! ```
//!
//! # Stream-vbyte
//!
//! [`stream`] holds a SIMD-decoded bulk codec for `u32` in the stream-vbyte
//! layout, with a differential variant for sorted ids and timestamps.

pub mod stream;

/// Errors of the varint decoders. Every offset is a byte index into the
/// slice given to the decoder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VarintError {
    /// The input ends inside a value.
    #[error("truncated input: the value starting at byte {start} needs byte {offset}, but the input ends there")]
    Truncated {
        /// Offset of the first byte of the incomplete value.
        start: usize,
        /// Offset of the first missing byte (the input's length).
        offset: usize,
    },
    /// The continuation bit is set on the last byte a value may use (the
    /// 10th for `u64`, the 5th for `u32`).
    #[error("varint too long: the value starting at byte {start} continues past byte {offset}, its {max_len}-byte limit")]
    TooLong {
        /// Offset of the first byte of the value.
        start: usize,
        /// Offset of the last permitted byte, whose continuation bit is set.
        offset: usize,
        /// The maximum encoded length (10 or 5).
        max_len: usize,
    },
    /// The last byte sets bits beyond the integer's width.
    #[error("varint overflow: byte {offset} of the value starting at byte {start} sets bits beyond {bits}")]
    Overflow {
        /// Offset of the first byte of the value.
        start: usize,
        /// Offset of the offending (last) byte.
        offset: usize,
        /// The integer width (64 or 32).
        bits: u32,
    },
    /// The value is not in its shortest form: its last byte is a redundant
    /// zero (LEB128: e.g. `80 00` for 0; stream-vbyte: a zero high byte).
    #[error("non-canonical encoding: byte {offset} is a redundant zero byte of the value starting at byte {start}")]
    NonCanonical {
        /// Offset of the first byte of the value.
        start: usize,
        /// Offset of the redundant zero byte.
        offset: usize,
    },
    /// The requested count cannot fit in the input: every value needs at
    /// least one byte (stream-vbyte: one data byte plus a quarter control
    /// byte), so nothing is allocated for it.
    #[error("count {count} cannot fit in the {available} bytes available from byte {offset}")]
    CountTooLarge {
        /// The number of values asked for.
        count: usize,
        /// The number of input bytes available.
        available: usize,
        /// Offset where decoding started.
        offset: usize,
    },
    /// Bytes remain after the last value where the whole input must be used.
    #[error("{count} trailing bytes after the last value, from byte {offset}")]
    TrailingBytes {
        /// Offset of the first trailing byte.
        offset: usize,
        /// Number of trailing bytes.
        count: usize,
    },
    /// Stream-vbyte: the unused 2-bit codes of the last control byte (when
    /// the count is not a multiple of four) are not zero.
    #[error("stream-vbyte control byte {offset} has non-zero unused length codes")]
    ControlPadding {
        /// Offset of the last control byte.
        offset: usize,
    },
    /// A decode path was asked for that this CPU (or build) cannot run.
    #[error("decode path {isa} is not available on this CPU")]
    UnavailableIsa {
        /// The path asked for.
        isa: crate::Isa,
    },
}

pub use unidb_common::bytes::leb128::{
    zigzag_decode_i32, zigzag_decode_i64, zigzag_encode_i32, zigzag_encode_i64, MAX_LEN_U32,
    MAX_LEN_U64,
};
use unidb_common::bytes::{leb128, Leb128Error};

impl From<Leb128Error> for VarintError {
    /// The same problem at the same offsets.
    #[inline]
    fn from(e: Leb128Error) -> Self {
        match e {
            Leb128Error::Truncated { start, offset } => VarintError::Truncated { start, offset },
            Leb128Error::TooLong {
                start,
                offset,
                max_len,
            } => VarintError::TooLong {
                start,
                offset,
                max_len,
            },
            Leb128Error::Overflow {
                start,
                offset,
                bits,
            } => VarintError::Overflow {
                start,
                offset,
                bits,
            },
            Leb128Error::NonCanonical { start, offset } => {
                VarintError::NonCanonical { start, offset }
            }
        }
    }
}

/// Number of bytes the LEB128 encoding of `value` takes (1 to 10).
///
/// ```
/// assert_eq!(unidb_kernels::varint::encoded_len_u64(127), 1);
/// assert_eq!(unidb_kernels::varint::encoded_len_u64(128), 2);
/// assert_eq!(unidb_kernels::varint::encoded_len_u64(u64::MAX), 10);
/// ```
#[inline]
pub const fn encoded_len_u64(value: u64) -> usize {
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Appends the LEB128 encoding of `value` to `out` (1 to 10 bytes).
///
/// ```
/// let mut out = Vec::new();
/// unidb_kernels::varint::encode_u64(u64::MAX, &mut out);
/// assert_eq!(out, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]);
/// ```
#[inline]
pub fn encode_u64(mut value: u64, out: &mut Vec<u8>) {
    let mut buf = [0u8; MAX_LEN_U64];
    let mut n = 0;
    while value >= 0x80 {
        buf[n] = (value as u8) | 0x80;
        value >>= 7;
        n += 1;
    }
    buf[n] = value as u8;
    out.extend_from_slice(&buf[..=n]);
}

/// Appends the LEB128 encoding of `value` to `out` (1 to 5 bytes).
#[inline]
pub fn encode_u32(value: u32, out: &mut Vec<u8>) {
    encode_u64(u64::from(value), out);
}

/// Decodes one LEB128 `u64` from the start of `input`.
///
/// Returns the value and the number of bytes read; bytes after the value are
/// ignored.
///
/// # Errors
/// [`VarintError::Truncated`], [`VarintError::TooLong`],
/// [`VarintError::Overflow`] or [`VarintError::NonCanonical`], with offsets
/// into `input`.
#[inline]
pub fn decode_u64(input: &[u8]) -> Result<(u64, usize), VarintError> {
    decode_u64_at(input, 0)
}

/// Decodes one LEB128 `u32` from the start of `input`.
///
/// # Errors
/// As [`decode_u64`], with a limit of 5 bytes and 32 bits.
#[inline]
pub fn decode_u32(input: &[u8]) -> Result<(u32, usize), VarintError> {
    decode_u32_at(input, 0)
}

/// Decodes the value starting at `start`; returns it and the offset just
/// past it. The reference, byte by byte: common's canonical decoder.
#[inline]
fn decode_u64_at(input: &[u8], start: usize) -> Result<(u64, usize), VarintError> {
    leb128::decode_u64_at(input, start).map_err(VarintError::from)
}

/// As [`decode_u64_at`] for `u32`.
#[inline]
fn decode_u32_at(input: &[u8], start: usize) -> Result<(u32, usize), VarintError> {
    leb128::decode_u32_at(input, start).map_err(VarintError::from)
}

/// Appends the LEB128 encodings of `values` to `out`, one after another.
pub fn encode_u64_slice(values: &[u64], out: &mut Vec<u8>) {
    encode_slice(values.iter().copied(), values.len(), MAX_LEN_U64, out);
}

/// Appends the LEB128 encodings of `values` to `out`, one after another.
pub fn encode_u32_slice(values: &[u32], out: &mut Vec<u8>) {
    encode_slice(
        values.iter().map(|&v| u64::from(v)),
        values.len(),
        MAX_LEN_U32,
        out,
    );
}

/// Bulk encoder: each value below 2⁵⁶ is spread into one 8-byte word
/// (7 bits per byte, continuation bits from its length) and stored whole,
/// advancing by its length; larger values use the byte loop.
#[inline(always)]
fn encode_slice(values: impl Iterator<Item = u64>, n: usize, max_len: usize, out: &mut Vec<u8>) {
    let start = out.len();
    // Worst case plus slack so every value can be stored as a full word.
    let room = n.saturating_mul(max_len).saturating_add(8);
    out.reserve(room);
    let base = out.spare_capacity_mut().as_mut_ptr().cast::<u8>();
    let mut pos = 0usize;
    for v in values {
        if v < 1 << 56 {
            let len = encoded_len_u64(v);
            let spread = (v & 0x7F)
                | ((v << 1) & (0x7F << 8))
                | ((v << 2) & (0x7F << 16))
                | ((v << 3) & (0x7F << 24))
                | ((v << 4) & (0x7F << 32))
                | ((v << 5) & (0x7F << 40))
                | ((v << 6) & (0x7F << 48))
                | ((v << 7) & (0x7F << 56));
            let cont = HIGH & ((1u64 << (8 * (len - 1))) - 1);
            // SAFETY: `pos <= max_len * (values before v)`, so `pos + 8 <=
            // room`, within the reserved spare capacity; unaligned write of
            // plain bytes.
            unsafe {
                base.add(pos)
                    .cast::<[u8; 8]>()
                    .write_unaligned((spread | cont).to_le_bytes());
            }
            pos += len;
        } else {
            let mut v = v;
            while v >= 0x80 {
                // SAFETY: as above; at most `max_len` bytes per value.
                unsafe { base.add(pos).write((v as u8) | 0x80) };
                v >>= 7;
                pos += 1;
            }
            // SAFETY: as above.
            unsafe { base.add(pos).write(v as u8) };
            pos += 1;
        }
    }
    // SAFETY: bytes `0..pos` of the spare capacity were written above (each
    // value's bytes as part of its word), and `pos <= room`.
    unsafe { out.set_len(start + pos) };
}

/// Decodes `count` consecutive LEB128 `u32` values from the start of
/// `input`; returns them and the number of bytes read (bytes after the last
/// value are ignored).
///
/// # Errors
/// [`VarintError::CountTooLarge`] (before allocating) when `count` exceeds
/// `input.len()`, else the first malformed value's error as in
/// [`decode_u32`], with offsets into `input`.
pub fn decode_u32_slice(input: &[u8], count: usize) -> Result<(Vec<u32>, usize), VarintError> {
    let mut out = Vec::new();
    let read = decode_u32_slice_into(input, count, &mut out)?;
    Ok((out, read))
}

/// Decodes `count` consecutive LEB128 `u64` values from the start of
/// `input`; returns them and the number of bytes read.
///
/// # Errors
/// As [`decode_u32_slice`], with the limits of [`decode_u64`].
pub fn decode_u64_slice(input: &[u8], count: usize) -> Result<(Vec<u64>, usize), VarintError> {
    let mut out = Vec::new();
    let read = decode_u64_slice_into(input, count, &mut out)?;
    Ok((out, read))
}

/// Like [`decode_u32_slice`], appending to `out` (to reuse its allocation).
/// Returns the number of bytes read. On error `out` keeps its old contents.
///
/// # Errors
/// As [`decode_u32_slice`].
pub fn decode_u32_slice_into(
    input: &[u8],
    count: usize,
    out: &mut Vec<u32>,
) -> Result<usize, VarintError> {
    check_count(input, count)?;
    let base = out.len();
    out.reserve(count);
    let result = decode_bulk::<u32>(input, base + count, out);
    if result.is_err() {
        out.truncate(base);
    }
    result
}

/// Like [`decode_u64_slice`], appending to `out`. Returns the number of
/// bytes read. On error `out` keeps its old contents.
///
/// # Errors
/// As [`decode_u64_slice`].
pub fn decode_u64_slice_into(
    input: &[u8],
    count: usize,
    out: &mut Vec<u64>,
) -> Result<usize, VarintError> {
    check_count(input, count)?;
    let base = out.len();
    out.reserve(count);
    let result = decode_bulk::<u64>(input, base + count, out);
    if result.is_err() {
        out.truncate(base);
    }
    result
}

fn check_count(input: &[u8], count: usize) -> Result<(), VarintError> {
    if count > input.len() {
        return Err(VarintError::CountTooLarge {
            count,
            available: input.len(),
            offset: 0,
        });
    }
    Ok(())
}

/// The integer width a bulk decode produces.
trait Width: Copy {
    /// Whether a decoded value exceeds this width.
    fn too_big(v: u64) -> bool;
    fn from_u64(v: u64) -> Self;
    fn decode_at(input: &[u8], start: usize) -> Result<(Self, usize), VarintError>;
}

impl Width for u32 {
    #[inline(always)]
    fn too_big(v: u64) -> bool {
        v > u64::from(u32::MAX)
    }
    #[inline(always)]
    fn from_u64(v: u64) -> Self {
        v as u32
    }
    #[inline(always)]
    fn decode_at(input: &[u8], start: usize) -> Result<(Self, usize), VarintError> {
        decode_u32_at(input, start)
    }
}

impl Width for u64 {
    #[inline(always)]
    fn too_big(_v: u64) -> bool {
        // Values decoded from one word have at most 56 bits.
        false
    }
    #[inline(always)]
    fn from_u64(v: u64) -> Self {
        v
    }
    #[inline(always)]
    fn decode_at(input: &[u8], start: usize) -> Result<(Self, usize), VarintError> {
        decode_u64_at(input, start)
    }
}

/// Value bits of the LEB128 value occupying bits `from..=end` of `word`
/// (`end` is the high bit of its last byte, `from` a multiple of 8), with
/// the 7-bit groups of at most 5 bytes gathered.
#[inline(always)]
fn field5(word: u64, from: u32, end: u32) -> u64 {
    let x = (word & (u64::MAX >> (63 - end))) >> from;
    (x & 0x7F)
        | ((x >> 1) & (0x7F << 7))
        | ((x >> 2) & (0x7F << 14))
        | ((x >> 3) & (0x7F << 21))
        | ((x >> 4) & (0x7F << 28))
}

const HIGH: u64 = 0x8080_8080_8080_8080;
const ONES: u64 = 0x0101_0101_0101_0101;

/// High bit set on each byte of `word` that is `0x00` and follows a byte
/// with its continuation bit set: a redundant trailing zero. (The classic
/// zero-byte test can flag a `0x01` after a zero byte, but that byte never
/// follows a continuation byte, so the result is exact.)
#[inline(always)]
fn redundant_zeros(word: u64) -> u64 {
    (word.wrapping_sub(ONES) & !word & HIGH) & ((word & HIGH) << 8)
}

/// Bulk decode until `out.len() == end_len` (capacity already reserved).
///
/// Fast path: while 8 bytes remain, read them as one little-endian word;
/// bytes with a clear high bit end values, so `trailing_zeros` of that mask
/// gives each value's end without a branch per byte. When four values end
/// inside the word (each then has at most 5 bytes), all four are decoded
/// from registers; canonical form (no redundant zero byte) is checked for
/// the whole word at once and overflow on the OR of the values. Anything
/// unusual (fewer than four ends, a flagged word, the last 8 bytes) goes
/// through the byte-wise reference decoder, which reports exact errors.
#[inline(always)]
fn decode_bulk<T: Width>(
    input: &[u8],
    end_len: usize,
    out: &mut Vec<T>,
) -> Result<usize, VarintError> {
    let mut pos = 0usize;
    while out.len() < end_len {
        let Some(bytes) = input.get(pos..pos + 8) else {
            let (v, next) = T::decode_at(input, pos)?;
            out.push(v);
            pos = next;
            continue;
        };
        let word = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
        let t0 = !word & HIGH;
        let t1 = t0 & t0.wrapping_sub(1);
        let t2 = t1 & t1.wrapping_sub(1);
        let t3 = t2 & t2.wrapping_sub(1);
        if t3 != 0 && out.len() + 4 <= end_len {
            let e0 = t0.trailing_zeros();
            let e1 = t1.trailing_zeros();
            let e2 = t2.trailing_zeros();
            let e3 = t3.trailing_zeros();
            let v0 = field5(word, 0, e0);
            let v1 = field5(word, e0 + 1, e1);
            let v2 = field5(word, e1 + 1, e2);
            let v3 = field5(word, e2 + 1, e3);
            let used = u64::MAX >> (63 - e3);
            let bad = (redundant_zeros(word) & used != 0) | T::too_big(v0 | v1 | v2 | v3);
            if !bad {
                out.extend_from_slice(&[
                    T::from_u64(v0),
                    T::from_u64(v1),
                    T::from_u64(v2),
                    T::from_u64(v3),
                ]);
                pos += (e3 as usize + 1) / 8;
                continue;
            }
        }
        // One value by the reference decoder.
        let (v, next) = T::decode_at(input, pos)?;
        out.push(v);
        pos = next;
    }
    Ok(pos)
}

#[cfg(test)]
mod tests;
