"""_native.read_answer against Python's json module: the same tree, each
measure list as numpy columns holding exactly what json.loads and numpy
make of it; bodies that are not Gnocchi's answers raise ValueError."""
import json

import numpy
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from gnocchi_rs import _native

finite = st.floats(allow_nan=False, allow_infinity=False)
timestamps = st.integers(min_value=0, max_value=4102444800 * 10**9)
granularities = st.sampled_from([1.0, 60.0, 300.0, 3600.0, 0.5])


@st.composite
def measure_lists(draw):
    n = draw(st.integers(min_value=1, max_value=20))
    times = numpy.array(draw(st.lists(timestamps, min_size=n, max_size=n)),
                        dtype=numpy.int64)
    values = numpy.array(draw(st.lists(finite, min_size=n, max_size=n)))
    granularity = draw(granularities)
    return json.loads(_native.render_measures([(granularity, times,
                                                values)]))


scalars = st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | \
    finite | st.text(max_size=8)


def _like_a_measure_list(items):
    """What the reader takes for measures (by its first item): Gnocchi's
    answers have no other list of that shape."""
    if not items or not isinstance(items[0], list) or len(items[0]) != 3:
        return False
    when, granularity, value = items[0]
    return isinstance(when, str) and _number(granularity) and (
        value is None or isinstance(value, (int, float)))


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


trees = st.recursive(
    scalars | measure_lists(),
    lambda children: st.lists(children, max_size=4).filter(
        lambda items: not _like_a_measure_list(items)) | st.dictionaries(
        st.text(max_size=6), children, max_size=4),
    max_leaves=12)


def _expected(node):
    if isinstance(node, list) and _like_a_measure_list(node):
        return (numpy.array([numpy.datetime64(t.replace("+00:00", ""), "ns")
                             for t, _, _ in node]).view(numpy.int64),
                numpy.array([g for _, g, _ in node], dtype=float),
                numpy.array([numpy.nan if v is None else float(v)
                             for _, _, v in node]))
    if isinstance(node, list):
        return [_expected(child) for child in node]
    if isinstance(node, dict):
        return {key: _expected(child) for key, child in node.items()}
    return node


def _assert_same(got, expected):
    if isinstance(expected, tuple):
        assert isinstance(got, tuple) and len(got) == 3
        numpy.testing.assert_array_equal(got[0], expected[0])
        numpy.testing.assert_array_equal(got[1], expected[1])
        numpy.testing.assert_array_equal(got[2], expected[2])
        assert got[0].dtype == numpy.int64 and got[2].dtype == numpy.float64
    elif isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected)
        for g, e in zip(got, expected):
            _assert_same(g, e)
    elif isinstance(expected, dict):
        assert isinstance(got, dict) and list(got) == list(expected)
        for key in expected:
            _assert_same(got[key], expected[key])
    else:
        assert type(got) is type(expected) and got == expected


@settings(max_examples=300, deadline=None)
@given(trees)
def test_the_reader_reads_what_json_reads(tree):
    body = json.dumps(tree).encode()
    _assert_same(_native.read_answer(body), _expected(json.loads(body)))


def test_null_values_are_nan_and_booleans_numbers():
    body = (b'[["2026-12-07T00:00:00+00:00", 60.0, null],'
            b' ["2026-12-07T00:01:00+00:00", 60.0, true]]')
    times, grans, values = _native.read_answer(body)
    assert numpy.isnan(values[0]) and values[1] == 1.0
    assert times[1] - times[0] == 60 * 10**9


@pytest.mark.parametrize("body", [
    b"", b"[", b'{"a": 1,}', b"NaN",
    b'[["2026-12-07T00:00:00+00:00", 60.0, 1.0], ["garbage", 60.0, 1.0]]',
    b'[["2026-12-07T00:00:00+00:00", 60.0, 1.0], [1, 2, 3]]',
    b'[["2026-12-07T00:00:00+00:00", 60.0, 1.0], ["2026-12-07", 60.0]]',
])
def test_what_is_not_an_answer_is_a_value_error(body):
    with pytest.raises(ValueError):
        _native.read_answer(body)
