//! Column-by-column encoding of change batches.
//!
//! A batch of [`Change`]s is cut into columns and every column is
//! compressed with the [`codec`](unidb_codec) module's automatic selection
//! (each column's header names its codec cascade, so the decoder needs no
//! out-of-band state). Before that, the batch is transformed so that the
//! columns are regular:
//!
//! * changes are **grouped** by `(table, op kind, column)`, keeping their
//!   order within a group, so that each group's values (one table column)
//!   form one typed column: the names of a table in one text column, its
//!   prices in one float column, and so on;
//! * the origin replicas become a **dictionary** (sorted replica ids) and a
//!   column of small indices;
//! * timestamps are stored as their difference to the sequence number
//!   (`ts - seq`, wrapping), which is constant while a replica stamps its
//!   changes one HLC tick apart and otherwise grows slowly, and which the
//!   codecs then delta-code;
//! * the batch order is restored from `(origin, seq)` when the batch was
//!   sorted that way (what [`Database::changes_since`](crate::Database::changes_since)
//!   returns), or else from an explicit column of group numbers in batch order.
//!
//! Values are stored as a column of type tags (`0` for null, else the
//! [`ColumnType`](crate::ColumnType) tag) plus one column per type present. A
//! tiny batch whose columns would cost more than the plain per-change form
//! is written in that form instead (flag bit 1).
//!
//! # Layout
//! ```text
//! count(LEB128) flags(u8: 1 = sorted by (origin, seq), 2 = per-change form)
//! per-change form: count changes as in the version-1 wire format
//! columnar form:
//!   replicas(LEB128) replica ids (LEB128, strictly increasing)
//!   groups(LEB128) per group: table(LEB128) kind(u8: 0 row, 1 set, 2 count)
//!                             column(LEB128) count(LEB128)   (strictly increasing)
//!   columns, each len(LEB128) + an encoded column (`codec::encode_column`):
//!     origin index, seq, ts - seq, causal length, key values,
//!     per set group its values, per count group its inc and dec,
//!     (unsorted batches) group number per change in batch order
//! padding(LEB128) zero bytes
//! ```
//! A value sequence is a tag column then one column per type present, in
//! tag order.
//!
//! Decoding checks the change count against the input size
//! (at most [`MAX_CHANGES_PER_BYTE`] changes per input byte beyond one
//! codec block) and every column's kind and row count against the header
//! before decoding it, and charges one decode
//! [`Budget`](unidb_codec::Budget) of the batch's length (1024 bytes per
//! input byte plus 1 MiB) with [`CHANGE_COST`] per change up front and then
//! every column (constant integer columns included) before allocating, so a
//! batch of `n` bytes decodes to at most a small multiple of
//! `1024 n + 1 MiB` bytes; every malformed input is a
//! [`SyncError::Decode`](crate::SyncError::Decode) naming the byte offset. The
//! encoder pads a batch that would decode to more than its length's budget
//! (highly repetitive values) until it does not, so every batch it writes
//! decodes.
//!
//! ```
//! use unidb_common::{id::ReplicaId, time::HlcTimestamp};
//! use unidb_syncdb::columnar::{decode_changes, encode_changes};
//! use unidb_codec::Effort;
//! use unidb_syncdb::{Change, ChangeOp, Value};
//!
//! let changes: Vec<Change> = (1..=1000u64)
//!     .map(|seq| Change {
//!         origin: ReplicaId::from_u64(7),
//!         seq,
//!         ts: HlcTimestamp::from_u64(1 << 40 | seq),
//!         table: 0,
//!         key: Value::I64(seq as i64 / 2),
//!         cl: 1,
//!         op: ChangeOp::Set { column: 1 + (seq % 2) as u32, value: Value::I64(seq as i64 % 10) },
//!     })
//!     .collect();
//! let bytes = encode_changes(&changes, Effort::Max);
//! assert!(bytes.len() < 2 * changes.len());
//! assert_eq!(decode_changes(&bytes).unwrap(), changes);
//! ```

mod batch;
mod decode;
mod encode;
mod pad;

use unidb_codec::Effort;
use unidb_kernels::varint;

use crate::change::{Change, ChangeOp};
use unidb_common::value::Value;

pub use batch::{BatchEncoder, BatchStats};
pub use decode::decode_changes;
pub(crate) use decode::decode_changes_at;
pub(crate) use encode::encode_changes_listing;
pub use encode::{column_sizes, encode_changes, ColumnStat};

/// The effort used by snapshots, and by [`effort_for`] large batches.
pub const DEFAULT_EFFORT: Effort = Effort::Max;

/// Batches of at least this many changes are encoded with
/// [`Effort::Max`], smaller ones with [`Effort::Fast`].
pub const LARGE_BATCH: usize = 4096;

/// The effort [`Message::encode`](crate::Message::encode) uses for a batch
/// of `n` changes: on small batches the search over codec cascades costs
/// more time than it saves bytes, on large ones it pays (0.9 against 1.2
/// bytes per column write on the row workload).
pub fn effort_for(n: usize) -> Effort {
    if n >= LARGE_BATCH {
        Effort::Max
    } else {
        Effort::Fast
    }
}

/// Most changes a batch may claim per byte of its encoding (beyond the
/// first [`BLOCK_VALUES`](unidb_codec::BLOCK_VALUES)); the encoder pads
/// batches that compress better.
pub const MAX_CHANGES_PER_BYTE: usize = 128;

/// Transform byte before an integer column: stored as is.
const INT_PLAIN: u8 = 0;
/// Transform byte before an integer column: zigzag deltas. Earlier
/// encoders chose it when smaller; readers still accept it, while the
/// encoder now leaves deltas to the codecs' selection (`delta`, `linear`,
/// and `for` patching outliers on both sides of its frame), which reaches
/// the same size with one encoding instead of two.
const INT_DELTA: u8 = 1;
/// Transform byte of an integer column whose rows all hold one value: the
/// value follows (zigzag LEB128) instead of a column.
const INT_CONST: u8 = 2;

const FLAG_SORTED: u8 = 1;
const FLAG_ROWS: u8 = 2;

const KIND_ROW: u8 = 0;
const KIND_SET: u8 = 1;
const KIND_COUNT: u8 = 2;
/// Added to the kind of a group of *followers*: changes that come right
/// after a change of the same origin, row and row life (`seq` one more),
/// such as the column writes of an insert. Keeping them apart from the
/// others (single updates) gives each column a uniform regime.
const FOLLOWER: u8 = 4;

/// Decoded bytes charged per change of a batch besides its columns: the
/// change in the grouped order and in the batch order, its key and its
/// operation while they are assembled.
pub const CHANGE_COST: usize = 2 * std::mem::size_of::<Change>()
    + std::mem::size_of::<Value>()
    + std::mem::size_of::<ChangeOp>();

/// Zigzag-coded wrapping differences to the previous value (the first to
/// zero). A run that steps evenly becomes one repeated value, and a jump
/// becomes one large positive outlier (which frame-of-reference coding
/// patches) rather than a negative one that would widen every value.
fn zigzag_deltas(v: &[i64]) -> Vec<i64> {
    let mut prev = 0i64;
    v.iter()
        .map(|&x| {
            let d = x.wrapping_sub(prev);
            prev = x;
            varint::zigzag_encode_i64(d) as i64
        })
        .collect()
}

/// Inverse of [`zigzag_deltas`].
fn undo_zigzag_deltas(v: &mut [i64]) {
    let mut acc = 0i64;
    for x in v {
        acc = acc.wrapping_add(varint::zigzag_decode_i64(*x as u64));
        *x = acc;
    }
}

/// Whether the batch is strictly increasing by `(origin, seq)`.
fn is_sorted(changes: &[Change]) -> bool {
    changes
        .windows(2)
        .all(|w| (w[0].origin, w[0].seq) < (w[1].origin, w[1].seq))
}

#[cfg(test)]
pub(crate) mod tests;
