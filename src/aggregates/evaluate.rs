//! `operations.evaluate`: an operation tree over one sampling's grid, with
//! upstream's rules for which timestamps and granularity an operation
//! keeps, when a result counts as aggregated, and numpy's arithmetic.

use super::grid::Grid;
use super::operations::{Binary, Op, Unary};
use super::reduce::{Reduction, SumOrder};
use super::Refusal;
use crate::carbonara::aggregate::{aggregate, Method};
use crate::carbonara::group::{Granularity, Grouping};
use crate::carbonara::Point;

/// A value of the evaluation: a number, or series over the timestamps
/// (one column per series; `boolean` for comparison results, which numpy
/// keeps as booleans and upstream renders as 0.0 and 1.0).
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    Scalar(f64),
    Columns { columns: Vec<Vec<f64>>, boolean: bool },
}

/// What `evaluate` returns: granularity (ns), timestamps, values, and
/// whether the result is aggregated.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluated {
    pub granularity: i64,
    pub times: Vec<i64>,
    pub values: Values,
    pub aggregated: bool,
}

/// The evaluation's inputs that every node sees: the grid, its
/// granularity and the lookup key of each column.
pub struct Context<'a> {
    pub grid: &'a Grid,
    pub granularity: i64,
    pub keys: &'a [(String, String)],
}

const BOOLEAN_OPERAND: Refusal = Refusal::Unsupported("numpy's boolean arithmetic");
const NOT_SERIES: Refusal = Refusal::Unsupported("an operation upstream cannot apply to a number");
const ORDER_DEPENDENT: Refusal = Refusal::Unsupported("a signed zero whose sign numpy's loop order decides");

/// `evaluate(operations, sampling, times, grid, False, keys)`.
pub fn evaluate(op: &Op, context: &Context<'_>) -> Result<Evaluated, Refusal> {
    let result = evaluate_node(op, context)?;
    sanity_check(&result)?;
    Ok(result)
}

/// Upstream's `sanity_check` after every node (a failure is its 500).
fn sanity_check(result: &Evaluated) -> Result<(), Refusal> {
    let t = &result.times;
    if t.len() > 2 && ((t[1] - t[0]) as f64 / result.granularity as f64).fract() != 0.0 {
        return Err(Refusal::Unsupported("timestamps that do not match the granularity"));
    }
    if let Values::Columns { columns, .. } = &result.values {
        if columns.iter().any(|c| c.len() != t.len()) {
            return Err(Refusal::Unsupported("values that do not match the timestamps"));
        }
    }
    Ok(())
}

fn evaluate_node(op: &Op, cx: &Context<'_>) -> Result<Evaluated, Refusal> {
    let here = |values| Evaluated { granularity: cx.granularity, times: cx.grid.times.clone(), values, aggregated: false };
    match op {
        Op::Number(v) => Ok(here(Values::Scalar(*v))),
        Op::Metric(wanted) => {
            let columns: Vec<Vec<f64>> = cx
                .keys
                .iter()
                .zip(&cx.grid.columns)
                .filter(|(key, _)| wanted.contains(key))
                .map(|(_, column)| column.clone())
                .collect();
            if columns.is_empty() {
                return Err(Refusal::Unsupported("no series for a metric node"));
            }
            Ok(here(Values::Columns { columns, boolean: false }))
        }
        Op::Aggregate { reduction, rate, of } => {
            let mut result = evaluate(of, cx)?;
            let columns = float_columns(&result.values)?;
            let rows = result.times.len();
            // A single timestamp makes the series axis the contiguous one.
            let order = if rows == 1 { SumOrder::Pairwise } else { SumOrder::Sequential };
            let mut lane = Vec::with_capacity(columns.len());
            let mut scratch = Vec::new();
            let mut reduced: Vec<f64> = (0..rows)
                .map(|row| {
                    lane.clear();
                    lane.extend(columns.iter().map(|c| c[row]));
                    reduction.apply(&lane, order, &mut scratch).ok_or(ORDER_DEPENDENT)
                })
                .collect::<Result<_, _>>()?;
            if *rate {
                reduced = diff(&reduced);
                result.times = tail(&result.times, 1);
            }
            Ok(Evaluated { values: Values::Columns { columns: vec![reduced], boolean: false }, aggregated: true, ..result })
        }
        Op::Rolling { reduction, rate, window, of } => rolling(*reduction, *rate, *window, evaluate(of, cx)?),
        Op::Resample { method, sampling, of } => resample(*method, *sampling, evaluate(of, cx)?),
        Op::Binary(op, left, right) => {
            let (l, r) = (evaluate(left, cx)?, evaluate(right, cx)?);
            let mut aggregated = l.aggregated || r.aggregated;
            let (granularity, times) = match (&l.values, &r.values) {
                (Values::Columns { .. }, Values::Columns { .. }) => {
                    if l.times != r.times || l.granularity != r.granularity {
                        return Err(Refusal::Unaggregable("Can't compute timeseries with different granularity"));
                    }
                    aggregated = true;
                    (l.granularity, l.times.clone())
                }
                (_, Values::Columns { .. }) => (r.granularity, r.times.clone()),
                _ => (l.granularity, l.times.clone()),
            };
            let boolean = matches!(
                op,
                Binary::Equal | Binary::Less | Binary::Greater | Binary::LessEqual | Binary::GreaterEqual | Binary::NotEqual
            );
            if boolean && matches!((&l.values, &r.values), (Values::Scalar(_), Values::Scalar(_))) {
                // numpy's boolean scalar, which arithmetic treats apart.
                return Err(BOOLEAN_OPERAND);
            }
            let values = elementwise(&[&l.values, &r.values], times.len(), |v| apply_binary(*op, v[0], v[1]))?;
            Ok(Evaluated { granularity, times, values: with_kind(values, boolean), aggregated })
        }
        Op::Clip(a, low, high) => {
            let (v1, v2) = (evaluate(a, cx)?, evaluate(low, cx)?);
            let v3 = high.as_ref().map(|h| evaluate(h, cx)).transpose()?;
            let is_series = |e: &Evaluated| matches!(e.values, Values::Columns { .. });
            let mut aggregated = v1.aggregated || v2.aggregated || v3.as_ref().map_or(v2.aggregated, |e| e.aggregated);
            let (granularity, times) = match &v3 {
                Some(e3) if is_series(&v1) && is_series(&v2) && is_series(e3) => {
                    let differ = |x: &Evaluated, y: &Evaluated| x.times != y.times || x.granularity != y.granularity;
                    if differ(&v1, &v2) && differ(&v2, e3) {
                        return Err(Refusal::Unaggregable("Can't compute timeseries with different granularity"));
                    }
                    aggregated = true;
                    (v1.granularity, v1.times.clone())
                }
                _ if is_series(&v2) => (v2.granularity, v2.times.clone()),
                Some(e3) if is_series(e3) => (e3.granularity, e3.times.clone()),
                _ => (v1.granularity, v1.times.clone()),
            };
            let scalar_bounds = matches!((&v2.values, v3.as_ref().map(|e| &e.values)), (Values::Scalar(_), Some(Values::Scalar(_))));
            let values = match &v3 {
                Some(e3) if scalar_bounds => {
                    elementwise(&[&v1.values, &v2.values, &e3.values], times.len(), |v| Some(clip_to_numbers(v[0], v[1], v[2])))?
                }
                Some(e3) => elementwise(&[&v1.values, &v2.values, &e3.values], times.len(), |v| {
                    // numpy takes its two-numbers loop wherever the bounds
                    // broadcast with a zero stride (a one-point series),
                    // so a zero tie's sign depends on the layout.
                    let low = maximum(v[0], v[1]);
                    let clipped = minimum(low, v[2]);
                    (!zero_tie(v[0], v[1]) && !zero_tie(low, v[2])).then_some(clipped)
                })?,
                None => elementwise(&[&v1.values, &v2.values], times.len(), |v| Some(maximum(v[0], v[1])))?,
            };
            Ok(Evaluated { granularity, times, values: with_kind(values, false), aggregated })
        }
        Op::Unary(op, of) => {
            let result = evaluate(of, cx)?;
            let f = |v: f64| match op {
                Unary::Abs => v.abs(),
                Unary::Neg => -v,
                Unary::Cos => v.cos(),
                Unary::Sin => v.sin(),
                Unary::Floor => v.floor(),
                Unary::Ceil => v.ceil(),
            };
            let values = match &result.values {
                Values::Scalar(v) => Values::Scalar(f(*v)),
                columns => {
                    let cols = float_columns(columns)?;
                    Values::Columns { columns: cols.iter().map(|c| c.iter().map(|&v| f(v)).collect()).collect(), boolean: false }
                }
            };
            Ok(Evaluated { values, ..result })
        }
        Op::RateOfChange(of) => {
            let result = evaluate(of, cx)?;
            let columns = float_columns(&result.values)?.iter().map(|c| diff(c)).collect();
            let times = tail(&result.times, 1);
            Ok(Evaluated { times, values: Values::Columns { columns, boolean: false }, ..result })
        }
        Op::RateOfChangeSec(of) => {
            let result = evaluate(of, cx)?;
            let t = &result.times;
            let columns = float_columns(&result.values)?
                .iter()
                .map(|c| {
                    (0..c.len())
                        .map(|i| if i == 0 { f64::NAN } else { (c[i] - c[i - 1]) / ((t[i] - t[i - 1]) as f64 / 1e9) })
                        .collect()
                })
                .collect();
            Ok(Evaluated { values: Values::Columns { columns, boolean: false }, ..result })
        }
    }
}

fn float_columns(values: &Values) -> Result<&Vec<Vec<f64>>, Refusal> {
    match values {
        Values::Columns { boolean: true, .. } => Err(BOOLEAN_OPERAND),
        Values::Columns { columns, .. } => Ok(columns),
        Values::Scalar(_) => Err(NOT_SERIES),
    }
}

fn with_kind(values: Values, boolean: bool) -> Values {
    match values {
        Values::Columns { columns, .. } => Values::Columns { columns, boolean },
        scalar => scalar,
    }
}

fn diff(values: &[f64]) -> Vec<f64> {
    values.windows(2).map(|w| w[1] - w[0]).collect()
}

fn tail(times: &[i64], from: usize) -> Vec<i64> {
    times.get(from..).unwrap_or(&[]).to_vec()
}

/// numpy's elementwise application with broadcasting of numbers and of
/// single columns; operand shapes numpy would refuse are refused, and so
/// is a value `f` cannot give as numpy would (None).
fn elementwise(operands: &[&Values], rows: usize, f: impl Fn(&[f64]) -> Option<f64>) -> Result<Values, Refusal> {
    let mut width = None;
    for operand in operands {
        if let Values::Columns { columns, boolean } = operand {
            if *boolean {
                return Err(BOOLEAN_OPERAND);
            }
            if columns.iter().any(|c| c.len() != rows) {
                return Err(Refusal::Unsupported("operands of different lengths"));
            }
            width = match (width, columns.len()) {
                (None, n) | (Some(1), n) => Some(n),
                (Some(w), 1) => Some(w),
                (Some(w), n) if w == n => Some(w),
                _ => return Err(Refusal::Unsupported("operands numpy cannot broadcast")),
            };
        }
    }
    let pick = |operand: &Values, column: usize, row: usize| match operand {
        Values::Scalar(v) => *v,
        Values::Columns { columns, .. } => columns[if columns.len() == 1 { 0 } else { column }][row],
    };
    let mut args = vec![0.0; operands.len()];
    match width {
        None => {
            for (slot, operand) in args.iter_mut().zip(operands) {
                *slot = pick(operand, 0, 0);
            }
            Ok(Values::Scalar(f(&args).ok_or(ORDER_DEPENDENT)?))
        }
        Some(width) => Ok(Values::Columns {
            columns: (0..width)
                .map(|column| {
                    (0..rows)
                        .map(|row| {
                            for (slot, operand) in args.iter_mut().zip(operands) {
                                *slot = pick(operand, column, row);
                            }
                            f(&args).ok_or(ORDER_DEPENDENT)
                        })
                        .collect()
                })
                .collect::<Result<_, _>>()?,
            boolean: false,
        }),
    }
}

/// One binary operation on floats as numpy computes it; None where
/// numpy's answer depends on its loop (see `fmax`).
fn apply_binary(op: Binary, a: f64, b: f64) -> Option<f64> {
    let truth = |t: bool| if t { 1.0 } else { 0.0 };
    Some(match op {
        Binary::Equal => truth(a == b),
        Binary::Less => truth(a < b),
        Binary::Greater => truth(a > b),
        Binary::LessEqual => truth(a <= b),
        Binary::GreaterEqual => truth(a >= b),
        Binary::NotEqual => truth(a != b),
        Binary::Mod => remainder(a, b),
        Binary::Add => a + b,
        Binary::Sub => a - b,
        Binary::Mul => a * b,
        Binary::Div => a / b,
        Binary::ClipMin => maximum(a, b),
        Binary::ClipMax => minimum(a, b),
        Binary::Fmax => fmax(a, b)?,
    })
}

/// numpy's `fmax`: NaN ignored. On a tie of +0.0 and -0.0 its scalar loop
/// keeps the first and its SIMD loop (long arrays) the second: not given.
fn fmax(a: f64, b: f64) -> Option<f64> {
    if a.is_nan() {
        Some(b)
    } else if b.is_nan() || a > b {
        Some(a)
    } else if a == b && a.is_sign_negative() != b.is_sign_negative() {
        None
    } else {
        Some(b)
    }
}

/// numpy's `remainder` for floats: the sign of the divisor.
fn remainder(a: f64, b: f64) -> f64 {
    let m = a % b;
    if b == 0.0 {
        return m;
    }
    if m != 0.0 {
        if (b < 0.0) != (m < 0.0) {
            m + b
        } else {
            m
        }
    } else {
        0.0f64.copysign(b)
    }
}

/// numpy's `maximum`/`minimum` as `clip` applies them: NaN from either
/// side wins, and a tie (+0.0 against -0.0) gives the second operand.
fn maximum(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a > b {
        a
    } else {
        b
    }
}

/// numpy's `clip` between two numbers: NaN from any side wins, and a tie
/// keeps the clipped value (measured on numpy 2.4 for every layout and
/// length, unlike its loop for array bounds).
fn clip_to_numbers(x: f64, low: f64, high: f64) -> f64 {
    if x.is_nan() || low.is_nan() || high.is_nan() {
        return f64::NAN;
    }
    let raised = if low > x { low } else { x };
    if high < raised {
        high
    } else {
        raised
    }
}

/// +0.0 against -0.0, where the operand chosen decides the sign.
fn zero_tie(a: f64, b: f64) -> bool {
    a == 0.0 && b == 0.0 && a.is_sign_negative() != b.is_sign_negative()
}

fn minimum(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a < b {
        a
    } else {
        b
    }
}

/// `handle_rolling`: each column's windows reduced (a window is contiguous
/// in numpy's copy of the strided view, so its sum is pairwise).
fn rolling(reduction: Reduction, rate: bool, window: usize, input: Evaluated) -> Result<Evaluated, Refusal> {
    let columns = float_columns(&input.values)?;
    let rows = input.times.len();
    if window > rows {
        return Err(Refusal::Unaggregable("Rolling window is greater than serie length"));
    }
    let mut scratch = Vec::new();
    let mut rolled: Vec<Vec<f64>> = columns
        .iter()
        .map(|c| c.windows(window).map(|w| reduction.apply(w, SumOrder::Pairwise, &mut scratch).ok_or(ORDER_DEPENDENT)).collect())
        .collect::<Result<_, _>>()?;
    let mut times = tail(&input.times, window - 1);
    if rate {
        rolled = rolled.iter().map(|c| diff(c)).collect();
        times = tail(&times, 1);
    }
    Ok(Evaluated { times, values: Values::Columns { columns: rolled, boolean: false }, ..input })
}

/// `handle_resample`: each column regrouped at `sampling` and aggregated
/// with carbonara's method; the granularity becomes `sampling`.
fn resample(method: Method, sampling: i64, input: Evaluated) -> Result<Evaluated, Refusal> {
    let columns = float_columns(&input.values)?;
    let mut times = None;
    let mut resampled = Vec::with_capacity(columns.len());
    for column in columns {
        let points: Vec<Point> = input.times.iter().zip(column).map(|(&t, &v)| Point::new(t, v)).collect();
        let grouping = Grouping::from_vec(points, Granularity::Duration(sampling), None)
            .map_err(|_| Refusal::Unsupported("a series carbonara refuses to group"))?;
        let points = aggregate(&grouping, method).map_err(|_| Refusal::Unsupported("a method carbonara refuses"))?;
        let these: Vec<i64> = points.iter().map(|p| p.ts).collect();
        if times.as_ref().is_some_and(|t: &Vec<i64>| *t != these) {
            return Err(Refusal::Unsupported("resampled series of different shapes"));
        }
        times = Some(these);
        resampled.push(points.iter().map(|p| p.value).collect());
    }
    Ok(Evaluated {
        granularity: sampling,
        times: times.unwrap_or_default(),
        values: Values::Columns { columns: resampled, boolean: false },
        aggregated: input.aggregated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(name: &str) -> Op {
        Op::Metric(vec![(name.to_owned(), "mean".to_owned())])
    }

    #[test]
    fn evaluates_like_upstream() {
        let grid = Grid { times: vec![0, 60, 120], columns: vec![vec![1.0, 2.0, 4.0], vec![3.0, f64::NAN, 8.0]] };
        let keys = vec![("a".to_owned(), "mean".to_owned()), ("b".to_owned(), "mean".to_owned())];
        let cx = Context { grid: &grid, granularity: 60, keys: &keys };
        let both = Op::Metric(keys.clone());
        let mean = Op::Aggregate { reduction: Reduction::Mean, rate: false, of: Box::new(both.clone()) };
        let result = evaluate(&mean, &cx).unwrap();
        assert!(result.aggregated);
        assert_eq!(result.values, Values::Columns { columns: vec![vec![2.0, 2.0, 6.0]], boolean: false });
        let rate = Op::Aggregate { reduction: Reduction::Max, rate: true, of: Box::new(both) };
        let result = evaluate(&rate, &cx).unwrap();
        assert_eq!(result.times, vec![60, 120]);
        assert_eq!(result.values, Values::Columns { columns: vec![vec![-1.0, 6.0]], boolean: false });
        // A series and a number: not aggregated, the series' timestamps.
        let scaled = Op::Binary(Binary::Mul, Box::new(metric("a")), Box::new(Op::Number(2.0)));
        let result = evaluate(&scaled, &cx).unwrap();
        assert!(!result.aggregated);
        assert_eq!(result.values, Values::Columns { columns: vec![vec![2.0, 4.0, 8.0]], boolean: false });
        // Two series: aggregated.
        let sum = Op::Binary(Binary::Add, Box::new(metric("a")), Box::new(metric("b")));
        assert!(evaluate(&sum, &cx).unwrap().aggregated);
        let compared = Op::Binary(Binary::Greater, Box::new(metric("a")), Box::new(Op::Number(1.5)));
        let result = evaluate(&compared, &cx).unwrap();
        assert_eq!(result.values, Values::Columns { columns: vec![vec![0.0, 1.0, 1.0]], boolean: true });
        let on_booleans = Op::Unary(Unary::Neg, Box::new(compared));
        assert_eq!(evaluate(&on_booleans, &cx), Err(BOOLEAN_OPERAND));
        let rolled = Op::Rolling { reduction: Reduction::Sum, rate: false, window: 2, of: Box::new(metric("a")) };
        let result = evaluate(&rolled, &cx).unwrap();
        assert_eq!((result.times, result.values), (vec![60, 120], Values::Columns { columns: vec![vec![3.0, 6.0]], boolean: false }));
        let too_wide = Op::Rolling { reduction: Reduction::Sum, rate: false, window: 4, of: Box::new(metric("a")) };
        assert!(matches!(evaluate(&too_wide, &cx), Err(Refusal::Unaggregable(_))));
        assert_eq!(evaluate(&metric("c"), &cx).map(|_| ()), Err(Refusal::Unsupported("no series for a metric node")));
    }

    #[test]
    fn breaks_zero_ties_as_numpy() {
        let sign = |v: f64| v.is_sign_negative();
        assert!(sign(maximum(0.0, -0.0)) && !sign(maximum(-0.0, 0.0)));
        assert!(sign(minimum(0.0, -0.0)) && !sign(minimum(-0.0, 0.0)));
        // Between two numbers numpy's clip keeps the value on a tie.
        assert!(!sign(clip_to_numbers(0.0, -0.0, 2.0)) && sign(clip_to_numbers(-0.0, -1.0, 0.0)));
        assert!(clip_to_numbers(1.0, f64::NAN, 2.0).is_nan());
        assert!(zero_tie(0.0, -0.0) && !zero_tie(0.0, 0.0) && !zero_tie(-0.0, -0.0));
        assert_eq!(fmax(0.0, -0.0), None);
        assert_eq!(fmax(f64::NAN, 1.0), Some(1.0));
        assert_eq!(fmax(2.0, f64::NAN), Some(2.0));
        assert!(maximum(1.0, f64::NAN).is_nan());
        let grid = Grid { times: vec![0], columns: vec![vec![1.0]] };
        let keys = vec![("a".to_owned(), "mean".to_owned())];
        let cx = Context { grid: &grid, granularity: 60, keys: &keys };
        let numbers = Op::Binary(Binary::Less, Box::new(Op::Number(1.0)), Box::new(Op::Number(2.0)));
        let shifted = Op::Binary(Binary::Add, Box::new(metric("a")), Box::new(numbers));
        assert_eq!(evaluate(&shifted, &cx), Err(BOOLEAN_OPERAND));
    }

    #[test]
    fn remainder_takes_the_divisors_sign() {
        assert_eq!(remainder(5.0, -3.0), -1.0);
        assert_eq!(remainder(-5.0, 3.0), 1.0);
        assert_eq!(remainder(6.0, -3.0).to_bits(), (-0.0f64).to_bits());
        assert!(remainder(1.0, 0.0).is_nan());
    }
}
