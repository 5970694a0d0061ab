//! The one value vocabulary of both databases: typed [`Value`]s and their
//! [`ColumnType`]s (syncdb's table cells, vectordb's metadata, the feature
//! store's features), with a total order and stable one-byte type tags for
//! binary formats.

use std::cmp::Ordering;
use std::fmt;

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

/// The type of a column.
///
/// Serialized (with the `serde` feature) as its [`name`](Self::name):
/// `"i64"`, `"f64"`, `"text"`, `"bool"`, `"bytes"`, `"timestamp"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum ColumnType {
    /// 64-bit signed integer.
    I64,
    /// 64-bit float (NaN allowed; compared by IEEE total order).
    F64,
    /// UTF-8 text.
    Text,
    /// Boolean.
    Bool,
    /// Raw bytes.
    Bytes,
    /// Milliseconds since the Unix epoch (signed).
    Timestamp,
}

impl ColumnType {
    /// The type's name as written in errors and schemas.
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::I64 => "i64",
            ColumnType::F64 => "f64",
            ColumnType::Text => "text",
            ColumnType::Bool => "bool",
            ColumnType::Bytes => "bytes",
            ColumnType::Timestamp => "timestamp",
        }
    }

    /// The type's stable one-byte tag in binary formats (1..=6).
    pub fn tag(self) -> u8 {
        match self {
            ColumnType::I64 => 1,
            ColumnType::F64 => 2,
            ColumnType::Text => 3,
            ColumnType::Bool => 4,
            ColumnType::Bytes => 5,
            ColumnType::Timestamp => 6,
        }
    }

    /// The type with wire tag `tag`.
    pub fn from_tag(tag: u8) -> Option<Self> {
        Some(match tag {
            1 => ColumnType::I64,
            2 => ColumnType::F64,
            3 => ColumnType::Text,
            4 => ColumnType::Bool,
            5 => ColumnType::Bytes,
            6 => ColumnType::Timestamp,
            _ => return None,
        })
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A value stored in a column.
///
/// Values have a total order (used by the `max`/`min` resolvers, by indexes
/// and for deterministic tie-breaks): first by variant in declaration order,
/// then by content; floats use [`f64::total_cmp`], so `NaN` equals itself
/// and `-0.0 < 0.0`. Equality agrees with that order.
///
/// Serialized (with the `serde` feature) losslessly, tagged by its type
/// name as [`ColumnType`] is: `"null"`, `{"i64": 3}`, `{"f64": 0.5}`,
/// `{"text": "milk"}`, `{"bool": true}`, `{"bytes": [1, 2]}`,
/// `{"timestamp": 1700000000000}` (so an integer and a timestamp, or text
/// and bytes, stay apart). JSON has no NaN or infinities: such floats
/// do not round-trip through `serde_json`; finite ones do, bit for bit,
/// with its `float_roundtrip` feature.
///
/// ```
/// # #[cfg(feature = "serde")] {
/// use unidb_common::value::Value;
///
/// let v = Value::from("milk");
/// let json = serde_json::to_string(&v).unwrap();
/// assert_eq!(json, r#"{"text":"milk"}"#);
/// assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), v);
/// # }
/// ```
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Value {
    /// No value (only in nullable columns).
    Null,
    /// A 64-bit signed integer.
    I64(i64),
    /// A 64-bit float.
    F64(f64),
    /// UTF-8 text.
    Text(String),
    /// A boolean.
    Bool(bool),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
}

impl Value {
    /// The column type of the value, `None` for [`Value::Null`].
    pub fn column_type(&self) -> Option<ColumnType> {
        Some(match self {
            Value::Null => return None,
            Value::I64(_) => ColumnType::I64,
            Value::F64(_) => ColumnType::F64,
            Value::Text(_) => ColumnType::Text,
            Value::Bool(_) => ColumnType::Bool,
            Value::Bytes(_) => ColumnType::Bytes,
            Value::Timestamp(_) => ColumnType::Timestamp,
        })
    }

    /// Whether this is [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The integer, if this is [`Value::I64`].
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::I64(v) => Some(*v),
            _ => None,
        }
    }

    /// The text, if this is [`Value::Text`].
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(v) => Some(v),
            _ => None,
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::I64(_) => 1,
            Value::F64(_) => 2,
            Value::Text(_) => 3,
            Value::Bool(_) => 4,
            Value::Bytes(_) => 5,
            Value::Timestamp(_) => 6,
        }
    }

    /// A short rendering for error messages (long text and bytes are cut).
    pub fn describe(&self) -> String {
        let s = format!("{self}");
        if s.chars().count() > 64 {
            let cut: String = s.chars().take(61).collect();
            format!("{cut}...")
        } else {
            s
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Value {}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Value {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Value::I64(a), Value::I64(b)) => a.cmp(b),
            (Value::F64(a), Value::F64(b)) => a.total_cmp(b),
            (Value::Text(a), Value::Text(b)) => a.cmp(b),
            (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
            (Value::Bytes(a), Value::Bytes(b)) => a.cmp(b),
            (Value::Timestamp(a), Value::Timestamp(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl std::hash::Hash for Value {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.rank().hash(state);
        match self {
            Value::Null => {}
            Value::I64(v) | Value::Timestamp(v) => v.hash(state),
            Value::F64(v) => v.to_bits().hash(state),
            Value::Text(v) => v.hash(state),
            Value::Bool(v) => v.hash(state),
            Value::Bytes(v) => v.hash(state),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::I64(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v:?}"),
            Value::Text(v) => write!(f, "{v:?}"),
            Value::Bool(v) => write!(f, "{v}"),
            Value::Bytes(v) => {
                f.write_str("0x")?;
                for b in v {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
            Value::Timestamp(v) => write!(f, "@{v}"),
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::I64(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::F64(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Bytes(v)
    }
}

#[cfg(test)]
mod tests;
