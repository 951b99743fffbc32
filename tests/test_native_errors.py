"""Errors of the native module: upstream's classes where upstream's module
is loaded (its callers catch those), the native module's own otherwise, so
that a backend error in the lean worker does not load upstream's stack."""
import subprocess
import sys
import textwrap

import pytest
from gnocchi import carbonara as upstream_carbonara
from gnocchi import storage as upstream_storage

from gnocchi_rs import _native


def _fail_a_file_backend(basepath):
    # The incoming directory lies under a regular file: every read fails.
    return _native.NativeIncoming.file(str(basepath)).read_sack("incoming-128-0")


def test_backend_error_in_a_bare_process_loads_nothing_of_upstream(tmp_path):
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    script = textwrap.dedent("""
        import sys
        from gnocchi_rs import _native
        try:
            _native.NativeIncoming.file(sys.argv[1]).read_sack("incoming-128-0")
        except _native.StorageError as e:
            print("native StorageError:", e)
        loaded = sorted(m for m in sys.modules
                        if m == "gnocchi" or m.startswith("gnocchi.")
                        or m == "numpy")
        print("loaded:", loaded)
    """)
    run = subprocess.run([sys.executable, "-c", script, str(not_a_directory)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "native StorageError: storage backend error" in run.stdout
    assert "loaded: []" in run.stdout


def test_backend_error_is_upstreams_class_where_upstream_is_loaded(tmp_path):
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    with pytest.raises(upstream_storage.StorageError):
        _fail_a_file_backend(not_a_directory)


def test_corrupt_blob_is_upstreams_invalid_data():
    with pytest.raises(upstream_carbonara.InvalidData):
        _native.unserialize_bound(b"\x01\x02\x03")


def test_native_classes_have_upstreams_bases():
    assert issubclass(_native.InvalidData, ValueError)
    assert issubclass(_native.StorageError, Exception)
    assert not issubclass(_native.StorageError, ValueError)
