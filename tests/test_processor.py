"""gnocchi_rs.processor.aggregated against upstream's
``processor.aggregated``: the same references, series (gaps, NaN, signed
zeros, infinities, several samplings), operation trees, fills, overlap
and time bounds give the same answer, tuple by tuple and bit for bit, or
the same exception with the same message.
"""
from __future__ import annotations

import struct
import types
import uuid

import numpy
import pytest
from gnocchi import carbonara
from gnocchi.rest.aggregates import api as aggregates_api
from gnocchi.rest.aggregates import operations as agg_operations
from gnocchi.rest.aggregates import processor as upstream
from hypothesis import event, given, settings
from hypothesis import strategies as st

from gnocchi_rs import _native
from gnocchi_rs import processor

START = numpy.datetime64("2017-01-01T00:00:00", "ns")
NAMES = ["m%d" % i for i in range(4)]
METRICS = {name: types.SimpleNamespace(id=uuid.UUID(int=i + 1), name=name)
           for i, name in enumerate(NAMES)}


def _reference(name, aggregation="mean", resource=None):
    return upstream.MetricReference(METRICS[name], aggregation, resource)


def _key(name):
    return str(METRICS[name].id)


def _series(granularity_s, offsets, values, method="mean"):
    granularity = numpy.timedelta64(granularity_s, "s")
    times = START + numpy.array(sorted(set(offsets)), dtype="int64") * \
        granularity
    return carbonara.AggregatedTimeSerie.from_data(
        carbonara.Aggregation(method, granularity, None), times,
        numpy.array(values[:len(times)] + [1.0] * (len(times) - len(values)),
                    dtype=numpy.float64))


_values = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False, width=64),
    st.sampled_from([0.0, -0.0, float("nan"), float("inf"), -float("inf"),
                     1e300, -1e-300, 3.0, 2.5]))


@st.composite
def _inputs(draw):
    chosen = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4,
                           unique=True))
    refs_and_series = []
    for name in chosen:
        offsets = draw(st.lists(st.integers(0, 30), max_size=20))
        values = draw(st.lists(_values, max_size=20))
        granularity = draw(st.sampled_from([60, 60, 60, 300]))
        refs_and_series.append((_reference(name),
                                _series(granularity, offsets, values)))
    return chosen, refs_and_series


def _leaf(names):
    return st.one_of(
        st.sampled_from(names).map(lambda n: ["metric", _key(n), "mean"]),
        st.lists(st.sampled_from(names), min_size=1, max_size=3,
                 unique=True).map(
            lambda ns: ["metric"] + [[_key(n), "mean"] for n in ns]))


def _number():
    return st.sampled_from([2.0, -0.5, 0.0, -0.0, 3.0, 1e-3])


def _tree(children):
    operand = st.one_of(children, _number())
    return st.one_of(
        st.tuples(st.just("aggregate"),
                  st.sampled_from(list(agg_operations.AGG_MAP)), children),
        st.tuples(st.sampled_from(list(agg_operations.binary_operators)),
                  children, operand),
        st.tuples(st.sampled_from(["+", "-", "/", "max", "clip_min"]),
                  _number(), children),
        st.tuples(st.just("clip"), children, _number(), _number()),
        st.tuples(st.sampled_from(
            list(agg_operations.unary_operators) +
            list(agg_operations.unary_operators_with_timestamps)), children),
        st.tuples(st.just("rolling"),
                  st.sampled_from(["mean", "max", "sum", "std"]),
                  st.sampled_from([1, 2, 4]), children),
        st.tuples(st.just("resample"),
                  st.sampled_from(["mean", "sum", "max", "count"]),
                  st.sampled_from([numpy.timedelta64(300, "s"),
                                   numpy.timedelta64(3600, "s")]),
                  children),
    ).map(list)


def _bits(value):
    if isinstance(value, (float, numpy.floating)):
        if numpy.isnan(value):
            # A NaN's sign and payload (x86 makes -NaN of 0/0) reach no
            # answer: JSON and numpy print every NaN alike.
            return ("f", "nan")
        return ("f", struct.pack("<d", float(value)))
    return (type(value).__name__, value)


def _flat(answer):
    """Every (path, timestamp, granularity, value) of an answer, values as
    their bits and types kept, in order."""
    out = []

    def walk(path, node):
        if isinstance(node, list):
            for t, g, v in node:
                out.append((path, type(t), t, type(g), g, type(v),
                            _bits(v)))
        else:
            assert list(node) == list(dict.fromkeys(node))
            for key, child in node.items():
                walk(path + (key,), child)

    walk((), answer)
    return out


def _answer(function, *args):
    try:
        return "ok", _flat(function(*args))
    except Exception as e:  # the same refusal, or the same failure
        return "raised", type(e).__name__, str(e)


_fills = st.sampled_from([None, None, None, "null", "dropna", "ffill",
                          "bfill", "full_ffill", "full_bfill", 0.0, -2.5])
_overlaps = st.sampled_from([100.0, 100.0, 0.0, 50.0, None])
_bounds = st.one_of(st.none(), st.integers(-2, 32).map(
    lambda m: START + numpy.timedelta64(m * 60 + 30, "s")))


@settings(max_examples=600, deadline=None)
@given(data=st.data(), fill=_fills, overlap=_overlaps, start=_bounds,
       stop=_bounds)
def test_generated_trees_answer_as_upstream(data, fill, overlap, start,
                                            stop):
    names, refs_and_series = data.draw(_inputs())
    tree = data.draw(st.recursive(_leaf(names), _tree, max_leaves=4))
    if overlap is None and fill is None:
        overlap = 100.0
    args = (refs_and_series, tree, start, stop, overlap, fill)
    try:
        processor.native_evaluation(*args)
        event("evaluated natively")
    except _native.RequestDeclined as e:
        event("declined: " + str(e))
    except Exception:
        event("failed natively as upstream does")
    assert _answer(processor.aggregated, *args) == \
        _answer(upstream.aggregated, *args), tree


def _dense(name, granularity=60, shift=0, n=30, seed=0):
    rng = numpy.random.default_rng(seed)
    return (_reference(name), _series(granularity, range(shift, shift + n),
                                      list(rng.normal(0, 100, n))))


NATIVE_TREES = [
    "(aggregate mean (metric (m0 mean) (m1 mean) (m2 mean)))",
    "(aggregate std (metric (m0 mean) (m1 mean)))",
    "(aggregate rate:max (metric (m0 mean) (m1 mean)))",
    "(* (aggregate sum (metric (m0 mean) (m1 mean))) -0.5)",
    "(clip (metric (m0 mean) (m1 mean)) -10 10)",
    "(rolling mean 3 (metric m0 mean))",
    "(resample max 300 (metric (m0 mean) (m2 mean)))",
    "(rateofchangesec (metric m1 mean))",
    "(abs (- (metric m0 mean) (metric m1 mean)))",
    "(cos (metric m2 mean))",
    "(>= (metric m0 mean) 0)",
    "(aggregate median (resample mean 300 (metric (m0 mean) (m1 mean))))",
]


def _parsed(text):
    for name in NAMES:
        text = text.replace("(%s " % name, "(%s " % _key(name)).replace(
            " %s " % name, " %s " % _key(name))
    return aggregates_api.OperationsSchema(text)


@pytest.mark.parametrize("fill", [None, "ffill", 0.0, "dropna"])
@pytest.mark.parametrize("text", NATIVE_TREES)
def test_the_engine_answers_without_upstream(text, fill, monkeypatch):
    """Not a fallback in disguise: these trees are evaluated natively, and
    equal upstream's answer."""
    # The references of the tree, as upstream's controller makes them.
    refs_and_series = [series for name, series in (
        ("m0", _dense("m0")), ("m1", _dense("m1", shift=3, seed=1)),
        ("m2", _dense("m2", seed=2))) if name in text]
    tree = _parsed(text)
    args = (refs_and_series, tree, None, None, 50.0, fill)
    expected = _answer(upstream.aggregated, *args)
    monkeypatch.setattr(processor.upstream, "aggregated", None)
    assert _answer(processor.aggregated, *args) == expected
    assert expected[0] == "ok" and expected[1]


def test_refusals_carry_upstreams_message():
    refs_and_series = [_dense("m0", n=5), _dense("m1", shift=10, n=5)]
    pair = _parsed("(aggregate mean (metric (m0 mean) (m1 mean)))")
    for args in ((refs_and_series, pair, None, None, 100.0, None),
                 (refs_and_series[:1],
                  _parsed("(rolling mean 9 (metric m0 mean))"),
                  None, None, 0.0, None)):
        got, expected = (_answer(processor.aggregated, *args),
                         _answer(upstream.aggregated, *args))
        assert got == expected and got[0] == "raised"
        assert got[1] == "UnAggregableTimeseries"


def test_declined_trees_are_left_to_upstream():
    refs_and_series = [_dense("m0"), _dense("m1", seed=1)]
    for text in ("(** (metric m0 mean) 2)", "(tan (metric m0 mean))",
                 "(aggregate count (metric (m0 mean) (m1 mean)))"):
        args = (refs_and_series, _parsed(text), None, None, 100.0, None)
        with pytest.raises(_native.RequestDeclined):
            processor.native_evaluation(*args)
        assert _answer(processor.aggregated, *args) == \
            _answer(upstream.aggregated, *args)


def test_bad_series_arguments_are_typed_errors():
    with pytest.raises(ValueError):
        _native.evaluate_aggregates(
            ["metric", "a", "mean"],
            [(60_000_000_000, [("a", "mean")],
              [(numpy.arange(3, dtype=numpy.int64), numpy.ones(2))])],
            None, None, None, 100.0)
    with pytest.raises(_native.RequestDeclined):
        _native.evaluate_aggregates(
            ["nosuch", ["metric", "a", "mean"]],
            [(60_000_000_000, [("a", "mean")],
              [(numpy.arange(3, dtype=numpy.int64), numpy.ones(3))])],
            None, None, None, 100.0)
