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
import uuid

import numpy
from gnocchi import carbonara as upstream_carbonara

LOG = logging.getLogger("gnocchi.incoming")

_DTYPE = upstream_carbonara.TIMESERIES_ARRAY_DTYPE


def _series(words):
    return words.view(_DTYPE)


def _records(measures):
    if not isinstance(measures, numpy.ndarray):
        measures = numpy.fromiter(measures, dtype=_DTYPE)
    return numpy.ascontiguousarray(measures, dtype=_DTYPE).view(numpy.int64)


class NativeIncomingMixin:
    greedy = False

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

    @contextlib.contextmanager
    def process_measures_for_sack(self, sack):
        found, receipt, corrupt = self._native_incoming().read_sack(str(sack))
        self._log_corrupt(corrupt)
        measures = {uuid.UUID(bytes=bytes(m)): _series(w) for m, w in found}
        yield measures
        self._native_incoming().delete_processed(receipt)

    @contextlib.contextmanager
    def process_measure_for_metrics(self, metric_ids):
        metric_ids = list(metric_ids)
        found, receipt, corrupt = self._native_incoming().read_metrics(
            [(str(self.sack_for_metric(m)), m.bytes) for m in metric_ids])
        self._log_corrupt(corrupt)
        by_id = {uuid.UUID(bytes=bytes(m)): _series(w) for m, w in found}
        empty = numpy.array([], dtype=_DTYPE)
        yield {m: by_id.get(m, empty) for m in metric_ids}
        self._native_incoming().delete_processed(receipt)

    def has_unprocessed(self, metric_id):
        return self._native_incoming().has_unprocessed(
            str(self.sack_for_metric(metric_id)), metric_id.bytes)

    def delete_unprocessed_measures_for_metric(self, metric_id):
        self._native_incoming().delete_unprocessed(
            str(self.sack_for_metric(metric_id)), metric_id.bytes)

    def _build_report(self, details):
        counts = self._native_incoming().report(
            [str(s) for s in self.iter_sacks()])
        metric_details = {str(uuid.UUID(bytes=bytes(m))): n
                          for m, n in counts}
        return (len(metric_details), sum(metric_details.values()),
                metric_details if details else None)
