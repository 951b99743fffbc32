"""``gnocchi-rs serve``: upgrade, then the API and metricd together, on one
data directory (SQLite indexer, ``rs-file`` storage and incoming,
``file://`` coordination) or on the configuration given."""

import os
import signal
import socket
import sys
import time
from importlib import metadata

import gnocchi_rs
from gnocchi_rs.cli import bind_address
from gnocchi_rs.cli import supervisor as children

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
    url = "http://%s/" % bind_address(shown, port)
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


def run(args):
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
    supervisor = children.Supervisor(conf_args + args.oslo_args)
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
                     "--workers", str(args.api_workers),
                     "--server", args.api_server)
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
