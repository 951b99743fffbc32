"""gnocchi-rs' REST application: upstream's, with the native request path
(measure posts and reads, ``seam.py``) in place of the innermost /v1
application, and gnocchi-rs' request guards.

Deployments get it three ways:
- ``gnocchi-rs api`` and ``gnocchi-rs serve`` serve it;
- a WSGI server (uwsgi, mod_wsgi, granian, gunicorn) can point at
  ``gnocchi_rs.rest.wsgi:application``, the counterpart of upstream's
  ``gnocchi.rest.wsgi:application``;
- an existing paste file gets the native path by naming
  ``gnocchi_rs.rest.app:app_factory`` as the factory of ``[app:gnocchiv1]``
  (this package's ``api-paste.ini`` does).

``GNOCCHI_RS_NATIVE_API=0`` turns the native path off (upstream's Pecan
application serves everything), for comparison and as an escape hatch.
"""
from __future__ import annotations

import os

from gnocchi.rest import app as upstream_app

from gnocchi_rs import rest
from gnocchi_rs.rest import front
from gnocchi_rs.rest import policy
from gnocchi_rs.rest import seam
from gnocchi_rs.rest import setup_log
from gnocchi_rs.rest import status

setup_log.install()

PASTE_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            "api-paste.ini")
# Upstream's default `[api] paste_config`: a relative name looked up in
# the configuration directories, else upstream's own file.
_UPSTREAM_DEFAULT = "api-paste.ini"


def _pecan_application(application):
    """The Pecan application inside ``application`` (upstream may wrap it
    in its error middlewares) and its GnocchiHook, or (None, None)."""
    seen = 0
    while application is not None and seen < 8:
        for hook in getattr(application, "hooks", ()):
            if isinstance(hook, upstream_app.GnocchiHook):
                return application, hook
        application = (getattr(application, "application", None)
                       or getattr(application, "app", None))
        seen += 1
    return None, None


V1_ROOT = "gnocchi.rest.api.V1Controller"


def _with_native_path(application, local_conf):
    if isinstance(application, seam.NativeSeam) or \
            local_conf.get("root") != V1_ROOT or \
            not seam.enabled_by_environment():
        return application
    pecan_application, hook = _pecan_application(application)
    if hook is None:
        return application
    policy.keep_check_arity()
    status.install(getattr(pecan_application, "root", None))
    return seam.NativeSeam(application, hook)


def app_factory(global_config, **local_conf):
    """Paste factory: upstream's application for ``root``, with the native
    native request path in front of its /v1 application."""
    return _with_native_path(
        upstream_app.app_factory(global_config, **local_conf), local_conf)


def install_in_upstream_factory():
    """Make upstream's own ``gnocchi.rest.app:app_factory`` build the /v1
    application with the native request path, for paste files that name
    upstream's factory (upstream's test suites run this way)."""
    original = upstream_app.app_factory
    if getattr(original, "gnocchi_rs_ingest", False):
        return

    def factory(global_config, **local_conf):
        return _with_native_path(original(global_config, **local_conf),
                            local_conf)

    factory.gnocchi_rs_ingest = True
    upstream_app.app_factory = factory


def load_app(conf, not_implemented_middleware=True):
    """``gnocchi.rest.app.load_app`` with this package's paste file when
    the configuration names none of its own, and the request guards."""
    if conf.api.paste_config == _UPSTREAM_DEFAULT and \
            conf.find_file(_UPSTREAM_DEFAULT) is None:
        conf.set_override("paste_config", PASTE_CONFIG, "api")
    application = rest.wrap(upstream_app.load_app(
        conf, not_implemented_middleware=not_implemented_middleware))
    if not seam.enabled_by_environment():
        return application
    return front.install(application)
