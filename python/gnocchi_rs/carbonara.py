"""Drop-in replacement for ``gnocchi.carbonara`` backed by Rust.

The classes keep upstream's data model (a numpy structured array of
``TIMESERIES_ARRAY_DTYPE`` in ``.ts``) and public names, so upstream's
storage, REST and aggregates code can use them unchanged; grouping,
aggregation, merging and every codec run natively with the GIL released.

Exceptions and ``Aggregation`` are upstream's own classes, and ``SplitKey``
subclasses upstream's, so objects from either module mix freely.

Its size (over 500 lines) is upstream's module's: one face, every public
name upstream's callers use, each a few lines over the native call.
"""

import re
import time

import numpy

from gnocchi import carbonara as _upstream

from gnocchi_rs import _native
from gnocchi_rs import records
from gnocchi_rs.records import ns as _ns
from gnocchi_rs.records import to_records as _records
from gnocchi_rs.records import to_series as _series

BeforeEpochError = _upstream.BeforeEpochError
UnknownAggregationMethod = _upstream.UnknownAggregationMethod
InvalidData = _upstream.InvalidData
Aggregation = _upstream.Aggregation

UNIX_UNIVERSAL_START64 = numpy.datetime64("1970", "ns")
ONE_SECOND = numpy.timedelta64(1, "s")

TIMESERIES_ARRAY_DTYPE = [("timestamps", "<datetime64[ns]"), ("values", "<d")]
_SERIES_DTYPE = records.SERIES_DTYPE

CALENDAR_GROUPINGS = frozenset(("Y", "H", "Q", "M", "W"))


def datetime64_to_epoch(dt):
    return (dt - UNIX_UNIVERSAL_START64) / ONE_SECOND


def round_timestamp(ts, freq):
    """Floor timestamps to ``freq`` with upstream's float arithmetic."""
    freq_ns = _ns(freq)
    stamps = numpy.asarray(ts, dtype="datetime64[ns]")
    flat = numpy.ascontiguousarray(stamps.reshape(-1)).view("<i8")
    rounded = _native.round_timestamps(flat, freq_ns).view("datetime64[ns]")
    if stamps.ndim == 0:
        return rounded[0]
    return rounded.reshape(stamps.shape)


def make_timeseries(timestamps, values):
    """Return a numpy structured array holding a series."""
    return records.as_series(timestamps, values)


def combine_timeseries(ts1, ts2):
    """Union of two series, sorted; ``ts1`` wins on equal timestamps."""
    return _series(_native.combine(_records(ts1), _records(ts2)))


class GroupedTimeSeries(object):
    """A series cut into granularity buckets, computed once natively."""

    def __init__(self, ts, granularity, start=None):
        self.granularity = granularity
        self.can_derive = isinstance(granularity, numpy.timedelta64)
        self.start = start
        start_ns = None if start is None else _ns(numpy.datetime64(start))
        if self.can_derive:
            grouping = _native.Grouping(_records(ts),
                                        granularity_ns=_ns(granularity),
                                        start_ns=start_ns)
        elif granularity in CALENDAR_GROUPINGS:
            grouping = _native.Grouping(_records(ts), calendar=granularity,
                                        start_ns=start_ns)
        else:
            raise TypeError("Unknown granularity %r" % (granularity,))
        self._grouping = grouping

    @classmethod
    def _wrap(cls, grouping, granularity, start):
        self = cls.__new__(cls)
        self.granularity = granularity
        self.can_derive = isinstance(granularity, numpy.timedelta64)
        self.start = start
        self._grouping = grouping
        return self

    @property
    def tstamps(self):
        return self._grouping.tstamps.view("datetime64[ns]")

    @property
    def counts(self):
        return self._grouping.counts

    def aggregate(self, method):
        """Aggregate with a stored method name (``rate:`` included)."""
        return _series(self._grouping.aggregate(method))

    def mean(self):
        return self.aggregate("mean")

    def sum(self):
        return self.aggregate("sum")

    def min(self):
        return self.aggregate("min")

    def max(self):
        return self.aggregate("max")

    def median(self):
        return self.aggregate("median")

    def std(self):
        return self.aggregate("std")

    def count(self):
        return self.aggregate("count")

    def last(self):
        return self.aggregate("last")

    def first(self):
        return self.aggregate("first")

    def quantile(self, q):
        return _series(self._grouping.percentile(float(q)))

    def derived(self):
        return self._wrap(self._grouping.derived(), self.granularity,
                          self.start)


class TimeSerie(object):
    """A series of (timestamp, value) points, sorted, one per timestamp."""

    def __init__(self, ts=None):
        if ts is None:
            ts = make_timeseries([], [])
        self.ts = ts

    def __iter__(self):
        return zip(self.ts["timestamps"], self.ts["values"])

    @classmethod
    def from_data(cls, timestamps=None, values=None):
        return cls(make_timeseries(timestamps, values))

    def __eq__(self, other):
        return (isinstance(other, TimeSerie) and
                numpy.array_equal(self.ts, other.ts))

    def __getitem__(self, key):
        if isinstance(key, numpy.datetime64):
            idx = numpy.searchsorted(self.timestamps, key)
            if self.timestamps[idx] == key:
                return self[idx]
            raise KeyError(key)
        if isinstance(key, slice):
            start, stop = key.start, key.stop
            if isinstance(start, numpy.datetime64):
                start = numpy.searchsorted(self.timestamps, start)
            if isinstance(stop, numpy.datetime64):
                stop = numpy.searchsorted(self.timestamps, stop)
            key = slice(start, stop, key.step)
        return self.ts[key]

    def _merge(self, ts):
        self.ts = combine_timeseries(ts, self.ts)

    def merge(self, ts):
        """Merge a TimeSerie into this one; its points win."""
        return self._merge(ts.ts)

    def set_values(self, values):
        return self._merge(values)

    def __len__(self):
        return len(self.ts)

    @property
    def timestamps(self):
        return self.ts["timestamps"]

    @property
    def values(self):
        return self.ts["values"]

    @property
    def first(self):
        if len(self.ts):
            return self.ts["timestamps"][0]

    @property
    def last(self):
        if len(self.ts):
            return self.ts["timestamps"][-1]

    def group_serie(self, granularity, start=None):
        # Stored formats count from the epoch: nothing before it groups.
        if len(self.ts) != 0 and self.first < UNIX_UNIVERSAL_START64:
            raise BeforeEpochError(self.first)
        return GroupedTimeSeries(self.ts, granularity, start)


def _speed(label, seconds, points, repeat):
    print("  %s: %.2f M points/s" % (label, points * repeat / seconds / 1e6))


class BoundTimeSerie(TimeSerie):
    """The raw points of a metric, limited to ``back_window`` + 1 blocks."""

    def __init__(self, ts=None, block_size=None, back_window=0):
        super(BoundTimeSerie, self).__init__(ts)
        self.block_size = block_size
        self.back_window = back_window

    @classmethod
    def from_data(cls, timestamps=None, values=None,
                  block_size=None, back_window=0):
        return cls(make_timeseries(timestamps, values),
                   block_size=block_size, back_window=back_window)

    def __eq__(self, other):
        return (isinstance(other, BoundTimeSerie)
                and super(BoundTimeSerie, self).__eq__(other)
                and self.block_size == other.block_size
                and self.back_window == other.back_window)

    def set_values(self, values, before_truncate_callback=None):
        """Merge sorted new points, dropping those older than the window.

        :return: the return value of ``before_truncate_callback``, if any.
        """
        if self.block_size is not None and len(self.ts) != 0:
            index = numpy.searchsorted(values["timestamps"],
                                       self.first_block_timestamp())
            values = values[index:]
        super(BoundTimeSerie, self).set_values(values)
        result = None
        if before_truncate_callback:
            result = before_truncate_callback(self)
        self._truncate()
        return result

    @classmethod
    def unserialize(cls, data, block_size, back_window):
        words = _native.unserialize_bound(bytes(data))
        return cls(_series(words), block_size=block_size,
                   back_window=back_window)

    def serialize(self):
        if len(self.ts) == 0:
            raise IndexError("cannot serialize an empty series")
        return _native.serialize_bound(_records(self.ts))

    def first_block_timestamp(self):
        """The oldest timestamp the series still accepts."""
        rounded = round_timestamp(self.timestamps[-1], self.block_size)
        return rounded - (self.block_size * self.back_window)

    def _truncate(self):
        if self.block_size is not None and len(self.ts) != 0:
            self.ts = self[self.first_block_timestamp():]

    @classmethod
    def benchmark(cls):
        """Print native (un)serialization speeds."""
        points = SplitKey.POINTS_PER_SPLIT
        repeat = 50
        rng = numpy.random.default_rng(0)
        start = numpy.datetime64("2015-04-03 23:11", "ns")
        steps = rng.integers(1000000, 10000000, points).astype(
            "timedelta64[us]")
        timestamps = start + numpy.cumsum(steps)
        print(cls.__name__)
        print("=" * len(cls.__name__))
        for title, values in (("Simple continuous range",
                               numpy.arange(points, dtype=float)),
                              ("random", rng.random(points))):
            print(title)
            ts = cls.from_data(timestamps, values)
            t0 = time.perf_counter()
            for _ in range(repeat):
                blob = ts.serialize()
            _speed("Serialization", time.perf_counter() - t0, points, repeat)
            print("   Bytes per point: %.2f" % (len(blob) / float(points)))
            t0 = time.perf_counter()
            for _ in range(repeat):
                cls.unserialize(blob, ONE_SECOND, 1)
            _speed("Unserialization", time.perf_counter() - t0, points,
                   repeat)


class SplitKey(_upstream.SplitKey):
    """Start of a split of ``POINTS_PER_SPLIT`` points of one granularity.

    A subclass of upstream's, so keys from both modules compare and hash
    alike; only the rounding is native.
    """

    __slots__ = ()

    @classmethod
    def from_timestamp_and_sampling(cls, timestamp, sampling):
        return cls(round_timestamp(timestamp,
                                   freq=sampling * cls.POINTS_PER_SPLIT),
                   sampling)


class AggregatedTimeSerie(TimeSerie):
    """One (method, granularity) series of a metric, as stored in splits."""

    _AGG_METHOD_PCT_RE = re.compile(r"([1-9][0-9]?)pct")

    PADDED_SERIAL_LEN = 9
    COMPRESSED_SERIAL_LEN = 10
    COMPRESSED_TIMESPAMP_LEN = 2

    def __init__(self, aggregation, ts=None):
        super(AggregatedTimeSerie, self).__init__(ts)
        self.aggregation = aggregation

    def resample(self, sampling):
        return AggregatedTimeSerie.from_grouped_serie(
            self.group_serie(sampling),
            Aggregation(self.aggregation.method, sampling,
                        self.aggregation.timespan))

    @classmethod
    def from_data(cls, aggregation, timestamps, values):
        return cls(aggregation=aggregation,
                   ts=make_timeseries(timestamps, values))

    @staticmethod
    def _get_agg_method(aggregation_method):
        match = AggregatedTimeSerie._AGG_METHOD_PCT_RE.match(
            aggregation_method)
        if match:
            return "quantile", float(match.group(1))
        if aggregation_method not in _REDUCERS:
            raise UnknownAggregationMethod(aggregation_method)
        return aggregation_method, None

    def truncate(self, oldest_point=None):
        """Drop points up to ``oldest_point`` included.

        :param oldest_point: a datetime64, or a timedelta64 counted back
                             from the last point; the aggregation's
                             timespan by default.
        :return: the oldest point that could have been kept.
        """
        last = self.last
        if last is None:
            return
        if oldest_point is None:
            oldest_point = self.aggregation.timespan
            if oldest_point is None:
                return
        if isinstance(oldest_point, numpy.timedelta64):
            oldest_point = last - oldest_point
        index = numpy.searchsorted(self.ts["timestamps"], oldest_point,
                                   side="right")
        self.ts = self.ts[index:]
        return oldest_point

    def split(self):
        granularity = self.aggregation.granularity
        keys, ends = _native.split_bounds(_records(self.ts),
                                          _ns(granularity))
        start = 0
        for key, end in zip(keys.view("datetime64[ns]"), ends):
            yield (SplitKey(key, granularity),
                   AggregatedTimeSerie(self.aggregation, self[start:end]))
            start = end

    @classmethod
    def from_timeseries(cls, timeseries, aggregation):
        # Series must not overlap and come in time order.
        if timeseries:
            ts = numpy.concatenate([t.ts for t in timeseries])
        else:
            ts = None
        return cls(aggregation=aggregation, ts=ts)

    @classmethod
    def from_grouped_serie(cls, grouped_serie, aggregation):
        return cls(aggregation,
                   ts=grouped_serie.aggregate(aggregation.method))

    def __eq__(self, other):
        return (isinstance(other, AggregatedTimeSerie)
                and super(AggregatedTimeSerie, self).__eq__(other)
                and self.aggregation == other.aggregation)

    def __repr__(self):
        return "<%s 0x%x granularity=%s agg_method=%s>" % (
            self.__class__.__name__,
            id(self),
            self.aggregation.granularity,
            self.aggregation.method,
        )

    @staticmethod
    def is_compressed(serialized_data):
        """Whether the data was serialized in the compressed encoding."""
        return serialized_data[0] == ord("c")

    @classmethod
    def unserialize(cls, data, key, aggregation):
        """Decode a split of either encoding.

        :param data: the stored bytes (empty or None: no points).
        :param key: the :class:`SplitKey` of the split.
        :param aggregation: the Aggregation of the series.
        """
        if not data:
            return cls.from_data(aggregation, [], [])
        words = _native.unserialize_split(bytes(data), _ns(key.key),
                                          _ns(key.sampling))
        return cls(aggregation, ts=_series(words))

    def get_split_key(self, timestamp=None):
        """The split key of ``timestamp`` (default: the first point)."""
        if timestamp is None:
            timestamp = self.first
            if timestamp is None:
                return
        return SplitKey.from_timestamp_and_sampling(
            timestamp, self.aggregation.granularity)

    def serialize(self, start, compressed=True):
        """Encode this split; returns ``(offset, data)``.

        Compressed data is a whole object (offset None); padded data goes at
        byte ``offset`` of the split object.
        """
        if len(self.ts) == 0:
            # Upstream fails on its missing first point the same way.
            raise TypeError("cannot serialize an empty series")
        return _native.serialize_split(
            _records(self.ts), _ns(start.key),
            _ns(self.aggregation.granularity), bool(compressed))

    def fetch(self, from_timestamp=None, to_timestamp=None):
        """Points from ``from_timestamp`` (rounded down to the granularity,
        included) to ``to_timestamp`` (excluded)."""
        if from_timestamp is None:
            from_ = None
        else:
            from_ = round_timestamp(from_timestamp,
                                    self.aggregation.granularity)
        return self.__class__(self.aggregation, ts=self[from_:to_timestamp])

    @classmethod
    def benchmark(cls):
        """Print native split codec and resampling speeds."""
        points = SplitKey.POINTS_PER_SPLIT
        repeat = 50
        sampling = numpy.timedelta64(5, "s")
        start = numpy.datetime64("2015-04-03 23:11", "ns")
        timestamps = start + numpy.arange(points) * sampling
        rng = numpy.random.default_rng(0)
        print(cls.__name__)
        print("=" * len(cls.__name__))
        for title, values in (("Simple continuous range",
                               numpy.arange(points, dtype=float)),
                              ("random", rng.random(points))):
            print(title)
            aggregation = Aggregation("mean", sampling, None)
            ts = cls.from_data(aggregation, timestamps, values)
            key = ts.get_split_key()
            for compressed in (False, True):
                label = "Compressed" if compressed else "Uncompressed"
                t0 = time.perf_counter()
                for _ in range(repeat):
                    _, blob = ts.serialize(key, compressed=compressed)
                _speed(label + " serialization", time.perf_counter() - t0,
                       points, repeat)
                t0 = time.perf_counter()
                for _ in range(repeat):
                    cls.unserialize(blob, key, aggregation)
                _speed(label + " unserialization",
                       time.perf_counter() - t0, points, repeat)
            for method in sorted(_REDUCERS) + ["5pct", "90pct"]:
                resampled = cls(Aggregation(method, sampling, None), ts.ts)
                t0 = time.perf_counter()
                for _ in range(repeat):
                    resampled.resample(numpy.timedelta64(35, "s"))
                _speed("resample(%s)" % method, time.perf_counter() - t0,
                       points, repeat)


_REDUCERS = frozenset(("mean", "sum", "last", "max", "min", "std", "median",
                       "first", "count"))

# Kept for code that imports them from here, as from upstream.
__all__ = [
    "Aggregation", "AggregatedTimeSerie", "BeforeEpochError",
    "BoundTimeSerie", "GroupedTimeSeries", "InvalidData", "ONE_SECOND",
    "SplitKey", "TIMESERIES_ARRAY_DTYPE", "TimeSerie",
    "UNIX_UNIVERSAL_START64", "UnknownAggregationMethod",
    "combine_timeseries", "datetime64_to_epoch", "make_timeseries",
    "round_timestamp",
]
