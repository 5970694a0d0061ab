//! NumPy and Python values in and out: float32 matrices read in place
//! when they are C-contiguous (anything else goes through
//! `unidb._convert`, which converts losslessly or refuses), ids, metadata.

use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString};
use unidb_common::value::Value;
use unidb_common::Id;
use unidb_vectordb::Metadata;

use crate::errors::invalid;

/// A row-major float32 matrix borrowed from a NumPy array (read-only for
/// as long as this lives).
pub(crate) struct Matrix<'py> {
    array: PyReadonlyArray2<'py, f32>,
}

impl Matrix<'_> {
    /// The values, row-major.
    pub(crate) fn values(&self) -> &[f32] {
        // `as_f32_matrix` made the array C-contiguous.
        self.array.as_slice().unwrap_or(&[])
    }

    /// `(rows, columns)`.
    pub(crate) fn shape(&self) -> (usize, usize) {
        let s = self.array.shape();
        (s[0], s[1])
    }
}

/// `obj` as a C-contiguous float32 matrix: read in place when it already
/// is one, else converted by `unidb._convert.as_f32_matrix` (lossless
/// conversions only; a 1-D array is one row when `one_row` allows it).
pub(crate) fn f32_matrix<'py>(
    obj: &Bound<'py, PyAny>,
    what: &str,
    one_row: bool,
) -> PyResult<Matrix<'py>> {
    if let Ok(a) = obj.downcast::<PyArray2<f32>>() {
        if a.is_c_contiguous() {
            return Ok(Matrix {
                array: a.try_readonly()?,
            });
        }
    }
    let py = obj.py();
    let converted = py
        .import("unidb._convert")?
        .getattr("as_f32_matrix")?
        .call1((obj, what, one_row))?;
    let a = converted
        .downcast::<PyArray2<f32>>()
        .map_err(|_| invalid(format!("{what}: conversion did not give a float32 matrix")))?;
    if !a.is_c_contiguous() {
        return Err(invalid(format!(
            "{what}: conversion did not give a C-contiguous matrix"
        )));
    }
    Ok(Matrix {
        array: a.try_readonly()?,
    })
}

/// The largest numeric id results can report (they are int64, -1 for
/// "no hit").
pub(crate) const MAX_NUM_ID: u64 = i64::MAX as u64;

/// Ids from a NumPy integer array or a sequence of ints and strings.
pub(crate) fn ids(obj: &Bound<'_, PyAny>) -> PyResult<Vec<Id>> {
    let check = |v: u64| -> PyResult<Id> {
        if v > MAX_NUM_ID {
            return Err(invalid(format!(
                "id {v} is above 2^63 - 1: numeric ids must fit int64"
            )));
        }
        Ok(Id::Num(v))
    };
    if let Ok(a) = obj.downcast::<PyArray1<i64>>() {
        let r = a.try_readonly()?;
        return r
            .as_array()
            .iter()
            .map(|&v| {
                u64::try_from(v)
                    .map_err(|_| invalid(format!("id {v} is negative: ids are non-negative")))
                    .and_then(check)
            })
            .collect();
    }
    if let Ok(a) = obj.downcast::<PyArray1<u64>>() {
        let r = a.try_readonly()?;
        return r.as_array().iter().map(|&v| check(v)).collect();
    }
    if obj.is_instance_of::<PyString>() {
        return Err(invalid("ids: expected a sequence of ids, got one string"));
    }
    let mut out = Vec::new();
    for item in obj
        .try_iter()
        .map_err(|_| invalid("ids: expected a sequence or a 1-D array"))?
    {
        out.push(id(&item?)?);
    }
    Ok(out)
}

/// One id: a non-negative int below 2^63 or a string.
pub(crate) fn id(item: &Bound<'_, PyAny>) -> PyResult<Id> {
    if let Ok(s) = item.downcast::<PyString>() {
        return Ok(Id::Str(s.to_cow()?.into_owned()));
    }
    if item.is_instance_of::<PyBool>() {
        return Err(invalid("ids must be ints or strings, not bool"));
    }
    match item.extract::<u64>() {
        Ok(v) if v <= MAX_NUM_ID => Ok(Id::Num(v)),
        Ok(v) => Err(invalid(format!(
            "id {v} is above 2^63 - 1: numeric ids must fit int64"
        ))),
        Err(_) => Err(invalid(format!(
            "ids must be non-negative ints or strings, got {}",
            item.repr()?
        ))),
    }
}

/// An id as a Python int or str.
pub(crate) fn id_to_py<'py>(py: Python<'py>, id: &Id) -> PyResult<Bound<'py, PyAny>> {
    Ok(match id {
        Id::Num(n) => n.into_pyobject(py)?.into_any(),
        Id::Str(s) => PyString::new(py, s).into_any(),
    })
}

/// One metadata value.
fn value(v: &Bound<'_, PyAny>, key: &str) -> PyResult<Value> {
    if v.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = v.downcast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if v.is_instance_of::<PyInt>() {
        return v
            .extract::<i64>()
            .map(Value::I64)
            .map_err(|_| invalid(format!("metadata {key:?}: integer out of the int64 range")));
    }
    if let Ok(f) = v.downcast::<PyFloat>() {
        return Ok(Value::F64(f.value()));
    }
    if let Ok(s) = v.downcast::<PyString>() {
        return Ok(Value::Text(s.to_cow()?.into_owned()));
    }
    if let Ok(b) = v.downcast::<PyBytes>() {
        return Ok(Value::Bytes(b.as_bytes().to_vec()));
    }
    // NumPy scalars: exact conversions only.
    if let Ok(i) = v.extract::<i64>() {
        return Ok(Value::I64(i));
    }
    if let Ok(f) = v.extract::<f64>() {
        return Ok(Value::F64(f));
    }
    Err(invalid(format!(
        "metadata {key:?}: unsupported value {} (None, bool, int, float, str or bytes)",
        v.repr()?
    )))
}

/// Metadata for `n` rows: `None`, or a sequence of dicts (or `None`s).
pub(crate) fn metadata(
    obj: Option<&Bound<'_, PyAny>>,
    n: usize,
) -> PyResult<Option<Vec<Option<Metadata>>>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(n);
    for item in obj
        .try_iter()
        .map_err(|_| invalid("metadata: expected a sequence of dicts"))?
    {
        let item = item?;
        if item.is_none() {
            out.push(None);
            continue;
        }
        let d = item
            .downcast::<PyDict>()
            .map_err(|_| invalid("metadata: each entry must be a dict or None"))?;
        let mut m = Metadata::new();
        for (k, v) in d.iter() {
            let k: String = k
                .extract()
                .map_err(|_| invalid("metadata: keys must be strings"))?;
            let v = value(&v, &k)?;
            m.insert(k, v);
        }
        out.push(Some(m));
    }
    if out.len() != n {
        return Err(invalid(format!(
            "metadata: {} entries for {n} ids",
            out.len()
        )));
    }
    Ok(Some(out))
}

/// Metadata as a Python dict.
pub(crate) fn metadata_to_py<'py>(py: Python<'py>, m: &Metadata) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in m {
        let v: Bound<'py, PyAny> = match v {
            Value::Null => py.None().into_bound(py),
            Value::I64(i) | Value::Timestamp(i) => i.into_pyobject(py)?.into_any(),
            Value::F64(f) => f.into_pyobject(py)?.into_any(),
            Value::Text(s) => PyString::new(py, s).into_any(),
            Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
            Value::Bytes(b) => PyBytes::new(py, b).into_any(),
        };
        d.set_item(k, v)?;
    }
    Ok(d)
}

/// A Python value (dict, list, str, int, float, bool, None) as JSON, for
/// plugin parameters.
pub(crate) fn json(v: &Bound<'_, PyAny>) -> PyResult<serde_json::Value> {
    use serde_json::Value as J;
    if v.is_none() {
        return Ok(J::Null);
    }
    if let Ok(b) = v.downcast::<PyBool>() {
        return Ok(J::Bool(b.is_true()));
    }
    if v.is_instance_of::<PyInt>() {
        if let Ok(i) = v.extract::<i64>() {
            return Ok(J::from(i));
        }
        return Ok(J::from(v.extract::<u64>()?));
    }
    if let Ok(f) = v.downcast::<PyFloat>() {
        return serde_json::Number::from_f64(f.value())
            .map(J::Number)
            .ok_or_else(|| invalid("parameters must be finite numbers"));
    }
    if let Ok(s) = v.downcast::<PyString>() {
        return Ok(J::String(s.to_cow()?.into_owned()));
    }
    if let Ok(d) = v.downcast::<PyDict>() {
        let mut m = serde_json::Map::new();
        for (k, v) in d.iter() {
            m.insert(k.extract::<String>()?, json(&v)?);
        }
        return Ok(J::Object(m));
    }
    if let Ok(l) = v.downcast::<PyList>() {
        return l
            .iter()
            .map(|x| json(&x))
            .collect::<PyResult<Vec<_>>>()
            .map(J::Array);
    }
    if let Ok(i) = v.extract::<i64>() {
        return Ok(J::from(i));
    }
    if let Ok(f) = v.extract::<f64>() {
        return serde_json::Number::from_f64(f)
            .map(J::Number)
            .ok_or_else(|| invalid("parameters must be finite numbers"));
    }
    Err(invalid(format!(
        "unsupported parameter value {}",
        v.repr()?
    )))
}

/// Keyword arguments as a JSON object (empty when none).
pub(crate) fn kwargs_json(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<serde_json::Value> {
    match kwargs {
        Some(d) if !d.is_empty() => json(d.as_any()),
        _ => Ok(serde_json::Value::Object(serde_json::Map::new())),
    }
}
