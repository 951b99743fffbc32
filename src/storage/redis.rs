//! The Redis backend: one hash per metric, `<prefix>:<uuid>`, holding the
//! raw series in field `none_v3` and each split in
//! `<key>_<method>_<granularity>_v3`. Every batch is one pipeline.

use super::{parse_split_field, split_field, MetricId, MetricLayout, SeriesRef, SplitKey, SplitRef, SplitWrite, Store};
use crate::error::Result;
use crate::redis_client::{command, RedisClient, Reply};
use std::sync::Arc;

pub struct RedisStore {
    client: Arc<RedisClient>,
    prefix: Vec<u8>,
}

impl RedisStore {
    pub fn new(client: Arc<RedisClient>, prefix: Vec<u8>) -> RedisStore {
        RedisStore { client, prefix }
    }

    fn metric_key(&self, metric: MetricId) -> Vec<u8> {
        let mut key = self.prefix.clone();
        key.push(b':');
        key.extend_from_slice(metric.hyphenated().as_bytes());
        key
    }

    fn run(&self, commands: &[Vec<Vec<u8>>]) -> Result<Vec<Reply>> {
        self.client.pipeline(commands)?.into_iter().map(Reply::ok).collect()
    }
}

impl Store for RedisStore {
    fn write_full(&self) -> bool {
        true
    }

    fn get_or_create_raw(&self, metrics: &[MetricLayout<'_>]) -> Result<Vec<Option<Vec<u8>>>> {
        let mut commands = Vec::with_capacity(metrics.len() * 2);
        for layout in metrics {
            let key = self.metric_key(layout.metric);
            commands.push(command(&[b"HSETNX", &key, super::RAW_FIELD.as_bytes(), b""]));
            commands.push(command(&[b"HGET", &key, super::RAW_FIELD.as_bytes()]));
        }
        let replies = self.run(&commands)?;
        replies
            .into_iter()
            .skip(1)
            .step_by(2)
            .map(|reply| Ok(reply.into_bytes()?.filter(|data| !data.is_empty())))
            .collect()
    }

    fn store_raw(&self, metrics_and_data: &[(MetricId, Vec<u8>)]) -> Result<()> {
        let commands: Vec<_> = metrics_and_data
            .iter()
            .map(|(metric, data)| command(&[b"HSET", &self.metric_key(*metric), super::RAW_FIELD.as_bytes(), data]))
            .collect();
        self.run(&commands).map(drop)
    }

    fn list_split_keys(&self, requests: &[(MetricId, Vec<SeriesRef<'_>>)]) -> Result<Vec<Option<Vec<Vec<SplitKey>>>>> {
        // A metric's hash always holds `none_v3` once created, so an empty
        // field list is a metric that does not exist.
        let commands: Vec<_> = requests.iter().map(|(metric, _)| command(&[b"HKEYS", &self.metric_key(*metric)])).collect();
        let replies = self.run(&commands)?;
        requests
            .iter()
            .zip(replies)
            .map(|((_, series), reply)| {
                let fields = reply.into_array()?;
                if fields.is_empty() {
                    return Ok(None);
                }
                let mut keys = vec![Vec::new(); series.len()];
                for field in fields {
                    let Some(field) = field.into_bytes()? else { continue };
                    let Some((key, method, granularity)) = std::str::from_utf8(&field).ok().and_then(parse_split_field) else {
                        continue;
                    };
                    for (i, _) in
                        series.iter().enumerate().filter(|(_, s)| s.method == method && s.granularity == granularity)
                    {
                        keys[i].push(SplitKey::new(key, granularity));
                    }
                }
                keys.iter_mut().for_each(|k| k.sort_unstable());
                Ok(Some(keys))
            })
            .collect()
    }

    fn get_splits(&self, splits: &[SplitRef<'_>]) -> Result<Vec<Option<Vec<u8>>>> {
        let commands: Vec<_> = splits
            .iter()
            .map(|split| command(&[b"HGET", &self.metric_key(split.metric), split_field(split).as_bytes()]))
            .collect();
        self.run(&commands)?.into_iter().map(Reply::into_bytes).collect()
    }

    fn store_splits(&self, writes: &[SplitWrite<'_>]) -> Result<()> {
        let commands: Vec<_> = writes
            .iter()
            .map(|w| command(&[b"HSET", &self.metric_key(w.split.metric), split_field(&w.split).as_bytes(), &w.data]))
            .collect();
        self.run(&commands).map(drop)
    }

    fn delete_splits(&self, splits: &[SplitRef<'_>]) -> Result<()> {
        let commands: Vec<_> = splits
            .iter()
            .map(|split| command(&[b"HDEL", &self.metric_key(split.metric), split_field(split).as_bytes()]))
            .collect();
        self.run(&commands).map(drop)
    }

    fn delete_metric(&self, metric: MetricId) -> Result<()> {
        self.client.query(&[b"DEL", &self.metric_key(metric)]).map(drop)
    }
}
