"""What the native routes share: how they decline a request, whether the
client takes upstream's JSON answer, reading a query and a JSON body."""
import contextlib
import io

import pecan.core
import webob
import webob.acceptparse
from webob import compat as webob_compat


class Declined(Exception):
    """This request is upstream's to answer."""


class NotNative(Declined):
    """No request is ours to answer in this configuration: said once."""


# Accept headers clients send most, which webob accepts JSON for (a
# test checks each against webob): answered without parsing.
_TAKES_JSON = frozenset(("*/*", "application/json",
                         "application/json, */*",
                         "application/json, text/plain, */*"))


def takes_json(environ):
    """Whether the client accepts upstream's JSON answer (else Pecan
    answers 406)."""
    accept = environ.get("HTTP_ACCEPT")
    return accept is None or accept in _TAKES_JSON or bool(
        webob.acceptparse.create_accept_header(accept).acceptable_offers(
            ["application/json"]))


def read_json_body(environ):
    """The whole body, put back for upstream if it is handed over; None
    when it is not a JSON body of a known length, or when the client does
    not take upstream's JSON answer (Pecan answers 406)."""
    content_type = environ.get("CONTENT_TYPE", "")
    if content_type.split(";", 1)[0].strip() != "application/json":
        return None
    if not takes_json(environ):
        return None
    try:
        length = int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    if length < 0:
        return None
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    return body if len(body) == length else None


def query(environ, parameters, repeatable=frozenset(), extra_ignored=False):
    """The query's parameters, one value each (a list for those of
    ``repeatable`` given more than once, as Pecan passes them), or
    Declined when another one is given twice (Pecan passes a list:
    upstream's to judge) or is not one of ``parameters``.

    ``extra_ignored``: the controller takes ``**kwargs`` and never reads
    the others (Grafana sends ``end`` with ``stop``), so they are left
    out, given once or more; except Pecan's own ``_method``."""
    # Split and decoded as Pecan's WebOb does (``;`` separates pairs as
    # ``&`` does; raw bytes are UTF-8), or names would differ from the
    # ones upstream's controller sees.
    try:
        pairs = list(webob_compat.parse_qsl_text(
            environ.get("QUERY_STRING", "")))
    except (UnicodeError, ValueError):
        raise Declined("query string")
    lists = {}
    single = []
    for name, value in pairs:
        if extra_ignored and name not in parameters and \
                name not in repeatable:
            if name == "_method":
                raise Declined("Pecan's method override")
            continue
        if name in repeatable:
            lists.setdefault(name, []).append(value)
        else:
            single.append((name, value))
    found = dict(single)
    if len(found) != len(single):
        raise Declined("a parameter given twice")
    if not parameters.issuperset(found):
        raise Declined("parameters upstream would not read")
    # Pecan passes a parameter given once as its value, not a list.
    found.update((name, values[0] if len(values) == 1 else values)
                 for name, values in lists.items())
    return found


class _BoundRequest:
    """A request as upstream's hook leaves it for its controllers: the
    request's own attributes and the backends' (``indexer``,
    ``auth_helper``, ...)."""

    def __init__(self, environ, attributes):
        self.__dict__.update(attributes)
        self._request = webob.Request(environ)

    def __getattr__(self, name):
        return getattr(self._request, name)


@contextlib.contextmanager
def pecan_request(environ, **attributes):
    """``pecan.request`` bound to this request while upstream's functions
    that read it (schemas, ``auth_helper``) run outside Pecan."""
    state = pecan.core.state
    if state is None or hasattr(state, "request"):
        raise Declined("no free pecan context here")
    state.request = _BoundRequest(environ, attributes)
    try:
        yield state.request
    finally:
        del state.request
