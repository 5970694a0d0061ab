//! `f32`: floats that are `f32` values held in an `f64`, widened exactly
//! or written out to `e` decimals (a CSV made from `float32` data:
//! `1455.219971` is the `f32` nearest `1455.22`, printed with six
//! decimals). Such values carry 24 bits of mantissa, not 53: the codec
//! finds the `f32` behind every value and codes it as an integer, the
//! decimal it was made from (`145522` at two decimals) when the values
//! have one, else its bits in an order-preserving form, so that deltas and
//! bit-packing work at the `f32`'s precision. Values without such an `f32`
//! are exceptions, kept exactly.
//!
//! The codec refuses values that are plain decimals (the `decimal` codec's
//! data) and values of which fewer than half have an `f32` behind them.
//!
//! # Layout
//! `outer(u8)`: [`EXACT`] when `v = f64::from(x)`, else `e` in `0..=18`
//! with `v = round(f64::from(x) · 10^e) / 10^e` (see [`round`]);
//! `inner(u8)`: [`EXACT`] when the codes are the bits of `x`
//! (order-preserving, see [`order`]), else `e` in `0..=18` with
//! `x = (k / 10^e) as f32`; `exceptions(LEB128)`; then the codes as an
//! integer child and, with exceptions, their positions (integer child) and
//! values (float child).

use unidb_registry::{plugin_info, submit};

use crate::builtin::float::{read_exponent, scaled, POW10};
use crate::builtin::{child_ints, corrupt};
use crate::io::{put_varint, Reader};
use crate::{Codec, CodecError, Cost, DataKind, DecodeCtx, EncodeCtx, Values};

submit!(Codec {
    info: plugin_info!(
        "f32",
        "f32 values widened or printed to e decimals: the f32 as its decimal or bits, an integer child"
    ),
    accepts: &[DataKind::Float],
    cost: Cost::Medium,
    encode: enc,
    decode: dec,
});

/// The mode byte for "exactly" (outer) and "as bits" (inner).
const EXACT: u8 = 255;

/// Fewer values are left to the other float codecs.
const MIN_VALUES: usize = 64;

/// Values probed to choose the modes.
const PROBE: usize = 256;

/// `t` rounded to an integer, halves away from zero. Written out (not
/// `f64::round`, a library call without SSE4.1) so that the encoder and
/// the decoder round alike; exact for `|t| < 2^52`, deterministic beyond
/// (where the encoder's check decides). Branch-free (the comparisons
/// become a step of -1, 0 or 1), so that the decoder's loop vectorises.
#[inline]
fn round(t: f64) -> f64 {
    let r = t as i64 as f64;
    let d = t - r;
    r + (f64::from(u8::from(d >= 0.5)) - f64::from(u8::from(d <= -0.5)))
}

/// The `f64` an `f32` stands for under the outer mode.
#[inline]
fn widen(x: f32, outer: u8) -> f64 {
    let y = f64::from(x);
    if outer == EXACT {
        y
    } else {
        let p = POW10[usize::from(outer)];
        round(y * p) / p
    }
}

/// The `f32` a code stands for under the inner mode (`None` for bits
/// outside `i32`).
#[inline]
fn narrow(code: i64, inner: u8) -> Option<f32> {
    if inner == EXACT {
        let i = i32::try_from(code).ok()?;
        Some(f32::from_bits(order(i) as u32))
    } else {
        Some((code as f64 / POW10[usize::from(inner)]) as f32)
    }
}

/// Maps `f32` bits (as `i32`) to integers in the floats' order and back
/// (an involution): negative floats get their magnitude bits flipped.
#[inline]
fn order(i: i32) -> i32 {
    i ^ (((i >> 31) as u32) >> 1) as i32
}

/// The code of `x` under the inner mode, when it decodes to `x`.
fn code(x: f32, inner: u8) -> Option<i64> {
    if inner == EXACT {
        return Some(i64::from(order(x.to_bits() as i32)));
    }
    let k = scaled(f64::from(x), usize::from(inner))?;
    (narrow(k, inner)?.to_bits() == x.to_bits()).then_some(k)
}

/// The `f32` behind `v` under the outer mode, if any.
fn behind(v: f64, outer: u8) -> Option<f32> {
    let x = v as f32;
    (widen(x, outer).to_bits() == v.to_bits()).then_some(x)
}

/// The mode among `modes` (in order of preference) that fits the most of
/// `items`, and how many it fits.
fn best_mode(modes: impl Iterator<Item = u8>, fits: impl Fn(u8) -> usize) -> (u8, usize) {
    let mut best = (EXACT, 0);
    for m in modes {
        let hits = fits(m);
        if hits > best.1 {
            best = (m, hits);
        }
    }
    best
}

fn enc(v: &Values, ctx: &mut EncodeCtx, out: &mut Vec<u8>) -> Result<bool, CodecError> {
    let Values::Float(x) = v else {
        return Ok(false);
    };
    if x.len() < MIN_VALUES {
        return Ok(false);
    }
    let step = x.len().div_ceil(PROBE);
    let probe: Vec<f64> = x.iter().step_by(step).copied().collect();
    // Exactly widened first, then the fewest decimals.
    let modes = || std::iter::once(EXACT).chain(0..POW10.len() as u8);
    let (outer, hits) = best_mode(modes(), |m| {
        probe.iter().filter(|&&v| behind(v, m).is_some()).count()
    });
    if hits * 2 < probe.len() {
        return Ok(false);
    }
    let xs: Vec<f32> = probe.iter().filter_map(|&v| behind(v, outer)).collect();
    let (dec_e, dec_hits) = best_mode(0..POW10.len() as u8, |e| {
        xs.iter().filter(|&&f| code(f, e).is_some()).count()
    });
    // The decimal when it fits nearly every f32, else the bits.
    let inner = if dec_hits * 16 >= xs.len() * 15 {
        dec_e
    } else {
        EXACT
    };
    // Plain decimals are `decimal`'s: nothing to gain here.
    if inner != EXACT
        && probe.iter().all(|&v| {
            scaled(v, usize::from(inner))
                .is_some_and(|k| (k as f64 / POW10[usize::from(inner)]).to_bits() == v.to_bits())
        })
    {
        return Ok(false);
    }
    let mut codes = Vec::with_capacity(x.len());
    let (mut pos, mut exc) = (Vec::new(), Vec::new());
    let mut prev = 0i64;
    for (i, &v) in x.iter().enumerate() {
        match behind(v, outer).and_then(|f| code(f, inner)) {
            Some(k) => {
                codes.push(k);
                prev = k;
            }
            None => {
                codes.push(prev);
                pos.push(i as i64);
                exc.push(v);
            }
        }
    }
    if pos.len() * 2 > x.len() {
        return Ok(false);
    }
    out.push(outer);
    out.push(inner);
    put_varint(out, pos.len() as u64);
    ctx.child(&Values::Int(codes), out)?;
    if !pos.is_empty() {
        ctx.child(&Values::Int(pos), out)?;
        ctx.child(&Values::Float(exc), out)?;
    }
    Ok(true)
}

/// Reads a mode byte: [`EXACT`] or a decimal exponent.
fn read_mode(r: &mut Reader<'_>) -> Result<u8, CodecError> {
    if r.rest().first() == Some(&EXACT) {
        r.u8("f32 mode")?;
        return Ok(EXACT);
    }
    Ok(read_exponent(r)? as u8)
}

/// The `f64` of every code under the modes, in the codes' buffer; `true`
/// when a code was outside `i32` (bits mode). The modes' tests are
/// constants of each instance, so its loop has no branch.
fn widen_all<const INNER_EXACT: bool, const OUTER_EXACT: bool>(
    codes: Vec<i64>,
    inner: u8,
    outer: u8,
) -> (Vec<f64>, bool) {
    let p_in = POW10[usize::from(inner).min(POW10.len() - 1)];
    let p_out = POW10[usize::from(outer).min(POW10.len() - 1)];
    let mut bad = false;
    let out = codes
        .into_iter()
        .map(|k| {
            let x = if INNER_EXACT {
                let i = k as i32;
                bad |= i64::from(i) != k;
                f32::from_bits(order(i) as u32)
            } else {
                (k as f64 / p_in) as f32
            };
            let y = f64::from(x);
            if OUTER_EXACT {
                y
            } else {
                round(y * p_out) / p_out
            }
        })
        .collect();
    (out, bad)
}

fn dec(
    r: &mut Reader<'_>,
    _: DataKind,
    count: usize,
    ctx: &mut DecodeCtx,
) -> Result<Values, CodecError> {
    let outer = read_mode(r)?;
    let inner = read_mode(r)?;
    let nexc = r.count("exception count", count)?;
    let codes = child_ints(r, ctx, count)?;
    // In the codes' own buffer, one loop per pair of modes; a code
    // outside i32 (bits mode) is flagged, not an early exit.
    let (out, bad) = match (inner == EXACT, outer == EXACT) {
        (true, true) => widen_all::<true, true>(codes, inner, outer),
        (true, false) => widen_all::<true, false>(codes, inner, outer),
        (false, true) => widen_all::<false, true>(codes, inner, outer),
        (false, false) => widen_all::<false, false>(codes, inner, outer),
    };
    let mut out = out;
    if bad {
        return Err(corrupt(r, "an f32 code is outside i32"));
    }
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

#[cfg(test)]
mod tests;
