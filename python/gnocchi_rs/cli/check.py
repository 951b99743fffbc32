"""``gnocchi-rs check [--repair]``: is the stored data sound? (see
``gnocchi_rs.check``). Exit status 0 when sound (or, with ``--repair``,
when everything found was moved aside), 1 when something was found."""
from __future__ import annotations

import json
import sys
import time


def _progress_printer(stream):
    started = time.monotonic()
    interactive = stream.isatty()
    last = [0.0]

    def progress(done, total):
        now = time.monotonic()
        if done < total and now - last[0] < (0.2 if interactive else 10):
            return
        last[0] = now
        width = 30
        filled = int(width * done / total) if total else width
        line = "checking [%s%s] %d/%d metrics, %.1fs" % (
            "#" * filled, "." * (width - filled), done, total,
            now - started)
        stream.write(("\r" + line) if interactive else (line + "\n"))
        if interactive and done >= total:
            stream.write("\n")
        stream.flush()
    return progress


def run(args):
    from gnocchi import indexer

    from gnocchi_rs import check
    from gnocchi_rs.check import stores
    from gnocchi_rs.cli import gnocchi_conf

    conf = gnocchi_conf.load_conf(args)
    try:
        store, incoming = stores.for_conf(conf)
    except NotImplementedError as e:
        print("gnocchi-rs check: %s" % e, file=sys.stderr)
        return 2
    index = indexer.get_driver(conf)
    started = time.monotonic()
    try:
        if incoming is None:
            print("gnocchi-rs check: incoming driver %s is not read"
                  % conf.incoming.driver, file=sys.stderr)
        report = check.check(
            index, store, incoming, repair=args.repair,
            progress=None if args.quiet else _progress_printer(sys.stderr))
    finally:
        index.disconnect()
    seconds = time.monotonic() - started
    if args.json:
        json.dump({"metrics": report.metrics, "objects": report.objects,
                   "points": report.points,
                   "incoming_blobs": report.incoming_blobs,
                   "counts": report.counts(), "seconds": seconds,
                   "findings": [vars(f) for f in report.findings],
                   "rebuilt": report.rebuilt, "lost": report.lost},
                  sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        _print_report(report, seconds, store, args.repair)
    if not report.findings:
        return 0
    if args.repair and all(f.repaired for f in report.findings
                           if f.name is not None):
        return 0
    return 1


def _print_report(report, seconds, store, repaired):
    for finding in report.findings:
        where = "/".join(part for part in (finding.method, finding.name)
                         if part)
        print("%-20s %s %s: %s%s" % (
            finding.problem, finding.metric, where, finding.detail,
            "; " + finding.repaired if finding.repaired else ""))
    for line in report.rebuilt:
        print("rebuilt              " + line)
    for line in report.lost:
        print("lost                 " + line)
    counts = ", ".join("%s %d" % item for item in report.counts().items()
                       if item[1])
    print("%s: %d metrics, %d objects (%d points), %d incoming blobs "
          "checked in %.1fs: %s" % (
              store.describe(), report.metrics, report.objects,
              report.points, report.incoming_blobs, seconds,
              counts or "sound"))
    if repaired and report.findings:
        print("repaired: %d moved aside or rebuilt, %d rebuilt from the raw "
              "series, %d with data lost (said above)" % (
                  sum(1 for f in report.findings if f.repaired),
                  len(report.rebuilt), len(report.lost)))
    if report.findings and not repaired:
        print("`gnocchi-rs check --repair` moves what was found aside "
              "(nothing is deleted) and rebuilds what the raw series "
              "still holds")
