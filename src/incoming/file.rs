//! The file incoming backend: `<basepath>/<sack>/<metric uuid>/<uuid4>_<utc
//! time>`, each blob written in `<basepath>/tmp` and renamed into place.

use super::arrival::{arrival_of, utc_suffix};
use super::{decode_into, random_uuid4, Incoming, NewMeasures, Pending, Receipt, SackPending};
use crate::error::{backend, Result};
use crate::storage::file::{atomic_write, read_whole};
use crate::storage::MetricId;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The blob files of one metric handed out by a read.
#[derive(Debug)]
pub struct MetricFiles {
    pub dir: PathBuf,
    pub files: Vec<String>,
}

/// Corrupt entries as the corruption report lists them: (where, why).
type Corrupt = Vec<(String, String)>;

pub struct FileIncoming {
    basepath: PathBuf,
    tmp: PathBuf,
}

fn list_names(dir: &Path) -> Result<Vec<String>> {
    match fs::read_dir(dir) {
        Ok(entries) => {
            let mut names = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|e| backend(dir.display(), e))?;
                if let Ok(name) = entry.file_name().into_string() {
                    names.push(name);
                }
            }
            Ok(names)
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(backend(dir.display(), e)),
    }
}

impl FileIncoming {
    pub fn new(basepath: impl Into<PathBuf>) -> FileIncoming {
        let basepath = basepath.into();
        let tmp = basepath.join("tmp");
        FileIncoming { basepath, tmp }
    }

    fn metric_dir(&self, sack: &str, metric: MetricId) -> PathBuf {
        self.basepath.join(sack).join(metric.hyphenated())
    }

    /// Reads every blob of one metric directory: its points, the files
    /// they came from, and the (where, why) of the corrupt ones.
    fn read_metric(&self, metric: MetricId, dir: PathBuf) -> Result<(Vec<crate::carbonara::Point>, MetricFiles, Corrupt)> {
        let names = list_names(&dir)?;
        let mut points = Vec::new();
        let mut files = Vec::with_capacity(names.len());
        let mut corrupt = Vec::new();
        for name in names {
            let path = dir.join(&name);
            let blob = match read_whole(&path) {
                Ok(blob) => blob,
                // Deleted by a concurrent expunge: nothing to process.
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(backend(path.display(), e)),
            };
            if !decode_into(&mut points, &blob, || path.display().to_string(), &mut corrupt) {
                // Kept for inspection, out of the sack so it is not retried.
                let aside = self.tmp.join(format!("corrupt-{}-{name}", metric.hyphenated()));
                if fs::rename(&path, &aside).is_ok() {
                    continue;
                }
            }
            files.push(name);
        }
        Ok((points, MetricFiles { dir, files }, corrupt))
    }

    /// Moves an entry of a sack that is not a metric directory out of the
    /// sack, next to the corrupt blobs, so that it is reported once and not
    /// on every pass; gives what the corruption report says of it.
    fn set_aside(&self, sack: &str, name: &str) -> (String, String) {
        let path = self.basepath.join(sack).join(name);
        let mut aside = self.tmp.join(format!("corrupt-{sack}-{name}"));
        // The same name may come back: what was set aside before is kept.
        if aside.symlink_metadata().is_ok() {
            let unique = fs::File::open("/dev/urandom").and_then(|mut random| random_uuid4(&mut random));
            aside = self.tmp.join(format!("corrupt-{sack}-{name}-{}", unique.unwrap_or_default()));
        }
        let why = match fs::rename(&path, &aside) {
            Ok(()) => format!("not a metric id; moved to {}", aside.display()),
            Err(e) => format!("not a metric id; cannot move it to {}: {e}", aside.display()),
        };
        (path.display().to_string(), why)
    }

    fn read_dirs(&self, dirs: Vec<(MetricId, PathBuf)>) -> Result<Pending> {
        let read: Vec<_> = dirs.into_iter().map(|(metric, dir)| self.read_metric(metric, dir).map(|r| (metric, r))).collect::<Result<_>>()?;
        let mut pending = Pending::default();
        let mut receipts = Vec::with_capacity(read.len());
        for (metric, (points, files, mut corrupt)) in read {
            pending.metrics.push((metric, points));
            receipts.push(files);
            pending.corrupt.append(&mut corrupt);
        }
        pending.receipt = Receipt::Files(receipts);
        Ok(pending)
    }
}

impl Incoming for FileIncoming {
    fn add_measures_batch(&self, batch: &[NewMeasures<'_>], _notify: bool) -> Result<()> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        let suffix = utc_suffix(now);
        let mut random = fs::File::open("/dev/urandom").map_err(|e| backend("/dev/urandom", e))?;
        let names: Vec<String> = batch
            .iter()
            .map(|_| random_uuid4(&mut random).map(|u| u + &suffix))
            .collect::<std::io::Result<_>>()
            .map_err(|e| backend("/dev/urandom", e))?;
        batch.iter().zip(names.iter()).try_for_each(|(new, name)| {
            let dir = self.metric_dir(new.sack, new.metric);
            let dest = dir.join(name);
            // The metric directory comes and goes (metricd removes it once
            // empty), so create it and try again until the rename lands.
            let mut attempts = 0;
            loop {
                match atomic_write(&self.tmp, &dest, new.blob) {
                    Err(e) if e.kind() == ErrorKind::NotFound && attempts < 100 => {
                        attempts += 1;
                        match fs::create_dir(&dir) {
                            Err(e) if e.kind() != ErrorKind::AlreadyExists => return Err(backend(dir.display(), e)),
                            _ => {}
                        }
                    }
                    other => return other.map_err(|e| backend(dest.display(), e)),
                }
            }
        })
    }

    fn read_sack(&self, sack: &str) -> Result<Pending> {
        let sack_dir = self.basepath.join(sack);
        let mut dirs = Vec::new();
        let mut unparsable = Vec::new();
        for name in list_names(&sack_dir)? {
            match MetricId::parse(&name) {
                Some(metric) => dirs.push((metric, sack_dir.join(name))),
                None => unparsable.push(name),
            }
        }
        let mut pending = self.read_dirs(dirs)?;
        for name in unparsable {
            pending.corrupt.push(self.set_aside(sack, &name));
        }
        Ok(pending)
    }

    fn read_metrics(&self, metrics: &[(&str, MetricId)]) -> Result<Pending> {
        self.read_dirs(metrics.iter().map(|&(sack, metric)| (metric, self.metric_dir(sack, metric))).collect())
    }

    fn delete_processed(&self, receipt: &Receipt) -> Result<()> {
        let Receipt::Files(metrics) = receipt else { return Ok(()) };
        metrics.iter().try_for_each(|m| {
            for name in &m.files {
                let path = m.dir.join(name);
                match fs::remove_file(&path) {
                    Err(e) if e.kind() != ErrorKind::NotFound => return Err(backend(path.display(), e)),
                    _ => {}
                }
            }
            // Fails while new blobs arrived since the read: they stay.
            let _ = fs::remove_dir(&m.dir);
            Ok(())
        })
    }

    fn has_unprocessed(&self, sack: &str, metric: MetricId) -> Result<bool> {
        Ok(self.metric_dir(sack, metric).is_dir())
    }

    fn delete_unprocessed(&self, sack: &str, metric: MetricId) -> Result<()> {
        let dir = self.metric_dir(sack, metric);
        let files = list_names(&dir)?;
        self.delete_processed(&Receipt::Files(vec![MetricFiles { dir, files }]))
    }

    fn report(&self, sacks: &[String]) -> Result<Vec<(MetricId, usize)>> {
        let per_sack: Vec<Vec<(MetricId, usize)>> = sacks
            .iter()
            .map(|sack| {
                let sack_dir = self.basepath.join(sack);
                let mut counts = Vec::new();
                for name in list_names(&sack_dir)? {
                    if let Some(metric) = MetricId::parse(&name) {
                        counts.push((metric, list_names(&sack_dir.join(&name))?.len()));
                    }
                }
                Ok(counts)
            })
            .collect::<Result<_>>()?;
        Ok(per_sack.into_iter().flatten().collect())
    }

    fn backlog(&self, sacks: &[String]) -> Result<Vec<SackPending>> {
        sacks
            .iter()
            .map(|sack| {
                let sack_dir = self.basepath.join(sack);
                let mut pending = SackPending::default();
                for name in list_names(&sack_dir)? {
                    if MetricId::parse(&name).is_some() {
                        for blob in list_names(&sack_dir.join(&name))? {
                            pending.count(arrival_of(blob.as_bytes()));
                        }
                    }
                }
                Ok(pending)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_that_are_not_metrics_are_moved_aside_once() {
        let base = std::env::temp_dir().join(format!("gnocchi-rs-incoming-aside-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let sack = "incoming128-3";
        fs::create_dir_all(base.join("tmp")).unwrap();
        fs::create_dir_all(base.join(sack).join("not-a-metric")).unwrap();
        fs::write(base.join(sack).join("stray-file"), b"x").unwrap();
        let incoming = FileIncoming::new(&base);

        let mut first = incoming.read_sack(sack).unwrap().corrupt;
        first.sort();
        assert_eq!(first.len(), 2, "{first:?}");
        assert!(first.iter().all(|(_, why)| why.starts_with("not a metric id; moved to")), "{first:?}");
        assert!(base.join("tmp").join(format!("corrupt-{sack}-not-a-metric")).is_dir());
        assert!(base.join("tmp").join(format!("corrupt-{sack}-stray-file")).is_file());
        assert!(list_names(&base.join(sack)).unwrap().is_empty());
        assert_eq!(incoming.read_sack(sack).unwrap().corrupt, Vec::new());

        // A name that comes back does not overwrite what was set aside.
        fs::write(base.join(sack).join("stray-file"), b"y").unwrap();
        assert_eq!(incoming.read_sack(sack).unwrap().corrupt.len(), 1);
        assert_eq!(fs::read(base.join("tmp").join(format!("corrupt-{sack}-stray-file"))).unwrap(), b"x");
        assert_eq!(list_names(&base.join("tmp")).unwrap().len(), 3);
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn backlog_counts_blobs_and_finds_the_oldest_per_sack() {
        let base = std::env::temp_dir().join(format!("gnocchi-rs-incoming-backlog-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let metric = "5a301761-f78b-46e2-8900-8b4f6fe6675a";
        let dir = base.join("incoming8-1").join(metric);
        fs::create_dir_all(&dir).unwrap();
        fs::create_dir_all(base.join("incoming8-2")).unwrap();
        for (token, t) in [("a", 1_700_000_100), ("b", 1_700_000_000), ("c", 1_700_000_050)] {
            fs::write(dir.join(format!("{token}{}", utc_suffix(t))), b"").unwrap();
        }
        fs::write(dir.join("no-time"), b"").unwrap();
        let incoming = FileIncoming::new(&base);
        let sacks = ["incoming8-1", "incoming8-2", "incoming8-3"].map(String::from);
        assert_eq!(
            incoming.backlog(&sacks).unwrap(),
            vec![
                SackPending { blobs: 4, oldest: Some(1_700_000_000) },
                SackPending::default(),
                SackPending::default()
            ]
        );
        fs::remove_dir_all(&base).unwrap();
    }
}
