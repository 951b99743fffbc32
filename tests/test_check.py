"""gnocchi-rs check: on a populated store (written by rs-file, upstream's
file driver or rs-redis), a clean run finds nothing; with 1% of the
objects corrupted (truncated, a header byte flipped, renamed to another
version) it finds every one and nothing else; --repair moves them aside,
rebuilds what the raw series holds, and afterwards upstream's reader and
ours read every metric without error and check finds nothing."""
import os
import subprocess
import sys
import uuid

import numpy
import pytest

import rest_harness
from gnocchi_rs import check
from gnocchi_rs.check import stores

BIN = os.path.dirname(sys.executable)
METRICS = 100
DAY = 1440


def _conf(directory, writer, redis_url, ceph):
    from gnocchi import service
    from oslo_config import cfg

    if writer == "rs-ceph":
        backend = "driver = rs-ceph\nceph_conffile = %s\nceph_pool = %s" % (
            ceph.conffile, ceph.new_pool())
    elif writer == "rs-redis":
        # A database of its own, named as upstream's URL options do.
        base = redis_url.split("?")[0].rstrip("/")
        url = base + "?db=8"
        import redis
        redis.Redis.from_url(base + "/8").flushdb()
        backend = "driver = rs-redis\nredis_url = %s" % url
    else:
        backend = "driver = %s\nfile_basepath = %s/storage" % (writer,
                                                               directory)
    path = os.path.join(directory, "gnocchi.conf")
    with open(path, "w") as f:
        f.write("[DEFAULT]\ncoordination_url = file://{d}/coordination\n"
                "[indexer]\nurl = sqlite:///{d}/index.sqlite\n"
                "[storage]\n{b}\n[incoming]\n{b}\n".format(d=directory,
                                                           b=backend))
    return path, service.prepare_service(
        args=["--config-file", path], conf=cfg.ConfigOpts(),
        skip_log_opts=True)


@pytest.fixture(params=["rs-file", "file", "rs-redis", "rs-ceph"])
def populated(request, tmp_path):
    """A store of 100 metrics (medium policy: 2 granularities x 6
    methods) with a day at 60 s processed each, and a few measures
    pending; (conf path, conf, index, store)."""
    from gnocchi import chef
    from gnocchi import incoming
    from gnocchi import storage
    from tooz import coordination

    redis_url = request.getfixturevalue("redis_url") \
        if request.param == "rs-redis" else None
    ceph = request.getfixturevalue("ceph_cluster") \
        if request.param == "rs-ceph" else None
    path, conf = _conf(str(tmp_path), request.param, redis_url, ceph)
    index = rest_harness.set_up(conf)
    ids = [uuid.uuid4() for _ in range(METRICS)]
    for metric_id in ids:
        index.create_metric(metric_id, "admin", archive_policy_name="medium")
    inc = incoming.get_driver(conf)
    start = numpy.datetime64("2026-12-06T00:00:00", "ns")
    rng = numpy.random.default_rng(3)
    times = start + numpy.arange(DAY) * numpy.timedelta64(60, "s")
    for metric_id in ids:
        inc.add_measures(metric_id, [
            _measure(t, v) for t, v in zip(times, rng.normal(50, 5, DAY))])
    coord = coordination.get_coordinator(conf.coordination_url, b"t")
    coord.start(start_heart=True)
    chef.Chef(coord, inc, index, storage.get_driver(conf)).refresh_metrics(
        index.list_metrics(details=True), timeout=120, sync=True)
    coord.stop()
    for metric_id in ids[:5]:
        inc.add_measures(metric_id, [_measure(times[-1], 1.0)])
    store, incoming = stores.for_conf(conf)
    yield path, conf, index, (store, incoming)
    index.disconnect()


def _measure(timestamp, value):
    from gnocchi import incoming

    return incoming.Measure(timestamp, value)


def _all_objects(store):
    locations = store.metric_locations()
    return locations, [(metric, method, name, blob)
                       for metric, objects in store.contents(locations).items()
                       for method, name, blob in objects]


def _corrupt(store, rng):
    """1% of the objects, each one way; {(metric, method, name): how}."""
    locations, objects = _all_objects(store)
    chosen = rng.choice(len(objects), size=max(3, len(objects) // 100),
                        replace=False)
    corrupted = {}
    for i, at in enumerate(sorted(chosen)):
        metric, method, name, blob = objects[at]
        how = ("truncated", "header flipped", "wrong version")[i % 3]
        if how == "truncated":
            keep = int(rng.integers(1, len(blob)))
            if blob[:1] in (b"\x00", b"\x01") and keep % 9 == 0:
                # A padded split (Ceph's mutable ones) cut at a record
                # boundary reads as a shorter split: no checksum tells.
                keep -= 1
            store.write(locations, metric, method, name, blob[:keep])
        elif how == "header flipped":
            # A split's first byte (the compressed mark, or a padded
            # record's flag), or the raw series' lz4 stored size.
            at_byte = 1 if name.startswith("none") else 0
            flipped = bytearray(blob)
            flipped[at_byte] ^= 0xFF
            store.write(locations, metric, method, name, bytes(flipped))
        else:
            store.write(locations, metric, method, name[:-3] + "_v2", blob)
            store.quarantine(locations, metric, method, name)
            name = name[:-3] + "_v2"
        corrupted[(metric, method, name)] = how
    return corrupted


def _read_everything(conf, index, driver):
    from gnocchi import storage

    conf.set_override("driver", driver, "storage")
    reader = storage.get_driver(conf)
    for metric in index.list_metrics(details=True):
        aggregations = metric.archive_policy.aggregations
        reader.get_aggregated_measures({metric: aggregations})


def test_a_clean_store_is_sound(populated):
    path, conf, index, (store, incoming) = populated
    report = check.check(index, store, incoming)
    assert report.findings == []
    assert report.metrics == METRICS
    # The raw series and 11 splits: std of one point per minute is none.
    assert report.objects == METRICS * 12
    assert report.points > METRICS * DAY
    assert report.incoming_blobs == 5


def test_corruption_is_found_repaired_and_everything_reads(populated):
    path, conf, index, (store, incoming) = populated
    corrupted = _corrupt(store, numpy.random.default_rng(11))
    report = check.check(index, store, incoming)
    found = {(f.metric, f.method, f.name): f for f in report.findings
             if f.name is not None}
    assert set(found) == set(corrupted)
    for where, how in corrupted.items():
        expected = "wrong version" if how == "wrong version" \
            else "undecodable"
        assert found[where].problem == expected, (where, how)
    # A renamed object leaves its aggregation without a split, and
    # nothing else is reported.
    renamed = {m for (m, _, _), how in corrupted.items()
               if how == "wrong version"}
    assert {f.metric for f in report.findings if f.name is None} <= renamed

    repaired = check.check(index, store, incoming, repair=True)
    assert all(f.repaired for f in repaired.findings if f.name)
    damaged_splits = [w for w, how in corrupted.items()
                      if how != "wrong version" and "none" not in w[2]]
    # Every split here is its aggregation's latest: the raw series (the
    # last hour) rebuilds part of it; a renamed one is rebuilt likewise.
    missing = [f for f in repaired.findings if f.problem == "missing splits"]
    assert len(repaired.rebuilt) == len(damaged_splits) + len(missing)
    assert all(f.repaired for f in missing)

    kind = conf.storage.driver.replace("rs-", "")
    _read_everything(conf, index, "rs-" + kind)
    _read_everything(conf, index, kind)
    after = check.check(index, store, incoming)
    assert after.findings == []


def test_orphans_are_found_and_moved_aside(populated):
    path, conf, index, (store, incoming) = populated
    metrics = sorted(str(m.id) for m in index.list_metrics())
    orphan, deleting = metrics[0], metrics[1]
    index.expunge_metric(uuid.UUID(orphan))  # gone, its data left behind
    index.delete_metric(uuid.UUID(deleting))  # waiting for the janitor
    report = check.check(index, store, incoming)
    assert [(f.problem, f.metric) for f in report.findings] == [
        ("orphan", orphan)]
    repaired = check.check(index, store, incoming, repair=True)
    assert repaired.findings[0].repaired.startswith("moved to")
    assert orphan not in store.metric_locations()
    assert deleting in store.metric_locations()
    assert check.check(index, store, incoming).findings == []


def test_the_command(populated):
    path, conf, index, (store, incoming) = populated
    gnocchi_rs = os.path.join(BIN, "gnocchi-rs")
    clean = subprocess.run([gnocchi_rs, "check", "--config-file", path],
                           capture_output=True, text=True)
    assert clean.returncode == 0, clean.stderr
    assert "%d metrics" % METRICS in clean.stdout and "sound" in clean.stdout
    locations, objects = _all_objects(store)
    metric, method, name, _ = objects[0]
    store.write(locations, metric, method, name, b"garbage")
    found = subprocess.run([gnocchi_rs, "check", "--config-file", path],
                           capture_output=True, text=True)
    assert found.returncode == 1
    assert "undecodable" in found.stdout and metric in found.stdout
    assert "--repair" in found.stdout
    fixed = subprocess.run([gnocchi_rs, "check", "--repair", "--quiet",
                            "--config-file", path],
                           capture_output=True, text=True)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "moved to" in fixed.stdout
    again = subprocess.run([gnocchi_rs, "check", "--config-file", path],
                           capture_output=True, text=True)
    assert again.returncode == 0, again.stdout
