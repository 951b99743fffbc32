"""The metrics a ``create_metrics=true`` batch of measures by resource
creates (Ceilometer's), made the way upstream's controller makes them, in
one transaction instead of one per metric.

Upstream's ``ResourcesMetricsMeasuresBatchController.post`` checks each
new metric as ``MetricsController.MetricSchema`` does (a name without
'/', a unit of at most 31 characters, the archive policy given or found
by the archive policy rules, the "create metric" policy on what the body
says), creates it with ``indexer.create_metric`` and then enforces "post
measures" on it as its ORM object renders (``resource_id`` and
``archive_policy_name``, nothing loaded). Here every check runs first and
the rows are inserted together; anything upstream would answer otherwise
than with a 202 (a refusal, no archive policy, an unknown resource or
policy, a metric created meanwhile by another request: the insert then
fails whole) is declined before anything is written, and upstream's code,
which then finds what exists, answers it.
"""
from __future__ import annotations

import uuid

import sqlalchemy
from gnocchi import indexer as upstream_indexer
from gnocchi.indexer import sqlalchemy_base

from gnocchi_rs.rest import lookup
from gnocchi_rs.rest.routing import Declined

_MAX_UNIT = 31


class NewMetric:
    """A metric to create: a row of the metric table, and the policy
    target of upstream's freshly created ORM object."""

    __slots__ = ("id", "creator", "name", "unit", "resource_id",
                 "archive_policy_name")

    def __init__(self, creator, resource_id, name, unit, archive_policy_name):
        self.id = uuid.uuid4()
        self.creator = creator
        self.resource_id = resource_id
        self.name = name
        self.unit = unit
        self.archive_policy_name = archive_policy_name

    def row(self):
        return {"id": self.id, "creator": self.creator, "name": self.name,
                "unit": self.unit, "resource_id": self.resource_id,
                "archive_policy_name": self.archive_policy_name}

    def flattened_target(self, flattened_policies=None):
        """``flatten(metric.jsonify())`` of what ``create_metric``
        returns: its relationships unloaded, so their ids (the argument:
        ``MetricRow.flattened_target``'s, unused)."""
        target = self.row()
        if self.creator is None:
            target["created_by_user_id"] = None
            target["created_by_project_id"] = None
        else:
            (target["created_by_user_id"], _,
             target["created_by_project_id"]) = self.creator.partition(":")
        return target


def checked_new_metrics(indexer, creator, decisions, missing):
    # ``decisions``: the "create metric" rule's (policy.Decisions).
    """The NewMetric of each ``(resource id, name, archive policy name or
    None, unit or None)`` in ``missing``, after upstream's checks of each;
    Declined at the first one upstream would not pass."""
    policy_by_rule = {}
    new = []
    for resource_id, name, archive_policy_name, unit in missing:
        if "/" in name:
            raise Declined("'/' in a metric name")
        if unit is not None and len(unit) > _MAX_UNIT:
            raise Declined("unit too long")
        policy_name = archive_policy_name
        if policy_name is None:
            if name not in policy_by_rule:
                try:
                    policy_by_rule[name] = \
                        indexer.get_archive_policy_for_metric(name).name
                except upstream_indexer.NoArchivePolicyRuleMatch:
                    raise Declined("no archive policy rule matches")
            policy_name = policy_by_rule[name]
        # What upstream's MetricSchema enforces: the body's values (the
        # archive policy as given, None when a rule chose it).
        if not decisions.allowed({
                "creator": creator,
                "archive_policy_name": archive_policy_name,
                "resource_id": None, "original_resource_id": None,
                "name": name, "unit": unit}):
            raise Declined("not allowed to create metrics")
        new.append(NewMetric(creator, resource_id, name, unit, policy_name))
    return new


def insert(indexer, new_metrics):
    """The rows of ``new_metrics`` in one transaction, through the
    indexer's writer (on SQLite, its BEGIN IMMEDIATE and retries); any
    failure (a resource or policy gone, a metric created meanwhile)
    inserts nothing and is Declined."""
    if not lookup.is_sql_indexer(indexer):
        raise Declined("not upstream's SQL indexer")
    table = sqlalchemy_base.Metric.__table__
    try:
        with indexer.facade.writer() as session:
            session.execute(sqlalchemy.insert(table),
                            [m.row() for m in new_metrics])
    except Exception as e:
        raise Declined("metrics not created: %s" % type(e).__name__)

