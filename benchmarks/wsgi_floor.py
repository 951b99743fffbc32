"""The WSGI applications `benchmarks/api.py` serves under each HTTP server
(gunicorn, uwsgi, granian), as one module-level ``application`` that every
server can import in its worker (after the fork, as `gnocchi-rs api` and
upstream's `gnocchi-api` build theirs):

* ``WSGI_FLOOR_APP=floor``: a trivial app (reads the body, answers 202
  with no body), the cost of the server itself for a small POST;
* ``WSGI_FLOOR_APP=upstream``: upstream's application,
  ``gnocchi.rest.app.load_app(conf)``, as ``gnocchi.rest.wsgi`` (what
  upstream's `gnocchi-api` runs under uwsgi) builds it;
* ``WSGI_FLOOR_APP=gnocchi-rs``: the application `gnocchi-rs api` serves,
  taken from the same place its servers take it
  (``gnocchi_rs.cli.wsgi.load_wsgi_app(conf)``).

``GNOCCHI_BENCH_CONF`` names the gnocchi.conf of the last two.
``WSGI_FLOOR_REMOTE_USER=1`` puts an authenticating front end before the
application: the ``X-Remote-User`` request header becomes ``REMOTE_USER``
(what Apache or nginx in front of ``[api] auth_mode = remoteuser`` does);
``=bytes`` stores it as bytes, as upstream's own tests do
(``req.remote_user = b"admin"``): upstream's helper calls
``.decode('iso-8859-1')`` on it, which a str from a real server lacks.
"""
import os


def floor(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        environ["wsgi.input"].read(length)
    start_response("202 Accepted", [("Content-Length", "0")])
    return [b""]


def remote_user_front(app, as_bytes=False):
    def front(environ, start_response):
        user = environ.pop("HTTP_X_REMOTE_USER", None)
        if user is not None:
            environ["REMOTE_USER"] = (user.encode("iso-8859-1")
                                      if as_bytes else user)
        return app(environ, start_response)
    return front


def _conf_args():
    import argparse
    return argparse.Namespace(config_file=[os.environ["GNOCCHI_BENCH_CONF"]],
                              config_dir=None, oslo_args=[])


def upstream_app():
    from gnocchi import opts
    from gnocchi import service
    from gnocchi.rest import app
    from oslo_config import cfg
    opts.set_defaults()
    conf = service.prepare_service(
        args=["--config-file", os.environ["GNOCCHI_BENCH_CONF"]],
        conf=cfg.ConfigOpts())
    return app.load_app(conf)


def gnocchi_rs_app():
    from gnocchi_rs.cli import gnocchi_conf
    from gnocchi_rs.cli import wsgi
    return wsgi.load_wsgi_app(gnocchi_conf.load_conf(_conf_args()))


def _build():
    which = os.environ.get("WSGI_FLOOR_APP", "floor")
    app = {"floor": lambda: floor, "upstream": upstream_app,
           "gnocchi-rs": gnocchi_rs_app}[which]()
    front = os.environ.get("WSGI_FLOOR_REMOTE_USER")
    if front:
        app = remote_user_front(app, as_bytes=front == "bytes")
    return app


application = _build()
