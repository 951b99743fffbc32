//! Raw points and the merge rules of upstream's `TimeSerie` and
//! `BoundTimeSerie`.

use super::timestamp::floor_ts;
use std::cmp::Ordering;

/// One point, laid out as a record of numpy's
/// `[('timestamps', '<M8[ns]'), ('values', '<f8')]` (16 bytes), so that
/// numpy arrays and incoming blobs can be read without conversion.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub ts: i64,
    pub value: f64,
}

impl Point {
    pub const fn new(ts: i64, value: f64) -> Point {
        Point { ts, value }
    }
}

/// numpy's float ordering: NaN after every number, NaNs equal to each other.
#[inline]
pub fn cmp_nan_last(a: f64, b: f64) -> Ordering {
    match a.partial_cmp(&b) {
        Some(order) => order,
        None => a.is_nan().cmp(&b.is_nan()),
    }
}

/// Sorts a batch of new measures as upstream's structured sort does:
/// by timestamp, then by value (NaN last). Within one batch the smallest
/// value therefore wins a duplicated timestamp.
pub fn sort_measures(points: &mut [Point]) {
    points.sort_by(|a, b| a.ts.cmp(&b.ts).then_with(|| cmp_nan_last(a.value, b.value)));
}

fn is_sorted_by_ts(points: &[Point]) -> bool {
    points.windows(2).all(|w| w[0].ts <= w[1].ts)
}

/// Upstream's `combine_timeseries(preferred, other)`: the union of both,
/// sorted by timestamp, keeping for each timestamp its first occurrence in
/// `preferred ++ other`.
pub fn combine(preferred: &[Point], other: &[Point]) -> Vec<Point> {
    let mut out = Vec::with_capacity(preferred.len() + other.len());
    let push = |p: Point, out: &mut Vec<Point>| {
        if out.last().map_or(true, |last: &Point| last.ts != p.ts) {
            out.push(p);
        }
    };
    if is_sorted_by_ts(preferred) && is_sorted_by_ts(other) {
        let (mut i, mut j) = (0, 0);
        while i < preferred.len() && j < other.len() {
            if preferred[i].ts <= other[j].ts {
                push(preferred[i], &mut out);
                i += 1;
            } else {
                push(other[j], &mut out);
                j += 1;
            }
        }
        for &p in preferred[i..].iter().chain(&other[j..]) {
            push(p, &mut out);
        }
    } else {
        let mut all: Vec<Point> = preferred.iter().chain(other).copied().collect();
        // A stable sort keeps first occurrences first among equal stamps.
        all.sort_by_key(|p| p.ts);
        for p in all {
            push(p, &mut out);
        }
    }
    out
}

/// Index of the first point whose timestamp is `>= ts` (numpy's left
/// `searchsorted` on a sorted series).
#[inline]
pub fn search_left(points: &[Point], ts: i64) -> usize {
    points.partition_point(|p| p.ts < ts)
}

/// Index of the first point whose timestamp is `> ts` (right `searchsorted`).
#[inline]
pub fn search_right(points: &[Point], ts: i64) -> usize {
    points.partition_point(|p| p.ts <= ts)
}

/// The raw series metricd keeps per metric: only the last `back_window + 1`
/// blocks of `block_size` survive a truncation.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundSeries {
    pub points: Vec<Point>,
    pub block_size: Option<i64>,
    pub back_window: i64,
}

impl BoundSeries {
    pub fn new(points: Vec<Point>, block_size: Option<i64>, back_window: i64) -> BoundSeries {
        BoundSeries { points, block_size, back_window }
    }

    pub fn first(&self) -> Option<i64> {
        self.points.first().map(|p| p.ts)
    }

    pub fn last(&self) -> Option<i64> {
        self.points.last().map(|p| p.ts)
    }

    /// The oldest timestamp still accepted: the start of the newest block,
    /// minus `back_window` blocks. `None` for an empty or unbounded series.
    pub fn first_block_timestamp(&self) -> Option<i64> {
        let block = self.block_size?;
        let last = self.last()?;
        Some(first_block_timestamp(last, block, self.back_window))
    }

    /// Merges a batch sorted with [`sort_measures`]; measures older than
    /// the current first block are dropped, new points win over stored ones.
    /// `before_truncate` sees the merged series before old blocks go.
    pub fn set_values<R>(
        &mut self,
        sorted_measures: &[Point],
        before_truncate: impl FnOnce(&BoundSeries) -> R,
    ) -> R {
        let accepted = match self.first_block_timestamp() {
            Some(fbt) => &sorted_measures[search_left(sorted_measures, fbt)..],
            None => sorted_measures,
        };
        self.points = combine(accepted, &self.points);
        let result = before_truncate(self);
        self.truncate();
        result
    }

    /// Drops the blocks older than [`Self::first_block_timestamp`].
    pub fn truncate(&mut self) {
        if let Some(fbt) = self.first_block_timestamp() {
            let keep_from = search_left(&self.points, fbt);
            self.points.drain(..keep_from);
        }
    }
}

/// `floor_ts(last, block) - block * back_window`, in numpy's wrapping
/// int64 arithmetic.
pub fn first_block_timestamp(last: i64, block_size: i64, back_window: i64) -> i64 {
    floor_ts(last, block_size).wrapping_sub(block_size.wrapping_mul(back_window))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(v: &[(i64, f64)]) -> Vec<Point> {
        v.iter().map(|&(t, x)| Point::new(t, x)).collect()
    }

    #[test]
    fn combine_prefers_first_argument() {
        let new = pts(&[(2, 20.0), (3, 30.0)]);
        let old = pts(&[(1, 1.0), (2, 2.0)]);
        assert_eq!(combine(&new, &old), pts(&[(1, 1.0), (2, 20.0), (3, 30.0)]));
    }

    #[test]
    fn combine_unsorted_keeps_first_occurrence() {
        let new = pts(&[(3, 30.0), (1, 10.0), (3, 31.0)]);
        let old = pts(&[(1, 1.0)]);
        assert_eq!(combine(&new, &old), pts(&[(1, 10.0), (3, 30.0)]));
    }

    #[test]
    fn sort_breaks_ties_on_value_nan_last() {
        let mut batch = pts(&[(5, f64::NAN), (5, 2.0), (1, 9.0), (5, 1.0)]);
        sort_measures(&mut batch);
        assert_eq!(batch[0], Point::new(1, 9.0));
        assert_eq!(batch[1].value, 1.0);
        assert_eq!(batch[2].value, 2.0);
        assert!(batch[3].value.is_nan());
    }

    #[test]
    fn bound_series_drops_old_and_truncates() {
        let s = 1_000_000_000;
        let mut bound = BoundSeries::new(pts(&[(120 * s, 1.0), (130 * s, 2.0)]), Some(60 * s), 0);
        let seen = bound.set_values(&pts(&[(10 * s, 0.0), (190 * s, 3.0)]), |b| b.points.len());
        // The point at 10 s was older than the block starting at 120 s.
        assert_eq!(seen, 3);
        // After truncation only the block of 180 s remains.
        assert_eq!(bound.points, pts(&[(190 * s, 3.0)]));
    }
}
