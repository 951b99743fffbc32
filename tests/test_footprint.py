"""What a metricd or API process pays in memory for loading gnocchi-rs."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _run(code, env=None):
    return subprocess.run([sys.executable, "-c", code], check=True,
                          capture_output=True, text=True,
                          env=env).stdout.strip()


# Resident memory now, not the peak: importing numpy may peak above what
# it keeps.
IMPORT_GROWTH_KIB = (
    "import numpy\n"
    "def rss():\n"
    "    with open('/proc/self/status') as f:\n"
    "        return int(next(line for line in f\n"
    "                        if line.startswith('VmRSS:')).split()[1])\n"
    "before = rss()\n"
    "import gnocchi_rs._native\n"
    "print(rss() - before)\n")


def test_native_module_commits_little_memory_at_import():
    # mimalloc would commit its whole first arena (about 4 MiB) at the
    # first allocation unless told otherwise in the module's init; an
    # operator's own choice is kept.
    unset = {k: v for k, v in os.environ.items()
             if k not in ("MIMALLOC_ARENA_EAGER_COMMIT",
                          "MIMALLOC_EAGER_REGION_COMMIT")}
    lazy = int(_run(IMPORT_GROWTH_KIB, unset))
    eager = int(_run(IMPORT_GROWTH_KIB,
                     dict(unset, MIMALLOC_ARENA_EAGER_COMMIT="1")))
    assert lazy < eager - 2 * 1024


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
