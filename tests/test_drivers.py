"""rs-file, rs-redis and rs-ceph against upstream's file, redis and ceph
drivers, on real directories, a real redis-server and a real single-node
Ceph cluster: same bytes for the same batches,
data written by one read by the other (a sack processed half by each),
and faults that lose nothing."""
from __future__ import annotations

import logging
import os
import shutil
import time
import uuid

import numpy
import pytest
import redis as redis_py
from gnocchi import incoming as up_incoming
from gnocchi import storage as up_storage

import driver_harness as h

NUM_SACKS = 8


class Backend:
    """Fresh stores of one backend, with drivers of either side on them."""

    def __init__(self, kind, tmp_path, redis_url=None, ceph=None):
        self.kind = kind
        self.tmp_path = tmp_path
        self.redis_url = redis_url
        self.ceph = ceph
        self.counter = 0

    def fresh(self):
        self.counter += 1
        if self.kind == "file":
            path = self.tmp_path / ("store%d" % self.counter)
            path.mkdir()
            return h.make_conf(basepath=str(path))
        if self.kind == "ceph":
            return h.make_conf(ceph_conffile=self.ceph.conffile,
                               ceph_pool=self.ceph.new_pool())
        client = redis_py.Redis.from_url(self.redis_url)
        client.flushall()
        return h.make_conf(redis_url=self.redis_url)

    def drivers(self, conf, side):
        storage_cls, incoming_cls = h.DRIVERS[(self.kind, side)]
        storage, incoming = storage_cls(conf), incoming_cls(conf)
        storage.upgrade()
        incoming.upgrade(NUM_SACKS)
        return storage, incoming

    def dump(self, conf):
        if self.kind == "file":
            return h.dump_file_storage(conf.file_basepath)
        if self.kind == "ceph":
            return h.dump_ceph_pool(self.ceph.ioctx(conf.ceph_pool))
        return h.dump_redis_storage(redis_py.Redis.from_url(self.redis_url))


@pytest.fixture(params=["file", "redis", "ceph"])
def backend(request, tmp_path):
    url = request.getfixturevalue("redis_url") if request.param == "redis" \
        else None
    ceph = request.getfixturevalue("ceph_cluster") \
        if request.param == "ceph" else None
    return Backend(request.param, tmp_path, url, ceph)


def run_batches(backend, conf, batches, metrics, choose):
    """``choose(batch index, sack number)`` → ("upstream"|"rs") for the
    writer of the batch and the processor of each sack."""
    drivers = {side: backend.drivers(conf, side) for side in ("upstream", "rs")}
    for i, batch in enumerate(batches):
        _, writer = drivers[choose(i, None)]
        writer.add_measures_batch(batch)
        for sack in writer.iter_sacks():
            storage, incoming = drivers[choose(i, sack.number)]
            by_id = {m.id: m for m in metrics}
            with incoming.process_measures_for_sack(sack) as measures:
                if measures:
                    storage.add_measures_to_metrics(
                        {by_id[k]: v for k, v in measures.items()},
                        h.IndexerLog())
    return drivers


def read_everything(storage, metrics, **kwargs):
    out = {}
    for metric in metrics:
        aggs = metric.archive_policy.aggregations
        result = storage.get_aggregated_measures({metric: aggs}, **kwargs)
        for agg, ts in result[metric].items():
            out[(metric.id, agg.method, str(agg.granularity))] = (
                ts.ts["timestamps"].tolist(),
                ts.ts["values"].tobytes())
    return out


@pytest.fixture(scope="module")
def workload():
    metrics = h.make_metrics(10)
    return metrics, h.workload(metrics, 14)


def test_same_bytes_as_upstream(backend, workload):
    metrics, batches = workload
    up_conf = backend.fresh()
    run_batches(backend, up_conf, batches, metrics, lambda i, s: "upstream")
    upstream_bytes = backend.dump(up_conf)
    upstream_reads = read_everything(h.DRIVERS[(backend.kind, "upstream")][0](
        up_conf), metrics)

    rs_conf = backend.fresh()
    drivers = run_batches(backend, rs_conf, batches, metrics, lambda i, s: "rs")
    rs_bytes = backend.dump(rs_conf)
    # Splits were deleted along the way (timespans) and many were written.
    assert len(rs_bytes) > 10 * len(metrics)
    assert sorted(rs_bytes) == sorted(upstream_bytes)
    assert rs_bytes == upstream_bytes
    assert read_everything(drivers["rs"][0], metrics) == upstream_reads
    # The native path really ran: its statistics count every metric batch.
    assert drivers["rs"][0].statistics["raw measures store"] > 0
    assert drivers["upstream"][0].statistics["raw measures store"] == 0


def test_mixed_processing_gives_the_same_bytes(backend, workload):
    metrics, batches = workload
    up_conf = backend.fresh()
    run_batches(backend, up_conf, batches, metrics, lambda i, s: "upstream")
    expected = backend.dump(up_conf)

    mixed_conf = backend.fresh()

    def choose(i, sack):
        # Writers alternate per batch; each sack is processed half the
        # time by each side, and a different half at every batch.
        if sack is None:
            return "rs" if i % 2 else "upstream"
        return "rs" if (sack + i) % 2 else "upstream"
    run_batches(backend, mixed_conf, batches, metrics, choose)
    assert backend.dump(mixed_conf) == expected


def test_read_path_matches_upstream(backend, workload):
    metrics, batches = workload
    conf = backend.fresh()
    drivers = run_batches(backend, conf, batches[:6], metrics,
                          lambda i, s: "rs")
    rs_storage, up_storage_ = drivers["rs"][0], drivers["upstream"][0]
    start = numpy.datetime64(1_400_000_000 + 3000, "s")
    stop = numpy.datetime64(1_400_000_000 + 9000, "s")
    for kwargs in ({}, {"from_timestamp": start},
                   {"from_timestamp": start, "to_timestamp": stop},
                   {"resample": numpy.timedelta64(2, "h")}):
        assert (read_everything(rs_storage, metrics, **kwargs)
                == read_everything(up_storage_, metrics, **kwargs)), kwargs
    unknown = h.make_metrics(1, seed=99)[0]
    with pytest.raises(up_storage.MetricDoesNotExist):
        rs_storage.get_aggregated_measures(
            {unknown: unknown.archive_policy.aggregations})


def test_incoming_written_by_one_read_by_the_other(backend, workload):
    metrics, batches = workload
    conf = backend.fresh()
    _, up_in = backend.drivers(conf, "upstream")
    _, rs_in = backend.drivers(conf, "rs")
    up_in.add_measures_batch(batches[0])
    rs_in.add_measures_batch(batches[1])
    ids = [m.id for m in metrics]
    assert all(rs_in.has_unprocessed(i) for i in ids)
    up_report = up_in.measures_report(details=True)
    rs_report = rs_in.measures_report(details=True)
    # Ours adds the backlog's age to upstream's summary.
    age = rs_report["summary"].pop("oldest_measure_age")
    if backend.kind == "redis":
        assert age is None
    else:
        assert 0 <= age < 120
    assert rs_report == up_report
    assert rs_report["summary"]["measures"] == 2 * len(metrics)

    def canonical(a):
        return sorted(zip(a["timestamps"].astype("<i8").tolist(),
                          a["values"].view("<u8").tolist()))

    with up_in.process_measure_for_metrics(ids) as up_seen:
        pass_through = {k: canonical(v) for k, v in up_seen.items()}
    if backend.kind == "ceph":
        # Upstream's Ceph driver removes, per sack, only the keys of the
        # last metric it read (its receipt is keyed by sack); the rest
        # would be processed again. Ours removes what it read.
        assert up_in.measures_report()["summary"]["measures"] > 0
        for i in ids:
            up_in.delete_unprocessed_measures_for_metric(i)
    # Upstream consumed them; write again and let ours read.
    up_in.add_measures_batch(batches[0])
    rs_in.add_measures_batch(batches[1])
    with rs_in.process_measure_for_metrics(ids) as rs_seen:
        assert {k: canonical(v) for k, v in rs_seen.items()} == pass_through
    assert not any(rs_in.has_unprocessed(i) for i in ids)
    assert rs_in.measures_report()["summary"]["measures"] == 0


def test_backlog_per_sack_as_written(backend, workload):
    """The sacks' backlog (what passes and /v1/status read): blobs per
    sack as upstream's writer left them, and their arrival time where the
    names keep it (file, Ceph)."""
    metrics, batches = workload
    conf = backend.fresh()
    _, up_in = backend.drivers(conf, "upstream")
    _, rs_in = backend.drivers(conf, "rs")
    before = int(time.time())
    up_in.add_measures_batch(batches[0])
    rs_in.add_measures_batch(batches[1])
    after = int(time.time())
    sacks = list(rs_in.iter_sacks())
    expected = [0] * len(sacks)
    for metric in metrics:
        expected[rs_in.sack_for_metric(metric.id).number] += 2
    backlog = rs_in.sack_backlog(str(s) for s in sacks)
    assert [blobs for blobs, _ in backlog] == expected
    for blobs, oldest in backlog:
        if backend.kind == "redis" or not blobs:
            assert oldest is None
        else:
            # Names keep whole UTC seconds.
            assert before - 1 <= oldest <= after
    for sack in sacks:
        with rs_in.process_measures_for_sack(sack):
            pass
    assert rs_in.sack_backlog(str(s) for s in sacks) == \
        [(0, None)] * len(sacks)
    assert rs_in.measures_report()["summary"]["oldest_measure_age"] is None


def test_failed_block_keeps_measures(backend, workload):
    metrics, batches = workload
    conf = backend.fresh()
    storage, incoming = backend.drivers(conf, "rs")
    incoming.add_measures_batch(batches[0])
    sack = incoming.sack_for_metric(metrics[0].id)
    with pytest.raises(RuntimeError):
        with incoming.process_measures_for_sack(sack) as measures:
            assert measures
            raise RuntimeError("storage failed")
    with incoming.process_measures_for_sack(sack) as measures:
        assert measures, "measures were deleted although processing failed"


def test_backend_error_midway_loses_nothing(tmp_path, workload):
    """A write fails in the middle of a batch: the batch raises, its
    measures stay, and the next pass gives the same bytes as if nothing
    had happened."""
    metrics, batches = workload
    backend = Backend("file", tmp_path)
    expected_conf = backend.fresh()
    run_batches(backend, expected_conf, batches[:3], metrics,
                lambda i, s: "rs")
    expected = backend.dump(expected_conf)

    conf = backend.fresh()
    run_batches(backend, conf, batches[:2], metrics, lambda i, s: "rs")
    storage, incoming = backend.drivers(conf, "rs")
    incoming.add_measures_batch(batches[2])
    victim = metrics[1]
    # A directory where a split file must go: the rename fails (EISDIR).
    key_dir = os.path.join(storage._build_metric_dir(victim), "agg_mean")
    names = sorted(os.listdir(key_dir))
    blocker = os.path.join(key_dir, names[-1])
    os.rename(blocker, blocker + ".saved")
    os.mkdir(blocker)
    by_id = {m.id: m for m in metrics}
    failures = 0
    for sack in incoming.iter_sacks():
        try:
            with incoming.process_measures_for_sack(sack) as measures:
                if measures:
                    storage.add_measures_to_metrics(
                        {by_id[k]: v for k, v in measures.items()},
                        h.IndexerLog())
        except up_storage.StorageError:
            failures += 1
    assert failures == 1
    assert incoming.has_unprocessed(victim.id)
    os.rmdir(blocker)
    os.rename(blocker + ".saved", blocker)
    h.process_all(incoming, storage, metrics)
    assert not incoming.has_unprocessed(victim.id)
    assert backend.dump(conf) == expected


def test_corrupt_blobs_are_logged_and_replaced(tmp_path, workload, caplog):
    metrics, batches = workload
    backend = Backend("file", tmp_path)
    conf = backend.fresh()
    storage, incoming = backend.drivers(conf, "rs")
    run_batches(backend, conf, batches[:2], metrics, lambda i, s: "rs")
    victim = metrics[1]
    metric_dir = storage._build_metric_dir(victim)
    with open(os.path.join(metric_dir, "none_v3"), "wb") as f:
        f.write(b"\x00garbage")
    split_dir = os.path.join(metric_dir, "agg_max")
    for name in os.listdir(split_dir):
        with open(os.path.join(split_dir, name), "wb") as f:
            f.write(b"c\xff\xff\xff\x7fnot lz4")
    # And an incoming blob that is not whole records.
    sack_dir = os.path.join(conf.file_basepath,
                            str(incoming.sack_for_metric(victim.id)),
                            str(victim.id))
    os.makedirs(sack_dir, exist_ok=True)
    with open(os.path.join(sack_dir, "%s_torn" % uuid.uuid4()), "wb") as f:
        f.write(b"x" * 17)
    incoming.add_measures_batch(batches[2])
    with caplog.at_level(logging.ERROR):
        h.process_all(incoming, storage, metrics)
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "unaggregated timeserie" in messages
    assert "aggregated splits" in messages
    assert "Unable to decode measures" in messages
    assert not incoming.has_unprocessed(victim.id)
    # The torn blob was set aside, not deleted.
    assert any(n.startswith("corrupt-") for n in
               os.listdir(os.path.join(conf.file_basepath, "tmp")))
    # The metric works again: its newest measures are readable.
    result = storage.get_aggregated_measures(
        {victim: victim.archive_policy.aggregations})[victim]
    assert all(len(ts) > 0 for agg, ts in result.items()
               if agg.method in ("mean", "max"))


def test_unknown_sack_entries_do_not_block(tmp_path, workload):
    metrics, batches = workload
    backend = Backend("file", tmp_path)
    conf = backend.fresh()
    storage, incoming = backend.drivers(conf, "rs")
    os.makedirs(os.path.join(conf.file_basepath, "incoming%d-0" % NUM_SACKS,
                             "not-a-uuid"))
    incoming.add_measures_batch(batches[0])
    h.process_all(incoming, storage, metrics)
    assert incoming.measures_report()["summary"]["measures"] == 0
    shutil.rmtree(conf.file_basepath)


def test_empty_measures_are_skipped(tmp_path, workload):
    metrics, _ = workload
    backend = Backend("file", tmp_path)
    conf = backend.fresh()
    storage, _ = backend.drivers(conf, "rs")
    empty = numpy.array([], dtype=up_incoming.TIMESERIES_ARRAY_DTYPE) \
        if hasattr(up_incoming, "TIMESERIES_ARRAY_DTYPE") else \
        numpy.array([], dtype=[("timestamps", "<datetime64[ns]"),
                               ("values", "<d")])
    storage.add_measures_to_metrics({metrics[0]: empty}, h.IndexerLog())
    assert storage.statistics["processed measures"] == 0


def test_redis_bad_blob_spoils_only_itself(redis_url, tmp_path, workload,
                                           caplog):
    metrics, batches = workload
    backend = Backend("redis", tmp_path, redis_url)
    conf = backend.fresh()
    storage, incoming = backend.drivers(conf, "rs")
    victim = metrics[1]
    incoming.add_measures_batch({victim.id: batches[0][victim.id]})
    key = "%s:%s" % (incoming.sack_for_metric(victim.id), victim.id)
    redis_py.Redis.from_url(redis_url).rpush(key, b"x" * 17)
    incoming.add_measures_batch({victim.id: batches[1][victim.id]})
    with caplog.at_level(logging.ERROR):
        h.process_all(incoming, storage, metrics)
    assert "Unable to decode measures" in " ".join(
        r.getMessage() for r in caplog.records)
    assert not incoming.has_unprocessed(victim.id)
    # Both good blobs were processed: the newest measure of each is there.
    newest = max(m.timestamp for m in batches[1][victim.id])
    mean_1s = [a for a in victim.archive_policy.aggregations
               if a.method == "mean"][0]
    ts = storage.get_aggregated_measures({victim: [mean_1s]})[victim][mean_1s]
    assert ts.ts["timestamps"][-1] == newest.astype("datetime64[s]")
