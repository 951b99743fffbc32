//! The file backend: upstream's directory layout under `file_basepath`.
//!
//! Every write goes to a temporary file in `<basepath>/tmp` and is renamed
//! into place, the raw series included (upstream writes that one in place),
//! so a writer killed at any instant leaves either the old or the new
//! file, never a torn one. Nothing is fsynced, as upstream: a rename
//! survives a killed process, not a power cut.
//!
//! The I/O runs on the calling thread (see `crate::task_size`).

use super::{MetricId, MetricLayout, SeriesRef, SplitKey, SplitRef, SplitWrite, Store};
use crate::error::{backend, Result};
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug)]
pub struct FileStore {
    basepath: PathBuf,
    tmp: PathBuf,
    subdir_len: usize,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A token drawn once per process: pids repeat across containers and
/// hosts sharing a volume, so the pid alone does not make names unique.
fn process_token() -> u64 {
    static TOKEN: OnceLock<u64> = OnceLock::new();
    *TOKEN.get_or_init(|| {
        let mut bytes = [0u8; 8];
        let from_urandom = fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
        let clock = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
        if from_urandom.is_ok() {
            u64::from_le_bytes(bytes)
        } else {
            clock ^ u64::from(std::process::id()).rotate_left(32)
        }
    })
}

/// The pid, asked once: a forked child that kept it only makes names its
/// parent may also try, and `create_new` then moves on to the next one.
fn process_id() -> u32 {
    static PID: OnceLock<u32> = OnceLock::new();
    *PID.get_or_init(std::process::id)
}

/// Writes `data` to `dest` through a temporary file in `tmp_dir`. The
/// temporary file is created exclusively, so two writers never share one.
pub fn atomic_write(tmp_dir: &Path, dest: &Path, data: &[u8]) -> std::io::Result<()> {
    let (tmp, mut file) = loop {
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = tmp_dir.join(format!("gnocchi-rs.{}.{:016x}.{n}", process_id(), process_token()));
        match fs::OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(file) => break (tmp, file),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    };
    let renamed = file.write_all(data).and_then(|()| {
        drop(file);
        fs::rename(&tmp, dest)
    });
    if renamed.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    renamed
}

/// What `read_whole` reads at once: more than a split or a raw series
/// usually weighs, so that most files take one `read` and the one that
/// sees their end.
const READ_CHUNK: usize = 64 * 1024;

/// A whole file, without asking its size first as `fs::read` does (one
/// system call fewer per file). It reads until `read` returns 0, not until
/// a short read: network and FUSE file systems may return short reads
/// before the end.
pub fn read_whole(path: &Path) -> std::io::Result<Vec<u8>> {
    thread_local! {
        static CHUNK: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let mut file = fs::File::open(path)?;
    CHUNK.with(|chunk| {
        let mut chunk = chunk.borrow_mut();
        chunk.resize(READ_CHUNK, 0);
        let mut data = Vec::new();
        loop {
            match file.read(&mut chunk[..]) {
                Ok(0) => return Ok(data),
                Ok(n) => data.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    })
}

fn read_if_exists(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match read_whole(path) {
        Ok(data) => Ok(Some(data)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

impl FileStore {
    pub fn new(basepath: impl Into<PathBuf>, subdir_len: usize) -> FileStore {
        let basepath = basepath.into();
        let tmp = basepath.join("tmp");
        FileStore { basepath, tmp, subdir_len }
    }

    /// `<basepath>/<hex in subdir_len chunks>/<uuid>`.
    pub fn metric_dir(&self, metric: MetricId) -> PathBuf {
        let mut path = self.basepath.clone();
        if self.subdir_len > 0 {
            let hex = metric.hex();
            for chunk in hex.as_bytes().chunks(self.subdir_len) {
                // Hex digits are ASCII, so every chunk is valid UTF-8.
                path.push(std::str::from_utf8(chunk).unwrap_or_default());
            }
        }
        path.push(metric.hyphenated());
        path
    }

    fn method_dir(&self, metric: MetricId, method: &str) -> PathBuf {
        self.metric_dir(metric).join(format!("agg_{method}"))
    }

    fn split_path(&self, split: &SplitRef<'_>) -> PathBuf {
        self.method_dir(split.metric, split.method)
            .join(format!("{}_{}_v3", split.key.key_str(), split.key.sampling_str()))
    }

    fn raw_path(&self, metric: MetricId) -> PathBuf {
        self.metric_dir(metric).join(super::RAW_FIELD)
    }

    fn create_metric(&self, layout: &MetricLayout<'_>) -> std::io::Result<()> {
        let dir = self.metric_dir(layout.metric);
        fs::DirBuilder::new().recursive(true).create(&dir)?;
        for method in layout.methods {
            match fs::create_dir(dir.join(format!("agg_{method}"))) {
                Err(e) if e.kind() != ErrorKind::AlreadyExists => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    fn list_one(&self, metric: MetricId, series: &[SeriesRef<'_>]) -> Result<Option<Vec<Vec<SplitKey>>>> {
        let mut keys = vec![Vec::new(); series.len()];
        let mut methods: Vec<&str> = series.iter().map(|s| s.method).collect();
        methods.sort_unstable();
        methods.dedup();
        for method in methods {
            let dir = self.method_dir(metric, method);
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(backend(dir.display(), e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| backend(dir.display(), e))?;
                let name = entry.file_name();
                // Names of other versions or shapes are ignored, as upstream does.
                let Some((key, granularity)) = name.to_str().and_then(super::parse_split_name) else { continue };
                for (i, _) in series.iter().enumerate().filter(|(_, s)| s.method == method && s.granularity == granularity) {
                    keys[i].push(SplitKey::new(key, granularity));
                }
            }
        }
        for k in &mut keys {
            k.sort_unstable();
        }
        Ok(Some(keys))
    }
}

impl Store for FileStore {
    fn write_full(&self) -> bool {
        true
    }

    fn get_or_create_raw(&self, metrics: &[MetricLayout<'_>]) -> Result<Vec<Option<Vec<u8>>>> {
        metrics
            .iter()
            .map(|layout| {
                let path = self.raw_path(layout.metric);
                match read_if_exists(&path).map_err(|e| backend(path.display(), e))? {
                    Some(data) => Ok(Some(data)),
                    None => {
                        self.create_metric(layout).map_err(|e| backend(path.display(), e))?;
                        Ok(None)
                    }
                }
            })
            .collect()
    }

    fn store_raw(&self, metrics_and_data: &[(MetricId, Vec<u8>)]) -> Result<()> {
        metrics_and_data.iter().try_for_each(|(metric, data)| {
            let dest = self.raw_path(*metric);
            atomic_write(&self.tmp, &dest, data).map_err(|e| backend(dest.display(), e))
        })
    }

    fn list_split_keys(&self, requests: &[(MetricId, Vec<SeriesRef<'_>>)]) -> Result<Vec<Option<Vec<Vec<SplitKey>>>>> {
        requests.iter().map(|(metric, series)| self.list_one(*metric, series)).collect()
    }

    fn get_splits(&self, splits: &[SplitRef<'_>]) -> Result<Vec<Option<Vec<u8>>>> {
        splits
            .iter()
            .map(|split| {
                let path = self.split_path(split);
                read_if_exists(&path).map_err(|e| backend(path.display(), e))
            })
            .collect()
    }

    fn store_splits(&self, writes: &[SplitWrite<'_>]) -> Result<()> {
        writes.iter().try_for_each(|write| {
            let dest = self.split_path(&write.split);
            atomic_write(&self.tmp, &dest, &write.data).map_err(|e| backend(dest.display(), e))
        })
    }

    fn delete_splits(&self, splits: &[SplitRef<'_>]) -> Result<()> {
        splits.iter().try_for_each(|split| {
            let path = self.split_path(split);
            match fs::remove_file(&path) {
                Err(e) if e.kind() != ErrorKind::NotFound => Err(backend(path.display(), e)),
                _ => Ok(()),
            }
        })
    }

    fn delete_metric(&self, metric: MetricId) -> Result<()> {
        let dir = self.metric_dir(metric);
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(backend(dir.display(), e)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_whole_reads_every_size_whole() {
        let dir = std::env::temp_dir().join(format!("gnocchi-rs-read-whole-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        for size in [0, 1, READ_CHUNK - 1, READ_CHUNK, READ_CHUNK + 1, 3 * READ_CHUNK + 7] {
            let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
            let path = dir.join(format!("f{size}"));
            atomic_write(&dir, &path, &data).unwrap();
            assert_eq!(read_whole(&path).unwrap(), data, "size {size}");
        }
        assert_eq!(read_if_exists(&dir.join("absent")).unwrap(), None);
        fs::remove_dir_all(&dir).unwrap();
    }
}
