//! [`FeatureStore`]: entities (a dictionary of their keys to dense codes)
//! and views stored by column, sorted by (entity, event time, created
//! time), with an offset table per entity code for O(1) access to an
//! entity's rows. Appends take late and out-of-order rows: a batch is
//! validated whole, sorted, then merged in.

use std::collections::HashMap;
use std::sync::Arc;

use unidb_common::metrics::{Histogram, Metrics};
use unidb_common::value::{ColumnType, Value};

use super::column::{Column, KeyColumn};
use super::error::{FeatureError, FeatureResult};
use super::schema::{EntityDef, ViewDef};

type Hasher = foldhash::fast::FixedState;

/// The most rows one view holds (row numbers are `u32`, one value is
/// reserved).
pub const MAX_VIEW_ROWS: usize = u32::MAX as usize - 1;

/// An entity's key dictionary: key → dense code, and back.
#[derive(Debug, Clone)]
pub(crate) enum Dict {
    /// One integer key column.
    Int {
        codes: HashMap<i64, u32, Hasher>,
        keys: Vec<i64>,
    },
    /// Anything else: the key as values.
    Any {
        codes: HashMap<Box<[Value]>, u32, Hasher>,
        keys: Vec<Box<[Value]>>,
    },
}

impl Dict {
    fn for_entity(def: &EntityDef) -> Self {
        if def.keys.len() == 1 && def.keys[0].1 == ColumnType::I64 {
            Dict::Int {
                codes: HashMap::default(),
                keys: Vec::new(),
            }
        } else {
            Dict::Any {
                codes: HashMap::default(),
                keys: Vec::new(),
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Dict::Int { keys, .. } => keys.len(),
            Dict::Any { keys, .. } => keys.len(),
        }
    }

    /// The code of the key in row `row` of `cols`.
    #[inline]
    pub(crate) fn code_at(&self, cols: &[&KeyColumn], row: usize) -> Option<u32> {
        match self {
            Dict::Int { codes, .. } => match cols[0] {
                KeyColumn::Int(v) => codes.get(&v[row]).copied(),
                KeyColumn::Text(_) => None,
            },
            Dict::Any { codes, .. } => {
                let key: Vec<Value> = cols.iter().map(|c| c.value(row)).collect();
                codes.get(key.as_slice()).copied()
            }
        }
    }

    /// The code of `key` (one value per key column).
    pub(crate) fn code_of(&self, key: &[Value]) -> Option<u32> {
        match self {
            Dict::Int { codes, .. } => match key {
                [Value::I64(v)] => codes.get(v).copied(),
                _ => None,
            },
            Dict::Any { codes, .. } => codes.get(key).copied(),
        }
    }

    /// The key of `code`.
    pub(crate) fn key(&self, code: u32) -> Vec<Value> {
        match self {
            Dict::Int { keys, .. } => vec![Value::I64(keys[code as usize])],
            Dict::Any { keys, .. } => keys[code as usize].to_vec(),
        }
    }

    /// Adds a key not present; returns its code.
    pub(crate) fn insert(&mut self, key: Vec<Value>) -> u32 {
        let code = self.len() as u32;
        match self {
            Dict::Int { codes, keys } => {
                let Some(Value::I64(v)) = key.first() else {
                    return code;
                };
                codes.insert(*v, code);
                keys.push(*v);
            }
            Dict::Any { codes, keys } => {
                let key: Box<[Value]> = key.into();
                codes.insert(key.clone(), code);
                keys.push(key);
            }
        }
        code
    }
}

/// An entity's definition and key dictionary.
#[derive(Debug, Clone)]
pub(crate) struct EntityState {
    pub(crate) def: EntityDef,
    pub(crate) dict: Dict,
}

impl EntityState {
    pub(crate) fn new(def: EntityDef) -> Self {
        let dict = Dict::for_entity(&def);
        EntityState { def, dict }
    }

    /// A key rendered for messages and collection ids: its values joined by `|`.
    pub(crate) fn describe(&self, code: u32) -> String {
        self.dict
            .key(code)
            .iter()
            .map(|v| match v {
                Value::Text(t) => t.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join("|")
    }
}

/// A view's rows, sorted by (entity code, event, created), by column.
#[derive(Debug, Clone)]
pub(crate) struct ViewData {
    pub(crate) def: ViewDef,
    pub(crate) entity: usize,
    pub(crate) codes: Vec<u32>,
    pub(crate) event: Vec<i64>,
    pub(crate) created: Vec<i64>,
    pub(crate) columns: Vec<Column>,
    /// Rows of code `c` are `offsets[c]..offsets[c + 1]`; codes past the
    /// end have no rows.
    pub(crate) offsets: Vec<u32>,
}

impl ViewData {
    pub(crate) fn new(def: ViewDef, entity: usize) -> Self {
        let columns = def.features.iter().map(|f| Column::empty(f.ty)).collect();
        ViewData {
            def,
            entity,
            codes: Vec::new(),
            event: Vec::new(),
            created: Vec::new(),
            columns,
            offsets: vec![0],
        }
    }

    /// The rows of entity `code`.
    #[inline]
    pub(crate) fn range(&self, code: u32) -> std::ops::Range<usize> {
        let c = code as usize;
        if c + 1 < self.offsets.len() {
            self.offsets[c] as usize..self.offsets[c + 1] as usize
        } else {
            0..0
        }
    }

    pub(crate) fn rebuild_offsets(&mut self, n_codes: usize) {
        let mut offsets = vec![0u32; n_codes + 1];
        for &c in &self.codes {
            offsets[c as usize + 1] += 1;
        }
        for i in 0..n_codes {
            offsets[i + 1] += offsets[i];
        }
        self.offsets = offsets;
    }

    pub(crate) fn len(&self) -> usize {
        self.codes.len()
    }
}

/// Rows to append to a view: entity key columns by name, the two
/// timestamps (UTC nanoseconds) and every feature column by name.
#[derive(Debug, Clone, Default)]
pub struct RowBatch {
    /// The entity's key columns, by name.
    pub keys: Vec<(String, KeyColumn)>,
    /// When each row's facts were true.
    pub event_timestamps: Vec<i64>,
    /// When each row was recorded.
    pub created_timestamps: Vec<i64>,
    /// The view's features, by name (every feature of the view, once).
    pub features: Vec<(String, Column)>,
}

impl RowBatch {
    /// Number of rows (of the event timestamps).
    pub fn len(&self) -> usize {
        self.event_timestamps.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.event_timestamps.is_empty()
    }
}

/// The feature store: entities, views and their rows in memory, the
/// online latency histogram.
///
/// ```
/// use unidb_vectordb::features::*;
/// use unidb_vectordb::Value;
/// use unidb_common::value::ColumnType;
///
/// let mut store = FeatureStore::new();
/// store.define_entity(EntityDef::new("driver", "driver_id", ColumnType::I64))?;
/// store.define_view(ViewDef::new("stats", "driver").feature("trips", FeatureType::Int)
///     .ttl(std::time::Duration::from_secs(10)))?;
/// store.append("stats", RowBatch {
///     keys: vec![("driver_id".into(), KeyColumn::Int(vec![7, 7]))],
///     event_timestamps: vec![100, 200],
///     created_timestamps: vec![100, 200],
///     features: vec![("trips".into(), Column::new(ColumnData::Int(vec![1, 2])))],
/// })?;
/// let key = [Value::I64(7)];
/// let got = store.get("stats", &key, 150, None)?;
/// assert_eq!(got.value(0), FeatureValue::Int(1));
/// assert!(store.get("stats", &key, 50, None)?.is_missing());
/// assert!(store.get("stats", &key, 200 + 10_000_000_001, None)?.is_expired());
/// # Ok::<(), FeatureError>(())
/// ```
#[derive(Debug)]
pub struct FeatureStore {
    pub(crate) entities: Vec<EntityState>,
    pub(crate) views: Vec<ViewData>,
    pub(crate) metrics: Metrics,
    pub(crate) online_ns: Arc<Histogram>,
}

impl Default for FeatureStore {
    fn default() -> Self {
        Self::new()
    }
}

impl Clone for FeatureStore {
    fn clone(&self) -> Self {
        let mut s = FeatureStore::new();
        s.entities = self.entities.clone();
        s.views = self.views.clone();
        s
    }
}

/// Name of the online latency histogram in [`FeatureStore::metrics`]
/// (nanoseconds per [`FeatureStore::online`] call).
pub const ONLINE_LATENCY: &str = "features.online_ns";

impl FeatureStore {
    /// An empty store.
    pub fn new() -> Self {
        let metrics = Metrics::new();
        let online_ns = metrics.histogram(ONLINE_LATENCY);
        FeatureStore {
            entities: Vec::new(),
            views: Vec::new(),
            metrics,
            online_ns,
        }
    }

    /// The store's metrics (the online latency histogram
    /// [`ONLINE_LATENCY`]).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Defines an entity.
    ///
    /// # Errors
    /// [`FeatureError::AlreadyDefined`], or an invalid definition.
    pub fn define_entity(&mut self, def: EntityDef) -> FeatureResult<()> {
        def.validate()?;
        if self.entities.iter().any(|e| e.def.name == def.name) {
            return Err(FeatureError::AlreadyDefined {
                what: "entity",
                name: def.name,
            });
        }
        self.entities.push(EntityState::new(def));
        Ok(())
    }

    /// Defines a view (of an entity defined before).
    ///
    /// # Errors
    /// [`FeatureError::AlreadyDefined`], [`FeatureError::UnknownEntity`],
    /// or an invalid definition.
    pub fn define_view(&mut self, def: ViewDef) -> FeatureResult<()> {
        def.validate()?;
        if self.views.iter().any(|v| v.def.name == def.name) {
            return Err(FeatureError::AlreadyDefined {
                what: "view",
                name: def.name,
            });
        }
        let entity = self.entity_index(&def.entity)?;
        self.views.push(ViewData::new(def, entity));
        Ok(())
    }

    /// Sets a view's TTL (nanoseconds; `None` for no limit).
    ///
    /// # Errors
    /// [`FeatureError::UnknownView`], or a negative TTL.
    pub fn set_ttl(&mut self, view: &str, ttl: Option<i64>) -> FeatureResult<()> {
        if ttl.is_some_and(|t| t < 0) {
            return Err(FeatureError::invalid(
                format!("view {view:?}"),
                "negative TTL",
            ));
        }
        let v = self.view_index(view)?;
        self.views[v].def.ttl = ttl;
        Ok(())
    }

    /// The entity definitions.
    pub fn entities(&self) -> impl Iterator<Item = &EntityDef> {
        self.entities.iter().map(|e| &e.def)
    }

    /// The view definitions.
    pub fn views(&self) -> impl Iterator<Item = &ViewDef> {
        self.views.iter().map(|v| &v.def)
    }

    /// The definition of view `name`.
    ///
    /// # Errors
    /// [`FeatureError::UnknownView`].
    pub fn view(&self, name: &str) -> FeatureResult<&ViewDef> {
        Ok(&self.views[self.view_index(name)?].def)
    }

    /// Rows stored in view `name`.
    ///
    /// # Errors
    /// [`FeatureError::UnknownView`].
    pub fn rows(&self, name: &str) -> FeatureResult<usize> {
        Ok(self.views[self.view_index(name)?].len())
    }

    pub(crate) fn view_index(&self, name: &str) -> FeatureResult<usize> {
        self.views
            .iter()
            .position(|v| v.def.name == name)
            .ok_or_else(|| FeatureError::UnknownView {
                name: name.to_owned(),
                known: self.views.iter().map(|v| v.def.name.clone()).collect(),
            })
    }

    pub(crate) fn entity_index(&self, name: &str) -> FeatureResult<usize> {
        self.entities
            .iter()
            .position(|e| e.def.name == name)
            .ok_or_else(|| FeatureError::UnknownEntity {
                name: name.to_owned(),
                known: self.entities.iter().map(|e| e.def.name.clone()).collect(),
            })
    }

    /// Appends rows to a view, at any time: late and out-of-order rows
    /// are merged into place. The whole batch is validated first, so an
    /// error leaves the store unchanged.
    ///
    /// # Errors
    /// [`FeatureError::UnknownView`]; [`FeatureError::MissingColumn`] for
    /// an entity key column or feature the batch lacks;
    /// [`FeatureError::UnknownFeature`] for a column the view does not
    /// have; [`FeatureError::TypeMismatch`] for a column of the wrong type
    /// (or vector dimension); [`FeatureError::LengthMismatch`];
    /// [`FeatureError::DuplicateRow`] for a second row with the same
    /// entity, event and created time (in the batch or the store).
    pub fn append(&mut self, view: &str, batch: RowBatch) -> FeatureResult<()> {
        let v = self.view_index(view)?;
        let entity = self.views[v].entity;
        let n = batch.len();
        let def = &self.views[v].def;
        let table = format!("view {:?}", def.name);
        let check_len = |column: &str, got: usize| {
            if got == n {
                Ok(())
            } else {
                Err(FeatureError::LengthMismatch {
                    table: table.clone(),
                    column: column.to_owned(),
                    expected: n,
                    got,
                })
            }
        };
        check_len("created_timestamp", batch.created_timestamps.len())?;
        if self.views[v].len() + n > MAX_VIEW_ROWS {
            return Err(FeatureError::invalid(
                table.clone(),
                format!("more than {MAX_VIEW_ROWS} rows"),
            ));
        }
        // Key columns in the entity's order.
        let edef = &self.entities[entity].def;
        let mut key_cols: Vec<&KeyColumn> = Vec::with_capacity(edef.keys.len());
        for (name, ty) in &edef.keys {
            let col = batch
                .keys
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, c)| c)
                .ok_or_else(|| FeatureError::MissingColumn {
                    table: table.clone(),
                    column: name.clone(),
                })?;
            if col.column_type() != *ty {
                return Err(FeatureError::TypeMismatch {
                    table: table.clone(),
                    column: name.clone(),
                    row: None,
                    expected: ty.to_string(),
                    found: col.column_type().to_string(),
                });
            }
            check_len(name, col.len())?;
            key_cols.push(col);
        }
        if let Some((name, _)) = batch
            .keys
            .iter()
            .find(|(n, _)| !edef.keys.iter().any(|(k, _)| k == n))
        {
            return Err(FeatureError::invalid(
                table.clone(),
                format!("{name:?} is not a key column of entity {:?}", edef.name),
            ));
        }
        // Feature columns in the view's order.
        for (name, _) in &batch.features {
            def.feature_index(name)?;
            if batch.features.iter().filter(|(n, _)| n == name).count() > 1 {
                return Err(FeatureError::AlreadyDefined {
                    what: "column",
                    name: name.clone(),
                });
            }
        }
        let mut new_cols: Vec<&Column> = Vec::with_capacity(def.features.len());
        for f in &def.features {
            let col = batch
                .features
                .iter()
                .find(|(n, _)| *n == f.name)
                .map(|(_, c)| c)
                .ok_or_else(|| FeatureError::MissingColumn {
                    table: table.clone(),
                    column: f.name.clone(),
                })?;
            if col.ty() != f.ty {
                return Err(FeatureError::TypeMismatch {
                    table: table.clone(),
                    column: f.name.clone(),
                    row: None,
                    expected: f.ty.to_string(),
                    found: col.ty().to_string(),
                });
            }
            check_len(&f.name, col.len())?;
            new_cols.push(col);
        }

        // Codes: known keys, then provisional codes for new ones.
        let dict = &self.entities[entity].dict;
        let mut fresh: HashMap<Vec<Value>, u32, Hasher> = HashMap::default();
        let mut fresh_keys: Vec<Vec<Value>> = Vec::new();
        let mut codes = Vec::with_capacity(n);
        for row in 0..n {
            let code = match dict.code_at(&key_cols, row) {
                Some(c) => c,
                None => {
                    let key: Vec<Value> = key_cols.iter().map(|c| c.value(row)).collect();
                    let next = (dict.len() + fresh_keys.len()) as u32;
                    *fresh.entry(key.clone()).or_insert_with(|| {
                        fresh_keys.push(key);
                        next
                    })
                }
            };
            codes.push(code);
        }
        // The batch sorted, then merged with the stored rows.
        let (ev, cr) = (&batch.event_timestamps, &batch.created_timestamps);
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_unstable_by_key(|&i| {
            let i = i as usize;
            (codes[i], ev[i], cr[i])
        });
        let old = &self.views[v];
        let mut merged: Vec<(bool, u32)> = Vec::with_capacity(old.len() + n);
        let (mut a, mut b) = (0usize, 0usize);
        while a < old.len() || b < n {
            let take_new = if a == old.len() {
                true
            } else if b == n {
                false
            } else {
                let j = order[b] as usize;
                (codes[j], ev[j], cr[j]) < (old.codes[a], old.event[a], old.created[a])
            };
            if take_new {
                merged.push((true, order[b]));
                b += 1;
            } else {
                merged.push((false, a as u32));
                a += 1;
            }
        }
        let triple = |(s, r): (bool, u32)| {
            let r = r as usize;
            if s {
                (codes[r], ev[r], cr[r])
            } else {
                (old.codes[r], old.event[r], old.created[r])
            }
        };
        for w in merged.windows(2) {
            if triple(w[0]) == triple(w[1]) {
                let row = if w[1].0 { w[1].1 } else { w[0].1 } as usize;
                let (code, event, created) = triple(w[1]);
                let entity_name = if (code as usize) < dict.len() {
                    self.entities[entity].describe(code)
                } else {
                    let key = &fresh_keys[code as usize - dict.len()];
                    key.iter()
                        .map(|v| match v {
                            Value::Text(t) => t.clone(),
                            o => o.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join("|")
                };
                return Err(FeatureError::DuplicateRow {
                    view: def.name.clone(),
                    row: row + 1,
                    entity: entity_name,
                    event,
                    created,
                });
            }
        }
        // Everything checked: commit.
        let columns: Vec<Column> = old
            .columns
            .iter()
            .zip(&new_cols)
            .map(|(o, b)| Column::interleave(o, b, &merged))
            .collect();
        let codes_m: Vec<u32> = merged.iter().map(|&p| triple(p).0).collect();
        let event_m: Vec<i64> = merged.iter().map(|&p| triple(p).1).collect();
        let created_m: Vec<i64> = merged.iter().map(|&p| triple(p).2).collect();
        drop(fresh);
        let dict = &mut self.entities[entity].dict;
        for key in fresh_keys {
            dict.insert(key);
        }
        let n_codes = dict.len();
        let view = &mut self.views[v];
        view.codes = codes_m;
        view.event = event_m;
        view.created = created_m;
        view.columns = columns;
        view.rebuild_offsets(n_codes);
        Ok(())
    }
}
