"""``rs-ceph`` incoming."""
from __future__ import annotations

import json
import time

from gnocchi import incoming as upstream_incoming
from gnocchi.incoming import ceph as upstream_ceph

from gnocchi_rs import _native
from gnocchi_rs.incoming import NativeIncomingMixin
from gnocchi_rs.storage.ceph import rados_pool


class CephStorage(NativeIncomingMixin, upstream_ceph.CephStorage):
    """``rs-ceph`` incoming: omap entries ``measure_<metric>_<uuid>_<time>``
    on one object per sack."""

    def __init__(self, conf, greedy=True):
        # Upstream's __init__ would connect through the rados module.
        upstream_incoming.IncomingDriver.__init__(self, conf, greedy)
        self.rados = rados_pool(conf)
        self.ioctx = None
        self._native = _native.NativeIncoming.ceph(self.rados)

    # How often iter_on_sacks_to_process looks for sacks with measures.
    POLL_SECONDS = 1.0

    def stop(self):
        # Upstream's calls a stop() its base class does not have.
        self._native = None

    def iter_on_sacks_to_process(self):
        """Sacks that hold measures, for greedy metricd workers.

        RADOS has no cheap push notification for omap writes (watch/notify
        would make every API write wait for every watcher), so this polls:
        one batched omap read over all sacks per POLL_SECONDS. A sack stays
        reported until it is processed."""
        sacks = list(self.iter_sacks())
        names = [str(s) for s in sacks]
        while True:
            native = self._native
            if native is None:  # stopped
                return
            flags = native.sacks_with_measures(names)
            for sack, pending in zip(sacks, flags):
                if pending:
                    yield sack
            time.sleep(self.POLL_SECONDS)

    def _native_incoming(self):
        return self._native

    def _get_storage_sacks(self):
        (config,) = self.rados.read([self.CFG_PREFIX])
        if config is None:
            raise LookupError("no %s object in pool %s"
                              % (self.CFG_PREFIX, self.rados.name))
        return json.loads(config.decode())[self.CFG_SACKS]

    def set_storage_settings(self, num_sacks):
        self.rados.write_full(
            self.CFG_PREFIX, json.dumps({self.CFG_SACKS: num_sacks}).encode())

    def remove_sacks(self):
        self.rados.remove([str(sack) for sack in self.iter_sacks()])
