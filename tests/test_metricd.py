"""`gnocchi-rs metricd` workers, next to an upstream `gnocchi-metricd`
worker, on one storage (file with file:// coordination; Ceph or Redis with
Redis coordination) and an SQLite indexer: every measure is processed, no sack is ever processed by two
workers at once, and killing one worker with SIGKILL in the middle of its
work loses nothing (the aggregates equal those of an uninterrupted run).

Over 500 lines: one scenario per backend and per failure, sharing one
set of fixtures.
"""
from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import numpy
import pytest
from gnocchi import archive_policy
from gnocchi import chef
from gnocchi import incoming as upstream_incoming
from gnocchi import indexer
from gnocchi import service
from gnocchi import storage as gnocchi_storage
from gnocchi.cli import metricd as upstream_metricd
from oslo_config import cfg
from tooz import coordination

from gnocchi_rs import metricd
from gnocchi_rs import sacks as sack_sharing
from gnocchi_rs.storage import file as rs_storage

import system_rados

SACKS = 16
METRICS = 48
ROUNDS = 10
POINTS = 40
START = numpy.datetime64("2026-11-21T00:00:00", "ns")
MEMBER_TIMEOUT = 4

# Run before a metricd: records, from inside each sack lock, when a worker
# has read a sack (start) and when it has deleted what it read (end).
RECORDER = r"""
import contextlib, os, sys, time
from gnocchi.incoming import ceph as upstream_ceph
from gnocchi.incoming import file as upstream_file
from gnocchi.incoming import redis as upstream_redis
from gnocchi_rs.incoming import ceph as rs_incoming_ceph
from gnocchi_rs.incoming import file as rs_incoming_file
from gnocchi_rs.incoming import redis as rs_incoming_redis

_log = os.open(os.environ["SACK_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)

def _record(event, sack, count):
    os.write(_log, ("%d %s %s %d %d\n" % (
        os.getpid(), event, sack, count, time.monotonic_ns())).encode())

def _recorded(original):
    @contextlib.contextmanager
    def process_measures_for_sack(self, sack):
        status = "abort"
        with original(self, sack) as measures:
            count = sum(len(m) for m in measures.values())
            _record("start", sack, count)
            try:
                yield measures
                status = "end"
            finally:
                if status == "abort":
                    _record("abort", sack, count)
        _record("end", sack, count)
    return process_measures_for_sack

for cls in (rs_incoming_file.FileStorage, upstream_file.FileStorage,
            rs_incoming_ceph.CephStorage, upstream_ceph.CephStorage,
            rs_incoming_redis.RedisStorage, upstream_redis.RedisStorage):
    cls.process_measures_for_sack = _recorded(cls.process_measures_for_sack)

kind, argv = sys.argv[1], sys.argv[2:]
if kind == "rs":
    from gnocchi_rs import cli
    sys.exit(cli.main(argv))
from gnocchi.cli import metricd
sys.argv = ["gnocchi-metricd"] + argv
metricd.metricd()
"""


def _conf_files(tmp_path, replicas, backend="file", redis_url=None,
                ceph_pool=None):
    """The shared configuration, and the override that makes a worker use
    upstream's drivers: file storage with file:// coordination, or Redis
    or Ceph (``<conffile>:<pool>``) storage with Redis coordination."""
    coordination = redis_url or f"file://{tmp_path}/coordination"
    if backend == "file":
        storage = f"driver = rs-file\nfile_basepath = {tmp_path}/storage"
    elif backend == "redis":
        storage = f"driver = rs-redis\nredis_url = {redis_url}"
    else:
        conffile, _, pool = ceph_pool.rpartition(":")
        storage = (f"driver = rs-ceph\nceph_conffile = {conffile}\n"
                   f"ceph_pool = {pool}")
    base = tmp_path / "gnocchi.conf"
    base.write_text(f"""
[DEFAULT]
coordination_url = {coordination}?timeout={MEMBER_TIMEOUT}
[indexer]
url = sqlite:///{tmp_path}/index.sqlite
[storage]
{storage}
[metricd]
workers = 1
metric_processing_delay = 1
processing_replicas = {replicas}
metric_reporting_delay = -1
""")
    upstream_drivers = tmp_path / "upstream-drivers.conf"
    upstream_drivers.write_text("[storage]\ndriver = %s\n" % backend)
    return str(base), str(upstream_drivers)


def _load_conf(*files):
    args = [a for f in files for a in ("--config-file", f)]
    return service.prepare_service(args=args, conf=cfg.ConfigOpts(),
                                   skip_log_opts=True)


def _workload(seed=11):
    rng = numpy.random.default_rng(seed)
    step = numpy.timedelta64(1, "s")
    rounds = []
    for r in range(ROUNDS):
        stamps = START + (r * POINTS + numpy.arange(POINTS)) * step
        rounds.append([(stamps, rng.normal(100, 20, POINTS))
                       for _ in range(METRICS)])
    return rounds


def _measures(stamps, values):
    return numpy.array(list(zip(stamps, values)),
                       dtype=upstream_incoming.TIMESERIES_ARRAY_DTYPE)


class Worker:
    def __init__(self, kind, conf_files, log, sack_log):
        args = [a for f in conf_files for a in ("--config-file", f)]
        if kind == "rs":
            args = ["metricd"] + args
        self.kind = kind
        # The recorder hooks the in-process drivers: on this SQLite index
        # our workers would otherwise be lean processes, which
        # tests/test_sack_worker.py covers (SIGKILL included).
        env = dict(os.environ, SACK_LOG=sack_log, GNOCCHI_RS_LEAN_WORKER="0")
        if system_rados.DIRECTORY:
            # Upstream's Ceph drivers need the system's rados module.
            env["PYTHONPATH"] = os.pathsep.join(filter(None, (
                system_rados.DIRECTORY, env.get("PYTHONPATH"))))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", RECORDER, kind, *args],
            stdout=log, stderr=log, start_new_session=True, env=env)

    def kill_if_running(self):
        """SIGKILL the whole process group of a worker left running."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def pids(self):
        """The master and its workers: its process group."""
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open("/proc/%s/stat" % entry) as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                except FileNotFoundError:
                    continue
                if int(fields[2]) == self.proc.pid:
                    found.append(int(entry))
        return found


def _read_records(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [(int(pid), event, sack, int(count), int(ns))
                for pid, event, sack, count, ns in
                (line.split() for line in f if line.endswith("\n"))]


def _intervals(records, killed_pids=(), killed_at=None):
    """{sack: [(start, end, pid, measures, completed)]}"""
    open_by_pid, intervals = {}, collections.defaultdict(list)
    for pid, event, sack, count, ns in records:
        if event == "start":
            assert pid not in open_by_pid, "nested sack processing"
            open_by_pid[pid] = (sack, ns, count)
        else:
            opened_sack, start, _ = open_by_pid.pop(pid)
            assert opened_sack == sack
            intervals[sack].append((start, ns, pid, count, event == "end"))
    for pid, (sack, start, count) in open_by_pid.items():
        assert pid in killed_pids, "sack %s still open by %d" % (sack, pid)
        # The lock is released when the process dies, after the signal
        # was sent: nobody may have entered the sack before that.
        intervals[sack].append((start, killed_at, pid, count, False))
    return intervals


def _assert_no_overlap(intervals):
    for sack, spans in intervals.items():
        spans.sort()
        for before, after in zip(spans, spans[1:]):
            assert before[1] <= after[0], (
                "sack %s processed by %d and %d at once" % (
                    sack, before[2], after[2]))


def _aggregates(store, metrics):
    out = {}
    for metric in metrics:
        result = store.get_aggregated_measures(
            {metric: metric.archive_policy.aggregations})[metric]
        for aggregation, ts in result.items():
            out[(metric.id, aggregation.method,
                 int(aggregation.granularity.astype("timedelta64[s]")
                     .astype(int)))] = (
                ts.ts["timestamps"].tolist(), ts.ts["values"].tobytes())
    return out


def _uninterrupted_aggregates(conf_file, tmp_path, rounds, metrics, index):
    """The aggregates of the same measures, round after round, through one
    uninterrupted pipeline on a file storage of its own."""
    reference_conf = _load_conf(conf_file)
    reference_conf.set_override("file_basepath",
                                str(tmp_path / "reference"), "storage")
    reference = rs_storage.FileStorage(reference_conf.storage)
    reference.upgrade()
    for batch in rounds:
        reference.add_measures_to_metrics(
            {metric: _measures(*points)
             for metric, points in zip(metrics, batch)}, index)
    return _aggregates(reference, metrics)


def _group_members(url):
    coord = coordination.get_coordinator(url, b"test-observer")
    coord.start()
    try:
        return coord.get_members(metricd.GROUP_ID).get()
    except coordination.GroupNotCreated:
        return set()
    finally:
        coord.stop()


def _wait(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.05)


def test_sack_lock_names_are_upstreams():
    class Names:
        def get_lock(self, name):
            return name

    upstream_chef = chef.Chef(Names(), None, None, None)
    for total in (1, 128, 2048):
        for number in (0, total // 2, total - 1):
            sack = upstream_incoming.Sack(number, total, "incoming%d-%d" % (
                total, number))
            assert metricd.sack_lock_name(sack) == \
                upstream_chef.get_sack_lock(sack)


def test_assignment_matches_tooz_partitioner(tmp_path):
    url = "file://%s" % tmp_path
    sacks = [upstream_incoming.Sack(i, 32, "incoming32-%d" % i)
             for i in range(32)]
    coords = []
    try:
        for i in range(3):
            coord = coordination.get_coordinator(
                url, ("host.%d.%s" % (i, uuid.uuid4())).encode())
            coord.start()
            coords.append(coord)
        # One member as upstream's metricd joins, two as ours.
        partitioner = coords[0].join_partitioned_group(
            metricd.GROUP_ID, partitions=200)
        for replicas in (1, 2):
            ours = [metricd.SackAssignment(c, sacks, replicas, ttl=0)
                    for c in coords[1:]]
            for assignment in ours:
                assert assignment.join()
            coords[0].run_watchers()
            theirs = [s for s in sacks
                      if partitioner.belongs_to_self(s, replicas=replicas)]
            owners = collections.Counter(
                s.number for owned in [theirs] + [a.sacks() for a in ours]
                for s in owned)
            assert owners == {s.number: replicas for s in sacks}
    finally:
        for coord in coords:
            coord.stop()


def test_coordinator_member_id_is_the_one_it_was_created_with(tmp_path,
                                                              redis_url):
    """tooz keeps a coordinator's member id private; the hash ring needs
    it (pyproject.toml bounds tooz to the versions where this holds)."""
    for url in ("file://%s" % tmp_path, redis_url):
        member_id = ("host.0.%s" % uuid.uuid4()).encode()
        coord = coordination.get_coordinator(url, member_id)
        assert sack_sharing.coordinator_member_id(coord) == member_id
        coord.start()
        try:
            coord.join_group_create(metricd.GROUP_ID)
            assert member_id in coord.get_members(metricd.GROUP_ID).get()
        finally:
            coord.stop()


class _Service(metricd.LeanCapableService,
               upstream_metricd.MetricProcessBase):
    name = "test"

    def __init__(self, lean_settings):
        super().__init__(0, None)
        self._lean_settings = lean_settings

    def lean_settings(self):
        return self._lean_settings(self)


def test_a_stop_asked_while_resolving_the_settings_is_kept(monkeypatch):
    """cotyledon stops a service by calling its terminate (in a thread of
    its own, with an alarm armed): one that comes while the lean settings
    are resolved keeps the service from becoming its lean process."""
    execs = []
    monkeypatch.setattr(metricd, "exec_lean_worker", execs.append)
    _Service(lambda service: {"lean": True})._become_lean()
    assert execs == [{"lean": True}]

    def stopped_meanwhile(service):
        # upstream's terminate then waits for a run loop that never ran.
        threading.Thread(target=service.terminate, daemon=True).start()
        assert service.stop_asked.wait(10)
        return {"lean": True}

    _Service(stopped_meanwhile)._become_lean()
    assert execs == [{"lean": True}]


# One owner per sack: nothing is processed unless our ring and tooz's agree.
# Three: every worker tries every sack, only the sack locks keep them apart.
@pytest.mark.parametrize("backend,replicas", [
    ("file", 1), ("file", 3), ("ceph", 1), ("redis", 3)])
def test_workers_share_sacks_and_survive_sigkill(tmp_path, request, backend,
                                                 replicas):
    redis_url = ceph_pool = None
    if backend != "file":
        import redis
        redis_url = request.getfixturevalue("redis_url")
        redis.Redis.from_url(redis_url).flushdb()
    if backend == "ceph":
        cluster = request.getfixturevalue("ceph_cluster")
        ceph_pool = "%s:%s" % (cluster.conffile, cluster.new_pool())
    base, upstream_drivers = _conf_files(tmp_path, replicas, backend,
                                         redis_url, ceph_pool)
    conf = _load_conf(base)
    from gnocchi_rs.cli import upgrade
    upgrade.upgrade_all(conf, SACKS)
    index = indexer.get_driver(conf)
    policy = archive_policy.ArchivePolicy(
        "test-metricd", 0,
        [archive_policy.ArchivePolicyItem(granularity=g, points=p)
         for g, p in ((numpy.timedelta64(1, "s"), 3600),
                      (numpy.timedelta64(10, "s"), 360),
                      (numpy.timedelta64(60, "s"), 60))],
        ["mean", "max", "min", "sum", "count", "last", "std"])
    index.create_archive_policy(policy)
    metrics = [index.create_metric(uuid.uuid4(), "admin", "test-metricd")
               for _ in range(METRICS)]
    metrics = index.list_metrics(
        attribute_filter={"in": {"id": [m.id for m in metrics]}})
    inbox = upstream_incoming.get_driver(conf)
    rounds = _workload()

    sack_log = str(tmp_path / "sacks.log")
    log = open(tmp_path / "workers.log", "ab")
    kinds = ["rs", "rs", "rs", "upstream"]
    workers = [Worker(kind, [base] + ([upstream_drivers]
                                      if kind == "upstream" else []),
                      log, sack_log)
               for kind in kinds]
    victim = workers[0]
    coordination_url = conf.coordination_url
    try:
        _wait(lambda: len(_group_members(coordination_url)) == len(workers),
              90, "the workers to join the group")

        victim_pids, killed_at, caught_mid_sack = set(), None, False
        for number, batch in enumerate(rounds):
            inbox.add_measures_batch({
                metric.id: _measures(*points)
                for metric, points in zip(metrics, batch)})
            if number == ROUNDS // 2:
                # Kill the victim while it holds a sack, if we can catch it
                # there within a few seconds.
                victim_pids = set(victim.pids())
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline and not caught_mid_sack:
                    opened = {}
                    for pid, event, *_ in _read_records(sack_log):
                        opened[pid] = event == "start"
                    caught_mid_sack = any(opened.get(p) for p in victim_pids)
                killed_at = time.monotonic_ns()
                os.killpg(victim.proc.pid, signal.SIGKILL)
                victim.proc.wait()
            time.sleep(0.2)

        def drained():
            return (inbox.measures_report(details=False)["summary"]
                    ["measures"] == 0)
        _wait(drained, 60, "every measure to be processed")
        # The last sack read may still be finishing.
        _wait(lambda: not _intervals_open(sack_log, victim_pids), 30,
              "the workers to leave their sacks")
        pid_kind = {pid: worker.kind for worker in workers[1:]
                    for pid in worker.pids()}
        pid_kind.update((pid, victim.kind) for pid in victim_pids)
        for worker in workers[1:]:
            os.killpg(worker.proc.pid, signal.SIGTERM)
        for worker in workers[1:]:
            assert worker.proc.wait(60) == 0
    finally:
        for worker in workers:
            worker.kill_if_running()
        log.close()

    records = _read_records(sack_log)
    intervals = _intervals(records, victim_pids, killed_at)
    _assert_no_overlap(intervals)
    posted = ROUNDS * METRICS * POINTS
    processed = sum(span[3] for spans in intervals.values()
                    for span in spans if span[4])
    # A victim killed after deleting what it had read, before writing its
    # end record, leaves that sack's span open though its measures were
    # stored: counted here as possibly processed. Whether any measure is
    # lost is the aggregates' comparison below, to the byte.
    in_victims_hands = sum(span[3] for spans in intervals.values()
                           for span in spans
                           if not span[4] and span[2] in victim_pids)
    # Everything at least once; what the victim had read when it was
    # killed may have been processed twice.
    assert processed + in_victims_hands >= posted
    by_kind = collections.Counter(
        pid_kind[pid] for pid, event, *_ in records if event == "end")
    assert by_kind["rs"] > 0 and by_kind["upstream"] > 0
    assert any(span[2] in victim_pids
               for spans in intervals.values() for span in spans)

    store = gnocchi_storage.get_driver(conf)
    expected = _uninterrupted_aggregates(base, tmp_path, rounds, metrics,
                                         index)
    assert len(expected) == METRICS * 3 * 7
    # (std needs two points in a bucket: none at 1 s.)
    assert all(stamps for (_, method, seconds), (stamps, _) in
               expected.items() if (method, seconds) != ("std", 1))
    assert _aggregates(store, metrics) == expected
    print("\nmeasures posted %d, processed %d (sacks: %d by gnocchi-rs, "
          "%d by upstream), victim killed %s"
          % (posted, processed, by_kind["rs"], by_kind["upstream"],
             "inside a sack" if caught_mid_sack else "between sacks"))


def _intervals_open(sack_log, killed_pids):
    opened = {}
    for pid, event, *_ in _read_records(sack_log):
        opened[pid] = event == "start"
    return [pid for pid, is_open in opened.items()
            if is_open and pid not in killed_pids]


def test_greedy_worker_wakes_up_on_redis_notifications(tmp_path, redis_url):
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    base, _ = _conf_files(tmp_path, 1)
    greedy = tmp_path / "greedy.conf"
    # A scan period far longer than the test: only a notification can
    # make the worker process the second batch in time.
    greedy.write_text("[incoming]\ndriver = rs-redis\nredis_url = %s\n"
                      "[metricd]\nmetric_processing_delay = 600\n"
                      "greedy = true\n" % redis_url)
    conf = _load_conf(base, str(greedy))
    from gnocchi_rs.cli import upgrade
    upgrade.upgrade_all(conf, SACKS)
    index = indexer.get_driver(conf)
    metrics = [index.create_metric(uuid.uuid4(), "admin", "medium")
               for _ in range(8)]
    inbox = upstream_incoming.get_driver(conf)
    log = open(tmp_path / "worker.log", "ab")
    sack_log = str(tmp_path / "sacks.log")
    worker = Worker("rs", [base, str(greedy)], log, sack_log)

    def drained():
        return (inbox.measures_report(details=False)["summary"]
                ["measures"] == 0)
    try:
        _wait(lambda: len(_group_members(conf.coordination_url)) == 1, 90,
              "the worker to join the group")
        stamps = START + numpy.arange(3) * numpy.timedelta64(1, "s")
        for offset in (0, 1):
            # The first batch may be caught by the start-up scan.
            inbox.add_measures_batch({
                m.id: _measures(stamps + numpy.timedelta64(offset, "m"),
                                [1.0, 2.0, 3.0]) for m in metrics})
            posted = time.monotonic()
            _wait(drained, 30, "the batch to be processed")
        latency = time.monotonic() - posted
        os.killpg(worker.proc.pid, signal.SIGTERM)
        assert worker.proc.wait(60) == 0
    finally:
        worker.kill_if_running()
        log.close()
    assert latency < 10
    store = rs_storage.FileStorage(conf.storage)
    metrics = index.list_metrics(
        attribute_filter={"in": {"id": [m.id for m in metrics]}})
    for metric in metrics:
        mean = metric.archive_policy.get_aggregation(
            "mean", numpy.timedelta64(60, "s"))
        ts = store.get_aggregated_measures({metric: [mean]})[metric][mean]
        assert ts.ts["values"].tolist() == [2.0, 2.0]


def _start_redis(directory, port):
    """A redis-server that keeps its data across restarts (append-only
    file, fsync on every write), unlike the test servers of services.sh."""
    conf = directory / "redis.conf"
    conf.write_text("bind 127.0.0.1\nport %d\ndaemonize yes\n"
                    "pidfile %s/redis.pid\ndir %s\nlogfile %s/redis.log\n"
                    "appendonly yes\nappendfsync always\nsave \"\"\n"
                    % (port, directory, directory, directory))
    subprocess.run(["redis-server", str(conf)], check=True)
    import redis
    client = redis.Redis(port=port)
    _wait(lambda: _pings(client), 20, "redis-server to start")


def _pings(client):
    import redis
    try:
        return client.ping()
    except redis.ConnectionError:
        return False


def test_backend_restart_loses_nothing(tmp_path, request):
    """The Redis server holding storage and incoming is shut down and
    started again while a gnocchi-rs metricd works: the worker rides it
    out and every measure ends up in the aggregates."""
    import redis
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    _start_redis(redis_dir, port)
    client = redis.Redis(port=port)
    request.addfinalizer(lambda: _shutdown(client))
    url = "redis://127.0.0.1:%d" % port
    base = tmp_path / "gnocchi.conf"
    base.write_text(f"""
[DEFAULT]
coordination_url = file://{tmp_path}/coordination?timeout={MEMBER_TIMEOUT}
[indexer]
url = sqlite:///{tmp_path}/index.sqlite
[storage]
driver = rs-redis
redis_url = {url}
[metricd]
workers = 1
metric_processing_delay = 1
metric_reporting_delay = -1
""")
    conf = _load_conf(str(base))
    from gnocchi_rs.cli import upgrade
    upgrade.upgrade_all(conf, SACKS)
    index = indexer.get_driver(conf)
    metrics = [index.create_metric(uuid.uuid4(), "admin", "medium")
               for _ in range(METRICS)]
    metrics = index.list_metrics(
        attribute_filter={"in": {"id": [m.id for m in metrics]}})
    inbox = upstream_incoming.get_driver(conf)
    rounds = _workload(seed=5)
    log = open(tmp_path / "worker.log", "ab")
    worker = Worker("rs", [str(base)], log, str(tmp_path / "sacks.log"))
    try:
        _wait(lambda: len(_group_members(conf.coordination_url)) == 1, 90,
              "the worker to join the group")
        for number, batch in enumerate(rounds):
            inbox.add_measures_batch({
                metric.id: _measures(*points)
                for metric, points in zip(metrics, batch)})
            if number == ROUNDS // 2:
                client.shutdown(save=False)   # the AOF already has it all
                time.sleep(3)                 # the worker meets the outage
                _start_redis(redis_dir, port)
            time.sleep(0.2)

        def drained():
            return (inbox.measures_report(details=False)["summary"]
                    ["measures"] == 0)
        _wait(drained, 90, "every measure to be processed")
        time.sleep(1)   # the last sack's store is done before its delete
        assert worker.proc.poll() is None, "the worker died"
        os.killpg(worker.proc.pid, signal.SIGTERM)
        assert worker.proc.wait(60) == 0
    finally:
        worker.kill_if_running()
        log.close()
    expected = _uninterrupted_aggregates(str(base), tmp_path, rounds,
                                         metrics, index)
    assert expected
    assert _aggregates(gnocchi_storage.get_driver(conf), metrics) == expected
    # The worker did meet the outage.
    assert b"Connection refused" in (tmp_path / "worker.log").read_bytes()


def _shutdown(client):
    import redis
    try:
        client.shutdown(save=False)
    except redis.ConnectionError:
        pass
