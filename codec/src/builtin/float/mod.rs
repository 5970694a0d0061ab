//! Float codecs.
//!
//! | name | idea |
//! |------|------|
//! | `decimal` | v = i / 10^e with exceptions (ALP / pseudodecimal) |
//! | `gorilla` | XOR with the previous value, Gorilla bit layout |
//! | `bss` | byte-stream split into a bytes child (e.g. `lz4`) |
//! | `fbits` | the IEEE bits as `i64`, into an integer child ([`fbits`]) |
//! | `decimal_ulp` | decimal plus a correction in units of the last place ([`decimal_ulp`]) |
//! | `f32` | `f32` values widened or printed to decimals: the `f32`'s decimal or bits ([`widened`]) |

pub(crate) mod decimal_ulp;
pub(crate) mod fbits;
pub(crate) mod widened;

use unidb_kernels::Kernels;
use unidb_registry::{plugin_info, submit};

use crate::builtin::{child_ints, corrupt, Dec, Enc};
use crate::io::{put_varint, Reader};
use crate::{Codec, CodecError, Cost, DataKind, DecodeCtx, EncodeCtx, Values};

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
pub(crate) const POW10: [f64; 19] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18,
];

/// The nearest integer to `v · 10^e`, when it fits an `i64`.
pub(crate) fn scaled(v: f64, e: usize) -> Option<i64> {
    let s = v * POW10[e];
    (s.is_finite() && s.abs() < 9.0e18).then(|| s.round() as i64)
}

/// Reads a decimal exponent byte and checks it indexes [`POW10`].
pub(crate) fn read_exponent(r: &mut Reader<'_>) -> Result<usize, CodecError> {
    let e = r.u8("decimal exponent")? as usize;
    if e >= POW10.len() {
        return Err(corrupt(
            r,
            format!("decimal exponent {e} > {}", POW10.len() - 1),
        ));
    }
    Ok(e)
}

/// Most entries of the table [`decimals`] divides through once per
/// distinct integer (32 KiB of floats).
const QUOTIENT_TABLE: u64 = 4096;

/// `i as f64 / p` for every `i` of `ints`, bit for bit what that
/// expression gives, in the integers' own buffer and faster than one
/// division after another: through a table of the quotients when the
/// integers span a small range (each divided once), else converted with
/// the magic-number trick (exact below `2^51`), which the compiler
/// vectorises along with the division.
pub(crate) fn decimals(mut ints: Vec<i64>, p: f64) -> Vec<f64> {
    let (lo, hi) = Kernels::active()
        .min_max_i64(&ints)
        .ok()
        .flatten()
        .unwrap_or((0, 0));
    let span = (hi as u64).wrapping_sub(lo as u64);
    // 2^52 + 2^51: its bits plus `i` are the bits of the float 2^52 + 2^51
    // + i for |i| < 2^51.
    const MAGIC: f64 = 6_755_399_441_055_744.0;
    const LIMIT: i64 = 1 << 51;
    // Each slot's integer is replaced by its float's bits.
    if ints.is_empty() {
    } else if span < QUOTIENT_TABLE && span * 4 < ints.len() as u64 {
        let table: Vec<u64> = (0..=span)
            .map(|k| (lo.wrapping_add(k as i64) as f64 / p).to_bits())
            .collect();
        let last = span as usize;
        for x in &mut ints {
            let k = ((*x as u64).wrapping_sub(lo as u64) as usize).min(last);
            *x = table[k] as i64;
        }
    } else if lo >= -LIMIT && hi < LIMIT {
        let m = MAGIC.to_bits() as i64;
        for x in &mut ints {
            *x = ((f64::from_bits(m.wrapping_add(*x) as u64) - MAGIC) / p).to_bits() as i64;
        }
    } else {
        for x in &mut ints {
            *x = (*x as f64 / p).to_bits() as i64;
        }
    }
    // Same size and alignment: the collect reuses the buffer.
    ints.into_iter().map(|b| f64::from_bits(b as u64)).collect()
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
    let mut out = decimals(ints, POW10[e]);
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
