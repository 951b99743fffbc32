"""The native ingest path: the measure routes of upstream's API served
without Pecan, with upstream's answers.

It sits where upstream's Pecan application sits, behind the paste
pipeline's auth middleware, and shares the Pecan application's backends,
policy enforcer and auth helper. A request it serves goes: body parsed
natively into measures that stay native, one indexer query for its
metrics, one policy evaluation per distinct set of the values the rule
reads, one batched write to the incoming backend, a 202.

It serves a request only when the answer is certain to be upstream's 202:
the body is in a form it reads exactly as upstream does, every metric
exists, the policy allows every one. Anything else (malformed bodies,
unknown metrics or resources, metrics to create, a refusal, an exception)
is handed, untouched, to upstream's Pecan application, which gives
upstream's own answer. Nothing is written before that decision, so a
handed-over request is never half applied.
"""
from __future__ import annotations

import io
import logging
import os
import urllib.parse
import uuid

import webob
import webob.acceptparse
from gnocchi import json as gnocchi_json
from gnocchi import utils

from gnocchi_rs import _native
from gnocchi_rs.rest import lookup
from gnocchi_rs.rest import policy

LOG = logging.getLogger("gnocchi_rs.rest.ingest")

ENV_SWITCH = "GNOCCHI_RS_NATIVE_API"

_POST_MEASURES = "post measures"
_ACCEPTED = ("202 Accepted", [("Content-Length", "0"),
                              ("Content-Type", "application/json")])
_TRUE = frozenset(("1", "t", "true", "on", "y", "yes"))
_FALSE = frozenset(("0", "f", "false", "off", "n", "no"))


class Declined(Exception):
    """This request is upstream's to answer."""


class NotNative(Declined):
    """No request is ours to answer in this configuration: said once."""


_said_not_native = set()


def enabled_by_environment():
    return os.environ.get(ENV_SWITCH, "1").lower() not in ("0", "false",
                                                           "no", "off")


def _route(path):
    """(handler name, path arguments) of a measure route, or None."""
    parts = path.split("/")
    # PATH_INFO below /v1: "/batch/metrics/measures", ...
    if len(parts) < 2 or parts[0] != "":
        return None
    parts = parts[1:]
    if parts == ["batch", "metrics", "measures"]:
        return "metric_batch", ()
    if parts == ["batch", "resources", "metrics", "measures"]:
        return "resource_batch", ()
    if len(parts) == 3 and parts[0] == "metric" and parts[2] == "measures":
        return "metric", (parts[1],)
    if (len(parts) == 6 and parts[0] == "resource" and parts[3] == "metric"
            and parts[5] == "measures" and all(parts[1:5])):
        return "named_metric", (parts[1], parts[2], parts[4])
    return None


def _path_info(environ):
    """PATH_INFO as text, as webob (and so Pecan) decodes it; "" when it
    is not UTF-8 (upstream's to answer)."""
    try:
        return environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
    except UnicodeError:
        return ""


def _target(subject):
    """What upstream's ``api.enforce`` turns a subject into before
    flattening it."""
    if isinstance(subject, dict):
        return subject
    return subject.jsonify() if hasattr(subject, "jsonify") \
        else subject.__dict__


class IngestSeam:
    """The innermost WSGI application of ``/v1``: measure posts natively,
    every other request to ``pecan_app``."""

    def __init__(self, pecan_app, hook):
        self.pecan_app = pecan_app
        self.hook = hook

    def _backend(self, name):
        return self.hook._lazy_load(name)

    def __call__(self, environ, start_response):
        route = None
        if environ.get("REQUEST_METHOD") == "POST":
            route = _route(_path_info(environ))
        if route is None:
            return self.pecan_app(environ, start_response)
        body = self._read_body(environ)
        if body is None:
            return self.pecan_app(environ, start_response)
        try:
            incoming = self._backend("incoming")
            if not hasattr(incoming, "add_parsed_measures"):
                raise NotNative("the incoming driver %s is not native"
                                % type(incoming).__name__)
            write = getattr(self, "_" + route[0])(environ, body, *route[1])
        except NotNative as e:
            if str(e) not in _said_not_native:
                _said_not_native.add(str(e))
                LOG.warning("Native ingest is off: %s; upstream's API "
                            "serves every request", e)
        except Declined as e:
            LOG.debug("Native ingest declined %s: %s",
                      environ.get("PATH_INFO"), e)
        except _native.RequestDeclined as e:
            LOG.debug("Native ingest declined the body of %s: %s",
                      environ.get("PATH_INFO"), e)
        except Exception:
            # Upstream's code meets the same failure and answers it as
            # upstream does; nothing was written.
            LOG.debug("Native ingest failed on %s, handed over",
                      environ.get("PATH_INFO"), exc_info=True)
        except (KeyboardInterrupt, SystemExit, GeneratorExit):
            raise
        except BaseException:
            # A native panic (pyo3's PanicException is a BaseException) is
            # a bug of ours, not the client's: upstream's code answers, and
            # the log says where.
            LOG.warning("Native ingest panicked on %s, handed over",
                        environ.get("PATH_INFO"), exc_info=True)
        else:
            # Past this point the request is ours: a failing backend is
            # answered as upstream answers it (the error propagates).
            incoming.add_parsed_measures(*write)
            start_response(*_ACCEPTED)
            return [b""]
        environ["wsgi.input"] = io.BytesIO(body)
        return self.pecan_app(environ, start_response)

    @staticmethod
    def _read_body(environ):
        """The whole body, put back for upstream if it is handed over;
        None when it is not a JSON body of a known length, or when the
        client does not take upstream's JSON answer (Pecan answers 406)."""
        content_type = environ.get("CONTENT_TYPE", "")
        if content_type.split(";", 1)[0].strip() != "application/json":
            return None
        accept = environ.get("HTTP_ACCEPT")
        if accept is not None and not webob.acceptparse.create_accept_header(
                accept).acceptable_offers(["application/json"]):
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

    # -- the routes: each returns what to write, (parsed measures,
    # [(metric id, list index)]), or raises Declined ------------------------

    def _metric_batch(self, environ, body):
        if environ.get("QUERY_STRING"):
            raise Declined("query string")
        ids, parsed = _native.parse_metric_batch(body)
        if not ids:
            raise Declined("empty batch")
        metric_ids = [uuid.UUID(bytes=i) for i in ids]
        metrics = lookup.active_metrics(self._backend("indexer"),
                                        {"in": {"id": metric_ids}})
        if len(metrics) != len(metric_ids):
            raise Declined("unknown metrics")
        index_of = {m: i for i, m in enumerate(metric_ids)}
        self._authorize(environ, metrics)
        return parsed, [(m.id, index_of[m.id]) for m in metrics]

    def _resource_batch(self, environ, body):
        create_metrics = self._create_metrics_option(environ)
        resources, parsed = _native.parse_resource_batch(body)
        request = webob.Request(environ)
        creator = self.hook.auth_helper.get_current_user(request)
        wanted = {}
        for original_id, metrics in resources:
            try:
                resource_id = utils.ResourceUUID(original_id, creator)
            except ValueError:
                raise Declined("invalid resource id")
            if resource_id in wanted:
                raise Declined("a resource named twice")
            wanted[resource_id] = {name: index
                                   for name, _, _, index in metrics}
        clauses = [{"and": [{"=": {"resource_id": rid}},
                            {"in": {"name": list(names)}}]}
                   for rid, names in wanted.items() if names]
        if not clauses:
            raise Declined("no metric named")
        found = lookup.active_metrics(self._backend("indexer"),
                                      {"or": clauses})
        targets = []
        for metric in found:
            index = wanted.get(metric.resource_id, {}).get(metric.name)
            if index is not None:
                targets.append((metric, index))
        if len(targets) != sum(len(n) for n in wanted.values()):
            # Unknown metrics (a 400) or metrics to create: upstream's.
            raise Declined("unknown metrics (create_metrics=%s)"
                           % create_metrics)
        self._authorize(environ, [m for m, _ in targets], request)
        return parsed, [(m.id, i) for m, i in targets]

    def _metric(self, environ, body, metric_id):
        if environ.get("QUERY_STRING"):
            raise Declined("query string")
        try:
            metric_id = uuid.UUID(metric_id)
        except ValueError:
            raise Declined("not a metric id")
        parsed = _native.parse_measure_list(body)
        metrics = self._backend("indexer").list_metrics(
            attribute_filter={"=": {"id": metric_id}}, details=True)
        if not metrics:
            raise Declined("unknown metric")
        self._authorize(environ, metrics, target=gnocchi_json.to_primitive)
        # Upstream writes an empty list too (an empty blob).
        return parsed, [(metrics[0].id, 0)]

    def _named_metric(self, environ, body, resource_type, resource_id,
                      name):
        if environ.get("QUERY_STRING"):
            raise Declined("query string")
        parsed = _native.parse_measure_list(body)
        request = webob.Request(environ)
        indexer = self._backend("indexer")
        creator = self.hook.auth_helper.get_current_user(request)
        indexer.get_resource_type(resource_type)
        try:
            resource_id = utils.ResourceUUID(resource_id, creator)
        except ValueError:
            raise Declined("invalid resource id")
        metrics = indexer.list_metrics(details=True, attribute_filter={
            "and": [{"=": {"name": name}},
                    {"=": {"resource_id": str(resource_id)}}]})
        if not metrics:
            raise Declined("unknown metric")
        self._authorize(environ, metrics[:1], request,
                        target=gnocchi_json.to_primitive)
        return parsed, [(metrics[0].id, 0)]

    # -- shared steps -------------------------------------------------------

    @staticmethod
    def _create_metrics_option(environ):
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""),
                                      keep_blank_values=True)
        if not query:
            return False
        values = query.pop("create_metrics", None)
        if query or values is None or len(values) != 1:
            raise Declined("query string")
        value = values[0].strip().lower()
        if value not in _TRUE | _FALSE:
            raise Declined("create_metrics is not a boolean")
        return value in _TRUE

    def _authorize(self, environ, metrics, request=None, target=None):
        """Upstream's ``enforce("post measures", metric)`` for each, or
        Declined at the first refusal (upstream answers the 403)."""
        request = request or webob.Request(environ)
        creds = self.hook.auth_helper.get_auth_info(request)
        enforcer = self.hook.policy_enforcer
        if len(metrics) == 1:
            # Nothing to share between targets: the enforcer itself, once.
            [metric] = metrics
            if isinstance(metric, lookup.MetricRow):
                flat = metric.flattened_target({})
            else:
                subject = metric if target is None else target(metric)
                flat = policy.flattened(_target(subject))
            if not enforcer.enforce(_POST_MEASURES, flat, creds):
                raise Declined("not allowed")
            return
        decisions = policy.Decisions(enforcer, _POST_MEASURES, creds)
        flattened_policies = {}
        for metric in metrics:
            if isinstance(metric, lookup.MetricRow):
                allowed = decisions.allowed_flattened(
                    metric.flattened_target(flattened_policies))
            else:
                subject = metric if target is None else target(metric)
                allowed = decisions.allowed(_target(subject))
            if not allowed:
                raise Declined("not allowed")

