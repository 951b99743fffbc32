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

/// Sum in time order, starting from +0.0 as numpy's `bincount` does.
#[inline]
fn sequential_sum(points: &[Point]) -> f64 {
    points.iter().fold(0.0, |acc, p| acc + p.value)
}

fn min_value(points: &[Point]) -> f64 {
    let mut best = points[0].value;
    for p in &points[1..] {
        if cmp_nan_last(p.value, best).is_lt() {
            best = p.value;
        }
    }
    best
}

fn max_value(points: &[Point]) -> f64 {
    let mut best = points[0].value;
    for p in &points[1..] {
        if !cmp_nan_last(p.value, best).is_lt() {
            best = p.value;
        }
    }
    best
}

fn std_value(points: &[Point]) -> f64 {
    let n = points.len() as f64;
    let mean = sequential_sum(points) / n;
    let squares = points.iter().fold(0.0, |acc, p| {
        let d = p.value - mean;
        acc + d * d
    });
    (squares / (n - 1.0)).sqrt()
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

/// Applies `reducer` to every bucket of `grouping`.
pub fn reduce(grouping: &Grouping, reducer: Reducer) -> Vec<Point> {
    let mut scratch = Vec::new();
    match reducer {
        Reducer::Mean => per_bucket(grouping, |p, _| Some(sequential_sum(p) / p.len() as f64)),
        Reducer::Sum => per_bucket(grouping, |p, _| Some(sequential_sum(p))),
        Reducer::Count => per_bucket(grouping, |p, _| Some(p.len() as f64)),
        Reducer::First => per_bucket(grouping, |p, _| Some(p[0].value)),
        Reducer::Last => per_bucket(grouping, |p, _| Some(p[p.len() - 1].value)),
        Reducer::Min => per_bucket(grouping, |p, _| Some(min_value(p))),
        Reducer::Max => per_bucket(grouping, |p, _| Some(max_value(p))),
        // A single point has no sample deviation: no point at all.
        Reducer::Std => per_bucket(grouping, |p, _| (p.len() > 1).then(|| std_value(p))),
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
}
