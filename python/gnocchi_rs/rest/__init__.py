"""gnocchi-rs' seam in upstream's WSGI application.

:func:`wrap` is applied to what ``gnocchi.rest.app.load_app`` returns,
wherever gnocchi-rs serves the API. It installs:

* :mod:`gnocchi_rs.rest.guard`: bodies too large (413), not UTF-8 or
  nested too deep (400) are refused before upstream decodes them;
* :mod:`gnocchi_rs.rest.timestamps`: measure timestamps outside
  datetime64[ns]'s range get a 400 instead of a 202 and a silent loss.
"""
from __future__ import annotations

from gnocchi_rs.rest import guard
from gnocchi_rs.rest import timestamps

__all__ = ["wrap"]


def wrap(app, max_body_size=None, max_depth=guard.DEFAULT_MAX_DEPTH):
    """Return upstream's WSGI ``app`` with gnocchi-rs' checks.

    The body guard goes inside upstream's outer middlewares when they are
    the ones ``load_app`` builds (HTTPProxyToWSGI around CORS), so that its
    answers get CORS headers like upstream's; it is still in front of the
    auth middleware and Pecan. ``app`` itself is returned then; otherwise
    the guard wraps ``app``.

    :param max_body_size: bytes; None: GNOCCHI_RS_MAX_BODY_SIZE or 64 MiB;
        0: no limit.
    :param max_depth: deepest JSON nesting accepted (default 64).
    """
    timestamps.install()
    proxy = app
    cors = getattr(proxy, "application", None)
    inner = getattr(cors, "application", None)
    if (type(proxy).__name__ == "HTTPProxyToWSGI"
            and type(cors).__name__ == "CORS" and inner is not None):
        if not isinstance(inner, guard.BodyGuard):
            cors.application = guard.BodyGuard(inner, max_body_size,
                                               max_depth)
        return app
    if isinstance(app, guard.BodyGuard):
        return app
    return guard.BodyGuard(app, max_body_size, max_depth)
