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
mod tests {
    use super::*;
    use crate::{decode_column, decode_values, encode_column, encode_with};
    use crate::{Column, ColumnKind, Effort};
    use proptest::prelude::*;

    fn enc_len(x: &[f64]) -> Option<usize> {
        let v = Values::Float(x.to_vec());
        let bytes = encode_with("f32", &v, Effort::Max).unwrap()?;
        assert_eq!(decode_values(&bytes, DataKind::Float, x.len()).unwrap(), v);
        Some(bytes.len())
    }

    /// `x` printed with `e` decimals and parsed back: the oracle for what
    /// a CSV of `f32` values holds.
    fn printed(x: f32, e: usize) -> f64 {
        format!("{:.*}", e, f64::from(x)).parse().unwrap()
    }

    /// Prices in cents made `f32`, printed with six decimals.
    fn csv_prices() -> Vec<f64> {
        let mut c = 145_522i64;
        (0..4000)
            .map(|i| {
                c += (i * 7919 % 401) - 200;
                printed((c as f64 / 100.0) as f32, 6)
            })
            .collect()
    }

    #[test]
    fn order_is_monotone_and_an_involution() {
        let xs = [
            f32::NEG_INFINITY,
            -1e30,
            -1.5,
            -1e-40,
            -0.0,
            0.0,
            1e-40,
            1.5,
            1e30,
            f32::INFINITY,
        ];
        for w in xs.windows(2) {
            let (a, b) = (w[0].to_bits() as i32, w[1].to_bits() as i32);
            assert!(order(a) < order(b), "{} {}", w[0], w[1]);
        }
        for x in xs {
            let i = x.to_bits() as i32;
            assert_eq!(order(order(i)), i);
        }
    }

    #[test]
    fn rounding_matches_the_library_away_from_ties() {
        for t in [0.0, 0.4, 0.6, -0.4, -0.6, 2.5, -2.5, 1e15 + 0.7, -123.49] {
            assert_eq!(round(t), t.round(), "{t}");
        }
    }

    #[test]
    fn printed_f32_prices_cost_their_cents() {
        let x = csv_prices();
        let ours = enc_len(&x).unwrap();
        // The decimal codec codes the six-decimal values (20+ bit deltas).
        let dec = encode_with("decimal", &Values::Float(x.clone()), Effort::Max)
            .unwrap()
            .unwrap()
            .len();
        assert!(ours * 3 < dec * 2, "f32 {ours} bytes, decimal {dec}");
        let col = Column::new(ColumnKind::Float, Values::Float(x)).unwrap();
        let e = encode_column(&col, Effort::Max).unwrap();
        assert_eq!(decode_column(&e.bytes).unwrap(), col);
        assert!(e.cascades[0].starts_with("f32"), "{:?}", e.cascades);
    }

    #[test]
    fn widened_f32_bits_and_exceptions_round_trip() {
        // A random walk in f32, widened exactly; every 50th value an f64
        // that no f32 stands for.
        let mut w = 20.0f32;
        let x: Vec<f64> = (0..3000)
            .map(|i| {
                w += ((i * 37 % 101) as f32 - 50.0) * 0.013;
                if i % 50 == 0 {
                    f64::from(w) + 1e-12
                } else {
                    f64::from(w)
                }
            })
            .collect();
        assert!(enc_len(&x).unwrap() < x.len() * 4);
    }

    #[test]
    fn plain_decimals_and_other_floats_are_refused() {
        let dec: Vec<f64> = (0..500).map(|i| f64::from(i) * 0.25 + 0.01).collect();
        assert_eq!(enc_len(&dec), None);
        let ints: Vec<f64> = (0..500).map(f64::from).collect();
        assert_eq!(enc_len(&ints), None);
        let noise: Vec<f64> = (0..500).map(|i| (f64::from(i) * 0.7).sin()).collect();
        assert_eq!(enc_len(&noise), None);
        assert_eq!(enc_len(&[1.5f32.into(); 10]), None);
    }

    #[test]
    fn corrupt_modes_and_codes_are_errors() {
        let x = csv_prices();
        let bytes = encode_with("f32", &Values::Float(x.clone()), Effort::Max)
            .unwrap()
            .unwrap();
        for cut in 0..bytes.len() {
            assert!(decode_values(&bytes[..cut], DataKind::Float, x.len()).is_err());
        }
        // The outer mode byte follows the 4-byte name node header.
        let mut bad = bytes.clone();
        bad[4] = 19;
        assert!(matches!(
            decode_values(&bad, DataKind::Float, x.len()),
            Err(CodecError::Corrupt { .. })
        ));
        // Bits mode with a code outside i32.
        let mut b = vec![3u8];
        b.extend_from_slice(b"f32");
        b.extend_from_slice(&[EXACT, EXACT, 0, 5]);
        b.extend_from_slice(b"plain");
        b.extend_from_slice(&(1i64 << 40).to_le_bytes());
        assert!(matches!(
            decode_values(&b, DataKind::Float, 1),
            Err(CodecError::Corrupt { .. })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_floats_round_trip(
            x in prop::collection::vec(
                prop_oneof![
                    3 => (-100_000i32..100_000).prop_map(|k| printed(k as f32 / 100.0, 6)),
                    2 => any::<f32>().prop_map(f64::from),
                    1 => (-1000i32..1000).prop_map(|k| printed(k as f32 * 0.37, 4)),
                    1 => any::<u64>().prop_map(f64::from_bits),
                ],
                1..300,
            )
        ) {
            enc_len(&x);
            let col = Column::new(ColumnKind::Float, Values::Float(x)).unwrap();
            let e = encode_column(&col, Effort::Max).unwrap();
            prop_assert_eq!(decode_column(&e.bytes).unwrap(), col);
        }
    }
}
