"""`gnocchi-rs check` on Redis (rs-redis, upstream's redis): a hash per
metric, a list per sack and metric; objects moved under ``quarantine:``
keys."""
from __future__ import annotations

from gnocchi_rs.check.stores import SACK_NAME
from gnocchi_rs.check.stores import metric_id_of


class RedisStore:
    """rs-redis (and upstream's redis) storage and incoming: a hash per
    metric (``timeseries:<id>``), a list per metric and sack
    (``incoming<N>-<s>:<id>``)."""

    PREFIX = b"timeseries:"
    QUARANTINE_PREFIX = b"quarantine:"

    def __init__(self, client):
        self.client = client

    def describe(self):
        return "Redis storage"

    def metric_locations(self):
        found = {}
        for key in self.client.scan_iter(match=self.PREFIX + b"*",
                                         count=1000):
            metric = metric_id_of(key[len(self.PREFIX):].decode(
                "utf-8", "replace"))
            if metric:
                found[metric] = key
        return found

    def contents(self, locations):
        """{metric id: [(None, field, bytes)]}: one round trip."""
        pipe = self.client.pipeline(transaction=False)
        metrics = list(locations)
        for metric in metrics:
            pipe.hgetall(locations[metric])
        out = {}
        for metric, fields in zip(metrics, pipe.execute()):
            out[metric] = [(None, f.decode("utf-8", "replace"), data)
                           for f, data in sorted(fields.items())]
        return out

    def quarantine(self, locations, metric, method, name):
        key = locations[metric]
        target = self.QUARANTINE_PREFIX + key
        data = self.client.hget(key, name)
        if data is None:
            return None
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(target, name, data)
        pipe.hdel(key, name)
        pipe.execute()
        return "%s field %s" % (target.decode(), name)

    def quarantine_metric(self, locations, metric):
        key = locations[metric]
        target = self.QUARANTINE_PREFIX + key
        self.client.rename(key, target)
        return target.decode()

    @staticmethod
    def split_object(method, key, granularity):
        return None, "%s_%s_%s_v3" % (key, method, granularity)

    def write(self, locations, metric, method, name, data):
        self.client.hset(locations[metric], name, data)

class RedisIncoming:
    """rs-redis (and upstream's redis) incoming: a list per sack and
    metric (``incoming<N>-<s>:<id>``)."""

    QUARANTINE_PREFIX = RedisStore.QUARANTINE_PREFIX

    def __init__(self, client):
        self.client = client

    def incoming_blobs(self):
        keys = [key for key in self.client.scan_iter(match=b"incoming*",
                                                     count=1000)
                if b":" in key]
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.lrange(key, 0, -1)
        out = []
        for key, blobs in zip(keys, pipe.execute()):
            sack, _, metric = key.decode("utf-8", "replace").partition(":")
            if not SACK_NAME.match(sack):
                continue
            for index, blob in enumerate(blobs):
                out.append((sack, metric, str(index), blob))
        return out

    def quarantine_incoming(self, sack, metric, name):
        key = ("%s:%s" % (sack, metric)).encode()
        blob = self.client.lindex(key, int(name))
        if blob is None:
            return None
        pipe = self.client.pipeline(transaction=True)
        pipe.rpush(self.QUARANTINE_PREFIX + key, blob)
        pipe.lrem(key, 1, blob)
        pipe.execute()
        return (self.QUARANTINE_PREFIX + key).decode()
