//! The Redis incoming backend: one list per metric, `<sack>:<uuid>`, each
//! blob `RPUSH`ed; `SETNX <sack> 1` tells greedy workers a sack has work.
//! A read takes a list's length and its items atomically (a Lua script),
//! and deleting trims exactly that many items, so blobs pushed in between
//! stay for the next pass.

use super::{decode_into, Incoming, NewMeasures, Pending, Receipt, SackPending};
use crate::error::{Error, Result};
use crate::redis_client::{command, RedisClient};
use crate::storage::MetricId;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// For each key: its length and its items (kept apart, so that one bad
/// blob does not spoil the others). With no key given, every list of the
/// sack named by ARGV[1].
const READ_LISTS: &[u8] = br#"
local keys = KEYS
if #keys == 0 then keys = redis.call("KEYS", ARGV[1] .. ":*") end
local out = {}
for _, key in ipairs(keys) do
    local n = redis.call("LLEN", key)
    if n > 0 then
        out[#out + 1] = {key, n, redis.call("LRANGE", key, 0, n - 1)}
    end
end
return out
"#;

pub struct RedisIncoming {
    client: Arc<RedisClient>,
}

fn list_key(sack: &str, metric: MetricId) -> Vec<u8> {
    format!("{sack}:{}", metric.hyphenated()).into_bytes()
}

fn metric_of_key(key: &[u8]) -> Option<MetricId> {
    let text = std::str::from_utf8(key).ok()?;
    MetricId::parse(text.rsplit(':').next()?)
}

impl RedisIncoming {
    pub fn new(client: Arc<RedisClient>) -> RedisIncoming {
        RedisIncoming { client }
    }

    fn read(&self, keys: &[Vec<u8>], sack: &str) -> Result<Pending> {
        let mut args: Vec<Vec<u8>> = vec![b"EVAL".to_vec(), READ_LISTS.to_vec(), keys.len().to_string().into_bytes()];
        args.extend(keys.iter().cloned());
        args.push(sack.as_bytes().to_vec());
        let reply = self.client.pipeline(&[args])?.pop().ok_or_else(|| Error::Backend("redis: no reply".into()))?;
        let mut pending = Pending::default();
        let mut trims = Vec::new();
        for entry in reply.ok()?.into_array()? {
            let mut fields = entry.into_array()?.into_iter();
            let (Some(key), Some(count), Some(items)) = (fields.next(), fields.next(), fields.next()) else {
                return Err(Error::Backend("redis: malformed sack read".into()));
            };
            let key = key.into_bytes()?.unwrap_or_default();
            let count = count.into_integer()?;
            // Trimmed with the rest whatever happens: a list that cannot be
            // parsed would otherwise block its metric for ever.
            trims.push((key.clone(), count));
            let Some(metric) = metric_of_key(&key) else {
                pending.corrupt.push((String::from_utf8_lossy(&key).into_owned(), "not a metric id".into()));
                continue;
            };
            let mut points = Vec::new();
            for (i, blob) in items.into_array()?.into_iter().enumerate() {
                let blob = blob.into_bytes()?.unwrap_or_default();
                let origin = || format!("{}[{i}]", String::from_utf8_lossy(&key));
                decode_into(&mut points, &blob, origin, &mut pending.corrupt);
            }
            pending.metrics.push((metric, points));
        }
        pending.receipt = Receipt::RedisLists(trims);
        Ok(pending)
    }
}

impl Incoming for RedisIncoming {
    fn add_measures_batch(&self, batch: &[NewMeasures<'_>], notify: bool) -> Result<()> {
        let mut commands = Vec::with_capacity(batch.len() + 8);
        let mut notified: HashSet<&str> = HashSet::new();
        for new in batch {
            commands.push(command(&[b"RPUSH", &list_key(new.sack, new.metric), new.blob]));
            if notify && notified.insert(new.sack) {
                commands.push(command(&[b"SETNX", new.sack.as_bytes(), b"1"]));
            }
        }
        for reply in self.client.pipeline(&commands)? {
            reply.ok()?;
        }
        Ok(())
    }

    fn read_sack(&self, sack: &str) -> Result<Pending> {
        self.read(&[], sack)
    }

    fn read_metrics(&self, metrics: &[(&str, MetricId)]) -> Result<Pending> {
        if metrics.is_empty() {
            return Ok(Pending::default());
        }
        let keys: Vec<Vec<u8>> = metrics.iter().map(|&(sack, m)| list_key(sack, m)).collect();
        self.read(&keys, "")
    }

    fn delete_processed(&self, receipt: &Receipt) -> Result<()> {
        let Receipt::RedisLists(trims) = receipt else { return Ok(()) };
        let commands: Vec<_> = trims
            .iter()
            .map(|(key, count)| command(&[b"LTRIM", key, count.to_string().as_bytes(), b"-1"]))
            .collect();
        for reply in self.client.pipeline(&commands)? {
            reply.ok()?;
        }
        Ok(())
    }

    fn has_unprocessed(&self, sack: &str, metric: MetricId) -> Result<bool> {
        Ok(self.client.query(&[b"EXISTS", &list_key(sack, metric)])?.into_integer()? > 0)
    }

    fn delete_unprocessed(&self, sack: &str, metric: MetricId) -> Result<()> {
        self.client.query(&[b"DEL", &list_key(sack, metric)]).map(drop)
    }

    fn report(&self, sacks: &[String]) -> Result<Vec<(MetricId, usize)>> {
        let keys = self.metric_lists(sacks)?;
        let lengths = self.lengths(&keys)?;
        Ok(keys.iter().zip(lengths).filter_map(|(key, len)| metric_of_key(key).map(|m| (m, len as usize))).collect())
    }

    fn backlog(&self, sacks: &[String]) -> Result<Vec<SackPending>> {
        let keys = self.metric_lists(sacks)?;
        let lengths = self.lengths(&keys)?;
        let position: HashMap<&[u8], usize> = sacks.iter().enumerate().map(|(i, s)| (s.as_bytes(), i)).collect();
        let mut pending = vec![SackPending::default(); sacks.len()];
        for (key, len) in keys.iter().zip(lengths) {
            if let Some(&i) = position.get(sack_of_key(key)) {
                // A list holds blobs without their arrival time.
                pending[i].blobs += len;
            }
        }
        Ok(pending)
    }
}

fn sack_of_key(key: &[u8]) -> &[u8] {
    key.rsplitn(2, |&b| b == b':').nth(1).unwrap_or_default()
}

impl RedisIncoming {
    /// The keys of the metric lists in the sacks, by SCAN.
    fn metric_lists(&self, sacks: &[String]) -> Result<Vec<Vec<u8>>> {
        let sacks: HashSet<&[u8]> = sacks.iter().map(|s| s.as_bytes()).collect();
        let mut keys: Vec<Vec<u8>> = Vec::new();
        let mut cursor = b"0".to_vec();
        loop {
            let reply = self.client.query(&[b"SCAN", &cursor, b"MATCH", b"*:*", b"COUNT", b"1000"])?;
            let mut parts = reply.into_array()?.into_iter();
            let (Some(next), Some(batch)) = (parts.next(), parts.next()) else {
                return Err(Error::Backend("redis: malformed SCAN reply".into()));
            };
            for key in batch.into_array()? {
                if let Some(key) = key.into_bytes()? {
                    if sacks.contains(sack_of_key(&key)) && metric_of_key(&key).is_some() {
                        keys.push(key);
                    }
                }
            }
            cursor = next.into_bytes()?.unwrap_or_default();
            if cursor == b"0" || cursor.is_empty() {
                break;
            }
        }
        Ok(keys)
    }

    /// Their lengths, pipelined.
    fn lengths(&self, keys: &[Vec<u8>]) -> Result<Vec<u64>> {
        let commands: Vec<_> = keys.iter().map(|k| command(&[b"LLEN", k])).collect();
        self.client.pipeline(&commands)?.into_iter().map(|len| Ok(len.into_integer()?.max(0) as u64)).collect()
    }
}
