"""docs/architecture.md names every module of the package, and only modules that exist."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"


def _modules():
  return {p.relative_to(ROOT).as_posix() for p in (ROOT / "softq").rglob("*.py")}


def _named():
  return set(re.findall(r"softq/[\w/]+\.py", DOC.read_text()))


def test_every_module_is_named():
  missing = sorted(m for m in _modules() if m not in _named())
  assert not missing, f"docs/architecture.md does not name: {missing}"


def test_every_named_module_exists():
  ghosts = sorted(_named() - _modules())
  assert not ghosts, f"docs/architecture.md names modules that do not exist: {ghosts}"
