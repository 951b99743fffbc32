"""``rs-ceph`` storage: upstream's RADOS objects, through librados
natively (the ``rados`` Python module is not needed)."""
from __future__ import annotations

from gnocchi import storage
from gnocchi.storage import ceph as upstream_ceph

from gnocchi_rs import _native
from gnocchi_rs.storage import NativeStorageMixin


def ceph_options(conf):
    """``RadosPool``'s arguments from upstream's ``ceph_*`` options."""
    # The incoming group's options default to "${storage.<name>}", which
    # gives "" for an unset storage option: empty means unset, as upstream
    # reads them.
    return {"pool": conf.ceph_pool, "conffile": conf.ceph_conffile or None,
            "username": conf.ceph_username or None,
            "keyring": conf.ceph_keyring or None,
            "secret": conf.ceph_secret or None,
            "timeout": conf.ceph_timeout or None}


def rados_pool(conf):
    """A native connection from upstream's ``ceph_*`` options (the
    ``rados`` Python module is not needed)."""
    options = ceph_options(conf)
    return _native.RadosPool(options.pop("pool"), **options)


class CephStorage(NativeStorageMixin, upstream_ceph.CephStorage):
    """``rs-ceph``: upstream's RADOS objects and omap index, written with
    one asynchronous operation per object, all of a batch in flight."""

    _LIST_ONLY_FOUND = True

    def __init__(self, conf):
        # Upstream's __init__ would connect through the rados module.
        storage.StorageDriver.__init__(self, conf)
        self.rados = rados_pool(conf)
        self.ioctx = None
        self._native = _native.NativeStorage.ceph(self.rados)

    def stop(self):
        storage.StorageDriver.stop(self)

    def _native_store(self):
        return self._native
