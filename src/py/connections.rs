//! Connections shared by a storage and an incoming backend: a Redis
//! client and a Ceph pool.

use super::errors::IntoPyResult;
use super::ids::optional_bytes;
use crate::rados::{self, ConnectOptions, Pool};
use crate::redis_client::{Address, RedisClient, RedisConfig};
use crate::redis_sentinel::{SentinelConfig, Sentinels};
use crate::redis_tls::TlsOptions;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::sync::Arc;
use std::time::Duration;

/// A pooled connection to a Redis server, for a storage or incoming
/// driver's native backend.
#[pyclass(frozen, module = "gnocchi_rs._native")]
pub struct RedisConnection {
    pub(super) client: Arc<RedisClient>,
}

#[pymethods]
impl RedisConnection {
    #[new]
    #[pyo3(signature = (host=None, port=None, unix_socket_path=None, username=None, password=None, db=0, socket_timeout=None,
                        ssl=false, ssl_ca_certs=None, ssl_certfile=None, ssl_keyfile=None, ssl_cert_reqs=None,
                        ssl_check_hostname=false, sentinels=None, sentinel_service=None, sentinel_username=None,
                        sentinel_password=None, sentinel_ssl=false, socket_keepalive=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        host: Option<String>,
        port: Option<u16>,
        unix_socket_path: Option<String>,
        username: Option<String>,
        password: Option<String>,
        db: i64,
        socket_timeout: Option<f64>,
        ssl: bool,
        ssl_ca_certs: Option<String>,
        ssl_certfile: Option<String>,
        ssl_keyfile: Option<String>,
        ssl_cert_reqs: Option<String>,
        ssl_check_hostname: bool,
        sentinels: Option<Vec<(String, u16)>>,
        sentinel_service: Option<String>,
        sentinel_username: Option<String>,
        sentinel_password: Option<String>,
        sentinel_ssl: bool,
        socket_keepalive: bool,
    ) -> PyResult<RedisConnection> {
        let address = match (host, unix_socket_path) {
            (Some(host), _) => Address::Tcp { host, port: port.unwrap_or(6379) },
            (None, Some(path)) => Address::Unix(path),
            (None, None) => return Err(PyValueError::new_err("a Redis host or unix socket path is required")),
        };
        let timeout = socket_timeout.filter(|t| *t > 0.0).and_then(|t| Duration::try_from_secs_f64(t).ok());
        let verify = match ssl_cert_reqs.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("required") | Some("optional") => true,
            Some("none") => false,
            Some(other) => return Err(PyValueError::new_err(format!("ssl_cert_reqs {other:?}"))),
        };
        let tls_options =
            TlsOptions { ca_certs: ssl_ca_certs, certfile: ssl_certfile, keyfile: ssl_keyfile, verify, check_hostname: ssl_check_hostname };
        let tls = match (ssl, &address) {
            (false, _) => None,
            (true, Address::Unix(_)) => return Err(PyValueError::new_err("TLS over a unix socket")),
            (true, Address::Tcp { .. }) => Some(tls_options.clone()),
        };
        let sentinels = match (sentinels, sentinel_service) {
            (Some(sentinels), Some(service)) if !sentinels.is_empty() => Some(Sentinels::new(SentinelConfig {
                sentinels,
                service,
                username: sentinel_username,
                password: sentinel_password,
                // redis-py checks no sentinel's name: its address is the
                // operator's, not the master's.
                tls: sentinel_ssl.then_some(TlsOptions { check_hostname: false, ..tls_options }),
            })),
            (None, None) => None,
            _ => return Err(PyValueError::new_err("sentinels and sentinel_service go together")),
        };
        let config = RedisConfig { address, username, password, db, timeout, tls, keepalive: socket_keepalive };
        Ok(RedisConnection { client: Arc::new(RedisClient::with_sentinels(config, sentinels)) })
    }
}

/// A connection to a Ceph pool, shared by a storage or incoming driver's
/// native backend and its few direct object calls (the sack count object,
/// the cluster id).
#[pyclass(frozen, module = "gnocchi_rs._native")]
pub struct RadosPool {
    pub(super) pool: Arc<Pool>,
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

    /// Every object name of the pool.
    fn list_objects(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        py.detach(|| self.pool.list_objects()).into_py_result(py)
    }

    /// Sets omap keys of one object (created if missing).
    fn omap_set(&self, py: Python<'_>, name: String, entries: Vec<(Vec<u8>, Vec<u8>)>) -> PyResult<()> {
        let entries: Vec<(&[u8], &[u8])> = entries.iter().map(|(k, v)| (k.as_slice(), v.as_slice())).collect();
        py.detach(|| {
            self.pool.write_all(
                &[rados::write_op(name, vec![rados::WriteStep::Create, rados::WriteStep::OmapSet(entries)])],
                false,
            )
        })
        .into_py_result(py)
    }

    /// Removes omap keys of one object (a missing object is not an error).
    fn omap_remove(&self, py: Python<'_>, name: String, keys: Vec<Vec<u8>>) -> PyResult<()> {
        let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        py.detach(|| self.pool.write_all(&[rados::write_op(name, vec![rados::WriteStep::OmapRemove(keys)])], true))
            .into_py_result(py)
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
