"""The documentation site (docs/) builds with ``sphinx-build -W``: any warning fails.

The build checks that every public name (``softq.__all__``) has its own API
page documenting it, that every page has a title, that the four notebooks are
rendered with their plots and that the changelog is included, and that the math
is typeset by the MathJax bundled into the site (no raw TeX outside the math
markup, no script from another host: the site works offline).  It takes about
10 s on a 2-core CPU (marker ``docs``; skip with ``pytest -m "not docs"``) and
is skipped only where Sphinx is not installed (``pip install -e ".[docs]"``).
The generator of docs/_generated/algorithms.md is also tested on a stand-in
registry, so the table is right before the package has one.
"""

from __future__ import annotations

import dataclasses
import html
import importlib.util
import pathlib
import re
import subprocess
import sys

import pytest

import softq

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _conf():
  """docs/conf.py as a module (importing it generates nothing: the pages are
  written when Sphinx initialises its configuration)."""
  spec = importlib.util.spec_from_file_location("softq_docs_conf", DOCS / "conf.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _title(page: pathlib.Path) -> str:
  match = re.search(r"<title>(.*?)</title>", page.read_text(encoding="utf-8"), re.S)
  return html.unescape(match.group(1)).strip() if match else ""


@pytest.mark.docs
def test_site_builds_without_warnings(tmp_path):
  # One test does the build and every check on it, so that pytest-xdist never
  # runs two builds (which both write docs/api/ and docs/notebooks/) at once.
  pytest.importorskip("sphinx", reason='Sphinx is not installed: pip install -e ".[docs]"')
  cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")]
  proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                        check=False)
  assert proc.returncode == 0, (
      f"sphinx-build -W failed ({proc.returncode}):\n{proc.stderr}\n{proc.stdout[-3000:]}")
  site = tmp_path / "html"
  assert (site / "index.html").is_file()

  # Every public name has its own page, titled with it, documenting it.
  for name in softq.__all__:
    page = site / "api" / f"softq.{name}.html"
    assert page.is_file(), f"no API page for softq.{name}"
    text = page.read_text(encoding="utf-8")
    assert _title(page).startswith(f"softq.{name} "), f"{page.name}: title {_title(page)!r}"
    assert f'id="softq.{name}"' in text, f"{page.name} does not document softq.{name}"
  index = (site / "api" / "index.html").read_text(encoding="utf-8")
  for name in softq.__all__:
    assert f'href="softq.{name}.html' in index, f"the API index does not link softq.{name}"

  # Every page built from a source file has a title.
  pages = [p for p in site.rglob("*.html")
           if not p.relative_to(site).parts[0].startswith("_")
           and p.name not in ("genindex.html", "search.html", "py-modindex.html")]
  assert len(pages) >= len(softq.__all__) + len(NOTEBOOKS) + 8
  untitled = [str(p.relative_to(site)) for p in pages
              if not _title(p) or _title(p).startswith("<no title>")]
  assert not untitled, f"pages without a title: {untitled}"

  # The notebooks, with their plots, not re-executed.
  assert len(NOTEBOOKS) == 4
  for notebook in NOTEBOOKS:
    page = site / "notebooks" / f"{notebook.stem}.html"
    assert page.is_file(), f"{notebook.name} is not rendered"
    assert "<img" in page.read_text(encoding="utf-8"), f"{notebook.name}: no plot rendered"

  _check_math_is_typeset_offline(site)

  changelog = (site / "changelog.html").read_text(encoding="utf-8")
  assert _title(site / "changelog.html").startswith("Changelog")
  first_release = re.search(r"^## (.+)$", (ROOT / "CHANGELOG.md").read_text(encoding="utf-8"),
                            re.M).group(1)
  assert html.escape(first_release.split()[-1]) in changelog


# Rendered-math markup: the spans and divs of class "math" that MathJax typesets.
_MATH_ELEMENT = re.compile(
    r'<(span|div)\b[^>]*\bclass="[^"]*\bmath\b[^"]*"[^>]*>.*?</\1>', re.S)
# Code listings and cell outputs (a regex in a notebook may hold "\\["); inline code
# spans in prose are still checked (raw TeX there is what this test is about).
_PRE = re.compile(r"<pre\b.*?</pre>", re.S)
_SCRIPT_SRC = re.compile(r'<script\b[^>]*\bsrc="([^"]*)"', re.S)
_RAW_TEX = ("\\[", "\\tau", "\\propto")


def _check_math_is_typeset_offline(site: pathlib.Path) -> None:
  """No raw TeX outside rendered-math markup, the renderer bundled in the site,
  and no script loaded from another host (the site works offline)."""
  checked = 0
  for page in site.rglob("*.html"):
    rel = page.relative_to(site)
    if rel.parts[0] == "_modules":   # viewcode's highlighted source: code, not prose
      continue
    text = page.read_text(encoding="utf-8")
    for src in _SCRIPT_SRC.findall(text):
      assert not re.match(r"^(https?:)?//", src), f"{rel}: script from another host: {src}"
      if "mathjax" in src.lower():
        assert (page.parent / src.split("?")[0]).is_file(), f"{rel}: {src} is not in the site"
    body = _PRE.sub("", _MATH_ELEMENT.sub("", text))
    for tex in _RAW_TEX:
      at = body.find(tex)
      assert at < 0, f"{rel}: raw {tex} outside rendered math: ...{body[at - 80:at + 80]}..."
    if _MATH_ELEMENT.search(text):
      checked += 1
      assert "mathjax" in text.lower(), f"{rel}: math but no MathJax script"
  # The math page, the remedian API page and a pooling page carry typeset math.
  for name in ("math.html", "api/softq.remedian.html", "api/softq.median_pool.html"):
    assert _MATH_ELEMENT.search((site / name).read_text(encoding="utf-8")), f"{name}: no math"
  assert checked >= 3


def test_api_groups_cover_every_public_name_once():
  groups = _conf().api_groups(softq)
  names = [name for _, group in groups for name in group]
  assert sorted(names) == sorted(softq.__all__)
  assert all(title for title, _ in groups)


@dataclasses.dataclass(frozen=True)
class _Record:
  name: str
  summary: str
  cost: str
  hard_limit: str
  max_size: int | None
  supports_weights: bool


class _Package:
  """A stand-in for softq once it has a registry."""
  DEFAULT_ALGORITHM = "rank"
  ALGORITHMS = ("rank", "subsets")
  REGISTRY = {
      "rank": _Record("rank", "soft ranks | re-centred", "O(n^2)", "jnp", None, True),
      "subsets": _Record("subsets", "min over subsets", "O(C(n, n/2))", "remedian", 20,
                         False),
  }


@pytest.mark.parametrize("as_mapping", [True, False], ids=["mapping", "sequence"])
def test_algorithm_table_from_registry(as_mapping):
  package = _Package()
  if not as_mapping:
    package.REGISTRY = tuple(_Package.REGISTRY.values())
  lines = _conf().algorithms_table(package).splitlines()
  rows = [line for line in lines if line.startswith('| `"')]
  assert rows == [
      '| `"rank"` (default) | soft ranks \\| re-centred | O(n^2) | the exact `jax.numpy` '
      "result | any | yes |",
      '| `"subsets"` | min over subsets | O(C(n, n/2)) | the hard remedian (an estimate of '
      "the median) | 20 | no |",
  ]
  assert "`softq.REGISTRY`" in lines[-1]


def test_algorithm_table_without_registry():
  class Package:  # a softq without REGISTRY: the names alone
    DEFAULT_ALGORITHM = "rank"
    ALGORITHMS = ("subsets", "rank")
  lines = _conf().algorithms_table(Package).splitlines()
  assert [line for line in lines if line.startswith('| `"')] == [
      '| `"subsets"` |', '| `"rank"` (default) |']
  assert "`softq.ALGORITHMS`" in lines[-1]


def test_algorithm_table_lists_every_algorithm():
  text = _conf().algorithms_table(softq)
  for name in softq.ALGORITHMS:
    assert f'`"{name}"`' in text
  assert f'`"{softq.DEFAULT_ALGORITHM}"` (default)' in text
