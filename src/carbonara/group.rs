//! Bucketing a sorted series by granularity (upstream's
//! `GroupedTimeSeries`). Only buckets that hold points exist.

use super::series::{search_left, Point};
use super::timestamp::{float_quotient, floor_ts, key_of_quotient, Calendar, NAT};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// A fixed duration in ns.
    Duration(i64),
    /// A calendar unit; resampling only, and no `rate:` on it.
    Calendar(Calendar),
}

/// Computes upstream's float-rounded bucket of each timestamp of an
/// ascending series. The float division is skipped whenever integer
/// arithmetic proves its result: for a point well inside the current or
/// the next bucket (farther from a boundary than any float error), or
/// exactly on a boundary where every operand is exact in float64.
struct Bucketer {
    granularity: Granularity,
    /// (bucket number as upstream's float, its exact start q*ns, its key)
    current: Option<(f64, i128, i64)>,
}

/// Integers up to 2^53 in magnitude convert to f64 exactly.
const EXACT_F64_INT: f64 = 9_007_199_254_740_992.0;

fn exact_in_f64(v: i64) -> bool {
    let magnitude = v.unsigned_abs();
    magnitude == 0 || (magnitude >> magnitude.trailing_zeros()) < (1 << 53)
}

impl Bucketer {
    fn new(granularity: Granularity) -> Bucketer {
        Bucketer { granularity, current: None }
    }

    #[inline]
    fn bucket(&mut self, ts: i64) -> i64 {
        let ns = match self.granularity {
            Granularity::Calendar(unit) => return unit.bucket_start(ts),
            Granularity::Duration(ns) => ns,
        };
        if let Some((q, start, key)) = self.current {
            // Float error on ts/ns stays far below ts * 2^-50; keep wider.
            let margin = (ts.unsigned_abs() >> 44) as i128 + 1024;
            let span = ns as i128;
            let provably_in = |offset: i128, q: f64| {
                (margin <= offset && offset <= span - margin)
                    || (offset == 0 && q.abs() < EXACT_F64_INT && exact_in_f64(ts) && exact_in_f64(ns))
            };
            let offset = ts as i128 - start;
            if provably_in(offset, q) {
                return key;
            }
            if provably_in(offset - span, q + 1.0) {
                let next = (q + 1.0, start + span, key_of_quotient(q + 1.0, ns));
                self.current = Some(next);
                return next.2;
            }
        }
        if ts == NAT || ns <= 0 {
            self.current = None;
            return floor_ts(ts, ns);
        }
        let q = float_quotient(ts, ns);
        let key = key_of_quotient(q, ns);
        self.current = (q.abs() < EXACT_F64_INT).then(|| (q, q as i64 as i128 * ns as i128, key));
        key
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
        let mut bucketer = Bucketer::new(granularity);
        for p in grouped {
            let bucket = bucketer.bucket(p.ts);
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
    fn fast_bucketing_agrees_with_the_float_formula() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for ns in [1, 7, 1_000, 333_333_333, 1_000_000_000, 60_000_000_000, 3_600_000_000_000, 86_400_000_000_000 * 365] {
            let mut ts = 1_483_228_800_000_000_000i64 - 5 * ns.min(1 << 40);
            let mut bucketer = Bucketer::new(Granularity::Duration(ns));
            for _ in 0..20_000 {
                // Mix exact boundaries, near-boundary points and jumps.
                ts += match next() % 4 {
                    0 => ns - (ts.rem_euclid(ns)),
                    1 => ns - (ts.rem_euclid(ns)) - (next() % 300) as i64,
                    2 => (next() % 1000) as i64 + 1,
                    _ => (next() % (3 * ns as u64).max(1)) as i64,
                }
                .max(0);
                assert_eq!(bucketer.bucket(ts), floor_ts(ts, ns), "ts={ts} ns={ns}");
            }
        }
    }

    #[test]
    fn unsorted_input_is_an_error_not_a_panic() {
        let points = vec![Point::new(100, 1.0), Point::new(0, 2.0)];
        assert!(Grouping::new(&points, Granularity::Duration(10), None).is_err());
    }
}
