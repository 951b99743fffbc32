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
import subprocess
import sys
import tempfile
import time
import uuid

import numpy

BIN = os.path.dirname(sys.executable)

_UPSTREAM_READ = """
import sys, time, json
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
                  "maxrss": peak_kib()}))
"""


_OURS = """
import contextlib, io, json, sys, time
from gnocchi_rs.cli import main
wall, cpu = time.monotonic(), time.process_time()
out = io.StringIO()
with contextlib.redirect_stdout(out):
    status = main(["check", "--quiet", "--json", "--config-file", sys.argv[1]])
report = json.loads(out.getvalue())
print(json.dumps({"wall": time.monotonic() - wall,
                  "cpu": time.process_time() - cpu, "status": status,
                  "report": report,
                  "maxrss": peak_kib()}))
"""

# VmHWM: the peak of this process' own memory since exec (ru_maxrss would
# carry the forking parent's over exec).
_PEAK = """
def peak_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
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


def run_measured(script, path):
    """A fresh interpreter runs ``script``, which reports its own wall,
    CPU and peak RSS (KiB) as JSON on its last line."""
    out = subprocess.run([sys.executable, "-c", _PEAK + script, path],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


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
    run_measured(_OURS, path)
    ours = run_measured(_OURS, path)
    up = run_measured(_UPSTREAM_READ, path)
    report = ours["report"]
    print("gnocchi-rs check: %d metrics, %d objects, %d points, %s" % (
        report["metrics"], report["objects"], report["points"],
        "sound" if not report["findings"] else report["counts"]))
    print("%-40s %8s %8s %9s" % ("", "wall s", "CPU s", "peak MiB"))
    print("%-40s %8.2f %8.2f %9.0f" % (
        "gnocchi-rs check (command, in process)", ours["wall"], ours["cpu"],
        ours["maxrss"] / 1024))
    print("%-40s %8.2f" % ("  of which the check itself",
                           report["seconds"]))
    print("%-40s %8.2f %8.2f %9.0f" % (
        "upstream's file driver reads it all", up["wall"], up["cpu"],
        up["maxrss"] / 1024))
    print("upstream's read: %d aggregate points. Wall time, upstream's "
          "read / gnocchi-rs check: %.1fx (the check itself: %.1fx)" % (
              up["points"], up["wall"] / ours["wall"],
              up["wall"] / report["seconds"]))


if __name__ == "__main__":
    main()
