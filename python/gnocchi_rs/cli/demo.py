"""``gnocchi-rs demo``: aggregates a day of points with the native core and
prints what Gnocchi would store."""

import numpy

import gnocchi_rs
from gnocchi_rs import carbonara


def run(args):
    rng = numpy.random.default_rng(args.seed)
    start = numpy.datetime64("2026-11-21T00:00:00", "ns")
    timestamps = start + numpy.arange(args.points) * numpy.timedelta64(1, "s")
    values = 50.0 + numpy.cumsum(rng.normal(0.0, 1.0, args.points))
    raw = carbonara.TimeSerie.from_data(timestamps, values)
    print("gnocchi-rs %s: %d raw points from %s, aggregated natively"
          % (gnocchi_rs.__version__, len(raw), start))
    for seconds in args.granularities:
        granularity = numpy.timedelta64(seconds, "s")
        grouped = raw.group_serie(granularity)
        columns = {}
        for method in args.methods:
            agg = carbonara.AggregatedTimeSerie.from_grouped_serie(
                grouped, carbonara.Aggregation(method, granularity, None))
            columns[method] = agg
        first = columns[args.methods[0]]
        print("\ngranularity %ss: %d points" % (seconds, len(first)))
        print("  %-20s %s" % ("timestamp", " ".join(
            "%10s" % m for m in args.methods)))
        for i in range(min(args.rows, len(first))):
            print("  %-20s %s" % (str(first.timestamps[i])[:19], " ".join(
                "%10.3f" % columns[m].values[i] for m in args.methods)))
        for key, split in first.split():
            _, blob = split.serialize(key, compressed=True)
            print("  split %s_%s_%s_v3: %d points, %d bytes compressed"
                  % (key, args.methods[0], float(seconds), len(split),
                     len(blob)))
    return 0
