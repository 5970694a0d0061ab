//! Stream-vbyte: a bulk `u32` codec built for SIMD decoding.
//!
//! Layout (Lemire, Kurz and Rupp, "Stream VByte", 2017, as the reference C
//! library writes it): for `n` values, first `ceil(n / 4)` control bytes,
//! then the data bytes. Each control byte holds four 2-bit codes, value `i`
//! of the group in bits `2i..2i+2` (least significant first); code `k` means
//! the value takes `k + 1` little-endian data bytes. When `n` is not a
//! multiple of four, the unused codes of the last control byte are zero.
//!
//! # Canonical form and validation
//!
//! The encoder writes each value in the fewest bytes (0 takes one byte), and
//! the decoders accept only that form, so equal sequences have equal bytes:
//!
//! - a value whose highest data byte is zero (more bytes than needed) is
//!   [`VarintError::NonCanonical`] (the SIMD paths check this in-register by
//!   comparing each lane with the minimum its length implies);
//! - non-zero unused codes in the last control byte are
//!   [`VarintError::ControlPadding`];
//! - data shorter than the control bytes announce is
//!   [`VarintError::Truncated`]; a `count` that cannot fit in the input at
//!   all (each value needs one data byte and a quarter control byte) is
//!   [`VarintError::CountTooLarge`], checked before anything is allocated;
//! - [`decode_u32`] requires the input to end exactly after the last value
//!   ([`VarintError::TrailingBytes`]); [`decode_u32_prefix`] allows trailing
//!   bytes and returns the number of bytes consumed.
//!
//! # Paths
//!
//! Decoding runs on the path of [`Kernels::active`](crate::Kernels::active)
//! (so `UNIDB_ISA` governs it), chosen once per process:
//!
//! - `scalar`: the reference (a group of four values per step, read as one
//!   128-bit window; value by value near the end and to report errors);
//! - `portable`: the scalar code too, since SSE2 (the x86-64 baseline) has no
//!   byte shuffle (and `wide` offers none);
//! - `avx2`: `pshufb` with a 256-entry shuffle table and a 256-entry length
//!   table, 32 values (eight control bytes) per iteration;
//! - `neon`: `tbl` (`vqtbl1q_u8`) with the same tables, eight values per
//!   iteration.
//!
//! The SIMD paths check the remaining input once per iteration and never
//! read past it: values whose 16-byte window would cross the end are decoded
//! by the scalar code, which also reports errors (a SIMD path that detects a
//! non-canonical value re-runs the scalar code to name its offset). There is
//! no pre-pass over the control bytes: the data length is validated as a
//! by-product of decoding. [`Decoder::for_isa`] gives any available path,
//! to compare paths in tests and benchmarks.
//!
//! Encoding also follows the active path, and every path writes the same
//! bytes: `scalar` and `portable` compute one length and make one unaligned
//! 4-byte store per value; `avx2` takes sixteen values per iteration
//! (control bytes straight from `movemask` after saturating byte
//! arithmetic, then `pshufb` with the inverse shuffle table to compact each
//! group of four, one 16-byte store per group); `neon` takes eight, with
//! `clz`-derived codes and `tbl`. The values left after the last whole
//! block go through the scalar code.
//! [`encode_into_with`] runs a named path.
//!
//! The differential variants store wrapping differences between consecutive
//! values (the first against `initial`): small for sorted ids and
//! timestamps. Decoding rebuilds the values with an in-register prefix sum.
//!
//! ```
//! use unidb_kernels::varint::stream;
//! # fn main() -> Result<(), unidb_kernels::varint::VarintError> {
//! let values = [1u32, 300, 70_000, u32::MAX, 0];
//! let bytes = stream::encode_u32(&values);
//! // 2 control bytes, then 1 + 2 + 3 + 4 + 1 data bytes.
//! assert_eq!(bytes.len(), 2 + 11);
//! assert_eq!(stream::decode_u32(&bytes, values.len())?, values);
//!
//! let ids = [1000u32, 1003, 1010, 1500];
//! let bytes = stream::encode_u32_delta(&ids, 0);
//! assert_eq!(bytes.len(), 1 + 2 + 1 + 1 + 2);
//! assert_eq!(stream::decode_u32_delta(&bytes, ids.len(), 0)?, ids);
//! # Ok(()) }
//! ```

use std::mem::MaybeUninit;

use super::VarintError;
use crate::{Isa, Kernels};

pub(crate) mod tables;

use tables::value_len;

/// A decode path: decodes `out.len()` values whose control bytes are `ctrl`
/// and whose data starts at `data[0]` (`data` may hold more bytes, or too
/// few: then the result is [`VarintError::Truncated`]), differential from
/// `initial` for the path's differential entry (the plain entry ignores
/// it). Returns the number of data bytes used; on `Ok` every element of
/// `out` is written. `base` is the offset of `data` in the caller's input,
/// for error offsets. A path never reads outside `ctrl` and `data` nor
/// writes outside `out`, whatever their lengths; callers pass
/// `ctrl.len() == out.len().div_ceil(4)`.
///
/// # Safety
/// The CPU supports the path (the entries live in its kernel table).
pub(crate) type DecodeFn = unsafe fn(
    ctrl: &[u8],
    data: &[u8],
    out: &mut [MaybeUninit<u32>],
    initial: u32,
    base: usize,
) -> Result<usize, VarintError>;

/// The stream-vbyte decoder of one path.
///
/// ```
/// use unidb_kernels::{varint::stream::{self, Decoder}, Isa};
/// let bytes = stream::encode_u32(&[5, 500, 50_000]);
/// for isa in Isa::available() {
///     let d = Decoder::for_isa(isa).expect("available paths have decoders");
///     assert_eq!(d.decode_u32(&bytes, 3).unwrap(), [5, 500, 50_000]);
/// }
/// ```
pub struct Decoder {
    /// The kernels of the path, whose table holds the decode functions.
    kernels: &'static Kernels,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder").field("isa", &self.isa()).finish()
    }
}

/// The scalar reference decoder (a [`DecodeFn`]; also the portable path's,
/// since SSE2 has no byte shuffle).
pub(crate) fn decode_scalar(
    ctrl: &[u8],
    data: &[u8],
    out: &mut [MaybeUninit<u32>],
    _initial: u32,
    base: usize,
) -> Result<usize, VarintError> {
    decode_scalar_from(ctrl, data, out, 0, 0, None, base)
}

/// The differential scalar reference decoder (a [`DecodeFn`]).
pub(crate) fn decode_scalar_delta(
    ctrl: &[u8],
    data: &[u8],
    out: &mut [MaybeUninit<u32>],
    initial: u32,
    base: usize,
) -> Result<usize, VarintError> {
    decode_scalar_from(ctrl, data, out, 0, 0, Some(initial), base)
}

impl Decoder {
    /// The decoder of the path `kernels` (kept in that path's `Kernels`).
    pub(crate) const fn new(kernels: &'static Kernels) -> Decoder {
        Decoder { kernels }
    }

    /// The decoder of `isa`, or `None` when this CPU (or build) lacks it.
    /// It decodes through that path's kernel table, so the same detection
    /// guards it.
    pub fn for_isa(isa: Isa) -> Option<&'static Decoder> {
        Kernels::for_isa(isa).map(Kernels::stream_decoder)
    }

    /// The decoder of the active kernel path ([`Kernels::active`]).
    pub fn active() -> &'static Decoder {
        Kernels::active().stream_decoder()
    }

    /// The path of this decoder.
    pub fn isa(&self) -> Isa {
        self.kernels.isa()
    }

    /// Decodes exactly `count` values that must fill `input` entirely.
    ///
    /// # Errors
    /// See the [module documentation](self); offsets are into `input`.
    pub fn decode_u32(&self, input: &[u8], count: usize) -> Result<Vec<u32>, VarintError> {
        let mut out = Vec::new();
        self.decode_impl(input, count, None, true, &mut out)?;
        Ok(out)
    }

    /// Decodes `count` values from the start of `input`; returns them and
    /// the number of bytes consumed (trailing bytes are allowed).
    ///
    /// # Errors
    /// As [`Decoder::decode_u32`], without [`VarintError::TrailingBytes`].
    pub fn decode_u32_prefix(
        &self,
        input: &[u8],
        count: usize,
    ) -> Result<(Vec<u32>, usize), VarintError> {
        let mut out = Vec::new();
        let used = self.decode_impl(input, count, None, false, &mut out)?;
        Ok((out, used))
    }

    /// Decodes differential values that must fill `input` entirely (see
    /// [`encode_u32_delta`]).
    ///
    /// # Errors
    /// As [`Decoder::decode_u32`].
    pub fn decode_u32_delta(
        &self,
        input: &[u8],
        count: usize,
        initial: u32,
    ) -> Result<Vec<u32>, VarintError> {
        let mut out = Vec::new();
        self.decode_impl(input, count, Some(initial), true, &mut out)?;
        Ok(out)
    }

    /// Decodes `count` differential values from the start of `input`;
    /// returns them and the number of bytes consumed.
    ///
    /// # Errors
    /// As [`Decoder::decode_u32_prefix`].
    pub fn decode_u32_delta_prefix(
        &self,
        input: &[u8],
        count: usize,
        initial: u32,
    ) -> Result<(Vec<u32>, usize), VarintError> {
        let mut out = Vec::new();
        let used = self.decode_impl(input, count, Some(initial), false, &mut out)?;
        Ok((out, used))
    }

    /// Decodes `count` values from the start of `input`, appending them to
    /// `out` (to reuse its allocation); differential when `initial` is
    /// `Some`. Returns the number of bytes consumed (trailing bytes are
    /// allowed). On error `out` keeps its old contents.
    ///
    /// # Errors
    /// As [`Decoder::decode_u32_prefix`].
    pub fn decode_into(
        &self,
        input: &[u8],
        count: usize,
        initial: Option<u32>,
        out: &mut Vec<u32>,
    ) -> Result<usize, VarintError> {
        self.decode_impl(input, count, initial, false, out)
    }

    fn decode_impl(
        &self,
        input: &[u8],
        count: usize,
        delta: Option<u32>,
        exact: bool,
        out: &mut Vec<u32>,
    ) -> Result<usize, VarintError> {
        let ctrl_len = count.div_ceil(4);
        if ctrl_len
            .checked_add(count)
            .is_none_or(|need| need > input.len())
        {
            return Err(VarintError::CountTooLarge {
                count,
                available: input.len(),
                offset: 0,
            });
        }
        let (ctrl, rest) = input.split_at(ctrl_len);
        if !count.is_multiple_of(4) && ctrl[ctrl_len - 1] >> (2 * (count % 4)) != 0 {
            return Err(VarintError::ControlPadding {
                offset: ctrl_len - 1,
            });
        }
        out.reserve(count);
        let spare = &mut out.spare_capacity_mut()[..count];
        let data_used = self
            .kernels
            .stream_decode(ctrl, rest, spare, delta, ctrl_len)?;
        let used = ctrl_len + data_used;
        if exact && used < input.len() {
            return Err(VarintError::TrailingBytes {
                offset: used,
                count: input.len() - used,
            });
        }
        let len = out.len() + count;
        // SAFETY: on `Ok` the decode function wrote all `count` elements of
        // the spare capacity (the `DecodeFn` contract), and `reserve` made
        // room for them.
        unsafe { out.set_len(len) };
        Ok(used)
    }
}

/// Scalar decode of values `first..out.len()`, whose data starts at
/// `data[pos]`; `delta` carries the previous value in differential mode.
/// Safe and bounds-checked: malformed input gives an error, never a panic.
pub(crate) fn decode_scalar_from(
    ctrl: &[u8],
    data: &[u8],
    out: &mut [MaybeUninit<u32>],
    first: usize,
    pos: usize,
    delta: Option<u32>,
    base: usize,
) -> Result<usize, VarintError> {
    match delta {
        None => scalar_groups::<false>(ctrl, data, out, first, pos, 0, base),
        Some(prev) => scalar_groups::<true>(ctrl, data, out, first, pos, prev, base),
    }
}

/// Scalar fast part: whole control bytes while 16 data bytes remain, each
/// group read as one `u128` window without per-value bounds checks; the
/// rest (and any error) goes value by value through [`scalar_values`].
#[inline(always)]
fn scalar_groups<const DELTA: bool>(
    ctrl: &[u8],
    data: &[u8],
    out: &mut [MaybeUninit<u32>],
    mut first: usize,
    mut pos: usize,
    mut prev: u32,
    base: usize,
) -> Result<usize, VarintError> {
    let (start_first, start_pos, start_prev) = (first, pos, prev);
    let mut bad = false;
    while first.is_multiple_of(4) && first + 4 <= out.len() {
        let (Some(&c), Some(window)) = (ctrl.get(first / 4), data.get(pos..pos + 16)) else {
            break;
        };
        let window = u128::from_le_bytes(window.try_into().expect("16 bytes"));
        let mut offset = 0u32;
        let mut values = [0u32; 4];
        for (k, v) in values.iter_mut().enumerate() {
            let len = value_len(c, k) as u32;
            let value = (window >> (8 * offset)) as u32 & (u32::MAX >> (32 - 8 * len));
            bad |= (len > 1) & (value >> (8 * (len - 1)) == 0);
            offset += len;
            *v = if DELTA {
                prev = prev.wrapping_add(value);
                prev
            } else {
                value
            };
        }
        for (slot, v) in out[first..first + 4].iter_mut().zip(values) {
            slot.write(v);
        }
        first += 4;
        pos += offset as usize;
    }
    if bad {
        // Let the value-by-value loop find and report the first bad value.
        return scalar_values(
            ctrl,
            data,
            out,
            start_first,
            start_pos,
            DELTA.then_some(start_prev),
            base,
        );
    }
    scalar_values(ctrl, data, out, first, pos, DELTA.then_some(prev), base)
}

/// Value-by-value scalar decode with exact error reporting.
fn scalar_values(
    ctrl: &[u8],
    data: &[u8],
    out: &mut [MaybeUninit<u32>],
    first: usize,
    mut pos: usize,
    mut delta: Option<u32>,
    base: usize,
) -> Result<usize, VarintError> {
    for (i, slot) in out.iter_mut().enumerate().skip(first) {
        let Some(&c) = ctrl.get(i / 4) else {
            return Err(VarintError::Truncated {
                start: ctrl.len(),
                offset: ctrl.len(),
            });
        };
        let len = value_len(c, i % 4);
        let value = if let Some(word) = data.get(pos..pos + 4) {
            let word = u32::from_le_bytes(word.try_into().expect("4 bytes"));
            word & (u32::MAX >> (32 - 8 * len))
        } else {
            let Some(bytes) = data.get(pos..pos + len) else {
                return Err(VarintError::Truncated {
                    start: base + pos,
                    offset: base + data.len(),
                });
            };
            let mut word = [0u8; 4];
            word[..len].copy_from_slice(bytes);
            u32::from_le_bytes(word)
        };
        if (len > 1) & (value >> (8 * (len - 1)) == 0) {
            return Err(VarintError::NonCanonical {
                start: base + pos,
                offset: base + pos + len - 1,
            });
        }
        pos += len;
        let value = match delta {
            Some(prev) => {
                let v = prev.wrapping_add(value);
                delta = Some(v);
                v
            }
            None => value,
        };
        slot.write(value);
    }
    Ok(pos)
}

/// Number of data bytes (1 to 4) stream-vbyte uses for `value`.
#[inline(always)]
const fn byte_len(value: u32) -> usize {
    4 - ((value | 1).leading_zeros() / 8) as usize
}

/// Upper bound of the encoded length of `count` values.
///
/// ```
/// use unidb_kernels::varint::stream;
/// let values = [7u32; 10];
/// assert!(stream::encode_u32(&values).len() <= stream::max_encoded_len(10));
/// ```
pub const fn max_encoded_len(count: usize) -> usize {
    count.div_ceil(4) + 4 * count
}

/// Encodes `values` (canonical: each in its fewest bytes), on the active
/// kernel path (every path writes the same bytes).
pub fn encode_u32(values: &[u32]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(values, None, &mut out);
    out
}

/// Encodes the wrapping differences `values[i] - values[i - 1]` (the first
/// against `initial`): small for sorted sequences.
pub fn encode_u32_delta(values: &[u32], initial: u32) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(values, Some(initial), &mut out);
    out
}

/// Like [`encode_u32`] (or [`encode_u32_delta`] when `initial` is `Some`),
/// appending to `out`. Returns the number of bytes appended.
pub fn encode_into(values: &[u32], initial: Option<u32>, out: &mut Vec<u8>) -> usize {
    encode_with(Kernels::active(), values, initial, out)
}

/// [`encode_into`] on the path `isa` (to compare paths: every path writes
/// the same bytes).
///
/// ```
/// use unidb_kernels::{varint::stream, Isa};
/// let values = [3u32, 70_000, 0, u32::MAX, 9, 9, 9, 300, 1];
/// let reference = stream::encode_u32(&values);
/// for isa in Isa::available() {
///     let mut out = Vec::new();
///     let n = stream::encode_into_with(isa, &values, None, &mut out).unwrap();
///     assert_eq!((n, &out), (reference.len(), &reference));
/// }
/// ```
///
/// # Errors
/// [`VarintError::UnavailableIsa`] when this CPU lacks `isa`.
pub fn encode_into_with(
    isa: Isa,
    values: &[u32],
    initial: Option<u32>,
    out: &mut Vec<u8>,
) -> Result<usize, VarintError> {
    let k = Kernels::for_isa(isa).ok_or(VarintError::UnavailableIsa { isa })?;
    Ok(encode_with(k, values, initial, out))
}

/// A SIMD encoder of whole groups: encodes `values[..k]` for some `k`, a
/// multiple of four, writing control byte `j` at `dst[j]` and the data
/// from `dst[ceil(values.len() / 4)]` on; returns `k`, the data end and
/// (differential mode) the last value encoded, `prev` when `k == 0`. It
/// may write up to 16 bytes at each group's data offset (bytes past the
/// group's data are overwritten by the next group or left past the end),
/// and panics unless `dst` holds [`max_encoded_len`]`(values.len())`
/// bytes (so it never writes outside `dst`).
///
/// # Safety
/// The CPU supports the path (the entries live in its kernel table).
pub(crate) type BlockEncoder =
    unsafe fn(values: &[u32], prev: u32, dst: &mut [MaybeUninit<u8>]) -> (usize, usize, u32);

/// Encodes on the path `k`: its block encoder for the SIMD part, if any,
/// then the scalar code for the remaining values. The scalar path is the
/// reference.
fn encode_with(k: &Kernels, values: &[u32], initial: Option<u32>, out: &mut Vec<u8>) -> usize {
    let n = values.len();
    let ctrl_len = n.div_ceil(4);
    let start = out.len();
    // Room for the worst case plus 3 bytes of slack, so every value can be
    // stored as a full 4-byte word.
    let room = max_encoded_len(n) + 3;
    out.reserve(room);
    let spare = &mut out.spare_capacity_mut()[..room];
    let (first, pos, prev) = k.stream_blocks(values, initial, spare);
    // The block encoders' contract; checked because the writes below rely
    // on it (once per call).
    assert!(first % 4 == 0 && first <= n && ctrl_len <= pos && pos <= ctrl_len + 4 * first);
    let base = spare.as_mut_ptr().cast::<u8>();
    // SAFETY: the SIMD part initialised control bytes `0..first / 4` and data
    // bytes `ctrl_len..pos`, with `pos <= ctrl_len + 4 * first`; the scalar
    // part continues from there within the `room` bytes of `spare`.
    let pos = unsafe {
        match initial {
            None => encode_groups::<false>(values, first, pos, prev, base),
            Some(_) => encode_groups::<true>(values, first, pos, prev, base),
        }
    };
    // SAFETY: bytes `0..ctrl_len` (every control byte) and `ctrl_len..pos`
    // (every value's data bytes) were initialised, and `pos <=
    // max_encoded_len(n)` is within capacity.
    unsafe { out.set_len(start + pos) };
    pos
}

/// Stores `v` as a full little-endian word at `dst`; returns its length.
///
/// # Safety
/// `dst .. dst + 4` is writable.
#[inline(always)]
unsafe fn put(dst: *mut u8, v: u32) -> usize {
    // SAFETY: the caller guarantees four writable bytes; unaligned write of
    // plain bytes.
    unsafe { dst.cast::<[u8; 4]>().write_unaligned(v.to_le_bytes()) };
    byte_len(v)
}

/// Scalar encode of `values[first..]` (`first` a multiple of four) with the
/// data from `base + pos` on and `prev` the previous value (differential
/// mode); returns the data end.
///
/// # Safety
/// `base` has `max_encoded_len(values.len()) + 3` writable bytes and `pos
/// <= ceil(values.len() / 4) + 4 * first`.
#[inline(always)]
unsafe fn encode_groups<const DELTA: bool>(
    values: &[u32],
    first: usize,
    mut pos: usize,
    mut prev: u32,
    base: *mut u8,
) -> usize {
    let ctrl_len = values.len().div_ceil(4);
    let mut next = |v: u32| {
        if DELTA {
            let d = v.wrapping_sub(prev);
            prev = v;
            d
        } else {
            v
        }
    };
    // Invariant for every `put` below: `pos <= ctrl_len + 4 * (values
    // before v)`, so `pos + 4 <= max_encoded_len(n) + 3`, inside the
    // reserved space; control byte `j < ctrl_len` likewise.
    let mut groups = values[first..].chunks_exact(4);
    for (j, g) in (&mut groups).enumerate() {
        let mut c = 0u8;
        for (i, &v) in g.iter().enumerate() {
            // SAFETY: see the invariant above.
            let len = unsafe { put(base.add(pos), next(v)) };
            c |= ((len - 1) as u8) << (2 * i);
            pos += len;
        }
        // SAFETY: control byte `first / 4 + j < ctrl_len`, inside the
        // reserved space.
        unsafe { base.add(first / 4 + j).write(c) };
    }
    let rest = groups.remainder();
    if !rest.is_empty() {
        let mut c = 0u8;
        for (i, &v) in rest.iter().enumerate() {
            // SAFETY: see the invariant above.
            let len = unsafe { put(base.add(pos), next(v)) };
            c |= ((len - 1) as u8) << (2 * i);
            pos += len;
        }
        // SAFETY: the last control byte, `ctrl_len - 1`.
        unsafe { base.add(ctrl_len - 1).write(c) };
    }
    pos
}

/// Decodes exactly `count` values filling `input`, on the active path.
///
/// # Errors
/// See the [module documentation](self).
pub fn decode_u32(input: &[u8], count: usize) -> Result<Vec<u32>, VarintError> {
    Decoder::active().decode_u32(input, count)
}

/// Decodes `count` values from the start of `input` on the active path;
/// returns them and the bytes consumed.
///
/// # Errors
/// See the [module documentation](self).
pub fn decode_u32_prefix(input: &[u8], count: usize) -> Result<(Vec<u32>, usize), VarintError> {
    Decoder::active().decode_u32_prefix(input, count)
}

/// Decodes `count` differential values filling `input`, on the active path.
///
/// # Errors
/// See the [module documentation](self).
pub fn decode_u32_delta(input: &[u8], count: usize, initial: u32) -> Result<Vec<u32>, VarintError> {
    Decoder::active().decode_u32_delta(input, count, initial)
}

/// Decodes `count` differential values from the start of `input` on the
/// active path; returns them and the bytes consumed.
///
/// # Errors
/// See the [module documentation](self).
pub fn decode_u32_delta_prefix(
    input: &[u8],
    count: usize,
    initial: u32,
) -> Result<(Vec<u32>, usize), VarintError> {
    Decoder::active().decode_u32_delta_prefix(input, count, initial)
}

/// [`decode_u32`] on the path `isa`.
///
/// # Errors
/// [`VarintError::UnavailableIsa`] when this CPU lacks `isa`, else as
/// [`decode_u32`].
pub fn decode_u32_with(isa: Isa, input: &[u8], count: usize) -> Result<Vec<u32>, VarintError> {
    Decoder::for_isa(isa)
        .ok_or(VarintError::UnavailableIsa { isa })?
        .decode_u32(input, count)
}

/// [`decode_u32_delta`] on the path `isa`.
///
/// # Errors
/// [`VarintError::UnavailableIsa`] when this CPU lacks `isa`, else as
/// [`decode_u32_delta`].
pub fn decode_u32_delta_with(
    isa: Isa,
    input: &[u8],
    count: usize,
    initial: u32,
) -> Result<Vec<u32>, VarintError> {
    Decoder::for_isa(isa)
        .ok_or(VarintError::UnavailableIsa { isa })?
        .decode_u32_delta(input, count, initial)
}

#[cfg(test)]
mod tests;
