//! Series cross the FFI as numpy arrays of int64 holding the 16-byte
//! records of upstream's `TIMESERIES_ARRAY_DTYPE` (Python views them with
//! `.view('<i8')` and back). Results are handed to numpy without a copy.
//!
//! Inputs are read in place only while the GIL is held: the numpy crate's
//! borrow flags keep other Rust code from writing the array, but not a
//! Python thread, which can run as soon as the GIL is released. Work that
//! releases the GIL therefore runs on a copy of its input taken with the
//! GIL held. Measured on a day of 1 s points (1.4 MB): nothing for sorting
//! and grouping, which copy their input anyway and now copy it there;
//! 30-70 us more on a 150 us raw-series encoding. Splits (at most 3600
//! points) stay under the threshold below: no copy, GIL kept.

use crate::carbonara::Point;
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// Work on fewer items than this keeps the GIL: releasing it costs more
/// than the work.
const DETACH_THRESHOLD: usize = 4096;

/// The records of an array, borrowed: valid only while the GIL is held.
pub fn as_points<'a>(records: &'a PyReadonlyArray1<'_, i64>) -> PyResult<&'a [Point]> {
    let words = records
        .as_slice()
        .map_err(|_| PyValueError::new_err("series records must be a contiguous, aligned array"))?;
    if words.len() % 2 != 0 {
        return Err(PyValueError::new_err("series records must hold (timestamp, value) pairs"));
    }
    // SAFETY: `Point` is `repr(C)` {i64, f64}: 16 bytes, 8-aligned, and
    // every bit pattern is valid; `words` is 8-aligned (numpy's `as_slice`
    // refuses an unaligned array, e.g. a buffer read at an odd offset) and holds exactly
    // `len / 2` such records, borrowed for the same lifetime.
    Ok(unsafe { std::slice::from_raw_parts(words.as_ptr() as *const Point, words.len() / 2) })
}

/// An int64 array's values, borrowed: valid only while the GIL is held.
pub fn as_words<'a>(array: &'a PyReadonlyArray1<'_, i64>) -> PyResult<&'a [i64]> {
    array.as_slice().map_err(|_| PyValueError::new_err("expected a contiguous, aligned int64 array"))
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

/// Runs `work` over `input` (numpy-borrowed items): in place with the GIL
/// held for small inputs, on a copy with the GIL released for large ones.
pub fn with_input<T: Copy + Send + Sync, R: Send>(
    py: Python<'_>,
    input: &[T],
    work: impl FnOnce(&[T]) -> R + Send,
) -> R {
    if input.len() < DETACH_THRESHOLD {
        work(input)
    } else {
        let owned = input.to_vec();
        py.detach(|| work(&owned))
    }
}

/// Runs `work` over its own copy of `input`, made with the GIL held;
/// the GIL is released for large inputs. For work that needs an owned
/// input anyway (sorting, a grouping), this is the only copy.
pub fn with_owned_input<T: Copy + Send, R: Send>(py: Python<'_>, input: &[T], work: impl FnOnce(Vec<T>) -> R + Send) -> R {
    let owned = input.to_vec();
    if owned.len() < DETACH_THRESHOLD {
        work(owned)
    } else {
        py.detach(|| work(owned))
    }
}

/// `with_input` over two inputs.
pub fn with_inputs<T: Copy + Send + Sync, R: Send>(
    py: Python<'_>,
    first: &[T],
    second: &[T],
    work: impl FnOnce(&[T], &[T]) -> R + Send,
) -> R {
    if first.len() + second.len() < DETACH_THRESHOLD {
        work(first, second)
    } else {
        let (first, second) = (first.to_vec(), second.to_vec());
        py.detach(|| work(&first, &second))
    }
}

/// Runs `work`, which reads only data the binding owns (or immutable
/// Python bytes), with the GIL released when `size` is large enough.
pub fn detach_if_large<T: Send>(py: Python<'_>, size: usize, work: impl FnOnce() -> T + Send) -> T {
    if size >= DETACH_THRESHOLD {
        py.detach(work)
    } else {
        work()
    }
}
