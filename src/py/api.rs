//! Bindings of the native request path (`crate::api`): request bodies
//! parsed into measures that stay native until an incoming backend writes
//! them (`NativeIncoming.add_parsed_measures`). A body the native path
//! does not fully understand raises `RequestDeclined`, and the caller
//! hands the request to upstream's code.

use super::records::detach_if_large;
use crate::aggregates::expression::{self, Node};
use crate::api::measures::{self, NamedMeasures};
use crate::api::render::MeasuresJson;
use crate::api::guard;
use crate::api::Declined;
use crate::carbonara::Point;
use numpy::PyReadonlyArray1;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};

create_exception!(_native, RequestDeclined, PyException, "The native path leaves this request to upstream's code.");

fn declined(reason: Declined) -> PyErr {
    RequestDeclined::new_err(reason.0)
}

/// The measure lists of a body, by position, kept native.
#[pyclass(frozen, module = "gnocchi_rs._native")]
pub struct ParsedMeasures {
    pub(super) lists: Vec<Vec<Point>>,
}

#[pymethods]
impl ParsedMeasures {
    fn __len__(&self) -> usize {
        self.lists.len()
    }

    /// How many measures list `index` holds.
    fn count(&self, index: usize) -> Option<usize> {
        self.lists.get(index).map(Vec::len)
    }
}

/// A list of measures (`POST /v1/metric/<id>/measures`): list 0.
#[pyfunction]
fn parse_measure_list(py: Python<'_>, body: &[u8]) -> PyResult<ParsedMeasures> {
    let list = detach_if_large(py, body.len(), || measures::parse_measure_list(body)).map_err(declined)?;
    Ok(ParsedMeasures { lists: vec![list] })
}

/// `{metric id: measures}`: the 16-byte ids, list i for id i.
#[pyfunction]
fn parse_metric_batch<'py>(py: Python<'py>, body: &[u8]) -> PyResult<(Vec<Bound<'py, PyBytes>>, ParsedMeasures)> {
    let batch = detach_if_large(py, body.len(), || measures::parse_metric_batch(body)).map_err(declined)?;
    let ids = batch.iter().map(|(id, _)| PyBytes::new(py, id)).collect();
    Ok((ids, ParsedMeasures { lists: batch.into_iter().map(|(_, list)| list).collect() }))
}

/// Per resource `(original id, [(metric name, archive policy name, unit,
/// list index)])`, and the lists.
type ResourceBatch = (Vec<(String, Vec<(String, Option<String>, Option<String>, usize)>)>, ParsedMeasures);

/// `{resource id: {metric name: measures}}`.
#[pyfunction]
fn parse_resource_batch(py: Python<'_>, body: &[u8]) -> PyResult<ResourceBatch> {
    let batch = detach_if_large(py, body.len(), || measures::parse_resource_batch(body)).map_err(declined)?;
    let mut lists = Vec::new();
    let resources = batch
        .into_iter()
        .map(|resource| {
            let metrics = resource
                .metrics
                .into_iter()
                .map(|NamedMeasures { name, archive_policy_name, unit, measures }| {
                    lists.push(measures);
                    (name, archive_policy_name, unit, lists.len() - 1)
                })
                .collect();
            (resource.original_id, metrics)
        })
        .collect();
    Ok((resources, ParsedMeasures { lists }))
}

/// What the request guard reads of a JSON body: `(valid UTF-8, nested
/// deeper than max_depth)`.
#[pyfunction]
fn check_json_body(py: Python<'_>, body: &[u8], max_depth: usize) -> (bool, bool) {
    detach_if_large(py, body.len(), || (std::str::from_utf8(body).is_ok(), guard::nesting_exceeds(body, max_depth)))
}

/// One series of a measures answer: its granularity in seconds, its
/// timestamps (ns) and values (any strides: fields of a structured array).
type SeriesArg<'py> = (f64, PyReadonlyArray1<'py, i64>, PyReadonlyArray1<'py, f64>);

/// The body of a measures answer, as upstream renders it, for the series
/// in the order given.
#[pyfunction]
fn render_measures<'py>(py: Python<'py>, series: Vec<SeriesArg<'py>>) -> PyResult<Bound<'py, PyBytes>> {
    let mut owned = Vec::with_capacity(series.len());
    for (granularity, timestamps, values) in &series {
        let (timestamps, values) = (timestamps.as_array(), values.as_array());
        if timestamps.len() != values.len() {
            return Err(pyo3::exceptions::PyValueError::new_err("timestamps and values differ in length"));
        }
        owned.push((*granularity, timestamps.to_vec(), values.to_vec()));
    }
    let points = owned.iter().map(|(_, t, _)| t.len()).sum::<usize>();
    let body = detach_if_large(py, points * 16, || {
        let mut body = MeasuresJson::new();
        body.reserve(points);
        for (granularity, timestamps, values) in &owned {
            body.push_series(*granularity, timestamps.iter().copied().zip(values.iter().copied()));
        }
        body.finish()
    });
    Ok(PyBytes::new(py, body.as_bytes()))
}

fn node_object<'py>(py: Python<'py>, node: &Node) -> PyResult<Bound<'py, PyAny>> {
    Ok(match node {
        Node::Word(word) => PyString::new(py, word).into_any(),
        Node::Group(nodes) => {
            let list = PyList::empty(py);
            for child in nodes {
                list.append(node_object(py, child)?)?;
            }
            list.into_any()
        }
    })
}

/// The operations string of `/v1/aggregates` as the nested lists
/// upstream's parser makes of it, or `RequestDeclined` where upstream's
/// parser must judge (quotes, no balanced group).
#[pyfunction]
fn parse_operations<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    match expression::parse(text) {
        Ok(tree) => node_object(py, &tree),
        Err(unread) => Err(RequestDeclined::new_err(format!("operations left to upstream's parser: {unread:?}"))),
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("RequestDeclined", m.py().get_type::<RequestDeclined>())?;
    m.add_class::<ParsedMeasures>()?;
    m.add_function(wrap_pyfunction!(check_json_body, m)?)?;
    m.add_function(wrap_pyfunction!(parse_measure_list, m)?)?;
    m.add_function(wrap_pyfunction!(parse_metric_batch, m)?)?;
    m.add_function(wrap_pyfunction!(parse_resource_batch, m)?)?;
    m.add_function(wrap_pyfunction!(render_measures, m)?)?;
    m.add_function(wrap_pyfunction!(parse_operations, m)?)?;
    Ok(())
}
