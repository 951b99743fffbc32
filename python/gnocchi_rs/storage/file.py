"""``rs-file`` storage: upstream's file layout, written natively."""
from __future__ import annotations

import os

from gnocchi.storage import file as upstream_file

from gnocchi_rs import _native
from gnocchi_rs.storage import NativeStorageMixin


class FileStorage(NativeStorageMixin, upstream_file.FileStorage):
    """``rs-file``: upstream's file layout, written natively."""

    # Upstream's file driver lists only the aggregations it found.
    _LIST_ONLY_FOUND = True

    def _native_store(self):
        # basepath and the stored subdir_len may change after construction
        # (upstream's test harness sets them per test).
        key = (self.basepath, self.SUBDIR_LEN)
        cached = getattr(self, "_native_cache", None)
        if cached is None or cached[0] != key:
            cached = (key, _native.NativeStorage.file(
                os.fspath(self.basepath), int(self.SUBDIR_LEN)))
            self._native_cache = cached
        return cached[1]
