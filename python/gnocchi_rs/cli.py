"""The ``gnocchi-rs`` command.

* ``serve``: the API and metricd together on one data directory (SQLite
  indexer, ``rs-file`` storage and incoming, ``file://`` coordination),
  nothing else to install or start;
* ``api``, ``metricd``, ``upgrade``: the services of a deployment, reading
  a standard ``gnocchi.conf`` through upstream's options, so an existing
  deployment changes only its driver names;
* ``config``: a sample ``gnocchi.conf`` naming our drivers;
* ``demo``: aggregates a day of points with the native core and prints what
  Gnocchi would store.

Options the subcommands do not know (``--debug``, ``--log-file``...) go to
oslo.config, as with upstream's commands.
"""

import argparse
import ctypes
import io
import os
import signal
import socket
import subprocess
import sys
import time
from importlib import metadata

import numpy
from gunicorn.app import base as gunicorn_base

import gnocchi_rs
from gnocchi_rs import carbonara

DEFAULT_SACKS = 128
SERVE_DEFAULT_HOST = "127.0.0.1"
SERVE_DEFAULT_PORT = 8041
STOP_TIMEOUT = 75
# Below STOP_TIMEOUT, as is cotyledon's graceful_shutdown_timeout (60 s) for
# metricd, so that servers finish their own shutdown before `serve` kills.
API_GRACEFUL_TIMEOUT = 30

# Upstream's gnocchi/gnocchi-config-generator.conf
CONFIG_NAMESPACES = ("gnocchi", "oslo.middleware.cors",
                     "oslo.middleware.healthcheck", "oslo.policy",
                     "cotyledon", "keystonemiddleware.auth_token")

# Written on the first `serve` of a data directory, then kept: it is the
# place to change them.
EMBEDDED_CONFIG = """\
# Written by `gnocchi-rs serve` on the first start of this data directory
# and kept afterwards: edit it freely. Any gnocchi.conf option applies.

[DEFAULT]
coordination_url = file://{data}/coordination

[indexer]
url = sqlite:///{data}/index.sqlite

[storage]
driver = rs-file
file_basepath = {data}/storage

[incoming]
driver = rs-file
file_basepath = {data}/incoming

[metricd]
# Processing workers (one process each); one keeps up with a lot, as whole
# sacks are processed natively.
workers = 1
# rs-file does not notify new measures: seconds between two scans of the
# sacks, that is how long new measures wait at most.
metric_processing_delay = 2
"""


# -- demo -------------------------------------------------------------------

def demo(args):
    rng = numpy.random.default_rng(args.seed)
    start = numpy.datetime64("2026-11-21T00:00:00", "ns")
    timestamps = start + numpy.arange(args.points) * numpy.timedelta64(1, "s")
    values = 50.0 + numpy.cumsum(rng.normal(0.0, 1.0, args.points))
    raw = carbonara.TimeSerie.from_data(timestamps, values)
    print("gnocchi-rs %s: %d raw points from %s, aggregated natively"
          % (gnocchi_rs.__version__, len(raw), start))
    for seconds in args.granularities:
        granularity = numpy.timedelta64(seconds, "s")
        grouped = raw.group_serie(granularity)
        columns = {}
        for method in args.methods:
            agg = carbonara.AggregatedTimeSerie.from_grouped_serie(
                grouped, carbonara.Aggregation(method, granularity, None))
            columns[method] = agg
        first = columns[args.methods[0]]
        print("\ngranularity %ss: %d points" % (seconds, len(first)))
        print("  %-20s %s" % ("timestamp", " ".join(
            "%10s" % m for m in args.methods)))
        for i in range(min(args.rows, len(first))):
            print("  %-20s %s" % (str(first.timestamps[i])[:19], " ".join(
                "%10.3f" % columns[m].values[i] for m in args.methods)))
        for key, split in first.split():
            _, blob = split.serialize(key, compressed=True)
            print("  split %s_%s_%s_v3: %d points, %d bytes compressed"
                  % (key, args.methods[0], float(seconds), len(split),
                     len(blob)))
    return 0


# -- configuration ----------------------------------------------------------

def _oslo_args(args):
    oslo_args = []
    for path in args.config_file or ():
        oslo_args += ["--config-file", path]
    for path in args.config_dir or ():
        oslo_args += ["--config-dir", path]
    return oslo_args + args.oslo_args


def load_conf(args, log_to_std=False):
    """Upstream's options, read as upstream's commands read them: the
    files given, else oslo.config's usual places (/etc/gnocchi/...)."""
    from gnocchi import opts
    from gnocchi import service
    from oslo_config import cfg

    opts.set_defaults()
    return service.prepare_service(args=_oslo_args(args),
                                   conf=cfg.ConfigOpts(),
                                   log_to_std=log_to_std)


def _installed_namespaces():
    installed = {entry.name for entry in metadata.entry_points(
        group="oslo.config.opts")}
    return [ns for ns in CONFIG_NAMESPACES if ns in installed]


def sample_config():
    """oslo-config-generator's sample for upstream's namespaces, with our
    storage driver as the value (incoming follows storage)."""
    from oslo_config import cfg
    from oslo_config import generator

    conf = cfg.ConfigOpts()
    generator.register_cli_opts(conf)
    argv = ["--wrap-width", "79"]
    for namespace in _installed_namespaces():
        argv += ["--namespace", namespace]
    conf(argv, project="gnocchi-rs", default_config_files=[],
         default_config_dirs=[])
    out = io.StringIO()
    generator.generate(conf, out)
    return _with_rs_drivers(out.getvalue())


def _with_rs_drivers(sample):
    lines, section = [], None
    for line in sample.splitlines(keepends=True):
        if line.startswith("[") and line.rstrip().endswith("]"):
            section = line.strip()[1:-1]
        if section == "storage" and line.strip() == "#driver = file":
            lines.append("# gnocchi-rs: rs-file, rs-redis or rs-ceph; "
                         "upstream's file, redis, ceph,\n"
                         "# swift and s3 still work.\n")
            line = "driver = rs-file\n"
        elif section == "indexer" and line.strip() == "#url = <None>":
            # Required, and deployment-specific: left for the operator.
            lines.append("# Required. gnocchi-rs adds sqlite:////path/to/"
                         "index.sqlite (one host;\n# set coordination_url "
                         "= file:///path then) to upstream's postgresql\n"
                         "# and mysql URLs.\n")
        lines.append(line)
    return "".join(lines)


def config(args):
    sample = sample_config()
    if args.output_file:
        with open(args.output_file, "w") as out:
            out.write(sample)
    else:
        sys.stdout.write(sample)
    return 0


# -- upgrade ----------------------------------------------------------------

def upgrade_all(conf, sacks_number=DEFAULT_SACKS, skip_index=False,
                skip_storage=False, skip_incoming=False,
                skip_archive_policies=False):
    """``gnocchi-upgrade``: indexer schema, storage, incoming sacks (their
    number is only set when none exists yet), default archive policies
    when there are none."""
    import logging

    from gnocchi import archive_policy
    from gnocchi import incoming
    from gnocchi import indexer
    from gnocchi import storage

    log = logging.getLogger("gnocchi.rs.upgrade")
    index = indexer.get_driver(conf)
    if not skip_index:
        log.info("Upgrading indexer %s", index)
        index.upgrade()
    if not skip_storage:
        store = storage.get_driver(conf)
        log.info("Upgrading storage %s", store)
        store.upgrade()
    if not skip_incoming:
        inbox = incoming.get_driver(conf)
        log.info("Upgrading incoming storage %s", inbox)
        inbox.upgrade(sacks_number)
    _create_processing_group(conf, log)
    if (not skip_archive_policies and not index.list_archive_policies()
            and not index.list_archive_policy_rules()):
        for policy in archive_policy.DEFAULT_ARCHIVE_POLICIES.values():
            index.create_archive_policy(policy)
        index.create_archive_policy_rule("default", "*", "low")


def _create_processing_group(conf, log):
    """Creates metricd's tooz group, as a first metricd worker would:
    upstream's /v1/status fails (500) while it does not exist."""
    from tooz import coordination

    from gnocchi_rs import metricd as rs_metricd

    if not conf.coordination_url:
        return
    coord = coordination.get_coordinator(conf.coordination_url,
                                         b"gnocchi-rs-upgrade")
    coord.start()
    try:
        coord.create_group(rs_metricd.GROUP_ID).get()
        log.info("Created the metricd group")
    except coordination.GroupAlreadyExist:
        pass
    finally:
        coord.stop()


def upgrade(args):
    conf = load_conf(args, log_to_std=True)
    upgrade_all(conf, args.sacks_number, args.skip_index, args.skip_storage,
                args.skip_incoming, args.skip_archive_policies_creation)
    return 0


# -- api --------------------------------------------------------------------

class GunicornServer(gunicorn_base.BaseApplication):
    """Gunicorn serving upstream's WSGI application; each worker builds
    its own (like uwsgi's --lazy-apps for upstream's gnocchi-api), so no
    connection is shared across a fork."""

    def __init__(self, conf, settings):
        self.gnocchi_conf = conf
        self.settings = settings
        super().__init__()

    def load_config(self):
        for name, value in self.settings.items():
            self.cfg.set(name, value)

    def load(self):
        from gnocchi.rest import app
        return app.load_app(self.gnocchi_conf)


def _bind_address(host, port):
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


def api(args):
    from gnocchi import utils

    conf = load_conf(args)
    server = GunicornServer(conf, {
        "bind": [_bind_address(args.host or conf.api.host,
                               args.port or conf.api.port)],
        "workers": args.workers or utils.get_default_workers(),
        "worker_class": "gthread",
        "threads": args.threads,
        "proc_name": "gnocchi-rs-api",
        # Aggregation requests can be long; gthread workers heartbeat from
        # their main thread, so this bounds a stuck worker, not a request.
        "timeout": 60,
        "graceful_timeout": API_GRACEFUL_TIMEOUT,
    })
    server.run()
    return 0


# -- metricd ----------------------------------------------------------------

def metricd(args):
    from gnocchi_rs import metricd as rs_metricd

    conf = load_conf(args)
    if args.workers:
        conf.set_override("workers", args.workers, "metricd")
    rs_metricd.MetricdServiceManager(conf).run()
    return 0


# -- serve ------------------------------------------------------------------

def default_data_dir():
    return os.environ.get("GNOCCHI_RS_DATA") or os.path.join(
        os.path.expanduser("~"), ".local", "share", "gnocchi-rs")


def embedded_config(data_dir):
    """The data directory's gnocchi.conf, written on first use."""
    os.makedirs(data_dir, mode=0o700, exist_ok=True)
    path = os.path.join(data_dir, "gnocchi.conf")
    if not os.path.exists(path):
        # oslo.config would expand "$" in the paths.
        text = EMBEDDED_CONFIG.format(data=data_dir.replace("$", "$$"))
        with open(path + ".tmp", "w") as out:
            out.write(text)
        os.replace(path + ".tmp", path)
    return path


def _sqlite_indexer_installed():
    return any(entry.name == "sqlite" for entry in metadata.entry_points(
        group="gnocchi.indexer"))


class _ParentDeathSignal:
    """Children get SIGTERM if `serve` itself dies without stopping them
    (Linux; elsewhere they outlive a killed `serve`)."""

    PR_SET_PDEATHSIG = 1

    def __init__(self):
        self._parent = os.getpid()
        try:
            self._prctl = ctypes.CDLL(None, use_errno=True).prctl
        except (OSError, AttributeError):
            self._prctl = None

    def __call__(self):
        if self._prctl is not None:
            self._prctl(self.PR_SET_PDEATHSIG, signal.SIGTERM)
            # `serve` died before the signal was armed: nobody will stop us.
            if os.getppid() != self._parent:
                os._exit(1)


class Supervisor:
    """Runs `gnocchi-rs` subcommands as child processes, each in its own
    process group so that a Ctrl-C reaches them once, through us."""

    def __init__(self, common_args):
        self.common_args = common_args
        self.children = {}
        self.stop_signal = None
        self._preexec = _ParentDeathSignal()

    def _on_signal(self, signum, frame):
        self.stop_signal = signum

    def install_signal_handlers(self):
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    @staticmethod
    def _command():
        # Through the console script when we were started by it, so that
        # the children's process titles read "gnocchi-rs: ...".
        if os.path.basename(sys.argv[0]) == "gnocchi-rs":
            return [sys.executable, sys.argv[0]]
        return [sys.executable, "-m", "gnocchi_rs.cli"]

    def start(self, name, *args):
        command = [*self._command(), name, *args, *self.common_args]
        self.children[name] = subprocess.Popen(
            command, process_group=0, preexec_fn=self._preexec)
        return self.children[name]

    def run_to_end(self, name, *args):
        """Runs a child to completion; None if we were told to stop."""
        child = self.start(name, *args)
        while child.poll() is None:
            if self.stop_signal is not None:
                self.stop()
                return None
            time.sleep(0.1)
        del self.children[name]
        return child.returncode

    def exited(self):
        """The first child that is no longer running, if any."""
        for name, child in self.children.items():
            if child.poll() is not None:
                return name, child.returncode
        return None

    def stop(self):
        """SIGTERM to every child, SIGKILL to those still running after
        STOP_TIMEOUT; True when all of them stopped cleanly."""
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        clean = True
        for name, child in self.children.items():
            try:
                child.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print("gnocchi-rs serve: %s did not stop in %ds, killing it"
                      % (name, STOP_TIMEOUT), file=sys.stderr)
                # The whole group: its own workers too.
                try:
                    os.killpg(child.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                child.wait()
            if child.returncode not in (0, -signal.SIGTERM):
                clean = False
        return clean


def _wait_for_port(host, port, supervisor, timeout=120):
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if supervisor.stop_signal is not None or supervisor.exited():
            return False
        try:
            socket.create_connection((host, port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def _print_welcome(host, port, conf_path, data_dir):
    shown = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(
        host, host)
    url = "http://%s/" % _bind_address(shown, port)
    print("gnocchi-rs %s: Gnocchi API at %s" % (gnocchi_rs.__version__, url))
    print("  configuration: %s" % conf_path)
    if data_dir:
        print("  data: %s" % data_dir)
        print("  authentication: HTTP basic, any user name, empty password:")
        print("    curl -u admin: %sv1/status" % url)
        print("    gnocchi --endpoint %s --os-auth-type gnocchi-basic "
              "--user admin status" % url.rstrip("/"))
    else:
        print("  authentication: as [api] auth_mode of the configuration "
              "(upstream's default, basic: curl -u admin: %sv1/status)"
              % url)
    print("  stop with Ctrl-C or SIGTERM", flush=True)


def serve(args):
    data_dir = None
    if args.config_file or args.config_dir:
        files = list(args.config_file or ())
    else:
        if not _sqlite_indexer_installed():
            print("gnocchi-rs serve: the SQLite indexer is not installed; "
                  "give a gnocchi.conf with --config-file", file=sys.stderr)
            return 2
        data_dir = os.path.abspath(args.data_dir or default_data_dir())
        files = [embedded_config(data_dir)]

    conf_args = []
    for path in files:
        conf_args += ["--config-file", os.path.abspath(path)]
    for path in args.config_dir or ():
        conf_args += ["--config-dir", os.path.abspath(path)]
    supervisor = Supervisor(conf_args + args.oslo_args)
    supervisor.install_signal_handlers()

    upgrade_args = []
    if args.sacks_number:
        upgrade_args = ["--sacks-number", str(args.sacks_number)]
    status = supervisor.run_to_end("upgrade", *upgrade_args)
    if status is None:
        return 0
    if status != 0:
        print("gnocchi-rs serve: upgrade failed (exit status %d)" % status,
              file=sys.stderr)
        return 1

    supervisor.start("api", "--host", args.host, "--port", str(args.port),
                     "--workers", str(args.api_workers))
    metricd_args = []
    if args.metricd_workers:
        metricd_args = ["--workers", str(args.metricd_workers)]
    supervisor.start("metricd", *metricd_args)
    if _wait_for_port(args.host, args.port, supervisor):
        _print_welcome(args.host, args.port, " ".join(files), data_dir)
    while supervisor.stop_signal is None:
        gone = supervisor.exited()
        if gone:
            print("gnocchi-rs serve: %s exited (status %s), stopping"
                  % gone, file=sys.stderr)
            supervisor.stop()
            return 1
        time.sleep(0.2)
    print("gnocchi-rs serve: stopping (%s)"
          % signal.Signals(supervisor.stop_signal).name, file=sys.stderr)
    return 0 if supervisor.stop() else 1


# -- command line -----------------------------------------------------------

# Subcommands that read a gnocchi.conf and pass unknown options to oslo.
_SERVICES = ("serve", "api", "metricd", "upgrade")


def _add_config_options(parser):
    parser.add_argument("--config-file", action="append", metavar="PATH",
                        help="a gnocchi.conf (repeatable); default: "
                        "oslo.config's usual places, e.g. "
                        "/etc/gnocchi/gnocchi.conf")
    parser.add_argument("--config-dir", action="append", metavar="DIR",
                        help="a directory of *.conf files (repeatable)")


def _add_sacks_option(parser, default):
    parser.add_argument("--sacks-number", type=int, default=default,
                        metavar="N", help="number of incoming sacks to "
                        "create if there are none yet (default: %d)"
                        % DEFAULT_SACKS)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="gnocchi-rs", description="A Rust-native core for Gnocchi.")
    parser.add_argument("--version", action="version",
                        version="gnocchi-rs %s" % gnocchi_rs.__version__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve_parser = commands.add_parser(
        "serve", help="API and metricd together on a data directory")
    serve_parser.add_argument(
        "--data-dir", metavar="DIR",
        help="where the index, the measures and the configuration live "
        "(default: $GNOCCHI_RS_DATA or ~/.local/share/gnocchi-rs); "
        "ignored with --config-file")
    serve_parser.add_argument("--host", default=SERVE_DEFAULT_HOST)
    serve_parser.add_argument("--port", type=int, default=SERVE_DEFAULT_PORT)
    serve_parser.add_argument("--api-workers", type=int, default=1,
                              metavar="N")
    serve_parser.add_argument("--metricd-workers", type=int, metavar="N",
                              help="default: [metricd] workers (1 in the "
                              "data directory's configuration)")
    _add_sacks_option(serve_parser, None)
    _add_config_options(serve_parser)
    serve_parser.set_defaults(func=serve)

    api_parser = commands.add_parser(
        "api", help="the Gnocchi API under gunicorn")
    api_parser.add_argument("--host", help="default: [api] host")
    api_parser.add_argument("--port", type=int, help="default: [api] port")
    api_parser.add_argument("--workers", type=int, metavar="N",
                            help="processes (default: number of CPUs)")
    api_parser.add_argument("--threads", type=int, default=4, metavar="N",
                            help="threads per process (default: 4)")
    _add_config_options(api_parser)
    api_parser.set_defaults(func=api)

    metricd_parser = commands.add_parser(
        "metricd", help="metric processing workers, janitor and reporting")
    metricd_parser.add_argument("--workers", type=int, metavar="N",
                                help="processing workers (default: "
                                "[metricd] workers, else number of CPUs)")
    _add_config_options(metricd_parser)
    metricd_parser.set_defaults(func=metricd)

    upgrade_parser = commands.add_parser(
        "upgrade", help="create or upgrade the indexer, storage and sacks")
    _add_sacks_option(upgrade_parser, DEFAULT_SACKS)
    for what in ("index", "storage", "incoming",
                 "archive-policies-creation"):
        upgrade_parser.add_argument("--skip-" + what, action="store_true")
    _add_config_options(upgrade_parser)
    upgrade_parser.set_defaults(func=upgrade)

    config_parser = commands.add_parser(
        "config", help="print a sample gnocchi.conf")
    config_parser.add_argument("--output-file", metavar="PATH")
    config_parser.set_defaults(func=config)

    demo_parser = commands.add_parser(
        "demo", help="aggregate a series natively and print it")
    demo_parser.add_argument("--points", type=int, default=86400)
    demo_parser.add_argument("--granularities", type=int, nargs="+",
                             default=[60, 3600], metavar="SECONDS")
    demo_parser.add_argument("--methods", nargs="+",
                             default=["mean", "min", "max", "95pct"])
    demo_parser.add_argument("--rows", type=int, default=5)
    demo_parser.add_argument("--seed", type=int, default=0)
    demo_parser.set_defaults(func=demo)
    return parser


def main(argv=None):
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command not in _SERVICES:
        parser.error("unrecognized arguments: %s" % " ".join(unknown))
    args.oslo_args = unknown
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
