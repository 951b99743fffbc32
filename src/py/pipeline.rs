//! Bindings of metricd's pipeline (`crate::pipeline`): a batch of metrics
//! in, one typed outcome per metric and the step timings out.

use super::archive_policy::PyPolicySpec;
use super::errors::IntoPyResult;
use super::ids::metric_id;
use super::records::as_points;
use crate::carbonara::Point;
use crate::pipeline::{self as core_pipeline, MetricMeasures};
use crate::storage::{MetricId, Store};
use numpy::PyReadonlyArray1;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::collections::HashMap;

/// What happened to one metric of a processed batch.
#[pyclass(frozen, get_all, name = "MetricOutcome", module = "gnocchi_rs._native")]
pub struct PyMetricOutcome {
    /// New measures processed.
    measures: usize,
    /// Newest new measure, ns.
    newest: Option<i64>,
    /// The stored raw series was undecodable and started anew.
    raw_corrupt: bool,
    /// Stored splits that were undecodable and rewritten.
    corrupt_splits: usize,
    /// Why the measures were dropped, if they were.
    error: Option<String>,
}

/// The outcomes of a batch, in the batch's order, and upstream's step
/// statistics (`storage.Statistics` keys).
#[pyclass(frozen, get_all, module = "gnocchi_rs._native")]
pub struct BatchResult {
    outcomes: Py<PyList>,
    timings: Py<PyDict>,
}

/// One metric of `NativeStorage.process`: its id, policy and new measures.
#[derive(FromPyObject)]
pub struct NewMeasuresArg<'py>(Vec<u8>, Bound<'py, PyPolicySpec>, PyReadonlyArray1<'py, i64>);

/// One metric of `NativeStorage.process_held`: its id and policy.
#[derive(FromPyObject)]
pub struct HeldMetricArg<'py>(Vec<u8>, Bound<'py, PyPolicySpec>);

fn run(py: Python<'_>, store: &dyn Store, items: &[MetricMeasures<'_>]) -> PyResult<BatchResult> {
    let report = py.detach(|| core_pipeline::process_batch(store, items)).into_py_result(py)?;
    let timings = PyDict::new(py);
    timings.set_item("raw measures fetch", report.raw_fetch_seconds)?;
    timings.set_item("aggregated measures compute", report.compute_seconds)?;
    timings.set_item("splits delete", report.delete_seconds)?;
    timings.set_item("splits update", report.update_seconds)?;
    timings.set_item("raw measures store", report.raw_store_seconds)?;
    timings.set_item("splits deleted", report.splits_deleted)?;
    timings.set_item("splits written", report.splits_written)?;
    let outcomes = report
        .outcomes
        .into_iter()
        .map(|o| {
            let outcome = PyMetricOutcome {
                measures: o.measures,
                newest: o.newest,
                raw_corrupt: o.raw_corrupt,
                corrupt_splits: o.corrupt_splits,
                error: o.error,
            };
            Py::new(py, outcome)
        })
        .collect::<PyResult<Vec<_>>>()?;
    Ok(BatchResult { outcomes: PyList::new(py, outcomes)?.unbind(), timings: timings.unbind() })
}

/// The pipeline over measures handed in as numpy records; they are copied
/// (with the GIL held) before the GIL is released.
pub fn process_records(py: Python<'_>, store: &dyn Store, batch: &[NewMeasuresArg<'_>]) -> PyResult<BatchResult> {
    let mut items = Vec::with_capacity(batch.len());
    for NewMeasuresArg(id, policy, records) in batch {
        items.push(MetricMeasures { metric: metric_id(id)?, policy: &policy.get().inner, measures: as_points(records)?.to_vec() });
    }
    run(py, store, &items)
}

/// The pipeline over measures a sack read kept native; the measures of
/// metrics left out of `metrics` are dropped with the sack.
pub fn process_held(
    py: Python<'_>,
    store: &dyn Store,
    held: HashMap<MetricId, Vec<Point>>,
    metrics: &[HeldMetricArg<'_>],
) -> PyResult<BatchResult> {
    let mut held = held;
    let mut items = Vec::with_capacity(metrics.len());
    for HeldMetricArg(id, policy) in metrics {
        let metric = metric_id(id)?;
        let measures = held.remove(&metric).ok_or_else(|| PyValueError::new_err("no held measures for this metric"))?;
        items.push(MetricMeasures { metric, policy: &policy.get().inner, measures });
    }
    run(py, store, &items)
}
