//! Sync messages and their compact, versioned binary encoding.
//!
//! Every message starts with the magic bytes `b"US"`, the format version
//! ([`WIRE_VERSION`]) and a message tag. Integers are LEB128 varints
//! (`unidb_kernels::varint`; signed ones zigzag-encoded), floats are 8 bytes
//! little-endian, strings and byte strings are a varint length followed by
//! the bytes. A change batch ([`Message::Changes`]) carries its changes
//! column by column ([`columnar`]: every column compressed
//! with an automatically chosen codec) and ends with a CRC-32 of the whole
//! message. Decoding checks every length and count against the bytes that
//! remain before allocating, rejects trailing bytes, and reports the byte
//! offset of the first problem: hostile input is a [`SyncError::Decode`],
//! never a panic or a large allocation. Another format version (such as
//! version 1, which sent changes one by one) is refused.
//!
//! ```
//! use unidb_common::id::ReplicaId;
//! use unidb_syncdb::wire::Message;
//! use unidb_syncdb::VersionVector;
//!
//! let hello = Message::Hello {
//!     replica: ReplicaId::from_u64(7),
//!     schema_version: 3,
//!     known: [(ReplicaId::from_u64(7), 12)].into_iter().collect(),
//!     gc: VersionVector::new(),
//!     schema_digest: Some(0x1234),
//! };
//! let bytes = hello.encode();
//! assert_eq!(&bytes[..3], b"US\x02");
//! assert_eq!(Message::decode(&bytes).unwrap(), hello);
//! assert!(Message::decode(&bytes[..bytes.len() - 1]).is_err());
//! ```

use unidb_common::id::ReplicaId;
use unidb_common::time::HlcTimestamp;
use unidb_kernels::varint;

use crate::change::{Change, ChangeOp, VersionVector};
use crate::columnar;
use crate::db::Collected;
use crate::error::{Result, SyncError};
use crate::schema::{ColumnDef, Migration, TableDef};
use unidb_common::value::{ColumnType, Value};

mod batches;

pub use batches::{batches, batches_with};

/// Magic bytes opening every message.
pub const MAGIC: [u8; 2] = *b"US";
/// The encoding's format version.
pub const WIRE_VERSION: u8 = 2;

/// A sync protocol message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// Handshake (and resume): who I am, my schema version, what I hold.
    /// The receiver answers with the migrations and changes the sender lacks.
    Hello {
        /// The sender.
        replica: ReplicaId,
        /// The sender's schema version.
        schema_version: u32,
        /// The sender's version vector (its checkpoint).
        known: VersionVector,
        /// The sender's garbage-collection frontier.
        gc: VersionVector,
        /// The digest of the sender's schema history
        /// ([`Schema::digest`](crate::Schema::digest) at `schema_version`;
        /// after `gc`, a flag byte then 8 bytes when present): a receiver
        /// at that version or above refuses a peer whose history differs.
        schema_digest: Option<u64>,
    },
    /// Schema migrations: `migrations[i]` produces version `from_version + i + 1`.
    Migrations {
        /// The version the first migration applies to.
        from_version: u32,
        /// The migrations.
        migrations: Vec<Migration>,
    },
    /// A batch of changes written against `schema_version` or older.
    Changes {
        /// The sender.
        sender: ReplicaId,
        /// The sender's schema version.
        schema_version: u32,
        /// The changes.
        changes: Vec<Change>,
        /// Sequence numbers the sender garbage-collected (they count as held).
        collected: Vec<Collected>,
    },
    /// Acknowledgement after applying a batch: the receiver's new checkpoint.
    Ack {
        /// The acknowledging replica.
        replica: ReplicaId,
        /// Its version vector after applying.
        known: VersionVector,
        /// Its garbage-collection frontier.
        gc: VersionVector,
    },
}

const TAG_HELLO: u8 = 1;
const TAG_MIGRATIONS: u8 = 2;
const TAG_CHANGES: u8 = 3;
const TAG_ACK: u8 = 4;

/// Appends a varint.
fn put(out: &mut Vec<u8>, v: u64) {
    varint::encode_u64(v, out);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.push(0),
        Value::I64(x) => {
            out.push(ColumnType::I64.tag());
            put(out, varint::zigzag_encode_i64(*x));
        }
        Value::F64(x) => {
            out.push(ColumnType::F64.tag());
            out.extend_from_slice(&x.to_le_bytes());
        }
        Value::Text(s) => {
            out.push(ColumnType::Text.tag());
            put_bytes(out, s.as_bytes());
        }
        Value::Bool(b) => {
            out.push(ColumnType::Bool.tag());
            out.push(u8::from(*b));
        }
        Value::Bytes(b) => {
            out.push(ColumnType::Bytes.tag());
            put_bytes(out, b);
        }
        Value::Timestamp(x) => {
            out.push(ColumnType::Timestamp.tag());
            put(out, varint::zigzag_encode_i64(*x));
        }
    }
}

/// Appends a version vector.
pub(crate) fn put_vv(out: &mut Vec<u8>, vv: &VersionVector) {
    put(out, vv.len() as u64);
    for (r, s) in vv.iter() {
        put(out, r.as_u64());
        put(out, s);
    }
}

fn put_column(out: &mut Vec<u8>, c: &ColumnDef) {
    put_bytes(out, c.name.as_bytes());
    out.push(c.ty.tag());
    let flags =
        u8::from(c.nullable) | (u8::from(c.indexed) << 1) | (u8::from(c.default.is_some()) << 2);
    out.push(flags);
    if let Some(d) = &c.default {
        put_value(out, d);
    }
    put_bytes(out, c.resolver.as_bytes());
}

/// Appends a migration.
pub(crate) fn put_migration(out: &mut Vec<u8>, m: &Migration) {
    match m {
        Migration::AddTable(t) => {
            out.push(1);
            put_bytes(out, t.name.as_bytes());
            put_column(out, &t.primary_key);
            put(out, t.columns.len() as u64);
            for c in &t.columns {
                put_column(out, c);
            }
        }
        Migration::AddColumn { table, column } => {
            out.push(2);
            put_bytes(out, table.as_bytes());
            put_column(out, column);
        }
        Migration::DropColumn { table, column } => {
            out.push(3);
            put_bytes(out, table.as_bytes());
            put_bytes(out, column.as_bytes());
        }
        Migration::RenameColumn { table, from, to } => {
            out.push(4);
            put_bytes(out, table.as_bytes());
            put_bytes(out, from.as_bytes());
            put_bytes(out, to.as_bytes());
        }
    }
}

/// Appends the encoding of one change.
pub(crate) fn put_change(out: &mut Vec<u8>, c: &Change) {
    put(out, c.origin.as_u64());
    put(out, c.seq);
    put(out, c.ts.as_u64());
    put(out, u64::from(c.table));
    put_value(out, &c.key);
    put(out, c.cl);
    match &c.op {
        ChangeOp::Row => out.push(0),
        ChangeOp::Set { column, value } => {
            out.push(1);
            put(out, u64::from(*column));
            put_value(out, value);
        }
        ChangeOp::Count { column, inc, dec } => {
            out.push(2);
            put(out, u64::from(*column));
            put(out, *inc);
            put(out, *dec);
        }
    }
}

fn header(tag: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&MAGIC);
    out.push(WIRE_VERSION);
    out.push(tag);
    out
}

impl Message {
    /// The message's encoding (every change batch searched for its codecs).
    pub fn encode(&self) -> Vec<u8> {
        self.encode_with(&mut columnar::BatchEncoder::uncached())
    }

    /// The message's encoding, change batches encoded by `batch` (a
    /// session's encoder, which remembers the codecs of earlier batches).
    pub fn encode_with(&self, batch: &mut columnar::BatchEncoder) -> Vec<u8> {
        match self {
            Message::Hello {
                replica,
                schema_version,
                known,
                gc,
                schema_digest,
            } => {
                let mut out = header(TAG_HELLO);
                put(&mut out, replica.as_u64());
                put(&mut out, u64::from(*schema_version));
                put_vv(&mut out, known);
                put_vv(&mut out, gc);
                match schema_digest {
                    Some(d) => {
                        out.push(1);
                        out.extend_from_slice(&d.to_le_bytes());
                    }
                    None => out.push(0),
                }
                out
            }
            Message::Migrations {
                from_version,
                migrations,
            } => {
                let mut out = header(TAG_MIGRATIONS);
                put(&mut out, u64::from(*from_version));
                put(&mut out, migrations.len() as u64);
                for m in migrations {
                    put_migration(&mut out, m);
                }
                out
            }
            Message::Changes {
                sender,
                schema_version,
                changes,
                collected,
            } => encode_changes_message(*sender, *schema_version, changes, collected, batch),
            Message::Ack { replica, known, gc } => {
                let mut out = header(TAG_ACK);
                put(&mut out, replica.as_u64());
                put_vv(&mut out, known);
                put_vv(&mut out, gc);
                out
            }
        }
    }

    /// Decodes a message.
    ///
    /// # Errors
    /// [`SyncError::Decode`] with the byte offset and what is wrong: bad
    /// magic, unknown version or tag, truncated or over-long varints,
    /// lengths or counts larger than the remaining input, invalid UTF-8,
    /// unknown value or column type tags, values out of range, trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<Message> {
        let mut r = Reader { buf: bytes, pos: 0 };
        let magic = r.take(2)?.to_vec();
        if magic != MAGIC {
            return Err(r.err_at(0, format!("bad magic {magic:02x?}, expected {MAGIC:02x?}")));
        }
        let version = r.byte()?;
        if version != WIRE_VERSION {
            return Err(r.err_at(
                2,
                format!("unsupported format version {version}, this build reads {WIRE_VERSION}"),
            ));
        }
        let tag = r.byte()?;
        let msg = match tag {
            TAG_HELLO => Message::Hello {
                replica: ReplicaId::from_u64(r.u64()?),
                schema_version: r.u32()?,
                known: r.vv()?,
                gc: r.vv()?,
                schema_digest: match r.byte()? {
                    0 => None,
                    1 => Some(u64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes"))),
                    f => {
                        return Err(r.err_at(
                            r.pos - 1,
                            format!("schema digest flag {f}, expected 0 or 1"),
                        ))
                    }
                },
            },
            TAG_MIGRATIONS => {
                let from_version = r.u32()?;
                let n = r.count(3)?;
                let mut migrations = Vec::with_capacity(n);
                for _ in 0..n {
                    migrations.push(r.migration()?);
                }
                Message::Migrations {
                    from_version,
                    migrations,
                }
            }
            TAG_CHANGES => {
                // The CRC-32 of everything before it closes the message.
                if bytes.len() < 8 {
                    return Err(r.err_at(
                        bytes.len(),
                        format!("change batch of {} bytes is truncated", bytes.len()),
                    ));
                }
                let end = bytes.len() - 4;
                let stored = u32::from_le_bytes(bytes[end..].try_into().expect("4 bytes"));
                let actual = crc32fast::hash(&bytes[..end]);
                if stored != actual {
                    return Err(r.err_at(
                        end,
                        format!(
                            "checksum mismatch: stored {stored:#010x}, computed {actual:#010x}"
                        ),
                    ));
                }
                r.buf = &bytes[..end];
                let sender = ReplicaId::from_u64(r.u64()?);
                let schema_version = r.u32()?;
                let n = r.count(3)?;
                let mut collected = Vec::with_capacity(n);
                for _ in 0..n {
                    collected.push(Collected {
                        origin: ReplicaId::from_u64(r.u64()?),
                        first: r.u64()?,
                        last: r.u64()?,
                    });
                }
                let changes = columnar::decode_changes_at(&bytes[r.pos..end], r.pos)?;
                r.buf = bytes;
                r.pos = bytes.len();
                Message::Changes {
                    sender,
                    schema_version,
                    changes,
                    collected,
                }
            }
            TAG_ACK => Message::Ack {
                replica: ReplicaId::from_u64(r.u64()?),
                known: r.vv()?,
                gc: r.vv()?,
            },
            other => return Err(r.err_at(3, format!("unknown message tag {other}"))),
        };
        if r.pos != bytes.len() {
            return Err(r.err(format!("{} trailing bytes", bytes.len() - r.pos)));
        }
        Ok(msg)
    }
}

/// The encoding of a [`Message::Changes`] with these fields.
fn encode_changes_message(
    sender: ReplicaId,
    schema_version: u32,
    changes: &[Change],
    collected: &[Collected],
    batch: &mut columnar::BatchEncoder,
) -> Vec<u8> {
    let mut out = header(TAG_CHANGES);
    put(&mut out, sender.as_u64());
    put(&mut out, u64::from(schema_version));
    put(&mut out, collected.len() as u64);
    for c in collected {
        put(&mut out, c.origin.as_u64());
        put(&mut out, c.first);
        put(&mut out, c.last);
    }
    out.extend_from_slice(&batch.encode(changes, columnar::DEFAULT_EFFORT));
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Number of bytes one change takes in the per-change form (wire version 1,
/// and tiny batches).
pub fn encoded_change_len(change: &Change) -> usize {
    let n = varint::encoded_len_u64;
    let head = n(change.origin.as_u64())
        + n(change.seq)
        + n(change.ts.as_u64())
        + n(u64::from(change.table))
        + value_len(&change.key)
        + n(change.cl);
    head + match &change.op {
        ChangeOp::Row => 1,
        ChangeOp::Set { column, value } => 1 + n(u64::from(*column)) + value_len(value),
        ChangeOp::Count { column, inc, dec } => 1 + n(u64::from(*column)) + n(*inc) + n(*dec),
    }
}

/// Bytes [`put_value`] writes for `v`, computed without writing them.
fn value_len(v: &Value) -> usize {
    let n = varint::encoded_len_u64;
    match v {
        Value::Null => 1,
        Value::I64(x) | Value::Timestamp(x) => 1 + n(varint::zigzag_encode_i64(*x)),
        Value::F64(_) => 9,
        Value::Text(s) => 1 + n(s.len() as u64) + s.len(),
        Value::Bool(_) => 2,
        Value::Bytes(b) => 1 + n(b.len() as u64) + b.len(),
    }
}

/// Reads `n` changes in the per-change form from the start of `bytes`;
/// returns them and the bytes used. Offsets in errors are plus `base`.
pub(crate) fn read_changes(bytes: &[u8], n: usize, base: usize) -> Result<(Vec<Change>, usize)> {
    let mut r = Reader { buf: bytes, pos: 0 };
    // A change takes at least 7 bytes (six varints and an op tag).
    if n.checked_mul(7).is_none_or(|need| need > bytes.len()) {
        return Err(SyncError::Decode {
            offset: base,
            reason: format!(
                "count {n} of changes of at least 7 bytes exceeds the {} bytes remaining",
                bytes.len()
            ),
        });
    }
    let mut changes = Vec::with_capacity(n);
    for _ in 0..n {
        match r.change() {
            Ok(c) => changes.push(c),
            Err(SyncError::Decode { offset, reason }) => {
                return Err(SyncError::Decode {
                    offset: offset + base,
                    reason,
                })
            }
            Err(e) => return Err(e),
        }
    }
    Ok((changes, r.pos))
}

/// A cursor over encoded bytes; errors name the byte offset.
pub(crate) struct Reader<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) pos: usize,
}

impl Reader<'_> {
    pub(crate) fn err_at(&self, offset: usize, reason: String) -> SyncError {
        SyncError::Decode { offset, reason }
    }

    fn err(&self, reason: String) -> SyncError {
        self.err_at(self.pos, reason)
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&[u8]> {
        if n > self.remaining() {
            return Err(self.err(format!("needs {n} bytes, {} remain", self.remaining())));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        match varint::decode_u64(&self.buf[self.pos..]) {
            Ok((v, n)) => {
                self.pos += n;
                Ok(v)
            }
            Err(e) => Err(self.err(format!("bad varint: {e}"))),
        }
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        let at = self.pos;
        let v = self.u64()?;
        u32::try_from(v).map_err(|_| self.err_at(at, format!("{v} does not fit 32 bits")))
    }

    /// A count of items each taking at least `min_size` bytes, checked
    /// against the remaining input.
    pub(crate) fn count(&mut self, min_size: usize) -> Result<usize> {
        let at = self.pos;
        let n = self.u64()?;
        let fits = usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_mul(min_size))
            .is_some_and(|need| need <= self.remaining());
        if !fits {
            return Err(self.err_at(
                at,
                format!("count {n} of items of at least {min_size} bytes exceeds the {} bytes remaining", self.remaining()),
            ));
        }
        Ok(n as usize)
    }

    fn bytes(&mut self) -> Result<Vec<u8>> {
        let n = self.count(1)?;
        Ok(self.take(n)?.to_vec())
    }

    fn string(&mut self) -> Result<String> {
        let at = self.pos;
        let b = self.bytes()?;
        String::from_utf8(b).map_err(|e| self.err_at(at, format!("invalid UTF-8: {e}")))
    }

    fn value(&mut self) -> Result<Value> {
        let at = self.pos;
        let tag = self.byte()?;
        if tag == 0 {
            return Ok(Value::Null);
        }
        let ty = ColumnType::from_tag(tag)
            .ok_or_else(|| self.err_at(at, format!("unknown value tag {tag}")))?;
        Ok(match ty {
            ColumnType::I64 => Value::I64(varint::zigzag_decode_i64(self.u64()?)),
            ColumnType::Timestamp => Value::Timestamp(varint::zigzag_decode_i64(self.u64()?)),
            ColumnType::F64 => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Value::F64(f64::from_le_bytes(a))
            }
            ColumnType::Text => Value::Text(self.string()?),
            ColumnType::Bytes => Value::Bytes(self.bytes()?),
            ColumnType::Bool => match self.byte()? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => {
                    return Err(self.err_at(self.pos - 1, format!("bool byte {b}, expected 0 or 1")))
                }
            },
        })
    }

    pub(crate) fn vv(&mut self) -> Result<VersionVector> {
        let n = self.count(2)?;
        let mut vv = VersionVector::new();
        let mut last: Option<u64> = None;
        for _ in 0..n {
            let at = self.pos;
            let r = self.u64()?;
            if last.is_some_and(|l| r <= l) {
                return Err(
                    self.err_at(at, "version vector replicas not strictly increasing".into())
                );
            }
            last = Some(r);
            let at = self.pos;
            let s = self.u64()?;
            if s == 0 {
                return Err(self.err_at(at, "version vector entry with sequence 0".into()));
            }
            vv.set(ReplicaId::from_u64(r), s);
        }
        Ok(vv)
    }

    fn column(&mut self) -> Result<ColumnDef> {
        let name = self.string()?;
        let at = self.pos;
        let tag = self.byte()?;
        let ty = ColumnType::from_tag(tag)
            .ok_or_else(|| self.err_at(at, format!("unknown column type tag {tag}")))?;
        let at = self.pos;
        let flags = self.byte()?;
        if flags > 7 {
            return Err(self.err_at(at, format!("unknown column flags {flags:#04x}")));
        }
        let default = if flags & 4 != 0 {
            Some(self.value()?)
        } else {
            None
        };
        let resolver = self.string()?;
        Ok(ColumnDef {
            name,
            ty,
            nullable: flags & 1 != 0,
            default,
            resolver,
            indexed: flags & 2 != 0,
        })
    }

    pub(crate) fn migration(&mut self) -> Result<Migration> {
        let at = self.pos;
        Ok(match self.byte()? {
            1 => {
                let name = self.string()?;
                let primary_key = self.column()?;
                let n = self.count(4)?;
                let mut columns = Vec::with_capacity(n);
                for _ in 0..n {
                    columns.push(self.column()?);
                }
                Migration::AddTable(TableDef {
                    name,
                    primary_key,
                    columns,
                })
            }
            2 => Migration::AddColumn {
                table: self.string()?,
                column: self.column()?,
            },
            3 => Migration::DropColumn {
                table: self.string()?,
                column: self.string()?,
            },
            4 => Migration::RenameColumn {
                table: self.string()?,
                from: self.string()?,
                to: self.string()?,
            },
            t => return Err(self.err_at(at, format!("unknown migration tag {t}"))),
        })
    }

    fn change(&mut self) -> Result<Change> {
        let origin = ReplicaId::from_u64(self.u64()?);
        let seq = self.u64()?;
        let ts = HlcTimestamp::from_u64(self.u64()?);
        let table = self.u32()?;
        let key = self.value()?;
        let cl = self.u64()?;
        let at = self.pos;
        let op = match self.byte()? {
            0 => ChangeOp::Row,
            1 => ChangeOp::Set {
                column: self.u32()?,
                value: self.value()?,
            },
            2 => ChangeOp::Count {
                column: self.u32()?,
                inc: self.u64()?,
                dec: self.u64()?,
            },
            t => return Err(self.err_at(at, format!("unknown change op tag {t}"))),
        };
        Ok(Change {
            origin,
            seq,
            ts,
            table,
            key,
            cl,
            op,
        })
    }
}

#[cfg(test)]
mod tests;
