//! The little-endian layout of index and collection metadata in saved
//! files: [`Writer`] writes it, common's byte [`Reader`] reads it with
//! [`ReadExt`] for the length-prefixed items.
//!
//! Why not `postcard` (serde) here: it was considered and is not a clear
//! win. The layout is a few dozen fixed-width and length-prefixed fields,
//! written by this module and read through common's `Reader`, which every
//! decoder of the project shares (offsets in errors, counts checked
//! against the bytes left before any allocation). With postcard, a
//! crafted length prefix makes serde preallocate up to its cautious cap
//! (about 1 MiB per sequence) from a few input bytes, which breaks the
//! "small constant per input byte" bound the peak-memory tests enforce,
//! unless every sequence is decoded by hand again; index sections are
//! borrowed slices of the mapped file, which postcard would copy; and
//! old files would still need this reader. The format stays, behind the
//! same checksum, magic and version.

pub(crate) use unidb_common::bytes::Reader;
use unidb_common::bytes::{ReadError, ReadErrorKind};

use crate::error::{Result, VectorError};

/// Appends little-endian values to a byte buffer.
#[derive(Debug)]
pub(crate) struct Writer<'a>(pub(crate) &'a mut Vec<u8>);

impl Writer<'_> {
    pub(crate) fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn f32(&mut self, v: f32) {
        self.u32(v.to_bits());
    }
    pub(crate) fn f64(&mut self, v: f64) {
        self.u64(v.to_bits());
    }
    pub(crate) fn bytes(&mut self, v: &[u8]) {
        self.u64(v.len() as u64);
        self.0.extend_from_slice(v);
    }
    pub(crate) fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }
    pub(crate) fn u32s(&mut self, v: &[u32]) {
        self.u64(v.len() as u64);
        for x in v {
            self.u32(*x);
        }
    }
    pub(crate) fn f32s(&mut self, v: &[f32]) {
        self.u64(v.len() as u64);
        for x in v {
            self.f32(*x);
        }
    }
}

/// Reads what [`Writer`] wrote with common's byte [`Reader`]: fixed-width
/// numbers are its own reads (`u8`, `u32`, `u64`, `f32`, `f64`, `finish`);
/// the `u64`-length-prefixed items are these. Every length is checked
/// against the bytes left before anything is allocated.
pub(crate) trait ReadExt<'a> {
    /// A `u64` length prefix for items of `item_size` bytes, checked
    /// against the bytes left.
    fn len(&mut self, item_size: usize, what: &'static str) -> Result<usize>;
    /// A length-prefixed byte string (borrowed).
    fn bytes(&mut self, what: &'static str) -> Result<&'a [u8]>;
    /// A length-prefixed UTF-8 string.
    fn str(&mut self, what: &'static str) -> Result<String>;
    /// A length-prefixed array of `u32`.
    fn u32s(&mut self, what: &'static str) -> Result<Vec<u32>>;
    /// A length-prefixed array of `f32`.
    fn f32s(&mut self, what: &'static str) -> Result<Vec<f32>>;
    /// A `u64` that must fit `usize`.
    fn usize(&mut self, what: &'static str) -> Result<usize>;
}

impl<'a> ReadExt<'a> for Reader<'a> {
    fn len(&mut self, item_size: usize, what: &'static str) -> Result<usize> {
        Ok(self.u64_count_items(what, item_size)?)
    }

    fn bytes(&mut self, what: &'static str) -> Result<&'a [u8]> {
        let n = self.len(1, what)?;
        Ok(self.take(n, what)?)
    }

    fn str(&mut self, what: &'static str) -> Result<String> {
        let n = self.len(1, what)?;
        Ok(self.utf8(n, what)?.to_owned())
    }

    fn u32s(&mut self, what: &'static str) -> Result<Vec<u32>> {
        let n = self.len(4, what)?;
        (0..n).map(|_| Ok(self.u32(what)?)).collect()
    }

    fn f32s(&mut self, what: &'static str) -> Result<Vec<f32>> {
        let n = self.len(4, what)?;
        (0..n).map(|_| Ok(self.f32(what)?)).collect()
    }

    fn usize(&mut self, what: &'static str) -> Result<usize> {
        let at = self.offset();
        let v = self.u64(what)?;
        usize::try_from(v).map_err(|_| {
            ReadError::new(
                what,
                at,
                ReadErrorKind::TooWide {
                    value: v,
                    bits: usize::BITS,
                },
            )
            .into()
        })
    }
}

impl From<ReadError> for VectorError {
    /// A [`VectorError::Corrupt`] naming what was read, where (the byte
    /// offset in the section being read: the metadata, or one index's
    /// bytes) and what is wrong.
    fn from(e: ReadError) -> Self {
        VectorError::Corrupt(e.to_string())
    }
}
