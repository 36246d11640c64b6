"""Builds (and executes) the softq notebooks from their cell sources (`_nb_*.py`).

    python notebooks/build_notebooks.py                 # write + execute all
    python notebooks/build_notebooks.py 01 04           # only these
    python notebooks/build_notebooks.py --no-execute    # write sources only

The notebooks are committed with their outputs so they read well on a code
host; edit the `_nb_*.py` sources, not the ``.ipynb`` files, and rerun this.
``tests/test_notebooks.py`` re-executes the committed notebooks and checks
that their sources still match the generator.
"""

from __future__ import annotations

import argparse
import pathlib
import time

import nbformat
from nbclient import NotebookClient

import _nb_applications  # pylint: disable=import-error
import _nb_quantiles  # pylint: disable=import-error
import _nb_remedian  # pylint: disable=import-error
import _nb_tour  # pylint: disable=import-error

HERE = pathlib.Path(__file__).resolve().parent
KERNEL = "python3"
TIMEOUT_S = 300

NOTEBOOKS = {
    "01_soft_median_tour.ipynb": _nb_tour.NB01,
    "02_soft_quantiles_and_ranks.ipynb": _nb_quantiles.NB02,
    "03_remedian_at_scale.ipynb": _nb_remedian.NB03,
    "04_applications.ipynb": _nb_applications.NB04,
}


def build(name: str, cells) -> nbformat.NotebookNode:
  nb = nbformat.v4.new_notebook()
  nb.cells = cells
  nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
  nb.metadata["language_info"] = {"name": "python"}
  for i, cell in enumerate(nb.cells):
    cell["id"] = f"{name[:2]}-{i:02d}"      # stable ids: clean diffs on rebuild
  return nb


def execute(nb: nbformat.NotebookNode) -> float:
  t0 = time.perf_counter()
  NotebookClient(nb, timeout=TIMEOUT_S, kernel_name=KERNEL,
                 resources={"metadata": {"path": str(HERE)}}).execute()
  return time.perf_counter() - t0


def all_notebooks():
  return dict(NOTEBOOKS)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("only", nargs="*", help="notebook name prefixes, e.g. 01 04")
  parser.add_argument("--no-execute", action="store_true")
  parser.add_argument("--timings", action="store_true", help="print per-cell times")
  args = parser.parse_args(argv)
  for name, cells in all_notebooks().items():
    if args.only and not any(name.startswith(p) for p in args.only):
      continue
    nb = build(name, cells)
    msg = "written"
    if not args.no_execute:
      msg = f"executed in {execute(nb):.1f} s"
    for i, cell in enumerate(nb.cells):
      ex = cell.metadata.pop("execution", None)    # timestamps: noise in diffs
      if args.timings and ex and "shell.execute_reply" in ex:
        import datetime  # pylint: disable=import-outside-toplevel
        t = (datetime.datetime.fromisoformat(ex["shell.execute_reply"].rstrip("Z"))
             - datetime.datetime.fromisoformat(ex["iopub.execute_input"].rstrip("Z")))
        print(f"  cell {i:2d}: {t.total_seconds():6.1f} s")
    nbformat.write(nb, HERE / name)
    print(f"{name}: {msg}")


if __name__ == "__main__":
  main()
