//! `fsst`: a static symbol table for short strings (Boncz, Neumann, Leis:
//! "FSST: Fast Random Access String Compression", VLDB 2020).
//!
//! Up to 255 symbols of 1 to 8 bytes replace the bytes they match with a
//! one-byte code; code 255 escapes one literal byte. The table is built on
//! a sample of about 16 KiB in five generations: compress the sample with
//! the current table, count how often each symbol and each pair of
//! consecutive symbols occur, and keep the 255 candidates (symbols and
//! concatenated pairs of at most 8 bytes) of highest gain
//! `count · length`.
//!
//! # Layout
//! `nsym(u8) len[nsym](u8, 1..=8) symbol bytes code_bytes(LEB128) codes`
//! then a child stream of the code bytes per value. Codes never span two
//! values, so value boundaries are the prefix sums of that child.

use foldhash::{HashMap, HashMapExt};

use unidb_registry::{plugin_info, submit};

use crate::builtin::{child_ints, corrupt};
use crate::io::{put_varint, Reader};
use crate::{Codec, CodecError, Cost, DataKind, DecodeCtx, EncodeCtx, Values};

submit!(Codec {
    info: plugin_info!(
        "fsst",
        "FSST static symbol table: up to 255 symbols of 1-8 bytes as one-byte codes, escape for the rest"
    ),
    accepts: &[DataKind::Text, DataKind::Bytes],
    cost: Cost::Medium,
    encode: fsst_enc,
    decode: fsst_dec,
});

/// The escape code: the next byte is a literal.
const ESCAPE: u8 = 255;
/// Most symbols in a table.
const MAX_SYMBOLS: usize = 255;
/// Sample size for table construction.
const SAMPLE_BYTES: usize = 16 * 1024;
/// Generations of table refinement.
const GENERATIONS: usize = 5;

/// A symbol: up to 8 bytes, little-endian in a `u64` (unused bytes zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Sym {
    len: u8,
    bits: u64,
}

impl Sym {
    fn bytes(self) -> [u8; 8] {
        self.bits.to_le_bytes()
    }

    /// `self` followed by `other`, when it fits 8 bytes.
    fn concat(self, other: Sym) -> Option<Sym> {
        let len = self.len + other.len;
        (len <= 8).then(|| Sym {
            len,
            bits: self.bits | (other.bits << (8 * u32::from(self.len))),
        })
    }
}

/// Up to 8 bytes at `at` (zero padded) and how many were real.
#[inline]
fn load(s: &[u8], at: usize) -> (u64, usize) {
    let rest = &s[at..];
    if rest.len() >= 8 {
        (
            u64::from_le_bytes(rest[..8].try_into().expect("8 bytes")),
            8,
        )
    } else {
        let mut b = [0u8; 8];
        b[..rest.len()].copy_from_slice(rest);
        (u64::from_le_bytes(b), rest.len())
    }
}

fn mask(len: u8) -> u64 {
    if len >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * u32::from(len))) - 1
    }
}

/// Buckets of the lookup of symbols of two or more bytes: the first byte
/// and the low four bits of the second.
const BUCKETS: usize = 4096;

fn bucket(word: u64) -> usize {
    (((word & 0xFF) << 4) | ((word >> 8) & 0xF)) as usize
}

/// A symbol table with a lookup of the longest matching symbol: symbols of
/// two or more bytes by bucket of their first two bytes (longest first,
/// stored contiguously), then the one-byte symbol of the first byte.
struct Table {
    syms: Vec<Sym>,
    /// Codes of the symbols of two or more bytes, grouped by bucket.
    long: Vec<u8>,
    /// Bucket `b` holds `long[start[b]..start[b + 1]]`.
    start: Vec<u16>,
    /// The code of the one-byte symbol of each byte, if any.
    single: [Option<u8>; 256],
}

impl Table {
    fn new(mut syms: Vec<Sym>) -> Table {
        syms.truncate(MAX_SYMBOLS);
        let mut long: Vec<u8> = (0..syms.len() as u8)
            .filter(|&c| syms[c as usize].len >= 2)
            .collect();
        long.sort_by_key(|&c| {
            let s = syms[c as usize];
            (bucket(s.bits), std::cmp::Reverse(s.len), c)
        });
        let mut start = vec![0u16; BUCKETS + 1];
        for &c in &long {
            start[bucket(syms[c as usize].bits) + 1] += 1;
        }
        for b in 0..BUCKETS {
            start[b + 1] += start[b];
        }
        let mut single = [None; 256];
        for (code, s) in syms.iter().enumerate() {
            if s.len == 1 {
                single[(s.bits & 0xFF) as usize].get_or_insert(code as u8);
            }
        }
        Table {
            syms,
            long,
            start,
            single,
        }
    }

    /// The longest symbol matching `s` at `at`: `(code, length)`, or
    /// `None` (escape).
    #[inline]
    fn find(&self, s: &[u8], at: usize) -> Option<(u8, usize)> {
        let (word, avail) = load(s, at);
        if avail >= 2 {
            let b = bucket(word);
            let codes = &self.long[usize::from(self.start[b])..usize::from(self.start[b + 1])];
            for &c in codes {
                let sym = self.syms[c as usize];
                if usize::from(sym.len) <= avail && word & mask(sym.len) == sym.bits {
                    return Some((c, usize::from(sym.len)));
                }
            }
        }
        self.single[(word & 0xFF) as usize].map(|c| (c, 1))
    }

    /// Appends the codes of `s`.
    fn encode(&self, s: &[u8], out: &mut Vec<u8>) {
        let mut at = 0;
        while at < s.len() {
            match self.find(s, at) {
                Some((c, len)) => {
                    out.push(c);
                    at += len;
                }
                None => {
                    out.push(ESCAPE);
                    out.push(s[at]);
                    at += 1;
                }
            }
        }
    }
}

/// Longest piece of one value in the sample.
const PIECE: usize = 512;

/// Pieces of at most [`PIECE`] bytes spread evenly over the input, about
/// [`SAMPLE_BYTES`] in all (long values contribute several pieces).
fn sample<'a>(values: &[&'a [u8]]) -> Vec<&'a [u8]> {
    let pieces = values.iter().flat_map(|v| {
        let n = v.len().div_ceil(PIECE).max(1);
        (0..n).map(move |k| &v[k * PIECE..v.len().min((k + 1) * PIECE)])
    });
    let total: usize = values.iter().map(|v| v.len()).sum();
    if total <= SAMPLE_BYTES {
        return pieces.collect();
    }
    let step = total as f64 / SAMPLE_BYTES as f64;
    let mut out = Vec::new();
    let (mut next, mut seen) = (0.0f64, 0usize);
    for p in pieces {
        if seen as f64 >= next {
            out.push(p);
            next += step * p.len().max(1) as f64;
        }
        seen += p.len();
    }
    out
}

/// Builds a table for `values` (see the module documentation); `None` when
/// the first table leaves the sample more than 90% of its size (bytes with
/// no frequent symbols: the remaining generations would not pay).
fn build_table(values: &[&[u8]]) -> Option<Table> {
    let sample = sample(values);
    let bytes: usize = sample.iter().map(|s| s.len()).sum();
    let mut table = Table::new(Vec::new());
    // Codes: symbol codes below 256, byte `b` (escaped) as 256 + b. Each
    // generation tokenizes the sample into compact ids (in order of first
    // sight), then counts pairs of neighbouring ids in a dense k·k table,
    // k being the number of distinct codes seen (small for text).
    const SEP: u16 = u16::MAX;
    let mut tokens: Vec<u16> = Vec::with_capacity(bytes + sample.len());
    for generation in 0..GENERATIONS {
        let mut single = [0u32; 512];
        let mut id = [SEP; 512];
        let mut codes: Vec<usize> = Vec::new();
        tokens.clear();
        // Bytes the sample takes with the current table.
        let mut coded = 0usize;
        for s in &sample {
            let mut at = 0;
            while at < s.len() {
                let (code, len) = match table.find(s, at) {
                    Some((c, len)) => {
                        coded += 1;
                        (usize::from(c), len)
                    }
                    None => {
                        coded += 2;
                        (256 + usize::from(s[at]), 1)
                    }
                };
                single[code] += 1;
                if id[code] == SEP {
                    id[code] = codes.len() as u16;
                    codes.push(code);
                }
                tokens.push(id[code]);
                at += len;
            }
            tokens.push(SEP);
        }
        if generation == 1 && coded * 10 > bytes * 9 {
            return None;
        }
        let k = codes.len();
        let mut pair = vec![0u32; k * k];
        for w in tokens.windows(2) {
            if w[0] != SEP && w[1] != SEP {
                pair[usize::from(w[0]) * k + usize::from(w[1])] += 1;
            }
        }
        let sym = |code: usize| match code {
            0..256 => table.syms[code],
            _ => Sym {
                len: 1,
                bits: (code - 256) as u64,
            },
        };
        let mut gain: HashMap<Sym, u64> = HashMap::with_capacity(2 * k + 64);
        for &code in &codes {
            let s = sym(code);
            *gain.entry(s).or_default() += u64::from(single[code]) * u64::from(s.len);
        }
        for (i, &n) in pair.iter().enumerate() {
            if n > 0 {
                if let Some(s) = sym(codes[i / k]).concat(sym(codes[i % k])) {
                    *gain.entry(s).or_default() += u64::from(n) * u64::from(s.len);
                }
            }
        }
        let mut ranked: Vec<(u64, Sym)> = gain.into_iter().map(|(s, g)| (g, s)).collect();
        // Highest gain first; ties broken by the symbol for determinism.
        // Only the best MAX_SYMBOLS are kept: select them, then sort those.
        let order = |a: &(u64, Sym), b: &(u64, Sym)| b.0.cmp(&a.0).then(a.1.cmp(&b.1));
        if ranked.len() > MAX_SYMBOLS {
            ranked.select_nth_unstable_by(MAX_SYMBOLS, order);
            ranked.truncate(MAX_SYMBOLS);
        }
        ranked.sort_unstable_by(order);
        table = Table::new(ranked.into_iter().map(|(_, s)| s).collect());
    }
    Some(table)
}

fn fsst_enc(v: &Values, ctx: &mut EncodeCtx, out: &mut Vec<u8>) -> Result<bool, CodecError> {
    let items: Vec<&[u8]> = match v {
        Values::Text(x) => x.iter().map(|s| s.as_bytes()).collect(),
        Values::Bytes(x) => x.iter().map(|s| s.as_slice()).collect(),
        _ => return Ok(false),
    };
    if items.is_empty() {
        return Ok(false);
    }
    let Some(table) = build_table(&items) else {
        return Ok(false);
    };
    let mut codes = Vec::new();
    let mut lens = Vec::with_capacity(items.len());
    for s in &items {
        let before = codes.len();
        table.encode(s, &mut codes);
        lens.push((codes.len() - before) as i64);
    }
    out.push(table.syms.len() as u8);
    out.extend(table.syms.iter().map(|s| s.len));
    for s in &table.syms {
        out.extend_from_slice(&s.bytes()[..usize::from(s.len)]);
    }
    put_varint(out, codes.len() as u64);
    out.extend_from_slice(&codes);
    ctx.child(&Values::Int(lens), out)?;
    Ok(true)
}

/// Decoded strings in one buffer: value `i` is `bytes[ends[i-1]..ends[i]]`.
pub(crate) struct Decoded {
    pub(crate) bytes: Vec<u8>,
    pub(crate) ends: Vec<usize>,
}

/// Decodes an `fsst` payload into one buffer and value ends.
pub(crate) fn decode_flat(
    r: &mut Reader<'_>,
    count: usize,
    ctx: &mut DecodeCtx,
) -> Result<Decoded, CodecError> {
    let nsym = usize::from(r.u8("fsst symbol count")?);
    let lens = r.take(nsym, "fsst symbol lengths")?;
    let mut table = [[0u8; 8]; 256];
    let mut sym_len = [0u8; 256];
    let total: usize = lens.iter().map(|&l| usize::from(l)).sum();
    if let Some(bad) = lens.iter().position(|&l| !(1..=8).contains(&l)) {
        return Err(corrupt(
            r,
            format!("fsst symbol {bad} has length {}, expected 1..=8", lens[bad]),
        ));
    }
    let mut sym_bytes = r.take(total, "fsst symbols")?;
    for (code, &l) in lens.iter().enumerate() {
        let (s, rest) = sym_bytes.split_at(usize::from(l));
        table[code][..s.len()].copy_from_slice(s);
        sym_len[code] = l;
        sym_bytes = rest;
    }
    let ncodes = r.count("fsst code bytes", r.remaining())?;
    let codes_at = r.offset();
    let codes = r.take(ncodes, "fsst codes")?;
    let per_value = child_ints(r, ctx, count)?;
    let mut ends = Vec::with_capacity(count);
    // Every code yields at most 8 bytes: the buffer is bounded by the input.
    ctx.budget().charge(ncodes.saturating_mul(8))?;
    let mut bytes = vec![0u8; ncodes * 8 + 8];
    let (mut at, mut pos) = (0usize, 0usize);
    for (i, &n) in per_value.iter().enumerate() {
        let end = usize::try_from(n)
            .ok()
            .and_then(|n| at.checked_add(n))
            .filter(|&e| e <= ncodes)
            .ok_or_else(|| {
                corrupt(
                    r,
                    format!("fsst value {i} claims {n} code bytes, past the {ncodes} present"),
                )
            })?;
        let mut c = at;
        while c < end {
            let code = codes[c];
            if code == ESCAPE {
                let Some(&lit) = codes.get(c + 1).filter(|_| c + 1 < end) else {
                    return Err(CodecError::Corrupt {
                        offset: codes_at + c,
                        reason: format!("fsst escape at the end of value {i}"),
                    });
                };
                bytes[pos] = lit;
                pos += 1;
                c += 2;
            } else {
                let l = sym_len[usize::from(code)];
                if l == 0 {
                    return Err(CodecError::Corrupt {
                        offset: codes_at + c,
                        reason: format!("fsst code {code} but the table has {nsym} symbols"),
                    });
                }
                // Eight bytes written, `l` kept: the slack covers the rest.
                bytes[pos..pos + 8].copy_from_slice(&table[usize::from(code)]);
                pos += usize::from(l);
                c += 1;
            }
        }
        ends.push(pos);
        at = end;
    }
    if at != ncodes {
        return Err(corrupt(
            r,
            format!("fsst values take {at} of {ncodes} code bytes"),
        ));
    }
    bytes.truncate(pos);
    Ok(Decoded { bytes, ends })
}

fn fsst_dec(
    r: &mut Reader<'_>,
    kind: DataKind,
    count: usize,
    ctx: &mut DecodeCtx,
) -> Result<Values, CodecError> {
    let d = decode_flat(r, count, ctx)?;
    d.into_values(kind, r.offset())
}

impl Decoded {
    /// Splits into owned values; text is checked to be UTF-8 once for the
    /// whole buffer plus a char-boundary check per value end.
    pub(crate) fn into_values(self, kind: DataKind, offset: usize) -> Result<Values, CodecError> {
        let mut start = 0;
        match kind {
            DataKind::Text => {
                let text = std::str::from_utf8(&self.bytes).map_err(|e| {
                    let bad = e.valid_up_to();
                    let index = self.ends.partition_point(|&end| end <= bad);
                    let from = if index == 0 { 0 } else { self.ends[index - 1] };
                    CodecError::InvalidUtf8 {
                        index,
                        offset,
                        valid_up_to: bad - from,
                    }
                })?;
                let mut out = Vec::with_capacity(self.ends.len());
                for (index, &end) in self.ends.iter().enumerate() {
                    if !text.is_char_boundary(end) {
                        return Err(CodecError::InvalidUtf8 {
                            index,
                            offset,
                            valid_up_to: text[start..]
                                .char_indices()
                                .map(|(i, _)| i)
                                .take_while(|&i| start + i <= end)
                                .last()
                                .unwrap_or(0),
                        });
                    }
                    out.push(text[start..end].to_owned());
                    start = end;
                }
                Ok(Values::Text(out))
            }
            DataKind::Bytes => Ok(Values::Bytes(
                self.ends
                    .iter()
                    .map(|&end| {
                        let v = self.bytes[start..end].to_vec();
                        start = end;
                        v
                    })
                    .collect(),
            )),
            _ => unreachable!("fsst accepts text and bytes"),
        }
    }
}

#[cfg(test)]
mod tests;
