"""``Gnocchi``: what a notebook asks of a Gnocchi, answered as tables.

Queries are the API's own (the same paths and parameters a client sends);
answers are read natively (``_native.read_answer``: measure lists become
numpy columns without a Python object per point) and laid out by
``frames``. The transport decides where they go: a server over HTTP, or a
local deployment in process.
"""
from __future__ import annotations

import json
import re
import uuid

from gnocchi_rs import _native
from gnocchi_rs.notebook import errors
from gnocchi_rs.notebook import frames

_NEXT_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="next"')
_TIME_COLUMNS = ("started_at", "ended_at", "revision_start", "revision_end")


class Gnocchi:
    """A Gnocchi to read from (``connect`` and ``open_local`` make one)."""

    def __init__(self, transport):
        self._transport = transport

    def __repr__(self):
        return "<Gnocchi %s>" % self._transport.describe()

    def close(self):
        self._transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- the API -----------------------------------------------------

    def _call(self, method, path, params=None, body=None, what=None):
        status, headers, content = self._transport.request(
            method, path, params, body)
        if status >= 400:
            raise errors.from_answer(status, _description(content),
                                     what or "%s %s" % (method, path))
        return headers, content

    def _json(self, method, path, params=None, body=None, what=None):
        _, content = self._call(method, path, params, body, what)
        return json.loads(content) if content else None

    def _pages(self, method, path, params, body=None, what=None):
        """Every item of a paginated listing, following its Link header."""
        items = []
        while True:
            headers, content = self._call(method, path, params, body, what)
            items.extend(json.loads(content))
            found = _NEXT_LINK.search(headers.get("Link", "") or "")
            if not found:
                return items
            marker = dict(_query_pairs(found.group(1))).get("marker")
            if marker is None:
                return items
            params = dict(params or {}, marker=marker)

    # -- finding things ----------------------------------------------

    def metrics(self, **filters):
        """The metrics (by ``name``, ``unit``, ``archive_policy_name``,
        ``creator``, ``id``; upstream's filters) as a DataFrame, one row
        per metric."""
        found = self._pages("GET", "/v1/metric", filters,
                            what="listing metrics")
        return _listing(found, ("id", "name", "unit", "resource_id",
                                "archive_policy_name", "creator"))

    def resources(self, resource_type="generic", search=None, **equal):
        """The resources of ``resource_type`` matching ``search`` (a
        filter in the API's JSON form, or its query-string form) and the
        attribute values given (``host="compute1"``), as a DataFrame."""
        conditions = [{"=": {key: value}} for key, value in equal.items()]
        params = {}
        body = None
        if isinstance(search, str):
            if conditions:
                raise errors.BadQuery(
                    "a search string and attribute values cannot be "
                    "combined; write the attributes into the string")
            params["filter"] = search
        elif search is not None:
            conditions.append(search)
        if conditions:
            body = conditions[0] if len(conditions) == 1 else \
                {"and": conditions}
        found = self._pages("POST", "/v1/search/resource/%s" % resource_type,
                            params, body=body,
                            what="searching %s resources" % resource_type)
        return _listing(found, ("id", "type", "original_resource_id"))

    # -- reading series ----------------------------------------------

    def measures(self, metrics, aggregation="mean", granularity=None,
                 start=None, stop=None, resample=None, refresh=False,
                 shape="wide", output="pandas"):
        """Measures of one or many metrics, as upstream's ``GET
        .../measures`` gives them.

        ``metrics``: a metric id, ``(resource_id, metric_name)``, a list
        of these, a ``{label: either}`` dict, or a frame from ``metrics()``
        (labelled by name). ``granularity`` given: rows are timestamps;
        else the index is (granularity, timestamp), coarsest first.
        ``shape="long"``: a row per point. ``output``: "pandas",
        "arrow" (a pyarrow Table) or "numpy" (a structured array per
        metric)."""
        refs, units = _references(metrics)
        params = {"aggregation": aggregation, "granularity": granularity,
                  "start": _time(start), "stop": _time(stop),
                  "resample": resample}
        if refresh:
            params["refresh"] = True
        series = []
        for label, ref in refs:
            path, what = _measures_path(ref)
            _, content = self._call("GET", path, params, what=what)
            series.append(frames.columns_of(_native.read_answer(content)))
        table = frames.Table(("metric",), [(label,) for label, _ in refs],
                             series, units)
        return frames.render(table, shape, output,
                             granularity_index=granularity is None)

    def aggregates(self, operations, search=None, resource_type=None,
                   groupby=None, granularity=None, start=None, stop=None,
                   fill=None, needed_overlap=None, shape="wide",
                   output="pandas"):
        """``POST /v1/aggregates``: ``operations`` in the API's string or
        list form; with ``search`` (and ``resource_type``, default
        generic), metrics are named in operations and found on the
        matching resources; ``groupby`` attributes label the series.

        Wide: a column per series, labelled by (group values...,)
        resource id, metric and aggregation as the answer has them, or
        "aggregated"; long: those labels as columns."""
        params = {"granularity": granularity, "start": _time(start),
                  "stop": _time(stop), "fill": fill,
                  "needed_overlap": needed_overlap, "details": False}
        body = {"operations": operations}
        groupby = [groupby] if isinstance(groupby, str) else \
            list(groupby or [])
        if search is not None or resource_type is not None:
            body["search"] = search if search is not None else {}
            body["resource_type"] = resource_type or "generic"
            params["groupby"] = groupby or None
        elif groupby:
            raise errors.BadQuery("groupby needs a resource search")
        answer = _native.read_answer(self._call(
            "POST", "/v1/aggregates", params, body,
            what="aggregates %s" % _short(operations))[1])
        table = _aggregates_table(answer, groupby)
        return frames.render(table, shape, output,
                             granularity_index=granularity is None)

    # -- writing (a server only) ---------------------------------------

    def create_metric(self, name=None, archive_policy_name=None,
                      resource_id=None, unit=None):
        """Creates a metric, returns its id."""
        body = {key: value for key, value in (
            ("name", name), ("archive_policy_name", archive_policy_name),
            ("resource_id", resource_id), ("unit", unit))
            if value is not None}
        return self._json("POST", "/v1/metric", body=body,
                          what="creating metric %s" % (name or ""))["id"]

    def create_resource(self, resource_type="generic", **attributes):
        """Creates a resource (``id`` required), returns it as a dict."""
        return self._json("POST", "/v1/resource/%s" % resource_type,
                          body=attributes,
                          what="creating a %s resource" % resource_type)

    def write(self, measures):
        """Posts measures in one batch: ``{metric id: series}`` where a
        series is a pandas Series indexed by time, or a pair (timestamps,
        values) of arrays."""
        batch = {str(metric): _measure_list(series)
                 for metric, series in measures.items()}
        self._call("POST", "/v1/batch/metrics/measures", body=batch,
                   what="posting measures")

    def status(self):
        """``/v1/status``: the backlog, and with gnocchi-rs its processing
        rate and drain estimate."""
        return self._json("GET", "/v1/status", what="reading the status")

    def wait_until_processed(self, timeout=120, interval=0.5):
        """Returns once no measure waits for metricd (after ``timeout``
        seconds, raises ``TimeoutError``)."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            summary = self.status()["storage"]["summary"]
            if not summary.get("measures"):
                return
            if time.monotonic() > deadline:
                raise TimeoutError("%s measures still waiting after %ss"
                                   % (summary["measures"], timeout))
            time.sleep(interval)


def _description(content):
    try:
        answer = json.loads(content)
    except ValueError:
        return content.decode("utf-8", "replace").strip()[:500]
    if isinstance(answer, dict) and "description" in answer:
        answer = answer["description"]
    if isinstance(answer, dict):
        return "; ".join("%s: %s" % item for item in answer.items())
    return str(answer)


def _query_pairs(link):
    import urllib.parse

    return urllib.parse.parse_qsl(urllib.parse.urlsplit(link).query)


def _short(operations):
    text = operations if isinstance(operations, str) else \
        json.dumps(operations)
    return text if len(text) <= 80 else text[:77] + "..."


def _time(value):
    """A time as the API reads it: a str, a number of seconds, or a
    datetime / Timestamp / numpy datetime64 (naive ones are UTC)."""
    if value is None or isinstance(value, (str, int, float)):
        return value
    if hasattr(value, "isoformat"):
        if getattr(value, "tzinfo", None) is None:
            return value.isoformat() + "+00:00"
        return value.isoformat()
    import numpy

    if isinstance(value, numpy.datetime64):
        return str(value.astype("datetime64[ns]")) + "+00:00"
    raise errors.BadQuery("not a time: %r" % (value,))


def _is_metric_id(text):
    try:
        uuid.UUID(str(text))
    except ValueError:
        return False
    return True


def _references(metrics):
    """[(label, reference)] and {label: unit} of what ``measures`` takes."""
    units = {}
    if hasattr(metrics, "columns") and "metrics" in metrics.columns:
        raise errors.BadQuery(
            "a frame of resources: give metrics (g.metrics(...), or "
            "(resource_id, metric_name) pairs)")
    if hasattr(metrics, "columns") and "id" in getattr(metrics, "columns"):
        names = metrics["name"].tolist() if "name" in metrics.columns \
            else metrics["id"].tolist()
        ids = metrics["id"].tolist()
        repeated = {name for name in names if names.count(name) > 1}
        labels = [str(i) if name is None or name in repeated else name
                  for name, i in zip(names, ids)]
        if "unit" in metrics.columns:
            units = {label: unit for label, unit in zip(
                labels, metrics["unit"].tolist()) if unit}
        return list(zip(labels, ids)), units
    if isinstance(metrics, dict):
        return [(str(label), ref) for label, ref in metrics.items()], units
    if isinstance(metrics, (str, uuid.UUID, tuple)):
        metrics = [metrics]
    refs = []
    for ref in metrics:
        label = "/".join(str(part) for part in ref) if isinstance(
            ref, tuple) else str(ref)
        refs.append((label, ref))
    return refs, units


def _measures_path(ref):
    if isinstance(ref, tuple):
        if len(ref) != 2:
            raise errors.BadQuery(
                "a metric is an id or (resource_id, metric_name), not %r"
                % (ref,))
        resource_id, name = ref
        return ("/v1/resource/generic/%s/metric/%s/measures"
                % (resource_id, name),
                "measures of metric %r of resource %s" % (name, resource_id))
    if not _is_metric_id(ref):
        raise errors.BadQuery(
            "%r is not a metric id; name a metric by id or by "
            "(resource_id, metric_name)" % (ref,))
    return "/v1/metric/%s/measures" % ref, "measures of metric %s" % ref


def _listing(items, first_columns):
    import pandas

    frame = pandas.DataFrame(items)
    if "archive_policy" in frame.columns:
        # The policy in full (its methods a set, in no stable order) is
        # one call away; a listing names it.
        names = [p.get("name") if isinstance(p, dict) else p
                 for p in frame.pop("archive_policy")]
        if "archive_policy_name" not in frame.columns:
            frame["archive_policy_name"] = names
    if frame.empty:
        return pandas.DataFrame(columns=list(first_columns))
    for column in _TIME_COLUMNS:
        if column in frame.columns:
            frame[column] = pandas.to_datetime(frame[column], utc=True,
                                               format="ISO8601")
    ordered = [c for c in first_columns if c in frame.columns]
    return frame[ordered + [c for c in frame.columns if c not in ordered]]


_LEVELS = {1: ("series",), 2: ("metric", "aggregation"),
           3: ("resource_id", "metric", "aggregation")}


def _leaves(node, path=()):
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _leaves(child, path + (key,))
    else:
        yield path, node


def _aggregates_table(answer, groupby):
    labels, series = [], []
    if isinstance(answer, list):  # groupby's answer, or an empty search
        for entry in answer:
            group = tuple(entry["group"].get(g) for g in groupby)
            for path, leaf in _leaves(entry["measures"]["measures"]):
                labels.append(group + path)
                series.append(leaf)
    else:
        for path, leaf in _leaves(answer["measures"]):
            labels.append(path)
            series.append(leaf)
    depth = len(labels[0]) - len(groupby) if labels else 1
    names = tuple(groupby) + _LEVELS.get(depth, tuple(
        "level_%d" % i for i in range(depth)))
    if groupby and depth == 1 and all(
            label[-1] == "aggregated" for label in labels):
        labels = [label[:-1] for label in labels]
        names = names[:-1]
    return frames.Table(names, labels, series)


def _measure_list(series):
    import numpy

    if hasattr(series, "index") and hasattr(series, "to_numpy"):
        times, values = series.index, series.to_numpy()
        times = numpy.asarray(
            times.tz_convert("UTC").tz_localize(None)
            if getattr(times, "tz", None) is not None else times,
            dtype="datetime64[ns]")
    else:
        times, values = series
        times = numpy.asarray(times, dtype="datetime64[ns]")
    values = numpy.asarray(values, dtype=numpy.float64)
    stamps = numpy.datetime_as_string(times, unit="ns")
    return [{"timestamp": t, "value": v}
            for t, v in zip(stamps.tolist(), values.tolist())]
