"""metricd's indexer work for a batch of metrics.

``active_metrics`` looks the batch's metrics up in one query of plain rows
(upstream's ``list_metrics`` loads ORM objects and an archive policy per
metric, the costliest part of processing a small sack).

``update_metrics_after_processing`` makes the updates that follow
processing, one statement per kind for a whole batch instead of 2-4 round
trips with a commit per metric (upstream's
``execute_metadata_updates_if_needed``). Same effects:

* ``needs_raw_data_truncation`` is cleared for the metrics that had it;
* ``last_measure_timestamp`` is set to now for every processed metric;
* a resource that ended before the newest new measure of one of its
  metrics is revived (``ended_at`` back to null, through
  ``update_resource`` so that its history is kept).
"""
from __future__ import annotations

import datetime
import logging

import sqlalchemy
import sqlalchemy_utils
from gnocchi import archive_policy
from gnocchi import indexer
from gnocchi.indexer import sqlalchemy as sql_indexer
from gnocchi.indexer import sqlalchemy_base as models

from gnocchi_rs import batch_outcomes

LOG = logging.getLogger("gnocchi.storage")

# Upstream's types for an archive policy's definition and methods subclass
# JSONType without declaring ``cache_ok``, so SQLAlchemy compiles every
# statement that reads them anew (upstream's ``list_metrics`` does, for
# each sack). The same columns read as JSONType, which declares it, let the
# statement be compiled once.
_POLICY_JSON = sqlalchemy.table(
    models.ArchivePolicy.__tablename__,
    sqlalchemy.column("name", sqlalchemy.String),
    sqlalchemy.column("back_window", sqlalchemy.Integer),
    sqlalchemy.column("definition", sqlalchemy_utils.JSONType()),
    sqlalchemy.column("aggregation_methods", sqlalchemy_utils.JSONType()))


def _utc_from_ns(ns):
    return (datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
            + datetime.timedelta(microseconds=ns // 1000))


def _aware(ts):
    return ts if ts.tzinfo else ts.replace(tzinfo=datetime.timezone.utc)


class _StoredPolicy(archive_policy.ArchivePolicy):
    """An archive policy whose methods are the stored set as it is, as the
    indexer's ORM object gives them (the base class would resolve them
    again: an empty set would become the default methods)."""

    @property
    def aggregation_methods(self):
        return self._aggregation_methods

    @aggregation_methods.setter
    def aggregation_methods(self, value):
        self._aggregation_methods = set(value)


def active_metrics(index, metric_ids):
    """The active metrics among ``metric_ids``, as upstream's
    ``indexer.Metric`` (what ``list_metrics`` gives for an ``in`` filter on
    ids); metrics sharing a policy share one ``ArchivePolicy``."""
    metric_ids = list(metric_ids)
    if not isinstance(index, sql_indexer.SQLAlchemyIndexer):
        return index.list_metrics(attribute_filter={"in": {"id": metric_ids}})
    if not metric_ids:
        return []
    metric, policy = models.Metric, _POLICY_JSON.c
    with index.facade.independent_reader() as session:
        rows = session.execute(
            sqlalchemy.select(
                metric.id, metric.creator, metric.name, metric.resource_id,
                metric.needs_raw_data_truncation, policy.name,
                policy.back_window, policy.definition,
                policy.aggregation_methods)
            .join(_POLICY_JSON, metric.archive_policy_name == policy.name)
            .where(metric.id.in_(metric_ids))
            .where(metric.status == "active")).all()
    policies = {}
    found = []
    for (metric_id, creator, name, resource_id, needs_truncation,
         policy_name, back_window, definition, methods) in rows:
        key = (policy_name, back_window, repr(definition),
               tuple(sorted(methods)))
        ap = policies.get(key)
        if ap is None:
            ap = policies[key] = _StoredPolicy(
                policy_name, back_window,
                [archive_policy.ArchivePolicyItem(**item)
                 for item in definition or ()],
                set(methods or ()))
        found.append(indexer.Metric(
            metric_id, ap, creator=creator, name=name,
            resource_id=resource_id,
            needs_raw_data_truncation=needs_truncation))
    return found


def update_metrics_after_processing(index, newest_by_metric):
    """``newest_by_metric``: {Metric: newest new measure, ns since epoch}."""
    if not newest_by_metric:
        return
    if not isinstance(index, sql_indexer.SQLAlchemyIndexer):
        return _one_by_one(index, newest_by_metric)

    ids = [m.id for m in newest_by_metric]
    truncated = [m.id for m in newest_by_metric
                 if m.needs_raw_data_truncation]
    now = datetime.datetime.utcnow()
    values = {"last_measure_timestamp": now}
    if truncated:
        values["needs_raw_data_truncation"] = sqlalchemy.case(
            (models.Metric.id.in_(truncated), sqlalchemy.false()),
            else_=models.Metric.needs_raw_data_truncation)
    newest_by_resource = batch_outcomes.newest_by_resource(newest_by_metric)
    ended = ()
    # One transaction: the update, and the ended resources it may restore.
    with index.facade.writer() as session:
        session.execute(
            sqlalchemy.update(models.Metric)
            .where(models.Metric.id.in_(ids))
            .values(**values)
            .execution_options(synchronize_session=False))
        if newest_by_resource:
            ended = session.execute(
                sqlalchemy.select(models.Resource.id, models.Resource.type,
                                  models.Resource.ended_at)
                .where(models.Resource.id.in_(list(newest_by_resource)))
                .where(models.Resource.ended_at.isnot(None))).all()
    for resource_id, resource_type, ended_at in ended:
        newest = _utc_from_ns(newest_by_resource[resource_id])
        if _aware(ended_at) > newest:
            LOG.info("Resource [%s] ended at [%s], after the newest new "
                     "measure [%s]: not restoring it.",
                     resource_id, ended_at, newest)
        else:
            LOG.info("Resource [%s] ended at [%s] but received a measure at "
                     "[%s]: restoring it.", resource_id, ended_at, newest)
            index.update_resource(resource_type, resource_id, ended_at=None)


def _one_by_one(index, newest_by_metric):
    for metric, newest in newest_by_metric.items():
        if metric.needs_raw_data_truncation:
            index.update_needs_raw_data_truncation(metric.id)
        index.update_last_measure_timestamp(metric.id)
        if metric.resource_id:
            resource = index.get_resource("generic", metric.resource_id)
            if (resource is not None and resource.ended_at is not None
                    and not _aware(resource.ended_at) > _utc_from_ns(newest)):
                index.update_resource(resource.type, metric.resource_id,
                                      ended_at=None)
