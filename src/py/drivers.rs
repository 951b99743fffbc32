//! Bindings of the storage and incoming backends and of the metricd
//! pipeline, used by `gnocchi_rs.storage` and `gnocchi_rs.incoming`.
//! Metric ids cross as the 16 bytes of the UUID; series as int64 record
//! arrays (see `records`). All I/O and computing run without the GIL.

use super::errors::IntoPyResult;
use super::records::{as_points, to_array};
use crate::carbonara::{Method, Point, SplitKey};
use crate::incoming::{self, Incoming, NewMeasures, Pending, Receipt};
use crate::process::{self, AggregationSpec, MetricMeasures, PolicySpec};
use crate::rados::{self, ConnectOptions, Pool};
use crate::redis_client::{Address, RedisClient, RedisConfig};
use crate::storage::{self, MetricId, MetricLayout, SeriesRef, SplitRef, SplitWrite, Store};
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn metric_id(bytes: &[u8]) -> PyResult<MetricId> {
    let bytes: [u8; 16] = bytes.try_into().map_err(|_| PyValueError::new_err("a metric id is 16 bytes"))?;
    Ok(MetricId::from_bytes(bytes))
}

fn id_bytes(py: Python<'_>, metric: MetricId) -> Bound<'_, PyBytes> {
    PyBytes::new(py, &metric.to_bytes())
}

fn optional_bytes(py: Python<'_>, data: Option<Vec<u8>>) -> Option<Bound<'_, PyBytes>> {
    data.map(|d| PyBytes::new(py, &d))
}

/// A pooled connection to a Redis server, for a storage or incoming
/// driver's native backend.
#[pyclass(frozen, module = "gnocchi_rs._native")]
pub struct RedisConnection {
    client: Arc<RedisClient>,
}

#[pymethods]
impl RedisConnection {
    #[new]
    #[pyo3(signature = (host=None, port=None, unix_socket_path=None, username=None, password=None, db=0, socket_timeout=None))]
    fn new(
        host: Option<String>,
        port: Option<u16>,
        unix_socket_path: Option<String>,
        username: Option<String>,
        password: Option<String>,
        db: i64,
        socket_timeout: Option<f64>,
    ) -> PyResult<RedisConnection> {
        let address = match (host, unix_socket_path) {
            (Some(host), _) => Address::Tcp { host, port: port.unwrap_or(6379) },
            (None, Some(path)) => Address::Unix(path),
            (None, None) => return Err(PyValueError::new_err("a Redis host or unix socket path is required")),
        };
        let timeout = socket_timeout.filter(|t| *t > 0.0).and_then(|t| Duration::try_from_secs_f64(t).ok());
        Ok(RedisConnection { client: Arc::new(RedisClient::new(RedisConfig { address, username, password, db, timeout })) })
    }
}

/// A connection to a Ceph pool, shared by a storage or incoming driver's
/// native backend and its few direct object calls (the sack count object,
/// the cluster id).
#[pyclass(frozen, module = "gnocchi_rs._native")]
pub struct RadosPool {
    pool: Arc<Pool>,
}

#[pymethods]
impl RadosPool {
    #[new]
    #[pyo3(signature = (pool, conffile=None, username=None, keyring=None, secret=None, timeout=None))]
    fn connect(
        py: Python<'_>,
        pool: String,
        conffile: Option<String>,
        username: Option<String>,
        keyring: Option<String>,
        secret: Option<String>,
        timeout: Option<String>,
    ) -> PyResult<RadosPool> {
        let options = ConnectOptions { conffile, username, keyring, secret, timeout, pool };
        let pool = py.detach(|| Pool::connect(&options)).into_py_result(py)?;
        Ok(RadosPool { pool: Arc::new(pool) })
    }

    #[getter]
    fn name(&self) -> String {
        self.pool.name.clone()
    }

    fn get_fsid(&self, py: Python<'_>) -> PyResult<String> {
        py.detach(|| self.pool.fsid()).into_py_result(py)
    }

    /// Whole objects, `None` for missing ones.
    fn read<'py>(&self, py: Python<'py>, names: Vec<String>) -> PyResult<Vec<Option<Bound<'py, PyBytes>>>> {
        let contents = py.detach(|| self.pool.read_objects(&names, rados::READ_CONSISTENT)).into_py_result(py)?;
        Ok(contents.into_iter().map(|d| optional_bytes(py, d)).collect())
    }

    fn write_full(&self, py: Python<'_>, name: String, data: Vec<u8>) -> PyResult<()> {
        py.detach(|| self.pool.write_all(&[rados::write_op(name, vec![rados::WriteStep::WriteFull(&data)])], false))
            .into_py_result(py)
    }

    /// Removes objects; missing ones are not an error.
    fn remove(&self, py: Python<'_>, names: Vec<String>) -> PyResult<()> {
        let ops: Vec<_> = names.into_iter().map(|n| rados::write_op(n, vec![rados::WriteStep::Remove])).collect();
        py.detach(|| self.pool.write_all(&ops, true)).into_py_result(py)
    }

    /// Omap entries of one object whose keys start with `prefix` (`None`:
    /// no such object).
    #[pyo3(signature = (name, prefix=String::new()))]
    fn omap<'py>(&self, py: Python<'py>, name: String, prefix: String) -> PyResult<Option<Vec<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)>>> {
        let query = rados::OmapQuery { object: name, prefix, limit: None };
        let entries = py.detach(|| self.pool.omap_entries(&[query], rados::READ_CONSISTENT)).into_py_result(py)?;
        Ok(entries
            .into_iter()
            .next()
            .flatten()
            .map(|e| e.into_iter().map(|(k, v)| (PyBytes::new(py, &k), PyBytes::new(py, &v))).collect()))
    }
}

/// A storage backend of `crate::storage`.
#[pyclass(frozen, module = "gnocchi_rs._native")]
pub struct NativeStorage {
    store: Box<dyn Store>,
}

type PolicyTuple = (Vec<(String, i64, Option<i64>)>, Vec<String>, Option<i64>, i64);

fn policy_spec(py: Python<'_>, policy: PolicyTuple) -> PyResult<PolicySpec> {
    let (aggregations, methods, block_size, back_window) = policy;
    let aggregations = aggregations
        .into_iter()
        .map(|(method_name, granularity, timespan)| {
            let method = Method::parse(&method_name).into_py_result(py)?;
            Ok(AggregationSpec { method_name, method, granularity, timespan })
        })
        .collect::<PyResult<_>>()?;
    Ok(PolicySpec { aggregations, methods, block_size, back_window })
}

/// Per metric `(measures, newest ns, raw corrupt, corrupt splits, error)`,
/// and the step timings.
type BatchOutcome<'py> = (Vec<(usize, Option<i64>, bool, usize, Option<String>)>, Bound<'py, PyDict>);

fn run_batch<'py>(py: Python<'py>, store: &dyn Store, items: &[MetricMeasures<'_>]) -> PyResult<BatchOutcome<'py>> {
    let report = py.detach(|| process::process_batch(store, items)).into_py_result(py)?;
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
        .map(|o| (o.measures, o.newest, o.raw_corrupt, o.corrupt_splits, o.error))
        .collect();
    Ok((outcomes, timings))
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

    /// The whole metricd pipeline for a batch. `batch` holds
    /// `(metric id, index into policies, records)`; returns one outcome
    /// tuple `(measures, newest ns, raw corrupt, corrupt splits, error)`
    /// per metric and the step timings.
    fn process<'py>(
        &self,
        py: Python<'py>,
        policies: Vec<PolicyTuple>,
        batch: Vec<(Vec<u8>, usize, PyReadonlyArray1<'py, i64>)>,
    ) -> PyResult<BatchOutcome<'py>> {
        let policies: Vec<PolicySpec> = policies.into_iter().map(|p| policy_spec(py, p)).collect::<PyResult<_>>()?;
        let mut items = Vec::with_capacity(batch.len());
        for (id, policy, records) in &batch {
            let policy = policies.get(*policy).ok_or_else(|| PyValueError::new_err("no such policy index"))?;
            items.push(MetricMeasures { metric: metric_id(id)?, policy, measures: as_points(records)?.to_vec() });
        }
        run_batch(py, self.store.as_ref(), &items)
    }

    /// `process` for measures that `NativeIncoming.read_sack_held` kept on
    /// the native side (no numpy round trip): `assignments` holds
    /// `(metric id, index into policies)` for the metrics to process; the
    /// measures of metrics left out are dropped with the sack.
    fn process_held<'py>(
        &self,
        py: Python<'py>,
        policies: Vec<PolicyTuple>,
        held: &HeldMeasures,
        assignments: Vec<(Vec<u8>, usize)>,
    ) -> PyResult<BatchOutcome<'py>> {
        let policies: Vec<PolicySpec> = policies.into_iter().map(|p| policy_spec(py, p)).collect::<PyResult<_>>()?;
        let taken = held.metrics.lock().map_err(|_| PyValueError::new_err("held measures poisoned"))?.take();
        let mut by_metric: HashMap<MetricId, Vec<Point>> =
            taken.ok_or_else(|| PyValueError::new_err("held measures already processed"))?.into_iter().collect();
        let mut items = Vec::with_capacity(assignments.len());
        for (id, policy) in &assignments {
            let policy = policies.get(*policy).ok_or_else(|| PyValueError::new_err("no such policy index"))?;
            let metric = metric_id(id)?;
            let measures =
                by_metric.remove(&metric).ok_or_else(|| PyValueError::new_err("no held measures for this metric"))?;
            items.push(MetricMeasures { metric, policy, measures });
        }
        run_batch(py, self.store.as_ref(), &items)
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

    /// `[(id, method, key ns, granularity ns)]` → blobs (None: absent).
    fn get_splits<'py>(&self, py: Python<'py>, splits: Vec<(Vec<u8>, String, i64, i64)>) -> PyResult<Vec<Option<Bound<'py, PyBytes>>>> {
        let refs = split_refs(&splits)?;
        let blobs = py.detach(|| self.store.get_splits(&refs)).into_py_result(py)?;
        Ok(blobs.into_iter().map(|b| optional_bytes(py, b)).collect())
    }

    /// `[(id, method, key ns, granularity ns, data, offset)]`.
    fn store_splits(&self, py: Python<'_>, writes: Vec<(Vec<u8>, String, i64, i64, Vec<u8>, Option<i64>)>) -> PyResult<()> {
        let mut items = Vec::with_capacity(writes.len());
        for (id, method, key, granularity, data, offset) in &writes {
            let split = SplitRef { metric: metric_id(id)?, method, key: SplitKey::new(*key, *granularity) };
            items.push(SplitWrite { split, data: data.clone(), offset: *offset });
        }
        py.detach(|| self.store.store_splits(&items)).into_py_result(py)
    }

    fn delete_splits(&self, py: Python<'_>, splits: Vec<(Vec<u8>, String, i64, i64)>) -> PyResult<()> {
        let refs = split_refs(&splits)?;
        py.detach(|| self.store.delete_splits(&refs)).into_py_result(py)
    }

    fn delete_metric(&self, py: Python<'_>, metric: Vec<u8>) -> PyResult<()> {
        let metric = metric_id(&metric)?;
        py.detach(|| self.store.delete_metric(metric)).into_py_result(py)
    }

    /// The read path: `[(id, method, granularity ns, timespan ns)]`, keys
    /// limited to those covering `[from, to]`; per request None (metric
    /// does not exist) or the records of the series truncated to its
    /// timespan.
    #[pyo3(signature = (requests, from_ns=None, to_ns=None))]
    fn read_aggregates<'py>(
        &self,
        py: Python<'py>,
        requests: Vec<(Vec<u8>, String, i64, Option<i64>)>,
        from_ns: Option<i64>,
        to_ns: Option<i64>,
    ) -> PyResult<(Vec<Option<Bound<'py, PyArray1<i64>>>>, usize)> {
        let mut reads = Vec::with_capacity(requests.len());
        for (id, method, granularity, timespan) in &requests {
            reads.push(storage::AggregateRead { metric: metric_id(id)?, method, granularity: *granularity, timespan: *timespan });
        }
        let (series, corrupt) =
            py.detach(|| storage::read_aggregates(self.store.as_ref(), &reads, from_ns, to_ns)).into_py_result(py)?;
        Ok((series.into_iter().map(|s| s.map(|points| to_array(py, points))).collect(), corrupt))
    }
}

fn split_refs(splits: &[(Vec<u8>, String, i64, i64)]) -> PyResult<Vec<SplitRef<'_>>> {
    splits
        .iter()
        .map(|(id, method, key, granularity)| {
            Ok(SplitRef { metric: metric_id(id)?, method, key: SplitKey::new(*key, *granularity) })
        })
        .collect()
}

/// What a read handed out, to delete once processed.
#[pyclass(module = "gnocchi_rs._native")]
pub struct PendingReceipt {
    receipt: Mutex<Option<Receipt>>,
}

/// The measures of a sack read by `NativeIncoming.read_sack_held`, kept
/// native until `NativeStorage.process_held` consumes them.
#[pyclass(frozen, module = "gnocchi_rs._native")]
pub struct HeldMeasures {
    metrics: Mutex<Option<Vec<(MetricId, Vec<Point>)>>>,
}

/// An incoming backend of `crate::incoming`.
#[pyclass(frozen, module = "gnocchi_rs._native")]
pub struct NativeIncoming {
    incoming: Box<dyn Incoming>,
}

type ReadResult<'py> = (Vec<(Bound<'py, PyBytes>, Bound<'py, PyArray1<i64>>)>, PendingReceipt, Vec<(String, String)>);

type HeldRead<'py> = (HeldMeasures, Vec<Bound<'py, PyBytes>>, PendingReceipt, Vec<(String, String)>);

fn pending_to_py(py: Python<'_>, pending: Pending) -> ReadResult<'_> {
    let measures = pending.metrics.into_iter().map(|(m, points)| (id_bytes(py, m), to_array(py, points))).collect();
    (measures, PendingReceipt { receipt: Mutex::new(Some(pending.receipt)) }, pending.corrupt)
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

    /// `[(sack name, id, records)]`, one blob per entry.
    fn add_measures_batch<'py>(&self, py: Python<'py>, batch: Vec<(String, Vec<u8>, PyReadonlyArray1<'py, i64>)>, notify: bool) -> PyResult<()> {
        let mut blobs = Vec::with_capacity(batch.len());
        for (_, id, records) in &batch {
            blobs.push((metric_id(id)?, crate::carbonara::codec::encode_measures(as_points(records)?)));
        }
        let news: Vec<NewMeasures<'_>> =
            batch.iter().zip(&blobs).map(|((sack, _, _), (metric, blob))| NewMeasures { sack, metric: *metric, blob }).collect();
        py.detach(|| self.incoming.add_measures_batch(&news, notify)).into_py_result(py)
    }

    fn read_sack<'py>(&self, py: Python<'py>, sack: String) -> PyResult<ReadResult<'py>> {
        let pending = py.detach(|| self.incoming.read_sack(&sack)).into_py_result(py)?;
        Ok(pending_to_py(py, pending))
    }

    /// `read_sack` keeping the measures native: the held measures, the
    /// ids of their metrics, the receipt and the corrupt blobs.
    fn read_sack_held<'py>(&self, py: Python<'py>, sack: String) -> PyResult<HeldRead<'py>> {
        let pending = py.detach(|| self.incoming.read_sack(&sack)).into_py_result(py)?;
        let ids = pending.metrics.iter().map(|(m, _)| id_bytes(py, *m)).collect();
        let held = HeldMeasures { metrics: Mutex::new(Some(pending.metrics)) };
        Ok((held, ids, PendingReceipt { receipt: Mutex::new(Some(pending.receipt)) }, pending.corrupt))
    }

    fn read_metrics<'py>(&self, py: Python<'py>, metrics: Vec<(String, Vec<u8>)>) -> PyResult<ReadResult<'py>> {
        let ids = metrics.iter().map(|(_, id)| metric_id(id)).collect::<PyResult<Vec<_>>>()?;
        let refs: Vec<(&str, MetricId)> = metrics.iter().zip(ids).map(|((s, _), id)| (s.as_str(), id)).collect();
        let pending = py.detach(|| self.incoming.read_metrics(&refs)).into_py_result(py)?;
        Ok(pending_to_py(py, pending))
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

    fn delete_unprocessed(&self, py: Python<'_>, sack: String, metric: Vec<u8>) -> PyResult<()> {
        let metric = metric_id(&metric)?;
        py.detach(|| self.incoming.delete_unprocessed(&sack, metric)).into_py_result(py)
    }

    fn report<'py>(&self, py: Python<'py>, sacks: Vec<String>) -> PyResult<Vec<(Bound<'py, PyBytes>, usize)>> {
        let counts = py.detach(|| self.incoming.report(&sacks)).into_py_result(py)?;
        Ok(counts.into_iter().map(|(m, n)| (id_bytes(py, m), n)).collect())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<RadosPool>()?;
    m.add_class::<RedisConnection>()?;
    m.add_class::<NativeStorage>()?;
    m.add_class::<NativeIncoming>()?;
    m.add_class::<PendingReceipt>()?;
    m.add_class::<HeldMeasures>()?;
    Ok(())
}
