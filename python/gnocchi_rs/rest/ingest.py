"""The ingest routes of the native request path (``seam.py``): posts of
measures served without Pecan.

A request served here goes: body parsed natively into measures that stay
native, one indexer query for its metrics, one policy evaluation per
distinct set of the values the rule reads, one batched write to the
incoming backend, a 202. It is served only when the answer is certain to
be upstream's 202: the body is in a form read exactly as upstream reads
it, every metric exists, the policy allows every one.
"""
from __future__ import annotations

import urllib.parse
import uuid

import webob
from gnocchi import json as gnocchi_json
from gnocchi import utils

from gnocchi_rs import _native
from gnocchi_rs.rest import lookup
from gnocchi_rs.rest import metric_creation
from gnocchi_rs.rest import routing
from gnocchi_rs.rest.routing import Declined, NotNative

_POST_MEASURES = "post measures"
_CREATE_METRIC = "create metric"
_ACCEPTED = ("202 Accepted", [("Content-Length", "0"),
                              ("Content-Type", "application/json")])
_TRUE = frozenset(("1", "t", "true", "on", "y", "yes"))
_FALSE = frozenset(("0", "f", "false", "off", "n", "no"))


def route(parts):
    """(handler name, path arguments) of an ingest route for the segments
    of a path below /v1, or None."""
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


class IngestRoutes:
    """The ingest routes of ``seam.NativeSeam``."""

    def _ingest(self, environ, start_response, route):
        body = routing.read_json_body(environ)
        if body is None:
            return self.pecan_app(environ, start_response)
        return self._serve(environ, start_response,
                           lambda: self._ingest_answer(environ, body, route),
                           body=body)

    def _ingest_answer(self, environ, body, route):
        incoming = self._backend("incoming")
        if not hasattr(incoming, "add_parsed_measures"):
            raise NotNative("the incoming driver %s is not native"
                            % type(incoming).__name__)
        handler, arguments = route
        parsed, targets = getattr(self, "_" + handler)(environ, body,
                                                       *arguments)
        return (lambda: incoming.add_parsed_measures(parsed, targets),
                ) + _ACCEPTED + (b"",)

    # -- the routes: each returns what to write, (parsed measures,
    # [(metric id, list index)]), or raises Declined ------------------------

    def _metric_batch(self, environ, body):
        if environ.get("QUERY_STRING"):
            raise Declined("query string")
        ids, parsed = _native.parse_metric_batch(body)
        if not ids:
            raise Declined("empty batch")
        metric_ids = [uuid.UUID(bytes=i) for i in ids]
        metrics = lookup.metrics_by_ids(self._backend("indexer"),
                                        metric_ids, details=False)
        if len(metrics) != len(metric_ids):
            raise Declined("unknown metrics")
        index_of = {m: i for i, m in enumerate(metric_ids)}
        self._authorize(_POST_MEASURES, webob.Request(environ), metrics)
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
            wanted[resource_id] = {name: (index, policy_name, unit)
                                   for name, policy_name, unit, index
                                   in metrics}
        if not any(wanted.values()):
            raise Declined("no metric named")
        indexer = self._backend("indexer")
        # The names asked of any resource, in one list: a resource has
        # more metrics than a batch names (Ceilometer posts a few).
        found = lookup.metrics_of_resources(
            indexer, [rid for rid, names in wanted.items() if names],
            {name for names in wanted.values() for name in names})
        targets = []
        for metric in found:
            asked = wanted.get(metric.resource_id, {}).get(metric.name)
            if asked is not None:
                targets.append((metric, asked[0]))
        new = []
        if len(targets) != sum(len(n) for n in wanted.values()):
            if not create_metrics:
                # Unknown metrics: upstream's 400.
                raise Declined("unknown metrics")
            known = {(m.resource_id, m.name) for m, _ in targets}
            missing = [(rid, name) + asked
                       for rid, names in wanted.items()
                       for name, asked in names.items()
                       if (rid, name) not in known]
            new = metric_creation.checked_new_metrics(
                indexer, creator, self._decisions.decisions(
                    _CREATE_METRIC,
                    self.hook.auth_helper.get_auth_info(request)),
                [(rid, name, policy_name, unit)
                 for rid, name, _, policy_name, unit in missing])
            targets += [(metric, index) for metric, (_, _, index, _, _)
                        in zip(new, missing)]
        self._authorize(_POST_MEASURES, request, [m for m, _ in targets])
        if new:
            metric_creation.insert(indexer, new)
        return parsed, [(m.id, i) for m, i in targets]

    def _metric(self, environ, body, metric_id):
        if environ.get("QUERY_STRING"):
            raise Declined("query string")
        parsed = _native.parse_measure_list(body)
        metric = self._metric_by_id(metric_id)
        self._authorize(_POST_MEASURES, webob.Request(environ), [metric],
                        target=gnocchi_json.to_primitive)
        # Upstream writes an empty list too (an empty blob).
        return parsed, [(metric.id, 0)]

    def _named_metric(self, environ, body, resource_type, resource_id,
                      name):
        if environ.get("QUERY_STRING"):
            raise Declined("query string")
        parsed = _native.parse_measure_list(body)
        request = webob.Request(environ)
        metric = self._metric_by_name(request, resource_type, resource_id,
                                      name)
        self._authorize(_POST_MEASURES, request, [metric],
                        target=gnocchi_json.to_primitive)
        return parsed, [(metric.id, 0)]

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
