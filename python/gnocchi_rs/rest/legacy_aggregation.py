"""The cross-metric reads of Gnocchi's first aggregation API, still sent
by older Grafana datasources and Aodh, served without Pecan:
``GET /v1/aggregation/metric?metric=<id>&metric=<id>...`` and its ``POST``
(the ids as a JSON list), and ``POST /v1/aggregation/resource/<type>/
metric/<name>`` (the metric of that name of every resource a search finds,
grouped by ``groupby`` or not).

Upstream's ``AggregationController.get_metric``,
``AggregationResourceController.post`` and
``get_cross_metric_measures_from_objs`` step for step: one metric reads
its series (resampled when asked) as the measures route does; several are
aggregated by the same evaluation as ``POST /v1/aggregates`` over the
operations upstream builds for them. A refresh with measures pending
(upstream's locking), a search reaching the page limit (upstream links
the next page), a query upstream refuses or any failure is declined:
upstream answers it.
"""
from __future__ import annotations

import collections
import uuid

import numpy
import pecan.jsonify
import voluptuous
import webob
from gnocchi import calendar
from gnocchi import json as gnocchi_json
from gnocchi import utils
from gnocchi.rest import api
from gnocchi.rest.aggregates import processor

from gnocchi_rs import _native
from gnocchi_rs.rest import aggregates
from gnocchi_rs.rest import lookup
from gnocchi_rs.rest import resource_search
from gnocchi_rs.rest import routing
from gnocchi_rs.rest.routing import Declined

_GET_METRIC = "get metric"
_PARAMETERS = frozenset(("start", "stop", "aggregation", "reaggregation",
                         "granularity", "needed_overlap", "fill", "refresh",
                         "resample"))
_REPEATABLE = frozenset(("metric",))
_RESOURCE_PARAMETERS = (_PARAMETERS - {"metric"}) | {"filter", "groupby"}
_RESOURCE_REPEATABLE = frozenset(("groupby",))
_CONTENT_TYPE = ("Content-Type", "application/json")
_METRIC_IDS = voluptuous.Schema([utils.UUID], required=True)


def route(parts):
    """(handler name, path arguments) of a legacy aggregation route for
    the segments of a path below /v1, or None."""
    if parts == ["aggregation", "metric"]:
        return "metric", ()
    if (len(parts) == 5 and parts[:2] == ["aggregation", "resource"]
            and parts[3] == "metric" and all(parts[2:])):
        return "resource", (parts[2], parts[4])
    return None


class LegacyAggregationRoutes:
    """The legacy aggregation route of ``seam.NativeSeam``."""

    def _legacy_aggregation(self, environ, start_response, route):
        handler, arguments = route
        bodiless = environ.get("CONTENT_LENGTH") in (None, "", "0")
        if environ.get("REQUEST_METHOD") == "POST" and not (
                handler == "resource" and bodiless):
            body = routing.read_json_body(environ)
            if body is None:
                return self.pecan_app(environ, start_response)
        elif handler == "resource" and \
                environ.get("REQUEST_METHOD") != "POST":
            return self.pecan_app(environ, start_response)
        else:
            body = None
            if not bodiless or not routing.takes_json(environ):
                return self.pecan_app(environ, start_response)
        if handler == "metric":
            return self._serve(
                environ, start_response,
                lambda: self._legacy_answer(environ, body), body=body)
        return self._serve(
            environ, start_response,
            lambda: self._legacy_resource_answer(environ, body or b"",
                                                 *arguments), body=body)

    def _legacy_resource_answer(self, environ, body, resource_type,
                                metric_name):
        """``AggregationResourceController.post``: the search, then the
        cross-metric read of the named metric of its resources (of each
        group of them)."""
        query = routing.query(environ, _RESOURCE_PARAMETERS,
                              _RESOURCE_REPEATABLE, extra_ignored=True)
        groupby = sorted(set(api.arg_to_list(query.pop("groupby", None))))
        search = query.pop("filter", None)
        with routing.pecan_request(environ,
                                   indexer=self._backend("indexer"),
                                   auth_helper=self.hook.auth_helper):
            if body:
                attribute_filter = api.validate(
                    resource_search.search_schema, gnocchi_json.loads(body))
            elif search:
                attribute_filter = resource_search.search_string(search)
            else:
                attribute_filter = None
        attribute_filter = resource_search.attribute_filter(
            attribute_filter, resource_search.policy_filter(
                self.hook, environ, resource_type))
        limit = self.hook.conf.api.max_limit
        resources = self._backend("indexer").list_resources(
            resource_type, attribute_filter=attribute_filter, sorts=groupby,
            limit=limit)
        if len(resources) >= limit:
            raise Declined("a page limit reached")

        def named(members):
            return [m for m in (r.get_metric(metric_name) for r in members)
                    if m]

        if not groupby:
            [answer] = self._cross_metric(environ, [named(resources)],
                                          **query)
        else:
            groups = resource_search.groups(resources, groupby)
            answers = self._cross_metric(
                environ, [named(members) for _, members in groups], **query)
            answer = b"[" + b", ".join(
                b'{"group": ' + pecan.jsonify.encode(group).encode() +
                b', "measures": ' + measures + b"}"
                for (group, _), measures in zip(groups, answers)) + b"]"
        return (None, "200 OK",
                [_CONTENT_TYPE, ("Content-Length", str(len(answer)))],
                answer)

    def _legacy_answer(self, environ, body):
        query = routing.query(environ, _PARAMETERS | _REPEATABLE,
                              _REPEATABLE)
        if body is None:
            metric_ids = _METRIC_IDS(api.arg_to_list(query.pop("metric",
                                                               None)))
        else:
            query.pop("metric", None)
            metric_ids = _METRIC_IDS(gnocchi_json.loads(body))
        metric_ids = set(str(m) for m in metric_ids)
        metrics = lookup.metrics_by_ids(
            self._backend("indexer"), [uuid.UUID(m) for m in metric_ids],
            details=False)
        if metric_ids - set(str(m.id) for m in metrics):
            raise Declined("unknown metrics")
        # In upstream's order: its indexer lists them by id.
        metrics.sort(key=lambda m: uuid.UUID(str(m.id)))
        [answer] = self._cross_metric(environ, [metrics], **query)
        return (None, "200 OK",
                [_CONTENT_TYPE, ("Content-Length", str(len(answer)))],
                answer)

    def _cross_metric(self, environ, groups_of_metrics, **query):
        """The bodies of ``get_cross_metric_measures_from_objs``' answers
        for each list of metrics and the same query, every series read in
        at most one storage call for the lists of one metric (with their
        resampling) and one for the others."""
        plans = [self._cross_metric_plan(environ, metrics, **query)
                 for metrics in groups_of_metrics]
        answers = [b"[]" if plan is None else None for plan in plans]
        ones = [(k, plan) for k, plan in enumerate(plans)
                if plan is not None and plan[0] == "one"]
        if ones:
            _, _, _, start, stop, resample = ones[0][1]
            stored = self._stored(
                {metric: wanted for _, (_, metric, wanted, _, _, _) in ones},
                start, stop, resample)
            for k, (_, metric, wanted, _, _, _) in ones:
                answers[k] = _one_metric(stored[metric], wanted)
        many = [(k, plan) for k, plan in enumerate(plans)
                if plan is not None and plan[0] == "many"]
        if many:
            evaluation = many[0][1][3]
            evaluated = self._evaluated(
                [refs for _, (_, refs, _, _) in many], evaluation,
                render=aggregates.aggregated_points,
                operations=[operations for _, (_, _, operations, _) in many])
            for (k, _), answer in zip(many, evaluated):
                answers[k] = answer
        return answers

    def _cross_metric_plan(self, environ, metrics, start=None, stop=None,
                           aggregation="mean", reaggregation=None,
                           granularity=None, needed_overlap=100.0, fill=None,
                           refresh=False, resample=None):
        """``get_cross_metric_measures_from_objs`` up to its read: None
        (no metric), ("one", metric, aggregations, start, stop, resample)
        or ("many", references, operations, evaluation)."""
        start, stop, granularity, needed_overlap, fill = api.validate_qs(
            start, stop, granularity, needed_overlap, fill)
        if reaggregation is None:
            reaggregation = aggregation
        self._authorize(_GET_METRIC, webob.Request(environ), metrics)
        if not metrics:
            return None
        if resample:
            if not granularity:
                raise Declined("resample without a granularity")
            resample = (resample if calendar.GROUPINGS.get(resample)
                        else utils.to_timespan(resample))
        if granularity is None:
            counted = collections.Counter(
                d.granularity for m in metrics
                for d in m.archive_policy.definition)
            granularity = [g for g, n in counted.items()
                           if n == len(metrics)]
            if not granularity:
                raise Declined("no granularity in common")
        wanted = set()
        for metric in metrics:
            for g in granularity:
                found = metric.archive_policy.get_aggregation(aggregation, g)
                if found is None:
                    raise Declined("no such aggregation")
                wanted.add(found)
        wanted = sorted(wanted, key=lambda a: a.granularity, reverse=True)
        if api.strtobool("refresh", refresh) and any(
                self._backend("incoming").has_unprocessed(m.id)
                for m in metrics):
            raise Declined("a refresh to make")
        if len(metrics) == 1:
            # Upstream's answer for one metric: its series, not aggregated.
            [metric] = metrics
            if aggregation not in metric.archive_policy.aggregation_methods:
                raise Declined("no such aggregation")
            return ("one", metric, wanted, start, stop, resample)
        inner = ["metric"] + [[str(m.id), aggregation] for m in metrics]
        if resample:
            inner = ["resample", aggregation, resample, inner]
        operations = ["aggregate", reaggregation, inner]
        refs = [processor.MetricReference(m, aggregation) for m in metrics]
        return ("many", refs, operations,
                (operations, start, stop, granularity, needed_overlap, fill))


def _one_metric(results, wanted):
    """The series of one metric as upstream renders them; [] for a metric
    without stored data."""
    if results is None:
        return b"[]"
    series = []
    for key in sorted(wanted, reverse=True):
        found = results[key]
        seconds = gnocchi_json.to_primitive(found.aggregation.granularity)
        if not isinstance(seconds, float):
            raise Declined("a granularity that is not a timespan")
        points = found.ts
        series.append((seconds, points["timestamps"].view(numpy.int64),
                       points["values"]))
    return _native.render_measures(series)
