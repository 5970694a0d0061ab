//! The snapshot file: a whole [`FeatureStore`] (entities with their key
//! dictionaries, views with their rows) in one checksummed file.
//!
//! Layout, little-endian: magic `UNIDBFS\0`, version `u32` (1), the body,
//! then a CRC-32 of everything before it. Lengths and counts are `u64`s,
//! checked against the bytes left before anything is allocated (so a
//! decoder allocates at most a small constant per input byte). The body:
//! entities (name, key columns with their type tags, the keys in code
//! order), then views (name, entity index, owner, description, TTL,
//! features with type tag and dimension, the row count, then by column:
//! entity codes `u32`, event and created times `i64`, and per feature a
//! validity bitmap and its values). Opening checks every structural
//! invariant a lookup relies on: known tags, distinct names and keys,
//! codes in range, rows strictly sorted by (entity, event, created),
//! booleans 0 or 1, text UTF-8, unused bits zero: the format is
//! canonical, so whatever opens saves back to the same bytes.

use std::path::Path;

use unidb_common::bytes::Reader;
use unidb_common::value::{ColumnType, Value};

use super::column::{Column, ColumnData};
use super::error::{FeatureError, FeatureResult};
use super::schema::{EntityDef, Feature, FeatureType, ViewDef};
use super::store::{EntityState, FeatureStore, ViewData};

/// The file's first 8 bytes.
pub const MAGIC: [u8; 8] = *b"UNIDBFS\0";
/// The format version written.
pub const VERSION: u32 = 1;

struct W(Vec<u8>);

impl W {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }
}

impl FeatureStore {
    /// The store as snapshot bytes: magic [`MAGIC`](crate::features::MAGIC),
    /// version [`VERSION`](crate::features::VERSION), the entities with
    /// their keys and the views with their rows by column, then a CRC-32;
    /// every length is checked against the bytes left when read, and the
    /// format is canonical (what opens saves back to the same bytes).
    pub fn to_snapshot_bytes(&self) -> Vec<u8> {
        let mut w = W(Vec::new());
        w.0.extend_from_slice(&MAGIC);
        w.u32(VERSION);
        w.u64(self.entities.len() as u64);
        for e in &self.entities {
            w.str(&e.def.name);
            w.u64(e.def.keys.len() as u64);
            for (name, ty) in &e.def.keys {
                w.str(name);
                w.u8(ty.tag());
            }
            let n = e.dict.len();
            w.u64(n as u64);
            for code in 0..n as u32 {
                for v in e.dict.key(code) {
                    match v {
                        Value::I64(x) => w.i64(x),
                        Value::Text(t) => w.str(&t),
                        // Keys are only ever i64 or text.
                        _ => w.u64(0),
                    }
                }
            }
        }
        w.u64(self.views.len() as u64);
        for v in &self.views {
            let d = &v.def;
            w.str(&d.name);
            w.u64(v.entity as u64);
            w.str(&d.owner);
            w.str(&d.description);
            match d.ttl {
                Some(t) => {
                    w.u8(1);
                    w.i64(t);
                }
                None => {
                    w.u8(0);
                    w.i64(0);
                }
            }
            w.u64(d.features.len() as u64);
            for f in &d.features {
                w.str(&f.name);
                w.u8(f.ty.tag());
                w.u32(match f.ty {
                    FeatureType::Vector { dim } => dim,
                    _ => 0,
                });
            }
            w.u64(v.len() as u64);
            for &c in &v.codes {
                w.u32(c);
            }
            for &t in &v.event {
                w.i64(t);
            }
            for &t in &v.created {
                w.i64(t);
            }
            for col in &v.columns {
                let mut bits = vec![0u8; v.len().div_ceil(8)];
                for (i, &ok) in col.validity().iter().enumerate() {
                    if ok {
                        bits[i / 8] |= 1 << (i % 8);
                    }
                }
                w.0.extend_from_slice(&bits);
                match col.data() {
                    ColumnData::Int(x) | ColumnData::Timestamp(x) => {
                        x.iter().for_each(|&y| w.i64(y))
                    }
                    ColumnData::Float(x) => x.iter().for_each(|&y| w.u64(y.to_bits())),
                    ColumnData::Bool(x) => x.iter().for_each(|&y| w.u8(u8::from(y))),
                    ColumnData::Text(x) => x.iter().for_each(|y| w.str(y)),
                    ColumnData::Vector { values, .. } => {
                        values.iter().for_each(|&y| w.u32(y.to_bits()))
                    }
                }
            }
        }
        let crc = crc32fast::hash(&w.0);
        w.u32(crc);
        w.0
    }

    /// Saves a snapshot to `path`, atomically (common's `write_atomic`:
    /// the old file stays whole until the new one is).
    ///
    /// # Errors
    /// [`FeatureError::Io`].
    pub fn save(&self, path: &Path) -> FeatureResult<()> {
        unidb_common::fs::write_atomic(path, &self.to_snapshot_bytes()).map_err(|e| {
            FeatureError::Io {
                action: "save the feature snapshot to",
                path: path.to_owned(),
                source: std::io::Error::new(e.kind(), e),
            }
        })
    }

    /// Opens a snapshot saved by [`save`](FeatureStore::save).
    ///
    /// # Errors
    /// [`FeatureError::Io`], or [`FeatureError::Corrupt`] (see
    /// [`from_snapshot_bytes`](FeatureStore::from_snapshot_bytes)).
    pub fn open(path: &Path) -> FeatureResult<Self> {
        let bytes = std::fs::read(path).map_err(|source| FeatureError::Io {
            action: "read the feature snapshot",
            path: path.to_owned(),
            source,
        })?;
        Self::from_snapshot_bytes(&bytes)
    }

    /// A store from snapshot bytes, validated whole.
    ///
    /// # Errors
    /// [`FeatureError::Corrupt`] naming the byte offset and the problem:
    /// a bad magic, version or checksum, a truncated or overlong body, an
    /// unknown type tag, a duplicate name or key, a code out of range,
    /// rows out of order or duplicated, a bad boolean or UTF-8 text.
    pub fn from_snapshot_bytes(bytes: &[u8]) -> FeatureResult<Self> {
        let head = MAGIC.len() + 4;
        if bytes.len() < head + 4 {
            return Err(FeatureError::corrupt(
                bytes.len(),
                "shorter than a header and checksum",
            ));
        }
        if bytes[..MAGIC.len()] != MAGIC {
            return Err(FeatureError::corrupt(
                0,
                "not a feature snapshot (bad magic)",
            ));
        }
        let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        if version != VERSION {
            return Err(FeatureError::corrupt(
                8,
                format!("unsupported version {version}"),
            ));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
        if crc32fast::hash(body) != stored {
            return Err(FeatureError::corrupt(body.len(), "checksum mismatch"));
        }
        let mut r = Reader::with_base(&body[head..], head);
        let store = read_body(&mut r)?;
        r.finish("end of snapshot")?;
        Ok(store)
    }
}

fn string(r: &mut Reader<'_>, what: &'static str) -> FeatureResult<String> {
    let n = r.u64_count_items(what, 1)?;
    Ok(r.utf8(n, what)?.to_owned())
}

fn read_body(r: &mut Reader<'_>) -> FeatureResult<FeatureStore> {
    let mut store = FeatureStore::new();
    // Each entity takes at least 24 bytes (three lengths).
    let n_entities = r.u64_count_items("entity count", 24)?;
    for _ in 0..n_entities {
        let at = r.offset();
        let name = string(r, "entity name")?;
        let n_keys = r.u64_count_items("key column count", 9)?;
        let mut keys = Vec::with_capacity(n_keys);
        for _ in 0..n_keys {
            let key = string(r, "key column name")?;
            let tag_at = r.offset();
            let ty = ColumnType::from_tag(r.u8("key column type")?)
                .filter(|t| matches!(t, ColumnType::I64 | ColumnType::Text))
                .ok_or_else(|| {
                    FeatureError::corrupt(tag_at, "key column type is not i64 or text")
                })?;
            keys.push((key, ty));
        }
        let def = EntityDef { name, keys };
        def.validate()
            .map_err(|e| FeatureError::corrupt(at, e.to_string()))?;
        if store.entities.iter().any(|e| e.def.name == def.name) {
            return Err(FeatureError::corrupt(
                at,
                format!("entity {:?} twice", def.name),
            ));
        }
        let mut state = EntityState::new(def);
        let n = r.u64_count_items("key count", 8 * n_keys.max(1))?;
        if n > u32::MAX as usize - 1 {
            return Err(FeatureError::corrupt(r.offset(), "too many keys"));
        }
        for _ in 0..n {
            let key_at = r.offset();
            let mut key = Vec::with_capacity(n_keys);
            for (_, ty) in &state.def.keys {
                key.push(match ty {
                    ColumnType::I64 => Value::I64(r.i64("key")?),
                    _ => Value::Text(string(r, "key")?),
                });
            }
            if state.dict.code_of(&key).is_some() {
                return Err(FeatureError::corrupt(key_at, "a key listed twice"));
            }
            state.dict.insert(key);
        }
        store.entities.push(state);
    }
    let n_views = r.u64_count_items("view count", 48)?;
    for _ in 0..n_views {
        let at = r.offset();
        let name = string(r, "view name")?;
        let entity_at = r.offset();
        let entity = r.u64("view entity")?;
        let entity = usize::try_from(entity)
            .ok()
            .filter(|&e| e < store.entities.len())
            .ok_or_else(|| {
                FeatureError::corrupt(entity_at, format!("entity index {entity} out of range"))
            })?;
        let owner = string(r, "view owner")?;
        let description = string(r, "view description")?;
        let ttl_at = r.offset();
        let has_ttl = r.u8("TTL flag")?;
        let ttl_v = r.i64("TTL")?;
        let ttl = match has_ttl {
            0 if ttl_v == 0 => None,
            1 if ttl_v >= 0 => Some(ttl_v),
            _ => {
                return Err(FeatureError::corrupt(
                    ttl_at,
                    "TTL flag is not 0, or 1 with a TTL of 0 or more",
                ))
            }
        };
        let n_features = r.u64_count_items("feature count", 13)?;
        let mut features = Vec::with_capacity(n_features);
        for _ in 0..n_features {
            let fname = string(r, "feature name")?;
            let tag_at = r.offset();
            let tag = r.u8("feature type")?;
            let dim = r.u32("vector dimension")?;
            let ty = FeatureType::from_tag(tag, dim)
                .filter(|t| matches!(t, FeatureType::Vector { .. }) || dim == 0)
                .ok_or_else(|| {
                    FeatureError::corrupt(
                        tag_at,
                        format!("bad feature type {tag} (dimension {dim})"),
                    )
                })?;
            features.push(Feature { name: fname, ty });
        }
        let def = ViewDef {
            name,
            entity: store.entities[entity].def.name.clone(),
            features,
            ttl,
            owner,
            description,
        };
        def.validate()
            .map_err(|e| FeatureError::corrupt(at, e.to_string()))?;
        if store.views.iter().any(|v| v.def.name == def.name) {
            return Err(FeatureError::corrupt(
                at,
                format!("view {:?} twice", def.name),
            ));
        }
        let rows_at = r.offset();
        let n = r.u64_count_items("row count", 20)?;
        if n > super::store::MAX_VIEW_ROWS {
            return Err(FeatureError::corrupt(rows_at, "too many rows"));
        }
        let n_codes = store.entities[entity].dict.len();
        let codes_at = r.offset();
        let mut codes = Vec::with_capacity(n);
        for _ in 0..n {
            codes.push(r.u32("entity code")?);
        }
        if let Some(i) = codes.iter().position(|&c| c as usize >= n_codes) {
            return Err(FeatureError::corrupt(
                codes_at + 4 * i,
                format!("entity code {} out of range", codes[i]),
            ));
        }
        let mut event = Vec::with_capacity(n);
        for _ in 0..n {
            event.push(r.i64("event time")?);
        }
        let mut created = Vec::with_capacity(n);
        for _ in 0..n {
            created.push(r.i64("created time")?);
        }
        for i in 1..n {
            if (codes[i - 1], event[i - 1], created[i - 1]) >= (codes[i], event[i], created[i]) {
                return Err(FeatureError::corrupt(
                    rows_at,
                    format!(
                        "view {:?}: row {i} is not after row {} (rows must be sorted and distinct)",
                        def.name,
                        i - 1
                    ),
                ));
            }
        }
        let mut columns = Vec::with_capacity(def.features.len());
        for f in &def.features {
            let bits_at = r.offset();
            let bits = r.take(n.div_ceil(8), "validity")?;
            if n % 8 != 0 && bits[n / 8] >> (n % 8) != 0 {
                return Err(FeatureError::corrupt(
                    bits_at + n / 8,
                    "validity bits set past the last row",
                ));
            }
            let valid: Vec<bool> = (0..n).map(|i| bits[i / 8] >> (i % 8) & 1 == 1).collect();
            let data = match f.ty {
                FeatureType::Int | FeatureType::Timestamp => {
                    r.clone().take(n * 8, "values")?;
                    let v: Vec<i64> = (0..n).map(|_| r.i64("value")).collect::<Result<_, _>>()?;
                    if f.ty == FeatureType::Int {
                        ColumnData::Int(v)
                    } else {
                        ColumnData::Timestamp(v)
                    }
                }
                FeatureType::Float => {
                    r.clone().take(n * 8, "values")?;
                    ColumnData::Float((0..n).map(|_| r.f64("value")).collect::<Result<_, _>>()?)
                }
                FeatureType::Bool => {
                    let at = r.offset();
                    let b = r.take(n, "values")?;
                    if let Some(i) = b.iter().position(|&x| x > 1) {
                        return Err(FeatureError::corrupt(at + i, "boolean is not 0 or 1"));
                    }
                    ColumnData::Bool(b.iter().map(|&x| x == 1).collect())
                }
                FeatureType::Text => {
                    r.clone().take(n * 8, "values")?;
                    ColumnData::Text(
                        (0..n)
                            .map(|_| string(r, "text value"))
                            .collect::<Result<_, _>>()?,
                    )
                }
                FeatureType::Vector { dim } => {
                    let count = n.checked_mul(dim as usize).and_then(|c| c.checked_mul(4));
                    let Some(bytes) = count else {
                        return Err(FeatureError::corrupt(r.offset(), "vector values overflow"));
                    };
                    let raw = r.take(bytes, "vector values")?;
                    ColumnData::Vector {
                        dim,
                        values: raw
                            .chunks_exact(4)
                            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                            .collect(),
                    }
                }
            };
            columns.push(
                Column::try_new(data, valid)
                    .map_err(|e| FeatureError::corrupt(rows_at, e.to_string()))?,
            );
        }
        let mut view = ViewData::new(def, entity);
        view.codes = codes;
        view.event = event;
        view.created = created;
        view.columns = columns;
        view.rebuild_offsets(n_codes);
        store.views.push(view);
    }
    Ok(store)
}
