//! Binding of the cross-metric engine (`crate::aggregates`): the
//! operations tree upstream's schema validated, and per sampling the
//! series it laid out, evaluated natively without the GIL. Anything the
//! engine does not reproduce exactly raises `RequestDeclined`, and the
//! caller evaluates with upstream's numpy code.

use super::api::RequestDeclined;
use crate::aggregates::evaluate::{Evaluated, Values};
use crate::aggregates::grid::{Fill, Series};
use crate::aggregates::operations::{Op, Tree};
use crate::aggregates::{self, Query, Refusal, Sampling};
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyFloat, PyInt, PyList, PyString, PyTuple};

fn refused(reason: impl std::fmt::Display) -> PyErr {
    RequestDeclined::new_err(reason.to_string())
}

/// The validated tree: lists (or tuples) of words, floats, the rolling
/// window's int and resample's `numpy.timedelta64`.
fn tree_of(node: &Bound<'_, PyAny>) -> PyResult<Tree> {
    if let Ok(word) = node.cast::<PyString>() {
        return Ok(Tree::Word(word.to_str()?.to_owned()));
    }
    if node.is_instance_of::<PyFloat>() {
        return Ok(Tree::Float(node.extract()?));
    }
    if node.is_instance_of::<PyInt>() {
        return Ok(Tree::Int(node.extract().map_err(|_| refused("an integer out of range"))?));
    }
    if node.is_instance_of::<PyList>() || node.is_instance_of::<PyTuple>() {
        return node.try_iter()?.map(|child| tree_of(&child?)).collect::<PyResult<_>>().map(Tree::List);
    }
    // A timespan (resample's sampling), in nanoseconds.
    let ns = node
        .call_method1("astype", ("timedelta64[ns]",))
        .and_then(|t| t.call_method1("astype", ("int64",)))
        .and_then(|t| t.extract::<i64>())
        .map_err(|_| refused("an operand that is not a word, a number or a timespan"))?;
    Ok(Tree::Int(ns))
}

/// Upstream's `fill` after `validate_qs`: None, a mode's name or a float.
fn fill_of(fill: Option<&Bound<'_, PyAny>>) -> PyResult<Fill> {
    let Some(fill) = fill else { return Ok(Fill::None) };
    if let Ok(name) = fill.cast::<PyString>() {
        return Ok(match name.to_str()? {
            "null" => Fill::Null,
            "dropna" => Fill::DropNa,
            "ffill" => Fill::Ffill,
            "bfill" => Fill::Bfill,
            "full_ffill" => Fill::FullFfill,
            "full_bfill" => Fill::FullBfill,
            other => return Err(refused(format!("an unknown fill {other:?}"))),
        });
    }
    Ok(Fill::Value(fill.extract().map_err(|_| refused("a fill that is not a number"))?))
}

/// One series as the grid takes it: ascending timestamps (ns) and values,
/// copied out of the (strided) fields of a structured array.
type SeriesArg<'py> = (PyReadonlyArray1<'py, i64>, PyReadonlyArray1<'py, f64>);

/// One sampling: its granularity (ns), the lookup key of each series and
/// the series.
type SamplingArg<'py> = (i64, Vec<(String, String)>, Vec<SeriesArg<'py>>);

/// One sampling's result, coarsest first: granularity (ns), timestamps
/// (ns), one values array per row, whether the values are booleans
/// (0.0 and 1.0), whether the result is aggregated.
type EvaluatedResult<'py> = (i64, Bound<'py, PyArray1<i64>>, Vec<Bound<'py, PyArray1<f64>>>, bool, bool);

/// `processor.aggregated`'s evaluation of `operations` over the samplings.
#[pyfunction]
#[pyo3(signature = (operations, samplings, start, stop, fill, needed_overlap))]
fn evaluate_aggregates<'py>(
    py: Python<'py>,
    operations: &Bound<'py, PyAny>,
    samplings: Vec<SamplingArg<'py>>,
    start: Option<i64>,
    stop: Option<i64>,
    fill: Option<&Bound<'py, PyAny>>,
    needed_overlap: f64,
) -> PyResult<Vec<EvaluatedResult<'py>>> {
    let op = Op::read(&tree_of(operations)?).map_err(refusal)?;
    let query = Query { start, stop, fill: fill_of(fill)?, needed_overlap };
    let mut owned = Vec::with_capacity(samplings.len());
    for (sampling, keys, series) in &samplings {
        if keys.len() != series.len() {
            return Err(pyo3::exceptions::PyValueError::new_err("one lookup key per series"));
        }
        let mut copied = Vec::with_capacity(series.len());
        for (times, values) in series {
            let (times, values) = (times.as_array(), values.as_array());
            if times.len() != values.len() {
                return Err(pyo3::exceptions::PyValueError::new_err("timestamps and values differ in length"));
            }
            copied.push((times.to_vec(), values.to_vec()));
        }
        owned.push((*sampling, keys.clone(), copied));
    }
    let results = py
        .detach(|| {
            let samplings: Vec<Sampling<'_>> = owned
                .iter()
                .map(|(sampling, keys, series)| Sampling {
                    sampling: *sampling,
                    keys: keys.clone(),
                    series: series.iter().map(|(times, values)| Series { times, values }).collect(),
                })
                .collect();
            aggregates::aggregated(&op, &samplings, query)
        })
        .map_err(refusal)?;
    Ok(results.into_iter().map(|result| into_python(py, result)).collect())
}

fn refusal(refusal: Refusal) -> PyErr {
    match refusal {
        Refusal::Unsupported(why) => refused(format!("evaluated by upstream: {why}")),
        Refusal::Unaggregable(why) => refused(format!("refused by upstream: {why}")),
    }
}

fn into_python(py: Python<'_>, result: Evaluated) -> EvaluatedResult<'_> {
    let Evaluated { granularity, times, values, aggregated } = result;
    let (columns, boolean) = match values {
        Values::Columns { columns, boolean } => (columns, boolean),
        // `aggregated` answers columns only.
        Values::Scalar(_) => (Vec::new(), false),
    };
    let rows = columns.into_iter().map(|c| PyArray1::from_vec(py, c)).collect();
    (granularity, PyArray1::from_vec(py, times), rows, boolean, aggregated)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(evaluate_aggregates, m)?)?;
    Ok(())
}
