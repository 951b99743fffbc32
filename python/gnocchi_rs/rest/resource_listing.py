"""The metric references of a search without loading its resources.

Upstream's ``list_resources`` builds an ORM object per resource found,
with its metrics and their archive policies (joined loads), and the
search's answer uses only the metrics when it has no details and no
groups: what Aodh's aggregation-by-resources alarm asks at every
evaluation. Here the same filter (upstream's ``QueryTransformer`` over the
type's mapped class, the policy's filter within it) selects only the
resources' ids, in upstream's order (``revision_start``, ``started_at``,
``id``, ascending: its default sort), and one query of plain rows
(``lookup.metrics_of_resources``, active metrics only, as the resources'
``metrics`` relationship holds them) finds the metrics the references
name.

Only for literal metric names: a wildcard could match several metrics of
one resource, whose order upstream takes from its joined load; such
searches keep upstream's listing.
"""
from __future__ import annotations

import re

import sqlalchemy
from gnocchi import indexer as upstream_indexer
from gnocchi.indexer import sqlalchemy as upstream_sql
from gnocchi.indexer import sqlalchemy_base
from gnocchi.rest.aggregates import processor

from gnocchi_rs.rest import lookup
from gnocchi_rs.rest import raw_query

_ResourceType = sqlalchemy_base.ResourceType

_PATTERN = re.compile(r"[*?\[]")


class FoundResource:
    """A resource of a search as references without details use it (the
    answer of non-aggregated operations is keyed by its id)."""

    __slots__ = ("id",)

    def __init__(self, resource_id):
        self.id = resource_id


def references(indexer, resource_type, attribute_filter, wildcards):
    """[MetricReference] in upstream's order, or None where upstream's
    listing must be used (another indexer, a wildcard)."""
    if not lookup.is_sql_indexer(indexer) or any(
            _PATTERN.search(name) for name, _ in wildcards):
        return None
    ids = resource_ids(indexer, resource_type, attribute_filter)
    if not ids:
        return []
    names = list(dict.fromkeys(name for name, _ in wildcards))
    by_key = {(metric.resource_id, metric.name): metric for metric in
              lookup.metrics_of_resources(indexer, ids, names)}
    found = []
    for resource_id in ids:
        resource = FoundResource(resource_id)
        for name, aggregation in wildcards:
            metric = by_key.get((resource_id, name))
            if metric is not None:
                found.append(processor.MetricReference(
                    metric, aggregation, resource, name))
    return found


_RESOURCE_TYPE = raw_query.RawQuery(sqlalchemy.select(
    _ResourceType.state, _ResourceType.tablename, _ResourceType.updated_at
).where(_ResourceType.name == sqlalchemy.bindparam(
    "name", type_=_ResourceType.name.type)))


def _mapped_class(indexer, resource_type):
    """``_resource_type_to_mappers(session, resource_type)["resource"]``:
    the type's row read as a plain row, and the class taken from the
    indexer's mapper cache when it is there and not older than the type
    (the rule of upstream's ``ResourceClassMapper.get_classes``); else
    upstream's call, which loads the type and builds the class."""
    rows = _RESOURCE_TYPE.rows(indexer.facade.get_engine(),
                               {"name": resource_type})
    if not rows:
        raise upstream_indexer.NoSuchResourceType(resource_type)
    state, tablename, updated_at = rows[0]
    if state != "active":
        raise upstream_indexer.UnexpectedResourceTypeState(
            resource_type, "active", state)
    cached = getattr(getattr(indexer, "_RESOURCE_TYPE_MANAGER", None),
                     "_cache", {}).get(tablename)
    if cached is not None and (resource_type == "generic" or
                               updated_at <= cached["updated_at"]):
        return cached["resource"]
    with indexer.facade.independent_reader() as session:
        return indexer._resource_type_to_mappers(
            session, resource_type)["resource"]


def resource_ids(indexer, resource_type, attribute_filter):
    """The ids of the resources ``list_resources(resource_type,
    attribute_filter)`` lists, in its order; its errors for an unknown or
    inactive type and unknown attributes. Read on a pooled connection of
    its own, outside any transaction of the request, as upstream's
    independent reader reads."""
    target = _mapped_class(indexer, resource_type)
    engine = indexer.facade.get_engine()
    # select_from: the type's whole mapped join, as selecting the entity
    # does.
    statement = sqlalchemy.select(target.id).select_from(target)
    if attribute_filter:
        try:
            condition = upstream_sql.QueryTransformer.build_filter(
                engine.dialect.name, target, attribute_filter)
        except upstream_indexer.QueryAttributeError as e:
            raise upstream_indexer.ResourceAttributeError(resource_type,
                                                          e.attribute)
        statement = statement.filter(condition)
    statement = statement.order_by(target.revision_start.asc(),
                                   target.started_at.asc(),
                                   target.id.asc())
    with engine.connect() as connection:
        return list(connection.execute(statement).scalars())
