//! Columnar values: [`Column`] (one feature's values, typed, with
//! validity), [`FeatureValue`] (one value, borrowed) and [`KeyColumn`]
//! (entity key values).

use unidb_common::value::{ColumnType, Value};

use super::error::{FeatureError, FeatureResult};
use super::schema::FeatureType;

/// A column's values by type.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    /// Integers.
    Int(Vec<i64>),
    /// Floats.
    Float(Vec<f64>),
    /// Booleans.
    Bool(Vec<bool>),
    /// Text.
    Text(Vec<String>),
    /// Nanoseconds since the epoch.
    Timestamp(Vec<i64>),
    /// Row-major `f32` vectors of dimension `dim`.
    Vector {
        /// The dimension (at least 1).
        dim: u32,
        /// `rows × dim` values.
        values: Vec<f32>,
    },
}

/// One feature's values: typed data and which rows hold a value (a row
/// without one is null; its slot in the data holds a default).
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    data: ColumnData,
    valid: Vec<bool>,
}

impl Column {
    /// A column of `data`, every row valid.
    ///
    /// # Panics
    /// Never; a vector column whose values are not a whole number of rows
    /// keeps the whole rows (use [`Column::try_new`] to be told).
    pub fn new(data: ColumnData) -> Self {
        let n = data_len(&data);
        Column {
            data,
            valid: vec![true; n],
        }
    }

    /// A column of `data` with `valid[i]` false for null rows.
    ///
    /// # Errors
    /// [`FeatureError::LengthMismatch`] when `valid` and the data differ in
    /// rows, or vector values are not a whole number of rows; a vector
    /// dimension of 0 is [`FeatureError::Invalid`].
    pub fn try_new(data: ColumnData, valid: Vec<bool>) -> FeatureResult<Self> {
        if let ColumnData::Vector { dim, values } = &data {
            if *dim == 0 {
                return Err(FeatureError::invalid("vector column", "dimension 0"));
            }
            if values.len() % *dim as usize != 0 {
                return Err(FeatureError::LengthMismatch {
                    table: "vector column".into(),
                    column: String::new(),
                    expected: values.len() / *dim as usize * *dim as usize,
                    got: values.len(),
                });
            }
        }
        let n = data_len(&data);
        if valid.len() != n {
            return Err(FeatureError::LengthMismatch {
                table: "column".into(),
                column: "validity".into(),
                expected: n,
                got: valid.len(),
            });
        }
        Ok(Column { data, valid })
    }

    /// An empty column of type `ty`.
    pub fn empty(ty: FeatureType) -> Self {
        Column::new(match ty {
            FeatureType::Int => ColumnData::Int(Vec::new()),
            FeatureType::Float => ColumnData::Float(Vec::new()),
            FeatureType::Bool => ColumnData::Bool(Vec::new()),
            FeatureType::Text => ColumnData::Text(Vec::new()),
            FeatureType::Timestamp => ColumnData::Timestamp(Vec::new()),
            FeatureType::Vector { dim } => ColumnData::Vector {
                dim,
                values: Vec::new(),
            },
        })
    }

    /// The column's type.
    pub fn ty(&self) -> FeatureType {
        match &self.data {
            ColumnData::Int(_) => FeatureType::Int,
            ColumnData::Float(_) => FeatureType::Float,
            ColumnData::Bool(_) => FeatureType::Bool,
            ColumnData::Text(_) => FeatureType::Text,
            ColumnData::Timestamp(_) => FeatureType::Timestamp,
            ColumnData::Vector { dim, .. } => FeatureType::Vector { dim: *dim },
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.valid.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.valid.is_empty()
    }

    /// The typed data (null rows hold a default).
    pub fn data(&self) -> &ColumnData {
        &self.data
    }

    /// Which rows hold a value.
    pub fn validity(&self) -> &[bool] {
        &self.valid
    }

    /// Row `i`'s value ([`FeatureValue::Null`] past the end).
    pub fn get(&self, i: usize) -> FeatureValue<'_> {
        if !self.valid.get(i).copied().unwrap_or(false) {
            return FeatureValue::Null;
        }
        match &self.data {
            ColumnData::Int(v) => FeatureValue::Int(v[i]),
            ColumnData::Float(v) => FeatureValue::Float(v[i]),
            ColumnData::Bool(v) => FeatureValue::Bool(v[i]),
            ColumnData::Text(v) => FeatureValue::Text(&v[i]),
            ColumnData::Timestamp(v) => FeatureValue::Timestamp(v[i]),
            ColumnData::Vector { dim, values } => {
                let d = *dim as usize;
                FeatureValue::Vector(&values[i * d..(i + 1) * d])
            }
        }
    }

    /// A column of `len` rows, null but for `(slot, row)` in `pairs`,
    /// which takes this column's `row`. Given pairs in order of the
    /// source rows, the reads stream through this column while the
    /// writes stay in the (smaller) output.
    pub(crate) fn gather_pairs(&self, pairs: &[(u32, u32)], len: usize) -> Column {
        let mut valid = vec![false; len];
        for &(slot, row) in pairs {
            valid[slot as usize] = self.valid[row as usize];
        }
        fn fill<T: Clone + Default>(v: &[T], pairs: &[(u32, u32)], len: usize) -> Vec<T> {
            let mut out = vec![T::default(); len];
            for &(slot, row) in pairs {
                out[slot as usize] = v[row as usize].clone();
            }
            out
        }
        let data = match &self.data {
            ColumnData::Int(v) => ColumnData::Int(fill(v, pairs, len)),
            ColumnData::Float(v) => ColumnData::Float(fill(v, pairs, len)),
            ColumnData::Bool(v) => ColumnData::Bool(fill(v, pairs, len)),
            ColumnData::Text(v) => ColumnData::Text(fill(v, pairs, len)),
            ColumnData::Timestamp(v) => ColumnData::Timestamp(fill(v, pairs, len)),
            ColumnData::Vector { dim, values } => {
                let d = *dim as usize;
                let mut out = vec![0.0; len * d];
                for &(slot, row) in pairs {
                    let (s, r) = (slot as usize * d, row as usize * d);
                    out[s..s + d].copy_from_slice(&values[r..r + d]);
                }
                ColumnData::Vector {
                    dim: *dim,
                    values: out,
                }
            }
        };
        Column { data, valid }
    }

    /// Rows taken from `a` (`false`) or `b` (`true`) in the order `from`
    /// gives; both of this column's type.
    pub(crate) fn interleave(a: &Column, b: &Column, from: &[(bool, u32)]) -> Column {
        let valid = from
            .iter()
            .map(|&(s, r)| {
                if s {
                    b.valid[r as usize]
                } else {
                    a.valid[r as usize]
                }
            })
            .collect();
        fn pick<T: Clone>(a: &[T], b: &[T], from: &[(bool, u32)]) -> Vec<T> {
            from.iter()
                .map(|&(s, r)| {
                    if s {
                        b[r as usize].clone()
                    } else {
                        a[r as usize].clone()
                    }
                })
                .collect()
        }
        let data = match (&a.data, &b.data) {
            (ColumnData::Int(x), ColumnData::Int(y)) => ColumnData::Int(pick(x, y, from)),
            (ColumnData::Float(x), ColumnData::Float(y)) => ColumnData::Float(pick(x, y, from)),
            (ColumnData::Bool(x), ColumnData::Bool(y)) => ColumnData::Bool(pick(x, y, from)),
            (ColumnData::Text(x), ColumnData::Text(y)) => ColumnData::Text(pick(x, y, from)),
            (ColumnData::Timestamp(x), ColumnData::Timestamp(y)) => {
                ColumnData::Timestamp(pick(x, y, from))
            }
            (ColumnData::Vector { dim, values: x }, ColumnData::Vector { values: y, .. }) => {
                let d = *dim as usize;
                let mut out = Vec::with_capacity(from.len() * d);
                for &(s, r) in from {
                    let src = if s { y } else { x };
                    out.extend_from_slice(&src[r as usize * d..(r as usize + 1) * d]);
                }
                ColumnData::Vector {
                    dim: *dim,
                    values: out,
                }
            }
            // Callers check types first; keep `a` rather than panic.
            _ => a.data.clone(),
        };
        Column { data, valid }
    }
}

fn data_len(data: &ColumnData) -> usize {
    match data {
        ColumnData::Int(v) | ColumnData::Timestamp(v) => v.len(),
        ColumnData::Float(v) => v.len(),
        ColumnData::Bool(v) => v.len(),
        ColumnData::Text(v) => v.len(),
        ColumnData::Vector { dim, values } => values.len().checked_div(*dim as usize).unwrap_or(0),
    }
}

/// One feature value, borrowed from its column.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FeatureValue<'a> {
    /// No value (a null cell, or a missing or expired lookup).
    Null,
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// Text.
    Text(&'a str),
    /// Nanoseconds since the epoch.
    Timestamp(i64),
    /// A vector.
    Vector(&'a [f32]),
}

impl FeatureValue<'_> {
    /// The value in common's vocabulary where it has one: timestamps
    /// become [`Value::Timestamp`] milliseconds only when they are whole
    /// milliseconds, vectors have none (`None` then: never rounded).
    pub fn to_value(&self) -> Option<Value> {
        Some(match *self {
            FeatureValue::Null => Value::Null,
            FeatureValue::Int(v) => Value::I64(v),
            FeatureValue::Float(v) => Value::F64(v),
            FeatureValue::Bool(v) => Value::Bool(v),
            FeatureValue::Text(v) => Value::Text(v.to_owned()),
            FeatureValue::Timestamp(ns) if ns % 1_000_000 == 0 => Value::Timestamp(ns / 1_000_000),
            FeatureValue::Timestamp(_) | FeatureValue::Vector(_) => return None,
        })
    }

    /// The value as JSON: numbers, booleans, strings, timestamps as RFC
    /// 3339 strings, vectors as arrays; non-finite floats and nulls as
    /// `null`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match *self {
            FeatureValue::Null => J::Null,
            FeatureValue::Int(v) => J::from(v),
            FeatureValue::Float(v) => serde_json::Number::from_f64(v).map_or(J::Null, J::Number),
            FeatureValue::Bool(v) => J::Bool(v),
            FeatureValue::Text(v) => J::String(v.to_owned()),
            FeatureValue::Timestamp(ns) => J::String(super::schema::format_time(ns)),
            FeatureValue::Vector(v) => J::Array(
                v.iter()
                    .map(|x| serde_json::Number::from_f64(f64::from(*x)).map_or(J::Null, J::Number))
                    .collect(),
            ),
        }
    }
}

/// One entity key column's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyColumn {
    /// Integer keys.
    Int(Vec<i64>),
    /// Text keys.
    Text(Vec<String>),
}

impl KeyColumn {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            KeyColumn::Int(v) => v.len(),
            KeyColumn::Text(v) => v.len(),
        }
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The column's type.
    pub fn column_type(&self) -> ColumnType {
        match self {
            KeyColumn::Int(_) => ColumnType::I64,
            KeyColumn::Text(_) => ColumnType::Text,
        }
    }

    /// Row `i` as a [`Value`].
    pub fn value(&self, i: usize) -> Value {
        match self {
            KeyColumn::Int(v) => Value::I64(v[i]),
            KeyColumn::Text(v) => Value::Text(v[i].clone()),
        }
    }
}
