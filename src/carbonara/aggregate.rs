//! The aggregation methods upstream stores, with its exact arithmetic:
//! sequential left-to-right sums, NaN-last sorts, ddof=1 std, and the
//! percentile interpolation of `GroupedTimeSeries.quantile`.

use super::group::Grouping;
use super::series::{cmp_nan_last, Point};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reducer {
    Mean,
    Sum,
    Last,
    Max,
    Min,
    Std,
    Median,
    First,
    Count,
    /// `Npct`, with N as a float (1..=99).
    Percentile(f64),
}

/// A stored aggregation method: a reducer, optionally applied to the first
/// differences (`rate:`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Method {
    pub rate: bool,
    pub reducer: Reducer,
}

impl Reducer {
    pub fn parse(name: &str) -> Result<Reducer> {
        if let Some(q) = parse_percentile(name) {
            return Ok(Reducer::Percentile(q));
        }
        Ok(match name {
            "mean" => Reducer::Mean,
            "sum" => Reducer::Sum,
            "last" => Reducer::Last,
            "max" => Reducer::Max,
            "min" => Reducer::Min,
            "std" => Reducer::Std,
            "median" => Reducer::Median,
            "first" => Reducer::First,
            "count" => Reducer::Count,
            _ => return Err(Error::UnknownAggregationMethod(name.to_string())),
        })
    }
}

/// Upstream matches `([1-9][0-9]?)pct` at the start of the name only, so
/// `95pctx` is the 95th percentile too.
fn parse_percentile(name: &str) -> Option<f64> {
    let b = name.as_bytes();
    let digit = |i: usize| b.get(i).filter(|c| c.is_ascii_digit()).map(|c| (c - b'0') as u32);
    let first = digit(0).filter(|&d| d != 0)?;
    if let Some(second) = digit(1) {
        if b.get(2..5) == Some(b"pct") {
            return Some((first * 10 + second) as f64);
        }
    }
    if b.get(1..4) == Some(b"pct") {
        return Some(first as f64);
    }
    None
}

impl Method {
    pub fn parse(name: &str) -> Result<Method> {
        match name.strip_prefix("rate:") {
            Some(inner) => Ok(Method { rate: true, reducer: Reducer::parse(inner)? }),
            None => Ok(Method { rate: false, reducer: Reducer::parse(name)? }),
        }
    }
}

/// Buckets processed side by side: each bucket's sum stays one
/// left-to-right chain (so the bits are upstream's), but independent
/// chains keep the adders busy where one would wait on each addition.
const LANES: usize = 8;

/// `fold(bucket, acc, point)` folded over every bucket from `init(bucket)`,
/// point by point in time order, `LANES` buckets at a time.
#[inline(always)]
fn fold_buckets(
    grouping: &Grouping,
    init: impl Fn(usize) -> f64,
    fold: impl Fn(usize, f64, &Point) -> f64,
) -> Vec<f64> {
    let counts = grouping.counts();
    let points = grouping.points();
    let mut out = Vec::with_capacity(counts.len());
    let mut start = 0;
    let mut bucket = 0;
    while bucket + LANES <= counts.len() {
        let mut slices: [&[Point]; LANES] = [&[]; LANES];
        for (lane, slice) in slices.iter_mut().enumerate() {
            let count = counts[bucket + lane];
            *slice = &points[start..start + count];
            start += count;
        }
        let mut acc: [f64; LANES] = std::array::from_fn(|lane| init(bucket + lane));
        let common = slices.iter().map(|s| s.len()).min().unwrap_or(0);
        let heads: [&[Point]; LANES] = std::array::from_fn(|lane| &slices[lane][..common]);
        for i in 0..common {
            for lane in 0..LANES {
                acc[lane] = fold(bucket + lane, acc[lane], &heads[lane][i]);
            }
        }
        for lane in 0..LANES {
            for p in &slices[lane][common..] {
                acc[lane] = fold(bucket + lane, acc[lane], p);
            }
        }
        out.extend_from_slice(&acc);
        bucket += LANES;
    }
    for &count in &counts[bucket..] {
        let acc = points[start..start + count].iter().fold(init(bucket), |acc, p| fold(bucket, acc, p));
        out.push(acc);
        start += count;
        bucket += 1;
    }
    out
}

/// The sequential sum of each bucket.
fn bucket_sums(grouping: &Grouping) -> Vec<f64> {
    fold_buckets(grouping, |_| 0.0, |_, acc, p| acc + p.value)
}

/// Upstream's ddof=1 standard deviation of each bucket of two points or
/// more (NaN elsewhere; the caller drops those buckets).
fn bucket_stds(grouping: &Grouping) -> Vec<f64> {
    let counts = grouping.counts();
    let means: Vec<f64> = bucket_sums(grouping).iter().zip(counts).map(|(sum, &n)| sum / n as f64).collect();
    let squares = fold_buckets(
        grouping,
        |_| 0.0,
        |bucket, acc, p| {
            let d = p.value - means[bucket];
            acc + d * d
        },
    );
    squares.iter().zip(counts).map(|(squares, &n)| (squares / (n as f64 - 1.0)).sqrt()).collect()
}

/// The least value in the NaN-last order, the first one among equals.
fn min_value(points: &[Point]) -> f64 {
    if let Some(least) = unambiguous_extreme(points, f64::INFINITY, |v, best| v < best) {
        return least;
    }
    let mut best = points[0].value;
    for p in &points[1..] {
        if cmp_nan_last(p.value, best).is_lt() {
            best = p.value;
        }
    }
    best
}

/// The greatest value in the NaN-last order, the last one among equals.
fn max_value(points: &[Point]) -> f64 {
    if let Some(greatest) = unambiguous_extreme(points, f64::NEG_INFINITY, |v, best| v > best) {
        return greatest;
    }
    let mut best = points[0].value;
    for p in &points[1..] {
        if !cmp_nan_last(p.value, best).is_lt() {
            best = p.value;
        }
    }
    best
}

/// The extreme of a long bucket by plain comparisons over independent
/// lanes, when that is the answer of the sequential NaN-last rule: with no
/// NaN, and an extreme other than zero, every value equal to the extreme
/// has its bits, so which one wins a tie does not matter. `None` asks for
/// the sequential rule (NaNs, a zero extreme whose sign depends on order,
/// or a short bucket).
#[inline(always)]
fn unambiguous_extreme(points: &[Point], identity: f64, better: impl Fn(f64, f64) -> bool) -> Option<f64> {
    if points.len() < 2 * LANES {
        return None;
    }
    let mut lanes = [identity; LANES];
    let mut nan = false;
    let chunks = points.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (lane, p) in lanes.iter_mut().zip(chunk) {
            let v = p.value;
            nan |= v.is_nan();
            *lane = if better(v, *lane) { v } else { *lane };
        }
    }
    for p in tail {
        nan |= p.value.is_nan();
        lanes[0] = if better(p.value, lanes[0]) { p.value } else { lanes[0] };
    }
    let extreme = lanes.iter().fold(identity, |best, &v| if better(v, best) { v } else { best });
    (!nan && extreme != 0.0).then_some(extreme)
}

/// Stable, as upstream's `lexsort`: among equal values (+0.0 and -0.0,
/// NaNs) time order decides which one lands at the median position.
fn sorted_values(points: &[Point], scratch: &mut Vec<f64>) {
    scratch.clear();
    scratch.extend(points.iter().map(|p| p.value));
    scratch.sort_by(|a, b| cmp_nan_last(*a, *b));
}

fn median_value(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    let half = n / 2;
    (sorted[n - 1 - half] + sorted[half]) / 2.0
}

/// `at` is the bucket's position in the grouped series: upstream computes
/// the interpolation position in absolute terms, and its rounding depends
/// on it.
fn percentile_value(sorted: &[f64], at: usize, q: f64) -> f64 {
    let n = sorted.len();
    let real_pos = at as f64 + (n - 1) as f64 * (q / 100.0);
    let floor_pos = real_pos.floor();
    let ceil_pos = real_pos.ceil();
    let local = |pos: f64| (pos as usize).saturating_sub(at).min(n - 1);
    let (lo, hi) = (sorted[local(floor_pos)], sorted[local(ceil_pos)]);
    if floor_pos == ceil_pos {
        lo
    } else {
        lo * (ceil_pos - real_pos) + hi * (real_pos - floor_pos)
    }
}

/// Runs `value_of(points, position)` on every bucket; `None` omits the
/// bucket. Generic so that each reducer gets its own tight loop.
#[inline(always)]
fn per_bucket(grouping: &Grouping, mut value_of: impl FnMut(&[Point], usize) -> Option<f64>) -> Vec<Point> {
    let mut out = Vec::with_capacity(grouping.buckets().len());
    let mut rest = grouping.points();
    let mut at = 0;
    for (&bucket, &count) in grouping.buckets().iter().zip(grouping.counts()) {
        let (points, tail) = rest.split_at(count);
        rest = tail;
        if let Some(value) = value_of(points, at) {
            out.push(Point::new(bucket, value));
        }
        at += count;
    }
    out
}

/// Pairs each bucket with its computed value.
fn with_buckets(grouping: &Grouping, values: Vec<f64>) -> Vec<Point> {
    grouping.buckets().iter().zip(values).map(|(&bucket, value)| Point::new(bucket, value)).collect()
}

/// `value_of` applied to the single point of each bucket.
#[inline(always)]
fn map_points(grouping: &Grouping, value_of: impl Fn(f64) -> f64) -> Vec<Point> {
    grouping.buckets().iter().zip(grouping.points()).map(|(&bucket, p)| Point::new(bucket, value_of(p.value))).collect()
}

/// One point per bucket (a series at its own granularity, as the finest
/// archive of a policy usually is): most methods are then a map over the
/// points. `None` for the methods that still need the general path.
fn reduce_singletons(grouping: &Grouping, reducer: Reducer) -> Option<Vec<Point>> {
    Some(match reducer {
        // 0.0 + v, as a sum from +0.0 (a -0.0 becomes +0.0); / 1 is exact.
        Reducer::Mean | Reducer::Sum => map_points(grouping, |v| 0.0 + v),
        Reducer::Count => map_points(grouping, |_| 1.0),
        Reducer::First | Reducer::Last | Reducer::Min | Reducer::Max => map_points(grouping, |v| v),
        Reducer::Std => Vec::new(),
        Reducer::Median | Reducer::Percentile(_) => return None,
    })
}

/// Applies `reducer` to every bucket of `grouping`.
pub fn reduce(grouping: &Grouping, reducer: Reducer) -> Vec<Point> {
    if grouping.points().len() == grouping.buckets().len() {
        if let Some(points) = reduce_singletons(grouping, reducer) {
            return points;
        }
    }
    let mut scratch = Vec::new();
    match reducer {
        Reducer::Mean => {
            let sums = bucket_sums(grouping);
            let means = sums.iter().zip(grouping.counts()).map(|(sum, &n)| sum / n as f64).collect();
            with_buckets(grouping, means)
        }
        Reducer::Sum => with_buckets(grouping, bucket_sums(grouping)),
        Reducer::Count => per_bucket(grouping, |p, _| Some(p.len() as f64)),
        Reducer::First => per_bucket(grouping, |p, _| Some(p[0].value)),
        Reducer::Last => per_bucket(grouping, |p, _| Some(p[p.len() - 1].value)),
        Reducer::Min => per_bucket(grouping, |p, _| Some(min_value(p))),
        Reducer::Max => per_bucket(grouping, |p, _| Some(max_value(p))),
        // A single point has no sample deviation: no point at all. A NaN
        // deviation from NaN data is a value, so single points are told
        // apart by count, not by the result.
        Reducer::Std => {
            let stds = bucket_stds(grouping);
            grouping
                .buckets()
                .iter()
                .zip(grouping.counts())
                .zip(stds)
                .filter(|((_, &n), _)| n > 1)
                .map(|((&bucket, _), std)| Point::new(bucket, std))
                .collect()
        }
        Reducer::Median => per_bucket(grouping, |p, _| {
            sorted_values(p, &mut scratch);
            Some(median_value(&scratch))
        }),
        Reducer::Percentile(q) => per_bucket(grouping, |p, at| {
            sorted_values(p, &mut scratch);
            Some(percentile_value(&scratch, at, q))
        }),
    }
}

/// Aggregates a grouping with a stored method (`rate:` included).
pub fn aggregate(grouping: &Grouping, method: Method) -> Result<Vec<Point>> {
    if method.rate {
        Ok(reduce(&grouping.derived()?, method.reducer))
    } else {
        Ok(reduce(grouping, method.reducer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::carbonara::group::Granularity;

    fn grouping(values: &[f64]) -> Grouping {
        let points: Vec<Point> =
            values.iter().enumerate().map(|(i, &v)| Point::new(i as i64, v)).collect();
        Grouping::new(&points, Granularity::Duration(1_000), None).unwrap()
    }

    fn one(values: &[f64], name: &str) -> f64 {
        aggregate(&grouping(values), Method::parse(name).unwrap()).unwrap()[0].value
    }

    #[test]
    fn parse_names() {
        assert_eq!(Reducer::parse("95pct").unwrap(), Reducer::Percentile(95.0));
        assert_eq!(Reducer::parse("5pctfoo").unwrap(), Reducer::Percentile(5.0));
        assert!(Reducer::parse("100pct").is_err());
        assert!(Reducer::parse("05pct").is_err());
        assert!(Method::parse("rate:derived").is_err());
        assert!(Method::parse("rate:mean").unwrap().rate);
    }

    #[test]
    fn nan_rules() {
        let v = [3.0, f64::NAN, 1.0];
        assert_eq!(one(&v, "min"), 1.0);
        assert!(one(&v, "max").is_nan());
        assert_eq!(one(&v, "count"), 3.0);
        assert!(one(&v, "mean").is_nan());
        assert!(one(&v, "last") == 1.0);
        // Sorted with NaN last: [1, 3, NaN], the middle is 3.
        assert_eq!(one(&v, "median"), 3.0);
    }

    #[test]
    fn std_uses_ddof_one_and_skips_single_points() {
        assert_eq!(one(&[1.0, 2.0, 3.0, 4.0], "std"), (5.0f64 / 3.0).sqrt());
        assert!(aggregate(&grouping(&[1.0]), Method::parse("std").unwrap()).unwrap().is_empty());
    }

    #[test]
    fn percentile_matches_upstream_formula_not_numpy() {
        // Upstream gives 8.8 where numpy.percentile gives 8.799999999999999.
        let v: Vec<f64> = (1..=10).map(|x| x as f64).collect();
        assert_eq!(one(&v, "87pct"), 8.83);
        assert_eq!(one(&[1.0, 2.0, 3.0, 4.0, 5.0], "50pct"), 3.0);
    }

    /// Each reducer computed bucket by bucket the plain way: one sequential
    /// chain per bucket, the NaN-last comparison on every point.
    fn plainly(grouping: &Grouping, reducer: Reducer) -> Vec<(i64, u64)> {
        let mut out = Vec::new();
        let mut rest = grouping.points();
        for (&bucket, &count) in grouping.buckets().iter().zip(grouping.counts()) {
            let (points, tail) = rest.split_at(count);
            rest = tail;
            let values: Vec<f64> = points.iter().map(|p| p.value).collect();
            let sum = values.iter().fold(0.0, |acc, v| acc + v);
            let n = values.len() as f64;
            let value = match reducer {
                Reducer::Sum => sum,
                Reducer::Mean => sum / n,
                Reducer::Count => n,
                Reducer::Std if values.len() < 2 => continue,
                Reducer::Std => {
                    let mean = sum / n;
                    (values.iter().fold(0.0, |acc, v| acc + (v - mean) * (v - mean)) / (n - 1.0)).sqrt()
                }
                Reducer::Min => values[1..]
                    .iter()
                    .fold(values[0], |best, &v| if cmp_nan_last(v, best).is_lt() { v } else { best }),
                Reducer::Max => values[1..]
                    .iter()
                    .fold(values[0], |best, &v| if cmp_nan_last(v, best).is_lt() { best } else { v }),
                _ => unreachable!(),
            };
            out.push((bucket, value.to_bits()));
        }
        out
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]
        #[test]
        fn fast_reducers_give_the_plain_bits(
            gaps in proptest::collection::vec(0i64..4, 1..300),
            picks in proptest::collection::vec(0usize..10, 300),
            palette in proptest::collection::vec(0usize..10, 1..4),
            granularity in proptest::prop_oneof![proptest::prelude::Just(1i64), 1i64..200],
        ) {
            // A few values per case, so that long buckets whose extreme is
            // a mixed-sign zero, or that hold a NaN, come up often.
            let specials = [0.0, -0.0, 1.5, -2.25, f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 1e300, 0.0, -0.0];
            let mut ts = 0;
            let points: Vec<Point> = gaps.iter().zip(&picks).map(|(gap, &pick)| {
                ts += gap + 1;
                Point::new(ts, specials[palette[pick % palette.len()]])
            }).collect();
            let grouping = Grouping::new(&points, Granularity::Duration(granularity), None).unwrap();
            for reducer in [Reducer::Sum, Reducer::Mean, Reducer::Count, Reducer::Std, Reducer::Min, Reducer::Max] {
                let fast: Vec<(i64, u64)> = reduce(&grouping, reducer).iter().map(|p| (p.ts, p.value.to_bits())).collect();
                let plain = plainly(&grouping, reducer);
                // Any NaN is a NaN: its payload comes from the hardware.
                let same = fast.len() == plain.len() && fast.iter().zip(&plain).all(|(a, b)| {
                    a.0 == b.0 && (a.1 == b.1 || (f64::from_bits(a.1).is_nan() && f64::from_bits(b.1).is_nan()))
                });
                proptest::prop_assert!(same, "{:?}: {:?} != {:?}", reducer, fast, plain);
            }
        }
    }
}
