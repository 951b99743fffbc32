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
from urllib import parse

from gnocchi_rs.sack_worker.blob_index import BlobIdIndex

# The SQLite indexer's busy timeout (indexer_sqlite.BUSY_TIMEOUT_SECONDS)
# times its attempts: a worker waits as long as an API writer would.
BUSY_TIMEOUT_SECONDS = 60


def database_path(url):
    """The file of an ``sqlite:///path`` URL (SQLAlchemy's form)."""
    scheme, sep, rest = url.partition("://")
    if scheme.partition("+")[0] != "sqlite" or not sep or \
            not rest.startswith("/") or len(rest) < 2:
        raise ValueError("not an SQLite file URL: %r" % url)
    return rest[1:].partition("?")[0]


class SqliteIndex(BlobIdIndex):
    """The indexer statements of a processing worker, on SQLite."""

    # Writers queue for the lock when they start, as the indexer's do.
    BEGIN = "BEGIN IMMEDIATE"

    def __init__(self, url):
        self.path = database_path(url)

    def _cursor(self):
        if self._connection is None:
            # mode=rw: a missing file is an error, not a new empty
            # database where the indexer's should be.
            connection = sqlite3.connect(
                "file:%s?mode=rw" % parse.quote(self.path), uri=True,
                timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None,
                check_same_thread=False)
            connection.execute("PRAGMA foreign_keys = ON")
            self._connection = connection
        return self._connection.cursor()

    def _database_errors(self):
        return (sqlite3.Error,)

    def _stamp(self, now):
        # SQLAlchemy's SQLite DATETIME text.
        return now.strftime("%Y-%m-%d %H:%M:%S.%f")

    def _ended_at(self, value):
        return datetime.datetime.fromisoformat(value)

    def _can_roll_back(self, cursor):
        return cursor.connection.in_transaction


__all__ = ["SqliteIndex", "database_path"]
