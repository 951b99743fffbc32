"""Cross-metric aggregation: upstream's ``processor.aggregated`` evaluated
by the native engine (``src/aggregates``).

``aggregated`` takes upstream's arguments and gives upstream's answer, the
same nested dictionaries of ``(timestamp, granularity, value)`` tuples, so
code written against ``gnocchi.rest.aggregates.processor.aggregated`` can
call it unchanged. The grid, the fills, the overlap rules and the
operations run natively without the GIL; what the engine does not
reproduce exactly (numpy answers that depend on its loop order, refusals
with upstream's messages) is answered by upstream's own function.
"""
from __future__ import annotations

import collections

import numpy
from gnocchi.rest.aggregates import processor as upstream

from gnocchi_rs import _native

# The fills after which upstream drops NaN and infinite points.
DROPPING_FILLS = ("dropna", "ffill", "bfill", "full_ffill", "full_bfill")


def _nanoseconds(value):
    return None if value is None else int(
        numpy.datetime64(value, "ns").astype(numpy.int64))


def native_evaluation(refs_and_series, operations, from_timestamp,
                      to_timestamp, needed_percent_of_overlap, fill):
    """The evaluation inside ``processor.aggregated``: ({sampling:
    (granularity, times, values rows, references)}, whether aggregated),
    or ``_native.RequestDeclined`` where the engine leaves it to
    upstream."""
    by_sampling = {}
    for ref, timeserie in refs_and_series:
        keys, series, refs = by_sampling.setdefault(
            timeserie.aggregation.granularity, ([], [], []))
        keys.append(tuple(ref.lookup_key))
        points = timeserie.ts
        series.append((points["timestamps"].view(numpy.int64),
                       points["values"]))
        refs.append(ref)
    samplings = sorted(by_sampling, reverse=True)
    evaluated = _native.evaluate_aggregates(
        operations,
        [(int(s.astype("timedelta64[ns]").astype(numpy.int64)),
          by_sampling[s][0], by_sampling[s][1]) for s in samplings],
        _nanoseconds(from_timestamp), _nanoseconds(to_timestamp),
        # Upstream reads the overlap only without a fill, where
        # validate_qs always gives one.
        fill, float(needed_percent_of_overlap or 0.0))
    result = {}
    is_aggregated = False
    for sampling, (granularity, times, rows, boolean, is_aggregated) in zip(
            samplings, evaluated):
        if boolean:
            # Comparisons answer numpy booleans upstream.
            rows = [row.astype(numpy.bool_) for row in rows]
        granularity = numpy.timedelta64(granularity, "ns")
        result[sampling] = (sampling if granularity == sampling
                            else granularity,
                            times.view("datetime64[ns]"), rows,
                            by_sampling[sampling][2])
    # Upstream keeps the finest sampling's answer (its loop's last).
    return result, is_aggregated


def _measures(granularity, times, values, fill):
    if fill in DROPPING_FILLS:
        kept = ~numpy.logical_or(numpy.isnan(values), numpy.isinf(values))
        values = values[kept]
        times = times[kept]
    return zip(times, [granularity] * len(times), values)


def aggregated(refs_and_timeseries, operations, from_timestamp=None,
               to_timestamp=None, needed_percent_of_overlap=100.0,
               fill=None):
    """``gnocchi.rest.aggregates.processor.aggregated``, natively."""
    refs_and_timeseries = list(refs_and_timeseries)
    try:
        result, is_aggregated = native_evaluation(
            refs_and_timeseries, operations, from_timestamp, to_timestamp,
            needed_percent_of_overlap, fill)
    except _native.RequestDeclined:
        return upstream.aggregated(
            refs_and_timeseries, operations, from_timestamp, to_timestamp,
            needed_percent_of_overlap, fill)
    ordered = [result[s] for s in sorted(result, reverse=True)]
    if is_aggregated:
        points = []
        for granularity, times, rows, _ in ordered:
            points.extend(_measures(granularity, times, rows[0], fill))
        return {"aggregated": points}
    by_resource = collections.defaultdict(
        lambda: collections.defaultdict(
            lambda: collections.defaultdict(list)))
    by_metric = collections.defaultdict(
        lambda: collections.defaultdict(list))
    for granularity, times, rows, refs in ordered:
        if len(rows) < len(refs):
            # Upstream fails on it (an IndexError): so does its own code.
            return upstream.aggregated(
                refs_and_timeseries, operations, from_timestamp,
                to_timestamp, needed_percent_of_overlap, fill)
        for row, ref in enumerate(refs):
            measures = _measures(granularity, times, rows[row], fill)
            if ref.resource is None:
                by_metric[ref.name][ref.aggregation].extend(measures)
            else:
                by_resource[str(ref.resource.id)][ref.metric.name][
                    ref.aggregation].extend(measures)
    return by_resource if by_resource else by_metric
