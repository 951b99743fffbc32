"""Carbonara side by side: upstream ``gnocchi.carbonara`` against
``gnocchi_rs.carbonara``, the same work in one run, CPU time measured.

Aggregation: a day of 1 s points (86400) grouped at 1 s, 60 s and 1 h and
aggregated with mean, min, max, sum, std and count (18 aggregates).
Codecs: that day's 1 s aggregate cut into its 24 splits, each serialized
and unserialized, compressed and padded.
Cross-metric: ``processor.aggregated`` (upstream's) against
``gnocchi_rs.processor.aggregated`` over 10 metrics of a day at 60 s
(1440 points each, one metric with gaps), for the trees dashboards and
alarms send; the answers must be equal before speed is reported. Two
rows per tree: the drop-in's whole call (its answer is one Python tuple
of numpy scalars per point, upstream's format, which costs the same on
both sides and bounds the ratio), and the evaluation alone (upstream's
numpy steps, as ``gnocchi_rs.rest.aggregates`` keeps them for declined
trees, against the engine), which is what the REST routes use before
rendering natively.

Usage: python benchmarks/carbonara.py [--points N] [--repeat N]
"""

import argparse
import time

import types
import uuid

import numpy

from gnocchi import carbonara as upstream
from gnocchi.rest.aggregates import processor as upstream_processor
from gnocchi_rs import carbonara as native
from gnocchi_rs import processor as native_processor
from gnocchi_rs.rest.aggregates import _numpy_evaluation as numpy_evaluation

GRANULARITIES = [numpy.timedelta64(1, "s"), numpy.timedelta64(60, "s"),
                 numpy.timedelta64(3600, "s")]
METHODS = ["mean", "min", "max", "sum", "std", "count"]


def make_day(points):
    rng = numpy.random.default_rng(42)
    start = numpy.datetime64("2026-11-21T00:00:00", "ns")
    timestamps = start + numpy.arange(points) * numpy.timedelta64(1, "s")
    return timestamps, rng.normal(50.0, 20.0, points)


def aggregate_all(module, timestamps, values):
    ts = module.TimeSerie.from_data(timestamps, values)
    out = []
    for granularity in GRANULARITIES:
        grouped = ts.group_serie(granularity)
        for method in METHODS:
            out.append(module.AggregatedTimeSerie.from_grouped_serie(
                grouped, module.Aggregation(method, granularity, None)))
    return out


def splits_of(module, timestamps, values):
    agg = module.Aggregation("mean", GRANULARITIES[0], None)
    series = module.AggregatedTimeSerie.from_data(agg, timestamps, values)
    return agg, list(series.split())


def codec_roundtrip(module, agg, splits, compressed):
    for key, split in splits:
        offset, data = split.serialize(key, compressed=compressed)
        if offset:
            data = b"\0" * offset + data
        module.AggregatedTimeSerie.unserialize(data, key, agg)


def cpu_time(work, repeat):
    """Best CPU seconds of ``repeat`` runs (least disturbed by noise)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        work()
        best = min(best, time.process_time() - t0)
    return best


def check_same_results(timestamps, values):
    """Refuse to report speed for results that differ."""
    for theirs, ours in zip(aggregate_all(upstream, timestamps, values),
                            aggregate_all(native, timestamps, values)):
        if not (numpy.array_equal(theirs.timestamps, ours.timestamps) and
                numpy.array_equal(theirs.values, ours.values,
                                  equal_nan=True)):
            raise SystemExit("results differ for %s" % (theirs.aggregation,))


CROSS_METRIC_TREES = [
    ("aggregate mean", lambda leaf: ["aggregate", "mean", leaf]),
    ("aggregate max, rate", lambda leaf: ["aggregate", "rate:max", leaf]),
    ("metrics, fill=0", None),
    ("rolling mean 5 * 8", lambda leaf: ["*", ["rolling", "mean", 5, leaf],
                                         8.0]),
]


def cross_metric_inputs(metrics=10, points=1440):
    rng = numpy.random.default_rng(7)
    start = numpy.datetime64("2026-11-21T00:00:00", "ns")
    granularity = numpy.timedelta64(60, "s")
    refs_and_series = []
    for i in range(metrics):
        times = start + numpy.arange(points) * granularity
        values = rng.normal(50.0, 20.0, points)
        if i == 3:
            kept = rng.random(points) > 0.1
            times, values = times[kept], values[kept]
        metric = types.SimpleNamespace(id=uuid.UUID(int=i + 1), name="m%d" % i)
        refs_and_series.append((
            upstream_processor.MetricReference(metric, "mean"),
            upstream.AggregatedTimeSerie.from_data(
                upstream.Aggregation("mean", granularity, None),
                times, values)))
    leaf = ["metric"] + [[str(ref.metric.id), "mean"]
                         for ref, _ in refs_and_series]
    return refs_and_series, leaf


def _flat_answer(answer):
    if isinstance(answer, list):
        return [(t, g, v if v == v else "nan") for t, g, v in answer]
    return {k: _flat_answer(v) for k, v in answer.items()}


def cross_metric_rows(repeat):
    refs_and_series, leaf = cross_metric_inputs()
    points = sum(len(ts) for _, ts in refs_and_series)
    rows = []
    for label, build in CROSS_METRIC_TREES:
        tree = build(leaf) if build else leaf
        fill = 0.0 if build is None else None
        # needed_overlap=0, as Aodh and Grafana send it.
        args = (refs_and_series, tree, None, None, 0.0, fill)
        if _flat_answer(upstream_processor.aggregated(*args)) != \
                _flat_answer(native_processor.aggregated(*args)):
            raise SystemExit("cross-metric answers differ for %s" % label)
        up = cpu_time(lambda: upstream_processor.aggregated(*args), repeat)
        rs = cpu_time(lambda: native_processor.aggregated(*args), repeat * 4)
        rows.append(("cross-metric, " + label, points, up, rs))
        up = cpu_time(lambda: numpy_evaluation(*args), repeat)
        rs = cpu_time(lambda: native_processor.native_evaluation(*args),
                      repeat * 4)
        rows.append(("  evaluation only", points, up, rs))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=86400)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    timestamps, values = make_day(args.points)
    check_same_results(timestamps, values)

    rows = []
    up = cpu_time(lambda: aggregate_all(upstream, timestamps, values),
                  args.repeat)
    rs = cpu_time(lambda: aggregate_all(native, timestamps, values),
                  args.repeat * 4)
    rows.append(("aggregation (18 aggregates)", args.points, up, rs))

    for compressed in (True, False):
        label = "split codec, %s" % ("compressed" if compressed else "padded")
        up_agg, up_splits = splits_of(upstream, timestamps, values)
        rs_agg, rs_splits = splits_of(native, timestamps, values)
        up = cpu_time(lambda: codec_roundtrip(upstream, up_agg, up_splits,
                                              compressed), args.repeat)
        rs = cpu_time(lambda: codec_roundtrip(native, rs_agg, rs_splits,
                                              compressed), args.repeat * 4)
        rows.append((label, args.points, up, rs))

    rows.extend(cross_metric_rows(args.repeat * 4))

    print("%-36s %16s %16s %8s" % ("work", "upstream pts/s", "gnocchi-rs pts/s",
                                   "ratio"))
    for label, points, up, rs in rows:
        print("%-36s %16.3g %16.3g %7.1fx" % (label, points / up, points / rs,
                                              up / rs))


if __name__ == "__main__":
    main()
