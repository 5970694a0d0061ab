//! Reading binary formats: a bounds-checked cursor whose errors name what
//! was being read and the byte offset, and canonical LEB128.
//!
//! Every decoder of the project (column codecs, change batches, sync
//! messages, snapshots, saved vector collections) reads its input through
//! one [`Reader`]. A read never panics and never allocates: a length or a
//! count taken from the input is checked against the bytes that remain
//! before the caller can allocate for it, and every failure is a
//! [`ReadError`] carrying what was being read, the byte offset and a typed
//! [`ReadErrorKind`].
//!
//! Fixed-width numbers are little-endian, the byte order of every unidb
//! format. Variable-length integers are canonical unsigned LEB128
//! ([`leb128`]); signed ones are zigzag-encoded.
//!
//! ```
//! use unidb_common::bytes::{ReadErrorKind, Reader};
//!
//! // A LEB128 count, then that many little-endian u16 values.
//! let bytes = [2, 0x34, 0x12, 0xff, 0x00];
//! let mut r = Reader::new(&bytes);
//! let n = r.count_items("sample count", 2)?;
//! let samples: Vec<u16> = (0..n).map(|_| r.u16("sample")).collect::<Result<_, _>>()?;
//! assert_eq!(samples, [0x1234, 0xff]);
//! r.finish("samples")?;
//!
//! // A hostile count is refused before anything is allocated for it.
//! let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2]);
//! let err = r.count_items("sample count", 2).unwrap_err();
//! assert_eq!(err.offset, 0);
//! assert!(matches!(err.kind, ReadErrorKind::CountExceedsInput { count: 0xffff_ffff, .. }));
//!
//! // Truncation names the offset, what was read, and the bytes missing.
//! let mut r = Reader::new(&[1, 2, 3]);
//! r.u8("tag")?;
//! let err = r.u32("length").unwrap_err();
//! assert_eq!(err.to_string(), "length at byte 1: truncated: needs 4 bytes, 2 left");
//! # Ok::<(), unidb_common::bytes::ReadError>(())
//! ```

use std::fmt;

/// A failed read: what was being read, where, and why.
///
/// `Display` reads `"<what> at byte <offset>: <kind>"`. Errors of the
/// member crates convert from it keeping the offset, and it converts into
/// [`crate::Error`] as [`ErrorKind::CorruptData`](crate::ErrorKind::CorruptData)
/// located at the byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    /// What was being read (`"change count"`, `"value length"`, ...).
    pub what: &'static str,
    /// The byte offset of the problem: where the item being read starts,
    /// counted from the start of the input (plus the reader's base, see
    /// [`Reader::with_base`]).
    pub offset: usize,
    /// What is wrong.
    pub kind: ReadErrorKind,
}

/// Why a read failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadErrorKind {
    /// The input ends early.
    Truncated {
        /// Bytes the item needs (`usize::MAX` when its size overflows).
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// A malformed LEB128 value; the error's offsets are relative to the
    /// [`ReadError`]'s offset (where the value starts).
    Varint(Leb128Error),
    /// A count above the limit the caller gave.
    CountTooLarge {
        /// The count read.
        count: u64,
        /// The limit.
        max: usize,
    },
    /// A count of items that cannot fit in the bytes left after it, each
    /// item taking at least `item_size` bytes.
    CountExceedsInput {
        /// The count read.
        count: u64,
        /// The least size of one item.
        item_size: usize,
        /// Bytes left after the count.
        available: usize,
    },
    /// A value too large for the integer type it is read into.
    TooWide {
        /// The value read.
        value: u64,
        /// The width of the type.
        bits: u32,
    },
    /// Bytes that should be UTF-8 text and are not.
    InvalidUtf8 {
        /// Length of the valid prefix.
        valid_up_to: usize,
    },
    /// Bytes left where the input should end.
    TrailingBytes {
        /// How many.
        count: usize,
    },
}

impl ReadError {
    /// An error reading `what` at byte `offset`.
    pub const fn new(what: &'static str, offset: usize, kind: ReadErrorKind) -> Self {
        ReadError { what, offset, kind }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}: {}", self.what, self.offset, self.kind)
    }
}

impl fmt::Display for ReadErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ReadErrorKind::Truncated { needed, available } => {
                write!(f, "truncated: needs {needed} bytes, {available} left")
            }
            ReadErrorKind::Varint(e) => write!(f, "bad varint: {e}"),
            ReadErrorKind::CountTooLarge { count, max } => {
                write!(f, "count {count} exceeds the limit {max}")
            }
            ReadErrorKind::CountExceedsInput {
                count,
                item_size,
                available,
            } => write!(
                f,
                "count {count} of items of at least {item_size} bytes exceeds the {available} bytes remaining"
            ),
            ReadErrorKind::TooWide { value, bits } => write!(f, "{value} does not fit {bits} bits"),
            ReadErrorKind::InvalidUtf8 { valid_up_to } => {
                write!(f, "invalid UTF-8 after {valid_up_to} valid bytes")
            }
            ReadErrorKind::TrailingBytes { count } => write!(f, "{count} trailing bytes"),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ReadErrorKind::Varint(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ReadError> for crate::Error {
    fn from(e: ReadError) -> Self {
        crate::Error::corrupt_data(e.to_string(), format!("byte {}", e.offset)).with_source(e)
    }
}

/// A cursor over a byte slice. Every read is bounds-checked; every error
/// is a [`ReadError`] naming what was read and its byte offset.
///
/// Reads take `what`, a short name of the item for the error message.
/// Fixed-width numbers are little-endian; `varint` reads canonical LEB128.
/// A failed read leaves the cursor where it was.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

/// Reads a fixed-width little-endian number.
macro_rules! fixed {
    ($($(#[$doc:meta])* $name:ident -> $t:ty;)*) => {$(
        $(#[$doc])*
        ///
        /// # Errors
        /// [`ReadErrorKind::Truncated`] when fewer bytes remain.
        #[inline]
        pub fn $name(&mut self, what: &'static str) -> Result<$t, ReadError> {
            Ok(<$t>::from_le_bytes(self.array(what)?))
        }
    )*};
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    #[inline]
    pub const fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            base: 0,
        }
    }

    /// A reader at the start of `buf`, a part of a larger input that starts
    /// at byte `base` of it: offsets (in [`offset`](Self::offset) and in
    /// errors) are counted from the start of the larger input.
    ///
    /// ```
    /// use unidb_common::bytes::Reader;
    ///
    /// let message = [9, 9, 9, 0x80];
    /// let mut body = Reader::with_base(&message[3..], 3);
    /// assert_eq!(body.offset(), 3);
    /// assert_eq!(body.varint("length").unwrap_err().offset, 3);
    /// ```
    #[inline]
    pub const fn with_base(buf: &'a [u8], base: usize) -> Self {
        Reader { buf, pos: 0, base }
    }

    /// The offset of the next byte.
    #[inline]
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Bytes left.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Whether every byte has been read.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The unread bytes, without consuming them.
    #[inline]
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// An error of `kind` reading `what` at byte `offset` (for checks the
    /// caller makes on what it read).
    #[cold]
    pub fn error_at(&self, what: &'static str, offset: usize, kind: ReadErrorKind) -> ReadError {
        ReadError::new(what, offset, kind)
    }

    #[cold]
    fn truncated(&self, what: &'static str, needed: usize) -> ReadError {
        ReadError::new(
            what,
            self.offset(),
            ReadErrorKind::Truncated {
                needed,
                available: self.remaining(),
            },
        )
    }

    /// Takes the next `n` bytes (borrowed, not copied).
    ///
    /// # Errors
    /// [`ReadErrorKind::Truncated`] when fewer remain; nothing is consumed.
    #[inline]
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ReadError> {
        if n > self.remaining() {
            return Err(self.truncated(what, n));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Skips `n` bytes.
    ///
    /// # Errors
    /// As [`take`](Self::take).
    #[inline]
    pub fn advance(&mut self, n: usize, what: &'static str) -> Result<(), ReadError> {
        self.take(n, what).map(|_| ())
    }

    /// Takes the next `N` bytes as an array.
    ///
    /// # Errors
    /// As [`take`](Self::take).
    #[inline]
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], ReadError> {
        match self.rest().first_chunk::<N>() {
            Some(b) => {
                self.pos += N;
                Ok(*b)
            }
            None => Err(self.truncated(what, N)),
        }
    }

    /// Takes the next `n` bytes as UTF-8 text (borrowed).
    ///
    /// # Errors
    /// [`ReadErrorKind::Truncated`], or [`ReadErrorKind::InvalidUtf8`] at
    /// the text's first byte (nothing is consumed then).
    pub fn utf8(&mut self, n: usize, what: &'static str) -> Result<&'a str, ReadError> {
        let at = self.offset();
        let pos = self.pos;
        let b = self.take(n, what)?;
        std::str::from_utf8(b).map_err(|e| {
            self.pos = pos;
            ReadError::new(
                what,
                at,
                ReadErrorKind::InvalidUtf8 {
                    valid_up_to: e.valid_up_to(),
                },
            )
        })
    }

    /// Reads one byte.
    ///
    /// # Errors
    /// [`ReadErrorKind::Truncated`] at the end of the input.
    #[inline]
    pub fn u8(&mut self, what: &'static str) -> Result<u8, ReadError> {
        match self.buf.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(self.truncated(what, 1)),
        }
    }

    fixed! {
        /// Reads a little-endian `u16`.
        u16 -> u16;
        /// Reads a little-endian `u32`.
        u32 -> u32;
        /// Reads a little-endian `u64`.
        u64 -> u64;
        /// Reads a little-endian `i16`.
        i16 -> i16;
        /// Reads a little-endian `i32`.
        i32 -> i32;
        /// Reads a little-endian `i64`.
        i64 -> i64;
        /// Reads a little-endian `f32` (its IEEE bits).
        f32 -> f32;
        /// Reads a little-endian `f64` (its IEEE bits).
        f64 -> f64;
    }

    /// Reads a canonical unsigned LEB128 value (1 to 10 bytes).
    ///
    /// # Errors
    /// [`ReadErrorKind::Varint`] at the value's first byte: truncated, too
    /// long, overflowing or non-canonical (see [`leb128`]).
    #[inline]
    pub fn varint(&mut self, what: &'static str) -> Result<u64, ReadError> {
        // The common one-byte case first.
        if let Some(&b) = self.buf.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        match leb128::decode_u64_at(self.rest(), 0) {
            Ok((v, n)) => {
                self.pos += n;
                Ok(v)
            }
            Err(e) => Err(self.error_at(what, self.offset(), ReadErrorKind::Varint(e))),
        }
    }

    /// Reads an LEB128 value that must fit in 32 bits.
    ///
    /// # Errors
    /// As [`varint`](Self::varint), or [`ReadErrorKind::TooWide`] at the
    /// value's first byte (nothing is consumed then).
    #[inline]
    pub fn varint_u32(&mut self, what: &'static str) -> Result<u32, ReadError> {
        let (pos, at) = (self.pos, self.offset());
        let v = self.varint(what)?;
        u32::try_from(v).map_err(|_| {
            self.pos = pos;
            ReadError::new(what, at, ReadErrorKind::TooWide { value: v, bits: 32 })
        })
    }

    /// Reads a zigzag LEB128 `i64`.
    ///
    /// # Errors
    /// As [`varint`](Self::varint).
    #[inline]
    pub fn zigzag(&mut self, what: &'static str) -> Result<i64, ReadError> {
        self.varint(what).map(leb128::zigzag_decode_i64)
    }

    /// Reads an LEB128 count and checks it is at most `max`.
    ///
    /// # Errors
    /// As [`varint`](Self::varint), or [`ReadErrorKind::CountTooLarge`] at
    /// the count's first byte (nothing is consumed then).
    #[inline]
    pub fn count(&mut self, what: &'static str, max: usize) -> Result<usize, ReadError> {
        let (pos, at) = (self.pos, self.offset());
        let v = self.varint(what)?;
        match usize::try_from(v) {
            Ok(n) if n <= max => Ok(n),
            _ => {
                self.pos = pos;
                Err(ReadError::new(
                    what,
                    at,
                    ReadErrorKind::CountTooLarge { count: v, max },
                ))
            }
        }
    }

    /// Reads an LEB128 count of items that each take at least `item_size`
    /// bytes, and checks they fit in the bytes left after it: a count that
    /// passes is safe to allocate for.
    ///
    /// # Errors
    /// As [`varint`](Self::varint), or
    /// [`ReadErrorKind::CountExceedsInput`] at the count's first byte
    /// (nothing is consumed then).
    #[inline]
    pub fn count_items(
        &mut self,
        what: &'static str,
        item_size: usize,
    ) -> Result<usize, ReadError> {
        let (pos, at) = (self.pos, self.offset());
        let v = self.varint(what)?;
        self.check_items(what, pos, at, v, item_size)
    }

    /// Checks a count `v` read from `pos` (at offset `at`) against the
    /// bytes left, rewinding to `pos` when it does not fit.
    fn check_items(
        &mut self,
        what: &'static str,
        pos: usize,
        at: usize,
        v: u64,
        item_size: usize,
    ) -> Result<usize, ReadError> {
        let available = self.remaining();
        match usize::try_from(v) {
            Ok(n) if n.checked_mul(item_size).is_some_and(|b| b <= available) => Ok(n),
            _ => {
                self.pos = pos;
                Err(ReadError::new(
                    what,
                    at,
                    ReadErrorKind::CountExceedsInput {
                        count: v,
                        item_size,
                        available,
                    },
                ))
            }
        }
    }

    /// As [`count_items`](Self::count_items) with the count stored as a
    /// little-endian `u64`.
    ///
    /// # Errors
    /// [`ReadErrorKind::Truncated`] or [`ReadErrorKind::CountExceedsInput`].
    #[inline]
    pub fn u64_count_items(
        &mut self,
        what: &'static str,
        item_size: usize,
    ) -> Result<usize, ReadError> {
        let (pos, at) = (self.pos, self.offset());
        let v = self.u64(what)?;
        self.check_items(what, pos, at, v, item_size)
    }

    /// Checks that the whole input has been read.
    ///
    /// # Errors
    /// [`ReadErrorKind::TrailingBytes`] at the first unread byte.
    pub fn finish(&self, what: &'static str) -> Result<(), ReadError> {
        match self.remaining() {
            0 => Ok(()),
            count => {
                Err(self.error_at(what, self.offset(), ReadErrorKind::TrailingBytes { count }))
            }
        }
    }
}

/// Canonical unsigned LEB128 and zigzag: the one scalar decoder of the
/// project (the kernels' bulk decoders fall back on it for exact errors).
///
/// Seven bits per byte, least significant group first, the high bit set
/// when another byte follows; a `u64` takes 1 to 10 bytes, a `u32` 1 to 5.
/// Only the shortest form is accepted, so equal values have equal bytes.
///
/// ```
/// use unidb_common::bytes::leb128::{decode_u64_at, Leb128Error};
///
/// assert_eq!(decode_u64_at(&[0xAC, 0x02], 0), Ok((300, 2)));
/// assert_eq!(
///     decode_u64_at(&[7, 0x80, 0x00], 1),
///     Err(Leb128Error::NonCanonical { start: 1, offset: 2 })
/// );
/// ```
pub mod leb128 {
    pub use super::Leb128Error;

    /// Maximum LEB128 length of a `u64`.
    pub const MAX_LEN_U64: usize = 10;
    /// Maximum LEB128 length of a `u32`.
    pub const MAX_LEN_U32: usize = 5;

    /// Decodes the `u64` starting at byte `start` of `input`; returns it and
    /// the offset just past it.
    ///
    /// # Errors
    /// A [`Leb128Error`] with offsets into `input`: truncated, more than 10
    /// bytes, bits beyond 64, or a redundant trailing zero byte.
    #[inline]
    pub fn decode_u64_at(input: &[u8], start: usize) -> Result<(u64, usize), Leb128Error> {
        let mut result = 0u64;
        for i in 0..MAX_LEN_U64 {
            let offset = start + i;
            let Some(&byte) = input.get(offset) else {
                return Err(Leb128Error::Truncated {
                    start,
                    offset: input.len().max(start),
                });
            };
            if i == MAX_LEN_U64 - 1 {
                if byte & 0x80 != 0 {
                    return Err(Leb128Error::TooLong {
                        start,
                        offset,
                        max_len: MAX_LEN_U64,
                    });
                }
                if byte > 1 {
                    return Err(Leb128Error::Overflow {
                        start,
                        offset,
                        bits: 64,
                    });
                }
            }
            result |= u64::from(byte & 0x7F) << (7 * i);
            if byte & 0x80 == 0 {
                if byte == 0 && i > 0 {
                    return Err(Leb128Error::NonCanonical { start, offset });
                }
                return Ok((result, offset + 1));
            }
        }
        // The 10th byte either ends the value or returns an error above.
        Err(Leb128Error::TooLong {
            start,
            offset: start + MAX_LEN_U64 - 1,
            max_len: MAX_LEN_U64,
        })
    }

    /// As [`decode_u64_at`] for a `u32`: at most 5 bytes and 32 bits.
    ///
    /// # Errors
    /// As [`decode_u64_at`].
    #[inline]
    pub fn decode_u32_at(input: &[u8], start: usize) -> Result<(u32, usize), Leb128Error> {
        let mut result = 0u32;
        for i in 0..MAX_LEN_U32 {
            let offset = start + i;
            let Some(&byte) = input.get(offset) else {
                return Err(Leb128Error::Truncated {
                    start,
                    offset: input.len().max(start),
                });
            };
            if i == MAX_LEN_U32 - 1 {
                if byte & 0x80 != 0 {
                    return Err(Leb128Error::TooLong {
                        start,
                        offset,
                        max_len: MAX_LEN_U32,
                    });
                }
                if byte > 0x0F {
                    return Err(Leb128Error::Overflow {
                        start,
                        offset,
                        bits: 32,
                    });
                }
            }
            result |= u32::from(byte & 0x7F) << (7 * i);
            if byte & 0x80 == 0 {
                if byte == 0 && i > 0 {
                    return Err(Leb128Error::NonCanonical { start, offset });
                }
                return Ok((result, offset + 1));
            }
        }
        // The 5th byte either ends the value or returns an error above.
        Err(Leb128Error::TooLong {
            start,
            offset: start + MAX_LEN_U32 - 1,
            max_len: MAX_LEN_U32,
        })
    }

    /// Zigzag-encodes an `i32` so that small magnitudes become small unsigned
    /// values: 0 → 0, -1 → 1, 1 → 2, -2 → 3, …
    ///
    /// ```
    /// use unidb_common::bytes::leb128::{zigzag_decode_i32, zigzag_encode_i32};
    /// assert_eq!(zigzag_encode_i32(-1), 1);
    /// assert_eq!(zigzag_encode_i32(i32::MIN), u32::MAX);
    /// assert_eq!(zigzag_decode_i32(zigzag_encode_i32(-12345)), -12345);
    /// ```
    #[inline]
    pub const fn zigzag_encode_i32(value: i32) -> u32 {
        ((value << 1) ^ (value >> 31)) as u32
    }

    /// Inverse of [`zigzag_encode_i32`].
    #[inline]
    pub const fn zigzag_decode_i32(value: u32) -> i32 {
        ((value >> 1) as i32) ^ -((value & 1) as i32)
    }

    /// Zigzag-encodes an `i64`: 0 → 0, -1 → 1, 1 → 2, …, `i64::MIN` → `u64::MAX`.
    ///
    /// ```
    /// use unidb_common::bytes::leb128::{zigzag_decode_i64, zigzag_encode_i64};
    /// assert_eq!(zigzag_encode_i64(1), 2);
    /// assert_eq!(zigzag_encode_i64(i64::MIN), u64::MAX);
    /// assert_eq!(zigzag_decode_i64(u64::MAX), i64::MIN);
    /// ```
    #[inline]
    pub const fn zigzag_encode_i64(value: i64) -> u64 {
        ((value << 1) ^ (value >> 63)) as u64
    }

    /// Inverse of [`zigzag_encode_i64`].
    #[inline]
    pub const fn zigzag_decode_i64(value: u64) -> i64 {
        ((value >> 1) as i64) ^ -((value & 1) as i64)
    }
}

/// A malformed LEB128 value. Offsets are byte indices into the slice given
/// to the decoder. These are all the ways LEB128 can be malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leb128Error {
    /// The input ends inside a value.
    Truncated {
        /// Offset of the first byte of the incomplete value.
        start: usize,
        /// Offset of the first missing byte (the input's length).
        offset: usize,
    },
    /// The continuation bit is set on the last byte a value may use (the
    /// 10th for `u64`, the 5th for `u32`).
    TooLong {
        /// Offset of the first byte of the value.
        start: usize,
        /// Offset of the last permitted byte, whose continuation bit is set.
        offset: usize,
        /// The maximum encoded length (10 or 5).
        max_len: usize,
    },
    /// The last byte sets bits beyond the integer's width.
    Overflow {
        /// Offset of the first byte of the value.
        start: usize,
        /// Offset of the offending (last) byte.
        offset: usize,
        /// The integer width (64 or 32).
        bits: u32,
    },
    /// The value is not in its shortest form: its last byte is a redundant
    /// zero (e.g. `80 00` for 0).
    NonCanonical {
        /// Offset of the first byte of the value.
        start: usize,
        /// Offset of the redundant zero byte.
        offset: usize,
    },
}

impl fmt::Display for Leb128Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Leb128Error::Truncated { start, offset } => write!(
                f,
                "truncated input: the value starting at byte {start} needs byte {offset}, but the input ends there"
            ),
            Leb128Error::TooLong {
                start,
                offset,
                max_len,
            } => write!(
                f,
                "varint too long: the value starting at byte {start} continues past byte {offset}, its {max_len}-byte limit"
            ),
            Leb128Error::Overflow {
                start,
                offset,
                bits,
            } => write!(
                f,
                "varint overflow: byte {offset} of the value starting at byte {start} sets bits beyond {bits}"
            ),
            Leb128Error::NonCanonical { start, offset } => write!(
                f,
                "non-canonical encoding: byte {offset} is a redundant zero byte of the value starting at byte {start}"
            ),
        }
    }
}

impl std::error::Error for Leb128Error {}
