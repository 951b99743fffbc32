//! The one place where core errors become Python exceptions.
//!
//! Upstream's callers catch upstream's classes (`carbonara.InvalidData`,
//! `storage.StorageError`, ...), so those are raised whenever upstream's
//! module is already loaded. The lean metricd worker never loads upstream:
//! importing `gnocchi.storage` just to raise an error would pull upstream's
//! whole stack (about 28 MB) into it for good, so the native module's own
//! classes, of the same names and bases, are raised there instead.

use crate::error::Error;
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

create_exception!(_native, StorageError, PyException, "A storage or incoming backend failed; the batch is left as it was.");
create_exception!(_native, InvalidData, PyValueError, "A stored blob cannot be decoded.");
create_exception!(_native, BeforeEpochError, PyException, "A series starts before 1970.");
create_exception!(_native, UnknownAggregationMethod, PyException, "Not an aggregation method upstream knows.");

/// Upstream's class `name` of `module` when that module is loaded.
fn loaded_upstream_class<'py>(py: Python<'py>, module: &str, name: &str) -> Option<Bound<'py, PyAny>> {
    let modules = py.import("sys").ok()?.getattr("modules").ok()?;
    modules.get_item(module).ok()?.getattr(name).ok()
}

fn raise<'py>(
    py: Python<'py>,
    module: &str,
    name: &str,
    native: Bound<'py, pyo3::types::PyType>,
    args: Bound<'py, PyTuple>,
) -> PyResult<PyErr> {
    let class = loaded_upstream_class(py, module, name).unwrap_or_else(|| native.into_any());
    Ok(PyErr::from_value(class.call1(args)?))
}

fn before_epoch_argument(py: Python<'_>, ns: i64) -> PyResult<Bound<'_, PyAny>> {
    // Upstream passes a numpy.datetime64; numpy is loaded wherever
    // upstream's carbonara is, and a bare int ns elsewhere is enough.
    match py.import("sys")?.getattr("modules")?.get_item("numpy") {
        Ok(numpy) => numpy.getattr("datetime64")?.call1((ns, "ns")),
        Err(_) => Ok(ns.into_pyobject(py)?.into_any()),
    }
}

pub fn to_pyerr(py: Python<'_>, error: Error) -> PyErr {
    let converted = match &error {
        Error::InvalidData(detail) => {
            raise(py, "gnocchi.carbonara", "InvalidData", py.get_type::<InvalidData>(), PyTuple::empty(py)).map(|err| {
                // Upstream's message is fixed; keep ours as a note for the logs.
                let _ = err.add_note(py, detail.as_str());
                err
            })
        }
        Error::BeforeEpoch(ns) => before_epoch_argument(py, *ns).and_then(|ts| {
            let args = PyTuple::new(py, [ts])?;
            raise(py, "gnocchi.carbonara", "BeforeEpochError", py.get_type::<BeforeEpochError>(), args)
        }),
        Error::UnknownAggregationMethod(name) => PyTuple::new(py, [name.as_str()]).and_then(|args| {
            raise(py, "gnocchi.carbonara", "UnknownAggregationMethod", py.get_type::<UnknownAggregationMethod>(), args)
        }),
        Error::CannotDeriveCalendar => Ok(PyTypeError::new_err(error.to_string())),
        Error::InvalidArgument(_) => Ok(PyValueError::new_err(error.to_string())),
        // Upstream's callers (chef, metricd, REST) treat StorageError as
        // "this batch failed, retry later".
        Error::Backend(_) | Error::Config(_) => PyTuple::new(py, [error.to_string()])
            .and_then(|args| raise(py, "gnocchi.storage", "StorageError", py.get_type::<StorageError>(), args)),
    };
    converted.unwrap_or_else(|conversion_failure| conversion_failure)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("StorageError", py.get_type::<StorageError>())?;
    m.add("InvalidData", py.get_type::<InvalidData>())?;
    m.add("BeforeEpochError", py.get_type::<BeforeEpochError>())?;
    m.add("UnknownAggregationMethod", py.get_type::<UnknownAggregationMethod>())?;
    Ok(())
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
