//! Archive policies as processing needs them, built once per policy by the
//! storage drivers (from upstream's `ArchivePolicy`) and by the lean worker
//! (from the indexer's rows) through the same core translation
//! (`PolicySpec::new`).

use super::errors::IntoPyResult;
use crate::archive_policy::ArchivePolicyItem;
use crate::pipeline::PolicySpec;
use pyo3::prelude::*;

#[pyclass(frozen, eq, name = "ArchivePolicySpec", module = "gnocchi_rs._native")]
#[derive(PartialEq)]
pub struct PyPolicySpec {
    pub(super) inner: PolicySpec,
}

/// A definition item as the indexer stores it: seconds and a point count.
#[derive(FromPyObject)]
struct StoredItem {
    #[pyo3(item)]
    granularity: f64,
    #[pyo3(item, default)]
    points: Option<f64>,
    #[pyo3(item, default)]
    timespan: Option<f64>,
}

#[pymethods]
impl PyPolicySpec {
    /// `definition`: `(granularity ns, timespan ns or None)` per item, as
    /// upstream's `ArchivePolicyItem` computed them; `methods`: the
    /// policy's resolved aggregation methods.
    #[new]
    fn new(py: Python<'_>, back_window: i64, definition: Vec<(i64, Option<i64>)>, methods: Vec<String>) -> PyResult<Self> {
        let items: Vec<ArchivePolicyItem> = definition
            .into_iter()
            .map(|(granularity, timespan)| ArchivePolicyItem {
                granularity,
                points: timespan.and_then(|t| t.checked_div(granularity)),
                timespan,
            })
            .collect();
        Ok(PyPolicySpec { inner: PolicySpec::new(back_window, &items, &methods).into_py_result(py)? })
    }

    /// From an archive policy row: its stored `definition` (a list of
    /// `{"granularity": s, "points": n, "timespan": s}`) and methods.
    #[staticmethod]
    fn from_stored(py: Python<'_>, back_window: i64, definition: Vec<StoredItem>, methods: Vec<String>) -> PyResult<Self> {
        let items = definition
            .iter()
            .map(|d| ArchivePolicyItem::from_stored(d.granularity, d.points, d.timespan))
            .collect::<crate::Result<Vec<_>>>()
            .into_py_result(py)?;
        Ok(PyPolicySpec { inner: PolicySpec::new(back_window, &items, &methods).into_py_result(py)? })
    }

    /// `(method, granularity ns, timespan ns)` in processing order.
    #[getter]
    fn aggregations(&self) -> Vec<(String, i64, Option<i64>)> {
        self.inner.aggregations.iter().map(|a| (a.method_name.clone(), a.granularity, a.timespan)).collect()
    }

    #[getter]
    fn methods(&self) -> Vec<String> {
        self.inner.methods.clone()
    }

    #[getter]
    fn block_size(&self) -> Option<i64> {
        self.inner.block_size
    }

    /// With the extra block that `rate:` methods need.
    #[getter]
    fn back_window(&self) -> i64 {
        self.inner.back_window
    }

    fn __repr__(&self) -> String {
        format!(
            "ArchivePolicySpec(aggregations={:?}, block_size={:?}, back_window={})",
            self.aggregations(),
            self.inner.block_size,
            self.inner.back_window
        )
    }
}
