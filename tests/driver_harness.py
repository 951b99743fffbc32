"""Shared pieces of the driver tests: workloads, driver pairs, dumps."""
from __future__ import annotations

import os
import random
import types
import uuid

import numpy
from gnocchi import archive_policy
from gnocchi import incoming as up_incoming
from gnocchi import indexer
from gnocchi.incoming import ceph as up_incoming_ceph
from gnocchi.incoming import file as up_incoming_file
from gnocchi.incoming import redis as up_incoming_redis
from gnocchi.storage import ceph as up_storage_ceph
from gnocchi.storage import file as up_storage_file
from gnocchi.storage import redis as up_storage_redis

from gnocchi_rs.incoming import ceph as rs_incoming_ceph
from gnocchi_rs.incoming import file as rs_incoming_file
from gnocchi_rs.incoming import redis as rs_incoming_redis
from gnocchi_rs.storage import ceph as rs_storage_ceph
from gnocchi_rs.storage import file as rs_storage_file
from gnocchi_rs.storage import redis as rs_storage_redis

S = 10 ** 9

DRIVERS = {
    ("file", "upstream"): (up_storage_file.FileStorage,
                           up_incoming_file.FileStorage),
    ("file", "rs"): (rs_storage_file.FileStorage,
                     rs_incoming_file.FileStorage),
    ("redis", "upstream"): (up_storage_redis.RedisStorage,
                            up_incoming_redis.RedisStorage),
    ("redis", "rs"): (rs_storage_redis.RedisStorage,
                      rs_incoming_redis.RedisStorage),
    ("ceph", "upstream"): (up_storage_ceph.CephStorage,
                           up_incoming_ceph.CephStorage),
    ("ceph", "rs"): (rs_storage_ceph.CephStorage,
                     rs_incoming_ceph.CephStorage),
}


def policies():
    """A policy with deletions, rate and percentiles, and a default one."""
    busy = archive_policy.ArchivePolicy(
        "busy", 0,
        [archive_policy.ArchivePolicyItem(granularity=numpy.timedelta64(1, "s"),
                                          points=5400),
         archive_policy.ArchivePolicyItem(granularity=numpy.timedelta64(60, "s"),
                                          points=240),
         archive_policy.ArchivePolicyItem(granularity=numpy.timedelta64(1, "h"),
                                          points=48)],
        ["mean", "max", "min", "rate:mean", "90pct", "count", "last", "std",
         "median", "sum"])
    low = archive_policy.ArchivePolicy(
        "low", 0,
        [archive_policy.ArchivePolicyItem(granularity=numpy.timedelta64(5, "m"),
                                          points=12 * 24 * 30)],
        ["mean", "min", "max", "sum", "std", "count"])
    return busy, low


class Conf(types.SimpleNamespace):
    pass


def make_conf(basepath=None, redis_url=None, ceph_conffile=None,
              ceph_pool="gnocchi"):
    return Conf(file_basepath=basepath, file_subdir_len=2,
                redis_url=redis_url or "redis://localhost:6379",
                ceph_conffile=ceph_conffile, ceph_pool=ceph_pool,
                ceph_username=None, ceph_keyring=None, ceph_secret=None,
                ceph_timeout="30")


def conf_for(kind, store):
    """A conf for a store named by one string: a directory for file,
    ``<conffile>:<pool>`` for ceph."""
    if kind == "ceph":
        conffile, _, pool = store.rpartition(":")
        return make_conf(ceph_conffile=conffile, ceph_pool=pool)
    return make_conf(basepath=store)


class IndexerLog:
    """Records the indexer calls metricd makes (the indexer is not what
    these tests are about; upstream's suites run the real one)."""

    def __init__(self):
        self.last_measure = []

    def update_last_measure_timestamp(self, metric_id):
        self.last_measure.append(metric_id)

    def update_needs_raw_data_truncation(self, metric_id):
        pass


def make_metrics(n, seed=7):
    rng = random.Random(seed)
    busy, low = policies()
    return [indexer.Metric(uuid.UUID(int=rng.getrandbits(128)),
                           busy if i % 3 else low) for i in range(n)]


def workload(metrics, batches, seed=11, start=1_400_000_000):
    """Per batch, {metric id: [Measure]}: moving forward in time, with
    duplicates, NaN, points out of order and some too old to be kept."""
    rng = random.Random(seed)
    out = []
    now = start
    for _ in range(batches):
        batch = {}
        for metric in metrics:
            points = []
            t = now + rng.randint(0, 30)
            for _ in range(rng.randint(1, 120)):
                t += rng.choice([1, 1, 2, 3, 7, 30])
                value = rng.choice([rng.uniform(-1e3, 1e3), rng.randint(0, 9),
                                    float("nan")] if rng.random() < 0.05
                                   else [rng.uniform(-1e3, 1e3)])
                points.append((t, value))
            if rng.random() < 0.3:
                points.append(points[rng.randrange(len(points))])
            if rng.random() < 0.2:
                points.append((now - rng.randint(3600, 20000), 1.0))
            rng.shuffle(points)
            batch[metric.id] = [
                up_incoming.Measure(numpy.datetime64(t * S + rng.choice(
                    [0, 0, 123456]), "ns"), v) for t, v in points]
        out.append(batch)
        now += rng.randint(600, 2400)
    return out


def process_all(incoming_driver, storage_driver, metrics):
    by_id = {m.id: m for m in metrics}
    log = IndexerLog()
    for sack in incoming_driver.iter_sacks():
        with incoming_driver.process_measures_for_sack(sack) as measures:
            if measures:
                storage_driver.add_measures_to_metrics(
                    {by_id[i]: m for i, m in measures.items()}, log)
    return log


def dump_file_storage(basepath):
    """{relative path: bytes} of the aggregate storage (no incoming, no
    temporary files)."""
    out = {}
    for root, _, files in os.walk(basepath):
        rel = os.path.relpath(root, basepath)
        top = rel.split(os.sep)[0]
        if top == "tmp" or top.startswith("incoming"):
            continue
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                out[os.path.join(rel, name)] = f.read()
    return out


def dump_redis_storage(client, prefix=b"timeseries"):
    out = {}
    for key in client.scan_iter(match=prefix + b":*"):
        for field, value in client.hgetall(key).items():
            out[(key, field)] = value
    return out


def dump_ceph_pool(ioctx):
    """{object name: (bytes, omap)} of a pool, through upstream's rados
    module (``ioctx``), sack objects included."""
    import rados
    out = {}
    for obj in ioctx.list_objects():
        size, _ = ioctx.stat(obj.key)
        data = ioctx.read(obj.key, length=size) if size else b""
        with rados.ReadOpCtx() as op:
            entries, _ = ioctx.get_omap_vals(op, "", "", -1)
            ioctx.operate_read_op(op, obj.key)
            omap = dict(entries)
        out[obj.key] = (data, omap)
    return out
