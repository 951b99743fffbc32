"""The lean worker's indexer statements on MySQL/MariaDB, through PyMySQL
(upstream's ``[mysql]`` driver, pure Python): no SQLAlchemy, no upstream.

The tables are the ones upstream's models made on MySQL: ids are the 16
bytes of the UUID (``BINARY(16)``), booleans ``TINYINT``, timestamps
``DATETIME(6)`` in UTC (upstream's ``TimestampUTC``).
"""
from __future__ import annotations

from urllib import parse

from gnocchi_rs.sack_worker.blob_index import BlobIdIndex

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


class MysqlIndex(BlobIdIndex):
    """The indexer statements of a processing worker, on MySQL/MariaDB."""

    MARK = "%s"
    BEGIN = "START TRANSACTION"

    def __init__(self, url):
        self.arguments = connection_arguments(url)

    def _cursor(self):
        if self._connection is None or not self._connection.open:
            import pymysql
            self._connection = pymysql.connect(**self.arguments)
        return self._connection.cursor()

    def _database_errors(self):
        import pymysql
        return (pymysql.Error,)

    def close(self):
        # Closing a connection the server already dropped raises; it is
        # being thrown away all the same.
        try:
            super().close()
        except Exception:
            pass

    def _can_roll_back(self, cursor):
        return cursor.connection.open


__all__ = ["MysqlIndex", "connection_arguments"]
