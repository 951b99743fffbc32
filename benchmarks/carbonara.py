"""Carbonara side by side: upstream ``gnocchi.carbonara`` against
``gnocchi_rs.carbonara``, the same work in one run, CPU time measured.

Aggregation: a day of 1 s points (86400) grouped at 1 s, 60 s and 1 h and
aggregated with mean, min, max, sum, std and count (18 aggregates).
Codecs: that day's 1 s aggregate cut into its 24 splits, each serialized
and unserialized, compressed and padded.

Usage: python benchmarks/carbonara.py [--points N] [--repeat N]
"""

import argparse
import time

import numpy

from gnocchi import carbonara as upstream
from gnocchi_rs import carbonara as native

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

    print("%-30s %16s %16s %8s" % ("work", "upstream pts/s", "gnocchi-rs pts/s",
                                   "ratio"))
    for label, points, up, rs in rows:
        print("%-30s %16.3g %16.3g %7.1fx" % (label, points / up, points / rs,
                                              up / rs))


if __name__ == "__main__":
    main()
