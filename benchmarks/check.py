"""`gnocchi-rs check` on 10 000 metrics, against reading the same data
through upstream's storage driver.

A new rs-file store (SQLite index) gets `--metrics` metrics of the medium
policy (2 granularities x 6 methods) with `--points` points each at 60 s,
processed. Then, each in a process of its own:

- `gnocchi-rs check --json --quiet`: lists, reads and decodes every
  object natively (and judges it);
- upstream: every metric's raw series and every aggregate read through
  upstream's `file` driver (`_get_or_create_unaggregated_timeseries` and
  `get_aggregated_measures`), the work a check must at least do.

Prints wall time, CPU time and peak RSS of each.

Usage: python benchmarks/check.py [--metrics 10000] [--points 120]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid

import numpy

BIN = os.path.dirname(sys.executable)

_UPSTREAM_READ = """
import resource, sys, time, json
from gnocchi import indexer, service, storage
from oslo_config import cfg
conf = service.prepare_service(args=["--config-file", sys.argv[1]],
                               conf=cfg.ConfigOpts(), skip_log_opts=True)
conf.set_override("driver", "file", "storage")
index = indexer.get_driver(conf)
driver = storage.get_driver(conf)
wall, cpu = time.monotonic(), time.process_time()
metrics = index.list_metrics(details=True)
points = 0
for start in range(0, len(metrics), 256):
    chunk = metrics[start:start + 256]
    raws = driver._get_or_create_unaggregated_timeseries(chunk)
    answer = driver.get_aggregated_measures(
        {m: m.archive_policy.aggregations for m in chunk})
    for per_metric in answer.values():
        for series in per_metric.values():
            points += len(series)
print(json.dumps({"wall": time.monotonic() - wall,
                  "cpu": time.process_time() - cpu, "points": points,
                  "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def populate(directory, metrics, points):
    from gnocchi import chef, incoming, indexer, service, storage
    from oslo_config import cfg
    from tooz import coordination

    path = os.path.join(directory, "gnocchi.conf")
    with open(path, "w") as f:
        f.write("[DEFAULT]\ncoordination_url = file://{d}/coordination\n"
                "[indexer]\nurl = sqlite:///{d}/index.sqlite\n"
                "[storage]\ndriver = rs-file\nfile_basepath = {d}/storage\n"
                "[incoming]\ndriver = rs-file\n"
                "file_basepath = {d}/incoming\n".format(d=directory))
    subprocess.run([os.path.join(BIN, "gnocchi-rs"), "upgrade",
                    "--config-file", path], check=True, capture_output=True)
    conf = service.prepare_service(args=["--config-file", path],
                                   conf=cfg.ConfigOpts(), skip_log_opts=True)
    index = indexer.get_driver(conf)
    ids = [uuid.uuid4() for _ in range(metrics)]
    for metric_id in ids:
        index.create_metric(metric_id, "admin", archive_policy_name="medium")
    inc = incoming.get_driver(conf)
    rng = numpy.random.default_rng(5)
    start = numpy.datetime64("2026-12-06T00:00:00", "ns")
    times = start + numpy.arange(points) * numpy.timedelta64(60, "s")
    inc.add_measures_batch({
        metric_id: [incoming.Measure(t, v) for t, v in
                    zip(times, rng.normal(50, 5, points))]
        for metric_id in ids})
    coord = coordination.get_coordinator(conf.coordination_url, b"bench")
    coord.start(start_heart=True)
    listed = index.list_metrics(details=True)
    the_chef = chef.Chef(coord, inc, index, storage.get_driver(conf))
    for chunk in range(0, len(listed), 500):
        the_chef.refresh_metrics(listed[chunk:chunk + 500], timeout=600,
                                 sync=True)
    coord.stop()
    index.disconnect()
    return path


def run_measured(argv):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.monotonic()
    out = subprocess.run(argv, capture_output=True, text=True)
    wall = time.monotonic() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode not in (0, 1):
        raise SystemExit(out.stderr[-3000:])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss / 1024, out.stdout


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--metrics", type=int, default=10000)
    parser.add_argument("--points", type=int, default=120)
    args = parser.parse_args()
    directory = tempfile.mkdtemp(prefix="gnocchi-rs-bench-check-")
    started = time.monotonic()
    path = populate(directory, args.metrics, args.points)
    print("populated %d metrics x %d points in %.0fs" % (
        args.metrics, args.points, time.monotonic() - started))
    # Warm the page cache for both alike.
    run_measured([os.path.join(BIN, "gnocchi-rs"), "check", "--quiet",
                  "--json", "--config-file", path])
    ours = run_measured([os.path.join(BIN, "gnocchi-rs"), "check",
                         "--quiet", "--json", "--config-file", path])
    report = json.loads(ours[3])
    # ru_maxrss of children is the largest child so far: measure upstream
    # in a fresh interpreter that reports its own.
    upstream = run_measured([sys.executable, "-c", _UPSTREAM_READ, path])
    up = json.loads(upstream[3].strip().splitlines()[-1])
    print("gnocchi-rs check: %d metrics, %d objects, %d points, %s" % (
        report["metrics"], report["objects"], report["points"],
        "sound" if not report["findings"] else report["counts"]))
    print("%-34s %9s %9s %10s" % ("", "wall s", "CPU s", "peak MiB"))
    print("%-34s %9.2f %9.2f %10.0f" % ("gnocchi-rs check (whole command)",
                                         ours[0], ours[1], ours[2]))
    print("%-34s %9.2f %9.2f %10s" % ("  of which the check itself",
                                       report["seconds"], float("nan"), ""))
    print("%-34s %9.2f %9.2f %10.0f" % (
        "upstream driver reads everything", up["wall"], up["cpu"],
        up["maxrss"] / 1024))
    print("upstream read %d aggregate points; ratio of the check to "
          "upstream's read (wall): %.1fx" % (up["points"],
                                             up["wall"] / report["seconds"]))


if __name__ == "__main__":
    main()
