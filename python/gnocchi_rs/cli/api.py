"""``gnocchi-rs api``: the Gnocchi API under granian (the default) or
gunicorn.

Granian is the default because it costs least per request: measured with
``benchmarks/api.py --server all`` on the same application (2026-12-07,
one worker, one thread), a trivial WSGI app costs 0.06 ms of server CPU
per small POST under granian against 0.28 ms under gunicorn's gthread
worker, which takes a single-measure POST from 5.1x to 8.1x less CPU than
upstream. Gunicorn stays selectable (``--server gunicorn``), as the escape
hatch and for deployments that tune it.
"""

from gnocchi import utils

from gnocchi_rs.cli import gnocchi_conf

# Below supervisor.STOP_TIMEOUT, as is cotyledon's graceful_shutdown_timeout
# (60 s) for metricd, so that servers finish their own shutdown before
# `serve` kills.
API_GRACEFUL_TIMEOUT = 30


def run(args):
    conf = gnocchi_conf.load_conf(args)
    host = args.host or conf.api.host
    port = args.port or conf.api.port
    workers = args.workers or utils.get_default_workers()
    if args.server == "gunicorn":
        from gnocchi_rs.cli import api_gunicorn as server
    else:
        from gnocchi_rs.cli import api_granian as server
    return server.serve(conf, host, port, workers, args.threads,
                        API_GRACEFUL_TIMEOUT)
