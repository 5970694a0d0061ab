//! [`BatchEncoder`]: a sender's encoder, which remembers the codec
//! cascades of its earlier batches and which form recently won.

use unidb_codec::{CacheStats, CascadeCache, Effort};

use crate::change::Change;

use super::encode::{encode_batch, StreamKey};

/// Batches of a size class sent in the per-change form without trying
/// the columnar one after the columnar form lost there.
pub(super) const FORM_SKIPS: u32 = 8;

/// Which form recently won, per batch size class (`log2` of the change
/// count): small batches of many groups lose in the columnar form, whose
/// column headers then cost more than its columns save.
#[derive(Debug, Default)]
pub(super) struct FormMemory {
    /// Per size class, batches left to send per-change without trying.
    pub(super) skip: [u32; 32],
    pub(super) stats: BatchStats,
}

impl FormMemory {
    pub(super) fn bucket(n: usize) -> usize {
        ((usize::BITS - n.leading_zeros()) as usize).min(31)
    }
}

/// Counters of a [`BatchEncoder`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Batches sent in the columnar form.
    pub columnar: u64,
    /// Batches where the columnar form was tried and the per-change form
    /// was smaller.
    pub per_change: u64,
    /// Batches sent per-change without trying the columnar form (it lost
    /// on a recent batch of their size class).
    pub skipped: u64,
    /// The cascade cache's counters.
    pub cascades: CacheStats,
}

/// Encodes the change batches of one sender, as
/// [`encode_changes`](super::encode_changes) does (the same format, any
/// decoder reads it), remembering per column stream (table, op kind,
/// column and what the column holds) the codec cascade last chosen and
/// reusing it while it stays good, so that a batch costs a few encodings
/// per column instead of a search (see [`CascadeCache`]). A sync session
/// keeps one for its peer.
///
/// ```
/// use unidb_syncdb::columnar::{decode_changes, BatchEncoder};
/// use unidb_codec::Effort;
/// use unidb_syncdb::sim::row_workload_changes;
///
/// let changes = row_workload_changes(100, 100, 1).unwrap();
/// let mut enc = BatchEncoder::new();
/// for batch in changes.chunks(50) {
///     assert_eq!(decode_changes(&enc.encode(batch, Effort::Max)).unwrap(), batch);
/// }
/// let stats = enc.stats().cascades;
/// assert!(stats.reuses > stats.searches);
/// ```
#[derive(Debug)]
pub struct BatchEncoder {
    cache: Option<CascadeCache<StreamKey>>,
    forms: Option<FormMemory>,
}

impl Default for BatchEncoder {
    fn default() -> Self {
        BatchEncoder::new()
    }
}

impl BatchEncoder {
    /// Column streams remembered by [`BatchEncoder::new`] (the least
    /// recently used are forgotten).
    pub const STREAMS: usize = 256;

    /// An encoder remembering up to [`STREAMS`](Self::STREAMS) column streams.
    pub fn new() -> Self {
        BatchEncoder::with_cache(CascadeCache::new(Self::STREAMS))
    }

    /// An encoder with the given cache (its size and reuse budget).
    pub fn with_cache(cache: CascadeCache<(u32, u8, u32, u8)>) -> Self {
        BatchEncoder {
            cache: Some(cache),
            forms: Some(FormMemory::default()),
        }
    }

    /// An encoder that searches every column of every batch and tries
    /// both forms every time, as [`encode_changes`](super::encode_changes).
    pub fn uncached() -> Self {
        BatchEncoder {
            cache: None,
            forms: None,
        }
    }

    /// Encodes one batch (see [`encode_changes`](super::encode_changes)).
    /// After the columnar form lost to the per-change form, the next few
    /// batches of about the same size (up to twice or half as many changes)
    /// are sent per-change without trying it.
    pub fn encode(&mut self, changes: &[Change], effort: Effort) -> Vec<u8> {
        encode_batch(changes, effort, self.cache.as_mut(), self.forms.as_mut())
    }

    /// The counters so far (all zero for an uncached encoder).
    pub fn stats(&self) -> BatchStats {
        let mut s = self.forms.as_ref().map(|f| f.stats).unwrap_or_default();
        s.cascades = self
            .cache
            .as_ref()
            .map(CascadeCache::stats)
            .unwrap_or_default();
        s
    }
}

#[cfg(test)]
mod tests;
