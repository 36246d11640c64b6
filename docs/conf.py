"""Sphinx configuration of the softq documentation site.

    pip install -e ".[docs]"
    sphinx-build -W -b html docs docs/_build/html   # then open docs/_build/html/index.html

Before Sphinx reads the sources, this file writes three gitignored folders from
the package and the repository, so that nothing is maintained twice:

- ``docs/api/``: one page per name in ``softq.__all__`` (autodoc, Google-style
  docstrings through napoleon) and the API index, grouped by the module that
  defines each name.  New or renamed public names appear on the next build.
- ``docs/notebooks/``: copies of ``notebooks/*.ipynb``, rendered by myst-nb
  with their committed outputs and plots; they are never executed here (the
  test suite executes them).
- ``docs/_generated/algorithms.md``: the table of algorithms, from
  ``softq.REGISTRY`` when the package has one, else from ``softq.ALGORITHMS``;
  included by ``choosing.md``.

Each file is rewritten only when its content changes, so incremental builds
stay incremental, and files that no longer correspond to a public name or a
notebook are removed.
"""

from __future__ import annotations

import collections.abc
import importlib
import inspect
import os
import pathlib
import re
import sys
import tempfile

DOCS = pathlib.Path(__file__).resolve().parent
ROOT = DOCS.parent
API_DIR = DOCS / "api"
NOTEBOOK_DIR = DOCS / "notebooks"
GENERATED_DIR = DOCS / "_generated"

try:
  import softq
except ModuleNotFoundError:  # building from a checkout without `pip install -e .`
  sys.path.insert(0, str(ROOT))
  import softq

# -- Project -------------------------------------------------------------------

project = "softq"
author = "The softq developers"
copyright = "the softq developers"  # pylint: disable=redefined-builtin
release = softq.__version__
version = release

# -- General -------------------------------------------------------------------

extensions = [
    "myst_nb",                  # Markdown pages (MyST) and the .ipynb notebooks
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",   # the summary tables of the API index only
    "sphinx.ext.napoleon",      # Google-style Args / Returns / Examples
    "sphinx.ext.mathjax",
    # MathJax 3 bundled into _static/mathjax/ from the PyPI package: the site
    # typesets its math offline and loads no script from another host.
    "sphinx-mathjax-offline",
    "sphinx.ext.viewcode",
]
exclude_patterns = [
    "_build",
    "_generated",       # only included into other pages, never a page itself
    "**.ipynb_checkpoints",
    "Thumbs.db",
    ".DS_Store",
]
root_doc = "index"
language = "en"

# MyST: Markdown anchors for `page.md#section` links; `$...$`, `$$...$$` and
# `\begin{align}...` math in the pages.
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath", "amsmath"]

# myst-nb: the committed notebooks carry their outputs; show them, never run.
nb_execution_mode = "off"
nb_merge_streams = True

# autodoc: the docstrings are the reference.
autodoc_typehints = "signature"
# Show the public alias, not the Union it expands to (the modules use
# `from __future__ import annotations`, so annotations are strings).
autodoc_type_aliases = {"ArrayLike": "jax.typing.ArrayLike"}
autodoc_member_order = "bysource"
autosummary_generate = False        # the pages are written by _write_api_pages
add_module_names = True

napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = False

# -- HTML ----------------------------------------------------------------------

html_theme = "sphinx_book_theme"
html_title = f"softq {release}"
html_theme_options = {
    "show_toc_level": 2,
    "navigation_with_keys": False,
}
html_static_path: list[str] = []


# -- Generated pages -----------------------------------------------------------


def _write(path: pathlib.Path, content: str | bytes) -> None:
  """Writes ``content`` unless the file already holds it (keeps mtimes, so
  Sphinx rebuilds only what changed); atomic, so parallel builds are safe."""
  data = content.encode("utf-8") if isinstance(content, str) else content
  if path.exists() and path.read_bytes() == data:
    return
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
  with os.fdopen(fd, "wb") as f:
    f.write(data)
  os.replace(tmp, path)


def _sync(folder: pathlib.Path, files: dict[str, str | bytes], suffix: str) -> None:
  """Makes ``folder``'s ``*suffix`` files exactly ``files`` (name -> content)."""
  for name, content in files.items():
    _write(folder / name, content)
  for stale in folder.glob(f"*{suffix}"):
    if stale.name not in files:
      stale.unlink(missing_ok=True)


def _kind(obj) -> str:
  if inspect.isclass(obj):
    return "class"
  if callable(obj):
    return "function"
  return "data"


def api_page_name(name: str) -> str:
  """The docname of a public name's page, relative to docs/api/."""
  return f"softq.{name}"


def _doc_comment(name: str) -> str:
  """The ``#:`` comment documenting a constant in softq/__init__.py, if any
  (a constant cannot carry a docstring)."""
  try:
    from sphinx.pycode import ModuleAnalyzer  # pylint: disable=import-outside-toplevel
    docs = ModuleAnalyzer.for_module("softq").find_attr_docs()
  except Exception:  # pylint: disable=broad-except
    return ""
  return "\n".join(docs.get(("", name), [])).strip()


def _api_page(name: str, obj) -> str:
  kind = _kind(obj)
  note = ""
  if kind == "data":
    # autodata would show the docstring of the constant's type (tuple's,
    # mappingproxy's): declare it, with its value when that reads as a literal.
    value = repr(obj)
    option = (f":value: {value}" if len(value) <= 120 and " at 0x" not in value
              else f":type: {type(obj).__name__}")
    comment = "".join(f"   {line}\n" if line else "\n"
                      for line in _doc_comment(name).splitlines())
    rst = f".. py:data:: {name}\n   {option}\n" + (f"\n{comment}" if comment else "")
    if name == "REGISTRY":
      note = ("\n```{include} ../_generated/algorithms.md\n```\n\n"
              "[Choosing an algorithm](../choosing.md) compares them.\n")
    elif "ALGORITHM" in name:
      note = ("\nThe algorithms are listed and compared in "
              "[Choosing an algorithm](../choosing.md#the-algorithms).\n")
  else:
    directive = "autoclass" if kind == "class" else "autofunction"
    options = "   :members:\n   :show-inheritance:\n" if kind == "class" else ""
    rst = f".. {directive}:: {name}\n{options}"
  return (f"# `softq.{name}`\n\n```{{eval-rst}}\n.. currentmodule:: softq\n\n{rst}```\n"
          f"{note}")


def _group_title(module_name: str | None) -> str:
  """A section title for the names a module defines: its docstring's summary
  up to the first ':' or ' (' (e.g. 'The soft max family: ...' -> 'The soft max
  family'); modules are private, so their names are never shown."""
  if module_name is None:
    return "Constants"
  try:
    doc = inspect.getdoc(importlib.import_module(module_name)) or ""
  except ImportError:
    doc = ""
  summary = doc.strip().splitlines()[0] if doc.strip() else ""
  for stop in (":", " ("):
    summary = summary.split(stop)[0]
  summary = summary.strip().rstrip(".")
  return summary or "Other"


def api_groups(package) -> list[tuple[str, list[str]]]:
  """``package.__all__`` grouped by defining module, in ``__all__`` order;
  constants last."""
  groups: dict[str, list[str]] = {}
  constants = []
  for name in package.__all__:
    obj = getattr(package, name)
    if _kind(obj) == "data":
      constants.append(name)
      continue
    groups.setdefault(_group_title(getattr(obj, "__module__", None)), []).append(name)
  ordered = list(groups.items())
  if constants:
    ordered.append(("Constants", constants))
  return ordered


def _api_index(package) -> str:
  lines = [
      "# API reference",
      "",
      f"softq {package.__version__}. The public API is exactly the names below "
      "(`softq.__all__`); modules whose names start with `_` are private and may "
      "change without notice. Every soft function takes the keyword-only "
      "`temperature` (`0` returns the exact `jax.numpy` result) and works under "
      "`jax.jit`, `jax.vmap` and `jax.grad`. [The math](../math.md) explains the "
      "constructions; [choosing an algorithm](../choosing.md) compares the "
      "algorithms.",
      "",
  ]
  groups = api_groups(package)
  for title, names in groups:
    lines += [f"## {title}", "", "```{eval-rst}", ".. currentmodule:: softq", "",
              ".. autosummary::", ""]
    lines += [f"   {name}" for name in names]
    lines += ["```", ""]
  # The sidebar lists the pages in the same order as the sections above.
  lines += ["```{toctree}", ":hidden:", ""]
  lines += [api_page_name(name) for _, names in groups for name in names]
  lines += ["```", ""]
  return "\n".join(lines)


def _write_api_pages(package) -> None:
  pages = {f"{api_page_name(n)}.md": _api_page(n, getattr(package, n))
           for n in package.__all__}
  pages["index.md"] = _api_index(package)
  _sync(API_DIR, pages, ".md")


def _cell(text) -> str:
  return str(text).replace("|", "\\|").replace("\n", " ").strip()


_HARD_LIMITS = {
    "jnp": "the exact `jax.numpy` result",
    "remedian": "the hard remedian (an estimate of the median)",
}


def algorithms_table(package) -> str:
  """Markdown for docs/_generated/algorithms.md.

  From ``package.REGISTRY`` (a mapping name -> record, or a sequence of records
  with ``name``, ``summary``, ``cost``, ``hard_limit``, ``max_size``,
  ``supports_weights``) when present, else the names in ``package.ALGORITHMS``.
  """
  default = getattr(package, "DEFAULT_ALGORITHM", None)

  def label(name):
    return f'`"{name}"`' + (" (default)" if name == default else "")

  registry = getattr(package, "REGISTRY", None)
  if registry is not None:
    records = list(registry.values() if isinstance(registry, collections.abc.Mapping)
                   else registry)
    lines = [
        "| `algorithm` | what it does | cost | hard limit (`temperature=0`) | largest `n` | `weights=` |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in records:
      max_size = "any" if r.max_size is None else f"{r.max_size:,}"
      hard = _HARD_LIMITS.get(r.hard_limit, f"`{r.hard_limit}`")
      weights = "yes" if r.supports_weights else "no"
      lines.append(f"| {label(r.name)} | {_cell(r.summary)} | {_cell(r.cost)} | "
                   f"{hard} | {max_size} | {weights} |")
    source = "`softq.REGISTRY`"
  else:
    lines = ["| `algorithm` |", "| --- |"]
    lines += [f"| {label(name)} |" for name in getattr(package, "ALGORITHMS", ())]
    source = "`softq.ALGORITHMS`"
  lines += ["", f"(Generated from {source} when this site was built.)", ""]
  return "\n".join(lines)


def _copy_notebooks() -> None:
  notebooks = {p.name: p.read_bytes() for p in sorted((ROOT / "notebooks").glob("*.ipynb"))}
  _sync(NOTEBOOK_DIR, notebooks, ".ipynb")


def _generate(app, config) -> None:  # pylint: disable=unused-argument
  _write_api_pages(softq)
  _write(GENERATED_DIR / "algorithms.md", algorithms_table(softq))
  _copy_notebooks()


def _skip_namedtuple_aliases(app, what, name, obj, skip, options):  # pylint: disable=unused-argument
  """NamedTuple fields document themselves as 'Alias for field number N';
  skip those (the class signature lists the fields, its docstring explains them)."""
  if what == "class" and isinstance(getattr(obj, "__doc__", None), str) and (
      obj.__doc__.startswith("Alias for field number")):
    return True
  return None


_FORWARD_REF = re.compile(r"TypeAliasForwardRef\('([^']*)'\)")


def _unwrap_alias_refs(app, what, name, obj, options, signature, return_annotation):  # pylint: disable=unused-argument
  """``ArrayLike | None`` renders as ``TypeAliasForwardRef('...') | None`` in
  Sphinx 9.0 (sphinx-doc/sphinx#14004): show the alias's name instead."""
  def fix(text):
    return _FORWARD_REF.sub(r"\1", text) if text else text
  return fix(signature), fix(return_annotation)


def setup(app):
  app.connect("config-inited", _generate)
  app.connect("autodoc-skip-member", _skip_namedtuple_aliases)
  app.connect("autodoc-process-signature", _unwrap_alias_refs)
  return {"parallel_read_safe": True, "parallel_write_safe": True}
