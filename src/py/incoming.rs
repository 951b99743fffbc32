//! Bindings of the incoming backends (`crate::incoming`): new measures
//! written as blobs, sacks read whole (as numpy records, or kept native
//! for the pipeline) and deleted by receipt once processed.

use super::api::ParsedMeasures;
use super::connections::{RadosPool, RedisConnection};
use super::errors::IntoPyResult;
use super::ids::{id_bytes, metric_id};
use super::records::as_points;
use crate::carbonara::Point;
use crate::incoming::{self, Incoming, NewMeasures, Pending, Receipt};
use crate::storage::MetricId;
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use std::collections::HashMap;
use std::sync::Mutex;

/// What a read handed out, to delete once processed; used once.
#[pyclass(frozen, module = "gnocchi_rs._native")]
pub struct PendingReceipt {
    receipt: Mutex<Option<Receipt>>,
}

impl PendingReceipt {
    fn new(receipt: Receipt) -> PendingReceipt {
        PendingReceipt { receipt: Mutex::new(Some(receipt)) }
    }
}

/// The measures of a sack kept native until `NativeStorage.process_held`
/// consumes them (no numpy round trip).
#[pyclass(frozen, module = "gnocchi_rs._native")]
pub struct HeldMeasures {
    metrics: Mutex<Option<Vec<(MetricId, Vec<Point>)>>>,
}

impl HeldMeasures {
    /// The measures by metric; a second take is an error.
    pub(super) fn take(&self) -> PyResult<HashMap<MetricId, Vec<Point>>> {
        let taken = self.metrics.lock().map_err(|_| PyValueError::new_err("held measures poisoned"))?.take();
        Ok(taken.ok_or_else(|| PyValueError::new_err("held measures already processed"))?.into_iter().collect())
    }
}

/// A sack or metrics read: per metric its id and records, the receipt to
/// delete them with, and `(entry, why)` for each blob that was corrupt.
#[pyclass(frozen, get_all, module = "gnocchi_rs._native")]
pub struct SackRead {
    measures: Py<PyList>,
    receipt: Py<PendingReceipt>,
    corrupt: Vec<(String, String)>,
}

/// A sack read whose measures stay native.
#[pyclass(frozen, get_all, module = "gnocchi_rs._native")]
pub struct HeldSack {
    measures: Py<HeldMeasures>,
    metric_ids: Vec<Py<PyBytes>>,
    receipt: Py<PendingReceipt>,
    corrupt: Vec<(String, String)>,
}

/// One entry of `add_measures_batch`: sack name, metric id, records.
#[derive(FromPyObject)]
pub struct NewMeasuresArg<'py>(String, Vec<u8>, PyReadonlyArray1<'py, i64>);

fn sack_read(py: Python<'_>, pending: Pending) -> PyResult<SackRead> {
    let measures: Vec<(Bound<'_, PyBytes>, Bound<'_, PyArray1<i64>>)> = pending
        .metrics
        .into_iter()
        .map(|(m, points)| (id_bytes(py, m), super::records::to_array(py, points)))
        .collect();
    Ok(SackRead {
        measures: PyList::new(py, measures)?.unbind(),
        receipt: Py::new(py, PendingReceipt::new(pending.receipt))?,
        corrupt: pending.corrupt,
    })
}

/// An incoming backend of `crate::incoming`.
#[pyclass(frozen, module = "gnocchi_rs._native")]
pub struct NativeIncoming {
    incoming: Box<dyn Incoming>,
}

#[pymethods]
impl NativeIncoming {
    #[staticmethod]
    fn file(basepath: String) -> NativeIncoming {
        NativeIncoming { incoming: Box::new(incoming::file::FileIncoming::new(basepath)) }
    }

    #[staticmethod]
    fn redis(connection: &RedisConnection) -> NativeIncoming {
        NativeIncoming { incoming: Box::new(incoming::redis::RedisIncoming::new(connection.client.clone())) }
    }

    #[staticmethod]
    fn ceph(pool: &RadosPool) -> NativeIncoming {
        NativeIncoming { incoming: Box::new(incoming::ceph::CephIncoming::new(pool.pool.clone())) }
    }

    /// `[(sack name, id, records)]`, one blob per entry; the records are
    /// encoded with the GIL held, written without it.
    fn add_measures_batch(&self, py: Python<'_>, batch: Vec<NewMeasuresArg<'_>>, notify: bool) -> PyResult<()> {
        let mut blobs = Vec::with_capacity(batch.len());
        for NewMeasuresArg(_, id, records) in &batch {
            blobs.push((metric_id(id)?, crate::carbonara::codec::encode_measures(as_points(records)?)));
        }
        let news: Vec<NewMeasures<'_>> = batch
            .iter()
            .zip(&blobs)
            .map(|(NewMeasuresArg(sack, _, _), (metric, blob))| NewMeasures { sack, metric: *metric, blob })
            .collect();
        py.detach(|| self.incoming.add_measures_batch(&news, notify)).into_py_result(py)
    }

    /// Measures a request body was parsed into (`parse_*`): `[(sack name,
    /// metric id, list index)]`, one blob per entry, encoded and written
    /// without the GIL.
    fn add_parsed_measures(
        &self,
        py: Python<'_>,
        parsed: &ParsedMeasures,
        targets: Vec<(String, Vec<u8>, usize)>,
        notify: bool,
    ) -> PyResult<()> {
        let mut metrics = Vec::with_capacity(targets.len());
        for (_, id, list) in &targets {
            if *list >= parsed.lists.len() {
                return Err(PyValueError::new_err("no such measure list"));
            }
            metrics.push(metric_id(id)?);
        }
        py.detach(|| {
            let blobs: Vec<Vec<u8>> = targets
                .iter()
                .map(|(_, _, list)| crate::carbonara::codec::encode_measures(&parsed.lists[*list]))
                .collect();
            let news: Vec<NewMeasures<'_>> = targets
                .iter()
                .zip(&metrics)
                .zip(&blobs)
                .map(|(((sack, _, _), metric), blob)| NewMeasures { sack, metric: *metric, blob })
                .collect();
            self.incoming.add_measures_batch(&news, notify)
        })
        .into_py_result(py)
    }

    fn read_sack(&self, py: Python<'_>, sack: String) -> PyResult<SackRead> {
        let pending = py.detach(|| self.incoming.read_sack(&sack)).into_py_result(py)?;
        sack_read(py, pending)
    }

    /// `read_sack` keeping the measures native.
    fn read_sack_held(&self, py: Python<'_>, sack: String) -> PyResult<HeldSack> {
        let pending = py.detach(|| self.incoming.read_sack(&sack)).into_py_result(py)?;
        let metric_ids = pending.metrics.iter().map(|(m, _)| id_bytes(py, *m).unbind()).collect();
        Ok(HeldSack {
            measures: Py::new(py, HeldMeasures { metrics: Mutex::new(Some(pending.metrics)) })?,
            metric_ids,
            receipt: Py::new(py, PendingReceipt::new(pending.receipt))?,
            corrupt: pending.corrupt,
        })
    }

    /// `[(sack name, id)]`: the measures of these metrics only.
    fn read_metrics(&self, py: Python<'_>, metrics: Vec<(String, Vec<u8>)>) -> PyResult<SackRead> {
        let ids = metrics.iter().map(|(_, id)| metric_id(id)).collect::<PyResult<Vec<_>>>()?;
        let refs: Vec<(&str, MetricId)> = metrics.iter().zip(ids).map(|((s, _), id)| (s.as_str(), id)).collect();
        let pending = py.detach(|| self.incoming.read_metrics(&refs)).into_py_result(py)?;
        sack_read(py, pending)
    }

    /// Deletes what a read handed out; a receipt is used once.
    fn delete_processed(&self, py: Python<'_>, receipt: &PendingReceipt) -> PyResult<()> {
        let taken = receipt.receipt.lock().map_err(|_| PyValueError::new_err("receipt poisoned"))?.take();
        match taken {
            Some(r) => py.detach(|| self.incoming.delete_processed(&r)).into_py_result(py),
            None => Ok(()),
        }
    }

    fn has_unprocessed(&self, py: Python<'_>, sack: String, metric: Vec<u8>) -> PyResult<bool> {
        let metric = metric_id(&metric)?;
        py.detach(|| self.incoming.has_unprocessed(&sack, metric)).into_py_result(py)
    }

    /// Which of the sacks hold measures (Ceph only).
    fn sacks_with_measures(&self, py: Python<'_>, sacks: Vec<String>) -> PyResult<Vec<bool>> {
        py.detach(|| self.incoming.sacks_with_measures(&sacks)).into_py_result(py)
    }

    /// `(blobs, oldest arrival unix time or None)` of each sack, in order.
    fn backlog(&self, py: Python<'_>, sacks: Vec<String>) -> PyResult<Vec<(u64, Option<i64>)>> {
        py.detach(|| self.incoming.backlog(&sacks))
            .map(|pending| pending.into_iter().map(|p| (p.blobs, p.oldest)).collect())
            .into_py_result(py)
    }

    fn delete_unprocessed(&self, py: Python<'_>, sack: String, metric: Vec<u8>) -> PyResult<()> {
        let metric = metric_id(&metric)?;
        py.detach(|| self.incoming.delete_unprocessed(&sack, metric)).into_py_result(py)
    }

    /// `[(metric id, unprocessed measures)]` over the sacks.
    fn report<'py>(&self, py: Python<'py>, sacks: Vec<String>) -> PyResult<Vec<(Bound<'py, PyBytes>, usize)>> {
        let counts = py.detach(|| self.incoming.report(&sacks)).into_py_result(py)?;
        Ok(counts.into_iter().map(|(m, n)| (id_bytes(py, m), n)).collect())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeIncoming>()?;
    m.add_class::<PendingReceipt>()?;
    m.add_class::<HeldMeasures>()?;
    m.add_class::<SackRead>()?;
    m.add_class::<HeldSack>()?;
    Ok(())
}
