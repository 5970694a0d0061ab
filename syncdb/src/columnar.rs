//! Column-by-column encoding of change batches.
//!
//! A batch of [`Change`]s is cut into columns and every column is
//! compressed with the [`codec`] module's automatic selection
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
//! [`ColumnType`] tag) plus one column per type present. A
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
//! before decoding it, and charges one decode [`Budget`](codec::Budget) of
//! the batch's length (1024 bytes per input byte plus 1 MiB) with
//! [`CHANGE_COST`] per change up front and then every column (constant
//! integer columns included) before allocating, so a batch of `n` bytes
//! decodes to at most a small multiple of `1024 n + 1 MiB` bytes; every
//! malformed input is a [`SyncError::Decode`] naming the byte offset. The
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

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use unidb_common::bytes::{ReadError, Reader};
use unidb_common::id::ReplicaId;
use unidb_common::time::HlcTimestamp;
use unidb_kernels::varint;

use crate::change::{Change, ChangeOp};
use crate::error::{Result, SyncError};
use crate::value::{ColumnType, Value};
use crate::wire;
use unidb_codec::{
    self as codec, CacheStats, CascadeCache, Column, ColumnKind, Effort, Values, BLOCK_VALUES,
};

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
/// first [`BLOCK_VALUES`]); the encoder pads batches that compress better.
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

/// Batches of at most this many changes are sent in the per-change form
/// without trying the columnar one (whose column headers cost more there).
const SMALL_BATCH: usize = 32;

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

/// Encoded size of one column of a batch (see [`column_sizes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnStat {
    /// What the column holds, e.g. `"seq"`, `"key"`, `"t0.c1 value"`.
    pub name: String,
    /// Encoded bytes (header and length prefix included).
    pub bytes: usize,
    /// The codec cascade of each block, e.g. `"delta(one)"`.
    pub codecs: String,
}

/// Group key: (table, kind, column).
type GroupKey = (u32, u8, u32);

fn group_key(c: &Change, prev: Option<&Change>) -> GroupKey {
    let follower = prev.is_some_and(|p| {
        p.origin == c.origin
            && p.seq.checked_add(1) == Some(c.seq)
            && p.table == c.table
            && p.cl == c.cl
            && p.key == c.key
    });
    let f = if follower { FOLLOWER } else { 0 };
    match &c.op {
        ChangeOp::Row => (c.table, KIND_ROW | f, 0),
        ChangeOp::Set { column, .. } => (c.table, KIND_SET | f, *column),
        ChangeOp::Count { column, .. } => (c.table, KIND_COUNT | f, *column),
    }
}

/// What a column of a batch holds, for [`BatchEncoder`]'s cache: the
/// group `(table, kind, column)` and the role in it (one of the `ROLE_`
/// constants, plus the value type's offset for key and value columns).
type StreamKey = (u32, u8, u32, u8);

const ROLE_ORIGIN: u8 = 0;
const ROLE_SEQ: u8 = 1;
const ROLE_TS: u8 = 2;
const ROLE_CL: u8 = 3;
/// Key columns: the tags, then one role per value type.
const ROLE_KEY: u8 = 8;
/// Value columns: the tags, then one role per value type.
const ROLE_VALUE: u8 = 16;
const ROLE_INC: u8 = 24;
const ROLE_DEC: u8 = 25;
const ROLE_ORDER: u8 = 26;

struct Encoder<'c> {
    out: Vec<u8>,
    effort: Effort,
    stats: Option<Vec<ColumnStat>>,
    /// Store integer columns as zigzag deltas ([`INT_DELTA`]), as earlier
    /// encoders could (tests keep the reader of that form honest).
    int_deltas: bool,
    /// Remembered cascades per column stream (a [`BatchEncoder`]'s).
    cache: Option<&'c mut CascadeCache<StreamKey>>,
}

impl Encoder<'_> {
    fn put(&mut self, v: u64) {
        varint::encode_u64(v, &mut self.out);
    }

    /// The column's encoding, and its cascades when stats are collected.
    fn encode(
        &mut self,
        key: StreamKey,
        col: &Column,
    ) -> std::result::Result<(Vec<u8>, String), codec::CodecError> {
        let describe = self.stats.is_some();
        let enc = match &mut self.cache {
            Some(cache) if !describe => {
                return Ok((cache.encode_bytes(key, col, self.effort)?, String::new()))
            }
            Some(cache) => cache.encode_column(key, col, self.effort)?,
            None => codec::encode_column(col, self.effort)?,
        };
        let codecs = if describe {
            enc.cascades.join(" ")
        } else {
            String::new()
        };
        Ok((enc.bytes, codecs))
    }

    fn column(
        &mut self,
        key: StreamKey,
        name: impl FnOnce() -> String,
        kind: ColumnKind,
        values: Values,
    ) -> std::result::Result<(), codec::CodecError> {
        let start = self.out.len();
        let enc = match values {
            Values::Int(v) if v.windows(2).all(|w| w[0] == w[1]) => {
                // One value (or none) repeated: no column at all.
                self.out.push(INT_CONST);
                self.put(varint::zigzag_encode_i64(v.first().copied().unwrap_or(0)));
                if let Some(stats) = &mut self.stats {
                    stats.push(ColumnStat {
                        name: name(),
                        bytes: self.out.len() - start,
                        codecs: "const".into(),
                    });
                }
                return Ok(());
            }
            Values::Int(v) if self.int_deltas => {
                self.out.push(INT_DELTA);
                self.encode(key, &Column::new(kind, Values::Int(zigzag_deltas(&v)))?)?
            }
            Values::Int(v) => {
                self.out.push(INT_PLAIN);
                self.encode(key, &Column::new(kind, Values::Int(v))?)?
            }
            values => self.encode(key, &Column::new(kind, values)?)?,
        };
        let (bytes, codecs) = enc;
        self.put(bytes.len() as u64);
        self.out.extend_from_slice(&bytes);
        if let Some(stats) = &mut self.stats {
            stats.push(ColumnStat {
                name: name(),
                bytes: self.out.len() - start,
                codecs,
            });
        }
        Ok(())
    }

    /// A value sequence: the tag column, then one column per type present;
    /// `key` names the tag column, the others follow it by type.
    fn values<'a>(
        &mut self,
        key: StreamKey,
        (group, what): (&str, &str),
        values: impl Iterator<Item = &'a Value>,
    ) -> std::result::Result<(), codec::CodecError> {
        let typed = |n: u8| (key.0, key.1, key.2, key.3 + n);
        let name = || format!("{group} {what}");
        let mut tags = Vec::new();
        let mut ints = Vec::new();
        let mut floats = Vec::new();
        let mut texts = Vec::new();
        let mut bools = Vec::new();
        let mut bytes = Vec::new();
        let mut stamps = Vec::new();
        for v in values {
            tags.push(value_tag(v));
            match v {
                Value::Null => {}
                Value::I64(x) => ints.push(*x),
                Value::F64(x) => floats.push(*x),
                Value::Text(s) => texts.push(s.clone()),
                Value::Bool(b) => bools.push(*b),
                Value::Bytes(b) => bytes.push(b.clone()),
                Value::Timestamp(x) => stamps.push(*x),
            }
        }
        self.column(
            key,
            || format!("{group} {what} types"),
            ColumnKind::Int,
            Values::Int(tags),
        )?;
        if !ints.is_empty() {
            let k = typed(1);
            self.column(k, name, ColumnKind::Int, Values::Int(ints))?;
        }
        if !floats.is_empty() {
            let k = typed(2);
            self.column(k, name, ColumnKind::Float, Values::Float(floats))?;
        }
        if !texts.is_empty() {
            let k = typed(3);
            self.column(k, name, ColumnKind::Text, Values::Text(texts))?;
        }
        if !bools.is_empty() {
            let k = typed(4);
            self.column(k, name, ColumnKind::Bool, Values::Bool(bools))?;
        }
        if !bytes.is_empty() {
            let k = typed(5);
            self.column(k, name, ColumnKind::Bytes, Values::Bytes(bytes))?;
        }
        if !stamps.is_empty() {
            self.column(typed(6), name, ColumnKind::Timestamp, Values::Int(stamps))?;
        }
        Ok(())
    }
}

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

/// `0` for null, else the value's [`ColumnType`] tag.
fn value_tag(v: &Value) -> i64 {
    match v {
        Value::Null => 0,
        Value::I64(_) => i64::from(ColumnType::I64.tag()),
        Value::F64(_) => i64::from(ColumnType::F64.tag()),
        Value::Text(_) => i64::from(ColumnType::Text.tag()),
        Value::Bool(_) => i64::from(ColumnType::Bool.tag()),
        Value::Bytes(_) => i64::from(ColumnType::Bytes.tag()),
        Value::Timestamp(_) => i64::from(ColumnType::Timestamp.tag()),
    }
}

/// Whether the batch is strictly increasing by `(origin, seq)`.
fn is_sorted(changes: &[Change]) -> bool {
    changes
        .windows(2)
        .all(|w| (w[0].origin, w[0].seq) < (w[1].origin, w[1].seq))
}

fn encode_columnar(
    changes: &[Change],
    effort: Effort,
    stats: bool,
) -> std::result::Result<(Vec<u8>, Vec<ColumnStat>), codec::CodecError> {
    encode_columnar_with(changes, effort, stats, false, None)
}

fn encode_columnar_with(
    changes: &[Change],
    effort: Effort,
    stats: bool,
    int_deltas: bool,
    cache: Option<&mut CascadeCache<StreamKey>>,
) -> std::result::Result<(Vec<u8>, Vec<ColumnStat>), codec::CodecError> {
    let sorted = is_sorted(changes);
    let mut e = Encoder {
        out: Vec::with_capacity(64 + changes.len() * 2),
        effort,
        stats: stats.then(Vec::new),
        int_deltas,
        cache,
    };
    e.put(changes.len() as u64);
    e.out.push(if sorted { FLAG_SORTED } else { 0 });

    // Replica dictionary.
    let mut replicas: Vec<u64> = changes.iter().map(|c| c.origin.as_u64()).collect();
    replicas.sort_unstable();
    replicas.dedup();
    e.put(replicas.len() as u64);
    for r in &replicas {
        e.put(*r);
    }

    // Groups, and the changes in grouped order (stable within a group).
    let mut groups: BTreeMap<GroupKey, Vec<usize>> = BTreeMap::new();
    let mut keys = Vec::with_capacity(changes.len());
    for (i, c) in changes.iter().enumerate() {
        let k = group_key(c, i.checked_sub(1).map(|p| &changes[p]));
        groups.entry(k).or_default().push(i);
        keys.push(k);
    }
    let group_no: BTreeMap<GroupKey, usize> =
        groups.keys().enumerate().map(|(g, k)| (*k, g)).collect();
    e.put(groups.len() as u64);
    for ((table, kind, column), members) in &groups {
        e.put(u64::from(*table));
        e.out.push(*kind);
        e.put(u64::from(*column));
        e.put(members.len() as u64);
    }
    for (&(table, kind, column), members) in &groups {
        let key = |role: u8| (table, kind, column, role);
        // Names only for the stats.
        let name = if e.stats.is_some() {
            format!("t{table}.k{kind}.c{column}")
        } else {
            String::new()
        };
        let group: Vec<&Change> = members.iter().map(|&i| &changes[i]).collect();
        let origin: Vec<i64> = group
            .iter()
            .map(|c| {
                replicas
                    .binary_search(&c.origin.as_u64())
                    .expect("every origin is in the dictionary") as i64
            })
            .collect();
        e.column(
            key(ROLE_ORIGIN),
            || format!("{name} origin"),
            ColumnKind::Int,
            Values::Int(origin),
        )?;
        let seq: Vec<i64> = group.iter().map(|c| c.seq as i64).collect();
        e.column(
            key(ROLE_SEQ),
            || format!("{name} seq"),
            ColumnKind::Int,
            Values::Int(seq),
        )?;
        let ts: Vec<i64> = group
            .iter()
            .map(|c| c.ts.as_u64().wrapping_sub(c.seq) as i64)
            .collect();
        e.column(
            key(ROLE_TS),
            || format!("{name} ts"),
            ColumnKind::Int,
            Values::Int(ts),
        )?;
        let cl: Vec<i64> = group.iter().map(|c| c.cl as i64).collect();
        e.column(
            key(ROLE_CL),
            || format!("{name} cl"),
            ColumnKind::Int,
            Values::Int(cl),
        )?;
        e.values(key(ROLE_KEY), (&name, "key"), group.iter().map(|c| &c.key))?;
        match kind & !FOLLOWER {
            KIND_SET => {
                let vals = group.iter().map(|c| match &c.op {
                    ChangeOp::Set { value, .. } => value,
                    _ => unreachable!("set group holds set changes"),
                });
                e.values(key(ROLE_VALUE), (&name, "value"), vals)?;
            }
            KIND_COUNT => {
                let (inc, dec): (Vec<i64>, Vec<i64>) = group
                    .iter()
                    .map(|c| match &c.op {
                        ChangeOp::Count { inc, dec, .. } => (*inc as i64, *dec as i64),
                        _ => unreachable!("count group holds count changes"),
                    })
                    .unzip();
                e.column(
                    key(ROLE_INC),
                    || format!("{name} inc"),
                    ColumnKind::Int,
                    Values::Int(inc),
                )?;
                e.column(
                    key(ROLE_DEC),
                    || format!("{name} dec"),
                    ColumnKind::Int,
                    Values::Int(dec),
                )?;
            }
            _ => {}
        }
    }
    if !sorted {
        let gids: Vec<i64> = keys.iter().map(|k| group_no[k] as i64).collect();
        e.column(
            (u32::MAX, 0, 0, ROLE_ORDER),
            || "order".into(),
            ColumnKind::Int,
            Values::Int(gids),
        )?;
    }
    let stats = e.stats.take().unwrap_or_default();
    Ok((e.out, stats))
}

/// Length of [`encode_rows`]' output, computed without encoding.
fn rows_len(changes: &[Change]) -> usize {
    varint_len(changes.len() as u64)
        + 1
        + changes.iter().map(wire::encoded_change_len).sum::<usize>()
}

fn encode_rows(changes: &[Change]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows_len(changes));
    varint::encode_u64(changes.len() as u64, &mut out);
    out.push(if is_sorted(changes) { FLAG_SORTED } else { 0 } | FLAG_ROWS);
    for c in changes {
        wire::put_change(&mut out, c);
    }
    out
}

/// Least body length (before padding) that lets a decoder accept `n` changes.
fn min_len(n: usize) -> usize {
    n.saturating_sub(BLOCK_VALUES)
        .div_ceil(MAX_CHANGES_PER_BYTE)
}

/// Decoded bytes charged per change of a batch besides its columns: the
/// change in the grouped order and in the batch order, its key and its
/// operation while they are assembled.
pub const CHANGE_COST: usize = 2 * std::mem::size_of::<Change>()
    + std::mem::size_of::<Value>()
    + std::mem::size_of::<ChangeOp>();

/// Bytes `v` takes in a value column at most, before a codec's
/// intermediate streams: its type tag, a slot and its content.
fn value_raw(v: &Value) -> usize {
    9 + match v {
        Value::Text(s) => codec::io::value_bytes(codec::DataKind::Text) + s.len(),
        Value::Bytes(b) => codec::io::value_bytes(codec::DataKind::Bytes) + b.len(),
        _ => 8,
    }
}

/// An upper bound of what decoding a batch of `changes` charges: per
/// change [`CHANGE_COST`], and its columns (four integers, the key, the
/// value or counts, the order) at most [`codec::COST_MARGIN`] times their
/// size.
fn cost_bound(changes: &[Change]) -> usize {
    changes
        .iter()
        .map(|c| {
            let op = match &c.op {
                ChangeOp::Set { value, .. } => value_raw(value),
                _ => 18,
            };
            CHANGE_COST + codec::COST_MARGIN * (5 * 9 + value_raw(&c.key) + op)
        })
        .fold(0usize, usize::saturating_add)
}

/// Closes a batch body with its padding: enough that a decoder accepts
/// its change count ([`MAX_CHANGES_PER_BYTE`]) and that decoding it stays
/// within the decode [`Budget`](codec::Budget) of its length (measured by
/// decoding it when the cheap bound does not show that already).
fn finish(body: Vec<u8>, changes: &[Change]) -> Vec<u8> {
    let n = changes.len();
    let pad_to = |mut body: Vec<u8>, need: usize| {
        // The padding's length varint takes at least one byte.
        let mut pad = need.saturating_sub(body.len() + 1);
        while body.len() + varint_len(pad as u64) + pad < need {
            pad += 1;
        }
        varint::encode_u64(pad as u64, &mut body);
        body.resize(body.len() + pad, 0);
        body
    };
    let body_len = body.len();
    let out = pad_to(body, min_len(n));
    if cost_bound(changes) <= codec::Budget::limit_for(out.len()) {
        return out;
    }
    let mut budget = codec::Budget::unlimited();
    let cost = match decode_changes_in(&out, 0, &mut budget) {
        Ok(_) => budget.used(),
        // Unreachable for the built-in codecs; the decoder reports it.
        Err(_) => return out,
    };
    let need = codec::Budget::input_for(cost).max(min_len(n));
    if out.len() >= need {
        return out;
    }
    let mut body = out;
    body.truncate(body_len);
    pad_to(body, need)
}

fn varint_len(v: u64) -> usize {
    varint::encoded_len_u64(v)
}

/// Encodes a batch column by column (or in the per-change form when that is
/// smaller, as for one or two changes). The result holds the batch alone,
/// without framing or checksum (the wire message and snapshots add those).
pub fn encode_changes(changes: &[Change], effort: Effort) -> Vec<u8> {
    encode_changes_with(changes, effort, None)
}

fn encode_changes_with(
    changes: &[Change],
    effort: Effort,
    cache: Option<&mut CascadeCache<StreamKey>>,
) -> Vec<u8> {
    encode_batch(changes, effort, cache, None)
}

/// The batch in the smaller form; `memory` (a [`BatchEncoder`]'s) skips
/// the columnar form where it recently lost, and learns from the outcome.
fn encode_batch(
    changes: &[Change],
    effort: Effort,
    cache: Option<&mut CascadeCache<StreamKey>>,
    memory: Option<&mut FormMemory>,
) -> Vec<u8> {
    if changes.len() <= SMALL_BATCH {
        return finish(encode_rows(changes), changes);
    }
    let bucket = FormMemory::bucket(changes.len());
    if let Some(m) = &memory {
        if m.skip[bucket] > 0 {
            let m = memory.expect("checked above");
            m.skip[bucket] -= 1;
            m.stats.skipped += 1;
            return finish(encode_rows(changes), changes);
        }
    }
    // The per-change form is only written when it wins: its length is
    // computed without encoding it.
    let (out, won) = match encode_columnar_with(changes, effort, false, false, cache) {
        Ok((cols, _)) if cols.len() < rows_len(changes) => (finish(cols, changes), true),
        // A misbehaving user codec: the per-change form is always available.
        _ => (finish(encode_rows(changes), changes), false),
    };
    if let Some(m) = memory {
        if won {
            m.stats.columnar += 1;
        } else {
            m.stats.per_change += 1;
            m.skip[bucket] = FORM_SKIPS;
        }
    }
    out
}

/// Batches of a size class sent in the per-change form without trying
/// the columnar one after the columnar form lost there.
const FORM_SKIPS: u32 = 8;

/// Which form recently won, per batch size class (`log2` of the change
/// count): small batches of many groups lose in the columnar form, whose
/// column headers then cost more than its columns save.
#[derive(Debug, Default)]
struct FormMemory {
    /// Per size class, batches left to send per-change without trying.
    skip: [u32; 32],
    stats: BatchStats,
}

impl FormMemory {
    fn bucket(n: usize) -> usize {
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

/// Encodes the change batches of one sender, as [`encode_changes`] does
/// (the same format, any decoder reads it), remembering per column stream
/// (table, op kind, column and what the column holds) the codec cascade
/// last chosen and reusing it while it stays good, so that a batch costs
/// a few encodings per column instead of a search (see
/// [`CascadeCache`]). A sync session keeps one for its peer.
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
    /// both forms every time, as [`encode_changes`].
    pub fn uncached() -> Self {
        BatchEncoder {
            cache: None,
            forms: None,
        }
    }

    /// Encodes one batch (see [`encode_changes`]). After the columnar
    /// form lost to the per-change form, the next few batches of about the
    /// same size (up to twice or half as many changes) are sent per-change
    /// without trying it.
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

/// The encoded size of each column of `changes` in the columnar form, in
/// layout order (the header with the replica dictionary and the groups is
/// the first entry).
///
/// # Errors
/// Only from a misbehaving user codec ([`SyncError::Decode`] naming it).
pub fn column_sizes(changes: &[Change], effort: Effort) -> Result<Vec<ColumnStat>> {
    let (body, mut stats) =
        encode_columnar(changes, effort, true).map_err(|e| SyncError::Decode {
            offset: 0,
            reason: format!("encoding a column failed: {e}"),
        })?;
    let cols: usize = stats.iter().map(|s| s.bytes).sum();
    stats.insert(
        0,
        ColumnStat {
            name: "header".into(),
            bytes: body.len() - cols,
            codecs: String::new(),
        },
    );
    Ok(stats)
}

/// A batch being decoded: its bytes, with offsets relative to the message,
/// and its decode budget, shared by its columns.
struct Batch<'a, 'b> {
    bytes: Reader<'a>,
    /// The batch's offset in the message.
    base: usize,
    budget: &'b mut codec::Budget,
}

/// `res` with `name` (the batch part being read) before its reason.
fn named<T>(name: &str, res: std::result::Result<T, ReadError>) -> Result<T> {
    res.map_err(|e| SyncError::Decode {
        offset: e.offset,
        reason: format!("{name} {}: {}", e.what, e.kind),
    })
}

impl<'a> Batch<'a, '_> {
    /// A decode error at byte `at` of the message.
    fn err_at(&self, at: usize, reason: String) -> SyncError {
        SyncError::Decode { offset: at, reason }
    }

    /// Charges `bytes` to the budget before they are allocated.
    fn charge(&mut self, at: usize, what: &str, bytes: usize) -> Result<()> {
        self.budget
            .charge(bytes)
            .map_err(|e| self.err_at(at, format!("{what}: {e}")))
    }

    /// One encoded column of `rows` values of `kind`; the header is checked
    /// before anything is decoded.
    fn column(&mut self, what: &str, kind: ColumnKind, rows: usize) -> Result<Values> {
        let transform = if kind.data() == codec::DataKind::Int {
            let at = self.bytes.offset();
            match self.bytes.u8("integer transform")? {
                INT_CONST => {
                    let v = self.bytes.zigzag("constant")?;
                    self.charge(at, what, rows.saturating_mul(8))?;
                    return Ok(Values::Int(vec![v; rows]));
                }
                t @ (INT_PLAIN | INT_DELTA) => t,
                t => return Err(self.err_at(at, format!("{what}: unknown integer transform {t}"))),
            }
        } else {
            INT_PLAIN
        };
        let len = named(
            what,
            self.bytes.count("column length", self.bytes.remaining()),
        )?;
        let at = self.bytes.offset();
        let bytes = named(what, self.bytes.take(len, "column"))?;
        let kind_tag = ColumnKind::ALL
            .iter()
            .position(|k| *k == kind)
            .expect("every kind is listed") as u8;
        if bytes.len() < 5 || &bytes[..2] != b"UC" || bytes[3] != kind_tag {
            return Err(self.err_at(at, format!("{what} column: not an encoded {kind} column")));
        }
        match varint::decode_u64(&bytes[4..]) {
            Ok((n, _)) if n == rows as u64 => {}
            Ok((n, _)) => {
                return Err(self.err_at(
                    at,
                    format!("{what} column holds {n} rows, the batch header says {rows}"),
                ))
            }
            Err(e) => return Err(self.err_at(at + 4, format!("{what} column rows: {e}"))),
        }
        let col = codec::decode_column_with_budget(bytes, self.budget)
            .map_err(|e| self.err_at(at, format!("{what} column: {e}")))?;
        if col.kind() != kind || col.rows() != rows || col.validity().is_some() {
            return Err(self.err_at(
                at,
                format!("{what} column: expected {rows} {kind} values without nulls"),
            ));
        }
        let mut values = col.values().clone();
        if let (INT_DELTA, Values::Int(v)) = (transform, &mut values) {
            undo_zigzag_deltas(v);
        }
        Ok(values)
    }

    fn ints(&mut self, what: &str, rows: usize) -> Result<Vec<i64>> {
        match self.column(what, ColumnKind::Int, rows)? {
            Values::Int(v) => Ok(v),
            _ => unreachable!("checked kind"),
        }
    }

    /// A value sequence of `rows` values.
    fn values(&mut self, what: &str, rows: usize) -> Result<Vec<Value>> {
        let at = self.bytes.offset();
        let tags = self.ints(&format!("{what} types"), rows)?;
        let mut counts = [0usize; 7];
        for (i, t) in tags.iter().enumerate() {
            match usize::try_from(*t).ok().filter(|t| *t < 7) {
                Some(t) => counts[t] += 1,
                None => {
                    return Err(
                        self.err_at(at, format!("{what} value {i} has unknown type tag {t}"))
                    )
                }
            }
        }
        let mut ints = Vec::new().into_iter();
        let mut floats = Vec::new().into_iter();
        let mut texts = Vec::new().into_iter();
        let mut bools = Vec::new().into_iter();
        let mut bytes = Vec::new().into_iter();
        let mut stamps = Vec::new().into_iter();
        for (tag, &n) in counts.iter().enumerate().skip(1) {
            if n == 0 {
                continue;
            }
            let ty = ColumnType::from_tag(tag as u8).expect("tags 1..=6 are types");
            let kind = match ty {
                ColumnType::I64 => ColumnKind::Int,
                ColumnType::F64 => ColumnKind::Float,
                ColumnType::Text => ColumnKind::Text,
                ColumnType::Bool => ColumnKind::Bool,
                ColumnType::Bytes => ColumnKind::Bytes,
                ColumnType::Timestamp => ColumnKind::Timestamp,
            };
            match (ty, self.column(what, kind, n)?) {
                (ColumnType::I64, Values::Int(v)) => ints = v.into_iter(),
                (ColumnType::Timestamp, Values::Int(v)) => stamps = v.into_iter(),
                (_, Values::Float(v)) => floats = v.into_iter(),
                (_, Values::Text(v)) => texts = v.into_iter(),
                (_, Values::Bool(v)) => bools = v.into_iter(),
                (_, Values::Bytes(v)) => bytes = v.into_iter(),
                _ => unreachable!("checked kind"),
            }
        }
        let next = "counted above";
        Ok(tags
            .iter()
            .map(|t| match t {
                1 => Value::I64(ints.next().expect(next)),
                2 => Value::F64(floats.next().expect(next)),
                3 => Value::Text(texts.next().expect(next)),
                4 => Value::Bool(bools.next().expect(next)),
                5 => Value::Bytes(bytes.next().expect(next)),
                6 => Value::Timestamp(stamps.next().expect(next)),
                _ => Value::Null,
            })
            .collect())
    }
}

struct Group {
    table: u32,
    kind: u8,
    column: u32,
    count: usize,
}

/// Decodes a batch written by [`encode_changes`].
///
/// # Errors
/// [`SyncError::Decode`] with the byte offset and what is wrong.
pub fn decode_changes(bytes: &[u8]) -> Result<Vec<Change>> {
    decode_changes_at(bytes, 0)
}

/// [`decode_changes`] reporting offsets plus `base` (the batch's position in
/// a message).
pub(crate) fn decode_changes_at(bytes: &[u8], base: usize) -> Result<Vec<Change>> {
    decode_changes_in(bytes, base, &mut codec::Budget::for_input(bytes.len()))
}

/// [`decode_changes_at`] charging `budget`.
fn decode_changes_in(bytes: &[u8], base: usize, budget: &mut codec::Budget) -> Result<Vec<Change>> {
    let mut r = Batch {
        bytes: Reader::with_base(bytes, base),
        base,
        budget,
    };
    let max = BLOCK_VALUES.saturating_add(bytes.len().saturating_mul(MAX_CHANGES_PER_BYTE));
    let n = r.bytes.count("change count", max)?;
    // Every change is paid for before any is decoded.
    r.charge(base, "change count", n.saturating_mul(CHANGE_COST))?;
    let at = r.bytes.offset();
    let flags = r.bytes.u8("flags")?;
    if flags > (FLAG_SORTED | FLAG_ROWS) {
        return Err(r.err_at(at, format!("unknown batch flags {flags:#04x}")));
    }
    let sorted = flags & FLAG_SORTED != 0;
    let changes = if flags & FLAG_ROWS != 0 {
        let (changes, used) = wire::read_changes(r.bytes.rest(), n, r.bytes.offset())?;
        r.bytes.advance(used, "changes")?;
        if sorted != is_sorted(&changes) {
            return Err(r.err_at(at, "sorted flag does not match the changes".into()));
        }
        changes
    } else {
        decode_columnar(&mut r, n, sorted)?
    };
    let at = r.bytes.offset();
    let pad = r.bytes.count("padding", r.bytes.remaining())?;
    if r.bytes.take(pad, "padding")?.iter().any(|&b| b != 0) {
        return Err(r.err_at(at, "non-zero padding".into()));
    }
    r.bytes.finish("batch")?;
    Ok(changes)
}

fn decode_columnar(r: &mut Batch<'_, '_>, n: usize, sorted: bool) -> Result<Vec<Change>> {
    // Every replica id and group takes at least one byte.
    let nr = r.bytes.count("replica count", r.bytes.remaining().min(n))?;
    let mut replicas = Vec::with_capacity(nr);
    for _ in 0..nr {
        let at = r.bytes.offset();
        let id = r.bytes.varint("replica id")?;
        if replicas.last().is_some_and(|&l| id <= l) {
            return Err(r.err_at(at, "replica ids not strictly increasing".into()));
        }
        replicas.push(id);
    }
    let ng = r
        .bytes
        .count("group count", (r.bytes.remaining() / 4).min(n))?;
    let mut groups: Vec<Group> = Vec::with_capacity(ng);
    let mut total = 0usize;
    for _ in 0..ng {
        let at = r.bytes.offset();
        let table = r.bytes.varint_u32("table id")?;
        let kat = r.bytes.offset();
        let kind = r.bytes.u8("op kind")?;
        if kind & !FOLLOWER > KIND_COUNT {
            return Err(r.err_at(kat, format!("unknown op kind {kind}")));
        }
        let column = r.bytes.varint_u32("column id")?;
        if kind & !FOLLOWER == KIND_ROW && column != 0 {
            return Err(r.err_at(kat, "row group with a column id".into()));
        }
        let count = r.bytes.count("group size", n - total)?;
        if count == 0 {
            return Err(r.err_at(at, "empty group".into()));
        }
        if groups
            .last()
            .is_some_and(|g| (g.table, g.kind, g.column) >= (table, kind, column))
        {
            return Err(r.err_at(at, "groups not strictly increasing".into()));
        }
        total += count;
        groups.push(Group {
            table,
            kind,
            column,
            count,
        });
    }
    if total != n {
        return Err(r.err_at(
            r.bytes.offset(),
            format!("groups hold {total} changes, batch has {n}"),
        ));
    }
    if (n == 0) != (nr == 0) {
        return Err(r.err_at(r.base, format!("{nr} replicas for {n} changes")));
    }
    // The changes in grouped order.
    let mut grouped: Vec<Option<Change>> = Vec::with_capacity(n);
    for g in &groups {
        let name = format!("t{}.k{}.c{}", g.table, g.kind, g.column);
        let at = r.bytes.offset();
        let origin = r.ints(&format!("{name} origin"), g.count)?;
        let seq = r.ints(&format!("{name} seq"), g.count)?;
        let ts = r.ints(&format!("{name} ts"), g.count)?;
        let cl = r.ints(&format!("{name} cl"), g.count)?;
        let keys = r.values(&format!("{name} key"), g.count)?;
        let ops: Vec<ChangeOp> = match g.kind & !FOLLOWER {
            KIND_ROW => vec![ChangeOp::Row; g.count],
            KIND_SET => r
                .values(&format!("{name} value"), g.count)?
                .into_iter()
                .map(|value| ChangeOp::Set {
                    column: g.column,
                    value,
                })
                .collect(),
            _ => {
                let inc = r.ints(&format!("{name} inc"), g.count)?;
                let dec = r.ints(&format!("{name} dec"), g.count)?;
                inc.into_iter()
                    .zip(dec)
                    .map(|(i, d)| ChangeOp::Count {
                        column: g.column,
                        inc: i as u64,
                        dec: d as u64,
                    })
                    .collect()
            }
        };
        for (p, (key, op)) in keys.into_iter().zip(ops).enumerate() {
            let Some(o) = usize::try_from(origin[p]).ok().filter(|&o| o < nr) else {
                return Err(r.err_at(
                    at,
                    format!(
                        "{name}: origin index {} of change {p} outside the {nr} replicas",
                        origin[p]
                    ),
                ));
            };
            let s = seq[p] as u64;
            grouped.push(Some(Change {
                origin: ReplicaId::from_u64(replicas[o]),
                seq: s,
                ts: HlcTimestamp::from_u64((ts[p] as u64).wrapping_add(s)),
                table: g.table,
                key,
                cl: cl[p] as u64,
                op,
            }));
        }
    }
    // Group starts in grouped order.
    let mut starts = Vec::with_capacity(groups.len());
    let mut acc = 0;
    for g in &groups {
        starts.push(acc);
        acc += g.count;
    }
    let mut out = Vec::with_capacity(n);
    let at = r.bytes.offset();
    if sorted {
        // k-way merge of the groups by (origin, seq).
        let mut next = starts.clone();
        let key = |c: &Option<Change>| {
            let c = c.as_ref().expect("taken once");
            (c.origin, c.seq)
        };
        let mut heap: BinaryHeap<Reverse<((ReplicaId, u64), usize)>> = groups
            .iter()
            .enumerate()
            .map(|(g, _)| Reverse((key(&grouped[starts[g]]), g)))
            .collect();
        while let Some(Reverse((_, g))) = heap.pop() {
            let i = next[g];
            let c = grouped[i].take().expect("taken once");
            next[g] += 1;
            if next[g] < starts[g] + groups[g].count {
                heap.push(Reverse((key(&grouped[next[g]]), g)));
            }
            if out
                .last()
                .is_some_and(|l: &Change| (l.origin, l.seq) >= (c.origin, c.seq))
            {
                return Err(r.err_at(
                    at,
                    format!(
                        "batch marked sorted but change ({}, {}) is out of order",
                        c.origin, c.seq
                    ),
                ));
            }
            out.push(c);
        }
    } else {
        let oat = r.bytes.offset();
        let gids = r.ints("order", n)?;
        let ends: Vec<usize> = starts
            .iter()
            .zip(&groups)
            .map(|(s, g)| s + g.count)
            .collect();
        let mut next = starts;
        for (i, gid) in gids.into_iter().enumerate() {
            let g = usize::try_from(gid)
                .ok()
                .filter(|&g| g < groups.len())
                .ok_or_else(|| {
                    r.err_at(
                        oat,
                        format!("change {i} names group {gid} of {}", groups.len()),
                    )
                })?;
            if next[g] >= ends[g] {
                return Err(r.err_at(
                    oat,
                    format!("group {g} named more than {} times", groups[g].count),
                ));
            }
            out.push(grouped[next[g]].take().expect("taken once"));
            next[g] += 1;
        }
        if is_sorted(&out) {
            return Err(r.err_at(oat, "sorted batch not marked sorted".into()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod batch_tests;
#[cfg(test)]
pub(crate) mod tests;
