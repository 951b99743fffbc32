//! The byte layouts of Gnocchi's v3 storage format (column-major payloads,
//! lz4 block framing) and of incoming measure blobs (row-major records).

use super::lz4;
use super::series::Point;
use super::split::SplitKey;
use super::timestamp::f64_to_i64_like_c;
use crate::error::{invalid_data, Error, Result};

/// Leading byte of a compressed split.
pub const COMPRESSED_MARK: u8 = b'c';
/// Bytes per record of a padded split: a presence flag and an f64.
pub const PADDED_RECORD_LEN: usize = 9;
/// Bytes per point of a compressed split payload: a u16 offset and an f64.
pub const COMPRESSED_POINT_LEN: usize = 10;
/// Bytes per point of a raw series payload and of an incoming record.
pub const RAW_POINT_LEN: usize = 16;

/// Padded splits normally hold at most `POINTS_PER_SPLIT` records; a
/// series spread further than this is refused rather than allocated.
const MAX_PADDED_RECORDS: i64 = 1 << 26;

fn f64_at(bytes: &[u8], at: usize) -> f64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    f64::from_le_bytes(b)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

/// Splits a column-major payload of `n` fixed-width stamps followed by f64
/// values, checking its length the way upstream's `frombuffer` calls do.
fn column_count(len: usize, point_len: usize, stamp_len: usize) -> Result<usize> {
    let n = len / point_len;
    let rest = len - n * stamp_len;
    if rest % 8 != 0 {
        return Err(invalid_data(format!("payload of {len} bytes is not whole points")));
    }
    if rest / 8 != n {
        // Upstream raises a plain ValueError here; it is corruption all the
        // same, so callers get the InvalidData they already handle.
        return Err(invalid_data(format!("payload of {len} bytes has {} values for {n} timestamps", rest / 8)));
    }
    Ok(n)
}

/// `BoundTimeSerie.serialize`: first timestamp, then deltas (u64, wrapping),
/// then values, lz4-compressed. An empty series has no encoding.
pub fn serialize_bound(points: &[Point]) -> Result<Vec<u8>> {
    let first = points
        .first()
        .ok_or_else(|| Error::InvalidArgument("cannot serialize an empty series".into()))?;
    let mut payload = Vec::with_capacity(points.len() * RAW_POINT_LEN);
    payload.extend_from_slice(&(first.ts as u64).to_le_bytes());
    for w in points.windows(2) {
        payload.extend_from_slice(&(w[1].ts.wrapping_sub(w[0].ts) as u64).to_le_bytes());
    }
    for p in points {
        payload.extend_from_slice(&p.value.to_le_bytes());
    }
    lz4::compress(&payload)
}

/// Decodes a raw-series payload (already decompressed).
pub fn decode_bound_payload(payload: &[u8]) -> Result<Vec<Point>> {
    let n = column_count(payload.len(), RAW_POINT_LEN, 8)?;
    let mut ts: u64 = 0;
    Ok((0..n)
        .map(|i| {
            ts = ts.wrapping_add(u64_at(payload, 8 * i));
            Point::new(ts as i64, f64_at(payload, 8 * n + 8 * i))
        })
        .collect())
}

/// `BoundTimeSerie.unserialize`.
pub fn unserialize_bound(data: &[u8]) -> Result<Vec<Point>> {
    decode_bound_payload(&lz4::decompress(data)?)
}

/// `AggregatedTimeSerie.serialize(key, compressed=True)`: `'c'` + lz4 of
/// u16 offsets in granularity units (first from the key, then deltas),
/// then values.
pub fn serialize_compressed_split(points: &[Point], key: SplitKey) -> Result<Vec<u8>> {
    if points.is_empty() {
        return Err(Error::InvalidArgument("cannot serialize an empty split".into()));
    }
    let step = key.sampling as f64;
    // Upstream divides in float64 and casts to u16; the cast keeps the low
    // 16 bits of the truncated integer on x86-64. One step is the common
    // gap, and x / x is exactly 1, so it skips the division.
    let offset = |delta: i64| {
        if delta == key.sampling && key.sampling > 0 {
            1
        } else {
            f64_to_i64_like_c(delta as f64 / step) as u16
        }
    };
    let n = points.len();
    let mut payload = vec![0u8; n * COMPRESSED_POINT_LEN];
    let (stamps, values) = payload.split_at_mut(2 * n);
    let mut previous = key.key;
    for (slot, p) in stamps.chunks_exact_mut(2).zip(points) {
        slot.copy_from_slice(&offset(p.ts.wrapping_sub(previous)).to_le_bytes());
        previous = p.ts;
    }
    for (slot, p) in values.chunks_exact_mut(8).zip(points) {
        slot.copy_from_slice(&p.value.to_le_bytes());
    }
    let mut out = Vec::new();
    out.push(COMPRESSED_MARK);
    lz4::compress_into(&payload, &mut out)?;
    Ok(out)
}

/// `AggregatedTimeSerie.serialize(key, compressed=False)`: 9-byte records
/// from the first point to the last; returns the byte offset in the split
/// object at which they belong. As upstream's, the offset is negative when
/// float rounding put the key after the first point (timestamps past 2^53
/// ns at ns granularities); storing that is the driver's concern.
pub fn serialize_padded_split(points: &[Point], key: SplitKey) -> Result<(i64, Vec<u8>)> {
    let (first, last) = match (points.first(), points.last()) {
        (Some(f), Some(l)) => (f.ts, l.ts),
        _ => return Err(Error::InvalidArgument("cannot serialize an empty split".into())),
    };
    let step = key.sampling as f64;
    let slots = f64_to_i64_like_c(last.wrapping_sub(first) as f64 / step).saturating_add(1);
    if !(1..=MAX_PADDED_RECORDS).contains(&slots) {
        return Err(Error::InvalidArgument(format!("a padded split of {slots} records is not storable")));
    }
    let mut data = vec![0u8; slots as usize * PADDED_RECORD_LEN];
    // A delta of exactly `k` steps, both exact in float64, divides to
    // exactly `k`: once a point sits on a whole slot, a point one step
    // further takes the next slot with no division.
    let exact = |v: i64| v.unsigned_abs() < 1 << 53;
    let chained = key.sampling > 0 && exact(key.sampling);
    let (mut next_delta, mut next_slot) = (0i64, 0i64);
    for p in points {
        let delta = p.ts.wrapping_sub(first);
        let on_chain = chained && delta == next_delta && exact(delta);
        let slot = if on_chain { next_slot } else { f64_to_i64_like_c(delta as f64 / step) };
        if on_chain {
            (next_delta, next_slot) = (delta + key.sampling, slot + 1);
        } else if chained && exact(delta) && delta % key.sampling == 0 {
            (next_delta, next_slot) = (delta + key.sampling, delta / key.sampling + 1);
        } else {
            next_delta = i64::MIN;
        }
        if !(0..slots).contains(&slot) {
            return Err(Error::InvalidArgument("split points are not sorted".into()));
        }
        let at = slot as usize * PADDED_RECORD_LEN;
        let record = &mut data[at..at + PADDED_RECORD_LEN];
        record[0] = 1;
        record[1..].copy_from_slice(&p.value.to_le_bytes());
    }
    Ok((padded_split_offset(first, key), data))
}

/// The byte offset in its split object of a padded series whose first
/// point is at `first_ts`: negative when float rounding put the key after
/// that point, and such a series cannot be written at an offset.
pub fn padded_split_offset(first_ts: i64, key: SplitKey) -> i64 {
    let first_slot = f64_to_i64_like_c(first_ts.wrapping_sub(key.key) as f64 / key.sampling as f64);
    first_slot.wrapping_mul(PADDED_RECORD_LEN as i64)
}

/// `AggregatedTimeSerie.unserialize`: either encoding, told apart by the
/// first byte. Empty data is an empty series.
pub fn unserialize_split(data: &[u8], key: SplitKey) -> Result<Vec<Point>> {
    match data.first() {
        None => Ok(Vec::new()),
        Some(&COMPRESSED_MARK) => {
            let payload = lz4::decompress(&data[1..])?;
            let n = column_count(payload.len(), COMPRESSED_POINT_LEN, 2)?;
            let (stamps, values) = payload.split_at(2 * n);
            let mut ts = key.key;
            Ok(stamps
                .chunks_exact(2)
                .zip(values.chunks_exact(8))
                .map(|(steps, value)| {
                    let steps = u16::from_le_bytes([steps[0], steps[1]]) as i64;
                    ts = ts.wrapping_add(steps.wrapping_mul(key.sampling));
                    Point::new(ts, f64_at(value, 0))
                })
                .collect())
        }
        Some(_) => {
            if data.len() % PADDED_RECORD_LEN != 0 {
                return Err(invalid_data(format!("padded split of {} bytes", data.len())));
            }
            let mut points = Vec::with_capacity(data.len() / PADDED_RECORD_LEN);
            let mut ts = key.key;
            for record in data.chunks_exact(PADDED_RECORD_LEN) {
                if record[0] != 0 {
                    points.push(Point::new(ts, f64_at(record, 1)));
                }
                ts = ts.wrapping_add(key.sampling);
            }
            Ok(points)
        }
    }
}

/// Decodes an incoming measure blob: packed 16-byte (i64 ns, f64) records.
pub fn decode_measures(blob: &[u8]) -> Result<Vec<Point>> {
    if blob.len() % RAW_POINT_LEN != 0 {
        return Err(invalid_data(format!("measure blob of {} bytes is not whole records", blob.len())));
    }
    Ok(blob
        .chunks_exact(RAW_POINT_LEN)
        .map(|r| Point::new(u64_at(r, 0) as i64, f64_at(r, 8)))
        .collect())
}

/// Encodes measures as the API stores them for one POST.
pub fn encode_measures(points: &[Point]) -> Vec<u8> {
    let mut out = Vec::with_capacity(points.len() * RAW_POINT_LEN);
    for p in points {
        out.extend_from_slice(&p.ts.to_le_bytes());
        out.extend_from_slice(&p.value.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn series(n: usize) -> Vec<Point> {
        (0..n).map(|i| Point::new(1_500_000_000_000_000_000 + i as i64 * 7_000_000, i as f64 * 0.5)).collect()
    }

    #[test]
    fn bound_round_trip() {
        let pts = series(1000);
        assert_eq!(unserialize_bound(&serialize_bound(&pts).unwrap()).unwrap(), pts);
        assert!(serialize_bound(&[]).is_err());
    }

    #[test]
    fn pre_epoch_round_trips_through_wrapping() {
        let pts = vec![Point::new(-5_000_000_000, 1.0), Point::new(1_000, 2.0)];
        assert_eq!(unserialize_bound(&serialize_bound(&pts).unwrap()).unwrap(), pts);
    }

    #[test]
    fn split_round_trips() {
        let g = 60_000_000_000;
        let key = SplitKey::new(0, g);
        let pts: Vec<Point> = [2i64, 3, 10, 3599].iter().map(|&i| Point::new(i * g, i as f64)).collect();
        let c = serialize_compressed_split(&pts, key).unwrap();
        assert_eq!(c[0], b'c');
        assert_eq!(unserialize_split(&c, key).unwrap(), pts);
        let (offset, padded) = serialize_padded_split(&pts, key).unwrap();
        assert_eq!(offset, 2 * 9);
        let mut object = vec![0u8; offset as usize];
        object.extend_from_slice(&padded);
        assert_eq!(unserialize_split(&object, key).unwrap(), pts);
    }

    #[test]
    fn bad_lengths_are_invalid_data() {
        let key = SplitKey::new(0, 1);
        assert!(matches!(unserialize_split(&[1u8; 10], key), Err(Error::InvalidData(_))));
        assert!(matches!(decode_measures(&[0u8; 17]), Err(Error::InvalidData(_))));
        let not_whole = lz4::compress(&[0u8; 20]).unwrap();
        assert!(matches!(unserialize_bound(&not_whole), Err(Error::InvalidData(_))));
        let extra_values = lz4::compress(&[0u8; 24]).unwrap();
        assert!(matches!(unserialize_bound(&extra_values), Err(Error::InvalidData(_))));
    }

    /// The padded layout computed the plain way, one float division per
    /// point, as upstream does.
    fn padded_by_division(points: &[Point], key: SplitKey) -> Option<Vec<u8>> {
        let first = points.first()?.ts;
        let step = key.sampling as f64;
        let slot_of = |ts: i64| f64_to_i64_like_c(ts.wrapping_sub(first) as f64 / step);
        let slots = slot_of(points.last()?.ts).checked_add(1)?;
        let mut data = vec![0u8; usize::try_from(slots).ok()? * PADDED_RECORD_LEN];
        for p in points {
            let at = usize::try_from(slot_of(p.ts)).ok()? * PADDED_RECORD_LEN;
            data[at] = 1;
            data[at + 1..at + PADDED_RECORD_LEN].copy_from_slice(&p.value.to_le_bytes());
        }
        Some(data)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        #[test]
        fn padded_slots_equal_the_division(
            sampling in prop_oneof![1i64..5_000, Just(1_000_000_000i64), Just(333_333_333i64), (1i64 << 52)..(1i64 << 54)],
            origin in prop_oneof![0i64..1_000_000, Just(1_500_000_000_000_000_000i64), Just((1i64 << 53) - 3)],
            gaps in proptest::collection::vec(prop_oneof![Just(1i64), Just(1), Just(2), 0i64..5], 1..40),
            jitter in proptest::collection::vec(-3i64..3, 40),
        ) {
            let mut ts = origin;
            let mut points = Vec::new();
            for (i, gap) in gaps.iter().enumerate() {
                // Mostly whole steps; now and then a few ns off the grid.
                let off = if i % 7 == 3 { jitter[i] } else { 0 };
                ts = ts.saturating_add(gap.saturating_mul(sampling)).saturating_add(off);
                if points.last().map_or(true, |p: &Point| p.ts < ts) {
                    points.push(Point::new(ts, i as f64));
                }
            }
            let key = SplitKey::new(origin, sampling);
            let expected = padded_by_division(&points, key);
            let got = serialize_padded_split(&points, key).ok().map(|(_, data)| data);
            if got.is_some() {
                prop_assert_eq!(got, expected);
            }
        }

        #[test]
        fn compressed_offsets_equal_the_division(
            sampling in prop_oneof![1i64..5_000, Just(1_000_000_000i64), (1i64 << 52)..(1i64 << 62)],
            deltas in proptest::collection::vec(prop_oneof![Just(1i64), 0i64..4, -2i64..2], 1..30),
        ) {
            let key = SplitKey::new(1_500_000_000_000_000_000, sampling);
            let mut ts = key.key;
            let points: Vec<Point> = deltas.iter().map(|d| {
                ts = ts.wrapping_add(d.wrapping_mul(sampling));
                Point::new(ts, 0.5)
            }).collect();
            let blob = serialize_compressed_split(&points, key).unwrap();
            let payload = lz4::decompress(&blob[1..]).unwrap();
            let mut previous = key.key;
            for (i, p) in points.iter().enumerate() {
                let expected = f64_to_i64_like_c(p.ts.wrapping_sub(previous) as f64 / sampling as f64) as u16;
                prop_assert_eq!(u16::from_le_bytes([payload[2 * i], payload[2 * i + 1]]), expected);
                previous = p.ts;
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn decoders_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = unserialize_bound(&data);
            let _ = unserialize_split(&data, SplitKey::new(0, 1_000_000_000));
            let _ = decode_measures(&data);
            let _ = lz4::decompress(&data);
            let mut c = vec![b'c'];
            c.extend_from_slice(&data);
            let _ = unserialize_split(&c, SplitKey::new(i64::MAX, i64::MAX));
        }

        #[test]
        fn corrupted_valid_blobs_never_panic(flip in 0usize..200, byte in any::<u8>()) {
            let blob = serialize_bound(&series(20)).unwrap();
            let mut bad = blob.clone();
            let at = flip % bad.len();
            bad[at] ^= byte;
            let _ = unserialize_bound(&bad);
            let split = serialize_compressed_split(&series(20)[..1], SplitKey::new(1_500_000_000_000_000_000, 7_000_000)).unwrap();
            let mut bad = split.clone();
            let at = flip % bad.len();
            bad[at] ^= byte;
            let _ = unserialize_split(&bad, SplitKey::new(0, 1));
        }
    }
}
