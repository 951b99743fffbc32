//! Bucketing a sorted series by granularity (upstream's
//! `GroupedTimeSeries`). Only buckets that hold points exist.

use super::series::{search_left, Point};
use super::timestamp::{float_quotient, floor_ts, Calendar, NAT};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// A fixed duration in ns.
    Duration(i64),
    /// A calendar unit; resampling only, and no `rate:` on it.
    Calendar(Calendar),
}

/// Computes upstream's float-rounded bucket of each timestamp of an
/// ascending series. The float formula is monotone in the timestamp, so
/// once two timestamps are known to share a bucket, every timestamp
/// between them does too: a point is compared against that proven range,
/// and the float division runs only for the first point of a bucket.
struct Bucketer {
    granularity: Granularity,
    /// Every timestamp in `lower..=upper` has bucket `key`.
    key: i64,
    lower: i64,
    upper: i64,
    /// The start of the next bucket (a multiple of the granularity), or
    /// `NAT` when unknown.
    next_start: i64,
    /// Below this magnitude, a timestamp that is a multiple of the
    /// granularity is exact in float64, and so is its quotient: its bucket
    /// is itself, with no float arithmetic.
    exact_below: u64,
}

/// Integers up to 2^53 in magnitude convert to f64 exactly.
const EXACT_F64_INT: f64 = 9_007_199_254_740_992.0;

/// Bucket starts and granularities past these stay on the float path, so
/// that the proven ranges can be computed without overflow.
const FAST_PATH_LIMIT: u64 = 1 << 61;

fn exact_in_f64(v: i64) -> bool {
    let magnitude = v.unsigned_abs();
    magnitude == 0 || (magnitude >> magnitude.trailing_zeros()) < (1 << 53)
}

/// See `Bucketer::exact_below`. A multiple `m * ns` has at least the
/// trailing zero bits of `ns`, so it fits 53 significant bits below
/// `2^(53 + tz(ns))`; its quotient `m` is exact below `2^53 * ns`.
fn exact_multiples_below(ns: i64) -> u64 {
    if ns <= 0 || !exact_in_f64(ns) {
        return 0;
    }
    let by_bits = 1u128 << (53 + ns.trailing_zeros()).min(64);
    let by_quotient = (1u128 << 53) * ns as u128;
    by_bits.min(by_quotient).min(FAST_PATH_LIMIT as u128) as u64
}

impl Bucketer {
    fn new(granularity: Granularity) -> Bucketer {
        let exact_below = match granularity {
            Granularity::Duration(ns) => exact_multiples_below(ns),
            Granularity::Calendar(_) => 0,
        };
        Bucketer { granularity, key: NAT, lower: 1, upper: 0, next_start: NAT, exact_below }
    }

    #[inline]
    fn bucket(&mut self, ts: i64) -> i64 {
        if self.lower <= ts && ts <= self.upper {
            return self.key;
        }
        let ns = match self.granularity {
            Granularity::Calendar(unit) => return unit.bucket_start(ts),
            Granularity::Duration(ns) => ns,
        };
        if ts == self.next_start && ts.unsigned_abs() < self.exact_below {
            self.enter(ts, ts, ts, ns);
            return ts;
        }
        let key = floor_ts(ts, ns);
        self.key = key;
        self.lower = ts;
        self.upper = ts;
        self.next_start = NAT;
        if ts != NAT && ns > 0 {
            let q = float_quotient(ts, ns);
            if q.abs() < EXACT_F64_INT {
                if let Some(start) = (q as i64).checked_mul(ns) {
                    self.enter(ts, start, key, ns);
                }
            }
        }
        key
    }

    /// Records that `ts` has bucket `key`, which starts at `start`, and
    /// proves the rest of that bucket's range: a timestamp farther than
    /// `margin` from both ends has a float quotient strictly inside, since
    /// the float error of `ts / ns` stays below `|ts| * 2^-51` in ns.
    #[inline]
    fn enter(&mut self, ts: i64, start: i64, key: i64, ns: i64) {
        self.key = key;
        self.lower = ts;
        self.upper = ts;
        self.next_start = NAT;
        if start.unsigned_abs() >= FAST_PATH_LIMIT || ns as u64 >= FAST_PATH_LIMIT {
            return;
        }
        let margin = ((start.unsigned_abs() + ns as u64) >> 44) as i64 + 1024;
        self.upper = ts.max(start + ns - margin);
        self.next_start = start + ns;
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
        let (derive_from, begin) = Self::window(points, granularity, start)?;
        let owned = points[derive_from..].to_vec();
        Self::from_owned(owned, begin - derive_from, granularity, start)
    }

    /// `new` over points the caller already owns, without copying them
    /// again.
    pub fn from_vec(mut points: Vec<Point>, granularity: Granularity, start: Option<i64>) -> Result<Grouping> {
        let (derive_from, begin) = Self::window(&points, granularity, start)?;
        points.drain(..derive_from);
        Self::from_owned(points, begin - derive_from, granularity, start)
    }

    /// Where the points a grouping keeps begin (one bucket before `start`,
    /// for `derived`) and where its buckets begin.
    fn window(points: &[Point], granularity: Granularity, start: Option<i64>) -> Result<(usize, usize)> {
        if let Some(first) = points.first().filter(|p| p.ts < 0) {
            return Err(Error::BeforeEpoch(first.ts));
        }
        Ok(match start {
            None => (0, 0),
            Some(start) => {
                let begin = search_left(points, start);
                let derive_from = match granularity {
                    Granularity::Duration(g) => search_left(points, start.wrapping_sub(g)).min(begin),
                    Granularity::Calendar(_) => begin,
                };
                (derive_from, begin)
            }
        })
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
        let mut points_in_bucket = 0;
        for p in grouped {
            if bucketer.lower <= p.ts && p.ts <= bucketer.upper {
                points_in_bucket += 1;
                continue;
            }
            let bucket = bucketer.bucket(p.ts);
            match buckets.last() {
                Some(&last) if last == bucket => points_in_bucket += 1,
                Some(&last) if last > bucket => {
                    return Err(Error::InvalidArgument(
                        "timestamps must be sorted to be grouped".into(),
                    ))
                }
                previous => {
                    if previous.is_some() {
                        counts.push(points_in_bucket);
                    }
                    buckets.push(bucket);
                    points_in_bucket = 1;
                }
            }
        }
        if !buckets.is_empty() {
            counts.push(points_in_bucket);
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
        let granularities =
            [1, 7, 1_000, 1 << 20, 333_333_333, 1_000_000_000, 60_000_000_000, 3_600_000_000_000, 86_400_000_000_000 * 365];
        let origins = [1_483_228_800_000_000_000i64, -1_483_228_800_000_000_000, 0, (1 << 53) - 12_345, 4_000_000_000_000_000_123];
        for (ns, origin) in granularities.into_iter().flat_map(|ns| origins.map(|o| (ns, o))) {
            let mut ts = origin - 5 * ns.min(1 << 40);
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
                if ts > i64::MAX / 2 {
                    break;
                }
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
