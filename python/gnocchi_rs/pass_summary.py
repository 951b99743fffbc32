"""Metricd's account of its work at INFO: one line per period at most,
none while there is nothing to do (upstream logs nothing between its
backlog reports, and each sack at DEBUG).

Loads no part of upstream Gnocchi (the lean sack worker uses it).
"""
from __future__ import annotations

import logging
import time

LOG = logging.getLogger("gnocchi.rs.metricd")

# Seconds between two summaries of one worker.
PERIOD = 60.0


class PassSummary:
    """Counts the passes of one worker and logs what they did, with the
    rates an operator reads progress from."""

    def __init__(self, period=PERIOD, clock=time.monotonic, log=LOG):
        self.period = period
        self.clock = clock
        self.log = log
        self._since = clock()
        self._measures_before = 0
        self._metrics = self._measures = self._sacks = 0
        # (measures/s, metrics/s) over the last whole period; None before.
        self.rates = None

    def add(self, metrics, sacks, measures_so_far):
        """A pass processed ``metrics`` metrics from ``sacks`` sacks;
        ``measures_so_far``: the worker's count of processed measures
        since it started (its statistics' "processed measures")."""
        self._metrics += metrics
        self._sacks += sacks
        self._measures = measures_so_far - self._measures_before
        now = self.clock()
        elapsed = now - self._since
        if elapsed < self.period:
            return
        self.rates = (self._measures / elapsed, self._metrics / elapsed)
        if self._metrics:
            self.log.info(
                "Processed %d measures of %d metrics from %d sacks in the "
                "last %.0fs: %.1f measures/s, %.1f metrics/s",
                self._measures, self._metrics, self._sacks, elapsed,
                self._measures / elapsed, self._metrics / elapsed)
        self._since = now
        self._measures_before = measures_so_far
        self._metrics = self._measures = self._sacks = 0
