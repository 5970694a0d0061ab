//! [`Row`]: a row as read, with typed access to its cells.

use std::collections::BTreeMap;
use std::ops::Deref;

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};
use unidb_common::value::Value;

use crate::error::{Result, SyncError};

/// A row as read: column name → value (the primary key included), in
/// column-name order. It derefs to that map (`row["qty"]`, `row.len()`,
/// `row.iter()`), and [`Row::get`] reads a cell as a Rust type:
///
/// ```
/// use unidb_syncdb::{Row, SyncError, Value};
///
/// let row: Row = [
///     ("qty", Value::I64(3)),
///     ("name", Value::from("milk")),
///     ("note", Value::Null),
/// ]
/// .into_iter()
/// .collect();
/// assert_eq!(row.get::<i64>("qty")?, 3);
/// assert_eq!(row.get::<&str>("name")?, "milk");
/// assert_eq!(row.get::<Option<String>>("note")?, None);
/// assert!(matches!(row.get::<f64>("qty"), Err(SyncError::WrongValueType { .. })));
/// assert!(matches!(row.get::<String>("note"), Err(SyncError::NullValue { .. })));
/// assert!(matches!(row.get::<i64>("price"), Err(SyncError::NoSuchColumn { .. })));
/// # Ok::<(), SyncError>(())
/// ```
///
/// Serialized (with the `serde` feature) as a map of column names to
/// [`Value`]s.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct Row(BTreeMap<String, Value>);

impl Row {
    /// An empty row.
    pub fn new() -> Self {
        Row(BTreeMap::new())
    }

    /// The cell of `column` as a `T`: `i64`, `f64`, `bool`, `String` or
    /// `&str`, `Vec<u8>` or `&[u8]`, [`Value`] or `&Value` (any cell), or
    /// `Option` of one of them for a nullable column (`None` for null).
    /// Timestamps read as [`Value`] ([`Value::Timestamp`]).
    ///
    /// # Errors
    /// [`SyncError::NoSuchColumn`] when the row has no such column,
    /// [`SyncError::WrongValueType`] when the cell holds another type,
    /// [`SyncError::NullValue`] when it is null and `T` is not an `Option`.
    pub fn get<'a, T: FromValue<'a>>(&'a self, column: &str) -> Result<T> {
        match self.0.get(column) {
            Some(v) => T::from_value(column, v),
            None => Err(SyncError::NoSuchColumn {
                column: column.to_owned(),
                columns: self.0.keys().cloned().collect(),
            }),
        }
    }

    /// The cell of `column`, if the row has that column.
    pub fn value(&self, column: &str) -> Option<&Value> {
        self.0.get(column)
    }

    /// Sets the cell of `column`; returns the previous value.
    pub fn insert(&mut self, column: impl Into<String>, value: Value) -> Option<Value> {
        self.0.insert(column.into(), value)
    }

    /// The map of column names to values.
    pub fn into_map(self) -> BTreeMap<String, Value> {
        self.0
    }
}

impl Deref for Row {
    type Target = BTreeMap<String, Value>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl From<BTreeMap<String, Value>> for Row {
    fn from(map: BTreeMap<String, Value>) -> Self {
        Row(map)
    }
}

impl From<Row> for BTreeMap<String, Value> {
    fn from(row: Row) -> Self {
        row.0
    }
}

impl<K: Into<String>> FromIterator<(K, Value)> for Row {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> Self {
        Row(iter.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
}

impl IntoIterator for Row {
    type Item = (String, Value);
    type IntoIter = std::collections::btree_map::IntoIter<String, Value>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Row {
    type Item = (&'a String, &'a Value);
    type IntoIter = std::collections::btree_map::Iter<'a, String, Value>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// A Rust type a cell reads as, with [`Row::get`].
pub trait FromValue<'a>: Sized {
    /// The cell `value` of `column` as this type.
    ///
    /// # Errors
    /// [`SyncError::WrongValueType`] or [`SyncError::NullValue`].
    fn from_value(column: &str, value: &'a Value) -> Result<Self>;
}

/// The error for a cell of `column` that is not a `expected`.
fn mismatch(column: &str, expected: &'static str, value: &Value) -> SyncError {
    match value.column_type() {
        None => SyncError::NullValue {
            column: column.to_owned(),
            expected,
        },
        Some(found) => SyncError::WrongValueType {
            column: column.to_owned(),
            expected,
            found: found.name(),
        },
    }
}

macro_rules! from_value {
    ($($ty:ty, $expected:literal, $pat:pat => $out:expr;)*) => {$(
        impl<'a> FromValue<'a> for $ty {
            fn from_value(column: &str, value: &'a Value) -> Result<Self> {
                match value {
                    $pat => Ok($out),
                    other => Err(mismatch(column, $expected, other)),
                }
            }
        }
    )*};
}

from_value! {
    i64, "i64", Value::I64(x) => *x;
    f64, "f64", Value::F64(x) => *x;
    bool, "bool", Value::Bool(x) => *x;
    String, "text", Value::Text(x) => x.clone();
    &'a str, "text", Value::Text(x) => x.as_str();
    Vec<u8>, "bytes", Value::Bytes(x) => x.clone();
    &'a [u8], "bytes", Value::Bytes(x) => x.as_slice();
}

impl<'a> FromValue<'a> for Value {
    fn from_value(_: &str, value: &'a Value) -> Result<Self> {
        Ok(value.clone())
    }
}

impl<'a> FromValue<'a> for &'a Value {
    fn from_value(_: &str, value: &'a Value) -> Result<Self> {
        Ok(value)
    }
}

impl<'a, T: FromValue<'a>> FromValue<'a> for Option<T> {
    fn from_value(column: &str, value: &'a Value) -> Result<Self> {
        match value {
            Value::Null => Ok(None),
            v => T::from_value(column, v).map(Some),
        }
    }
}
