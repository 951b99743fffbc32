//! Bucketing a sorted series by granularity (upstream's
//! `GroupedTimeSeries`). Only buckets that hold points exist.

use super::series::{search_left, Point};
use super::timestamp::{floor_ts, Calendar};
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
    pub fn new(points: &[Point], granularity: Granularity, start: Option<i64>) -> Result<Grouping> {
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
        let mut buckets: Vec<i64> = Vec::new();
        let mut counts: Vec<usize> = Vec::new();
        for p in &points[begin..] {
            let bucket = granularity.bucket(p.ts);
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
