//! The one lookup rule, shared by [`FeatureStore::get`], online serving
//! and the point-in-time join, so they cannot disagree:
//!
//! among an entity's rows with `event_timestamp ≤ at` (and, bitemporally,
//! `created_timestamp ≤ known_at`), take the one with the latest event
//! time, ties broken by the latest created time; it is served if
//! `at − event_timestamp ≤ ttl` (inclusive), else the result is
//! [`Lookup::Expired`]; with no such row it is [`Lookup::Missing`].

use unidb_common::value::Value;

use super::column::FeatureValue;
use super::error::{FeatureError, FeatureResult};
use super::store::{FeatureStore, ViewData};

/// Which row an entity's lookup chose, by index into its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hit {
    Found(usize),
    Expired(usize),
    Missing,
}

/// The lookup rule over one entity's rows (`event`, `created`, sorted by
/// (event, created)), of which the first `upto` have `event ≤ at`:
/// the binary search of [`FeatureStore::get`] and the merge of the join
/// both find `upto` and both call this.
#[inline]
pub(crate) fn resolve(
    event: &[i64],
    created: &[i64],
    upto: usize,
    at: i64,
    known_at: Option<i64>,
    ttl: Option<i64>,
) -> Hit {
    let mut i = upto;
    while i > 0 {
        i -= 1;
        if known_at.is_none_or(|k| created[i] <= k) {
            // i128: `at - event` cannot overflow.
            let age = i128::from(at) - i128::from(event[i]);
            return match ttl {
                Some(t) if age > i128::from(t) => Hit::Expired(i),
                _ => Hit::Found(i),
            };
        }
    }
    Hit::Missing
}

/// [`resolve`] for entity `code` of `view` at `at`, by binary search;
/// the hit's index is a row of the view.
#[inline]
pub(crate) fn lookup_code(view: &ViewData, code: u32, at: i64, known_at: Option<i64>) -> Hit {
    lookup_range(view, view.range(code), at, known_at)
}

/// [`resolve`] over rows `r` of `view` (one entity's), by binary search.
#[inline]
pub(crate) fn lookup_range(
    view: &ViewData,
    r: std::ops::Range<usize>,
    at: i64,
    known_at: Option<i64>,
) -> Hit {
    let event = &view.event[r.clone()];
    let upto = event.partition_point(|&e| e <= at);
    match resolve(
        event,
        &view.created[r.clone()],
        upto,
        at,
        known_at,
        view.def.ttl,
    ) {
        Hit::Found(i) => Hit::Found(r.start + i),
        Hit::Expired(i) => Hit::Expired(r.start + i),
        Hit::Missing => Hit::Missing,
    }
}

/// The result of a lookup.
#[derive(Debug, Clone, Copy)]
pub enum Lookup<'a> {
    /// The row served.
    Found(RowRef<'a>),
    /// The row the rule chose is older than the TTL allows.
    Expired(RowRef<'a>),
    /// No row of the entity at that time (or none known then).
    Missing,
}

impl<'a> Lookup<'a> {
    pub(crate) fn new(view: &'a ViewData, hit: Hit) -> Self {
        match hit {
            Hit::Found(row) => Lookup::Found(RowRef { view, row }),
            Hit::Expired(row) => Lookup::Expired(RowRef { view, row }),
            Hit::Missing => Lookup::Missing,
        }
    }

    /// The served row, if found.
    pub fn row(&self) -> Option<RowRef<'a>> {
        match self {
            Lookup::Found(r) => Some(*r),
            _ => None,
        }
    }

    /// Whether a row was served.
    pub fn is_found(&self) -> bool {
        matches!(self, Lookup::Found(_))
    }

    /// Whether the chosen row had expired.
    pub fn is_expired(&self) -> bool {
        matches!(self, Lookup::Expired(_))
    }

    /// Whether there was no row.
    pub fn is_missing(&self) -> bool {
        matches!(self, Lookup::Missing)
    }

    /// Feature `i` of the served row ([`FeatureValue::Null`] when expired
    /// or missing).
    pub fn value(&self, i: usize) -> FeatureValue<'a> {
        self.row().map_or(FeatureValue::Null, |r| r.value(i))
    }
}

/// A row of a view.
#[derive(Debug, Clone, Copy)]
pub struct RowRef<'a> {
    view: &'a ViewData,
    row: usize,
}

impl<'a> RowRef<'a> {
    /// When the row's facts were true (ns).
    pub fn event_timestamp(&self) -> i64 {
        self.view.event[self.row]
    }

    /// When the row was recorded (ns).
    pub fn created_timestamp(&self) -> i64 {
        self.view.created[self.row]
    }

    /// Feature `i` (in the view's order; [`FeatureValue::Null`] past the
    /// end).
    pub fn value(&self, i: usize) -> FeatureValue<'a> {
        self.view
            .columns
            .get(i)
            .map_or(FeatureValue::Null, |c| c.get(self.row))
    }

    /// Feature `name`.
    ///
    /// # Errors
    /// [`FeatureError::UnknownFeature`].
    pub fn get(&self, name: &str) -> FeatureResult<FeatureValue<'a>> {
        Ok(self.value(self.view.def.feature_index(name)?))
    }
}

impl FeatureStore {
    /// The [lookup rule](crate::features) for one entity of
    /// `view` at `at`; with `known_at`, only rows recorded by then count
    /// (bitemporal).
    ///
    /// # Errors
    /// [`FeatureError::UnknownView`]; a key of the wrong arity or types is
    /// [`FeatureError::TypeMismatch`]. A key never seen is
    /// [`Lookup::Missing`], not an error.
    pub fn get(
        &self,
        view: &str,
        key: &[Value],
        at: i64,
        known_at: Option<i64>,
    ) -> FeatureResult<Lookup<'_>> {
        let v = &self.views[self.view_index(view)?];
        let code = self.code_of(v.entity, key)?;
        Ok(Lookup::new(
            v,
            code.map_or(Hit::Missing, |c| lookup_code(v, c, at, known_at)),
        ))
    }

    /// The code of `key` for entity `e` (`None` when never seen).
    pub(crate) fn code_of(&self, e: usize, key: &[Value]) -> FeatureResult<Option<u32>> {
        let ent = &self.entities[e];
        let keys = &ent.def.keys;
        let ok = key.len() == keys.len()
            && key
                .iter()
                .zip(keys)
                .all(|(v, (_, ty))| v.column_type() == Some(*ty));
        if !ok {
            return Err(FeatureError::TypeMismatch {
                table: format!("entity {:?}", ent.def.name),
                column: keys
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                row: None,
                expected: keys
                    .iter()
                    .map(|(_, t)| t.name())
                    .collect::<Vec<_>>()
                    .join(","),
                found: key
                    .iter()
                    .map(|v| v.column_type().map_or("null", |t| t.name()))
                    .collect::<Vec<_>>()
                    .join(","),
            });
        }
        Ok(ent.dict.code_of(key))
    }
}
