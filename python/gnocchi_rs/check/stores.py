"""What `gnocchi-rs check` sees of a backend: the stored objects of every
metric (upstream's layout, whoever wrote it), incoming measure blobs, and
the two changes a repair makes, moving an object aside and writing a
rebuilt split. Nothing here deletes.

Object names are upstream's: a metric's raw series ``none_v3`` and its
splits ``<key>_<granularity>_v3`` under ``agg_<method>/`` (file) or
``<key>_<method>_<granularity>_v3`` fields (Redis).
"""
from __future__ import annotations

import os
import re
import tempfile
import uuid

from gnocchi_rs import _native

_SACK_DIR = re.compile(r"^incoming\d+-\d+$")
QUARANTINE = "quarantine"


def metric_id_of(name):
    """The canonical metric id a directory or key names, or None."""
    try:
        parsed = uuid.UUID(name)
    except (ValueError, AttributeError):
        return None
    return str(parsed) if str(parsed) == name else None


class FileStore:
    """rs-file (and upstream's file) storage and incoming."""

    def __init__(self, storage_basepath, incoming_basepath):
        self.basepath = os.path.abspath(storage_basepath)
        self.incoming_basepath = os.path.abspath(incoming_basepath)
        self.quarantine_path = os.path.join(self.basepath, QUARANTINE)

    def describe(self):
        return "file storage in %s" % self.basepath

    def metric_locations(self):
        """{metric id: directory} of every metric directory in storage."""
        return dict(_native.file_metric_dirs(self.basepath))

    def contents(self, locations):
        """{metric id: [(method or None, name, bytes)]}, read natively in
        parallel."""
        metrics = list(locations)
        read = _native.file_metric_contents([locations[m] for m in metrics])
        return dict(zip(metrics, read))

    def _path(self, locations, metric, method, name):
        directory = locations[metric]
        return os.path.join(directory, "agg_" + method, name) if method \
            else os.path.join(directory, name)

    def quarantine(self, locations, metric, method, name):
        """Moves an object into ``quarantine/`` beside the metrics, keeping
        its path below the base; returns where it went."""
        source = self._path(locations, metric, method, name)
        target = os.path.join(self.quarantine_path,
                              os.path.relpath(source, self.basepath))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.rename(source, target)
        return target

    def quarantine_metric(self, locations, metric):
        source = locations[metric]
        target = os.path.join(self.quarantine_path,
                              os.path.relpath(source, self.basepath))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.rename(source, target)
        return target

    @staticmethod
    def split_object(method, key, granularity):
        """(method directory, name) of a split named as upstream names
        it."""
        return method, "%s_%s_v3" % (key, granularity)

    def write(self, locations, metric, method, name, data):
        path = self._path(locations, metric, method, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp_dir = os.path.join(self.basepath, "tmp")
        os.makedirs(tmp_dir, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=tmp_dir, delete=False) as f:
            f.write(data)
        os.rename(f.name, path)

    def incoming_blobs(self):
        """[(sack, metric id, name, blob)] of every pending measure blob."""
        out = []
        for sack in _entries(self.incoming_basepath):
            if not _SACK_DIR.match(sack):
                continue
            sack_path = os.path.join(self.incoming_basepath, sack)
            for metric in _entries(sack_path):
                metric_path = os.path.join(sack_path, metric)
                for name in _entries(metric_path):
                    try:
                        with open(os.path.join(metric_path, name), "rb") as f:
                            out.append((sack, metric, name, f.read()))
                    except (FileNotFoundError, IsADirectoryError):
                        pass  # processed meanwhile
        return out

    def quarantine_incoming(self, sack, metric, name):
        source = os.path.join(self.incoming_basepath, sack, metric, name)
        target = os.path.join(self.incoming_basepath, QUARANTINE, sack,
                              metric, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.rename(source, target)
        return target


def _entries(path):
    try:
        return sorted(os.listdir(path))
    except (FileNotFoundError, NotADirectoryError):
        return []


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
            if not _SACK_DIR.match(sack):
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


def for_conf(conf):
    """The store of a configuration's storage and incoming drivers."""
    storage = conf.storage.driver
    incoming = conf.incoming.driver
    if storage in ("file", "rs-file"):
        if incoming not in ("file", "rs-file"):
            raise NotImplementedError(
                "check reads file storage with file incoming")
        return FileStore(conf.storage.file_basepath,
                         conf.incoming.file_basepath)
    if storage in ("redis", "rs-redis"):
        from gnocchi.common import redis as upstream_redis

        client, _ = upstream_redis.get_client(conf.storage)
        return RedisStore(client)
    raise NotImplementedError(
        "gnocchi-rs check reads rs-file and rs-redis storage; %s is not "
        "checked yet" % storage)
