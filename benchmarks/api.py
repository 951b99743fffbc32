"""The REST API, request by request, side by side: upstream Gnocchi's WSGI
application (`gnocchi.rest.app.load_app`, `file` storage and incoming)
against what `gnocchi-rs api` serves (`rs-file`), each in one
single-threaded worker, on the same SQLite index (`sqlite:////...`, the
indexer gnocchi-rs embeds, which both sides load) and the same data
directory, one side after the other.

Requests (all answered 202; every answer is checked):
* POST /v1/batch/metrics/measures, 5000 measures (100 metrics x 50);
* POST /v1/metric/<id>/measures, 1 measure;
* POST /v1/batch/resources/metrics/measures?create_metrics=true, what
  Ceilometer sends: 50 resources x 2 metrics x 10 measures, the metrics
  existing (the steady state), and a variant whose 100 metrics the request
  has to create.
Each side runs --repeat times (3), the sides alternating, and each figure
is the median of its runs (this machine's CPU time per request varies by
tens of percent between minutes). In a run each request is sent N times
(and again until 2 s have passed, as /proc counts in 10 ms ticks) over
HTTP on 127.0.0.1 (keep-alive where the server keeps it) after a warm-up;
the figure is the server's CPU per request (utime + stime of the server
process and its descendants, from /proc/<pid>/stat, before and after;
nothing subtracted; the part spent in the kernel, system time, printed
beside). The client's CPU is not counted. The idle CPU of
each server is measured too and printed when it would add more than 1% to
a figure.

Incoming backend (`--incoming`): `file` (default), the data directory's
incoming files, as the embedded default has them; or `redis`, both sides
writing to one redis-server started by the benchmark (upstream's `redis`
driver against `rs-redis`), whose CPU counts in both sides' figures.
On `file`, each request creates and renames one file per metric, kernel
work that costs the same on both sides and varies with the file system
and the disk under it: `--data-parent /dev/shm` puts the data directory
on tmpfs, which leaves out the disk's journal and block layer (on this
machine's virtual disk the same run varies from 3x to 10x on the batch,
on tmpfs from 10x to 15x).

Two auth modes, keystone-less: `basic` (Authorization: basic admin:) and
`remoteuser` (`X-Remote-User: admin`, turned into REMOTE_USER by a
one-line front end in `wsgi_floor.py`, standing for the authenticating web
server). REMOTE_USER is a str, as every WSGI server passes it; a side that
answers that with an error (upstream 4.7's helper calls `.decode()` on
it: a 500) is measured with bytes instead, as upstream's own tests pass
it, and the table says so.

Servers (`--server`, several allowed, or `all`), both sides under the
same one:
* granian (default): granian's WSGI interface, 1 worker, 1 blocking
  thread, 1 runtime thread: what `gnocchi-rs api` runs by default; the
  gnocchi-rs side is `gnocchi-rs api --workers 1 --threads 1` itself (in
  remoteuser mode, granian with the same settings and the front end);
* gthread: gunicorn's gthread worker, 1 worker x 1 thread; the
  gnocchi-rs side is `gnocchi-rs api --server gunicorn` itself likewise;
* sync: gunicorn's sync worker, 1 worker;
* uwsgi: uwsgi as upstream's `gnocchi-api` starts it (--http router,
  --master, --lazy-apps), 1 process x 1 thread.
Otherwise both sides are served through `wsgi_floor.application` (the
application `gnocchi-rs api` loads, or upstream's). When uwsgi and
granian both run, a last table compares the two as deployed: upstream's
`gnocchi-api` (uwsgi) against `gnocchi-rs api` (granian). Each server also gets floor rows: a trivial WSGI app
(`wsgi_floor.floor`) answering the single-measure POST and the
5000-measure batch (the server reading a 268 KB body).

Usage: python benchmarks/api.py [--server granian|gthread|sync|uwsgi|all]
           [--auth basic,remoteuser] [--incoming file|redis] [--scale F]
           [--repeat N] [--data-parent DIR] [--keep]

Over 500 lines because it drives four HTTP servers and two auth modes
for both sides; what it shares with the other benchmarks is in
procstat.py.
"""
from __future__ import annotations

import argparse
import base64
import datetime
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

from procstat import ServerCpu, free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.join(ROOT, "benchmarks")
BIN = os.path.dirname(sys.executable)
SERVERS = ("granian", "gthread", "sync", "uwsgi")
# The server `gnocchi-rs api --server X` runs for a server kind here.
CLI_SERVERS = {"granian": "granian", "gthread": "gunicorn"}
SERVER_NAMES = {
    "gthread": "gunicorn gthread, 1 worker x 1 thread",
    "sync": "gunicorn sync, 1 worker",
    "granian": "granian WSGI, 1 worker x 1 blocking thread",
    "uwsgi": "uwsgi --http (router + 1 process x 1 thread)",
}
SIDES = ("upstream", "gnocchi-rs")
IDLE_SECONDS = 2.0
MIN_WALL = 2.0
WARMUP = 3

# name, label, requests per run, target (x less CPU), key in the figures
REQUESTS = (
    ("batch", "batch/metrics/measures, 100 metrics x 50", 40, 10),
    ("single", "metric/<id>/measures, 1 measure", 200, 5),
    ("ceilometer", "batch/resources/..., 50 res x 2 x 10", 40, 10),
    ("ceilometer-new", "  the same, creating the 100 metrics", 10, None),
)
FLOOR_REQUESTS = 400


class Client:
    def __init__(self, port, headers):
        self.port = port
        self.headers = dict(headers, **{"Content-Type": "application/json"})
        self.conn = None

    def reconnect(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                               timeout=600)

    def call(self, method, path, body=None):
        if self.conn is None:
            self.reconnect()
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self.conn.request(method, path, body=body, headers=self.headers)
        response = self.conn.getresponse()
        payload = response.read()
        if response.will_close:
            self.conn.close()
        return response.status, payload

    def json(self, method, path, body=None, expect=(200, 201)):
        status, payload = self.call(method, path, body)
        if status not in expect:
            raise SystemExit("%s %s: %d %s" % (method, path, status,
                                                payload[:500]))
        return json.loads(payload) if payload else None


def iso(ts):
    return datetime.datetime.fromtimestamp(
        ts, datetime.timezone.utc).isoformat()


class Workload:
    """The objects the requests name and their bodies (built before the
    clock starts)."""

    def __init__(self, args):
        self.args = args
        self.metrics = []
        self.resources = []
        self.t = 1_700_000_000

    def create(self, client):
        client.json("POST", "/v1/archive_policy", {
            "name": "bench", "back_window": 0,
            "definition": [{"granularity": "1m", "points": 1440},
                           {"granularity": "1h", "points": 720}]})
        self.metrics = [client.json("POST", "/v1/metric",
                                    {"archive_policy_name": "bench"})["id"]
                        for _ in range(100)]
        project, user = str(uuid.uuid4()), str(uuid.uuid4())
        for _ in range(50):
            rid = str(uuid.uuid4())
            client.json("POST", "/v1/resource/generic", {
                "id": rid, "project_id": project, "user_id": user,
                "metrics": {"cpu": {"archive_policy_name": "bench"},
                            "memory.usage": {"archive_policy_name": "bench"}
                            }})
            self.resources.append(rid)

    def _next_t(self, points):
        t = self.t
        self.t += points
        return t

    def bodies(self, name, n):
        """(path, [body bytes] x n)."""
        out = []
        if name == "batch":
            for _ in range(n):
                t = self._next_t(50)
                out.append({m: [{"timestamp": iso(t + k),
                                 "value": float(k % 17)}
                                for k in range(50)] for m in self.metrics})
            path = "/v1/batch/metrics/measures"
        elif name == "single":
            for _ in range(n):
                out.append([{"timestamp": iso(self._next_t(1)),
                             "value": 42.0}])
            path = "/v1/metric/%s/measures" % (
                self.metrics[0] if self.metrics else uuid.uuid4())
        else:
            for _ in range(n):
                t = self._next_t(10)
                if name == "ceilometer":
                    names = ("cpu", "memory.usage")
                else:   # new metric names: the request creates them
                    tag = uuid.uuid4().hex[:12]
                    names = ("cpu." + tag, "memory.usage." + tag)
                out.append({
                    rid: {metric: {"archive_policy_name": "bench",
                                   "unit": "ns",
                                   "measures": [
                                       {"timestamp": iso(t + k),
                                        "value": float(k)}
                                       for k in range(10)]}
                          for metric in names}
                    for rid in self.resources})
            path = ("/v1/batch/resources/metrics/measures"
                    "?create_metrics=true")
        return path, [json.dumps(b).encode() for b in out]


# The incoming backend's redis-server, when --incoming redis: (URL, pid).
REDIS = {}


def write_conf(workdir, side, auth):
    path = os.path.join(workdir, "%s-%s.conf" % (side, auth))
    driver = "rs-file" if side == "gnocchi-rs" else "file"
    incoming = "[incoming]\ndriver = %s\n" % driver
    if REDIS:
        incoming = "[incoming]\ndriver = %s\nredis_url = %s\n" % (
            "rs-redis" if side == "gnocchi-rs" else "redis", REDIS["url"])
    with open(path, "w") as f:
        f.write("[DEFAULT]\ncoordination_url = file://%s/coordination\n"
                "[indexer]\nurl = sqlite:///%s/index.sqlite\n"
                "[storage]\ndriver = %s\nfile_basepath = %s/data\n"
                "%s[api]\nauth_mode = %s\n"
                % (workdir, workdir, driver, workdir, incoming, auth))
    return path


def start_redis(workdir):
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from project_services import start_service

    url = start_service("redis", os.path.join(workdir, "services"))[
        "GNOCCHI_RS_REDIS_URL"]
    info = subprocess.run(["redis-cli", "-u", url, "info", "server"],
                          capture_output=True, text=True, check=True).stdout
    pid = int(info.split("process_id:", 1)[1].split()[0])
    REDIS.update(url=url, pid=pid)


def stop_redis(workdir):
    if REDIS:
        from project_services import stop_services
        stop_services(os.path.join(workdir, "services"))


def server_command(server, app, conf, port, remote_user, gnocchi_rs_cli):
    """argv and environment of one server process."""
    env = dict(os.environ, WSGI_FLOOR_APP=app, GNOCCHI_BENCH_CONF=conf or "",
               PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH",
                                                             ""))
    env.pop("WSGI_FLOOR_REMOTE_USER", None)
    if remote_user:
        env["WSGI_FLOOR_REMOTE_USER"] = remote_user
    if gnocchi_rs_cli:
        return [os.path.join(BIN, "gnocchi-rs"), "api", "--host",
                "127.0.0.1", "--port", str(port), "--workers", "1",
                "--threads", "1", "--server", CLI_SERVERS[server],
                "--config-file", conf], env
    target = "wsgi_floor:application"
    if server in ("gthread", "sync"):
        argv = [os.path.join(BIN, "gunicorn"), "--bind",
                "127.0.0.1:%d" % port, "--workers", "1", "--worker-class",
                server, "--timeout", "600", "--chdir", HERE]
        if server == "gthread":
            argv += ["--threads", "1"]
        return argv + [target], env
    if server == "granian":
        return [os.path.join(BIN, "granian"), "--interface", "wsgi",
                "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                "--blocking-threads", "1", "--runtime-threads", "1",
                "--no-ws", "--working-dir", HERE, target], env
    if server == "uwsgi":
        # upstream's gnocchi-api arguments (gnocchi/cli/api.py), 1 x 1
        return [os.path.join(BIN, "uwsgi"), "--http", "127.0.0.1:%d" % port,
                "--master", "--enable-threads", "--thunder-lock",
                "--die-on-term", "--processes", "1", "--threads", "1",
                "--lazy-apps", "--chdir", HERE, "--module", target,
                "--need-app", "--so-keepalive", "--http-keepalive",
                "--add-header", "Connection: Keep-Alive",
                "--disable-logging", "-H", sys.prefix], env
    raise ValueError(server)


class Server:
    def __init__(self, argv, env, port, log_path):
        self.port = port
        self.log_path = log_path
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(argv, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True)
        probe = Client(port, {})
        for _ in range(600):
            if self.proc.poll() is not None:
                break
            try:
                status, _ = probe.call("GET", "/")
                if status < 500:
                    break
            except OSError:
                probe.conn = None
            time.sleep(0.1)
        else:
            self.stop()
            raise SystemExit("server did not start: see %s" % log_path)
        if self.proc.poll() is not None:
            raise SystemExit("server exited (%d): see %s" % (
                self.proc.returncode, log_path))
        if probe.conn:
            probe.conn.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        # whatever of its session is left (uwsgi's workers can outlive
        # their master)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.log.close()


def run_requests(server, client, path, bodies, expect=202, repeat=True,
                 method="POST", kernel=None):
    """(server CPU seconds, wall seconds, requests) for the bodies (None:
    no body), one by one, sent again in turn (if ``repeat``) until
    MIN_WALL seconds have passed; the kernel's part of the CPU appended
    to the list ``kernel`` if one is given."""
    cpu = ServerCpu(server.proc.pid, [REDIS["pid"]] if REDIS else ())
    start = time.perf_counter()
    sent = 0
    while True:
        for body in bodies:
            status, payload = client.call(method, path, body)
            if status != expect:
                raise SystemExit("%s %s: %d %s (log: %s)" % (
                    method, path, status, payload[:300], server.log_path))
        sent += len(bodies)
        wall = time.perf_counter() - start
        if not repeat or wall >= MIN_WALL or sent >= 1000 * len(bodies):
            break
    seconds = cpu.seconds()
    if kernel is not None:
        kernel.append(cpu.kernel_seconds())
    if os.environ.get("API_BENCH_DEBUG"):
        print("  %s x %d: %.3f s CPU, %.3f s wall" % (
            path[:40], sent, seconds, wall))
    return seconds, wall, sent


def idle_rate(server):
    cpu = ServerCpu(server.proc.pid, [REDIS["pid"]] if REDIS else ())
    time.sleep(IDLE_SECONDS)
    return cpu.seconds() / IDLE_SECONDS


def count(n, scale):
    return max(5, int(round(n * scale)))


def start_side(server_kind, side, auth, conf, workdir, remote_user):
    port = free_port()
    cli = (server_kind in CLI_SERVERS and side == "gnocchi-rs"
           and auth == "basic")
    argv, env = server_command(server_kind, side, conf, port, remote_user,
                               cli)
    log = os.path.join(workdir, "%s-%s-%s%s.log" % (
        server_kind, side, auth, "-" + remote_user if remote_user else ""))
    return Server(argv, env, port, log)


def create_objects(workdir, workload):
    """The archive policy, metrics and resources, through the REST API of
    `gnocchi-rs api` (basic auth)."""
    conf = write_conf(workdir, "gnocchi-rs", "basic")
    server = start_side("granian", "gnocchi-rs", "basic", conf, workdir,
                        None)
    client = Client(server.port, {"Authorization": "basic " +
                                  base64.b64encode(b"admin:").decode()})
    try:
        workload.create(client)
    finally:
        server.stop()


def measure_side(server_kind, side, auth, workdir, workload, args):
    conf = write_conf(workdir, side, auth)
    figures = {}
    if auth == "basic":
        headers = {"Authorization": "basic " + base64.b64encode(
            b"admin:").decode()}
        server = start_side(server_kind, side, auth, conf, workdir, None)
    else:
        # REMOTE_USER as every WSGI server passes it (a str); bytes, as
        # upstream's tests pass it, only if the str is refused
        headers = {"X-Remote-User": "admin"}
        server = start_side(server_kind, side, auth, conf, workdir, "str")
        figures["remote_user"] = "str"
        path, bodies = workload.bodies("single", 1)
        try:
            status, _ = Client(server.port, headers).call("POST", path,
                                                          bodies[0])
        except http.client.HTTPException:
            status = "no answer"   # uwsgi closes on an exception
        if status != 202:
            server.stop()
            figures["remote_user"] = "bytes (a str got %s)" % status
            server = start_side(server_kind, side, auth, conf, workdir,
                                "bytes")
    client = Client(server.port, headers)
    try:
        for name, _, n, _ in REQUESTS:
            path, bodies = workload.bodies(name, WARMUP)
            run_requests(server, client, path, bodies)
        figures["idle"] = idle_rate(server)
        client.reconnect()   # a keep-alive may have timed out while idle
        for name, _, n, _ in REQUESTS:
            path, bodies = workload.bodies(name, count(n, args.scale))
            kernel = []
            cpu, wall, sent = run_requests(
                server, client, path, bodies,
                repeat=name != "ceilometer-new", kernel=kernel)
            figures[name] = (cpu / sent, wall / sent, kernel[-1] / sent)
    finally:
        if client.conn:
            client.conn.close()
        server.stop()
    return figures


def measure_floor(server_kind, workdir, workload, args):
    """{request name: (CPU, wall) per request} of the trivial app, for the
    single-measure body and the 5000-measure batch body: what the server
    itself costs (reading a 268 KB body is not free)."""
    port = free_port()
    argv, env = server_command(server_kind, "floor", None, port, None, False)
    server = Server(argv, env, port,
                    os.path.join(workdir, "%s-floor.log" % server_kind))
    client = Client(port, {})
    floors = {}
    try:
        for name, n in (("single", FLOOR_REQUESTS), ("batch", 40)):
            path, bodies = workload.bodies(name, WARMUP)
            run_requests(server, client, path, bodies)
            path, bodies = workload.bodies(name, count(n, args.scale))
            cpu, wall, sent = run_requests(server, client, path, bodies)
            floors[name] = (cpu / sent, wall / sent)
    finally:
        if client.conn:
            client.conn.close()
        server.stop()
    return floors


def _median_figures(runs):
    """Each figure's median over runs (CPU and wall per request taken
    from the same run: the one of median CPU)."""
    figures = dict(runs[0])
    for name in runs[0]:
        if isinstance(runs[0][name], tuple):
            ordered = sorted((run[name] for run in runs),
                             key=lambda figure: figure[0])
            figures[name] = ordered[len(ordered) // 2]
        elif name == "idle":
            figures[name] = sorted(run[name] for run in runs)[
                len(runs) // 2]
    return figures


def available(server_kind):
    exe = {"gthread": "gunicorn", "sync": "gunicorn"}.get(server_kind,
                                                          server_kind)
    return os.path.exists(os.path.join(BIN, exe))


def print_table(server_kind, auth, results, floor):
    up, rs = results["upstream"], results["gnocchi-rs"]
    print()
    print("%s; auth %s; server CPU per request (wall per request)" % (
        SERVER_NAMES[server_kind], auth))
    print("%-40s %20s %20s %7s %7s" % ("POST /v1/...", "upstream",
                                      "gnocchi-rs", "ratio", "target"))
    for name, label, _, target in REQUESTS:
        (uc, uw, uk), (rc, rw, rk) = up[name], rs[name]
        ratio = uc / rc if rc else float("inf")
        print("%-40s %9.2f ms (%5.1f) %9.2f ms (%5.1f) %6.1fx %7s"
              "   kernel: %.2f / %.2f ms" % (
                  label, 1e3 * uc, 1e3 * uw, 1e3 * rc, 1e3 * rw, ratio,
                  ">= %dx%s" % (target, "" if ratio >= target else " no")
                  if target else "", 1e3 * uk, 1e3 * rk))
    for name, label in (("single", "1 measure"),
                        ("batch", "5000-measure batch")):
        print("%-40s %9.2f ms (%5.1f)" % ("floor: trivial WSGI app, " + label,
                                          1e3 * floor[name][0],
                                          1e3 * floor[name][1]))
    for side, figures in results.items():
        idle = figures["idle"]
        worst = min(figures[n][1] * idle / figures[n][0]
                    for n, _, _, _ in REQUESTS if figures[n][0])
        if worst > 0.01:
            print("  %s idles at %.1f ms CPU/s: up to %.0f%% of a figure "
                  "above" % (side, 1e3 * idle, 100 * worst))
    for side, figures in results.items():
        if "remote_user" in figures:
            print("  %s: REMOTE_USER %s" % (side, figures["remote_user"]))


def print_as_deployed(medians):
    """Upstream's gnocchi-api (uwsgi) against gnocchi-rs api (granian),
    from the runs above, per auth mode both measured in."""
    for auth in sorted({a for _, a in medians}):
        if ("uwsgi", auth) not in medians or ("granian", auth) not in medians:
            continue
        up = medians[("uwsgi", auth)]["upstream"]
        rs = medians[("granian", auth)]["gnocchi-rs"]
        print()
        print("as deployed, auth %s: upstream's gnocchi-api (uwsgi) vs "
              "gnocchi-rs api (granian), server CPU per request" % auth)
        for name, label, _, target in REQUESTS:
            uc, rc = up[name][0], rs[name][0]
            print("%-40s %9.2f ms %9.2f ms %6.1fx" % (
                label, 1e3 * uc, 1e3 * rc, uc / rc if rc else float("inf")))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="granian",
                        help="comma-separated: %s, or all (default: "
                        "granian, what gnocchi-rs api runs)"
                        % ", ".join(SERVERS))
    parser.add_argument("--auth", default="basic,remoteuser")
    parser.add_argument("--incoming", choices=("file", "redis"),
                        default="file",
                        help="the incoming backend of both sides")
    parser.add_argument("--data-parent", metavar="DIR",
                        help="where the data directory goes (default: "
                        "the temporary directory; /dev/shm: tmpfs)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per side, alternating; medians shown")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiplies the request counts")
    parser.add_argument("--keep", action="store_true",
                        help="keep the data directory and server logs")
    args = parser.parse_args()
    servers = (SERVERS if args.server == "all"
               else tuple(args.server.split(",")))
    auths = tuple(args.auth.split(","))
    for s in servers:
        if s not in SERVERS:
            parser.error("unknown server %r" % s)
    workdir = tempfile.mkdtemp(prefix="gnocchi-rs-api-bench-",
                               dir=args.data_parent)
    started = time.perf_counter()
    try:
        if args.incoming == "redis":
            start_redis(workdir)
        subprocess.run([os.path.join(BIN, "gnocchi-rs"), "upgrade",
                        "--config-file",
                        write_conf(workdir, "gnocchi-rs", "basic")],
                       check=True, capture_output=True)
        workload = Workload(args)
        print("data: %s (SQLite index, %s incoming, %d sacks); "
              "requests per run: %s" % (
                  workdir, args.incoming, 128, ", ".join(
                      "%s %d" % (n, count(k, args.scale))
                      for n, _, k, _ in REQUESTS)))
        create_objects(workdir, workload)
        medians = {}
        for server_kind in servers:
            if not available(server_kind):
                print("\n%s: not installed, skipped" % server_kind)
                continue
            floor = measure_floor(server_kind, workdir, workload, args)
            for auth in auths:
                runs = {side: [] for side in SIDES}
                for _ in range(args.repeat):
                    for side in SIDES:
                        runs[side].append(measure_side(
                            server_kind, side, auth, workdir, workload,
                            args))
                medians[(server_kind, auth)] = {
                    side: _median_figures(figures)
                    for side, figures in runs.items()}
                print_table(server_kind, auth, medians[(server_kind, auth)],
                            floor)
                if args.repeat > 1:
                    print("  (median of %d runs per side, sides "
                          "alternating; ratios of the runs: %s)" % (
                              args.repeat, "; ".join(
                                  "%s %s" % (name, " ".join(
                                      "%.1fx" % (u[name][0] / r[name][0])
                                      for u, r in zip(runs["upstream"],
                                                      runs["gnocchi-rs"])))
                                  for name, _, _, _ in REQUESTS)))
                sys.stdout.flush()
        print_as_deployed(medians)
        print("\n(%.0f s)" % (time.perf_counter() - started))
    finally:
        stop_redis(workdir)
        if args.keep:
            print("kept %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
