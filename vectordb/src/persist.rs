//! Saving a collection with its indexes to one file, and opening it again
//! with the vectors memory-mapped (not copied).
//!
//! # Format (version 6, little-endian)
//! ```text
//! 0   8  magic "UNIDBVEC"
//! 8   4  format version (6)
//! 12  4  CRC-32 of every byte of the file except these four
//! 16  8  file length
//! 24  8  vectors offset (a multiple of 64)
//! 32  8  vectors length, in values (slots × dim)
//! 40  8  metadata offset
//! 48  8  metadata length, in bytes
//! 56  1  row encoding: 0 = f32, 1 = f16 (IEEE half bits), 2 = i8 codes,
//!        3 = pq codes, 4 = sq4 codes (two 4-bit codes per byte)
//! 57  7  zero
//! 64  …  vectors (row-major, every slot including deleted ones, as stored:
//!        4, 2 or 1 bytes per value, or a row's code bytes)
//! …      zero padding to a multiple of 64; the refine originals (f32,
//!        64-byte aligned) when kept
//! …      zero padding to a multiple of 64
//! …      metadata: configuration (dimension, metric, allow_nan, storage,
//!        configured i8 range, i8 training row count), the i8 quantizer
//!        (row length, offsets, steps) if trained, the pq configuration and
//!        quantizer, the originals section (offset, length) of `RFlat`,
//!        the configured transforms (name, JSON parameters) and the fitted
//!        chain (its own bytes: magic, version, CRC-32), the sq4 quantile
//!        and quantizer (row length, every `lo`, every step), liveness,
//!        ids, key/value metadata, and each index as (name, plugin name,
//!        plugin bytes)
//! ```
//! The row encoding is the storage's, except for an i8 collection whose
//! quantizer is not trained yet: its rows are f32 (and it has no
//! quantizer); every other combination is refused.
//! The vectors section starts on a 64-byte boundary of a page-aligned map,
//! so it is viewed as `&[f32]`, `&[u16]` or `&[i8]` in place, for every
//! storage. Opening checks the magic, version, length and checksum before
//! reading anything else, then bounds-checks every field: a truncated,
//! corrupted or wrong-version file is an error, never a panic. A checksum
//! only detects accidents, so every structural invariant a later operation
//! relies on is validated too (ids, liveness, storage parameters, and each
//! index's own: graph links and entry point, list membership, parameters
//! within limits, dimensions; see `hnsw::load`, `ivf::load` and
//! [`VectorIndex::validate`](crate::VectorIndex::validate)): a crafted
//! file whose checksum is valid is refused with
//! [`VectorError::Corrupt`] naming what was wrong.
//!
//! Saving is atomic ([`unidb_common::fs::write_atomic`]): at every instant
//! the file holds the old or the new collection, complete.
//!
//! Version 1 files (f32 only: byte 56 zero, no storage fields in the
//! metadata) and version 2 files (one i8 offset for every dimension, no
//! training row count, rows always in the storage's encoding) and version
//! 3 files (one i8 step shared by every dimension, written before the
//! offsets), version 4 (no pq, no originals), version 5 (no
//! transforms; the i8 quantizer as long as the dimension) and version 6
//! files (no sq4) are still read; this build writes version 7. With
//! transforms the rows are stored transformed (their length is the
//! chain's output dimension), the originals untransformed. The i8 and sq4
//! rows' code norms are not saved: opening computes them from the codes.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use unidb_registry::PluginKind;

use crate::codec::{ReadExt, Reader, Writer};
use crate::collection::{Collection, CollectionConfig, Metadata, Rows};
use crate::error::{Result, VectorError};
use crate::index::IndexPlugin;
use crate::metric::Metric;
use crate::quant::pq::{PqConfig, ProductQuantizer};
use crate::quant::sq4::Sq4Quantizer;
use crate::stats::Stats;
use crate::storage::{Quantizer, Storage};
use crate::transform::kind::{TransformChain, TransformStep};
use unidb_common::id::Id;
use unidb_common::value::Value;

/// The file magic.
pub const MAGIC: &[u8; 8] = b"UNIDBVEC";
/// The format version this build writes (it also reads
/// [`VERSION_NO_SQ4`], [`VERSION_NO_TRANSFORM`], [`VERSION_NO_PQ`],
/// [`VERSION_SHARED_STEP`], [`VERSION_GLOBAL_I8`] and
/// [`VERSION_F32_ONLY`]).
pub const VERSION: u32 = 7;
/// The previous format version (no sq4 storage), still read.
pub const VERSION_NO_SQ4: u32 = 6;
/// The format version before transforms, still read.
pub const VERSION_NO_TRANSFORM: u32 = 5;
/// The previous format version (no pq storage, no refine originals),
/// still read.
pub const VERSION_NO_PQ: u32 = 4;
/// The format version before (one i8 step shared by every dimension),
/// still read.
pub const VERSION_SHARED_STEP: u32 = 3;
/// The previous format version (one i8 quantizer offset for every
/// dimension), still read.
pub const VERSION_GLOBAL_I8: u32 = 2;
/// The previous format version (f32 storage only), still read.
pub const VERSION_F32_ONLY: u32 = 1;
const HEADER: usize = 64;

pub(crate) fn crc(buf: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&buf[..12]);
    h.update(&buf[16..]);
    h.finalize()
}

fn pad64(n: usize) -> usize {
    n.next_multiple_of(64)
}

fn encode_meta(c: &Collection, version: u32, originals_at: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = Writer(&mut out);
    w.u64(c.config.dim as u64);
    w.str(&c.config.metric);
    w.u8(u8::from(c.config.allow_nan));
    if version >= 2 {
        w.u8(c.config.storage.tag());
        let pair = |w: &mut Writer<'_>, p: Option<(f32, f32)>| match p {
            None => w.u8(0),
            Some((a, b)) => {
                w.u8(1);
                w.f32(a);
                w.f32(b);
            }
        };
        pair(&mut w, c.config.i8_range);
        if version == VERSION_GLOBAL_I8 {
            pair(
                &mut w,
                c.quantizer.as_ref().map(|q| (q.offsets[0], q.scales[0])),
            );
        } else {
            w.u64(c.config.i8_train_rows as u64);
            match &c.quantizer {
                None => w.u8(0),
                Some(q) if version == VERSION_SHARED_STEP => {
                    w.u8(1);
                    w.f32(q.scales[0]);
                    q.offsets.iter().for_each(|&o| w.f32(o));
                }
                Some(q) => {
                    w.u8(1);
                    if version >= 6 {
                        // The stored row length (transformed rows may be
                        // shorter than the dimension).
                        w.u64(q.offsets.len() as u64);
                    }
                    q.offsets.iter().for_each(|&o| w.f32(o));
                    q.scales.iter().for_each(|&s| w.f32(s));
                }
            }
        }
    }
    if version >= 5 {
        match &c.config.pq {
            None => w.u8(0),
            Some(p) => {
                w.u8(1);
                w.u64(p.m as u64);
                w.u8(p.nbits as u8);
                w.u64(p.iterations as u64);
                w.u64(p.max_train as u64);
                w.u64(p.seed);
            }
        }
        match &c.pq {
            None => w.u8(0),
            Some(pq) => {
                w.u8(1);
                pq.save(&mut w);
            }
        }
        match &c.originals {
            None => w.u8(0),
            Some(o) => {
                w.u8(1);
                w.u64(originals_at as u64);
                w.u64(o.as_bytes().len() as u64);
            }
        }
    }
    if version >= 6 {
        w.u64(c.config.transforms.len() as u64);
        for step in &c.config.transforms {
            w.str(&step.name);
            w.str(&step.params.to_string());
        }
        match &c.transform {
            None => w.u8(0),
            Some(t) => {
                w.u8(1);
                w.bytes(&t.to_bytes());
            }
        }
    }
    if version >= 7 {
        match c.config.sq4_quantile {
            None => w.u8(0),
            Some(q) => {
                w.u8(1);
                w.f32(q);
            }
        }
        match &c.sq4 {
            None => w.u8(0),
            Some(q) => {
                w.u8(1);
                q.save(&mut w);
            }
        }
    }
    w.u64(c.live.len() as u64);
    let live: Vec<u8> = c.live.iter().map(|&l| u8::from(l)).collect();
    w.bytes(&live);
    for id in &c.ids {
        match id {
            Id::Num(n) => {
                w.u8(0);
                w.u64(*n);
            }
            Id::Str(s) => {
                w.u8(1);
                w.str(s);
            }
        }
    }
    for m in &c.meta {
        match m {
            None => w.u8(0),
            Some(m) => {
                w.u8(1);
                w.u64(m.len() as u64);
                for (k, v) in m {
                    w.str(k);
                    match v {
                        // Tags 0-3 are those of the first format; 4-6 came
                        // with common's value vocabulary.
                        Value::Bool(b) => {
                            w.u8(0);
                            w.u8(u8::from(*b));
                        }
                        Value::I64(i) => {
                            w.u8(1);
                            w.u64(*i as u64);
                        }
                        Value::F64(f) => {
                            w.u8(2);
                            w.f64(*f);
                        }
                        Value::Text(s) => {
                            w.u8(3);
                            w.str(s);
                        }
                        Value::Null => w.u8(4),
                        Value::Bytes(b) => {
                            w.u8(5);
                            w.bytes(b);
                        }
                        Value::Timestamp(t) => {
                            w.u8(6);
                            w.u64(*t as u64);
                        }
                    }
                }
            }
        }
    }
    w.u64(c.indexes.len() as u64);
    for (name, index) in &c.indexes {
        w.str(name);
        w.str(index.kind());
        let mut bytes = Vec::new();
        index.save(&mut bytes);
        w.bytes(&bytes);
    }
    out
}

/// The whole file as bytes.
pub fn to_bytes(c: &Collection) -> Vec<u8> {
    to_bytes_version(c, VERSION)
}

/// The file in format `version` (1 only for f32 storage, 2 only for
/// trained quantizers with equal offsets; tests use it to check that
/// older files are still read).
pub(crate) fn to_bytes_version(c: &Collection, version: u32) -> Vec<u8> {
    let data = c.data();
    let rows = data.rows;
    let values = rows.values();
    let vec_off = HEADER;
    let originals_at = pad64(vec_off + values * rows.storage().bytes_per_value());
    let originals: &[u8] = match (&c.originals, version >= 5) {
        (Some(o), true) => o.as_bytes(),
        _ => &[],
    };
    let meta = encode_meta(c, version, originals_at);
    let meta_off = pad64(originals_at + originals.len());
    let total = meta_off + meta.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    for v in [total, vec_off, values, meta_off, meta.len()] {
        out.extend_from_slice(&(v as u64).to_le_bytes());
    }
    out.extend_from_slice(&[rows.storage().tag(), 0, 0, 0, 0, 0, 0, 0]);
    match rows {
        crate::RowsRef::F32(r) => r
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        crate::RowsRef::F16(r) => r
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        crate::RowsRef::I8 { codes, .. } => out.extend_from_slice(bytemuck::cast_slice(codes)),
        crate::RowsRef::Pq { codes, .. } | crate::RowsRef::Sq4 { codes, .. } => {
            out.extend_from_slice(codes)
        }
    }
    out.resize(originals_at, 0);
    // Native f32 values to little-endian.
    for v in originals.chunks_exact(4) {
        let v = f32::from_ne_bytes([v[0], v[1], v[2], v[3]]);
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.resize(meta_off, 0);
    out.extend_from_slice(&meta);
    let sum = crc(&out);
    out[12..16].copy_from_slice(&sum.to_le_bytes());
    out
}

/// Saves to `path` atomically ([`unidb_common::fs::write_atomic`]): the
/// file is written to a uniquely named temporary file beside it
/// (`.<name>.tmp-<pid>-<n>`), synced, renamed over `path`, and the directory
/// is synced. Whatever the name and whatever else saves concurrently,
/// `path` holds the old or the new collection, complete, at every instant;
/// on failure no temporary file is left. Temporary files of `path` left by
/// killed processes are removed.
///
/// # Errors
/// [`VectorError::Io`] naming `path`; its source names the failed step
/// and keeps the operating system's error.
pub fn save(c: &Collection, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let bytes = to_bytes(c);
    unidb_common::fs::write_atomic(path, &bytes).map_err(|e| VectorError::io(path, e.into()))
}

struct Layout {
    version: u32,
    /// How the rows are encoded.
    storage: Storage,
    vec_off: usize,
    /// In values.
    vec_len: usize,
    /// In bytes.
    vec_bytes: usize,
    meta_off: usize,
    meta_len: usize,
}

fn corrupt(what: impl Into<String>) -> VectorError {
    VectorError::Corrupt(what.into())
}

fn check_header(buf: &[u8]) -> Result<Layout> {
    if buf.len() < HEADER {
        if buf.len() >= 8 && &buf[..8] != MAGIC {
            return Err(VectorError::BadMagic);
        }
        return Err(corrupt(format!(
            "truncated: {} bytes, header needs {HEADER}",
            buf.len()
        )));
    }
    if &buf[..8] != MAGIC {
        return Err(VectorError::BadMagic);
    }
    let u64_at = |o: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&buf[o..o + 8]);
        u64::from_le_bytes(a)
    };
    let version = u32::from_le_bytes([buf[8], buf[9], buf[10], buf[11]]);
    let stored = u32::from_le_bytes([buf[12], buf[13], buf[14], buf[15]]);
    let total = u64_at(16);
    if total != buf.len() as u64 {
        return Err(corrupt(format!(
            "truncated or extended: header says {total} bytes, file has {}",
            buf.len()
        )));
    }
    if crc(buf) != stored {
        return Err(corrupt("checksum mismatch"));
    }
    if !(VERSION_F32_ONLY..=VERSION).contains(&version) {
        return Err(VectorError::UnsupportedVersion {
            found: version,
            supported: VERSION,
        });
    }
    let storage = Storage::from_tag(buf[56])
        .ok_or_else(|| corrupt(format!("unknown storage tag {}", buf[56])))?;
    if buf[57..64].iter().any(|&b| b != 0) || (version == 1 && storage != Storage::F32) {
        return Err(corrupt("reserved header bytes are not zero"));
    }
    let field = |o: usize| usize::try_from(u64_at(o)).map_err(|_| corrupt("offset too large"));
    let vec_len = field(32)?;
    let mut l = Layout {
        version,
        storage,
        vec_off: field(24)?,
        vec_len,
        vec_bytes: 0,
        meta_off: field(40)?,
        meta_len: field(48)?,
    };
    l.vec_bytes = vec_len
        .checked_mul(storage.bytes_per_value())
        .ok_or_else(|| corrupt("vector section too large"))?;
    let vec_end = l
        .vec_bytes
        .checked_add(l.vec_off)
        .ok_or_else(|| corrupt("vector section too large"))?;
    let meta_end = l
        .meta_off
        .checked_add(l.meta_len)
        .ok_or_else(|| corrupt("metadata section too large"))?;
    let misaligned = l.vec_off % 64;
    if l.vec_off < HEADER || misaligned != 0 || vec_end > l.meta_off || meta_end != buf.len() {
        return Err(corrupt("section offsets out of range or misaligned"));
    }
    Ok(l)
}

/// Makes the rows of a section of `buf` (offset, bytes, value width):
/// mapped in place or copied.
type Section<'a> = &'a dyn Fn(usize, usize, usize) -> Rows;

fn decode(buf: &[u8], l: &Layout, rows: Rows, section: Section<'_>) -> Result<Collection> {
    unidb_kernels::Kernels::try_active()?;
    let mut r = Reader::new(&buf[l.meta_off..l.meta_off + l.meta_len]);
    let dim = r.usize("dimension")?;
    let metric_name = r.str("metric")?;
    let allow_nan = r.u8("allow_nan")? != 0;
    let mut i8_train_rows = CollectionConfig::DEFAULT_I8_TRAIN_ROWS;
    let (storage, i8_range, quantizer) = if l.version >= 2 {
        let tag = r.u8("storage")?;
        let storage =
            Storage::from_tag(tag).ok_or_else(|| corrupt(format!("unknown storage tag {tag}")))?;
        let mut pair = |what: &'static str| -> Result<Option<(f32, f32)>> {
            Ok(match r.u8(what)? {
                0 => None,
                1 => Some((r.f32(what)?, r.f32(what)?)),
                t => return Err(corrupt(format!("{what} tag {t}"))),
            })
        };
        let range = pair("i8 range")?;
        let quantizer = if l.version == VERSION_GLOBAL_I8 {
            pair("i8 quantizer")?.map(|(offset, scale)| Quantizer {
                offsets: vec![offset; dim],
                scales: vec![scale; dim],
            })
        } else {
            i8_train_rows = r.usize("i8 training rows")?;
            let floats = |what: &'static str, n: usize, r: &mut Reader<'_>| -> Result<Vec<f32>> {
                if n > r.remaining() / 4 {
                    return Err(corrupt(format!("{n} {what}s do not fit")));
                }
                Ok((0..n)
                    .map(|_| r.f32(what))
                    .collect::<std::result::Result<Vec<f32>, _>>()?)
            };
            match r.u8("i8 quantizer")? {
                0 => None,
                1 if l.version == VERSION_SHARED_STEP => {
                    let scale = r.f32("i8 scale")?;
                    let offsets = floats("i8 offset", dim, &mut r)?;
                    Some(Quantizer {
                        offsets,
                        scales: vec![scale; dim],
                    })
                }
                1 => {
                    let n = if l.version >= 6 {
                        r.usize("i8 quantizer length")?
                    } else {
                        dim
                    };
                    let offsets = floats("i8 offset", n, &mut r)?;
                    let scales = floats("i8 scale", n, &mut r)?;
                    Some(Quantizer { offsets, scales })
                }
                t => return Err(corrupt(format!("i8 quantizer tag {t}"))),
            }
        };
        (storage, range, quantizer)
    } else {
        (Storage::F32, None, None)
    };
    let (mut pq_config, mut pq, mut originals_at) = (None, None, None);
    if l.version >= 5 {
        pq_config = match r.u8("pq configuration")? {
            0 => None,
            1 => Some(PqConfig {
                m: r.usize("pq m")?,
                nbits: u32::from(r.u8("pq nbits")?),
                iterations: r.usize("pq iterations")?,
                max_train: r.usize("pq max_train")?,
                seed: r.u64("pq seed")?,
            }),
            t => return Err(corrupt(format!("pq configuration tag {t}"))),
        };
        pq = match r.u8("pq quantizer")? {
            0 => None,
            1 => Some(ProductQuantizer::load(&mut r)?),
            t => return Err(corrupt(format!("pq quantizer tag {t}"))),
        };
        originals_at = match r.u8("originals")? {
            0 => None,
            1 => Some((r.usize("originals offset")?, r.usize("originals length")?)),
            t => return Err(corrupt(format!("originals tag {t}"))),
        };
    }
    let (mut transforms, mut chain) = (Vec::new(), None);
    if l.version >= 6 {
        // Each step takes at least two length prefixes.
        let n = r.len(16, "transform count")?;
        for _ in 0..n {
            let name = r.str("transform name")?;
            let params = r.str("transform parameters")?;
            let params: serde_json::Value = serde_json::from_str(&params)
                .map_err(|e| corrupt(format!("transform {name:?} parameters: {e}")))?;
            transforms.push(TransformStep { name, params });
        }
        chain = match r.u8("fitted transforms")? {
            0 => None,
            1 => Some(
                TransformChain::from_bytes(r.bytes("fitted transforms")?)
                    .map_err(|e| corrupt(format!("fitted transforms: {e}")))?,
            ),
            t => return Err(corrupt(format!("fitted transforms tag {t}"))),
        };
    }
    let row_dim = match &chain {
        None => dim,
        Some(t) => {
            let names: Vec<&str> = t.steps().iter().map(|s| s.name()).collect();
            let configured: Vec<&str> = transforms.iter().map(|s| s.name.as_str()).collect();
            if t.dim_in() != dim || !names.iter().eq(configured.iter()) {
                return Err(corrupt(format!(
                    "fitted transforms {names:?} on dimension {} do not match the configured \
                     {configured:?} on dimension {dim}",
                    t.dim_in()
                )));
            }
            t.dim_out()
        }
    };
    let awaiting_transform = !transforms.is_empty() && chain.is_none();
    if awaiting_transform && (quantizer.is_some() || pq.is_some()) {
        return Err(corrupt(
            "a quantizer trained before the transforms were fitted",
        ));
    }
    let (mut sq4_quantile, mut sq4) = (None, None);
    if l.version >= 7 {
        sq4_quantile = match r.u8("sq4 quantile")? {
            0 => None,
            1 => Some(r.f32("sq4 quantile")?),
            t => return Err(corrupt(format!("sq4 quantile tag {t}"))),
        };
        sq4 = match r.u8("sq4 quantizer")? {
            0 => None,
            1 => Some(Sq4Quantizer::load(&mut r)?),
            t => return Err(corrupt(format!("sq4 quantizer tag {t}"))),
        };
    }
    if awaiting_transform && sq4.is_some() {
        return Err(corrupt(
            "an sq4 quantizer trained before the transforms were fitted",
        ));
    }
    let awaiting = (storage == Storage::I8 && quantizer.is_none()
        || storage == Storage::Pq && pq.is_none()
        || storage == Storage::Sq4 && sq4.is_none()
        || awaiting_transform)
        && l.storage == Storage::F32;
    if storage != l.storage && !(awaiting && l.version >= 3) {
        return Err(corrupt("storage differs between header and metadata"));
    }
    let slots = r.usize("slot count")?;
    let row_values = match (&pq, l.storage) {
        (Some(pq), Storage::Pq) => pq.code_bytes(),
        (_, Storage::Sq4) => row_dim.div_ceil(2),
        _ => row_dim,
    };
    if dim == 0 || slots.checked_mul(row_values) != Some(l.vec_len) {
        return Err(corrupt(format!(
            "{slots} slots of {row_values} values do not match {} stored values",
            l.vec_len
        )));
    }
    if slots >= u32::MAX as usize {
        return Err(corrupt("too many slots"));
    }
    let metric = Metric::by_name(&metric_name)?;
    let config = CollectionConfig {
        dim,
        metric: metric_name,
        allow_nan,
        storage,
        i8_range,
        i8_train_rows,
        pq: pq_config,
        refine: originals_at.is_some(),
        sq4_quantile,
        transforms,
    };
    let configured = crate::collection::validate_storage(&config, metric)
        .map_err(|e| corrupt(format!("configuration: {e}")))?;
    if storage != Storage::I8 && (quantizer.is_some() || i8_range.is_some()) {
        return Err(corrupt("i8 parameters on a non-i8 collection"));
    }
    if let Some(q) = &quantizer {
        if !q.is_valid(row_dim) || (crate::collection::symmetric_for(metric) && !q.is_symmetric()) {
            return Err(corrupt(format!(
                "invalid i8 quantizer ({} offsets, {} scales)",
                q.offsets.len(),
                q.scales.len()
            )));
        }
        if configured.as_ref().is_some_and(|c| c != q) {
            return Err(corrupt("i8 quantizer differs from the configured range"));
        }
    } else if configured.is_some() {
        return Err(corrupt("i8 range configured but no quantizer"));
    } else if l.storage == Storage::I8 && slots > 0 {
        return Err(corrupt("i8 rows without a quantizer"));
    }
    if let Some(q) = &pq {
        let shape = config.pq.as_ref().map(|p| (p.m, p.nbits));
        if storage != Storage::Pq || q.dim() != row_dim || shape != Some((q.m(), q.nbits())) {
            return Err(corrupt(format!(
                "pq quantizer (dimension {}, m {}, nbits {}) does not fit the configuration",
                q.dim(),
                q.m(),
                q.nbits()
            )));
        }
    } else if l.storage == Storage::Pq {
        return Err(corrupt("pq rows without a quantizer"));
    }
    if storage != Storage::Pq && config.pq.is_some() {
        return Err(corrupt("pq parameters on a non-pq collection"));
    }
    if let Some(q) = &sq4 {
        if storage != Storage::Sq4 || q.dim() != row_dim {
            return Err(corrupt(format!(
                "sq4 quantizer of dimension {} does not fit the configuration",
                q.dim()
            )));
        }
    } else if l.storage == Storage::Sq4 {
        return Err(corrupt("sq4 rows without a quantizer"));
    }
    if storage != Storage::Sq4 && config.sq4_quantile.is_some() {
        return Err(corrupt("sq4 parameters on a non-sq4 collection"));
    }
    let originals = match originals_at {
        None => None,
        Some((at, len)) => {
            let end = at.checked_add(len);
            if !at.is_multiple_of(64)
                || at < l.vec_off + l.vec_bytes
                || end.is_none_or(|e| e > l.meta_off)
                || slots.checked_mul(dim).and_then(|v| v.checked_mul(4)) != Some(len)
            {
                return Err(corrupt(
                    "originals section out of range or of the wrong size",
                ));
            }
            // Inserts refuse non-finite values, so a stored original that is
            // not finite was never written by a save: a search would drop it.
            if buf[at..at + len]
                .chunks_exact(4)
                .any(|b| !f32::from_le_bytes([b[0], b[1], b[2], b[3]]).is_finite())
            {
                return Err(corrupt("originals section holds a non-finite value"));
            }
            Some(section(at, len, 4))
        }
    };
    let live_bytes = r.bytes("liveness")?;
    if live_bytes.len() != slots || live_bytes.iter().any(|&b| b > 1) {
        return Err(corrupt("liveness"));
    }
    let live: Vec<bool> = live_bytes.iter().map(|&b| b == 1).collect();
    let mut ids = Vec::with_capacity(slots.min(r.remaining()));
    for _ in 0..slots {
        ids.push(match r.u8("id tag")? {
            0 => Id::Num(r.u64("id")?),
            1 => Id::Str(r.str("id")?),
            t => return Err(corrupt(format!("id tag {t}"))),
        });
    }
    let mut meta = Vec::with_capacity(slots.min(r.remaining()));
    for _ in 0..slots {
        meta.push(match r.u8("metadata tag")? {
            0 => None,
            1 => {
                let n = r.len(2, "metadata entries")?;
                let mut m = Metadata::new();
                for _ in 0..n {
                    let k = r.str("metadata key")?;
                    let v = match r.u8("value tag")? {
                        0 => Value::Bool(r.u8("bool")? != 0),
                        1 => Value::I64(r.u64("int")? as i64),
                        2 => Value::F64(r.f64("float")?),
                        3 => Value::Text(r.str("string")?),
                        4 => Value::Null,
                        5 => Value::Bytes(r.bytes("bytes")?.to_vec()),
                        6 => Value::Timestamp(r.u64("timestamp")? as i64),
                        t => return Err(corrupt(format!("value tag {t}"))),
                    };
                    m.insert(k, v);
                }
                Some(m)
            }
            t => return Err(corrupt(format!("metadata tag {t}"))),
        });
    }
    let mut slot_of = HashMap::new();
    for (s, id) in ids.iter().enumerate() {
        if live[s] && slot_of.insert(id.clone(), s as u32).is_some() {
            return Err(corrupt(format!("id {id} is live twice")));
        }
    }
    let n_indexes = r.len(16, "index count")?;
    let mut indexes = Vec::with_capacity(n_indexes);
    for _ in 0..n_indexes {
        let name = r.str("index name")?;
        let kind = r.str("index kind")?;
        let bytes = r.bytes("index bytes")?;
        let plugin = IndexPlugin::registry().get(&kind)?;
        indexes.push((name, (plugin.load)(bytes, slots)?));
    }
    r.finish("metadata")?;
    let n_live = live.iter().filter(|&&l| l).count();
    let norms = match (&quantizer, &sq4, l.storage) {
        (Some(q), _, Storage::I8) => q.code_norms(bytemuck::cast_slice(rows.as_bytes())),
        (_, Some(q), Storage::Sq4) => rows
            .as_bytes()
            .chunks_exact(q.code_bytes())
            .map(|r| q.code_norm(r))
            .collect(),
        _ => Vec::new(),
    };
    let c = Collection {
        config,
        metric,
        rows,
        quantizer,
        norms,
        pq,
        sq4,
        originals,
        transform: chain,
        ids,
        meta,
        live,
        n_live,
        slot_of,
        indexes,
        stats: Stats::default(),
    };
    let data = c.data();
    for (name, index) in &c.indexes {
        index.validate(&data).map_err(|e| match e {
            VectorError::Corrupt(what) => corrupt(format!("index {name:?}: {what}")),
            other => other,
        })?;
    }
    Ok(c)
}

fn owned_rows(buf: &[u8], l: &Layout) -> Rows {
    owned_section(buf, l.vec_off, l.vec_bytes, l.storage.bytes_per_value())
}

/// A copy of `bytes` bytes at `offset` of values `width` bytes wide
/// (little-endian on disk; native in memory).
fn owned_section(buf: &[u8], offset: usize, bytes: usize, width: usize) -> Rows {
    let mut rows = Rows::new();
    let mut native = buf[offset..offset + bytes].to_vec();
    if cfg!(target_endian = "big") {
        for v in native.chunks_exact_mut(width) {
            v.reverse();
        }
    }
    rows.push(&native);
    rows
}

/// Restores a collection from the bytes of a saved file (copying them).
///
/// # Errors
/// [`VectorError::BadMagic`], [`VectorError::UnsupportedVersion`],
/// [`VectorError::Corrupt`], an unknown metric/index plugin, or
/// [`VectorError::Kernels`] when `UNIDB_ISA` is invalid.
pub fn from_bytes(buf: &[u8]) -> Result<Collection> {
    let l = check_header(buf)?;
    decode(buf, &l, owned_rows(buf, &l), &|o, n, w| {
        owned_section(buf, o, n, w)
    })
}

/// Opens a saved collection, mapping the file so the vectors are read in
/// place. The first write to the collection copies them into memory.
///
/// The file must not be modified by another process while it is open
/// (the usual contract of memory-mapped files).
///
/// # Errors
/// As [`from_bytes`], plus [`VectorError::Io`] (of kind
/// [`std::io::ErrorKind::IsADirectory`] when `path` is a directory).
pub fn open(path: impl AsRef<Path>) -> Result<Collection> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| VectorError::io(path, e))?;
    let meta = file.metadata().map_err(|e| VectorError::io(path, e))?;
    if meta.is_dir() {
        // Mapping a directory fails with an obscure "No such device".
        return Err(VectorError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a directory"),
        ));
    }
    // Best effort: a save killed before its rename left a temporary file.
    let _ = unidb_common::fs::remove_stale_temps(path);
    // SAFETY: the map is read-only and private to this collection; the
    // documented contract is that the file is not modified while open.
    // Every byte is validated (checksum, bounds) before it is interpreted.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| VectorError::io(path, e))?;
    let l = check_header(&map)?;
    // The section starts on a multiple of 64 of a page-aligned map; check
    // anyway, so the typed views in `Rows::view` can never fail.
    let aligned = (map.as_ptr() as usize + l.vec_off).is_multiple_of(64);
    if cfg!(target_endian = "little") && aligned {
        let map = Arc::new(map);
        let mapped = |offset, bytes, _| Rows::Mapped {
            map: Arc::clone(&map),
            offset,
            bytes,
        };
        return decode(&map, &l, mapped(l.vec_off, l.vec_bytes, 1), &mapped);
    }
    let rows = owned_rows(&map, &l);
    decode(&map, &l, rows, &|o, n, w| owned_section(&map, o, n, w))
}

impl Collection {
    /// Saves the collection and its indexes to `path` (see [`crate::persist`]).
    ///
    /// # Errors
    /// [`VectorError::Io`].
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        save(self, path)
    }

    /// Opens a saved collection with the vectors memory-mapped (see
    /// [`crate::persist::open`]).
    ///
    /// # Errors
    /// As [`crate::persist::open`].
    pub fn open(path: impl AsRef<Path>) -> Result<Collection> {
        open(path)
    }
}

#[cfg(test)]
mod tests;
