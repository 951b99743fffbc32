"""The ``gnocchi-rs`` command loads only what its subcommand needs: the
parser and ``config`` load neither an HTTP server (granian, gunicorn) nor
numpy of their own (numpy
comes with upstream's option list, which ``config`` has to read)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# Runs the command in-process and records, for numpy and the servers, the
# files on the stack when each was first imported.
_WATCHED_RUN = r"""
import json, os, sys, traceback

first_imports = {}


class Watch:
    def find_spec(self, name, path=None, target=None):
        if name in ("numpy", "gunicorn", "granian") and \
                name not in first_imports:
            first_imports[name] = [f.filename
                                   for f in traceback.extract_stack()]
        return None


sys.meta_path.insert(0, Watch())
from gnocchi_rs import cli
try:
    status = cli.main(sys.argv[1:])
except SystemExit as e:
    status = e.code
with open(os.environ["FIRST_IMPORTS"], "w") as out:
    json.dump({"status": status, "first_imports": first_imports}, out)
"""


def _run(tmp_path, *argv):
    record = tmp_path / "first-imports.json"
    subprocess.run([sys.executable, "-c", _WATCHED_RUN, *argv], check=True,
                   env=dict(os.environ, FIRST_IMPORTS=str(record)),
                   stdout=subprocess.DEVNULL, timeout=120)
    result = json.loads(record.read_text())
    assert result["status"] in (0, None)
    return result["first_imports"]


@pytest.mark.parametrize("argv", [
    ["--help"], ["--version"], ["config", "--help"], ["serve", "--help"],
    ["api", "--help"], ["demo", "--help"]], ids=" ".join)
def test_the_parser_loads_neither_numpy_nor_a_server(tmp_path, argv):
    assert _run(tmp_path, *argv) == {}


def test_config_loads_no_server_and_numpy_only_for_upstream(tmp_path):
    sample = tmp_path / "gnocchi.conf"
    first_imports = _run(tmp_path, "config", "--output-file", str(sample))
    assert "driver = rs-file" in sample.read_text()
    assert "gunicorn" not in first_imports
    assert "granian" not in first_imports
    # gnocchi.opts imports numpy: while oslo's generator lists the options.
    assert any(path.endswith(os.path.join("oslo_config", "generator.py"))
               for path in first_imports["numpy"]), first_imports["numpy"]
