"""``gnocchi-rs metricd``'s lean processing worker.

A processing worker only needs a sack's lock, the sack's measures, the
archive policies of its metrics and three indexer statements; upstream's
stack (its SQLAlchemy indexer, numpy, its drivers) is half of a worker's
memory and none of that work. ``gnocchi-rs metricd`` therefore resolves
its configuration and drivers with upstream's code in the forked worker,
then replaces that process (``exec``) with this module, which loads only
tooz, the database client and the native core:

* the measures of a sack stay native from the read to the write
  (``read_sack_held`` / ``process_held``), and are deleted only once
  their aggregates are stored and the indexer updated (at-least-once);
* the indexer is PostgreSQL, through psycopg2: one lookup per sack and
  one transaction for the updates that follow processing, with the
  effects of upstream's ``update_last_measure_timestamp``,
  ``update_needs_raw_data_truncation`` and resource revival; reviving a
  resource keeps its history, so it goes through upstream's indexer in a
  short-lived process (a rare event: a resource that ended gets measures);
* sack locks, the processing group and the hash ring are upstream's
  (``gnocchi_rs.sacks``), so it shares the sacks with upstream's workers.

Other setups (another indexer, a driver that is not ``rs-*``) keep the
in-process worker of ``gnocchi_rs.metricd``.
"""
from __future__ import annotations

import collections
import ctypes
import datetime
import json
import logging
import logging.handlers
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import tooz
from tooz import coordination

from gnocchi_rs import _native
from gnocchi_rs import batch_outcomes
from gnocchi_rs import sacks as sack_sharing

LOG = logging.getLogger("gnocchi.rs.metricd")

_PR_SET_PDEATHSIG = 1


class SackAlreadyLocked(Exception):
    pass


class Sack:
    """Upstream's ``incoming.Sack``: its string is its name, which names
    its lock and places it on the hash ring."""

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


# -- archive policies ---------------------------------------------------------

def _item_ns(item):
    """(granularity, timespan) in ns of a stored definition item, as
    upstream's ``ArchivePolicyItem(**item)`` computes them."""
    granularity = int(item["granularity"] * 10e8)
    points, timespan = item.get("points"), item.get("timespan")
    if points is not None:
        return granularity, granularity * int(points)
    if timespan is None:
        return granularity, None
    points = int(int(timespan * 10e8) / granularity)
    return granularity, granularity * points


def policy_spec(back_window, definition, methods):
    """The native policy tuple of a stored archive policy (its methods
    exactly as stored, as upstream's indexer hands them out)."""
    items = sorted((_item_ns(d) for d in definition or ()),
                   key=lambda gt: gt[0])
    methods = sorted(methods or ())
    aggregations = [(m, g, ts) for g, ts in items for m in methods]
    if any(m.startswith("rate:") for m in methods):
        # One more block so that the first rate of a block has a
        # predecessor (upstream does the same).
        back_window += 1
    block_size = items[-1][0] if items else None
    return aggregations, methods, block_size, back_window


# -- the indexer --------------------------------------------------------------

class LeanMetric:
    __slots__ = ("id", "resource_id", "needs_raw_data_truncation", "policy")

    def __init__(self, metric_id, resource_id, needs_truncation, policy):
        self.id = metric_id
        self.resource_id = resource_id
        self.needs_raw_data_truncation = needs_truncation
        self.policy = policy


def _json(value):
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def libpq_url(url):
    """A SQLAlchemy PostgreSQL URL as libpq reads it."""
    scheme, sep, rest = url.partition("://")
    return scheme.partition("+")[0] + sep + rest


class PostgresIndex:
    """The indexer statements of a processing worker, on PostgreSQL."""

    LOOKUP = (
        "SELECT m.id::text, m.resource_id::text, "
        "m.needs_raw_data_truncation, p.back_window, p.definition, "
        "p.aggregation_methods "
        "FROM metric AS m JOIN archive_policy AS p "
        "ON m.archive_policy_name = p.name "
        "WHERE m.id = ANY(%s::uuid[]) AND m.status = 'active'")
    UPDATE = (
        "UPDATE metric SET last_measure_timestamp = %s, "
        "needs_raw_data_truncation = CASE WHEN id = ANY(%s::uuid[]) "
        "THEN false ELSE needs_raw_data_truncation END "
        "WHERE id = ANY(%s::uuid[])")
    ENDED = (
        "SELECT id::text, type, ended_at FROM resource "
        "WHERE id = ANY(%s::uuid[]) AND ended_at IS NOT NULL")

    def __init__(self, url):
        self.url = libpq_url(url)
        self._connection = None

    def _cursor(self):
        import psycopg2
        if self._connection is None or self._connection.closed:
            # A partitioned network must not hang a worker that holds a
            # sack's lock: keepalives end a dead connection.
            self._connection = psycopg2.connect(
                self.url, connect_timeout=30, keepalives=1,
                keepalives_idle=60, keepalives_interval=10,
                keepalives_count=3)
            self._connection.autocommit = True
        return self._connection.cursor()

    def _run(self, work):
        """Runs ``work(cursor)``; a broken connection is dropped (the next
        call reconnects) and the error raised, so that the sack is
        processed again on the next pass."""
        import psycopg2
        try:
            with self._cursor() as cursor:
                return work(cursor)
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            self.close()
            raise

    def close(self):
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None

    def active_metrics(self, metric_ids):
        """The active metrics among ``metric_ids`` (uuid strings) and the
        native policy tuples they point into."""
        rows = self._run(lambda c: (c.execute(self.LOOKUP, (metric_ids,)),
                                    c.fetchall())[1])
        policies, index_of, metrics = [], {}, []
        for (metric_id, resource_id, needs_truncation, back_window,
             definition, methods) in rows:
            spec = policy_spec(back_window, _json(definition), _json(methods))
            key = repr(spec)
            if key not in index_of:
                index_of[key] = len(policies)
                policies.append(spec)
            metrics.append(LeanMetric(metric_id, resource_id,
                                      needs_truncation, index_of[key]))
        return metrics, policies

    def update_after_processing(self, newest_by_metric):
        """``newest_by_metric``: {LeanMetric: newest new measure, ns}.
        Returns the ended resources that one of these measures postdates:
        ``[(resource id, type, ended_at, newest)]``; the others are logged
        as upstream logs them."""
        if not newest_by_metric:
            return []
        ids = [m.id for m in newest_by_metric]
        truncated = [m.id for m in newest_by_metric
                     if m.needs_raw_data_truncation]
        newest_by_resource = batch_outcomes.newest_by_resource(
            newest_by_metric)
        now = datetime.datetime.now(datetime.timezone.utc).replace(
            tzinfo=None)

        def work(cursor):
            cursor.execute("BEGIN")
            try:
                cursor.execute(self.UPDATE, (now, truncated, ids))
                ended = []
                if newest_by_resource:
                    cursor.execute(self.ENDED, (list(newest_by_resource),))
                    ended = cursor.fetchall()
                cursor.execute("COMMIT")
            except BaseException:
                if not cursor.connection.closed:
                    cursor.execute("ROLLBACK")
                raise
            return ended

        to_revive = []
        for resource_id, resource_type, ended_at in self._run(work):
            newest = (datetime.datetime(1970, 1, 1)
                      + datetime.timedelta(
                          microseconds=newest_by_resource[resource_id]
                          // 1000))
            if ended_at > newest:
                LOG.info("Resource [%s] ended at [%s], after the newest new "
                         "measure [%s]: not restoring it.",
                         resource_id, ended_at, newest)
            else:
                LOG.info("Resource [%s] ended at [%s] but received a measure "
                         "at [%s]: restoring it.", resource_id, ended_at,
                         newest)
                to_revive.append((resource_id, resource_type))
        return to_revive


def revive_resources(settings, resources):
    """Sets ``ended_at`` back to null through upstream's indexer (which
    keeps the resource's history), in a process of its own so that this
    worker never loads it. Raises when that fails: the sack's measures then
    stay for the next pass."""
    # On stdin: the URL may hold a password (argv is world-readable).
    request = json.dumps({"indexer_url": settings["indexer_url"],
                          "config_args": settings.get("config_args", []),
                          "resources": resources})
    subprocess.run([sys.executable, "-m", "gnocchi_rs.sack_worker",
                    "--revive"], check=True, input=request.encode(),
                   timeout=300)


def _revive_main(request):
    # The URL the worker used, even when no configuration file names it
    # (the option is required); set in this process only, after start.
    os.environ["GNOCCHI_INDEXER_URL"] = request["indexer_url"]
    from oslo_config import cfg
    from gnocchi import indexer, service
    conf = service.prepare_service(args=request["config_args"],
                                   conf=cfg.ConfigOpts(), log_to_std=True)
    conf.set_override("url", request["indexer_url"], "indexer")
    index = indexer.get_driver(conf)
    for resource_id, resource_type in request["resources"]:
        index.update_resource(resource_type, uuid.UUID(resource_id),
                              ended_at=None)


# -- backends -----------------------------------------------------------------

def _redis_connection(settings):
    return _native.RedisConnection(**settings["connection"])


_RADOS_POOLS = {}


def _rados_pool(settings):
    """One connection per pool and credentials: incoming and storage
    usually share theirs (each librados connection has its own threads
    and caches)."""
    key = json.dumps(settings["ceph"], sort_keys=True)
    if key not in _RADOS_POOLS:
        options = dict(settings["ceph"])
        _RADOS_POOLS[key] = _native.RadosPool(options.pop("pool"), **options)
    return _RADOS_POOLS[key]


def open_incoming(settings):
    kind = settings["kind"]
    if kind == "file":
        return _native.NativeIncoming.file(settings["basepath"])
    if kind == "redis":
        return _native.NativeIncoming.redis(_redis_connection(settings))
    if kind == "ceph":
        return _native.NativeIncoming.ceph(_rados_pool(settings))
    raise ValueError("unknown incoming backend %r" % kind)


def open_storage(settings):
    kind = settings["kind"]
    if kind == "file":
        return _native.NativeStorage.file(settings["basepath"],
                                          int(settings["subdir_len"]))
    if kind == "redis":
        return _native.NativeStorage.redis(
            _redis_connection(settings), settings["prefix"].encode("latin-1"))
    if kind == "ceph":
        return _native.NativeStorage.ceph(_rados_pool(settings))
    raise ValueError("unknown storage backend %r" % kind)


# -- processing a sack --------------------------------------------------------

class LeanSackProcessor:
    """Processes the new measures of one sack, whole (the lean form of
    ``gnocchi_rs.metricd.SackProcessor``)."""

    def __init__(self, coord, incoming, storage, index, revive):
        self.coord = coord
        self.incoming = incoming
        self.storage = storage
        self.index = index
        self.revive = revive
        self.statistics = collections.Counter()

    def process(self, sack, blocking=False, before_reading=None) -> int:
        """Returns the number of metrics processed; raises
        ``SackAlreadyLocked`` when another worker holds the sack."""
        lock = self.coord.get_lock(sack_sharing.sack_lock_name(sack))
        if not lock.acquire(blocking=blocking):
            raise SackAlreadyLocked(sack)
        try:
            if before_reading is not None:
                before_reading(sack)
            held, ids, receipt, corrupt = self.incoming.read_sack_held(
                str(sack))
            for where, why in corrupt:
                LOG.error("Unable to decode measures %s, possible data "
                          "corruption; set aside: %s", where, why)
            processed = self._process(held, ids) if ids else 0
            # Another worker may hold the lock now if our lease expired:
            # keep the measures (processed again, harmlessly) rather than
            # delete what it may be reading too.
            if ids and not sack_sharing.still_owned(lock):
                raise sack_sharing.LostSackLock(sack)
            self.incoming.delete_processed(receipt)
            return processed
        finally:
            lock.release()

    def _process(self, held, ids):
        metrics, policies = self.index.active_metrics(
            [str(uuid.UUID(bytes=bytes(i))) for i in ids])
        # Metrics deleted since their measures came in are not listed;
        # their measures go with the sack, as upstream's.
        outcomes, timings = self.storage.process_held(
            policies, held,
            [(uuid.UUID(m.id).bytes, m.policy) for m in metrics])
        newest = batch_outcomes.account(self.statistics, metrics, outcomes,
                                        timings)
        to_revive = self.index.update_after_processing(newest)
        if to_revive:
            self.revive(to_revive)
        return len(metrics)


# -- the worker ---------------------------------------------------------------

class LeanWorker:
    """A processing worker: upstream's loop (jittered start, a pass over
    the worker's sacks, notified sacks first, a full scan at least every
    ``metric_processing_delay``)."""

    def __init__(self, settings):
        self.settings = settings
        self.worker_id = int(settings.get("worker_id", 0))
        self.interval = float(settings["metric_processing_delay"])
        self._shutdown = threading.Event()
        self._wake_up = threading.Event()
        self.coord = None
        self.processor = None
        self.assignment = None

    # -- set-up

    def configure(self):
        incoming_settings = self.settings["incoming"]
        # The backends first: a failed attempt leaves no coordinator (and
        # its connection and heartbeat) behind.
        self.incoming = open_incoming(incoming_settings)
        storage = open_storage(self.settings["storage"])
        self.sacks = Sack.all(int(incoming_settings["sacks"]))
        member_id = ("%s.%s.%s" % (socket.gethostname(), self.worker_id,
                                   uuid.uuid4())).encode()
        self.coord = coordination.get_coordinator(
            self.settings["coordination_url"], member_id)
        self.coord.start(start_heart=True)
        self.index = PostgresIndex(self.settings["indexer_url"])
        self.processor = LeanSackProcessor(
            self.coord, self.incoming, storage, self.index,
            lambda resources: revive_resources(self.settings, resources))
        self.assignment = sack_sharing.SackAssignment(
            self.coord, self.sacks,
            int(self.settings.get("processing_replicas", 1)), self.interval)
        self.passes = sack_sharing.SackPasses(
            self.coord, self.assignment, self.interval, self._shutdown)

    # -- notifications

    def _listen_for_new_measures(self):
        """Wakes the worker up when one of its sacks gets measures: Redis
        keyspace notifications (upstream's), Ceph polling; the file
        backend has none and the worker scans on its period."""
        self.passes.listen(
            self._redis_notifications
            if self.settings["incoming"]["kind"] == "redis"
            else self._ceph_polls, self._wake_up.set)

    def _redis_client(self):
        import redis
        settings = dict(self.settings["incoming"]["connection"])
        return redis.Redis(**{k: v for k, v in settings.items()
                              if v is not None})

    def _redis_notifications(self):
        client = self._redis_client()
        client.config_set("notify-keyspace-events", "K$")
        pubsub = client.pubsub()
        db = int(self.settings["incoming"]["connection"].get("db") or 0)
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
        if self.settings["incoming"]["kind"] == "redis":
            self._redis_sack_keys.delete(str(sack))

    # -- the loop

    def run_once(self):
        self.passes.run(
            lambda sack: self.processor.process(
                sack, before_reading=self._take_notification),
            SackAlreadyLocked)
        self.passes.publish_statistics(dict(self.processor.statistics))

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
        kind = self.settings["incoming"]["kind"]
        if kind == "redis":
            self._redis_sack_keys = self._redis_client()
        if self.settings.get("greedy", True) and kind in ("redis", "ceph"):
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


class LeanReporter:
    """Upstream's backlog report (``MetricReporting``): every
    ``metric_reporting_delay`` seconds, how many measures wait in how many
    metrics, logged as upstream logs it."""

    log = logging.getLogger("gnocchi.cli.metricd")

    def __init__(self, settings):
        self.settings = settings
        self.interval = float(settings["metric_reporting_delay"])
        self._shutdown = threading.Event()

    def report_once(self):
        incoming = self.incoming
        sacks = Sack.all(int(self.settings["incoming"]["sacks"]))
        try:
            counts = incoming.report([str(sack) for sack in sacks])
        except Exception:
            self.log.warning("Unable to compute backlog. Retrying at next "
                             "interval.", exc_info=True)
            return None
        measures = sum(n for _, n in counts)
        self.log.info("%d measurements bundles across %d metrics wait to be "
                      "processed.", measures, len(counts))
        return measures, len(counts)

    def stop(self):
        self._shutdown.set()

    def run(self):
        delay = 1
        while not self._shutdown.is_set():
            try:
                self.incoming = open_incoming(self.settings["incoming"])
                break
            except Exception:
                self.log.error("Unable to reach the incoming backend, "
                               "retrying in %ds", delay, exc_info=True)
                self._shutdown.wait(delay)
                delay = min(delay * 2, 30)
        while not self._shutdown.is_set():
            started = time.monotonic()
            self.report_once()
            self._shutdown.wait(max(0.0, self.interval
                                    - (time.monotonic() - started)))


# -- the process --------------------------------------------------------------

def _setup_logging(settings):
    """The daemon's outputs: its file (reopened after logrotate, as
    daiquiri's), stderr, syslog and journald (through daiquiri, loaded
    only for those)."""
    logging_settings = settings.get("logging", {})
    formatter = logging.Formatter(
        "%(asctime)s [%(process)d] %(levelname)-8.8s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(logging_settings.get("level", logging.WARNING))
    # Upstream logs its own modules one level up from the others.
    logging.getLogger("gnocchi").setLevel(
        logging_settings.get("gnocchi_level", logging.INFO))
    handlers = []
    if logging_settings.get("file"):
        handlers.append(logging.handlers.WatchedFileHandler(
            logging_settings["file"]))
    if logging_settings.get("stderr", not handlers):
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    if logging_settings.get("syslog_facility") or \
            logging_settings.get("journal"):
        import daiquiri.output
        if logging_settings.get("syslog_facility"):
            daiquiri.output.Syslog(
                facility=logging_settings["syslog_facility"]).add_to_logger(
                    root)
        if logging_settings.get("journal"):
            daiquiri.output.Journal().add_to_logger(root)


def _die_with(parent_pid):
    """The worker ends when the metricd master does (cotyledon's own
    watch does not survive ``exec``). Linux ties this to the thread that
    forked the worker, cotyledon's supervisor thread, which lives as long
    as the master."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        LOG.warning("Cannot ask to be stopped with the metricd master")
    if parent_pid and os.getppid() != parent_pid:
        sys.exit(0)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--revive"]:
        return _revive_main(json.loads(sys.stdin.buffer.read()))
    if argv[:1] != ["--settings-fd"]:
        sys.exit("usage: python -m gnocchi_rs.sack_worker --settings-fd FD")
    with os.fdopen(int(argv[1]), "rb") as source:
        settings = json.loads(source.read())
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    # cotyledon arms an alarm when it stops a worker: one still pending
    # means the stop came just before the exec.
    if signal.alarm(0):
        return 0
    _setup_logging(settings)
    if settings.get("role") == "reporting":
        worker = LeanReporter(settings)
    else:
        worker = LeanWorker(settings)

    # SIGTERM: stop; SIGHUP: stop too, cotyledon starts the worker again
    # with the reloaded configuration. The handler only writes to a pipe:
    # a handler runs in the main thread wherever it was interrupted, so one
    # that took a lock (an Event's, logging's) could wait on the very lock
    # the interrupted code, or the previous handler, holds, for good.
    stop_read, stop_write = os.pipe()
    os.set_blocking(stop_write, False)

    def on_stop_signal(signum, _frame):
        # One stop is enough: the next ones are dropped by the kernel
        # rather than nest handlers.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        try:
            os.write(stop_write, bytes([signum]))
        except BlockingIOError:  # a stop is already on its way
            pass

    def stop_when_signalled():
        signum = os.read(stop_read, 1)[0]
        LOG.info("Caught %s, finishing the current sack",
                 signal.Signals(signum).name)
        worker.stop()

    threading.Thread(target=stop_when_signalled, name="stop-signals",
                     daemon=True).start()
    signal.signal(signal.SIGTERM, on_stop_signal)
    signal.signal(signal.SIGHUP, on_stop_signal)
    signal.signal(signal.SIGINT, lambda *_: os._exit(1))
    _die_with(settings.get("parent_pid"))
    if isinstance(worker, LeanWorker):
        LOG.info("Lean processing worker %d started", worker.worker_id)
    else:
        LOG.info("Lean backlog report started")
    worker.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
