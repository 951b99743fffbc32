"""``rs-redis`` storage: upstream's Redis hashes, written natively."""
from __future__ import annotations

from gnocchi.storage import redis as upstream_redis

from gnocchi_rs import _native
from gnocchi_rs import redis_config
from gnocchi_rs.storage import NativeStorageMixin


class RedisStorage(NativeStorageMixin, upstream_redis.RedisStorage):
    """``rs-redis``: upstream's Redis hashes, one pipeline per batch."""

    _LIST_ONLY_FOUND = False

    def _native_store(self):
        key = bytes(self.STORAGE_PREFIX)
        cached = getattr(self, "_native_cache", None)
        if cached is None or cached[0] != key:
            cached = (key, _native.NativeStorage.redis(
                redis_config.native_connection(self._client), key))
            self._native_cache = cached
        return cached[1]
