"""The native ``/v1/aggregation/metric`` (gnocchi_rs.rest.legacy_aggregation)
against upstream's own application: the same GETs and POSTs, valid and
not, to upstream's Pecan application with upstream's ``file`` drivers and
to gnocchi-rs' application with ``rs-file``, over the same stored data,
give the same status, content type and body, to the byte.
"""
from __future__ import annotations

import json
import logging
import urllib.parse
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_native_aggregates import (  # noqa: F401 (the fixture)
    DENSE, EMPTY, HEADERS, LOW, MEDIUM, OFFSET, PENDING, SPARSE, apps)

PATH = "/v1/aggregation/metric"


def _both(apps, query, ids=None, body=None, headers=HEADERS):
    """GET with the ids in the query, or POST them as ``body``."""
    pairs = [("metric", str(m)) for m in ids or ()] + list(
        query.items() if isinstance(query, dict) else query)
    path = PATH + "?" + urllib.parse.urlencode(pairs, True)
    answers = []
    for app in apps:
        try:
            if body is None:
                answers.append(app.get(path, headers=headers,
                                       expect_errors=True))
            else:
                answers.append(app.post(
                    path, body if isinstance(body, str) else json.dumps(
                        body), headers=headers,
                    content_type="application/json", expect_errors=True))
        except Exception as e:
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


def test_cross_metric_as_clients_send_it(apps):
    # Older Grafana: GET, the ids repeated, start, stop, a granularity.
    answer = _both(apps, {"aggregation": "mean", "granularity": "60",
                          "needed_overlap": "0", "start": "2017-01-01T00:10",
                          "stop": "2017-01-01T01:00"}, [DENSE, OFFSET])
    assert answer.status_int == 200 and len(answer.json) > 10
    # Older Aodh: POST, the ids as a list, needed_overlap=0.
    answer = _both(apps, {"aggregation": "max", "reaggregation": "mean",
                          "needed_overlap": "0"},
                   body=[str(DENSE), str(OFFSET), str(SPARSE)])
    assert answer.status_int == 200 and answer.json


def test_one_metric(apps):
    for query in ({}, {"aggregation": "max"}, {"granularity": "60"},
                  {"granularity": "60", "resample": "600"},
                  {"granularity": "3600", "resample": "D"},
                  {"start": "2017-01-01T01:00:00", "stop": "1483236000"},
                  {"aggregation": "90pct", "granularity": "1"},
                  {"refresh": "true"}, {"resample": "600"}):
        for metric in (DENSE, SPARSE, EMPTY, MEDIUM):
            _both(apps, query, [metric])
        _both(apps, query, body=[str(DENSE)])
    _both(apps, {"refresh": "true"}, [PENDING])


def test_several_metrics(apps):
    for ids in ([DENSE, OFFSET], [DENSE, SPARSE, OFFSET], [DENSE, MEDIUM],
                [DENSE, EMPTY], [DENSE, DENSE, OFFSET], [MEDIUM, LOW]):
        for query in ({}, {"needed_overlap": "0"}, {"fill": "0"},
                      {"fill": "null", "granularity": "60"},
                      {"fill": "ffill", "needed_overlap": "50"},
                      {"reaggregation": "sum", "aggregation": "min"},
                      {"granularity": "60", "resample": "300"},
                      {"granularity": "60", "resample": "H",
                       "needed_overlap": "0"},
                      {"start": "2017-01-01T00:30", "fill": "dropna"},
                      {"granularity": "3600", "aggregation": "rate:mean",
                       "needed_overlap": "0"}):
            _both(apps, query, ids)


def test_bad_requests_get_upstream_answers(apps):
    good = [DENSE, OFFSET]
    for query in ({"aggregation": "nope"}, {"granularity": "7"},
                  {"granularity": "x"}, {"start": "garbage"},
                  {"needed_overlap": "x"}, {"fill": "x"},
                  {"resample": "x", "granularity": "60"},
                  {"refresh": "maybe"}, {"foo": "bar"}):
        _both(apps, query, good)
    _both(apps, {}, [])
    _both(apps, {}, [uuid.UUID(int=1)])
    _both(apps, {}, ["not-a-uuid"])
    _both(apps, {}, [str(DENSE).upper(), OFFSET])
    _both(apps, [("fill", "1"), ("fill", "2")], good)
    for body in ("", "{", "{}", "[1]", '["x"]', "[]"):
        _both(apps, {}, body=body)
    _both(apps, {}, good, headers={})
    _both(apps, {}, good, headers=dict(HEADERS, Accept="text/html"))


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ids=st.lists(st.sampled_from([DENSE, OFFSET, SPARSE, MEDIUM, EMPTY]),
                    min_size=1, max_size=4),
       aggregation=st.sampled_from(["mean", "max", "sum", "count", "std"]),
       reaggregation=st.sampled_from([None, "mean", "min", "sum"]),
       granularity=st.sampled_from([None, "1", "60", "3600"]),
       fill=st.sampled_from([None, "null", "0", "dropna", "bfill"]),
       overlap=st.sampled_from([None, "0", "50"]),
       resample=st.sampled_from([None, None, "120", "3600"]),
       post=st.booleans())
def test_generated_requests(apps, ids, aggregation, reaggregation,
                            granularity, fill, overlap, resample, post):
    if granularity is None:
        resample = None     # upstream's 400, tested above
    query = {k: v for k, v in (("aggregation", aggregation),
                               ("reaggregation", reaggregation),
                               ("granularity", granularity), ("fill", fill),
                               ("needed_overlap", overlap),
                               ("resample", resample)) if v is not None}
    if post:
        _both(apps, query, body=[str(m) for m in ids])
    else:
        _both(apps, query, ids)


def test_the_native_path_served_the_valid_requests(apps, caplog):
    """Not a fallback in disguise: a valid request is not handed over."""
    caplog.set_level(logging.DEBUG, logger="gnocchi_rs.rest.seam")
    for query, ids, body in (
            ({"granularity": "60", "needed_overlap": "0"}, [DENSE, OFFSET],
             None),
            ({"aggregation": "max"}, [DENSE], None),
            ({"granularity": "60", "resample": "600"}, [SPARSE], None),
            ({"needed_overlap": "0"}, None, [str(DENSE), str(SPARSE)])):
        assert _both(apps, query, ids, body).status_int == 200
    assert not [r for r in caplog.records if "declined" in r.getMessage()
                or "handed over" in r.getMessage()]
