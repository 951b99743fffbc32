//! Split keys: an aggregated series is stored in objects of
//! `POINTS_PER_SPLIT` points, keyed by the (float-rounded) start of each.

use super::pyfloat;
use super::series::Point;
use super::timestamp::{f64_to_i64_like_c, floor_ts};
use super::POINTS_PER_SPLIT;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SplitKey {
    /// Start of the split, ns since the epoch.
    pub key: i64,
    /// Granularity of the series, ns.
    pub sampling: i64,
}

impl SplitKey {
    pub fn new(key: i64, sampling: i64) -> SplitKey {
        SplitKey { key, sampling }
    }

    pub fn span(sampling: i64) -> i64 {
        sampling.wrapping_mul(POINTS_PER_SPLIT)
    }

    pub fn from_timestamp_and_sampling(ts: i64, sampling: i64) -> SplitKey {
        SplitKey::new(floor_ts(ts, Self::span(sampling)), sampling)
    }

    pub fn next(self) -> SplitKey {
        SplitKey::new(self.key.wrapping_add(Self::span(self.sampling)), self.sampling)
    }

    /// The key as written in storage names, e.g. `1483228800.0`.
    pub fn key_str(self) -> String {
        seconds_str(self.key)
    }

    /// The granularity as written in storage names, e.g. `60.0`.
    pub fn sampling_str(self) -> String {
        seconds_str(self.sampling)
    }
}

/// A ns count as upstream writes it in names: float seconds, Python repr.
pub fn seconds_str(ns: i64) -> String {
    pyfloat::repr(ns as f64 / 1e9)
}

fn parse_float(s: &str) -> Result<f64> {
    s.trim()
        .parse::<f64>()
        .map_err(|_| Error::InvalidArgument(format!("could not convert string to float: '{s}'")))
}

/// Parses a key string back as listing does: `int64(float(s) * 1e9)`.
/// Timestamps before the epoch are refused, as upstream refuses them.
pub fn parse_key_str(s: &str) -> Result<i64> {
    let seconds = parse_float(s)?;
    if seconds < 0.0 {
        return Err(Error::InvalidArgument(format!("timestamp {s} is before the epoch")));
    }
    Ok(f64_to_i64_like_c(seconds * 1e9))
}

/// Parses a granularity string back: `int(float(s) * 1e9)`.
pub fn parse_sampling_str(s: &str) -> Result<i64> {
    Ok(f64_to_i64_like_c(parse_float(s)? * 1e9))
}

/// Cuts a sorted aggregated series into its splits: `(key, start..end)`.
pub fn split_ranges(points: &[Point], sampling: i64) -> Vec<(SplitKey, std::ops::Range<usize>)> {
    let span = SplitKey::span(sampling);
    let mut out: Vec<(SplitKey, std::ops::Range<usize>)> = Vec::new();
    for (i, p) in points.iter().enumerate() {
        let key = floor_ts(p.ts, span);
        match out.last_mut() {
            Some((last, range)) if last.key == key => range.end = i + 1,
            _ => out.push((SplitKey::new(key, sampling), i..i + 1)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let k = SplitKey::from_timestamp_and_sampling(1_483_228_800_000_000_000 + 5, 60_000_000_000);
        assert_eq!(k.key_str(), "1483056000.0");
        assert_eq!(k.sampling_str(), "60.0");
        assert_eq!(parse_key_str(&k.key_str()).unwrap(), k.key);
        assert!(parse_key_str("-3600.0").is_err());
        assert_eq!(parse_sampling_str("1e-09").unwrap(), 1);
    }

    #[test]
    fn ranges() {
        let g = 1_000_000_000;
        let pts: Vec<Point> = [0, 3599, 3600, 7300].iter().map(|&s| Point::new(s * g, 0.0)).collect();
        let r = split_ranges(&pts, g);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].1, 0..2);
        assert_eq!(r[1].0.key, 3600 * g);
        assert_eq!(r[2].0.key, 7200 * g);
    }
}
