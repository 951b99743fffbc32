"""Sacks shared between metricd workers, as upstream's workers share them:
upstream's lock names, upstream's tooz group and tooz's hash ring.

Loads no part of upstream Gnocchi, so that the lean sack worker
(``gnocchi_rs.sack_worker``) can use it.
"""
from __future__ import annotations

import hashlib
import logging
import random
import threading
import time

import tooz
from tooz import coordination

from gnocchi_rs import _native
from gnocchi_rs import hashring
from gnocchi_rs import pass_summary

LOG = logging.getLogger("gnocchi.rs.metricd")

# The rates a worker publishes next to upstream's statistics, over its
# last summary period.
MEASURES_RATE = "measures per second"
METRICS_RATE = "metrics per second"

# Upstream's ``MetricProcessor.GROUP_ID``.
GROUP_ID = b"gnocchi-processing"


def sack_lock_name(sack) -> bytes:
    """Upstream's lock name for a sack (``Chef.get_sack_lock``): hashed
    because some tooz backends limit the length of lock names."""
    name = ("gnocchi-sack-%s-lock" % sack).encode()
    return hashlib.sha1(name).hexdigest().encode()


class LostSackLock(Exception):
    def __init__(self, sack):
        super().__init__("lost the lock of sack %s while processing it; its "
                         "measures stay for the next pass" % sack)


def still_owned(lock):
    """False only when the backend says the lock is someone else's now
    (backends that cannot tell are trusted, as upstream does)."""
    try:
        return lock.is_still_owner()
    except (NotImplementedError, tooz.NotImplemented):
        return True


def process_sack(coord, sack, read, process, already_locked,
                 blocking=False, before_reading=None) -> int:
    """Processes a sack's new measures under its lock and returns what
    ``process(measures)`` returns (0 for a sack without measures).

    ``read(sack)`` is a context manager that gives the measures and
    deletes them when its block exits without an exception: they are
    deleted once processed, and only while the lock is still ours
    (at-least-once). Raises ``already_locked(sack)`` when another worker
    holds the sack, ``LostSackLock`` when the lock was lost meanwhile."""
    lock = coord.get_lock(sack_lock_name(sack))
    if not lock.acquire(blocking=blocking):
        raise already_locked(sack)
    try:
        if before_reading is not None:
            before_reading(sack)
        with read(sack) as measures:
            if not measures:
                return 0
            processed = process(measures)
            # A lock whose lease expired (lost heartbeat) may be held by
            # another worker now: keep the measures (they are processed
            # again, harmlessly) rather than delete what it may be
            # reading too.
            if not still_owned(lock):
                raise LostSackLock(sack)
            return processed
    finally:
        lock.release()


def coordinator_member_id(coord) -> bytes:
    """The member id a tooz coordinator was created with. tooz keeps it
    private (its own partitioner reads it the same way): pyproject.toml
    bounds tooz's version and tests/test_metricd.py checks its meaning."""
    return hashring.as_bytes(coord._member_id)


class Sack:
    """Upstream's ``incoming.Sack`` without upstream: its string is its
    name, which names its lock and places it on the hash ring."""

    __slots__ = ("number", "total", "name")

    def __init__(self, number, total):
        self.number, self.total = number, total
        self.name = "incoming%d-%d" % (total, number)

    def __str__(self):
        return self.name

    def __repr__(self):
        return "<Sack %s>" % self.name

    def __eq__(self, other):
        return isinstance(other, Sack) and other.name == self.name

    def __hash__(self):
        return hash(self.name)

    @classmethod
    def all(cls, total):
        """Every sack of a backend of ``total`` sacks."""
        return [cls(number, total) for number in range(total)]


class SackAssignment:
    """The sacks a worker owns on the group's hash ring, refreshed at most
    once per ``ttl`` seconds (upstream caches them as long)."""

    def __init__(self, coord, all_sacks, replicas, ttl):
        self.coord = coord
        self.member_id = coordinator_member_id(coord)
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
        # As tooz's partitioner builds it: members added as they join.
        ring = hashring.HashRing([], partitions=hashring.GNOCCHI_PARTITIONS)
        for member in members:
            ring.add_node(member, self._weights[member])
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


def backlog_reader(read_backlog):
    """A ``backlog`` for ``SackPasses.run`` from a driver's native
    ``backlog(sack names)``: one walk of the owned sacks before a pass. A
    failure to read it is no reason to skip the pass: every sack is then
    visited, as without a backlog."""
    def backlog(owned):
        try:
            found = read_backlog([str(sack) for sack in owned])
        except Exception as e:
            LOG.warning("Unable to read the backlog of the sacks, visiting "
                        "each: %s", e)
            return []
        return [(sack.number, blobs, oldest)
                for sack, (blobs, oldest) in zip(owned, found)]
    return backlog


class SackPasses:
    """The scheduling both processing workers share (gnocchi_rs.metricd's
    in-process one, gnocchi_rs.sack_worker's lean one): joining the group,
    the sacks notified since the last pass, a pass over the worker's sacks
    (notified ones first; all of them when nothing was notified or when the
    last full scan is ``interval`` old, so nothing waits for a notification
    that was missed), and the statistics shown by /v1/status."""

    def __init__(self, coord, assignment, interval, shutdown):
        self.coord = coord
        self.assignment = assignment
        self.interval = interval
        self.shutdown = shutdown
        self.notified = set()
        self._planner = _native.PassPlanner(interval)
        self._statistics_supported = True
        self._pass = (0, 0)
        self.summary = pass_summary.PassSummary()

    def join(self):
        delay = 1
        while not self.shutdown.is_set():
            try:
                self.assignment.join()
                return
            except tooz.ToozError as e:
                LOG.error("Unable to join the processing group, retrying in "
                          "%ds: %s", delay, e)
                self.shutdown.wait(delay)
                delay = min(delay * 2, 30)

    def notify(self, sack):
        """True when ``sack`` is one of ours: the worker should wake up."""
        if sack in self.assignment.sacks():
            self.notified.add(sack)
            return True
        return False

    def listen(self, notifications, wake_up):
        """Wakes the worker up (``wake_up()``) whenever ``notifications()``
        yields one of its sacks; subscribes again, backing off, when the
        subscription fails or ends. Exceptions ``notifications`` raises for
        "this backend does not notify" must be caught by it."""
        delay = 1
        while not self.shutdown.is_set():
            try:
                for sack in notifications():
                    if self.notify(sack):
                        wake_up()
                    delay = 1
            except Exception:
                LOG.error("Error while listening for new measures "
                          "notifications, retrying in %ds", delay,
                          exc_info=True)
            self.shutdown.wait(delay)
            delay = min(delay * 2, 30)

    def run(self, process, already_locked, backlog=None):
        """One pass, planned natively (``_native.PassPlanner``):
        ``process(sack)`` returns a number of metrics and raises
        ``already_locked`` for a sack another worker holds; ``backlog``,
        where the driver can tell, gives ``(sack number, blobs, oldest
        unix time or None)`` of the owned sacks so that the oldest go
        first and empty ones are skipped between full scans."""
        owned = self.assignment.sacks()
        by_number = {sack.number: sack for sack in owned}
        known = backlog(owned) if backlog is not None else []
        numbers, _ = self._planner.plan(
            time.monotonic(), list(by_number),
            # list() in one step: the listening thread adds meanwhile.
            [sack.number for sack in list(self.notified)], known,
            random.getrandbits(64))
        metrics = processed = 0
        for number in numbers:
            if self.shutdown.is_set():
                break
            sack = by_number[number]
            try:
                metrics += process(sack)
            except already_locked:
                continue
            except Exception:
                LOG.error("Unable to process the measures of sack %s; they "
                          "stay for the next pass", sack, exc_info=True)
                continue
            processed += 1
        LOG.debug("%d metrics processed from %d sacks", metrics, processed)
        self._pass = (metrics, processed)

    def after_pass(self, statistics):
        """The pass's statistics (the worker's, since it started) counted
        into its summary, and published with the summary's rates, which
        /v1/status sums into the processing rate and the drain estimate."""
        metrics, processed = self._pass
        self._pass = (0, 0)
        self.summary.add(metrics, processed,
                         statistics.get("processed measures", 0))
        published = dict(statistics)
        if self.summary.rates is not None:
            measures_rate, metrics_rate = self.summary.rates
            published[MEASURES_RATE] = round(measures_rate, 3)
            published[METRICS_RATE] = round(metrics_rate, 3)
        self.publish_statistics(published)

    def publish_statistics(self, statistics):
        """Where the coordination backend keeps capabilities (not the file
        one)."""
        if not (self.assignment.partitioned and self._statistics_supported):
            return
        try:
            self.coord.update_capabilities(GROUP_ID, statistics)
        except tooz.NotImplemented:
            self._statistics_supported = False
        except tooz.ToozError as e:
            LOG.warning("Unable to publish worker statistics: %s", e)


__all__ = ["GROUP_ID", "LostSackLock", "Sack", "SackAssignment",
           "SackPasses", "backlog_reader", "coordinator_member_id", "process_sack",
           "sack_lock_name", "still_owned"]
