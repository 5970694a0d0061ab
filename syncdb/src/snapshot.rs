//! Stored snapshots of a database: its whole replicated state as bytes.
//!
//! A database's tables are a function of the set of changes it holds (see
//! [`db`](crate::db)), and it holds every change it may still have to send
//! to a peer. A snapshot therefore stores that set, column by column with the
//! codecs exactly as a sync batch ([`columnar`]): every
//! cell's value with its clock (timestamp, replica, sequence number), every
//! row life's causal length (tombstones included), per table and column.
//! Next to it: the schema's migration history, each origin's contiguous
//! frontier and garbage-collected ranges (the version vector), the peers'
//! acknowledgements and the garbage-collection epoch, and the clock's last
//! timestamp. Loading replays the changes, which rebuilds every row, cell
//! and index exactly; merging afterwards behaves as on the saved database.
//!
//! # Codecs
//! The change log's columns name their codecs, so a snapshot lists them
//! after its version byte, and opening it in a process without one of
//! them (a codec the writer registered, or one outside the current
//! [`with_codecs`](unidb_codec::with_codecs) scope) fails up front with
//! [`SyncError::MissingCodec`] naming it. A writer whose snapshots must
//! open elsewhere saves inside a scope of the codecs the reader has:
//! `with_codecs(&CodecSet::builtin(), || db.save_snapshot())`. Version-1
//! snapshots (no list) still open.
//!
//! # Layout
//! ```text
//! "USNP" version(u8)
//! codecs(LEB128) codec name*                  (LEB128 length + bytes, sorted; `name@N` from format 2)
//! replica max_drift_ms hlc_last                            (LEB128)
//! migrations(LEB128) migration*                            (wire format)
//! origins(LEB128) per origin: id frontier ranges(LEB128) (first last)*
//! acks(LEB128) per peer: id version-vector
//! epoch(u8 0/1) [version-vector version-vector] gc-frontier(version-vector)
//! changes: len(LEB128) columnar batch
//! CRC-32 (little-endian) of every byte before it
//! ```
//!
//! ```
//! use std::sync::Arc;
//! use unidb_common::{id::ReplicaId, time::ManualClock};
//! use unidb_syncdb::{ColumnDef, ColumnType, Database, Migration, TableDef, Value};
//!
//! # fn main() -> Result<(), unidb_syncdb::SyncError> {
//! let schema = [Migration::AddTable(
//!     TableDef::new("todo", "id", ColumnType::I64).column(ColumnDef::new("title", ColumnType::Text)),
//! )];
//! let clock = Arc::new(ManualClock::new(1_000));
//! let db = Database::open(ReplicaId::from_u64(1), clock.clone(), &schema)?;
//! db.insert("todo", [("id", Value::I64(1)), ("title", "milk".into())])?;
//! let bytes = db.save_snapshot();
//! let back = Database::load_snapshot(&bytes, clock)?;
//! assert_eq!(back.read().dump(), db.read().dump());
//! assert!(Database::load_snapshot(&bytes[..bytes.len() - 1], Arc::new(ManualClock::new(1_000))).is_err());
//! # Ok(()) }
//! ```

use std::fs;
use std::io;
use std::path::Path;
use std::time::Duration;

use unidb_codec::current_codecs;
use unidb_common::bytes::Reader;
use unidb_common::id::ReplicaId;
use unidb_common::time::HlcTimestamp;
use unidb_kernels::varint;

use crate::change::{Change, VersionVector};
use crate::columnar;
use crate::error::{Result, SyncError};
use crate::schema::Migration;
use crate::wire::{self, WireRead};

/// Magic bytes opening a snapshot.
pub const SNAPSHOT_MAGIC: [u8; 4] = *b"USNP";
/// The snapshot format version (2: the codecs it needs follow the version).
pub const SNAPSHOT_VERSION: u8 = 2;

/// One origin's log bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OriginState {
    pub(crate) origin: ReplicaId,
    pub(crate) frontier: u64,
    /// Garbage-collected ranges above the frontier, `(first, last)`.
    pub(crate) collected: Vec<(u64, u64)>,
}

/// Everything a snapshot holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Parts {
    pub(crate) replica: ReplicaId,
    pub(crate) max_drift: Duration,
    pub(crate) hlc_last: HlcTimestamp,
    pub(crate) migrations: Vec<Migration>,
    pub(crate) origins: Vec<OriginState>,
    pub(crate) acks: Vec<(ReplicaId, VersionVector)>,
    pub(crate) gc_epoch: Option<(VersionVector, VersionVector)>,
    pub(crate) gc_frontier: VersionVector,
    /// Every held change, by origin then sequence number.
    pub(crate) changes: Vec<Change>,
}

fn put(out: &mut Vec<u8>, v: u64) {
    varint::encode_u64(v, out);
}

/// Encodes a snapshot (its change log with the codecs of the current
/// [`with_codecs`](unidb_codec::with_codecs) scope).
pub(crate) fn encode(p: &Parts) -> Vec<u8> {
    let (body, codecs) = columnar::encode_changes_listing(&p.changes, columnar::DEFAULT_EFFORT);
    let mut out = SNAPSHOT_MAGIC.to_vec();
    out.push(SNAPSHOT_VERSION);
    put(&mut out, codecs.len() as u64);
    for c in codecs {
        // As a `Hello` lists them: `name@N` for a codec's format N ≥ 2.
        let c = match unidb_codec::format_of(c) {
            1 => c.to_owned(),
            f => format!("{c}@{f}"),
        };
        put(&mut out, c.len() as u64);
        out.extend_from_slice(c.as_bytes());
    }
    put(&mut out, p.replica.as_u64());
    put(
        &mut out,
        u64::try_from(p.max_drift.as_millis()).unwrap_or(u64::MAX),
    );
    put(&mut out, p.hlc_last.as_u64());
    put(&mut out, p.migrations.len() as u64);
    for m in &p.migrations {
        wire::put_migration(&mut out, m);
    }
    put(&mut out, p.origins.len() as u64);
    for o in &p.origins {
        put(&mut out, o.origin.as_u64());
        put(&mut out, o.frontier);
        put(&mut out, o.collected.len() as u64);
        for (first, last) in &o.collected {
            put(&mut out, *first);
            put(&mut out, *last);
        }
    }
    put(&mut out, p.acks.len() as u64);
    for (peer, vv) in &p.acks {
        put(&mut out, peer.as_u64());
        wire::put_vv(&mut out, vv);
    }
    match &p.gc_epoch {
        Some((s, t)) => {
            out.push(1);
            wire::put_vv(&mut out, s);
            wire::put_vv(&mut out, t);
        }
        None => out.push(0),
    }
    wire::put_vv(&mut out, &p.gc_frontier);
    put(&mut out, body.len() as u64);
    out.extend_from_slice(&body);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes a snapshot (the format only; the database checks the content).
///
/// # Errors
/// [`SyncError::Decode`] naming the offset: bad magic, another version, a
/// checksum mismatch (any corruption or truncation), malformed content;
/// [`SyncError::MissingCodec`] for a codec this process does not decode.
pub(crate) fn decode(bytes: &[u8]) -> Result<Parts> {
    let bad = |offset: usize, reason: String| SyncError::Decode {
        offset,
        reason: format!("snapshot: {reason}"),
    };
    if bytes.len() < SNAPSHOT_MAGIC.len() + 1 + 4 {
        return Err(bad(
            bytes.len(),
            format!("{} bytes is too short for a snapshot", bytes.len()),
        ));
    }
    if bytes[..4] != SNAPSHOT_MAGIC {
        return Err(bad(0, format!("bad magic {:02x?}", &bytes[..4])));
    }
    let version = bytes[4];
    if !(1..=SNAPSHOT_VERSION).contains(&version) {
        return Err(bad(
            4,
            format!(
                "unsupported format version {version}, this build reads 1 to {SNAPSHOT_VERSION}"
            ),
        ));
    }
    let end = bytes.len() - 4;
    let stored = u32::from_le_bytes(bytes[end..].try_into().expect("4 bytes"));
    let actual = crc32fast::hash(&bytes[..end]);
    if stored != actual {
        return Err(bad(
            end,
            format!("checksum mismatch: stored {stored:#010x}, computed {actual:#010x} (corrupt or truncated)"),
        ));
    }
    let mut r = Reader::new(&bytes[..end]);
    r.advance(5, "header")?;
    if version >= 2 {
        let at = r.offset();
        let needed = r.codec_names()?;
        let have = current_codecs();
        if let Some(missing) = have.missing(needed.iter().map(String::as_str)).first() {
            return Err(SyncError::MissingCodec {
                what: "snapshot",
                codec: (*missing).to_owned(),
                offset: at,
                known: have.names(),
            });
        }
    }
    let replica = ReplicaId::from_u64(r.varint("replica id")?);
    let max_drift = Duration::from_millis(r.varint("maximum clock drift")?);
    let hlc_last = HlcTimestamp::from_u64(r.varint("last clock reading")?);
    let n = r.count_items("migration count", 3)?;
    let mut migrations = Vec::with_capacity(n);
    for _ in 0..n {
        migrations.push(r.migration()?);
    }
    let n = r.count_items("origin count", 3)?;
    let mut origins = Vec::with_capacity(n);
    for _ in 0..n {
        let origin = ReplicaId::from_u64(r.varint("origin")?);
        let frontier = r.varint("origin frontier")?;
        let k = r.count_items("collected range count", 2)?;
        let mut collected = Vec::with_capacity(k);
        for _ in 0..k {
            let at = r.offset();
            let (first, last) = (
                r.varint("first collected seq")?,
                r.varint("last collected seq")?,
            );
            if first == 0 || first > last || last <= frontier {
                return Err(bad(
                    at,
                    format!("collected range {first}..={last} invalid above frontier {frontier}"),
                ));
            }
            collected.push((first, last));
        }
        if origins
            .last()
            .is_some_and(|o: &OriginState| o.origin >= origin)
        {
            return Err(bad(r.offset(), "origins not strictly increasing".into()));
        }
        origins.push(OriginState {
            origin,
            frontier,
            collected,
        });
    }
    let n = r.count_items("acknowledgement count", 2)?;
    let mut acks = Vec::with_capacity(n);
    for _ in 0..n {
        acks.push((
            ReplicaId::from_u64(r.varint("acknowledging replica")?),
            r.vv()?,
        ));
    }
    let at = r.offset();
    let gc_epoch = match r.u8("epoch flag")? {
        0 => None,
        1 => Some((r.vv()?, r.vv()?)),
        f => return Err(bad(at, format!("epoch flag {f}, expected 0 or 1"))),
    };
    let gc_frontier = r.vv()?;
    let len = r.count_items("change log length", 1)?;
    let at = r.offset();
    let body = r.take(len, "change log")?;
    let changes = columnar::decode_changes_at(body, at).map_err(|e| match e {
        SyncError::MissingCodec {
            codec,
            offset,
            known,
            ..
        } => SyncError::MissingCodec {
            what: "snapshot",
            codec,
            offset,
            known,
        },
        e => e,
    })?;
    if r.remaining() != 0 {
        return Err(bad(r.offset(), format!("{} trailing bytes", r.remaining())));
    }
    Ok(Parts {
        replica,
        max_drift,
        hlc_last,
        migrations,
        origins,
        acks,
        gc_epoch,
        gc_frontier,
        changes,
    })
}

/// A typed error for a failed file operation on the snapshot file `path`.
fn io_error(op: &'static str, path: &Path, source: io::Error) -> SyncError {
    SyncError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` to `path` atomically with
/// [`unidb_common::fs::write_atomic`]: a reader (or a crash) sees either the
/// old file or the whole new one, never a part. The bytes go to a new
/// temporary file `.<name>.tmp-<pid>-<n>` in the same directory, which is
/// synced to disk, renamed over `path`, and then the directory is synced
/// (on Unix) so that the rename itself is durable. On failure the temporary
/// file is removed and `path` is left as it was; temporary files of `path`
/// left by killed processes are removed.
///
/// # Errors
/// [`SyncError::Io`] naming `path` and the failed step.
pub(crate) fn write_file_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    unidb_common::fs::write_atomic(path, bytes).map_err(|e| {
        let op = match e.op {
            "save to" => "save snapshot to",
            op => op,
        };
        io_error(op, path, e.source)
    })
}

/// Reads a snapshot file whole.
///
/// # Errors
/// [`SyncError::Io`] naming `path` when it is missing or unreadable (a
/// directory, no permission).
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| io_error("read snapshot file", path, e))
}
