"""A size and depth guard in front of every request body the API decodes.

Upstream decodes JSON bodies twice, and neither decoder is safe on hostile
input: Pecan parses every ``application/json`` (and
``application/javascript``) body with the standard library to look for
controller arguments, then ``gnocchi.rest.api.deserialize`` parses
``application/json`` and ``application/json-patch+json`` bodies with ujson.
Both recurse once per nesting level, so a body nested 100 000 deep ends in
a RecursionError and a 500 with a traceback; a body that is not UTF-8
makes Pecan log an ERROR traceback (its ``Request.__getattribute__``
catches the UnicodeDecodeError) before answering an empty 400. Nothing
bounds the size of a body either.

:class:`BodyGuard` answers those requests before upstream sees them:

* a body larger than ``max_body_size`` (any content type): **413**. It is
  the status HTTP has for it (RFC 9110 15.5.14), the one proxies in front
  of an API answer (nginx's ``client_max_body_size``), and it tells a
  client that splitting the batch helps where a 400 says the body is wrong.
  A declared Content-Length above the limit is refused without reading.
* a JSON body that is not UTF-8 (upstream's decoders could never read it)
  or nested deeper than ``max_depth``: **400**.

Both in the shape of upstream's own "Unable to decode body" answer (what
``deserialize`` answers for a malformed JSON body), rendered as Pecan
renders it: JSON ``{"code", "title", "description": {"cause", "reason",
"detail"}}`` when the client's Accept header prefers JSON among text/plain,
text/html and application/json, else webob's text or HTML page of the same
detail. One WARNING line is logged per refused request.

A JSON body that is valid UTF-8, shallow and malformed (``garbage``, a
missing brace) is left to upstream, which already answers it with that
400 and a single WARNING: its reasons stay upstream's, word for word. Every
body that passes reaches upstream byte for byte (``wsgi.input`` is
replaced by a buffer holding what was read).

The UTF-8 check and the depth scan are one native pass over the bytes
(``_native.check_json_body``, ``src/api/guard.rs``), without the GIL for
large bodies: brackets outside strings counted, a backslash escaping the
byte after it. About 0.1 ms for a 268 KB batch of measures. For a valid
JSON prefix this is exactly the nesting ujson and the standard library
see, so a body they would recurse into too deeply cannot pass; on invalid
JSON the scan may differ, but the decoders stop at the first invalid byte.
"""
from __future__ import annotations

import io
import json
import logging
import os

from gnocchi_rs import _native

LOG = logging.getLogger(__name__)

#: The deepest JSON accepted. Upstream's fixed-shape payloads are at most 5
#: deep (a batch of measures by resource: object, object, object, array,
#: object). Only two are recursive: search filters (2 levels per and/or)
#: and /v1/aggregates operations (1 level per operator). Upstream itself
#: fails on the latter with a RecursionError (a 500) from about 80 levels
#: (79 in-process under webtest, fewer under a server's deeper stack), and
#: on search filters from about 170. 64 keeps every request upstream can
#: answer on its recursive routes up to 64 levels (31 nested and/or, 62
#: nested operators) and refuses before any of upstream's recursions can
#: overflow.
DEFAULT_MAX_DEPTH = 64

#: The largest body accepted, in bytes; GNOCCHI_RS_MAX_BODY_SIZE overrides
#: it (0: no limit). Upstream has none. 64 MiB is about 1.2 million measures
#: in one batch (a measure is about 55 bytes of JSON), far more than any
#: client sends at once, and bounds what a worker buffers (upstream reads
#: whole bodies into memory, and the decoded objects take several times
#: the bytes).
DEFAULT_MAX_BODY_SIZE = 64 * 1024 * 1024

# Content types decoded as JSON: Pecan's (webob's content_type, compared
# as is) and upstream deserialize's (werkzeug's mime type).
_PECAN_JSON = frozenset(("application/json", "application/javascript"))
_UPSTREAM_JSON = frozenset(("application/json",
                            "application/json-patch+json"))

def nesting_exceeds(body: bytes, limit: int) -> bool:
    """Whether the JSON text ``body`` nests arrays/objects more than
    ``limit`` deep (brackets inside strings do not count)."""
    return _native.check_json_body(body, limit)[1]


def _mime_types(content_type):
    import werkzeug.http

    pecan_type = content_type.split(";", 1)[0].strip()
    upstream_type, _ = werkzeug.http.parse_options_header(content_type)
    return pecan_type, upstream_type


def is_json(content_type) -> bool:
    """Whether Pecan or upstream's ``deserialize`` decodes a body of this
    Content-Type as JSON."""
    if not content_type:
        return False
    pecan_type, upstream_type = _mime_types(content_type)
    return pecan_type in _PECAN_JSON or upstream_type in _UPSTREAM_JSON


def _max_body_size_from_env():
    value = os.environ.get("GNOCCHI_RS_MAX_BODY_SIZE")
    if value is None or value.strip() == "":
        return DEFAULT_MAX_BODY_SIZE
    return int(value)


class BodyGuard:
    """WSGI middleware: see the module's docstring.

    :param max_body_size: bytes; None reads GNOCCHI_RS_MAX_BODY_SIZE
        (default :data:`DEFAULT_MAX_BODY_SIZE`); 0 or less: no limit.
    :param max_depth: deepest JSON nesting accepted.
    """

    def __init__(self, app, max_body_size=None, max_depth=DEFAULT_MAX_DEPTH):
        self.app = app
        if max_body_size is None:
            max_body_size = _max_body_size_from_env()
        self.max_body_size = max_body_size if max_body_size > 0 else None
        self.max_depth = max_depth

    def __call__(self, environ, start_response):
        length = environ.get("CONTENT_LENGTH")
        try:
            length = int(length) if length else None
        except ValueError:
            length = None           # webob reads no body then; neither do we
        chunked = "chunked" in environ.get(
            "HTTP_TRANSFER_ENCODING", "").lower()
        if not length and not chunked:
            return self.app(environ, start_response)
        limit = self.max_body_size
        if limit is not None and length is not None and length > limit:
            return self._refuse(
                environ, start_response, 413,
                "Request body of %d bytes exceeds the limit of %d bytes"
                % (length, limit))
        decoded = is_json(environ.get("CONTENT_TYPE"))
        if not decoded and length is not None:
            return self.app(environ, start_response)

        # Read the body: at most Content-Length bytes, or for a chunked
        # body up to one byte past the limit.
        stream = environ["wsgi.input"]
        if length is not None:
            body = stream.read(length)
        elif limit is not None:
            body = stream.read(limit + 1)
        else:
            body = stream.read()
        if limit is not None and len(body) > limit:
            return self._refuse(
                environ, start_response, 413,
                "Request body exceeds the limit of %d bytes" % limit)
        environ["wsgi.input"] = io.BytesIO(body)
        if length is None:
            # What webob needs to read a body that came chunked.
            environ["CONTENT_LENGTH"] = str(len(body))
        if decoded:
            utf8, too_deep = _native.check_json_body(body, self.max_depth)
            if not utf8:
                try:
                    body.decode("utf-8")
                except UnicodeDecodeError as e:
                    # The decoder's own words for where and why.
                    return self._refuse(environ, start_response, 400,
                                        str(e))
            if too_deep:
                return self._refuse(
                    environ, start_response, 400,
                    "JSON nested deeper than %d levels" % self.max_depth)
        return self.app(environ, start_response)

    @staticmethod
    def _refuse(environ, start_response, status, reason):
        """Upstream's "Unable to decode body" answer, as Pecan renders an
        ``abort(status, UnableToDecodeBody(...))``."""
        import webob.exc
        from webob import acceptparse

        LOG.warning("%s %s: %d, unable to decode body: %s",
                    environ.get("REQUEST_METHOD"),
                    environ.get("SCRIPT_NAME", "") + environ.get(
                        "PATH_INFO", ""), status, reason)
        # upstream's detail is the request's (read) body file: JSON renders
        # it as [], webob's text page strips its repr like a tag.
        detail = {"cause": "Unable to decode body", "reason": reason,
                  "detail": io.BytesIO()}
        error = webob.exc.status_map[status](detail=detail)
        # pecan.core.Pecan.__call__: "if the client asked for JSON".
        accept = acceptparse.create_accept_header(
            environ.get("HTTP_ACCEPT") or "*/*")
        offers = accept.acceptable_offers(
            ("text/plain", "text/html", "application/json"))
        if offers and offers[0][0] == "application/json":
            error.text = json.dumps({
                "code": error.status_int,
                "title": error.title,
                "description": dict(detail, detail=[]),
            })
            error.content_type = "application/json"
        return error(environ, start_response)
