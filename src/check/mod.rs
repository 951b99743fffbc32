//! `gnocchi-rs check`'s judgement of stored blobs, pure: each blob decoded
//! as what its name says it is, and what a sound one must satisfy.
//!
//! Upstream's formats carry no checksum: a flipped bit inside a value
//! decodes to another value, and nothing can tell. What can be told is
//! told: blobs that do not decode (truncated, a broken lz4 block, a padded
//! record whose flag is neither 0 nor 1), points out of order, points
//! outside their split's span, timestamps outside any plausible time.

pub mod file_tree;

use crate::carbonara::codec;
use crate::carbonara::{Point, SplitKey};
use rayon::prelude::*;

/// What a blob is, by its name.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A metric's raw series (`none_v3`).
    Raw,
    /// An aggregate split, at its key.
    Split(SplitKey),
    /// A blob of incoming measures.
    Measures,
}

/// The judgement of one blob.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Why the blob is unsound, or None.
    pub problem: Option<String>,
    pub points: usize,
    /// First and last timestamps (ns) of a sound, non-empty blob.
    pub first: Option<i64>,
    pub last: Option<i64>,
}

/// Latest plausible timestamp: 2262, the end of datetime64[ns].
const LATEST: i64 = i64::MAX - 1;

pub fn inspect(kind: Kind, data: &[u8]) -> Verdict {
    let decoded = match kind {
        Kind::Raw => codec::unserialize_bound(data).map_err(|e| e.to_string()),
        Kind::Split(key) => codec::unserialize_split(data, key).map_err(|e| e.to_string()).and_then(|points| {
            padded_flags_sound(data)?;
            Ok(points)
        }),
        Kind::Measures => codec::decode_measures(data).map_err(|e| e.to_string()),
    };
    let points = match decoded {
        Ok(points) => points,
        Err(why) => return unsound(format!("undecodable: {why}"), 0),
    };
    let problem = match kind {
        Kind::Raw => ordered(&points, false).err(),
        Kind::Split(key) => ordered(&points, true).and_then(|()| within_split(&points, key)).err(),
        // Incoming measures come in any order: only their times are checked.
        Kind::Measures => plausible(&points).err(),
    }
    .or_else(|| plausible(&points).err());
    match problem {
        Some(why) => unsound(why, points.len()),
        None => Verdict {
            problem: None,
            points: points.len(),
            first: points.iter().map(|p| p.ts).min(),
            last: points.iter().map(|p| p.ts).max(),
        },
    }
}

/// Every blob judged, in parallel.
pub fn inspect_all(blobs: &[(Kind, &[u8])]) -> Vec<Verdict> {
    blobs.par_iter().map(|(kind, data)| inspect(*kind, data)).collect()
}

fn unsound(why: String, points: usize) -> Verdict {
    Verdict { problem: Some(why), points, first: None, last: None }
}

/// A padded (uncompressed) split is whole 9-byte records, each flagged 0
/// (no point) or 1; the decoder reads any non-zero flag as a point.
fn padded_flags_sound(data: &[u8]) -> Result<(), String> {
    if data.first().is_none_or(|&b| b == b'c') {
        return Ok(());
    }
    match data.chunks_exact(9).position(|record| record[0] > 1) {
        Some(at) => Err(format!("padded record {at} flagged {}", data[at * 9])),
        None => Ok(()),
    }
}

fn ordered(points: &[Point], strictly: bool) -> Result<(), String> {
    match points.windows(2).position(|w| if strictly { w[1].ts <= w[0].ts } else { w[1].ts < w[0].ts }) {
        Some(at) => Err(format!("points out of order at {}", at + 1)),
        None => Ok(()),
    }
}

fn within_split(points: &[Point], key: SplitKey) -> Result<(), String> {
    let end = key.key.saturating_add(SplitKey::span(key.sampling));
    match points.iter().position(|p| p.ts < key.key || p.ts >= end) {
        Some(at) => Err(format!("point {at} outside the split's span")),
        None => Ok(()),
    }
}

fn plausible(points: &[Point]) -> Result<(), String> {
    match points.iter().position(|p| p.ts < 0 || p.ts > LATEST) {
        Some(at) => Err(format!("point {at} before 1970")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::carbonara::codec::{encode_measures, serialize_bound, serialize_compressed_split, serialize_padded_split};

    const MINUTE: i64 = 60_000_000_000;

    fn points(n: i64) -> Vec<Point> {
        (0..n).map(|i| Point::new(1_796_637_600_000_000_000 + i * MINUTE, i as f64)).collect()
    }

    fn key() -> SplitKey {
        SplitKey::from_timestamp_and_sampling(1_796_637_600_000_000_000, MINUTE)
    }

    #[test]
    fn sound_blobs_pass() {
        let raw = serialize_bound(&points(100)).unwrap();
        let verdict = inspect(Kind::Raw, &raw);
        assert_eq!(verdict.problem, None);
        assert_eq!(verdict.points, 100);
        let split = serialize_compressed_split(&points(100), key()).unwrap();
        assert_eq!(inspect(Kind::Split(key()), &split).problem, None);
        let (_, padded) = serialize_padded_split(&points(100), key()).unwrap();
        assert_eq!(inspect(Kind::Split(key()), &padded).problem, None);
        assert_eq!(inspect(Kind::Measures, &encode_measures(&points(3))).problem, None);
    }

    #[test]
    fn truncated_blobs_are_found() {
        let raw = serialize_bound(&points(100)).unwrap();
        let split = serialize_compressed_split(&points(100), key()).unwrap();
        let (_, padded) = serialize_padded_split(&points(100), key()).unwrap();
        let measures = encode_measures(&points(3));
        for cut in [1usize, 7, 20] {
            assert!(inspect(Kind::Raw, &raw[..raw.len() - cut]).problem.is_some(), "raw cut {cut}");
            assert!(inspect(Kind::Split(key()), &split[..split.len() - cut]).problem.is_some(), "split cut {cut}");
            assert!(inspect(Kind::Split(key()), &padded[..padded.len() - cut]).problem.is_some(), "padded cut {cut}");
            assert!(inspect(Kind::Measures, &measures[..measures.len() - cut]).problem.is_some(), "measures cut {cut}");
        }
    }

    #[test]
    fn a_padded_record_with_a_bad_flag_is_found() {
        let (_, mut padded) = serialize_padded_split(&points(100), key()).unwrap();
        padded[9] = 7;
        assert!(inspect(Kind::Split(key()), &padded).problem.unwrap().contains("flagged 7"));
    }

    #[test]
    fn a_compressed_split_reaching_past_its_span_is_found() {
        let mut far = points(2);
        far[1].ts = key().key + SplitKey::span(MINUTE) - MINUTE;
        let split = serialize_compressed_split(&far, key()).unwrap();
        assert_eq!(inspect(Kind::Split(key()), &split).problem, None);
        let mut payload = crate::carbonara::lz4::decompress(&split[1..]).unwrap();
        payload[2] = 0xff; // the second offset: 65535 + steps
        payload[3] = 0xff;
        let mut broken = vec![b'c'];
        broken.extend(crate::carbonara::lz4::compress(&payload).unwrap());
        assert!(inspect(Kind::Split(key()), &broken).problem.unwrap().contains("outside"));
    }

    #[test]
    fn raw_points_out_of_order_are_found() {
        let mut shuffled = points(10);
        shuffled.swap(3, 4);
        // serialize_bound stores deltas; out-of-order points wrap around.
        let raw = serialize_bound(&shuffled).unwrap();
        assert!(inspect(Kind::Raw, &raw).problem.is_some());
    }

    #[test]
    fn many_blobs_are_judged_in_order() {
        let raw = serialize_bound(&points(10)).unwrap();
        let blobs: Vec<(Kind, &[u8])> = vec![(Kind::Raw, &raw), (Kind::Raw, &raw[..3]), (Kind::Measures, b"12345678")];
        let verdicts = inspect_all(&blobs);
        assert_eq!(verdicts.iter().map(|v| v.problem.is_some()).collect::<Vec<_>>(), vec![false, true, true]);
    }
}
