//! Where aggregates live: object naming shared by every backend, and the
//! batched primitives a backend offers to the metricd pipeline
//! (`pipeline.rs`) and to the read path. Each call takes a whole batch so
//! that a backend can do one round trip per batch, not per object.

pub mod ceph;
pub mod file;
pub mod memory;
pub mod redis;

use crate::carbonara::SplitKey;
use crate::error::Result;

/// A metric id: the UUID's 16 bytes read as one big-endian integer, which
/// is also what `uuid.UUID.int` gives (and what the sack number uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetricId(pub u128);

impl MetricId {
    pub fn from_bytes(bytes: [u8; 16]) -> MetricId {
        MetricId(u128::from_be_bytes(bytes))
    }

    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }

    /// Canonical form, `5a301761-f78b-46e2-8900-8b4f6fe6675a`.
    pub fn hyphenated(self) -> String {
        let h = format!("{:032x}", self.0);
        format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
    }

    /// The 32 hex digits without hyphens (`uuid.UUID.hex`).
    pub fn hex(self) -> String {
        format!("{:032x}", self.0)
    }

    /// Parses the canonical or the bare hex form.
    pub fn parse(text: &str) -> Option<MetricId> {
        let hex: String = text.chars().filter(|&c| c != '-').collect();
        let canonical = text.len() == 36
            && text.char_indices().all(|(i, c)| matches!(i, 8 | 13 | 18 | 23) == (c == '-'));
        if hex.len() != 32 || !(canonical || text.len() == 32) {
            return None;
        }
        u128::from_str_radix(&hex, 16).ok().map(MetricId)
    }
}

/// One stored aggregate series of a metric: a method at a granularity.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesRef<'a> {
    pub method: &'a str,
    pub granularity: i64,
}

/// One split object of a metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitRef<'a> {
    pub metric: MetricId,
    pub method: &'a str,
    pub key: SplitKey,
}

/// A split to write; `offset` matters only to backends that write
/// uncompressed splits in place (Ceph).
#[derive(Debug, Clone)]
pub struct SplitWrite<'a> {
    pub split: SplitRef<'a>,
    pub data: Vec<u8>,
    pub offset: Option<i64>,
}

/// What a metric needs to exist in storage: its id and the methods of
/// its archive policy (the file backend makes one directory per method).
#[derive(Debug, Clone)]
pub struct MetricLayout<'a> {
    pub metric: MetricId,
    pub methods: &'a [String],
}

/// The batched primitives of a storage backend, as upstream's
/// `StorageDriver` names them.
pub trait Store: Send + Sync {
    /// Whether splits are always rewritten whole (file, Redis) or the
    /// mutable split is written uncompressed at an offset (Ceph).
    fn write_full(&self) -> bool;

    /// The raw series of each metric, creating the metric when missing
    /// (`None`: no raw series yet).
    fn get_or_create_raw(&self, metrics: &[MetricLayout<'_>]) -> Result<Vec<Option<Vec<u8>>>>;

    fn store_raw(&self, metrics_and_data: &[(MetricId, Vec<u8>)]) -> Result<()>;

    /// The split keys present for each metric and series, in request order.
    /// `None` for a metric that does not exist (upstream's
    /// `MetricDoesNotExist`).
    fn list_split_keys(&self, requests: &[(MetricId, Vec<SeriesRef<'_>>)]) -> Result<Vec<Option<Vec<Vec<SplitKey>>>>>;

    /// Split blobs in request order, `None` when absent.
    fn get_splits(&self, splits: &[SplitRef<'_>]) -> Result<Vec<Option<Vec<u8>>>>;

    fn store_splits(&self, writes: &[SplitWrite<'_>]) -> Result<()>;

    /// Absent splits are not an error.
    fn delete_splits(&self, splits: &[SplitRef<'_>]) -> Result<()>;

    fn delete_metric(&self, metric: MetricId) -> Result<()>;
}

/// Split object name used by the key-value backends (Ceph object suffix,
/// Redis hash field): `<key>_<method>_<granularity>_v3`.
pub fn split_field(split: &SplitRef<'_>) -> String {
    format!("{}_{}_{}_v3", split.key.key_str(), split.method, split.key.sampling_str())
}

/// Name of the raw series object: `none_v3`.
pub const RAW_FIELD: &str = "none_v3";

/// Parses `<key>_<method>_<granularity>_v3` back into (key, method,
/// granularity); `None` for names of other versions or shapes, which
/// upstream ignores.
pub fn parse_split_field(name: &str) -> Option<(i64, &str, i64)> {
    let [key, method, granularity] = v3_fields(name)?;
    let (key, granularity) = parse_key_and_granularity(key, granularity)?;
    Some((key, method, granularity))
}

/// Parses `<key>_<granularity>_v3` (a file backend split name, which
/// carries no method) into (key, granularity).
pub fn parse_split_name(name: &str) -> Option<(i64, i64)> {
    let [key, granularity] = v3_fields(name)?;
    parse_key_and_granularity(key, granularity)
}

/// The `N` fields before a final `v3`, when there are exactly `N`.
fn v3_fields<const N: usize>(name: &str) -> Option<[&str; N]> {
    let fields: Vec<&str> = name.split('_').collect();
    match fields.split_last() {
        Some((&"v3", head)) => head.try_into().ok(),
        _ => None,
    }
}

fn parse_key_and_granularity(key: &str, granularity: &str) -> Option<(i64, i64)> {
    let key = crate::carbonara::split::parse_key_str(key).ok()?;
    let granularity = crate::carbonara::split::parse_sampling_str(granularity).ok()?;
    Some((key, granularity))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_id_forms() {
        let id = MetricId::parse("5a301761-f78b-46e2-8900-8b4f6fe6675a").unwrap();
        assert_eq!(id.hyphenated(), "5a301761-f78b-46e2-8900-8b4f6fe6675a");
        assert_eq!(id.hex(), "5a301761f78b46e289008b4f6fe6675a");
        assert_eq!(MetricId::parse(&id.hex()), Some(id));
        assert_eq!(MetricId::parse("5a301761-f78b-46e2-8900-8b4f6fe6675"), None);
        assert_eq!(MetricId::parse("5a301761f-78b-46e2-8900-8b4f6fe6675a"), None);
        assert_eq!(MetricId::parse("tmp"), None);
    }

    #[test]
    fn split_names_round_trip() {
        let key = SplitKey::from_timestamp_and_sampling(1_483_228_800_000_000_000, 60_000_000_000);
        let split = SplitRef { metric: MetricId(1), method: "rate:mean", key };
        let name = split_field(&split);
        assert_eq!(name, "1483056000.0_rate:mean_60.0_v3");
        assert_eq!(parse_split_field(&name), Some((key.key, "rate:mean", key.sampling)));
        assert_eq!(parse_split_field("1483056000.0_mean_60.0_v2"), None);
        assert_eq!(parse_split_field("none_v3"), None);
    }
}

/// One series to read back: a metric's method at a granularity.
#[derive(Debug, Clone)]
pub struct AggregateRead<'a> {
    pub metric: MetricId,
    pub method: &'a str,
    pub granularity: i64,
    pub timespan: Option<i64>,
}

/// The read path of upstream's `get_aggregated_measures`, before resample
/// and fetch: list the keys, keep those whose split may hold points in
/// `[from, to]`, read and decode them, concatenate, truncate to the
/// timespan. `None` for a series of a metric that does not exist; the
/// count of corrupt splits (treated as empty, as upstream does) comes
/// second.
pub fn read_aggregates(
    store: &dyn Store,
    reads: &[AggregateRead<'_>],
    from: Option<i64>,
    to: Option<i64>,
) -> Result<(Vec<Option<Vec<crate::carbonara::Point>>>, usize)> {
    use crate::carbonara::codec::unserialize_split;
    use crate::carbonara::series::search_right;
    use rayon::prelude::*;

    let mut metrics: Vec<MetricId> = reads.iter().map(|r| r.metric).collect();
    metrics.sort_unstable();
    metrics.dedup();
    let requests: Vec<(MetricId, Vec<SeriesRef<'_>>)> = metrics
        .iter()
        .map(|&m| {
            let series = reads
                .iter()
                .filter(|r| r.metric == m)
                .map(|r| SeriesRef { method: r.method, granularity: r.granularity })
                .collect();
            (m, series)
        })
        .collect();
    let listed = store.list_split_keys(&requests)?;

    let mut wanted: Vec<Option<Vec<SplitKey>>> = Vec::with_capacity(reads.len());
    let mut seen_per_metric = vec![0usize; metrics.len()];
    for read in reads {
        let m = metrics.binary_search(&read.metric).unwrap_or(0);
        let at = seen_per_metric[m];
        seen_per_metric[m] += 1;
        wanted.push(listed[m].as_ref().map(|per_series| {
            let start = from.map(|t| SplitKey::from_timestamp_and_sampling(t, read.granularity));
            let stop = to.map(|t| SplitKey::from_timestamp_and_sampling(t, read.granularity));
            let mut keys: Vec<SplitKey> = per_series[at]
                .iter()
                .copied()
                .filter(|k| start.is_none_or(|s| *k >= s) && stop.is_none_or(|s| *k <= s))
                .collect();
            keys.sort_unstable();
            keys
        }));
    }
    let splits: Vec<SplitRef<'_>> = reads
        .iter()
        .zip(&wanted)
        .flat_map(|(read, keys)| {
            keys.iter().flatten().map(move |&key| SplitRef { metric: read.metric, method: read.method, key })
        })
        .collect();
    let blobs = store.get_splits(&splits)?;
    let decoded: Vec<Option<Vec<crate::carbonara::Point>>> = splits
        .par_iter()
        .zip(blobs.par_iter())
        .with_min_len(crate::task_size::METRICS_PER_TASK)
        .map(|(split, blob)| match blob.as_deref() {
            Some(data) if !data.is_empty() => unserialize_split(data, split.key).ok(),
            _ => Some(Vec::new()),
        })
        .collect();
    let corrupt = decoded.iter().filter(|d| d.is_none()).count();
    let mut decoded = decoded.into_iter();
    let series = reads
        .iter()
        .zip(&wanted)
        .map(|(read, keys)| {
            let keys = keys.as_ref()?;
            let mut points = Vec::new();
            for part in decoded.by_ref().take(keys.len()) {
                points.extend(part.unwrap_or_default());
            }
            if let (Some(timespan), Some(last)) = (read.timespan, points.last().map(|p| p.ts)) {
                let oldest = last.wrapping_sub(timespan);
                points.drain(..search_right(&points, oldest));
            }
            Some(points)
        })
        .collect();
    Ok((series, corrupt))
}
