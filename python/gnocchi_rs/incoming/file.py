"""``rs-file`` incoming."""
from __future__ import annotations

import os

from gnocchi.incoming import file as upstream_file

from gnocchi_rs import _native
from gnocchi_rs.incoming import NativeIncomingMixin


class FileStorage(NativeIncomingMixin, upstream_file.FileStorage):
    """``rs-file`` incoming: ``<basepath>/<sack>/<metric>/<blob>``."""

    backlog_before_passes = True

    def _native_incoming(self):
        cached = getattr(self, "_native_cache", None)
        if cached is None or cached[0] != self.basepath:
            cached = (self.basepath, _native.NativeIncoming.file(
                os.fspath(self.basepath)))
            self._native_cache = cached
        return cached[1]
