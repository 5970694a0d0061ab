//! Integer codecs (timestamps are integers too).
//!
//! | name | idea |
//! |------|------|
//! | `for` | frame of reference + bit-packing, patched exceptions |
//! | `delta` | first value + deltas (child) |
//! | `dod` | first value and delta + deltas of deltas (child) |
//! | `varint` | zigzag + LEB128 |
//! | `svb` | zigzag + stream-vbyte (values that fit 32 bits) |
//! | `linear` | `x[i] = first + i·step + residual[i]` ([`linear`]) |
//! | `gcd` | `x[i] = min + g·q[i]` ([`gcd`]) |
//! | `huff` | canonical Huffman over a small range ([`huff`]) |
//! | `ans` | pco-style bins + tANS over any range ([`ans`]) |

pub(crate) mod ans;
pub(crate) mod gcd;
pub(crate) mod huff;
pub(crate) mod linear;
pub(crate) mod post;

use unidb_kernels::varint::{self, stream};
use unidb_kernels::{bitpack, bitpack::BitpackError};
use unidb_registry::{plugin_info, submit};

use crate::builtin::{bitpack_err, child_ints, corrupt, fits, Dec, Enc};
use crate::io::{put_varint, put_zigzag, Reader};
use crate::{Codec, CodecError, Cost, DataKind, DecodeCtx, EncodeCtx, Values};
use post::{child_through, RunningSum, Stage};

// ---------------------------------------------------------------- for

submit!(Codec {
    info: plugin_info!(
        "for",
        "frame of reference + bit-packing, outliers (above and below) patched from child streams"
    ),
    accepts: &[DataKind::Int],
    cost: Cost::Fast,
    encode: for_enc,
    decode: for_dec,
});

/// Estimated bytes per patched exception position (the high bits are
/// counted by their width) when the exception lists get a codec of their
/// own.
const EXCEPTION_COST: usize = 2;

/// The bits needed by `o` (0 for 0).
fn bit_width(o: u64) -> usize {
    (64 - o.leading_zeros()) as usize
}

/// The cheapest width for a frame at `base` and its estimated size in
/// bytes. Values below the base are exceptions (negative patches).
fn for_width(x: &[i64], base: i64, nested: bool) -> (usize, u32) {
    // Widths of the offsets above the base and of the distances below it.
    let (mut above, mut below) = ([0usize; 65], [0usize; 65]);
    for &v in x {
        if v >= base {
            above[bit_width((v as u64).wrapping_sub(base as u64))] += 1;
        } else {
            below[bit_width((base as u64).wrapping_sub(v as u64))] += 1;
        }
    }
    // As the last stage of a cascade the exception lists are stored plain
    // (8 bytes per position and per patch).
    let exception = |bits: usize| {
        if nested {
            EXCEPTION_COST + bits.div_ceil(8)
        } else {
            16
        }
    };
    // The widths present, with their counts (few: the loops below run
    // over these only).
    // (No allocation: this runs for every trial of `for`.)
    let present = |h: &[usize; 65]| {
        let mut out = [(0usize, 0usize); 65];
        let mut n = 0;
        for (w, &c) in h.iter().enumerate().filter(|&(_, &c)| c > 0) {
            out[n] = (w, c);
            n += 1;
        }
        (out, n)
    };
    let ((above, na), (below, nb)) = (present(&above), present(&below));
    let (above, below) = (&above[..na], &below[..nb]);
    // Above the widest offset only b = 64 (no exceptions at all) can win.
    let top = above.last().map_or(0, |&(w, _)| w).min(63) as u32;
    let mut best = (bitpack::packed_len(x.len(), 64), 64u32);
    for b in (0..=top).rev() {
        let b_us = b as usize;
        // Exceptions: a position and the high bits of each value that
        // does not fit (a signed patch for those below the base).
        let mut count = 0usize;
        let mut bytes = 0usize;
        for &(w, c) in above.iter().filter(|&&(w, _)| w > b_us) {
            count += c;
            bytes += c * exception(w - b_us);
        }
        for &(w, c) in below {
            count += c;
            bytes += c * exception(w.saturating_sub(b_us) + 1);
        }
        let cost = bitpack::packed_len(x.len(), b) + bytes + if count > 0 { 12 } else { 0 };
        if cost <= best.0 {
            best = (cost, b);
        }
    }
    best
}

/// A frame base above a few low outliers of the values at or above
/// `base`: the smallest value at least `2^j` above `base`, for the largest
/// `j` that leaves at most `limit` of them below it. Returns the new base
/// and how many values it leaves below (`None` when it would leave none).
fn raised_base(x: &[i64], base: i64, limit: usize) -> Option<(i64, usize)> {
    // Count and smallest offset from the base per offset width.
    let (mut count, mut least) = ([0usize; 65], [u64::MAX; 65]);
    for &v in x.iter().filter(|&&v| v >= base) {
        let o = (v as u64).wrapping_sub(base as u64);
        let w = bit_width(o);
        count[w] += 1;
        least[w] = least[w].min(o);
    }
    let mut below = 0usize;
    let mut pick = None;
    // Offsets narrower than w + 1 bits stay below a base of width > w.
    for (w, &c) in count.iter().enumerate().take(64) {
        if below + c > limit {
            break;
        }
        below += c;
        if below > 0 {
            pick = Some((w, below));
        }
    }
    let (w, below) = pick?;
    let o = least[w + 1..]
        .iter()
        .copied()
        .min()
        .filter(|&o| o != u64::MAX)?;
    Some((base.wrapping_add(o as i64), below))
}

fn for_enc(v: &Values, ctx: &mut EncodeCtx, out: &mut Vec<u8>) -> Enc {
    let Values::Int(x) = v else { return Ok(false) };
    let Some(&min) = x.iter().min() else {
        return Ok(false);
    };
    let nested = ctx.can_nest();
    // The frame starts at the minimum, or above a few low outliers when
    // patching them is cheaper than widening every value.
    let (mut cost, mut b) = for_width(x, min, nested);
    let mut base = min;
    // Up to three raises, together leaving at most 1/64 of the values below.
    let (mut at, mut left) = (min, x.len() / 64);
    // No pass once no value may be left below (under 64 values, or the
    // allowance used up).
    for _ in 0..3 {
        if left == 0 {
            break;
        }
        let Some((raised, below)) = raised_base(x, at, left) else {
            break;
        };
        let (c, w) = for_width(x, raised, nested);
        if c < cost {
            (base, cost, b) = (raised, c, w);
        }
        (at, left) = (raised, left - below);
    }
    let mask = if b == 64 { u64::MAX } else { (1u64 << b) - 1 };
    let (mut pos, mut high) = (Vec::new(), Vec::new());
    for (i, &v) in x.iter().enumerate() {
        let o = (v as u64).wrapping_sub(base as u64);
        if o & !mask != 0 {
            pos.push(i as i64);
            // Arithmetic shift: a value below the base gets a small
            // negative patch; base + low + (patch << b) wraps back to it.
            high.push((o as i64) >> b);
        }
    }
    put_zigzag(out, base);
    out.push(b as u8);
    put_varint(out, pos.len() as u64);
    if b <= 32 {
        let low: Vec<u32> = x
            .iter()
            .map(|&v| ((v as u64).wrapping_sub(base as u64) & mask) as u32)
            .collect();
        bitpack::pack_u32(&low, b, out).expect("masked to the width");
    } else {
        let low: Vec<u64> = x
            .iter()
            .map(|&v| (v as u64).wrapping_sub(base as u64) & mask)
            .collect();
        bitpack::pack_u64(&low, b, out).expect("masked to the width");
    }
    if !pos.is_empty() {
        ctx.aux_child(&Values::Int(pos), out)?;
        ctx.aux_child(&Values::Int(high), out)?;
    }
    Ok(true)
}

fn for_dec(r: &mut Reader<'_>, _: DataKind, count: usize, ctx: &mut DecodeCtx) -> Dec {
    let min = r.zigzag("frame base")?;
    let b = u32::from(r.u8("bit width")?);
    if b > 64 {
        return Err(corrupt(r, format!("bit width {b} > 64")));
    }
    let nexc = r.count("exception count", count)?;
    if nexc > 0 && b == 64 {
        return Err(corrupt(r, "exceptions with a 64-bit width"));
    }
    let at = r.offset();
    // The frame base is added while unpacking (one pass, one buffer).
    let mut vals: Vec<i64> = ctx.int_output(count);
    let base = vals.len();
    if b <= 32 {
        let small = bitpack::unpack_u32(r.rest(), count, b).map_err(bitpack_err(at))?;
        vals.extend(small.iter().map(|&o| min.wrapping_add(i64::from(o))));
    } else if b <= 57 {
        let needed = bitpack::packed_len(count, b);
        let input = r.rest();
        if input.len() < needed {
            return Err(bitpack_err(at)(BitpackError::Truncated {
                count,
                width: b,
                needed,
                available: input.len(),
            }));
        }
        unpack_wide_add(&input[..needed], count, b, min, &mut vals);
    } else {
        let wide = bitpack::unpack_u64(r.rest(), count, b).map_err(bitpack_err(at))?;
        vals.extend(wide.into_iter().map(|o| min.wrapping_add(o as i64)));
    }
    r.advance(bitpack::packed_len(count, b), "packed offsets")?;
    if nexc > 0 {
        let pos = child_ints(r, ctx, nexc)?;
        let high = child_ints(r, ctx, nexc)?;
        for (&p, &h) in pos.iter().zip(&high) {
            if p < 0 || p as u64 >= count as u64 {
                return Err(corrupt(
                    r,
                    format!("exception position {p} out of range 0..{count}"),
                ));
            }
            // The low and high bits do not overlap: adding is or-ing.
            let slot = &mut vals[base + p as usize];
            *slot = slot.wrapping_add(((h as u64) << b) as i64);
        }
    }
    Ok(Values::Int(vals))
}

/// Unpacks `count` values of `b` bits (33..=57) from `input` (exactly their
/// packed length), adds `min` to each and appends them to `out`: every
/// value lies in the 8 bytes from its first byte, so one unaligned read per
/// value suffices.
pub(crate) fn unpack_wide_add(input: &[u8], count: usize, b: u32, min: i64, out: &mut Vec<i64>) {
    debug_assert!((33..=57).contains(&b));
    let mask = (1u64 << b) - 1;
    let bits = b as usize;
    // Values whose 8-byte window ends inside the input.
    let fast = if input.len() >= 8 {
        count.min(((input.len() - 8) * 8) / bits + 1)
    } else {
        0
    };
    out.reserve(count);
    out.extend((0..fast).map(|i| {
        let bit = i * bits;
        let at = bit >> 3;
        let w = u64::from_le_bytes(input[at..at + 8].try_into().expect("8 bytes"));
        min.wrapping_add(((w >> (bit & 7)) & mask) as i64)
    }));
    out.extend((fast..count).map(|i| {
        let bit = i * bits;
        let at = bit >> 3;
        let mut buf = [0u8; 8];
        let tail = &input[at.min(input.len())..];
        let n = tail.len().min(8);
        buf[..n].copy_from_slice(&tail[..n]);
        min.wrapping_add(((u64::from_le_bytes(buf) >> (bit & 7)) & mask) as i64)
    }));
}

// ---------------------------------------------------------------- delta, dod

submit!(Codec {
    info: plugin_info!("delta", "first value + wrapping deltas as a child stream"),
    accepts: &[DataKind::Int],
    cost: Cost::Fast,
    encode: delta_enc,
    decode: delta_dec,
});

submit!(Codec {
    info: plugin_info!(
        "dod",
        "delta-of-delta: first value and delta + second differences as a child stream"
    ),
    accepts: &[DataKind::Int],
    cost: Cost::Fast,
    encode: dod_enc,
    decode: dod_dec,
});

fn deltas(x: &[i64]) -> Vec<i64> {
    x.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect()
}

fn delta_enc(v: &Values, ctx: &mut EncodeCtx, out: &mut Vec<u8>) -> Enc {
    let Values::Int(x) = v else { return Ok(false) };
    if x.len() < 2 {
        return Ok(false);
    }
    put_zigzag(out, x[0]);
    ctx.child(&Values::Int(deltas(x)), out)?;
    Ok(true)
}

/// `[first, first + d[0], first + d[0] + d[1], ...]` (wrapping), `count`
/// values.
fn prefix_sum(first: i64, d: &[i64], mut out: Vec<i64>) -> Vec<i64> {
    let mut acc = first;
    out.push(acc);
    out.extend(d.iter().map(|&x| {
        acc = acc.wrapping_add(x);
        acc
    }));
    out
}

fn delta_dec(r: &mut Reader<'_>, _: DataKind, count: usize, ctx: &mut DecodeCtx) -> Dec {
    if count < 1 {
        return Err(corrupt(r, "delta stream of 0 values"));
    }
    let first = r.zigzag("first value")?;
    if let Some(out) = ctx.prefix() {
        let d = child_ints(r, ctx, count - 1)?;
        return Ok(Values::Int(prefix_sum(first, &d, out)));
    }
    let own = Stage::Sum(RunningSum::Delta { acc: first });
    Ok(Values::Int(child_through(r, ctx, count - 1, own)?.0))
}

fn dod_enc(v: &Values, ctx: &mut EncodeCtx, out: &mut Vec<u8>) -> Enc {
    let Values::Int(x) = v else { return Ok(false) };
    if x.len() < 3 {
        return Ok(false);
    }
    let d = deltas(x);
    put_zigzag(out, x[0]);
    put_zigzag(out, d[0]);
    ctx.child(&Values::Int(deltas(&d)), out)?;
    Ok(true)
}

fn dod_dec(r: &mut Reader<'_>, _: DataKind, count: usize, ctx: &mut DecodeCtx) -> Dec {
    if count < 2 {
        return Err(corrupt(r, "delta-of-delta stream of fewer than 2 values"));
    }
    let first = r.zigzag("first value")?;
    let d0 = r.zigzag("first delta")?;
    let second = first.wrapping_add(d0);
    let Some(mut out) = ctx.prefix() else {
        let own = Stage::Sum(RunningSum::Dod {
            v0: first,
            v1: second,
            d: d0,
        });
        return Ok(Values::Int(child_through(r, ctx, count - 2, own)?.0));
    };
    let dd = child_ints(r, ctx, count - 2)?;
    // Both running sums in one pass.
    let (mut v, mut d) = (second, d0);
    out.push(first);
    out.push(v);
    out.extend(dd.iter().map(|&x| {
        d = d.wrapping_add(x);
        v = v.wrapping_add(d);
        v
    }));
    Ok(Values::Int(out))
}

// ---------------------------------------------------------------- varint, svb

submit!(Codec {
    info: plugin_info!("varint", "zigzag + LEB128"),
    accepts: &[DataKind::Int],
    cost: Cost::Medium,
    encode: varint_enc,
    decode: varint_dec,
});

submit!(Codec {
    info: plugin_info!(
        "svb",
        "zigzag + stream-vbyte (SIMD decode), for values that fit 32 bits"
    ),
    accepts: &[DataKind::Int],
    cost: Cost::Fast,
    encode: svb_enc,
    decode: svb_dec,
});

fn zigzags(x: &[i64]) -> Vec<u64> {
    x.iter().map(|&v| varint::zigzag_encode_i64(v)).collect()
}

fn varint_enc(v: &Values, _: &mut EncodeCtx, out: &mut Vec<u8>) -> Enc {
    let Values::Int(x) = v else { return Ok(false) };
    varint::encode_u64_slice(&zigzags(x), out);
    Ok(true)
}

fn varint_dec(r: &mut Reader<'_>, _: DataKind, count: usize, _: &mut DecodeCtx) -> Dec {
    fits(r, count, 1, "varints")?;
    let at = r.offset();
    let (vals, used) =
        varint::decode_u64_slice(r.rest(), count).map_err(|source| CodecError::Varint {
            what: "zigzag varints",
            offset: at,
            source,
        })?;
    r.advance(used, "varints")?;
    Ok(Values::Int(
        vals.into_iter().map(varint::zigzag_decode_i64).collect(),
    ))
}

fn svb_enc(v: &Values, _: &mut EncodeCtx, out: &mut Vec<u8>) -> Enc {
    let Values::Int(x) = v else { return Ok(false) };
    let z = zigzags(x);
    if z.iter().any(|&v| v > u64::from(u32::MAX)) {
        return Ok(false);
    }
    let small: Vec<u32> = z.into_iter().map(|v| v as u32).collect();
    stream::encode_into(&small, None, out);
    Ok(true)
}

fn svb_dec(r: &mut Reader<'_>, _: DataKind, count: usize, _: &mut DecodeCtx) -> Dec {
    fits(r, count, 1, "stream-vbyte values")?;
    let at = r.offset();
    let (vals, used) =
        stream::decode_u32_prefix(r.rest(), count).map_err(|source| CodecError::Varint {
            what: "stream-vbyte",
            offset: at,
            source,
        })?;
    r.advance(used, "stream-vbyte")?;
    Ok(Values::Int(
        vals.into_iter()
            .map(|v| varint::zigzag_decode_i64(u64::from(v)))
            .collect(),
    ))
}

#[cfg(test)]
mod tests;
