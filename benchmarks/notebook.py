"""Reading series into a DataFrame from a notebook: 100 metrics x 1 day at
60 s (144 000 points) from a `gnocchi-rs serve`, three ways in one run:

- local: `gnocchi_rs.notebook.open_local(data_dir).measures(...)`, the
  stored data read in process (no server);
- http: `gnocchi_rs.notebook.connect(url).measures(...)`, the same query
  over HTTP, answers read natively;
- by hand: what a notebook user writes today, `requests` per metric,
  `r.json()` and pandas (`DataFrame`, `to_datetime`, one column per
  metric).

Each way runs in a process of its own: the time is the median of
`--repeat` reads (wall clock, the server's time included for the HTTP
ways), the memory the read's peak RSS above the process' RSS before it.
All three frames are checked equal.

Usage: python benchmarks/notebook.py [--metrics 100] [--repeat 5]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap

import numpy

WAYS = ("local", "http", "by hand")

_READER = textwrap.dedent("""
    import json, statistics, sys, time
    import pandas, requests
    from gnocchi_rs import notebook as gn

    way, url, data_dir, ids, repeat, out = sys.argv[1:7]
    ids, repeat = json.loads(ids), int(repeat)

    def by_hand():
        session = requests.Session()
        columns = {}
        for metric in ids:
            r = session.get(url + "/v1/metric/%s/measures" % metric,
                            params={"granularity": 60}, auth=("admin", ""))
            r.raise_for_status()
            points = pandas.DataFrame(
                r.json(), columns=["timestamp", "granularity", "value"])
            columns[metric] = pandas.Series(
                points["value"].to_numpy(),
                index=pandas.to_datetime(points["timestamp"], utc=True))
        return pandas.DataFrame(columns)

    if way == "local":
        source = gn.open_local(data_dir)
    elif way == "http":
        source = gn.connect(url, user="admin")
    read = by_hand if way == "by hand" else (
        lambda: source.measures(ids, granularity=60))

    def status_mib(field):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024

    def rss_mib():
        return status_mib("VmRSS")

    before = rss_mib()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        frame = read()
        times.append(time.perf_counter() - start)
        del frame
    # VmHWM: this process' own peak since exec (ru_maxrss would carry the
    # forking parent's over exec).
    peak = status_mib("VmHWM")
    frame = read()
    frame.index.name = "timestamp"
    frame.columns.name = "metric"
    frame.to_pickle(out)
    print(json.dumps({"seconds": statistics.median(times),
                      "peak_mib": peak - before}))
""")


def _populate(g, metrics):
    import pandas

    day = pandas.date_range("2026-12-06", periods=1440, freq="60s",
                            tz="UTC")
    rng = numpy.random.default_rng(1)
    ids = []
    for i in range(metrics):
        ids.append(g.create_metric(name="m%03d" % i,
                                   archive_policy_name="medium"))
    for chunk in range(0, metrics, 10):
        g.write({metric: pandas.Series(
            numpy.round(rng.normal(50, 10, 1440), 3), index=day)
            for metric in ids[chunk:chunk + 10]})
    g.wait_until_processed(timeout=600)
    return ids


def main():
    import pandas

    from gnocchi_rs import notebook as gn

    parser = argparse.ArgumentParser()
    parser.add_argument("--metrics", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="gnocchi-rs-bench-notebook-")
    with gn.serve(os.path.join(workdir, "data")) as server:
        ids = _populate(server.connect(), args.metrics)
        results, frames = {}, {}
        for way in WAYS:
            out = os.path.join(workdir, "%s.pickle" % way.replace(" ", "_"))
            answer = subprocess.run(
                [sys.executable, "-c", _READER, way, server.url,
                 server.data_dir, json.dumps(ids), str(args.repeat), out],
                check=True, capture_output=True, text=True)
            results[way] = json.loads(answer.stdout.strip().splitlines()[-1])
            frames[way] = pandas.read_pickle(out)
    for way in ("local", "http"):
        pandas.testing.assert_frame_equal(frames[way].drop(
            columns=[]).rename_axis(columns="metric"), frames["by hand"],
            check_exact=True, check_freq=False, check_index_type=False,
            check_column_type=False)
    points = int(frames["local"].count().sum())
    print("%d metrics x 1 day at 60 s: %d points into a wide DataFrame "
          "(frames equal)" % (args.metrics, points))
    print("%-8s %10s %12s %14s" % ("way", "ms", "peak MiB", "vs by hand"))
    hand = results["by hand"]["seconds"]
    for way in WAYS:
        r = results[way]
        print("%-8s %10.1f %12.1f %13.1fx" % (
            way, r["seconds"] * 1000, r["peak_mib"], hand / r["seconds"]))


if __name__ == "__main__":
    main()
