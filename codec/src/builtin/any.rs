//! Codecs for every data kind.
//!
//! | name | data | idea |
//! |------|------|------|
//! | `plain` | all | fixed 8 bytes, bit-packed booleans, LEB128 lengths + bytes |
//! | `one` | all | a single repeated value |
//! | `rle` | int, float, bool | run values + run lengths (children) |
//! | `dict` | int, float, text, bytes | sorted distinct values + codes (children) |

use foldhash::{HashMap, HashSet, HashSetExt};

use unidb_registry::{plugin_info, submit};

use crate::builtin::{child_ints, corrupt, Dec, Enc, ALL};
use crate::io::{put_varint, read_plain, write_plain, Reader};
use crate::{Codec, Cost, DataKind, DecodeCtx, EncodeCtx, Values};

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
    // One vectorised test first; the error names the first bad code.
    if codes.iter().any(|&c| c as u64 >= ndict as u64) {
        let bad = codes
            .iter()
            .find(|&&c| c as u64 >= ndict as u64)
            .expect("a code out of range");
        return Err(corrupt(
            r,
            format!("dictionary code {bad} out of range 0..{ndict}"),
        ));
    }
    let pick = |c: &i64| *c as usize;
    // Numbers are looked up in the codes' own buffer (same size and
    // alignment: the collects reuse it).
    Ok(match dict {
        Values::Int(d) => Values::Int(codes.into_iter().map(|c| d[c as usize]).collect()),
        Values::Float(d) => Values::Float(codes.into_iter().map(|c| d[c as usize]).collect()),
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
