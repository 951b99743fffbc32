"""Metricd's summary line: at most one per period, none while idle, with
the period's counts and rates."""
from __future__ import annotations

import logging

from gnocchi_rs import pass_summary


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _summary(caplog):
    caplog.set_level(logging.INFO, logger="gnocchi.rs.metricd")
    clock = Clock()
    return clock, pass_summary.PassSummary(period=60.0, clock=clock)


def _lines(caplog):
    return [r.getMessage() for r in caplog.records
            if r.name == "gnocchi.rs.metricd"]


def test_one_line_per_period_with_its_rates(caplog):
    clock, summary = _summary(caplog)
    measures = 0
    for _ in range(59):             # a pass a second, 10 metrics x 50
        clock.now += 1
        measures += 500
        summary.add(10, 4, measures)
    assert _lines(caplog) == []
    clock.now += 1
    measures += 500
    summary.add(10, 4, measures)
    assert _lines(caplog) == [
        "Processed 30000 measures of 600 metrics from 240 sacks in the "
        "last 60s: 500.0 measures/s, 10.0 metrics/s"]
    # The next period counts from there.
    for _ in range(60):
        clock.now += 1
        measures += 5
        summary.add(1, 1, measures)
    assert _lines(caplog)[1] == (
        "Processed 300 measures of 60 metrics from 60 sacks in the last "
        "60s: 5.0 measures/s, 1.0 metrics/s")


def test_nothing_while_idle(caplog):
    clock, summary = _summary(caplog)
    for _ in range(600):
        clock.now += 1
        summary.add(0, 0, 1234)     # measures counted before it started
    assert _lines(caplog) == []
    clock.now += 30
    summary.add(2, 1, 1240)
    clock.now += 30
    summary.add(0, 0, 1240)
    assert _lines(caplog) == [
        "Processed 6 measures of 2 metrics from 1 sacks in the last 60s: "
        "0.1 measures/s, 0.0 metrics/s"]


def test_passes_feed_the_summary(caplog):
    """SackPasses.after_pass hands each pass's counts to its summary."""
    from gnocchi_rs import sacks

    class Assignment:
        partitioned = False

        def sacks(self):
            return sacks.Sack.all(3)

    import threading
    passes = sacks.SackPasses(None, Assignment(), 60.0, threading.Event())
    clock, passes.summary = _summary(caplog)
    passes.run(lambda sack: 5, RuntimeError)
    clock.now += 61
    passes.after_pass({"processed measures": 42})
    assert _lines(caplog) == [
        "Processed 42 measures of 15 metrics from 3 sacks in the last 61s: "
        "0.7 measures/s, 0.2 metrics/s"]


def test_passes_follow_the_native_plan():
    """Notified sacks only between full scans; with a backlog, the oldest
    first and empty ones skipped."""
    import threading
    from gnocchi_rs import sacks

    owned = sacks.Sack.all(4)

    class Assignment:
        partitioned = False

        def sacks(self):
            return owned

    passes = sacks.SackPasses(None, Assignment(), 3600.0, threading.Event())
    visited = []

    def process(sack):
        visited.append(sack.number)
        return 1

    passes.run(process, RuntimeError)
    assert sorted(visited) == [0, 1, 2, 3]
    visited.clear()
    passes.notified.update({owned[2], sacks.Sack(9, 16)})
    passes.run(process, RuntimeError)
    assert visited == [2]
    visited.clear()
    passes.notified.clear()
    backlog = [(0, 0, None), (1, 4, 2000.0), (2, 0, None), (3, 1, 1000.0)]
    passes.run(process, RuntimeError, backlog=lambda sacks_: backlog)
    assert visited == [3, 1]
