"""metricd side by side: upstream's storage/incoming drivers against the
gnocchi-rs drivers on the same backend, in one run.

The seed scenario: N metrics (2000 by default) each receive 60 new points
(one per second... of a minute each, as a collector sends them), then
every sack is processed with a real PostgreSQL indexer: by upstream's
drivers through upstream's Chef (sack lock, indexer lookup,
add_measures_to_metrics, delete), as ``gnocchi-metricd`` does; by the
gnocchi-rs drivers through the same Chef (``rs-*``: upstream's daemon with
our drivers) and by gnocchi-rs metricd's lean worker (``rs-*+``:
``gnocchi_rs.sack_worker``, which loads neither upstream Gnocchi nor
SQLAlchemy nor numpy; its settings are resolved here, as its daemon
resolves them before it starts it).
A first round creates the archives (not measured); the measured round
folds 60 more points per metric into them.

Each driver's metricd runs in a process of its own, which only processes
(the measures are posted by another process, as the API would), so its
peak memory is metricd's. CPU is that process's user+system time plus the
servers' (PostgreSQL, and redis-server or the Ceph daemons for those
backends) read from /proc. Prints metrics/s, CPU ms per metric, peak RSS
(VmHWM), and the ratios; for file, also the kernel CPU that upstream's
layout alone costs (a bare loop doing the same file operations), which
bounds what any implementation can reach.

Usage: python benchmarks/metricd.py [--metrics N] [--backends file,redis,ceph]
Needs tools/services.sh (it starts PostgreSQL, Redis and Ceph itself), or
GNOCCHI_RS_PG_URL / GNOCCHI_RS_REDIS_URL / GNOCCHI_RS_CEPH_CONF to use
running servers. Each Ceph run gets a pool of its own.
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POINTS = 60
SERVERS = ("postgres", "redis-server", "ceph-osd", "ceph-mon")

sys.path.insert(0, os.path.join(ROOT, "tests"))
import system_rados  # noqa: E402
from project_services import start_service, stop_services  # noqa: E402

system_rados.expose()


def servers_cpu_seconds(workdir=None):
    """CPU time of the indexer's and the backend's server processes: those
    this run started (under ``workdir``), or all of them when the servers
    were given."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                stat = f.read()
            name = stat[stat.index("(") + 1:stat.rindex(")")]
            if not name.startswith(SERVERS):
                continue
            if workdir is not None:
                # PostgreSQL's and Redis's processes run in their data
                # directory; the Ceph daemons name their config file.
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    cmdline = f.read().decode(errors="replace")
                try:
                    cwd = os.readlink("/proc/%s/cwd" % pid)
                except PermissionError:
                    sys.exit("cannot tell whose server process %s is (its "
                             "cwd is unreadable): run as the servers' user "
                             "or give the servers' URLs" % pid)
                if not (cwd.startswith(workdir) or workdir in cmdline):
                    continue
        except OSError:  # the process has exited
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


def peak_rss_mb():
    """This process's peak resident memory. Not ``ru_maxrss``: after
    fork+exec it keeps the parent's peak (this benchmark's, which loads
    upstream Gnocchi), while VmHWM is the peak of this program alone."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def open_drivers(args):
    conf = driver_conf(args)
    from gnocchi import incoming, indexer, storage
    return (indexer.get_driver(conf), storage.get_driver(conf),
            incoming.get_driver(conf))


def driver_conf(args):
    os.environ["GNOCCHI_INDEXER_URL"] = args.indexer_url
    from oslo_config import cfg
    from gnocchi import service

    conf = service.prepare_service(args=[], conf=cfg.ConfigOpts(),
                                   log_to_std=False, logging_level="WARNING")
    conf.set_override("url", args.indexer_url, "indexer")
    conf.set_override("driver", args.driver, "storage")
    conf.set_override("driver", args.driver, "incoming")
    conf.set_override("file_basepath", args.basepath, "storage")
    conf.set_override("file_basepath", args.basepath, "incoming")
    if args.redis_url:
        conf.set_override("redis_url", args.redis_url, "storage")
        conf.set_override("redis_url", args.redis_url, "incoming")
    if args.ceph_pool:
        conf.set_override("ceph_conffile", args.ceph_conf, "storage")
        conf.set_override("ceph_pool", args.ceph_pool, "storage")
    return conf


def file_layout_floor(basepath, metrics):
    """Kernel CPU seconds of the file system work that upstream's layout
    asks of one pass, with nothing else: every aggregate file (raw series
    and splits) read, then written to a temporary file and renamed over
    it, with the fewest system calls. Incoming blobs are left out, so this
    is a lower bound. Returns (seconds, files per metric)."""
    paths = []
    for root, dirs, files in os.walk(basepath):
        if root == basepath:
            dirs[:] = [d for d in dirs
                       if d != "tmp" and not d.startswith("incoming")]
            continue
        paths += [os.path.join(root, name) for name in files]
    tmp = os.path.join(basepath, "tmp", "floor")
    passes = []
    # The least of a few passes: the file system's cost varies from run to
    # run by about 20% here.
    for _ in range(3):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_stime
        for number, path in enumerate(paths):
            fd = os.open(path, os.O_RDONLY)
            # Below malloc's mmap threshold: no mapping made and unmade per
            # read.
            chunks = [os.read(fd, 65536)]
            while len(chunks[-1]) == 65536:
                chunks.append(os.read(fd, 65536))
            data = b"".join(chunks)
            os.close(fd)
            name = "%s.%d" % (tmp, number)
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, data)
            os.close(fd)
            os.rename(name, path)
        passes.append(resource.getrusage(resource.RUSAGE_SELF).ru_stime
                      - before)
    return min(passes), len(paths) / metrics


def lean_settings(args):
    """Settings of gnocchi-rs metricd's lean worker (``rs-X+``), resolved
    here as its master process resolves them."""
    from gnocchi import incoming, storage
    from gnocchi_rs import metricd

    conf = driver_conf(args)
    store, inc = storage.get_driver(conf), incoming.get_driver(conf)
    store.upgrade()
    inc.upgrade(128)
    settings = metricd.lean_worker_settings(conf, inc, store)
    if settings is None:
        raise SystemExit("%s: no lean worker for this setup" % args.driver)
    settings["coordination_url"] = lock_url(args)
    return settings


def lock_url(args):
    return "file://" + os.path.join(args.basepath, "locks")


def post(args):
    """Posts POINTS new measures to every metric (the API's part)."""
    import numpy
    from gnocchi import incoming
    _, _, inc = open_drivers(args)
    rng = numpy.random.default_rng(args.post)
    stamps = (numpy.datetime64(args.post, "s")
              + numpy.arange(POINTS) * numpy.timedelta64(1, "s"))
    inc.add_measures_batch({
        uuid.UUID(m): [incoming.Measure(t, v) for t, v in
                       zip(stamps, rng.normal(50, 10, POINTS))]
        for m in args.metrics})


def worker(args):
    """One driver's metricd: processes every sack when told to on stdin
    ("warm" for the first round, which creates the archives, "measure"
    for the measured one)."""
    if args.sack_path == "gnocchi-rs":
        # gnocchi-rs metricd's worker process: upstream Gnocchi is not
        # loaded (its master process resolved these settings).
        from gnocchi_rs import sack_worker

        lean = sack_worker.LeanWorker(
            json.loads(os.environ.pop("GNOCCHI_RS_BENCH_LEAN")))
        lean.configure()
        coord, sacks = lean.coord, lean.sacks

        def process(sack):
            lean.processor.process(sack, blocking=True)

        def backlog():
            return sum(n for _, n in lean.incoming.report(
                [str(s) for s in sacks]))
    else:
        from gnocchi import chef
        from tooz import coordination

        index, store, inc = open_drivers(args)
        store.upgrade()
        inc.upgrade(128)
        coord = coordination.get_coordinator(lock_url(args), b"bench")
        coord.start(start_heart=True)
        the_chef = chef.Chef(coord, inc, index, store)
        sacks = list(inc.iter_sacks())

        def process(sack):
            the_chef.process_new_measures_for_sack(sack, blocking=True,
                                                   sync=True)

        def backlog():
            return inc.measures_report(False)["summary"]["measures"]

    def process_all():
        for sack in sacks:
            process(sack)

    print("ready", flush=True)
    for command in sys.stdin:
        if command.strip() == "warm":
            process_all()
            print("done", flush=True)
            continue
        servers0 = servers_cpu_seconds(args.servers_dir)
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        wall0 = time.perf_counter()
        if os.environ.get("GNOCCHI_RS_BENCH_PROFILE"):
            import cProfile
            cProfile.runctx("process_all()", globals(), locals(),
                            os.environ["GNOCCHI_RS_BENCH_PROFILE"] + "."
                            + args.driver)
        else:
            process_all()
        wall = time.perf_counter() - wall0
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        servers = servers_cpu_seconds(args.servers_dir) - servers0
        assert backlog() == 0
        coord.stop()
        print(json.dumps({
            "wall": wall,
            "cpu": ((cpu1.ru_utime - cpu0.ru_utime)
                    + (cpu1.ru_stime - cpu0.ru_stime)),
            "kernel_cpu": cpu1.ru_stime - cpu0.ru_stime,
            "servers_cpu": servers,
            "peak_rss_mb": peak_rss_mb(),
        }), flush=True)
        return


def create_metrics(indexer_url, n):
    os.environ["GNOCCHI_INDEXER_URL"] = indexer_url
    from oslo_config import cfg
    from gnocchi import archive_policy, indexer, service
    conf = service.prepare_service(args=[], conf=cfg.ConfigOpts(),
                                   log_to_std=False, logging_level="WARNING")
    conf.set_override("url", indexer_url, "indexer")
    index = indexer.get_driver(conf)
    index.upgrade()
    name = "bench-%s" % uuid.uuid4().hex[:8]
    index.create_archive_policy(archive_policy.ArchivePolicy(
        name, 0, [{"granularity": 60, "points": 60 * 24 * 7},
                  {"granularity": 3600, "points": 24 * 365}],
        ["mean", "min", "max", "sum", "std", "count"]))
    creator = str(uuid.uuid4())
    ids = []
    for _ in range(n):
        m = index.create_metric(uuid.uuid4(), creator, name)
        ids.append(str(m.id))
    return ids


def run_driver(command, ids, env=None):
    """Starts the driver's metricd, has another process post a round of
    measures before each of its two passes, returns the measured pass."""
    metricd = subprocess.Popen(command + ["--worker"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, env=env)

    def expect(what):
        line = metricd.stdout.readline()
        if not line.startswith(what):
            metricd.kill()
            raise SystemExit("%s: metricd said %r" % (command, line))
        return line

    try:
        expect("ready")
        for start, step in ((1_700_000_000, "warm"),
                            (1_700_000_060, "measure")):
            subprocess.run(command + ["--post", str(start)], check=True,
                           input=json.dumps(ids), text=True)
            metricd.stdin.write(step + "\n")
            metricd.stdin.flush()
            line = expect("done" if step == "warm" else "{")
    finally:
        metricd.stdin.close()
        metricd.wait(timeout=60)
    if metricd.returncode != 0:
        raise SystemExit("%s: metricd exited with %d"
                         % (command, metricd.returncode))
    return json.loads(line)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metrics", type=int, default=2000)
    parser.add_argument("--backends", default="file,redis")
    parser.add_argument("--worker", action="store_true",
                        help=argparse.SUPPRESS)
    parser.add_argument("--driver", help=argparse.SUPPRESS)
    parser.add_argument("--basepath", help=argparse.SUPPRESS)
    parser.add_argument("--indexer-url", help=argparse.SUPPRESS)
    parser.add_argument("--redis-url", help=argparse.SUPPRESS)
    parser.add_argument("--ceph-conf", help=argparse.SUPPRESS)
    parser.add_argument("--ceph-pool", help=argparse.SUPPRESS)
    parser.add_argument("--post", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--servers-dir", help=argparse.SUPPRESS)
    parser.add_argument("--sack-path", help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()
    if args.post is not None:
        args.metrics = json.loads(sys.stdin.read())
        return post(args)
    if args.worker:
        return worker(args)

    workdir = tempfile.mkdtemp(prefix="gnocchi-rs-bench-")
    # Server CPU is counted for the servers under workdir when this run
    # started all of them, else for every server process on the machine.
    servers_given = False
    cluster = None
    try:
        pg_url = os.environ.get("GNOCCHI_RS_PG_SQLALCHEMY_URL") or \
            os.environ.get("GNOCCHI_RS_PG_URL")
        servers_given |= bool(pg_url)
        if not pg_url:
            env = start_service("postgresql", workdir)
            pg_url = env.get("GNOCCHI_RS_PG_SQLALCHEMY_URL",
                             env["GNOCCHI_RS_PG_URL"])
        redis_url = os.environ.get("GNOCCHI_RS_REDIS_URL")
        backends = args.backends.split(",")
        servers_given |= "redis" in backends and bool(redis_url)
        if "redis" in backends and not redis_url:
            redis_url = start_service("redis", workdir)["GNOCCHI_RS_REDIS_URL"]
        ceph_conf = os.environ.get("GNOCCHI_RS_CEPH_CONF")
        if "ceph" in backends:
            servers_given |= bool(ceph_conf)
            if not ceph_conf:
                ceph_conf = start_service("ceph", workdir)["GNOCCHI_RS_CEPH_CONF"]
            import rados
            cluster = rados.Rados(conffile=ceph_conf)
            cluster.connect()
        results, basepaths = {}, {}
        for backend in backends:
            for label, driver, sack_path in (
                    (backend, backend, "chef"),
                    ("rs-" + backend, "rs-" + backend, "chef"),
                    ("rs-" + backend + "+", "rs-" + backend, "gnocchi-rs")):
                ids = create_metrics(pg_url, args.metrics)
                basepath = tempfile.mkdtemp(dir=workdir)
                if backend == "redis":
                    subprocess.run(["redis-cli", "-u", redis_url, "flushall"],
                                   check=True, capture_output=True)
                ceph_args = []
                if backend == "ceph":
                    pool = "bench-" + uuid.uuid4().hex[:8]
                    cluster.create_pool(pool)
                    ceph_args = ["--ceph-conf", ceph_conf, "--ceph-pool", pool]
                command = [sys.executable, __file__, "--driver", driver,
                           "--sack-path", sack_path,
                           "--basepath", basepath, "--indexer-url", pg_url]
                command += ["--redis-url", redis_url] if redis_url else []
                command += ceph_args
                if not servers_given:
                    command += ["--servers-dir", workdir]
                env = None
                if sack_path == "gnocchi-rs":
                    env = dict(os.environ, GNOCCHI_RS_BENCH_LEAN=json.dumps(
                        lean_settings(parser.parse_args(command[2:]))))
                results[label] = run_driver(command, ids, env)
                basepaths[label] = basepath
        n = args.metrics
        print("metricd: %d metrics x %d new points each, one pass over 128 "
              "sacks, PostgreSQL indexer; CPU includes the servers'"
              % (n, POINTS))
        print("rs-X: upstream's metricd sack path (Chef) with the gnocchi-rs "
              "drivers; rs-X+: gnocchi-rs metricd's lean worker")
        print("%-10s %12s %16s %16s %16s %12s" % (
            "driver", "metrics/s", "CPU ms/metric", "(of which servers)",
            "(worker kernel)", "peak RSS MB"))
        for driver, r in results.items():
            cpu = r["cpu"] + r["servers_cpu"]
            print("%-10s %12.0f %16.3f %16.3f %16.3f %12.1f" % (
                driver, n / r["wall"], 1000 * cpu / n, 1000 * r["servers_cpu"] / n,
                1000 * r["kernel_cpu"] / n, r["peak_rss_mb"]))
        for backend in backends:
            up = results[backend]
            for label in ("rs-" + backend, "rs-" + backend + "+"):
                rs = results[label]
                print("%s: %s uses %.1fx less CPU per metric (target 50x), "
                      "%.2fx the peak memory (target <= 0.5x), %.1fx the "
                      "throughput" % (
                          backend, label,
                          ((up["cpu"] + up["servers_cpu"])
                           / (rs["cpu"] + rs["servers_cpu"])),
                          rs["peak_rss_mb"] / up["peak_rss_mb"],
                          up["wall"] / rs["wall"]))
        if "file" in backends:
            floor, files = file_layout_floor(basepaths["rs-file+"], n)
            up = results["file"]
            print("file: upstream's layout alone, a pass of a bare loop "
                  "reading and rewriting (temporary file + rename) the %.1f "
                  "files per metric: %.3f ms kernel CPU per metric, so at "
                  "most %.1fx less CPU than upstream for any implementation "
                  "on this layout and filesystem" % (
                      files, 1000 * floor / n,
                      (up["cpu"] + up["servers_cpu"]) / floor))
    finally:
        if cluster is not None:
            cluster.shutdown()
        stop_services(workdir)


if __name__ == "__main__":
    main()
