//! The grid `processor.aggregated` builds for one sampling before it
//! evaluates the operations: every series of that sampling cut to the
//! asked time range, laid on the union of their timestamps, filled as
//! asked, and (without a fill) trimmed to where the series overlap.

use super::Refusal;

/// Upstream's `fill` parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fill {
    /// No fill: the overlap rules apply.
    None,
    /// `null`: missing points are NaN.
    Null,
    /// `dropna`: NaN, dropped from the answer.
    DropNa,
    Ffill,
    Bfill,
    FullFfill,
    FullBfill,
    /// A number for every missing point.
    Value(f64),
}

impl Fill {
    /// Whether the answer leaves out NaN and infinite values.
    pub fn drops_missing(self) -> bool {
        matches!(self, Fill::DropNa | Fill::Ffill | Fill::Bfill | Fill::FullFfill | Fill::FullBfill)
    }
}

/// One stored series: ascending timestamps (ns) and their values.
pub struct Series<'a> {
    pub times: &'a [i64],
    pub values: &'a [f64],
}

/// Values over shared timestamps, one column per series (the Fortran
/// order upstream's grid has: a column is contiguous).
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub times: Vec<i64>,
    pub columns: Vec<Vec<f64>>,
}

/// The asked range for a sampling: `start` already rounded down to it.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub start: Option<i64>,
    pub stop: Option<i64>,
}

/// `AggregatedTimeSerie[start:stop]`: from the first timestamp at or after
/// `start` to before the first at or after `stop`.
fn cut<'a>(series: &Series<'a>, range: Range) -> (&'a [i64], &'a [f64]) {
    let from = range.start.map_or(0, |s| series.times.partition_point(|&t| t < s));
    let to = range.stop.map_or(series.times.len(), |s| series.times.partition_point(|&t| t < s));
    let to = to.max(from);
    (&series.times[from..to], &series.values[from..to])
}

/// The grid of `series` for `range`, filled and trimmed as upstream does
/// (`overlap_percent` is `needed_overlap`).
pub fn build(series: &[Series<'_>], range: Range, fill: Fill, overlap_percent: f64) -> Result<Grid, Refusal> {
    let cuts: Vec<_> = series.iter().map(|s| cut(s, range)).collect();
    // Stored series are strictly ascending; anything else (a caller's own
    // arrays) is laid out as numpy.unique and fancy assignment would.
    let ascending = cuts.iter().all(|(t, _)| t.windows(2).all(|w| w[0] < w[1]));
    let times = if ascending { union_of_ascending(&cuts) } else { sorted_union(&cuts) };
    let filler = match fill {
        Fill::Value(v) => v,
        _ => f64::NAN,
    };
    let mut columns = Vec::with_capacity(cuts.len());
    for (t, v) in &cuts {
        let mut column = vec![filler; times.len()];
        if ascending {
            let mut at = 0;
            for (&ts, &value) in t.iter().zip(v.iter()) {
                // Both ascending and `ts` in the union: walk, not search.
                while times[at] != ts {
                    at += 1;
                }
                column[at] = value;
            }
        } else {
            for (ts, &value) in t.iter().zip(v.iter()) {
                if let Ok(at) = times.binary_search(ts) {
                    column[at] = value;
                }
            }
        }
        columns.push(column);
    }
    match fill {
        Fill::Ffill => columns.iter_mut().for_each(|c| forward_fill(c)),
        Fill::Bfill => columns.iter_mut().for_each(|c| backward_fill(c)),
        Fill::FullFfill => columns.iter_mut().for_each(|c| {
            forward_fill(c);
            backward_fill(c)
        }),
        Fill::FullBfill => columns.iter_mut().for_each(|c| {
            backward_fill(c);
            forward_fill(c)
        }),
        _ => {}
    }
    let mut grid = Grid { times, columns };
    if fill == Fill::None {
        trim_to_overlap(&mut grid, range.start.is_some(), range.stop.is_some(), overlap_percent)?;
    }
    Ok(grid)
}

/// The union of strictly ascending timestamps, merged in one pass per
/// series (series of one policy usually share theirs: no merge at all).
fn union_of_ascending(cuts: &[(&[i64], &[f64])]) -> Vec<i64> {
    let Some(((first, _), rest)) = cuts.split_first() else { return Vec::new() };
    let mut union = first.to_vec();
    for (times, _) in rest {
        if *times == union.as_slice() {
            continue;
        }
        let mut merged = Vec::with_capacity(union.len().max(times.len()));
        let (mut i, mut j) = (0, 0);
        while i < union.len() && j < times.len() {
            let (a, b) = (union[i], times[j]);
            merged.push(a.min(b));
            i += usize::from(a <= b);
            j += usize::from(b <= a);
        }
        merged.extend_from_slice(&union[i..]);
        merged.extend_from_slice(&times[j..]);
        union = merged;
    }
    union
}

fn sorted_union(cuts: &[(&[i64], &[f64])]) -> Vec<i64> {
    let mut times: Vec<i64> = cuts.iter().flat_map(|(t, _)| t.iter().copied()).collect();
    times.sort_unstable();
    times.dedup();
    times
}

/// `utils.forward_fill`: each NaN takes the last value before it that is
/// not NaN; leading NaNs stay.
fn forward_fill(column: &mut [f64]) {
    let mut last = None;
    for v in column.iter_mut() {
        if v.is_nan() {
            if let Some(l) = last {
                *v = l;
            }
        } else {
            last = Some(*v);
        }
    }
}

fn backward_fill(column: &mut [f64]) {
    column.reverse();
    forward_fill(column);
    column.reverse();
}

/// Upstream's overlap rule: the timestamps where no series is NaN; with
/// no start (stop) asked, the grid begins (ends) where they first (last)
/// overlap; too little overlap refuses the query.
fn trim_to_overlap(grid: &mut Grid, has_start: bool, has_stop: bool, needed: f64) -> Result<(), Refusal> {
    let overlapping: Vec<usize> = (0..grid.times.len()).filter(|&i| grid.columns.iter().all(|c| !c[i].is_nan())).collect();
    if overlapping.is_empty() && needed > 0.0 {
        return Err(Refusal::Unaggregable("No overlap"));
    }
    if grid.times.is_empty() {
        return Ok(());
    }
    let (mut begin, mut end) = (0, grid.times.len());
    if let (false, Some(&last)) = (has_stop, overlapping.last()) {
        end = last + 1;
    }
    if let (false, Some(&first)) = (has_start, overlapping.first()) {
        begin = first;
    }
    let kept = end.saturating_sub(begin);
    // Upstream counts the overlap over all the grid and divides by what is
    // left after trimming.
    let percent = overlapping.len() as f64 * 100.0 / kept as f64;
    if percent < needed {
        return Err(Refusal::Unaggregable("Less than the needed overlap"));
    }
    grid.times = grid.times[begin..end].to_vec();
    for column in &mut grid.columns {
        *column = column[begin..end].to_vec();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(series: &[(Vec<i64>, Vec<f64>)], fill: Fill, needed: f64) -> Result<Grid, Refusal> {
        let s: Vec<Series<'_>> = series.iter().map(|(t, v)| Series { times: t, values: v }).collect();
        build(&s, Range { start: None, stop: None }, fill, needed)
    }

    #[test]
    fn lays_series_on_the_union_and_trims_to_the_overlap() {
        let a = (vec![1, 2, 3], vec![1.0, 2.0, 3.0]);
        let b = (vec![2, 3, 4], vec![20.0, 30.0, 40.0]);
        let g = grid(&[a.clone(), b.clone()], Fill::None, 0.0).unwrap();
        assert_eq!(g.times, vec![2, 3]);
        assert_eq!(g.columns, vec![vec![2.0, 3.0], vec![20.0, 30.0]]);
        let g = grid(&[a.clone(), b.clone()], Fill::Value(0.0), 100.0).unwrap();
        assert_eq!(g.times, vec![1, 2, 3, 4]);
        assert_eq!(g.columns[1], vec![0.0, 20.0, 30.0, 40.0]);
        let g = grid(&[a.clone(), b.clone()], Fill::FullFfill, 100.0).unwrap();
        assert_eq!(g.columns, vec![vec![1.0, 2.0, 3.0, 3.0], vec![20.0, 20.0, 30.0, 40.0]]);
        assert_eq!(grid(&[a, (vec![9], vec![9.0])], Fill::None, 1.0), Err(Refusal::Unaggregable("No overlap")));
    }

    #[test]
    fn cuts_to_the_range_as_a_slice_does() {
        let t = vec![10, 20, 30, 40];
        let v = vec![1.0, 2.0, 3.0, 4.0];
        let s = [Series { times: &t, values: &v }];
        let g = build(&s, Range { start: Some(15), stop: Some(40) }, Fill::Null, 0.0).unwrap();
        assert_eq!(g.times, vec![20, 30]);
    }

    #[test]
    fn merges_ascending_series_and_lays_out_any_others_as_numpy() {
        let a = (vec![1, 4, 6], vec![1.0, 4.0, 6.0]);
        let b = (vec![2, 4, 7, 9], vec![2.0, 4.5, 7.0, 9.0]);
        let g = grid(&[a.clone(), b, a.clone()], Fill::Null, 0.0).unwrap();
        assert_eq!(g.times, vec![1, 2, 4, 6, 7, 9]);
        assert_eq!(g.columns[1][2], 4.5);
        // Unordered, with a repeated timestamp: the last value wins, as
        // numpy's fancy assignment leaves it.
        let odd = (vec![6, 1, 6], vec![6.0, 1.0, 60.0]);
        let g = grid(&[odd, a], Fill::Null, 0.0).unwrap();
        assert_eq!(g.times, vec![1, 4, 6]);
        let column: Vec<Option<f64>> = g.columns[0].iter().map(|v| (!v.is_nan()).then_some(*v)).collect();
        assert_eq!(column, vec![Some(1.0), None, Some(60.0)]);
    }
}
