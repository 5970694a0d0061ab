//! The change log's file format: a checksummed header, then records of a
//! length, a CRC-32 and a payload.
//!
//! ```text
//! header  magic "UDBSLOG\0" | version u32 | generation u64 | CRC-32 of the 20 bytes before
//! record  payload length u32 | CRC-32 of the payload u32 | payload
//! ```
//!
//! All integers are little-endian. A record's payload is one encoded sync
//! message (changes or migrations) as the server accepted it. Records are
//! appended and made durable in groups ([`crate::storage`]); a crash can
//! leave a torn tail (a partial header, length, checksum or payload),
//! which [`scan`] finds: everything before it is good, and recovery
//! truncates the file there and reports how many bytes it dropped.
//!
//! ```
//! use unidb_server::log::{encode_header, encode_record, scan};
//!
//! let mut file = encode_header(7);
//! encode_record(&mut file, b"first");
//! encode_record(&mut file, b"second");
//! let whole = file.len();
//! file.extend_from_slice(&[9, 0, 0]); // a length cut short by a crash
//! let s = scan(&file)?;
//! assert_eq!(s.generation, 7);
//! assert_eq!(s.records.len(), 2);
//! assert_eq!(&file[s.records[1].clone()], b"second");
//! assert_eq!(s.valid_len, whole);
//! assert!(s.torn.is_some());
//! # Ok::<(), unidb_server::ServerError>(())
//! ```

use std::ops::Range;

use unidb_common::bytes::Reader;

use crate::error::{Result, ServerError};

/// The magic bytes opening a log file.
pub const MAGIC: [u8; 8] = *b"UDBSLOG\0";
/// The log format version this build writes and reads.
pub const VERSION: u32 = 1;
/// The size of the file header.
pub const HEADER_LEN: usize = 24;
/// The size of a record's length and checksum.
pub const RECORD_OVERHEAD: usize = 8;
/// The largest payload a record may hold (larger lengths are corrupt).
pub const MAX_RECORD: usize = 256 << 20;

/// A log file's header.
pub fn encode_header(generation: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&generation.to_le_bytes());
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Appends one record holding `payload` to `out`.
///
/// # Panics
/// When `payload` is longer than [`MAX_RECORD`] (callers bound messages
/// far below it).
pub fn encode_record(out: &mut Vec<u8>, payload: &[u8]) {
    assert!(payload.len() <= MAX_RECORD, "log record too large");
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Where and why the good part of a log file ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Torn {
    /// Byte offset of the first bad byte (the file's good length).
    pub offset: usize,
    /// Bytes from there to the end of the file.
    pub dropped: usize,
    /// What was wrong there.
    pub reason: String,
}

/// What [`scan`] found in a log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// The generation in the header.
    pub generation: u64,
    /// The byte ranges of the good records' payloads, in order.
    pub records: Vec<Range<usize>>,
    /// Length of the good prefix (header and whole records).
    pub valid_len: usize,
    /// The torn or damaged tail, if the file does not end on a record.
    pub torn: Option<Torn>,
}

/// Reads a log file's bytes: its header, then records until the end or
/// the first record that is cut short or fails its checksum (the tail
/// from there is reported in [`Scan::torn`]). A file shorter than the
/// header is an empty log whose whole content is a torn tail (a crash
/// while the file was being created); it has generation 0.
///
/// Allocates one range per good record, so at most one per 8 input bytes.
///
/// # Errors
/// [`ServerError::Corrupt`] when a whole header is present but its magic,
/// version or checksum is wrong: not a log file of this format, which
/// recovery must not truncate.
pub fn scan(bytes: &[u8]) -> Result<Scan> {
    let corrupt = |offset: usize, reason: String| ServerError::Corrupt {
        what: "log header".into(),
        offset: offset as u64,
        reason,
    };
    if bytes.len() < HEADER_LEN {
        return Ok(Scan {
            generation: 0,
            records: Vec::new(),
            valid_len: 0,
            torn: (!bytes.is_empty()).then(|| Torn {
                offset: 0,
                dropped: bytes.len(),
                reason: format!("header cut short at {} of {HEADER_LEN} bytes", bytes.len()),
            }),
        });
    }
    let mut r = Reader::new(bytes);
    let read_err = |e: unidb_common::bytes::ReadError| corrupt(e.offset, e.to_string());
    let magic: [u8; 8] = r.array("magic").map_err(read_err)?;
    if magic != MAGIC {
        return Err(corrupt(0, format!("bad magic {magic:02x?}")));
    }
    let version = r.u32("version").map_err(read_err)?;
    if version != VERSION {
        return Err(corrupt(
            8,
            format!("unsupported log version {version}, this build reads {VERSION}"),
        ));
    }
    let generation = r.u64("generation").map_err(read_err)?;
    let crc = r.u32("header checksum").map_err(read_err)?;
    if crc != crc32fast::hash(&bytes[..HEADER_LEN - 4]) {
        return Err(corrupt(20, "header checksum mismatch".into()));
    }
    let mut records = Vec::new();
    let mut torn = None;
    loop {
        let start = r.offset();
        if r.is_empty() {
            break;
        }
        let mut fail = |reason: String| {
            torn = Some(Torn {
                offset: start,
                dropped: bytes.len() - start,
                reason,
            });
        };
        if r.remaining() < RECORD_OVERHEAD {
            fail(format!("record header cut short ({} bytes)", r.remaining()));
            break;
        }
        let (Ok(len), Ok(crc)) = (r.u32("record length"), r.u32("record checksum")) else {
            fail("record header unreadable".into());
            break;
        };
        let len = len as usize;
        if len > MAX_RECORD {
            fail(format!("record length {len} above the limit {MAX_RECORD}"));
            break;
        }
        let Ok(payload) = r.take(len, "record payload") else {
            fail(format!(
                "record payload cut short: {len} bytes announced, {} present",
                bytes.len() - start - RECORD_OVERHEAD
            ));
            break;
        };
        if crc32fast::hash(payload) != crc {
            fail("record checksum mismatch".into());
            break;
        }
        let end = r.offset();
        records.push(end - len..end);
    }
    let valid_len = torn.as_ref().map_or(bytes.len(), |t| t.offset);
    Ok(Scan {
        generation,
        records,
        valid_len,
        torn,
    })
}

#[cfg(test)]
mod tests;
