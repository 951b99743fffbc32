"""The lean worker's indexer statements on the SQLite index of the
embedded default (``gnocchi_rs.indexer_sqlite``), through the standard
library's sqlite3: no SQLAlchemy, no upstream.

The database is the one upstream's SQLAlchemy models made: ids are the 16
bytes of the UUID (sqlalchemy_utils' UUIDType on SQLite), booleans 0/1 and
timestamps text as SQLAlchemy's SQLite DATETIME writes and reads them
(``YYYY-MM-DD HH:MM:SS.ffffff``). Writes take the lock at the start of the
transaction (``BEGIN IMMEDIATE``) and wait for it as the SQLite indexer's
connections do, so the API's writers and this worker queue instead of
failing midway.
"""
from __future__ import annotations

import datetime
import sqlite3
import uuid
from urllib import parse

from gnocchi_rs.sack_worker.index import LeanIndex

# The SQLite indexer's busy timeout (indexer_sqlite.BUSY_TIMEOUT_SECONDS)
# times its attempts: a worker waits as long as an API writer would.
BUSY_TIMEOUT_SECONDS = 60
# Bound parameters per statement, well under SQLite's limit.
CHUNK = 400


def database_path(url):
    """The file of an ``sqlite:///path`` URL (SQLAlchemy's form)."""
    scheme, sep, rest = url.partition("://")
    if scheme.partition("+")[0] != "sqlite" or not sep or \
            not rest.startswith("/") or len(rest) < 2:
        raise ValueError("not an SQLite file URL: %r" % url)
    return rest[1:].partition("?")[0]


def _blob(text_id):
    return uuid.UUID(text_id).bytes


def _text(blob_id):
    return None if blob_id is None else str(uuid.UUID(bytes=bytes(blob_id)))


def _timestamp(value):
    """SQLAlchemy's SQLite DATETIME text."""
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def _chunks(items):
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]


def _marks(items):
    return ",".join("?" * len(items))


class SqliteIndex(LeanIndex):
    """The indexer statements of a processing worker, on SQLite."""

    def __init__(self, url):
        self.path = database_path(url)
        self._connection = None

    def _connect(self):
        if self._connection is None:
            # mode=rw: a missing file is an error, not a new empty
            # database where the indexer's should be.
            connection = sqlite3.connect(
                "file:%s?mode=rw" % parse.quote(self.path), uri=True,
                timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None,
                check_same_thread=False)
            connection.execute("PRAGMA foreign_keys = ON")
            self._connection = connection
        return self._connection

    def _run(self, work):
        """Runs ``work(connection)``; on a database error the connection is
        dropped (the next call opens another) and the error raised, so
        that the sack is processed again on the next pass."""
        try:
            return work(self._connect())
        except sqlite3.Error:
            self.close()
            raise

    def close(self):
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None

    def _lookup(self, metric_ids):
        def work(connection):
            rows = []
            for chunk in _chunks([_blob(i) for i in metric_ids]):
                rows += connection.execute(
                    "SELECT m.id, m.resource_id, "
                    "m.needs_raw_data_truncation, p.back_window, "
                    "p.definition, p.aggregation_methods "
                    "FROM metric AS m JOIN archive_policy AS p "
                    "ON m.archive_policy_name = p.name "
                    "WHERE m.status = 'active' AND m.id IN (%s)"
                    % _marks(chunk), chunk).fetchall()
            return rows
        return [(_text(m), _text(r), bool(t), w, d, a)
                for m, r, t, w, d, a in self._run(work)]

    def _update(self, now, truncated, ids, resource_ids):
        stamp = _timestamp(now)
        truncated_blobs = [_blob(i) for i in truncated]
        id_blobs = [_blob(i) for i in ids]

        def work(connection):
            connection.execute("BEGIN IMMEDIATE")
            try:
                for chunk in _chunks(id_blobs):
                    connection.execute(
                        "UPDATE metric SET last_measure_timestamp = ? "
                        "WHERE id IN (%s)" % _marks(chunk), [stamp] + chunk)
                for chunk in _chunks(truncated_blobs):
                    connection.execute(
                        "UPDATE metric SET needs_raw_data_truncation = 0 "
                        "WHERE id IN (%s)" % _marks(chunk), chunk)
                ended = []
                for chunk in _chunks([_blob(r) for r in resource_ids]):
                    ended += connection.execute(
                        "SELECT id, type, ended_at FROM resource "
                        "WHERE ended_at IS NOT NULL AND id IN (%s)"
                        % _marks(chunk), chunk).fetchall()
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
            return ended
        return [(_text(r), t, datetime.datetime.fromisoformat(e))
                for r, t, e in self._run(work)]


__all__ = ["SqliteIndex", "database_path"]
