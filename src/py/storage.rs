//! Bindings of the storage backends (`crate::storage`): the batched I/O
//! primitives upstream's Python steps call, the read path, and the entry
//! to the pipeline (`super::pipeline`).

use super::connections::{RadosPool, RedisConnection};
use super::errors::IntoPyResult;
use super::ids::{metric_id, optional_bytes};
use super::incoming::HeldMeasures;
use super::pipeline::{self, BatchResult, HeldMetricArg, NewMeasuresArg};
use super::records::to_array;
use crate::carbonara::SplitKey;
use crate::storage::{self, MetricId, MetricLayout, SeriesRef, SplitRef, SplitWrite, Store};
use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// `(metric id, method, key ns, granularity ns)`.
#[derive(FromPyObject)]
pub struct SplitArg(Vec<u8>, String, i64, i64);

/// `(metric id, method, key ns, granularity ns, data, offset)`.
#[derive(FromPyObject)]
pub struct SplitWriteArg(Vec<u8>, String, i64, i64, Vec<u8>, Option<i64>);

/// `(metric id, method, granularity ns, timespan ns)`.
#[derive(FromPyObject)]
pub struct AggregateReadArg(Vec<u8>, String, i64, Option<i64>);

fn split_refs(splits: &[SplitArg]) -> PyResult<Vec<SplitRef<'_>>> {
    splits
        .iter()
        .map(|SplitArg(id, method, key, granularity)| {
            Ok(SplitRef { metric: metric_id(id)?, method, key: SplitKey::new(*key, *granularity) })
        })
        .collect()
}

/// A storage backend of `crate::storage`.
#[pyclass(frozen, module = "gnocchi_rs._native")]
pub struct NativeStorage {
    store: Box<dyn Store>,
}

#[pymethods]
impl NativeStorage {
    #[staticmethod]
    fn file(basepath: String, subdir_len: usize) -> NativeStorage {
        NativeStorage { store: Box::new(storage::file::FileStore::new(basepath, subdir_len)) }
    }

    #[staticmethod]
    fn redis(connection: &RedisConnection, prefix: Vec<u8>) -> NativeStorage {
        NativeStorage { store: Box::new(storage::redis::RedisStore::new(connection.client.clone(), prefix)) }
    }

    #[staticmethod]
    fn ceph(pool: &RadosPool) -> NativeStorage {
        NativeStorage { store: Box::new(storage::ceph::CephStore::new(pool.pool.clone())) }
    }

    #[getter]
    fn write_full(&self) -> bool {
        self.store.write_full()
    }

    /// The whole metricd pipeline for a batch of
    /// `(metric id, ArchivePolicySpec, records)`.
    fn process(&self, py: Python<'_>, batch: Vec<NewMeasuresArg<'_>>) -> PyResult<BatchResult> {
        pipeline::process_records(py, self.store.as_ref(), &batch)
    }

    /// `process` for the measures a `NativeIncoming.read_sack_held` kept
    /// native, for the metrics `[(metric id, ArchivePolicySpec)]`.
    fn process_held(&self, py: Python<'_>, held: &HeldMeasures, metrics: Vec<HeldMetricArg<'_>>) -> PyResult<BatchResult> {
        pipeline::process_held(py, self.store.as_ref(), held.take()?, &metrics)
    }

    /// `[(id, [method, ...])]` → raw blobs (None: none yet; metric created).
    fn get_or_create_raw<'py>(&self, py: Python<'py>, metrics: Vec<(Vec<u8>, Vec<String>)>) -> PyResult<Vec<Option<Bound<'py, PyBytes>>>> {
        let ids = metrics.iter().map(|(id, _)| metric_id(id)).collect::<PyResult<Vec<_>>>()?;
        let layouts: Vec<MetricLayout<'_>> =
            ids.iter().zip(&metrics).map(|(&metric, (_, methods))| MetricLayout { metric, methods }).collect();
        let raws = py.detach(|| self.store.get_or_create_raw(&layouts)).into_py_result(py)?;
        Ok(raws.into_iter().map(|r| optional_bytes(py, r)).collect())
    }

    fn store_raw(&self, py: Python<'_>, metrics_and_data: Vec<(Vec<u8>, Vec<u8>)>) -> PyResult<()> {
        let items = metrics_and_data.into_iter().map(|(id, d)| Ok((metric_id(&id)?, d))).collect::<PyResult<Vec<_>>>()?;
        py.detach(|| self.store.store_raw(&items)).into_py_result(py)
    }

    /// `[(id, [(method, granularity ns)])]` → per metric None (does not
    /// exist) or, per series, the sorted key timestamps (ns).
    fn list_split_keys(&self, py: Python<'_>, requests: Vec<(Vec<u8>, Vec<(String, i64)>)>) -> PyResult<Vec<Option<Vec<Vec<i64>>>>> {
        let ids = requests.iter().map(|(id, _)| metric_id(id)).collect::<PyResult<Vec<_>>>()?;
        let reqs: Vec<(MetricId, Vec<SeriesRef<'_>>)> = ids
            .iter()
            .zip(&requests)
            .map(|(&id, (_, series))| (id, series.iter().map(|(m, g)| SeriesRef { method: m, granularity: *g }).collect()))
            .collect();
        let listed = py.detach(|| self.store.list_split_keys(&reqs)).into_py_result(py)?;
        Ok(listed
            .into_iter()
            .map(|m| m.map(|per| per.into_iter().map(|keys| keys.into_iter().map(|k| k.key).collect()).collect()))
            .collect())
    }

    /// Blobs of the splits (None: absent).
    fn get_splits<'py>(&self, py: Python<'py>, splits: Vec<SplitArg>) -> PyResult<Vec<Option<Bound<'py, PyBytes>>>> {
        let refs = split_refs(&splits)?;
        let blobs = py.detach(|| self.store.get_splits(&refs)).into_py_result(py)?;
        Ok(blobs.into_iter().map(|b| optional_bytes(py, b)).collect())
    }

    fn store_splits(&self, py: Python<'_>, writes: Vec<SplitWriteArg>) -> PyResult<()> {
        let mut items = Vec::with_capacity(writes.len());
        for SplitWriteArg(id, method, key, granularity, data, offset) in writes.iter() {
            let split = SplitRef { metric: metric_id(id)?, method, key: SplitKey::new(*key, *granularity) };
            items.push(SplitWrite { split, data: data.clone(), offset: *offset });
        }
        py.detach(|| self.store.store_splits(&items)).into_py_result(py)
    }

    fn delete_splits(&self, py: Python<'_>, splits: Vec<SplitArg>) -> PyResult<()> {
        let refs = split_refs(&splits)?;
        py.detach(|| self.store.delete_splits(&refs)).into_py_result(py)
    }

    fn delete_metric(&self, py: Python<'_>, metric: Vec<u8>) -> PyResult<()> {
        let metric = metric_id(&metric)?;
        py.detach(|| self.store.delete_metric(metric)).into_py_result(py)
    }

    /// The read path: keys limited to those covering `[from, to]`; per
    /// request None (metric does not exist) or the records of the series
    /// truncated to its timespan, and how many splits were corrupt.
    #[pyo3(signature = (requests, from_ns=None, to_ns=None))]
    fn read_aggregates<'py>(
        &self,
        py: Python<'py>,
        requests: Vec<AggregateReadArg>,
        from_ns: Option<i64>,
        to_ns: Option<i64>,
    ) -> PyResult<(Vec<Option<Bound<'py, PyArray1<i64>>>>, usize)> {
        let mut reads = Vec::with_capacity(requests.len());
        for AggregateReadArg(id, method, granularity, timespan) in &requests {
            reads.push(storage::AggregateRead { metric: metric_id(id)?, method, granularity: *granularity, timespan: *timespan });
        }
        let (series, corrupt) =
            py.detach(|| storage::read_aggregates(self.store.as_ref(), &reads, from_ns, to_ns)).into_py_result(py)?;
        Ok((series.into_iter().map(|s| s.map(|points| to_array(py, points))).collect(), corrupt))
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeStorage>()?;
    m.add_class::<super::archive_policy::PyPolicySpec>()?;
    m.add_class::<pipeline::PyMetricOutcome>()?;
    m.add_class::<BatchResult>()?;
    Ok(())
}
