"""Executes every notebook in notebooks/ (marker ``notebooks``); any error fails.

Also checks that the committed notebooks carry their outputs and match the
sources in notebooks/build_notebooks.py (so the generator cannot drift from
what users read).  Skip with ``pytest -m "not notebooks"``.
"""

import pathlib
import sys

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NB_DIR = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("*.ipynb"))

pytestmark = pytest.mark.notebooks


def _generator():
  sys.path.insert(0, str(NB_DIR))
  try:
    import build_notebooks  # pylint: disable=import-outside-toplevel,import-error
  finally:
    sys.path.remove(str(NB_DIR))
  return build_notebooks


def test_every_generated_notebook_is_committed():
  expected = set(_generator().all_notebooks())
  assert expected == {p.name for p in NOTEBOOKS}
  assert len(expected) == 4


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_matches_generator_and_has_outputs(path):
  nb = nbformat.read(path, as_version=4)
  cells = _generator().all_notebooks()[path.name]
  assert [c.source for c in nb.cells] == [c.source for c in cells], (
      f"{path.name} differs from notebooks/build_notebooks.py: rerun the generator")
  code_cells = [c for c in nb.cells if c.cell_type == "code"]
  assert all(c.outputs for c in code_cells), f"{path.name}: a code cell has no output"
  assert not any(o.output_type == "error" for c in code_cells for o in c.outputs)
  assert any("image/png" in o.get("data", {}) for c in code_cells for o in c.outputs), (
      f"{path.name}: no plot")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(path):
  nb = nbformat.read(path, as_version=4)
  client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                   resources={"metadata": {"path": str(NB_DIR)}})
  client.execute()      # raises CellExecutionError on the first failing cell
  errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
            if o.output_type == "error"]
  assert not errors
