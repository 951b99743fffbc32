//! An in-memory `Store`, for tests only: it lets `cargo test` (unit tests
//! and `tests/vectors.rs`, which sees only the public API) run the metricd
//! pipeline with no file system or service. It keeps what the file backend
//! keeps, by split; in `ceph_like` mode it writes as the Ceph backend does
//! (the mutable split uncompressed at an offset, a write past the end of
//! an object zero-filling the gap), so both drivers' bytes can be checked.
//! No production path constructs one.

use super::{MetricId, MetricLayout, SeriesRef, SplitKey, SplitRef, SplitWrite, Store};
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

/// What is stored of one metric.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredMetric {
    pub raw: Option<Vec<u8>>,
    /// By method, then split key.
    pub splits: BTreeMap<(String, SplitKey), Vec<u8>>,
}

#[derive(Debug, Default)]
pub struct MemoryStore {
    ceph_like: bool,
    metrics: Mutex<BTreeMap<MetricId, StoredMetric>>,
}

impl MemoryStore {
    /// Splits always written whole, as the file and Redis backends do.
    pub fn whole_objects() -> MemoryStore {
        MemoryStore::default()
    }

    /// The mutable split written uncompressed at an offset, as the Ceph
    /// backend does.
    pub fn ceph_like() -> MemoryStore {
        MemoryStore { ceph_like: true, ..MemoryStore::default() }
    }

    /// A copy of everything stored, by metric.
    pub fn snapshot(&self) -> BTreeMap<MetricId, StoredMetric> {
        self.lock().clone()
    }

    /// A panic in another test thread poisons the lock; the map itself is
    /// still whole (every change is one insert or remove), so it is used.
    fn lock(&self) -> MutexGuard<'_, BTreeMap<MetricId, StoredMetric>> {
        self.metrics.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn split_entry(split: &SplitRef<'_>) -> (String, SplitKey) {
    (split.method.to_string(), split.key)
}

/// Writes `data` at `offset` into `object`, zero-filling a gap past its
/// end, as a RADOS write does.
fn write_at(object: &mut Vec<u8>, data: &[u8], offset: i64) -> Result<()> {
    let start = usize::try_from(offset)
        .map_err(|_| Error::Backend(format!("memory store: a write at the negative offset {offset}")))?;
    let end = start + data.len();
    if object.len() < end {
        object.resize(end, 0);
    }
    object[start..end].copy_from_slice(data);
    Ok(())
}

impl Store for MemoryStore {
    fn write_full(&self) -> bool {
        !self.ceph_like
    }

    fn get_or_create_raw(&self, metrics: &[MetricLayout<'_>]) -> Result<Vec<Option<Vec<u8>>>> {
        let mut stored = self.lock();
        Ok(metrics.iter().map(|layout| stored.entry(layout.metric).or_default().raw.clone()).collect())
    }

    fn store_raw(&self, metrics_and_data: &[(MetricId, Vec<u8>)]) -> Result<()> {
        let mut stored = self.lock();
        for (metric, data) in metrics_and_data {
            stored.entry(*metric).or_default().raw = Some(data.clone());
        }
        Ok(())
    }

    fn list_split_keys(&self, requests: &[(MetricId, Vec<SeriesRef<'_>>)]) -> Result<Vec<Option<Vec<Vec<SplitKey>>>>> {
        let stored = self.lock();
        Ok(requests
            .iter()
            .map(|(metric, series)| {
                let splits = &stored.get(metric)?.splits;
                Some(
                    series
                        .iter()
                        .map(|s| {
                            splits
                                .keys()
                                .filter(|(method, key)| method == s.method && key.sampling == s.granularity)
                                .map(|(_, key)| *key)
                                .collect()
                        })
                        .collect(),
                )
            })
            .collect())
    }

    fn get_splits(&self, splits: &[SplitRef<'_>]) -> Result<Vec<Option<Vec<u8>>>> {
        let stored = self.lock();
        Ok(splits
            .iter()
            .map(|split| stored.get(&split.metric).and_then(|m| m.splits.get(&split_entry(split)).cloned()))
            .collect())
    }

    fn store_splits(&self, writes: &[SplitWrite<'_>]) -> Result<()> {
        let mut stored = self.lock();
        for write in writes {
            let object = stored.entry(write.split.metric).or_default().splits.entry(split_entry(&write.split)).or_default();
            match write.offset {
                Some(offset) if self.ceph_like => write_at(object, &write.data, offset)?,
                _ => *object = write.data.clone(),
            }
        }
        Ok(())
    }

    fn delete_splits(&self, splits: &[SplitRef<'_>]) -> Result<()> {
        let mut stored = self.lock();
        for split in splits {
            if let Some(metric) = stored.get_mut(&split.metric) {
                metric.splits.remove(&split_entry(split));
            }
        }
        Ok(())
    }

    fn delete_metric(&self, metric: MetricId) -> Result<()> {
        self.lock().remove(&metric);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_past_the_end_zero_fills() {
        let mut object = b"ab".to_vec();
        write_at(&mut object, b"xy", 4).unwrap();
        assert_eq!(object, b"ab\0\0xy");
        write_at(&mut object, b"Z", 1).unwrap();
        assert_eq!(object, b"aZ\0\0xy");
        assert!(write_at(&mut object, b"Z", -1).is_err());
    }
}
