"""Makes Debian's ``rados`` module (python3-rados) importable, for
upstream's Ceph drivers that tests and benchmarks compare against. There
is no ``rados`` on PyPI; the module is built for the system Python, which
has the same extension ABI as a 3.11 venv. gnocchi-rs itself never
imports it. Call ``expose()`` before anything imports gnocchi."""
from __future__ import annotations

import os
import sys
import sysconfig
import tempfile

SYSTEM_RADOS = "/usr/lib/python3/dist-packages/rados" + (
    sysconfig.get_config_var("EXT_SUFFIX") or ".so")


# The directory put on sys.path, for child processes' PYTHONPATH.
DIRECTORY = None


def expose():
    global DIRECTORY
    try:
        import rados  # noqa: F401
        return
    except ImportError:
        pass
    if not os.path.exists(SYSTEM_RADOS):
        return
    DIRECTORY = tempfile.mkdtemp(prefix="gnocchi-rs-rados-")
    os.symlink(SYSTEM_RADOS, os.path.join(DIRECTORY, os.path.basename(
        SYSTEM_RADOS)))
    sys.path.append(DIRECTORY)
