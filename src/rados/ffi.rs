//! librados' C symbols, resolved at run time, and the only `unsafe` code
//! of the Ceph layer: handles that release themselves, and the submission
//! of read and write operations whose out-buffers outlive librados' use
//! of them. Everything exported from here is safe to call.

use super::write::{WriteOp, WriteStep};
use super::{c_string, check, OmapEntries, ENOENT};
use crate::error::{Error, Result};
use std::ffi::{c_char, c_int, c_uchar, c_void, CStr, CString};
use std::ptr::null_mut;
use std::sync::{Arc, OnceLock};

type Handle = *mut c_void;
type Callback = Option<unsafe extern "C" fn(Handle, *mut c_void)>;
type Release = unsafe extern "C" fn(Handle);

/// `rados_write_op_create`'s "exclusive" flag off: creating an existing
/// object is then a no-op, not an error.
const CREATE_IDEMPOTENT: c_int = 0;
/// The first read of an object asks for this much with its size; larger
/// objects take a second read of the rest. Most splits fit.
const FIRST_READ_BYTES: usize = 16 * 1024;

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
    fn rados_nobjects_list_open(Handle, *mut Handle) -> c_int;
    fn rados_nobjects_list_next(Handle, *mut *const c_char, *mut *const c_char, *mut *const c_char) -> c_int;
    fn rados_nobjects_list_close(Handle);
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

/// A librados handle released by the function that matches its creator,
/// once, when dropped; a NULL one (an omap iterator librados never set) is
/// left alone.
struct Owned {
    raw: Handle,
    release: Release,
}

impl Owned {
    fn new(raw: Handle, release: Release) -> Owned {
        Owned { raw, release }
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        if !self.raw.is_null() {
            // SAFETY: `release` is the destructor that matches the call
            // that made `raw`; whoever holds an Owned drops it only after
            // any operation using it completed (see InFlightRead).
            unsafe { (self.release)(self.raw) }
        }
    }
}

/// A cluster handle, shut down when the last pool on it is gone.
pub(super) struct Cluster {
    api: &'static Api,
    handle: Owned,
}

// SAFETY: librados cluster handles may be used from any thread.
unsafe impl Send for Cluster {}
unsafe impl Sync for Cluster {}

impl Cluster {
    /// A new, unconnected handle; `None` for the user means client.admin.
    pub(super) fn create(user: Option<&CStr>) -> Result<Cluster> {
        let api = api()?;
        let mut raw = null_mut();
        // SAFETY: `raw` receives a new handle; a NULL id means client.admin.
        let rc = unsafe { (api.rados_create)(&mut raw, user.map_or(std::ptr::null(), CStr::as_ptr)) };
        check(rc, || "creating a cluster handle".into())?;
        Ok(Cluster { api, handle: Owned::new(raw, api.rados_shutdown) })
    }

    /// Reads `path`, or librados' default ceph.conf for `None`.
    pub(super) fn read_conf_file(&self, path: Option<&CStr>) -> c_int {
        // SAFETY: a live, unconnected handle and a NUL-terminated string.
        unsafe { (self.api.rados_conf_read_file)(self.handle.raw, path.map_or(std::ptr::null(), CStr::as_ptr)) }
    }

    pub(super) fn conf_set(&self, option: &CStr, value: &CStr) -> c_int {
        // SAFETY: as above.
        unsafe { (self.api.rados_conf_set)(self.handle.raw, option.as_ptr(), value.as_ptr()) }
    }

    pub(super) fn connect(&self) -> c_int {
        // SAFETY: as above; librados retries and times out by itself.
        unsafe { (self.api.rados_connect)(self.handle.raw) }
    }

    pub(super) fn fsid(&self) -> Result<String> {
        let mut buffer = [0 as c_char; 64];
        // SAFETY: the buffer and its length, one byte kept for the NUL.
        let rc = unsafe { (self.api.rados_cluster_fsid)(self.handle.raw, buffer.as_mut_ptr(), buffer.len() - 1) };
        check(rc, || "reading the cluster fsid".into())?;
        // SAFETY: zero-initialised and never filled to the last byte.
        Ok(unsafe { CStr::from_ptr(buffer.as_ptr()) }.to_string_lossy().into_owned())
    }

    /// Opens a pool of a connected cluster.
    pub(super) fn open_pool(self: Arc<Cluster>, pool: &str) -> Result<IoCtx> {
        let api = self.api;
        let name = c_string(pool)?;
        let mut raw = null_mut();
        // SAFETY: a connected handle; `raw` receives the context.
        let rc = unsafe { (api.rados_ioctx_create)(self.handle.raw, name.as_ptr(), &mut raw) };
        check(rc, || format!("opening pool {pool}"))?;
        Ok(IoCtx { api, handle: Owned::new(raw, api.rados_ioctx_destroy), cluster: self })
    }
}

/// An I/O context. `handle` is declared before `cluster`, so the context
/// is destroyed before the cluster can be shut down.
pub(super) struct IoCtx {
    api: &'static Api,
    handle: Owned,
    cluster: Arc<Cluster>,
}

// SAFETY: librados I/O contexts are thread-safe for the operations used
// here (no namespace or snapshot changes after creation).
unsafe impl Send for IoCtx {}
unsafe impl Sync for IoCtx {}

impl IoCtx {
    pub(super) fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The name of every object of the pool (default namespace), in
    /// librados' order.
    pub(super) fn list_objects(&self) -> Result<Vec<String>> {
        let mut raw = null_mut();
        // SAFETY: a live context; `raw` receives the listing handle.
        let rc = unsafe { (self.api.rados_nobjects_list_open)(self.handle.raw, &mut raw) };
        check(rc, || "listing the pool's objects".into())?;
        let listing = Owned::new(raw, self.api.rados_nobjects_list_close);
        let mut names = Vec::new();
        loop {
            let mut entry: *const c_char = std::ptr::null();
            // SAFETY: an open listing; the locator and namespace may be
            // NULL; `entry` points into the listing until the next call.
            let rc = unsafe { (self.api.rados_nobjects_list_next)(listing.raw, &mut entry, null_mut(), null_mut()) };
            if rc == -ENOENT {
                return Ok(names);
            }
            check(rc, || "listing the pool's objects".into())?;
            if entry.is_null() {
                return Err(Error::Backend("ceph: librados listed an object without a name".into()));
            }
            // SAFETY: a NUL-terminated name valid until the next call,
            // copied out now.
            names.push(unsafe { CStr::from_ptr(entry) }.to_string_lossy().into_owned());
        }
    }
}

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

/// What one read operation asks for.
pub(super) enum ReadKind<'a> {
    /// Size and the first bytes.
    Whole,
    /// `len` bytes at `offset`, if the object is still at `version`.
    Range { offset: u64, len: usize, version: u64 },
    Omap { prefix: &'a str, after: &'a [u8], limit: u64 },
    /// Omap keys only (no prefix filter in librados' API).
    OmapKeys { after: &'a [u8] },
}

/// Where a read operation's results land.
pub(super) struct ReadSlot {
    pub(super) size: u64,
    mtime: i64,
    pub(super) stat_rc: c_int,
    buffer: Vec<u8>,
    bytes_read: usize,
    pub(super) read_rc: c_int,
    omap: Owned,
    more: c_uchar,
    pub(super) omap_rc: c_int,
}

impl ReadSlot {
    /// The bytes the read step returned.
    pub(super) fn bytes(&self) -> &[u8] {
        &self.buffer[..self.bytes_read.min(self.buffer.len())]
    }

    /// Whether the omap step stopped before the end of the omap.
    pub(super) fn more(&self) -> bool {
        self.more != 0
    }
}

/// A read slot allocated apart and freed when dropped. librados writes
/// into it until the completion is done, so it is a raw allocation (not a
/// Box, whose uniqueness would be violated while librados holds pointers
/// into it).
struct SlotAllocation(*mut ReadSlot);

impl Drop for SlotAllocation {
    fn drop(&mut self) {
        // SAFETY: from Box::into_raw in submit_read, freed once; the
        // fields of InFlightRead before this one waited for librados.
        drop(unsafe { Box::from_raw(self.0) });
    }
}

/// A submitted read operation. Fields drop in declaration order: the
/// completion first (it waits), then the operation, then the slot.
pub(super) struct InFlightRead {
    completion: Completion,
    _op: Owned,
    slot: SlotAllocation,
}

impl InFlightRead {
    /// Waits, then gives the operation's return code and results.
    pub(super) fn wait(&self) -> (c_int, &ReadSlot) {
        let rc = self.completion.wait();
        // SAFETY: the operation completed; librados no longer writes.
        (rc, unsafe { &*self.slot.0 })
    }

    /// The object version the completed operation saw.
    pub(super) fn version(&self) -> u64 {
        // SAFETY: a completed completion.
        unsafe { (self.completion.api.rados_aio_get_version)(self.completion.raw) }
    }

    /// Every entry of the omap step's iterator, once the operation has
    /// been waited for.
    pub(super) fn omap_entries(&self, object: &str) -> Result<OmapEntries> {
        let (api, iterator) = (self.completion.api, self.wait().1.omap.raw);
        let mut entries = Vec::new();
        if iterator.is_null() {
            return Ok(entries);
        }
        loop {
            let (mut key, mut value, mut key_len, mut value_len) = (null_mut(), null_mut(), 0usize, 0usize);
            // SAFETY: a completed iterator; key/value are valid for
            // key_len/value_len bytes until the next call.
            let rc = unsafe { (api.rados_omap_get_next2)(iterator, &mut key, &mut value, &mut key_len, &mut value_len) };
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
}

impl IoCtx {
    pub(super) fn submit_read(&self, object: &str, kind: ReadKind<'_>, flags: c_int) -> Result<InFlightRead> {
        let api = self.api;
        let oid = c_string(object)?;
        // Strings first: an error after the operation is built must not
        // leave anything half set up.
        let (after, prefix) = match &kind {
            ReadKind::Omap { prefix, after, .. } => (Some(omap_key(after)?), Some(c_string(prefix)?)),
            ReadKind::OmapKeys { after } => (Some(omap_key(after)?), None),
            _ => (None, None),
        };
        let completion = Completion::new(api)?;
        let slot = SlotAllocation(Box::into_raw(Box::new(ReadSlot {
            size: 0,
            mtime: 0,
            stat_rc: 0,
            buffer: Vec::new(),
            bytes_read: 0,
            read_rc: 0,
            omap: Owned::new(null_mut(), api.rados_omap_get_end),
            more: 0,
            omap_rc: 0,
        })));
        // SAFETY: a fresh read op, released by Owned.
        let op = Owned::new(unsafe { (api.rados_create_read_op)() }, api.rados_release_read_op);
        let mut read = InFlightRead { completion, _op: op, slot };
        let op = read._op.raw;
        let c_str = |s: &Option<CString>| s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
        // SAFETY: every out-pointer is into the slot, which outlives the
        // completion (InFlightRead's field order); strings are copied by
        // librados when the step is added and the operation submitted.
        unsafe {
            let s = &mut *read.slot.0;
            match kind {
                ReadKind::Whole => {
                    s.buffer = vec![0; FIRST_READ_BYTES];
                    (api.rados_read_op_stat)(op, &mut s.size, &mut s.mtime, &mut s.stat_rc);
                    (api.rados_read_op_read)(op, 0, s.buffer.len(), s.buffer.as_mut_ptr().cast(), &mut s.bytes_read, &mut s.read_rc);
                }
                ReadKind::Range { offset, len, version } => {
                    s.buffer = vec![0; len];
                    (api.rados_read_op_assert_version)(op, version);
                    (api.rados_read_op_read)(op, offset, len, s.buffer.as_mut_ptr().cast(), &mut s.bytes_read, &mut s.read_rc);
                }
                ReadKind::Omap { limit, .. } => {
                    (api.rados_read_op_omap_get_vals2)(op, c_str(&after), c_str(&prefix), limit, &mut s.omap.raw, &mut s.more, &mut s.omap_rc);
                }
                ReadKind::OmapKeys { .. } => {
                    (api.rados_read_op_omap_get_keys2)(op, c_str(&after), u64::MAX, &mut s.omap.raw, &mut s.more, &mut s.omap_rc);
                }
            }
            let rc = (api.rados_aio_read_op_operate)(op, self.handle.raw, read.completion.raw, oid.as_ptr(), flags);
            check(rc, || format!("reading {object}"))?;
        }
        read.completion.submitted = true;
        Ok(read)
    }

    pub(super) fn submit_write(&self, op: &WriteOp<'_>) -> Result<InFlightWrite> {
        let api = self.api;
        let oid = c_string(&op.object)?;
        let mut completion = Completion::new(api)?;
        // SAFETY: a fresh write op, released by Owned.
        let handle = Owned::new(unsafe { (api.rados_create_write_op)() }, api.rados_release_write_op);
        let raw = handle.raw;
        // SAFETY: librados copies buffers, keys and values into the
        // operation when each step is added.
        unsafe {
            for step in &op.steps {
                match step {
                    WriteStep::Create => (api.rados_write_op_create)(raw, CREATE_IDEMPOTENT, std::ptr::null()),
                    WriteStep::WriteFull(data) => (api.rados_write_op_write_full)(raw, data.as_ptr().cast(), data.len()),
                    WriteStep::WriteAt(data, offset) => (api.rados_write_op_write)(raw, data.as_ptr().cast(), data.len(), *offset),
                    WriteStep::Remove => (api.rados_write_op_remove)(raw),
                    WriteStep::OmapSet(entries) => {
                        let keys: Vec<*const c_char> = entries.iter().map(|(k, _)| k.as_ptr().cast()).collect();
                        let values: Vec<*const c_char> = entries.iter().map(|(_, v)| v.as_ptr().cast()).collect();
                        let key_lens: Vec<usize> = entries.iter().map(|(k, _)| k.len()).collect();
                        let value_lens: Vec<usize> = entries.iter().map(|(_, v)| v.len()).collect();
                        (api.rados_write_op_omap_set2)(
                            raw,
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
                        (api.rados_write_op_omap_rm_keys2)(raw, pointers.as_ptr(), lens.as_ptr(), keys.len())
                    }
                }
            }
            let rc = (api.rados_aio_write_op_operate)(raw, self.handle.raw, completion.raw, oid.as_ptr(), null_mut(), op.flags);
            check(rc, || format!("writing {}", op.object))?;
        }
        completion.submitted = true;
        Ok(InFlightWrite { completion, _op: handle })
    }
}

/// A submitted write operation; the completion (first field) waits before
/// the operation is released.
pub(super) struct InFlightWrite {
    completion: Completion,
    _op: Owned,
}

impl InFlightWrite {
    pub(super) fn wait(&self) -> c_int {
        self.completion.wait()
    }
}

fn omap_key(key: &[u8]) -> Result<CString> {
    CString::new(key).map_err(|_| Error::Backend("ceph: NUL in an omap key".into()))
}
