"""`gnocchi-rs check` on Ceph (rs-ceph, upstream's ceph), through the
native librados binding: objects copied to ``quarantine_<name>`` then
removed."""
from __future__ import annotations

from gnocchi_rs.check.stores import SACK_NAME
from gnocchi_rs.check.stores import metric_id_of


class CephStore:
    """rs-ceph (and upstream's ceph) storage: an object per raw series
    (``gnocchi_<id>_none_v3``, whose omap lists the splits) and per split
    (``gnocchi_<id>_<key>_<method>_<granularity>_v3``)."""

    QUARANTINE_PREFIX = "quarantine_"

    def __init__(self, pool):
        self.pool = pool
        self._objects = None

    def describe(self):
        return "Ceph storage in pool %s" % self.pool.name

    def metric_locations(self):
        grouped = {}
        for name in self.pool.list_objects():
            if not name.startswith("gnocchi_") or name[44:45] != "_":
                continue
            metric = metric_id_of(name[8:44])
            if metric:
                grouped.setdefault(metric, []).append(name[45:])
        self._objects = grouped
        return {metric: "gnocchi_%s_" % metric for metric in grouped}

    def contents(self, locations):
        wanted = [(metric, suffix) for metric in locations
                  for suffix in sorted(self._objects.get(metric, ()))]
        blobs = self.pool.read([locations[m] + s for m, s in wanted])
        out = {metric: [] for metric in locations}
        for (metric, suffix), blob in zip(wanted, blobs):
            if blob is not None:
                out[metric].append((None, suffix, blob))
        return out

    def _raw(self, locations, metric):
        return locations[metric] + "none_v3"

    def quarantine(self, locations, metric, method, name):
        source = locations[metric] + name
        (data,) = self.pool.read([source])
        if data is None:
            return None
        target = self.QUARANTINE_PREFIX + source
        self.pool.write_full(target, data)
        if name == "none_v3":
            # The raw series' object also holds the omap listing the
            # splits: emptied (no raw series yet), not removed.
            self.pool.write_full(source, b"")
        else:
            self.pool.remove([source])
            self.pool.omap_remove(self._raw(locations, metric),
                                  [source.encode()])
        return target

    def quarantine_metric(self, locations, metric):
        names = [locations[metric] + s for s in self._objects.get(metric, ())]
        for name, data in zip(names, self.pool.read(names)):
            if data is not None:
                self.pool.write_full(self.QUARANTINE_PREFIX + name, data)
        self.pool.remove(names)
        return self.QUARANTINE_PREFIX + locations[metric] + "*"

    @staticmethod
    def split_object(method, key, granularity):
        return None, "%s_%s_%s_v3" % (key, method, granularity)

    def write(self, locations, metric, method, name, data):
        target = locations[metric] + name
        self.pool.write_full(target, data)
        if name != "none_v3":
            self.pool.omap_set(self._raw(locations, metric),
                               [(target.encode(), b"")])


class CephIncoming:
    """rs-ceph (and upstream's ceph) incoming: omap values
    ``measure_<id>_<uuid>_<time>`` of each sack's object."""

    QUARANTINE_PREFIX = CephStore.QUARANTINE_PREFIX

    def __init__(self, pool):
        self.pool = pool

    def incoming_blobs(self):
        out = []
        for sack in self.pool.list_objects():
            if not SACK_NAME.match(sack):
                continue
            for key, blob in self.pool.omap(sack, "measure_") or []:
                key = key.decode("utf-8", "replace")
                out.append((sack, key.split("_")[1], key, blob))
        return out

    def quarantine_incoming(self, sack, metric, name):
        entries = dict(self.pool.omap(sack, name) or [])
        blob = entries.get(name.encode())
        if blob is None:
            return None
        target = "%s%s_%s" % (self.QUARANTINE_PREFIX, sack, name)
        self.pool.write_full(target, blob)
        self.pool.omap_remove(sack, [name.encode()])
        return target
