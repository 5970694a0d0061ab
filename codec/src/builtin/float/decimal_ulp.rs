//! `decimal_ulp`: floats as decimals plus a correction in units of the
//! last place (pco's float-multiplier idea): `v = bits(k / 10^e) + d`, with
//! `k = round(v · 10^e)` and `d` the difference of the IEEE bit patterns.
//! Values that a decimal misses by rounding noise (`0.30000000000000004`,
//! sensor readings with 9 digits and some with 16) cost a small `d`
//! instead of an exception (position + 8 bytes); every float is
//! representable (`k = 0` for those too large or not finite), so nothing
//! is ever refused or changed.
//!
//! # Layout
//! `e(u8, 0..=18)`, then `k` and `d` as integer child streams.

use unidb_registry::{plugin_info, submit};

use crate::builtin::child_ints;
use crate::builtin::float::{decimals, read_exponent, POW10};
use crate::io::Reader;
use crate::{Codec, CodecError, Cost, DataKind, DecodeCtx, EncodeCtx, Values};

submit!(Codec {
    info: plugin_info!(
        "decimal_ulp",
        "v = k / 10^e corrected by d units in the last place; k and d as integer child streams"
    ),
    accepts: &[DataKind::Float],
    cost: Cost::Medium,
    encode: enc,
    decode: dec,
});

/// Fewer values are left to `decimal`.
const MIN_VALUES: usize = 64;

/// Most units in the last place a value may miss its decimal by to count
/// as fitting the exponent.
const NEAR: i64 = 3;

/// The decimal `k` of `v` at exponent `e` (0 when out of range).
fn scaled(v: f64, e: usize) -> i64 {
    crate::builtin::float::scaled(v, e).unwrap_or(0)
}

/// The bits of `k / 10^e` as an integer.
fn base_bits(k: i64, e: usize) -> i64 {
    (k as f64 / POW10[e]).to_bits() as i64
}

fn enc(v: &Values, ctx: &mut EncodeCtx, out: &mut Vec<u8>) -> Result<bool, CodecError> {
    let Values::Float(x) = v else {
        return Ok(false);
    };
    // Small streams (a sync batch's columns) are left to `decimal`: its
    // exceptions cost little there, and the probe and two child
    // selections would not pay.
    if x.len() < MIN_VALUES {
        return Ok(false);
    }
    // The exponent within a few units in the last place of the most of up
    // to 256 spread values; the smallest such (a larger one only widens
    // `k`: 16 digits fit values that 9 digits miss by one unit).
    let step = x.len().div_ceil(256);
    let (mut best_e, mut best_hits) = (0usize, 0usize);
    let probe: Vec<f64> = x.iter().step_by(step).copied().collect();
    for e in 0..POW10.len() {
        let hits = probe
            .iter()
            .filter(|&&f| {
                let d = (f.to_bits() as i64).wrapping_sub(base_bits(scaled(f, e), e));
                (-NEAR..=NEAR).contains(&d)
            })
            .count();
        if hits > best_hits {
            (best_e, best_hits) = (e, hits);
        }
        if hits == probe.len() {
            break;
        }
    }
    if best_hits == 0 {
        return Ok(false);
    }
    let e = best_e;
    let k: Vec<i64> = x.iter().map(|&f| scaled(f, e)).collect();
    let d: Vec<i64> = x
        .iter()
        .zip(&k)
        .map(|(&f, &k)| (f.to_bits() as i64).wrapping_sub(base_bits(k, e)))
        .collect();
    out.push(e as u8);
    ctx.child(&Values::Int(k), out)?;
    ctx.child(&Values::Int(d), out)?;
    Ok(true)
}

fn dec(
    r: &mut Reader<'_>,
    _: DataKind,
    count: usize,
    ctx: &mut DecodeCtx,
) -> Result<Values, CodecError> {
    let e = read_exponent(r)?;
    let k = child_ints(r, ctx, count)?;
    let d = child_ints(r, ctx, count)?;
    // `k / 10^e` in k's own buffer (see `decimals`), then the corrections.
    let mut out = decimals(k, POW10[e]);
    for (f, &d) in out.iter_mut().zip(&d) {
        *f = f64::from_bits((f.to_bits() as i64).wrapping_add(d) as u64);
    }
    Ok(Values::Float(out))
}

#[cfg(test)]
mod tests;
