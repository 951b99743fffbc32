//! Binding of the answer reader (`crate::api::answer`): a Gnocchi JSON
//! answer as Python objects, each list of measures as a tuple of three
//! numpy arrays (timestamps in ns, granularities in seconds, values).

use super::records::detach_if_large;
use crate::api::answer::{self, Answer, MeasureColumns};
use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use pyo3::IntoPyObjectExt;

fn object(py: Python<'_>, answer: Answer) -> PyResult<Bound<'_, PyAny>> {
    Ok(match answer {
        Answer::Null => py.None().into_bound(py),
        Answer::Bool(b) => b.into_bound_py_any(py)?,
        Answer::Integer(i) => i.into_bound_py_any(py)?,
        Answer::Float(f) => f.into_bound_py_any(py)?,
        Answer::String(s) => s.into_bound_py_any(py)?,
        Answer::List(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(object(py, item)?)?;
            }
            list.into_any()
        }
        Answer::Object(entries) => {
            let dict = PyDict::new(py);
            for (key, value) in entries {
                dict.set_item(key, object(py, value)?)?;
            }
            dict.into_any()
        }
        Answer::Measures(MeasureColumns { timestamps, granularities, values }) => PyTuple::new(
            py,
            [
                PyArray1::from_vec(py, timestamps).into_any(),
                PyArray1::from_vec(py, granularities).into_any(),
                PyArray1::from_vec(py, values).into_any(),
            ],
        )?
        .into_any(),
    })
}

/// A JSON answer of Gnocchi's API, measure lists as columns.
#[pyfunction]
fn read_answer<'py>(py: Python<'py>, body: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let answer = detach_if_large(py, body.len(), || answer::read(body)).map_err(|e| pyo3::exceptions::PyValueError::new_err(e.0))?;
    object(py, answer)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(read_answer, m)?)?;
    Ok(())
}
