"""The lean processing worker: upstream's loop (jittered start, a pass over
the worker's sacks, notified sacks first, a full scan at least every
``metric_processing_delay``), each sack processed whole and natively."""
from __future__ import annotations

import collections
import contextlib
import logging
import socket
import threading
import time
import uuid

import tooz
from tooz import coordination

from gnocchi_rs import batch_outcomes
from gnocchi_rs import sacks as sack_sharing
from gnocchi_rs.sack_worker import backends
from gnocchi_rs.sack_worker import index as lean_index
from gnocchi_rs.sack_worker import revive
from gnocchi_rs.sack_worker import settings as schema

LOG = logging.getLogger("gnocchi.rs.metricd")


class SackAlreadyLocked(Exception):
    pass


class HeldMeasures:
    """A sack's measures as the native core holds them (never copied into
    Python objects) and the metric ids they are for."""

    __slots__ = ("held", "ids")

    def __init__(self, held, ids):
        self.held, self.ids = held, ids

    def __len__(self):
        return len(self.ids)


class LeanSackProcessor:
    """Processes the new measures of one sack, whole (the lean form of
    ``gnocchi_rs.metricd.SackProcessor``)."""

    def __init__(self, coord, incoming, storage, index, revive_resources):
        self.coord = coord
        self.incoming = incoming
        self.storage = storage
        self.index = index
        self.revive_resources = revive_resources
        self.statistics = collections.Counter()

    def process(self, sack, blocking=False, before_reading=None) -> int:
        """Returns the number of metrics processed; raises
        ``SackAlreadyLocked`` when another worker holds the sack."""
        return sack_sharing.process_sack(
            self.coord, sack, self._read, self._process, SackAlreadyLocked,
            blocking, before_reading)

    @contextlib.contextmanager
    def _read(self, sack):
        read = self.incoming.read_sack_held(str(sack))
        for where, why in read.corrupt:
            LOG.error("Unable to decode measures %s, possible data "
                      "corruption; set aside: %s", where, why)
        yield HeldMeasures(read.measures, read.metric_ids)
        self.incoming.delete_processed(read.receipt)

    def _process(self, measures):
        metrics = self.index.active_metrics(
            [str(uuid.UUID(bytes=i)) for i in measures.ids])
        # Metrics deleted since their measures came in are not listed;
        # their measures go with the sack, as upstream's.
        result = self.storage.process_held(
            measures.held,
            [(uuid.UUID(m.id).bytes, m.policy) for m in metrics])
        newest = batch_outcomes.account(self.statistics, metrics, result)
        to_revive = self.index.update_after_processing(newest)
        if to_revive:
            self.revive_resources(to_revive)
        return len(metrics)


class LeanWorker:
    """A processing worker; ``settings``: a ``settings.Worker`` or its
    wire form."""

    def __init__(self, settings):
        self.settings = schema.from_wire(settings)
        self.worker_id = int(self.settings.worker_id)
        self.interval = float(self.settings.metric_processing_delay)
        self._shutdown = threading.Event()
        self._wake_up = threading.Event()
        self.coord = None
        self.processor = None
        self.assignment = None

    # -- set-up

    def configure(self):
        incoming_settings = self.settings.incoming
        # The backends first: a failed attempt leaves no coordinator (and
        # its connection and heartbeat) behind.
        self.incoming = backends.open_incoming(incoming_settings)
        storage = backends.open_storage(self.settings.storage)
        self.sacks = sack_sharing.Sack.all(int(incoming_settings.sacks))
        member_id = ("%s.%s.%s" % (socket.gethostname(), self.worker_id,
                                   uuid.uuid4())).encode()
        self.coord = coordination.get_coordinator(
            self.settings.coordination_url, member_id)
        self.coord.start(start_heart=True)
        self.index = lean_index.open_index(self.settings.indexer_url)
        self.processor = LeanSackProcessor(
            self.coord, self.incoming, storage, self.index,
            lambda resources: revive.revive_resources(self.settings,
                                                      resources))
        self.assignment = sack_sharing.SackAssignment(
            self.coord, self.sacks, int(self.settings.processing_replicas),
            self.interval)
        self.passes = sack_sharing.SackPasses(
            self.coord, self.assignment, self.interval, self._shutdown)
        # The file backend notifies nothing: its passes skip empty sacks
        # and take the oldest first. Redis notifies; Ceph is polled.
        self._backlog = (sack_sharing.backlog_reader(self.incoming.backlog)
                         if incoming_settings.kind == "file" else None)

    # -- notifications

    def _listen_for_new_measures(self):
        """Wakes the worker up when one of its sacks gets measures: Redis
        keyspace notifications (upstream's), Ceph polling; the file
        backend has none and the worker scans on its period."""
        self.passes.listen(
            self._redis_notifications
            if self.settings.incoming.kind == "redis"
            else self._ceph_polls, self._wake_up.set)

    def _redis_client(self):
        import redis
        connection = self.settings.incoming.connection
        return redis.Redis(**{k: v for k, v in connection.items()
                              if v is not None})

    def _redis_notifications(self):
        client = self._redis_client()
        client.config_set("notify-keyspace-events", "K$")
        pubsub = client.pubsub()
        db = int(self.settings.incoming.connection.get("db") or 0)
        total = len(self.sacks)
        pattern = ("__keyspace@%d__:incoming%d-*" % (db, total)).encode()
        pubsub.psubscribe(pattern)
        try:
            while not self._shutdown.is_set():
                message = pubsub.get_message(timeout=1.0)
                if (message and message["type"] == "pmessage"
                        and message["pattern"] == pattern):
                    number = int(message["channel"].split(b"-")[-1])
                    if 0 <= number < total:
                        yield self.sacks[number]
        finally:
            pubsub.close()

    def _ceph_polls(self):
        names = [str(s) for s in self.sacks]
        while not self._shutdown.is_set():
            flags = self.incoming.sacks_with_measures(names)
            for sack, pending in zip(self.sacks, flags):
                if pending:
                    yield sack
            self._shutdown.wait(1.0)

    def _take_notification(self, sack):
        """With the sack's lock held, before reading it: a notification
        for measures that arrive from now on is a new one."""
        self.passes.notified.discard(sack)
        if self.settings.incoming.kind == "redis":
            self._redis_sack_keys.delete(str(sack))

    # -- the loop

    def run_once(self):
        self.passes.run(
            lambda sack: self.processor.process(
                sack, before_reading=self._take_notification),
            SackAlreadyLocked, self._backlog)
        self.passes.after_pass(dict(self.processor.statistics))

    def stop(self):
        self._shutdown.set()
        self._wake_up.set()

    def run(self):
        delay = 1
        while not self._shutdown.is_set():
            try:
                self.configure()
                break
            except Exception:
                LOG.error("Unable to start the processing worker, retrying "
                          "in %ds", delay, exc_info=True)
                self._shutdown.wait(delay)
                delay = min(delay * 2, 30)
        if self._shutdown.is_set():
            return
        self.passes.join()
        kind = self.settings.incoming.kind
        if kind == "redis":
            self._redis_sack_keys = self._redis_client()
        if self.settings.greedy and kind in ("redis", "ceph"):
            threading.Thread(target=self._listen_for_new_measures,
                             name="sack-notifications", daemon=True).start()
        # Jittered start, as upstream's workers.
        self._shutdown.wait(self.worker_id)
        try:
            while not self._shutdown.is_set():
                started = time.monotonic()
                try:
                    self.run_once()
                except Exception:
                    LOG.error("Unexpected error during processing job",
                              exc_info=True)
                self._wake_up.wait(max(0.0, self.interval
                                       - (time.monotonic() - started)))
                self._wake_up.clear()
        finally:
            self.index.close()
            try:
                self.coord.stop()
            except tooz.ToozError:
                pass
