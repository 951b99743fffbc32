"""What a natively processed batch reports, turned into upstream's
statistics and log lines, and into the indexer updates it calls for.
Shared by the storage drivers and the lean worker; loads nothing."""
from __future__ import annotations

import logging

LOG = logging.getLogger("gnocchi.storage")

# Upstream's ``storage.Statistics`` keys (shown by /v1/status per worker)
# with a timing each.
TIMED_STEPS = ("raw measures fetch", "aggregated measures compute",
               "splits delete", "splits update", "raw measures store")


def account(statistics, metrics, result):
    """Counts a processed batch (a native ``BatchResult``, one outcome per
    metric of ``metrics``) into ``statistics`` (a Counter), logs corrupt
    data and dropped measures as upstream does, and returns ``{metric:
    newest new measure, ns}`` for the metrics whose measures were stored."""
    outcomes, timings = result.outcomes, result.timings
    statistics["raw measures fetch"] += len(metrics)
    statistics["processed measures"] += sum(o.measures for o in outcomes)
    for name in TIMED_STEPS:
        statistics[name + " time"] += timings[name]
    for name in ("splits delete", "splits update", "raw measures store"):
        statistics[name] += len(metrics)
    newest = {}
    for metric, outcome in zip(metrics, outcomes):
        if outcome.raw_corrupt:
            LOG.error("Data corruption detected for %s unaggregated "
                      "timeserie, creating a new one", metric.id)
        if outcome.corrupt_splits:
            LOG.error("Data corruption detected for %s: %d aggregated "
                      "splits could not be read and were rewritten",
                      metric.id, outcome.corrupt_splits)
        if outcome.error:
            LOG.error("Unable to process the %d measures of metric %s, "
                      "dropping them: %s", outcome.measures, metric.id,
                      outcome.error)
        if outcome.measures and not outcome.error:
            newest[metric] = outcome.newest
    return newest


def newest_by_resource(newest_by_metric):
    """{resource id: newest new measure of its metrics, ns}."""
    newest = {}
    for metric, last in newest_by_metric.items():
        if metric.resource_id is not None:
            previous = newest.get(metric.resource_id)
            newest[metric.resource_id] = (
                last if previous is None else max(previous, last))
    return newest
