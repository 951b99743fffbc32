"""The native incoming and storage backends of a lean process, opened from
its settings (``settings.Backend``)."""
from __future__ import annotations

import json

from gnocchi_rs import _native


def _redis_connection(backend):
    return _native.RedisConnection(**backend.connection)


_RADOS_POOLS = {}


def _rados_pool(backend):
    """One connection per pool and credentials: incoming and storage
    usually share theirs (each librados connection has its own threads
    and caches)."""
    key = json.dumps(backend.ceph, sort_keys=True)
    if key not in _RADOS_POOLS:
        options = dict(backend.ceph)
        _RADOS_POOLS[key] = _native.RadosPool(options.pop("pool"), **options)
    return _RADOS_POOLS[key]


def open_incoming(backend):
    if backend.kind == "file":
        return _native.NativeIncoming.file(backend.basepath)
    if backend.kind == "redis":
        return _native.NativeIncoming.redis(_redis_connection(backend))
    if backend.kind == "ceph":
        return _native.NativeIncoming.ceph(_rados_pool(backend))
    raise ValueError("unknown incoming backend %r" % backend.kind)


def open_storage(backend):
    if backend.kind == "file":
        return _native.NativeStorage.file(backend.basepath,
                                          int(backend.subdir_len))
    if backend.kind == "redis":
        return _native.NativeStorage.redis(
            _redis_connection(backend), backend.prefix.encode("latin-1"))
    if backend.kind == "ceph":
        return _native.NativeStorage.ceph(_rados_pool(backend))
    raise ValueError("unknown storage backend %r" % backend.kind)
