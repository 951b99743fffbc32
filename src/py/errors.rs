//! The one place where core errors become Python exceptions. Carbonara
//! errors are raised as upstream's own classes from `gnocchi.carbonara`, so
//! upstream code catching `carbonara.InvalidData` keeps working.

use crate::error::Error;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

fn upstream_exception<'py>(
    py: Python<'py>,
    class: &str,
    args: impl pyo3::call::PyCallArgs<'py>,
) -> PyResult<PyErr> {
    let exc = py.import("gnocchi.carbonara")?.getattr(class)?.call1(args)?;
    Ok(PyErr::from_value(exc))
}

pub fn to_pyerr(py: Python<'_>, error: Error) -> PyErr {
    let converted = match &error {
        Error::InvalidData(detail) => upstream_exception(py, "InvalidData", ()).map(|err| {
            // Upstream's message is fixed; keep ours as a note for the logs.
            let _ = err.add_note(py, detail.as_str());
            err
        }),
        Error::BeforeEpoch(ts) => {
            let numpy_ts = py
                .import("numpy")
                .and_then(|np| np.getattr("datetime64")?.call1((*ts, "ns")));
            numpy_ts.and_then(|ts| upstream_exception(py, "BeforeEpochError", (ts,)))
        }
        Error::UnknownAggregationMethod(name) => upstream_exception(py, "UnknownAggregationMethod", (name.as_str(),)),
        Error::CannotDeriveCalendar => Ok(PyTypeError::new_err(error.to_string())),
        Error::InvalidArgument(_) => Ok(PyValueError::new_err(error.to_string())),
        // Upstream's callers (chef, metricd, REST) treat StorageError as
        // "this batch failed, retry later".
        Error::Backend(_) | Error::Config(_) => py
            .import("gnocchi.storage")
            .and_then(|m| m.getattr("StorageError")?.call1((error.to_string(),)))
            .map(PyErr::from_value),
    };
    converted.unwrap_or_else(|import_failure| import_failure)
}

/// `?`-friendly conversion for binding functions.
pub trait IntoPyResult<T> {
    fn into_py_result(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for crate::Result<T> {
    fn into_py_result(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_pyerr(py, e))
    }
}
