//! numpy's NaN-ignoring reductions (`nanmean`, `nansum`, `nanstd`, ...) as
//! upstream's `operations.AGG_MAP` applies them, with numpy's arithmetic
//! order so the results are bit for bit numpy's.
//!
//! numpy sums from its identity, +0.0. When the reduced axis is the
//! contiguous one (a rolling window, or a grid of a single timestamp) the
//! sum is numpy's pairwise sum; across the series of a grid (the strided
//! axis of a Fortran-ordered array) it is one addition per series, left
//! to right. Both were checked against numpy 2.4.

/// How numpy adds the values of one reduction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SumOrder {
    Sequential,
    Pairwise,
}

/// A reduction of `AGG_MAP` (without `count`, whose integers the native
/// answer does not render).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduction {
    Mean,
    Median,
    Std,
    Min,
    Max,
    Sum,
    Var,
}

impl Reduction {
    /// `AGG_MAP`'s name, `rate:` split off. `count` and unknown names are
    /// not native.
    pub fn parse(name: &str) -> Option<(Reduction, bool)> {
        let (rate, base) = match name.strip_prefix("rate:") {
            Some(base) => (true, base),
            None => (false, name),
        };
        let reduction = match base {
            "mean" => Reduction::Mean,
            "median" => Reduction::Median,
            "std" => Reduction::Std,
            "min" => Reduction::Min,
            "max" => Reduction::Max,
            "sum" => Reduction::Sum,
            "var" => Reduction::Var,
            _ => return None,
        };
        Some((reduction, rate))
    }

    /// The reduction of one lane of values (NaN for none left); None
    /// where numpy's answer depends on the order its SIMD loop visits the
    /// values (a min or max over both +0.0 and -0.0).
    pub fn apply(self, lane: &[f64], order: SumOrder, scratch: &mut Vec<f64>) -> Option<f64> {
        Some(match self {
            Reduction::Sum => sum(lane.iter().map(|&v| zero_nan(v)), order),
            Reduction::Mean => mean(lane, order),
            Reduction::Var => variance(lane, order),
            Reduction::Std => variance(lane, order).sqrt(),
            Reduction::Min => extreme(lane, |acc, v| v < acc)?,
            Reduction::Max => extreme(lane, |acc, v| v > acc)?,
            Reduction::Median => median(lane, scratch),
        })
    }
}

fn zero_nan(v: f64) -> f64 {
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

fn count(lane: &[f64]) -> usize {
    lane.iter().filter(|v| !v.is_nan()).count()
}

/// numpy's sum of the values in the given order.
fn sum(values: impl Iterator<Item = f64>, order: SumOrder) -> f64 {
    match order {
        SumOrder::Sequential => values.fold(0.0, |acc, v| acc + v),
        SumOrder::Pairwise => {
            let collected: Vec<f64> = values.collect();
            0.0 + pairwise_sum(&collected)
        }
    }
}

/// numpy's `pairwise_sum` for doubles: eight running sums per block of
/// up to 128 values, halves (cut at a multiple of 8) above that.
pub fn pairwise_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        a.iter().fold(0.0, |acc, &v| acc + v)
    } else if n <= 128 {
        let mut r = [a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]];
        let whole = n - n % 8;
        let mut i = 8;
        while i < whole {
            for (j, slot) in r.iter_mut().enumerate() {
                *slot += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &v in &a[whole..] {
            res += v;
        }
        res
    } else {
        let mut half = n / 2;
        half -= half % 8;
        pairwise_sum(&a[..half]) + pairwise_sum(&a[half..])
    }
}

fn mean(lane: &[f64], order: SumOrder) -> f64 {
    let total = sum(lane.iter().map(|&v| zero_nan(v)), order);
    total / count(lane) as f64
}

/// `nanvar` with ddof 0: the mean, then the sum of squared deviations
/// (NaN positions count as 0), over the count; NaN for no values.
fn variance(lane: &[f64], order: SumOrder) -> f64 {
    let n = count(lane);
    let avg = mean(lane, order);
    let squares = lane.iter().map(move |&v| {
        if v.is_nan() {
            0.0
        } else {
            let d = v - avg;
            d * d
        }
    });
    if n == 0 {
        return f64::NAN;
    }
    sum(squares, order) / n as f64
}

/// `fmin`/`fmax` reduction: NaN skipped, NaN when nothing is left; None
/// for a lane holding both zeros, whose sign numpy's loop order decides.
fn extreme(lane: &[f64], replaces: impl Fn(f64, f64) -> bool) -> Option<f64> {
    let mut found = f64::NAN;
    let (mut positive_zero, mut negative_zero) = (false, false);
    for &v in lane {
        if v.is_nan() {
            continue;
        }
        if v == 0.0 {
            if v.is_sign_negative() {
                negative_zero = true;
            } else {
                positive_zero = true;
            }
        }
        if found.is_nan() || replaces(found, v) {
            found = v;
        }
    }
    if positive_zero && negative_zero && found == 0.0 {
        return None;
    }
    Some(found)
}

/// `nanmedian`: below 600 values numpy's masked median, `(low + high) / 2`
/// even for an odd count; from 600 on, `np.median` of the values left,
/// the mean of the middle value alone for an odd count (a sum from +0.0,
/// so -0.0 comes out as +0.0).
fn median(lane: &[f64], scratch: &mut Vec<f64>) -> f64 {
    scratch.clear();
    scratch.extend(lane.iter().copied().filter(|v| !v.is_nan()));
    let n = scratch.len();
    if n == 0 {
        return f64::NAN;
    }
    scratch.sort_by(f64::total_cmp);
    let high = scratch[n / 2];
    let low = if n % 2 == 1 { high } else { scratch[n / 2 - 1] };
    if n % 2 == 1 && lane.len() >= 600 {
        return 0.0 + high;
    }
    (0.0 + low + high) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_in_numpys_orders() {
        // Sequential from +0.0: 1e16 + 1 + 1 rounds back to 1e16 each time.
        let lane = [1e16, 1.0, 1.0];
        assert_eq!(Reduction::Sum.apply(&lane, SumOrder::Sequential, &mut Vec::new()), Some(1e16));
        // Pairwise, eight running sums: 1e16 + (1.0 in slot 1..) differs.
        let mut many = vec![1.0; 16];
        many[0] = 1e16;
        let sequential = many.iter().fold(0.0, |a, &v| a + v);
        assert_eq!(sequential, 1e16);
        assert_eq!(pairwise_sum(&many), 1e16 + 14.0);
        assert_eq!(Reduction::Sum.apply(&[-0.0], SumOrder::Pairwise, &mut Vec::new()).map(f64::to_bits), Some(0.0f64.to_bits()));
    }

    #[test]
    fn ignores_nan_and_answers_nan_for_nothing() {
        let lane = [f64::NAN, 1.0, 3.0];
        let mut s = Vec::new();
        assert_eq!(Reduction::Mean.apply(&lane, SumOrder::Sequential, &mut s), Some(2.0));
        assert_eq!(Reduction::Min.apply(&lane, SumOrder::Sequential, &mut s), Some(1.0));
        assert_eq!(Reduction::Max.apply(&lane, SumOrder::Sequential, &mut s), Some(3.0));
        assert_eq!(Reduction::Var.apply(&lane, SumOrder::Sequential, &mut s), Some(1.0));
        assert_eq!(Reduction::Median.apply(&lane, SumOrder::Sequential, &mut s), Some(2.0));
        let none = [f64::NAN, f64::NAN];
        for r in [Reduction::Mean, Reduction::Min, Reduction::Var, Reduction::Std, Reduction::Median] {
            assert!(r.apply(&none, SumOrder::Sequential, &mut s).is_some_and(f64::is_nan), "{r:?}");
        }
        assert_eq!(Reduction::Sum.apply(&none, SumOrder::Sequential, &mut s), Some(0.0));
    }

    #[test]
    fn leaves_numpys_order_dependent_answers_out() {
        let mut s = Vec::new();
        assert_eq!(Reduction::Max.apply(&[0.0, -0.0], SumOrder::Sequential, &mut s), None);
        assert_eq!(Reduction::Min.apply(&[-0.0, f64::NAN, 0.0, 1.0], SumOrder::Sequential, &mut s), None);
        // Both zeros, but the answer is not a zero: numpy's answer is known.
        assert_eq!(Reduction::Max.apply(&[0.0, -0.0, 2.0], SumOrder::Sequential, &mut s), Some(2.0));
        // An odd count from 600 on: the middle value alone, from +0.0.
        let mut lane = vec![-1.0; 300];
        lane.push(-0.0);
        lane.extend(vec![1.0; 300]);
        let median = Reduction::Median.apply(&lane, SumOrder::Sequential, &mut s);
        assert_eq!(median.map(f64::to_bits), Some(0.0f64.to_bits()));
    }

    #[test]
    fn parses_agg_map_names() {
        assert_eq!(Reduction::parse("rate:var"), Some((Reduction::Var, true)));
        assert_eq!(Reduction::parse("median"), Some((Reduction::Median, false)));
        assert_eq!(Reduction::parse("count"), None);
        assert_eq!(Reduction::parse("rate:count"), None);
        assert_eq!(Reduction::parse("last"), None);
    }
}
