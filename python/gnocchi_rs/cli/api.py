"""``gnocchi-rs api``: the Gnocchi API under gunicorn."""

from gnocchi import utils
from gunicorn import glogging
from gunicorn.app import base as gunicorn_base

from gnocchi_rs.cli import bind_address
from gnocchi_rs.cli import gnocchi_conf
from gnocchi_rs.cli import wsgi

# Below supervisor.STOP_TIMEOUT, as is cotyledon's graceful_shutdown_timeout
# (60 s) for metricd, so that servers finish their own shutdown before
# `serve` kills.
API_GRACEFUL_TIMEOUT = 30


class SharedLogger(glogging.Logger):
    """Gunicorn's logger, its lines to stderr through the handlers
    gnocchi's ``prepare_service`` set up (one format for every line the
    service writes, and `[DEFAULT] log_file` or syslog when configured),
    instead of a handler and a format of its own. A gunicorn ``errorlog``
    file named in the settings keeps gunicorn's own handler."""

    def setup(self, cfg):
        super().setup(cfg)
        if cfg.errorlog == "-" and not cfg.syslog:
            for handler in list(self.error_log.handlers):
                if getattr(handler, "_gunicorn", False):
                    self.error_log.removeHandler(handler)
            self.error_log.propagate = True


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
        return wsgi.load_wsgi_app(self.gnocchi_conf)


def run(args):
    conf = gnocchi_conf.load_conf(args)
    server = GunicornServer(conf, {
        "bind": [bind_address(args.host or conf.api.host,
                              args.port or conf.api.port)],
        "workers": args.workers or utils.get_default_workers(),
        "worker_class": "gthread",
        "threads": args.threads,
        "proc_name": "gnocchi-rs-api",
        "logger_class": SharedLogger,
        # Aggregation requests can be long; gthread workers heartbeat from
        # their main thread, so this bounds a stuck worker, not a request.
        "timeout": 60,
        "graceful_timeout": API_GRACEFUL_TIMEOUT,
    })
    server.run()
    return 0
