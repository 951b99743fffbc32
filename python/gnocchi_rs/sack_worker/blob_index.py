"""The lean worker's statements on the databases where upstream's models
store ids as the 16 bytes of the UUID (sqlalchemy_utils' UUIDType off
PostgreSQL: SQLite's BLOB, MySQL's BINARY(16)). ``sqlite_index`` and
``mysql_index`` give the connection, the parameter mark, how a write
transaction starts and how timestamps cross."""
from __future__ import annotations

import uuid

from gnocchi_rs.sack_worker.index import LeanIndex

# Bound parameters per statement, well under either database's limit.
CHUNK = 400


def _blob(text_id):
    return uuid.UUID(text_id).bytes


def _text(blob_id):
    return None if blob_id is None else str(uuid.UUID(bytes=bytes(blob_id)))


def _chunks(items):
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]


class BlobIdIndex(LeanIndex):
    MARK = "?"
    BEGIN = "BEGIN"

    def _marks(self, items):
        return ",".join([self.MARK] * len(items))

    def _stamp(self, now):
        """``now`` (naive UTC) as the timestamp column takes it."""
        return now

    def _ended_at(self, value):
        """An ``ended_at`` value read back, as a naive UTC datetime."""
        return value

    def _can_roll_back(self, cursor):
        raise NotImplementedError

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
                    % self._marks(chunk), chunk)
                rows += cursor.fetchall()
            return rows
        return [(_text(m), _text(r), bool(t), w, d, a)
                for m, r, t, w, d, a in self._run(work)]

    def _update(self, now, truncated, ids, resource_ids):
        stamp = self._stamp(now)
        truncated_blobs = [_blob(i) for i in truncated]
        id_blobs = [_blob(i) for i in ids]

        def work(cursor):
            cursor.execute(self.BEGIN)
            try:
                for chunk in _chunks(id_blobs):
                    cursor.execute(
                        "UPDATE metric SET last_measure_timestamp = %s "
                        "WHERE id IN (%s)" % (self.MARK, self._marks(chunk)),
                        [stamp] + chunk)
                for chunk in _chunks(truncated_blobs):
                    cursor.execute(
                        "UPDATE metric SET needs_raw_data_truncation = 0 "
                        "WHERE id IN (%s)" % self._marks(chunk), chunk)
                ended = []
                for chunk in _chunks([_blob(r) for r in resource_ids]):
                    cursor.execute(
                        "SELECT id, type, ended_at FROM resource "
                        "WHERE ended_at IS NOT NULL AND id IN (%s)"
                        % self._marks(chunk), chunk)
                    ended += cursor.fetchall()
                cursor.execute("COMMIT")
            except BaseException:
                if self._can_roll_back(cursor):
                    cursor.execute("ROLLBACK")
                raise
            return ended
        return [(_text(r), t, self._ended_at(e))
                for r, t, e in self._run(work)]


__all__ = ["BlobIdIndex"]
