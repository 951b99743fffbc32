//! Bindings of `crate::carbonara` used by `gnocchi_rs.carbonara`.

use super::errors::IntoPyResult;
use super::records::{as_points, as_words, detach_if_large, to_array, with_input, with_inputs, with_owned_input};
use crate::carbonara::aggregate::{aggregate, reduce, Method, Reducer};
use crate::carbonara::group::{Granularity, Grouping};
use crate::carbonara::timestamp::{floor_ts, Calendar};
use crate::carbonara::{codec, series, split, SplitKey};
use crate::Error;
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// `round_timestamp` over an int64 ns array.
#[pyfunction]
fn round_timestamps<'py>(
    py: Python<'py>,
    timestamps: PyReadonlyArray1<'py, i64>,
    freq_ns: i64,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let rounded: Vec<i64> =
        with_input(py, as_words(&timestamps)?, |ts| ts.iter().map(|&t| floor_ts(t, freq_ns)).collect());
    Ok(PyArray1::from_vec(py, rounded))
}

/// `combine_timeseries(preferred, other)`.
#[pyfunction]
fn combine<'py>(
    py: Python<'py>,
    preferred: PyReadonlyArray1<'py, i64>,
    other: PyReadonlyArray1<'py, i64>,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let combined = with_inputs(py, as_points(&preferred)?, as_points(&other)?, series::combine);
    Ok(to_array(py, combined))
}

/// Sorts new measures as metricd does (timestamp, then value, NaN last).
#[pyfunction]
fn sort_measures<'py>(py: Python<'py>, records: PyReadonlyArray1<'py, i64>) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let sorted = with_owned_input(py, as_points(&records)?, |mut points| {
        series::sort_measures(&mut points);
        points
    });
    Ok(to_array(py, sorted))
}

#[pyfunction]
fn serialize_bound<'py>(py: Python<'py>, records: PyReadonlyArray1<'py, i64>) -> PyResult<Bound<'py, PyBytes>> {
    let blob = with_input(py, as_points(&records)?, codec::serialize_bound).into_py_result(py)?;
    Ok(PyBytes::new(py, &blob))
}

#[pyfunction]
fn unserialize_bound<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let points = detach_if_large(py, data.len(), || codec::unserialize_bound(data)).into_py_result(py)?;
    Ok(to_array(py, points))
}

/// Returns `(offset, data)`: offset is None for the compressed encoding.
#[pyfunction]
fn serialize_split<'py>(
    py: Python<'py>,
    records: PyReadonlyArray1<'py, i64>,
    key_ns: i64,
    sampling_ns: i64,
    compressed: bool,
) -> PyResult<(Option<i64>, Bound<'py, PyBytes>)> {
    let key = SplitKey::new(key_ns, sampling_ns);
    let (offset, data) = with_input(py, as_points(&records)?, |points| {
        if compressed {
            codec::serialize_compressed_split(points, key).map(|d| (None, d))
        } else {
            codec::serialize_padded_split(points, key).map(|(o, d)| (Some(o), d))
        }
    })
    .into_py_result(py)?;
    Ok((offset, PyBytes::new(py, &data)))
}

#[pyfunction]
fn unserialize_split<'py>(
    py: Python<'py>,
    data: &[u8],
    key_ns: i64,
    sampling_ns: i64,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let key = SplitKey::new(key_ns, sampling_ns);
    let points = detach_if_large(py, data.len(), || codec::unserialize_split(data, key)).into_py_result(py)?;
    Ok(to_array(py, points))
}

/// Split boundaries of an aggregated series: `(keys, ends)`.
#[pyfunction]
fn split_bounds<'py>(
    py: Python<'py>,
    records: PyReadonlyArray1<'py, i64>,
    sampling_ns: i64,
) -> PyResult<(Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<i64>>)> {
    let ranges = with_input(py, as_points(&records)?, |points| split::split_ranges(points, sampling_ns));
    let keys = ranges.iter().map(|(k, _)| k.key).collect();
    let ends = ranges.iter().map(|(_, r)| r.end as i64).collect();
    Ok((PyArray1::from_vec(py, keys), PyArray1::from_vec(py, ends)))
}

#[pyfunction]
fn decode_measures<'py>(py: Python<'py>, blob: &[u8]) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let points = detach_if_large(py, blob.len(), || codec::decode_measures(blob)).into_py_result(py)?;
    Ok(to_array(py, points))
}

/// A series cut into buckets once, aggregated with any number of methods.
#[pyclass(name = "Grouping", module = "gnocchi_rs._native", frozen)]
struct PyGrouping {
    inner: Grouping,
}

fn parse_granularity(granularity_ns: Option<i64>, calendar: Option<&str>) -> Result<Granularity, Error> {
    match (granularity_ns, calendar) {
        (Some(ns), None) => Ok(Granularity::Duration(ns)),
        (None, Some(code)) => Calendar::from_code(code)
            .map(Granularity::Calendar)
            .ok_or_else(|| Error::InvalidArgument(format!("unknown calendar grouping {code:?}"))),
        _ => Err(Error::InvalidArgument("give exactly one of granularity_ns and calendar".into())),
    }
}

#[pymethods]
impl PyGrouping {
    #[new]
    #[pyo3(signature = (records, granularity_ns=None, calendar=None, start_ns=None))]
    fn new(
        py: Python<'_>,
        records: PyReadonlyArray1<'_, i64>,
        granularity_ns: Option<i64>,
        calendar: Option<&str>,
        start_ns: Option<i64>,
    ) -> PyResult<PyGrouping> {
        let granularity = parse_granularity(granularity_ns, calendar).into_py_result(py)?;
        let inner = with_owned_input(py, as_points(&records)?, |points| Grouping::from_vec(points, granularity, start_ns))
            .into_py_result(py)?;
        Ok(PyGrouping { inner })
    }

    /// Bucket start timestamps (int64 ns).
    #[getter]
    fn tstamps<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        PyArray1::from_slice(py, self.inner.buckets())
    }

    /// Points per bucket.
    #[getter]
    fn counts<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        let counts: Vec<i64> = self.inner.counts().iter().map(|&c| c as i64).collect();
        PyArray1::from_vec(py, counts)
    }

    /// Aggregates every bucket with a stored method name (`mean`, `95pct`,
    /// `rate:last`, ...); returns series records.
    fn aggregate<'py>(&self, py: Python<'py>, method: &str) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let method = Method::parse(method).into_py_result(py)?;
        let grouping = &self.inner;
        let points = detach_if_large(py, grouping.points().len(), || aggregate(grouping, method)).into_py_result(py)?;
        Ok(to_array(py, points))
    }

    /// The `q`-th percentile of every bucket (any float q, as upstream's
    /// `GroupedTimeSeries.quantile` accepts).
    fn percentile<'py>(&self, py: Python<'py>, q: f64) -> Bound<'py, PyArray1<i64>> {
        let grouping = &self.inner;
        to_array(py, detach_if_large(py, grouping.points().len(), || reduce(grouping, Reducer::Percentile(q))))
    }

    /// The grouping of first differences (what `rate:` methods aggregate).
    fn derived(&self, py: Python<'_>) -> PyResult<PyGrouping> {
        let grouping = &self.inner;
        let inner = detach_if_large(py, grouping.points().len(), || grouping.derived()).into_py_result(py)?;
        Ok(PyGrouping { inner })
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(round_timestamps, m)?)?;
    m.add_function(wrap_pyfunction!(combine, m)?)?;
    m.add_function(wrap_pyfunction!(sort_measures, m)?)?;
    m.add_function(wrap_pyfunction!(serialize_bound, m)?)?;
    m.add_function(wrap_pyfunction!(unserialize_bound, m)?)?;
    m.add_function(wrap_pyfunction!(serialize_split, m)?)?;
    m.add_function(wrap_pyfunction!(unserialize_split, m)?)?;
    m.add_function(wrap_pyfunction!(split_bounds, m)?)?;
    m.add_function(wrap_pyfunction!(decode_measures, m)?)?;
    m.add_class::<PyGrouping>()?;
    m.add("POINTS_PER_SPLIT", crate::carbonara::POINTS_PER_SPLIT)?;
    Ok(())
}
