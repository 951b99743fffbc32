"""`gnocchi-rs check`: is the stored data sound?

Every metric of the indexer is looked at in storage, in batches: its
objects listed, every blob read and judged natively in parallel
(``_native.inspect_blobs``: decodes, order, span, plausible times), then
against its archive policy. Found:

- ``undecodable``: a blob that does not decode, or decodes to points out
  of order, outside its split's span or before 1970;
- ``wrong version``: an object not of version 3, or a name upstream's
  layout does not have;
- ``outside policy``: a split of a method or granularity the metric's
  policy does not have;
- ``expired``: a split older than its granularity's timespan before the
  metric's last point (upstream deletes those);
- ``missing splits``: a metric with a raw series whose policy has
  aggregates with no split at all;
- ``orphan``: a metric in storage that the indexer does not have;
- incoming measure blobs that do not decode.

``repair=True`` moves every found object aside (never deletes: file
``quarantine/`` beside the metrics, Redis ``quarantine:`` keys) and then
rebuilds what the raw series still holds: a quarantined split's points
since the raw series' first point, recomputed with the policy; what the
raw series does not cover is said to be lost.
"""
from __future__ import annotations

import collections
import dataclasses
import decimal
import functools

from gnocchi_rs import _native
from gnocchi_rs.check import stores

BATCH = 256
PROBLEMS = ("undecodable", "wrong version", "outside policy", "expired",
            "missing splits", "orphan", "incoming undecodable")
_NS = decimal.Decimal(10) ** 9
_POINTS_PER_SPLIT = 3600


@dataclasses.dataclass
class Finding:
    problem: str
    metric: str
    method: str | None
    name: str | None
    detail: str
    repaired: str | None = None
    # The aggregation a "missing splits" finding is about.
    granularity: int | None = None


@dataclasses.dataclass
class Report:
    metrics: int = 0
    objects: int = 0
    points: int = 0
    incoming_blobs: int = 0
    findings: list = dataclasses.field(default_factory=list)
    rebuilt: list = dataclasses.field(default_factory=list)
    lost: list = dataclasses.field(default_factory=list)

    def counts(self):
        counted = collections.Counter(f.problem for f in self.findings)
        return {problem: counted.get(problem, 0) for problem in PROBLEMS}

    @property
    def sound(self):
        return not self.findings


def _ns(text):
    """Seconds written as upstream names them ("1417996800.0") in ns."""
    return int(decimal.Decimal(text) * _NS)


@functools.lru_cache(maxsize=1 << 16)
def parse_name(method, name):
    """(kind, method, key ns, granularity ns) of an object name, or
    (None, reason) for a name that is not version 3 of upstream's
    layout."""
    if not name.endswith("_v3"):
        return None, "not a version 3 object"
    stem = name[:-3]
    if method is None and stem == "none":
        return ("raw", None, 0, 0), None
    parts = stem.split("_")
    try:
        if method is None and len(parts) == 3:  # key_method_granularity
            return ("split", parts[1], _ns(parts[0]), _ns(parts[2])), None
        if method is not None and len(parts) == 2:  # key_granularity
            return ("split", method, _ns(parts[0]), _ns(parts[1])), None
    except decimal.InvalidOperation:
        pass
    return None, "not a name of upstream's layout"


_POLICIES = {}


def _policy(metric):
    """(methods, {granularity ns: timespan ns or None}) of a metric's
    policy, computed once per policy."""
    policy = metric.archive_policy
    if policy.name not in _POLICIES:
        _POLICIES[policy.name] = _policy_uncached(policy)
    return _POLICIES[policy.name]


def _policy_uncached(policy):
    timespans = {}
    for definition in policy.definition:
        granularity = int(definition.granularity.astype("timedelta64[ns]")
                          .astype("int64"))
        timespan = definition.timespan
        timespans[granularity] = None if timespan is None else int(
            timespan.astype("timedelta64[ns]").astype("int64"))
    return frozenset(policy.aggregation_methods), timespans


def check(index, store, incoming=None, repair=False, progress=None,
          batch=BATCH):
    """The report of ``store`` (and the ``incoming`` blobs, when given)
    against the metrics of ``index``."""
    report = Report()
    _POLICIES.clear()  # policies may change between runs
    known = {str(m.id): m for m in index.list_metrics(details=True)}
    deleting = {str(m.id) for m in index.list_metrics(status="delete")}
    locations = store.metric_locations()
    report.metrics = len(known)
    ids = sorted(set(known) & set(locations))
    done = len(known) - len(ids)  # nothing stored yet: nothing to check
    for start in range(0, len(ids), batch):
        chunk = {m: locations[m] for m in ids[start:start + batch]}
        _check_batch(store, chunk, known, report, repair)
        done += len(chunk)
        if progress:
            progress(done, len(known))
    for metric in _orphans(index, set(locations) - set(known) - deleting):
        finding = Finding("orphan", metric, None, None,
                          "stored, but the indexer has no such metric")
        if repair:
            finding.repaired = "moved to %s" % store.quarantine_metric(
                locations, metric)
        report.findings.append(finding)
    if incoming is not None:
        _check_incoming(incoming, report, repair)
    if progress and not ids:
        progress(len(known), len(known))
    return report


def _orphans(index, candidates):
    """The candidates the indexer still does not have: a metric created
    while the store was walked is not an orphan."""
    if not candidates:
        return []
    found = set()
    for status in ("active", "delete"):
        found.update(str(m.id) for m in index.list_metrics(
            status=status, attribute_filter={"in": {"id": sorted(candidates)}}))
    return sorted(candidates - found)


def _check_batch(store, locations, known, report, repair):
    contents = store.contents(locations)
    present = []
    for metric, objects in contents.items():
        methods, timespans = _policy(known[metric])
        for method, name, blob in objects:
            report.objects += 1
            what, reason = parse_name(method, name)
            if what is None:
                report.findings.append(Finding(
                    "wrong version", metric, method, name, reason))
                continue
            kind, split_method, key, granularity = what
            if kind == "split" and (split_method not in methods
                                    or granularity not in timespans):
                report.findings.append(Finding(
                    "outside policy", metric, method, name,
                    "the policy %s has no %s at %gs"
                    % (known[metric].archive_policy.name, split_method,
                       granularity / 1e9)))
                continue
            if what[0] == "raw" and not blob:
                continue  # created, no measure processed yet (Ceph)
            present.append(((metric, method, name), what, blob))
    verdicts = _native.inspect_blobs(
        [(p[0], b, p[2], p[3]) for _, p, b in present])
    last = {}
    raws = {}
    by_series = collections.defaultdict(list)
    for (where, what, blob), verdict in zip(present, verdicts):
        metric, method, name = where
        kind, split_method, key, granularity = what
        problem, points, first, newest = verdict
        report.points += points
        if problem:
            report.findings.append(Finding("undecodable", metric, method,
                                           name, problem))
            if kind == "split":
                by_series[(metric, split_method, granularity)].append(
                    (key, where, False))
            continue
        if kind == "raw":
            raws[metric] = (blob, points, first)
            continue
        by_series[(metric, split_method, granularity)].append(
            (key, where, True))
        if newest is not None:
            series = (metric, split_method, granularity)
            last[series] = max(last.get(series, newest), newest)
    for (metric, split_method, granularity), splits in by_series.items():
        timespan = _policy(known[metric])[1].get(granularity)
        newest = last.get((metric, split_method, granularity))
        if timespan is None or newest is None:
            continue
        span = granularity * _POINTS_PER_SPLIT
        oldest_kept = (newest - timespan) // span * span
        for key, (m, method, name), sound in splits:
            if sound and key < oldest_kept:
                report.findings.append(Finding(
                    "expired", m, method, name,
                    "older than the %gs timespan before the last point"
                    % (timespan / 1e9)))
    from gnocchi_rs.check import rebuild

    for metric, (raw_blob, points, _) in raws.items():
        if points == 0:
            continue
        methods, timespans = _policy(known[metric])
        for method in sorted(methods):
            for granularity in timespans:
                if by_series.get((metric, method, granularity)):
                    continue
                # No split at all: missing only if the raw series gives
                # one (std of single points, a rate of one point: none).
                if rebuild.latest_split_from_raw(
                        known[metric], raw_blob, method,
                        granularity) is None:
                    continue
                report.findings.append(Finding(
                    "missing splits", metric, method, None,
                    "no split of %s at %gs" % (method, granularity / 1e9),
                    granularity=granularity))
    if repair:
        _repair(store, locations, known, report, raws)


def _repair(store, locations, known, report, raws):
    from gnocchi_rs.check import rebuild

    for finding in report.findings:
        if finding.repaired or finding.metric not in locations:
            continue
        if finding.problem == "missing splits":
            _rebuild_missing(store, locations, known, report, raws, finding)
            continue
        if finding.name is None:
            continue
        moved = store.quarantine(locations, finding.metric, finding.method,
                                 finding.name)
        if moved is None:
            continue
        finding.repaired = "moved to %s" % moved
        if finding.problem != "undecodable":
            continue
        what, _ = parse_name(finding.method, finding.name)
        if what[0] == "raw":
            report.lost.append(
                "%s: raw series moved aside; the next measures start a "
                "new one" % finding.metric)
            continue
        raw = raws.get(finding.metric)
        outcome = rebuild.split_from_raw(
            known[finding.metric], raw[0] if raw else None, what)
        if outcome is None:
            report.lost.append("%s: %s %s: not covered by the raw series"
                               % (finding.metric, what[1], finding.name))
            continue
        data, points, since = outcome
        store.write(locations, finding.metric, finding.method,
                    finding.name, data)
        report.rebuilt.append(
            "%s: %s %s: %d points rebuilt from the raw series (since %s); "
            "earlier points of the split are lost"
            % (finding.metric, what[1], finding.name, points, since))


def _rebuild_missing(store, locations, known, report, raws, finding):
    from gnocchi_rs.check import rebuild

    raw = raws.get(finding.metric)
    outcome = rebuild.latest_split_from_raw(
        known[finding.metric], raw[0] if raw else None, finding.method,
        finding.granularity)
    if outcome is None:
        report.lost.append("%s: %s: nothing in the raw series to rebuild "
                           "it from" % (finding.metric, finding.detail))
        return
    key, granularity, data, points, since = outcome
    method, name = store.split_object(finding.method, key, granularity)
    store.write(locations, finding.metric, method, name, data)
    finding.repaired = "rebuilt %s from the raw series" % name
    report.rebuilt.append(
        "%s: %s %s: %d points rebuilt from the raw series (since %s); "
        "older points of that aggregation are lost"
        % (finding.metric, finding.method, name, points, since))


def _check_incoming(store, report, repair):
    blobs = store.incoming_blobs()
    report.incoming_blobs = len(blobs)
    verdicts = _native.inspect_blobs(
        [("measures", blob, 0, 0) for _, _, _, blob in blobs])
    for (sack, metric, name, _), (problem, points, _, _) in zip(
            blobs, verdicts):
        if problem:
            finding = Finding("incoming undecodable", metric, sack, name,
                              problem)
            if repair:
                moved = store.quarantine_incoming(sack, metric, name)
                if moved:
                    finding.repaired = "moved to %s" % moved
            report.findings.append(finding)


__all__ = ["check", "Report", "Finding", "PROBLEMS", "stores"]
