//! `unidb.experiment`: assignment, sufficient statistics and the tests
//! of vectordb's experiments module. Results go to Python as JSON text of
//! the Rust types' serde form, which `unidb.experiment` turns into
//! dataclasses.

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use unidb_vectordb::experiments::{
    adjust, analyze, srm, AnalysisOptions, Arm, Correction, Experiment, ExperimentConfig, Metric,
    SufficientStats, TestKind,
};

use crate::convert;
use crate::errors::{invalid, py_err};

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyStats>()?;
    m.add_function(wrap_pyfunction!(exp_assign, m)?)?;
    m.add_function(wrap_pyfunction!(exp_analyze, m)?)?;
    m.add_function(wrap_pyfunction!(exp_srm, m)?)?;
    m.add_function(wrap_pyfunction!(exp_adjust, m)?)?;
    Ok(())
}

/// Mergeable sufficient statistics of one arm: count, means, centred
/// sums of squares and co-moment of a metric `x` and an optional second
/// column `y` (pre-period covariate or ratio denominator).
#[pyclass(name = "SufficientStats", module = "unidb.experiment", frozen)]
#[derive(Clone)]
pub(crate) struct PyStats {
    pub(crate) inner: SufficientStats,
}

fn f64_values(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<f64>> {
    if let Ok(a) = obj.downcast::<PyArray1<f64>>() {
        let r: PyReadonlyArray1<'_, f64> = a.try_readonly()?;
        if let Ok(s) = r.as_slice() {
            return Ok(s.to_vec());
        }
    }
    let converted = obj
        .py()
        .import("unidb._convert")?
        .getattr("as_f64_vector")?
        .call1((obj, what))?;
    let a = converted
        .downcast::<PyArray1<f64>>()
        .map_err(|_| invalid(format!("{what}: expected a 1-D float64 array")))?;
    Ok(a.try_readonly()?.as_array().to_vec())
}

#[pymethods]
impl PyStats {
    /// The statistics of the values `x` (and `y`, parallel to it).
    #[staticmethod]
    #[pyo3(signature = (x, y=None))]
    fn from_values(x: &Bound<'_, PyAny>, y: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let x = f64_values(x, "x")?;
        let y = y.map(|y| f64_values(y, "y")).transpose()?;
        SufficientStats::from_values(&x, y.as_deref())
            .map(|inner| PyStats { inner })
            .map_err(py_err)
    }

    /// `n` observations with this mean and sample standard deviation.
    #[staticmethod]
    fn from_mean_sd(n: u64, mean: f64, sd: f64) -> PyResult<Self> {
        SufficientStats::from_mean_sd(n, mean, sd)
            .map(|inner| PyStats { inner })
            .map_err(py_err)
    }

    /// `count` successes in `nobs` trials.
    #[staticmethod]
    fn from_counts(count: u64, nobs: u64) -> PyResult<Self> {
        SufficientStats::from_counts(count, nobs)
            .map(|inner| PyStats { inner })
            .map_err(py_err)
    }

    /// From raw sums `n, Σx, Σx², Σy, Σy², Σxy`.
    #[staticmethod]
    #[pyo3(signature = (n, sx, sxx, sy=0.0, syy=0.0, sxy=0.0))]
    fn from_sums(n: u64, sx: f64, sxx: f64, sy: f64, syy: f64, sxy: f64) -> PyResult<Self> {
        SufficientStats::from_sums(n, sx, sxx, sy, syy, sxy)
            .map(|inner| PyStats { inner })
            .map_err(py_err)
    }

    /// Both arms' observations together (Chan's merge).
    fn merge(&self, other: &PyStats) -> PyStats {
        let mut inner = self.inner;
        inner.merge(&other.inner);
        PyStats { inner }
    }

    /// The count.
    #[getter]
    fn n(&self) -> u64 {
        self.inner.n()
    }
    /// The mean of `x`.
    #[getter]
    fn mean_x(&self) -> f64 {
        self.inner.mean_x()
    }
    /// The mean of `y`.
    #[getter]
    fn mean_y(&self) -> f64 {
        self.inner.mean_y()
    }
    /// The sample variance of `x`.
    #[getter]
    fn var_x(&self) -> f64 {
        self.inner.var_x()
    }
    /// The sample variance of `y`.
    #[getter]
    fn var_y(&self) -> f64 {
        self.inner.var_y()
    }
    /// The sample covariance of `x` and `y`.
    #[getter]
    fn cov_xy(&self) -> f64 {
        self.inner.cov_xy()
    }

    fn __repr__(&self) -> String {
        format!(
            "SufficientStats(n={}, mean_x={}, var_x={}, mean_y={}, var_y={}, cov_xy={})",
            self.inner.n(),
            self.inner.mean_x(),
            self.inner.var_x(),
            self.inner.mean_y(),
            self.inner.var_y(),
            self.inner.cov_xy()
        )
    }
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, name: &str) -> PyResult<T> {
    serde_json::from_value(serde_json::Value::String(name.to_owned()))
        .map_err(|_| invalid(format!("unknown {what} {name:?}")))
}

/// Variants of `ids` under the experiment of `config` (ExperimentConfig's
/// fields as keyword arguments): an int64 array, -1 for units outside
/// it; for one id (a str) the exposure record as JSON.
#[pyfunction]
#[pyo3(signature = (ids, **config))]
fn exp_assign<'py>(
    py: Python<'py>,
    ids: &Bound<'py, PyAny>,
    config: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let config = convert::kwargs_json(config)?;
    let config: ExperimentConfig = serde_json::from_value(config)
        .map_err(|e| invalid(format!("experiment configuration: {e}")))?;
    let exp = Experiment::new(config).map_err(py_err)?;
    if let Ok(one) = ids.downcast::<PyString>() {
        let e = exp.assign(&one.to_cow()?);
        let text = serde_json::to_string(&e).map_err(py_err)?;
        return Ok(PyString::new(py, &text).into_any());
    }
    let mut names = Vec::new();
    for item in ids
        .try_iter()
        .map_err(|_| invalid("ids: expected a sequence"))?
    {
        let item = item?;
        names.push(match item.downcast::<PyString>() {
            Ok(s) => s.to_cow()?.into_owned(),
            Err(_) => item.str()?.to_cow()?.into_owned(),
        });
    }
    let variants: Vec<i64> = py.detach(|| {
        use rayon::prelude::*;
        names
            .par_iter()
            .map(|id| exp.assign(id).variant.map_or(-1, |v| v as i64))
            .collect()
    });
    Ok(PyArray1::from_vec(py, variants).into_any())
}

/// Each treatment against the control (the first arm); the comparisons
/// as JSON.
#[pyfunction]
#[pyo3(signature = (names, stats, metric="mean", test="welch", alpha=0.05, sequential_tuning=None, cuped=false, pooled=true, correction=None))]
#[allow(clippy::too_many_arguments)]
fn exp_analyze(
    names: Vec<String>,
    stats: Vec<PyRef<'_, PyStats>>,
    metric: &str,
    test: &str,
    alpha: f64,
    sequential_tuning: Option<f64>,
    cuped: bool,
    pooled: bool,
    correction: Option<&str>,
) -> PyResult<String> {
    if names.len() != stats.len() {
        return Err(invalid("one name per arm"));
    }
    let arms: Vec<Arm> = names
        .into_iter()
        .zip(&stats)
        .map(|(name, s)| Arm {
            name,
            stats: s.inner,
        })
        .collect();
    let options = AnalysisOptions {
        metric: parse::<Metric>("metric", metric)?,
        test: parse::<TestKind>("test", test)?,
        alpha,
        sequential_tuning,
        cuped,
        pooled,
        correction: correction
            .map(|c| c.parse::<Correction>().map_err(py_err))
            .transpose()?,
    };
    let out = analyze(&arms, &options).map_err(py_err)?;
    serde_json::to_string(&out).map_err(py_err)
}

/// Sample-ratio mismatch: `(chi2, p, mismatch)`.
#[pyfunction]
#[pyo3(signature = (counts, weights=None))]
fn exp_srm(counts: Vec<u64>, weights: Option<Vec<f64>>) -> PyResult<(f64, f64, bool)> {
    let s = srm(&counts, weights.as_deref()).map_err(py_err)?;
    Ok((s.chi2, s.p, s.mismatch))
}

/// Adjusted p-values (`bonferroni`, `holm`, `bh`).
#[pyfunction]
#[pyo3(signature = (p, method="holm"))]
fn exp_adjust<'py>(
    py: Python<'py>,
    p: &Bound<'py, PyAny>,
    method: &str,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let p = f64_values(p, "p")?;
    let method: Correction = method.parse().map_err(py_err)?;
    let out = adjust(&p, method).map_err(py_err)?;
    Ok(PyArray1::from_vec(py, out))
}
