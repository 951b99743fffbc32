"""``rs-redis`` incoming."""
from __future__ import annotations

from gnocchi.incoming import redis as upstream_redis

from gnocchi_rs import _native
from gnocchi_rs import redis_config
from gnocchi_rs.incoming import NativeIncomingMixin


class RedisStorage(NativeIncomingMixin, upstream_redis.RedisStorage):
    """``rs-redis`` incoming: one list per metric, ``<sack>:<metric>``."""

    # A list holds blobs without the time they arrived.
    keeps_arrival_times = False

    def __init__(self, conf, greedy=True):
        super().__init__(conf, greedy)
        self.greedy = greedy

    def _native_incoming(self):
        cached = getattr(self, "_native_cache", None)
        if cached is None:
            cached = (None, _native.NativeIncoming.redis(
                redis_config.native_connection(self._client)))
            self._native_cache = cached
        return cached[1]
