"""``gnocchi-rs metricd``: Gnocchi's metric daemon with our sack path.

Each processing worker loops over the sacks it owns and processes one sack
per call chain: take the sack's lock, read the whole sack natively, run
the metricd pipeline of all its metrics natively in one call (which also
makes the indexer updates of the batch in one statement), and only then
delete the measures it read.

It cooperates with upstream's ``gnocchi-metricd`` on the same data: the
workers join upstream's tooz group, share the sacks out on the same hash
ring (``gnocchi_rs.hashring``) and take upstream's sack locks, so both
kinds of workers can run side by side. The janitor and the backlog report
are upstream's services, which already go through our drivers.
"""
from __future__ import annotations

import hashlib
import logging
import random
import threading
import time

import cotyledon
import tooz
from tooz import coordination
from cotyledon import oslo_config_glue
from gnocchi import chef
from gnocchi import exceptions as gnocchi_exceptions
from gnocchi import utils
from gnocchi.cli import metricd as upstream_metricd

from gnocchi_rs import hashring
from gnocchi_rs import indexer_batch

LOG = logging.getLogger("gnocchi.rs.metricd")

GROUP_ID = upstream_metricd.MetricProcessor.GROUP_ID


def sack_lock_name(sack) -> bytes:
    """Upstream's lock name for a sack (``Chef.get_sack_lock``): hashed
    because some tooz backends limit the length of lock names."""
    name = ("gnocchi-sack-%s-lock" % sack).encode()
    return hashlib.sha1(name).hexdigest().encode()


class LostSackLock(Exception):
    def __init__(self, sack):
        super().__init__("lost the lock of sack %s while processing it; its "
                         "measures stay for the next pass" % sack)


def _still_owned(lock):
    """False only when the backend says the lock is someone else's now
    (backends that cannot tell are trusted, as upstream does)."""
    try:
        return lock.is_still_owner()
    except (NotImplementedError, tooz.NotImplemented):
        return True


class SackProcessor:
    """Processes the new measures of one sack, whole."""

    def __init__(self, coord, incoming, index, storage):
        self.coord = coord
        self.incoming = incoming
        self.index = index
        self.storage = storage

    def process(self, sack, blocking=False, before_reading=None) -> int:
        """Returns the number of metrics processed; raises
        ``chef.SackAlreadyLocked`` when another worker holds the sack."""
        lock = self.coord.get_lock(sack_lock_name(sack))
        if not lock.acquire(blocking=blocking):
            raise chef.SackAlreadyLocked(sack)
        try:
            if before_reading is not None:
                before_reading(sack)
            # The measures are deleted when this block exits without an
            # exception, that is once their aggregates are stored.
            with self.incoming.process_measures_for_sack(sack) as measures:
                if not measures:
                    return 0
                # Metrics deleted since their measures came in are not
                # listed; their measures go with the sack, as upstream's.
                metrics = indexer_batch.active_metrics(self.index, measures)
                self.storage.add_measures_to_metrics(
                    {metric: measures[metric.id] for metric in metrics},
                    self.index)
                # A lock whose lease expired (lost heartbeat) may be held by
                # another worker now: keep the measures (they are processed
                # again, harmlessly) rather than delete what it may be
                # reading too.
                if not _still_owned(lock):
                    raise LostSackLock(sack)
                if len(metrics) < len(measures):
                    LOG.debug("Sack %s: dropped the measures of %d deleted "
                              "metrics", sack, len(measures) - len(metrics))
                return len(metrics)
        finally:
            lock.release()


class SackAssignment:
    """The sacks a worker owns on the group's hash ring, refreshed at most
    once per ``ttl`` seconds (upstream caches them as long)."""

    def __init__(self, coord, all_sacks, replicas, ttl):
        self.coord = coord
        self.member_id = hashring.as_bytes(coord._member_id)
        self.all_sacks = all_sacks
        self.replicas = replicas
        self.ttl = ttl
        self.partitioned = False
        self._weights = {}
        self._owned = []
        self._members = None
        self._refreshed_at = None
        self._lock = threading.Lock()

    def join(self):
        """Joins the processing group; False when the coordination backend
        has no groups (then every worker tries every sack)."""
        try:
            self.coord.join_group_create(GROUP_ID, capabilities={"weight": 1})
        except coordination.MemberAlreadyExist:
            pass
        except tooz.NotImplemented:
            LOG.warning("Coordinator does not support partitioning: every "
                        "worker will compete for every sack.")
            return False
        self.partitioned = True
        LOG.info("Joined coordination group: %s", GROUP_ID.decode())
        return True

    def sacks(self):
        """The sacks to scan: ours, or all of them when the ring gives us
        none (as upstream, e.g. more workers than sacks or not yet seen
        as a member)."""
        with self._lock:
            stale = (self._refreshed_at is None or
                     time.monotonic() - self._refreshed_at >= self.ttl)
            if stale and self.partitioned:
                try:
                    self._refresh()
                except tooz.ToozError as e:
                    LOG.error("Unable to read the processing group, keeping "
                              "the previous sacks: %s", e)
                self._refreshed_at = time.monotonic()
            return self._owned or self.all_sacks

    def _refresh(self):
        members = {hashring.as_bytes(m)
                   for m in self.coord.get_members(GROUP_ID).get()}
        if members == self._members:
            return
        for member in members - set(self._weights):
            self._weights[member] = self._weight_of(member)
        for member in set(self._weights) - members:
            del self._weights[member]
        ring = hashring.HashRing(
            {m: self._weights[m] for m in members},
            partitions=hashring.GNOCCHI_PARTITIONS)
        self._owned = ring.owned_by(self.member_id, self.all_sacks,
                                    self.replicas)
        self._members = members
        LOG.info("%d members in the processing group; this worker owns "
                 "%d of %d sacks", len(members), len(self._owned),
                 len(self.all_sacks))

    def _weight_of(self, member):
        # As tooz's partitioner: read once, when the member is first seen.
        try:
            capabilities = self.coord.get_member_capabilities(
                GROUP_ID, member).get()
        except coordination.MemberNotJoined:
            return 1
        if isinstance(capabilities, dict):
            return capabilities.get("weight", 1)
        return 1


class ProcessingWorker(upstream_metricd.MetricProcessBase):
    """A metricd processing worker (upstream's run loop, shutdown and
    coordinator set-up; our sack assignment and sack processing)."""

    name = "processing"

    def __init__(self, worker_id, conf):
        super().__init__(worker_id, conf,
                         conf.metricd.metric_processing_delay)
        self._notified = set()
        self._statistics_supported = True
        self._last_full_scan = utils.StopWatch().start()

    def _configure(self):
        super()._configure()
        self.processor = SackProcessor(self.coord, self.incoming,
                                       self.indexer, self.store)
        self.assignment = SackAssignment(
            self.coord, list(self.incoming.iter_sacks()),
            self.conf.metricd.processing_replicas,
            self.conf.metricd.metric_processing_delay)
        self._join_group()
        if self.conf.metricd.greedy:
            listener = threading.Thread(target=self._listen_for_new_measures,
                                        name="sack-notifications",
                                        daemon=True)
            listener.start()

    def _join_group(self):
        delay = 1
        while not self._shutdown.is_set():
            try:
                self.assignment.join()
                return
            except tooz.ToozError as e:
                LOG.error("Unable to join the processing group, retrying in "
                          "%ds: %s", delay, e)
                self._shutdown.wait(delay)
                delay = min(delay * 2, 30)

    def _listen_for_new_measures(self):
        """Wakes the worker up as soon as one of its sacks gets measures,
        with drivers that notify (Redis); the others raise
        NotImplementedError and the worker scans on its period."""
        delay = 1
        while not self._shutdown.is_set():
            try:
                for sack in self.incoming.iter_on_sacks_to_process():
                    if sack in self.assignment.sacks():
                        self._notified.add(sack)
                        self.wakeup()
                    delay = 1
            except gnocchi_exceptions.NotImplementedError:
                LOG.info("Incoming driver does not notify new measures: "
                         "scanning sacks every %ds",
                         self.conf.metricd.metric_processing_delay)
                return
            except Exception:
                LOG.error("Error while listening for new measures "
                          "notifications, retrying in %ds", delay,
                          exc_info=True)
            # Failed, or the subscription ended: subscribe again.
            self._shutdown.wait(delay)
            delay = min(delay * 2, 30)

    def _publish_statistics(self):
        """What /v1/status shows of each worker, where the coordination
        backend keeps capabilities (not the file one)."""
        if not (self.assignment.partitioned and self._statistics_supported):
            return
        try:
            self.coord.update_capabilities(GROUP_ID, self.store.statistics)
        except tooz.NotImplemented:
            self._statistics_supported = False
        except tooz.ToozError as e:
            LOG.warning("Unable to publish worker statistics: %s", e)

    def _take_notification(self, sack):
        """Called with the sack's lock held, before reading it: a
        notification for measures that arrive from now on is a new one,
        not lost in the one this pass answers."""
        self._notified.discard(sack)
        self.incoming.finish_sack_processing(sack)

    def _run_job(self):
        owned = self.assignment.sacks()
        # Notified sacks first; all our sacks when nothing was notified or
        # when the last full scan is one period old, so nothing waits for
        # a notification that was missed.
        full_scan = self._last_full_scan.elapsed() >= self.interval_delay
        sacks = owned if full_scan else (list(self._notified) or owned)
        metrics = processed_sacks = 0
        # Workers sharing sacks (processing_replicas) meet on fewer locks
        # when they do not walk them in the same order.
        for sack in random.sample(sacks, len(sacks)):
            if self._shutdown.is_set():
                break
            try:
                metrics += self.processor.process(
                    sack, before_reading=self._take_notification)
            except chef.SackAlreadyLocked:
                continue
            except Exception:
                LOG.error("Unable to process the measures of sack %s; they "
                          "stay for the next pass", sack, exc_info=True)
                continue
            processed_sacks += 1
        LOG.debug("%d metrics processed from %d sacks", metrics,
                  processed_sacks)
        self._publish_statistics()
        if sacks is owned:
            self._last_full_scan.reset()


class MetricdServiceManager(cotyledon.ServiceManager):
    """Processing workers (ours), the backlog report and the janitor
    (upstream's), as upstream's ``gnocchi-metricd`` lays them out."""

    def __init__(self, conf):
        super().__init__()
        oslo_config_glue.setup(self, conf)
        self.conf = conf
        self.processing_id = self.add(ProcessingWorker, args=(conf,),
                                      workers=conf.metricd.workers)
        if conf.metricd.metric_reporting_delay >= 0:
            self.add(upstream_metricd.MetricReporting, args=(conf,))
        self.add(upstream_metricd.MetricJanitor, args=(conf,))
        self.register_hooks(on_reload=self._on_reload)

    def _on_reload(self):
        # Workers restart on SIGHUP: the number of workers may have changed.
        self.reconfigure(self.processing_id,
                         workers=self.conf.metricd.workers)


__all__ = ["MetricdServiceManager", "ProcessingWorker", "SackAssignment",
           "SackProcessor", "sack_lock_name"]
