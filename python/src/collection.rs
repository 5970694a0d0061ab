//! `unidb.Collection`: a vector collection, searched in batches with the
//! GIL released (rayon underneath).

use std::collections::HashSet;
use std::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use numpy::{PyArray1, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use unidb_common::Id;
use unidb_vectordb::{Collection, CollectionConfig, Hit, Metadata, Params, SearchOptions, Storage};

use crate::convert::{self, MAX_NUM_ID};
use crate::errors::{invalid, py_err};

/// A collection of vectors of one dimension under one metric.
#[pyclass(name = "Collection", module = "unidb", frozen)]
pub(crate) struct PyCollection {
    inner: RwLock<Collection>,
}

impl PyCollection {
    fn read(&self) -> PyResult<RwLockReadGuard<'_, Collection>> {
        self.inner
            .read()
            .map_err(|_| invalid("the collection was poisoned by an earlier panic"))
    }

    fn write(&self) -> PyResult<RwLockWriteGuard<'_, Collection>> {
        self.inner
            .write()
            .map_err(|_| invalid("the collection was poisoned by an earlier panic"))
    }
}

/// What a search keeps: ids allowed, or a Python predicate.
enum Filter {
    Ids(HashSet<Id>),
    Callable(Py<PyAny>),
}

#[pymethods]
impl PyCollection {
    /// An empty collection of `dim`-dimensional vectors under `metric`,
    /// from a FAISS `index_factory` string (`"HNSW32"`, `"IVF64,SQ8"`,
    /// ...) or with the given storage (`"f32"`, `"f16"`, `"i8"`) and no
    /// index (exact search).
    #[new]
    #[pyo3(signature = (dim, metric="l2", factory=None, storage="f32"))]
    fn new(dim: usize, metric: &str, factory: Option<&str>, storage: &str) -> PyResult<Self> {
        let storage: Storage = storage.parse().map_err(py_err)?;
        let c = match factory {
            Some(f) => {
                if storage != Storage::F32 {
                    return Err(invalid(
                        "give the storage in the factory string (SQfp16, SQ8, PQ...), not both",
                    ));
                }
                Collection::from_factory(dim, metric, f)
            }
            None => Collection::new(CollectionConfig::new(dim, metric).with_storage(storage)),
        }
        .map_err(py_err)?;
        Ok(PyCollection {
            inner: RwLock::new(c),
        })
    }

    /// The dimension.
    #[getter]
    fn dim(&self) -> PyResult<usize> {
        Ok(self.read()?.dim())
    }

    /// The metric's name.
    #[getter]
    fn metric(&self) -> PyResult<&'static str> {
        Ok(self.read()?.metric().name())
    }

    /// The storage (`"f32"`, `"f16"`, `"i8"`, `"pq"`).
    #[getter]
    fn storage(&self) -> PyResult<String> {
        Ok(format!("{:?}", self.read()?.storage()).to_lowercase())
    }

    /// Whether the vectors are memory-mapped from a file.
    #[getter]
    fn is_mapped(&self) -> PyResult<bool> {
        Ok(self.read()?.is_mapped())
    }

    /// The names of the attached indexes.
    #[getter]
    fn index_names(&self) -> PyResult<Vec<String>> {
        Ok(self.read()?.index_names())
    }

    fn __len__(&self) -> PyResult<usize> {
        Ok(self.read()?.len())
    }

    fn __contains__(&self, id: &Bound<'_, PyAny>) -> PyResult<bool> {
        let id = convert::id(id)?;
        Ok(self.read()?.contains(id))
    }

    fn __repr__(&self) -> PyResult<String> {
        let c = self.read()?;
        Ok(format!(
            "Collection(dim={}, metric={:?}, storage={:?}, len={}, indexes={:?})",
            c.dim(),
            c.metric().name(),
            format!("{:?}", c.storage()).to_lowercase(),
            c.len(),
            c.index_names()
        ))
    }

    /// Adds rows: `ids[i]` gets row `i` of the `(n, dim)` array `vectors`
    /// (float32 read in place when C-contiguous; float16, int8 and other
    /// exact conversions are converted), with optional metadata dicts.
    /// Validated whole before anything is stored.
    #[pyo3(signature = (ids, vectors, metadata=None))]
    fn add(
        &self,
        py: Python<'_>,
        ids: &Bound<'_, PyAny>,
        vectors: &Bound<'_, PyAny>,
        metadata: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let ids = convert::ids(ids)?;
        let m = convert::f32_matrix(vectors, "vectors", false)?;
        let (rows, _) = m.shape();
        if rows != ids.len() {
            return Err(invalid(format!(
                "{} ids for {rows} rows of vectors",
                ids.len()
            )));
        }
        let meta = convert::metadata(metadata, ids.len())?;
        let values = m.values();
        let inner = &self.inner;
        py.detach(|| {
            let mut c = inner
                .write()
                .map_err(|_| invalid("the collection was poisoned by an earlier panic"))?;
            match meta {
                Some(meta) => c.insert_rows_with(ids, values, meta),
                None => c.insert_rows(ids, values),
            }
            .map_err(py_err)
        })
    }

    /// Deletes the given ids (every one must be present; none is deleted
    /// otherwise).
    fn delete(&self, ids: &Bound<'_, PyAny>) -> PyResult<()> {
        let ids = convert::ids(ids)?;
        let mut c = self.write()?;
        if let Some(missing) = ids.iter().find(|id| !c.contains((*id).clone())) {
            return Err(crate::errors::of_kind(
                unidb_common::ErrorKind::NotFound,
                format!("id {missing} is not in the collection"),
            ));
        }
        for id in ids {
            c.delete(id).map_err(py_err)?;
        }
        Ok(())
    }

    /// The stored vector of `id` (decoded for f16/i8 storage) and its
    /// metadata.
    #[allow(clippy::type_complexity)]
    fn get<'py>(
        &self,
        py: Python<'py>,
        id: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyArray1<f32>>, Option<Bound<'py, PyDict>>)> {
        let id = convert::id(id)?;
        let c = self.read()?;
        let r = c.get(id).map_err(py_err)?;
        let v = PyArray1::from_slice(py, &r.vector);
        let m = r
            .metadata
            .map(|m| convert::metadata_to_py(py, m))
            .transpose()?;
        Ok((v, m))
    }

    /// Attaches an index of plugin `kind` (see `unidb.indexes()`) named
    /// `name` (the kind when not given), built with `**params` (e.g.
    /// `m=32, ef_construction=200`).
    #[pyo3(signature = (kind, name=None, **params))]
    fn create_index(
        &self,
        py: Python<'_>,
        kind: &str,
        name: Option<&str>,
        params: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let params = convert::kwargs_json(params)?;
        let name = name.unwrap_or(kind);
        let inner = &self.inner;
        py.detach(|| {
            let mut c = inner
                .write()
                .map_err(|_| invalid("the collection was poisoned by an earlier panic"))?;
            c.create_index(name, kind, Params::json(&params))
                .map_err(py_err)
        })
    }

    /// Rebuilds the attached index `name` over the live vectors (an IVF
    /// index retrains its lists).
    fn rebuild_index(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        let inner = &self.inner;
        py.detach(|| {
            let mut c = inner
                .write()
                .map_err(|_| invalid("the collection was poisoned by an earlier panic"))?;
            c.rebuild_index(name).map_err(py_err)
        })
    }

    /// The `k` nearest stored vectors of each row of `queries` (an
    /// `(nq, dim)` array, or one `(dim,)` query), as `(ids, distances)`
    /// arrays of shape `(nq, k)`: int64 ids (-1 where fewer than `k`
    /// vectors qualify; an object array when the collection has string
    /// ids) and float32 distances (`inf` there).
    ///
    /// `filter`: a collection of allowed ids, or a callable
    /// `(id, metadata) -> bool` (called with the GIL held, so slower).
    /// `index`: the attached index to use (the first one by default).
    /// `k_factor`: candidates re-scored per hit with refine. `**params`:
    /// the index's search parameters (`ef=64`, `nprobe=8`).
    #[pyo3(signature = (queries, k, filter=None, index=None, k_factor=None, **params))]
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn search<'py>(
        &self,
        py: Python<'py>,
        queries: &Bound<'py, PyAny>,
        k: usize,
        filter: Option<&Bound<'py, PyAny>>,
        index: Option<String>,
        k_factor: Option<f32>,
        params: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let q = convert::f32_matrix(queries, "queries", true)?;
        let (nq, _) = q.shape();
        let params = match params {
            Some(p) if !p.is_empty() => Some(convert::kwargs_json(Some(p))?),
            _ => None,
        };
        let filter = match filter.filter(|f| !f.is_none()) {
            None => None,
            Some(f) if f.is_callable() => Some(Filter::Callable(f.clone().unbind())),
            Some(f) => Some(Filter::Ids(convert::ids(f)?.into_iter().collect())),
        };
        let values = q.values();
        let inner = &self.inner;
        let failure: Mutex<Option<PyErr>> = Mutex::new(None);
        let found = py.detach(|| -> PyResult<Vec<Vec<Hit>>> {
            let c = inner
                .read()
                .map_err(|_| invalid("the collection was poisoned by an earlier panic"))?;
            let by_ids = |id: &Id, _: Option<&Metadata>| match &filter {
                Some(Filter::Ids(set)) => set.contains(id),
                _ => true,
            };
            let by_callable = |id: &Id, m: Option<&Metadata>| {
                let Some(Filter::Callable(f)) = &filter else {
                    return true;
                };
                Python::attach(|py| {
                    let call = || -> PyResult<bool> {
                        let m = match m {
                            Some(m) => convert::metadata_to_py(py, m)?.into_any(),
                            None => py.None().into_bound(py),
                        };
                        f.bind(py)
                            .call1((convert::id_to_py(py, id)?, m))?
                            .is_truthy()
                    };
                    call().unwrap_or_else(|e| {
                        let mut slot = failure.lock().unwrap_or_else(|p| p.into_inner());
                        slot.get_or_insert(e);
                        false
                    })
                })
            };
            let filter_fn: Option<unidb_vectordb::FilterFn<'_>> = match &filter {
                None => None,
                Some(Filter::Ids(_)) => Some(&by_ids),
                Some(Filter::Callable(_)) => Some(&by_callable),
            };
            let exact = c.index_names().is_empty() && index.is_none() && params.is_none();
            // One query runs on the calling thread: no hand-off to the
            // rayon pool (a few microseconds) for a single search.
            if exact && nq > 1 {
                return c.search_exact_batch(values, k, filter_fn).map_err(py_err);
            }
            let options = SearchOptions {
                index: index.as_deref(),
                params: params.as_ref().map(Params::json).unwrap_or_default(),
                filter: filter_fn,
                k_factor,
            };
            if nq == 1 {
                return c
                    .search_with(values, k, &options)
                    .map(|h| vec![h])
                    .map_err(py_err);
            }
            c.search_batch(values, k, &options).map_err(py_err)
        });
        if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(e);
        }
        let found = found?;
        results(py, &found, nq, k)
    }

    /// Saves the collection and its indexes to `path` (atomically: the
    /// old file stays whole until the new one is complete).
    fn save(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        let inner = &self.inner;
        py.detach(|| {
            let c = inner
                .read()
                .map_err(|_| invalid("the collection was poisoned by an earlier panic"))?;
            c.save(&path).map_err(py_err)
        })
    }

    /// Search and insert figures: queries, inserts, the latency histogram
    /// and its p50/p99 in nanoseconds (`p50_ns`, `p99_ns`), QPS.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let m = self.read()?.metrics();
        let text = serde_json::to_string(&m).map_err(py_err)?;
        let v = py.import("json")?.getattr("loads")?.call1((text,))?;
        let d = v.downcast_into::<PyDict>()?;
        d.set_item("p50_ns", m.p50().as_nanos() as u64)?;
        d.set_item("p99_ns", m.p99().as_nanos() as u64)?;
        Ok(d)
    }
}

/// `(ids, distances)` of shape `(nq, k)`.
fn results<'py>(
    py: Python<'py>,
    found: &[Vec<Hit>],
    nq: usize,
    k: usize,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let mut dist = vec![f32::INFINITY; nq * k];
    let numeric = found
        .iter()
        .flatten()
        .all(|h| matches!(h.id, Id::Num(n) if n <= MAX_NUM_ID));
    for (row, hits) in found.iter().enumerate() {
        for (j, h) in hits.iter().take(k).enumerate() {
            dist[row * k + j] = h.distance;
        }
    }
    let dist = PyArray1::from_vec(py, dist).reshape([nq, k])?.into_any();
    let ids = if numeric {
        let mut ids = vec![-1i64; nq * k];
        for (row, hits) in found.iter().enumerate() {
            for (j, h) in hits.iter().take(k).enumerate() {
                if let Id::Num(n) = h.id {
                    ids[row * k + j] = n as i64;
                }
            }
        }
        PyArray1::from_vec(py, ids).reshape([nq, k])?.into_any()
    } else {
        let rows = PyList::empty(py);
        for hits in found {
            let row = PyList::empty(py);
            for j in 0..k {
                match hits.get(j) {
                    Some(h) => row.append(convert::id_to_py(py, &h.id)?)?,
                    None => row.append(py.None())?,
                }
            }
            rows.append(row)?;
        }
        let np = py.import("numpy")?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("dtype", np.getattr("object_")?)?;
        let arr = np.getattr("empty")?.call(((nq, k),), Some(&kwargs))?;
        arr.set_item(pyo3::types::PySlice::full(py), rows)?;
        arr
    };
    Ok((ids, dist))
}

/// Opens a collection saved with `Collection.save` (or the `unidb` CLI):
/// the vectors memory-mapped when `mmap` (the default), else read into
/// memory. Every structure is validated: a damaged file raises
/// `CorruptFile`.
#[pyfunction]
#[pyo3(signature = (path, mmap=true))]
pub(crate) fn open(py: Python<'_>, path: std::path::PathBuf, mmap: bool) -> PyResult<PyCollection> {
    let c = py.detach(|| {
        if mmap {
            Collection::open(&path).map_err(py_err)
        } else {
            let bytes = std::fs::read(&path).map_err(|e| {
                py_err(unidb_common::Error::from(e).with_location(path.display().to_string()))
            })?;
            unidb_vectordb::persist::from_bytes(&bytes).map_err(py_err)
        }
    })?;
    Ok(PyCollection {
        inner: RwLock::new(c),
    })
}
