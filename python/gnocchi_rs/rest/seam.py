"""The native request path's WSGI application: the measure routes of
upstream's API served without Pecan, with upstream's answers.

It sits where upstream's Pecan application sits, behind the paste
pipeline's auth middleware, and shares the Pecan application's backends,
policy enforcer and auth helper. Posts of measures are the ingest routes
(``ingest.py``), reads of measures the read routes (``read.py``), reads
across metrics the aggregates route (``aggregates.py``, its resource
searches ``resource_search.py``) and the first API's
``/v1/aggregation/metric`` (``legacy_aggregation.py``).

A route serves a request only when its answer is certain to be
upstream's success answer. Anything else (malformed bodies or queries,
unknown metrics or resources, metrics to create, a refusal, an exception)
is *declined*: handed, untouched, to upstream's Pecan application, which
gives upstream's own answer. Nothing is written before that decision, so a
handed-over request is never half applied.
"""
from __future__ import annotations

import io
import logging
import os
import uuid

from gnocchi import json as gnocchi_json
from gnocchi import utils

from gnocchi_rs import _native
from gnocchi_rs.rest import aggregates
from gnocchi_rs.rest import ingest
from gnocchi_rs.rest import legacy_aggregation
from gnocchi_rs.rest import lookup
from gnocchi_rs.rest import metric_creation
from gnocchi_rs.rest import policy
from gnocchi_rs.rest import read
from gnocchi_rs.rest.routing import Declined, NotNative

LOG = logging.getLogger("gnocchi_rs.rest.seam")

ENV_SWITCH = "GNOCCHI_RS_NATIVE_API"

_said_not_native = set()


def enabled_by_environment():
    return os.environ.get(ENV_SWITCH, "1").lower() not in ("0", "false",
                                                           "no", "off")


def _path_info(environ):
    """PATH_INFO as text, as webob (and so Pecan) decodes it; "" when it
    is not UTF-8 (upstream's to answer)."""
    try:
        return environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
    except UnicodeError:
        return ""


def _path_parts(environ):
    """The segments of PATH_INFO below /v1, or None."""
    parts = _path_info(environ).split("/")
    if len(parts) < 2 or parts[0] != "":
        return None
    return parts[1:]


def _target(subject):
    """What upstream's ``api.enforce`` turns a subject into before
    flattening it."""
    if isinstance(subject, dict):
        return subject
    return subject.jsonify() if hasattr(subject, "jsonify") \
        else subject.__dict__


def _route(method, parts):
    """(kind, route) of the native route for a method and the segments
    of a path below /v1, or None."""
    if parts is None or method not in ("POST", "GET"):
        return None
    route = legacy_aggregation.route(parts)
    if route is not None:
        return "legacy_aggregation", route
    if method == "POST":
        route = ingest.route(parts)
        if route is not None:
            return "ingest", route
        if aggregates.route(parts) is not None:
            return "aggregates", None
        return None
    route = read.route(parts)
    return None if route is None else ("read", route)


def is_native_route(environ, prefix=""):
    """Whether the request's method and path (below ``prefix``) name a
    route of the native path."""
    path = _path_info(environ)
    if not path.startswith(prefix + "/"):
        return False
    parts = path[len(prefix):].split("/")[1:]
    return _route(environ.get("REQUEST_METHOD"), parts) is not None


class NativeSeam(ingest.IngestRoutes, read.ReadRoutes,
                 aggregates.AggregatesRoutes,
                 legacy_aggregation.LegacyAggregationRoutes):
    """The innermost WSGI application of ``/v1``: measure posts and reads
    and aggregates natively, every other request to ``pecan_app``."""

    def __init__(self, pecan_app, hook):
        self.pecan_app = pecan_app
        self.hook = hook
        policy.remember_policy_search(hook.policy_enforcer)
        self._decisions = policy.SharedDecisions(hook.policy_enforcer)

    def _backend(self, name):
        return self.hook._lazy_load(name)

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD")
        found = _route(method, _path_parts(environ)
                       if method in ("POST", "GET") else None)
        if found is None:
            return self.pecan_app(environ, start_response)
        kind, route = found
        if kind == "legacy_aggregation":
            return self._legacy_aggregation(environ, start_response, route)
        if kind == "ingest":
            return self._ingest(environ, start_response, route)
        if kind == "aggregates":
            return self._aggregates(environ, start_response)
        return self._read(environ, start_response, route)

    def _serve(self, environ, start_response, serve, body=None):
        """``serve()``'s answer, or upstream's when it declines or fails.

        ``serve`` returns (commit, status, headers, body) without writing;
        ``commit``, when not None, writes, and its errors propagate. A
        handed-over request gets its ``body`` back to read."""
        try:
            answer = serve()
        except NotNative as e:
            if str(e) not in _said_not_native:
                _said_not_native.add(str(e))
                LOG.warning("The native API path is off: %s; upstream's "
                            "API serves every request", e)
        except Declined as e:
            LOG.debug("Native path declined %s: %s",
                      environ.get("PATH_INFO"), e)
        except _native.RequestDeclined as e:
            LOG.debug("Native path declined the body of %s: %s",
                      environ.get("PATH_INFO"), e)
        except Exception:
            # Upstream's code meets the same failure and answers it as
            # upstream does; nothing was written.
            LOG.debug("Native path failed on %s, handed over",
                      environ.get("PATH_INFO"), exc_info=True)
        except (KeyboardInterrupt, SystemExit, GeneratorExit):
            raise
        except BaseException:
            # A native panic (pyo3's PanicException is a BaseException) is
            # a bug of ours, not the client's: upstream's code answers, and
            # the log says where.
            LOG.warning("Native path panicked on %s, handed over",
                        environ.get("PATH_INFO"), exc_info=True)
        else:
            commit, status, headers, answer_body = answer
            if commit is not None:
                # Past this point the request is ours: a failing backend
                # is answered as upstream answers it (the error
                # propagates).
                commit()
            start_response(status, headers)
            return [answer_body]
        if body is not None:
            environ["wsgi.input"] = io.BytesIO(body)
        return self.pecan_app(environ, start_response)

    # -- shared steps -------------------------------------------------------

    def _metric_by_id(self, metric_id):
        """Upstream's ``MetricsController._lookup``: the metric with its
        details, or Declined (upstream answers the 404)."""
        try:
            metric_id = uuid.UUID(metric_id)
        except ValueError:
            raise Declined("not a metric id")
        metrics = lookup.metric_by_id(self._backend("indexer"), metric_id)
        if not metrics:
            raise Declined("unknown metric")
        return metrics[0]

    def _metric_by_name(self, request, resource_type, resource_id, name):
        """Upstream's lookup of ``/resource/<type>/<id>/metric/<name>``."""
        creator = self.hook.auth_helper.get_current_user(request)
        try:
            resource_id = utils.ResourceUUID(resource_id, creator)
        except ValueError:
            raise Declined("invalid resource id")
        metrics = lookup.metric_by_name(self._backend("indexer"),
                                        resource_type, resource_id, name)
        if not metrics:
            raise Declined("unknown metric")
        return metrics[0]

    def _authorize(self, rule, request, metrics, target=None):
        """Upstream's ``enforce(rule, metric)`` for each (``target``:
        what upstream's controller converts the metric with first), or
        Declined at the first refusal (upstream answers the 403)."""
        creds = self.hook.auth_helper.get_auth_info(request)
        decisions = self._decisions.decisions(rule, creds)
        flattened_policies = {}
        for metric in metrics:
            if target is gnocchi_json.to_primitive and \
                    isinstance(metric, lookup.MetricRow):
                allowed = decisions.allowed_by(
                    lambda keys, m=metric: policy.primitive_values(m, keys),
                    lambda m=metric: policy.flattened(
                        gnocchi_json.to_primitive(m)))
            elif target is None and isinstance(
                    metric, (lookup.MetricRow, metric_creation.NewMetric)):
                allowed = decisions.allowed_flattened(
                    metric.flattened_target(flattened_policies))
            else:
                subject = metric if target is None else target(metric)
                allowed = decisions.allowed(_target(subject))
            if not allowed:
                raise Declined("not allowed")
