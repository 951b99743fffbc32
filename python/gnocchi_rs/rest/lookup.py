"""Metrics for the native routes in one read of plain rows.

Upstream's ``list_metrics`` builds an ORM object per metric, about 70 us
each, and with ``details=True`` its resource too (about 0.45 ms for one
metric, most of a small request); the routes need only what upstream's
policy target (``Metric.jsonify()``) holds: the metric's columns, its
archive policy, which upstream loads with it (``lazy="joined"``), and,
with details, its resource's columns. Same statement filter (upstream's
QueryTransformer, active metrics only), the same target, a small part of
the cost.
"""
from __future__ import annotations

import sqlalchemy
from gnocchi import archive_policy
from gnocchi import indexer as upstream_indexer
from gnocchi.indexer import sqlalchemy as upstream_sql
from gnocchi.indexer import sqlalchemy_base

from gnocchi_rs.rest import policy
from gnocchi_rs.rest import raw_query

_Metric = sqlalchemy_base.Metric
_ArchivePolicy = sqlalchemy_base.ArchivePolicy
_Resource = sqlalchemy_base.Resource
_ResourceType = sqlalchemy_base.ResourceType
# What ``dict(resource)`` holds (oslo.db's ModelBase: the mapper's columns
# and the model's extra keys), as ``Resource.jsonify()`` reads it.
_RESOURCE_KEYS = tuple(c.key for c in sqlalchemy.inspect(_Resource).columns)
_RESOURCE_COLUMNS = tuple(getattr(_Resource, k) for k in _RESOURCE_KEYS)
_COLUMNS = (_Metric.id, _Metric.creator, _Metric.name, _Metric.unit,
            _Metric.resource_id, _Metric.archive_policy_name)


class MetricRow:
    """A metric as the batch routes use it."""

    __slots__ = ("id", "creator", "name", "unit", "resource_id",
                 "archive_policy_name", "archive_policy")

    def __init__(self, row, archive_policy):
        (self.id, self.creator, self.name, self.unit, self.resource_id,
         self.archive_policy_name) = row
        self.archive_policy = archive_policy

    def _columns(self):
        d = {"id": self.id, "creator": self.creator, "name": self.name,
             "unit": self.unit, "resource_id": self.resource_id}
        if self.creator is None:
            d["created_by_user_id"] = d["created_by_project_id"] = None
        else:
            d["created_by_user_id"], _, d["created_by_project_id"] = (
                self.creator.partition(":"))
        return d

    def jsonify(self):
        """``Metric.jsonify()`` of the metric as ``list_metrics`` loads it
        (no resource, its archive policy), in upstream's key order (an
        answer renders it)."""
        return self._jsonified("resource_id", self.resource_id)

    def _jsonified(self, resource_key, resource):
        d = {"id": self.id, "creator": self.creator, "name": self.name,
             "unit": self.unit, resource_key: resource,
             "archive_policy": self.archive_policy}
        if self.creator is None:
            d["created_by_user_id"] = d["created_by_project_id"] = None
        else:
            d["created_by_user_id"], _, d["created_by_project_id"] = (
                self.creator.partition(":"))
        return d

    def flattened_target(self, flattened_policies):
        """``policy.flattened(self.jsonify())``, the policy's part computed
        once per request (``flattened_policies``: name -> its part)."""
        part = flattened_policies.get(self.archive_policy_name)
        if part is None:
            part = flattened_policies[self.archive_policy_name] = \
                _flattened_policy(self.archive_policy)
        d = self._columns()
        d.update(part)
        return d


def _flattened_policy(ap):
    """What flattening a target holds of the archive policy upstream's
    ORM loads with a metric: a model, flattened as a dictionary of its
    columns."""
    if ap is None:
        return {"archive_policy": None}
    return {"archive_policy.name": ap.name,
            "archive_policy.back_window": ap.back_window,
            "archive_policy.definition": ap.definition,
            "archive_policy.aggregation_methods": ap.aggregation_methods}


class DetailedMetricRow(MetricRow):
    """A metric as ``list_metrics(details=True)`` loads it: with its
    resource."""

    __slots__ = ("resource",)

    def __init__(self, row, archive_policy, resource):
        super().__init__(row, archive_policy)
        self.resource = resource

    def jsonify(self):
        # A loaded resource (None too) replaces the id.
        return self._jsonified("resource", self.resource)

    def flattened_target(self, flattened_policies):
        """``policy.flattened(orm_metric.jsonify())`` of the metric
        ``list_metrics(details=True)`` loads: its resource and archive
        policy are models, flattened as dictionaries of what they hold
        (oslo.db's ``items()``: the resource's columns and its extra keys
        ``revision``, -1, and ``revision_end``, None)."""
        part = flattened_policies.get(self.archive_policy_name)
        if part is None:
            part = flattened_policies[self.archive_policy_name] = \
                _flattened_policy(self.archive_policy)
        d = self._columns()
        del d["resource_id"]
        if self.resource is None:
            d["resource"] = None
        else:
            for key in _RESOURCE_KEYS:
                d["resource." + key] = self.resource[key]
            d["resource.revision"] = -1
            d["resource.revision_end"] = None
        d.update(part)
        return d


def _resource_jsonified(values):
    """``Resource.jsonify()`` of a resource loaded with a metric (its
    metrics not loaded) from its columns."""
    d = dict(zip(_RESOURCE_KEYS, values))
    d["revision_end"] = None     # the extra keys; "revision" is dropped
    creator = d["creator"]
    if creator is None:
        d["created_by_user_id"] = d["created_by_project_id"] = None
    else:
        d["created_by_user_id"], _, d["created_by_project_id"] = (
            creator.partition(":"))
    return d


def _detailed_statement(*where):
    """Upstream's ``list_metrics(details=True)`` query in plain columns,
    with its archive policy's."""
    return sqlalchemy.select(
        *(_COLUMNS + _RESOURCE_COLUMNS + _POLICY_COLUMNS)).join(
            _ArchivePolicy,
            _ArchivePolicy.name == _Metric.archive_policy_name).outerjoin(
                _Resource, _Resource.id == _Metric.resource_id).where(
                    _Metric.status == "active", *where)


# Upstream's definition and methods types do not say they can be cached
# (``cache_ok``), so a statement selecting them is compiled again at every
# execution (about 0.4 ms): they are selected untyped, and their values
# converted as their types convert them (``_policy_values``).
_UNCACHED = (_ArchivePolicy.definition, _ArchivePolicy.aggregation_methods)
_POLICY_COLUMNS = (_ArchivePolicy.name, _ArchivePolicy.back_window) + tuple(
    # A column object keeps its type even coerced: named by text.
    sqlalchemy.literal_column("%s.%s" % (c.table.name, c.name),
                              sqlalchemy.types.NullType())
    for c in _UNCACHED)
# Compiled once per dialect and run on a pooled DBAPI connection
# (``raw_query``).
_BY_ID = raw_query.RawQuery(_detailed_statement(
    _Metric.id == sqlalchemy.bindparam("metric_id", type_=_Metric.id.type)))


def _in_list(column, size, k=0):
    """``column IN (...)`` with the placeholders of ``SizedInQuery``'s
    list ``k``."""
    return column.in_([sqlalchemy.bindparam("in%d_%d" % (k, i),
                                            type_=column.type)
                       for i in range(size)])


def _plain_statement(*where):
    """Upstream's ``list_metrics()`` query (no details) in plain columns,
    with its archive policy's."""
    return sqlalchemy.select(*(_COLUMNS + _POLICY_COLUMNS)).join(
        _ArchivePolicy,
        _ArchivePolicy.name == _Metric.archive_policy_name).where(
            _Metric.status == "active", *where)


_BY_IDS = raw_query.SizedInQuery(
    lambda size: _detailed_statement(_in_list(_Metric.id, size)))
_PLAIN_BY_IDS = raw_query.SizedInQuery(
    lambda size: _plain_statement(_in_list(_Metric.id, size)))
_PLAIN_BY_RESOURCES_AND_NAMES = raw_query.SizedInQuery(
    lambda resources, names: _plain_statement(
        _in_list(_Metric.resource_id, resources, 0),
        _in_list(_Metric.name, names, 1)))
_BY_NAME = raw_query.RawQuery(_detailed_statement(
    _Metric.name == sqlalchemy.bindparam("name", type_=_Metric.name.type),
    _Metric.resource_id == sqlalchemy.bindparam(
        "resource_id", type_=_Metric.resource_id.type)).add_columns(
            # The type named in the path, which upstream looks up first.
            sqlalchemy.exists().where(
                _ResourceType.name == sqlalchemy.bindparam(
                    "resource_type", type_=_ResourceType.name.type))))


class _LoadedArchivePolicy(archive_policy.ArchivePolicy):
    """An archive policy as upstream's ORM loads it: its column shadows
    the methods' property, so the set is the one read (copying it, as
    the property does, may change the order a rendering lists it in)."""

    aggregation_methods = None


def _archive_policy(name, back_window, definition, aggregation_methods):
    """The archive policy as upstream's ORM loads it: attributes set
    without ``__init__`` (which would expand the methods again)."""
    policy_object = _LoadedArchivePolicy.__new__(_LoadedArchivePolicy)
    policy_object.name = name
    policy_object.back_window = back_window
    policy_object.definition = definition
    policy_object.aggregation_methods = aggregation_methods
    return policy_object


_converters = {}
# Archive policies by their stored columns (dialect and driver first): the
# same row gives the same policy, whose definition would otherwise be decoded
# from JSON into items at every lookup. Bounded; a policy that changes is
# another row.
_POLICIES_KEPT = 256
_policies = {}


def _policy_from_row(dialect, policy_row):
    """The archive policy of its stored columns, converted once per
    distinct row."""
    key = (dialect.name, dialect.driver) + tuple(policy_row)
    try:
        found = _policies.get(key)
    except TypeError:           # a driver that decodes JSON itself
        return _archive_policy(*_policy_values(dialect, *policy_row))
    if found is None:
        if len(_policies) >= _POLICIES_KEPT:
            _policies.clear()
        found = _policies[key] = _archive_policy(
            *_policy_values(dialect, *policy_row))
    return found


def _policy_values(dialect, name, back_window, definition, methods):
    convert = _converters.get((dialect.name, dialect.driver))
    if convert is None:
        convert = _converters[dialect.name, dialect.driver] = [
            c.type.result_processor(dialect, None) or (lambda v: v)
            for c in _UNCACHED]
    return name, back_window, convert[0](definition), convert[1](methods)


def _detailed_rows(indexer, query, *arguments):
    """The metrics ``query.rows(engine, *arguments)`` finds (no ORM
    session, no Core execution: most of the cost of a one-metric lookup),
    and the rows (their columns past the metric's are the statement's
    own)."""
    found, policies = [], {}
    metric_width = len(_COLUMNS)
    policy_start = metric_width + len(_RESOURCE_COLUMNS)
    policy_end = policy_start + len(_POLICY_COLUMNS)
    engine = indexer.facade.get_engine()
    dialect = engine.dialect
    rows = query.rows(engine, *arguments)
    for row in rows:
        resource = row[metric_width:policy_start]
        policy_row = row[policy_start:policy_end]
        ap = policies.get(policy_row[0])
        if ap is None:
            ap = policies[policy_row[0]] = _policy_from_row(dialect,
                                                            policy_row)
        found.append(DetailedMetricRow(
            row[:metric_width], ap,
            None if resource[0] is None else _resource_jsonified(resource)))
    return found, rows


def is_sql_indexer(indexer):
    """Whether ``indexer`` is upstream's SQLAlchemy indexer (or ours,
    which subclasses it), whose tables the native lookups read."""
    return isinstance(indexer, upstream_sql.SQLAlchemyIndexer) and \
        getattr(indexer, "facade", None) is not None



def metric_by_id(indexer, metric_id):
    """``indexer.list_metrics(details=True, attribute_filter={"=": {"id":
    metric_id}})``."""
    if not is_sql_indexer(indexer):
        return indexer.list_metrics(
            details=True, attribute_filter={"=": {"id": metric_id}})
    return _detailed_rows(indexer, _BY_ID, {"metric_id": metric_id})[0]


def metrics_by_ids(indexer, metric_ids, details=True):
    """``indexer.list_metrics(details=details, attribute_filter={"in":
    {"id": metric_ids}})``, in no particular order."""
    if not is_sql_indexer(indexer):
        return indexer.list_metrics(
            details=details,
            attribute_filter={"in": {"id": list(metric_ids)}})
    if details:
        return _detailed_rows(indexer, _BY_IDS, metric_ids)[0]
    return _plain_rows(indexer, _PLAIN_BY_IDS, metric_ids)


def _plain_rows(indexer, query, *lists):
    """The metrics (without their resource) a ``_plain_statement`` query
    finds for the values of its ``IN`` lists."""
    engine = indexer.facade.get_engine()
    policies = {}
    width = len(_COLUMNS)
    found = []
    for row in query.rows(engine, *lists):
        policy_row = row[width:]
        ap = policies.get(policy_row[0])
        if ap is None:
            ap = policies[policy_row[0]] = _policy_from_row(engine.dialect,
                                                            policy_row)
        found.append(MetricRow(row[:width], ap))
    return found


def metrics_of_resources(indexer, resource_ids, names):
    """The active metrics named one of ``names`` of the resources
    ``resource_ids``, as ``list_metrics`` (no details) lists them, in no
    particular order."""
    if not is_sql_indexer(indexer):
        return indexer.list_metrics(attribute_filter={"and": [
            {"in": {"resource_id": list(resource_ids)}},
            {"in": {"name": list(names)}}]})
    return _plain_rows(indexer, _PLAIN_BY_RESOURCES_AND_NAMES,
                       resource_ids, names)


def metric_by_name(indexer, resource_type, resource_id, name):
    """What upstream reads for ``/resource/<type>/<id>/metric/<name>``:
    ``get_resource_type(resource_type)`` (NoSuchResourceType) and
    ``list_metrics(details=True, ...)`` of the metric ``name`` of the
    resource ``resource_id``; in one query on upstream's SQL indexer."""
    if not is_sql_indexer(indexer):
        indexer.get_resource_type(resource_type)
        return indexer.list_metrics(details=True, attribute_filter={
            "and": [{"=": {"name": name}},
                    {"=": {"resource_id": str(resource_id)}}]})
    found, rows = _detailed_rows(indexer, _BY_NAME, {
        "name": name, "resource_id": resource_id,
        "resource_type": resource_type})
    if rows and not rows[0][-1]:
        raise upstream_indexer.NoSuchResourceType(resource_type)
    return found
