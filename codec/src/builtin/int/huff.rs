//! `huff`: an entropy stage for integers of a small range (at most 256
//! values above the minimum): canonical Huffman codes of at most
//! [`MAX_LEN`] bits, decoded through one lookup table, so a skewed
//! distribution (small counters, jitter) costs its entropy rather than the
//! bit width of its largest value.
//!
//! # Layout
//! `min(zigzag LEB128) nsym(LEB128, 2..=256) lengths[nsym](u8, 0 = unused)
//! bits(LEB128) stream`; the stream holds the codes least significant bit
//! first (each code bit-reversed, so the decoder indexes its table with the
//! next [`MAX_LEN`] bits).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use unidb_registry::{plugin_info, submit};

use crate::builtin::corrupt;
use crate::io::{put_varint, put_zigzag, Reader};
use crate::{Codec, CodecError, Cost, DataKind, DecodeCtx, EncodeCtx, Values};

submit!(Codec {
    info: plugin_info!(
        "huff",
        "canonical Huffman codes (at most 12 bits, one table lookup each) for integers within 256 of their minimum"
    ),
    accepts: &[DataKind::Int],
    cost: Cost::Medium,
    encode: huff_enc,
    decode: huff_dec,
});

/// Longest code, in bits.
const MAX_LEN: u32 = 12;
/// Most symbols (values above the minimum).
const MAX_SYMBOLS: usize = 256;

/// Huffman code lengths for `freq` (0 for unused symbols), limited to
/// [`MAX_LEN`] bits by flattening the frequencies until the tree fits.
fn code_lengths(freq: &[u64]) -> Vec<u8> {
    let mut f: Vec<u64> = freq.to_vec();
    loop {
        let mut lens = vec![0u8; f.len()];
        // Nodes: leaves 0..n, then internal nodes; parent links.
        let mut parent: Vec<usize> = vec![usize::MAX; f.len()];
        let mut heap: BinaryHeap<Reverse<(u64, usize)>> = f
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(i, &c)| Reverse((c, i)))
            .collect();
        if heap.len() < 2 {
            for (i, &c) in f.iter().enumerate() {
                if c > 0 {
                    lens[i] = 1;
                }
            }
            return lens;
        }
        while heap.len() > 1 {
            let Reverse((a, i)) = heap.pop().expect("two nodes");
            let Reverse((b, j)) = heap.pop().expect("two nodes");
            let id = parent.len();
            parent.push(usize::MAX);
            parent[i] = id;
            parent[j] = id;
            heap.push(Reverse((a + b, id)));
        }
        let mut depth = vec![0u32; parent.len()];
        for id in (0..parent.len()).rev() {
            if parent[id] != usize::MAX {
                depth[id] = depth[parent[id]] + 1;
            }
        }
        let max = (0..f.len()).filter(|&i| f[i] > 0).map(|i| depth[i]).max();
        if max.is_some_and(|m| m <= MAX_LEN) {
            for i in 0..f.len() {
                if f[i] > 0 {
                    lens[i] = depth[i] as u8;
                }
            }
            return lens;
        }
        for c in &mut f {
            if *c > 0 {
                *c = (*c >> 1) | 1;
            }
        }
    }
}

/// Canonical codes (bit-reversed for LSB-first streams) from lengths;
/// `None` when the lengths over-subscribe the code space.
fn canonical(lens: &[u8]) -> Option<Vec<u32>> {
    let mut count = [0u32; MAX_LEN as usize + 1];
    for &l in lens {
        count[usize::from(l)] += 1;
    }
    count[0] = 0;
    // Kraft: sum of 2^(MAX_LEN - l) must not exceed 2^MAX_LEN.
    let used: u64 = (1..=MAX_LEN as usize)
        .map(|l| u64::from(count[l]) << (MAX_LEN as usize - l))
        .sum();
    if used > 1 << MAX_LEN {
        return None;
    }
    let mut next = [0u32; MAX_LEN as usize + 2];
    let mut code = 0u32;
    for l in 1..=MAX_LEN as usize {
        code = (code + count[l - 1]) << 1;
        next[l] = code;
    }
    let mut codes = vec![0u32; lens.len()];
    for (s, &l) in lens.iter().enumerate() {
        if l > 0 {
            let c = next[usize::from(l)];
            next[usize::from(l)] += 1;
            codes[s] = c.reverse_bits() >> (32 - u32::from(l));
        }
    }
    Some(codes)
}

fn huff_enc(v: &Values, _: &mut EncodeCtx, out: &mut Vec<u8>) -> Result<bool, CodecError> {
    let Values::Int(x) = v else { return Ok(false) };
    let (Some(&min), Some(&max)) = (x.iter().min(), x.iter().max()) else {
        return Ok(false);
    };
    let range = (max as i128 - min as i128) as u128;
    if range == 0 || range >= MAX_SYMBOLS as u128 {
        return Ok(false);
    }
    let nsym = range as usize + 1;
    let mut freq = vec![0u64; nsym];
    for &v in x {
        freq[v.wrapping_sub(min) as usize] += 1;
    }
    let lens = code_lengths(&freq);
    let codes = canonical(&lens).expect("Huffman lengths satisfy Kraft");
    put_zigzag(out, min);
    put_varint(out, nsym as u64);
    out.extend_from_slice(&lens);
    // Four streams over the four quarters, decoded in lockstep.
    let q = x.len().div_ceil(STREAMS);
    let mut streams = Vec::with_capacity(STREAMS);
    for k in 0..STREAMS {
        let part = &x[(k * q).min(x.len())..((k + 1) * q).min(x.len())];
        let mut bytes = Vec::new();
        let (mut acc, mut n, mut total) = (0u64, 0u32, 0u64);
        for &v in part {
            let s = v.wrapping_sub(min) as usize;
            acc |= u64::from(codes[s]) << n;
            n += u32::from(lens[s]);
            total += u64::from(lens[s]);
            while n >= 8 {
                bytes.push(acc as u8);
                acc >>= 8;
                n -= 8;
            }
        }
        if n > 0 {
            bytes.push(acc as u8);
        }
        put_varint(out, total);
        streams.push(bytes);
    }
    for b in streams {
        out.extend_from_slice(&b);
    }
    Ok(true)
}

/// Streams per node.
const STREAMS: usize = 4;

/// One bit stream being decoded.
#[derive(Clone, Copy)]
struct BitIn {
    /// Next byte to load (relative to the padded buffer).
    pos: usize,
    acc: u64,
    avail: u32,
    /// Set when a code had no table entry (checked after the loop).
    bad: bool,
}

impl BitIn {
    /// Tops the buffer up to at least 56 bits (an 8-byte read; the reader
    /// stays inside `padded`, whose bytes past this stream are ignored by
    /// the bit count check).
    #[inline(always)]
    fn refill(&mut self, padded: &[u8]) {
        let at = self.pos.min(padded.len() - 8);
        let word = u64::from_le_bytes(padded[at..at + 8].try_into().expect("8 bytes"));
        self.acc |= word << self.avail;
        let added = (63 - self.avail) / 8;
        self.pos += added as usize;
        self.avail += added * 8;
    }

    /// The next code's symbol, consumed.
    #[inline(always)]
    fn next(&mut self, table: &[u16; 1 << MAX_LEN]) -> u16 {
        let e = table[(self.acc & ((1u64 << MAX_LEN) - 1)) as usize];
        let l = u32::from(e & 15);
        self.bad |= l == 0;
        self.acc >>= l;
        self.avail -= l;
        e >> 4
    }

    /// Bits consumed since byte `start`.
    fn used(&self, start: usize) -> usize {
        (self.pos - start) * 8 - self.avail as usize
    }
}

/// Decodes `parts[k].len()` codes of stream `k` for each `k`, all of the
/// same length, four codes of each stream per refill, the streams
/// interleaved code by code so that their table lookups overlap.
#[inline(never)]
fn lockstep(
    ins: &mut [BitIn; STREAMS],
    padded: &[u8],
    table: &[u16; 1 << MAX_LEN],
    min: i64,
    parts: [&mut [i64]; STREAMS],
) {
    let [p0, p1, p2, p3] = parts;
    let [mut b0, mut b1, mut b2, mut b3] = *ins;
    let n = p0.len();
    let mut j = 0;
    while j + 4 <= n {
        b0.refill(padded);
        b1.refill(padded);
        b2.refill(padded);
        b3.refill(padded);
        for t in j..j + 4 {
            p0[t] = min.wrapping_add(i64::from(b0.next(table)));
            p1[t] = min.wrapping_add(i64::from(b1.next(table)));
            p2[t] = min.wrapping_add(i64::from(b2.next(table)));
            p3[t] = min.wrapping_add(i64::from(b3.next(table)));
        }
        j += 4;
    }
    *ins = [b0, b1, b2, b3];
    let [p0, p1, p2, p3] = [p0, p1, p2, p3].map(|p| &mut p[j..]);
    for (b, p) in ins.iter_mut().zip([p0, p1, p2, p3]) {
        one_stream(b, padded, table, min, p);
    }
}

/// Decodes `out.len()` codes of one stream.
fn one_stream(
    b: &mut BitIn,
    padded: &[u8],
    table: &[u16; 1 << MAX_LEN],
    min: i64,
    out: &mut [i64],
) {
    for part in out.chunks_mut(4) {
        b.refill(padded);
        for o in part {
            *o = min.wrapping_add(i64::from(b.next(table)));
        }
    }
}

fn huff_dec(
    r: &mut Reader<'_>,
    _: DataKind,
    count: usize,
    ctx: &mut DecodeCtx,
) -> Result<Values, CodecError> {
    let min = r.zigzag("huff minimum")?;
    let nsym = r.count("huff symbol count", MAX_SYMBOLS)?;
    let lens = r.take(nsym, "huff code lengths")?;
    if let Some(l) = lens.iter().find(|&&l| u32::from(l) > MAX_LEN) {
        return Err(corrupt(r, format!("huff code length {l} > {MAX_LEN}")));
    }
    let codes = canonical(lens).ok_or_else(|| corrupt(r, "huff code lengths over-subscribe"))?;
    // Table entry: symbol << 4 | length (0 = no code).
    let mut table = vec![0u16; 1 << MAX_LEN];
    for (s, (&l, &c)) in lens.iter().zip(&codes).enumerate() {
        if l > 0 {
            let step = 1usize << l;
            let mut i = c as usize;
            while i < table.len() {
                table[i] = ((s as u16) << 4) | u16::from(l);
                i += step;
            }
        }
    }
    let bits_at = r.offset();
    let q = count.div_ceil(STREAMS);
    let mut bits = [0usize; STREAMS];
    let mut total = 0u64;
    for (k, b) in bits.iter_mut().enumerate() {
        let n = r.varint("huff stream bits")?;
        let len = (((k + 1) * q).min(count)).saturating_sub(k * q);
        // Every value takes at least one bit; every stream fits the input.
        if n < len as u64 || n > (r.remaining() as u64) * 8 {
            return Err(CodecError::Truncated {
                what: "huff stream",
                offset: bits_at,
                needed: usize::try_from(n.max(len as u64).div_ceil(8)).unwrap_or(usize::MAX),
                available: r.remaining(),
            });
        }
        *b = n as usize;
        total += n.div_ceil(8);
    }
    let all = r.take(usize::try_from(total).unwrap_or(usize::MAX), "huff streams")?;
    // Eight zero bytes after the streams make every refill one 8-byte read.
    let mut padded = Vec::with_capacity(all.len() + 8);
    padded.extend_from_slice(all);
    padded.extend_from_slice(&[0; 8]);
    let mut starts = [0usize; STREAMS];
    let mut start = 0;
    for (s, b) in starts.iter_mut().zip(bits) {
        *s = start;
        start += b.div_ceil(8);
    }
    let mut ins = starts.map(|pos| BitIn {
        pos,
        acc: 0,
        avail: 0,
        bad: false,
    });
    let table: &[u16; 1 << MAX_LEN] = table[..].try_into().expect("table size");
    let mut out = ctx.int_output(count);
    let base = out.len();
    out.resize(base + count, 0);
    // The quarters; the last may be shorter (or empty).
    let mut rest = &mut out[base..];
    let parts: [&mut [i64]; STREAMS] = std::array::from_fn(|_| {
        let all = std::mem::take(&mut rest);
        let (a, b) = all.split_at_mut(q.min(all.len()));
        rest = b;
        a
    });
    // Lockstep over the length of the shortest (last) quarter; then each
    // stream's rest alone.
    let common = parts[STREAMS - 1].len();
    let [p0, p1, p2, p3] = parts;
    let (h0, t0) = p0.split_at_mut(common);
    let (h1, t1) = p1.split_at_mut(common);
    let (h2, t2) = p2.split_at_mut(common);
    lockstep(&mut ins, &padded, table, min, [h0, h1, h2, p3]);
    for (b, t) in ins.iter_mut().zip([t0, t1, t2]) {
        one_stream(b, &padded, table, min, t);
    }
    for (k, b) in ins.iter().enumerate() {
        if b.bad {
            return Err(CodecError::Corrupt {
                offset: bits_at,
                reason: format!("huff stream {k} holds a bit pattern that is no code"),
            });
        }
        let used = b.used(starts[k]);
        if used != bits[k] {
            return Err(CodecError::Corrupt {
                offset: bits_at,
                reason: format!("huff stream {k} takes {used} bits, header says {}", bits[k]),
            });
        }
    }
    Ok(Values::Int(out))
}

#[cfg(test)]
mod tests;
