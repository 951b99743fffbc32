"""The lean worker's indexer statements on MySQL/MariaDB, through PyMySQL
(upstream's ``[mysql]`` driver, pure Python): no SQLAlchemy, no upstream.

The tables are the ones upstream's models made on MySQL: ids are the 16
bytes of the UUID (``BINARY(16)``), booleans ``TINYINT``, timestamps
``DATETIME(6)`` in UTC (upstream's ``TimestampUTC``).
"""
from __future__ import annotations

import uuid
from urllib import parse

from gnocchi_rs.sack_worker.index import LeanIndex

# Bound parameters per statement.
CHUNK = 400
CONNECT_TIMEOUT = 30
# A dead server must not hang a worker that holds a sack's lock.
READ_TIMEOUT = 300


def connection_arguments(url):
    """PyMySQL's ``connect()`` arguments for a SQLAlchemy MySQL URL
    (``mysql[+pymysql]://user:password@host:port/db?charset=...``,
    ``unix_socket`` among the query options)."""
    parsed = parse.urlsplit(url)
    if parsed.scheme.partition("+")[0] != "mysql" or \
            parsed.scheme.partition("+")[2] not in ("", "pymysql"):
        raise ValueError("not a PyMySQL URL: %r" % url)
    query = dict(parse.parse_qsl(parsed.query))
    arguments = {
        "host": parsed.hostname or "localhost",
        "user": parse.unquote(parsed.username) if parsed.username else None,
        "password": parse.unquote(parsed.password or ""),
        "database": parsed.path.lstrip("/") or None,
        "charset": query.get("charset", "utf8mb4"),
        "connect_timeout": CONNECT_TIMEOUT,
        "read_timeout": READ_TIMEOUT,
        "write_timeout": READ_TIMEOUT,
        "autocommit": True,
    }
    if parsed.port:
        arguments["port"] = parsed.port
    if "unix_socket" in query:
        arguments["unix_socket"] = query["unix_socket"]
    return arguments


def _blob(text_id):
    return uuid.UUID(text_id).bytes


def _text(blob_id):
    return None if blob_id is None else str(uuid.UUID(bytes=bytes(blob_id)))


def _chunks(items):
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]


def _marks(items):
    return ",".join(["%s"] * len(items))


class MysqlIndex(LeanIndex):
    """The indexer statements of a processing worker, on MySQL/MariaDB."""

    def __init__(self, url):
        self.arguments = connection_arguments(url)
        self._connection = None

    def _connect(self):
        if self._connection is None or not self._connection.open:
            import pymysql
            self._connection = pymysql.connect(**self.arguments)
        return self._connection

    def _run(self, work):
        """Runs ``work(cursor)``; on a database error the connection is
        dropped (the next call opens another) and the error raised, so
        that the sack is processed again on the next pass."""
        import pymysql
        try:
            with self._connect().cursor() as cursor:
                return work(cursor)
        except pymysql.Error:
            self.close()
            raise

    def close(self):
        if self._connection is not None:
            try:
                self._connection.close()
            except Exception:
                pass
            finally:
                self._connection = None

    def _lookup(self, metric_ids):
        def work(cursor):
            rows = []
            for chunk in _chunks([_blob(i) for i in metric_ids]):
                cursor.execute(
                    "SELECT m.id, m.resource_id, "
                    "m.needs_raw_data_truncation, p.back_window, "
                    "p.definition, p.aggregation_methods "
                    "FROM metric AS m JOIN archive_policy AS p "
                    "ON m.archive_policy_name = p.name "
                    "WHERE m.status = 'active' AND m.id IN (%s)"
                    % _marks(chunk), chunk)
                rows += cursor.fetchall()
            return rows
        return [(_text(m), _text(r), bool(t), w, d, a)
                for m, r, t, w, d, a in self._run(work)]

    def _update(self, now, truncated, ids, resource_ids):
        truncated_blobs = [_blob(i) for i in truncated]
        id_blobs = [_blob(i) for i in ids]

        def work(cursor):
            cursor.execute("START TRANSACTION")
            try:
                for chunk in _chunks(id_blobs):
                    cursor.execute(
                        "UPDATE metric SET last_measure_timestamp = %%s "
                        "WHERE id IN (%s)" % _marks(chunk), [now] + chunk)
                for chunk in _chunks(truncated_blobs):
                    cursor.execute(
                        "UPDATE metric SET needs_raw_data_truncation = 0 "
                        "WHERE id IN (%s)" % _marks(chunk), chunk)
                ended = []
                for chunk in _chunks([_blob(r) for r in resource_ids]):
                    cursor.execute(
                        "SELECT id, type, ended_at FROM resource "
                        "WHERE ended_at IS NOT NULL AND id IN (%s)"
                        % _marks(chunk), chunk)
                    ended += cursor.fetchall()
                cursor.execute("COMMIT")
            except BaseException:
                if cursor.connection.open:
                    cursor.execute("ROLLBACK")
                raise
            return ended
        return [(_text(r), t, e) for r, t, e in self._run(work)]


__all__ = ["MysqlIndex", "connection_arguments"]
