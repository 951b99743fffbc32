"""Metricd killed with SIGKILL at random moments, many times: afterwards
every measure is accounted for, the aggregates equal those of an
uninterrupted run, and no reader ever saw a torn file."""
import os
import random
import signal
import subprocess
import sys
import time

import driver_harness as h

HERE = os.path.dirname(os.path.abspath(__file__))


def read_all(basepath, metrics):
    conf = h.make_conf(basepath=basepath)
    storage = h.DRIVERS[("file", "rs")][0](conf)
    out = {}
    for metric in metrics:
        result = storage.get_aggregated_measures(
            {metric: metric.archive_policy.aggregations})[metric]
        for agg, ts in result.items():
            out[(metric.id, agg.method, str(agg.granularity))] = (
                ts.ts["timestamps"].tolist(), ts.ts["values"].tobytes())
    return out


def run_worker(basepath, markers, kill_after=None):
    proc = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "kill_worker.py"), basepath,
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


def test_sigkill_loses_nothing(tmp_path):
    metrics = h.make_metrics(6, seed=3)
    calm = tmp_path / "calm"
    calm.mkdir()
    (tmp_path / "calm-markers").mkdir()
    started = time.monotonic()
    run_worker(str(calm), str(tmp_path / "calm-markers"))
    # Kill moments are spread over the length of an uninterrupted run.
    span = time.monotonic() - started
    expected = read_all(str(calm), metrics)
    assert expected and all(v[0] for v in expected.values())

    killed = tmp_path / "killed"
    killed.mkdir()
    markers = tmp_path / "killed-markers"
    markers.mkdir()
    rng = random.Random(2026)
    kills = 0
    for _ in range(200):
        if len(os.listdir(markers)) == 16 and kills >= 15:
            break
        if run_worker(str(killed), str(markers),
                      kill_after=rng.uniform(0, span * 0.5)):
            kills += 1
    run_worker(str(killed), str(markers))
    assert kills >= 15
    assert read_all(str(killed), metrics) == expected
    conf = h.make_conf(basepath=str(killed))
    incoming = h.DRIVERS[("file", "rs")][1](conf)
    assert incoming.measures_report()["summary"]["measures"] == 0
    # Files written whole or not at all: every stored blob decodes.
    storage = h.DRIVERS[("file", "rs")][0](conf)
    raws = storage._get_or_create_unaggregated_timeseries(metrics)
    from gnocchi_rs import carbonara
    for metric, raw in raws.items():
        carbonara.BoundTimeSerie.unserialize(raw, None, 0)
