//! Remembered cascades: encoding the next values of a stream (a column of
//! the sync batches a session sends) without searching for a cascade
//! every time.
//!
//! The selection ([`encode_column`](super::encode_column)) tries every
//! codec, and for every codec with child streams every codec again, on
//! each column: milliseconds for a batch of a few hundred bytes. Batches of
//! one session repeat their shapes (the same table columns, written the
//! same way), so a [`CascadeCache`] keeps, per stream key, the cascade the
//! last search chose and encodes the next values of that stream with it
//! (a codec that no longer fits is chosen afresh for its stage alone). A
//! remembered cascade is dropped, and the values searched for again,
//!
//! * when its encoding is no longer good: larger, relative to a cheap
//!   estimate of the values' size (frame of reference or deltas for
//!   integers, the raw size otherwise), than by 5/4 of what it was when it
//!   was chosen (plus [`SLACK`] bytes);
//! * when the values are much more numerous than those it was chosen on;
//! * after [`DEFAULT_REUSES`] encodings (the budget), so that a better
//!   cascade for a slowly changing stream is found in time.
//!
//! Columns of at most [`TINY_ROWS`] values are not searched at all: the
//! smallest of `plain`, `one` and single-stage `for` is written.
//!
//! Every encoding is self-describing, so what the cache chooses never
//! changes what decodes; it only changes sizes, bounded as above. The
//! choices depend only on the values encoded so far (no clock), so a
//! seeded run writes the same bytes every time.

use std::hash::Hash;

use unidb_common::collections::LruCache;

use super::select::{self, Cascade};
use super::{CodecError, Column, Effort, Encoded, Values};

/// Columns of at most this many values are written without a search.
pub const TINY_ROWS: usize = 8;

/// Encodings with one remembered cascade before it is searched for again.
pub const DEFAULT_REUSES: u32 = 256;

/// Bytes a remembered cascade may exceed its size bound by (headers and
/// rounding of tiny columns).
pub const SLACK: usize = 16;

/// Counters of a [`CascadeCache`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Blocks encoded with a full search.
    pub searches: u64,
    /// Blocks encoded with a remembered cascade.
    pub reuses: u64,
    /// Remembered cascades dropped because their encoding was no longer
    /// good (or no longer fitted).
    pub dropped: u64,
    /// Remembered cascades searched for again because their budget of
    /// reuses was spent or the values had grown.
    pub expired: u64,
    /// Blocks too small for a search.
    pub tiny: u64,
}

#[derive(Debug)]
struct Remembered {
    cascade: Cascade,
    uses_left: u32,
    /// Encoded size of the block the cascade was chosen for.
    size: usize,
    /// [`estimate`] of that block.
    estimate: usize,
    /// Values in that block.
    rows: usize,
}

/// Per stream key, the cascade last chosen for that stream, in a bounded
/// least-recently-used map.
///
/// ```
/// use unidb_codec::{decode_column, CascadeCache, Column, ColumnKind, Effort, Values};
/// # fn main() -> Result<(), unidb_codec::CodecError> {
/// let mut cache = CascadeCache::new(64);
/// for batch in 0..10i64 {
///     let col = Column::new(ColumnKind::Int, Values::Int((0..50).map(|i| batch * 50 + i).collect()))?;
///     let enc = cache.encode_column("seq", &col, Effort::Max)?;
///     assert_eq!(decode_column(&enc.bytes)?, col);
/// }
/// assert_eq!(cache.stats().searches, 1);
/// assert_eq!(cache.stats().reuses, 9);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct CascadeCache<K: Hash + Eq + Clone> {
    lru: LruCache<(K, Effort), Remembered>,
    reuses: u32,
    stats: CacheStats,
}

impl<K: Hash + Eq + Clone> CascadeCache<K> {
    /// A cache remembering at most `streams` streams (at least one).
    pub fn new(streams: usize) -> Self {
        CascadeCache {
            lru: LruCache::new(streams.max(1)),
            reuses: DEFAULT_REUSES,
            stats: CacheStats::default(),
        }
    }

    /// Sets how many encodings reuse a cascade before it is searched for
    /// again (0: search every time, as [`encode_column`](super::encode_column)).
    pub fn set_reuses(&mut self, reuses: u32) {
        self.reuses = reuses;
    }

    /// The counters so far.
    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    /// Streams remembered.
    pub fn len(&self) -> usize {
        self.lru.len()
    }

    /// Whether no stream is remembered.
    pub fn is_empty(&self) -> bool {
        self.lru.is_empty()
    }

    /// Forgets every stream.
    pub fn clear(&mut self) {
        self.lru.clear();
    }

    /// Encodes `col` as [`encode_column`](super::encode_column) does, in the
    /// same format, reusing the cascade remembered for `key` while it stays
    /// good.
    ///
    /// # Errors
    /// Only from a misbehaving user codec.
    pub fn encode_column(
        &mut self,
        key: K,
        col: &Column,
        effort: Effort,
    ) -> Result<Encoded, CodecError> {
        let key = (key, effort);
        super::encode_column_by(col, effort, true, &mut |values, stages, out| {
            self.block(&key, values, stages, effort, out)
        })
    }

    /// [`encode_column`](Self::encode_column)'s bytes alone (the cascades
    /// are not described).
    ///
    /// # Errors
    /// Only from a misbehaving user codec.
    pub fn encode_bytes(
        &mut self,
        key: K,
        col: &Column,
        effort: Effort,
    ) -> Result<Vec<u8>, CodecError> {
        let key = (key, effort);
        let enc = super::encode_column_by(col, effort, false, &mut |values, stages, out| {
            self.block(&key, values, stages, effort, out)
        })?;
        Ok(enc.bytes)
    }

    fn block(
        &mut self,
        key: &(K, Effort),
        values: &Values,
        stages: u8,
        effort: Effort,
        out: &mut Vec<u8>,
    ) -> Result<Cascade, CodecError> {
        let rows = values.len();
        if rows == 0 {
            return Ok(select::encode_node(values, stages, effort, None, out)?.0);
        }
        if rows <= TINY_ROWS {
            self.stats.tiny += 1;
            return Ok(select::encode_tiny(values, effort, out)?.0);
        }
        let estimate = estimate(values);
        if let Some(mut r) = self.lru.remove(key) {
            if r.uses_left == 0 || rows > 4 * r.rows + 64 {
                self.stats.expired += 1;
            } else {
                let start = out.len();
                match select::replay(r.cascade, values, stages, effort, out)? {
                    Some((cascade, _)) if good(out.len() - start, estimate, r.size, r.estimate) => {
                        self.stats.reuses += 1;
                        r.cascade = cascade.clone();
                        r.uses_left -= 1;
                        self.lru.put(key.clone(), r);
                        return Ok(cascade);
                    }
                    _ => {
                        out.truncate(start);
                        self.stats.dropped += 1;
                    }
                }
            }
        }
        self.stats.searches += 1;
        let start = out.len();
        let (cascade, _) = select::encode_node(values, stages, effort, None, out)?;
        if self.reuses > 0 {
            self.lru.put(
                key.clone(),
                Remembered {
                    cascade: cascade.clone(),
                    uses_left: self.reuses,
                    size: out.len() - start,
                    estimate,
                    rows,
                },
            );
        }
        Ok(cascade)
    }
}

/// Whether `size` bytes for values estimated at `estimate` are at most 5/4
/// of the ratio the cascade had when chosen (`chosen` bytes for
/// `chosen_estimate`), with [`SLACK`] bytes of tolerance.
fn good(size: usize, estimate: usize, chosen: usize, chosen_estimate: usize) -> bool {
    let allowed = 5 * (chosen + SLACK) as u128 * estimate as u128
        / (4 * chosen_estimate.max(1) as u128)
        + SLACK as u128;
    size as u128 <= allowed
}

fn width(range: u64) -> usize {
    (64 - range.leading_zeros()) as usize
}

/// A cheap estimate of the encoded size of `values`: for integers the
/// smaller of a frame of reference over the values and over their deltas
/// (bit width of the range times the count), else the raw size.
pub(super) fn estimate(values: &Values) -> usize {
    const HEADER: usize = 10;
    match values {
        Values::Int(x) => {
            let Some(&first) = x.first() else {
                return HEADER;
            };
            let (mut lo, mut hi) = (first, first);
            let (mut dlo, mut dhi) = (i64::MAX, i64::MIN);
            for w in x.windows(2) {
                lo = lo.min(w[1]);
                hi = hi.max(w[1]);
                let d = w[1].wrapping_sub(w[0]);
                dlo = dlo.min(d);
                dhi = dhi.max(d);
            }
            let frame = width((hi as u64).wrapping_sub(lo as u64));
            let deltas = if x.len() > 1 {
                width((dhi as u64).wrapping_sub(dlo as u64))
            } else {
                64
            };
            HEADER + x.len() * frame.min(deltas) / 8
        }
        Values::Float(x) => HEADER + 8 * x.len(),
        Values::Text(v) => HEADER + v.iter().map(|s| s.len() + 1).sum::<usize>(),
        Values::Bytes(v) => HEADER + v.iter().map(|s| s.len() + 1).sum::<usize>(),
        Values::Bool(v) => HEADER + v.len() / 8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode_column, encode_column, ColumnKind};
    use unidb_common::rng::SplitMix64;

    fn int_col(v: Vec<i64>) -> Column {
        Column::new(ColumnKind::Int, Values::Int(v)).unwrap()
    }

    /// Batches of one stream whose shape switches: sequential ids,
    /// random wide integers, runs of a few values, sequential again.
    fn switching_batches() -> Vec<Column> {
        let mut rng = SplitMix64::new(11);
        let mut out = Vec::new();
        for b in 0..12i64 {
            out.push(int_col((0..200).map(|i| 1_000_000 + b * 200 + i).collect()));
        }
        for _ in 0..12 {
            out.push(int_col(
                (0..200).map(|_| rng.below(1 << 40) as i64).collect(),
            ));
        }
        for _ in 0..12 {
            out.push(int_col(
                (0..200).map(|i| [7i64, -3, 12][(i / 25) % 3]).collect(),
            ));
        }
        for b in 0..12i64 {
            out.push(int_col((0..200).map(|i| 5_000_000 + b * 200 + i).collect()));
        }
        out
    }

    #[test]
    fn every_cached_encoding_decodes_to_its_input() {
        let mut cache = CascadeCache::new(8);
        let mut rng = SplitMix64::new(5);
        let texts = |rng: &mut SplitMix64, n: usize| -> Vec<String> {
            (0..n).map(|_| format!("item {}", rng.below(40))).collect()
        };
        let mut cols = switching_batches();
        for n in [3usize, 9, 60, 200] {
            cols.push(Column::new(ColumnKind::Text, Values::Text(texts(&mut rng, n))).unwrap());
            cols.push(
                Column::new(
                    ColumnKind::Float,
                    Values::Float((0..n).map(|i| i as f64 * 0.25).collect()),
                )
                .unwrap(),
            );
            cols.push(int_col(vec![4; n]));
        }
        for (i, col) in cols.iter().enumerate() {
            // One key for every shape and kind: the stream changes under it.
            for effort in [Effort::Fast, Effort::Max] {
                let enc = cache.encode_column("stream", col, effort).unwrap();
                assert_eq!(&decode_column(&enc.bytes).unwrap(), col, "batch {i}");
                let bytes = cache.encode_bytes("stream", col, effort).unwrap();
                assert_eq!(&decode_column(&bytes).unwrap(), col, "batch {i}");
            }
        }
        let s = cache.stats();
        assert!(
            s.reuses > 0 && s.searches > 0 && s.dropped > 0 && s.tiny > 0,
            "{s:?}"
        );
    }

    #[test]
    fn a_cascade_that_stops_being_good_is_dropped() {
        // Stated bound: every cached encoding is within 5/4 of a fresh
        // search's size plus 2 * SLACK bytes, on each shape switch too.
        let mut cache = CascadeCache::new(8);
        let mut before = cache.stats();
        for (i, col) in switching_batches().iter().enumerate() {
            let cached = cache.encode_column(0u8, col, Effort::Max).unwrap();
            let fresh = encode_column(col, Effort::Max).unwrap();
            assert!(
                cached.bytes.len() <= fresh.bytes.len() * 5 / 4 + 2 * SLACK,
                "batch {i}: cached {} ({:?}) vs fresh {} ({:?})",
                cached.bytes.len(),
                cached.cascades,
                fresh.bytes.len(),
                fresh.cascades
            );
            let now = cache.stats();
            if i % 12 > 1 {
                // Within a shape it is reused.
                assert_eq!(now.reuses, before.reuses + 1, "batch {i}");
            }
            before = now;
        }
        assert!(before.dropped >= 1, "{before:?}");
    }

    #[test]
    fn the_budget_forces_a_new_search() {
        let mut cache = CascadeCache::new(4);
        cache.set_reuses(3);
        let col = int_col((0..100).map(|i| i * 3).collect());
        for _ in 0..8 {
            cache.encode_column("k", &col, Effort::Max).unwrap();
        }
        // search, 3 reuses, expired + search, 3 reuses, expired + ...
        let s = cache.stats();
        assert_eq!((s.searches, s.reuses, s.expired), (2, 6, 1), "{s:?}");
        // Without reuses every block is searched, as encode_column does.
        let mut none = CascadeCache::new(4);
        none.set_reuses(0);
        for _ in 0..3 {
            let enc = none.encode_column("k", &col, Effort::Max).unwrap();
            assert_eq!(enc, encode_column(&col, Effort::Max).unwrap());
        }
        assert_eq!(none.stats().searches, 3);
    }

    #[test]
    fn tiny_columns_are_never_larger_than_plain() {
        let mut rng = SplitMix64::new(3);
        let mut cache = CascadeCache::new(4);
        for n in 1..=TINY_ROWS {
            for shape in 0..4 {
                let v: Vec<i64> = (0..n)
                    .map(|i| match shape {
                        0 => 5,
                        1 => i as i64,
                        2 => rng.below(u64::MAX) as i64,
                        _ => i64::MIN + i as i64,
                    })
                    .collect();
                let col = int_col(v.clone());
                let enc = cache.encode_column("t", &col, Effort::Max).unwrap();
                assert_eq!(decode_column(&enc.bytes).unwrap(), col);
                let plain = crate::encode_with("plain", &Values::Int(v), Effort::Max)
                    .unwrap()
                    .unwrap();
                // The column header, then at most a plain node.
                assert!(enc.bytes.len() <= plain.len() + 12, "{n} {shape}: {enc:?}");
            }
        }
        assert_eq!(cache.stats().searches, 0);
    }

    #[test]
    fn the_estimate_follows_the_shape() {
        // Sequential values: deltas of one width; random: the full range.
        let seq = estimate(&Values::Int((0..1000).collect()));
        let wide = estimate(&Values::Int((0..1000).map(|i| i * 7919 % 1000).collect()));
        assert!(seq < 20 && wide > 1000, "{seq} {wide}");
        assert_eq!(estimate(&Values::Int(vec![])), 10);
        assert_eq!(
            estimate(&Values::Text(vec!["ab".into(), "c".into()])),
            10 + 5
        );
    }
}
