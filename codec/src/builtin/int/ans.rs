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
//! a per-bin header cost). The encoder codes the bins by four tANS states
//! each with its own bit stream (version 2), whose table lookups and bit
//! reads are four independent chains. Version 3 codes them by 16 rANS
//! states over one stream of 16-bit words, decoded 16 values a step by the
//! kernels' SIMD paths (`Kernels::rans16_decode`: a gather per step, an
//! expand of the words into the lanes that need one); it decodes, but the
//! encoder does not write it: a whole version 3 decode measured slower
//! than version 2 (see `WRITE_RANS`).
//!
//! # Layout
//! `0(u8) version(u8, 2 or 3)`, then `nbins(LEB128, 2..=256) log(u8,
//! 5..=11)`, per bin `lower` (zigzag LEB128 for the first, LEB128 wrapping
//! increase for the others), `width(u8, 0..=56)`, `freq(LEB128)`
//! (frequencies sum to `2^log`), then:
//! - version 3: the 16 final states (u32 little-endian, at least
//!   `2^16`), the word count (LEB128), the offset bit count (LEB128), the
//!   words (u16 little-endian, in the order the decoder reads them: value
//!   `i` is coded by state `i mod 16`, bin `k` owns the `freq[k]` slots
//!   after those of the bins before it) and the offset stream;
//! - version 2: the four lanes' final states (LEB128, below `2^log`),
//!   each lane's bit count (LEB128), the offset bit count (LEB128), then
//!   each lane's stream (the renormalisation bits of values `j, j + 4,
//!   ...`) and the offset stream.
//!
//! The offset stream holds each value's offset in its bin, least
//! significant bit first (as the tANS streams), each stream starting at a
//! byte. Decoding works a batch of 256 values at a time: the bins from
//! the states, then the offsets (skipped when every bin has width 0,
//! branched around when nearly every value's bin has).
//!
//! Version 1 (written by earlier releases, still read) has no version
//! bytes, four tANS lanes sharing one stream (value by value) and one bit
//! count for it.

use std::cell::Cell;
use std::mem::MaybeUninit;

use unidb_registry::{plugin_info, submit};

use unidb_kernels::{rans, Kernels};

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
/// Coder states of a version 1 stream, interleaved in one bit stream.
const V1_LANES: usize = 4;
/// Coder states of a version 2 stream, each with its own bit stream (four
/// independent chains overlap well; eight measured slower: their states
/// and positions no longer fit the registers).
const LANES: usize = 4;
/// The first byte of a version 2 or 3 stream (a version 1 stream starts
/// with its bin count, 2 or more), then the version.
const ESCAPE: u8 = 0;
/// The tANS layout (four lanes, a bit stream each), written when the
/// rANS one would be larger.
const TANS_VERSION: u8 = 2;
/// The rANS layout (16 states over one word stream, decoded by the
/// kernels' SIMD paths).
const RANS_VERSION: u8 = 3;
/// Coder states of a version 3 stream.
const RANS_LANES: usize = rans::LANES;
/// Fewer values than this are not tried in version 3: its 16 states
/// (64 bytes) do not pay on them.
const RANS_MIN_VALUES: usize = 512;
/// Version 3 is written unless it is more than `1/RANS_SLACK` larger than
/// version 2 (0.2%).
const RANS_SLACK: usize = 512;
/// Whether the encoder writes version 3 at all. It does not: although the
/// kernel alone decodes 4.5x faster than the scalar rANS loop, a whole
/// version 3 decode measured slower than version 2 on every corpus column
/// that chose it (arr_delay 1.16x pco's decode speed against 1.33x,
/// flights_200k.delay 1.12x against 1.32x, in one loaded run each).
/// Version 3 streams still decode ([`encode_version_3`] writes one).
const WRITE_RANS: bool = false;

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
    fn with_capacity(cap: usize) -> Self {
        Bits {
            bytes: Vec::with_capacity(cap),
            acc: 0,
            n: 0,
            total: 0,
        }
    }

    /// Writes the last partial byte.
    fn flush(&mut self) {
        if self.n > 0 {
            self.bytes.push(self.acc as u8);
            self.acc = 0;
            self.n = 0;
        }
    }

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
    let layout = if WRITE_RANS && n >= RANS_MIN_VALUES {
        Layout::RansUnlessLarger
    } else {
        Layout::Tans
    };
    write_version(x, &bins, layout, out);
    Ok(true)
}

/// Which version [`write_version`] writes.
#[derive(Clone, Copy, PartialEq)]
enum Layout {
    /// Version 2.
    Tans,
    /// Version 3 unless it is more than `1/RANS_SLACK` larger than
    /// version 2.
    RansUnlessLarger,
    /// Version 3.
    Rans,
}

/// Writes `x` in the bins `bins`, in the version `layout` says.
fn write_version(x: &[i64], bins: &[Bin], layout: Layout, out: &mut Vec<u8>) {
    let n = x.len();
    let log = table_log(n, bins.len());
    let counts: Vec<u64> = bins.iter().map(|b| b.count).collect();
    let freq = normalize(&counts, log);
    let lowers: Vec<i64> = bins.iter().map(|b| b.lower).collect();
    let bin_of: Vec<u16> = x
        .iter()
        .map(|&v| (lowers.partition_point(|&lo| lo <= v) - 1) as u16)
        .collect();
    let mut offsets = Bits::with_capacity(n);
    for (i, &v) in x.iter().enumerate() {
        let b = &bins[bin_of[i] as usize];
        offsets.put((v as u64).wrapping_sub(b.lower as u64), b.width);
    }
    offsets.flush();
    let start = out.len();
    if layout == Layout::Tans {
        write_tans(out, bins, &freq, log, &bin_of, &offsets);
        return;
    }
    write_rans(out, bins, &freq, log, &bin_of, &offsets);
    if layout == Layout::RansUnlessLarger {
        let rans = out.len() - start;
        let mut tans = Vec::with_capacity(rans + rans / 8);
        write_tans(&mut tans, bins, &freq, log, &bin_of, &offsets);
        if rans > tans.len() + tans.len() / RANS_SLACK {
            out.truncate(start);
            out.extend_from_slice(&tans);
        }
    }
}

/// The `ans` node (name and payload, as the cascade writes it) of `x` in
/// version 3 whatever the encoder would choose, for tests of the version
/// 3 decoder; `None` where `ans` does not apply (fewer than two distinct
/// values, or more bins than a table holds).
#[doc(hidden)]
pub fn encode_version_3(x: &[i64]) -> Option<Vec<u8>> {
    let mut sorted = x.to_vec();
    sorted.sort_unstable();
    let bins = choose_bins(&sorted)?;
    if bins.len() < 2 || bins.len() > MAX_BINS {
        return None;
    }
    let mut node = vec![3u8];
    node.extend_from_slice(b"ans");
    write_version(x, &bins, Layout::Rans, &mut node);
    Some(node)
}

/// The bins and frequencies, after the version bytes.
fn write_bins(out: &mut Vec<u8>, bins: &[Bin], freq: &[u32], log: u32) {
    put_varint(out, bins.len() as u64);
    out.push(log as u8);
    for (k, (b, &f)) in bins.iter().zip(freq).enumerate() {
        if k == 0 {
            put_zigzag(out, b.lower);
        } else {
            put_varint(out, (b.lower as u64).wrapping_sub(bins[k - 1].lower as u64));
        }
        out.push(b.width as u8);
        put_varint(out, u64::from(f));
    }
}

/// Version 2: tANS, four lanes each with its own bit stream.
fn write_tans(
    out: &mut Vec<u8>,
    bins: &[Bin],
    freq: &[u32],
    log: u32,
    bin_of: &[u16],
    offsets: &Bits,
) {
    let n = bin_of.len();
    let l = 1u32 << log;
    let sym = spread(freq, log);
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
    out.push(ESCAPE);
    out.push(TANS_VERSION);
    write_bins(out, bins, freq, log);
    for &s in &lane {
        put_varint(out, u64::from(s - l));
    }
    // Each lane's renormalisation bits, then the offsets.
    let mut ws: Vec<Bits> = (0..LANES)
        .map(|_| Bits::with_capacity(n / LANES + 8))
        .collect();
    for (i, &(bits, nb)) in renorm.iter().enumerate() {
        ws[i % LANES].put(u64::from(bits), u32::from(nb));
    }
    for s in &mut ws {
        s.flush();
        put_varint(out, s.total);
    }
    put_varint(out, offsets.total);
    for s in &ws {
        out.extend_from_slice(&s.bytes);
    }
    out.extend_from_slice(&offsets.bytes);
}

/// Version 3: rANS, [`RANS_LANES`] states interleaved over one stream of
/// 16-bit words (`kernels::rans`). Bin `k` owns the slots from the sum of
/// the frequencies before it; value `i` is coded by state `i % 16`, the
/// values run backwards (so the decoder reads forwards) and the words are
/// reversed at the end.
fn write_rans(
    out: &mut Vec<u8>,
    bins: &[Bin],
    freq: &[u32],
    log: u32,
    bin_of: &[u16],
    offsets: &Bits,
) {
    let n = bin_of.len();
    let mut cum = vec![0u32; freq.len() + 1];
    for (k, &f) in freq.iter().enumerate() {
        cum[k + 1] = cum[k] + f;
    }
    let mut st = [rans::STATE_LOW; RANS_LANES];
    let mut words: Vec<u16> = Vec::with_capacity(n / 2 + RANS_LANES);
    for i in (0..n).rev() {
        let k = usize::from(bin_of[i]);
        let f = freq[k];
        let x = &mut st[i % RANS_LANES];
        // Below 2^16 * (f << (16 - log)) after the shift, so the coded
        // state stays below 2^32 (f < 2^log: there are two bins or more).
        if u64::from(*x) >= u64::from(f) << (32 - log) {
            words.push(*x as u16);
            *x >>= 16;
        }
        *x = ((*x / f) << log) + *x % f + cum[k];
    }
    words.reverse();
    out.push(ESCAPE);
    out.push(RANS_VERSION);
    write_bins(out, bins, freq, log);
    for s in st {
        out.extend_from_slice(&s.to_le_bytes());
    }
    put_varint(out, words.len() as u64);
    put_varint(out, offsets.total);
    for w in words {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out.extend_from_slice(&offsets.bytes);
}

/// Entries of the decode table: every table size up to `2^MAX_LOG` uses
/// a table of this size (states stay below `2^log`), so a state masked
/// to it indexes without a bounds check.
const TABLE: usize = 1 << MAX_LOG;

/// A decode table entry: the next state's base, the mask and count of
/// its renormalisation bits, and the bin; 8 bytes, so that an entry is
/// one scaled index and each field one load.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(8))]
struct Entry {
    base: u16,
    mask: u16,
    nb: u8,
    bin: u8,
}

/// The decode table, one entry per state.
type Table = [Entry; TABLE];

thread_local! {
    /// The decode table of the last node this thread decoded, reused by
    /// the next one: no allocation or zeroing per node. Entries at and
    /// above a node's `2^log` are never read (states stay below it).
    static SPARE: Cell<Option<Box<Table>>> = const { Cell::new(None) };
}

/// The decode table of the frequencies `freq` (summing to `2^log`, at
/// most 256 of them), in a buffer taken from [`SPARE`] (give it back with
/// [`give_back`]).
///
/// State `s` of symbol `k` is the `r`-th state of `k` in table order and
/// decodes from `xs = freq[k] + r`. The states of [`spread`] are written
/// without its walk's chain (the `m`-th slot visited is `m * step` mod
/// `2^log`), and the ranks come from four interleaved passes over the
/// table's quarters, each with counters that start after the states of
/// the quarters before it (counted during the spread): four short chains
/// through memory instead of one long one.
fn decode_table(freq: &[u32], log: u32) -> Box<Table> {
    let mut table: Box<Table> = SPARE.with(Cell::take).unwrap_or_else(|| {
        vec![Entry::default(); TABLE]
            .into_boxed_slice()
            .try_into()
            .expect("table size")
    });
    let l = 1usize << log;
    let mask = l - 1;
    let step = (l >> 1) + (l >> 3) + 3;
    let quarter = log - 2;
    let mut sym = [0u8; TABLE];
    // Per quarter: the counter of each symbol's next state there.
    let mut next = [[0u32; MAX_BINS]; 4];
    let mut m = 0usize;
    for (k, &f) in freq.iter().enumerate() {
        // Four 16-bit counts (f <= 2^MAX_LOG) of the states per quarter.
        let mut per: u64 = 0;
        for j in m..m + f as usize {
            let p = (j * step) & mask;
            sym[p] = k as u8;
            per += 1 << (16 * (p >> quarter));
        }
        m += f as usize;
        let mut at = f;
        for (q, n) in next.iter_mut().enumerate() {
            n[k] = at;
            at += ((per >> (16 * q)) & 0xffff) as u32;
        }
    }
    let lf = l as u32;
    let entry = |xs: u32, k: u8| {
        let nb = log + 1 - bit_width(u64::from(xs));
        Entry {
            base: ((xs << nb) - lf) as u16,
            mask: ((1u32 << nb) - 1) as u16,
            nb: nb as u8,
            bin: k,
        }
    };
    let q = l >> 2;
    let [n0, n1, n2, n3] = &mut next;
    for s in 0..q {
        let ks = [sym[s], sym[s + q], sym[s + 2 * q], sym[s + 3 * q]];
        let xs = [
            &mut n0[usize::from(ks[0])],
            &mut n1[usize::from(ks[1])],
            &mut n2[usize::from(ks[2])],
            &mut n3[usize::from(ks[3])],
        ];
        for (j, x) in xs.into_iter().enumerate() {
            table[s + j * q] = entry(*x, ks[j]);
            *x += 1;
        }
    }
    table
}

/// Returns a table of [`decode_table`] for the next node.
fn give_back(table: Box<Table>) {
    SPARE.with(|c| c.set(Some(table)));
}

/// One decode step of a state: its table entry's bin, the next state
/// from the entry and `w` (the stream's bits from the state's position
/// on), and the bits taken.
#[inline(always)]
fn step(e: &Entry, w: u64) -> (usize, u8, usize) {
    let state = usize::from(e.base) + (w as usize & usize::from(e.mask));
    (state, e.bin, usize::from(e.nb))
}

/// An LSB-first bit stream padded with 8 zero bytes: reads clamp their
/// position into the buffer, so a corrupt stream reads garbage (caught by
/// the final bit counts) instead of out of bounds.
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

    /// The bits from bit `pos` on (at least 57 of them).
    #[inline(always)]
    fn bits(&self, pos: usize) -> u64 {
        self.word(pos >> 3) >> (pos & 7)
    }

    /// Whether [`bits_unchecked`](Self::bits_unchecked) may read at every
    /// bit position up to `pos`.
    #[inline(always)]
    fn holds(&self, pos: usize) -> bool {
        (pos >> 3).saturating_add(8) <= self.padded.len()
    }

    /// [`bits`](Self::bits) without the clamp and the bounds check.
    ///
    /// # Safety
    /// [`holds`](Self::holds) must be true for `pos`.
    #[inline(always)]
    unsafe fn bits_unchecked(&self, pos: usize) -> u64 {
        // SAFETY: the caller checked that the 8 bytes from `pos >> 3` are
        // inside `padded`; the read is unaligned.
        let w = unsafe {
            self.padded
                .as_ptr()
                .add(pos >> 3)
                .cast::<u64>()
                .read_unaligned()
        };
        u64::from_le(w) >> (pos & 7)
    }
}

/// Per bin: lower bound and offset mask, indexed by a byte.
struct Bins {
    lowers: [i64; MAX_BINS],
    masks: [u64; MAX_BINS],
    widths: [u8; MAX_BINS],
    /// The largest width.
    widest: usize,
}

/// Values decoded per batch: the bins of a batch are found first (the
/// coder states only), then their offsets added, each loop small enough
/// to keep its state in registers.
const BATCH: usize = 256;

/// Decodes the bins of `bins.len()` values (a multiple of `L`), lane `j`
/// taking every `L`-th value from `j` on, each lane's state and bit
/// position its own: the lanes are independent chains of table lookups
/// and bit reads, which the processor overlaps. Without `CHECKED` the
/// reads skip the clamp and the bounds check.
///
/// # Safety
/// Without `CHECKED`, [`Stream::holds`] must be true for every lane's
/// position plus `MAX_LOG` bits per value of the lane.
#[inline(always)]
unsafe fn lanes_step<const L: usize, const CHECKED: bool>(
    table: &Table,
    s: &mut [usize; L],
    pos: &mut [usize; L],
    stream: &Stream,
    bins: &mut [u8],
) {
    let (mut st, mut ps) = (*s, *pos);
    for q in bins.chunks_exact_mut(L) {
        for j in 0..L {
            let e = &table[st[j] & (TABLE - 1)];
            let w = if CHECKED {
                stream.bits(ps[j])
            } else {
                // SAFETY: a lane moves at most `MAX_LOG` bits per value,
                // which the caller checked the stream holds.
                unsafe { stream.bits_unchecked(ps[j]) }
            };
            let (next, bin, nb) = step(e, w);
            st[j] = next;
            ps[j] += nb;
            q[j] = bin;
        }
    }
    (*s, *pos) = (st, ps);
}

/// [`lanes_step`] for `L` lanes, unchecked when the stream holds the
/// furthest read of the batch (all but the last few batches).
#[inline(always)]
fn lanes_batch<const L: usize>(
    table: &Table,
    s: &mut [usize; L],
    pos: &mut [usize; L],
    stream: &Stream,
    bins: &mut [u8],
) {
    let furthest = pos.iter().max().copied().unwrap_or(0);
    let reach = furthest.saturating_add(bins.len() / L * MAX_LOG as usize);
    if stream.holds(reach) {
        // SAFETY: no lane gets past `reach` in this batch.
        unsafe { lanes_step::<L, false>(table, s, pos, stream, bins) }
    } else {
        // SAFETY: checked reads have no precondition.
        unsafe { lanes_step::<L, true>(table, s, pos, stream, bins) }
    }
}

/// [`lanes_batch`] for four lanes, kept out of line.
#[inline(never)]
fn lanes4(t: &Table, s: &mut [usize; 4], p: &mut [usize; 4], st: &Stream, b: &mut [u8]) {
    lanes_batch(t, s, p, st, b);
}

/// Decodes the bins of `bins.len()` values (a multiple of [`V1_LANES`])
/// of a version 1 stream, whose four lanes share one bit position; returns
/// the new position. A lane's renormalisation takes at most `MAX_LOG` (11)
/// bits, so one 57-bit window covers four values.
#[inline(never)]
fn shared_quads(
    table: &Table,
    lanes: &mut [usize; V1_LANES],
    stream: &Stream,
    mut pos: usize,
    bins: &mut [u8],
) -> usize {
    for q in bins.chunks_exact_mut(V1_LANES) {
        let mut w = stream.bits(pos);
        for (b, s) in q.iter_mut().zip(lanes.iter_mut()) {
            let (next, bin, nb) = step(&table[*s & (TABLE - 1)], w);
            *s = next;
            *b = bin;
            w >>= nb;
            pos += nb;
        }
    }
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
/// `offsets` at bit `at`; returns the new position. The reads are
/// unchecked when the stream holds the furthest one of the batch.
#[inline(never)]
fn with_offsets(
    b: &Bins,
    how: Offsets,
    offsets: &Stream,
    at: usize,
    ks: &[u8],
    out: &mut [MaybeUninit<i64>],
) -> usize {
    if offsets.holds(at.saturating_add(ks.len() * b.widest)) {
        // SAFETY: no value takes more than `widest` bits.
        unsafe { offsets_step::<false>(b, how, offsets, at, ks, out) }
    } else {
        // SAFETY: checked reads have no precondition.
        unsafe { offsets_step::<true>(b, how, offsets, at, ks, out) }
    }
}

/// [`with_offsets`], its reads checked or not.
///
/// # Safety
/// Without `CHECKED`, [`Stream::holds`] must be true for `at` plus the
/// widest bin's width per value.
#[inline(always)]
unsafe fn offsets_step<const CHECKED: bool>(
    b: &Bins,
    how: Offsets,
    offsets: &Stream,
    mut at: usize,
    ks: &[u8],
    out: &mut [MaybeUninit<i64>],
) -> usize {
    // Widths are at most 56 bits, so shift + width <= 63.
    let read = |at: usize, k: usize| {
        let w = if CHECKED {
            offsets.bits(at)
        } else {
            // SAFETY: `at` stays within what the caller checked.
            unsafe { offsets.bits_unchecked(at) }
        };
        w & b.masks[k]
    };
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

/// The state streams of a node: version 1's one stream shared by four
/// lanes, version 2's stream per lane (both tANS, with their table), or
/// version 3's 16 rANS states over one word stream.
enum States {
    Shared {
        table: Box<Table>,
        lanes: [usize; V1_LANES],
        pos: usize,
        bits: u64,
        stream: Stream,
    },
    Four {
        table: Box<Table>,
        lanes: [usize; 4],
        pos: [usize; 4],
        end: [usize; 4],
        stream: Stream,
    },
    Rans {
        kernels: &'static Kernels,
        table: Vec<u32>,
        states: [u32; RANS_LANES],
        words: Vec<u16>,
        pos: usize,
    },
}

impl States {
    /// Decodes the bins of `ks.len()` values.
    fn decode(&mut self, ks: &mut [u8]) {
        let n = ks.len();
        match self {
            States::Shared {
                table,
                lanes,
                pos,
                stream,
                ..
            } => {
                let full = n - n % V1_LANES;
                *pos = shared_quads(table, lanes, stream, *pos, &mut ks[..full]);
                let mut w = stream.bits(*pos);
                for (k, s) in ks[full..].iter_mut().zip(lanes.iter_mut()) {
                    let (next, bin, nb) = step(&table[*s & (TABLE - 1)], w);
                    (*s, *k) = (next, bin);
                    w >>= nb;
                    *pos += nb;
                }
            }
            States::Four {
                table,
                lanes,
                pos,
                stream,
                ..
            } => {
                let full = n - n % 4;
                lanes4(table, lanes, pos, stream, &mut ks[..full]);
                tail(table, lanes, pos, stream, &mut ks[full..]);
            }
            States::Rans {
                kernels,
                table,
                states,
                words,
                pos,
            } => {
                // The table has 2^log entries, log in MIN_LOG..=MAX_LOG
                // (checked when read), which the kernel accepts.
                *pos = kernels
                    .rans16_decode(table, states, words, *pos, ks)
                    .expect("a table of 2^log entries");
            }
        }
    }

    /// Whether every lane took exactly its bits and ended in the state the
    /// encoder started from; gives the tANS table back for the next node.
    fn finish(self) -> Result<(), String> {
        let (lanes, pos, end): (Vec<usize>, Vec<usize>, Vec<usize>) = match self {
            States::Shared {
                table,
                lanes,
                pos,
                bits,
                ..
            } => {
                give_back(table);
                if pos as u64 != bits {
                    return Err(format!(
                        "ans state stream holds {bits} bits, the values took {pos}"
                    ));
                }
                (lanes.to_vec(), vec![], vec![])
            }
            States::Four {
                table,
                lanes,
                pos,
                end,
                ..
            } => {
                give_back(table);
                (lanes.to_vec(), pos.to_vec(), end.to_vec())
            }
            States::Rans {
                states, words, pos, ..
            } => {
                if pos != words.len() {
                    return Err(format!(
                        "ans word stream holds {} words, the values took {pos}",
                        words.len()
                    ));
                }
                if states.iter().any(|&s| s != rans::STATE_LOW) {
                    return Err("ans states do not end where the encoder started".to_owned());
                }
                return Ok(());
            }
        };
        if let Some(j) = (0..pos.len()).find(|&j| pos[j] != end[j]) {
            return Err(format!(
                "ans lane {j} ends at bit {}, its stream at {}",
                pos[j], end[j]
            ));
        }
        if lanes.iter().any(|&s| s != 0) {
            return Err("ans states do not end where the encoder started".to_owned());
        }
        Ok(())
    }
}

/// The last values of a batch, fewer than the lanes: one lane each.
fn tail<const L: usize>(
    table: &Table,
    lanes: &mut [usize; L],
    pos: &mut [usize; L],
    stream: &Stream,
    ks: &mut [u8],
) {
    for (j, k) in ks.iter_mut().enumerate() {
        let (next, bin, nb) = step(&table[lanes[j] & (TABLE - 1)], stream.bits(pos[j]));
        (lanes[j], *k) = (next, bin);
        pos[j] += nb;
    }
}

/// The rANS decode table of `freq` (summing to `2^log`): bin `k` owns
/// `freq[k]` slots from the sum of the frequencies before it.
fn rans_table(freq: &[u32], log: u32) -> Vec<u32> {
    let mut t = Vec::with_capacity(1 << log);
    for (k, &f) in freq.iter().enumerate() {
        t.extend((0..f).map(|b| rans::entry(f, b, k as u8)));
    }
    t
}

/// Refuses `count` values when the streams justify at most `most`
/// (checked before the output or a table is allocated).
fn check_count(count: usize, most: u64, offset: usize) -> Result<(), CodecError> {
    if count as u64 > most {
        return Err(CodecError::CountTooLarge {
            what: "ans values",
            offset,
            count: count as u64,
            max: usize::try_from(most).unwrap_or(usize::MAX),
        });
    }
    Ok(())
}

fn ans_dec(
    r: &mut Reader<'_>,
    _: DataKind,
    count: usize,
    ctx: &mut DecodeCtx,
) -> Result<Values, CodecError> {
    // A version 1 stream starts with its bin count (2 or more).
    let version = if r.rest().first() == Some(&ESCAPE) {
        r.u8("ans escape")?;
        let v = r.u8("ans version")?;
        if v != TANS_VERSION && v != RANS_VERSION {
            return Err(corrupt(
                r,
                format!("ans version {v}, expected {TANS_VERSION} or {RANS_VERSION}"),
            ));
        }
        v
    } else {
        1
    };
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
        widest: 0,
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
        bins.widest = bins.widest.max(usize::from(width));
        freq.push(f as u32);
    }
    if sum != u64::from(l) {
        return Err(corrupt(
            r,
            format!("ans frequencies sum to {sum}, expected {l}"),
        ));
    }
    let bits_at = r.offset();
    let (mut states, offsets, off_bits) = if version == RANS_VERSION {
        let mut st = [0u32; RANS_LANES];
        for s in &mut st {
            *s = r.u32("ans state")?;
            if *s < rans::STATE_LOW {
                return Err(corrupt(
                    r,
                    format!("ans state {s} below {}", rans::STATE_LOW),
                ));
            }
        }
        let nwords = r.count("ans words", r.rest().len() / 2)?;
        let off_bits = r.varint("ans offset bits")?;
        let words: Vec<u16> = r
            .take(2 * nwords, "ans word stream")?
            .chunks_exact(2)
            .map(|w| u16::from_le_bytes([w[0], w[1]]))
            .collect();
        let obytes = usize::try_from(off_bits.div_ceil(8)).unwrap_or(usize::MAX);
        let offsets = r.take(obytes, "ans offset stream")?;
        // A step that takes no word lowers its state by at least
        // `state >> log` (there are two bins or more, so every frequency
        // is below `2^log`), so a state falls from below 2^32 to 2^16 in
        // at most about 11.1 * 2^log steps: each word and each initial
        // state justifies at most 12 (l + 1) values.
        let most = (nwords as u64 + RANS_LANES as u64).saturating_mul(12 * (u64::from(l) + 1));
        check_count(count, most, bits_at)?;
        let states = States::Rans {
            kernels: Kernels::active(),
            table: rans_table(&freq, log),
            states: st,
            words,
            pos: 0,
        };
        (states, offsets, off_bits)
    } else {
        let v2 = version == TANS_VERSION;
        let mut lane = [0usize; LANES];
        for s in &mut lane {
            *s = r.count("ans state", l as usize - 1)?;
        }
        let mut lane_bits = [0u64; LANES];
        for b in &mut lane_bits[..if v2 { LANES } else { 1 }] {
            *b = r.varint("ans state bits")?;
        }
        let off_bits = r.varint("ans offset bits")?;
        // Each lane's stream starts at a byte (version 1: one stream).
        let mut starts = [0usize; LANES];
        let mut total = 0usize;
        for (k, &b) in lane_bits.iter().enumerate() {
            starts[k] = total;
            let bytes = usize::try_from(b.div_ceil(8)).unwrap_or(usize::MAX);
            total = total.saturating_add(bytes);
        }
        let stream = r.take(total, "ans state stream")?;
        let obytes = usize::try_from(off_bits.div_ceil(8)).unwrap_or(usize::MAX);
        let offsets = r.take(obytes, "ans offset stream")?;
        // With two or more bins a step that reads no bit lowers its lane's
        // state, so a lane takes at most `l` such steps in a row: the state
        // stream justifies at most (bits + lanes) * (l + 1) values.
        let bits: u64 = lane_bits.iter().sum();
        let most = (bits + LANES as u64).saturating_mul(u64::from(l) + 1);
        check_count(count, most, bits_at)?;
        let at_bits = |k: usize| starts[k] * 8;
        let end_bits = |k: usize| starts[k] * 8 + lane_bits[k] as usize;
        let stream = Stream::new(stream);
        let states = if v2 {
            States::Four {
                table: decode_table(&freq, log),
                lanes: lane,
                pos: std::array::from_fn(at_bits),
                end: std::array::from_fn(end_bits),
                stream,
            }
        } else {
            States::Shared {
                table: decode_table(&freq, log),
                lanes: lane,
                pos: 0,
                bits,
                stream,
            }
        };
        (states, offsets, off_bits)
    };
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
    let offsets = Stream::new(offsets);
    let mut out = ctx.int_output(count);
    // A parent's one-to-one stages, applied to each batch while it is in
    // cache.
    let mut post = ctx.take_post();
    let base = out.len();
    let mut at = 0usize;
    let mut ks = [0u8; BATCH];
    out.reserve(count);
    let mut left = count;
    while left > 0 {
        let n = left.min(BATCH);
        states.decode(&mut ks[..n]);
        let len = out.len();
        let spare = &mut out.spare_capacity_mut()[..n];
        at = with_offsets(&bins, how, &offsets, at, &ks[..n], spare);
        // SAFETY: `with_offsets` wrote the first `n` slots of the spare
        // capacity (one per bin of `ks[..n]`), and `reserve` made room for
        // all `count` values.
        unsafe { out.set_len(len + n) };
        if let Some(post) = &mut post {
            post.apply(&mut out[len..]);
        }
        left -= n;
    }
    debug_assert_eq!(out.len() - base, count);
    states.finish().map_err(|reason| CodecError::Corrupt {
        offset: bits_at,
        reason,
    })?;
    if at as u64 != off_bits {
        return Err(CodecError::Corrupt {
            offset: bits_at,
            reason: format!("ans offset stream holds {off_bits} bits, the values take {at}"),
        });
    }
    if let Some(post) = post {
        ctx.applied_post(post);
    }
    Ok(Values::Int(out))
}

#[cfg(test)]
mod tests;
