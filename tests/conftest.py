"""Runs before any test module imports gnocchi: upstream's Ceph drivers,
which the tests compare against, need the system's rados module. Also the
Ceph cluster the tests share."""
import os
import uuid

import pytest

import system_rados

system_rados.expose()

import driver_harness as h  # noqa: E402  (after expose: imports gnocchi)


class CephCluster:
    """The cluster, and upstream's rados module to make pools and look at
    them (only the tests use it; gnocchi-rs does not)."""

    def __init__(self, conffile):
        import rados
        self.conffile = conffile
        self.rados = rados.Rados(conffile=conffile)
        self.rados.connect()
        self.pools = []

    def new_pool(self):
        name = "test-" + uuid.uuid4().hex[:12]
        self.rados.create_pool(name)
        self.pools.append(name)
        return name

    def ioctx(self, pool):
        return self.rados.open_ioctx(pool)

    def close(self):
        for name in self.pools:
            try:
                self.rados.delete_pool(name)
            except Exception:  # a cluster going away takes its pools
                pass
        self.rados.shutdown()


@pytest.fixture(scope="session")
def ceph_cluster(tmp_path_factory):
    conffile = os.environ.get("GNOCCHI_RS_CEPH_CONF")
    workdir = None
    if not conffile:
        workdir = str(tmp_path_factory.mktemp("ceph"))
        conffile = h.start_service("ceph", workdir)["GNOCCHI_RS_CEPH_CONF"]
    cluster = CephCluster(conffile)
    try:
        yield cluster
    finally:
        cluster.close()
        if workdir:
            h.stop_services(workdir)
