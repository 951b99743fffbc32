//! `/v1/aggregates`: the operations language of upstream's API, read and
//! evaluated natively (`processor.aggregated` and `operations.evaluate`).
//!
//! `expression` reads the operations string into nested words as
//! upstream's parser does; `operations` types the validated tree; `grid`
//! lays one sampling's series on shared timestamps; `evaluate` applies the
//! tree with numpy's arithmetic (`reduce`). What is not reproduced bit for
//! bit (numpy's SIMD `pow` and `tan`, integer `count` results, boolean
//! arithmetic) is refused as `Unsupported`, and the caller evaluates it
//! with upstream's code.
//!
//! Used by `python/gnocchi_rs/processor.py` (upstream's
//! `processor.aggregated`, natively) and through it by the aggregates
//! routes; `tests/test_processor.py` holds the differential tests.

pub mod evaluate;
pub mod expression;
pub mod grid;
pub mod operations;
pub mod reduce;

use evaluate::{Context, Evaluated, Values};
use grid::{Fill, Range, Series};
use crate::carbonara::timestamp::floor_ts;
use operations::Op;

/// Why the native evaluation does not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Upstream answers with something else than numbers here: its own
    /// code evaluates it.
    Unsupported(&'static str),
    /// Upstream refuses the query (`UnAggregableTimeseries`); its code
    /// gives the exact answer.
    Unaggregable(&'static str),
}

/// The series of one sampling (ns): their lookup keys and stored points.
pub struct Sampling<'a> {
    pub sampling: i64,
    pub keys: Vec<(String, String)>,
    pub series: Vec<Series<'a>>,
}

/// A query's shared parameters.
#[derive(Debug, Clone, Copy)]
pub struct Query {
    pub start: Option<i64>,
    pub stop: Option<i64>,
    pub fill: Fill,
    pub needed_overlap: f64,
}

/// `processor.aggregated`'s evaluation for every sampling, coarsest first;
/// an answer whose values are not series is refused.
pub fn aggregated(op: &Op, samplings: &[Sampling<'_>], query: Query) -> Result<Vec<Evaluated>, Refusal> {
    let mut order: Vec<&Sampling<'_>> = samplings.iter().collect();
    order.sort_by(|a, b| b.sampling.cmp(&a.sampling));
    order
        .into_iter()
        .map(|s| {
            // `from_timestamp` rounded down to the sampling, as
            // `carbonara.round_timestamp` does.
            let start = query.start.map(|t| floor_ts(t, s.sampling));
            let range = Range { start, stop: query.stop };
            let grid = grid::build(&s.series, range, query.fill, query.needed_overlap)?;
            let result = evaluate::evaluate(op, &Context { grid: &grid, granularity: s.sampling, keys: &s.keys })?;
            match result.values {
                Values::Columns { .. } => Ok(result),
                Values::Scalar(_) => Err(Refusal::Unsupported("an answer that is a number")),
            }
        })
        .collect()
}
