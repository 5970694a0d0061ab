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

use unidb_common::bytes::Reader;
use unidb_common::id::ReplicaId;
use unidb_common::time::HlcTimestamp;
use unidb_kernels::varint;

use crate::change::{Change, ChangeOp, VersionVector};
use crate::columnar;
use crate::db::Collected;
use crate::error::{Result, SyncError};
use crate::schema::{ColumnDef, Migration, TableDef};
use crate::value::{ColumnType, Value};

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
        let mut r = Reader::new(bytes);
        let magic = r.take(2, "magic")?;
        if magic != MAGIC {
            return Err(err_at(
                0,
                format!("bad magic {magic:02x?}, expected {MAGIC:02x?}"),
            ));
        }
        let version = r.u8("format version")?;
        if version != WIRE_VERSION {
            return Err(err_at(
                2,
                format!("unsupported format version {version}, this build reads {WIRE_VERSION}"),
            ));
        }
        let tag = r.u8("message tag")?;
        let msg = match tag {
            TAG_HELLO => Message::Hello {
                replica: ReplicaId::from_u64(r.varint("replica id")?),
                schema_version: r.varint_u32("schema version")?,
                known: r.vv()?,
                gc: r.vv()?,
                schema_digest: match r.u8("schema digest flag")? {
                    0 => None,
                    1 => Some(r.u64("schema digest")?),
                    f => {
                        return Err(err_at(
                            r.offset() - 1,
                            format!("schema digest flag {f}, expected 0 or 1"),
                        ))
                    }
                },
            },
            TAG_MIGRATIONS => {
                let from_version = r.varint_u32("first migration version")?;
                let n = r.count_items("migration count", 3)?;
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
                    return Err(err_at(
                        bytes.len(),
                        format!("change batch of {} bytes is truncated", bytes.len()),
                    ));
                }
                let end = bytes.len() - 4;
                let stored = u32::from_le_bytes(bytes[end..].try_into().expect("4 bytes"));
                let actual = crc32fast::hash(&bytes[..end]);
                if stored != actual {
                    return Err(err_at(
                        end,
                        format!(
                            "checksum mismatch: stored {stored:#010x}, computed {actual:#010x}"
                        ),
                    ));
                }
                let mut b = Reader::with_base(&bytes[r.offset()..end], r.offset());
                let sender = ReplicaId::from_u64(b.varint("sender")?);
                let schema_version = b.varint_u32("schema version")?;
                let n = b.count_items("collected range count", 3)?;
                let mut collected = Vec::with_capacity(n);
                for _ in 0..n {
                    collected.push(Collected {
                        origin: ReplicaId::from_u64(b.varint("collected origin")?),
                        first: b.varint("first collected seq")?,
                        last: b.varint("last collected seq")?,
                    });
                }
                let changes = columnar::decode_changes_at(b.rest(), b.offset())?;
                // The batch and the checksum are read.
                r.advance(r.remaining(), "change batch")?;
                Message::Changes {
                    sender,
                    schema_version,
                    changes,
                    collected,
                }
            }
            TAG_ACK => Message::Ack {
                replica: ReplicaId::from_u64(r.varint("replica id")?),
                known: r.vv()?,
                gc: r.vv()?,
            },
            other => return Err(err_at(3, format!("unknown message tag {other}"))),
        };
        r.finish("message")?;
        Ok(msg)
    }
}

/// Bytes of a change batch message besides its changes in the per-change
/// form: header, sender, schema version, collected count, change count,
/// flags, padding length and checksum, at their largest.
const BATCH_OVERHEAD: usize = 4 + 10 + 5 + 1 + 10 + 1 + 1 + 4;

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

/// Splits `changes` into [`Message::Changes`] batches whose encodings hold
/// at most `max_bytes` each (a single change larger than that goes alone).
///
/// The columnar encoding is not additive, so the split is searched: a first
/// guess from the per-change sizes, then growing or bisecting on the
/// encoded size, keeping the largest prefix found that fits.
pub fn batches(
    sender: ReplicaId,
    schema_version: u32,
    changes: Vec<Change>,
    max_bytes: usize,
) -> Vec<Message> {
    let enc = &mut columnar::BatchEncoder::uncached();
    split(enc, sender, schema_version, changes, max_bytes, false)
        .into_iter()
        .map(|(m, _)| m)
        .collect()
}

/// [`batches`] encoded with `enc`: each message with its encoding (the
/// last trial of the size search, not encoded again).
pub fn batches_with(
    enc: &mut columnar::BatchEncoder,
    sender: ReplicaId,
    schema_version: u32,
    changes: Vec<Change>,
    max_bytes: usize,
) -> Vec<(Message, Vec<u8>)> {
    split(enc, sender, schema_version, changes, max_bytes, true)
}

/// [`batches_with`]; the encodings are left empty unless `keep`.
fn split(
    enc: &mut columnar::BatchEncoder,
    sender: ReplicaId,
    schema_version: u32,
    changes: Vec<Change>,
    max_bytes: usize,
    keep: bool,
) -> Vec<(Message, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = changes;
    let message = |changes: Vec<Change>| Message::Changes {
        sender,
        schema_version,
        changes,
        collected: Vec::new(),
    };
    let mut encode =
        |part: &[Change]| encode_changes_message(sender, schema_version, part, &[], enc);
    // Changes per batch that fitted last time.
    let mut hint: Option<usize> = None;
    while !rest.is_empty() {
        let total = rest.len();
        // A batch is never larger than its changes in the per-change form
        // plus the framing, so the prefix that fits that way needs no trial.
        let mut size = BATCH_OVERHEAD;
        let mut safe = 0;
        while safe < total && size + encoded_change_len(&rest[safe]) <= max_bytes {
            size += encoded_change_len(&rest[safe]);
            safe += 1;
        }
        if safe == total {
            let bytes = if keep { encode(&rest) } else { Vec::new() };
            out.push((message(rest), bytes));
            break;
        }
        let mut n = match hint {
            Some(h) if h > safe => h.min(total),
            _ => (safe * 2).max(safe + 1).min(total),
        };
        // Largest size known to fit, smallest known not to.
        let mut fit = safe;
        let mut fail = total + 1;
        // The encoding of the largest prefix found to fit (a session's
        // encoder may encode the same prefix differently next time).
        let mut fitting: Option<(usize, Vec<u8>)> = None;
        loop {
            let bytes = encode(&rest[..n]);
            let size = bytes.len();
            let next = if size <= max_bytes || n == 1 {
                fit = n;
                fitting = Some((n, bytes));
                if n == total {
                    break;
                }
                let grown = (n as u128 * max_bytes as u128 / size.max(1) as u128) as usize;
                grown.max(n + 1).min(fail - 1).min(total)
            } else {
                fail = n;
                let shrunk = (n as u128 * max_bytes as u128 * 15 / 16 / size as u128) as usize;
                shrunk.min(n - 1).max(fit + 1).max(1)
            };
            // Stop once the bracket is within 1/16 of the fitting size.
            if next <= fit || next >= fail || (fit > 0 && fail - fit <= (fit / 16).max(1)) {
                break;
            }
            n = if fit > 0 && fail <= total {
                // Bisect once both ends are known.
                (fit + fail) / 2
            } else {
                next
            };
        }
        let fit = fit.max(1);
        hint = Some(fit);
        let tail = rest.split_off(fit);
        let bytes = match fitting {
            Some((n, bytes)) if n == fit => bytes,
            _ if keep => encode(&rest),
            _ => Vec::new(),
        };
        out.push((message(rest), bytes));
        rest = tail;
    }
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
    let mut r = Reader::with_base(bytes, base);
    let mut changes = Vec::with_capacity(n);
    for _ in 0..n {
        changes.push(r.change()?);
    }
    Ok((changes, bytes.len() - r.remaining()))
}

/// A decode error at byte `offset`.
pub(crate) fn err_at(offset: usize, reason: String) -> SyncError {
    SyncError::Decode { offset, reason }
}

/// The wire's layouts, read with common's byte [`Reader`]: strings and
/// byte strings after their LEB128 length, values after their type tag,
/// version vectors, column definitions, migrations and changes. Errors
/// name the byte offset.
pub(crate) trait WireRead<'a> {
    /// A LEB128 length, then that many bytes.
    fn blob(&mut self, what: &'static str) -> Result<&'a [u8]>;
    /// A LEB128 length, then that many bytes of UTF-8.
    fn string(&mut self, what: &'static str) -> Result<String>;
    /// A type tag, then the value.
    fn value(&mut self) -> Result<Value>;
    /// A version vector: strictly increasing replicas, sequences above 0.
    fn vv(&mut self) -> Result<VersionVector>;
    /// A column definition.
    fn column(&mut self) -> Result<ColumnDef>;
    /// A schema migration.
    fn migration(&mut self) -> Result<Migration>;
    /// A change in the per-change form.
    fn change(&mut self) -> Result<Change>;
}

impl<'a> WireRead<'a> for Reader<'a> {
    fn blob(&mut self, what: &'static str) -> Result<&'a [u8]> {
        let n = self.count_items(what, 1)?;
        Ok(self.take(n, what)?)
    }

    fn string(&mut self, what: &'static str) -> Result<String> {
        let n = self.count_items(what, 1)?;
        Ok(self.utf8(n, what)?.to_owned())
    }

    fn value(&mut self) -> Result<Value> {
        let at = self.offset();
        let tag = self.u8("value tag")?;
        if tag == 0 {
            return Ok(Value::Null);
        }
        let ty = ColumnType::from_tag(tag)
            .ok_or_else(|| err_at(at, format!("unknown value tag {tag}")))?;
        Ok(match ty {
            ColumnType::I64 => Value::I64(self.zigzag("integer value")?),
            ColumnType::Timestamp => Value::Timestamp(self.zigzag("timestamp value")?),
            ColumnType::F64 => Value::F64(self.f64("float value")?),
            ColumnType::Text => Value::Text(self.string("text value")?),
            ColumnType::Bytes => Value::Bytes(self.blob("bytes value")?.to_vec()),
            ColumnType::Bool => match self.u8("bool value")? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => {
                    return Err(err_at(
                        self.offset() - 1,
                        format!("bool byte {b}, expected 0 or 1"),
                    ))
                }
            },
        })
    }

    fn vv(&mut self) -> Result<VersionVector> {
        let n = self.count_items("version vector length", 2)?;
        let mut vv = VersionVector::new();
        let mut last: Option<u64> = None;
        for _ in 0..n {
            let at = self.offset();
            let r = self.varint("version vector replica")?;
            if last.is_some_and(|l| r <= l) {
                return Err(err_at(
                    at,
                    "version vector replicas not strictly increasing".into(),
                ));
            }
            last = Some(r);
            let at = self.offset();
            let s = self.varint("version vector sequence")?;
            if s == 0 {
                return Err(err_at(at, "version vector entry with sequence 0".into()));
            }
            vv.set(ReplicaId::from_u64(r), s);
        }
        Ok(vv)
    }

    fn column(&mut self) -> Result<ColumnDef> {
        let name = self.string("column name")?;
        let at = self.offset();
        let tag = self.u8("column type")?;
        let ty = ColumnType::from_tag(tag)
            .ok_or_else(|| err_at(at, format!("unknown column type tag {tag}")))?;
        let at = self.offset();
        let flags = self.u8("column flags")?;
        if flags > 7 {
            return Err(err_at(at, format!("unknown column flags {flags:#04x}")));
        }
        let default = if flags & 4 != 0 {
            Some(self.value()?)
        } else {
            None
        };
        let resolver = self.string("resolver name")?;
        Ok(ColumnDef {
            name,
            ty,
            nullable: flags & 1 != 0,
            default,
            resolver,
            indexed: flags & 2 != 0,
        })
    }

    fn migration(&mut self) -> Result<Migration> {
        let at = self.offset();
        Ok(match self.u8("migration tag")? {
            1 => {
                let name = self.string("table name")?;
                let primary_key = self.column()?;
                let n = self.count_items("column count", 4)?;
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
                table: self.string("table name")?,
                column: self.column()?,
            },
            3 => Migration::DropColumn {
                table: self.string("table name")?,
                column: self.string("column name")?,
            },
            4 => Migration::RenameColumn {
                table: self.string("table name")?,
                from: self.string("column name")?,
                to: self.string("new column name")?,
            },
            t => return Err(err_at(at, format!("unknown migration tag {t}"))),
        })
    }

    fn change(&mut self) -> Result<Change> {
        let origin = ReplicaId::from_u64(self.varint("change origin")?);
        let seq = self.varint("change seq")?;
        let ts = HlcTimestamp::from_u64(self.varint("change timestamp")?);
        let table = self.varint_u32("change table")?;
        let key = self.value()?;
        let cl = self.varint("change causal length")?;
        let at = self.offset();
        let op = match self.u8("change op tag")? {
            0 => ChangeOp::Row,
            1 => ChangeOp::Set {
                column: self.varint_u32("change column")?,
                value: self.value()?,
            },
            2 => ChangeOp::Count {
                column: self.varint_u32("change column")?,
                inc: self.varint("counter increment")?,
                dec: self.varint("counter decrement")?,
            },
            t => return Err(err_at(at, format!("unknown change op tag {t}"))),
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
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::columnar::tests::{change, value};

    fn column() -> impl Strategy<Value = ColumnDef> {
        (
            "[a-z]{1,4}",
            1u8..=6,
            any::<bool>(),
            any::<bool>(),
            proptest::option::of(value()),
            "[a-z]{1,4}",
        )
            .prop_map(
                |(name, t, nullable, indexed, default, resolver)| ColumnDef {
                    name,
                    ty: ColumnType::from_tag(t).unwrap(),
                    nullable,
                    default,
                    resolver,
                    indexed,
                },
            )
    }

    fn migration() -> impl Strategy<Value = Migration> {
        prop_oneof![
            (
                "[a-z]{1,4}",
                column(),
                proptest::collection::vec(column(), 0..3)
            )
                .prop_map(|(name, primary_key, columns)| Migration::AddTable(
                    TableDef {
                        name,
                        primary_key,
                        columns
                    }
                )),
            ("[a-z]{1,4}", column())
                .prop_map(|(table, column)| Migration::AddColumn { table, column }),
            ("[a-z]{1,4}", "[a-z]{1,4}")
                .prop_map(|(table, column)| Migration::DropColumn { table, column }),
            ("[a-z]{1,4}", "[a-z]{1,4}", "[a-z]{0,4}")
                .prop_map(|(table, from, to)| Migration::RenameColumn { table, from, to }),
        ]
    }

    fn vv() -> impl Strategy<Value = VersionVector> {
        proptest::collection::vec((any::<u64>(), any::<u64>()), 0..4).prop_map(|v| {
            v.into_iter()
                .map(|(r, s)| (ReplicaId::from_u64(r), s))
                .collect()
        })
    }

    fn message() -> impl Strategy<Value = Message> {
        prop_oneof![
            (any::<u64>(), any::<u32>(), vv(), vv(), any::<Option<u64>>()).prop_map(
                |(r, schema_version, known, gc, schema_digest)| Message::Hello {
                    replica: ReplicaId::from_u64(r),
                    schema_version,
                    known,
                    gc,
                    schema_digest,
                }
            ),
            (any::<u32>(), proptest::collection::vec(migration(), 0..3)).prop_map(
                |(from_version, migrations)| Message::Migrations {
                    from_version,
                    migrations
                }
            ),
            (
                any::<u64>(),
                any::<u32>(),
                proptest::collection::vec(change(), 0..5),
                proptest::collection::vec((any::<u64>(), any::<u64>(), any::<u64>()), 0..3),
            )
                .prop_map(|(s, schema_version, changes, col)| Message::Changes {
                    sender: ReplicaId::from_u64(s),
                    schema_version,
                    changes,
                    collected: col
                        .into_iter()
                        .map(|(o, first, last)| Collected {
                            origin: ReplicaId::from_u64(o),
                            first,
                            last
                        })
                        .collect(),
                }),
            (any::<u64>(), vv(), vv()).prop_map(|(r, known, gc)| Message::Ack {
                replica: ReplicaId::from_u64(r),
                known,
                gc,
            }),
        ]
    }

    proptest! {
        #[test]
        fn roundtrip_and_every_truncation_fails(m in message()) {
            let bytes = m.encode();
            prop_assert_eq!(Message::decode(&bytes).unwrap(), m);
            for cut in 0..bytes.len() {
                let is_decode_err = matches!(Message::decode(&bytes[..cut]), Err(SyncError::Decode { .. }));
                prop_assert!(is_decode_err);
            }
            let mut longer = bytes.clone();
            longer.push(0);
            prop_assert!(Message::decode(&longer).is_err());
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut with_header = b"US\x02".to_vec();
            with_header.extend_from_slice(&bytes);
            // A change batch with a valid checksum, so the body is decoded.
            let mut batch = b"US\x02\x03".to_vec();
            batch.extend_from_slice(&bytes);
            let crc = crc32fast::hash(&batch);
            batch.extend_from_slice(&crc.to_le_bytes());
            for input in [&bytes, &with_header, &batch] {
                // Accepted input means what it decodes to: it survives re-encoding.
                if let Ok(m) = Message::decode(input) {
                    prop_assert_eq!(Message::decode(&m.encode()).unwrap(), m);
                }
            }
        }

        #[test]
        fn change_length_is_the_encoded_length(c in change()) {
            let mut out = Vec::new();
            put_change(&mut out, &c);
            prop_assert_eq!(encoded_change_len(&c), out.len());
        }

        #[test]
        fn batches_are_bounded_and_complete(changes in proptest::collection::vec(change(), 0..40), max in 40usize..400) {
            let msgs = batches(ReplicaId::from_u64(1), 2, changes.clone(), max);
            let mut all = Vec::new();
            for m in msgs {
                let len = m.encode().len();
                let Message::Changes { changes: part, .. } = m else { panic!("not a batch") };
                prop_assert!(len <= max || part.len() == 1, "{} bytes > {}", len, max);
                all.extend(part);
            }
            prop_assert_eq!(all, changes);
        }
    }

    /// A change batch message around `body`, with a valid checksum.
    fn batch_message(body: &[u8]) -> Vec<u8> {
        let mut m = b"US\x02\x03\x01\x01\x00".to_vec(); // sender 1, schema 1, no collected
        m.extend_from_slice(body);
        let crc = crc32fast::hash(&m);
        m.extend_from_slice(&crc.to_le_bytes());
        m
    }

    #[test]
    fn hostile_inputs_are_typed_errors() {
        let mut huge_vv = b"US\x02\x04\x01".to_vec();
        varint::encode_u64(1 << 40, &mut huge_vv);
        let mut huge = Vec::new();
        varint::encode_u64(u64::MAX, &mut huge); // change count
                                                 // Per-change form (flags 3): one change, origin 1 seq 1 ts 1 table 1, then key...
        let row = |rest: &[u8]| {
            let mut b = b"\x01\x03\x01\x01\x01\x01".to_vec();
            b.extend_from_slice(rest);
            batch_message(&b)
        };
        let mut huge_text = b"\x03".to_vec();
        varint::encode_u64(1 << 50, &mut huge_text);
        let valid = Message::Changes {
            sender: ReplicaId::from_u64(1),
            schema_version: 1,
            changes: Vec::new(),
            collected: Vec::new(),
        }
        .encode();
        let mut flipped = valid.clone();
        flipped[5] ^= 0x10;
        let mut v1 = valid.clone();
        v1[2] = 1;
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"XX\x02\x01".to_vec(), "magic"),
            (b"US\x09\x01".to_vec(), "version"),
            (v1, "version 1"),
            (b"US\x02\x09".to_vec(), "tag"),
            (huge_vv, "count"),
            (
                b"US\x02\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01".to_vec(),
                "varint",
            ),
            (
                b"US\x02\x01\x01\xff\xff\xff\xff\x1f\x00".to_vec(),
                "32 bits",
            ),
            (
                b"US\x02\x04\x01\x02\x05\x01\x03\x01".to_vec(),
                "strictly increasing",
            ),
            (b"US\x02\x02\x00\x01\x07\x00\x00".to_vec(), "migration tag"),
            (b"US\x02\x03\x01".to_vec(), "truncated"),
            (flipped, "checksum"),
            (batch_message(&huge), "change count"),
            (batch_message(b"\x00\x09\x00"), "flags"),
            (row(&huge_text), "count"),
            (row(b"\x09\x01\x00"), "value tag"),
            (row(b"\x01\x02\x01\x07"), "op tag"),
            (row(b"\x04\x02\x01\x00"), "bool byte"),
            // Columnar: one replica, one group of an unknown kind.
            (
                batch_message(b"\x01\x01\x01\x01\x01\x00\x03\x00\x01"),
                "op kind",
            ),
            // Two groups out of order.
            (
                batch_message(b"\x02\x01\x01\x01\x02\x00\x01\x02\x01\x00\x00\x00\x01"),
                "strictly increasing",
            ),
            // A group column that is not an encoded column.
            (
                batch_message(b"\x01\x01\x01\x01\x01\x00\x00\x00\x01\x00\x02XX"),
                "not an encoded",
            ),
            (
                batch_message(b"\x01\x01\x01\x01\x01\x00\x00\x00\x01\x07"),
                "integer transform",
            ),
        ];
        for (bytes, needle) in cases {
            match Message::decode(&bytes) {
                Err(SyncError::Decode { reason, offset }) => {
                    assert!(reason.contains(needle), "{needle}: {reason} at {offset}");
                    assert!(offset <= bytes.len());
                }
                other => panic!("{needle}: {other:?}"),
            }
        }
    }
}
