//! The encoder: a batch grouped into typed columns, each compressed with
//! the codecs' selection, or in the per-change form when that is smaller.

use std::collections::{BTreeMap, BTreeSet};

use unidb_codec::{self as codec, CascadeCache, Column, ColumnKind, Effort, Values};
use unidb_kernels::varint;

use crate::change::{Change, ChangeOp};
use crate::error::{Result, SyncError};
use crate::wire;
use unidb_common::value::{ColumnType, Value};

use super::batch::{FormMemory, FORM_SKIPS};
use super::pad::{finish, varint_len};
use super::{
    is_sorted, zigzag_deltas, FLAG_ROWS, FLAG_SORTED, FOLLOWER, INT_CONST, INT_DELTA, INT_PLAIN,
    KIND_COUNT, KIND_ROW, KIND_SET,
};

/// Batches of at most this many changes are sent in the per-change form
/// without trying the columnar one (whose column headers cost more there).
const SMALL_BATCH: usize = 32;

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

/// What a column of a batch holds, for
/// [`BatchEncoder`](super::BatchEncoder)'s cache: the group `(table, kind,
/// column)` and the role in it (one of the `ROLE_` constants, plus the
/// value type's offset for key and value columns).
pub(super) type StreamKey = (u32, u8, u32, u8);

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
    /// Remembered cascades per column stream (a
    /// [`BatchEncoder`](super::BatchEncoder)'s).
    cache: Option<&'c mut CascadeCache<StreamKey>>,
    /// Collects the codecs the columns name, when given (what a reader
    /// needs; snapshots record it).
    used: Option<&'c mut BTreeSet<&'static str>>,
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
            Some(cache) if !describe && self.used.is_none() => {
                return Ok((cache.encode_bytes(key, col, self.effort)?, String::new()))
            }
            Some(cache) => cache.encode_column(key, col, self.effort)?,
            None => codec::encode_column(col, self.effort)?,
        };
        if let Some(used) = &mut self.used {
            used.extend(enc.codecs.iter().copied());
        }
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

pub(super) fn encode_columnar(
    changes: &[Change],
    effort: Effort,
    stats: bool,
) -> std::result::Result<(Vec<u8>, Vec<ColumnStat>), codec::CodecError> {
    encode_columnar_with(changes, effort, stats, false, None, None)
}

pub(super) fn encode_columnar_with(
    changes: &[Change],
    effort: Effort,
    stats: bool,
    int_deltas: bool,
    cache: Option<&mut CascadeCache<StreamKey>>,
    used: Option<&mut BTreeSet<&'static str>>,
) -> std::result::Result<(Vec<u8>, Vec<ColumnStat>), codec::CodecError> {
    let sorted = is_sorted(changes);
    let mut e = Encoder {
        out: Vec::with_capacity(64 + changes.len() * 2),
        effort,
        stats: stats.then(Vec::new),
        int_deltas,
        cache,
        used,
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

/// Encodes a batch column by column (or in the per-change form when that is
/// smaller, as for one or two changes). The result holds the batch alone,
/// without framing or checksum (the wire message and snapshots add those).
pub fn encode_changes(changes: &[Change], effort: Effort) -> Vec<u8> {
    encode_changes_with(changes, effort, None)
}

/// [`encode_changes`], and the codecs the encoding names (sorted; none
/// in the per-change form): what a reader needs to decode it.
pub(crate) fn encode_changes_listing(
    changes: &[Change],
    effort: Effort,
) -> (Vec<u8>, Vec<&'static str>) {
    if changes.len() > SMALL_BATCH {
        let mut used = BTreeSet::new();
        if let Ok((cols, _)) =
            encode_columnar_with(changes, effort, false, false, None, Some(&mut used))
        {
            if cols.len() < rows_len(changes) {
                return (finish(cols, changes), used.into_iter().collect());
            }
        }
    }
    (finish(encode_rows(changes), changes), Vec::new())
}

fn encode_changes_with(
    changes: &[Change],
    effort: Effort,
    cache: Option<&mut CascadeCache<StreamKey>>,
) -> Vec<u8> {
    encode_batch(changes, effort, cache, None)
}

/// The batch in the smaller form; `memory` (a
/// [`BatchEncoder`](super::BatchEncoder)'s) skips the columnar form where
/// it recently lost, and learns from the outcome.
pub(super) fn encode_batch(
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
    let (out, won) = match encode_columnar_with(changes, effort, false, false, cache, None) {
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
