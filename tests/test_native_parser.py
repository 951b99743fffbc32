"""The native body parser (src/api/) alone, against upstream's reading of
the same bytes: ``gnocchi.json.loads`` (ujson, what upstream's controllers
decode bodies with) then MeasuresListSchema. Whatever the parser does not
decline, it reads as upstream, to the bit (the sign of zero included).
"""
from __future__ import annotations

import datetime
import json
import math
import os
import tempfile
import uuid

import hypothesis
import numpy
import pytest
from hypothesis import strategies as st

from gnocchi_rs import _native


def _measures(*pairs):
    return [{"timestamp": t, "value": v} for t, v in pairs]


def _upstream_list(body):
    """(ns, values) as upstream reads a list body, or None if it refuses."""
    import voluptuous
    from gnocchi import json as upstream_json
    from gnocchi.rest import api as upstream_api
    try:
        measures = list(upstream_api.MeasuresListSchema(
            upstream_json.loads(body)))
    except (voluptuous.Invalid, ValueError, TypeError, KeyError,
            OverflowError, AttributeError):
        return None
    return ([int(m.timestamp.astype("datetime64[ns]").astype("int64"))
             for m in measures], [m.value for m in measures])


def _native_records(parsed):
    """The records of list 0, through a throwaway native write and read."""
    with tempfile.TemporaryDirectory() as d:
        incoming = _native.NativeIncoming.file(d)
        for sub in ("incoming-1-0", "tmp"):
            os.makedirs(os.path.join(d, sub))
        metric = uuid.uuid4().bytes
        incoming.add_parsed_measures(parsed, [("incoming-1-0", metric, 0)],
                                     False)
        read = incoming.read_sack("incoming-1-0")
        if not read.measures:
            return numpy.array([], dtype="<i8")
        [(_, words)] = read.measures
        return words


def _signed(values):
    return [(v, math.copysign(1, v)) for v in values]


def _read_alike(body):
    """Asserts the parser reads ``body`` as upstream, or declines it;
    returns whether it read it."""
    expected = _upstream_list(body)
    try:
        parsed = _native.parse_measure_list(body)
    except _native.RequestDeclined:
        return False                # upstream's code answers it
    assert expected is not None, body
    words = _native_records(parsed)
    assert parsed.count(0) == len(expected[0]) == len(words) // 2
    assert words[0::2].tolist() == expected[0], body
    assert _signed(words[1::2].view("<f8").tolist()) == _signed(
        expected[1]), body
    return True


# Literals the JSON grammar and Python's json module read differently from
# ujson, or that only raw bytes can carry.
@pytest.mark.parametrize("value, read", [
    (b"-0", True), (b"-0.0", True), (b"-0e0", True), (b"0", True),
    (b"1E2", True), (b"1e-400", True), (b"1e400", True), (b"-1e400", True),
    (b"123456789012345678901234567890", True),
    (b"-123456789012345678901234567890", True),
    (b"9" * 400, False), (b"01", False), (b"1.", False), (b".5", False),
    (b"+1", False), (b"NaN", False), (b"Infinity", False),
    (b"-Infinity", False), (b"0x10", False), (b"1e", False),
])
def test_raw_values_are_read_as_upstream(value, read):
    body = b'[{"timestamp": 1500000000, "value": %s}]' % value
    assert _read_alike(body) is read


@pytest.mark.parametrize("timestamp", [
    b"-0", b"0", b"-0.0", b"1e9", b"1.5e9", b"1500000000.000000001",
    b"01", b"1.", b"NaN", b"1e400", b"-1e400", b"1e20", b"9.3e9",
])
def test_raw_timestamps_are_read_as_upstream_or_declined(timestamp):
    _read_alike(b'[{"timestamp": %s, "value": 1}]' % timestamp)


_iso_dates = st.datetimes(min_value=datetime.datetime(1970, 1, 2),
                          max_value=datetime.datetime(2200, 1, 1))


@st.composite
def _iso_text(draw):
    when = draw(_iso_dates)
    text = when.strftime("%Y-%m-%d")
    shape = draw(st.sampled_from(["date", "minutes", "seconds", "fraction"]))
    if shape != "date":
        text += draw(st.sampled_from(["T", " "])) + when.strftime("%H:%M")
    if shape in ("seconds", "fraction"):
        text += when.strftime(":%S")
    if shape == "fraction":
        text += "." + draw(st.text("0123456789", min_size=1, max_size=14))
    if shape != "date":
        text += draw(st.sampled_from(["", "Z", "+02:00", "-0530", "+14",
                                      "+23:59", "-00:00"]))
    return text


_timestamps = st.one_of(
    st.integers(min_value=-10, max_value=2**40),
    st.floats(min_value=-1.0, max_value=1e13, allow_nan=False),
    _iso_text(), st.text(max_size=12), st.booleans(), st.none())
_values = st.one_of(st.integers(min_value=-2**70, max_value=2**70),
                    st.floats(allow_nan=False), st.text(max_size=5),
                    st.booleans(), st.none())


_numbers = st.one_of(st.integers(min_value=-2**70, max_value=2**70),
                     st.floats(allow_nan=False))
# Lists of one kind of timestamp and number values (what clients send,
# mostly read natively), and anything (mostly declined).
_lists = st.one_of(
    st.lists(st.tuples(st.one_of(st.integers(min_value=0, max_value=2**33),
                                 st.floats(min_value=0, max_value=9e9)),
                       _numbers), max_size=6),
    st.lists(st.tuples(_iso_text(), _numbers), max_size=6),
    st.lists(st.tuples(_timestamps, _values), max_size=6))


@hypothesis.settings(max_examples=500, deadline=None)
@hypothesis.given(_lists)
def test_parser_reads_lists_as_upstream(pairs):
    body = json.dumps(_measures(*pairs)).encode()
    hypothesis.event("read natively" if _read_alike(body) else "declined")
