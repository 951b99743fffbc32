"""``gnocchi-rs metricd``: Gnocchi's metric daemon with our sack path.

Each processing worker loops over the sacks it owns and processes one sack
per call chain: take the sack's lock, read the whole sack natively, run
the metricd pipeline of all its metrics natively in one call (which also
makes the indexer updates of the batch in one statement), and only then
delete the measures it read.

It cooperates with upstream's ``gnocchi-metricd`` on the same data: the
workers join upstream's tooz group, share the sacks out on the same hash
ring (``gnocchi_rs.hashring``) and take upstream's sack locks, so both
kinds of workers can run side by side. The janitor is upstream's service,
which already goes through our drivers.

Where the setup allows it (PostgreSQL, ``rs-*`` drivers), a processing
worker and the backlog report replace their forked process with a lean one
(``gnocchi_rs.sack_worker``), sending it ``sack_worker.settings``. Both
kinds of processing workers go through one sack sequence,
``gnocchi_rs.sacks.process_sack``.
"""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
import threading

import cotyledon
from cotyledon import oslo_config_glue
from gnocchi import chef
from gnocchi import exceptions as gnocchi_exceptions
from gnocchi.cli import metricd as upstream_metricd

from gnocchi_rs import indexer_batch
from gnocchi_rs import sacks as sack_sharing
from gnocchi_rs.sack_worker import settings as lean_schema
from gnocchi_rs.sacks import GROUP_ID, SackAssignment, sack_lock_name

LOG = logging.getLogger("gnocchi.rs.metricd")

assert GROUP_ID == upstream_metricd.MetricProcessor.GROUP_ID


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
        # The driver deletes the measures when the block that reads them
        # exits without an exception.
        return sack_sharing.process_sack(
            self.coord, sack, self.incoming.process_measures_for_sack,
            lambda measures: self._process(sack, measures),
            chef.SackAlreadyLocked, blocking, before_reading)

    def _process(self, sack, measures):
        # Metrics deleted since their measures came in are not listed;
        # their measures go with the sack, as upstream's.
        metrics = indexer_batch.active_metrics(self.index, measures)
        self.storage.add_measures_to_metrics(
            {metric: measures[metric.id] for metric in metrics}, self.index)
        if len(metrics) < len(measures):
            LOG.debug("Sack %s: dropped the measures of %d deleted metrics",
                      sack, len(measures) - len(metrics))
        return len(metrics)


# -- the lean processes -------------------------------------------------------

def _native_backend(driver, group_conf, classes, **extra):
    """The native backend of one of our drivers (``classes``: our driver
    class of each backend kind) as ``lean_schema.Backend``; None for
    another driver."""
    kind = next((k for k, cls in classes if isinstance(driver, cls)), None)
    if kind == "file":
        return lean_schema.Backend(kind, basepath=os.fspath(driver.basepath),
                                   **extra)
    if kind == "redis":
        from gnocchi.common import redis as upstream_redis

        from gnocchi_rs import redis_config

        # The client upstream's driver builds from the same options
        # (its own is private).
        client, _ = upstream_redis.get_client(group_conf)
        try:
            connection = redis_config.native_kwargs(client)
        finally:
            client.close()
        return lean_schema.Backend(kind, connection=connection, **extra)
    if kind == "ceph":
        from gnocchi_rs.storage import ceph as rs_ceph
        return lean_schema.Backend(kind, ceph=rs_ceph.ceph_options(group_conf),
                                   **extra)
    return None


def _logging_settings(conf):
    """Where this process logs (daiquiri's outputs, set up from the
    configuration), for the lean processes to log to the same places."""
    root = logging.getLogger()
    log_file, stderr = None, False
    for handler in root.handlers:
        if getattr(handler, "baseFilename", None):
            log_file = handler.baseFilename
        elif getattr(handler, "stream", None) in (sys.stderr, sys.stdout):
            stderr = True
    return lean_schema.Logging(
        level=root.getEffectiveLevel(),
        gnocchi_level=logging.getLogger("gnocchi").getEffectiveLevel(),
        file=log_file, stderr=stderr,
        syslog_facility=(conf.syslog_log_facility if conf.use_syslog
                         else None),
        journal=bool(conf.use_journal))


def lean_incoming_settings(incoming_driver, conf):
    """The native backend of one of our incoming drivers
    (``lean_schema.Backend``; None for another driver)."""
    from gnocchi_rs.incoming import ceph as in_ceph, file as in_file
    from gnocchi_rs.incoming import redis as in_redis

    return _native_backend(
        incoming_driver, conf.incoming,
        (("file", in_file.FileStorage), ("redis", in_redis.RedisStorage),
         ("ceph", in_ceph.CephStorage)),
        sacks=int(incoming_driver.NUM_SACKS))


def _lean_storage_settings(storage_driver, conf):
    from gnocchi_rs.storage import ceph as st_ceph, file as st_file
    from gnocchi_rs.storage import redis as st_redis

    if isinstance(storage_driver, st_file.FileStorage):
        extra = {"subdir_len": int(storage_driver.SUBDIR_LEN)}
    elif isinstance(storage_driver, st_redis.RedisStorage):
        extra = {"prefix": bytes(storage_driver.STORAGE_PREFIX).decode(
            "latin-1")}
    else:
        extra = {}
    return _native_backend(
        storage_driver, conf.storage,
        (("file", st_file.FileStorage), ("redis", st_redis.RedisStorage),
         ("ceph", st_ceph.CephStorage)), **extra)


def lean_reporting_settings(conf, incoming_driver):
    """What ``gnocchi_rs.sack_worker``'s backlog reporter needs (any
    indexer: it only reads the incoming backend), in its wire form; None
    for a driver that is not ``rs-*``."""
    if os.environ.get("GNOCCHI_RS_LEAN_WORKER", "1") == "0":
        return None
    incoming = lean_incoming_settings(incoming_driver, conf)
    if incoming is None:
        return None
    return lean_schema.to_wire(lean_schema.Reporter(
        parent_pid=os.getppid(),
        metric_reporting_delay=conf.metricd.metric_reporting_delay,
        incoming=incoming, logging=_logging_settings(conf)))


def _lean_index_possible(url):
    from gnocchi_rs.sack_worker import mysql_index
    from gnocchi_rs.sack_worker import sqlite_index
    scheme = url.split(":", 1)[0]
    try:
        if scheme == "sqlite":
            sqlite_index.database_path(url)
            return True
        if scheme.partition("+")[0] == "mysql":
            mysql_index.connection_arguments(url)
            return importlib.util.find_spec("pymysql") is not None
    except ValueError:
        return False
    return (scheme in ("postgresql", "postgres", "postgresql+psycopg2")
            and importlib.util.find_spec("psycopg2") is not None)


def lean_worker_settings(conf, incoming_driver, storage_driver, worker_id=0):
    """What ``gnocchi_rs.sack_worker`` needs, resolved with upstream's
    configuration and drivers, in its wire form; None when this setup
    needs the in-process worker (an indexer other than PostgreSQL, MySQL
    through PyMySQL or an SQLite file, a driver that is not ``rs-*``)."""
    from gnocchi_rs import incoming as rs_incoming
    from gnocchi_rs import storage as rs_storage

    if os.environ.get("GNOCCHI_RS_LEAN_WORKER", "1") == "0":
        return None
    # The lean worker speaks to PostgreSQL with psycopg2, to MySQL with
    # PyMySQL, and reads an SQLite file with the standard library.
    if not _lean_index_possible(conf.indexer.url):
        return None
    if not (isinstance(incoming_driver, rs_incoming.NativeIncomingMixin)
            and isinstance(storage_driver, rs_storage.NativeStorageMixin)):
        return None
    if storage_driver._hooked():
        return None

    incoming = lean_incoming_settings(incoming_driver, conf)
    storage = _lean_storage_settings(storage_driver, conf)
    if incoming is None or storage is None:
        return None
    config_args = []
    for path in conf.config_file or ():
        config_args += ["--config-file", path]
    for path in conf.config_dir or ():
        config_args += ["--config-dir", path]
    return lean_schema.to_wire(lean_schema.Worker(
        worker_id=int(worker_id),
        parent_pid=os.getppid(),
        coordination_url=conf.coordination_url,
        indexer_url=conf.indexer.url,
        config_args=tuple(config_args),
        metric_processing_delay=conf.metricd.metric_processing_delay,
        processing_replicas=conf.metricd.processing_replicas,
        greedy=bool(conf.metricd.greedy),
        incoming=incoming,
        storage=storage,
        logging=_logging_settings(conf)))


def exec_lean_worker(settings):
    """Replaces this process with ``gnocchi_rs.sack_worker`` (same pid, so
    cotyledon keeps supervising it); the settings go through a pipe, not
    the command line or the environment, as they hold credentials."""
    read_end, write_end = os.pipe()
    payload = json.dumps(settings).encode()
    # Far below a pipe's buffer: the write cannot block.
    os.write(write_end, payload)
    os.close(write_end)
    os.set_inheritable(read_end, True)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os.execv(sys.executable, [sys.executable, "-m", "gnocchi_rs.sack_worker",
                              "--settings-fd", str(read_end)])


class LeanCapableService:
    """A metricd service (upstream's ``MetricProcessBase``) that replaces
    its forked process with its lean one when ``lean_settings()`` gives
    settings, and runs in this process when it gives None or anything
    fails. ``stop_asked`` is set as soon as cotyledon asks it to stop."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.stop_asked = threading.Event()

    def lean_settings(self):
        raise NotImplementedError

    def terminate(self):
        # Before upstream's terminate, which waits for the run loop.
        self.stop_asked.set()
        super().terminate()

    def run(self):
        self._become_lean()
        super().run()

    def _become_lean(self):
        resolved = None
        try:
            resolved = self.lean_settings()
        except Exception:
            LOG.warning("Cannot start the lean %s process; running it in "
                        "this one", self.name, exc_info=True)
        # A stop asked for while the settings were resolved must not be
        # lost in the exec: cotyledon has taken it already.
        if resolved is not None and not self.stop_asked.is_set():
            try:
                exec_lean_worker(resolved)
            except OSError:
                LOG.warning("Cannot start the lean %s process; running it "
                            "in this one", self.name, exc_info=True)


class ProcessingWorker(LeanCapableService,
                       upstream_metricd.MetricProcessBase):
    """A metricd processing worker (upstream's run loop, shutdown and
    coordinator set-up; our sack assignment and sack processing)."""

    name = "processing"

    def __init__(self, worker_id, conf):
        super().__init__(worker_id, conf,
                         conf.metricd.metric_processing_delay)

    def lean_settings(self):
        from gnocchi import incoming, storage
        return lean_worker_settings(
            self.conf, incoming.get_driver(self.conf),
            storage.get_driver(self.conf), self.worker_id)

    def _configure(self):
        super()._configure()
        self.processor = SackProcessor(self.coord, self.incoming,
                                       self.indexer, self.store)
        self.assignment = SackAssignment(
            self.coord, list(self.incoming.iter_sacks()),
            self.conf.metricd.processing_replicas,
            self.conf.metricd.metric_processing_delay)
        self.passes = sack_sharing.SackPasses(
            self.coord, self.assignment,
            self.conf.metricd.metric_processing_delay, self.stop_asked)
        # Drivers that notify nothing (rs-file) say what waits instead.
        self._backlog = (
            sack_sharing.backlog_reader(self.incoming.sack_backlog)
            if getattr(self.incoming, "backlog_before_passes", False)
            else None)
        self.passes.join()
        if self.conf.metricd.greedy:
            listener = threading.Thread(target=self._listen_for_new_measures,
                                        name="sack-notifications",
                                        daemon=True)
            listener.start()

    def _listen_for_new_measures(self):
        """Wakes the worker up as soon as one of its sacks gets measures,
        with drivers that notify (Redis); the others raise
        NotImplementedError and the worker scans on its period."""
        def notifications():
            try:
                yield from self.incoming.iter_on_sacks_to_process()
            except gnocchi_exceptions.NotImplementedError:
                LOG.info("Incoming driver does not notify new measures: "
                         "scanning sacks every %ds",
                         self.conf.metricd.metric_processing_delay)
                self.stop_asked.wait()

        self.passes.listen(notifications, self.wakeup)

    def _take_notification(self, sack):
        """Called with the sack's lock held, before reading it: a
        notification for measures that arrive from now on is a new one,
        not lost in the one this pass answers."""
        self.passes.notified.discard(sack)
        self.incoming.finish_sack_processing(sack)

    def _run_job(self):
        self.passes.run(
            lambda sack: self.processor.process(
                sack, before_reading=self._take_notification),
            chef.SackAlreadyLocked, self._backlog)
        self.passes.after_pass(self.store.statistics)


class ReportingWorker(LeanCapableService,
                      upstream_metricd.MetricReporting):
    """Upstream's backlog report, run by the lean process when the incoming
    driver is ours (it needs nothing else)."""

    def lean_settings(self):
        from gnocchi import incoming
        return lean_reporting_settings(self.conf,
                                       incoming.get_driver(self.conf))


class MetricdServiceManager(cotyledon.ServiceManager):
    """Processing workers and the backlog report (ours, lean where they
    can be) and the janitor (upstream's), as upstream's
    ``gnocchi-metricd`` lays them out."""

    def __init__(self, conf):
        super().__init__()
        oslo_config_glue.setup(self, conf)
        self.conf = conf
        self.processing_id = self.add(ProcessingWorker, args=(conf,),
                                      workers=conf.metricd.workers)
        if conf.metricd.metric_reporting_delay >= 0:
            self.add(ReportingWorker, args=(conf,))
        self.add(upstream_metricd.MetricJanitor, args=(conf,))
        self.register_hooks(on_reload=self._on_reload)

    def _on_reload(self):
        # Workers restart on SIGHUP: the number of workers may have changed.
        self.reconfigure(self.processing_id,
                         workers=self.conf.metricd.workers)


__all__ = ["MetricdServiceManager", "ProcessingWorker", "SackAssignment",
           "SackProcessor", "sack_lock_name"]
