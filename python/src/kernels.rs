//! `unidb.kernels`: the one-to-many distance kernels on NumPy arrays and
//! which SIMD path runs them.

use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use unidb_kernels::{Isa, KernelError, Kernels};

use crate::convert;
use crate::errors::{invalid, py_err};

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(kernel_dot, m)?)?;
    m.add_function(wrap_pyfunction!(kernel_l2sq, m)?)?;
    m.add_function(wrap_pyfunction!(kernel_cosine, m)?)?;
    m.add_function(wrap_pyfunction!(kernel_info, m)?)?;
    Ok(())
}

type ManyFn = fn(&Kernels, &[f32], &[f32], &mut [f32]) -> Result<(), KernelError>;

fn kernels_of(path: Option<&str>) -> PyResult<&'static Kernels> {
    match path {
        None => Kernels::try_active().map_err(py_err),
        Some(name) => {
            let isa: Isa = name.parse().map_err(py_err)?;
            Kernels::for_isa(isa)
                .ok_or_else(|| invalid(format!("kernel path {name} is not available on this CPU")))
        }
    }
}

fn many<'py>(
    py: Python<'py>,
    query: &Bound<'py, PyAny>,
    rows: &Bound<'py, PyAny>,
    path: Option<&str>,
    f: ManyFn,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let k = kernels_of(path)?;
    let q = convert::f32_matrix(query, "query", true)?;
    let (qn, dim) = q.shape();
    if qn != 1 {
        return Err(invalid(format!(
            "query: expected one vector, got {qn} rows"
        )));
    }
    let r = convert::f32_matrix(rows, "rows", true)?;
    let (n, rdim) = r.shape();
    if rdim != dim {
        return Err(invalid(format!(
            "rows have {rdim} columns, the query {dim}"
        )));
    }
    let (qv, rv) = (q.values(), r.values());
    let out = py.detach(|| {
        let mut out = vec![0.0f32; n];
        f(k, qv, rv, &mut out).map(|()| out)
    });
    Ok(PyArray1::from_vec(py, out.map_err(py_err)?))
}

/// `out[i] = dot(query, rows[i])`.
#[pyfunction]
#[pyo3(signature = (query, rows, path=None))]
fn kernel_dot<'py>(
    py: Python<'py>,
    query: &Bound<'py, PyAny>,
    rows: &Bound<'py, PyAny>,
    path: Option<&str>,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    many(py, query, rows, path, Kernels::dot_f32_many)
}

/// `out[i] = |query - rows[i]|²`.
#[pyfunction]
#[pyo3(signature = (query, rows, path=None))]
fn kernel_l2sq<'py>(
    py: Python<'py>,
    query: &Bound<'py, PyAny>,
    rows: &Bound<'py, PyAny>,
    path: Option<&str>,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    many(py, query, rows, path, Kernels::l2sq_f32_many)
}

/// `out[i] = 1 - cos(query, rows[i])`.
#[pyfunction]
#[pyo3(signature = (query, rows, path=None))]
fn kernel_cosine<'py>(
    py: Python<'py>,
    query: &Bound<'py, PyAny>,
    rows: &Bound<'py, PyAny>,
    path: Option<&str>,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    many(py, query, rows, path, Kernels::cosine_f32_many)
}

/// `{"active": name, "selection": "detected"|"forced", "paths": [{"name", "available"}]}`.
#[pyfunction]
fn kernel_info(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let (k, sel) = Kernels::selection().map_err(py_err)?;
    let d = PyDict::new(py);
    d.set_item("active", k.isa().name())?;
    d.set_item("selection", format!("{sel:?}").to_lowercase())?;
    let paths = PyList::empty(py);
    for isa in Isa::ALL {
        let p = PyDict::new(py);
        p.set_item("name", isa.name())?;
        p.set_item("available", isa.is_available())?;
        paths.append(p)?;
    }
    d.set_item("paths", paths)?;
    Ok(d)
}
