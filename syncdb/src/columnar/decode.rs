//! The decoder: a batch's header, groups and columns checked against
//! each other and charged to its decode budget before anything is
//! allocated, then the changes in batch order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use unidb_codec::{self as codec, ColumnKind, Values, BLOCK_VALUES};
use unidb_common::bytes::{ReadError, Reader};
use unidb_common::id::ReplicaId;
use unidb_common::time::HlcTimestamp;
use unidb_kernels::varint;
use unidb_registry::RegistryError;

use crate::change::{Change, ChangeOp};
use crate::error::{Result, SyncError};
use crate::wire;
use unidb_common::value::{ColumnType, Value};

use super::{
    is_sorted, undo_zigzag_deltas, CHANGE_COST, FLAG_ROWS, FLAG_SORTED, FOLLOWER, INT_CONST,
    INT_DELTA, INT_PLAIN, KIND_COUNT, KIND_ROW, KIND_SET, MAX_CHANGES_PER_BYTE,
};

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
        let col = codec::decode_column_with_budget(bytes, self.budget).map_err(|e| match e {
            codec::CodecError::UnknownCodec {
                offset,
                source: RegistryError::Unknown { name, known, .. },
            } => SyncError::MissingCodec {
                what: "sync message",
                codec: name,
                offset: at + offset,
                known: known.into_iter().map(str::to_owned).collect(),
            },
            e => self.err_at(at, format!("{what} column: {e}")),
        })?;
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

/// Decodes a batch written by [`encode_changes`](super::encode_changes).
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
pub(super) fn decode_changes_in(
    bytes: &[u8],
    base: usize,
    budget: &mut codec::Budget,
) -> Result<Vec<Change>> {
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
