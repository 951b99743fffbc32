"""Incoming drivers ``rs-file``, ``rs-redis`` and ``rs-ceph``: upstream's
layouts, with writes, sack reads and deletes done natively in one batched
call each; one module per backend, as upstream's.

Measures are deleted only after the ``with`` block that received them
exits without an exception, that is after they are stored
(at-least-once). A blob that cannot be decoded is logged and moved out of
the way instead of failing its whole sack on every pass.
"""
from __future__ import annotations

import contextlib
import logging
import time
import uuid

import numpy

from gnocchi_rs.records import SERIES_DTYPE
from gnocchi_rs.records import to_records as _records
from gnocchi_rs.records import to_series as _series

LOG = logging.getLogger("gnocchi.incoming")


class NativeIncomingMixin:
    greedy = False
    # Whether metricd reads the sacks' backlog before a pass (drivers
    # without notifications).
    backlog_before_passes = False
    # Whether blob names keep their arrival time (file, Ceph; not Redis).
    keeps_arrival_times = True

    def _native_incoming(self):  # pragma: no cover - defined by subclasses
        raise NotImplementedError

    def _log_corrupt(self, corrupt):
        for where, why in corrupt:
            LOG.error("Unable to decode measures %s, possible data "
                      "corruption; set aside: %s", where, why)

    def add_measures_batch(self, metrics_and_measures):
        batch = [(str(self.sack_for_metric(metric_id)), metric_id.bytes,
                  _records(measures))
                 for metric_id, measures in metrics_and_measures.items()]
        self._native_incoming().add_measures_batch(batch, bool(self.greedy))

    def add_parsed_measures(self, parsed, metrics_and_lists):
        """Measures a request body was parsed into natively
        (``_native.parse_*``): ``[(metric id, list index)]``; one batched
        write, as ``add_measures_batch``."""
        self._native_incoming().add_parsed_measures(
            parsed, [(str(self.sack_for_metric(metric_id)), metric_id.bytes,
                      index) for metric_id, index in metrics_and_lists],
            bool(self.greedy))

    @contextlib.contextmanager
    def process_measures_for_sack(self, sack):
        read = self._native_incoming().read_sack(str(sack))
        self._log_corrupt(read.corrupt)
        yield {uuid.UUID(bytes=m): _series(w) for m, w in read.measures}
        self._native_incoming().delete_processed(read.receipt)

    @contextlib.contextmanager
    def process_measure_for_metrics(self, metric_ids):
        metric_ids = list(metric_ids)
        read = self._native_incoming().read_metrics(
            [(str(self.sack_for_metric(m)), m.bytes) for m in metric_ids])
        self._log_corrupt(read.corrupt)
        by_id = {uuid.UUID(bytes=m): _series(w) for m, w in read.measures}
        empty = numpy.array([], dtype=SERIES_DTYPE)
        yield {m: by_id.get(m, empty) for m in metric_ids}
        self._native_incoming().delete_processed(read.receipt)

    def has_unprocessed(self, metric_id):
        return self._native_incoming().has_unprocessed(
            str(self.sack_for_metric(metric_id)), metric_id.bytes)

    def delete_unprocessed_measures_for_metric(self, metric_id):
        self._native_incoming().delete_unprocessed(
            str(self.sack_for_metric(metric_id)), metric_id.bytes)

    def sack_backlog(self, sack_names):
        """``(blobs, oldest arrival unix time or None)`` of each sack."""
        return self._native_incoming().backlog(list(sack_names))

    def measures_report(self, details=True):
        """Upstream's report, its summary with the age in seconds of the
        oldest measure waiting (``oldest_measure_age``: None when nothing
        waits or the backend keeps no arrival times, as Redis). The age
        is a second walk of the sacks, skipped when it cannot tell."""
        report = super().measures_report(details)
        summary = report["summary"]
        summary["oldest_measure_age"] = None
        if not (self.keeps_arrival_times and summary.get("measures")):
            return report
        try:
            backlog = self.sack_backlog(str(s) for s in self.iter_sacks())
        except Exception as e:
            LOG.warning("Unable to read the backlog's age: %s", e)
            return report
        oldest = min((t for _, t in backlog if t is not None), default=None)
        if oldest is not None:
            summary["oldest_measure_age"] = max(0, int(time.time()) - oldest)
        return report

    def _build_report(self, details):
        counts = self._native_incoming().report(
            [str(s) for s in self.iter_sacks()])
        metric_details = {str(uuid.UUID(bytes=bytes(m))): n
                          for m, n in counts}
        return (len(metric_details), sum(metric_details.values()),
                metric_details if details else None)
