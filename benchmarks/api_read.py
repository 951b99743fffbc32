"""The REST API's reads, request by request, side by side: upstream
Gnocchi's WSGI application (`file` storage) against `gnocchi-rs api`
(`rs-file`), each in one single-threaded worker of the same HTTP server
(`--server`: granian, what `gnocchi-rs api` runs by default, or gunicorn's
gthread; see benchmarks/api.py), over the
same SQLite index and the same stored data (the layouts are the same; the
data is written and processed once, through `gnocchi-rs api`).

Requests (every answer is checked: 200, and the same bytes from both
sides):
* GET /v1/metric/<id>/measures?granularity=60: 1000 points;
* the same at granularity=1: 86400 points (a day at 1 s);
* the last hour of it at 60 s, 60 points: what Grafana's datasource
  sends per metric of a dashboard, where the per-request cost counts;
* GET /v1/resource/generic/<id>/metric/cpu/measures, 1000 points of max;
* POST /v1/aggregates?granularity=60, the mean of 10 metrics (1000 points
  each), as Aodh and Grafana ask for it; the same through the first
  API, GET /v1/aggregation/metric?metric=...&granularity=60, as older
  Grafana and Aodh versions ask for it;
* POST /v1/aggregates searching 20 resources for their "load" metric,
  grouped by project (4 groups), the mean over 1000 points: Grafana's
  grouped query;
* the same search for one project's resources over the last hour, the
  operations as a list, details=False&needed_overlap=0: what Aodh's
  aggregation-by-resources alarm sends at every evaluation; the grouped
  search through the first API, POST /v1/aggregation/resource/generic/
  metric/load?groupby=project_id;
* Aodh's aggregation-by-metrics alarm: the last five minutes of the mean
  of 3 metrics, the operations as a JSON list, details=False&
  needed_overlap=0;
* a Grafana dashboard's refresh, counted as one request: a resource
  search (POST /v1/search/resource/generic, 20 resources), then one GET
  .../metric/load/measures per resource over the last 24 h at 60 s, then
  5 POST /v1/aggregates over the same range grouped by project (with
  details=true, fill, needed_overlap and start, stop and end, as the
  datasource sends them).
The figure is the server's CPU per request (as in api.py: utime + stime
of the server and its children from /proc, N requests and again until
2 s have passed, after a warm-up; the client is not counted).

Usage: python benchmarks/api_read.py [--scale F] [--keep]
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import api

HEADERS = {"Authorization": "basic " + base64.b64encode(b"admin:").decode()}
T0 = 1_700_000_040        # a minute boundary
MINUTES = 1000

# name, label, requests per run, target (x less CPU)
REQUESTS = (
    ("get-1000", "GET metric measures, 1000 points", 100, 10),
    ("get-86400", "  the same, 86400 points at 1 s", 10, 10),
    ("get-60", "  the last hour at 60 s, 60 points", 200, 10),
    ("get-named", "GET resource/../metric/cpu, 1000 pts", 100, 10),
    ("aggregates", "POST aggregates, mean of 10 metrics", 40, 10),
    ("legacy", "  the same, GET /v1/aggregation/metric", 40, 10),
    ("search-groupby", "  search 20 resources, groupby project", 20, 10),
    ("legacy-search", "  the same, /v1/aggregation/resource", 20, 10),
    ("search-aodh", "  search a project, last hour (Aodh)", 40, 10),
    ("aodh-metrics", "Aodh: mean of 3 metrics, ops as a list", 40, 10),
    ("dashboard", "Grafana dashboard: search, 20 GET, 5 agg", 3, 10),
)
PROJECTS = 4
SEARCHED = 20


class Workload:
    def __init__(self):
        self.metric = self.second_metric = self.resource = None
        self.group = []
        self.searched = []
        self.searched_resources = []

    def create(self, client):
        client.json("POST", "/v1/archive_policy", {
            "name": "bench", "back_window": 0,
            "definition": [{"granularity": "1m", "points": 1440},
                           {"granularity": "1h", "points": 720}]})
        client.json("POST", "/v1/archive_policy", {
            "name": "bench-1s", "back_window": 0,
            "aggregation_methods": ["mean", "max"],
            "definition": [{"granularity": "1s", "points": 86400}]})
        self.resource = str(uuid.uuid4())
        client.json("POST", "/v1/resource/generic", {
            "id": self.resource, "metrics": {
                "cpu": {"archive_policy_name": "bench"}}})
        self.metric = client.json(
            "GET", "/v1/resource/generic/%s" % self.resource)["metrics"][
                "cpu"]
        self.group = [self.metric] + [
            client.json("POST", "/v1/metric",
                        {"archive_policy_name": "bench"})["id"]
            for _ in range(9)]
        self.second_metric = client.json(
            "POST", "/v1/metric", {"archive_policy_name": "bench-1s"})["id"]
        for k in range(SEARCHED):
            resource = client.json("POST", "/v1/resource/generic", {
                "id": str(uuid.uuid4()), "project_id": "project-%d" % (
                    k % PROJECTS), "user_id": "user-%d" % k,
                "metrics": {"load": {"archive_policy_name": "bench"}}})
            self.searched.append(resource["metrics"]["load"])
            self.searched_resources.append(resource["id"])
        # Three measures a minute (mean, max and the others differ),
        # values with all their digits.
        for k, metric in enumerate(self.group + self.searched):
            client.json("POST", "/v1/batch/metrics/measures", {metric: [
                {"timestamp": T0 + 20 * i, "value": (i * 0.37 + k) % 97.3}
                for i in range(3 * MINUTES)]}, expect=(202,))
        for start in range(0, 86400, 21600):
            client.json("POST", "/v1/metric/%s/measures" % self.second_metric,
                        [{"timestamp": T0 + s, "value": s % 1000 / 7}
                         for s in range(start, start + 21600)],
                        expect=(202,))
        # Processed now, by upstream's refresh through gnocchi-rs' API.
        for metric in self.group + self.searched + [self.second_metric]:
            client.json("GET", "/v1/metric/%s/measures?refresh=true"
                        % metric)

    def requests(self, name):
        """[(method, path, body), ...]: what one request of the row sends."""
        if name == "dashboard":
            return self._dashboard()
        if name == "aodh-metrics":
            stop = T0 + 60 * MINUTES
            return [("POST", ("/v1/aggregates?details=False&needed_overlap=0"
                              "&granularity=60&start=%d&stop=%d" % (
                                  stop - 300, stop)), {
                "operations": ["aggregate", "mean", ["metric"] + [
                    [m, "mean"] for m in self.group[:3]]]})]
        return [self.request(name)]

    def _dashboard(self):
        stop = T0 + 60 * MINUTES
        window = "start=%d&stop=%d" % (stop - 86400, stop)
        sent = [("POST", "/v1/search/resource/generic",
                 {"!=": {"user_id": "nobody"}})]
        sent += [("GET", "/v1/resource/generic/%s/metric/load/measures?"
                  "granularity=60&%s" % (resource, window), None)
                 for resource in self.searched_resources]
        sent += [("POST", ("/v1/aggregates?details=true&granularity=60&%s"
                           "&end=%d&fill=null&needed_overlap=0"
                           "&groupby=project_id" % (window, stop)), {
            "operations": "(aggregate %s (metric load %s))" % (
                aggregation, aggregation),
            "resource_type": "generic", "search": "user_id != 'nobody'"})
            for aggregation in ("mean", "max", "min", "sum", "std")]
        return sent

    def request(self, name):
        """(method, path, body)."""
        if name == "get-1000":
            return "GET", "/v1/metric/%s/measures?granularity=60" % (
                self.metric), None
        if name == "get-86400":
            return "GET", "/v1/metric/%s/measures?granularity=1" % (
                self.second_metric), None
        if name == "get-60":
            start = T0 + 60 * (MINUTES - 60)
            return "GET", ("/v1/metric/%s/measures?granularity=60&start=%d"
                           % (self.metric, start)), None
        if name == "get-named":
            return "GET", ("/v1/resource/generic/%s/metric/cpu/measures"
                           "?granularity=60&aggregation=max"
                           % self.resource), None
        if name == "legacy":
            return "GET", "/v1/aggregation/metric?%s&granularity=60" % (
                "&".join("metric=%s" % m for m in self.group)), None
        if name == "search-groupby":
            return "POST", "/v1/aggregates?groupby=project_id&granularity=60", {
                "operations": "(aggregate mean (metric load mean))",
                "resource_type": "generic", "search": "user_id != 'nobody'"}
        if name == "legacy-search":
            return "POST", ("/v1/aggregation/resource/generic/metric/load"
                            "?groupby=project_id&granularity=60"), {
                "!=": {"user_id": "nobody"}}
        if name == "search-aodh":
            start = T0 + 60 * (MINUTES - 60)
            return "POST", ("/v1/aggregates?details=False&needed_overlap=0"
                            "&granularity=60&start=%d&stop=%d" % (
                                start, T0 + 60 * MINUTES)), {
                "operations": ["aggregate", "mean",
                               ["metric", "load", "mean"]],
                "resource_type": "generic",
                "search": {"=": {"project_id": "project-1"}}}
        operations = "(aggregate mean (metric %s))" % " ".join(
            "(%s mean)" % m for m in self.group)
        return "POST", "/v1/aggregates?granularity=60", {
            "operations": operations}


def answer(client, method, path, body):
    status, payload = client.call(method, path, body)
    if status != 200:
        raise SystemExit("%s %s: %d %s" % (method, path, status,
                                            payload[:300]))
    return payload


def comparable(path, payload):
    """The answer, with details=true's references sorted: upstream lists
    them from a set, in no particular order (two runs of upstream
    differ)."""
    if "details=true" not in path:
        return payload
    answer = json.loads(payload)
    for measures in ([group["measures"] for group in answer]
                     if isinstance(answer, list) else [answer]):
        measures["references"].sort(key=lambda r: r["id"])
    return json.dumps(answer).encode()


def run_sequence(server, client, sequence, n):
    """(server CPU seconds, wall seconds, sequences sent): the sequence of
    requests sent n times, and again until api.MIN_WALL has passed."""
    if len(sequence) == 1:
        method, path, body = sequence[0]
        return api.run_requests(server, client, path, [body] * n,
                                expect=200, method=method)
    cpu = api.ServerCpu(server.proc.pid)
    start = time.perf_counter()
    sent = 0
    while True:
        for _ in range(n):
            for method, path, body in sequence:
                answer(client, method, path, body)
        sent += n
        wall = time.perf_counter() - start
        if wall >= api.MIN_WALL or sent >= 1000 * n:
            return cpu.seconds(), wall, sent


def measure_floor(workdir, args):
    """(CPU, wall) per request of the server serving a trivial app."""
    port = api.free_port()
    argv, env = api.server_command(args.server, "floor", None, port, None,
                                   False)
    server = api.Server(argv, env, port,
                        os.path.join(workdir, "%s-floor.log" % args.server))
    client = api.Client(port, {})
    try:
        api.run_requests(server, client, "/", [None] * api.WARMUP,
                         method="GET")
        cpu, wall, sent = api.run_requests(
            server, client, "/", [None] * api.count(200, args.scale),
            method="GET")
    finally:
        if client.conn:
            client.conn.close()
        server.stop()
    return cpu / sent, wall / sent


def measure_side(side, workdir, workload, args):
    conf = api.write_conf(workdir, side, "basic")
    server = api.start_side(args.server, side, "basic", conf, workdir, None)
    client = api.Client(server.port, HEADERS)
    figures, answers = {}, {}
    try:
        for name, _, _, _ in REQUESTS:
            answers[name] = b"\n".join(
                comparable(path, answer(client, method, path, body))
                for method, path, body in workload.requests(name))
            run_sequence(server, client, workload.requests(name), api.WARMUP)
        for name, _, n, _ in REQUESTS:
            cpu, wall, sent = run_sequence(server, client,
                                           workload.requests(name),
                                           api.count(n, args.scale))
            figures[name] = (cpu / sent, wall / sent)
    finally:
        if client.conn:
            client.conn.close()
        server.stop()
    return figures, answers


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--server", choices=tuple(api.CLI_SERVERS),
                        default="granian")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="gnocchi-rs-api-read-bench-")
    started = time.perf_counter()
    try:
        subprocess.run([os.path.join(api.BIN, "gnocchi-rs"), "upgrade",
                        "--config-file",
                        api.write_conf(workdir, "gnocchi-rs", "basic")],
                       check=True, capture_output=True)
        workload = Workload()
        conf = api.write_conf(workdir, "gnocchi-rs", "basic")
        server = api.start_side(args.server, "gnocchi-rs", "basic", conf,
                                workdir, None)
        try:
            workload.create(api.Client(server.port, HEADERS))
        finally:
            server.stop()
        results = {side: measure_side(side, workdir, workload, args)
                   for side in api.SIDES}
        (up, up_answers), (rs, rs_answers) = (results["upstream"],
                                              results["gnocchi-rs"])
        print("%s; auth basic; server CPU per request (wall per request)"
              % api.SERVER_NAMES[args.server])
        print("%-40s %20s %20s %7s %7s %s" % (
            "request", "upstream", "gnocchi-rs", "ratio", "target",
            "same bytes"))
        for name, label, _, target in REQUESTS:
            (uc, uw), (rc, rw) = up[name], rs[name]
            ratio = uc / rc if rc else float("inf")
            same = up_answers[name] == rs_answers[name]
            print("%-40s %9.2f ms (%5.1f) %9.2f ms (%5.1f) %6.1fx %7s %s" % (
                label, 1e3 * uc, 1e3 * uw, 1e3 * rc, 1e3 * rw, ratio,
                ">= %dx%s" % (target, "" if ratio >= target else " no"),
                "yes (%d B)" % len(rs_answers[name]) if same else "NO"))
        floor_cpu, floor_wall = measure_floor(workdir, args)
        print("\nfloor: %.2f ms CPU (%.2f wall) per GET of a trivial WSGI "
              "app under the same server: the part of every request no "
              "application removes" % (1e3 * floor_cpu, 1e3 * floor_wall))
        print("\n(%.0f s)" % (time.perf_counter() - started))
        if not all(up_answers[n] == rs_answers[n] for n, _, _, _ in
                   REQUESTS):
            sys.exit("the answers differ")
    finally:
        if args.keep:
            print("kept %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
