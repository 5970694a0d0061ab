//! The native half of the `unidb` Python package (PyO3): vector
//! collections, the SIMD kernels, A/B experiment statistics and the
//! feature store, with NumPy arrays and pyarrow tables crossing without
//! copies where their layout allows.
//!
//! Python users import `unidb`, whose `__init__.py` re-exports this
//! module (`unidb._native`) and wraps it where plain Python reads better
//! (dataclasses, keyword arguments). Every error is a Python exception of
//! the class named after its [`ErrorKind`](unidb_common::ErrorKind)
//! (`unidb.InvalidArgument`, `unidb.CorruptFile`, ...), all subclasses of
//! `unidb.UnidbError`; no panic reaches the interpreter as a crash (PyO3
//! turns one into a `PanicException`).

use pyo3::prelude::*;

mod collection;
mod convert;
mod errors;
mod experiments;
mod features;
mod kernels;

/// The `unidb._native` module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_class::<collection::PyCollection>()?;
    m.add_function(wrap_pyfunction!(collection::open, m)?)?;
    m.add_function(wrap_pyfunction!(metrics, m)?)?;
    m.add_function(wrap_pyfunction!(indexes, m)?)?;
    m.add_function(wrap_pyfunction!(transforms, m)?)?;
    kernels::register(m)?;
    experiments::register(m)?;
    features::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

/// The names of the registered metrics, sorted.
#[pyfunction]
fn metrics() -> Vec<&'static str> {
    unidb_vectordb::Metric::names()
}

/// The names of the registered index kinds, sorted.
#[pyfunction]
fn indexes() -> Vec<&'static str> {
    unidb_vectordb::IndexPlugin::names()
}

/// The names of the registered transforms, sorted.
#[pyfunction]
fn transforms() -> Vec<&'static str> {
    unidb_vectordb::TransformPlugin::names()
}
