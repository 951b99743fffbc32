"""Every notebook in examples/ runs from top to bottom (nbclient, a real
kernel, a real `gnocchi-rs serve`) and its cells show what they should."""
import base64
import functools
import glob
import os
import tempfile

import nbclient
import nbformat
import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "examples")
NOTEBOOKS = sorted(glob.glob(os.path.join(EXAMPLES, "*.ipynb")))


@functools.lru_cache(maxsize=None)
def _run(path):
    """The notebook executed (once per session), in a directory of its
    own."""
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3",
        resources={"metadata": {"path": tempfile.mkdtemp()}})
    client.execute()
    return notebook


def _tagged(notebook, tag):
    for cell in notebook.cells:
        if tag in cell.get("metadata", {}).get("tags", []):
            return cell
    raise AssertionError("no cell tagged %r" % tag)


def _text(cell):
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif "data" in output and "text/plain" in output.data:
            parts.append(output.data["text/plain"])
    return "\n".join(parts)


def test_there_are_examples():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_every_cell_runs_without_error(path):
    notebook = _run(path)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not [o for o in cell.outputs
                        if o.output_type == "error"], cell.source


def test_quickstart_shows_the_days_measures_and_a_chart():
    notebook = _run(os.path.join(EXAMPLES, "quickstart.ipynb"))
    assert "written: 4320 measures" in _text(_tagged(notebook, "write"))
    read = _text(_tagged(notebook, "read"))
    assert "(1440, 3)" in read and "cpu.compute1" in read
    hourly = _text(_tagged(notebook, "hourly"))
    assert "count" in hourly and "24.0" in hourly
    assert "equal to the HTTP read: True" in _text(_tagged(notebook,
                                                           "local"))
    assert "(24, 1) 72" in _text(_tagged(notebook, "aggregate"))
    images = [o.data["image/png"] for o in _tagged(notebook, "plot").outputs
              if "data" in o and "image/png" in o.data]
    assert len(images) == 1
    png = base64.b64decode(images[0])
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
