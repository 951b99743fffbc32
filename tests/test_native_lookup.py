"""The plain-row metric lookups of the native routes
(gnocchi_rs.rest.lookup) against upstream's ``list_metrics``: the same
metrics, and policy targets equal to what upstream's controllers build
from its ORM objects."""
from __future__ import annotations

import datetime
import uuid

import pytest
from gnocchi import json as gnocchi_json

import rest_harness
from gnocchi_rs.rest import lookup
from gnocchi_rs.rest import policy


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    from gnocchi import utils

    conf = rest_harness.embedded_conf(str(tmp_path_factory.mktemp("lookup")))
    index = rest_harness.set_up(conf)
    index.create_resource_type(
        index.get_resource_type_schema().resource_type_from_dict(
            "host", {"host_name": {"type": "string", "required": True,
                                   "min_length": 1, "max_length": 20}},
            "creating"))
    plain = utils.ResourceUUID("plain", "alice:project-a")
    index.create_resource("generic", plain, "alice:project-a",
                          user_id="alice", project_id="project-a",
                          original_resource_id="plain")
    ended = uuid.UUID(int=11)
    index.create_resource(
        "generic", ended, "nocolon",
        started_at=datetime.datetime(2017, 1, 1, 0, 0, 1, 123456),
        ended_at=datetime.datetime(2017, 1, 2))
    host = uuid.UUID(int=12)
    index.create_resource("host", host, "bob:", host_name="h1")
    metrics = {
        "no resource": index.create_metric(uuid.UUID(int=1), "bob:p",
                                           "low"),
        "no creator project": index.create_metric(
            uuid.UUID(int=2), "bob", "medium", name="m", unit="ns"),
        "on a resource": index.create_metric(
            uuid.UUID(int=3), "alice:project-a", "low", name="cpu",
            resource_id=plain),
        "on an ended resource": index.create_metric(
            uuid.UUID(int=4), "x:y", "high", name="cpu", resource_id=ended),
        "on a typed resource": index.create_metric(
            uuid.UUID(int=5), "bob:", "low", name="cpu", resource_id=host),
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


def test_by_name_as_upstream(index):
    index, metrics = index
    for resource_id in (uuid.UUID(int=11), uuid.UUID(int=12),
                        uuid.UUID(int=13)):
        for name in ("cpu", "m", "nope"):
            upstream = index.list_metrics(details=True, attribute_filter={
                "and": [{"=": {"name": name}},
                        {"=": {"resource_id": str(resource_id)}}]})
            ours = lookup.metric_by_name(index, "generic", resource_id,
                                         name)
            assert [_ordered(gnocchi_json.to_primitive(m)) for m in ours] \
                == [_ordered(gnocchi_json.to_primitive(m)) for m in upstream]
    assert lookup.metric_by_id(index, uuid.UUID(int=99)) == []


def test_an_unknown_resource_type_is_upstreams_error(index):
    from gnocchi import indexer

    index, _ = index
    with pytest.raises(indexer.NoSuchResourceType):
        index.get_resource_type("nosuchtype")
    with pytest.raises(indexer.NoSuchResourceType):
        lookup.metric_by_name(index, "nosuchtype", uuid.UUID(int=12), "cpu")
    # Any existing type will do, as upstream's path reads it.
    assert lookup.metric_by_name(index, "host", uuid.UUID(int=11), "cpu")


def test_deleted_metrics_are_not_found(index):
    index, metrics = index
    metric_id = metrics["no resource"].id
    assert lookup.metric_by_id(index, metric_id)
    index.delete_metric(metric_id)
    assert lookup.metric_by_id(index, metric_id) == []
