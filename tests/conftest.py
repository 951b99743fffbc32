"""Makes Debian's ``rados`` module (python3-rados) importable, for
upstream's Ceph drivers that the tests compare against. There is no
``rados`` on PyPI; the module is built for the system Python, which has
the same extension ABI as a 3.11 venv. gnocchi-rs itself never imports it.
This runs before any test module imports gnocchi."""
from __future__ import annotations

import os
import sys
import sysconfig
import tempfile

_SYSTEM_RADOS = "/usr/lib/python3/dist-packages/rados" + (
    sysconfig.get_config_var("EXT_SUFFIX") or ".so")


def _expose_system_rados():
    try:
        import rados  # noqa: F401
        return
    except ImportError:
        pass
    if not os.path.exists(_SYSTEM_RADOS):
        return
    directory = tempfile.mkdtemp(prefix="gnocchi-rs-rados-")
    os.symlink(_SYSTEM_RADOS, os.path.join(directory, os.path.basename(
        _SYSTEM_RADOS)))
    sys.path.append(directory)


_expose_system_rados()
