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
mod tests;
