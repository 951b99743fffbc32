//! Series cross the FFI as numpy arrays of int64 holding the 16-byte
//! records of upstream's `TIMESERIES_ARRAY_DTYPE` (Python views them with
//! `.view('<i8')` and back), so neither direction copies.

use crate::carbonara::Point;
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// Series smaller than this are processed without releasing the GIL: the
/// release costs more than the work.
const DETACH_THRESHOLD: usize = 4096;

pub fn as_points<'a>(records: &'a PyReadonlyArray1<'_, i64>) -> PyResult<&'a [Point]> {
    let words = records
        .as_slice()
        .map_err(|_| PyValueError::new_err("series records must be a contiguous array"))?;
    if words.len() % 2 != 0 {
        return Err(PyValueError::new_err("series records must hold (timestamp, value) pairs"));
    }
    // SAFETY: `Point` is `repr(C)` {i64, f64}: 16 bytes, 8-aligned, and
    // every bit pattern is valid; `words` is 8-aligned and holds exactly
    // `len / 2` such records, borrowed for the same lifetime.
    Ok(unsafe { std::slice::from_raw_parts(words.as_ptr() as *const Point, words.len() / 2) })
}

pub fn to_array(py: Python<'_>, points: Vec<Point>) -> Bound<'_, PyArray1<i64>> {
    let mut points = std::mem::ManuallyDrop::new(points);
    let (ptr, len, cap) = (points.as_mut_ptr(), points.len(), points.capacity());
    // SAFETY: a `Point` is two 8-byte words with the same alignment as
    // i64, so the allocation of `cap` points has exactly the layout of
    // `2 * cap` i64 and can be owned and freed as such.
    let words = unsafe { Vec::from_raw_parts(ptr as *mut i64, len * 2, cap * 2) };
    PyArray1::from_vec(py, words)
}

/// Runs `work` with the GIL released when the input is large enough.
pub fn run<T: Send>(py: Python<'_>, size: usize, work: impl FnOnce() -> T + Send) -> T {
    if size >= DETACH_THRESHOLD {
        py.detach(work)
    } else {
        work()
    }
}
