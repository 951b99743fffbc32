"""``gnocchi-rs api --server gunicorn``: the API under gunicorn's gthread
workers."""

from gunicorn import glogging
from gunicorn.app import base as gunicorn_base

from gnocchi_rs.cli import bind_address
from gnocchi_rs.cli import wsgi


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


def serve(conf, host, port, workers, threads, graceful_timeout):
    GunicornServer(conf, {
        "bind": [bind_address(host, port)],
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "proc_name": "gnocchi-rs-api",
        "logger_class": SharedLogger,
        # Aggregation requests can be long; gthread workers heartbeat from
        # their main thread, so this bounds a stuck worker, not a request.
        "timeout": 60,
        "graceful_timeout": graceful_timeout,
    }).run()
    return 0
