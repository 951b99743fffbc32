"""The indexer statements of a lean processing worker: one lookup per sack
and one transaction for the updates that follow processing, with the
effects of upstream's ``update_last_measure_timestamp``,
``update_needs_raw_data_truncation`` and of its resource revival (which
``revive`` makes). On PostgreSQL through psycopg2 here; on SQLite through
the standard library in ``sqlite_index``; on MySQL/MariaDB through PyMySQL
in ``mysql_index``."""
from __future__ import annotations

import datetime
import json
import logging

from gnocchi_rs import _native
from gnocchi_rs import batch_outcomes

LOG = logging.getLogger("gnocchi.rs.metricd")


def policy_spec(back_window, definition, methods):
    """The native policy of a stored archive policy: its definition as
    stored, its methods as stored (sorted: the stored list's order is not
    the one upstream iterates, which is its set's), translated by the same
    native code as the drivers' (``ArchivePolicySpec``)."""
    return _native.ArchivePolicySpec.from_stored(
        back_window, list(definition or ()), sorted(methods or ()))


class LeanMetric:
    __slots__ = ("id", "resource_id", "needs_raw_data_truncation", "policy")

    def __init__(self, metric_id, resource_id, needs_truncation, policy):
        self.id = metric_id
        self.resource_id = resource_id
        self.needs_raw_data_truncation = needs_truncation
        self.policy = policy


def _json(value):
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def libpq_url(url):
    """A SQLAlchemy PostgreSQL URL as libpq reads it."""
    scheme, sep, rest = url.partition("://")
    return scheme.partition("+")[0] + sep + rest


class LeanIndex:
    """What both databases share: rows to metrics, and the revival
    decision. Subclasses give ``_lookup(ids)`` (rows of metric id,
    resource id, truncation flag, back window, definition, methods) and
    ``_update(now, truncated, ids, resource_ids)`` (one transaction;
    returns the ended resources among ``resource_ids``: rows of id, type,
    ended_at as a naive UTC datetime), with ``_cursor()`` (connecting
    when needed) and ``_database_errors()`` for ``_run``."""

    _connection = None

    def _run(self, work):
        """Runs ``work(cursor)``; on a database error the connection is
        dropped (the next call opens another) and the error raised, so
        that the sack is processed again on the next pass."""
        try:
            cursor = self._cursor()
            try:
                return work(cursor)
            finally:
                cursor.close()
        except self._database_errors():
            self.close()
            raise

    def close(self):
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None

    def active_metrics(self, metric_ids):
        """The active metrics among ``metric_ids`` (uuid strings), each
        with its native policy (one per distinct stored policy)."""
        specs, metrics = {}, []
        for (metric_id, resource_id, needs_truncation, back_window,
             definition, methods) in self._lookup(metric_ids):
            key = (back_window, str(definition), str(methods))
            spec = specs.get(key)
            if spec is None:
                spec = specs[key] = policy_spec(
                    back_window, _json(definition), _json(methods))
            metrics.append(LeanMetric(metric_id, resource_id,
                                      bool(needs_truncation), spec))
        return metrics

    def update_after_processing(self, newest_by_metric):
        """``newest_by_metric``: {LeanMetric: newest new measure, ns}.
        Returns the ended resources that one of these measures postdates:
        ``[(resource id, type, ended_at, newest)]``; the others are logged
        as upstream logs them."""
        if not newest_by_metric:
            return []
        ids = [m.id for m in newest_by_metric]
        truncated = [m.id for m in newest_by_metric
                     if m.needs_raw_data_truncation]
        newest_by_resource = batch_outcomes.newest_by_resource(
            newest_by_metric)
        now = datetime.datetime.now(datetime.timezone.utc).replace(
            tzinfo=None)
        to_revive = []
        for resource_id, resource_type, ended_at in self._update(
                now, truncated, ids, list(newest_by_resource)):
            newest = (datetime.datetime(1970, 1, 1)
                      + datetime.timedelta(
                          microseconds=newest_by_resource[resource_id]
                          // 1000))
            if ended_at > newest:
                LOG.info("Resource [%s] ended at [%s], after the newest new "
                         "measure [%s]: not restoring it.",
                         resource_id, ended_at, newest)
            else:
                LOG.info("Resource [%s] ended at [%s] but received a measure "
                         "at [%s]: restoring it.", resource_id, ended_at,
                         newest)
                to_revive.append((resource_id, resource_type))
        return to_revive


class PostgresIndex(LeanIndex):
    """The indexer statements of a processing worker, on PostgreSQL."""

    LOOKUP = (
        "SELECT m.id::text, m.resource_id::text, "
        "m.needs_raw_data_truncation, p.back_window, p.definition, "
        "p.aggregation_methods "
        "FROM metric AS m JOIN archive_policy AS p "
        "ON m.archive_policy_name = p.name "
        "WHERE m.id = ANY(%s::uuid[]) AND m.status = 'active'")
    UPDATE = (
        "UPDATE metric SET last_measure_timestamp = %s, "
        "needs_raw_data_truncation = CASE WHEN id = ANY(%s::uuid[]) "
        "THEN false ELSE needs_raw_data_truncation END "
        "WHERE id = ANY(%s::uuid[])")
    ENDED = (
        "SELECT id::text, type, ended_at FROM resource "
        "WHERE id = ANY(%s::uuid[]) AND ended_at IS NOT NULL")

    def __init__(self, url):
        self.url = libpq_url(url)
        self._connection = None

    def _cursor(self):
        import psycopg2
        if self._connection is None or self._connection.closed:
            # A partitioned network must not hang a worker that holds a
            # sack's lock: keepalives end a dead connection.
            self._connection = psycopg2.connect(
                self.url, connect_timeout=30, keepalives=1,
                keepalives_idle=60, keepalives_interval=10,
                keepalives_count=3)
            self._connection.autocommit = True
        return self._connection.cursor()

    def _database_errors(self):
        # A broken connection; other errors leave it usable.
        import psycopg2
        return (psycopg2.OperationalError, psycopg2.InterfaceError)

    def _lookup(self, metric_ids):
        return self._run(lambda c: (c.execute(self.LOOKUP, (metric_ids,)),
                                    c.fetchall())[1])

    def _update(self, now, truncated, ids, resource_ids):
        def work(cursor):
            cursor.execute("BEGIN")
            try:
                cursor.execute(self.UPDATE, (now, truncated, ids))
                ended = []
                if resource_ids:
                    cursor.execute(self.ENDED, (resource_ids,))
                    ended = cursor.fetchall()
                cursor.execute("COMMIT")
            except BaseException:
                if not cursor.connection.closed:
                    cursor.execute("ROLLBACK")
                raise
            return ended
        return self._run(work)


def database_kind(url):
    """postgresql, mysql or sqlite: the database of an indexer URL."""
    kind = url.split(":", 1)[0].partition("+")[0]
    return "postgresql" if kind == "postgres" else kind


def open_index(url):
    """The lean index for an indexer URL: PostgreSQL's, MySQL's or
    SQLite's."""
    kind = database_kind(url)
    if kind == "sqlite":
        from gnocchi_rs.sack_worker import sqlite_index
        return sqlite_index.SqliteIndex(url)
    if kind == "mysql":
        from gnocchi_rs.sack_worker import mysql_index
        return mysql_index.MysqlIndex(url)
    return PostgresIndex(url)
