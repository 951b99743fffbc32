//! Where new measures wait: blobs of 16-byte records written by the API,
//! grouped in sacks, read and deleted by metricd. Sack names are computed
//! by the caller (upstream's `SACK_NAME_FORMAT` may be changed per
//! deployment or per test); backends only read and write them.

pub mod arrival;
pub mod ceph;
pub mod file;
pub mod redis;

use crate::carbonara::codec::decode_measures;
use crate::carbonara::Point;
use crate::error::Result;
use crate::storage::MetricId;

/// Measures read from incoming, and what to delete once they are stored.
#[derive(Debug, Default)]
pub struct Pending {
    pub metrics: Vec<(MetricId, Vec<Point>)>,
    pub receipt: Receipt,
    /// Blobs that could not be decoded: `(where, why)`. They are moved out
    /// of the way (file) or trimmed with the rest (Redis), never retried.
    pub corrupt: Vec<(String, String)>,
}

/// What a backend needs to delete exactly the measures it handed out,
/// and none that arrived since.
#[derive(Debug, Default)]
pub enum Receipt {
    #[default]
    Nothing,
    Files(Vec<file::MetricFiles>),
    RedisLists(Vec<(Vec<u8>, i64)>),
    /// Omap keys read from each sack object.
    OmapKeys(Vec<(String, Vec<Vec<u8>>)>),
}

/// What waits in one sack.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SackPending {
    pub blobs: u64,
    /// Unix time the oldest blob arrived, where names keep it (file,
    /// Ceph; Redis lists do not).
    pub oldest: Option<i64>,
}

impl SackPending {
    fn count(&mut self, arrival: Option<i64>) {
        self.blobs += 1;
        if let Some(t) = arrival {
            self.oldest = Some(self.oldest.map_or(t, |o| o.min(t)));
        }
    }
}

/// One new blob: its sack, its metric, the encoded records.
pub struct NewMeasures<'a> {
    pub sack: &'a str,
    pub metric: MetricId,
    pub blob: &'a [u8],
}

pub trait Incoming: Send + Sync {
    fn add_measures_batch(&self, batch: &[NewMeasures<'_>], notify: bool) -> Result<()>;

    /// Every metric with measures in the sack.
    fn read_sack(&self, sack: &str) -> Result<Pending>;

    /// The measures of some metrics, each in its sack.
    fn read_metrics(&self, metrics: &[(&str, MetricId)]) -> Result<Pending>;

    /// Deletes what `read_*` handed out; call only after storing succeeded.
    fn delete_processed(&self, receipt: &Receipt) -> Result<()>;

    fn has_unprocessed(&self, sack: &str, metric: MetricId) -> Result<bool>;

    fn delete_unprocessed(&self, sack: &str, metric: MetricId) -> Result<()>;

    /// Number of pending blobs per metric over the given sacks.
    fn report(&self, sacks: &[String]) -> Result<Vec<(MetricId, usize)>>;

    /// What waits in each of the sacks, in their order, in one walk (one
    /// round trip where the backend allows).
    fn backlog(&self, sacks: &[String]) -> Result<Vec<SackPending>>;

    /// Which of the sacks hold measures, in one round trip; for backends
    /// with no push notification of new measures.
    fn sacks_with_measures(&self, _sacks: &[String]) -> Result<Vec<bool>> {
        Err(crate::Error::InvalidArgument("this incoming backend has no sack polling".into()))
    }
}

/// Decodes concatenated blobs; a blob that is not whole records is
/// reported instead of failing the sack (upstream raises and the sack is
/// retried for ever).
pub(crate) fn decode_into(points: &mut Vec<Point>, blob: &[u8], origin: impl FnOnce() -> String, corrupt: &mut Vec<(String, String)>) -> bool {
    match decode_measures(blob) {
        Ok(mut decoded) => {
            points.append(&mut decoded);
            true
        }
        Err(e) => {
            corrupt.push((origin(), e.to_string()));
            false
        }
    }
}

/// 16 random bytes as a version-4 UUID string, for measure file names.
pub(crate) fn random_uuid4(random: &mut impl std::io::Read) -> std::io::Result<String> {
    let mut bytes = [0u8; 16];
    random.read_exact(&mut bytes)?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Ok(MetricId::from_bytes(bytes).hyphenated())
}
