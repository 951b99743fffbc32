"""The native aggregates route (gnocchi_rs.rest.aggregates) against
upstream's own application: the same ``POST /v1/aggregates``, valid and
not, sent to upstream's Pecan application with upstream's ``file`` drivers
and to gnocchi-rs' application with ``rs-file``, over the same stored data,
gives the same status, content type and body, to the byte.
"""
from __future__ import annotations

import base64
import itertools
import json
import logging
import urllib.parse
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
_ids = (uuid.UUID(int=0x7E0A0F0E1F2D4C8B9A77665544332200 + i)
        for i in itertools.count())
DENSE, OFFSET, SPARSE, MEDIUM, LOW, EMPTY, PENDING = itertools.islice(_ids, 7)
METHODS = ["mean", "min", "max", "sum", "std", "count", "last", "median",
           "90pct", "rate:mean"]


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
    """Dense over two hours; another from the first half hour on (the
    overlap is partial); single points far apart; a metric of another
    policy with granularities in common (medium) and one without (low)."""
    from gnocchi import incoming

    rng = numpy.random.default_rng(7)

    def series(seconds, values):
        return [incoming.Measure(START + numpy.timedelta64(int(s), "s"), v)
                for s, v in zip(seconds, values)]

    return {
        DENSE: series(range(0, 7200, 3), rng.normal(0, 1e3, 2400)),
        OFFSET: series(range(1800, 9000, 5), rng.normal(5, 2, 1440)),
        SPARSE: series((0, 3700, 5000, 7100), (1.0, -0.0, 1e300, 3.5)),
        MEDIUM: series(range(0, 7200, 60), rng.normal(0, 1, 120)),
        LOW: series(range(0, 7200, 300), rng.normal(0, 1, 24)),
    }


@pytest.fixture(scope="module")
def apps(tmp_path_factory):
    from gnocchi import incoming

    return rest_harness.side_by_side(
        str(tmp_path_factory.mktemp("aggregates")), [_policy()], "host-1",
        [(DENSE, "many", "dense"), (OFFSET, "many", "offset"),
         (SPARSE, "many", "sparse"), (MEDIUM, "medium", "medium"),
         (LOW, "low", "low"), (EMPTY, "many", "empty"),
         (PENDING, "many", "pending")],
        _measures(), {PENDING: [incoming.Measure(START, 2.0)]})


def _both(apps, query, body, headers=HEADERS,
          content_type="application/json"):
    if not isinstance(body, (str, bytes)):
        body = json.dumps(body)
    path = "/v1/aggregates" + ("?" + urllib.parse.urlencode(query)
                               if isinstance(query, dict) else query)
    answers = []
    for app in apps:
        try:
            answers.append(app.post(path, body, headers=headers,
                                    content_type=content_type,
                                    expect_errors=True))
        except Exception as e:
            # Upstream lets some requests raise (a 500 from the server):
            # so must ours.
            answers.append(type(e).__name__)
    up, ours = answers
    if isinstance(up, str) or isinstance(ours, str):
        assert up == ours, (path, body)
        return None
    assert ours.status == up.status, (path, body, up.body[:300],
                                      ours.body[:300])
    assert ours.headers["Content-Type"] == up.headers["Content-Type"]
    assert ours.body == up.body, (path, body)
    return ours


def _metric(*pairs):
    return "(metric %s)" % " ".join("(%s %s)" % p for p in pairs)


def test_aggregate_of_metrics_every_method(apps):
    for method in METHODS + ["rate:max"]:
        for query in ({}, {"granularity": "60"}, {"granularity": "3600"},
                      {"needed_overlap": "0"}, {"fill": "null"},
                      {"granularity": "1", "fill": "0"}):
            answer = _both(apps, query, {"operations": "(aggregate %s %s)" % (
                method, _metric((DENSE, "mean"), (OFFSET, "mean"),
                                (SPARSE, method)))})
            assert answer is None or answer.status_int in (200, 400, 404)
    body = _both(apps, {"granularity": "60"}, {"operations": (
        "(aggregate mean %s)" % _metric((DENSE, "mean"), (OFFSET, "mean")))})
    assert body.status_int == 200
    # No fill and no overlap asked: dropna over the union, 0 to 9000 s.
    assert len(body.json["measures"]["aggregated"]) == 150


def test_operations_trees(apps):
    a, b = _metric((DENSE, "mean")), _metric((OFFSET, "max"))
    both = _metric((DENSE, "mean"), (OFFSET, "max"))
    for operations in (
            a, both, _metric((DENSE, "mean"), (DENSE, "max")),
            "(* 2 %s)" % a, "(+ %s %s)" % (a, b), "(/ %s 0)" % a,
            "(- %s %s)" % (a, a), "(** %s 0.5)" % a, "(> %s 0)" % a,
            "(abs %s)" % both, "(neg (floor %s))" % a, "(cos %s)" % a,
            "(rateofchange %s)" % a, "(rateofchangesec %s)" % both,
            "(clip %s -1 1)" % a, "(clip_min %s 0)" % both,
            "(rolling mean 3 %s)" % a, "(rolling max 2000 %s)" % a,
            "(rolling sum 2 (aggregate mean %s))" % both,
            "(resample mean 120 %s)" % both,
            "(resample max 7200 (aggregate sum %s))" % both,
            "(aggregate count %s)" % both,
            "(aggregate median (abs %s))" % both,
            "(max %s %s)" % (a, b)):
        for query in ({"granularity": "60"}, {"granularity": "60",
                                              "needed_overlap": "0"},
                      {"fill": "ffill"}, {"fill": "full_bfill"}):
            _both(apps, query, {"operations": operations})


def test_the_clients_shapes(apps):
    # Aodh: operations as a list, details=False&needed_overlap=0.
    answer = _both(apps, {"details": "False", "needed_overlap": "0",
                          "granularity": "60", "start": "2017-01-01T00:10",
                          "stop": "2017-01-01T01:00"},
                   {"operations": ["aggregate", "mean", [
                       "metric", [str(DENSE), "mean"],
                       [str(OFFSET), "mean"]]]})
    assert answer.status_int == 200
    # Grafana over ids: start, stop, fill and details together.
    _both(apps, {"start": "2017-01-01T00:00:00", "stop": "2017-01-01T02:00",
                 "details": "true", "fill": "null", "needed_overlap": "0"},
          {"operations": _metric((DENSE, "mean"))})
    _both(apps, {}, {"operations": ["metric", str(DENSE), "mean"]})


def test_fills_and_overlap(apps):
    pair = _metric((DENSE, "mean"), (OFFSET, "mean"))
    for fill in ("0", "-1.5", "null", "dropna", "ffill", "bfill",
                 "full_ffill", "full_bfill", "nope", None):
        for overlap in (None, "0", "50", "100", "x"):
            query = {k: v for k, v in (("fill", fill),
                                       ("needed_overlap", overlap),
                                       ("granularity", "60")) if v}
            _both(apps, query, {"operations": pair})
            _both(apps, query, {"operations": "(aggregate sum %s)" % pair})


def test_granularities_across_policies(apps):
    for pairs in (((DENSE, "mean"), (MEDIUM, "mean")),
                  ((DENSE, "mean"), (LOW, "mean")),
                  ((DENSE, "mean"), (EMPTY, "mean")),
                  ((EMPTY, "mean"),), ((PENDING, "mean"),),
                  ((DENSE, "mean"), (MEDIUM, "90pct"))):
        for query in ({}, {"granularity": "60"}, {"granularity": "1"},
                      {"granularity": "300"}):
            _both(apps, query, {"operations": "(aggregate max %s)"
                                % _metric(*pairs)})
            _both(apps, query, {"operations": _metric(*pairs)})


def test_bad_requests_get_upstream_answers(apps):
    good = {"operations": _metric((DENSE, "mean"))}
    for query in ("?granularity=x", "?start=garbage", "?stop=",
                  "?details=maybe", "?use_history=x", "?fill=1&fill=2",
                  "?foo=bar", "?%ff=1", "?groupby=id"):
        _both(apps, query, good)
    for body in ("", "{", "[]", "{}", '{"operations": 1}',
                 '{"operations": "(metric"}', '{"operations": "()"}',
                 '{"operations": "(nope (metric (%s mean)))"}' % DENSE,
                 '{"operations": "(metric (not-a-uuid mean))"}',
                 '{"operations": "(metric (%s mean))"}' % uuid.UUID(int=1),
                 '{"operations": "(metric (%s nope))"}' % DENSE,
                 '{"operations": "(metric (%s mean))"}'
                 % str(DENSE).upper(),
                 '{"operations": "(aggregate mean 3)"}',
                 json.dumps(dict(good, extra=1)),
                 json.dumps(dict(good, resource_type="generic",
                                 search={"=": {"id": "x"}}))):
        _both(apps, "", body)
    _both(apps, "", json.dumps(good), content_type="text/plain")
    _both(apps, "", json.dumps(good), headers={"Authorization": OTHER})
    _both(apps, "", json.dumps(good), headers={})
    for accept in ("text/html", "*/*", "application/json"):
        _both(apps, "", json.dumps(good),
              headers=dict(HEADERS, Accept=accept))


_leaf = st.builds(lambda pairs: _metric(*pairs), st.lists(
    st.tuples(st.sampled_from([DENSE, OFFSET, SPARSE, MEDIUM]),
              st.sampled_from(["mean", "max", "sum", "90pct"])),
    min_size=1, max_size=3))


def _tree(children):
    return st.one_of(
        st.builds("(aggregate {} {})".format,
                  st.sampled_from(METHODS + ["rate:min"]), children),
        st.builds("({} {} {})".format, st.sampled_from(
            ["+", "-", "*", "/", "**", "max", "clip_max", ">", "eq"]),
            children, st.sampled_from(["2", "-0.5", "0"])),
        st.builds("({} {})".format, st.sampled_from(
            ["abs", "neg", "floor", "rateofchange", "rateofchangesec"]),
            children),
        st.builds("(rolling {} {} {})".format,
                  st.sampled_from(["mean", "max"]),
                  st.sampled_from(["1", "2", "5"]), children),
        st.builds("(resample {} {} {})".format,
                  st.sampled_from(["mean", "sum"]),
                  st.sampled_from(["120", "3600"]), children))


_times = st.sampled_from(["2017-01-01T00:20:00", "2017-01-01T01:00",
                          "1483231000", "2017-01-01T03:00:00+01:00"])


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=st.recursive(_leaf, _tree, max_leaves=3),
       granularity=st.sampled_from([None, "1", "60", "3600"]),
       fill=st.sampled_from([None, None, "null", "dropna", "ffill",
                             "full_bfill", "0", "2.5"]),
       overlap=st.sampled_from([None, None, "0", "50", "100"]),
       start=st.one_of(st.none(), _times), stop=st.one_of(st.none(), _times))
def test_generated_requests(apps, operations, granularity, fill, overlap,
                            start, stop):
    query = {k: v for k, v in (("granularity", granularity), ("fill", fill),
                               ("needed_overlap", overlap),
                               ("start", start), ("stop", stop))
             if v is not None}
    _both(apps, query, {"operations": operations})


def test_the_native_path_served_the_valid_requests(apps, caplog):
    """Not a fallback in disguise: a valid request is not handed over."""
    caplog.set_level(logging.DEBUG, logger="gnocchi_rs.rest.seam")
    pair = _metric((DENSE, "mean"), (OFFSET, "mean"))
    for query, operations in (
            ({"granularity": "60"}, "(aggregate mean %s)" % pair),
            ({"needed_overlap": "0"}, pair),
            ({"fill": "ffill"}, "(> (aggregate sum %s) 1)" % pair),
            ({}, _metric((EMPTY, "mean"), (DENSE, "max"))),
            ({"details": "true"}, _metric((DENSE, "mean"), (EMPTY, "max"),
                                          (MEDIUM, "mean")))):
        assert _both(apps, query, {"operations": operations}).status_int \
            == 200
    assert not [r for r in caplog.records if "declined" in r.getMessage()
                or "handed over" in r.getMessage()]
    _both(apps, {"granularity": "60", "fill": "x"}, {"operations": pair})
    assert [r for r in caplog.records if "handed over" in r.getMessage()]
