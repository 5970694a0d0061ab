//! `ans`: an entropy stage for integers of any range, after pco's design:
//! the values are split into bins `[lower, lower + 2^width)`, each value is
//! coded as its bin, with tabled asymmetric numeral systems (tANS), and its
//! offset in the bin as `width` raw bits. A skewed distribution (deltas of
//! a regular series with gaps, noise of a sensor) costs about its entropy,
//! and a bin that holds one frequent value costs a fraction of a bit.
//!
//! The bins come from the sorted values: runs of one value that hold at
//! least 1/256 of them get a bin each, the rest are cut into groups of about
//! 1/256 of the values, and a dynamic program merges adjacent groups into
//! the bins of least estimated size (entropy of the bins, offset bits and
//! a per-bin header cost). Four interleaved coder states let the decoder
//! work on four values at once.
//!
//! # Layout
//! `nbins(LEB128, 2..=256) log(u8, 5..=11)`, per bin `lower` (zigzag
//! LEB128 for the first, LEB128 wrapping increase for the others),
//! `width(u8, 0..=56)`, `freq(LEB128)` (frequencies sum to `2^log`), then
//! the four final states (LEB128, below `2^log`), `state_bits(LEB128)`,
//! `offset_bits(LEB128)`, then the state stream (each value's
//! renormalisation bits) and the offset stream (each value's offset in its
//! bin), both least significant bit first. Decoding works a batch of 256
//! values at a time: the bins from the four states, then the offsets, each
//! read from its own bit position (skipped when every bin has width 0,
//! branched around when nearly every value's bin has).

use std::mem::MaybeUninit;

use unidb_registry::{plugin_info, submit};

use crate::builtin::corrupt;
use crate::io::{put_varint, put_zigzag, Reader};
use crate::{Codec, CodecError, Cost, DataKind, DecodeCtx, EncodeCtx, Values};

submit!(Codec {
    info: plugin_info!(
        "ans",
        "bins + tANS entropy coding (pco's layout): bin per value by its frequency, offset in the bin as raw bits"
    ),
    accepts: &[DataKind::Int],
    cost: Cost::Medium,
    encode: ans_enc,
    decode: ans_dec,
});

/// Most bins.
const MAX_BINS: usize = 256;
/// Smallest table size (log2); the symbol spread needs at least 32 states.
const MIN_LOG: u32 = 5;
/// Largest table size (log2): 2048 entries of 4 bytes stay in L1, and
/// four states' renormalisation bits (at most 44) fit one refill.
const MAX_LOG: u32 = 11;
/// Widest offset in a bin; wider data is left to other codecs.
const MAX_WIDTH: u32 = 56;
/// Interleaved coder states.
const LANES: usize = 4;
/// Fewer values rarely pay for the header, and small streams (a sync
/// batch's columns) skip the sort and the bin search.
const MIN_VALUES: usize = 64;
/// Groups of about `1/GROUPS` of the values each that the bins are made
/// of (pco's unoptimised bins at its default level).
const GROUPS: usize = 256;
/// Estimated header bits per bin (lower bound, width, frequency).
const BIN_HEADER_BITS: f64 = 40.0;

/// The bits needed by `o` (0 for 0).
fn bit_width(o: u64) -> u32 {
    64 - o.leading_zeros()
}

/// One bin: values `lower..lower + 2^width`, and how many values fall in it.
#[derive(Debug, Clone, Copy)]
struct Bin {
    lower: i64,
    width: u32,
    count: u64,
}

/// The bins of least estimated size for `sorted` (ascending, not all
/// equal); `None` when the offsets would need more than [`MAX_WIDTH`] bits.
fn choose_bins(sorted: &[i64]) -> Option<Vec<Bin>> {
    let n = sorted.len();
    let target = n.div_ceil(GROUPS);
    // Groups (lowest, highest, count) over runs of equal values.
    let mut groups: Vec<(i64, i64, u64)> = Vec::new();
    let mut open: Option<(i64, i64, u64)> = None;
    let mut i = 0;
    while i < n {
        let v = sorted[i];
        let mut j = i + 1;
        while j < n && sorted[j] == v {
            j += 1;
        }
        let c = (j - i) as u64;
        if c as usize >= target {
            if let Some(g) = open.take() {
                groups.push(g);
            }
            groups.push((v, v, c));
        } else {
            let g = open.get_or_insert((v, v, 0));
            g.1 = v;
            g.2 += c;
            if g.2 as usize >= target {
                groups.push(open.take().expect("open group"));
            }
        }
        i = j;
    }
    if let Some(g) = open {
        groups.push(g);
    }
    // Prefix sums of counts.
    let g = groups.len();
    let mut cum = vec![0u64; g + 1];
    for (k, grp) in groups.iter().enumerate() {
        cum[k + 1] = cum[k] + grp.2;
    }
    let log_n = (n as f64).log2();
    let width =
        |a: usize, b: usize| bit_width((groups[b].1 as u64).wrapping_sub(groups[a].0 as u64));
    // best[j]: least cost of the first j groups; from[j]: where its last
    // bin starts.
    let mut best = vec![f64::INFINITY; g + 1];
    let mut from = vec![usize::MAX; g + 1];
    best[0] = 0.0;
    for j in 1..=g {
        for a in (0..j).rev() {
            let w = width(a, j - 1);
            if w > MAX_WIDTH {
                break;
            }
            let c = (cum[j] - cum[a]) as f64;
            let cost = best[a] + c * (log_n - c.log2()) + c * f64::from(w) + BIN_HEADER_BITS;
            if cost < best[j] {
                best[j] = cost;
                from[j] = a;
            }
        }
        if from[j] == usize::MAX {
            return None;
        }
    }
    let mut bins = Vec::new();
    let mut j = g;
    while j > 0 {
        let a = from[j];
        bins.push(Bin {
            lower: groups[a].0,
            width: width(a, j - 1),
            count: cum[j] - cum[a],
        });
        j = a;
    }
    bins.reverse();
    Some(bins)
}

/// Frequencies summing to `1 << log`, each at least 1, proportional to the
/// counts (the largest absorbs the rounding).
fn normalize(counts: &[u64], log: u32) -> Vec<u32> {
    let total: u64 = counts.iter().sum();
    let l = 1u64 << log;
    let mut f: Vec<u32> = counts
        .iter()
        .map(|&c| ((c * l + total / 2) / total).max(1) as u32)
        .collect();
    let mut sum: i64 = f.iter().map(|&x| i64::from(x)).sum();
    while sum != l as i64 {
        let (k, _) = f
            .iter()
            .enumerate()
            .max_by_key(|&(k, &x)| (x, std::cmp::Reverse(k)))
            .expect("at least one bin");
        if sum < l as i64 {
            f[k] += (l as i64 - sum) as u32;
            sum = l as i64;
        } else {
            // Take from the largest, never below 1 (there are fewer bins
            // than states, so enough room exists).
            let take = (sum - l as i64).min(i64::from(f[k]) - 1) as u32;
            f[k] -= take;
            sum -= i64::from(take);
        }
    }
    f
}

/// The symbol of every state: FSE's spread (a step coprime with the table
/// size walks every slot once).
fn spread(freq: &[u32], log: u32) -> Vec<u16> {
    let l = 1usize << log;
    let step = (l >> 1) + (l >> 3) + 3;
    let mut sym = vec![0u16; l];
    let mut pos = 0usize;
    for (k, &f) in freq.iter().enumerate() {
        for _ in 0..f {
            sym[pos] = k as u16;
            pos = (pos + step) & (l - 1);
        }
    }
    sym
}

/// The table size for `n` values in `nbins` bins: about `n / 8` states
/// (a larger table gains next to nothing on real columns, 0.04% over the
/// corpus from 2^10 to 2^12 entries, and costs its construction on every
/// decode).
fn table_log(n: usize, nbins: usize) -> u32 {
    let for_n = bit_width(n as u64).saturating_sub(3);
    let for_bins = bit_width((nbins - 1) as u64) + 1;
    for_n.max(for_bins).clamp(MIN_LOG, MAX_LOG)
}

/// LSB-first bit writer.
struct Bits {
    bytes: Vec<u8>,
    acc: u64,
    n: u32,
    total: u64,
}

impl Bits {
    #[inline]
    fn put(&mut self, v: u64, bits: u32) {
        if bits == 0 {
            return;
        }
        debug_assert!(bits <= 56 && (bits == 64 || v >> bits == 0));
        self.acc |= v << self.n;
        self.n += bits;
        self.total += u64::from(bits);
        while self.n >= 8 {
            self.bytes.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }
}

fn ans_enc(v: &Values, _: &mut EncodeCtx, out: &mut Vec<u8>) -> Result<bool, CodecError> {
    let Values::Int(x) = v else { return Ok(false) };
    let n = x.len();
    if n < MIN_VALUES {
        return Ok(false);
    }
    let mut sorted = x.clone();
    sorted.sort_unstable();
    if sorted[0] == sorted[n - 1] {
        return Ok(false);
    }
    let Some(bins) = choose_bins(&sorted) else {
        return Ok(false);
    };
    // One bin is plain bit-packing, which `for` does faster.
    if bins.len() < 2 || bins.len() > MAX_BINS {
        return Ok(false);
    }
    let log = table_log(n, bins.len());
    let l = 1u32 << log;
    let counts: Vec<u64> = bins.iter().map(|b| b.count).collect();
    let freq = normalize(&counts, log);
    let sym = spread(&freq, log);
    // The states of each symbol, in table order.
    let mut start = vec![0u32; freq.len() + 1];
    for (k, &f) in freq.iter().enumerate() {
        start[k + 1] = start[k] + f;
    }
    let mut fill = start.clone();
    let mut states = vec![0u16; l as usize];
    for (s, &k) in sym.iter().enumerate() {
        states[fill[k as usize] as usize] = s as u16;
        fill[k as usize] += 1;
    }
    let lowers: Vec<i64> = bins.iter().map(|b| b.lower).collect();
    let bin_of: Vec<u16> = x
        .iter()
        .map(|&v| (lowers.partition_point(|&lo| lo <= v) - 1) as u16)
        .collect();
    // Encode backwards; remember each value's renormalisation bits.
    let mut renorm: Vec<(u16, u8)> = vec![(0, 0); n];
    let mut lane = [l; LANES];
    for i in (0..n).rev() {
        let k = bin_of[i] as usize;
        let f = freq[k];
        let st = &mut lane[i % LANES];
        let mut nb = log + 1 - bit_width(u64::from(f));
        if (*st >> nb) < f {
            nb -= 1;
        }
        renorm[i] = ((*st & ((1u32 << nb) - 1)) as u16, nb as u8);
        let xr = (*st >> nb) - f;
        *st = u32::from(states[(start[k] + xr) as usize]) + l;
    }
    put_varint(out, bins.len() as u64);
    out.push(log as u8);
    for (k, (b, &f)) in bins.iter().zip(&freq).enumerate() {
        if k == 0 {
            put_zigzag(out, b.lower);
        } else {
            put_varint(out, (b.lower as u64).wrapping_sub(bins[k - 1].lower as u64));
        }
        out.push(b.width as u8);
        put_varint(out, u64::from(f));
    }
    for s in lane {
        put_varint(out, u64::from(s - l));
    }
    // The states' renormalisation bits, then the offsets.
    let new = |cap| Bits {
        bytes: Vec::with_capacity(cap),
        acc: 0,
        n: 0,
        total: 0,
    };
    let mut w = new(n);
    for &(bits, nb) in &renorm {
        w.put(u64::from(bits), u32::from(nb));
    }
    let mut o = new(n);
    for (i, &v) in x.iter().enumerate() {
        let b = &bins[bin_of[i] as usize];
        o.put((v as u64).wrapping_sub(b.lower as u64), b.width);
    }
    for s in [&mut w, &mut o] {
        if s.n > 0 {
            s.bytes.push(s.acc as u8);
        }
    }
    put_varint(out, w.total);
    put_varint(out, o.total);
    out.extend_from_slice(&w.bytes);
    out.extend_from_slice(&o.bytes);
    Ok(true)
}

/// A decode table entry: the next state's base, the mask and count of
/// its renormalisation bits, and the bin.
#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    base: u16,
    mask: u16,
    nb: u8,
    bin: u8,
}

/// Entries of the decode table: every table size up to `2^MAX_LOG` uses
/// a table of this size (states stay below `2^log`), so a state masked
/// to it indexes without a bounds check.
const TABLE: usize = 1 << MAX_LOG;

/// An LSB-first bit stream padded with 8 zero bytes: reads clamp their
/// position into the buffer, so a corrupt stream reads garbage (caught by
/// the final bit count) instead of out of bounds.
struct Stream {
    padded: Vec<u8>,
}

impl Stream {
    fn new(bytes: &[u8]) -> Self {
        let mut padded = Vec::with_capacity(bytes.len() + 8);
        padded.extend_from_slice(bytes);
        padded.extend_from_slice(&[0; 8]);
        Stream { padded }
    }

    /// The 8 bytes at byte `at` (clamped to the last full word).
    #[inline(always)]
    fn word(&self, at: usize) -> u64 {
        let at = at.min(self.padded.len() - 8);
        let w: [u8; 8] = self.padded[at..at + 8].try_into().expect("8 bytes");
        u64::from_le_bytes(w)
    }
}

/// Per bin: lower bound and offset mask, indexed by a byte.
struct Bins {
    lowers: [i64; MAX_BINS],
    masks: [u64; MAX_BINS],
    widths: [u8; MAX_BINS],
}

/// Values decoded per batch: the bins of a batch are found first (the
/// coder states only), then their offsets added, each loop small enough
/// to keep its state in registers.
const BATCH: usize = 256;

/// Decodes the bins of `bins.len()` values (a multiple of [`LANES`]) from
/// the state stream at bit `pos`, four lanes at a time; returns the new
/// position. A lane's renormalisation takes at most `MAX_LOG` (11) bits,
/// so one 57-bit window covers four values.
#[inline(never)]
fn quads(
    table: &[Entry; TABLE],
    lanes: &mut [usize; LANES],
    stream: &Stream,
    mut pos: usize,
    bins: &mut [u8],
) -> usize {
    let [mut s0, mut s1, mut s2, mut s3] = *lanes;
    for q in bins.chunks_exact_mut(LANES) {
        let mut w = stream.word(pos >> 3) >> (pos & 7);
        let mut used = 0u32;
        let mut step = |s: &mut usize| {
            let e = table[*s & (TABLE - 1)];
            *s = usize::from(e.base) + (w as usize & usize::from(e.mask));
            w >>= e.nb;
            used += u32::from(e.nb);
            e.bin
        };
        q[0] = step(&mut s0);
        q[1] = step(&mut s1);
        q[2] = step(&mut s2);
        q[3] = step(&mut s3);
        pos += used as usize;
    }
    *lanes = [s0, s1, s2, s3];
    pos
}

/// How the offsets of a node are read, by the share of values in bins of
/// width 0 (known from the frequencies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Offsets {
    /// Every bin has width 0: the values are the bins' lower bounds.
    None,
    /// Nearly every value is in a bin of width 0: branch around the read.
    Rare,
    /// Read an offset for every value (width 0 reads zero bits).
    Every,
}

/// Writes the value of every bin in `ks` to `out`, its offset read from
/// `offsets` at bit `at`; returns the new position.
#[inline(never)]
fn with_offsets(
    b: &Bins,
    how: Offsets,
    offsets: &Stream,
    mut at: usize,
    ks: &[u8],
    out: &mut [MaybeUninit<i64>],
) -> usize {
    // Widths are at most 56 bits, so shift + width <= 63.
    let read = |at: usize, k: usize| (offsets.word(at >> 3) >> (at & 7)) & b.masks[k];
    match how {
        Offsets::None => {
            for (o, &k) in out.iter_mut().zip(ks) {
                o.write(b.lowers[usize::from(k)]);
            }
        }
        Offsets::Rare => {
            for (o, &k) in out.iter_mut().zip(ks) {
                let k = usize::from(k);
                let w = b.widths[k];
                if w == 0 {
                    o.write(b.lowers[k]);
                } else {
                    o.write(b.lowers[k].wrapping_add(read(at, k) as i64));
                    at += usize::from(w);
                }
            }
        }
        Offsets::Every => {
            for (o, &k) in out.iter_mut().zip(ks) {
                let k = usize::from(k);
                o.write(b.lowers[k].wrapping_add(read(at, k) as i64));
                at += usize::from(b.widths[k]);
            }
        }
    }
    at
}

fn ans_dec(
    r: &mut Reader<'_>,
    _: DataKind,
    count: usize,
    ctx: &mut DecodeCtx,
) -> Result<Values, CodecError> {
    let nbins = r.count("ans bin count", MAX_BINS)?;
    if nbins < 2 {
        return Err(corrupt(
            r,
            format!("ans with {nbins} bins, expected 2 or more"),
        ));
    }
    let log = u32::from(r.u8("ans table log")?);
    if !(MIN_LOG..=MAX_LOG).contains(&log) {
        return Err(corrupt(
            r,
            format!("ans table log {log} outside {MIN_LOG}..={MAX_LOG}"),
        ));
    }
    let l = 1u32 << log;
    if nbins > l as usize {
        return Err(corrupt(r, format!("{nbins} ans bins in {l} states")));
    }
    let mut bins = Bins {
        lowers: [0; MAX_BINS],
        masks: [0; MAX_BINS],
        widths: [0; MAX_BINS],
    };
    let mut freq: Vec<u32> = Vec::with_capacity(nbins);
    let mut lower = 0i64;
    let mut sum = 0u64;
    for k in 0..nbins {
        lower = if k == 0 {
            r.zigzag("ans bin lower bound")?
        } else {
            lower.wrapping_add(r.varint("ans bin lower bound")? as i64)
        };
        let width = r.u8("ans bin width")?;
        if u32::from(width) > MAX_WIDTH {
            return Err(corrupt(r, format!("ans bin width {width} > {MAX_WIDTH}")));
        }
        let f = r.count("ans bin frequency", l as usize)?;
        if f == 0 {
            return Err(corrupt(r, format!("ans bin {k} has frequency 0")));
        }
        sum += f as u64;
        bins.lowers[k] = lower;
        bins.masks[k] = (1u64 << width) - 1;
        bins.widths[k] = width;
        freq.push(f as u32);
    }
    if sum != u64::from(l) {
        return Err(corrupt(
            r,
            format!("ans frequencies sum to {sum}, expected {l}"),
        ));
    }
    let mut lane = [0usize; LANES];
    for s in &mut lane {
        *s = r.count("ans state", l as usize - 1)?;
    }
    let bits_at = r.offset();
    let bits = r.varint("ans state bits")?;
    let off_bits = r.varint("ans offset bits")?;
    let nbytes = usize::try_from(bits.div_ceil(8)).unwrap_or(usize::MAX);
    let stream = r.take(nbytes, "ans state stream")?;
    let obytes = usize::try_from(off_bits.div_ceil(8)).unwrap_or(usize::MAX);
    let offsets = r.take(obytes, "ans offset stream")?;
    // With two or more bins a step that reads no bit lowers its lane's
    // state, so a lane takes at most `l` such steps in a row: the state
    // stream justifies at most (bits + lanes) * (l + 1) values. Checked
    // before the output is allocated.
    let most = (bits + LANES as u64).saturating_mul(u64::from(l) + 1);
    if count as u64 > most {
        return Err(CodecError::CountTooLarge {
            what: "ans values",
            offset: bits_at,
            count: count as u64,
            max: usize::try_from(most).unwrap_or(usize::MAX),
        });
    }
    // Values in bins of width 0, out of `l`.
    let plain: u32 = freq
        .iter()
        .zip(&bins.widths)
        .filter(|&(_, &w)| w == 0)
        .map(|(&f, _)| f)
        .sum();
    let how = if plain == l {
        Offsets::None
    } else if plain >= l - l / 32 {
        Offsets::Rare
    } else {
        Offsets::Every
    };
    // The decode table: per state its bin, bit count and next base.
    let sym = spread(&freq, log);
    let mut next = freq;
    let mut table = Box::new([Entry::default(); TABLE]);
    for (e, &k) in table.iter_mut().zip(&sym) {
        let xs = next[k as usize];
        next[k as usize] += 1;
        let nb = log + 1 - bit_width(u64::from(xs));
        *e = Entry {
            base: ((xs << nb) - l) as u16,
            mask: ((1u32 << nb) - 1) as u16,
            nb: nb as u8,
            bin: k as u8,
        };
    }
    let state_stream = Stream::new(stream);
    let offsets = Stream::new(offsets);
    let mut out = ctx.int_output(count);
    let base = out.len();
    let (mut pos, mut at) = (0usize, 0usize);
    let mut ks = [0u8; BATCH];
    out.reserve(count);
    let mut left = count;
    while left > 0 {
        let n = left.min(BATCH);
        let full = n - n % LANES;
        pos = quads(&table, &mut lane, &state_stream, pos, &mut ks[..full]);
        if full < n {
            // The last values: one lane each.
            let mut w = state_stream.word(pos >> 3) >> (pos & 7);
            for (k, s) in ks[full..n].iter_mut().zip(&mut lane) {
                let e = table[*s & (TABLE - 1)];
                *s = usize::from(e.base) + (w as usize & usize::from(e.mask));
                w >>= e.nb;
                pos += usize::from(e.nb);
                *k = e.bin;
            }
        }
        let len = out.len();
        let spare = &mut out.spare_capacity_mut()[..n];
        at = with_offsets(&bins, how, &offsets, at, &ks[..n], spare);
        // SAFETY: `with_offsets` wrote the first `n` slots of the spare
        // capacity (one per bin of `ks[..n]`), and `reserve` made room for
        // all `count` values.
        unsafe { out.set_len(len + n) };
        left -= n;
    }
    let rest = lane;
    debug_assert_eq!(out.len() - base, count);
    if pos as u64 != bits {
        return Err(CodecError::Corrupt {
            offset: bits_at,
            reason: format!("ans state stream holds {bits} bits, the values took {pos}"),
        });
    }
    if rest.iter().any(|&s| s != 0) {
        return Err(CodecError::Corrupt {
            offset: bits_at,
            reason: "ans states do not end where the encoder started".to_owned(),
        });
    }
    if at as u64 != off_bits {
        return Err(CodecError::Corrupt {
            offset: bits_at,
            reason: format!("ans offset stream holds {off_bits} bits, the values take {at}"),
        });
    }
    Ok(Values::Int(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode_column, decode_values, encode_column, encode_with};
    use crate::{Column, ColumnKind, Effort};
    use proptest::prelude::*;

    fn enc(x: &[i64]) -> Option<Vec<u8>> {
        encode_with("ans", &Values::Int(x.to_vec()), Effort::Max).unwrap()
    }

    fn dec(bytes: &[u8], n: usize) -> Result<Values, CodecError> {
        decode_values(bytes, DataKind::Int, n)
    }

    /// Deterministic pseudo-random values.
    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut r = unidb_common::rng::SplitMix64::new(seed);
        move || r.next_u64()
    }

    /// Shannon entropy of `x` in bits (the oracle for the size).
    fn entropy_bits(x: &[i64]) -> f64 {
        let mut counts = std::collections::HashMap::new();
        for v in x {
            *counts.entry(*v).or_insert(0u64) += 1;
        }
        let n = x.len() as f64;
        counts
            .values()
            .map(|&c| c as f64 * (n / c as f64).log2())
            .sum()
    }

    /// Shapes the codec is for, and edge cases of the bit reader.
    fn shapes() -> Vec<Vec<i64>> {
        let mut r = rng(7);
        vec![
            // Deltas of a 5-minute series with a few gaps.
            (0..5000)
                .map(|i| {
                    if i % 211 == 0 {
                        300_000 * (2 + i % 5)
                    } else {
                        300_000
                    }
                })
                .collect(),
            // Bell-shaped sensor noise.
            (0..4000)
                .map(|_| (0..4).map(|_| (r() % 64) as i64).sum::<i64>() - 126)
                .collect(),
            // Full-width offsets next to narrow ones (two refills a value).
            (0..3000)
                .map(|i| {
                    if i % 3 == 0 {
                        (r() >> 8) as i64
                    } else {
                        (r() % 4) as i64
                    }
                })
                .collect(),
            // Extremes.
            (0..100)
                .map(|i| [i64::MIN, i64::MAX, 0, -1][i % 4])
                .collect(),
            // Every length modulo the four lanes.
            (0..17).map(|i| i % 3).collect(),
            (0..18).map(|i| i % 5 - 2).collect(),
            (0..19).map(|i| (i * i) % 7).collect(),
        ]
    }

    #[test]
    fn shapes_round_trip() {
        for (k, x) in shapes().into_iter().enumerate() {
            let Some(bytes) = enc(&x) else {
                assert!(k >= 3, "shape {k} fits (extremes and tiny streams may not)");
                continue;
            };
            assert_eq!(dec(&bytes, x.len()).unwrap(), Values::Int(x), "shape {k}");
        }
    }

    #[test]
    fn size_is_near_the_entropy() {
        for x in shapes().into_iter().take(2) {
            let bytes = enc(&x).unwrap();
            let bound = entropy_bits(&x) / 8.0;
            // Bins cost offset bits the entropy of single values does not
            // see; the header is a few bytes per bin.
            assert!(
                (bytes.len() as f64) < bound * 1.15 + 200.0,
                "{} bytes, entropy {bound:.0}",
                bytes.len()
            );
        }
        // A regular series with rare gaps costs far less than a bit a value.
        let x = &shapes()[0];
        assert!(enc(x).unwrap().len() < x.len() / 16);
    }

    #[test]
    fn regular_series_with_gaps_compress_beyond_bit_packing() {
        let mut t = 1_600_000_000_000i64;
        let ts: Vec<i64> = (0..20_000)
            .map(|i| {
                t += if i % 997 == 0 { 900_000 } else { 300_000 };
                t
            })
            .collect();
        let col = Column::new(ColumnKind::Timestamp, Values::Int(ts)).unwrap();
        let e = encode_column(&col, Effort::Max).unwrap();
        assert_eq!(decode_column(&e.bytes).unwrap(), col);
        // 20 000 deltas, 20 of them gaps: entropy about 230 bits.
        assert!(
            e.bytes.len() < 200,
            "{} bytes: {:?}",
            e.bytes.len(),
            e.cascades
        );
    }

    #[test]
    fn every_truncation_and_flip_is_handled() {
        for x in shapes() {
            let Some(bytes) = enc(&x) else { continue };
            for cut in 0..bytes.len() {
                assert!(dec(&bytes[..cut], x.len()).is_err(), "cut at {cut}");
            }
            for at in 0..bytes.len().min(300) {
                for bit in [0, 3, 7] {
                    let mut b = bytes.clone();
                    b[at] ^= 1 << bit;
                    // A flip either fails or decodes to something: no panic.
                    let _ = dec(&b, x.len());
                }
            }
            // A wrong count is refused.
            assert!(dec(&bytes, x.len() + 1).is_err());
            assert!(dec(&bytes, x.len() - 1).is_err());
        }
    }

    /// A node with two bins (frequencies `l - 1` and 1), zero-width
    /// offsets and a state stream of `bits` zero bits.
    fn crafted(bits: u64) -> Vec<u8> {
        let mut b = vec![3u8];
        b.extend_from_slice(b"ans");
        put_varint(&mut b, 2);
        b.push(MAX_LOG as u8);
        put_zigzag(&mut b, 0);
        b.push(0);
        put_varint(&mut b, (1 << MAX_LOG) - 1);
        put_varint(&mut b, 1);
        b.push(0);
        put_varint(&mut b, 1);
        for _ in 0..LANES {
            put_varint(&mut b, 0);
        }
        put_varint(&mut b, bits);
        put_varint(&mut b, 0);
        b.extend(std::iter::repeat_n(0u8, bits.div_ceil(8) as usize));
        b
    }

    #[test]
    fn counts_beyond_what_the_stream_justifies_are_refused() {
        let most = (LANES as u64) * ((1 << MAX_LOG) + 1);
        let err = dec(&crafted(0), most as usize + 1).unwrap_err();
        assert!(
            matches!(
                err,
                CodecError::CountTooLarge {
                    what: "ans values",
                    ..
                }
            ),
            "{err}"
        );
        // Within the bound the bytes are checked as usual.
        assert!(dec(&crafted(0), 100).is_err());
    }

    #[test]
    fn headers_are_validated() {
        let good = crafted(8);
        // Table log out of range.
        let mut b = good.clone();
        b[5] = (MAX_LOG + 1) as u8;
        assert!(matches!(dec(&b, 10), Err(CodecError::Corrupt { .. })));
        // Frequencies not summing to the table size.
        let mut b = good.clone();
        b[9] = 2;
        assert!(dec(&b, 10).is_err());
        // One bin.
        let mut b = good;
        b[4] = 1;
        assert!(matches!(dec(&b, 10), Err(CodecError::Corrupt { .. })));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn random_streams_round_trip(
            x in prop::collection::vec(
                prop_oneof![
                    4 => -3i64..4,
                    2 => -1000i64..1000,
                    1 => any::<i64>().prop_map(|v| v >> 9),
                ],
                0..700,
            )
        ) {
            if let Some(bytes) = enc(&x) {
                prop_assert_eq!(dec(&bytes, x.len()).unwrap(), Values::Int(x.clone()));
            }
            let col = Column::new(ColumnKind::Int, Values::Int(x)).unwrap();
            let e = encode_column(&col, Effort::Max).unwrap();
            prop_assert_eq!(decode_column(&e.bytes).unwrap(), col);
        }
    }

    #[test]
    fn frequencies_sum_to_the_table_and_stay_positive() {
        for counts in [
            vec![1u64, 1_000_000],
            vec![5, 5, 5],
            vec![1; 200],
            vec![100_000, 1, 1, 1, 1, 1, 1, 1],
        ] {
            for log in MIN_LOG..=MAX_LOG {
                if counts.len() > 1 << log {
                    continue;
                }
                let f = normalize(&counts, log);
                assert_eq!(f.iter().map(|&x| u64::from(x)).sum::<u64>(), 1 << log);
                assert!(f.iter().all(|&x| x >= 1));
            }
        }
    }

    #[test]
    fn spread_fills_every_state_once() {
        for log in MIN_LOG..=MAX_LOG {
            let l = 1u32 << log;
            let freq = normalize(&[3, 1, 7, 40, 1], log);
            let sym = spread(&freq, log);
            for (k, &f) in freq.iter().enumerate() {
                assert_eq!(sym.iter().filter(|&&s| s as usize == k).count() as u32, f);
            }
            assert_eq!(sym.len() as u32, l);
        }
    }
}
