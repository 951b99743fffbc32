"""How series and times cross to the native module, for every Python
caller (the drop-in carbonara, the storage and incoming drivers).

A series is a numpy structured array of ``TIMESERIES_ARRAY_DTYPE``; the
native side takes and returns its int64 view (two words a point), so
neither direction copies. Times and durations cross as int nanoseconds.
"""
import numpy

SERIES_DTYPE = numpy.dtype([("timestamps", "<datetime64[ns]"),
                            ("values", "<d")])

_INT64 = numpy.dtype("<i8")
_NS_DTYPES = (numpy.dtype("<M8[ns]"), numpy.dtype("<m8[ns]"))
NAT_NS = numpy.iinfo(numpy.int64).min

# Granularities are few and converted on every split: remembered.
_DURATION_NS = {}


def ns(value):
    """int64 nanoseconds of a datetime64 or timedelta64 scalar (NaT is
    int64's minimum, as numpy stores it)."""
    if not isinstance(value, (numpy.datetime64, numpy.timedelta64)):
        raise TypeError("expected a numpy datetime64 or timedelta64, got %r"
                        % (value,))
    # The common case, already in ns: ``item()`` gives the count itself
    # (None for NaT), several times faster than converting.
    if value.dtype in _NS_DTYPES:
        count = value.item()
        return NAT_NS if count is None else count
    if isinstance(value, numpy.timedelta64):
        try:
            count = _DURATION_NS.get(value)
        except ValueError:
            # numpy cannot hash a timedelta64 without a unit.
            return int(value.astype("timedelta64[ns]").astype(numpy.int64))
        if count is None:
            if len(_DURATION_NS) > 1024:
                _DURATION_NS.clear()
            count = _DURATION_NS[value] = int(
                value.astype("timedelta64[ns]").astype(numpy.int64))
        return count
    return int(value.astype("datetime64[ns]").astype(numpy.int64))


def optional_ns(value):
    """``ns``, with None (no timespan, no bound) kept as None."""
    return None if value is None else ns(value)


def as_series(timestamps, values):
    """A series of these timestamps and values."""
    if len(timestamps) != len(values):
        raise ValueError("Timestamps and values must have the same length")
    series = numpy.zeros(len(timestamps), dtype=SERIES_DTYPE)
    series["timestamps"] = timestamps
    series["values"] = values
    return series


def to_records(measures):
    """The int64 view the native side reads: of a series, of a structured
    array with other time or value types, or of (timestamp, value) pairs."""
    if not isinstance(measures, numpy.ndarray):
        measures = numpy.fromiter(measures, dtype=SERIES_DTYPE)
    elif measures.dtype != SERIES_DTYPE:
        measures = as_series(measures["timestamps"], measures["values"])
    return numpy.ascontiguousarray(measures).view(_INT64)


def to_series(words):
    """The series over int64 words returned by the native side."""
    return words.view(SERIES_DTYPE)
