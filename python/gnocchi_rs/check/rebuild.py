"""A quarantined split rebuilt from what the metric's raw series still
holds, as metricd computes it (``gnocchi_rs.carbonara``, upstream's
calls): the raw series keeps whole blocks of the policy's largest
granularity, so every bucket it covers comes out as it was stored."""
from __future__ import annotations

import numpy

from gnocchi_rs import carbonara


def _aggregated(metric, raw_blob, method, granularity_ns):
    if raw_blob is None:
        return None
    policy = metric.archive_policy
    granularity = numpy.timedelta64(granularity_ns, "ns")
    aggregation = policy.get_aggregation(method, granularity)
    if aggregation is None:
        return None
    raw = carbonara.BoundTimeSerie.unserialize(
        raw_blob, policy.max_block_size, policy.back_window)
    if len(raw) == 0:
        return None
    return carbonara.AggregatedTimeSerie.from_grouped_serie(
        raw.group_serie(granularity), aggregation)


def latest_split_from_raw(metric, raw_blob, method, granularity_ns):
    """(key, granularity as upstream names them, serialized split, points,
    first timestamp) of the latest split of an aggregation, recomputed
    from ``raw_blob``, or None."""
    from gnocchi import utils

    aggregated = _aggregated(metric, raw_blob, method, granularity_ns)
    splits = [] if aggregated is None else [
        (key, split) for key, split in aggregated.split() if len(split)]
    if not splits:
        return None
    key, split = splits[-1]
    _, data = split.serialize(key, compressed=True)
    return (str(key), str(utils.timespan_total_seconds(key.sampling)), data,
            len(split), str(split.first))


def split_from_raw(metric, raw_blob, what):
    """(serialized split, points, first timestamp) of split ``what``
    (``check.parse_name``'s tuple) recomputed from ``raw_blob``, or None
    when the raw series has no point in it."""
    _, method, key_ns, granularity_ns = what
    aggregated = _aggregated(metric, raw_blob, method, granularity_ns)
    if aggregated is None:
        return None
    for key, split in aggregated.split():
        stamp = int(numpy.datetime64(key.key, "ns").astype(numpy.int64))
        if stamp == key_ns and len(split):
            _, data = split.serialize(key, compressed=True)
            return data, len(split), str(split.first)
    return None
