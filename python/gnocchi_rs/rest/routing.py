"""What the native routes share: how they decline a request, whether the
client takes upstream's JSON answer, reading a query and a JSON body."""
import io
import urllib.parse

import webob.acceptparse


class Declined(Exception):
    """This request is upstream's to answer."""


class NotNative(Declined):
    """No request is ours to answer in this configuration: said once."""


def takes_json(environ):
    """Whether the client accepts upstream's JSON answer (else Pecan
    answers 406)."""
    accept = environ.get("HTTP_ACCEPT")
    return accept is None or bool(
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


def query(environ, parameters):
    """The query's parameters, one value each, or Declined when one is
    given twice (Pecan passes a list: upstream's to judge) or is not one
    of ``parameters``."""
    try:
        pairs = urllib.parse.parse_qsl(environ.get("QUERY_STRING", ""),
                                       keep_blank_values=True,
                                       errors="strict")
    except (UnicodeError, ValueError):
        raise Declined("query string")
    found = dict(pairs)
    if len(found) != len(pairs):
        raise Declined("a parameter given twice")
    if not parameters.issuperset(found):
        raise Declined("parameters upstream would not read")
    return found
