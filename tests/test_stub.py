"""The hand-written stub of the native module matches what it exports
(names, signatures, defaults, classes final), checked by mypy's stubtest
against the built extension."""
import os
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).parent


def test_stub_matches_the_native_module(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "gnocchi_rs._native",
         "--allowlist", str(HERE / "stubtest-allowlist.txt"),
         "--mypy-config-file", os.devnull, "--ignore-disjoint-bases"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, MYPY_CACHE_DIR=str(tmp_path / "cache")))
    assert run.returncode == 0, run.stdout + run.stderr
