//! Metric ids cross the FFI as the 16 bytes of the UUID.

use crate::storage::MetricId;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

pub fn metric_id(bytes: &[u8]) -> PyResult<MetricId> {
    let bytes: [u8; 16] = bytes.try_into().map_err(|_| PyValueError::new_err("a metric id is 16 bytes"))?;
    Ok(MetricId::from_bytes(bytes))
}

pub fn id_bytes(py: Python<'_>, metric: MetricId) -> Bound<'_, PyBytes> {
    PyBytes::new(py, &metric.to_bytes())
}

pub fn optional_bytes(py: Python<'_>, data: Option<Vec<u8>>) -> Option<Bound<'_, PyBytes>> {
    data.map(|d| PyBytes::new(py, &d))
}
