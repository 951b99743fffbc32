//! The Ceph incoming backend: each sack is an object named after it, and
//! each blob of new measures is one omap entry of that object, key
//! `measure_<metric uuid>_<uuid4>_<%Y%m%d_%H:%M:%S>`. Processing reads the
//! entries and removes exactly the keys it read, so entries written in
//! between stay for the next pass.

use super::arrival::{arrival_of, utc_suffix};
use super::{decode_into, random_uuid4, Incoming, NewMeasures, Pending, Receipt, SackPending};
use crate::error::{backend, Result};
use crate::rados::{OmapEntries, OmapQuery, Pool, WriteOp, WriteStep, READ_BALANCED, WRITE_SKIP_LOCKS};
use crate::storage::MetricId;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

const MEASURE_PREFIX: &str = "measure_";
/// At most this many blobs of a sack per pass, so that a huge backlog is
/// worked through in bounded memory; the rest waits for the next pass
/// (upstream gets one OSD page, 131072 entries at most, per pass).
const SACK_READ_LIMIT: usize = 100_000;

pub struct CephIncoming {
    pool: Arc<Pool>,
}

fn metric_prefix(metric: MetricId) -> String {
    format!("{MEASURE_PREFIX}{}_", metric.hyphenated())
}

fn metric_of_key(key: &[u8]) -> Option<MetricId> {
    let text = std::str::from_utf8(key).ok()?;
    MetricId::parse(text.strip_prefix(MEASURE_PREFIX)?.split('_').next()?)
}

fn omap_write<'a>(object: &str, steps: Vec<WriteStep<'a>>) -> WriteOp<'a> {
    WriteOp { object: object.to_string(), steps, flags: WRITE_SKIP_LOCKS }
}

impl CephIncoming {
    pub fn new(pool: Arc<Pool>) -> CephIncoming {
        CephIncoming { pool }
    }

    /// Decodes the entries read from each sack; every key read goes in the
    /// receipt, including those of corrupt blobs and unknown names, which
    /// would otherwise block their sack for ever.
    fn collect(&self, listed: Vec<(&str, Option<OmapEntries>)>) -> Pending {
        let mut pending = Pending::default();
        let mut per_metric: BTreeMap<MetricId, usize> = BTreeMap::new();
        let mut receipts: BTreeMap<&str, Vec<Vec<u8>>> = BTreeMap::new();
        for (sack, entries) in listed {
            for (key, blob) in entries.unwrap_or_default() {
                match metric_of_key(&key) {
                    Some(metric) => {
                        let at = *per_metric.entry(metric).or_insert_with(|| {
                            pending.metrics.push((metric, Vec::new()));
                            pending.metrics.len() - 1
                        });
                        let origin = || format!("{sack}/{}", String::from_utf8_lossy(&key));
                        decode_into(&mut pending.metrics[at].1, &blob, origin, &mut pending.corrupt);
                    }
                    None => pending.corrupt.push((format!("{sack}/{}", String::from_utf8_lossy(&key)), "not a measure name".into())),
                }
                receipts.entry(sack).or_default().push(key);
            }
        }
        pending.receipt = Receipt::OmapKeys(receipts.into_iter().map(|(s, k)| (s.to_string(), k)).collect());
        pending
    }
}

impl Incoming for CephIncoming {
    fn add_measures_batch(&self, batch: &[NewMeasures<'_>], _notify: bool) -> Result<()> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        let suffix = utc_suffix(now);
        let mut random = std::fs::File::open("/dev/urandom").map_err(|e| backend("/dev/urandom", e))?;
        let mut names = Vec::with_capacity(batch.len());
        for new in batch {
            let token = random_uuid4(&mut random).map_err(|e| backend("/dev/urandom", e))?;
            names.push(format!("{MEASURE_PREFIX}{}_{token}{suffix}", new.metric.hyphenated()));
        }
        let mut per_sack: BTreeMap<&str, Vec<(&[u8], &[u8])>> = BTreeMap::new();
        for (new, name) in batch.iter().zip(&names) {
            per_sack.entry(new.sack).or_default().push((name.as_bytes(), new.blob));
        }
        let ops: Vec<_> = per_sack.into_iter().map(|(sack, entries)| omap_write(sack, vec![WriteStep::OmapSet(entries)])).collect();
        self.pool.write_all(&ops, false)
    }

    fn read_sack(&self, sack: &str) -> Result<Pending> {
        let query = OmapQuery { object: sack.to_string(), prefix: MEASURE_PREFIX.to_string(), limit: Some(SACK_READ_LIMIT) };
        let listed = self.pool.omap_entries(&[query], READ_BALANCED)?;
        Ok(self.collect(listed.into_iter().map(|e| (sack, e)).collect()))
    }

    fn read_metrics(&self, metrics: &[(&str, MetricId)]) -> Result<Pending> {
        let queries: Vec<OmapQuery> = metrics
            .iter()
            .map(|&(sack, m)| OmapQuery { object: sack.to_string(), prefix: metric_prefix(m), limit: None })
            .collect();
        let listed = self.pool.omap_entries(&queries, READ_BALANCED)?;
        Ok(self.collect(metrics.iter().map(|&(sack, _)| sack).zip(listed).collect()))
    }

    fn delete_processed(&self, receipt: &Receipt) -> Result<()> {
        let Receipt::OmapKeys(per_sack) = receipt else { return Ok(()) };
        let ops: Vec<_> = per_sack
            .iter()
            .filter(|(_, keys)| !keys.is_empty())
            .map(|(sack, keys)| omap_write(sack, vec![WriteStep::OmapRemove(keys.iter().map(Vec::as_slice).collect())]))
            .collect();
        self.pool.write_all(&ops, true)
    }

    fn has_unprocessed(&self, sack: &str, metric: MetricId) -> Result<bool> {
        let query = OmapQuery { object: sack.to_string(), prefix: metric_prefix(metric), limit: Some(1) };
        Ok(self.pool.omap_entries(&[query], READ_BALANCED)?.pop().flatten().is_some_and(|e| !e.is_empty()))
    }

    fn delete_unprocessed(&self, sack: &str, metric: MetricId) -> Result<()> {
        let pending = self.read_metrics(&[(sack, metric)])?;
        self.delete_processed(&pending.receipt)
    }

    fn sacks_with_measures(&self, sacks: &[String]) -> Result<Vec<bool>> {
        let queries: Vec<OmapQuery> = sacks
            .iter()
            .map(|sack| OmapQuery { object: sack.clone(), prefix: MEASURE_PREFIX.to_string(), limit: Some(1) })
            .collect();
        Ok(self.pool.omap_entries(&queries, READ_BALANCED)?.into_iter().map(|e| e.is_some_and(|e| !e.is_empty())).collect())
    }

    fn report(&self, sacks: &[String]) -> Result<Vec<(MetricId, usize)>> {
        // Keys only: the report counts blobs, it does not need them.
        let mut counts: BTreeMap<MetricId, usize> = BTreeMap::new();
        for keys in self.pool.omap_keys(sacks, MEASURE_PREFIX.as_bytes(), READ_BALANCED)?.into_iter().flatten() {
            for key in keys {
                if let Some(metric) = metric_of_key(&key) {
                    *counts.entry(metric).or_default() += 1;
                }
            }
        }
        Ok(counts.into_iter().collect())
    }

    fn backlog(&self, sacks: &[String]) -> Result<Vec<SackPending>> {
        let listed = self.pool.omap_keys(sacks, MEASURE_PREFIX.as_bytes(), READ_BALANCED)?;
        Ok(listed
            .into_iter()
            .map(|keys| {
                let mut pending = SackPending::default();
                for key in keys.into_iter().flatten().filter(|k| metric_of_key(k).is_some()) {
                    pending.count(arrival_of(&key));
                }
                pending
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measure_names_give_their_metric() {
        let id = MetricId::parse("5a301761-f78b-46e2-8900-8b4f6fe6675a").unwrap();
        let key = format!("{}{}{}", metric_prefix(id), "0b7e0a44-4a51-4d0e-9b1e-3c5b7b7e0f11", "_20231114_22:13:20");
        assert_eq!(metric_of_key(key.as_bytes()), Some(id));
        assert_eq!(metric_of_key(b"measure_nope_x"), None);
        assert_eq!(metric_of_key(b"gnocchi-config"), None);
    }
}
