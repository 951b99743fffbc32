"""The read routes of the native request path (``seam.py``): measures of
one metric, ``GET /v1/metric/<id>/measures`` and
``GET /v1/resource/<type>/<id>/metric/<name>/measures``, served without
Pecan.

Upstream's controller (``MetricController.get_measures``) step for step,
with upstream's own functions for the query's values, and the answer
rendered natively: upstream renders it point by point in Python (a
``to_primitive`` and an ``isoformat`` per timestamp), most of its cost.
A query upstream would refuse, an unknown aggregation or granularity, a
refresh of a metric with pending measures (it needs upstream's locking)
or any failure is declined: upstream answers it.
"""
from __future__ import annotations

import numpy
import webob
from gnocchi import calendar
from gnocchi import json as gnocchi_json
from gnocchi import storage
from gnocchi import utils

from gnocchi_rs import _native
from gnocchi_rs.rest import routing
from gnocchi_rs.rest.routing import Declined

_GET_MEASURES = "get measures"
_PARAMETERS = frozenset(("start", "stop", "aggregation", "granularity",
                         "resample", "refresh"))
_TRUE = frozenset(("1", "t", "true", "on", "y", "yes"))
_FALSE = frozenset(("0", "f", "false", "off", "n", "no"))
_CONTENT_TYPE = ("Content-Type", "application/json")


def route(parts):
    """(handler name, path arguments) of a read route for the segments of
    a path below /v1, or None."""
    if len(parts) == 3 and parts[0] == "metric" and parts[2] == "measures":
        return "metric", (parts[1],)
    if (len(parts) == 6 and parts[0] == "resource" and parts[3] == "metric"
            and parts[5] == "measures" and all(parts[1:5])):
        return "named_metric", (parts[1], parts[2], parts[4])
    return None


def _boolean(value):
    value = value.strip().lower()
    if value not in _TRUE | _FALSE:
        raise Declined("not a boolean")
    return value in _TRUE


class ReadRoutes:
    """The read routes of ``seam.NativeSeam``."""

    def _read(self, environ, start_response, route):
        if environ.get("CONTENT_LENGTH") not in (None, "", "0") or \
                not routing.takes_json(environ):
            return self.pecan_app(environ, start_response)
        return self._serve(environ, start_response,
                           lambda: self._read_answer(environ, route))

    def _read_answer(self, environ, route):
        query = routing.query(environ, _PARAMETERS, extra_ignored=True)
        request = webob.Request(environ)
        handler, arguments = route
        if handler == "metric":
            metric = self._metric_by_id(*arguments)
        else:
            metric = self._metric_by_name(request, *arguments)
        self._authorize(_GET_MEASURES, request, [metric],
                        target=gnocchi_json.to_primitive)
        body = self._measures(metric, **query)
        return (None, "200 OK",
                [_CONTENT_TYPE, ("Content-Length", str(len(body)))], body)

    def _measures(self, metric, start=None, stop=None, aggregation="mean",
                  granularity=None, resample=None, refresh=None):
        """The body of upstream's ``get_measures`` answer."""
        policy = metric.archive_policy
        if resample:
            if not granularity:
                raise Declined("resample without a granularity")
            resample = (resample if calendar.GROUPINGS.get(resample)
                        else utils.to_timespan(resample))
        if granularity is None:
            granularities = [d.granularity for d in policy.definition]
        else:
            granularities = [utils.to_timespan(granularity)]
        start = None if start is None else utils.to_timestamp(start)
        stop = None if stop is None else utils.to_timestamp(stop)
        if aggregation not in policy.aggregation_methods:
            raise Declined("no such aggregation")
        aggregations = []
        for g in sorted(granularities, reverse=True):
            found = policy.get_aggregation(aggregation, g)
            if found is None:
                raise Declined("no such granularity")
            aggregations.append(found)
        if refresh is not None and _boolean(refresh) and \
                self._backend("incoming").has_unprocessed(metric.id):
            raise Declined("a refresh to make")
        try:
            results = self._backend("storage").get_aggregated_measures(
                {metric: aggregations}, start, stop, resample)[metric]
        except storage.MetricDoesNotExist:
            return b"[]"
        series = []
        for key in sorted(results.keys(), reverse=True):
            found = results[key]
            seconds = gnocchi_json.to_primitive(
                found.aggregation.granularity)
            if not isinstance(seconds, float):
                raise Declined("a granularity that is not a timespan")
            points = found.ts
            series.append((float(seconds),
                           points["timestamps"].view(numpy.int64),
                           points["values"]))
        return _native.render_measures(series)
