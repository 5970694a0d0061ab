//! `gcd`: integers on a grid, `x[i] = min + g·q[i]` with `g` the greatest
//! common divisor of every `x[i] - min` (pco's integer-multiplier mode):
//! timestamps on whole hours, volumes in lots of 100, prices in cents
//! stored as micro-units. The quotients go to an integer child, so the
//! grid's zero low bits cost nothing.
//!
//! # Layout
//! `min(zigzag LEB128) g(LEB128, >= 2)` then the quotients as a child node.

use unidb_registry::{plugin_info, submit};

use super::post::{child_through, Stage};
use crate::builtin::{child_ints, corrupt};
use crate::io::{put_varint, put_zigzag, Reader};
use crate::{Codec, CodecError, Cost, DataKind, DecodeCtx, EncodeCtx, Values};

submit!(Codec {
    info: plugin_info!(
        "gcd",
        "common divisor of the offsets from the minimum: quotients as a child stream"
    ),
    accepts: &[DataKind::Int],
    cost: Cost::Fast,
    encode: gcd_enc,
    decode: gcd_dec,
});

/// Greatest common divisor (`gcd(0, b) = b`).
fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn gcd_enc(v: &Values, ctx: &mut EncodeCtx, out: &mut Vec<u8>) -> Result<bool, CodecError> {
    let Values::Int(x) = v else { return Ok(false) };
    let Some(&min) = x.iter().min() else {
        return Ok(false);
    };
    let mut g = 0u64;
    for &v in x {
        g = gcd(g, (v as u64).wrapping_sub(min as u64));
        if g == 1 {
            return Ok(false);
        }
    }
    // All equal (g = 0) is `one`'s.
    if g < 2 {
        return Ok(false);
    }
    // Offsets from the minimum are below 2^64, so quotients by g >= 2 fit
    // an i64.
    let q: Vec<i64> = x
        .iter()
        .map(|&v| ((v as u64).wrapping_sub(min as u64) / g) as i64)
        .collect();
    put_zigzag(out, min);
    put_varint(out, g);
    ctx.child(&Values::Int(q), out)?;
    Ok(true)
}

fn gcd_dec(
    r: &mut Reader<'_>,
    _: DataKind,
    count: usize,
    ctx: &mut DecodeCtx,
) -> Result<Values, CodecError> {
    let min = r.zigzag("gcd minimum")?;
    let g = r.varint("gcd divisor")?;
    if g < 2 {
        return Err(corrupt(r, format!("gcd divisor {g}, expected 2 or more")));
    }
    // Every quotient must land on the grid without wrapping past 2^64:
    // checked in the same pass (flags or-ed together, no early exit).
    let limit = u64::MAX / g;
    let out = match ctx.prefix() {
        Some(mut out) => {
            let q = child_ints(r, ctx, count)?;
            let start = out.len();
            out.extend_from_slice(&q);
            let mut grid = Stage::Grid {
                min,
                g,
                limit,
                bad: false,
            };
            grid.apply(&mut out[start..]);
            (out, grid)
        }
        // Applied by the child as it decodes, or in its buffer.
        None => {
            let own = Stage::Grid {
                min,
                g,
                limit,
                bad: false,
            };
            child_through(r, ctx, count, own)?
        }
    };
    if let (_, Stage::Grid { bad: true, .. }) = out {
        return Err(corrupt(r, format!("a gcd quotient is outside 0..={limit}")));
    }
    Ok(Values::Int(out.0))
}

#[cfg(test)]
mod tests;
