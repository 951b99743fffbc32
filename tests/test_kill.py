"""Metricd killed with SIGKILL at random moments, many times: afterwards
every measure is accounted for, the aggregates equal those of an
uninterrupted run, and no reader ever saw a torn file."""
import os
import random
import signal
import subprocess
import sys
import time

import pytest

import driver_harness as h

HERE = os.path.dirname(os.path.abspath(__file__))


def read_all(kind, store, metrics):
    storage = h.DRIVERS[(kind, "rs")][0](h.conf_for(kind, store))
    out = {}
    for metric in metrics:
        result = storage.get_aggregated_measures(
            {metric: metric.archive_policy.aggregations})[metric]
        for agg, ts in result.items():
            out[(metric.id, agg.method, str(agg.granularity))] = (
                ts.ts["timestamps"].tolist(), ts.ts["values"].tobytes())
    return out


def run_worker(kind, store, markers, kill_after=None):
    proc = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "kill_worker.py"), kind, store,
         markers], stdout=subprocess.PIPE, cwd=HERE,
        env=dict(os.environ, PYTHONPATH=HERE))
    assert proc.stdout.readline().strip() == b"ready"
    if kill_after is None:
        assert proc.wait(timeout=300) == 0
        return False
    time.sleep(kill_after)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True
    assert proc.returncode == 0
    return False


@pytest.fixture(params=["file", "ceph"])
def stores(request, tmp_path):
    """Two empty stores of one backend, named as kill_worker takes them."""
    if request.param == "ceph":
        cluster = request.getfixturevalue("ceph_cluster")
        return "ceph", ["%s:%s" % (cluster.conffile, cluster.new_pool())
                        for _ in range(2)]
    paths = [tmp_path / "calm", tmp_path / "killed"]
    for path in paths:
        path.mkdir()
    return "file", [str(p) for p in paths]


def test_sigkill_loses_nothing(tmp_path, stores):
    kind, (calm, killed) = stores
    metrics = h.make_metrics(6, seed=3)
    (tmp_path / "calm-markers").mkdir()
    started = time.monotonic()
    run_worker(kind, calm, str(tmp_path / "calm-markers"))
    # Kill moments are spread over the length of an uninterrupted run.
    span = time.monotonic() - started
    expected = read_all(kind, calm, metrics)
    assert expected and all(v[0] for v in expected.values())

    markers = tmp_path / "killed-markers"
    markers.mkdir()
    rng = random.Random(2026)
    kills = 0
    for _ in range(200):
        if len(os.listdir(markers)) == 16 and kills >= 15:
            break
        if run_worker(kind, killed, str(markers),
                      kill_after=rng.uniform(0, span * 0.5)):
            kills += 1
    run_worker(kind, killed, str(markers))
    assert kills >= 15
    assert read_all(kind, killed, metrics) == expected
    conf = h.conf_for(kind, killed)
    incoming = h.DRIVERS[(kind, "rs")][1](conf)
    assert incoming.measures_report()["summary"]["measures"] == 0
    # Objects written whole or not at all: every stored raw series decodes.
    storage = h.DRIVERS[(kind, "rs")][0](conf)
    raws = storage._get_or_create_unaggregated_timeseries(metrics)
    from gnocchi_rs import carbonara
    for metric, raw in raws.items():
        carbonara.BoundTimeSerie.unserialize(raw, None, 0)
