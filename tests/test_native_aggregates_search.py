"""The native ``POST /v1/aggregates`` search over resources against
upstream's own application: the same searches, grouped or not, valid and
not, sent to upstream's Pecan application with upstream's ``file`` drivers
and to gnocchi-rs' application with ``rs-file`` over the same stored data,
give the same status, content type and body, to the byte; and the policy
filter of a Keystone deployment is upstream's for any policy.
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
import webob
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rest_harness

ADMIN = "Basic " + base64.b64encode(b"admin:").decode()
HEADERS = {"Authorization": ADMIN}
START = numpy.datetime64("2017-01-01T00:00:00", "ns")
_ids = (uuid.UUID(int=0x5EA4C4000000400080000000000000 + i)
        for i in itertools.count())

# (original id, attributes, [(metric name, archive policy, has data)])
RESOURCES = [
    ("host-a", {"project_id": "p1", "user_id": "u1"},
     [("cpu.util", "medium", True), ("cpu.idle", "medium", True),
      ("mem", "medium", True)]),
    ("host-b", {"project_id": "p1", "user_id": "u2"},
     [("cpu.util", "medium", True), ("mem", "medium", False)]),
    ("host-c", {"project_id": "p2/ops", "user_id": "u1"},
     [("cpu.util", "medium", True), ("disk", "low", True)]),
    ("host-d", {"project_id": "p\u00e9", "user_id": None},
     [("cpu.util", "medium", True), ("cpu.idle", "medium", True)]),
    ("host-e", {"project_id": "p3", "user_id": "u3"}, []),
]


def _resources():
    """RESOURCES with metric ids, and the measures of those with data:
    one a minute over two hours, each metric its own offset and gaps."""
    from gnocchi import incoming

    rng = numpy.random.default_rng(11)
    resources, measures = [], {}
    for original_id, attributes, metrics in RESOURCES:
        listed = []
        for name, archive_policy, has_data in metrics:
            metric_id = next(_ids)
            listed.append((metric_id, archive_policy, name))
            if has_data:
                seconds = [s for s in range(int(rng.integers(0, 600)),
                                            7200, 60)
                           if rng.random() > 0.1]
                measures[metric_id] = [
                    incoming.Measure(START + numpy.timedelta64(s, "s"),
                                     float(v))
                    for s, v in zip(seconds,
                                    rng.normal(50, 20, len(seconds)))]
        resources.append((original_id, attributes, listed))
    return resources, measures


@pytest.fixture(scope="module")
def apps(tmp_path_factory):
    resources, measures = _resources()
    return rest_harness.side_by_side(
        str(tmp_path_factory.mktemp("search")), [], "host-0", [],
        measures, {}, more_resources=resources)


def _both(apps, query, body, headers=HEADERS):
    if not isinstance(body, (str, bytes)):
        body = json.dumps(body)
    path = "/v1/aggregates" + ("?" + urllib.parse.urlencode(query, True)
                               if isinstance(query, dict) else query)
    answers = []
    for app in apps:
        try:
            answers.append(app.post(path, body, headers=headers,
                                    content_type="application/json",
                                    expect_errors=True))
        except Exception as e:
            # Upstream lets some searches raise (a 500 from the server,
            # use_history's grouping without a start): so must ours.
            answers.append(type(e).__name__)
    up, ours = answers
    if isinstance(up, str) or isinstance(ours, str):
        assert up == ours, (path, body)
        return None
    assert ours.status == up.status, (path, body, up.body[:300],
                                      ours.body[:300])
    assert ours.headers["Content-Type"] == up.headers["Content-Type"]
    if "details=true" in path and ours.status_int == 200:
        # Upstream lists the resources of details=true from a set: in no
        # particular order.
        assert _sorted_references(ours.json) == _sorted_references(up.json)
    else:
        assert ours.body == up.body, (path, body)
    return ours


def _sorted_references(answer):
    for measures in ([group["measures"] for group in answer]
                     if isinstance(answer, list) else [answer]):
        measures["references"].sort(key=lambda r: r["id"])
    return answer


def _search(operations, search=None, resource_type="generic"):
    return {"operations": operations, "resource_type": resource_type,
            "search": {} if search is None else search}


def test_searches_as_clients_send_them(apps):
    # Grafana: a string search, a wildcard, grouped by an attribute.
    answer = _both(apps, {"groupby": "project_id", "granularity": "60",
                          "needed_overlap": "0"},
                   _search("(aggregate mean (metric cpu.* mean))",
                           "project_id != 'p3'"))
    assert answer.status_int == 200
    assert [g["group"] for g in answer.json] == [
        {"project_id": p} for p in ("p1", "p2/ops", "p\u00e9")]
    # Aodh: the operations as a list, a dict search, details=False.
    answer = _both(apps, {"details": "False", "needed_overlap": "0",
                          "granularity": "3600", "start": "2017-01-01T00:30"},
                   _search(["aggregate", "max",
                            ["metric", "cpu.util", "mean"]],
                           {"=": {"user_id": "u1"}}))
    assert list(answer.json["measures"]) == ["aggregated"]
    # The metrics themselves, keyed by resource, name and aggregation.
    answer = _both(apps, {}, _search(
        "(metric (cpu.* mean) (mem max))",
        {"in": {"project_id": ["p1", "p\u00e9"]}}))
    assert len(answer.json["measures"]) == 3


def test_groups(apps):
    for groupby in ("project_id", ["user_id", "project_id"],
                    ["project_id", "project_id"], "user_id", "id",
                    "original_resource_id", "started_at", ""):
        for operations in ("(metric cpu.util mean)",
                           "(aggregate sum (metric (cpu.* mean) (mem mean)))",
                           "(metric (disk mean) (cpu.idle max))",
                           "(* 2 (metric mem mean))", "(metric none mean)",
                           "(metric * mean)"):
            _both(apps, {"groupby": groupby}, _search(operations))


def test_fills_granularities_and_bounds(apps):
    operations = "(aggregate mean (metric (cpu.util mean) (disk mean)))"
    for query in ({}, {"granularity": "300"}, {"granularity": "60"},
                  {"fill": "0", "granularity": "3600"}, {"fill": "null"},
                  {"needed_overlap": "0"}, {"needed_overlap": "100"},
                  {"start": "2017-01-01T01:00", "stop": "2017-01-01T01:30",
                   "fill": "ffill"}):
        _both(apps, query, _search(operations))
        _both(apps, dict(query, groupby="user_id"), _search(operations))
        _both(apps, query, _search("(metric cpu.util mean)",
                                   "user_id = 'u1'"))


def test_bad_searches_get_upstream_answers(apps):
    good = "(metric cpu.util mean)"
    for query in ({"groupby": "nope"}, {"groupby": ["id", "nope"]},
                  {"use_history": "true"},
                  {"use_history": "true", "groupby": "project_id"},
                  {"details": "true"}, {"details": "true",
                                        "groupby": "user_id"},
                  {"granularity": "7"}, {"fill": "x"}):
        _both(apps, query, _search(good))
    for body in (_search("(metric nothing mean)"),
                 _search("(metric cpu.util nope)"),
                 _search(good, "project_id = "),
                 _search(good, {"=": {"nope": 1}}),
                 _search(good, {"like": {"project_id": "p%"}}),
                 _search(good, resource_type="nope"),
                 _search(good, {"=": {"id": "host-a"}}),
                 {"operations": good, "resource_type": "generic"},
                 _search(good, "id = '%s'" % uuid.UUID(int=3))):
        _both(apps, {}, body)
        _both(apps, {"groupby": "project_id"}, body)
    _both(apps, {}, _search(good), headers={})


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(wildcards=st.lists(st.tuples(
           st.sampled_from(["cpu.*", "cpu.util", "c?u.idle", "mem"]),
           st.sampled_from(["mean", "max", "min"])), min_size=1, max_size=3),
       aggregate=st.sampled_from([None, "mean", "sum", "count"]),
       groupby=st.sampled_from([None, "project_id", "user_id",
                                ["project_id", "user_id"]]),
       granularity=st.sampled_from([None, "60", "3600"]),
       details=st.booleans(),
       fill=st.sampled_from([None, "null", "0", "dropna"]),
       search=st.sampled_from([{}, "user_id = 'u1'", {"ne": {"id": "x"}},
                               "project_id in ['p1', 'p2/ops']"]))
def test_generated_searches(apps, wildcards, aggregate, groupby,
                            granularity, details, fill, search):
    operations = "(metric %s)" % " ".join("(%s %s)" % w for w in wildcards)
    if aggregate:
        operations = "(aggregate %s %s)" % (aggregate, operations)
    query = {k: v for k, v in (("groupby", groupby),
                               ("granularity", granularity), ("fill", fill),
                               ("details", "true" if details else None))
             if v is not None}
    _both(apps, query, _search(operations, search))


def test_the_native_path_served_the_searches(apps, caplog):
    """Not a fallback in disguise: a valid search is not handed over."""
    caplog.set_level(logging.DEBUG, logger="gnocchi_rs.rest.seam")
    for query, body in (
            ({"groupby": "project_id"}, _search("(metric cpu.* mean)")),
            ({"groupby": ["project_id", "user_id"], "granularity": "3600"},
             _search("(aggregate mean (metric cpu.util mean))")),
            ({}, _search("(metric (mem mean) (cpu.util max))",
                         "project_id = 'p1'")),
            ({"details": "true"}, _search("(metric cpu.* mean)")),
            ({"details": "true", "groupby": "user_id"},
             _search("(aggregate max (metric cpu.util mean))")),
            # Grafana's datasource: ``end`` next to ``stop``, which
            # upstream's controller takes in its **kwargs and never reads.
            ({"details": "true", "groupby": "project_id", "fill": "null",
              "needed_overlap": "0", "start": "2017-01-01T00:00",
              "stop": "2017-01-01T02:00", "end": "2017-01-01T02:00",
              "unread": ["a", "b"]},
             _search("(aggregate mean (metric cpu.util mean))"))):
        assert _both(apps, query, body).status_int == 200
    assert not [r for r in caplog.records if "declined" in r.getMessage()
                or "handed over" in r.getMessage()]


# -- the policy filter of a Keystone deployment ----------------------------

_OWN = {"=": {"project_id": "p1"}}
_CREATED = {"like": {"creator": "%:p1"}}
# {rule: what a member of p1 may search among generic resources}
_POLICIES = {None: {"or": [_OWN, _CREATED]}, "role:admin": "403",
             "project_id:%(project_id)s": {"or": [_OWN]},
             "project_id:%(created_by_project_id)s": {"or": [_CREATED]},
             "project_id:%(project_id)s or "
             "project_id:%(created_by_project_id)s": {"or": [_OWN, _CREATED]},
             "": None, "!": "403", "rule:admin_or_creator": {"or": [_CREATED]},
             "'generic':%(resource_type)s": None}
_CREDENTIALS = [
    {"X-Roles": "admin", "X-Project-Id": "p1", "X-User-Id": "u1"},
    {"X-Roles": "member", "X-Project-Id": "p1", "X-User-Id": "u1"},
    {"X-Roles": "member", "X-User-Id": "u2"},
    {"X-Roles": "member", "X-Project-Id": "", "X-User-Id": ""},
]


class _Hook:
    def __init__(self, enforcer):
        from gnocchi.rest import auth_helper

        self.auth_helper = auth_helper.KeystoneAuthHelper()
        self.policy_enforcer = enforcer


def _enforcer(tmp_path, rule):
    from gnocchi.rest import policies
    from oslo_config import cfg
    from oslo_policy import opts

    conf = cfg.ConfigOpts()
    opts.set_defaults(conf)
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({} if rule is None
                               else {"search resource": rule}))
    conf([], project="gnocchi-test")
    conf.set_override("policy_file", str(path), "oslo_policy")
    return policies.init(conf)


def _upstream_filter(hook, environ, resource_type):
    import pecan.core
    import webob.exc
    from gnocchi.rest import auth_helper

    request = webob.Request(environ)
    request.auth_helper = hook.auth_helper
    request.policy_enforcer = hook.policy_enforcer
    pecan.core.state = pecan.core.RoutingState(request, None, None)
    try:
        return auth_helper.KeystoneAuthHelper.get_resource_policy_filter(
            pecan.core.request, "search resource", resource_type)
    except webob.exc.HTTPForbidden:
        return "403"
    finally:
        pecan.core.state = None


@pytest.mark.parametrize("rule", _POLICIES)
def test_keystone_policy_filter_is_upstreams(tmp_path, rule):
    from gnocchi_rs.rest import resource_search
    from gnocchi_rs.rest.routing import Declined

    hook = _Hook(_enforcer(tmp_path, rule))
    for headers in _CREDENTIALS:
        for resource_type in ("generic", "instance"):
            environ = webob.Request.blank("/v1/aggregates",
                                          headers=headers).environ
            expected = _upstream_filter(hook, environ, resource_type)
            try:
                ours = resource_search.policy_filter(hook, environ,
                                                     resource_type)
            except Declined:
                ours = "403"
            assert ours == expected, (rule, headers, resource_type)
            if headers is _CREDENTIALS[1] and resource_type == "generic":
                assert ours == _POLICIES[rule]
