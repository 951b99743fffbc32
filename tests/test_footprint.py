"""What a metricd or API process pays in memory for loading gnocchi-rs."""
from __future__ import annotations

import subprocess
import sys

import pytest


def _run(code):
    return subprocess.run([sys.executable, "-c", code], check=True,
                          capture_output=True, text=True).stdout.strip()


def test_native_module_commits_little_memory_at_import():
    # mimalloc would commit its whole first arena (about 4 MiB) at the
    # first allocation unless told otherwise in the module's init.
    grown_kib = int(_run(
        "import resource, numpy\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "import gnocchi_rs._native\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(after - before)\n"))
    assert grown_kib < 3 * 1024


@pytest.mark.parametrize("kind", ["storage", "incoming"])
def test_file_driver_loads_no_other_backend(kind):
    loaded = _run(
        "import sys\n"
        "from gnocchi import utils\n"
        "from gnocchi_rs.%s import file\n"
        "print(sorted(m for m in ('redis', 'rados', 'gnocchi.common.redis',"
        " 'gnocchi_rs.%s.redis', 'gnocchi_rs.%s.ceph') if m in sys.modules))"
        % (kind, kind, kind))
    assert loaded == "[]"
