"""The first callable of gnocchi-rs' WSGI application: requests of the
native routes go straight to the request guard, past upstream's two
outermost middlewares when those would do nothing to them.

``gnocchi.rest.app.load_app`` wraps the paste pipeline in
``HTTPProxyToWSGI(CORS(...))``, two webob ``wsgify`` layers that build a
request and a response object each (``CORS`` also inspects a signature)
on every request: about 0.1 ms, a quarter of what a one-measure post
costs once served natively. For a GET or POST that carries no ``Origin``
header, CORS adds nothing (it decorates only cross-origin answers and
preflight OPTIONS); with none of the forwarding headers, HTTPProxyToWSGI
changes nothing in the environment whatever its option says; and webob
passes the inner answer's status, headers and body through unchanged (it
rewrites only a relative Location, which no native answer has and Pecan's
own response object has already made absolute). Such requests skip both;
every other request goes through them as upstream's does.
"""
from __future__ import annotations

from gnocchi_rs.rest import seam

_FORWARDING = ("HTTP_FORWARDED", "HTTP_X_FORWARDED_PROTO",
               "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_FOR",
               "HTTP_X_FORWARDED_PREFIX")


class NativeFront:
    """``application`` (upstream's outer middlewares) for every request,
    ``inner`` (what they wrap) for the plain requests of native routes."""

    def __init__(self, application, inner):
        self.application = application
        self.inner = inner

    def __call__(self, environ, start_response):
        if ("HTTP_ORIGIN" not in environ
                and not any(h in environ for h in _FORWARDING)
                and seam.is_native_route(environ, prefix="/v1")):
            return self.inner(environ, start_response)
        return self.application(environ, start_response)


def install(application):
    """``application`` behind a NativeFront when it is upstream's
    ``HTTPProxyToWSGI(CORS(...))``; else ``application`` unchanged."""
    if isinstance(application, NativeFront):
        return application
    cors = getattr(application, "application", None)
    inner = getattr(cors, "application", None)
    if (type(application).__name__ == "HTTPProxyToWSGI"
            and type(cors).__name__ == "CORS" and inner is not None):
        return NativeFront(application, inner)
    return application
