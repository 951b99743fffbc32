//! Bucketing a sorted series by granularity (upstream's
//! `GroupedTimeSeries`). Only buckets that hold points exist.

use super::series::{search_left, Point};
use super::timestamp::{floor_ts, Calendar, NAT};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// A fixed duration in ns.
    Duration(i64),
    /// A calendar unit; resampling only, and no `rate:` on it.
    Calendar(Calendar),
}

impl Granularity {
    #[inline]
    fn bucket(self, ts: i64) -> i64 {
        match self {
            Granularity::Duration(ns) => floor_ts(ts, ns),
            Granularity::Calendar(unit) => unit.bucket_start(ts),
        }
    }

    /// A timestamp below which every timestamp `>= ts` still rounds to
    /// `bucket`. The float rounding can only move a point across a bucket
    /// boundary when it lies within a few ulps of it, so the bound stays
    /// that far (with a wide margin) before the next integer boundary.
    #[inline]
    fn certainly_same_bucket_until(self, ts: i64, bucket: i64) -> i64 {
        match self {
            Granularity::Duration(ns) if ns > 0 && bucket != NAT => {
                let margin = (ts.unsigned_abs() >> 44) as i128 + 1024;
                let until = bucket as i128 + ns as i128 - margin;
                until.clamp(i64::MIN as i128, i64::MAX as i128) as i64
            }
            // Calendar buckets are cheap to compute and never reused.
            _ => i64::MIN,
        }
    }
}

fn estimated_buckets(points: &[Point], granularity: Granularity) -> usize {
    match (granularity, points.first(), points.last()) {
        (Granularity::Duration(ns), Some(first), Some(last)) if ns > 0 => {
            let span = (last.ts as i128 - first.ts as i128) / ns as i128 + 2;
            span.clamp(0, points.len() as i128) as usize
        }
        _ => 0,
    }
}

/// A series cut into buckets. `points[begin..]` is the grouped part;
/// `points[..begin]` holds the earlier points that `rate:` methods need to
/// difference the first grouped point against.
#[derive(Debug, Clone)]
pub struct Grouping {
    points: Vec<Point>,
    begin: usize,
    granularity: Granularity,
    start: Option<i64>,
    buckets: Vec<i64>,
    counts: Vec<usize>,
}

impl Grouping {
    /// Groups `points` (sorted, no duplicate timestamps) from `start` on.
    /// Stored formats count from the epoch, so a series starting before it
    /// cannot be grouped (`BeforeEpochError`).
    pub fn new(points: &[Point], granularity: Granularity, start: Option<i64>) -> Result<Grouping> {
        if let Some(first) = points.first().filter(|p| p.ts < 0) {
            return Err(Error::BeforeEpoch(first.ts));
        }
        let (derive_from, begin) = match start {
            None => (0, 0),
            Some(start) => {
                let begin = search_left(points, start);
                let derive_from = match granularity {
                    Granularity::Duration(g) => search_left(points, start.wrapping_sub(g)).min(begin),
                    Granularity::Calendar(_) => begin,
                };
                (derive_from, begin)
            }
        };
        let owned = points[derive_from..].to_vec();
        Self::from_owned(owned, begin - derive_from, granularity, start)
    }

    fn from_owned(
        points: Vec<Point>,
        begin: usize,
        granularity: Granularity,
        start: Option<i64>,
    ) -> Result<Grouping> {
        let grouped = &points[begin..];
        let mut buckets: Vec<i64> = Vec::with_capacity(estimated_buckets(grouped, granularity));
        let mut counts: Vec<usize> = Vec::with_capacity(buckets.capacity());
        // Points below `same_bucket_until` are known to fall in the last
        // bucket without recomputing the (float) rounding.
        let mut same_bucket_until = i64::MIN;
        let mut previous = i64::MIN;
        for p in grouped {
            let in_order = p.ts >= previous;
            previous = p.ts;
            if in_order && p.ts < same_bucket_until {
                if let Some(c) = counts.last_mut() {
                    *c += 1;
                }
                continue;
            }
            let bucket = granularity.bucket(p.ts);
            same_bucket_until = granularity.certainly_same_bucket_until(p.ts, bucket);
            match buckets.last() {
                Some(&last) if last == bucket => {
                    if let Some(c) = counts.last_mut() {
                        *c += 1;
                    }
                }
                Some(&last) if last > bucket => {
                    return Err(Error::InvalidArgument(
                        "timestamps must be sorted to be grouped".into(),
                    ))
                }
                _ => {
                    buckets.push(bucket);
                    counts.push(1);
                }
            }
        }
        Ok(Grouping { points, begin, granularity, start, buckets, counts })
    }

    pub fn granularity(&self) -> Granularity {
        self.granularity
    }

    /// Bucket start timestamps, ascending.
    pub fn buckets(&self) -> &[i64] {
        &self.buckets
    }

    /// Number of points in each bucket.
    pub fn counts(&self) -> &[usize] {
        &self.counts
    }

    /// The grouped points.
    pub fn points(&self) -> &[Point] {
        &self.points[self.begin..]
    }

    /// Iterates `(bucket start, position of its first point, its points)`.
    pub fn iter_buckets(&self) -> impl Iterator<Item = (i64, usize, &[Point])> + '_ {
        let grouped = self.points();
        let mut offset = 0;
        self.buckets.iter().zip(&self.counts).map(move |(&bucket, &count)| {
            let at = offset;
            offset += count;
            (bucket, at, &grouped[at..at + count])
        })
    }

    /// The grouping of the first differences, as `rate:` methods use it:
    /// each point minus its predecessor, stamped with its own timestamp,
    /// looking back one granularity before `start` for that predecessor.
    pub fn derived(&self) -> Result<Grouping> {
        if let Granularity::Calendar(_) = self.granularity {
            return Err(Error::CannotDeriveCalendar);
        }
        let diffs: Vec<Point> = self
            .points
            .windows(2)
            .map(|w| Point::new(w[1].ts, w[1].value - w[0].value))
            .collect();
        Grouping::new(&diffs, self.granularity, self.start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_and_counts() {
        let s = 1_000_000_000;
        let points: Vec<Point> =
            [0, 1, 59, 60, 61, 300].iter().map(|&t| Point::new(t * s, t as f64)).collect();
        let g = Grouping::new(&points, Granularity::Duration(60 * s), None).unwrap();
        assert_eq!(g.buckets(), &[0, 60 * s, 300 * s]);
        assert_eq!(g.counts(), &[3, 2, 1]);
        let g = Grouping::new(&points, Granularity::Duration(60 * s), Some(60 * s)).unwrap();
        assert_eq!(g.buckets(), &[60 * s, 300 * s]);
        let d = g.derived().unwrap();
        // The difference at 60 s uses the point at 59 s, one minute back.
        assert_eq!(d.points()[0], Point::new(60 * s, 1.0));
    }

    #[test]
    fn unsorted_input_is_an_error_not_a_panic() {
        let points = vec![Point::new(100, 1.0), Point::new(0, 2.0)];
        assert!(Grouping::new(&points, Granularity::Duration(10), None).is_err());
    }
}
