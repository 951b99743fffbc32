"""The librados layer and the rs-ceph drivers on a real cluster: objects
larger than one read, errors that reach Python as upstream's types, and a
cluster that cannot be reached."""
from __future__ import annotations

import os
import uuid

import numpy
import pytest
from gnocchi import incoming as up_incoming
from gnocchi import storage as up_storage

import driver_harness as h
from gnocchi_rs import _native
from gnocchi_rs.incoming import ceph as rs_incoming
from gnocchi_rs.storage import ceph as rs_storage


@pytest.fixture
def pool(ceph_cluster):
    return _native.RadosPool(ceph_cluster.new_pool(),
                             conffile=ceph_cluster.conffile)


def test_objects_larger_than_one_read(pool):
    big = os.urandom(3 * 1024 * 1024 + 17)
    pool.write_full("big", big)
    pool.write_full("empty", b"")
    assert pool.read(["big", "missing", "empty"]) == [big, None, b""]
    pool.remove(["big", "missing"])
    assert pool.read(["big"]) == [None]


def test_omap_of_missing_object_is_none(pool):
    assert pool.omap("nothing-here") is None


def test_fsid_is_the_clusters(pool, ceph_cluster):
    assert pool.get_fsid() == ceph_cluster.rados.get_fsid()


def test_missing_pool_is_a_storage_error(ceph_cluster):
    with pytest.raises(up_storage.StorageError, match="opening pool"):
        _native.RadosPool("no-such-pool-" + uuid.uuid4().hex,
                          conffile=ceph_cluster.conffile)


def test_unreadable_conffile_is_a_storage_error(tmp_path):
    with pytest.raises(up_storage.StorageError, match="reading"):
        _native.RadosPool("gnocchi", conffile=str(tmp_path / "nope.conf"))


def test_unreachable_cluster_times_out(tmp_path):
    conf = tmp_path / "ceph.conf"
    # A monitor address nothing listens on.
    conf.write_text("[global]\nmon host = v1:127.0.0.1:9\nauth client "
                    "required = none\n")
    with pytest.raises(up_storage.StorageError, match="connecting"):
        _native.RadosPool("gnocchi", conffile=str(conf), timeout="2")


def test_long_series_round_trips(ceph_cluster):
    """20000 points in one batch through the whole pipeline."""
    conf = h.make_conf(ceph_conffile=ceph_cluster.conffile,
                       ceph_pool=ceph_cluster.new_pool())
    storage = rs_storage.CephStorage(conf)
    inc = rs_incoming.CephStorage(conf)
    inc.upgrade(4)
    metric = h.make_metrics(2)[1]   # the busy policy: 1 s granularity
    start = numpy.datetime64(1_400_000_000, "s")
    stamps = start + numpy.arange(20000) * numpy.timedelta64(1, "s")
    inc.add_measures_batch({metric.id: [
        up_incoming.Measure(t, float(i)) for i, t in enumerate(stamps)]})
    h.process_all(inc, storage, [metric])
    result = storage.get_aggregated_measures(
        {metric: metric.archive_policy.aggregations})[metric]
    by_key = {(a.method, a.granularity): ts for a, ts in result.items()}
    per_second = by_key[("max", numpy.timedelta64(1, "s"))]
    # 5400 points kept at 1 s: the last 5400 values.
    assert len(per_second) == 5400
    assert per_second["values"][-1] == 19999.0
    assert inc.measures_report(False)["summary"]["measures"] == 0


def test_polling_finds_sacks_with_measures(ceph_cluster):
    conf = h.make_conf(ceph_conffile=ceph_cluster.conffile,
                       ceph_pool=ceph_cluster.new_pool())
    inc = rs_incoming.CephStorage(conf)
    inc.upgrade(8)
    inc.POLL_SECONDS = 0.01
    metric = h.make_metrics(1)[0]
    inc.add_measures(metric.id, [up_incoming.Measure(
        numpy.datetime64(1_400_000_000, "s"), 1.0)])
    sack = next(iter(inc.iter_on_sacks_to_process()))
    assert sack == inc.sack_for_metric(metric.id)
