"""Differential tests: ``gnocchi_rs.carbonara`` against upstream
``gnocchi.carbonara`` (4.7.1) on random inputs.

Every test builds one input, runs it through both modules and requires the
same result bit for bit: timestamps as int64, floats as their IEEE-754 bit
patterns, serialized objects as bytes. Where upstream raises, ours must raise
the same exception class or a subclass of it.

Two differences are accepted, and only these:

* NaN payloads. Any NaN equals any NaN: the payload and sign of a NaN made by
  arithmetic come from the hardware, not from the algorithm.
* ``min``/``max`` (and ``rate:min``/``rate:max``) of a bucket holding both
  +0.0 and -0.0. Upstream picks the winner through numpy's *unstable*
  argsort, so which zero comes out is not defined by upstream itself. Only
  the sign of that zero may differ; see ``mixed_zero_buckets``.

Inputs are generated the way metricd produces them: raw batches are unsorted
and may repeat timestamps, and they go through upstream's own
``numpy.sort(batch, order='timestamps')`` and ``BoundTimeSerie.set_values``
before anything else sees them.

Hypothesis runs derandomized with a fixed number of examples per test, so a
CI run is reproducible and the whole file stays within about a minute.

Over 500 lines: one section per upstream class, all on the same
strategies.
"""

import lz4.block
import numpy
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from gnocchi import carbonara as up
from gnocchi_rs import carbonara as rs

# --------------------------------------------------------------------------
# Units and domains
# --------------------------------------------------------------------------

S = 10 ** 9
MINUTE = 60 * S
HOUR = 3600 * S
DAY = 86400 * S

# 2017-01-01T00:00:00Z, the epoch of upstream's own test-suite.
NS_2017 = 1483228800 * S

# Timestamps stay inside [-LIMIT, LIMIT] so that what the code adds to them
# (a split length of 3600 hours, the look-back of one granularity for rate:)
# cannot overflow int64 (which ends at 2262-04-11).
LIMIT = 9 * 10 ** 18

# Granularities: the ones archive policies use, plus sub-second ones and
# ones that do not divide a second or a minute evenly (333333333 ns, 7 s),
# down to 1 ns where float64 rounding of the timestamp (256 ns steps in
# 2017) dominates upstream's bucket arithmetic.
GRANULARITIES_NS = [1, 7, 1000, 10 ** 6, 333333333, S, 7 * S, MINUTE,
                    5 * MINUTE, HOUR]

CALENDAR_CODES = ["Y", "H", "Q", "M", "W"]

BASE_METHODS = ["mean", "sum", "last", "max", "min", "std", "median", "first",
                "count", "1pct", "5pct", "33pct", "50pct", "90pct", "95pct",
                "99pct"]
ALL_METHODS = BASE_METHODS + ["rate:" + m for m in BASE_METHODS]

# Upstream's numpy arithmetic warns on inf - inf, overflowing sums and
# NaN casts; those inputs are deliberate here.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

NAN = float("nan")
INF = float("inf")


def td(ns):
    return numpy.timedelta64(int(ns), "ns")


def dt(ns):
    return numpy.datetime64(int(ns), "ns")


def diff_settings(max_examples):
    # deadline=None: the first call of a test pays for imports and numpy
    # warm-up. derandomize=True and no database: the same examples on every
    # machine and every run.
    return settings(max_examples=max_examples, deadline=None,
                    derandomize=True, database=None, print_blob=False,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


# --------------------------------------------------------------------------
# Comparison helpers
# --------------------------------------------------------------------------

def assert_floats_identical(expected, got, what, ambiguous_zero=None):
    """Bit equality of two float64 arrays; any NaN equals any NaN.

    ``ambiguous_zero`` is a boolean mask of positions where +0.0 and -0.0
    are both acceptable (the min/max exception of the module docstring).
    """
    expected = numpy.asarray(expected)
    got = numpy.asarray(got)
    assert got.dtype == expected.dtype == numpy.float64, (
        "%s: dtype %s, expected %s" % (what, got.dtype, expected.dtype))
    assert got.shape == expected.shape, (
        "%s: shape %s, expected %s" % (what, got.shape, expected.shape))
    e = numpy.ascontiguousarray(expected)
    g = numpy.ascontiguousarray(got)
    ok = (e.view("<u8") == g.view("<u8")) | (numpy.isnan(e) & numpy.isnan(g))
    if ambiguous_zero is not None:
        ok |= ambiguous_zero & (e == 0) & (g == 0)
    if not ok.all():
        bad = numpy.flatnonzero(~ok)
        i = bad[0]
        raise AssertionError(
            "%s: %d value(s) differ; first at index %d: expected %r (%#018x),"
            " got %r (%#018x)" % (what, bad.size, i, e[i],
                                  int(e.view("<u8")[i]), g[i],
                                  int(g.view("<u8")[i])))


def assert_stamps_identical(expected, got, what):
    expected = numpy.asarray(expected)
    got = numpy.asarray(got)
    assert got.dtype == expected.dtype, (
        "%s: dtype %s, expected %s" % (what, got.dtype, expected.dtype))
    e = expected.view("<i8")
    g = got.view("<i8")
    assert g.shape == e.shape, "%s: %d stamps, expected %d" % (
        what, g.size, e.size)
    if not numpy.array_equal(e, g):
        i = numpy.flatnonzero(e != g)[0]
        raise AssertionError("%s: timestamp %d is %d ns, expected %d ns"
                             % (what, i, g[i], e[i]))


def assert_series_identical(expected, got, what, ambiguous_stamps=None):
    """Same structured dtype, same int64 timestamps, same float bits."""
    assert got.dtype == expected.dtype, (
        "%s: dtype %s, expected %s" % (what, got.dtype, expected.dtype))
    assert_stamps_identical(expected["timestamps"], got["timestamps"],
                            what + " timestamps")
    mask = None
    if ambiguous_stamps is not None and len(ambiguous_stamps):
        mask = numpy.isin(expected["timestamps"], ambiguous_stamps)
    assert_floats_identical(expected["values"], got["values"],
                            what + " values", mask)


def assert_scalar_stamp_identical(expected, got, what):
    if expected is None:
        assert got is None, "%s: got %r, expected None" % (what, got)
        return
    assert type(got) is type(expected), "%s: type %s, expected %s" % (
        what, type(got), type(expected))
    assert got.dtype == expected.dtype, "%s: %s vs %s" % (
        what, got.dtype, expected.dtype)
    assert got.view("<i8") == expected.view("<i8"), (
        "%s: %r, expected %r" % (what, got, expected))


def both(call):
    """Run ``call(module)`` on upstream, then on ours.

    If upstream raises, ours must raise the same class or a subclass and
    ``(None, None)`` is returned; otherwise both results are returned.
    """
    try:
        expected = call(up)
    except Exception as exc:  # noqa: BLE001 - any upstream error is the spec
        with pytest.raises(type(exc)):
            call(rs)
        return None, None
    return expected, call(rs)


def mixed_zero_buckets(up_grouped, method):
    """Buckets where upstream's ``method`` may return +0.0 or -0.0.

    Upstream's min/max argsort the values with numpy's default, unstable
    sort and keep the first (min) or last (max) of each bucket, so when a
    bucket's extreme is a zero held both as +0.0 and as -0.0, which one wins
    depends on the sort's internals. Every other method is deterministic.
    """
    empty = numpy.array([], dtype="datetime64[ns]")
    if method.split(":")[-1] not in ("min", "max"):
        return empty
    grouped = up_grouped.derived() if method.startswith("rate:") else (
        up_grouped)
    values = grouped._ts["values"]
    counts = grouped.counts
    if values.size == 0:
        return empty
    starts = numpy.cumsum(counts) - counts
    positive = numpy.add.reduceat(
        ((values == 0) & ~numpy.signbit(values)).astype(numpy.int64), starts)
    negative = numpy.add.reduceat(
        ((values == 0) & numpy.signbit(values)).astype(numpy.int64), starts)
    return grouped.tstamps[(positive > 0) & (negative > 0)].astype(
        "datetime64[ns]")


# --------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------

# Values: small integers make ties (which exercise the ordering rules of
# median, percentiles, min and max), the specials are the IEEE-754 corner
# cases, and st.floats() covers everything else, NaN payloads included.
FLOAT_VALUES = st.one_of(
    st.integers(-4, 4).map(float),
    st.sampled_from([0.0, -0.0, NAN, INF, -INF, 5e-324, -5e-324,
                     1.7976931348623157e308, -1.7976931348623157e308,
                     0.1, 1e16, -1e16, 2.0 ** 53 + 1]),
    st.floats(allow_nan=True, allow_infinity=True),
)

granularity_ns = st.one_of(st.sampled_from(GRANULARITIES_NS),
                           st.integers(1, 2 * HOUR))


@st.composite
def anchor_ns(draw, pre_epoch=False):
    """Where a series starts, in ns since the epoch."""
    if pre_epoch:
        return draw(st.one_of(
            st.sampled_from([-1, -S, -HOUR - 1, -365 * DAY, -LIMIT]),
            st.integers(-LIMIT, -1)))
    return draw(st.one_of(
        st.sampled_from([0, 1, NS_2017, NS_2017 - 1, NS_2017 + 1]),
        st.integers(0, LIMIT),
        # From 2006 on, float64 steps between timestamps are 256 ns or
        # more: where upstream's float rounding differs most from integer
        # arithmetic.
        st.integers(2 ** 60, LIMIT)))


@st.composite
def raw_timestamps(draw, granularity, pre_epoch=False, min_size=0,
                   max_size=40):
    """Unsorted timestamps (ns ints) in one of several layouts."""
    n = draw(st.integers(min_size, max_size))
    layout = draw(st.sampled_from(
        ["irregular", "duplicates", "near_boundary", "sparse"]))
    anchor = draw(anchor_ns(pre_epoch))
    if layout == "irregular":
        # Deltas of 0 give duplicates; the scale goes from 1 ns to ~17 min.
        scale = draw(st.sampled_from([1, 10 ** 3, 10 ** 6, 10 ** 9,
                                      10 ** 12]))
        deltas = draw(st.lists(st.integers(0, scale), min_size=n,
                               max_size=n))
        offsets = numpy.cumsum(deltas, dtype=object).tolist()
    elif layout == "duplicates":
        # A few distinct instants, each repeated: exercises the tie-break of
        # the structured sort and the first-occurrence rule of the merge.
        pool = draw(st.lists(st.integers(0, 3 * granularity), min_size=1,
                             max_size=4))
        offsets = draw(st.lists(st.sampled_from(pool), min_size=n,
                                max_size=n))
    elif layout == "near_boundary":
        # k*period plus or minus a few ns, where period is the bucket
        # length or the split length: upstream floors in float64, so points
        # within about one ulp below a boundary go to the next bucket (or
        # split, or block).
        period = draw(st.sampled_from(
            [granularity, granularity * up.SplitKey.POINTS_PER_SPLIT]))
        anchor -= anchor % period
        eps = st.one_of(st.integers(-300, 300),
                        st.sampled_from([-1, 0, 1, -127, -128, -129, -255,
                                         -256, -257, -512, -1024, -2048]))
        # At most 40 periods, and no more than ~30 years.
        k_max = max(1, min(40, 10 ** 18 // period))
        offsets = [k * period + e for k, e in zip(
            draw(st.lists(st.integers(0, k_max), min_size=n, max_size=n)),
            draw(st.lists(eps, min_size=n, max_size=n)))]
    else:
        # Big gaps: many empty buckets, several splits, several months.
        deltas = draw(st.lists(
            st.tuples(st.sampled_from([0, S, 7 * S, HOUR, DAY, 32 * DAY,
                                       400 * DAY]),
                      st.integers(0, S)).map(sum),
            min_size=n, max_size=n))
        offsets = numpy.cumsum(deltas, dtype=object).tolist()
    offsets = [int(o) for o in offsets]
    if offsets:
        # Keep the whole series inside [-LIMIT, LIMIT], and at or after the
        # epoch unless pre-epoch stamps were asked for (near-boundary
        # offsets can be negative).
        low, high = min(offsets), max(offsets)
        lowest = -LIMIT if pre_epoch else 0
        anchor = max(min(anchor, LIMIT - high), lowest - low)
    stamps = [anchor + o for o in offsets]
    return draw(st.permutations(stamps))


def make_batch(stamps, values):
    """An unsorted batch as the incoming drivers hand it to metricd."""
    return up.make_timeseries(
        numpy.array(stamps, dtype=numpy.int64).view("datetime64[ns]"),
        numpy.array(values, dtype=numpy.float64))


def metricd_sort(batch):
    # Upstream's own sort (storage.add_measures_to_metrics): equal
    # timestamps are tie-broken on the value.
    return numpy.sort(batch, order="timestamps")


def upstream_series(batch):
    """Sorted, de-duplicated series built by upstream's own code path."""
    bound = up.BoundTimeSerie()
    bound.set_values(metricd_sort(batch))
    return bound.ts


@st.composite
def raw_batches(draw, granularity, pre_epoch=False, min_size=0, max_size=40):
    stamps = draw(raw_timestamps(granularity, pre_epoch, min_size, max_size))
    values = draw(st.lists(FLOAT_VALUES, min_size=len(stamps),
                           max_size=len(stamps)))
    return make_batch(stamps, values)


@st.composite
def series(draw, granularity, pre_epoch=False, min_size=0, max_size=40):
    """A sorted series without duplicate timestamps (a bound series)."""
    return upstream_series(draw(raw_batches(granularity, pre_epoch,
                                            min_size, max_size)))


@st.composite
def group_start(draw, ts, granularity):
    """``start`` for group_serie: None, a bucket start as metricd computes
    it (round_timestamp of a point), or any instant around the series."""
    mode = draw(st.sampled_from(["none", "bucket", "bucket", "anywhere"]))
    if mode == "none" or len(ts) == 0:
        return None
    stamps = ts["timestamps"].view("<i8")
    if mode == "bucket":
        point = stamps[draw(st.integers(0, len(stamps) - 1))]
        return up.round_timestamp(dt(point), td(granularity))
    low = max(int(stamps[0]) - 2 * granularity, -LIMIT)
    high = min(int(stamps[-1]) + 2 * granularity, LIMIT)
    return dt(draw(st.integers(low, high)))


@st.composite
def grid_aggregated(draw, pre_epoch=False):
    """(granularity, series) of an aggregated series on its grid:
    split_key + m*granularity, possibly spanning many splits."""
    granularity = draw(granularity_ns)
    split_len = granularity * up.SplitKey.POINTS_PER_SPLIT
    anchor = int(up.round_timestamp(dt(draw(anchor_ns(pre_epoch))),
                                    td(split_len)).view("<i8"))
    slots = draw(st.lists(st.one_of(
        st.integers(0, 2 * up.SplitKey.POINTS_PER_SPLIT),
        st.integers(0, 40 * up.SplitKey.POINTS_PER_SPLIT)),
        min_size=1, max_size=60, unique=True))
    slots.sort()
    top = anchor + slots[-1] * granularity
    if top > LIMIT or anchor < -LIMIT:
        anchor = 0
    stamps = [anchor + s * granularity for s in slots]
    values = draw(st.lists(FLOAT_VALUES, min_size=len(stamps),
                           max_size=len(stamps)))
    return granularity, make_batch(stamps, values)


# --------------------------------------------------------------------------
# round_timestamp, combine_timeseries
# --------------------------------------------------------------------------

@diff_settings(300)
@given(data=st.data())
def test_round_timestamp_matches_upstream_on_arrays_and_scalars(data):
    granularity = data.draw(granularity_ns, label="granularity_ns")
    # Split keys and block starts round with 3600*granularity and with the
    # archive policy's largest granularity: cover those frequencies too.
    freq_ns = data.draw(st.sampled_from(
        [granularity, granularity * up.SplitKey.POINTS_PER_SPLIT]),
        label="freq_ns")
    stamps = data.draw(raw_timestamps(granularity,
                                      pre_epoch=data.draw(st.booleans()),
                                      min_size=1), label="stamps")
    array = numpy.array(stamps, dtype=numpy.int64).view("datetime64[ns]")
    freqs = [td(freq_ns)]
    # Coarser units take another path in upstream (the product
    # floor(x) * freq is computed in the unit of freq, exactly).
    for unit, size in (("s", S), ("m", MINUTE), ("h", HOUR), ("D", DAY)):
        if freq_ns % size == 0:
            freqs.append(numpy.timedelta64(freq_ns // size, unit))
    for freq in freqs:
        expected, got = both(lambda m: m.round_timestamp(array, freq))
        assert_stamps_identical(expected, got, "array, freq %r" % (freq,))
        for stamp in array[:5]:
            expected, got = both(lambda m: m.round_timestamp(stamp, freq))
            assert_scalar_stamp_identical(
                expected, got, "scalar %r, freq %r" % (stamp, freq))


@diff_settings(200)
@given(data=st.data())
def test_combine_timeseries_keeps_first_occurrence_like_upstream(data):
    granularity = data.draw(granularity_ns)
    pre_epoch = data.draw(st.booleans())
    # Unsorted batches with duplicates inside and across them: the result
    # must be sorted with the first occurrence of each timestamp kept.
    ts1 = data.draw(raw_batches(granularity, pre_epoch))
    ts2 = data.draw(raw_batches(granularity, pre_epoch))
    expected, got = both(lambda m: m.combine_timeseries(ts1.copy(),
                                                        ts2.copy()))
    assert_series_identical(expected, got, "combine_timeseries")


# --------------------------------------------------------------------------
# BoundTimeSerie codec
# --------------------------------------------------------------------------

@diff_settings(200)
@given(data=st.data())
def test_bound_serialize_bytes_and_unserialize_match_upstream(data):
    granularity = data.draw(granularity_ns)
    # Pre-epoch series are valid here: the first delta is stored as the
    # two's-complement u64 and the wrapping cumsum brings it back.
    ts = data.draw(series(granularity, pre_epoch=data.draw(st.booleans())))
    block_size = td(data.draw(st.sampled_from(GRANULARITIES_NS)))
    back_window = data.draw(st.integers(0, 3))
    expected, got = both(lambda m: m.BoundTimeSerie(
        ts.copy(), block_size, back_window).serialize())
    if len(ts) == 0:
        # Upstream raises IndexError: both() already required ours to.
        assert expected is None
        return
    assert type(got) is bytes
    assert got == expected, "BoundTimeSerie.serialize bytes differ"
    for m in (up, rs):
        decoded = m.BoundTimeSerie.unserialize(got, block_size, back_window)
        assert_series_identical(ts, decoded.ts, m.__name__ + " round trip")
        assert decoded.block_size == block_size
        assert decoded.back_window == back_window


def _corruptions(draw, blob, header_len):
    """Ways a stored blob gets damaged, keeping lz4's size prefix sane.

    The 4-byte size prefix is only replaced by values that are either small
    or rejected outright ("Invalid size"): python-lz4 would otherwise try to
    allocate what a random prefix asks for.
    """
    kind = draw(st.sampled_from(["truncate", "append", "flip", "prefix",
                                 "random"]))
    if kind == "truncate":
        return blob[:draw(st.integers(0, max(len(blob) - 1, 0)))]
    if kind == "append":
        return blob + draw(st.binary(min_size=1, max_size=24))
    if kind == "flip":
        if len(blob) <= header_len:
            return blob + b"\x00"
        i = draw(st.integers(header_len, len(blob) - 1))
        return blob[:i] + bytes([blob[i] ^ draw(st.integers(1, 255))]) + (
            blob[i + 1:])
    if kind == "prefix":
        size = draw(st.one_of(st.integers(0, 2 * len(blob) + 64),
                              st.sampled_from([0x80000000, 0xFFFFFFFF])))
        start = header_len - 4
        return blob[:start] + size.to_bytes(4, "little") + blob[header_len:]
    body = draw(st.binary(max_size=64))
    return blob[:header_len - 4] + len(body).to_bytes(4, "little") + body


@diff_settings(200)
@given(data=st.data())
def test_bound_unserialize_of_damaged_or_odd_blobs_matches_upstream(data):
    # Payloads of any length inside a valid lz4 block: 16N (valid),
    # 16N+8 (upstream: plain ValueError, more values than stamps), other
    # lengths (InvalidData), and damaged lz4 blocks (InvalidData).
    kind = data.draw(st.sampled_from(["payload", "damaged"]))
    if kind == "payload":
        blob = lz4.block.compress(data.draw(st.binary(max_size=100)))
    else:
        ts = data.draw(series(S, min_size=1))
        blob = up.BoundTimeSerie(ts).serialize()
        blob = _corruptions(data.draw, blob, header_len=4)
    note("blob=%r" % blob)
    expected, got = both(lambda m: m.BoundTimeSerie.unserialize(
        blob, td(S), 0).ts)
    if expected is not None:
        assert_series_identical(expected, got, "unserialize")


# --------------------------------------------------------------------------
# Aggregation: group_serie + from_grouped_serie
# --------------------------------------------------------------------------

def _aggregate(m, ts, granularity, start, method):
    grouped = m.TimeSerie(ts.copy()).group_serie(granularity, start)
    return m.AggregatedTimeSerie.from_grouped_serie(
        grouped, m.Aggregation(method, granularity, None)).ts


def check_all_methods(ts, granularity, start, methods=ALL_METHODS):
    """Every method on one series; returns the upstream results."""
    expected_grouping, got_grouping = both(
        lambda m: m.TimeSerie(ts.copy()).group_serie(granularity, start))
    if expected_grouping is None:
        return None
    # The buckets themselves: ns starts (calendar codes give coarser units
    # upstream) and point counts.
    assert_stamps_identical(
        expected_grouping.tstamps.astype("datetime64[ns]"),
        got_grouping.tstamps, "bucket starts")
    assert numpy.array_equal(expected_grouping.counts, got_grouping.counts)
    results = {}
    for method in methods:
        expected, got = both(
            lambda m: _aggregate(m, ts, granularity, start, method))
        if expected is None:
            results[method] = None
            continue
        assert_series_identical(
            expected, got, "%s over %r from %r" % (method, granularity,
                                                   start),
            mixed_zero_buckets(expected_grouping, method))
        results[method] = expected
    return results


@diff_settings(400)
@given(data=st.data())
def test_every_aggregation_method_matches_upstream(data):
    granularity = data.draw(granularity_ns, label="granularity_ns")
    ts = data.draw(series(granularity, pre_epoch=data.draw(st.booleans())),
                   label="series")
    start = data.draw(group_start(ts, granularity), label="start")
    results = check_all_methods(ts, td(granularity), start)
    if len(ts) and ts["timestamps"][0] < up.UNIX_UNIVERSAL_START64:
        # Nothing before the epoch may be grouped, in either module.
        assert results is None
        with pytest.raises(up.BeforeEpochError):
            rs.TimeSerie(ts.copy()).group_serie(td(granularity), start)
    else:
        assert results is not None
        # Non-empty input from a start at or before the first point always
        # yields buckets: a guard against comparing two empty results only.
        if len(ts) and (start is None or start <= ts["timestamps"][0]):
            assert len(results["count"]) > 0


@diff_settings(200)
@given(data=st.data())
def test_calendar_grouping_matches_upstream(data):
    code = data.draw(st.sampled_from(CALENDAR_CODES))
    # Sparse layouts dominate: the buckets are months to years wide.
    ts = data.draw(series(DAY, max_size=30))
    results = check_all_methods(ts, code, None)
    assert results is not None
    # Calendar buckets have no fixed length: rate: is refused by both.
    assert all(results[m] is None for m in ALL_METHODS
               if m.startswith("rate:"))
    assert all(results[m] is not None for m in BASE_METHODS)


@diff_settings(60)
@given(name=st.one_of(
    st.sampled_from(["foo", "0pct", "100pct", "pct", "rate:foo", "rate:",
                     "Mean", "rate:rate:mean", " mean", "average", "5pctx",
                     "rate:50pct"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz:0123456789",
            min_size=1, max_size=8)))
def test_method_names_are_parsed_like_upstream(name):
    # Unknown names raise UnknownAggregationMethod; names matching the
    # percentile regex (anchored at the start only) are percentiles.
    stem = name[5:] if name.startswith("rate:") else name
    if (not up.AggregatedTimeSerie._AGG_METHOD_PCT_RE.match(stem)
            and hasattr(up.GroupedTimeSeries, stem)
            and stem not in BASE_METHODS):
        # Attributes of upstream's GroupedTimeSeries that are not methods
        # ("derived", "quantile", "tstamps", ...): upstream does not reject
        # them, it calls them. Not a method name anything can store.
        return
    ts = up.make_timeseries(
        numpy.array([NS_2017, NS_2017 + S, NS_2017 + 3 * S]).view(
            "datetime64[ns]"), [1.0, 2.0, 4.0])
    known = (stem in BASE_METHODS or
             up.AggregatedTimeSerie._AGG_METHOD_PCT_RE.match(stem))
    if not known:
        with pytest.raises(up.UnknownAggregationMethod):
            _aggregate(up, ts, td(S), None, name)
    expected, got = both(lambda m: _aggregate(m, ts, td(S), None, name))
    if known:
        assert_series_identical(expected, got, name)


# --------------------------------------------------------------------------
# Splits: keys, both encodings, unserialize
# --------------------------------------------------------------------------

def _split_both(agg_ts, granularity, method):
    aggregation = up.Aggregation(method, td(granularity), None)
    expected = list(up.AggregatedTimeSerie(aggregation,
                                           agg_ts.copy()).split())
    got = list(rs.AggregatedTimeSerie(aggregation, agg_ts.copy()).split())
    assert len(got) == len(expected), "number of splits"
    return aggregation, list(zip(expected, got))


def check_split_keys(agg_ts, granularity, method="mean"):
    """Split one aggregated series in both modules; compare the keys, their
    names and the points of every split. Returns the number of splits."""
    _, pairs = _split_both(agg_ts, granularity, method)
    for (e_key, e_split), (g_key, g_split) in pairs:
        what = "split %s of %r" % (e_key, td(granularity))
        assert isinstance(g_key, up.SplitKey)
        assert_scalar_stamp_identical(e_key.key, g_key.key, what + " key")
        assert g_key.sampling == e_key.sampling
        assert g_key.sampling.dtype == e_key.sampling.dtype
        # The object name: Python float repr of the key in seconds.
        assert str(g_key) == str(e_key), what + " name"
        assert float(g_key) == float(e_key)
        assert g_key == e_key and hash(g_key) == hash(e_key)
        assert_scalar_stamp_identical(next(e_key).key, next(g_key).key,
                                      what + " next key")
        assert_series_identical(e_split.ts, g_split.ts, what + " points")
        # The key of the split's first point, as metricd asks for it.
        assert_scalar_stamp_identical(e_split.get_split_key().key,
                                      g_split.get_split_key().key,
                                      what + " get_split_key")
    return len(pairs)


def check_split_encoding(agg_ts, granularity, method, compressed):
    """Serialize every split in both modules (the same points go to both
    serializers) and read every object back with both modules."""
    aggregation, pairs = _split_both(agg_ts, granularity, method)
    for (e_key, e_split), (g_key, g_split) in pairs:
        label = "split %s of %r, %s" % (
            e_key, td(granularity), "compressed" if compressed else "padded")
        e_offset, e_blob = e_split.serialize(e_key, compressed)
        g_offset, g_blob = rs.AggregatedTimeSerie(
            aggregation, e_split.ts.copy()).serialize(g_key, compressed)
        assert type(g_blob) is bytes, label
        assert g_blob == e_blob, label + " bytes differ"
        assert type(g_offset) is type(e_offset), label + " offset type"
        assert g_offset == e_offset, label + " offset"
        # Reading the object back: a compressed blob is a whole object, a
        # padded one is written at `offset` into a zero-filled object.
        # (A negative offset cannot be written; read the data alone.)
        stored = e_blob if compressed else (
            b"\x00" * max(e_offset, 0) + e_blob)
        for key in (e_key, g_key):
            e_read, g_read = both(
                lambda mod: mod.AggregatedTimeSerie.unserialize(
                    stored, key, aggregation).ts)
            if e_read is not None:
                assert_series_identical(
                    e_read, g_read,
                    "%s read back with a %s key" % (label,
                                                    type(key).__module__))
    return len(pairs)


def check_splits(agg_ts, granularity, method="mean"):
    count = check_split_keys(agg_ts, granularity, method)
    for compressed in (True, False):
        check_split_encoding(agg_ts, granularity, method, compressed)
    return count


@st.composite
def grouped_aggregated_series(draw):
    """(granularity, method, points) of a realistic aggregated series:
    bucket starts from upstream's own grouping, so keys and offsets carry
    upstream's float rounding (keys of 333333333 ns are not exact
    multiples; 1 ns buckets are float64-rounded stamps that can even fall
    below the key of their split)."""
    granularity = draw(granularity_ns, label="granularity_ns")
    ts = draw(series(granularity, min_size=1), label="series")
    method = draw(st.sampled_from(ALL_METHODS), label="method")
    grouped = up.TimeSerie(ts).group_serie(td(granularity))
    agg = up.AggregatedTimeSerie.from_grouped_serie(
        grouped, up.Aggregation(method, td(granularity), None))
    return granularity, method, agg.ts


@diff_settings(200)
@given(case=grouped_aggregated_series())
def test_split_keys_of_aggregated_series_match_upstream(case):
    granularity, method, points = case
    count = check_split_keys(points, granularity, method)
    assert (count > 0) == (len(points) > 0)


@diff_settings(200)
@given(case=grouped_aggregated_series())
def test_compressed_splits_of_aggregated_series_match_upstream(case):
    granularity, method, points = case
    count = check_split_encoding(points, granularity, method, True)
    assert (count > 0) == (len(points) > 0)


@diff_settings(200)
@given(case=grouped_aggregated_series())
def test_padded_splits_of_aggregated_series_match_upstream(case):
    granularity, method, points = case
    count = check_split_encoding(points, granularity, method, False)
    assert (count > 0) == (len(points) > 0)


@st.composite
def fine_buckets_near_split_boundaries(draw):
    """Buckets of a 1 ns..1 us granularity a few ns around split
    boundaries, from 2006 on. There float64 steps (256..1024 ns) exceed the
    granularity, so upstream's bucket starts are rounded stamps, and a
    bucket start can land below the key of the split it goes to."""
    granularity = draw(st.sampled_from([1, 7, 1000]))
    period = granularity * up.SplitKey.POINTS_PER_SPLIT
    anchor = draw(st.integers(2 ** 60, LIMIT - 50 * period))
    anchor -= anchor % period
    raw = [anchor + k * period + e for k, e in draw(st.lists(
        st.tuples(st.integers(0, 40), st.integers(-1100, 300)),
        min_size=1, max_size=30))]
    values = draw(st.lists(FLOAT_VALUES, min_size=len(raw),
                           max_size=len(raw)))
    ts = upstream_series(make_batch(raw, values))
    agg = up.AggregatedTimeSerie.from_grouped_serie(
        up.TimeSerie(ts).group_serie(td(granularity)),
        up.Aggregation("mean", td(granularity), None))
    return granularity, agg.ts


@diff_settings(150)
@given(case=fine_buckets_near_split_boundaries())
def test_compressed_splits_near_boundaries_at_fine_granularities_match(case):
    granularity, points = case
    assert check_split_keys(points, granularity) >= 1
    assert check_split_encoding(points, granularity, "mean", True) >= 1


@diff_settings(150)
@given(case=fine_buckets_near_split_boundaries())
def test_padded_splits_near_boundaries_at_fine_granularities_match(case):
    granularity, points = case
    assert check_split_encoding(points, granularity, "mean", False) >= 1


@diff_settings(150)
@given(case=grid_aggregated(pre_epoch=False) | grid_aggregated(
    pre_epoch=True))
def test_splits_of_grid_series_match_upstream(case):
    # Series on the granularity grid spanning up to 40 splits, before and
    # after the epoch (negative keys are named "-3600.0" etc.).
    granularity, ts = case
    assert check_splits(ts, granularity) >= 1


@diff_settings(250)
@given(data=st.data())
def test_aggregated_unserialize_of_damaged_or_odd_blobs_matches_upstream(
        data):
    granularity = data.draw(st.sampled_from(GRANULARITIES_NS))
    key_ns = int(up.round_timestamp(
        dt(data.draw(anchor_ns())),
        td(granularity * up.SplitKey.POINTS_PER_SPLIT)).view("<i8"))
    aggregation = up.Aggregation("mean", td(granularity), None)
    kind = data.draw(st.sampled_from(["payload", "padded", "damaged"]))
    if kind == "payload":
        # 'c' + a valid lz4 block of any payload length: 10N is valid,
        # 10N+8 has more values than offsets (plain ValueError upstream),
        # anything else is InvalidData.
        blob = b"c" + lz4.block.compress(data.draw(st.binary(max_size=100)))
    elif kind == "padded":
        # Anything not starting with 'c' is the padded format: any nonzero
        # flag byte marks a point; lengths not multiple of 9 are invalid.
        blob = data.draw(st.binary(min_size=1, max_size=100).filter(
            lambda b: b[:1] != b"c"))
    else:
        slots = data.draw(st.lists(st.integers(0, 3599), min_size=1,
                                   max_size=30, unique=True))
        slots.sort()
        values = data.draw(st.lists(FLOAT_VALUES, min_size=len(slots),
                                    max_size=len(slots)))
        split = up.AggregatedTimeSerie.from_data(
            aggregation,
            (key_ns + numpy.array(slots, dtype=numpy.int64) * granularity
             ).view("datetime64[ns]"), values)
        blob = split.serialize(up.SplitKey(dt(key_ns), td(granularity)),
                               compressed=True)[1]
        blob = _corruptions(data.draw, blob, header_len=5)
    note("blob=%r" % blob)
    expected, got = both(lambda m: m.AggregatedTimeSerie.unserialize(
        blob, m.SplitKey(dt(key_ns), td(granularity)), aggregation).ts)
    if expected is not None:
        assert_series_identical(expected, got, "unserialize")


def test_serialize_of_an_empty_split_fails_like_upstream():
    # split() never yields an empty split, but serialize() is public.
    aggregation = up.Aggregation("mean", td(S), None)
    for compressed in (True, False):
        both(lambda m: m.AggregatedTimeSerie.from_data(
            aggregation, [], []).serialize(
                m.SplitKey(dt(NS_2017), td(S)), compressed))
    # And an empty object reads back as an empty series in both.
    for blob in (b"", None):
        expected, got = both(lambda m: m.AggregatedTimeSerie.unserialize(
            blob, m.SplitKey(dt(NS_2017), td(S)), aggregation).ts)
        assert len(expected) == 0
        assert_series_identical(expected, got, "empty object")


# --------------------------------------------------------------------------
# resample, truncate, merge, fetch
# --------------------------------------------------------------------------

@st.composite
def aggregated_series(draw, method=None):
    """(aggregation, series) from upstream's own aggregation of a raw
    series, so resampling sees what storage holds."""
    granularity = draw(granularity_ns)
    method = method or draw(st.sampled_from(ALL_METHODS))
    ts = draw(series(granularity))
    aggregation = up.Aggregation(method, td(granularity),
                                 draw(st.one_of(
                                     st.none(),
                                     st.integers(1, 100).map(
                                         lambda n: td(n * granularity)))))
    agg = up.AggregatedTimeSerie.from_grouped_serie(
        up.TimeSerie(ts).group_serie(td(granularity)),
        up.Aggregation(method, td(granularity), None))
    return aggregation, agg.ts


@diff_settings(300)
@given(data=st.data())
def test_resample_matches_upstream(data):
    aggregation, ts = data.draw(aggregated_series(), label="aggregated")
    if data.draw(st.integers(0, 9), label="pre-epoch case") == 0:
        # Splits of a pre-epoch series decode fine, but resampling groups
        # them: both modules must refuse with BeforeEpochError.
        granularity, ts = data.draw(grid_aggregated(pre_epoch=True))
        aggregation = aggregation._replace(granularity=td(granularity))
    granularity = int(aggregation.granularity.view("<i8"))
    sampling = data.draw(st.one_of(
        st.integers(1, 12).map(lambda k: td(k * granularity)),
        granularity_ns.map(td),
        st.sampled_from(CALENDAR_CODES)), label="sampling")
    expected, got = both(lambda m: m.AggregatedTimeSerie(
        aggregation, ts.copy()).resample(sampling))
    if expected is None:
        # Only rate: over calendar buckets, and stamps before the epoch,
        # are refused.
        if len(ts) and ts["timestamps"][0] < up.UNIX_UNIVERSAL_START64:
            with pytest.raises(up.BeforeEpochError):
                rs.AggregatedTimeSerie(aggregation,
                                       ts.copy()).resample(sampling)
        else:
            assert aggregation.method.startswith("rate:")
            assert isinstance(sampling, str)
        return
    assert got.aggregation == expected.aggregation
    ambiguous = mixed_zero_buckets(
        up.AggregatedTimeSerie(aggregation, ts.copy()).group_serie(sampling),
        aggregation.method)
    assert_series_identical(expected.ts, got.ts,
                            "resample %s to %r" % (aggregation.method,
                                                   sampling), ambiguous)


@diff_settings(250)
@given(data=st.data())
def test_truncate_merge_and_fetch_match_upstream(data):
    aggregation, ts = data.draw(aggregated_series(method="mean"))
    _, other = data.draw(aggregated_series(method="mean"))
    stamps = numpy.concatenate([ts["timestamps"], other["timestamps"]])
    if stamps.size:
        low, high = int(stamps.view("<i8").min()), int(
            stamps.view("<i8").max())
    else:
        low, high = NS_2017, NS_2017 + HOUR
    instant = st.integers(max(low - HOUR, 0), min(high + HOUR, LIMIT)).map(dt)
    # The bounds include exact point stamps, where inclusive vs exclusive
    # matters.
    if stamps.size:
        instant = instant | st.sampled_from(list(stamps))

    def build(m):
        return m.AggregatedTimeSerie(aggregation, ts.copy())

    # merge: the merged series' points win on equal timestamps.
    expected, got = both(lambda m: _merged(m, aggregation, ts, other))
    assert_series_identical(expected, got, "merge")

    # truncate: by the aggregation's timespan (None), a duration back from
    # the last point, or an instant; the returned bound must match too.
    oldest = data.draw(st.one_of(
        st.none(), st.integers(0, 10 ** 13).map(td), instant))
    e_serie, g_serie = build(up), build(rs)
    e_ret, g_ret = e_serie.truncate(oldest), g_serie.truncate(oldest)
    assert_scalar_stamp_identical(e_ret, g_ret, "truncate return")
    assert_series_identical(e_serie.ts, g_serie.ts,
                            "truncate(%r)" % (oldest,))

    # fetch: from rounded down to the granularity and inclusive, to
    # exclusive.
    from_ = data.draw(st.none() | instant)
    to = data.draw(st.none() | instant)
    expected, got = both(lambda m: build(m).fetch(from_, to))
    assert_series_identical(expected.ts, got.ts,
                            "fetch(%r, %r)" % (from_, to))


def _merged(m, aggregation, ts, other):
    serie = m.AggregatedTimeSerie(aggregation, ts.copy())
    serie.merge(m.AggregatedTimeSerie(aggregation, other.copy()))
    return serie.ts


# --------------------------------------------------------------------------
# BoundTimeSerie.set_values: the metricd pipeline, batch after batch
# --------------------------------------------------------------------------

class Policy(object):
    """The bits of an archive policy that metricd's processing reads."""

    def __init__(self, granularities, methods, back_window, timespans):
        self.granularities = sorted(granularities)
        self.methods = methods
        self.block_size = td(self.granularities[-1])
        # metricd keeps one more block when a rate: method is configured.
        self.back_window = back_window + int(
            any(m.startswith("rate:") for m in methods))
        self.timespans = timespans

    def __repr__(self):
        return "Policy(%r, %r, back_window=%d, timespans=%r)" % (
            self.granularities, self.methods, self.back_window,
            self.timespans)


@st.composite
def policies(draw):
    granularities = draw(st.lists(st.sampled_from(GRANULARITIES_NS[3:]),
                                  min_size=1, max_size=3, unique=True))
    methods = draw(st.lists(st.sampled_from(ALL_METHODS), min_size=1,
                            max_size=6, unique=True))
    timespans = {g: draw(st.one_of(st.none(), st.integers(1, 200).map(
        lambda n, g=g: td(n * g)))) for g in granularities}
    return Policy(granularities, methods, draw(st.integers(0, 2)), timespans)


def metricd_process(m, stored, batch, policy):
    """One metricd run over one metric, after
    storage.StorageDriver.execute_data_processing.

    Returns what the callback saw and computed, the truncated bound series
    and its serialized bytes.
    """
    if stored is None:
        bound = m.BoundTimeSerie(block_size=policy.block_size,
                                 back_window=policy.back_window)
        previous_first_block = None
    else:
        bound = m.BoundTimeSerie.unserialize(stored, policy.block_size,
                                             policy.back_window)
        previous_first_block = bound.first_block_timestamp()
    seen = {}

    def before_truncate(serie):
        # The merged, not yet truncated, bound series.
        seen["merged"] = serie.ts.copy()
        tstamp = max(serie.first, batch["timestamps"][0])
        first_block = serie.first_block_timestamp()
        computed = {}
        for granularity in policy.granularities:
            g = td(granularity)
            start = m.round_timestamp(tstamp, g)
            grouped = serie.group_serie(g, start)
            for method in policy.methods:
                aggregation = m.Aggregation(method, g,
                                            policy.timespans[granularity])
                agg = m.AggregatedTimeSerie.from_grouped_serie(grouped,
                                                               aggregation)
                before = agg.ts.copy()
                oldest = None
                if len(agg) and aggregation.timespan is not None:
                    oldest = agg.truncate(aggregation.timespan)
                mutable_keys = None
                if len(agg) and previous_first_block is not None:
                    mutable_keys = (agg.get_split_key(previous_first_block),
                                    agg.get_split_key(first_block))
                splits = [(key, split, split.serialize(key, True),
                           split.serialize(key, False))
                          for key, split in agg.split()]
                computed[granularity, method] = dict(
                    grouped=grouped, start=start, before=before,
                    oldest=oldest, mutable_keys=mutable_keys, agg=agg,
                    splits=splits)
        return first_block, computed

    result = bound.set_values(batch.copy(),
                              before_truncate_callback=before_truncate)
    return seen, result, bound, bound.serialize()


class SplitStore(object):
    """The split objects of a WRITE_FULL driver (file, redis, s3, swift):
    each new split is merged into the stored one (new points win) and the
    whole object is rewritten compressed, as in
    storage.StorageDriver._update_metric_splits."""

    def __init__(self, m):
        self.m = m
        self.objects = {}

    def update(self, computed):
        for (granularity, method), c in computed.items():
            for key, split, _, _ in c["splits"]:
                name = (granularity, method, int(key.key.astype("<i8")))
                existing = self.m.AggregatedTimeSerie.unserialize(
                    self.objects.get(name, b""), key, split.aggregation)
                existing.merge(split)
                if len(existing):
                    self.objects[name] = existing.serialize(key, True)[1]


def check_split_stores(e_store, g_store, ambiguous):
    """Same objects, same bytes; where a stored min/max zero of a mixed-zero
    bucket differs in sign, the objects must still hold the same points
    otherwise, encoded exactly as upstream encodes ours' points."""
    assert sorted(g_store.objects) == sorted(e_store.objects), "split names"
    for name, e_blob in e_store.objects.items():
        g_blob = g_store.objects[name]
        if g_blob == e_blob:
            continue
        granularity, method, key_ns = name
        key = up.SplitKey(dt(key_ns), td(granularity))
        aggregation = up.Aggregation(method, td(granularity), None)
        e_ts = up.AggregatedTimeSerie.unserialize(e_blob, key, aggregation)
        g_ts = up.AggregatedTimeSerie.unserialize(g_blob, key, aggregation)
        assert_series_identical(e_ts.ts, g_ts.ts, "stored split %r" % (name,),
                                ambiguous.get((granularity, method), []))
        assert g_blob == g_ts.serialize(key, True)[1], name


def check_metricd_run(e_run, g_run, policy, ambiguous=None):
    """Compare one metricd run of both modules. Returns the number of
    aggregated points compared; adds the mixed-zero min/max buckets met to
    ``ambiguous`` ({(granularity, method): stamps})."""
    if ambiguous is None:
        ambiguous = {}
    (e_seen, (e_first_block, e_computed), e_bound, e_blob) = e_run
    (g_seen, (g_first_block, g_computed), g_bound, g_blob) = g_run
    assert_series_identical(e_seen["merged"], g_seen["merged"],
                            "merged bound series")
    assert_scalar_stamp_identical(e_first_block, g_first_block,
                                  "first_block_timestamp")
    assert set(e_computed) == set(g_computed)
    for (granularity, method), e in e_computed.items():
        g = g_computed[granularity, method]
        what = "%s over %r" % (method, td(granularity))
        assert_scalar_stamp_identical(e["start"], g["start"], what + " start")
        ambiguous_here = mixed_zero_buckets(e["grouped"], method)
        ambiguous[granularity, method] = numpy.union1d(
            ambiguous.get((granularity, method),
                          numpy.array([], dtype="datetime64[ns]")),
            ambiguous_here)
        assert_series_identical(e["before"], g["before"], what,
                                ambiguous_here)
        assert_series_identical(e["agg"].ts, g["agg"].ts,
                                what + " truncated", ambiguous_here)
        assert_scalar_stamp_identical(e["oldest"], g["oldest"],
                                      what + " oldest point")
        if e["mutable_keys"] is None:
            assert g["mutable_keys"] is None
        else:
            for e_key, g_key in zip(e["mutable_keys"], g["mutable_keys"]):
                assert_scalar_stamp_identical(e_key.key, g_key.key,
                                              what + " mutable key")
        assert len(g["splits"]) == len(e["splits"]), what + " splits"
        for e_split, g_split in zip(e["splits"], g["splits"]):
            e_key, e_serie, e_comp, e_pad = e_split
            g_key, g_serie, g_comp, g_pad = g_split
            label = "%s split %s" % (what, e_key)
            assert_scalar_stamp_identical(e_key.key, g_key.key, label)
            assert str(g_key) == str(e_key)
            assert_series_identical(e_serie.ts, g_serie.ts, label,
                                    ambiguous_here)
            # Ours must write exactly what upstream writes for ours'
            # points; with identical points that is upstream's own bytes.
            # (Only the documented min/max zero sign may make them differ.)
            reference = up.AggregatedTimeSerie(g_serie.aggregation,
                                               g_serie.ts.copy())
            assert g_comp == reference.serialize(e_key, True), label
            assert g_pad == reference.serialize(e_key, False), label
            if _bits(e_serie.ts) == _bits(g_serie.ts):
                assert g_comp == e_comp and g_pad == e_pad, label
    assert_series_identical(e_bound.ts, g_bound.ts, "truncated bound series")
    assert g_blob == e_blob, "stored bound series bytes differ"
    return sum(len(e["before"]) for e in e_computed.values())


def _bits(ts):
    return ts.tobytes()


@diff_settings(150)
@given(data=st.data())
def test_metricd_pipeline_set_values_matches_upstream(data):
    policy = data.draw(policies(), label="policy")
    coarsest = policy.granularities[-1]
    # One stream of measures cut into batches in arrival order, which is
    # not time order: later batches overlap the stored window (buckets are
    # recomputed and overwritten) or fall before it (points dropped).
    raw = data.draw(raw_batches(coarsest, min_size=1, max_size=60),
                    label="measures")
    cuts = sorted(data.draw(st.lists(st.integers(1, len(raw)), max_size=3),
                            label="cuts"))
    batches = [b for b in numpy.split(raw, cuts) if len(b)]
    stored = {up: None, rs: None}
    splits = {up: SplitStore(up), rs: SplitStore(rs)}
    ambiguous = {}
    for batch in batches:
        batch = metricd_sort(batch)
        runs = {}
        for m in (up, rs):
            runs[m] = metricd_process(m, stored[m], batch, policy)
            stored[m] = runs[m][3]
            splits[m].update(runs[m][1][1])
        check_metricd_run(runs[up], runs[rs], policy, ambiguous)
        check_split_stores(splits[up], splits[rs], ambiguous)


@diff_settings(150)
@given(data=st.data())
def test_set_values_window_and_callback_match_upstream(data):
    # set_values on its own: drop what is older than the stored window,
    # merge (new points win), call back, truncate to back_window blocks.
    block = data.draw(granularity_ns)
    back_window = data.draw(st.integers(0, 3))
    old = data.draw(series(block))
    new = metricd_sort(data.draw(raw_batches(block)))
    with_callback = data.draw(st.booleans())
    seen = {}

    def run(m):
        bound = m.BoundTimeSerie(old.copy(), td(block), back_window)

        def callback(serie):
            seen[m] = serie.ts.copy()
            return len(serie), serie.first_block_timestamp()

        result = bound.set_values(new.copy(),
                                  callback if with_callback else None)
        return result, bound.ts

    expected, got = both(run)
    if expected is None:
        # Upstream's first_block_timestamp() fails on an empty series; that
        # is the only way this can raise.
        assert len(old) == 0 and len(new) == 0 and with_callback
        return
    (e_result, e_ts), (g_result, g_ts) = expected, got
    assert_series_identical(e_ts, g_ts, "bound series")
    if with_callback:
        assert_series_identical(seen[up], seen[rs], "callback argument")
        assert e_result[0] == g_result[0]
        assert_scalar_stamp_identical(e_result[1], g_result[1],
                                      "first_block_timestamp")
    else:
        assert e_result is None and g_result is None


# --------------------------------------------------------------------------
# Long series (explicit, seeded: hypothesis is for shapes, not for size)
# --------------------------------------------------------------------------

def _long_raw_batch(seed, size):
    """Irregular ns stamps (~1 s apart, with bursts and gaps), ~1%
    duplicated, unsorted, values with NaN/inf/±0 sprinkled in."""
    rng = numpy.random.default_rng(seed)
    deltas = rng.exponential(0.8 * S, size).astype(numpy.int64)
    deltas[rng.random(size) < 0.001] += 6 * HOUR
    deltas[rng.random(size) < 0.01] = 0
    stamps = NS_2017 - 3 * HOUR + 123456789 + numpy.cumsum(deltas)
    # Rounded to 0..3 decimals: repeated values, so ties in every bucket.
    scale = 10.0 ** rng.integers(0, 4, size)
    values = numpy.round(rng.normal(100.0, 30.0, size) * scale) / scale
    specials = numpy.array([NAN, INF, -INF, 0.0, -0.0])
    pick = rng.random(size) < 0.01
    values[pick] = rng.choice(specials, int(pick.sum()))
    order = rng.permutation(size)
    return make_batch(stamps[order], values[order])


def test_long_series_aggregates_and_splits_match_upstream():
    ts = upstream_series(_long_raw_batch(seed=20240611, size=60000))
    assert len(ts) > 55000
    for granularity in (333333333, S, 7 * S, MINUTE, HOUR):
        stamps = ts["timestamps"]
        middle = up.round_timestamp(stamps[len(stamps) // 2],
                                    td(granularity))
        for start in (None, middle):
            results = check_all_methods(ts, td(granularity), start)
            assert len(results["mean"]) > 0
        for method in ("mean", "max", "rate:99pct", "std"):
            assert check_splits(results[method].copy(), granularity,
                                method) >= 1
    bound = up.BoundTimeSerie(ts)
    assert rs.BoundTimeSerie(ts.copy()).serialize() == bound.serialize()


def test_long_metricd_history_matches_upstream():
    # 30000 points in ten batches through the whole metricd path with a
    # rate: policy. Batches follow time, but 5% of the points arrive one
    # batch early and 5% one batch late (the late ones partly fall before
    # the stored window and are dropped), so batches overlap in time; 1% of
    # the stamps are duplicated.
    raw = _long_raw_batch(seed=7, size=30000)
    rng = numpy.random.default_rng(8)
    order = numpy.argsort(raw["timestamps"], kind="stable")
    batch_of = numpy.empty(len(raw), dtype=numpy.int64)
    batch_of[order] = numpy.arange(len(raw)) * 10 // len(raw)
    batch_of += rng.choice([-1, 0, 1], len(raw), p=[0.05, 0.9, 0.05])
    batch_of = numpy.clip(batch_of, 0, 9)
    policy = Policy([S, 7 * S, MINUTE, 5 * MINUTE],
                    ["mean", "min", "max", "count", "rate:mean", "median",
                     "95pct", "std"], back_window=2,
                    timespans={S: td(3600 * S), 7 * S: None,
                               MINUTE: td(1440 * MINUTE),
                               5 * MINUTE: None})
    stored = {up: None, rs: None}
    splits = {up: SplitStore(up), rs: SplitStore(rs)}
    ambiguous = {}
    compared = 0
    for number in range(10):
        # Arrival order within a batch is random too.
        batch = metricd_sort(raw[rng.permutation(
            numpy.flatnonzero(batch_of == number))])
        runs = {}
        for m in (up, rs):
            runs[m] = metricd_process(m, stored[m], batch, policy)
            stored[m] = runs[m][3]
            splits[m].update(runs[m][1][1])
        compared += check_metricd_run(runs[up], runs[rs], policy, ambiguous)
        check_split_stores(splits[up], splits[rs], ambiguous)
    # Tens of thousands of aggregated points were compared, not a handful,
    # and they ended up in stored splits.
    assert compared > 20000
    assert len(splits[up].objects) >= 2 * len(policy.methods)
