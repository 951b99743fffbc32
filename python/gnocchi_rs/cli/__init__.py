"""The ``gnocchi-rs`` command, one module per subcommand (imported only
for the subcommand run, so that ``config`` or ``--help`` load neither
numpy nor an HTTP server).

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
import importlib

import gnocchi_rs

DEFAULT_SACKS = 128
SERVE_DEFAULT_HOST = "127.0.0.1"
SERVE_DEFAULT_PORT = 8041
# The first is the default (why: gnocchi_rs.cli.api).
API_SERVERS = ("granian", "gunicorn")

# Subcommands that read a gnocchi.conf and pass unknown options to oslo.
_SERVICES = ("serve", "api", "metricd", "upgrade", "check")


def bind_address(host, port):
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


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
    serve_parser.add_argument("--api-server", choices=API_SERVERS,
                              default=API_SERVERS[0],
                              help="the API's HTTP server (default: %(default)s)")
    serve_parser.add_argument("--metricd-workers", type=int, metavar="N",
                              help="default: [metricd] workers (1 in the "
                              "data directory's configuration)")
    _add_sacks_option(serve_parser, None)
    _add_config_options(serve_parser)

    api_parser = commands.add_parser(
        "api", help="the Gnocchi API under granian or gunicorn")
    api_parser.add_argument("--host", help="default: [api] host")
    api_parser.add_argument("--port", type=int, help="default: [api] port")
    api_parser.add_argument("--workers", type=int, metavar="N",
                            help="processes (default: number of CPUs)")
    api_parser.add_argument("--threads", type=int, default=4, metavar="N",
                            help="threads per process (default: 4)")
    api_parser.add_argument("--server", choices=API_SERVERS,
                            default=API_SERVERS[0],
                            help="the HTTP server: granian (least CPU per "
                            "request) or gunicorn (default: %(default)s)")
    _add_config_options(api_parser)

    metricd_parser = commands.add_parser(
        "metricd", help="metric processing workers, janitor and reporting")
    metricd_parser.add_argument("--workers", type=int, metavar="N",
                                help="processing workers (default: "
                                "[metricd] workers, else number of CPUs)")
    _add_config_options(metricd_parser)

    upgrade_parser = commands.add_parser(
        "upgrade", help="create or upgrade the indexer, storage and sacks")
    _add_sacks_option(upgrade_parser, DEFAULT_SACKS)
    for what in ("index", "storage", "incoming",
                 "archive-policies-creation"):
        upgrade_parser.add_argument("--skip-" + what, action="store_true")
    _add_config_options(upgrade_parser)

    check_parser = commands.add_parser(
        "check", help="is the stored data sound? (read-only unless "
        "--repair)")
    check_parser.add_argument(
        "--repair", action="store_true",
        help="move what is found aside (never deleted) and rebuild what "
        "the raw series still holds")
    check_parser.add_argument("--json", action="store_true",
                              help="the report as JSON on stdout")
    check_parser.add_argument("--quiet", action="store_true",
                              help="no progress bar")
    _add_config_options(check_parser)

    config_parser = commands.add_parser(
        "config", help="print a sample gnocchi.conf")
    config_parser.add_argument("--output-file", metavar="PATH")

    demo_parser = commands.add_parser(
        "demo", help="aggregate a series natively and print it")
    demo_parser.add_argument("--points", type=int, default=86400)
    demo_parser.add_argument("--granularities", type=int, nargs="+",
                             default=[60, 3600], metavar="SECONDS")
    demo_parser.add_argument("--methods", nargs="+",
                             default=["mean", "min", "max", "95pct"])
    demo_parser.add_argument("--rows", type=int, default=5)
    demo_parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv=None):
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command not in _SERVICES:
        parser.error("unrecognized arguments: %s" % " ".join(unknown))
    args.oslo_args = unknown
    command = importlib.import_module("%s.%s" % (__name__, args.command))
    return command.run(args)
