//! Byte reading with offsets, and the `plain` layouts shared by codecs.
//!
//! Codecs read their input through common's [`Reader`]: its errors name
//! what was read and the byte offset, and convert into the matching
//! [`CodecError`] (`Truncated`, `Varint`, `CountTooLarge`) with `?`.

pub use unidb_common::bytes::Reader;
use unidb_common::bytes::{ReadError, ReadErrorKind};
use unidb_kernels::varint;

use super::{CodecError, DataKind, Values};

impl From<ReadError> for CodecError {
    /// The same problem at the same offset: a truncation is
    /// [`CodecError::Truncated`], a bad varint [`CodecError::Varint`], a
    /// count above its limit [`CodecError::CountTooLarge`].
    fn from(e: ReadError) -> Self {
        let ReadError { what, offset, kind } = e;
        match kind {
            ReadErrorKind::Truncated { needed, available } => CodecError::Truncated {
                what,
                offset,
                needed,
                available,
            },
            ReadErrorKind::Varint(source) => CodecError::Varint {
                what,
                offset,
                source: source.into(),
            },
            ReadErrorKind::CountTooLarge { count, max } => CodecError::CountTooLarge {
                what,
                offset,
                count,
                max,
            },
            ReadErrorKind::CountExceedsInput {
                count,
                item_size,
                available,
            } => CodecError::CountTooLarge {
                what,
                offset,
                count,
                max: available / item_size.max(1),
            },
            kind => CodecError::Corrupt {
                offset,
                reason: format!("{what}: {kind}"),
            },
        }
    }
}

/// Appends an unsigned LEB128 value.
pub fn put_varint(out: &mut Vec<u8>, v: u64) {
    varint::encode_u64(v, out);
}

/// Appends a zigzag LEB128 `i64`.
pub fn put_zigzag(out: &mut Vec<u8>, v: i64) {
    varint::encode_u64(varint::zigzag_encode_i64(v), out);
}

/// Writes `values` in the `plain` layout of their kind: 8-byte little-endian
/// integers and float bits, bit-packed booleans, LEB128 lengths then bytes
/// for text and bytes.
pub fn write_plain(values: &Values, out: &mut Vec<u8>) {
    match values {
        Values::Int(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Values::Float(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_bits().to_le_bytes())),
        Values::Bool(v) => {
            let bits: Vec<u32> = v.iter().map(|&b| u32::from(b)).collect();
            unidb_kernels::bitpack::pack_u32(&bits, 1, out).expect("0/1 fit one bit");
        }
        Values::Text(v) => write_blobs(v.iter().map(|s| s.as_bytes()), out),
        Values::Bytes(v) => write_blobs(v.iter().map(|s| s.as_slice()), out),
    }
}

fn write_blobs<'a>(items: impl Iterator<Item = &'a [u8]> + Clone, out: &mut Vec<u8>) {
    for b in items.clone() {
        put_varint(out, b.len() as u64);
    }
    for b in items {
        out.extend_from_slice(b);
    }
}

/// Reads `count` values of `kind` in the `plain` layout.
///
/// # Errors
/// Truncated input, invalid UTF-8 in text, or text beyond the budget.
pub fn read_plain(
    r: &mut Reader<'_>,
    kind: DataKind,
    count: usize,
    budget: &mut Budget,
) -> Result<Values, CodecError> {
    Ok(match kind {
        DataKind::Int => {
            let b = r.take(checked_bytes(count, 8, r)?, "plain integers")?;
            Values::Int(
                b.chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect(),
            )
        }
        DataKind::Float => {
            let b = r.take(checked_bytes(count, 8, r)?, "plain floats")?;
            Values::Float(
                b.chunks_exact(8)
                    .map(|c| f64::from_bits(u64::from_le_bytes(c.try_into().expect("8 bytes"))))
                    .collect(),
            )
        }
        DataKind::Bool => {
            let at = r.offset();
            let bits = unidb_kernels::bitpack::unpack_u32(r.rest(), count, 1)
                .map_err(|source| CodecError::Bitpack { offset: at, source })?;
            r.advance(
                unidb_kernels::bitpack::packed_len(count, 1),
                "plain booleans",
            )?;
            Values::Bool(bits.into_iter().map(|b| b == 1).collect())
        }
        DataKind::Bytes => Values::Bytes(read_blobs(r, count, budget)?),
        DataKind::Text => text_from_blobs(read_blobs(r, count, budget)?, r.offset())?,
    })
}

/// Converts byte strings to text, rejecting invalid UTF-8.
///
/// # Errors
/// [`CodecError::InvalidUtf8`] naming the first bad value.
pub fn text_from_blobs(blobs: Vec<Vec<u8>>, offset: usize) -> Result<Values, CodecError> {
    let mut out = Vec::with_capacity(blobs.len());
    for (index, b) in blobs.into_iter().enumerate() {
        match String::from_utf8(b) {
            Ok(s) => out.push(s),
            Err(e) => {
                return Err(CodecError::InvalidUtf8 {
                    index,
                    offset,
                    valid_up_to: e.utf8_error().valid_up_to(),
                })
            }
        }
    }
    Ok(Values::Text(out))
}

fn checked_bytes(count: usize, size: usize, r: &Reader<'_>) -> Result<usize, CodecError> {
    count.checked_mul(size).ok_or(CodecError::Truncated {
        what: "fixed-size values",
        offset: r.offset(),
        needed: usize::MAX,
        available: r.remaining(),
    })
}

fn read_blobs(
    r: &mut Reader<'_>,
    count: usize,
    budget: &mut Budget,
) -> Result<Vec<Vec<u8>>, CodecError> {
    let mut out = Vec::with_capacity(count.min(r.remaining()));
    for_each_blob(r, count, budget, |b| out.push(b.to_vec()))?;
    Ok(out)
}

/// Reads the `plain` layout of `count` byte strings (`count` LEB128
/// lengths, then the bytes) and hands each to `f`, charging `budget`.
pub(super) fn for_each_blob<'a>(
    r: &mut Reader<'a>,
    count: usize,
    budget: &mut Budget,
    mut f: impl FnMut(&'a [u8]),
) -> Result<(), CodecError> {
    // Each length takes at least one byte: check before allocating.
    if count > r.remaining() {
        return Err(CodecError::Truncated {
            what: "value lengths",
            offset: r.offset(),
            needed: count,
            available: r.remaining(),
        });
    }
    let mut lens = Vec::with_capacity(count);
    for _ in 0..count {
        lens.push(r.varint("value length")?);
    }
    for len in lens {
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let b = r.take(len, "value bytes")?;
        budget.charge(len)?;
        f(b);
    }
    Ok(())
}

/// The decoded bytes a decoder may still produce.
///
/// # The decode budget
/// Every decoder of this crate (a column, a change batch, a sync message, a
/// snapshot) decodes `n` input bytes with a budget of
/// [`FACTOR`](Self::FACTOR)` · n + `[`ALLOWANCE`](Self::ALLOWANCE) bytes,
/// fixed before anything is read, and charges it **before** it allocates:
///
/// * every stream node (a block, or a child stream such as dictionary codes
///   or run lengths) its `count · `[`value_bytes`]`(kind)` on entry, whatever
///   codec it names, so a constant integer block costs its 512 KiB like a
///   plain one;
/// * text and bytes their content as codecs materialise it (a dictionary
///   entry once per reference, a repeated value once per repetition);
/// * change batches a fixed cost per change (see
///   syncdb's `columnar` module).
///
/// Decoding therefore allocates at most a small multiple of the budget (the
/// live intermediate streams of one block besides the output), i.e. a
/// constant per input byte plus a constant, however the input is crafted.
///
/// Legitimate data can decode to more than that: 2000 copies of one 1 KB
/// string encode to a few dozen bytes. Every encoder of this crate
/// therefore measures what its output will charge and, when that exceeds
/// the budget of its length, appends zero padding until it does not (a
/// column's version-2 header, a change batch's padding): whatever an
/// encoder writes decodes, and the padding costs at most one byte per
/// [`FACTOR`](Self::FACTOR) decoded bytes beyond the allowance.
#[derive(Debug, Clone)]
pub struct Budget {
    left: usize,
    limit: usize,
}

/// The bytes one decoded value of `kind` is charged before its content:
/// 8 for numbers, 1 for booleans, and the size of a `String`/`Vec<u8>`
/// (24 bytes on 64-bit targets) for text and bytes.
pub fn value_bytes(kind: DataKind) -> usize {
    match kind {
        DataKind::Int | DataKind::Float => 8,
        DataKind::Bool => 1,
        DataKind::Text | DataKind::Bytes => std::mem::size_of::<Vec<u8>>(),
    }
}

impl Budget {
    /// Decoded bytes allowed per input byte. A decoded change costs about
    /// 300 bytes and sync batches of the row workload carry under one byte
    /// per change: a smaller factor would pad ordinary batches.
    pub const FACTOR: usize = 1024;

    /// Decoded bytes allowed besides [`FACTOR`](Self::FACTOR) per input
    /// byte (1 MiB).
    pub const ALLOWANCE: usize = 1 << 20;

    /// The budget for decoding `input_len` bytes:
    /// `FACTOR · input_len + ALLOWANCE`.
    pub fn for_input(input_len: usize) -> Self {
        Self::with_limit(Self::limit_for(input_len))
    }

    /// `FACTOR · input_len + ALLOWANCE` (saturating).
    pub fn limit_for(input_len: usize) -> usize {
        input_len
            .saturating_mul(Self::FACTOR)
            .saturating_add(Self::ALLOWANCE)
    }

    /// The least input length whose budget covers `cost` decoded bytes.
    pub fn input_for(cost: usize) -> usize {
        cost.saturating_sub(Self::ALLOWANCE).div_ceil(Self::FACTOR)
    }

    /// A budget of exactly `limit` bytes.
    pub fn with_limit(limit: usize) -> Self {
        Budget { left: limit, limit }
    }

    /// A budget that never runs out: encoders decode their own output
    /// with it to measure what it charges ([`Budget::used`]).
    pub fn unlimited() -> Self {
        Self::with_limit(usize::MAX)
    }

    /// Bytes still allowed.
    pub fn left(&self) -> usize {
        self.left
    }

    /// Bytes charged so far.
    pub fn used(&self) -> usize {
        self.limit - self.left
    }

    /// Spends `n` bytes.
    ///
    /// # Errors
    /// [`CodecError::OutputTooLarge`] when the budget is exhausted.
    pub fn charge(&mut self, n: usize) -> Result<(), CodecError> {
        match self.left.checked_sub(n) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => Err(CodecError::OutputTooLarge { limit: self.limit }),
        }
    }

    /// Spends `count · each` bytes (saturating).
    ///
    /// # Errors
    /// As [`Budget::charge`].
    pub fn charge_values(&mut self, count: usize, each: usize) -> Result<(), CodecError> {
        self.charge(count.saturating_mul(each))
    }
}
