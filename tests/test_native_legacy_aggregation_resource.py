"""The native ``POST /v1/aggregation/resource/<type>/metric/<name>``
(gnocchi_rs.rest.legacy_aggregation) against upstream's own application:
the same searches (a JSON body or a ``filter`` string), grouped or not,
valid and not, over the same stored data, give the same status, content
type and body, to the byte.
"""
from __future__ import annotations

import json
import logging
import urllib.parse

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_native_aggregates_search import (  # noqa: F401 (the fixture)
    HEADERS, apps)


def _both(apps, resource_type, name, query, body=None, headers=HEADERS,
          method="post"):
    path = "/v1/aggregation/resource/%s/metric/%s?%s" % (
        resource_type, name, urllib.parse.urlencode(query, True))
    answers = []
    for app in apps:
        try:
            if body is None:
                answers.append(getattr(app, method)(
                    path, headers=headers, expect_errors=True))
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


def test_searches_as_clients_send_them(apps):
    # Older Grafana: a JSON search, grouped by project.
    answer = _both(apps, "generic", "cpu.util",
                   {"groupby": "project_id", "aggregation": "mean",
                    "needed_overlap": "0", "granularity": "60"},
                   {"!=": {"project_id": "p3"}})
    # A group without the metric is there, its measures empty (host-0).
    assert [(g["group"]["project_id"], bool(g["measures"]))
            for g in answer.json] == [(None, False), ("p1", True),
                                      ("p2/ops", True), ("p\u00e9", True)]
    # Older Aodh: a JSON search, reaggregation, the last hour.
    answer = _both(apps, "generic", "cpu.util",
                   {"aggregation": "mean", "reaggregation": "max",
                    "needed_overlap": "0", "start": "2017-01-01T01:00",
                    "stop": "2017-01-01T02:00"}, {"=": {"user_id": "u1"}})
    assert answer.status_int == 200 and answer.json
    # A filter string and no body.
    answer = _both(apps, "generic", "mem", {"filter": "project_id = 'p1'",
                                            "needed_overlap": "0"})
    assert answer.status_int == 200


def test_groups_and_parameters(apps):
    # Groups of one metric and of several in one answer (user_id).
    for groupby in (None, "project_id", "user_id", ["user_id", "project_id"],
                    "id", "started_at", ""):
        for name in ("cpu.util", "cpu.idle", "mem", "disk", "none"):
            for query in ({}, {"needed_overlap": "0"},
                          {"granularity": "60", "fill": "0"},
                          {"aggregation": "max", "reaggregation": "sum",
                           "needed_overlap": "0"},
                          {"granularity": "60", "resample": "600",
                           "needed_overlap": "0"}):
                if groupby is not None:
                    query = dict(query, groupby=groupby)
                _both(apps, "generic", name, query, {})


def test_bad_searches_get_upstream_answers(apps):
    good = {"=": {"project_id": "p1"}}
    for query in ({"groupby": "nope"}, {"aggregation": "nope"},
                  {"granularity": "7"}, {"fill": "x"},
                  {"filter": "project_id ="}, {"start": "x"},
                  {"refresh": "maybe"}, {"foo": "bar"}):
        _both(apps, "generic", "cpu.util", query, good)
    for body in ({"=": {"nope": 1}}, {"nope": {}}, "[", "[]",
                 {"and": []}, {"=": {"id": "host-a"}}):
        _both(apps, "generic", "cpu.util", {}, body)
    _both(apps, "nope", "cpu.util", {}, good)
    _both(apps, "generic", "cpu.util", {}, None, method="get")
    _both(apps, "generic", "cpu.util", {}, good, headers={})


@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(["cpu.util", "cpu.idle", "mem"]),
       aggregation=st.sampled_from(["mean", "max", "count"]),
       reaggregation=st.sampled_from([None, "sum", "min"]),
       groupby=st.sampled_from([None, "project_id", "user_id"]),
       fill=st.sampled_from([None, "null", "0", "dropna"]),
       overlap=st.sampled_from([None, "0", "50"]),
       search=st.sampled_from([{}, {"=": {"user_id": "u1"}},
                               {"in": {"project_id": ["p1", "p2/ops"]}}]))
def test_generated_searches(apps, name, aggregation, reaggregation, groupby,
                            fill, overlap, search):
    query = {k: v for k, v in (("aggregation", aggregation),
                               ("reaggregation", reaggregation),
                               ("groupby", groupby), ("fill", fill),
                               ("needed_overlap", overlap)) if v is not None}
    _both(apps, "generic", name, query, search)


def test_the_native_path_served_the_searches(apps, caplog):
    """Not a fallback in disguise: a valid search is not handed over."""
    caplog.set_level(logging.DEBUG, logger="gnocchi_rs.rest.seam")
    for query, body in (
            ({"groupby": "project_id", "needed_overlap": "0"}, {}),
            ({"needed_overlap": "0"}, {"=": {"user_id": "u1"}}),
            ({"filter": "user_id = 'u2'"}, None)):
        assert _both(apps, "generic", "cpu.util", query,
                     body).status_int == 200
    assert not [r for r in caplog.records if "declined" in r.getMessage()
                or "handed over" in r.getMessage()]
