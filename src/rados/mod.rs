//! A small safe layer over librados' C API, for the Ceph backends.
//!
//! librados is loaded at run time (`dlopen("librados.so.2")`), not linked:
//! the same wheel then imports on machines without Ceph, and only the
//! `rs-ceph` drivers report that librados is missing. The `ceph` crate
//! links librados into the whole module and lacks the pieces used here
//! (omap v2, aio read/write operations, options before connecting), so
//! its declarations are not used.
//!
//! Every batch call submits one asynchronous operation per object and then
//! waits for all of them: one round trip per batch, not per object.
//! Buffers that librados writes into live in allocations owned by the
//! in-flight operation, and an operation always waits for its completion
//! before it frees anything, including on early returns. All of that, and
//! every `unsafe` block, is in `ffi`; `read`, `omap` and `write` are the
//! batched operations built on it.

mod ffi;
mod omap;
mod read;
mod write;

pub use omap::{OmapEntries, OmapQuery};
pub use write::{write_op, WriteOp, WriteStep};

use crate::error::{Error, Result};
use std::ffi::{c_int, CString};
use std::sync::Arc;

/// Reads of incoming omap entries may go to any replica and skip the
/// object's RW lock, as upstream's do (entries missed are picked up on the
/// next pass). Storage reads use no flags.
pub const READ_BALANCED: c_int = 1 | 16;
pub const READ_CONSISTENT: c_int = 0;
/// Omap writes skip the RW lock, as upstream's do.
pub const WRITE_SKIP_LOCKS: c_int = 16;
pub(crate) const ENOENT: c_int = 2;
const ERANGE: c_int = 34;
const EOVERFLOW: c_int = 75;

fn strerror(rc: c_int) -> String {
    std::io::Error::from_raw_os_error(rc.abs()).to_string()
}

fn check(rc: c_int, what: impl FnOnce() -> String) -> Result<c_int> {
    if rc < 0 {
        Err(Error::Backend(format!("ceph: {}: {}", what(), strerror(rc))))
    } else {
        Ok(rc)
    }
}

fn c_string(text: &str) -> Result<CString> {
    CString::new(text).map_err(|_| Error::InvalidArgument(format!("a NUL byte in Ceph name or option {text:?}")))
}

/// How to reach a cluster: upstream's `ceph_*` options.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    pub conffile: Option<String>,
    /// The user without `client.` (`None`: `admin`).
    pub username: Option<String>,
    pub keyring: Option<String>,
    pub secret: Option<String>,
    /// Seconds, applied to OSD and monitor operations and to connecting.
    pub timeout: Option<String>,
    pub pool: String,
}

/// An open pool (librados I/O context) with the connection behind it.
pub struct Pool {
    io: ffi::IoCtx,
    pub name: String,
}

/// An option's value, `None` when unset or empty: upstream reads an empty
/// option as an unset one.
fn non_empty(option: &Option<String>) -> Option<&str> {
    option.as_deref().filter(|v| !v.is_empty())
}

impl Pool {
    pub fn connect(options: &ConnectOptions) -> Result<Pool> {
        let user = non_empty(&options.username).map(c_string).transpose()?;
        // Shut down on every error path from here (Cluster's drop).
        let cluster = ffi::Cluster::create(user.as_deref())?;
        let conffile = non_empty(&options.conffile).map(c_string).transpose()?;
        check(cluster.read_conf_file(conffile.as_deref()), || {
            format!("reading {}", options.conffile.as_deref().unwrap_or("the default ceph.conf"))
        })?;
        let mut settings: Vec<(&str, &str)> = Vec::new();
        if let Some(keyring) = non_empty(&options.keyring) {
            settings.push(("keyring", keyring));
        }
        if let Some(secret) = non_empty(&options.secret) {
            settings.push(("key", secret));
        }
        if let Some(timeout) = non_empty(&options.timeout) {
            for option in ["rados_osd_op_timeout", "rados_mon_op_timeout", "client_mount_timeout"] {
                settings.push((option, timeout));
            }
        }
        for (option, value) in settings {
            let (c_option, c_value) = (c_string(option)?, c_string(value)?);
            check(cluster.conf_set(&c_option, &c_value), || format!("setting {option}"))?;
        }
        check(cluster.connect(), || "connecting (check ceph_conffile, ceph_username, ceph_keyring)".into())?;
        let io = Arc::new(cluster).open_pool(&options.pool)?;
        Ok(Pool { io, name: options.pool.clone() })
    }

    pub fn fsid(&self) -> Result<String> {
        self.io.cluster().fsid()
    }

    /// Every object name of the pool.
    pub fn list_objects(&self) -> Result<Vec<String>> {
        self.io.list_objects()
    }
}
