//! `unidb.features`: the feature store with views registered from Arrow
//! tables (pyarrow, or pandas/Polars through pyarrow) and the
//! point-in-time join handed back as Arrow record batches, both across
//! the Arrow C data interface (no copy of the buffers at the boundary).

use std::sync::RwLock;

use arrow_array::RecordBatch;
use arrow_pyarrow::PyArrowType;
use arrow_schema::Schema;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use unidb_common::value::{ColumnType, Value};
use unidb_vectordb::features::arrow::{entities_from_batches, join_to_batches, view_from_batches};
use unidb_vectordb::features::{
    EntityDef, FeatureStore, FeatureValue, JoinOptions, KnownAt, TimeUnit, ViewDef,
};

use crate::errors::{invalid, py_err};

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyFeatureStore>()?;
    Ok(())
}

/// A feature store in memory (see `unidb.features.FeatureStore`).
#[pyclass(name = "FeatureStore", module = "unidb.features", frozen)]
pub(crate) struct PyFeatureStore {
    inner: RwLock<FeatureStore>,
}

fn unit_of(unit: &str) -> PyResult<TimeUnit> {
    Ok(match unit {
        "s" => TimeUnit::Seconds,
        "ms" => TimeUnit::Millis,
        "us" => TimeUnit::Micros,
        "ns" => TimeUnit::Nanos,
        other => {
            return Err(invalid(format!(
                "unknown time unit {other:?} (s, ms, us or ns)"
            )))
        }
    })
}

fn poisoned() -> PyErr {
    invalid("the feature store was poisoned by an earlier panic")
}

fn value_to_py<'py>(py: Python<'py>, v: FeatureValue<'_>) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        FeatureValue::Null => py.None().into_bound(py),
        FeatureValue::Int(i) | FeatureValue::Timestamp(i) => i.into_pyobject(py)?.into_any(),
        FeatureValue::Float(f) => f.into_pyobject(py)?.into_any(),
        FeatureValue::Bool(b) => pyo3::types::PyBool::new(py, b).to_owned().into_any(),
        FeatureValue::Text(s) => PyString::new(py, s).into_any(),
        FeatureValue::Vector(v) => numpy::PyArray1::from_slice(py, v).into_any(),
    })
}

fn key_value(item: &Bound<'_, PyAny>, ty: ColumnType) -> PyResult<Value> {
    match ty {
        ColumnType::I64 => Ok(Value::I64(item.extract::<i64>().map_err(|_| {
            invalid(format!(
                "key {}: expected an int",
                item.repr().map(|r| r.to_string()).unwrap_or_default()
            ))
        })?)),
        _ => Ok(Value::Text(item.extract::<String>().map_err(|_| {
            invalid(format!(
                "key {}: expected a str",
                item.repr().map(|r| r.to_string()).unwrap_or_default()
            ))
        })?)),
    }
}

#[pymethods]
impl PyFeatureStore {
    /// An empty store.
    #[new]
    fn new() -> Self {
        PyFeatureStore {
            inner: RwLock::new(FeatureStore::new()),
        }
    }

    /// Opens a store snapshot saved by `save` (or `unidb features`).
    #[staticmethod]
    fn open(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Self> {
        let s = py.detach(|| FeatureStore::open(&path)).map_err(py_err)?;
        Ok(PyFeatureStore {
            inner: RwLock::new(s),
        })
    }

    /// Saves the store to a checksummed snapshot file, atomically.
    fn save(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        let inner = &self.inner;
        py.detach(|| {
            let s = inner.read().map_err(|_| poisoned())?;
            s.save(&path).map_err(py_err)
        })
    }

    /// Defines an entity keyed by `keys`: `(column, "int" | "text")` pairs.
    fn define_entity(&self, name: &str, keys: Vec<(String, String)>) -> PyResult<()> {
        if keys.is_empty() {
            return Err(invalid("an entity needs at least one key column"));
        }
        let mut def = EntityDef {
            name: name.to_owned(),
            keys: Vec::new(),
        };
        for (k, t) in keys {
            let ty = match t.as_str() {
                "int" => ColumnType::I64,
                "text" | "str" => ColumnType::Text,
                other => {
                    return Err(invalid(format!(
                        "key {k:?}: unknown type {other:?} (int or text)"
                    )))
                }
            };
            def.keys.push((k, ty));
        }
        let mut s = self.inner.write().map_err(|_| poisoned())?;
        s.define_entity(def).map_err(py_err)
    }

    /// Appends the rows of Arrow record batches to view `name` of
    /// `entity`, defining the view from their columns the first time
    /// (`<keys>, event_timestamp, created_timestamp, <features...>`).
    #[pyo3(signature = (name, entity, schema, batches, ttl_ns=None, unit="s"))]
    #[allow(clippy::too_many_arguments)]
    fn register_view(
        &self,
        py: Python<'_>,
        name: &str,
        entity: &str,
        schema: PyArrowType<Schema>,
        batches: Vec<PyArrowType<RecordBatch>>,
        ttl_ns: Option<i64>,
        unit: &str,
    ) -> PyResult<()> {
        let unit = unit_of(unit)?;
        let batches: Vec<RecordBatch> = batches.into_iter().map(|b| b.0).collect();
        let schema = schema.0;
        let inner = &self.inner;
        py.detach(|| {
            let mut s = inner.write().map_err(|_| poisoned())?;
            let def = s
                .entities()
                .find(|e| e.name == entity)
                .cloned()
                .ok_or_else(|| {
                    crate::errors::of_kind(
                        unidb_common::ErrorKind::NotFound,
                        format!("unknown entity {entity:?}: define it first"),
                    )
                })?;
            let (features, batch) =
                view_from_batches(name, &schema, &batches, &def, unit).map_err(py_err)?;
            if s.view(name).is_err() {
                let mut v = ViewDef::new(name, entity);
                v.features = features;
                if let Some(t) = ttl_ns {
                    if t < 0 {
                        return Err(invalid("ttl must not be negative"));
                    }
                    v.ttl = Some(t);
                }
                s.define_view(v).map_err(py_err)?;
            }
            s.append(name, batch).map_err(py_err)
        })
    }

    /// The names of the views, in definition order.
    fn views(&self) -> PyResult<Vec<String>> {
        let s = self.inner.read().map_err(|_| poisoned())?;
        Ok(s.views().map(|v| v.name.clone()).collect())
    }

    /// Online lookup: for each key (a tuple of key values, or one value)
    /// the features of each view at `at_ns`, as one dict per key
    /// (`view__feature` → value, None when missing or expired).
    fn get_online<'py>(
        &self,
        py: Python<'py>,
        views: Vec<String>,
        keys: &Bound<'py, PyAny>,
        at_ns: i64,
    ) -> PyResult<Bound<'py, PyList>> {
        let s = self.inner.read().map_err(|_| poisoned())?;
        let Some(first) = views.first() else {
            return Err(invalid("give at least one view"));
        };
        let view = s.view(first).map_err(py_err)?;
        let entity = s
            .entities()
            .find(|e| e.name == view.entity)
            .ok_or_else(|| invalid("view without entity"))?;
        let key_types: Vec<ColumnType> = entity.keys.iter().map(|(_, t)| *t).collect();
        let mut rows: Vec<Vec<Value>> = Vec::new();
        for item in keys.try_iter()? {
            let item = item?;
            let parts: Vec<Bound<'py, PyAny>> = if item.is_instance_of::<pyo3::types::PyTuple>() {
                item.try_iter()?.collect::<PyResult<_>>()?
            } else {
                vec![item]
            };
            if parts.len() != key_types.len() {
                return Err(invalid(format!(
                    "a key has {} parts, the entity {}",
                    parts.len(),
                    key_types.len()
                )));
            }
            rows.push(
                parts
                    .iter()
                    .zip(&key_types)
                    .map(|(p, t)| key_value(p, *t))
                    .collect::<PyResult<_>>()?,
            );
        }
        let names: Vec<&str> = views.iter().map(String::as_str).collect();
        let r = s.online(&names, &rows, at_ns).map_err(py_err)?;
        let out = PyList::empty(py);
        for e in 0..rows.len() {
            let d = PyDict::new(py);
            for (vi, vname) in views.iter().enumerate() {
                let lookup = r.get(e, vi);
                for (fi, f) in s.view(vname).map_err(py_err)?.features.iter().enumerate() {
                    d.set_item(
                        format!("{vname}__{}", f.name),
                        value_to_py(py, lookup.value(fi))?,
                    )?;
                }
            }
            out.append(d)?;
        }
        Ok(out)
    }

    /// The point-in-time join of the entity table (Arrow batches:
    /// `<keys>, event_timestamp, <labels...>`) with `views` (all when
    /// empty): `(schema, batches)` of the joined table.
    #[pyo3(signature = (schema, batches, views, known_at="latest", unit="s"))]
    #[allow(clippy::type_complexity)]
    fn join(
        &self,
        py: Python<'_>,
        schema: PyArrowType<Schema>,
        batches: Vec<PyArrowType<RecordBatch>>,
        views: Vec<String>,
        known_at: &str,
        unit: &str,
    ) -> PyResult<(PyArrowType<Schema>, Vec<PyArrowType<RecordBatch>>)> {
        let unit = unit_of(unit)?;
        let known_at = match known_at {
            "latest" => KnownAt::Latest,
            "label" | "at_label" => KnownAt::AtLabel,
            other => {
                return Err(invalid(format!(
                    "known_at: {other:?} is neither \"latest\" nor \"label\""
                )))
            }
        };
        let batches: Vec<RecordBatch> = batches.into_iter().map(|b| b.0).collect();
        let schema = schema.0;
        let inner = &self.inner;
        let (schema, out) = py.detach(|| {
            let s = inner.read().map_err(|_| poisoned())?;
            let names: Vec<String> = if views.is_empty() {
                s.views().map(|v| v.name.clone()).collect()
            } else {
                views
            };
            let mut keys_of: Vec<(String, ColumnType)> = Vec::new();
            for v in &names {
                let def = s.view(v).map_err(py_err)?;
                if let Some(e) = s.entities().find(|e| e.name == def.entity) {
                    for k in &e.keys {
                        if !keys_of.iter().any(|(n, _)| n == &k.0) {
                            keys_of.push(k.clone());
                        }
                    }
                }
            }
            let table = entities_from_batches("entity table", &schema, &batches, &keys_of, unit)
                .map_err(py_err)?;
            let options = JoinOptions {
                views: names,
                known_at,
                ..JoinOptions::default()
            };
            let (schema, out, _) = join_to_batches(&s, &table, &options).map_err(py_err)?;
            Ok::<_, PyErr>((schema, out))
        })?;
        Ok((
            PyArrowType(schema.as_ref().clone()),
            out.into_iter().map(PyArrowType).collect(),
        ))
    }
}
