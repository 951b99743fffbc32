"""``GET /v1/status`` as upstream answers it, with what an operator reads
progress from in its storage summary:

- ``oldest_measure_age``: seconds the oldest waiting measure has waited
  (from the incoming driver's report; None when nothing waits, or on
  Redis, whose lists keep no arrival time);
- ``processing_rate``: measures and metrics per second over the last
  minute, summed over the processing workers that publish their rates
  (ours, where the coordination backend keeps capabilities); None when
  none does. It is the throughput observed, idle time included: after a
  quiet minute it is low whatever the workers could do;
- ``drain_estimate``: seconds until the metrics now waiting are processed
  at that rate (a pass takes all of a metric's waiting measures at once,
  so metrics, not blobs, are what drains); 0 when nothing waits, None
  when the rate is unknown, nil, or not published by every processor
  (upstream's workers publish none: the sum would undercount).

Upstream's keys and their counts are unchanged (its tests count them).
"""
from __future__ import annotations

import pecan
from gnocchi.rest import api as upstream_api

from gnocchi_rs import sacks

_upstream_get = upstream_api.StatusController.get


def with_progress(report):
    """``report`` (upstream's status answer) with the progress keys."""
    summary = report.get("storage", {}).get("summary")
    if summary is None:
        return report
    summary.setdefault("oldest_measure_age", None)
    statistics = (report.get("metricd") or {}).get("statistics") or {}
    published = [s for s in statistics.values()
                 if isinstance(s, dict) and sacks.METRICS_RATE in s]
    if not published:
        summary["processing_rate"] = None
        rate = None
    else:
        rate = sum(float(s[sacks.METRICS_RATE]) for s in published)
        summary["processing_rate"] = {
            sacks.MEASURES_RATE: round(sum(
                float(s.get(sacks.MEASURES_RATE, 0)) for s in published), 3),
            sacks.METRICS_RATE: round(rate, 3),
        }
    processors = (report.get("metricd") or {}).get("processors") or ()
    complete = len(published) >= len(processors)
    waiting = summary.get("metrics") or 0
    if not waiting:
        summary["drain_estimate"] = 0
    elif rate and complete:
        summary["drain_estimate"] = round(waiting / rate, 1)
    else:
        summary["drain_estimate"] = None
    return report


class StatusController(upstream_api.StatusController):
    @staticmethod
    @pecan.expose("json")
    def get(details=True):
        return with_progress(_upstream_get(details))


def install(root):
    """Serve /v1/status of the V1 controller ``root`` with progress."""
    if isinstance(getattr(root, "status", None),
                  upstream_api.StatusController):
        root.status = StatusController()
