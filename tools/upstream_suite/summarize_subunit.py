"""Count unique test ids in a subunit stream (stdin) against the expected.

Usage: stestr last --subunit | summarize_subunit.py EXPECTED_IDS_FILE

Prints the failed ids (at most 200), one line per suite and, LAST, exactly
"N passed, N failed, N skipped". gabbi emits two records for each of its
2 xfail tests; an id fails if any of its records failed. Expected ids with
no record at all count as failed too ("NOT RUN": a crashed worker silently
drops the rest of its partition). Called by tools/run-upstream-suite.sh.
"""
import collections
import sys

import subunit
import testtools


def main(expected_path):
    with open(expected_path) as f:
        expected = {line.strip() for line in f
                    if line.strip() and " " not in line.strip()}

    records = collections.defaultdict(list)

    def on_test(test):
        records[test["id"]].append(test["status"])

    result = testtools.StreamToDict(on_test)
    result.startTestRun()
    subunit.ByteStreamToStreamResult(
        sys.stdin.buffer, non_subunit_name="stdout").run(result)
    result.stopTestRun()

    total = collections.Counter()
    per_suite = collections.defaultdict(collections.Counter)
    failed = []
    for tid, statuses in sorted(records.items()):
        if any(s not in ("success", "xfail", "skip") for s in statuses):
            kind = "failed"   # fail, uxsuccess, or never finished
            failed.append("FAILED %s (%s)" % (tid, ",".join(statuses)))
        elif any(s in ("success", "xfail") for s in statuses):
            kind = "passed"
        else:
            kind = "skipped"
        suite = "gabbi" if tid.startswith("gabbi.") else "unit"
        per_suite[suite][kind] += 1
        total[kind] += 1
        if "xfail" in statuses:
            per_suite[suite]["xfail"] += 1
    not_run = sorted(expected - set(records))
    for tid in not_run:
        failed.append("NOT RUN %s" % tid)
        suite = "gabbi" if tid.startswith("gabbi.") else "unit"
        per_suite[suite]["failed"] += 1
        total["failed"] += 1
    for line in failed[:200]:
        print(line)
    if len(failed) > 200:
        print("... and %d more" % (len(failed) - 200))
    if not_run:
        print("%d selected tests never ran (a test worker crashed?)"
              % len(not_run))
    for suite in sorted(per_suite):
        c = per_suite[suite]
        print("%s: %d passed (%d expected failures), %d failed, %d skipped"
              % (suite, c["passed"], c["xfail"], c["failed"], c["skipped"]))
    print("%d passed, %d failed, %d skipped"
          % (total["passed"], total["failed"], total["skipped"]))


if __name__ == "__main__":
    main(sys.argv[1])
