"""What `gnocchi-rs serve` costs a single-node user while it runs: the
time from the command to the first 200 of `/v1/status` on a new data
directory, then, for every process of its tree, resident memory (RSS, and
PSS, which shares the pages several processes map) at idle and at its
peak under load, and the CPU it burns at idle.

The load: 20 batches of 5000 measures over 1000 metrics posted through
`POST /v1/batch/metrics/measures`, until `/v1/status` shows no backlog.

Usage: python benchmarks/serve_footprint.py [--api-server granian|gunicorn]
           [--idle-seconds S]
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from procstat import cpu_seconds, descendants, free_port

BIN = os.path.dirname(sys.executable)
AUTH = "basic " + base64.b64encode(b"admin:").decode()


def call(port, method, path, body=None):
    request = urllib.request.Request(
        "http://127.0.0.1:%d%s" % (port, path), method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": AUTH, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        payload = response.read()
        return json.loads(payload) if payload else None


def memory(pids):
    """{pid: (name, RSS MiB, PSS MiB, peak RSS MiB)}."""
    out = {}
    for pid in pids:
        try:
            with open("/proc/%d/status" % pid) as f:
                status = dict(line.split(":", 1) for line in f if ":" in line)
            with open("/proc/%d/smaps_rollup" % pid) as f:
                # Past the header (an address range, with spaces).
                rollup = dict(line.split(":", 1) for line in f
                              if " " not in line.partition(":")[0])
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                name = f.read().replace(b"\0", b" ").decode()[:60]
        except OSError:
            continue

        def mib(text):
            return int(text.split()[0]) / 1024

        out[pid] = (name, mib(status["VmRSS"]), mib(rollup["Pss"]),
                    mib(status["VmHWM"]))
    return out


def print_memory(title, found):
    print("\n%s" % title)
    print("%-62s %9s %9s %9s" % ("process", "RSS MiB", "PSS MiB", "peak"))
    for pid, (name, rss, pss, peak) in sorted(found.items()):
        print("%-62s %9.1f %9.1f %9.1f" % (name, rss, pss, peak))
    print("%-62s %9.1f %9.1f %9.1f" % (
        "total (%d processes)" % len(found),
        sum(v[1] for v in found.values()), sum(v[2] for v in found.values()),
        sum(v[3] for v in found.values())))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-server", default="granian",
                        choices=("granian", "gunicorn"))
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="gnocchi-rs-serve-footprint-")
    port = free_port()
    log = open(os.path.join(workdir, "serve.log"), "w")
    started = time.perf_counter()
    serve = subprocess.Popen(
        [os.path.join(BIN, "gnocchi-rs"), "serve", "--data-dir",
         os.path.join(workdir, "data"), "--port", str(port),
         "--api-server", args.api_server],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        while True:
            if serve.poll() is not None:
                raise SystemExit("serve exited; see %s" % log.name)
            try:
                call(port, "GET", "/v1/status")
                break
            except OSError:
                time.sleep(0.05)
        startup = time.perf_counter() - started
        print("gnocchi-rs serve (API under %s): first 200 of /v1/status "
              "%.1f s after the command, on a new data directory"
              % (args.api_server, startup))
        time.sleep(5)          # past the first passes of metricd
        pids = descendants([serve.pid])
        cpu0 = sum(cpu_seconds(pids).values())
        time.sleep(args.idle_seconds)
        pids = descendants([serve.pid])
        idle = (sum(cpu_seconds(pids).values()) - cpu0) / args.idle_seconds
        print_memory("at idle (idle CPU of the tree: %.1f ms/s)"
                     % (1e3 * idle), memory(pids))

        call(port, "POST", "/v1/archive_policy", {
            "name": "bench", "back_window": 0,
            "definition": [{"granularity": "1m", "points": 1440},
                           {"granularity": "1h", "points": 720}]})
        metrics = [call(port, "POST", "/v1/metric",
                        {"archive_policy_name": "bench"})["id"]
                   for _ in range(1000)]
        for b in range(20):
            call(port, "POST", "/v1/batch/metrics/measures", {
                m: [{"timestamp": 1_700_000_000 + 5 * b + k,
                     "value": float(k)} for k in range(5)]
                for m in metrics})
        while call(port, "GET", "/v1/status?details=false")[
                "storage"]["summary"]["measures"]:
            time.sleep(0.2)
        print_memory("after 100 000 measures posted and processed (peak: "
                     "VmHWM)", memory(descendants([serve.pid])))
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(90)
        except subprocess.TimeoutExpired:
            serve.kill()
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
