"""The upstream-generated test vectors, run through ``gnocchi_rs.carbonara``.

``tests/vectors.rs`` checks the pure Rust core against the vectors that
upstream Gnocchi 4.7.1 produced; this is the Python-level counterpart. Every
case goes through the public Python API that upstream's own code calls, and
the last two sections go further: upstream's metricd write path
(``gnocchi.storage``) and ``/v1/aggregates`` processor run unchanged, with
our module swapped in for ``gnocchi.carbonara`` (the drop-in claim).

The vectors are found at ``$GNOCCHI_RS_VECTORS`` (which must then hold a
manifest), or else at ``<repo>/../shared/vectors``; when that default is
absent the whole module is skipped. Schema: the vectors' README.md;
semantics: ``shared/reference/gnocchi-core-formats.md``.

Comparisons are bit for bit: timestamps as int64, floats as their IEEE-754
bit patterns, stored objects as bytes. The one tolerance: any NaN equals any
NaN, because the payload and sign of a NaN made by arithmetic come from the
hardware, not from the algorithm.

Sections that exercise no carbonara code (``archive_policy`` items, defaults
and method resolution, ``incoming.sack_mapping``, ``storage_naming``) are
pure upstream code with our module out of the picture, so they are left to
``tests/vectors.rs``.

Over 500 lines: one section per vector file of ../shared/vectors.
"""

import hashlib
import importlib
import json
import os
import pathlib
import shutil
import struct
import sys
import tempfile
import traceback
import types
import uuid

import lz4.block
import numpy
import pytest

from gnocchi import archive_policy
from gnocchi import carbonara as upstream_carbonara
from gnocchi import storage as gnocchi_storage
from gnocchi import utils
from gnocchi.rest.aggregates import exceptions as aggregates_exceptions
from gnocchi.rest.aggregates import processor
from gnocchi.storage import ceph as ceph_storage
from gnocchi.storage import file as file_storage

from gnocchi_rs import carbonara


# --------------------------------------------------------------------------
# Locating and reading the vectors
# --------------------------------------------------------------------------

REPO = pathlib.Path(__file__).resolve().parent.parent


def _locate_vectors():
    explicit = os.environ.get("GNOCCHI_RS_VECTORS")
    if explicit is not None:
        # An explicit location that holds nothing is a mistake, not a skip.
        directory = pathlib.Path(explicit)
        if not (directory / "manifest.json").is_file():
            pytest.fail("GNOCCHI_RS_VECTORS=%s holds no manifest.json"
                        % explicit, pytrace=False)
        return directory
    directory = REPO.parent / "shared" / "vectors"
    if not (directory / "manifest.json").is_file():
        pytest.skip("the shared upstream vectors are not present at %s "
                    "(set GNOCCHI_RS_VECTORS to check them)" % directory,
                    allow_module_level=True)
    return directory


VECTORS = _locate_vectors()
with open(VECTORS / "manifest.json") as _f:
    MANIFEST = json.load(_f)


def blob(reference):
    """The bytes of a BLOB reference, checked against its length and hash
    so that a damaged vector set cannot pass for a product bug."""
    if reference["path"] is None:
        raise AssertionError("blob %s: only its digest was kept"
                             % reference["sha256"])
    data = (VECTORS / reference["path"]).read_bytes()
    assert len(data) == reference["len"], reference
    assert hashlib.sha256(data).hexdigest() == reference["sha256"], reference
    return data


class Series(object):
    """An expected series: int64 nanoseconds and float64 bit patterns."""

    def __init__(self, timestamps_ns, bits):
        self.timestamps_ns = timestamps_ns
        self.bits = bits

    @property
    def timestamps(self):
        return self.timestamps_ns.view("datetime64[ns]")

    @property
    def values(self):
        return self.bits.view("<f8")

    def __len__(self):
        return len(self.timestamps_ns)


_RECORD = numpy.dtype([("t", "<i8"), ("bits", "<u8")])
_SPECIAL_VALUES = {"NaN": float("nan"), "Infinity": float("inf"),
                   "-Infinity": float("-inf")}


def series(encoded):
    if "records_blob" in encoded:
        records = numpy.frombuffer(blob(encoded["records_blob"]),
                                   dtype=_RECORD)
        result = Series(records["t"].copy(), records["bits"].copy())
    else:
        bits = numpy.array([int(h, 16) for h in encoded["values_hex"]],
                           dtype="<u8")
        # `values` must agree with `values_hex`: proves both are read right.
        for written, exact in zip(encoded["values"], bits.view("<f8")):
            written = _SPECIAL_VALUES.get(written, written)
            assert (numpy.isnan(exact) and numpy.isnan(written)) or \
                struct.pack("<d", written) == struct.pack("<d", exact), \
                "vector values %r and values_hex %r disagree" % (written,
                                                                 exact)
        result = Series(numpy.array(encoded["timestamps_ns"], dtype="<i8"),
                        bits)
    assert len(result) == encoded["count"], "series count mismatch"
    return result


def dt(ns):
    return numpy.datetime64(int(ns), "ns")


def td(ns):
    return numpy.timedelta64(int(ns), "ns")


def to_ns(value):
    if isinstance(value, numpy.datetime64):
        return int(value.astype("datetime64[ns]").astype(numpy.int64))
    if isinstance(value, numpy.timedelta64):
        return int(value.astype("timedelta64[ns]").astype(numpy.int64))
    raise TypeError("not a numpy datetime64/timedelta64: %r" % (value,))


def duration_label(ns):
    if ns % 10**9 == 0:
        return "%ds" % (ns // 10**9)
    return "%dns" % ns


# --------------------------------------------------------------------------
# Comparisons
# --------------------------------------------------------------------------

SERIES_DTYPE = numpy.dtype(upstream_carbonara.TIMESERIES_ARRAY_DTYPE)


def _show(ns, bits):
    return "(%d, %016x = %r)" % (ns, bits,
                                 float(numpy.uint64(bits).view("<f8")))


def same_floats(expected_bits, got_bits):
    """Element-wise bit equality, except that any NaN equals any NaN."""
    expected = expected_bits.view("<f8")
    got = got_bits.view("<f8")
    return (expected_bits == got_bits) | (numpy.isnan(expected) &
                                          numpy.isnan(got))


def assert_same_series(what, expected, got):
    """``got`` is a structured array as upstream's ``.ts`` would be."""
    got = numpy.asarray(got)
    # Upstream code indexes .ts by field name and dtype: keep its layout.
    assert got.dtype == SERIES_DTYPE, "%s: dtype %r" % (what, got.dtype)
    got_ns = numpy.ascontiguousarray(got["timestamps"]).view("<i8")
    got_bits = numpy.ascontiguousarray(got["values"]).view("<u8")
    n = min(len(expected), len(got))
    ok = (expected.timestamps_ns[:n] == got_ns[:n]) & same_floats(
        expected.bits[:n], got_bits[:n])
    if not ok.all():
        i = int(numpy.argmin(ok))
        raise AssertionError(
            "%s: point %d of %d/%d: expected %s, got %s" % (
                what, i, len(expected), len(got),
                _show(expected.timestamps_ns[i], expected.bits[i]),
                _show(got_ns[i], got_bits[i])))
    assert len(expected) == len(got), "%s: expected %d points, got %d" % (
        what, len(expected), len(got))


def assert_same_bytes(what, expected, got):
    got = bytes(got)
    if expected != got:
        at = next((i for i, (e, g) in enumerate(zip(expected, got))
                   if e != g), min(len(expected), len(got)))
        raise AssertionError(
            "%s: %d bytes expected, %d got, first difference at offset %d"
            % (what, len(expected), len(got), at))


UPSTREAM_EXCEPTIONS = {
    "InvalidData": upstream_carbonara.InvalidData,
    "BeforeEpochError": upstream_carbonara.BeforeEpochError,
    "UnknownAggregationMethod": upstream_carbonara.UnknownAggregationMethod,
    "UnAggregableTimeseries": aggregates_exceptions.UnAggregableTimeseries,
    "ValueError": ValueError,
    "IndexError": IndexError,
    "TypeError": TypeError,
    "KeyError": KeyError,
}


def assert_raises_like_upstream(error, call):
    """Upstream raised ``error``: ours must raise that class or a subclass
    (e.g. InvalidData, a ValueError, where upstream raised ValueError)."""
    expected = UPSTREAM_EXCEPTIONS.get(error["error"])
    assert expected is not None, "unknown upstream exception %r" % error
    try:
        result = call()
    except expected:
        return
    except Exception as e:
        pytest.fail("upstream raised %s(%r); ours raised %s(%r)" % (
            error["error"], error["message"], type(e).__name__, str(e)))
    pytest.fail("upstream raised %s(%r); ours returned %.200r" % (
        error["error"], error["message"], result))


def is_upstream_error(value):
    return isinstance(value, dict) and "error" in value


def indexed_ids(cases, label):
    return ["%03d-%s" % (i, label(case)) for i, case in enumerate(cases)]


# --------------------------------------------------------------------------
# bound_timeserie: the unaggregated object (`none_v3`)
# --------------------------------------------------------------------------

BOUND = MANIFEST["bound_timeserie"]


@pytest.mark.parametrize("case", BOUND["serialize"],
                         ids=[c["id"] for c in BOUND["serialize"]])
def test_bound_timeserie_serialize(case):
    given = series(case["input"])
    block_size = td(case["block_size_ns"])
    bound = carbonara.BoundTimeSerie.from_data(
        given.timestamps, given.values, block_size=block_size,
        back_window=case["back_window"])
    if "serialize" in case:
        assert_raises_like_upstream(case["serialize"], bound.serialize)
        return
    serialized = bound.serialize()
    # The payload first: if it matches and the lz4 bytes do not, the
    # difference is the compressor's alone.
    assert_same_bytes("payload", blob(case["payload"]),
                      lz4.block.decompress(serialized))
    stored = blob(case["serialized"])
    assert_same_bytes("serialized (lz4 block)", stored, serialized)

    restored = carbonara.BoundTimeSerie.unserialize(stored, block_size,
                                                    case["back_window"])
    assert_same_series("unserialize", series(case["unserialized"]),
                       restored.ts)
    # Neither is stored in the bytes: they come back from the arguments.
    assert restored.block_size == block_size
    assert restored.back_window == case["back_window"]


@pytest.mark.parametrize("case", BOUND["unserialize"],
                         ids=[c["id"] for c in BOUND["unserialize"]])
def test_bound_timeserie_unserialize(case):
    data = blob(case["data"])

    def unserialize():
        # The block size and back window the generator used.
        return carbonara.BoundTimeSerie.unserialize(data, td(10**9), 0)

    if "unserialize" in case:
        assert_raises_like_upstream(case["unserialize"], unserialize)
    else:
        assert_same_series("unserialize", series(case["unserialized"]),
                           unserialize().ts)


def _first_block_timestamp_ns(bound):
    # Upstream cannot compute it on an empty series; the vectors hold null.
    return to_ns(bound.first_block_timestamp()) if len(bound) else None


@pytest.mark.parametrize("case", BOUND["set_values"],
                         ids=[c["id"] for c in BOUND["set_values"]])
def test_bound_timeserie_set_values(case):
    initial = series(case["initial"])
    bound = carbonara.BoundTimeSerie.from_data(
        initial.timestamps, initial.values,
        block_size=td(case["block_size_ns"]),
        back_window=case["back_window"])
    for n, step in enumerate(case["steps"]):
        where = "step %d: " % n
        assert (_first_block_timestamp_ns(bound) ==
                step["first_block_timestamp_before_ns"]), where + "before"
        unsorted = series(step["measures_unsorted"])
        measures = carbonara.make_timeseries(unsorted.timestamps,
                                             unsorted.values)
        # Exactly what metricd does with a batch before set_values.
        measures = numpy.sort(measures, order="timestamps")
        assert_same_series(where + "sorted batch",
                           series(step["measures_sorted"]), measures)
        bound.set_values(measures)
        assert_same_series(where + "result", series(step["result"]),
                           bound.ts)
        assert (_first_block_timestamp_ns(bound) ==
                step["first_block_timestamp_after_ns"]), where + "after"
        stored = blob(step["serialized"])
        serialized = bound.serialize()
        assert_same_bytes(where + "payload", lz4.block.decompress(stored),
                          lz4.block.decompress(serialized))
        assert_same_bytes(where + "serialized (lz4 block)", stored,
                          serialized)


# --------------------------------------------------------------------------
# split_key
# --------------------------------------------------------------------------

SPLIT_KEYS = MANIFEST["split_key"]


@pytest.mark.parametrize("case", SPLIT_KEYS, ids=indexed_ids(
    SPLIT_KEYS, lambda c: "%s-%s" % (c["timestamp_iso"],
                                     duration_label(c["sampling_ns"]))))
def test_split_key(case):
    sampling = td(case["sampling_ns"])

    def from_timestamp_and_sampling():
        return carbonara.SplitKey.from_timestamp_and_sampling(
            dt(case["timestamp_ns"]), sampling)

    if "from_timestamp_and_sampling" in case:
        assert_raises_like_upstream(case["from_timestamp_and_sampling"],
                                    from_timestamp_and_sampling)
        return
    key = from_timestamp_and_sampling()
    # The key is computed with upstream's float arithmetic, which is not
    # always integer_floor_key_ns: only key_ns is authoritative.
    assert to_ns(key.key) == case["key_ns"]
    assert to_ns(next(key).key) == case["next_key_ns"]
    # The strings that go into storage object names.
    assert str(key) == case["key_str"]
    assert str(utils.timespan_total_seconds(key.sampling)) == \
        case["sampling_str"]
    # Mixes with upstream's keys, which upstream's drivers may build.
    assert isinstance(key, upstream_carbonara.SplitKey)
    assert key == upstream_carbonara.SplitKey(key.key, sampling)


# --------------------------------------------------------------------------
# aggregated_split: split() and both split encodings
# --------------------------------------------------------------------------

SPLITS = MANIFEST["aggregated_split"]


@pytest.mark.parametrize("case", SPLITS["serialize"],
                         ids=[c["id"] for c in SPLITS["serialize"]])
def test_aggregated_split_serialize(case):
    given = series(case["input"])
    aggregation = carbonara.Aggregation(case["method"],
                                        td(case["granularity_ns"]), None)
    aggregated = carbonara.AggregatedTimeSerie.from_data(
        aggregation, given.timestamps, given.values)
    splits = list(aggregated.split())
    assert [to_ns(key.key) for key, _ in splits] == \
        [s["key_ns"] for s in case["splits"]]
    for (key, split), expected in zip(splits, case["splits"]):
        where = "split %s: " % expected["key_str"]
        assert str(key) == expected["key_str"], where
        assert len(split) == expected["points"], where
        unserialized = series(expected["unserialized"])
        assert_same_series(where + "split()", unserialized, split.ts)

        offset, compressed = split.serialize(key, compressed=True)
        assert offset is None, where + "compressed offset"
        assert_same_bytes(where + "compressed payload",
                          blob(expected["compressed_payload"]),
                          lz4.block.decompress(compressed[1:]))
        stored = blob(expected["compressed"])
        assert_same_bytes(where + "compressed", stored, compressed)

        offset, padded = split.serialize(key, compressed=False)
        assert offset == expected["uncompressed_offset"], where + "offset"
        assert_same_bytes(where + "uncompressed",
                          blob(expected["uncompressed"]), padded)

        for label, data in (("compressed", stored),
                            ("uncompressed object",
                             blob(expected["uncompressed_object"]))):
            restored = carbonara.AggregatedTimeSerie.unserialize(
                data, key, aggregation)
            assert_same_series(where + "unserialize " + label, unserialized,
                               restored.ts)


@pytest.mark.parametrize("case", SPLITS["unserialize"],
                         ids=[c["id"] for c in SPLITS["unserialize"]])
def test_aggregated_split_unserialize(case):
    granularity = td(case["granularity_ns"])
    key = carbonara.SplitKey(dt(case["key_ns"]), granularity)
    data = blob(case["data"])

    def unserialize():
        return carbonara.AggregatedTimeSerie.unserialize(
            data, key, carbonara.Aggregation("mean", granularity, None))

    if "unserialize" in case:
        assert_raises_like_upstream(case["unserialize"], unserialize)
    else:
        assert_same_series("unserialize", series(case["unserialized"]),
                           unserialize().ts)


# --------------------------------------------------------------------------
# aggregation, resample, truncate
# --------------------------------------------------------------------------

AGGREGATION = MANIFEST["aggregation"]
AGGREGATION_INPUTS = {i["name"]: i["series"] for i in AGGREGATION["inputs"]}


@pytest.mark.parametrize("case", AGGREGATION["cases"], ids=indexed_ids(
    AGGREGATION["cases"], lambda c: "%s-%s-%s-%s" % (
        c["input_ref"], duration_label(c["granularity_ns"]),
        "nostart" if c["start_ns"] is None else "start", c["method"])))
def test_aggregation(case):
    given = series(AGGREGATION_INPUTS[case["input_ref"]])
    granularity = td(case["granularity_ns"])
    start = None if case["start_ns"] is None else dt(case["start_ns"])

    def aggregate():
        # metricd's computation (StorageDriver.execute_data_processing).
        grouped = carbonara.TimeSerie.from_data(
            given.timestamps, given.values).group_serie(granularity, start)
        return carbonara.AggregatedTimeSerie.from_grouped_serie(
            grouped, carbonara.Aggregation(case["method"], granularity,
                                           None))

    if is_upstream_error(case["output"]):
        assert_raises_like_upstream(case["output"], aggregate)
    else:
        assert_same_series("aggregate", series(case["output"]),
                           aggregate().ts)


RESAMPLE = MANIFEST["resample"]


def _sampling_label(sampling):
    return sampling if isinstance(sampling, str) else duration_label(
        sampling["ns"])


@pytest.mark.parametrize("case", RESAMPLE["cases"], ids=indexed_ids(
    RESAMPLE["cases"], lambda c: "%s-%s" % (_sampling_label(c["sampling"]),
                                            c["method"])))
def test_resample(case):
    given = series(RESAMPLE["input"])
    aggregated = carbonara.AggregatedTimeSerie.from_data(
        carbonara.Aggregation(case["method"],
                              td(RESAMPLE["input_granularity_ns"]), None),
        given.timestamps, given.values)
    sampling = case["sampling"]
    # A calendar code ("Y", "H", "Q", "M", "W") is passed as the string.
    sampling = sampling if isinstance(sampling, str) else td(sampling["ns"])
    if is_upstream_error(case["output"]):
        assert_raises_like_upstream(case["output"],
                                    lambda: aggregated.resample(sampling))
    else:
        assert_same_series("resample", series(case["output"]),
                           aggregated.resample(sampling).ts)


TRUNCATE = MANIFEST["archive_policy"]["truncate"]


@pytest.mark.parametrize("case", TRUNCATE, ids=indexed_ids(
    TRUNCATE, lambda c: "%s-x%d" % (duration_label(c["granularity_ns"]),
                                    c["points"])))
def test_archive_policy_truncate(case):
    given = series(case["input"])
    timespan = td(case["timespan_ns"])
    aggregated = carbonara.AggregatedTimeSerie.from_data(
        carbonara.Aggregation("mean", td(case["granularity_ns"]), timespan),
        given.timestamps, given.values)
    oldest = aggregated.truncate(timespan)
    assert to_ns(oldest) == case["returned_oldest_point_ns"]
    assert_same_series("truncate", series(case["output"]), aggregated.ts)


# --------------------------------------------------------------------------
# incoming.measure_blobs
# --------------------------------------------------------------------------

MEASURE_BLOBS = MANIFEST["incoming"]["measure_blobs"]


@pytest.mark.parametrize("case", MEASURE_BLOBS, ids=indexed_ids(
    MEASURE_BLOBS, lambda c: "%d-points" % c["input"]["count"]))
def test_incoming_measure_blob(case):
    data = blob(case["blob"])
    # How metricd reads a blob (IncomingDriver._unserialize_measures),
    # with our module's dtype.
    decoded = numpy.frombuffer(data,
                               dtype=carbonara.TIMESERIES_ARRAY_DTYPE)
    assert_same_series("decoded", series(case["decoded"]), decoded)
    # How the API writes one (IncomingDriver._encode_measures).
    given = series(case["input"])
    encoded = numpy.fromiter(zip(given.timestamps, given.values),
                             dtype=carbonara.TIMESERIES_ARRAY_DTYPE)
    assert_same_bytes("encoded", data, encoded.tobytes())


# --------------------------------------------------------------------------
# Swapping our module into upstream's code
# --------------------------------------------------------------------------

# Upstream modules on the metricd and /v1/aggregates paths that did
# `from gnocchi import carbonara`; any other loaded gnocchi module that did
# so is swapped as well.
MODULES_USING_CARBONARA = (
    "gnocchi.archive_policy",
    "gnocchi.storage",
    "gnocchi.storage.file",
    "gnocchi.storage.ceph",
    "gnocchi.rest.aggregates.processor",
    "gnocchi.rest.aggregates.operations",
)

# Upstream's implementations. Ours shares only upstream's exceptions,
# Aggregation and the SplitKey base class, so none of these may run once
# the swap is done; if one does, a module still computes with upstream's
# carbonara, and the comparison would prove nothing.
UPSTREAM_IMPLEMENTATIONS = (
    "TimeSerie", "BoundTimeSerie", "AggregatedTimeSerie",
    "GroupedTimeSeries", "round_timestamp", "make_timeseries",
    "combine_timeseries",
)


class _Tripwire(object):
    """Stands for an upstream implementation: any use is recorded (some
    upstream wrappers swallow exceptions) and raises."""

    def __init__(self, name, uses):
        self._name = name
        self._uses = uses

    def _trip(self, what):
        self._uses.append(what)
        raise AssertionError(
            "upstream gnocchi.carbonara.%s was used: a module on the path "
            "still computes with upstream's carbonara" % what)

    def __call__(self, *args, **kwargs):
        self._trip(self._name)

    def __getattr__(self, attribute):
        if attribute.startswith("__"):
            # Introspection (copy, inspect), not a use.
            raise AttributeError(attribute)
        self._trip("%s.%s" % (self._name, attribute))


def swap_in_gnocchi_rs(monkeypatch):
    """Point upstream's modules at ``gnocchi_rs.carbonara`` and trip any
    remaining use of upstream's implementation.

    :return: the list recording uses of upstream's implementation.
    """
    for name in MODULES_USING_CARBONARA:
        importlib.import_module(name)
    swapped = []
    for name, module in list(sys.modules.items()):
        # Not the `gnocchi` package itself: its `carbonara` attribute is
        # the submodule, which later imports would then resolve to ours.
        if (name.startswith("gnocchi.") and not name.startswith(
                "gnocchi.tests") and
                getattr(module, "carbonara", None) is upstream_carbonara):
            monkeypatch.setattr(module, "carbonara", carbonara)
            swapped.append(name)
    assert set(MODULES_USING_CARBONARA) <= set(swapped)

    uses = []
    for name in UPSTREAM_IMPLEMENTATIONS:
        monkeypatch.setattr(upstream_carbonara, name, _Tripwire(name, uses))
    # SplitKey stays (ours subclasses it), but building upstream's own kind
    # means a driver listed keys through upstream's module.
    upstream_init = upstream_carbonara.SplitKey.__init__

    def split_key_init(self, value, sampling):
        if type(self) is upstream_carbonara.SplitKey:
            uses.append("SplitKey")
        upstream_init(self, value, sampling)

    monkeypatch.setattr(upstream_carbonara.SplitKey, "__init__",
                        split_key_init)
    return uses


# --------------------------------------------------------------------------
# pipeline: upstream's metricd write path with our carbonara
# --------------------------------------------------------------------------

PIPELINE = MANIFEST["pipeline"]


class _Metric(object):
    """What the storage drivers read of an indexer Metric."""

    def __init__(self, metric_id, policy):
        self.id = metric_id
        self.name = "vectors"
        self.archive_policy = policy
        self.needs_raw_data_truncation = False
        self.resource_id = None

    def __hash__(self):
        return hash(self.id)

    def __eq__(self, other):
        return isinstance(other, _Metric) and self.id == other.id

    def __str__(self):
        return str(self.id)

    __repr__ = __str__


class _RecordingIndexer(object):
    """The indexer calls made by add_measures_to_metrics; only the storage
    bytes are compared, the calls merely show the whole path ran."""

    def __init__(self):
        self.calls = []

    def update_needs_raw_data_truncation(self, *args, **kwargs):
        self.calls.append(("update_needs_raw_data_truncation", args))

    def update_last_measure_timestamp(self, *args, **kwargs):
        self.calls.append(("update_last_measure_timestamp", args))


class _CephLikeStorage(gnocchi_storage.StorageDriver):
    """In-memory driver with the Ceph driver's semantics, as the vector
    generator modelled it (a test double for RADOS, copied from
    gen_vectors.py's MemOffsetStorage): WRITE_FULL is False, so the mutable
    split is written uncompressed at an offset and older splits are
    rewritten compressed; a write past the end of an object zero-fills the
    gap; names are the Ceph driver's; split names live in the omap of the
    unaggregated object.
    """

    WRITE_FULL = False
    MAP_METHOD = staticmethod(utils.sequencial_map)

    _name = staticmethod(ceph_storage.CephStorage._get_object_name)
    _unaggregated = staticmethod(
        ceph_storage.CephStorage._build_unaggregated_timeserie_path)

    def __init__(self):
        super(_CephLikeStorage, self).__init__(None)
        self.objects = {}
        self.omap = {}

    def _get_or_create_unaggregated_timeseries_unbatched(self, metric,
                                                         version=3):
        name = self._unaggregated(metric, version)
        if name not in self.objects:
            self.objects[name] = bytearray()
            self.omap[name] = set()
            return None
        return bytes(self.objects[name]) or None

    def _store_unaggregated_timeseries_unbatched(self, metric, data,
                                                 version=3):
        self.objects[self._unaggregated(metric, version)] = bytearray(data)

    def _store_metric_splits_unbatched(self, metric, key, aggregation, data,
                                       offset, version=3):
        name = self._name(metric, key, aggregation.method, version)
        if offset is None:
            self.objects[name] = bytearray(data)
        else:
            obj = self.objects.setdefault(name, bytearray())
            if len(obj) < offset + len(data):
                obj.extend(b"\x00" * (offset + len(data) - len(obj)))
            obj[offset:offset + len(data)] = data
        self.omap[self._unaggregated(metric, 3)].add(name)

    def _get_splits_unbatched(self, metric, key, aggregation, version=3):
        obj = self.objects.get(
            self._name(metric, key, aggregation.method, version))
        return None if obj is None else bytes(obj)

    def _delete_metric_splits_unbatched(self, metric, key, aggregation,
                                        version=3):
        name = self._name(metric, key, aggregation.method, version)
        self.objects.pop(name, None)
        self.omap[self._unaggregated(metric, 3)].discard(name)

    def _list_split_keys_unbatched(self, metric, aggregations, version=3):
        keys = {}
        names = self.omap.get(self._unaggregated(metric, 3))
        if names is None:
            raise gnocchi_storage.MetricDoesNotExist(metric)
        for name in names:
            parts = name.split("_")
            if parts[-1] != "v%d" % version:
                continue
            timestamp = utils.to_timestamp(parts[2])
            granularity = utils.to_timespan(parts[4])
            for aggregation in aggregations:
                if (aggregation.method == parts[3]
                        and aggregation.granularity == granularity):
                    keys.setdefault(aggregation, set()).add(
                        carbonara.SplitKey(timestamp, sampling=granularity))
                    break
        return keys


class PipelineRun(object):
    """What both drivers stored after each step, and what they read."""

    def __init__(self):
        self.file_trees = []
        self.ceph_states = []
        self.indexer_calls = []
        self.reads = []
        self.failure = None
        self.upstream_uses = []

    def require_step(self, n):
        if n >= len(self.file_trees):
            pytest.fail("the pipeline stopped before step %d:\n%s"
                        % (n, self.failure), pytrace=False)


def _pipeline_policy():
    spec = PIPELINE["archive_policy"]
    return archive_policy.ArchivePolicy(
        "vectors", spec["back_window"],
        [archive_policy.ArchivePolicyItem(granularity=td(d["granularity_ns"]),
                                          points=d["points"])
         for d in spec["definition"]],
        spec["aggregation_methods"])


def _file_tree(basepath):
    tree = {}
    for root, _, names in os.walk(basepath):
        for name in names:
            path = os.path.join(root, name)
            relative = os.path.relpath(path, basepath).replace(os.sep, "/")
            # The driver's scratch area and config, not stored data.
            if relative.startswith("tmp/"):
                continue
            with open(path, "rb") as f:
                tree[relative] = f.read()
    return tree


def _drive_pipeline(run, basepath):
    policy = _pipeline_policy()
    metric = _Metric(uuid.UUID(PIPELINE["metric_id"]), policy)
    files = file_storage.FileStorage(types.SimpleNamespace(
        file_basepath=basepath, file_subdir_len=PIPELINE["file_subdir_len"]))
    # As the generator ran it: one thread, deterministic.
    files.MAP_METHOD = staticmethod(utils.sequencial_map)
    files.upgrade()
    ceph_like = _CephLikeStorage()

    for step in PIPELINE["steps"]:
        given = series(step["measures"])
        measures = carbonara.make_timeseries(given.timestamps, given.values)
        calls = []
        for driver in (files, ceph_like):
            indexer = _RecordingIndexer()
            # Unsorted, as metricd gets it: the driver sorts it.
            driver.add_measures_to_metrics({metric: measures.copy()},
                                           indexer)
            calls.append(indexer.calls)
        run.indexer_calls.append(calls)
        run.file_trees.append(_file_tree(basepath))
        run.ceph_states.append((
            {name: bytes(data) for name, data in ceph_like.objects.items()},
            sorted(ceph_like.omap[ceph_like._unaggregated(metric, 3)])))

    for read in PIPELINE["reads"]:
        aggregation = policy.get_aggregation(read["method"],
                                             td(read["granularity_ns"]))
        results = {}
        for label, driver in (("file_driver", files),
                              ("ceph_like_driver", ceph_like)):
            try:
                results[label] = driver.get_aggregated_measures(
                    {metric: [aggregation]},
                    None if read["from_ns"] is None else dt(read["from_ns"]),
                    None if read["to_ns"] is None else dt(read["to_ns"]),
                    (None if read["resample_ns"] is None
                     else td(read["resample_ns"])),
                )[metric][aggregation].ts.copy()
            except Exception:
                results[label] = traceback.format_exc()
        run.reads.append(results)


@pytest.fixture(scope="module")
def pipeline_run():
    """Runs every step once, through both drivers, with our carbonara
    swapped in only for the duration of the run."""
    run = PipelineRun()
    basepath = tempfile.mkdtemp(prefix="gnocchi-rs-vectors-")
    try:
        with pytest.MonkeyPatch.context() as monkeypatch:
            run.upstream_uses = swap_in_gnocchi_rs(monkeypatch)
            try:
                _drive_pipeline(run, basepath)
            except Exception:
                # Steps done so far are still checked; later ones report it.
                run.failure = traceback.format_exc()
    finally:
        shutil.rmtree(basepath, ignore_errors=True)
    return run


def assert_same_objects(what, expected, got):
    """Stored objects: ``expected`` maps names to BLOB references."""
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    assert not missing and not extra, "%s: missing %s, unexpected %s" % (
        what, missing, extra)
    for name, reference in sorted(expected.items()):
        if reference["path"] is not None:
            assert_same_bytes("%s %s" % (what, name), blob(reference),
                              got[name])
        else:
            # Intermediate steps keep only the digest.
            data = got[name]
            assert (len(data), hashlib.sha256(data).hexdigest()) == (
                reference["len"], reference["sha256"]), (
                "%s %s: expected %d bytes sha256 %s, got %d bytes sha256 %s"
                % (what, name, reference["len"], reference["sha256"],
                   len(data), hashlib.sha256(data).hexdigest()))


def test_pipeline_policy_matches_vectors():
    # The policy rebuilt from the vectors must be the one they were run
    # with, or every pipeline comparison would be moot.
    spec = PIPELINE["archive_policy"]
    policy = _pipeline_policy()
    assert to_ns(policy.max_block_size) == spec["max_block_size_ns"]
    assert sorted(policy.aggregation_methods) == spec["aggregation_methods"]
    assert [to_ns(d.timespan) for d in policy.definition] == \
        [d["timespan_ns"] for d in spec["definition"]]


STEP_IDS = ["step%d" % n for n in range(len(PIPELINE["steps"]))]


@pytest.mark.parametrize("n", range(len(PIPELINE["steps"])), ids=STEP_IDS)
def test_pipeline_file_driver(pipeline_run, n):
    run = pipeline_run
    run.require_step(n)
    assert not run.upstream_uses, run.upstream_uses
    for calls in run.indexer_calls[n]:
        # add_measures_to_metrics went all the way through.
        assert ("update_last_measure_timestamp",
                (uuid.UUID(PIPELINE["metric_id"]),)) in calls
    if n == len(PIPELINE["steps"]) - 1:
        assert all(ref["path"] for ref in
                   PIPELINE["steps"][n]["file_driver"].values()), \
            "the last step must keep every file's bytes"
    assert_same_objects("file", PIPELINE["steps"][n]["file_driver"],
                        run.file_trees[n])


@pytest.mark.parametrize("n", range(len(PIPELINE["steps"])), ids=STEP_IDS)
def test_pipeline_ceph_like_driver(pipeline_run, n):
    run = pipeline_run
    run.require_step(n)
    assert not run.upstream_uses, run.upstream_uses
    expected = PIPELINE["steps"][n]["ceph_like_driver"]
    objects, omap_keys = run.ceph_states[n]
    assert omap_keys == expected["omap_keys_on_unaggregated_object"]
    assert_same_objects("object", expected["objects"], objects)


READS = PIPELINE["reads"]


def _read_label(read):
    label = "%s-%s" % (read["method"], duration_label(read["granularity_ns"]))
    if read["from_ns"] is not None or read["to_ns"] is not None:
        label += "-window"
    if read["resample_ns"] is not None:
        label += "-resample" + duration_label(read["resample_ns"])
    return label


@pytest.mark.parametrize("n", range(len(READS)),
                         ids=indexed_ids(READS, _read_label))
def test_pipeline_read(pipeline_run, n):
    run = pipeline_run
    assert run.failure is None, run.failure
    assert not run.upstream_uses, run.upstream_uses
    for label in ("file_driver", "ceph_like_driver"):
        got = run.reads[n][label]
        assert not isinstance(got, str), "%s read failed:\n%s" % (label, got)
        assert_same_series(label, series(READS[n][label]), got)


# --------------------------------------------------------------------------
# cross_aggregation: upstream's /v1/aggregates processor with our carbonara
# --------------------------------------------------------------------------

CROSS = MANIFEST["cross_aggregation"]


class _Reference(object):
    """A metric reference as processor.aggregated reads it (no resource:
    results are keyed by name, then aggregation)."""

    def __init__(self, name, aggregation):
        self.name = name
        self.aggregation = aggregation
        self.resource = None
        self.metric = None
        self.lookup_key = [name, aggregation]


def _operations(node):
    # {"timespan_ns": n} stands for a timespan argument (resample).
    if isinstance(node, list):
        return [_operations(n) for n in node]
    if isinstance(node, dict):
        return td(node["timespan_ns"])
    return node


def _cross_inputs(case):
    """(reference, series) pairs in the generator's order: reference, then
    granularity."""
    inputs = []
    for name, aggregation in case["references"]:
        for granularity in case["granularities_ns"]:
            encoded = CROSS["series"][name].get(str(granularity))
            if encoded is None:
                continue
            given = series(encoded)
            inputs.append((
                _Reference(name, aggregation),
                carbonara.AggregatedTimeSerie.from_data(
                    carbonara.Aggregation(aggregation, td(granularity),
                                          None),
                    given.timestamps, given.values)))
    return inputs


def _decode_points(points):
    return [(to_ns(t), to_ns(g), float(v)) for t, g, v in points]


def assert_same_points(what, expected, got):
    """Lists of [t_ns, granularity_ns, value, value_hex] vs (t, g, v)."""
    got = _decode_points(got)
    for i, (e, g) in enumerate(zip(expected, got)):
        e_bits = numpy.array([int(e[3], 16)], dtype="<u8")
        g_bits = numpy.array([g[2]], dtype="<f8").view("<u8")
        assert (e[0], e[1]) == g[:2] and same_floats(e_bits, g_bits)[0], (
            "%s: point %d of %d/%d: expected %s, got %s" % (
                what, i, len(expected), len(got), (e[0], e[1], e[3]),
                (g[0], g[1], "%016x" % g_bits[0])))
    assert len(expected) == len(got), "%s: expected %d points, got %d" % (
        what, len(expected), len(got))


def _cross_label(case):
    operations = case["operations"]
    label = operations[0]
    if operations[0] in ("aggregate", "rolling", "resample"):
        label += "-" + operations[1]
    return "%s-fill=%s-%s%s" % (
        label, case["fill"] if case["needed_overlap"] is None
        else "%s,overlap=%g" % (case["fill"], case["needed_overlap"]),
        "+".join(duration_label(g) for g in case["granularities_ns"]),
        "" if case["from_ns"] is None else "-window")


@pytest.mark.parametrize("case", CROSS["cases"],
                         ids=indexed_ids(CROSS["cases"], _cross_label))
def test_cross_aggregation(case, monkeypatch):
    upstream_uses = swap_in_gnocchi_rs(monkeypatch)
    inputs = _cross_inputs(case)

    def aggregated():
        return processor.aggregated(
            inputs, _operations(case["operations"]),
            None if case["from_ns"] is None else dt(case["from_ns"]),
            None if case["to_ns"] is None else dt(case["to_ns"]),
            case["needed_overlap"], case["fill"])

    expected = case["result"]
    if is_upstream_error(expected):
        assert_raises_like_upstream(expected, aggregated)
    else:
        result = aggregated()
        if "aggregated" in expected:
            assert set(result) == {"aggregated"}
            assert_same_points("aggregated", expected["aggregated"],
                               result["aggregated"])
        else:
            per_metric = expected["per_metric"]
            assert sorted(result) == sorted(per_metric)
            for name, by_aggregation in per_metric.items():
                assert sorted(result[name]) == sorted(by_aggregation), name
                for aggregation, points in by_aggregation.items():
                    assert_same_points("%s/%s" % (name, aggregation), points,
                                       result[name][aggregation])
    assert not upstream_uses, upstream_uses
