"""Storage drivers ``rs-file``, ``rs-redis`` and ``rs-ceph``.

They subclass upstream's drivers, read the same options and keep the same
on-disk layout; the I/O primitives and the whole metricd pipeline
(``add_measures_to_metrics``) and read path (``get_aggregated_measures``)
run natively, one batched call each. Each backend lives in its own module,
as upstream's, so a process imports only the client libraries of the
backend it uses.
"""
from __future__ import annotations

import collections
import logging

import numpy
from gnocchi import carbonara as upstream_carbonara
from gnocchi import storage

from gnocchi_rs import _native
from gnocchi_rs import batch_outcomes
from gnocchi_rs import carbonara as rs_carbonara
from gnocchi_rs import indexer_batch
from gnocchi_rs.records import optional_ns as _ns
from gnocchi_rs.records import to_records as _records
from gnocchi_rs.records import to_series as _series

LOG = logging.getLogger("gnocchi.storage")

_NS = numpy.timedelta64(1, "ns")

# Methods that upstream's own tests (and operators' debugging) replace on
# an instance to watch or break the pipeline. When one is replaced, the
# pipeline runs upstream's Python steps over our native primitives so the
# replacement is honoured.
_PIPELINE_HOOKS = (
    "_store_unaggregated_timeseries", "_store_metric_splits",
    "_get_or_create_unaggregated_timeseries", "_update_metric_splits",
    "_delete_metric_splits", "_list_split_keys", "_get_splits",
    "execute_data_processing", "store_data_backend", "get_raw_measures",
    "_compute_split_operations", "execute_metadata_updates_if_needed",
)


# The same goes for upstream's Carbonara codecs, which upstream's tests
# replace to simulate corrupt blobs.
_CODECS = {
    (cls, name): getattr(cls, name)
    for cls in (upstream_carbonara.AggregatedTimeSerie,
                upstream_carbonara.BoundTimeSerie)
    for name in ("unserialize", "serialize")
}


def _codecs_replaced():
    return any(getattr(cls, name) != original
               for (cls, name), original in _CODECS.items())


def _policy_spec(archive_policy):
    """The native translation of one of upstream's archive policies."""
    definition = [(_ns(d.granularity), _ns(d.timespan))
                  for d in archive_policy.definition]
    return _native.ArchivePolicySpec(
        archive_policy.back_window, definition,
        list(archive_policy.aggregation_methods))


class NativeStorageMixin:
    """The native pipeline over a ``_native.NativeStorage``."""

    def _native_store(self):  # pragma: no cover - defined by subclasses
        raise NotImplementedError

    def _hooked(self):
        return (any(name in self.__dict__ for name in _PIPELINE_HOOKS)
                or _codecs_replaced())

    # -- the metricd pipeline -------------------------------------------------

    def add_measures_to_metrics(self, metrics_and_measures, indexer_driver):
        if self._hooked():
            return super().add_measures_to_metrics(
                metrics_and_measures, indexer_driver)
        metrics = list(metrics_and_measures)
        # Metrics loaded together share their policy object.
        specs = {}
        batch = []
        for metric in metrics:
            ap = metric.archive_policy
            spec = specs.get(id(ap))
            if spec is None:
                spec = specs[id(ap)] = _policy_spec(ap)
            batch.append((metric.id.bytes, spec,
                          _records(metrics_and_measures[metric])))
        result = self._native_store().process(batch)
        newest = batch_outcomes.account(self.statistics, metrics, result)
        indexer_batch.update_metrics_after_processing(indexer_driver, newest)

    # -- the read path --------------------------------------------------------

    def get_aggregated_measures(self, metrics_and_aggregations,
                                from_timestamp=None, to_timestamp=None,
                                resample=None):
        if self._hooked():
            return super().get_aggregated_measures(
                metrics_and_aggregations, from_timestamp, to_timestamp,
                resample)
        requests, owners = [], []
        for metric, aggregations in metrics_and_aggregations.items():
            for aggregation in aggregations:
                requests.append((metric.id.bytes, aggregation.method,
                                 _ns(aggregation.granularity),
                                 _ns(aggregation.timespan)))
                owners.append((metric, aggregation))
        from_ns = None if from_timestamp is None else _ns(
            numpy.datetime64(from_timestamp, "ns"))
        to_ns = None if to_timestamp is None else _ns(
            numpy.datetime64(to_timestamp, "ns"))
        series, corrupt = self._native_store().read_aggregates(
            requests, from_ns, to_ns)
        if corrupt:
            LOG.error("Data corruption detected: %d aggregated splits could "
                      "not be read, ignoring them", corrupt)
        results = collections.defaultdict(dict)
        for (metric, aggregation), words in zip(owners, series):
            if words is None:
                raise storage.MetricDoesNotExist(metric)
            ts, series_aggregation = _series(words), aggregation
            if resample:
                resampled = rs_carbonara.AggregatedTimeSerie(
                    aggregation, ts).resample(resample)
                series_aggregation, ts = resampled.aggregation, resampled.ts
            # Keyed by the aggregation asked for, even when resampled.
            results[metric][aggregation] = (
                upstream_carbonara.AggregatedTimeSerie(series_aggregation, ts)
                .fetch(from_timestamp, to_timestamp))
        return results

    # -- batched primitives (upstream's names and shapes) ---------------------

    def _get_or_create_unaggregated_timeseries(self, metrics, version=3):
        if version != 3:
            return super()._get_or_create_unaggregated_timeseries(
                metrics, version)
        metrics = list(metrics)
        raws = self._native_store().get_or_create_raw(
            [(m.id.bytes, list(m.archive_policy.aggregation_methods))
             for m in metrics])
        return dict(zip(metrics, raws))

    # The janitor's raw-data cleanup calls the unbatched forms.
    def _get_or_create_unaggregated_timeseries_unbatched(self, metric,
                                                         version=3):
        if version != 3:
            return super()._get_or_create_unaggregated_timeseries_unbatched(
                metric, version)
        return self._get_or_create_unaggregated_timeseries([metric])[metric]

    def _store_unaggregated_timeseries_unbatched(self, metric, data,
                                                 version=3):
        if version != 3:
            return super()._store_unaggregated_timeseries_unbatched(
                metric, data, version)
        self._store_unaggregated_timeseries([(metric, data)])

    def _store_unaggregated_timeseries(self, metrics_and_data, version=3):
        if version != 3:
            return super()._store_unaggregated_timeseries(
                metrics_and_data, version)
        self._native_store().store_raw(
            [(m.id.bytes, bytes(data)) for m, data in metrics_and_data])

    def _list_split_keys(self, metrics_and_aggregations, version=3):
        if version != 3:
            return super()._list_split_keys(metrics_and_aggregations, version)
        metrics = list(metrics_and_aggregations)
        aggs = [list(metrics_and_aggregations[m]) for m in metrics]
        listed = self._native_store().list_split_keys(
            [(m.id.bytes, [(a.method, _ns(a.granularity)) for a in a_list])
             for m, a_list in zip(metrics, aggs)])
        results = {}
        for metric, a_list, keys in zip(metrics, aggs, listed):
            if keys is None:
                raise storage.MetricDoesNotExist(metric)
            results[metric] = per_agg = collections.defaultdict(set)
            for aggregation, stamps in zip(a_list, keys):
                if stamps or not self._LIST_ONLY_FOUND:
                    per_agg[aggregation] = {
                        upstream_carbonara.SplitKey(
                            numpy.datetime64(k, "ns"),
                            sampling=aggregation.granularity)
                        for k in stamps}
        return results

    def _get_splits(self, metrics_aggregations_keys, version=3):
        if version != 3:
            return super()._get_splits(metrics_aggregations_keys, version)
        refs, owners = [], []
        for metric, aggs_and_keys in metrics_aggregations_keys.items():
            for aggregation, keys in aggs_and_keys.items():
                for key in keys:
                    refs.append((metric.id.bytes, aggregation.method,
                                 _ns(key.key), _ns(key.sampling)))
                    owners.append((metric, aggregation))
        results = collections.defaultdict(
            lambda: collections.defaultdict(list))
        for (metric, aggregation), blob in zip(
                owners, self._native_store().get_splits(refs)):
            results[metric][aggregation].append(blob)
        return results

    def _store_metric_splits(self, metrics_keys_aggregations_data_offset,
                             version=3):
        if version != 3:
            return super()._store_metric_splits(
                metrics_keys_aggregations_data_offset, version)
        self._native_store().store_splits([
            (metric.id.bytes, aggregation.method, _ns(key.key),
             _ns(key.sampling), bytes(data), offset)
            for metric, items in metrics_keys_aggregations_data_offset.items()
            for key, aggregation, data, offset in items])

    def _delete_metric_splits(self, metrics_keys_aggregations, version=3):
        if version != 3:
            return super()._delete_metric_splits(
                metrics_keys_aggregations, version)
        self._native_store().delete_splits([
            (metric.id.bytes, aggregation.method, _ns(key.key),
             _ns(key.sampling))
            for metric, items in metrics_keys_aggregations.items()
            for key, aggregation in items])

    def _delete_metric(self, metric):
        self._native_store().delete_metric(metric.id.bytes)
