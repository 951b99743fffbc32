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
//! Buffers that librados writes into live in boxes owned by the in-flight
//! operation, and an operation always waits for its completion before it
//! frees anything, including on early returns.

use crate::error::{Error, Result};
use std::ffi::{c_char, c_int, c_uchar, c_void, CStr, CString};
use std::ptr::null_mut;
use std::sync::{Arc, OnceLock};

type Handle = *mut c_void;
type Callback = Option<unsafe extern "C" fn(Handle, *mut c_void)>;

/// Reads of incoming omap entries may go to any replica and skip the
/// object's RW lock, as upstream's do (entries missed are picked up on the
/// next pass). Storage reads use no flags.
pub const READ_BALANCED: c_int = 1 | 16;
pub const READ_CONSISTENT: c_int = 0;
/// Omap writes skip the RW lock, as upstream's do.
pub const WRITE_SKIP_LOCKS: c_int = 16;
const CREATE_IDEMPOTENT: c_int = 0;
/// The first read of an object asks for this much with its size; larger
/// objects take a second read of the rest. Most splits fit.
const FIRST_READ_BYTES: usize = 16 * 1024;
/// Whole-object reads in flight at once, which bounds the buffers a batch
/// holds (and stays under librados' in-flight throttles).
const READS_IN_FLIGHT: usize = 1024;
/// How many times an object rewritten between the two reads of a large
/// object is read again before giving up.
const READ_ATTEMPTS: usize = 5;
const ENOENT: c_int = 2;
const ERANGE: c_int = 34;
const EOVERFLOW: c_int = 75;

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
compile_error!("the librados declarations below assume 64-bit Linux (time_t = i64)");

macro_rules! librados_api {
    ($(fn $name:ident($($ty:ty),*) $(-> $ret:ty)?;)*) => {
        #[allow(non_snake_case)]
        struct Api {
            $($name: unsafe extern "C" fn($($ty),*) $(-> $ret)?,)*
        }

        impl Api {
            /// # Safety
            /// `library` is a live handle from `dlopen` of librados 2.
            unsafe fn resolve(library: Handle) -> std::result::Result<Api, String> {
                Ok(Api {
                    $($name: {
                        let symbol = dlsym(library, concat!(stringify!($name), "\0").as_ptr().cast());
                        if symbol.is_null() {
                            return Err(format!("librados.so.2 has no {}", stringify!($name)));
                        }
                        std::mem::transmute::<Handle, unsafe extern "C" fn($($ty),*) $(-> $ret)?>(symbol)
                    },)*
                })
            }
        }
    };
}

librados_api! {
    fn rados_create(*mut Handle, *const c_char) -> c_int;
    fn rados_conf_read_file(Handle, *const c_char) -> c_int;
    fn rados_conf_set(Handle, *const c_char, *const c_char) -> c_int;
    fn rados_connect(Handle) -> c_int;
    fn rados_shutdown(Handle);
    fn rados_cluster_fsid(Handle, *mut c_char, usize) -> c_int;
    fn rados_ioctx_create(Handle, *const c_char, *mut Handle) -> c_int;
    fn rados_ioctx_destroy(Handle);
    fn rados_aio_create_completion2(*mut c_void, Callback, *mut Handle) -> c_int;
    fn rados_aio_wait_for_complete(Handle) -> c_int;
    fn rados_aio_get_return_value(Handle) -> c_int;
    fn rados_aio_release(Handle);
    fn rados_aio_get_version(Handle) -> u64;
    fn rados_create_write_op() -> Handle;
    fn rados_release_write_op(Handle);
    fn rados_write_op_create(Handle, c_int, *const c_char);
    fn rados_write_op_write(Handle, *const c_char, usize, u64);
    fn rados_write_op_write_full(Handle, *const c_char, usize);
    fn rados_write_op_remove(Handle);
    fn rados_write_op_omap_set2(Handle, *const *const c_char, *const *const c_char, *const usize, *const usize, usize);
    fn rados_write_op_omap_rm_keys2(Handle, *const *const c_char, *const usize, usize);
    fn rados_aio_write_op_operate(Handle, Handle, Handle, *const c_char, *mut i64, c_int) -> c_int;
    fn rados_create_read_op() -> Handle;
    fn rados_release_read_op(Handle);
    fn rados_read_op_stat(Handle, *mut u64, *mut i64, *mut c_int);
    fn rados_read_op_assert_version(Handle, u64);
    fn rados_read_op_read(Handle, u64, usize, *mut c_char, *mut usize, *mut c_int);
    fn rados_read_op_omap_get_vals2(Handle, *const c_char, *const c_char, u64, *mut Handle, *mut c_uchar, *mut c_int);
    fn rados_read_op_omap_get_keys2(Handle, *const c_char, u64, *mut Handle, *mut c_uchar, *mut c_int);
    fn rados_aio_read_op_operate(Handle, Handle, Handle, *const c_char, c_int) -> c_int;
    fn rados_omap_get_next2(Handle, *mut *mut c_char, *mut *mut c_char, *mut usize, *mut usize) -> c_int;
    fn rados_omap_get_end(Handle);
}

extern "C" {
    fn dlopen(filename: *const c_char, flags: c_int) -> Handle;
    fn dlsym(handle: Handle, symbol: *const c_char) -> Handle;
    fn dlerror() -> *mut c_char;
}

const RTLD_NOW: c_int = 2;

fn api() -> Result<&'static Api> {
    static API: OnceLock<std::result::Result<Api, String>> = OnceLock::new();
    API.get_or_init(|| {
        // SAFETY: dlopen/dlsym with NUL-terminated names; the library is
        // never closed, so the resolved pointers stay valid.
        unsafe {
            let library = dlopen(c"librados.so.2".as_ptr(), RTLD_NOW);
            if library.is_null() {
                let why = dlerror();
                let why = if why.is_null() { "unknown error".into() } else { CStr::from_ptr(why).to_string_lossy() };
                return Err(format!("cannot load librados.so.2 (install librados2): {why}"));
            }
            Api::resolve(library)
        }
    })
    .as_ref()
    .map_err(|why| Error::Config(why.clone()))
}

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

struct Cluster {
    api: &'static Api,
    raw: Handle,
}

// SAFETY: librados cluster handles may be used from any thread.
unsafe impl Send for Cluster {}
unsafe impl Sync for Cluster {}

impl Drop for Cluster {
    fn drop(&mut self) {
        // SAFETY: created by rados_create; every ioctx holds an Arc to
        // this cluster, so none is alive any more.
        unsafe { (self.api.rados_shutdown)(self.raw) }
    }
}

/// An open pool (librados I/O context) with the connection behind it.
pub struct Pool {
    api: &'static Api,
    io: Handle,
    cluster: Arc<Cluster>,
    pub name: String,
}

// SAFETY: librados I/O contexts are thread-safe for the operations used
// here (no namespace or snapshot changes after creation).
unsafe impl Send for Pool {}
unsafe impl Sync for Pool {}

impl Drop for Pool {
    fn drop(&mut self) {
        // SAFETY: the ioctx is destroyed before the Arc'd cluster can be.
        unsafe { (self.api.rados_ioctx_destroy)(self.io) }
    }
}

/// One step of a write operation; all steps of an operation apply to one
/// object atomically.
pub enum WriteStep<'a> {
    /// Create the object if it is missing (a no-op otherwise).
    Create,
    WriteFull(&'a [u8]),
    WriteAt(&'a [u8], u64),
    Remove,
    OmapSet(Vec<(&'a [u8], &'a [u8])>),
    OmapRemove(Vec<&'a [u8]>),
}

pub struct WriteOp<'a> {
    pub object: String,
    pub steps: Vec<WriteStep<'a>>,
    pub flags: c_int,
}

/// An omap listing of one object: every entry whose key starts with
/// `prefix`, in key order, at most `limit` of them.
pub struct OmapQuery {
    pub object: String,
    pub prefix: String,
    pub limit: Option<usize>,
}

pub type OmapEntries = Vec<(Vec<u8>, Vec<u8>)>;

struct Completion {
    api: &'static Api,
    raw: Handle,
    submitted: bool,
}

impl Completion {
    fn new(api: &'static Api) -> Result<Completion> {
        let mut raw = null_mut();
        // SAFETY: no callback; `raw` receives the completion.
        let rc = unsafe { (api.rados_aio_create_completion2)(null_mut(), None, &mut raw) };
        check(rc, || "creating an aio completion".into())?;
        Ok(Completion { api, raw, submitted: false })
    }

    fn wait(&self) -> c_int {
        // SAFETY: a submitted completion; waiting twice is allowed.
        unsafe {
            (self.api.rados_aio_wait_for_complete)(self.raw);
            (self.api.rados_aio_get_return_value)(self.raw)
        }
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        // Waiting first keeps every buffer the operation writes into alive
        // until librados is done with it.
        if self.submitted {
            self.wait();
        }
        // SAFETY: created by rados_aio_create_completion2, released once.
        unsafe { (self.api.rados_aio_release)(self.raw) }
    }
}

struct ReadOpHandle {
    api: &'static Api,
    raw: Handle,
}

impl Drop for ReadOpHandle {
    fn drop(&mut self) {
        // SAFETY: created by rados_create_read_op; its completion (dropped
        // before this handle) has been waited for.
        unsafe { (self.api.rados_release_read_op)(self.raw) }
    }
}

struct WriteOpHandle {
    api: &'static Api,
    raw: Handle,
}

impl Drop for WriteOpHandle {
    fn drop(&mut self) {
        // SAFETY: as for ReadOpHandle.
        unsafe { (self.api.rados_release_write_op)(self.raw) }
    }
}

/// Where a read operation's results land.
struct ReadSlot {
    size: u64,
    mtime: i64,
    stat_rc: c_int,
    buffer: Vec<u8>,
    bytes_read: usize,
    read_rc: c_int,
    omap: OmapIter,
    more: c_uchar,
    omap_rc: c_int,
}

struct OmapIter {
    api: &'static Api,
    raw: Handle,
}

impl Drop for OmapIter {
    fn drop(&mut self) {
        if !self.raw.is_null() {
            // SAFETY: an iterator set by get_vals2; its operation completed.
            unsafe { (self.api.rados_omap_get_end)(self.raw) }
        }
    }
}

/// A submitted read operation. librados writes into `slot` until the
/// completion is done, so the slot is a raw allocation (not a Box, whose
/// uniqueness would be violated) freed only after waiting.
struct InFlightRead {
    completion: Completion,
    _op: ReadOpHandle,
    slot: *mut ReadSlot,
}

impl InFlightRead {
    /// Waits, then gives the operation's return code and results.
    fn wait(&self) -> (c_int, &ReadSlot) {
        let rc = self.completion.wait();
        // SAFETY: the operation completed; librados no longer writes.
        (rc, unsafe { &*self.slot })
    }

    /// The object version the completed operation saw.
    fn version(&self) -> u64 {
        // SAFETY: a completed completion.
        unsafe { (self.completion.api.rados_aio_get_version)(self.completion.raw) }
    }
}

impl Drop for InFlightRead {
    fn drop(&mut self) {
        if self.completion.submitted {
            self.completion.wait();
        }
        // SAFETY: from Box::into_raw in submit_read, freed once, after
        // librados is done with it.
        drop(unsafe { Box::from_raw(self.slot) });
    }
}

struct InFlightWrite {
    completion: Completion,
    _op: WriteOpHandle,
}

enum ReadKind<'a> {
    /// Size and the first bytes.
    Whole,
    /// `len` bytes at `offset`, if the object is still at `version`.
    Range { offset: u64, len: usize, version: u64 },
    Omap { prefix: &'a str, after: &'a [u8], limit: u64 },
    /// Omap keys only (no prefix filter in librados' API).
    OmapKeys { after: &'a [u8] },
}

/// An option's value, `None` when unset or empty.
fn set(option: &Option<String>) -> Option<&str> {
    option.as_deref().filter(|v| !v.is_empty())
}

impl Pool {
    pub fn connect(options: &ConnectOptions) -> Result<Pool> {
        let api = api()?;
        let mut raw = null_mut();
        let user = set(&options.username).map(c_string).transpose()?;
        // SAFETY: `raw` receives a new handle; a NULL id means client.admin.
        let rc = unsafe { (api.rados_create)(&mut raw, user.as_ref().map_or(std::ptr::null(), |u| u.as_ptr())) };
        check(rc, || "creating a cluster handle".into())?;
        // From here the handle is shut down on every error path.
        let cluster = Arc::new(Cluster { api, raw });
        let conffile = set(&options.conffile).map(c_string).transpose()?;
        // SAFETY: a live, unconnected handle and NUL-terminated strings.
        let rc = unsafe { (api.rados_conf_read_file)(raw, conffile.as_ref().map_or(std::ptr::null(), |c| c.as_ptr())) };
        check(rc, || format!("reading {}", options.conffile.as_deref().unwrap_or("the default ceph.conf")))?;
        // Empty options are unset ones, as upstream reads them.
        let mut settings: Vec<(&str, &str)> = Vec::new();
        if let Some(keyring) = set(&options.keyring) {
            settings.push(("keyring", keyring));
        }
        if let Some(secret) = set(&options.secret) {
            settings.push(("key", secret));
        }
        if let Some(timeout) = set(&options.timeout) {
            for option in ["rados_osd_op_timeout", "rados_mon_op_timeout", "client_mount_timeout"] {
                settings.push((option, timeout));
            }
        }
        for (option, value) in settings {
            let (c_option, c_value) = (c_string(option)?, c_string(value)?);
            // SAFETY: as above.
            let rc = unsafe { (api.rados_conf_set)(raw, c_option.as_ptr(), c_value.as_ptr()) };
            check(rc, || format!("setting {option}"))?;
        }
        // SAFETY: as above; librados retries and times out by itself.
        let rc = unsafe { (api.rados_connect)(raw) };
        check(rc, || "connecting (check ceph_conffile, ceph_username, ceph_keyring)".into())?;
        let pool_name = c_string(&options.pool)?;
        let mut io = null_mut();
        // SAFETY: a connected handle; `io` receives the context.
        let rc = unsafe { (api.rados_ioctx_create)(raw, pool_name.as_ptr(), &mut io) };
        check(rc, || format!("opening pool {}", options.pool))?;
        Ok(Pool { api, io, cluster, name: options.pool.clone() })
    }

    pub fn fsid(&self) -> Result<String> {
        let mut buffer = [0 as c_char; 64];
        // SAFETY: the buffer and its length, one byte kept for the NUL.
        let rc = unsafe { (self.api.rados_cluster_fsid)(self.cluster.raw, buffer.as_mut_ptr(), buffer.len() - 1) };
        check(rc, || "reading the cluster fsid".into())?;
        // SAFETY: zero-initialised and never filled to the last byte.
        Ok(unsafe { CStr::from_ptr(buffer.as_ptr()) }.to_string_lossy().into_owned())
    }

    fn submit_read(&self, object: &str, kind: ReadKind<'_>, flags: c_int) -> Result<InFlightRead> {
        let api = self.api;
        let oid = c_string(object)?;
        let slot = Box::into_raw(Box::new(ReadSlot {
            size: 0,
            mtime: 0,
            stat_rc: 0,
            buffer: Vec::new(),
            bytes_read: 0,
            read_rc: 0,
            omap: OmapIter { api, raw: null_mut() },
            more: 0,
            omap_rc: 0,
        }));
        // From here the slot is freed by InFlightRead's drop, whatever happens.
        let mut read = InFlightRead {
            completion: Completion::new(api).inspect_err(|_| drop(unsafe { Box::from_raw(slot) }))?,
            // SAFETY: a fresh read op, released by ReadOpHandle.
            _op: ReadOpHandle { api, raw: unsafe { (api.rados_create_read_op)() } },
            slot,
        };
        let op = &read._op;
        // SAFETY: every out-pointer is into the slot, which outlives the
        // completion (InFlightRead's drop); strings are copied by librados
        // when the step is added and the operation submitted.
        unsafe {
            let s = &mut *slot;
            match kind {
                ReadKind::Whole => {
                    s.buffer = vec![0; FIRST_READ_BYTES];
                    (api.rados_read_op_stat)(op.raw, &mut s.size, &mut s.mtime, &mut s.stat_rc);
                    (api.rados_read_op_read)(op.raw, 0, s.buffer.len(), s.buffer.as_mut_ptr().cast(), &mut s.bytes_read, &mut s.read_rc);
                }
                ReadKind::Range { offset, len, version } => {
                    s.buffer = vec![0; len];
                    (api.rados_read_op_assert_version)(op.raw, version);
                    (api.rados_read_op_read)(op.raw, offset, len, s.buffer.as_mut_ptr().cast(), &mut s.bytes_read, &mut s.read_rc);
                }
                ReadKind::Omap { prefix, after, limit } => {
                    let after = CString::new(after).map_err(|_| Error::Backend("ceph: NUL in an omap key".into()))?;
                    let prefix = c_string(prefix)?;
                    (api.rados_read_op_omap_get_vals2)(op.raw, after.as_ptr(), prefix.as_ptr(), limit, &mut s.omap.raw, &mut s.more, &mut s.omap_rc);
                }
                ReadKind::OmapKeys { after } => {
                    let after = CString::new(after).map_err(|_| Error::Backend("ceph: NUL in an omap key".into()))?;
                    (api.rados_read_op_omap_get_keys2)(op.raw, after.as_ptr(), u64::MAX, &mut s.omap.raw, &mut s.more, &mut s.omap_rc);
                }
            }
            let rc = (api.rados_aio_read_op_operate)(op.raw, self.io, read.completion.raw, oid.as_ptr(), flags);
            check(rc, || format!("reading {object}"))?;
        }
        read.completion.submitted = true;
        Ok(read)
    }

    /// Whole objects, `None` for missing ones.
    pub fn read_objects(&self, objects: &[String], flags: c_int) -> Result<Vec<Option<Vec<u8>>>> {
        let mut results = Vec::with_capacity(objects.len());
        for window in objects.chunks(READS_IN_FLIGHT) {
            results.extend(self.read_window(window, flags)?);
        }
        Ok(results)
    }

    /// One wave of whole-object reads: the size and the first bytes of
    /// each, then the rest of the larger ones, on condition that they were
    /// not rewritten in between (else they are read again).
    fn read_window(&self, objects: &[String], flags: c_int) -> Result<Vec<Option<Vec<u8>>>> {
        let mut results: Vec<Option<Vec<u8>>> = vec![None; objects.len()];
        let mut todo: Vec<usize> = (0..objects.len()).collect();
        for _ in 0..READ_ATTEMPTS {
            if todo.is_empty() {
                break;
            }
            let firsts = todo
                .iter()
                .map(|&i| self.submit_read(&objects[i], ReadKind::Whole, flags).map(|r| (i, r)))
                .collect::<Result<Vec<_>>>()?;
            let mut rests = Vec::new();
            for (i, read) in firsts {
                let (rc, slot) = read.wait();
                if rc == -ENOENT {
                    continue;
                }
                check(rc.min(slot.stat_rc).min(slot.read_rc), || format!("reading {}", objects[i]))?;
                let head = slot.buffer[..slot.bytes_read.min(slot.buffer.len())].to_vec();
                if slot.size > head.len() as u64 {
                    let len = usize::try_from(slot.size - head.len() as u64)
                        .map_err(|_| Error::Backend(format!("ceph: {} is too large", objects[i])))?;
                    let kind = ReadKind::Range { offset: head.len() as u64, len, version: read.version() };
                    rests.push((i, head, self.submit_read(&objects[i], kind, flags)?));
                } else {
                    results[i] = Some(head);
                }
            }
            let mut again = Vec::new();
            for (i, mut head, read) in rests {
                let (rc, slot) = read.wait();
                match rc {
                    rc if rc == -ENOENT => {}
                    rc if rc == -ERANGE || rc == -EOVERFLOW => again.push(i),
                    rc => {
                        check(rc.min(slot.read_rc), || format!("reading {}", objects[i]))?;
                        head.extend_from_slice(&slot.buffer[..slot.bytes_read.min(slot.buffer.len())]);
                        results[i] = Some(head);
                    }
                }
            }
            todo = again;
        }
        match todo.first() {
            Some(&i) => Err(Error::Backend(format!("ceph: {} kept changing while being read", objects[i]))),
            None => Ok(results),
        }
    }

    /// Omap entries of each object (`None` for a missing object), paged
    /// until the end or the query's limit.
    pub fn omap_entries(&self, queries: &[OmapQuery], flags: c_int) -> Result<Vec<Option<OmapEntries>>> {
        let mut results: Vec<Option<OmapEntries>> = vec![Some(Vec::new()); queries.len()];
        let mut open: Vec<usize> = (0..queries.len()).collect();
        let mut after: Vec<Vec<u8>> = vec![Vec::new(); queries.len()];
        while !open.is_empty() {
            let in_flight = open
                .iter()
                .map(|&i| {
                    let q = &queries[i];
                    let got = results[i].as_ref().map_or(0, Vec::len);
                    let limit = q.limit.map_or(u64::MAX, |l| l.saturating_sub(got) as u64);
                    self.submit_read(&q.object, ReadKind::Omap { prefix: &q.prefix, after: &after[i], limit }, flags)
                        .map(|r| (i, r))
                })
                .collect::<Result<Vec<_>>>()?;
            let mut still_open = Vec::new();
            for (i, read) in in_flight {
                let (rc, slot) = read.wait();
                if rc == -ENOENT || slot.omap_rc == -ENOENT {
                    results[i] = None;
                    continue;
                }
                check(rc.min(slot.omap_rc), || format!("listing the omap of {}", queries[i].object))?;
                let entries = results[i].get_or_insert_with(Vec::new);
                let before = entries.len();
                entries.extend(self.drain(&slot.omap, &queries[i].object)?);
                let full = queries[i].limit.is_some_and(|l| entries.len() >= l);
                if slot.more != 0 && !full && entries.len() > before {
                    after[i] = entries.last().map(|(k, _)| k.clone()).unwrap_or_default();
                    still_open.push(i);
                }
            }
            open = still_open;
        }
        Ok(results)
    }

    /// The omap keys of each object that start with `prefix` (`None` for a
    /// missing object), paged to the end; values are not transferred.
    pub fn omap_keys(&self, objects: &[String], prefix: &[u8], flags: c_int) -> Result<Vec<Option<Vec<Vec<u8>>>>> {
        let mut results: Vec<Option<Vec<Vec<u8>>>> = vec![Some(Vec::new()); objects.len()];
        let mut open: Vec<usize> = (0..objects.len()).collect();
        let mut after: Vec<Vec<u8>> = vec![Vec::new(); objects.len()];
        while !open.is_empty() {
            let in_flight = open
                .iter()
                .map(|&i| self.submit_read(&objects[i], ReadKind::OmapKeys { after: &after[i] }, flags).map(|r| (i, r)))
                .collect::<Result<Vec<_>>>()?;
            let mut still_open = Vec::new();
            for (i, read) in in_flight {
                let (rc, slot) = read.wait();
                if rc == -ENOENT || slot.omap_rc == -ENOENT {
                    results[i] = None;
                    continue;
                }
                check(rc.min(slot.omap_rc), || format!("listing the omap keys of {}", objects[i]))?;
                let page = self.drain(&slot.omap, &objects[i])?;
                // Paging goes on from the last key read, kept or not.
                if let (true, Some((last, _))) = (slot.more != 0, page.last()) {
                    after[i] = last.clone();
                    still_open.push(i);
                }
                if let Some(keys) = results[i].as_mut() {
                    keys.extend(page.into_iter().map(|(k, _)| k).filter(|k| k.starts_with(prefix)));
                }
            }
            open = still_open;
        }
        Ok(results)
    }

    /// Every entry of a completed omap iterator.
    fn drain(&self, iterator: &OmapIter, object: &str) -> Result<OmapEntries> {
        let mut entries = Vec::new();
        loop {
            let (mut key, mut value, mut key_len, mut value_len) = (null_mut(), null_mut(), 0usize, 0usize);
            // SAFETY: a completed iterator; key/value are valid for
            // key_len/value_len bytes until the next call.
            let rc = unsafe { (self.api.rados_omap_get_next2)(iterator.raw, &mut key, &mut value, &mut key_len, &mut value_len) };
            check(rc, || format!("iterating the omap of {object}"))?;
            if key.is_null() {
                return Ok(entries);
            }
            // SAFETY: as above.
            let (key, value) = unsafe {
                (
                    std::slice::from_raw_parts(key.cast::<u8>(), key_len).to_vec(),
                    if value.is_null() { Vec::new() } else { std::slice::from_raw_parts(value.cast::<u8>(), value_len).to_vec() },
                )
            };
            entries.push((key, value));
        }
    }

    /// Submits every operation, then waits for all; returns each one's
    /// return code (0, or a negative errno the caller may tolerate).
    pub fn write(&self, ops: &[WriteOp<'_>]) -> Result<Vec<c_int>> {
        let api = self.api;
        let mut in_flight = Vec::with_capacity(ops.len());
        for op in ops {
            let oid = c_string(&op.object)?;
            let mut completion = Completion::new(api)?;
            // SAFETY: a fresh write op, released by WriteOpHandle.
            let handle = WriteOpHandle { api, raw: unsafe { (api.rados_create_write_op)() } };
            // SAFETY: librados copies buffers, keys and values into the
            // operation when each step is added.
            unsafe {
                for step in &op.steps {
                    match step {
                        WriteStep::Create => (api.rados_write_op_create)(handle.raw, CREATE_IDEMPOTENT, std::ptr::null()),
                        WriteStep::WriteFull(data) => (api.rados_write_op_write_full)(handle.raw, data.as_ptr().cast(), data.len()),
                        WriteStep::WriteAt(data, offset) => {
                            (api.rados_write_op_write)(handle.raw, data.as_ptr().cast(), data.len(), *offset)
                        }
                        WriteStep::Remove => (api.rados_write_op_remove)(handle.raw),
                        WriteStep::OmapSet(entries) => {
                            let keys: Vec<*const c_char> = entries.iter().map(|(k, _)| k.as_ptr().cast()).collect();
                            let values: Vec<*const c_char> = entries.iter().map(|(_, v)| v.as_ptr().cast()).collect();
                            let key_lens: Vec<usize> = entries.iter().map(|(k, _)| k.len()).collect();
                            let value_lens: Vec<usize> = entries.iter().map(|(_, v)| v.len()).collect();
                            (api.rados_write_op_omap_set2)(
                                handle.raw,
                                keys.as_ptr(),
                                values.as_ptr(),
                                key_lens.as_ptr(),
                                value_lens.as_ptr(),
                                entries.len(),
                            )
                        }
                        WriteStep::OmapRemove(keys) => {
                            let pointers: Vec<*const c_char> = keys.iter().map(|k| k.as_ptr().cast()).collect();
                            let lens: Vec<usize> = keys.iter().map(|k| k.len()).collect();
                            (api.rados_write_op_omap_rm_keys2)(handle.raw, pointers.as_ptr(), lens.as_ptr(), keys.len())
                        }
                    }
                }
                let rc = (api.rados_aio_write_op_operate)(handle.raw, self.io, completion.raw, oid.as_ptr(), null_mut(), op.flags);
                check(rc, || format!("writing {}", op.object))?;
            }
            completion.submitted = true;
            in_flight.push(InFlightWrite { completion, _op: handle });
        }
        Ok(in_flight.iter().map(|w| w.completion.wait()).collect())
    }

    /// Like `write`, but any failure is an error, except a missing object
    /// when `missing_ok`.
    pub fn write_all(&self, ops: &[WriteOp<'_>], missing_ok: bool) -> Result<()> {
        for (op, rc) in ops.iter().zip(self.write(ops)?) {
            if !(missing_ok && rc == -ENOENT) {
                check(rc, || format!("writing {}", op.object))?;
            }
        }
        Ok(())
    }
}

pub fn write_op(object: String, steps: Vec<WriteStep<'_>>) -> WriteOp<'_> {
    WriteOp { object, steps, flags: 0 }
}
