"""What a notebook call raises: one class per thing a user can act on,
with the server's own explanation in the message."""


class GnocchiError(Exception):
    """A query Gnocchi refused, or a source that cannot be used."""

    status = None


class BadQuery(GnocchiError, ValueError):
    """Gnocchi refused the query as written (400): a garbage time, an
    unknown aggregation, a syntax error in the operations."""


class NotFound(GnocchiError, LookupError):
    """No such metric, resource, or aggregation at that granularity."""


class Forbidden(GnocchiError, PermissionError):
    """Not authenticated, or not allowed to read this."""


class Unavailable(GnocchiError, ConnectionError):
    """The server does not answer, or the local deployment cannot be
    opened."""


class ReadOnly(GnocchiError):
    """A write asked of a local source, which only reads."""


_BY_STATUS = {400: BadQuery, 401: Forbidden, 403: Forbidden, 404: NotFound}


def from_answer(status, description, what):
    """The error for an answer of ``status`` to ``what``."""
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = Unavailable if status >= 500 else GnocchiError
    error = cls("%s: %s (HTTP %d)" % (what, description, status))
    error.status = status
    return error
