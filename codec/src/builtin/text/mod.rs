//! Text and bytes codecs.
//!
//! | name | data | idea |
//! |------|------|------|
//! | `front` | text | front coding: shared-prefix lengths + suffixes |
//! | `lz4` | text, bytes | LZ4 block over the plain layout |
//! | `fsst` | text | static symbol table for short strings ([`fsst`]) |

pub(crate) mod fsst;

use unidb_registry::{plugin_info, submit};

use crate::builtin::{child_ints, corrupt, Dec, Enc};
use crate::io::{put_varint, read_plain, text_from_blobs, write_plain, Reader};
use crate::{Codec, CodecError, Cost, DataKind, DecodeCtx, EncodeCtx, Values};

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
