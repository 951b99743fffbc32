"""The cross-metric read of the native request path (``seam.py``):
``POST /v1/aggregates`` over metrics named by id, served without Pecan.

Upstream's controller (``AggregatesController.post``) and processor
(``processor.get_measures`` and ``aggregated``) step for step: the query
and the body are checked by upstream's own functions and schema, and the
operations are evaluated natively (``src/aggregates``, upstream's grid,
fills, overlap rules and numpy's arithmetic, reductions and summation
orders), or by upstream's own numpy code where the engine declines (numpy
answers that depend on its loop order: ``**``, ``tan``, ``count``
results, boolean arithmetic, signed-zero ties). What changes
is the cost around them: one indexer query for the metrics, one policy
evaluation per distinct target, one batched storage read for every series
(upstream starts a thread pool and reads series by series), and the answer
rendered natively (upstream renders it point by point).

A search over resources (``resource_type`` and ``search``) is served the
same way, grouped or not (``groupby``): upstream's policy filter, one
indexer search (upstream's own), every group's series in one storage read.
``details=true`` adds the references as upstream renders them. Grouping
with ``use_history``, an answer whose values are not floats, or any query
or failure upstream would answer otherwise is declined: upstream answers
it.
"""
from __future__ import annotations

import collections
import datetime
import json
import uuid

import numpy
import webob
from gnocchi import carbonara
from gnocchi import json as gnocchi_json
from gnocchi import storage
from gnocchi import utils
from gnocchi.rest import api
from gnocchi.rest.aggregates import api as aggregates_api
from gnocchi.rest.aggregates import operations as agg_operations
from gnocchi.rest.aggregates import processor
import pecan.jsonify

from gnocchi_rs import _native
from gnocchi_rs import processor as processor_native
from gnocchi_rs.rest import lookup
from gnocchi_rs.rest import resource_listing
from gnocchi_rs.rest import resource_search
from gnocchi_rs.rest import routing
from gnocchi_rs.rest.routing import Declined

_GET_METRIC = "get metric"
_PARAMETERS = frozenset(("start", "stop", "granularity", "needed_overlap",
                         "fill", "details", "use_history"))
_REPEATABLE = frozenset(("groupby",))
_NAN_FILLS = (None, "null", "dropna", "ffill", "bfill", "full_ffill",
              "full_bfill")
_CONTENT_TYPE = ("Content-Type", "application/json")
_FILL_STEPS = {
    "ffill": (utils.forward_fill,),
    "bfill": (utils.backward_fill,),
    "full_ffill": (utils.forward_fill, utils.backward_fill),
    "full_bfill": (utils.backward_fill, utils.forward_fill),
}


def route(parts):
    """The handler name of an aggregates route for the segments of a path
    below /v1, or None."""
    return "aggregates" if parts == ["aggregates"] else None


class AggregatesRoutes:
    """The aggregates route of ``seam.NativeSeam``."""

    def _aggregates(self, environ, start_response):
        body = routing.read_json_body(environ)
        if body is None:
            return self.pecan_app(environ, start_response)
        return self._serve(environ, start_response,
                           lambda: self._aggregates_answer(environ, body),
                           body=body)

    def _aggregates_answer(self, environ, body):
        query = routing.query(environ, _PARAMETERS, _REPEATABLE,
                              extra_ignored=True)
        # Upstream's checks, in its order; a refusal raises (declined).
        use_history = api.get_bool_param("use_history", query)
        details = api.get_bool_param("details", query)
        fill = query.get("fill")
        needed_overlap = query.get("needed_overlap")
        if fill is None and needed_overlap is None:
            fill = "dropna"
        start, stop, granularities, needed_overlap, fill = api.validate_qs(
            query.get("start"), query.get("stop"), query.get("granularity"),
            needed_overlap, fill)
        if start:
            start = numpy.datetime64(start)
        if stop:
            stop = numpy.datetime64(stop)
        payload = _operations_read(gnocchi_json.loads(body))
        # A search's schema reads the resource types and the user from
        # ``pecan.request``.
        with routing.pecan_request(environ,
                                   indexer=self._backend("indexer"),
                                   auth_helper=self.hook.auth_helper):
            fetch = resource_search.FETCH_SCHEMA(payload)
        operations = fetch["operations"]
        references = aggregates_api.extract_references(operations)
        if not references:
            raise Declined("no metric in the operations")
        evaluation = (operations, start, stop, granularities, needed_overlap,
                      fill)
        if "resource_type" in fetch:
            return self._search_answer(environ, fetch, references,
                                       query.get("groupby"), use_history,
                                       details, evaluation)
        try:
            metric_ids = set(str(utils.UUID(m)) for (m, a) in references)
        except ValueError:
            raise Declined("invalid metric references")
        metrics = lookup.metrics_by_ids(self._backend("indexer"),
                                        [uuid.UUID(m) for m in metric_ids])
        if len(metrics) != len(metric_ids):
            raise Declined("unknown metrics")
        self._authorize(_GET_METRIC, webob.Request(environ), metrics)
        by_id = {str(m.id): m for m in metrics}
        # A reference spelled otherwise than its id fails here upstream
        # too (a KeyError): declined, upstream answers it.
        refs = [processor.MetricReference(by_id[m], a)
                for (m, a) in references]
        [answer] = self._evaluated([refs], evaluation)
        # Upstream's references: the metrics as its indexer lists them,
        # by id.
        return _answer(_measures(answer, sorted(metrics, key=_id)
                                 if details else None))

    def _search_answer(self, environ, fetch, wildcards, groupby, use_history,
                       details, evaluation):
        """Upstream's answer to a search over resources: the measures of
        the metrics the wildcards name on the resources found, for all of
        them or for each group of them."""
        resource_type = fetch["resource_type"]
        attribute_filter = resource_search.attribute_filter(
            fetch["search"], resource_search.policy_filter(
                self.hook, environ, resource_type))
        groupby = sorted(set(api.arg_to_list(groupby)))
        if groupby and use_history:
            raise Declined("groups over the resources' history")
        indexer = self._backend("indexer")
        if not groupby:
            # Without details, the resources themselves are not needed.
            refs = None if details else resource_listing.references(
                indexer, resource_type, attribute_filter, wildcards)
            if refs is None:
                refs = resource_search.references(indexer.list_resources(
                    resource_type, attribute_filter=attribute_filter,
                    sorts=api.RESOURCE_DEFAULT_PAGINATION), wildcards)
            if not refs:
                raise Declined("no metric matches")
            [answer] = self._evaluated([refs], evaluation)
            return _answer(_measures(answer, _resources(refs, details)))
        resources = indexer.list_resources(
            resource_type, attribute_filter=attribute_filter, sorts=groupby)
        # A group where no metric matches is left out of the answer.
        found = [(group, refs) for group, refs in (
            (group, resource_search.references(members, wildcards))
            for group, members in resource_search.groups(resources, groupby))
            if refs]
        if not found:
            raise Declined("no metric matches")
        answers = self._evaluated([refs for _, refs in found], evaluation)
        return _answer(b"[" + b", ".join(
            b'{"group": ' + pecan.jsonify.encode(group).encode() +
            b', "measures": ' + _measures(answer, _resources(refs, details))
            + b"}" for (group, refs), answer in zip(found, answers)) + b"]")

    def _evaluated(self, groups_of_refs, evaluation, render=None,
                   operations=None):
        """The answer of ``processor.get_measures`` for each list of
        references (as ``render`` renders it; with its own operations
        when ``operations`` lists them), every series of all of them read
        in one storage call."""
        shared, start, stop, granularities, needed_overlap, fill = \
            evaluation
        if operations is None:
            operations = [shared] * len(groups_of_refs)
        plans = [_planned(refs, granularities) for refs in groups_of_refs]
        wanted = {}
        for _, planned in plans:
            for metric, aggregations in planned.items():
                known = wanted.setdefault(metric, [])
                known.extend(a for a in aggregations if a not in known)
        results = self._stored(wanted, start, stop)
        render = render or _aggregated
        return [render(_series(refs, chosen, results), its_operations,
                       start, stop, needed_overlap, fill)
                for refs, (chosen, _), its_operations in zip(
                    groups_of_refs, plans, operations)]

    def _stored(self, wanted, start, stop, resample=None):
        """The stored series of ``wanted`` {metric: [aggregation]}, None
        for a metric without stored data, read in one storage call."""
        read = self._backend("storage").get_aggregated_measures
        try:
            return read(wanted, start, stop, resample)
        except storage.MetricDoesNotExist:
            # One call per metric to know which.
            results = {}
            for metric, aggregations in wanted.items():
                try:
                    results.update(read({metric: aggregations}, start, stop,
                                        resample))
                except storage.MetricDoesNotExist:
                    results[metric] = None
            return results


def _id(metric):
    return metric.id


def _resources(refs, details):
    """The references of a search's answer with details: the resources
    of its metrics (upstream lists them from a set, in no particular
    order; here in the search's)."""
    if not details:
        return None
    return list(dict.fromkeys(ref.resource for ref in refs))


def _measures(answer, references):
    """``{"measures": answer}``, with ``references`` rendered as upstream
    renders them when there are some."""
    if references is None:
        return b'{"measures": ' + answer + b"}"
    return (b'{"measures": ' + answer + b', "references": ' +
            _references_json(references) + b"}")


_PLAIN = (str, int, float, type(None))


def _primitive_value(value):
    if type(value) in _PLAIN:
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if type(value) is dict and all(type(k) is str and type(v) is str
                                   for k, v in value.items()):
        return value            # a resource's metrics: names to ids
    return gnocchi_json.to_primitive(value)


def _references_json(references):
    """``pecan.jsonify.encode(references)`` as upstream's renderer makes
    it (each object to ``to_primitive(obj.jsonify())``, then the standard
    encoder), with the values a resource holds converted without
    ``to_primitive``'s walk over every key and value."""
    primitive = []
    for reference in references:
        jsonify = getattr(reference, "jsonify", None)
        if jsonify is None:
            return pecan.jsonify.encode(references).encode()
        primitive.append({key if type(key) is str else
                          gnocchi_json.to_primitive(key):
                          _primitive_value(value)
                          for key, value in jsonify().items()})
    return json.dumps(primitive).encode()


def _answer(body):
    return (None, "200 OK",
            [_CONTENT_TYPE, ("Content-Length", str(len(body)))], body)


def _planned(refs, granularities):
    """``processor.get_measures``' checks before it reads: the
    granularities (those all references have in common when none is
    asked) and the {metric: [aggregation]} to read."""
    if granularities is None:
        counted = collections.Counter(
            d.granularity for ref in refs
            for d in ref.metric.archive_policy.definition)
        granularities = [g for g, n in counted.items() if n == len(refs)]
        if not granularities:
            raise Declined("no granularity in common")
    wanted = {}
    for ref in refs:
        policy = ref.metric.archive_policy
        if ref.aggregation not in policy.aggregation_methods:
            raise Declined("unknown aggregation")
        available = [d.granularity for d in policy.definition]
        if any(g not in available for g in granularities):
            raise Declined("granularities are missing")
        aggregations = wanted.setdefault(ref.metric, [])
        for g in granularities:
            found = policy.get_aggregation(ref.aggregation, g)
            if found not in aggregations:
                aggregations.append(found)
    return granularities, wanted


def _series(refs, granularities, results):
    """The [(reference, series)] of every reference and granularity that
    ``processor.aggregated`` takes, from the stored ``results``; a metric
    without stored data reads as empty series."""
    pairs = []
    for ref in refs:
        policy = ref.metric.archive_policy
        stored = results[ref.metric]
        for g in granularities:
            if stored is None:
                found = carbonara.AggregatedTimeSerie(
                    carbonara.Aggregation(ref.aggregation, g, None))
            else:
                # Missing, upstream fails on it: declined (KeyError).
                found = stored[policy.get_aggregation(ref.aggregation, g)]
            pairs.append((ref, found))
    return pairs


def _operations_read(payload):
    """The body with its operations string read natively into the lists
    upstream's parser makes of it (pyparsing takes most of upstream's
    request); the schema then checks the lists as it would after its own
    parse. A string the native reader leaves alone stays for upstream's
    schema to parse."""
    if isinstance(payload, dict) and isinstance(payload.get("operations"),
                                                str):
        try:
            operations = _native.parse_operations(payload["operations"])
        except _native.RequestDeclined:
            return payload
        return dict(payload, operations=operations)
    return payload


def _aggregated(refs_and_series, operations, from_timestamp, to_timestamp,
                needed_percent_of_overlap, fill):
    """The JSON of upstream's ``processor.aggregated`` for the same
    arguments: the same grid, fills, overlap checks and evaluation; only
    the rendering differs (natively, from the arrays)."""
    result, is_aggregated = _evaluation(
        refs_and_series, operations, from_timestamp, to_timestamp,
        needed_percent_of_overlap, fill)
    if is_aggregated:
        return b'{"aggregated": ' + _aggregated_points(result, fill) + b"}"
    return _by_reference(result, fill)


def aggregated_points(refs_and_series, operations, from_timestamp,
                      to_timestamp, needed_percent_of_overlap, fill):
    """The JSON of ``processor.aggregated(...)["aggregated"]``, for
    operations that aggregate (declined otherwise)."""
    result, is_aggregated = _evaluation(
        refs_and_series, operations, from_timestamp, to_timestamp,
        needed_percent_of_overlap, fill)
    if not is_aggregated:
        raise Declined("operations that do not aggregate")
    return _aggregated_points(result, fill)


def _evaluation(refs_and_series, operations, from_timestamp, to_timestamp,
                needed_percent_of_overlap, fill):
    """Upstream's evaluation in ``processor.aggregated``: ({sampling:
    (granularity, times, values, references)}, whether aggregated);
    native, or upstream's numpy code for what the engine leaves to it."""
    try:
        return processor_native.native_evaluation(
            refs_and_series, operations, from_timestamp, to_timestamp,
            needed_percent_of_overlap, fill)
    except _native.RequestDeclined:
        return _numpy_evaluation(refs_and_series, operations,
                                 from_timestamp, to_timestamp,
                                 needed_percent_of_overlap, fill)


def _numpy_evaluation(refs_and_series, operations, from_timestamp,
                      to_timestamp, needed_percent_of_overlap, fill):
    """Upstream's evaluation with upstream's numpy code, step for step."""
    series = collections.defaultdict(list)
    references = collections.defaultdict(list)
    lookup_keys = collections.defaultdict(list)
    for ref, timeserie in refs_and_series:
        sampling = timeserie.aggregation.granularity
        from_ = (None if from_timestamp is None else
                 carbonara.round_timestamp(from_timestamp, sampling))
        references[sampling].append(ref)
        lookup_keys[sampling].append(ref.lookup_key)
        series[sampling].append(timeserie[from_:to_timestamp])

    result = {}
    is_aggregated = False
    for sampling in sorted(series, reverse=True):
        times, indices = numpy.unique(
            numpy.concatenate([s["timestamps"] for s in series[sampling]]),
            return_inverse=True)
        filler = numpy.nan if fill in _NAN_FILLS else fill
        grid = numpy.full((len(series[sampling]), len(times)), filler)
        offset = 0
        for row, split in enumerate(series[sampling]):
            size = len(split)
            grid[row][indices[offset:offset + size]] = split["values"]
            offset += size
        for fill_step in _FILL_STEPS.get(fill, ()):
            grid = fill_step(grid)
        values = grid.T
        if fill is None:
            times, values = _overlapping(
                times, values, from_timestamp, to_timestamp,
                needed_percent_of_overlap)
        granularity, times, values, is_aggregated = agg_operations.evaluate(
            operations, sampling, times, values, False,
            lookup_keys[sampling])
        result[sampling] = (granularity, times, values.T,
                            references[sampling])

    return result, is_aggregated


def _aggregated_points(result, fill):
    chunks = [_chunk(granularity, times, values[0], fill)
              for granularity, times, values, _ in
              (result[s] for s in sorted(result, reverse=True))]
    return _native.render_measures(chunks)


def _by_reference(result, fill):
    # Upstream's nesting: metric id, aggregation; or resource id, metric
    # name, aggregation for the metrics of a search. Keys come in the
    # order they are first met, each series' chunks in sampling order.
    tree = {}
    for sampling in sorted(result, reverse=True):
        granularity, times, values, refs = result[sampling]
        if len(values) < len(refs):
            # Upstream fails on it (an IndexError): declined.
            raise Declined("fewer series than references")
        for row, ref in enumerate(refs):
            node = tree
            if ref.resource is not None:
                node = node.setdefault(str(ref.resource.id), {})
            node = node.setdefault(ref.name, {})
            node.setdefault(ref.aggregation, []).append(
                _chunk(granularity, times, values[row], fill))
    return _rendered(tree)


def _rendered(tree):
    """The JSON of nested dictionaries whose leaves are lists of
    ``render_measures`` chunks."""
    if isinstance(tree, list):
        return _native.render_measures(tree)
    return b"{" + b", ".join(json.dumps(key).encode() + b": " +
                             _rendered(value)
                             for key, value in tree.items()) + b"}"


def _overlapping(times, values, from_timestamp, to_timestamp,
                 needed_percent_of_overlap):
    """Upstream's overlap rule when no fill is asked: the span where
    every series has a point, or the refusal (declined)."""
    overlap = numpy.flatnonzero(~numpy.any(numpy.isnan(values), axis=1))
    if overlap.size == 0 and needed_percent_of_overlap > 0:
        raise Declined("no overlap")
    if times.size:
        if to_timestamp is None and overlap.size:
            times = times[:overlap[-1] + 1]
            values = values[:overlap[-1] + 1]
        if from_timestamp is None and overlap.size:
            times = times[overlap[0]:]
            values = values[overlap[0]:]
        if overlap.size * 100.0 / times.size < needed_percent_of_overlap:
            raise Declined("not enough overlap")
    return times, values


def _chunk(granularity, times, values, fill):
    """(granularity in seconds, timestamps ns, float values) of one
    answer's series, as ``render_measures`` takes them."""
    if fill in processor_native.DROPPING_FILLS:
        kept = ~numpy.logical_or(numpy.isnan(values), numpy.isinf(values))
        values = values[kept]
        times = times[kept]
    seconds = gnocchi_json.to_primitive(granularity)
    if not isinstance(seconds, float):
        raise Declined("a granularity that is not a timespan")
    if times.dtype != numpy.dtype("datetime64[ns]"):
        raise Declined("timestamps that are not nanoseconds")
    if values.dtype == numpy.bool_:
        # Upstream's to_primitive renders numpy booleans as floats.
        values = values.astype(numpy.float64)
    elif values.dtype != numpy.float64:
        raise Declined("values that are not floats")
    return seconds, times.view(numpy.int64), values
