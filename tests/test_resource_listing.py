"""The references of a search without details or groups
(gnocchi_rs.rest.resource_listing) are upstream's: the same metrics, in
the same order, with the same errors, as upstream's ``list_resources``
followed by the references upstream's controller builds from them; on
SQLite, PostgreSQL and MariaDB, over generic and typed resources, ended,
revised and sharing a start, with deleted metrics among theirs."""
from __future__ import annotations

import datetime
import uuid

import pytest
from gnocchi import utils
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rest_harness

from gnocchi_rs.rest import resource_listing
from gnocchi_rs.rest import resource_search

HOST = "host_" + uuid.uuid4().hex[:8]
SAME_START = datetime.datetime(2026, 1, 1, 12, 0, 0)


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "mysql"])
def index(request, tmp_path_factory):
    url = None
    if request.param != "sqlite":
        url = request.getfixturevalue("new_%s_database" % request.param)()
    conf = rest_harness.embedded_conf(
        str(tmp_path_factory.mktemp("listing")), url)
    index = rest_harness.set_up(conf)
    index.create_resource_type(
        index.get_resource_type_schema().resource_type_from_dict(
            HOST, {"host_name": {"type": "string", "required": True,
                                   "min_length": 1, "max_length": 20},
                   "cores": {"type": "number", "required": False,
                             "min": 0, "max": 1000}},
            "creating"))
    for n in range(24):
        typed = n % 3 == 0
        rid = utils.ResourceUUID("r-%d" % n, "admin")
        kind = HOST if typed else "generic"
        attributes = {"host_name": "h%d" % (n % 4), "cores": n} if typed \
            else {}
        index.create_resource(
            kind, rid, "admin:p%d" % (n % 2), user_id="u%d" % (n % 5),
            project_id="p%d" % (n % 3), original_resource_id="r-%d" % n,
            # Several resources share a start: the id decides.
            started_at=SAME_START if n % 4 == 0 else
            SAME_START + datetime.timedelta(minutes=n),
            ended_at=(SAME_START + datetime.timedelta(days=1)
                      if n % 7 == 0 else None),
            **attributes)
        if n % 5 == 0:      # a later revision_start
            index.update_resource(kind, rid, user_id="revised-%d" % n)
        for name in ("cpu", "mem", "disk.read"):
            if (n + len(name)) % 4 == 0:
                continue
            metric_id = uuid.uuid4()
            index.create_metric(metric_id, "admin", "low", name=name,
                                resource_id=rid)
            if n % 6 == 1 and name == "mem":
                index.delete_metric(metric_id)
    yield index
    index.disconnect()


def _upstream(index, resource_type, attribute_filter, wildcards):
    try:
        resources = index.list_resources(
            resource_type, attribute_filter=attribute_filter,
            sorts=["revision_start:asc", "started_at:asc"])
    except Exception as e:     # compared by type with ours
        return type(e).__name__
    return [(ref.resource.id, ref.metric.id, ref.aggregation,
             ref.lookup_key[0]) for ref in resource_search.references(
                 resources, wildcards)]


def _ours(index, resource_type, attribute_filter, wildcards):
    try:
        refs = resource_listing.references(index, resource_type,
                                           attribute_filter, wildcards)
    except Exception as e:
        return type(e).__name__
    assert refs is not None
    return [(ref.resource.id, ref.metric.id, ref.aggregation,
             ref.lookup_key[0]) for ref in refs]


FILTERS = [
    None,
    {"=": {"project_id": "p1"}},
    {"!=": {"user_id": "u2"}},
    {"like": {"creator": "%:p1"}},
    {"in": {"user_id": ["u1", "u3", "revised-5"]}},
    {"and": [{"=": {"project_id": "p0"}}, {"=": {"ended_at": None}}]},
    {"or": [{"=": {"user_id": "u4"}}, {">=": {"started_at":
                                               "2026-01-01T12:10:00"}}]},
    {">": {"lifespan": "1 hour"}},
    {"=": {"id": str(utils.ResourceUUID("r-3", "admin"))}},
    {"not": {"=": {"project_id": "p2"}}},
]
TYPED_FILTERS = [
    {"=": {"host_name": "h1"}},
    {"and": [{">=": {"cores": 6}}, {"!=": {"host_name": "h2"}}]},
]


@pytest.mark.parametrize("attribute_filter", FILTERS)
def test_generic_searches_list_upstreams_references(index, attribute_filter):
    for wildcards in ([("cpu", "mean")],
                      [("mem", "max"), ("cpu", "mean"), ("cpu", "min")],
                      [("disk.read", "mean"), ("nope", "mean")]):
        expected = _upstream(index, "generic", attribute_filter, wildcards)
        assert _ours(index, "generic", attribute_filter, wildcards) == \
            expected
    assert expected or attribute_filter is not None


@pytest.mark.parametrize("attribute_filter", FILTERS[:4] + TYPED_FILTERS)
def test_typed_searches_list_upstreams_references(index, attribute_filter):
    wildcards = [("cpu", "mean"), ("mem", "mean")]
    expected = _upstream(index, HOST, attribute_filter, wildcards)
    assert isinstance(expected, list)
    assert _ours(index, HOST, attribute_filter, wildcards) == expected


@pytest.mark.parametrize("resource_type, attribute_filter", [
    ("nope", None),
    ("generic", {"=": {"no_such_attribute": 1}}),
    (HOST, {"=": {"no_such_attribute": 1}}),
    ("generic", {"=": {"host_name": "h1"}}),
])
def test_errors_are_upstreams(index, resource_type, attribute_filter):
    expected = _upstream(index, resource_type, attribute_filter,
                         [("cpu", "mean")])
    assert expected in ("NoSuchResourceType", "ResourceAttributeError")
    assert _ours(index, resource_type, attribute_filter,
                 [("cpu", "mean")]) == expected


def test_wildcards_keep_upstreams_listing(index):
    assert resource_listing.references(index, "generic", None,
                                       [("c*", "mean")]) is None


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.sampled_from(["cpu", "mem", "disk.read", "x"]),
                      min_size=1, max_size=4),
       filters=st.lists(st.sampled_from(FILTERS[1:8]), max_size=3),
       combine=st.sampled_from(["and", "or"]))
def test_generated_searches(index, names, filters, combine):
    attribute_filter = {combine: filters} if filters else None
    wildcards = [(name, "mean") for name in names]
    assert _ours(index, "generic", attribute_filter, wildcards) == \
        _upstream(index, "generic", attribute_filter, wildcards)
