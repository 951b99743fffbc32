//! The Ceph backend, upstream's layout: object `gnocchi_<uuid>_none_v3`
//! holds the raw series, object `gnocchi_<uuid>_<key>_<method>_<gran>_v3`
//! each split, and the split object names are omap keys (empty values) of
//! the `none_v3` object; listing splits reads that omap, never the pool.
//! The mutable split is written uncompressed at an offset
//! (`write_full() == false`). Each batch is one asynchronous operation per
//! object, all in flight at once.

use super::{parse_split_field, split_field, MetricId, MetricLayout, SeriesRef, SplitKey, SplitRef, SplitWrite, Store};
use crate::error::{Error, Result};
use crate::rados::{write_op, OmapQuery, Pool, WriteStep, READ_CONSISTENT};
use std::collections::BTreeMap;
use std::sync::Arc;

pub struct CephStore {
    pool: Arc<Pool>,
}

fn object_prefix(metric: MetricId) -> String {
    format!("gnocchi_{}_", metric.hyphenated())
}

fn raw_object(metric: MetricId) -> String {
    format!("gnocchi_{}_{}", metric.hyphenated(), super::RAW_FIELD)
}

fn split_object(split: &SplitRef<'_>) -> String {
    format!("gnocchi_{}_{}", split.metric.hyphenated(), split_field(split))
}

impl CephStore {
    pub fn new(pool: Arc<Pool>) -> CephStore {
        CephStore { pool }
    }

    /// The split object names indexed in each metric's omap (`None`: no
    /// `none_v3` object). Only names of the metric itself are listed, so
    /// that a stray entry can never make `delete_metric` remove another
    /// metric's objects (upstream removes whatever the omap names).
    fn indexed_splits(&self, metrics: &[MetricId]) -> Result<Vec<Option<Vec<String>>>> {
        let queries: Vec<OmapQuery> = metrics
            .iter()
            .map(|&m| OmapQuery { object: raw_object(m), prefix: object_prefix(m), limit: None })
            .collect();
        Ok(self
            .pool
            .omap_entries(&queries, READ_CONSISTENT)?
            .into_iter()
            .map(|entries| {
                entries.map(|entries| entries.into_iter().filter_map(|(key, _)| String::from_utf8(key).ok()).collect())
            })
            .collect())
    }
}

/// Groups per-split omap keys by the metric whose `none_v3` indexes them.
fn by_metric<T>(items: impl Iterator<Item = (MetricId, T)>) -> BTreeMap<MetricId, Vec<T>> {
    let mut grouped: BTreeMap<MetricId, Vec<T>> = BTreeMap::new();
    for (metric, item) in items {
        grouped.entry(metric).or_default().push(item);
    }
    grouped
}

impl Store for CephStore {
    fn write_full(&self) -> bool {
        false
    }

    fn get_or_create_raw(&self, metrics: &[MetricLayout<'_>]) -> Result<Vec<Option<Vec<u8>>>> {
        let names: Vec<String> = metrics.iter().map(|l| raw_object(l.metric)).collect();
        let contents = self.pool.read_objects(&names, READ_CONSISTENT)?;
        let creates: Vec<_> = names
            .iter()
            .zip(&contents)
            .filter(|(_, data)| data.is_none())
            .map(|(name, _)| write_op(name.clone(), vec![WriteStep::Create]))
            .collect();
        self.pool.write_all(&creates, false)?;
        Ok(contents.into_iter().map(|data| data.filter(|d| !d.is_empty())).collect())
    }

    fn store_raw(&self, metrics_and_data: &[(MetricId, Vec<u8>)]) -> Result<()> {
        let ops: Vec<_> =
            metrics_and_data.iter().map(|(m, data)| write_op(raw_object(*m), vec![WriteStep::WriteFull(data)])).collect();
        self.pool.write_all(&ops, false)
    }

    fn list_split_keys(&self, requests: &[(MetricId, Vec<SeriesRef<'_>>)]) -> Result<Vec<Option<Vec<Vec<SplitKey>>>>> {
        let metrics: Vec<MetricId> = requests.iter().map(|(m, _)| *m).collect();
        let indexed = self.indexed_splits(&metrics)?;
        Ok(requests
            .iter()
            .zip(indexed)
            .map(|((metric, series), names)| {
                let names = names?;
                let prefix = object_prefix(*metric);
                let mut keys = vec![Vec::new(); series.len()];
                for name in &names {
                    let Some((key, method, granularity)) = name.strip_prefix(&prefix).and_then(parse_split_field) else {
                        continue;
                    };
                    for (i, _) in
                        series.iter().enumerate().filter(|(_, s)| s.method == method && s.granularity == granularity)
                    {
                        keys[i].push(SplitKey::new(key, granularity));
                    }
                }
                keys.iter_mut().for_each(|k| {
                    k.sort_unstable();
                    k.dedup();
                });
                Some(keys)
            })
            .collect())
    }

    fn get_splits(&self, splits: &[SplitRef<'_>]) -> Result<Vec<Option<Vec<u8>>>> {
        let names: Vec<String> = splits.iter().map(split_object).collect();
        self.pool.read_objects(&names, READ_CONSISTENT)
    }

    fn store_splits(&self, writes: &[SplitWrite<'_>]) -> Result<()> {
        let names: Vec<String> = writes.iter().map(|w| split_object(&w.split)).collect();
        let data_ops = writes
            .iter()
            .zip(&names)
            .map(|(w, name)| {
                let step = match w.offset {
                    None => WriteStep::WriteFull(&w.data),
                    Some(offset) => match u64::try_from(offset) {
                        Ok(offset) => WriteStep::WriteAt(&w.data, offset),
                        // Written whole, these bytes would be read back
                        // shifted; upstream's driver fails here too (rados
                        // takes an unsigned offset). The pipeline never asks.
                        Err(_) => {
                            return Err(Error::InvalidArgument(format!(
                                "split {name} cannot be written at the negative offset {offset}"
                            )))
                        }
                    },
                };
                Ok(write_op(name.clone(), vec![step]))
            })
            .collect::<Result<Vec<_>>>()?;
        // Data first, index second: an index entry never names a split
        // that was not written.
        self.pool.write_all(&data_ops, false)?;
        let index_ops: Vec<_> = by_metric(writes.iter().zip(&names).map(|(w, name)| (w.split.metric, name.as_bytes())))
            .into_iter()
            .map(|(metric, names)| {
                let entries = names.into_iter().map(|n| (n, &b""[..])).collect();
                write_op(raw_object(metric), vec![WriteStep::OmapSet(entries)])
            })
            .collect();
        self.pool.write_all(&index_ops, false)
    }

    fn delete_splits(&self, splits: &[SplitRef<'_>]) -> Result<()> {
        let names: Vec<String> = splits.iter().map(split_object).collect();
        let removes: Vec<_> = names.iter().map(|n| write_op(n.clone(), vec![WriteStep::Remove])).collect();
        // A split already removed before a crash left its index entry.
        self.pool.write_all(&removes, true)?;
        let unindex: Vec<_> = by_metric(splits.iter().zip(&names).map(|(s, name)| (s.metric, name.as_bytes())))
            .into_iter()
            .map(|(metric, names)| write_op(raw_object(metric), vec![WriteStep::OmapRemove(names)]))
            .collect();
        self.pool.write_all(&unindex, true)
    }

    fn delete_metric(&self, metric: MetricId) -> Result<()> {
        let Some(Some(names)) = self.indexed_splits(&[metric])?.pop() else { return Ok(()) };
        let removes: Vec<_> = names.iter().map(|n| write_op(n.clone(), vec![WriteStep::Remove])).collect();
        self.pool.write_all(&removes, true)?;
        self.pool.write_all(&[write_op(raw_object(metric), vec![WriteStep::Remove])], true)
    }
}
