"""What `gnocchi-rs check` sees of a backend: the stored objects of every
metric (upstream's layout, whoever wrote it), incoming measure blobs, and
the two changes a repair makes, moving an object aside and writing a
rebuilt split. Nothing deletes. One module per backend
(``file_store``, ``redis_store``, ``ceph_store``); this one picks them.

Object names are upstream's: a metric's raw series ``none_v3`` and its
splits ``<key>_<granularity>_v3`` under ``agg_<method>/`` (file) or
``<key>_<method>_<granularity>_v3`` (Redis fields, Ceph object suffixes).
"""
from __future__ import annotations

import re
import uuid

SACK_NAME = re.compile(r"^incoming\d+-\d+$")
QUARANTINE = "quarantine"


def metric_id_of(name):
    """The canonical metric id a directory or key names, or None."""
    try:
        parsed = uuid.UUID(name)
    except (ValueError, AttributeError):
        return None
    return str(parsed) if str(parsed) == name else None


_FILE = ("file", "rs-file")
_REDIS = ("redis", "rs-redis")
_CEPH = ("ceph", "rs-ceph")


def _redis_client(group):
    from gnocchi.common import redis as upstream_redis

    client, _ = upstream_redis.get_client(group)
    return client


def _opened(group, on_file, on_redis, on_ceph):
    """The part of ``group``'s driver (storage or incoming), or None for a
    driver check does not read."""
    if group.driver in _FILE:
        return on_file(group.file_basepath)
    if group.driver in _REDIS:
        return on_redis(_redis_client(group))
    if group.driver in _CEPH:
        from gnocchi_rs.storage import ceph as rs_ceph

        return on_ceph(rs_ceph.rados_pool(group))
    return None


def for_conf(conf):
    """(storage, incoming or None) of a configuration: the incoming part
    is None for a driver check does not read (it says so)."""
    from gnocchi_rs.check import ceph_store
    from gnocchi_rs.check import file_store
    from gnocchi_rs.check import redis_store

    storage = _opened(conf.storage, file_store.FileStore,
                      redis_store.RedisStore, ceph_store.CephStore)
    if storage is None:
        raise NotImplementedError(
            "gnocchi-rs check reads file, redis and ceph storage (and "
            "their rs- drivers), not %s" % conf.storage.driver)
    incoming = _opened(conf.incoming, file_store.FileIncoming,
                       redis_store.RedisIncoming, ceph_store.CephIncoming)
    return storage, incoming
