"""The service end to end, side by side: upstream Gnocchi (its REST API
and `gnocchi-metricd`, upstream `file` drivers) against gnocchi-rs
(`gnocchi-rs api` + `gnocchi-rs metricd`, what `gnocchi-rs serve` runs,
`rs-file` drivers), configured alike on this machine: each side gets its
own PostgreSQL indexer, file storage, `file://` coordination, 2 API
processes and 1 metricd worker.

The seed workload: N metrics (1000 by default) receive batches of 5000
measures through `POST /v1/batch/metrics/measures` until B batches (40 by
default) are in; the clock stops when `/v1/status` shows no backlog and
the aggregates read back. Prints measures/s end to end, the CPU time of the
side's processes (API, metricd, PostgreSQL; not the client; in all and
by part, with the part of it spent in the kernel), the peak memory of its
API and metricd processes, and the ratios.

Both APIs are started by `gnocchi-rs api`: upstream's side as
`--server gunicorn` (upstream's Pecan application with upstream's drivers
under gunicorn's gthread workers; upstream's own `gnocchi-api` needs
uwsgi, which pip cannot install without a compiler, and sizes itself by
the CPU count), gnocchi-rs' side as it runs by default (granian, the
native request path). `benchmarks/api.py --server all` sets the servers'
own costs apart.

Usage: python benchmarks/service.py [--metrics N] [--batches B]
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
sys.path.insert(0, os.path.join(ROOT, "tests"))
from project_services import start_service, stop_services  # noqa: E402
from procstat import cpu_seconds, descendants, free_port, peak_rss_mb, system_seconds  # noqa: E402,E501
BATCH_MEASURES = 5000
AUTH = "Basic " + base64.b64encode(b"admin:").decode()


class Api:
    def __init__(self, url):
        self.url = url

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method,
            headers={"Authorization": AUTH,
                     "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=300) as response:
            payload = response.read()
        return json.loads(payload) if payload else None


def run_side(name, workdir, args):
    """Starts one side, runs the workload, returns its figures."""
    side_dir = os.path.join(workdir, name)
    os.makedirs(side_dir)
    os.chmod(side_dir, 0o755)   # PostgreSQL runs as the postgres user
    pg = start_service("postgresql", os.path.join(side_dir, "services"))
    rs = name == "gnocchi-rs"
    conf = os.path.join(side_dir, "gnocchi.conf")
    with open(conf, "w") as f:
        f.write("[DEFAULT]\ncoordination_url = file://%s/coordination\n"
                "[indexer]\nurl = %s\n"
                "[storage]\ndriver = %s\nfile_basepath = %s/data\n"
                "[metricd]\nworkers = 1\nmetric_processing_delay = 1\n"
                "[api]\nauth_mode = basic\n"
                % (side_dir, pg["GNOCCHI_RS_PG_SQLALCHEMY_URL"],
                   "rs-file" if rs else "file", side_dir))
    upgrade = ([os.path.join(BIN, "gnocchi-rs"), "upgrade"] if rs
               else [os.path.join(BIN, "gnocchi-upgrade")])
    subprocess.run(upgrade + ["--config-file", conf], check=True,
                   capture_output=True)
    port = free_port()
    logs = open(os.path.join(side_dir, "server.log"), "w")
    metricd = ([os.path.join(BIN, "gnocchi-rs"), "metricd", "--workers", "1"]
               if rs else [os.path.join(BIN, "gnocchi-metricd")])
    servers = [
        subprocess.Popen([os.path.join(BIN, "gnocchi-rs"), "api", "--host",
                          "127.0.0.1", "--port", str(port), "--workers", "2",
                          "--config-file", conf]
                         + ([] if rs else ["--server", "gunicorn"]),
                         stdout=logs, stderr=subprocess.STDOUT),
        subprocess.Popen(metricd + ["--config-file", conf],
                         stdout=logs, stderr=subprocess.STDOUT),
    ]
    api = Api("http://127.0.0.1:%d" % port)
    try:
        for _ in range(240):
            try:
                api.call("GET", "/v1/status")
                break
            except OSError:
                time.sleep(0.5)
        else:
            raise SystemExit("%s: the API did not start (%s)" % (
                name, os.path.join(side_dir, "server.log")))
        api.call("POST", "/v1/archive_policy", {
            "name": "bench", "back_window": 0,
            "definition": [{"granularity": "1m", "points": 1440},
                           {"granularity": "1h", "points": 720}]})
        metrics = [api.call("POST", "/v1/metric",
                            {"archive_policy_name": "bench"})["id"]
                   for _ in range(args.metrics)]
        postmaster = int(open(os.path.join(
            side_dir, "services", "postgresql", "data",
            "postmaster.pid")).readline())
        roots = [s.pid for s in servers] + [postmaster]
        parts = {"api": servers[0].pid, "metricd": servers[1].pid,
                 "postgresql": postmaster}
        cpu0 = sum(cpu_seconds(descendants(roots)).values())
        part0 = {part: sum(cpu_seconds(descendants([pid])).values())
                 for part, pid in parts.items()}
        kernel0 = {part: sum(system_seconds(descendants([pid])).values())
                   for part, pid in parts.items()}
        start = time.perf_counter()
        per_metric = max(1, BATCH_MEASURES // args.metrics) \
            if args.metrics < BATCH_MEASURES else 1
        metrics_per_batch = BATCH_MEASURES // per_metric
        t0 = 1_700_000_000
        posted = 0
        for b in range(args.batches):
            first = (b * metrics_per_batch) % len(metrics)
            chosen = [metrics[(first + i) % len(metrics)]
                      for i in range(metrics_per_batch)]
            base = t0 + b * per_metric
            body = {m: [{"timestamp": base + k, "value": float(k % 17)}
                        for k in range(per_metric)] for m in chosen}
            api.call("POST", "/v1/batch/metrics/measures", body)
            posted += len(chosen) * per_metric
        while True:
            status = api.call("GET", "/v1/status?details=false")
            if status["storage"]["summary"]["measures"] == 0:
                break
            time.sleep(0.2)
        readable = api.call(
            "GET", "/v1/metric/%s/measures?granularity=60" % metrics[0])
        wall = time.perf_counter() - start
        if not readable:
            raise SystemExit("%s: no aggregates read back" % name)
        pids = descendants(roots)
        cpu = sum(cpu_seconds(pids).values()) - cpu0
        by_part = {part: sum(cpu_seconds(descendants([pid])).values())
                   - part0[part] for part, pid in parts.items()}
        kernel = {part: sum(system_seconds(descendants([pid])).values())
                  - kernel0[part] for part, pid in parts.items()}
        memory = peak_rss_mb(descendants([s.pid for s in servers]))
        return {"measures": posted, "wall": wall, "cpu": cpu,
                "peak_mb": memory, "by_part": by_part, "kernel": kernel}
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
        for server in servers:
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
        logs.close()
        stop_services(os.path.join(side_dir, "services"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metrics", type=int, default=1000)
    parser.add_argument("--batches", type=int, default=40)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="gnocchi-rs-service-bench-")
    os.chmod(workdir, 0o755)
    results = {name: run_side(name, workdir, args)
               for name in ("upstream", "gnocchi-rs")}
    n = results["upstream"]["measures"]
    print("service: %d metrics, %d batches of %d measures (%d measures), "
          "posted until processed and readable" % (
              args.metrics, args.batches, BATCH_MEASURES, n))
    print("%-11s %12s %18s %16s" % ("side", "measures/s",
                                    "CPU s/100k meas.", "peak memory MB"))
    for name, r in results.items():
        print("%-11s %12.0f %18.2f %16.1f" % (
            name, r["measures"] / r["wall"], 1e5 * r["cpu"] / r["measures"],
            r["peak_mb"]))
    for name, r in results.items():
        print("  %-10s CPU s/100k by part (of which in the kernel): %s" % (
            name, ", ".join(
                "%s %.2f (%.2f)" % (part, 1e5 * seconds / r["measures"],
                                    1e5 * r["kernel"][part] / r["measures"])
                for part, seconds in r["by_part"].items())))
    up, rs = results["upstream"], results["gnocchi-rs"]
    print("gnocchi-rs: %.1fx the throughput, %.1fx less CPU, %.2fx the "
          "peak memory of upstream" % (
              up["wall"] / rs["wall"], up["cpu"] / rs["cpu"],
              rs["peak_mb"] / up["peak_mb"]))


if __name__ == "__main__":
    main()
