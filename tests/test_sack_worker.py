"""``gnocchi-rs metricd``'s lean processing worker (gnocchi_rs.sack_worker)
against the in-process one, on a real PostgreSQL indexer: the same bytes
on disk, the same indexer effects, upstream's policies read the same way;
it loads no part of upstream Gnocchi; and the daemon runs it.

Over 500 lines: one fixture set (a PostgreSQL index, both workers) for
every part of the worker.
"""
from __future__ import annotations

import datetime
import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid

import numpy
import pytest
import sqlalchemy
from gnocchi import archive_policy
from gnocchi import incoming as upstream_incoming
from gnocchi import indexer
from gnocchi import service
from gnocchi.indexer import sqlalchemy_base
from oslo_config import cfg
from tooz import coordination

from gnocchi_rs import metricd
from gnocchi_rs import sack_worker
from gnocchi_rs.sack_worker import settings as lean_schema
from gnocchi_rs import storage as rs_storage
from gnocchi_rs.incoming import file as rs_incoming_file
from gnocchi_rs.storage import file as rs_storage_file

import driver_harness

SACKS = 8
# The measures posted are from 2023-11-14 on.
REVIVED_END = datetime.datetime(2023, 11, 1)
KEPT_END = datetime.datetime(2026, 11, 1)


def _policy_items(*pairs):
    return [archive_policy.ArchivePolicyItem(granularity=numpy.timedelta64(g, "s"),
                                             points=p) for g, p in pairs]


def _policies():
    # Upstream's defaults take the methods of `[archive_policy]
    # default_aggregation_methods`, which prepare_service sets: built here
    # with them, whatever ran before this module was collected.
    from gnocchi import opts
    methods = next(o.default for group, options in opts.list_opts()
                   if group == "archive_policy" for o in options
                   if o.name == "default_aggregation_methods")
    found = [archive_policy.ArchivePolicy(p.name, p.back_window,
                                          p.definition, methods)
             for p in archive_policy.DEFAULT_ARCHIVE_POLICIES.values()]
    found += driver_harness.policies()
    found.append(archive_policy.ArchivePolicy(
        "rates", 2, _policy_items((1, 100), (7, 33)),
        ["rate:mean", "rate:last", "min"]))
    found.append(archive_policy.ArchivePolicy(
        "timespan-only", 0,
        [archive_policy.ArchivePolicyItem(
            granularity=numpy.timedelta64(90, "s"),
            timespan=numpy.timedelta64(1000, "s"))], ["max"]))
    found.append(archive_policy.ArchivePolicy(
        "sub-second", 0,
        [archive_policy.ArchivePolicyItem(granularity=0.25, points=40)],
        ["mean"]))
    return found


@pytest.mark.parametrize("policy", _policies(), ids=lambda p: p.name)
def test_policy_spec_is_the_drivers(policy):
    """A policy read back from its stored JSON gives the native policy the
    in-process driver builds from upstream's ArchivePolicy object."""
    stored_definition = json.loads(json.dumps(
        [d.serialize() for d in policy.definition]))
    stored_methods = json.loads(json.dumps(
        sorted(policy.aggregation_methods)))
    lean = sack_worker.policy_spec(policy.back_window, stored_definition,
                                   stored_methods)
    driver = rs_storage._policy_spec(policy)
    assert lean.aggregations and sorted(lean.aggregations) == sorted(
        driver.aggregations)
    assert lean.methods == sorted(driver.methods)
    assert (lean.block_size, lean.back_window) == (driver.block_size,
                                                   driver.back_window)


def _conf(url, basepath, coordination_url=None):
    basepath.mkdir(parents=True, exist_ok=True)
    config = basepath / "gnocchi.conf"
    config.write_text("[indexer]\nurl = %s\n" % url)
    conf = service.prepare_service(args=["--config-file", str(config)],
                                   conf=cfg.ConfigOpts(),
                                   log_to_std=False, skip_log_opts=True,
                                   logging_level="WARNING")
    conf.set_override("url", url, "indexer")
    for group in ("storage", "incoming"):
        conf.set_override("driver", "rs-file", group)
        conf.set_override("file_basepath", str(basepath), group)
    if coordination_url:
        conf.set_override("coordination_url", coordination_url)
    return conf


def _setup(url, basepath):
    conf = _conf(url, basepath)
    index = indexer.get_driver(conf)
    index.upgrade()
    store = rs_storage_file.FileStorage(conf.storage)
    inbox = rs_incoming_file.FileStorage(conf.incoming)
    store.upgrade()
    inbox.upgrade(SACKS)
    return conf, index, store, inbox


def _workload(index, policy_name, n=12):
    """Metrics on a policy, and two on resources that ended: one before
    the measures posted (to revive), one after (to keep ended)."""
    creator = str(uuid.uuid4())
    metrics = [index.create_metric(uuid.uuid4(), creator, policy_name)
               for _ in range(n)]
    revived, kept = uuid.uuid4(), uuid.uuid4()
    for rid, ended in ((revived, REVIVED_END), (kept, KEPT_END)):
        index.create_resource("generic", rid, creator,
                              started_at=datetime.datetime(2023, 10, 1),
                              ended_at=ended)
        metrics.append(index.create_metric(uuid.uuid4(), creator,
                                           policy_name, name="m",
                                           resource_id=rid))
    return metrics, revived, kept


def _post(inbox, metrics, start, seed):
    rng = numpy.random.default_rng(seed)
    stamps = numpy.datetime64(start, "s") + numpy.arange(60) * \
        numpy.timedelta64(1, "s")
    inbox.add_measures_batch({
        m.id: numpy.array(list(zip(stamps, rng.normal(50, 10, 60))),
                          dtype=upstream_incoming.TIMESERIES_ARRAY_DTYPE)
        for m in metrics})


def _indexer_state(index, metrics):
    """{metric id: (status, needs_raw_data_truncation)}, all of them."""
    ids = [m.id for m in metrics]
    rows = {}
    for status in ("active", "delete"):
        for m in index.list_metrics(attribute_filter={"in": {"id": ids}},
                                    status=status):
            rows[m.id] = (m.status, m.needs_raw_data_truncation)
    assert len(rows) == len(metrics)
    return rows


@pytest.fixture(params=["postgresql", "mysql", "sqlite"])
def index_url(request, tmp_path):
    """The indexers the lean worker speaks to: PostgreSQL, MariaDB (a new
    database each time), and the embedded default's SQLite file."""
    if request.param == "sqlite":
        return "sqlite:///%s" % (tmp_path / "index.sqlite")
    if request.param == "mysql":
        return request.getfixturevalue("new_mysql_database")()
    return request.getfixturevalue("postgresql_url")


def test_lean_processing_equals_in_process(tmp_path, index_url):
    """The same posts processed by the in-process worker into one tree and
    by the lean one into another leave the same bytes, and the lean one
    makes the indexer updates (truncation flag, last measure timestamp,
    revival through upstream's indexer, keeping its history)."""
    conf_a, index, store_a, inbox_a = _setup(index_url, tmp_path / "a")
    conf_b, _, store_b, inbox_b = _setup(index_url, tmp_path / "b")
    policy_name = "lean-" + uuid.uuid4().hex[:8]
    index.create_archive_policy(archive_policy.ArchivePolicy(
        policy_name, 0, _policy_items((1, 3600), (60, 60 * 24)),
        ["mean", "max", "rate:mean", "count", "std", "90pct"]))
    metrics, revived, kept = _workload(index, policy_name)
    deleted = metrics[0]

    coord = coordination.get_coordinator("file://%s" % (tmp_path / "locks"),
                                         b"test")
    coord.start()
    try:
        in_process = metricd.SackProcessor(coord, inbox_a, index, store_a)
        wire = metricd.lean_worker_settings(conf_b, inbox_b, store_b)
        assert wire is not None
        settings = lean_schema.from_wire(wire)
        lean = sack_worker.LeanSackProcessor(
            coord, sack_worker.open_incoming(settings.incoming),
            sack_worker.open_storage(settings.storage),
            sack_worker.open_index(settings.indexer_url),
            lambda resources: sack_worker.revive_resources(settings,
                                                           resources))
        assert type(lean.index).__name__ == {
            "sqlite": "SqliteIndex", "mysql": "MysqlIndex"}.get(
                index_url.split(":")[0].partition("+")[0], "PostgresIndex")
        sacks = [sack_worker.Sack(i, SACKS) for i in range(SACKS)]
        before = datetime.datetime.now(datetime.timezone.utc)
        for round_number, start in enumerate((1_700_000_000, 1_700_000_060,
                                              1_700_003_000)):
            for inbox in (inbox_a, inbox_b):
                _post(inbox, metrics, start, seed=round_number)
            if round_number == 1:
                index.delete_metric(deleted.id)
            for sack in inbox_a.iter_sacks():
                in_process.process(sack, blocking=True)
            # Between the two: the lean worker finds what the in-process
            # one left (the truncation flag cleared) unless reset.
            if round_number == 0:
                state = _indexer_state(index, metrics)
                assert not any(flag for _, flag in state.values())
                assert index.get_resource("generic", revived).ended_at \
                    is None
                table = sqlalchemy_base.Metric.__table__
                with index.facade.writer() as session:
                    session.execute(table.update().where(
                        table.c.id.in_([m.id for m in metrics])).values(
                            needs_raw_data_truncation=True))
                assert all(flag for _, flag in
                           _indexer_state(index, metrics).values())
                # The in-process worker revived this one: end it again for
                # the lean one.
                index.update_resource(
                    "generic", revived,
                    ended_at=REVIVED_END.replace(tzinfo=datetime.timezone.utc))
            counts = [lean.process(sack, blocking=True) for sack in sacks]
            assert sum(counts) == len(metrics) - (round_number >= 1)
            if round_number == 0:
                # The in-process worker runs first in the next rounds and
                # would hide what the lean one did not do.
                state = _indexer_state(index, metrics)
                assert not any(flag for _, flag in state.values())
                assert index.get_resource("generic", revived).ended_at \
                    is None
                assert index.get_resource("generic", kept).ended_at \
                    is not None
    finally:
        coord.stop()

    assert driver_harness.dump_file_storage(tmp_path / "b") == \
        driver_harness.dump_file_storage(tmp_path / "a")
    assert len(driver_harness.dump_file_storage(tmp_path / "b")) > 100
    assert sum(lean.statistics.values()) > 0
    # Nothing left in the lean worker's sacks, deleted metric included.
    assert inbox_b.measures_report(False)["summary"]["measures"] == 0

    state = _indexer_state(index, metrics)
    assert not any(flag for m, (status, flag) in state.items()
                   if m != deleted.id)
    for m in index.list_metrics(
            attribute_filter={"in": {"id": [m.id for m in metrics[1:]]}}):
        assert m.last_measure_timestamp.replace(
            tzinfo=datetime.timezone.utc) >= before - datetime.timedelta(
                seconds=1)
    assert index.get_resource("generic", revived).ended_at is None
    assert index.get_resource("generic", kept).ended_at is not None
    # The revival kept the resource's history (upstream's update_resource).
    history = index.list_resources("generic", history=True,
                                   attribute_filter={"=": {"id": revived}})
    assert len(history) >= 3


def test_lean_worker_loads_no_upstream(tmp_path, index_url):
    """The worker process imports neither upstream Gnocchi, SQLAlchemy nor
    numpy, and processes a sack."""
    conf, index, store, inbox = _setup(index_url, tmp_path)
    policy_name = "lean-" + uuid.uuid4().hex[:8]
    index.create_archive_policy(archive_policy.ArchivePolicy(
        policy_name, 0, _policy_items((60, 100)), ["mean"]))
    metric = index.create_metric(uuid.uuid4(), "test", policy_name)
    _post(inbox, [metric], 1_700_000_000, seed=3)
    settings = metricd.lean_worker_settings(conf, inbox, store)
    settings["coordination_url"] = "file://%s" % (tmp_path / "locks")
    code = r"""
import json, sys
from gnocchi_rs import sack_worker
worker = sack_worker.LeanWorker(json.loads(sys.stdin.read()))
worker.configure()
done = sum(worker.processor.process(s, blocking=True) for s in worker.sacks)
worker.coord.stop()
print(json.dumps({"done": done, "loaded": sorted(
    m for m in ("gnocchi", "sqlalchemy", "numpy", "oslo_db")
    if m in sys.modules)}))
"""
    out = subprocess.run([sys.executable, "-c", code], check=True,
                         input=json.dumps(settings), capture_output=True,
                         text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result == {"done": 1, "loaded": []}
    assert inbox.measures_report(False)["summary"]["measures"] == 0
    (metric,) = index.list_metrics(attribute_filter={"=": {"id": metric.id}})
    aggregates = store.get_aggregated_measures(
        {metric: metric.archive_policy.aggregations})[metric]
    # 60 points from 22:13:20: two minutes.
    assert sum(len(series) for series in aggregates.values()) == 2


def _session_processes(sid):
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(fields[3]) == sid:
            found[int(entry)] = cmdline
    return found


def test_lean_backlog_report_is_upstreams(tmp_path, postgresql_url):
    """The lean backlog report counts what the incoming driver's
    measures_report counts, and logs it as upstream does."""
    conf, index, store, inbox = _setup(postgresql_url, tmp_path)
    metrics = [uuid.uuid4() for _ in range(7)]
    stamps = numpy.datetime64(1_700_000_000, "s") + numpy.arange(5) * \
        numpy.timedelta64(1, "s")
    for values in (range(5), range(5, 10)):
        inbox.add_measures_batch({
            m: numpy.array(list(zip(stamps, map(float, values))),
                           dtype=upstream_incoming.TIMESERIES_ARRAY_DTYPE)
            for m in metrics[:5 if values.start else 7]})
    settings = metricd.lean_reporting_settings(conf, inbox)
    reporter = sack_worker.LeanReporter(settings)
    reporter.incoming = sack_worker.open_incoming(reporter.settings.incoming)
    summary = inbox.measures_report(False)["summary"]
    assert reporter.report_once() == (summary["measures"],
                                      summary["metrics"]) == (12, 7)


def test_metricd_runs_lean_workers(tmp_path, index_url):
    """`gnocchi-rs metricd` on PostgreSQL or SQLite with rs-file: its
    processing workers become lean ones, process what is posted, and stop
    on SIGTERM."""
    conf, index, store, inbox = _setup(index_url, tmp_path)
    policy_name = "lean-" + uuid.uuid4().hex[:8]
    index.create_archive_policy(archive_policy.ArchivePolicy(
        policy_name, 0, _policy_items((60, 100)), ["mean", "count"]))
    metrics = [index.create_metric(uuid.uuid4(), "test", policy_name)
               for _ in range(20)]
    config = tmp_path / "gnocchi.conf"
    config.write_text(f"""
[DEFAULT]
coordination_url = file://{tmp_path}/coordination
[indexer]
url = {index_url}
[storage]
driver = rs-file
file_basepath = {tmp_path}
[incoming]
driver = rs-file
file_basepath = {tmp_path}
[metricd]
workers = 2
metric_processing_delay = 1
metric_reporting_delay = 1
""")
    log = open(tmp_path / "metricd.log", "wb")
    daemon = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "gnocchi-rs"),
         "metricd", "--config-file", str(config)], stdout=log, stderr=log, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            lean = [pid for pid, cmd in _session_processes(daemon.pid).items()
                    if "gnocchi_rs.sack_worker" in cmd]
            if len(lean) == 3:
                break
            time.sleep(0.2)
        # Two processing workers and the backlog report.
        assert len(lean) == 3, (tmp_path / "metricd.log").read_text()
        _post(inbox, metrics, 1_700_000_000, seed=5)
        deadline = time.monotonic() + 60
        while (inbox.measures_report(False)["summary"]["measures"]
               and time.monotonic() < deadline):
            time.sleep(0.2)
        assert inbox.measures_report(False)["summary"]["measures"] == 0
        metrics = index.list_metrics(
            attribute_filter={"in": {"id": [m.id for m in metrics]}})
        assert len(metrics) == 20
        aggregates = store.get_aggregated_measures(
            {m: m.archive_policy.aggregations for m in metrics})
        for m in metrics:
            counts = [series for agg, series in aggregates[m].items()
                      if agg.method == "count"]
            assert sum(counts[0]["values"]) == 60
        os.kill(daemon.pid, signal.SIGTERM)
        assert daemon.wait(60) == 0
        assert not any(os.path.exists("/proc/%d" % pid) and
                       "gnocchi_rs.sack_worker" in
                       _session_processes(daemon.pid).get(pid, "")
                       for pid in lean)
    finally:
        if daemon.poll() is None:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()
        log.close()
    logged = (tmp_path / "metricd.log").read_text()
    assert "Traceback" not in logged
    # The lean workers log where the daemon logs, at its levels.
    for worker_id in (0, 1):
        assert "Lean processing worker %d started" % worker_id in logged
    assert "Lean backlog report started" in logged
    assert "metrics wait to be processed." in logged


def test_lean_worker_sigkill_loses_nothing(tmp_path, index_url,
                                           monkeypatch):
    """The lean worker killed with SIGKILL at random moments, many times,
    then run to the end, leaves the aggregates of an uninterrupted run (of
    the in-process pipeline) and no measure behind (test_kill's workload:
    duplicates, NaN, points out of order or too old)."""
    import random
    import test_kill
    from gnocchi import indexer as upstream_indexer

    conf, index, _, _ = _setup(index_url, tmp_path / "index")
    metrics = driver_harness.make_metrics(6, seed=3)
    for policy in {id(m.archive_policy): m.archive_policy
                   for m in metrics}.values():
        try:
            index.create_archive_policy(policy)
        except upstream_indexer.ArchivePolicyAlreadyExists:
            pass
    for metric in metrics:
        if not index.list_metrics(attribute_filter={"=": {"id": metric.id}}):
            index.create_metric(metric.id, "test",
                                metric.archive_policy.name)
    calm, killed = tmp_path / "calm", tmp_path / "killed"
    for path in (calm, killed, tmp_path / "calm-markers",
                 tmp_path / "killed-markers"):
        path.mkdir()
    monkeypatch.setenv("LEAN_SETTINGS", json.dumps({
        "coordination_url": "file://%s" % (tmp_path / "locks"),
        "indexer_url": index_url,
        "metric_processing_delay": 1,
        "incoming": {"kind": "file", "basepath": str(killed), "sacks": 4},
        "storage": {"kind": "file", "basepath": str(killed),
                    "subdir_len": 2},
    }))
    started = time.monotonic()
    test_kill.run_worker("file", str(calm), str(tmp_path / "calm-markers"))
    span = time.monotonic() - started
    expected = test_kill.read_all("file", str(calm), metrics)
    assert expected and all(v[0] for v in expected.values())

    markers = tmp_path / "killed-markers"
    rng = random.Random(2211)
    kills = 0
    for _ in range(200):
        if len(os.listdir(markers)) == 16 and kills >= 15:
            break
        if test_kill.run_worker("lean", str(killed), str(markers),
                                kill_after=rng.uniform(0, span * 0.6)):
            kills += 1
    test_kill.run_worker("lean", str(killed), str(markers))
    assert kills >= 15
    assert test_kill.read_all("file", str(killed), metrics) == expected
    inbox = rs_incoming_file.FileStorage(driver_harness.conf_for(
        "file", str(killed)))
    assert inbox.measures_report()["summary"]["measures"] == 0


def test_lean_worker_survives_a_dropped_database_connection(
        tmp_path, postgresql_url):
    """The indexer connection dies (PostgreSQL restarted, a proxy timeout):
    the sack being processed keeps its measures, the next call reconnects,
    and every measure is processed once the sack comes round again."""
    import psycopg2

    conf, index, store, inbox = _setup(postgresql_url, tmp_path)
    policy_name = "lean-" + uuid.uuid4().hex[:8]
    index.create_archive_policy(archive_policy.ArchivePolicy(
        policy_name, 0, _policy_items((60, 100)), ["count"]))
    metrics = [index.create_metric(uuid.uuid4(), "test", policy_name)
               for _ in range(12)]
    settings = lean_schema.from_wire(
        metricd.lean_worker_settings(conf, inbox, store))
    lean_index = sack_worker.PostgresIndex(settings.indexer_url)
    coord = coordination.get_coordinator("file://%s" % (tmp_path / "locks"),
                                         b"test")
    coord.start()
    lean = sack_worker.LeanSackProcessor(
        coord, sack_worker.open_incoming(settings.incoming),
        sack_worker.open_storage(settings.storage), lean_index,
        lambda resources: None)
    sacks = [sack_worker.Sack(i, SACKS) for i in range(SACKS)]
    try:
        _post(inbox, metrics, 1_700_000_000, seed=1)
        assert sum(lean.process(s, blocking=True) for s in sacks) == 12
        _post(inbox, metrics, 1_700_000_060, seed=2)
        killer = psycopg2.connect(sack_worker.libpq_url(postgresql_url))
        killer.autocommit = True
        with killer.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)",
                           (lean_index._connection.get_backend_pid(),))
        killer.close()
        failures, processed = 0, 0
        for sack in sacks:
            try:
                processed += lean.process(sack, blocking=True)
            except psycopg2.Error:
                failures += 1
        assert failures == 1
        left = inbox.measures_report(False)["summary"]
        assert left["metrics"] == 12 - processed > 0
        assert sum(lean.process(s, blocking=True) for s in sacks) == \
            left["metrics"]
        assert inbox.measures_report(False)["summary"]["measures"] == 0
    finally:
        coord.stop()
        lean_index.close()
    _assert_counted(index, store, metrics, 120)


def test_lean_worker_wakes_up_on_redis_notifications(tmp_path,
                                                     postgresql_url,
                                                     redis_url):
    """A greedy lean worker on rs-redis incoming processes new measures as
    soon as they come (upstream's keyspace notifications), long before its
    next scan."""
    import threading

    import redis

    redis.Redis.from_url(redis_url).flushdb()
    conf, index, store, _ = _setup(postgresql_url, tmp_path)
    conf.set_override("driver", "rs-redis", "incoming")
    conf.set_override("redis_url", redis_url, "incoming")
    from gnocchi_rs.incoming import redis as rs_incoming_redis
    inbox = rs_incoming_redis.RedisStorage(conf.incoming)
    inbox.upgrade(SACKS)
    policy_name = "lean-" + uuid.uuid4().hex[:8]
    index.create_archive_policy(archive_policy.ArchivePolicy(
        policy_name, 0, _policy_items((60, 100)), ["count"]))
    metrics = [index.create_metric(uuid.uuid4(), "test", policy_name)
               for _ in range(6)]
    settings = metricd.lean_worker_settings(conf, inbox, store)
    assert settings["incoming"]["kind"] == "redis"
    settings.update(coordination_url="file://%s" % (tmp_path / "locks"),
                    metric_processing_delay=600, greedy=True)
    worker = sack_worker.LeanWorker(settings)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()

    def wait_drained(timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not inbox.measures_report(False)["summary"]["measures"]:
                return True
            time.sleep(0.1)
        return False

    try:
        # The first batch may be caught by the start-up scan.
        for start in (1_700_000_000, 1_700_000_060):
            _post(inbox, metrics, start, seed=start)
            posted = time.monotonic()
            assert wait_drained(30)
        latency = time.monotonic() - posted
    finally:
        worker.stop()
        thread.join(30)
    assert not thread.is_alive()
    assert latency < 10
    _assert_counted(index, store, metrics, 120)


def _assert_counted(index, store, metrics, points):
    """Every metric (of a policy with the count method only) counted
    ``points`` measures."""
    metrics = index.list_metrics(
        attribute_filter={"in": {"id": [m.id for m in metrics]}})
    assert len(metrics) > 0
    aggregates = store.get_aggregated_measures(
        {m: m.archive_policy.aggregations for m in metrics})
    for m in metrics:
        (series,) = aggregates[m].values()
        assert sum(series["values"]) == points


def test_lean_worker_honours_a_stop_asked_before_its_exec(tmp_path):
    """cotyledon arms an alarm when it stops a worker; a worker that was
    stopped while it resolved its settings exits at once after the exec
    instead of starting (and being killed by the alarm mid-sack)."""
    code = r"""
import json, os, signal, sys
read_end, write_end = os.pipe()
os.write(write_end, json.dumps({"incoming": {"kind": "nowhere"}}).encode())
os.close(write_end)
os.set_inheritable(read_end, True)
signal.alarm(60)
os.execv(sys.executable, [sys.executable, "-m", "gnocchi_rs.sack_worker",
                          "--settings-fd", str(read_end)])
"""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    # It did not try to start: an unknown backend would be logged.
    assert "nowhere" not in done.stderr
    assert time.monotonic() - started < 20


def test_lean_worker_stops_under_repeated_signals(tmp_path, postgresql_url):
    """SIGTERM and SIGHUP arriving again and again (the master's stop, the
    death signal, a reload) while the worker waits between passes: it
    still stops, and exits 0. A signal handler that takes a lock the
    interrupted wait holds would hang it for good."""
    conf, _, store, inbox = _setup(postgresql_url, tmp_path)
    settings = metricd.lean_worker_settings(conf, inbox, store)
    settings.update(coordination_url="file://%s" % (tmp_path / "locks"),
                    metric_processing_delay=0.001, parent_pid=None,
                    logging={"level": logging.INFO, "stderr": True,
                             "gnocchi_level": logging.INFO})
    for attempt in range(5):
        log_path = tmp_path / ("worker-%d.log" % attempt)
        read_end, write_end = os.pipe()
        os.write(write_end, json.dumps(settings).encode())
        os.close(write_end)
        with open(log_path, "wb") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "gnocchi_rs.sack_worker",
                 "--settings-fd", str(read_end)], pass_fds=(read_end,),
                stderr=log)
        os.close(read_end)
        try:
            deadline = time.monotonic() + 30
            while (b"started" not in log_path.read_bytes()
                   and time.monotonic() < deadline):
                time.sleep(0.05)
            time.sleep(0.5)
            # Signals arriving all the time, for a while: some land while
            # the handler of the previous one runs.
            number, until = 0, time.monotonic() + 2
            while time.monotonic() < until and worker.poll() is None:
                worker.send_signal(signal.SIGHUP if number % 2 else
                                   signal.SIGTERM)
                number += 1
            assert worker.wait(20) == 0, log_path.read_text()
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()


def test_settings_cross_the_pipe_whole_and_strictly(tmp_path,
                                                    postgresql_url):
    """What metricd sends is what the lean processes read, and a key one
    side does not know is refused rather than ignored."""
    conf, _, store, inbox = _setup(postgresql_url, tmp_path)
    for wire in (metricd.lean_worker_settings(conf, inbox, store, 3),
                 metricd.lean_reporting_settings(conf, inbox)):
        sent = json.loads(json.dumps(wire))
        read = lean_schema.from_wire(sent)
        assert lean_schema.to_wire(read) == wire
        assert json.loads(json.dumps(lean_schema.to_wire(read))) == sent
        with pytest.raises(TypeError):
            lean_schema.from_wire(dict(sent, unknown=1))
        with pytest.raises(TypeError):
            lean_schema.from_wire(dict(sent, incoming=dict(
                sent["incoming"], unknown=1)))
    assert lean_schema.from_wire(
        metricd.lean_worker_settings(conf, inbox, store, 3)).worker_id == 3
    assert isinstance(lean_schema.from_wire(
        metricd.lean_reporting_settings(conf, inbox)), lean_schema.Reporter)
