"""The lean backlog report (upstream's ``MetricReporting``): it only
reads the incoming backend, so it runs lean with any indexer."""
from __future__ import annotations

import logging
import threading
import time

from gnocchi_rs import sacks as sack_sharing
from gnocchi_rs.sack_worker import backends
from gnocchi_rs.sack_worker import settings as schema


class LeanReporter:
    """Every ``metric_reporting_delay`` seconds, how many measures wait in
    how many metrics, logged as upstream logs it; ``settings``: a
    ``settings.Reporter`` or its wire form."""

    log = logging.getLogger("gnocchi.cli.metricd")

    def __init__(self, settings):
        self.settings = schema.from_wire(settings)
        self.interval = float(self.settings.metric_reporting_delay)
        self._shutdown = threading.Event()

    def report_once(self):
        sacks = sack_sharing.Sack.all(int(self.settings.incoming.sacks))
        try:
            counts = self.incoming.report([str(sack) for sack in sacks])
        except Exception:
            self.log.warning("Unable to compute backlog. Retrying at next "
                             "interval.", exc_info=True)
            return None
        measures = sum(n for _, n in counts)
        self.log.info("%d measurements bundles across %d metrics wait to be "
                      "processed.", measures, len(counts))
        return measures, len(counts)

    def stop(self):
        self._shutdown.set()

    def run(self):
        delay = 1
        while not self._shutdown.is_set():
            try:
                self.incoming = backends.open_incoming(self.settings.incoming)
                break
            except Exception:
                self.log.error("Unable to reach the incoming backend, "
                               "retrying in %ds", delay, exc_info=True)
                self._shutdown.wait(delay)
                delay = min(delay * 2, 30)
        while not self._shutdown.is_set():
            started = time.monotonic()
            self.report_once()
            self._shutdown.wait(max(0.0, self.interval
                                    - (time.monotonic() - started)))
