//! Binding of `crate::check`: blobs judged in parallel without the GIL.

use crate::carbonara::SplitKey;
use crate::check::file_tree;
use crate::check::{self, Kind, Verdict};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::path::PathBuf;

/// `(kind, data, split key ns, sampling ns)`; kind is "raw", "split" or
/// "measures" (the key and sampling matter to splits only).
type BlobArg<'py> = (String, Bound<'py, PyBytes>, i64, i64);

/// `(problem or None, points, first ns, last ns)` per blob.
type VerdictResult = (Option<String>, usize, Option<i64>, Option<i64>);

#[pyfunction]
fn inspect_blobs(py: Python<'_>, blobs: Vec<BlobArg<'_>>) -> PyResult<Vec<VerdictResult>> {
    let mut judged = Vec::with_capacity(blobs.len());
    for (kind, data, key, sampling) in &blobs {
        let kind = match kind.as_str() {
            "raw" => Kind::Raw,
            "split" if *sampling > 0 => Kind::Split(SplitKey::new(*key, *sampling)),
            "measures" => Kind::Measures,
            other => return Err(PyValueError::new_err(format!("not a blob kind with its sampling: {other:?}"))),
        };
        judged.push((kind, data.as_bytes()));
    }
    let verdicts = py.detach(|| check::inspect_all(&judged));
    Ok(verdicts.into_iter().map(|Verdict { problem, points, first, last }| (problem, points, first, last)).collect())
}

fn os_error(e: std::io::Error) -> PyErr {
    PyOSError::new_err(e.to_string())
}

/// `(metric id, directory)` of every metric directory of a file store.
#[pyfunction]
fn file_metric_dirs(py: Python<'_>, basepath: PathBuf) -> PyResult<Vec<(String, String)>> {
    let found = py.detach(|| file_tree::metric_dirs(&basepath)).map_err(os_error)?;
    Ok(found.into_iter().map(|(metric, path)| (metric, path.to_string_lossy().into_owned())).collect())
}

/// One object of a metric directory: method (None at the top), name, bytes.
type ObjectResult<'py> = (Option<String>, String, Bound<'py, PyBytes>);

/// Per directory, its objects, read in parallel.
#[pyfunction]
fn file_metric_contents<'py>(py: Python<'py>, dirs: Vec<PathBuf>) -> PyResult<Vec<Vec<ObjectResult<'py>>>> {
    let read = py.detach(|| file_tree::metric_contents(&dirs));
    read.into_iter()
        .map(|objects| {
            Ok(objects
                .map_err(os_error)?
                .into_iter()
                .map(|(method, name, data)| (method, name, PyBytes::new(py, &data)))
                .collect())
        })
        .collect()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(inspect_blobs, m)?)?;
    m.add_function(wrap_pyfunction!(file_metric_dirs, m)?)?;
    m.add_function(wrap_pyfunction!(file_metric_contents, m)?)?;
    Ok(())
}
