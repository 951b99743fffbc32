"""The plain-row metric lookups of the native routes
(gnocchi_rs.rest.lookup, run through gnocchi_rs.rest.raw_query) against
upstream's ``list_metrics``: the same metrics, and policy targets equal to
what upstream's controllers build from its ORM objects, on SQLite,
PostgreSQL and MariaDB."""
from __future__ import annotations

import datetime
import uuid

import pytest
from gnocchi import json as gnocchi_json

import rest_harness
from gnocchi_rs.rest import lookup
from gnocchi_rs.rest import policy


# Ids of this run's objects (a server's database may outlive the run).
_BASE = uuid.uuid4().int & ~0xFFFF
HOST = "host_" + uuid.uuid4().hex[:8]


def _uid(n):
    return uuid.UUID(int=_BASE + n)


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "mysql"])
def index(request, tmp_path_factory):
    from gnocchi import utils

    url = None
    if request.param != "sqlite":
        url = request.getfixturevalue("new_%s_database" % request.param)()
    conf = rest_harness.embedded_conf(str(tmp_path_factory.mktemp("lookup")),
                                      url)
    index = rest_harness.set_up(conf)
    index.create_resource_type(
        index.get_resource_type_schema().resource_type_from_dict(
            HOST, {"host_name": {"type": "string", "required": True,
                                   "min_length": 1, "max_length": 20}},
            "creating"))
    plain = utils.ResourceUUID("plain", "alice:project-a")
    index.create_resource("generic", plain, "alice:project-a",
                          user_id="alice", project_id="project-a",
                          original_resource_id="plain")
    ended = _uid(11)
    index.create_resource(
        "generic", ended, "nocolon",
        started_at=datetime.datetime(2017, 1, 1, 0, 0, 1, 123456),
        ended_at=datetime.datetime(2017, 1, 2))
    host = _uid(12)
    index.create_resource(HOST, host, "bob:", host_name="h1")
    metrics = {
        "no resource": index.create_metric(_uid(1), "bob:p",
                                           "low"),
        "no creator project": index.create_metric(
            _uid(2), "bob", "medium", name="m", unit="ns"),
        "on a resource": index.create_metric(
            _uid(3), "alice:project-a", "low", name="cpu",
            resource_id=plain),
        "on an ended resource": index.create_metric(
            _uid(4), "x:y", "high", name="cpu", resource_id=ended),
        "on a typed resource": index.create_metric(
            _uid(5), "bob:", "low", name="cpu", resource_id=host),
    }
    yield index, metrics
    index.disconnect()


def _ordered(target):
    """The aggregation methods are a set, listed in an order upstream's
    own process does not fix (it varies with PYTHONHASHSEED)."""
    methods = target["archive_policy"]["aggregation_methods"]
    target["archive_policy"]["aggregation_methods"] = sorted(methods)
    return target


@pytest.mark.parametrize("case", ["no resource", "no creator project",
                                  "on a resource", "on an ended resource",
                                  "on a typed resource"])
def test_the_same_target_as_upstream(index, case):
    index, metrics = index
    metric_id = metrics[case].id
    [orm] = index.list_metrics(details=True,
                               attribute_filter={"=": {"id": metric_id}})
    [row] = lookup.metric_by_id(index, metric_id)
    assert isinstance(row, lookup.DetailedMetricRow)
    upstream = _ordered(gnocchi_json.to_primitive(orm))
    ours = _ordered(gnocchi_json.to_primitive(row))
    assert ours == upstream
    assert policy.flattened(ours) == policy.flattened(upstream)
    assert (row.id, row.archive_policy) == (orm.id, orm.archive_policy)
    # What the read and ingest routes use of it.
    assert row.archive_policy.aggregation_methods == \
        orm.archive_policy.aggregation_methods


@pytest.mark.parametrize("case", ["no resource", "no creator project",
                                  "on a resource", "on an ended resource",
                                  "on a typed resource"])
def test_the_same_model_target_as_upstream(index, case):
    """What the aggregates routes enforce on: upstream flattens its ORM
    metric's jsonify(), whose resource and archive policy are models."""
    index, metrics = index
    metric_id = metrics[case].id
    [orm] = index.list_metrics(details=True,
                               attribute_filter={"=": {"id": metric_id}})
    [row] = lookup.metrics_by_ids(index, [metric_id])
    assert row.flattened_target({}) == policy.flattened(orm.jsonify())


def test_by_name_as_upstream(index):
    index, metrics = index
    for resource_id in (_uid(11), _uid(12),
                        _uid(13)):
        for name in ("cpu", "m", "nope"):
            upstream = index.list_metrics(details=True, attribute_filter={
                "and": [{"=": {"name": name}},
                        {"=": {"resource_id": str(resource_id)}}]})
            ours = lookup.metric_by_name(index, "generic", resource_id,
                                         name)
            assert [_ordered(gnocchi_json.to_primitive(m)) for m in ours] \
                == [_ordered(gnocchi_json.to_primitive(m)) for m in upstream]
    assert lookup.metric_by_id(index, _uid(99)) == []


def test_an_unknown_resource_type_is_upstreams_error(index):
    from gnocchi import indexer

    index, _ = index
    with pytest.raises(indexer.NoSuchResourceType):
        index.get_resource_type("nosuchtype")
    with pytest.raises(indexer.NoSuchResourceType):
        lookup.metric_by_name(index, "nosuchtype", _uid(12), "cpu")
    # Any existing type will do, as upstream's path reads it.
    assert lookup.metric_by_name(index, HOST, _uid(11), "cpu")


def test_deleted_metrics_are_not_found(index):
    index, metrics = index
    metric_id = metrics["no resource"].id
    assert lookup.metric_by_id(index, metric_id)
    index.delete_metric(metric_id)
    assert lookup.metric_by_id(index, metric_id) == []


def test_batch_lookups_as_upstream(index):
    """The batch routes' lookups (no details) give upstream's metrics and
    the targets upstream's controllers flatten from its ORM objects, for
    lists of every compiled size (a few values, one past a power of two,
    more than one query holds)."""
    from gnocchi_rs.rest import raw_query

    index, metrics = index
    ids = [m.id for m in metrics.values()]
    resources = [_uid(11), _uid(12), _uid(13),
                 metrics["on a resource"].resource_id]
    for extra in (0, 1, 3, 2 * raw_query.SizedInQuery.LARGEST + 5):
        # The values that find rows last: past the first chunks.
        wanted = [uuid.uuid4() for _ in range(extra)] + ids
        for ours, attribute_filter in (
                (lookup.metrics_by_ids(index, wanted, details=False),
                 {"in": {"id": wanted}}),
                (lookup.metrics_of_resources(
                    index, [uuid.uuid4() for _ in range(extra)] + resources,
                    ["n%d" % i for i in range(extra)] + ["cpu", "m", "nope"]),
                 {"and": [{"in": {"resource_id": resources}},
                          {"in": {"name": ["cpu", "m"]}}]})):
            theirs = index.list_metrics(attribute_filter=attribute_filter)
            assert theirs
            assert sorted(m.id for m in ours) == sorted(m.id for m in theirs)
            cache = {}
            assert {m.id: m.flattened_target(cache) for m in ours} == {
                m.id: policy.flattened(m.jsonify()) for m in theirs}
            assert {m.id: (m.name, m.unit, m.creator, m.resource_id,
                           m.archive_policy_name) for m in ours} == {
                m.id: (m.name, m.unit, m.creator, m.resource_id,
                       m.archive_policy.name) for m in theirs}


def test_padded_sizes():
    from gnocchi_rs.rest import raw_query

    assert [raw_query.padded_size(n, 8) for n in range(1, 12)] == [
        1, 2, 4, 4, 8, 8, 8, 8, 8, 8, 8]
