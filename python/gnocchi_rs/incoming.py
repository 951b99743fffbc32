"""Incoming drivers ``rs-file``, ``rs-redis`` and ``rs-ceph``: upstream's layouts, with
writes, sack reads and deletes done natively in one batched call each.

Measures are deleted only after the ``with`` block that received them
exits without an exception, that is after they are stored
(at-least-once). A blob that cannot be decoded is logged and moved out of
the way instead of failing its whole sack on every pass.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import uuid

import numpy
from gnocchi import carbonara as upstream_carbonara
from gnocchi import incoming as upstream_incoming
from gnocchi.incoming import ceph as upstream_ceph
from gnocchi.incoming import file as upstream_file
from gnocchi.incoming import redis as upstream_redis

from gnocchi_rs import _native
from gnocchi_rs import redis_config
from gnocchi_rs import storage as rs_storage

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


class FileStorage(NativeIncomingMixin, upstream_file.FileStorage):
    """``rs-file`` incoming: ``<basepath>/<sack>/<metric>/<blob>``."""

    def _native_incoming(self):
        cached = getattr(self, "_native_cache", None)
        if cached is None or cached[0] != self.basepath:
            cached = (self.basepath, _native.NativeIncoming.file(
                os.fspath(self.basepath)))
            self._native_cache = cached
        return cached[1]


class RedisStorage(NativeIncomingMixin, upstream_redis.RedisStorage):
    """``rs-redis`` incoming: one list per metric, ``<sack>:<metric>``."""

    def __init__(self, conf, greedy=True):
        super().__init__(conf, greedy)
        self.greedy = greedy

    def _native_incoming(self):
        cached = getattr(self, "_native_cache", None)
        if cached is None:
            cached = (None, _native.NativeIncoming.redis(
                redis_config.native_connection(self._client)))
            self._native_cache = cached
        return cached[1]


class CephStorage(NativeIncomingMixin, upstream_ceph.CephStorage):
    """``rs-ceph`` incoming: omap entries ``measure_<metric>_<uuid>_<time>``
    on one object per sack."""

    def __init__(self, conf, greedy=True):
        # Upstream's __init__ would connect through the rados module.
        upstream_incoming.IncomingDriver.__init__(self, conf, greedy)
        self.rados = rs_storage.rados_pool(conf)
        self.ioctx = None
        self._native = _native.NativeIncoming.ceph(self.rados)

    # How often iter_on_sacks_to_process looks for sacks with measures.
    POLL_SECONDS = 1.0

    def stop(self):
        # Upstream's calls a stop() its base class does not have.
        self._native = None

    def iter_on_sacks_to_process(self):
        """Sacks that hold measures, for greedy metricd workers.

        RADOS has no cheap push notification for omap writes (watch/notify
        would make every API write wait for every watcher), so this polls:
        one batched omap read over all sacks per POLL_SECONDS. A sack stays
        reported until it is processed."""
        sacks = list(self.iter_sacks())
        names = [str(s) for s in sacks]
        while True:
            native = self._native
            if native is None:  # stopped
                return
            flags = native.sacks_with_measures(names)
            for sack, pending in zip(sacks, flags):
                if pending:
                    yield sack
            time.sleep(self.POLL_SECONDS)

    def _native_incoming(self):
        return self._native

    def _get_storage_sacks(self):
        (config,) = self.rados.read([self.CFG_PREFIX])
        if config is None:
            raise LookupError("no %s object in pool %s"
                              % (self.CFG_PREFIX, self.rados.name))
        return json.loads(config.decode())[self.CFG_SACKS]

    def set_storage_settings(self, num_sacks):
        self.rados.write_full(
            self.CFG_PREFIX, json.dumps({self.CFG_SACKS: num_sacks}).encode())

    def remove_sacks(self):
        self.rados.remove([str(sack) for sack in self.iter_sacks()])


__all__ = ["CephStorage", "FileStorage", "RedisStorage"]
