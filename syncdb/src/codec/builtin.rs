//! The built-in codecs.
//!
//! | name | data | idea |
//! |------|------|------|
//! | `plain` | all | fixed 8 bytes, bit-packed booleans, LEB128 lengths + bytes |
//! | `one` | all | a single repeated value |
//! | `rle` | int, float, bool | run values + run lengths (children) |
//! | `dict` | int, float, text, bytes | sorted distinct values + codes (children) |
//! | `for` | int | frame of reference + bit-packing, patched exceptions |
//! | `delta` | int | first value + deltas (child) |
//! | `dod` | int | first value and delta + deltas of deltas (child) |
//! | `varint` | int | zigzag + LEB128 |
//! | `svb` | int | zigzag + stream-vbyte (values that fit 32 bits) |
//! | `decimal` | float | v = i / 10^e with exceptions (ALP / pseudodecimal) |
//! | `gorilla` | float | XOR with the previous value, Gorilla bit layout |
//! | `bss` | float | byte-stream split into a bytes child (e.g. `lz4`) |
//! | `front` | text | front coding: shared-prefix lengths + suffixes |
//! | `lz4` | text, bytes | LZ4 block over the plain layout |

use foldhash::{HashMap, HashSet, HashSetExt};

use unidb_kernels::varint::{self, stream};
use unidb_kernels::{bitpack, bitpack::BitpackError};
use unidb_registry::{plugin_info, submit};

use super::io::{put_varint, put_zigzag, read_plain, text_from_blobs, write_plain, Reader};
use super::{Codec, CodecError, Cost, DataKind, DecodeCtx, EncodeCtx, Values};

type Enc = Result<bool, CodecError>;
type Dec = Result<Values, CodecError>;

const ALL: &[DataKind] = &[
    DataKind::Int,
    DataKind::Float,
    DataKind::Text,
    DataKind::Bool,
    DataKind::Bytes,
];

pub(super) fn corrupt(r: &Reader<'_>, reason: impl Into<String>) -> CodecError {
    CodecError::Corrupt {
        offset: r.offset(),
        reason: reason.into(),
    }
}

fn bitpack_err(offset: usize) -> impl Fn(BitpackError) -> CodecError {
    move |source| CodecError::Bitpack { offset, source }
}

pub(super) fn child_ints(
    r: &mut Reader<'_>,
    ctx: &mut DecodeCtx,
    count: usize,
) -> Result<Vec<i64>, CodecError> {
    match ctx.child(r, DataKind::Int, count)? {
        Values::Int(v) => Ok(v),
        _ => unreachable!("decode_node checks the kind"),
    }
}

/// Checks that `count` values of at least `min_bytes_each` bytes fit in
/// the rest of the input.
fn fits(
    r: &Reader<'_>,
    count: usize,
    min_bytes_each: usize,
    what: &'static str,
) -> Result<(), CodecError> {
    let needed = count.saturating_mul(min_bytes_each);
    if needed > r.remaining() {
        return Err(CodecError::Truncated {
            what,
            offset: r.offset(),
            needed,
            available: r.remaining(),
        });
    }
    Ok(())
}

// ---------------------------------------------------------------- plain

submit!(Codec {
    info: plugin_info!(
        "plain",
        "values as they are: 8-byte numbers, bit-packed booleans, length-prefixed strings"
    ),
    accepts: ALL,
    cost: Cost::Fast,
    encode: plain_enc,
    decode: plain_dec,
});

fn plain_enc(v: &Values, _: &mut EncodeCtx, out: &mut Vec<u8>) -> Enc {
    write_plain(v, out);
    Ok(true)
}

fn plain_dec(r: &mut Reader<'_>, kind: DataKind, count: usize, ctx: &mut DecodeCtx) -> Dec {
    read_plain(r, kind, count, ctx.budget())
}

// ---------------------------------------------------------------- one

submit!(Codec {
    info: plugin_info!("one", "one value repeated for the whole stream"),
    accepts: ALL,
    cost: Cost::Fast,
    encode: one_enc,
    decode: one_dec,
});

fn all_equal(v: &Values) -> bool {
    match v {
        Values::Int(x) => x.windows(2).all(|w| w[0] == w[1]),
        Values::Float(x) => x.windows(2).all(|w| w[0].to_bits() == w[1].to_bits()),
        Values::Text(x) => x.windows(2).all(|w| w[0] == w[1]),
        Values::Bool(x) => x.windows(2).all(|w| w[0] == w[1]),
        Values::Bytes(x) => x.windows(2).all(|w| w[0] == w[1]),
    }
}

fn one_enc(v: &Values, _: &mut EncodeCtx, out: &mut Vec<u8>) -> Enc {
    if v.is_empty() || !all_equal(v) {
        return Ok(false);
    }
    write_plain(&v.slice(0..1), out);
    Ok(true)
}

fn one_dec(r: &mut Reader<'_>, kind: DataKind, count: usize, ctx: &mut DecodeCtx) -> Dec {
    let one = read_plain(r, kind, 1, ctx.budget())?;
    Ok(match one {
        Values::Int(v) => Values::Int(vec![v[0]; count]),
        Values::Float(v) => Values::Float(vec![v[0]; count]),
        Values::Bool(v) => Values::Bool(vec![v[0]; count]),
        Values::Text(v) => {
            ctx.budget().charge(v[0].len().saturating_mul(count))?;
            Values::Text(vec![v[0].clone(); count])
        }
        Values::Bytes(v) => {
            ctx.budget().charge(v[0].len().saturating_mul(count))?;
            Values::Bytes(vec![v[0].clone(); count])
        }
    })
}

// ---------------------------------------------------------------- rle

submit!(Codec {
    info: plugin_info!(
        "rle",
        "run-length: run values and run lengths as child streams"
    ),
    accepts: &[DataKind::Int, DataKind::Float, DataKind::Bool],
    cost: Cost::Fast,
    encode: rle_enc,
    decode: rle_dec,
});

/// Run starts of `n` values where `same(i - 1, i)` says whether value `i`
/// continues a run.
fn runs(n: usize, same: impl Fn(usize) -> bool) -> Vec<usize> {
    (0..n).filter(|&i| i == 0 || !same(i)).collect()
}

fn rle_enc(v: &Values, ctx: &mut EncodeCtx, out: &mut Vec<u8>) -> Enc {
    let n = v.len();
    let starts = match v {
        Values::Int(x) => runs(n, |i| x[i - 1] == x[i]),
        Values::Float(x) => runs(n, |i| x[i - 1].to_bits() == x[i].to_bits()),
        Values::Bool(x) => runs(n, |i| x[i - 1] == x[i]),
        _ => return Ok(false),
    };
    let nruns = starts.len();
    if n == 0 || nruns * 2 > n {
        return Ok(false);
    }
    put_varint(out, nruns as u64);
    let lens: Vec<i64> = (0..nruns)
        .map(|k| (starts.get(k + 1).copied().unwrap_or(n) - starts[k] - 1) as i64)
        .collect();
    match v {
        Values::Bool(x) => out.push(u8::from(x[0])),
        Values::Int(x) => ctx.child(&Values::Int(starts.iter().map(|&s| x[s]).collect()), out)?,
        Values::Float(x) => {
            ctx.child(&Values::Float(starts.iter().map(|&s| x[s]).collect()), out)?
        }
        _ => unreachable!(),
    }
    ctx.child(&Values::Int(lens), out)?;
    Ok(true)
}

fn rle_dec(r: &mut Reader<'_>, kind: DataKind, count: usize, ctx: &mut DecodeCtx) -> Dec {
    let nruns = r.count("run count", count)?;
    let (first_bool, heads) = match kind {
        DataKind::Bool => {
            let b = r.u8("first boolean")?;
            if b > 1 {
                return Err(corrupt(r, format!("boolean byte {b}, expected 0 or 1")));
            }
            (b == 1, None)
        }
        _ => (false, Some(ctx.child(r, kind, nruns)?)),
    };
    let lens = child_ints(r, ctx, nruns)?;
    let mut total = 0usize;
    for &l in &lens {
        if l < 0 || l as u64 >= count as u64 {
            return Err(corrupt(
                r,
                format!("run length {} out of range", i128::from(l) + 1),
            ));
        }
        total += l as usize + 1;
        if total > count {
            return Err(corrupt(r, format!("runs cover more than {count} values")));
        }
    }
    if total != count {
        return Err(corrupt(
            r,
            format!("runs cover {total} values, expected {count}"),
        ));
    }
    let len = |k: usize| lens[k] as usize + 1;
    fn expand<T: Copy>(heads: &[T], len: impl Fn(usize) -> usize, count: usize) -> Vec<T> {
        let mut out = Vec::with_capacity(count);
        for (k, &v) in heads.iter().enumerate() {
            out.extend(std::iter::repeat_n(v, len(k)));
        }
        out
    }
    Ok(match heads {
        None => {
            let mut out = Vec::with_capacity(count);
            let mut b = first_bool;
            for k in 0..nruns {
                out.extend(std::iter::repeat_n(b, len(k)));
                b = !b;
            }
            Values::Bool(out)
        }
        Some(Values::Int(h)) => Values::Int(expand(&h, len, count)),
        Some(Values::Float(h)) => Values::Float(expand(&h, len, count)),
        Some(_) => unreachable!("rle accepts int, float and bool"),
    })
}

// ---------------------------------------------------------------- dict

submit!(Codec {
    info: plugin_info!(
        "dict",
        "dictionary: sorted distinct values and codes as child streams"
    ),
    accepts: &[
        DataKind::Int,
        DataKind::Float,
        DataKind::Text,
        DataKind::Bytes
    ],
    cost: Cost::Fast,
    encode: dict_enc,
    decode: dict_dec,
});

/// Sorted distinct values and the code of every value; `None` as soon as
/// there are more than `limit` distinct values.
fn dictionary<T: Clone + Eq + std::hash::Hash>(
    v: &[T],
    limit: usize,
    cmp: impl Fn(&T, &T) -> std::cmp::Ordering,
) -> Option<(Vec<T>, Vec<i64>)> {
    let mut seen = HashSet::new();
    let mut distinct: Vec<&T> = Vec::new();
    for x in v {
        if seen.insert(x) {
            distinct.push(x);
            if distinct.len() > limit {
                return None;
            }
        }
    }
    distinct.sort_by(|a, b| cmp(a, b));
    let index: HashMap<&T, i64> = distinct
        .iter()
        .enumerate()
        .map(|(i, x)| (*x, i as i64))
        .collect();
    let codes = v.iter().map(|x| index[x]).collect();
    Some((distinct.into_iter().cloned().collect(), codes))
}

fn dict_enc(v: &Values, ctx: &mut EncodeCtx, out: &mut Vec<u8>) -> Enc {
    if v.is_empty() {
        return Ok(false);
    }
    // Numbers: 8-byte entries for most values rarely pay for the codes.
    let limit = match v {
        Values::Int(_) | Values::Float(_) => v.len() / 2,
        _ => v.len() - 1,
    };
    let found = match v {
        Values::Int(x) => dictionary(x, limit, Ord::cmp).map(|(d, c)| (Values::Int(d), c)),
        Values::Float(x) => {
            let bits: Vec<u64> = x.iter().map(|f| f.to_bits()).collect();
            dictionary(&bits, limit, |a, b| float_key(*a).cmp(&float_key(*b))).map(|(d, c)| {
                (
                    Values::Float(d.into_iter().map(f64::from_bits).collect()),
                    c,
                )
            })
        }
        Values::Text(x) => dictionary(x, limit, Ord::cmp).map(|(d, c)| (Values::Text(d), c)),
        Values::Bytes(x) => dictionary(x, limit, Ord::cmp).map(|(d, c)| (Values::Bytes(d), c)),
        Values::Bool(_) => None,
    };
    let Some((dict, codes)) = found else {
        return Ok(false);
    };
    put_varint(out, dict.len() as u64);
    ctx.child(&dict, out)?;
    ctx.child(&Values::Int(codes), out)?;
    Ok(true)
}

/// Orders float bits like `f64::total_cmp`.
fn float_key(bits: u64) -> i64 {
    let i = bits as i64;
    i ^ ((((i >> 63) as u64) >> 1) as i64)
}

fn dict_dec(r: &mut Reader<'_>, kind: DataKind, count: usize, ctx: &mut DecodeCtx) -> Dec {
    let ndict = r.count("dictionary size", count)?;
    let dict = ctx.child(r, kind, ndict)?;
    let codes = child_ints(r, ctx, count)?;
    if let Some(bad) = codes.iter().find(|&&c| c < 0 || c as u64 >= ndict as u64) {
        return Err(corrupt(
            r,
            format!("dictionary code {bad} out of range 0..{ndict}"),
        ));
    }
    let pick = |c: &i64| *c as usize;
    Ok(match dict {
        Values::Int(d) => Values::Int(codes.iter().map(|c| d[pick(c)]).collect()),
        Values::Float(d) => Values::Float(codes.iter().map(|c| d[pick(c)]).collect()),
        Values::Text(d) => {
            let total: usize = codes.iter().map(|c| d[pick(c)].len()).sum();
            ctx.budget().charge(total)?;
            Values::Text(codes.iter().map(|c| d[pick(c)].clone()).collect())
        }
        Values::Bytes(d) => {
            let total: usize = codes.iter().map(|c| d[pick(c)].len()).sum();
            ctx.budget().charge(total)?;
            Values::Bytes(codes.iter().map(|c| d[pick(c)].clone()).collect())
        }
        Values::Bool(_) => unreachable!("dict does not accept booleans"),
    })
}

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
pub(super) fn unpack_wide_add(input: &[u8], count: usize, b: u32, min: i64, out: &mut Vec<i64>) {
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
    let d = child_ints(r, ctx, count - 1)?;
    let out = ctx.int_output(count);
    Ok(Values::Int(prefix_sum(first, &d, out)))
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
    let dd = child_ints(r, ctx, count - 2)?;
    // Both running sums in one pass.
    let mut out = ctx.int_output(count);
    let (mut v, mut d) = (first, d0);
    out.push(v);
    v = v.wrapping_add(d);
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

// ---------------------------------------------------------------- decimal

submit!(Codec {
    info: plugin_info!(
        "decimal",
        "decimal scaling: v = i / 10^e into integer child streams, exceptions kept exactly"
    ),
    accepts: &[DataKind::Float],
    cost: Cost::Medium,
    encode: decimal_enc,
    decode: decimal_dec,
});

/// Powers of ten exact in `f64` (`decimal` and `decimal_ulp`).
pub(super) const POW10: [f64; 19] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18,
];

/// The nearest integer to `v · 10^e`, when it fits an `i64`.
pub(super) fn scaled(v: f64, e: usize) -> Option<i64> {
    let s = v * POW10[e];
    (s.is_finite() && s.abs() < 9.0e18).then(|| s.round() as i64)
}

/// Reads a decimal exponent byte and checks it indexes [`POW10`].
pub(super) fn read_exponent(r: &mut Reader<'_>) -> Result<usize, CodecError> {
    let e = r.u8("decimal exponent")? as usize;
    if e >= POW10.len() {
        return Err(corrupt(
            r,
            format!("decimal exponent {e} > {}", POW10.len() - 1),
        ));
    }
    Ok(e)
}

/// `v` as `i / 10^e`, when that decodes bit for bit.
fn to_decimal(v: f64, e: usize) -> Option<i64> {
    let i = scaled(v, e)?;
    ((i as f64 / POW10[e]).to_bits() == v.to_bits()).then_some(i)
}

fn decimal_enc(v: &Values, ctx: &mut EncodeCtx, out: &mut Vec<u8>) -> Enc {
    let Values::Float(x) = v else {
        return Ok(false);
    };
    if x.is_empty() {
        return Ok(false);
    }
    // The exponent that fits the most of (up to) 256 evenly spread values;
    // the smallest such.
    let step = x.len().div_ceil(256);
    let probe: Vec<f64> = x.iter().step_by(step).copied().collect();
    let (mut best_e, mut best_hits) = (0usize, 0usize);
    for e in 0..POW10.len() {
        let hits = probe
            .iter()
            .filter(|&&v| to_decimal(v, e).is_some())
            .count();
        if hits > best_hits {
            (best_e, best_hits) = (e, hits);
        }
        if hits == probe.len() {
            break;
        }
    }
    let e = best_e;
    let mut ints = Vec::with_capacity(x.len());
    let (mut pos, mut exc) = (Vec::new(), Vec::new());
    let mut prev = 0i64;
    for (i, &f) in x.iter().enumerate() {
        match to_decimal(f, e) {
            Some(k) => {
                ints.push(k);
                prev = k;
            }
            None => {
                ints.push(prev);
                pos.push(i as i64);
                exc.push(f);
            }
        }
    }
    if pos.len() * 2 > x.len() {
        return Ok(false);
    }
    out.push(e as u8);
    put_varint(out, pos.len() as u64);
    ctx.child(&Values::Int(ints), out)?;
    if !pos.is_empty() {
        ctx.child(&Values::Int(pos), out)?;
        ctx.child(&Values::Float(exc), out)?;
    }
    Ok(true)
}

fn decimal_dec(r: &mut Reader<'_>, _: DataKind, count: usize, ctx: &mut DecodeCtx) -> Dec {
    let e = read_exponent(r)?;
    let nexc = r.count("exception count", count)?;
    let ints = child_ints(r, ctx, count)?;
    let mut out: Vec<f64> = ints.iter().map(|&i| i as f64 / POW10[e]).collect();
    if nexc > 0 {
        let pos = child_ints(r, ctx, nexc)?;
        let Values::Float(exc) = ctx.child(r, DataKind::Float, nexc)? else {
            unreachable!("decode_node checks the kind")
        };
        for (&p, &f) in pos.iter().zip(&exc) {
            if p < 0 || p as u64 >= count as u64 {
                return Err(corrupt(
                    r,
                    format!("exception position {p} out of range 0..{count}"),
                ));
            }
            out[p as usize] = f;
        }
    }
    Ok(Values::Float(out))
}

// ---------------------------------------------------------------- gorilla

submit!(Codec {
    info: plugin_info!(
        "gorilla",
        "XOR with the previous value, Gorilla's bit layout"
    ),
    accepts: &[DataKind::Float],
    cost: Cost::Slow,
    encode: gorilla_enc,
    decode: gorilla_dec,
});

struct BitWriter {
    bytes: Vec<u8>,
    acc: u128,
    n: u32,
}

impl BitWriter {
    fn put(&mut self, v: u64, bits: u32) {
        if bits == 0 {
            return;
        }
        let v = if bits == 64 {
            v
        } else {
            v & ((1u64 << bits) - 1)
        };
        self.acc |= u128::from(v) << self.n;
        self.n += bits;
        while self.n >= 8 {
            self.bytes.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.bytes.push(self.acc as u8);
        }
        self.bytes
    }
}

struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
    base: usize,
}

impl BitReader<'_> {
    fn get(&mut self, bits: u32) -> Result<u64, CodecError> {
        let bits = bits as usize;
        if self.pos + bits > self.bytes.len() * 8 {
            return Err(CodecError::Truncated {
                what: "gorilla bits",
                offset: self.base + self.bytes.len(),
                needed: (self.pos + bits).div_ceil(8) - self.bytes.len(),
                available: 0,
            });
        }
        let mut v = 0u64;
        let mut got = 0usize;
        while got < bits {
            let byte = self.bytes[self.pos / 8];
            let off = self.pos % 8;
            let take = (8 - off).min(bits - got);
            let chunk = (u64::from(byte) >> off) & ((1u64 << take) - 1);
            v |= chunk << got;
            got += take;
            self.pos += take;
        }
        Ok(v)
    }
}

fn gorilla_enc(v: &Values, _: &mut EncodeCtx, out: &mut Vec<u8>) -> Enc {
    let Values::Float(x) = v else {
        return Ok(false);
    };
    if x.is_empty() {
        return Ok(false);
    }
    let mut w = BitWriter {
        bytes: Vec::new(),
        acc: 0,
        n: 0,
    };
    let mut prev = x[0].to_bits();
    w.put(prev, 64);
    let mut window: Option<(u32, u32)> = None; // leading, trailing zeros
    for &f in &x[1..] {
        let bits = f.to_bits();
        let xor = bits ^ prev;
        prev = bits;
        if xor == 0 {
            w.put(0, 1);
            continue;
        }
        let (lz, tz) = (xor.leading_zeros(), xor.trailing_zeros());
        match window {
            Some((plz, ptz)) if lz >= plz && tz >= ptz => {
                w.put(0b01, 2); // bits 1 then 0
                w.put(xor >> ptz, 64 - plz - ptz);
            }
            _ => {
                w.put(0b11, 2);
                let len = 64 - lz - tz;
                w.put(u64::from(lz), 6);
                w.put(u64::from(len - 1), 6);
                w.put(xor >> tz, len);
                window = Some((lz, tz));
            }
        }
    }
    let bytes = w.finish();
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(&bytes);
    Ok(true)
}

fn gorilla_dec(r: &mut Reader<'_>, _: DataKind, count: usize, _: &mut DecodeCtx) -> Dec {
    let len = r.count("gorilla byte length", r.remaining())?;
    let base = r.offset();
    let bytes = r.take(len, "gorilla bits")?;
    if count == 0 {
        return Ok(Values::Float(Vec::new()));
    }
    // The first value takes 64 bits, every other at least one.
    if count > len.saturating_mul(8) {
        return Err(CodecError::Truncated {
            what: "gorilla bits",
            offset: base,
            needed: count.div_ceil(8),
            available: len,
        });
    }
    let mut br = BitReader {
        bytes,
        pos: 0,
        base,
    };
    let mut out = Vec::with_capacity(count);
    let mut prev = br.get(64)?;
    out.push(f64::from_bits(prev));
    let mut window: Option<(u32, u32)> = None;
    for _ in 1..count {
        if br.get(1)? == 0 {
            out.push(f64::from_bits(prev));
            continue;
        }
        let xor = if br.get(1)? == 0 {
            let Some((lz, tz)) = window else {
                return Err(corrupt(r, "gorilla window reused before it was set"));
            };
            br.get(64 - lz - tz)? << tz
        } else {
            let lz = br.get(6)? as u32;
            let len = br.get(6)? as u32 + 1;
            if lz + len > 64 {
                return Err(corrupt(r, format!("gorilla window {lz} + {len} > 64 bits")));
            }
            let tz = 64 - lz - len;
            window = Some((lz, tz));
            br.get(len)? << tz
        };
        prev ^= xor;
        out.push(f64::from_bits(prev));
    }
    Ok(Values::Float(out))
}

// ---------------------------------------------------------------- bss

submit!(Codec {
    info: plugin_info!(
        "bss",
        "byte-stream split (byte k of every value together) into a bytes child stage"
    ),
    accepts: &[DataKind::Float],
    cost: Cost::Medium,
    encode: bss_enc,
    decode: bss_dec,
});

fn bss_enc(v: &Values, ctx: &mut EncodeCtx, out: &mut Vec<u8>) -> Enc {
    let Values::Float(x) = v else {
        return Ok(false);
    };
    if x.is_empty() {
        return Ok(false);
    }
    let n = x.len();
    let mut split = vec![0u8; n * 8];
    for (i, f) in x.iter().enumerate() {
        for (k, b) in f.to_bits().to_le_bytes().into_iter().enumerate() {
            split[k * n + i] = b;
        }
    }
    ctx.child(&Values::Bytes(vec![split]), out)?;
    Ok(true)
}

fn bss_dec(r: &mut Reader<'_>, _: DataKind, count: usize, ctx: &mut DecodeCtx) -> Dec {
    let Values::Bytes(mut b) = ctx.child(r, DataKind::Bytes, 1)? else {
        unreachable!("decode_node checks the kind")
    };
    let split = b.pop().unwrap_or_default();
    if split.len() != count * 8 {
        return Err(corrupt(
            r,
            format!(
                "byte-stream split of {} bytes, expected {}",
                split.len(),
                count * 8
            ),
        ));
    }
    Ok(Values::Float(
        (0..count)
            .map(|i| {
                let bytes: [u8; 8] = std::array::from_fn(|k| split[k * count + i]);
                f64::from_bits(u64::from_le_bytes(bytes))
            })
            .collect(),
    ))
}

// ---------------------------------------------------------------- front

submit!(Codec {
    info: plugin_info!(
        "front",
        "front coding: bytes shared with the previous string + suffixes"
    ),
    accepts: &[DataKind::Text],
    cost: Cost::Medium,
    encode: front_enc,
    decode: front_dec,
});

fn front_enc(v: &Values, ctx: &mut EncodeCtx, out: &mut Vec<u8>) -> Enc {
    let Values::Text(x) = v else { return Ok(false) };
    if x.len() < 2 {
        return Ok(false);
    }
    let mut prefix = Vec::with_capacity(x.len());
    let mut suffix = Vec::with_capacity(x.len());
    let mut prev: &[u8] = &[];
    for s in x {
        let s = s.as_bytes();
        let p = prev.iter().zip(s).take_while(|(a, b)| a == b).count();
        prefix.push(p as i64);
        suffix.push(s[p..].to_vec());
        prev = s;
    }
    if prefix.iter().all(|&p| p == 0) {
        return Ok(false);
    }
    ctx.child(&Values::Int(prefix), out)?;
    ctx.child(&Values::Bytes(suffix), out)?;
    Ok(true)
}

fn front_dec(r: &mut Reader<'_>, _: DataKind, count: usize, ctx: &mut DecodeCtx) -> Dec {
    let prefix = child_ints(r, ctx, count)?;
    let Values::Bytes(suffix) = ctx.child(r, DataKind::Bytes, count)? else {
        unreachable!("decode_node checks the kind")
    };
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(count);
    for (i, (&p, s)) in prefix.iter().zip(suffix).enumerate() {
        let prev = if i == 0 { &[][..] } else { &out[i - 1][..] };
        if p < 0 || p as u64 > prev.len() as u64 {
            return Err(corrupt(
                r,
                format!("shared prefix {p} of value {i} longer than the previous value"),
            ));
        }
        let p = p as usize;
        ctx.budget().charge(p + s.len())?;
        let mut v = Vec::with_capacity(p + s.len());
        v.extend_from_slice(&prev[..p]);
        v.extend_from_slice(&s);
        out.push(v);
    }
    text_from_blobs(out, r.offset())
}

// ---------------------------------------------------------------- lz4

submit!(Codec {
    info: plugin_info!(
        "lz4",
        "LZ4 block compression of the plain layout (general-purpose stage)"
    ),
    accepts: &[DataKind::Text, DataKind::Bytes],
    cost: Cost::Medium,
    encode: lz4_enc,
    decode: lz4_dec,
});

/// LZ4 cannot expand data by more than this factor (a match of 255+ bytes
/// per extra byte), so larger claims are corrupt.
const LZ4_MAX_RATIO: usize = 255;

fn lz4_enc(v: &Values, _: &mut EncodeCtx, out: &mut Vec<u8>) -> Enc {
    if !matches!(v, Values::Text(_) | Values::Bytes(_)) || v.is_empty() {
        return Ok(false);
    }
    let mut raw = Vec::new();
    write_plain(v, &mut raw);
    let comp = lz4_flex::block::compress(&raw);
    put_varint(out, raw.len() as u64);
    put_varint(out, comp.len() as u64);
    out.extend_from_slice(&comp);
    Ok(true)
}

fn lz4_dec(r: &mut Reader<'_>, kind: DataKind, count: usize, ctx: &mut DecodeCtx) -> Dec {
    let raw_at = r.offset();
    let raw_len = r.varint("lz4 raw length")?;
    let comp_len = r.count("lz4 compressed length", r.remaining())?;
    if raw_len > (comp_len as u64).saturating_mul(LZ4_MAX_RATIO as u64) + 16 {
        return Err(CodecError::CountTooLarge {
            what: "lz4 raw length",
            offset: raw_at,
            count: raw_len,
            max: comp_len.saturating_mul(LZ4_MAX_RATIO) + 16,
        });
    }
    let raw_len = raw_len as usize;
    ctx.budget().charge(raw_len)?;
    let comp = r.take(comp_len, "lz4 block")?;
    let raw =
        lz4_flex::block::decompress(comp, raw_len).map_err(|e| corrupt(r, format!("lz4: {e}")))?;
    if raw.len() != raw_len {
        return Err(corrupt(
            r,
            format!("lz4 block holds {} bytes, header says {raw_len}", raw.len()),
        ));
    }
    let mut inner = Reader::new(&raw);
    let values = read_plain(&mut inner, kind, count, ctx.budget())?;
    if inner.remaining() != 0 {
        return Err(corrupt(
            r,
            format!(
                "{} bytes after the values in the lz4 block",
                inner.remaining()
            ),
        ));
    }
    Ok(values)
}
