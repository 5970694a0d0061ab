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
//! never a panic or a large allocation. Version 2 is still read; another
//! format version (such as version 1, which sent changes one by one) is
//! refused.
//!
//! # Codec negotiation
//! Every encoded column names its codecs, and a reader without one of
//! them refuses the whole batch. So a [`Message::Hello`] of version 3
//! lists the codecs its sender decodes, and a session encodes what it
//! sends that peer with the codecs both sides declared
//! ([`unidb_codec::with_codecs`]). A version-2 `Hello` has no list: its
//! sender decodes exactly [`WIRE_V2_CODECS`], the codecs built into
//! version 2, and is answered in version 2 ([`Message::encode_as`]).
//! A version-2 build refuses version-3 messages, so a session opening a
//! connection to one sends its own `Hello` in version 2
//! ([`SyncConfig::wire_version`](crate::SyncConfig::wire_version)).
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
//!     codecs: vec!["delta".into(), "for".into(), "plain".into()],
//! };
//! let bytes = hello.encode();
//! assert_eq!(&bytes[..3], b"US\x03");
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
use unidb_common::value::{ColumnType, Value};

mod batches;

pub use batches::{batches, batches_with};

/// Magic bytes opening every message.
pub const MAGIC: [u8; 2] = *b"US";
/// The encoding's format version (3: a `Hello` lists the sender's codecs).
pub const WIRE_VERSION: u8 = 3;
/// The oldest format version this build reads and can write.
pub const MIN_WIRE_VERSION: u8 = 2;

/// The codecs built into wire version 2, which a version-2 `Hello` (it
/// has no list) says its sender decodes, all in format 1 (so a codec
/// whose layout changed since, such as `ans`, is not sent to it).
pub const WIRE_V2_CODECS: &[&str] = &[
    "ans",
    "bss",
    "decimal",
    "decimal_ulp",
    "delta",
    "dict",
    "dod",
    "f32",
    "fbits",
    "for",
    "front",
    "fsst",
    "gcd",
    "gorilla",
    "huff",
    "linear",
    "lz4",
    "one",
    "plain",
    "rle",
    "svb",
    "varint",
];

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
        /// The codecs the sender decodes (names, sorted, each `name@N`
        /// from its format 2 on, see [`unidb_codec::CodecSet::wire_names`]):
        /// the peer encodes what it sends with these only. After the digest, a LEB128 count
        /// and the names; a version-2 `Hello` has none and is read as
        /// [`WIRE_V2_CODECS`].
        codecs: Vec<String>,
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

/// The kind of a [`Message`], as [`Message::kind_of`] reads it from an
/// encoded one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// [`Message::Hello`].
    Hello,
    /// [`Message::Migrations`].
    Migrations,
    /// [`Message::Changes`].
    Changes,
    /// [`Message::Ack`].
    Ack,
}

impl MessageKind {
    /// Whether a message of this kind writes to its receiver (changes or
    /// migrations), which needs write rights on a server.
    pub fn writes(self) -> bool {
        matches!(self, MessageKind::Migrations | MessageKind::Changes)
    }
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

fn header(version: u8, tag: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&MAGIC);
    out.push(version);
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
        self.encode_as(WIRE_VERSION, batch)
    }

    /// The message's encoding in format `version` (clamped to
    /// [`MIN_WIRE_VERSION`]`..=`[`WIRE_VERSION`]), for a peer that reads
    /// only that version: in version 2 a `Hello` leaves its codec list
    /// out; the other messages differ only in the version byte. The
    /// codecs of change batches are chosen by the caller's
    /// [`with_codecs`](unidb_codec::with_codecs) scope.
    pub fn encode_as(&self, version: u8, batch: &mut columnar::BatchEncoder) -> Vec<u8> {
        let version = version.clamp(MIN_WIRE_VERSION, WIRE_VERSION);
        let header = |tag| header(version, tag);
        match self {
            Message::Hello {
                replica,
                schema_version,
                known,
                gc,
                schema_digest,
                codecs,
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
                if version >= 3 {
                    // Sorted, each once, as the reader requires.
                    let codecs: std::collections::BTreeSet<&str> =
                        codecs.iter().map(String::as_str).collect();
                    put(&mut out, codecs.len() as u64);
                    for c in codecs {
                        put_bytes(&mut out, c.as_bytes());
                    }
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
            } => {
                let mut out =
                    encode_changes_message(*sender, *schema_version, changes, collected, batch);
                set_version(&mut out, version);
                out
            }
            Message::Ack { replica, known, gc } => {
                let mut out = header(TAG_ACK);
                put(&mut out, replica.as_u64());
                put_vv(&mut out, known);
                put_vv(&mut out, gc);
                out
            }
        }
    }

    /// The format version of an encoded message (its third byte), if it
    /// has the magic.
    pub fn version_of(bytes: &[u8]) -> Option<u8> {
        (bytes.len() > 2 && bytes[..2] == MAGIC).then(|| bytes[2])
    }

    /// The kind of an encoded message (its fourth byte), read without
    /// decoding it: what a server checks against a client's rights before
    /// it spends anything on the message. `None` without the magic or
    /// with an unknown tag; a message of a known kind may still fail to
    /// decode.
    ///
    /// ```
    /// use unidb_common::id::ReplicaId;
    /// use unidb_syncdb::wire::{Message, MessageKind};
    /// use unidb_syncdb::VersionVector;
    ///
    /// let ack = Message::Ack { replica: ReplicaId::from_u64(1), known: VersionVector::new(), gc: VersionVector::new() };
    /// assert_eq!(Message::kind_of(&ack.encode()), Some(MessageKind::Ack));
    /// assert_eq!(Message::kind_of(b"garbage"), None);
    /// ```
    pub fn kind_of(bytes: &[u8]) -> Option<MessageKind> {
        if bytes.len() < 4 || bytes[..2] != MAGIC {
            return None;
        }
        match bytes[3] {
            TAG_HELLO => Some(MessageKind::Hello),
            TAG_MIGRATIONS => Some(MessageKind::Migrations),
            TAG_CHANGES => Some(MessageKind::Changes),
            TAG_ACK => Some(MessageKind::Ack),
            _ => None,
        }
    }

    /// Decodes a message (of format version [`MIN_WIRE_VERSION`] to
    /// [`WIRE_VERSION`]).
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
        if !(MIN_WIRE_VERSION..=WIRE_VERSION).contains(&version) {
            return Err(err_at(
                2,
                format!("unsupported format version {version}, this build reads {MIN_WIRE_VERSION} to {WIRE_VERSION}"),
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
                codecs: if version >= 3 {
                    r.codec_names()?
                } else {
                    WIRE_V2_CODECS.iter().map(|&c| c.to_owned()).collect()
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

/// The encoding of a [`Message::Changes`] with these fields.
fn encode_changes_message(
    sender: ReplicaId,
    schema_version: u32,
    changes: &[Change],
    collected: &[Collected],
    batch: &mut columnar::BatchEncoder,
) -> Vec<u8> {
    let mut out = header(WIRE_VERSION, TAG_CHANGES);
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

/// Rewrites the version byte of an encoded change batch message and its
/// closing CRC-32 (nothing when it already has that version).
pub(crate) fn set_version(out: &mut [u8], version: u8) {
    if out.len() < 8 || out[2] == version {
        return;
    }
    out[2] = version;
    let end = out.len() - 4;
    let crc = crc32fast::hash(&out[..end]);
    out[end..].copy_from_slice(&crc.to_le_bytes());
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
    /// A LEB128 count, then that many codec names (strings of 1 to 255
    /// bytes, strictly increasing).
    fn codec_names(&mut self) -> Result<Vec<String>>;
}

impl<'a> WireRead<'a> for Reader<'a> {
    fn codec_names(&mut self) -> Result<Vec<String>> {
        let n = self.count_items("codec count", 2)?;
        let mut names: Vec<String> = Vec::with_capacity(n);
        for _ in 0..n {
            let at = self.offset();
            let name = self.string("codec name")?;
            if name.is_empty() || name.len() > 255 {
                return Err(err_at(at, format!("codec name of {} bytes", name.len())));
            }
            if names.last().is_some_and(|last| *last >= name) {
                return Err(err_at(at, "codec names not strictly increasing".into()));
            }
            names.push(name);
        }
        Ok(names)
    }

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
mod tests;
