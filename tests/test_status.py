"""/v1/status: upstream's answer, its storage summary with the backlog's
age, the processing rate the workers publish and a drain estimate."""
from __future__ import annotations

import base64
import time
import uuid

import pytest
from gnocchi import incoming
from gnocchi import utils

import rest_harness
from gnocchi_rs import sacks
from gnocchi_rs.rest import status

ADMIN = {"Authorization": "Basic " + base64.b64encode(b"admin:").decode()}


@pytest.fixture
def apps(tmp_path):
    metric = uuid.uuid4()
    pending = {metric: [incoming.Measure(
        utils.dt_in_unix_ns(utils.utcnow()), 1.0)]}
    return rest_harness.side_by_side(
        str(tmp_path), (), "r1", [(metric, "low", "m")], {}, pending)


def test_status_keeps_upstreams_keys_and_adds_progress(apps):
    upstream, ours = apps
    theirs = upstream.get("/v1/status", headers=ADMIN).json
    before = time.time()
    answer = ours.get("/v1/status", headers=ADMIN).json
    # gabbi's base.yaml counts these.
    assert len(answer["storage"]) == 2 and len(answer["metricd"]) == 2
    summary = answer["storage"].pop("summary")
    their_summary = theirs["storage"].pop("summary")
    assert answer["storage"] == theirs["storage"]
    assert answer["metricd"] == theirs["metricd"]
    for key in ("metrics", "measures"):
        assert summary.pop(key) == their_summary.pop(key) == 1
    assert their_summary == {}
    assert 0 <= summary["oldest_measure_age"] <= 60 + time.time() - before
    # Nobody publishes a rate (file coordination keeps no capabilities).
    assert summary["processing_rate"] is None
    assert summary["drain_estimate"] is None
    no_details = ours.get("/v1/status?details=False", headers=ADMIN).json
    assert len(no_details["storage"]) == 1
    assert "oldest_measure_age" in no_details["storage"]["summary"]
    # Upstream's policy: only admin reads the status.
    user = {"Authorization": "Basic " + base64.b64encode(b"bob:").decode()}
    assert ours.get("/v1/status", headers=user, status=403).body == \
        upstream.get("/v1/status", headers=user, status=403).body


def test_progress_from_the_published_rates():
    report = {"storage": {"summary": {"metrics": 300, "measures": 900}},
              "metricd": {"processors": ["a", "b", "c"], "statistics": {
                  "a": {sacks.MEASURES_RATE: 100.0,
                        sacks.METRICS_RATE: 10.0},
                  "b": {sacks.MEASURES_RATE: 50.5, sacks.METRICS_RATE: 5.0},
                  # An upstream worker publishes no rate.
                  "c": {"processed measures": 12}}}}
    summary = status.with_progress(report)["storage"]["summary"]
    assert summary["processing_rate"] == {sacks.MEASURES_RATE: 150.5,
                                          sacks.METRICS_RATE: 15.0}
    # The upstream worker's share is unknown: no estimate.
    assert summary["drain_estimate"] is None
    assert summary["oldest_measure_age"] is None
    del report["metricd"]["statistics"]["c"]
    report["metricd"]["processors"].remove("c")
    summary = status.with_progress(report)["storage"]["summary"]
    assert summary["drain_estimate"] == 20.0
    report["storage"]["summary"]["metrics"] = 0
    assert status.with_progress(report)["storage"]["summary"][
        "drain_estimate"] == 0
    stalled = {"storage": {"summary": {"metrics": 5, "measures": 5}},
               "metricd": {"processors": ["a"], "statistics": {
                   "a": {sacks.MEASURES_RATE: 0.0, sacks.METRICS_RATE: 0.0}}}}
    assert status.with_progress(stalled)["storage"]["summary"][
        "drain_estimate"] is None


def test_workers_publish_their_rates():
    import threading

    owned = sacks.Sack.all(2)

    class Assignment:
        partitioned = True

        def sacks(self):
            return owned

    class Coordinator:
        published = []

        def update_capabilities(self, group, capabilities):
            self.published.append(capabilities)

    passes = sacks.SackPasses(Coordinator(), Assignment(), 60.0,
                              threading.Event())
    clock = [0.0]
    passes.summary.clock = lambda: clock[0]
    passes.summary._since = 0.0
    passes.run(lambda sack: 3, RuntimeError)
    passes.after_pass({"processed measures": 30})
    assert sacks.METRICS_RATE not in Coordinator.published[-1]
    clock[0] = 60.0
    passes.run(lambda sack: 3, RuntimeError)
    passes.after_pass({"processed measures": 120})
    assert Coordinator.published[-1][sacks.METRICS_RATE] == 0.2
    assert Coordinator.published[-1][sacks.MEASURES_RATE] == 2.0
    assert Coordinator.published[-1]["processed measures"] == 120
