"""The native read path (gnocchi_rs.rest.read, src/api/render.rs) against
upstream's own application: the same GET of measures, valid and not, sent
to upstream's Pecan application with upstream's ``file`` drivers and to
gnocchi-rs' application with ``rs-file``, over the same stored data (one
directory: the layouts are the same), gives the same status, content type
and body, to the byte.
"""
from __future__ import annotations

import base64
import datetime
import logging
import uuid

import numpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rest_harness

ADMIN = "Basic " + base64.b64encode(b"admin:").decode()
OTHER = "Basic " + base64.b64encode(b"bob:").decode()
HEADERS = {"Authorization": ADMIN}

START = numpy.datetime64("2017-01-01T00:00:00", "ns")
BUSY = uuid.UUID(int=0x6E0A0F0E1F2D4C8B9A7766554433221A)     # custom policy
SPARSE = uuid.UUID(int=0x6E0A0F0E1F2D4C8B9A7766554433221B)   # gaps, NaN std
EMPTY = uuid.UUID(int=0x6E0A0F0E1F2D4C8B9A7766554433221C)    # no measures
PENDING = uuid.UUID(int=0x6E0A0F0E1F2D4C8B9A7766554433221D)  # unprocessed
RESOURCE = "host-1"
METHODS = ["mean", "min", "max", "sum", "std", "count", "last", "first",
           "median", "90pct", "5pct", "rate:mean", "rate:last"]


def _policy():
    from gnocchi import archive_policy

    return archive_policy.ArchivePolicy(
        "many", 0, [archive_policy.ArchivePolicyItem(granularity=g,
                                                     points=p)
                    for g, p in ((numpy.timedelta64(1, "s"), 7200),
                                 (numpy.timedelta64(60, "s"), 1440),
                                 (numpy.timedelta64(3600, "s"), 100))],
        aggregation_methods=METHODS)


def _measures():
    """(metric id, measures): seconds over two hours, values with a long
    tail of digits and negative ones; a sparse metric of single points."""
    from gnocchi import incoming

    rng = numpy.random.default_rng(20171)
    busy = [incoming.Measure(START + numpy.timedelta64(int(s), "s"), v)
            for s, v in zip(range(0, 7200, 3),
                            rng.normal(0, 1e3, 2400))]
    busy.append(incoming.Measure(START + numpy.timedelta64(7300, "s"),
                                 1e-7))
    sparse = [incoming.Measure(START + numpy.timedelta64(s, "s"), v)
              for s, v in ((0, 1.0), (3700, -0.0), (90000, 1e300),
                           (90061, 3.5))]
    return {BUSY: busy, SPARSE: sparse}


@pytest.fixture(scope="module")
def apps(tmp_path_factory):
    """(upstream's app, ours), over one directory."""
    from gnocchi import incoming

    return rest_harness.side_by_side(
        str(tmp_path_factory.mktemp("read")), [_policy()], RESOURCE,
        [(BUSY, "many", "busy"), (SPARSE, "many", "sparse"),
         (EMPTY, "medium", "empty"), (PENDING, "low", "pending")],
        _measures(), {PENDING: [incoming.Measure(START, 2.0)]})


def _both(apps, path, headers=HEADERS):
    answers = []
    for app in apps:
        try:
            answers.append(app.get(path, headers=headers, expect_errors=True))
        except Exception as e:
            # Upstream lets some queries raise (a 500 from the server:
            # a parameter given twice, a calendar resample): so must ours.
            answers.append(type(e).__name__)
    up, ours = answers
    if isinstance(up, str) or isinstance(ours, str):
        assert up == ours, path
        return None
    assert ours.status == up.status, (path, up.body[:300], ours.body[:300])
    assert ours.headers["Content-Type"] == up.headers["Content-Type"]
    assert ours.body == up.body, path
    return ours


def _path(metric, query=""):
    return "/v1/metric/%s/measures%s" % (metric, query)


def test_every_aggregation_and_granularity(apps):
    for method in METHODS:
        for granularity in ("", "&granularity=1", "&granularity=60",
                            "&granularity=3600"):
            for metric in (BUSY, SPARSE):
                answer = _both(apps, _path(metric, "?aggregation=%s%s"
                                           % (method, granularity)))
                assert answer.status_int == 200
    # 2 h at 1 s, back from the last point (7300 s): 2366 of every 3 s + it.
    assert len(_both(apps, _path(BUSY, "?granularity=1")).json) == 2367


def test_nan_and_extreme_values_render_as_upstream(apps):
    # The std of 1e300 and 3.5 overflows.
    body = _both(apps, _path(SPARSE, "?aggregation=std")).body
    assert b"Infinity" in body
    assert b"1e+300" in _both(apps, _path(SPARSE, "?aggregation=max")).body


def test_the_named_route(apps):
    for name in ("busy", "sparse", "empty", "nothing"):
        _both(apps, "/v1/resource/generic/%s/metric/%s/measures"
              "?aggregation=max&granularity=60" % (RESOURCE, name))
    _both(apps, "/v1/resource/generic/%s/metric/busy/measures"
          % uuid.UUID(int=5))
    _both(apps, "/v1/resource/nosuchtype/%s/metric/busy/measures"
          % RESOURCE)


def test_bad_queries_get_upstream_answers(apps):
    for query in ("?aggregation=nope", "?granularity=7", "?granularity=x",
                  "?granularity=", "?start=garbage", "?stop=", "?refresh=x",
                  "?resample=60", "?resample=x&granularity=1",
                  "?aggregation=mean&aggregation=max", "?foo=bar",
                  "?granularity=60&resample=M", "?granularity=1&resample=W",
                  "?%ff=1", "?aggregation=%ff"):
        _both(apps, _path(BUSY, query))
    for path in ("/v1/metric/not-a-uuid/measures", _path(uuid.UUID(int=3)),
                 _path(BUSY, "").replace("measures", "measures/"),
                 _path(BUSY, "").replace("measures", "measures.json")):
        _both(apps, path)


def test_empty_pending_and_refresh(apps):
    assert _both(apps, _path(EMPTY)).body == b"[]"
    _both(apps, _path(PENDING))
    _both(apps, _path(BUSY, "?refresh=true"))
    _both(apps, _path(BUSY, "?refresh=no"))


def test_authorization_and_accept(apps):
    _both(apps, _path(BUSY), headers={"Authorization": OTHER})
    _both(apps, _path(BUSY), headers={})
    for accept in ("text/html", "application/json", "*/*",
                   "text/html;q=1, application/json;q=0.5"):
        _both(apps, _path(BUSY, "?granularity=3600"),
              headers=dict(HEADERS, Accept=accept))


_times = st.one_of(
    st.integers(1483225200, 1483322400).map(str),
    st.floats(1.4832e9, 1.4834e9, allow_nan=False).map(repr),
    st.datetimes(datetime.datetime(2016, 12, 31),
                 datetime.datetime(2017, 1, 3)).map(
        lambda d: d.isoformat()),
    st.sampled_from(["-5 minutes", "now", "2017-01-01", "2017-01-01T01:00Z",
                     "2017-01-01T02:00:00+01:00", "0", "-1", "1e10"]))


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(metric=st.sampled_from([BUSY, SPARSE]),
       aggregation=st.sampled_from(METHODS + [None, "rate:max"]),
       granularity=st.sampled_from([None, "1", "60", "3600", "60.0", "1m",
                                    "1 hour", "120"]),
       start=st.one_of(st.none(), _times), stop=st.one_of(st.none(), _times),
       resample=st.sampled_from([None, None, None, "60", "120", "1 hour",
                                 "D", "W", "Y", "0"]))
def test_generated_queries(apps, metric, aggregation, granularity, start,
                           stop, resample):
    import urllib.parse

    query = {k: v for k, v in (("aggregation", aggregation),
                               ("granularity", granularity),
                               ("start", start), ("stop", stop),
                               ("resample", resample)) if v is not None}
    _both(apps, _path(metric, "?" + urllib.parse.urlencode(query)))


def test_the_native_path_served_the_valid_reads(apps, caplog):
    """Not a fallback in disguise: a valid read is not handed over."""
    caplog.set_level(logging.DEBUG, logger="gnocchi_rs.rest.seam")
    _both(apps, _path(BUSY, "?granularity=60&start=2017-01-01T00:30:00"))
    _both(apps, "/v1/resource/generic/%s/metric/busy/measures?resample=120"
          "&granularity=60" % RESOURCE)
    _both(apps, _path(EMPTY))
    # Parameters upstream's controller takes in its **kwargs, unread.
    assert _both(apps, _path(BUSY, "?granularity=60&end=2017-01-01T01:00:00"
                             "&needed_overlap=0&unread=1&unread=2")
                 ).status_int == 200
    assert not [r for r in caplog.records if "declined" in r.getMessage()
                or "handed over" in r.getMessage()]
    _both(apps, _path(BUSY, "?aggregation=nope"))
    assert [r for r in caplog.records if "declined" in r.getMessage()]


def test_unread_parameters_answer_as_upstream(apps):
    """Names Pecan treats apart (the controller's ``self``, its method
    override ``_method``) next to those the controller never reads."""
    for query in ("?self=1", "?_method=delete", "?kwargs=1&param=2",
                  "?granularity=60&self=x&end=2017-01-01T01:00:00",
                  "?metric_id=1&aggregation=max"):
        _both(apps, _path(BUSY, query))


def test_queries_split_and_decoded_as_webob_does(apps):
    """``;`` separates parameters as ``&`` does for Pecan (WebOb), and raw
    bytes are UTF-8: the names and values upstream's controller sees."""
    for query in ("?x=1;_method=delete", "?end=1;aggregation=max"
                  "&granularity=3600", "?granularity=60;start=2017-01-01"
                  "T00:30:00", "?aggregation=m\u00e9an"):
        _both(apps, _path(BUSY, query))
