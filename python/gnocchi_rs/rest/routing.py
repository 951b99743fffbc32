"""What the native routes share: how they decline a request, and whether
the client takes upstream's JSON answer."""
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
