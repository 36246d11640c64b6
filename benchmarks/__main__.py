"""softq benchmark: every performance target of the project, from one run.

Usage::

  python -m benchmarks [--quick] [--only SECTION[,SECTION]] [--write PATH]
                       [--rounds R] [--gpu-large]
  python -m benchmarks --headline [--append PATH]

Sections (all by default): remedian, exact, default, rows, pool, quantile,
compile, memory; on request only (``--only ranks``): ranks (the soft ranks'
O(n log n) path against the dense pairwise sums it replaces above 128 values).  The report is printed as markdown tables, section by
section, then a targets section (each target, its measured ratio, met or
missed) and the notes; ``--write`` also writes it, with the machine, the
versions (python, jax, jaxlib, numpy, softq and the peers), the date and the
command, to PATH.

``--headline`` runs the headline rows only (remedian and exact median at
n = 531,441, the default median at n = 1e6, the short and long rows) and
their targets: run it under another JAX (the oldest supported one, in its own
virtual environment) with ``--append benchmarks/RESULTS.md`` to add them to
the report as one section headed by that JAX's versions.  The full report is
measured on the newest JAX that pip resolves (what users get).

Methodology.

* Data: float32 standard-normal samples (seeded).  softq runs at
  temperature 0.01 in data units (1 % of the standard deviation); SoftJAX at
  softness 0.01 on standardised data (its default ``standardize=True``: the
  same scale); ott-jax at its default regularisation.
* Timing (``benchmarks/_harness.py``): the implementations of a case are
  compiled, called once each as a warm-up, then called round by round (each
  once per round, >= 7 rounds, the starting one rotating), for the value
  ("fwd") and for ``jax.value_and_grad`` of the sum of the outputs ("v+g").
  The tables give the median and the minimum over rounds of each call and
  the ratios of medians and of minimums to the case's reference measured in
  the same rounds.  The targets are on value+gradient; a target is met when
  its ratio of medians is within the bound (the ratio of minimums is shown
  beside it).
* Accuracy: ``max abs err`` to the hard result (``jnp``; for the pool, the
  hard median filter); for softq's exact algorithms also to softq's own
  dense ``"deviation"`` value (n <= 16,384), which they must equal.
* Compile time (``benchmarks/compile_time.py``): seconds of
  ``jax.jit(jax.value_and_grad(f)).lower(x).compile()``, each measurement in
  a fresh subprocess (no trace or compilation cache), the cases interleaved
  round by round.
* Memory (``benchmarks/memory.py``): peak resident set above the input
  during one value+gradient call, in a fresh subprocess, compilation
  excluded.
* Affordability: softq algorithms whose cost is O(n^2) (or worse) are run up
  to n = 16,384 only; SoftJAX neuralsort (O(n^2)) and ott-jax likewise.
  This includes the default algorithm when it is such a one: the rows it
  cannot afford are skipped with a note and their targets read "not
  measured".
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib.metadata
import json
import logging
import os
import platform
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import softq

from benchmarks import _harness
from benchmarks import compile_time
from benchmarks import pool as pool_bench
from benchmarks import topk_sort
from benchmarks._harness import Impl

TAU = 0.01
Q5 = (0.1, 0.25, 0.5, 0.75, 0.9)
SECTIONS = ("remedian", "exact", "default", "rows", "pool", "quantile", "compile", "memory",
            "topk_sort")
OPTIONAL_SECTIONS = ("ranks",)      # run with --only only
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DENSE_MAX = 16384     # largest n for O(n^2) implementations


@dataclasses.dataclass(frozen=True)
class Config:
  rounds: int
  remedian_sizes: tuple[int, ...]
  exact_sizes: tuple[int, ...]
  default_n: int
  row_shapes: tuple[tuple[int, int], ...]
  pool_shape: tuple[int, int, int, int]
  quantile_n: int
  compile_n: int
  compile_rounds: int
  memory_n: int
  memory_dense_n: int
  gpu_large: bool = False     # remedian section: add n = 10**8 against jnp.sum
  rank_sizes: tuple[int, ...] = (2048, 16384, 131072)


FULL = Config(rounds=7, remedian_sizes=(59049, 531441, 1062882),
              exact_sizes=(1024, 16384, 65536, 531441), default_n=1_000_000,
              row_shapes=((100000, 9), (10000, 64), (256, 512), (64, 4096)),
              pool_shape=(32, 64, 64, 16), quantile_n=16384, compile_n=100_000, compile_rounds=3,
              memory_n=1_000_000, memory_dense_n=16384)
QUICK = Config(rounds=7, remedian_sizes=(59049,), exact_sizes=(1024, 65536), default_n=4096,
               row_shapes=((2000, 9), (500, 64)), pool_shape=(4, 32, 32, 8),
               quantile_n=1024, compile_n=10_000, compile_rounds=1,
               memory_n=16384, memory_dense_n=4096, rank_sizes=(2048,))
#: --headline: the rows of the targets table, at the targets' sizes.
HEADLINE = dataclasses.replace(FULL, remedian_sizes=(531441,), exact_sizes=(531441,))
HEADLINE_SECTIONS = ("remedian", "exact", "default", "rows")


# --------------------------------------------------------------------------
# implementations
# --------------------------------------------------------------------------

def _is_dense(algorithm: str) -> bool:
  """Whether a softq algorithm ("default" = the library's default) costs O(n^2)+."""
  if algorithm == "default":
    algorithm = softq.DEFAULT_ALGORITHM
  spec = getattr(softq, "REGISTRY", {}).get(algorithm)
  cost = getattr(spec, "cost", "")
  return "n^2" in cost or "C(n" in cost


def affordable(algorithm: str, n: int) -> bool:
  return n <= DENSE_MAX or not _is_dense(algorithm)


def softq_median(algorithm: str, axis=None) -> Impl:
  kw = {} if algorithm == "default" else {"algorithm": algorithm}
  return Impl(f"softq {algorithm}", lambda v: softq.median(v, axis=axis, temperature=TAU, **kw))


def softq_quantile(algorithm: str, q) -> Impl:
  kw = {} if algorithm == "default" else {"algorithm": algorithm}
  return Impl(f"softq {algorithm}", lambda v: softq.quantile(v, q, temperature=TAU, **kw))


class Peers:
  """SoftJAX and ott-jax through their public APIs, when importable."""

  def __init__(self, notes: list[str]):
    self.softjax = self._import("softjax", notes, "SoftJAX (needs Python >= 3.12)")
    self.ott = self._import("ott.tools.soft_sort", notes, "ott-jax")

  @staticmethod
  def _import(module: str, notes: list[str], what: str):
    try:
      return importlib.import_module(module)
    except Exception as e:  # pylint: disable=broad-except
      notes.append(f"{what} not importable here ({type(e).__name__}): its rows are skipped.")
      return None

  def median(self, n: int, axis=None, neuralsort=True, ott=True) -> list[Impl]:
    out = []
    if self.softjax is not None:
      methods = (["neuralsort"] if neuralsort and n <= DENSE_MAX else []) + ["fast_soft_sort"]
      out += [Impl(f"SoftJAX {m}", lambda v, m=m: self.softjax.median(
          v, axis=axis, softness=TAU, method=m)) for m in methods]
    if self.ott is not None and ott and n <= DENSE_MAX:
      out.append(Impl("ott soft_sort.quantile", lambda v: self.ott.quantile(
          v, q=jnp.asarray(0.5), axis=-1 if axis is not None else 0)))
    return out

  def quantile(self, q, n: int) -> list[Impl]:
    out = []
    if self.softjax is not None:
      methods = (["neuralsort"] if n <= DENSE_MAX else []) + ["fast_soft_sort"]
      out += [Impl(f"SoftJAX {m}", lambda v, m=m: self.softjax.quantile(
          v, q, softness=TAU, method=m)) for m in methods]
    if self.ott is not None and n <= DENSE_MAX:
      out.append(Impl("ott soft_sort.quantile", lambda v: self.ott.quantile(v, q=q, axis=0)))
    return out


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------

class Report:
  """Collects the tables (printed as they are measured), results and notes."""

  def __init__(self):
    self.lines: list[str] = []
    self.results: dict[str, _harness.CaseResult] = {}
    self.compile: dict[str, _harness.Stats] = {}
    self.memory: dict[tuple[str, int], float] = {}
    self.notes: list[str] = []

  def emit(self, *lines: str) -> None:
    for line in lines:
      self.lines.append(line)
      print(line, flush=True)

  def section(self, title: str, intro: str = "", timing_table: bool = True) -> None:
    self.emit("", f"## {title}", "")
    load = f"(load average at start: {os.getloadavg()[0]:.2f})"
    self.emit(f"{intro} {load}" if intro else load, "")
    if timing_table:
      self.emit(*_harness.header_lines())

  def case(self, case: str, x, impls, rounds: int, **kw) -> _harness.CaseResult:
    kw.setdefault("reference", impls[0].name)
    result = _harness.measure_case(case, x, impls, rounds, self.notes, **kw)
    self.results[case] = result
    self.emit(*_harness.row_lines(result))
    return result

  def skip(self, what: str) -> None:
    self.notes.append(what)
    print(f"  note: {what}", flush=True)


def _normal(rng, shape):
  return jnp.asarray(rng.standard_normal(shape), jnp.float32)


# --------------------------------------------------------------------------
# sections
# --------------------------------------------------------------------------

def remedian_label(n): return f"remedian n={n:,}"
def exact_label(n): return f"exact median n={n:,}"
def default_label(n): return f"default median n={n:,}"
def rows_label(shape): return f"rows {shape}"


def run_remedian(cfg: Config, peers: Peers, report: Report, rng):
  report.section("Remedian median (O(n)) vs jnp.median",
                 "`softq.median(x, algorithm=\"remedian\")`; its error is to `jnp.median`, "
                 "which it estimates.")
  for n in cfg.remedian_sizes:
    impls = [Impl("jnp.median", jnp.median), softq_median("remedian")]
    impls += peers.median(n, neuralsort=False, ott=False)
    report.case(remedian_label(n), _normal(rng, n), impls, cfg.rounds)
  if cfg.gpu_large:
    n = 10 ** 8
    x = jax.random.normal(jax.random.key(0), (n,), jnp.float32)
    report.case(f"remedian n={n:,} vs one read", x,
                [Impl("jnp.sum (one read)", jnp.sum), softq_median("remedian")],
                cfg.rounds, hard_from=None)


def run_exact(cfg: Config, peers: Peers, report: Report, rng):
  report.section("Exact-limit soft median vs jnp.median",
                 f"softq algorithms whose hard limit is `jnp.median`; O(n^2) ones up to "
                 f"n = {DENSE_MAX:,}.")
  for n in cfg.exact_sizes:
    algos = [a for a in ("sorted", "deviation", "rank") if affordable(a, n)]
    impls = [Impl("jnp.median", jnp.median)] + [softq_median(a) for a in algos]
    impls += peers.median(n)
    report.case(exact_label(n), _normal(rng, n), impls, cfg.rounds,
                deviation_from="softq deviation" if "deviation" in algos else None)


def run_default(cfg: Config, peers: Peers, report: Report, rng):
  del peers
  n = cfg.default_n
  report.section(f"Default median (`softq.median(x)`, default algorithm "
                 f"{softq.DEFAULT_ALGORITHM!r})",
                 "`sorted` and `remedian` rows for information.")
  impls = [Impl("jnp.median", jnp.median)]
  if affordable("default", n):
    impls.append(softq_median("default"))
  else:
    report.skip(f"{default_label(n)}: the default algorithm {softq.DEFAULT_ALGORITHM!r} "
                f"costs O(n^2): not run above n = {DENSE_MAX:,}.")
  impls += [softq_median("sorted"), softq_median("remedian")]
  report.case(default_label(n), _normal(rng, n), impls, cfg.rounds)


def run_rows(cfg: Config, peers: Peers, report: Report, rng):
  report.section("Short rows along the last axis vs jnp.median(x, axis=-1)",
                 "`softq.median(x, axis=-1)`; ott-jax is not run here (its forward alone "
                 "takes ~12 s per call at (100000, 9)).")
  for shape in cfg.row_shapes:
    short = shape[1] <= 64        # long rows: no O(b^2) implementation (GBs of pairs)
    impls = [Impl("jnp.median", lambda v: jnp.median(v, axis=-1))]
    impls += [softq_median(a, axis=-1) for a in (("default", "deviation", "sorted") if short
                                                 else ("default", "sorted"))]
    impls += peers.median(shape[1], axis=-1, ott=False, neuralsort=short)
    report.case(rows_label(shape), _normal(rng, shape), impls, cfg.rounds,
                deviation_from="softq deviation" if short else None)


def pool_label(shape): return f"pool {tuple(shape)} (3, 3) s(1, 1) SAME"


def run_pool(cfg: Config, peers: Peers, report: Report, rng):
  del peers
  report.section("Median pooling vs a hard median filter",
                 "`softq.median_pool(x, (3, 3), padding=\"SAME\", temperature=0.01)`; "
                 "ref = the fastest of three hand-written hard median filters that ignore "
                 "the padding (nanmedian; sort; sorting network), all checked equal "
                 "(`max abs err` to the nanmedian one); see benchmarks/pool.py.")
  x = _normal(rng, cfg.pool_shape)
  impls = pool_bench.pool_impls(cfg.pool_shape[1:3], (3, 3), (1, 1), "SAME", TAU)
  report.case(pool_label(cfg.pool_shape), x, impls, cfg.rounds, reference=pool_bench.HARD,
              hard_from=pool_bench.HARD[0])


def run_quantile(cfg: Config, peers: Peers, report: Report, rng):
  n = cfg.quantile_n
  q = jnp.asarray(Q5, jnp.float32)
  report.section(f"Five quantiles {Q5} vs jnp.quantile")
  algos = [a for a in ("sorted", "deviation") if affordable(a, n)]
  impls = [Impl("jnp.quantile", lambda v: jnp.quantile(v, q))]
  impls += [softq_quantile(a, q) for a in algos] + peers.quantile(q, n)
  report.case(f"quantile x5 n={n:,}", _normal(rng, n), impls, cfg.rounds,
              deviation_from="softq deviation" if "deviation" in algos else None)


def _subprocess_json(module: str, *args, timeout: float = 1800) -> dict:
  env = dict(os.environ, JAX_ENABLE_COMPILATION_CACHE="false")
  res = subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True,
                       text=True, timeout=timeout, cwd=ROOT, env=env, check=False)
  if res.returncode:
    lines = res.stderr.strip().splitlines() or ["(no output)"]
    raise RuntimeError(f"exit {res.returncode}: {lines[-1][:200]}")
  return json.loads(res.stdout.strip().splitlines()[-1])


COMPILE_CASES = ("jnp", "default", "sorted", "remedian", "stream-trivial", "stream-remedian")


HLO_CASES = (("jnp", "jnp.median"), ("default", "softq.median (default)"),
             ("softjax", "SoftJAX fast_soft_sort"))


def run_compile(cfg: Config, peers: Peers, report: Report, rng):
  del rng
  n = cfg.compile_n
  report.section(f"Compile time of jit(value_and_grad(f)).lower(x).compile(), n = {n:,}",
                 f"Fresh subprocess per measurement, {cfg.compile_rounds} interleaved "
                 f"round(s). Streaming: `lax.scan` over chunks of 1,000 ({n // 1000} steps) "
                 "then `remedian_result`, against the same scan carrying a running sum.",
                 timing_table=False)
  samples = {c: [] for c in COMPILE_CASES}
  for r in range(cfg.compile_rounds):
    k = r % len(COMPILE_CASES)
    for case in COMPILE_CASES[k:] + COMPILE_CASES[:k]:
      if case not in samples:
        continue
      try:
        samples[case].append(_subprocess_json("benchmarks.compile_time", case, n))
      except Exception as e:  # pylint: disable=broad-except
        report.skip(f"compile {case}: failed, {_harness.short_error(e)}")
        del samples[case]
  report.emit("| case | lower s (med) | compile s (med) | total s (med) | total s (min) "
              "| / ref (med) | / ref (min) | ref |", "|" + "---|" * 8)
  for case, runs in samples.items():
    report.compile[case] = _harness.Stats([s["total_s"] for s in runs])
  for case, runs in samples.items():
    ref = "stream-trivial" if case.startswith("stream") else "jnp"
    st, rs = report.compile[case], report.compile.get(ref)
    med = lambda key: _harness.Stats([s[key] for s in runs]).median  # noqa: E731
    ratio = ("-", "-") if rs is None else (f"{st.median / rs.median:.3g}",
                                           f"{st.min / rs.min:.3g}")
    label = f"default ({softq.DEFAULT_ALGORITHM})" if case == "default" else case
    report.emit(f"| {label} | {med('lower_s'):.3g} | {med('compile_s'):.3g} | "
                f"{st.median:.3g} | {st.min:.3g} | {ratio[0]} | {ratio[1]} | {ref} |")
  emit_hlo_lines(n, peers, report)


def emit_hlo_lines(n: int, peers: Peers, report: Report) -> None:
  """Program size, deterministic: lines of the optimised HLO of the same functions."""
  report.emit("", f"Optimised HLO of `jit(value_and_grad(f))` at n = {n:,} "
              "(`len(compile().as_text().splitlines())`; deterministic for a given jax):", "",
              "| function | optimised HLO lines | / jnp.median |", "|---|---|---|")
  counts = {}
  for case, label in HLO_CASES:
    if case == "softjax" and peers.softjax is None:
      continue
    try:
      counts[case] = compile_time.hlo_lines(case, n)
    except Exception as e:  # pylint: disable=broad-except
      report.skip(f"HLO lines {label}: failed, {_harness.short_error(e)}")
      continue
    ref = counts.get("jnp")
    report.emit(f"| {label} | {counts[case]:,} | "
                f"{'-' if ref is None else f'{counts[case] / ref:.3g}x'} |")


def run_memory(cfg: Config, peers: Peers, report: Report, rng):
  del peers, rng
  report.section("Peak memory of one value+gradient call, above the input",
                 "Fresh subprocess each (`python -m benchmarks.memory ALGO N rev`); "
                 "VmHWM reset after compilation.", timing_table=False)
  report.emit("| algorithm | n | peak above input MB | input MB |", "|---|---|---|---|")
  cases = [(a, cfg.memory_n) for a in ("jnp", "default", "sorted", "remedian")]
  cases += [(a, cfg.memory_dense_n) for a in ("deviation", "rank")]
  for algorithm, n in cases:
    if algorithm != "jnp" and not affordable(algorithm, n):
      report.skip(f"memory {algorithm} n={n:,}: O(n^2) algorithm "
                  f"({softq.DEFAULT_ALGORITHM!r} for default), not run above n = {DENSE_MAX:,}.")
      continue
    try:
      out = _subprocess_json("benchmarks.memory", algorithm, n, "rev")
    except Exception as e:  # pylint: disable=broad-except
      report.skip(f"memory {algorithm} n={n:,}: failed, {_harness.short_error(e)}")
      continue
    report.memory[(algorithm, n)] = out["delta_mb"]
    report.emit(f"| {out['algorithm']} | {n:,} | {out['delta_mb']:.1f} | {out['input_mb']:.2f} |")


def _dense_ranks(fn):
  """``fn`` traced with the soft ranks' pairwise sums at every size (the former path)."""
  from softq._algorithms.rank import kernel as rank_algorithm   # pylint: disable=import-outside-toplevel

  def traced(v):
    saved = rank_algorithm.DENSE_MAX
    rank_algorithm.DENSE_MAX = 1 << 62
    jax.clear_caches()        # the engine's jit caches would reuse the other path
    try:
      return fn(v)
    finally:
      rank_algorithm.DENSE_MAX = saved
      jax.clear_caches()
  return traced


def run_ranks(cfg: Config, peers: Peers, report: Report, rng):
  del peers
  report.section("Soft ranks: O(n log n) vs the dense pairwise sums",
                 "`softq.rank(x, temperature=0.01)` (v+g of the sum of the ranks) and "
                 "`softq.median(x, algorithm=\"rank\")`; \"dense\" forces the former "
                 f"pairwise sums (run up to n = {DENSE_MAX:,}).")
  for n in cfg.rank_sizes:
    x = _normal(rng, n)
    rank = lambda v: softq.rank(v, temperature=TAU)
    impls = [Impl("softq.rank", rank)]
    if n <= DENSE_MAX:
      impls.append(Impl("softq.rank dense", _dense_ranks(rank)))
    report.case(f"rank n={n:,}", x, impls, cfg.rounds, hard_from=None)
    median = softq_median("rank").fn
    impls = [Impl("jnp.median", jnp.median), Impl("softq rank", median)]
    if n <= DENSE_MAX:
      impls.append(Impl("softq rank dense", _dense_ranks(median)))
    report.case(f"rank median n={n:,}", x, impls, cfg.rounds)


RUNNERS = dict(remedian=run_remedian, exact=run_exact, default=run_default, rows=run_rows,
               pool=run_pool, quantile=run_quantile, compile=run_compile, memory=run_memory,
               ranks=run_ranks, topk_sort=lambda cfg, peers, report, rng: topk_sort.run(
                   cfg, report, rng, Impl, _subprocess_json))


# --------------------------------------------------------------------------
# targets
# --------------------------------------------------------------------------

@dataclasses.dataclass
class Target:
  label: str
  bound: float
  measured: tuple[float, float] | None     # (ratio of medians, ratio of minimums)
  case: str
  unit: str = "x"
  why_missing: str = ""       # shown when not measured

  def status(self) -> str:
    if self.measured is None:
      return "not measured" + (f" ({self.why_missing})" if self.why_missing else "")
    med, low = self.measured
    status = "met" if med <= self.bound else "missed"
    if (low <= self.bound) != (med <= self.bound):
      status += f" (minimums: {'met' if low <= self.bound else 'missed'})"
    return status

  def line(self) -> str:
    if self.measured is None:
      got = ("-", "-")
    elif self.unit == "MB":
      got = (f"{self.measured[0]:.0f} MB", "-")
    else:
      got = tuple(f"{v:.3g}x" for v in self.measured)
    bound = f"<= {self.bound:g} MB" if self.unit == "MB" else f"<= {self.bound:g}x"
    return f"| {self.label} | {self.case} | {got[0]} | {got[1]} | {bound} | {self.status()} |"


def _ratio(report: Report, case: str, impl: str, ref: str | None = None):
  result = report.results.get(case)
  return None if result is None else result.ratio(impl, ref)


def _compile_ratio(report: Report, case: str, ref: str):
  a, b = report.compile.get(case), report.compile.get(ref)
  return None if a is None or b is None else (a.median / b.median, a.min / b.min)


def targets(cfg: Config, report: Report) -> list[Target]:
  """The project's performance targets, on value+gradient, float32."""
  big_exact, big_remedian = exact_label(cfg.exact_sizes[-1]), remedian_label(531441)
  if big_remedian not in report.results:
    big_remedian = remedian_label(cfg.remedian_sizes[-1])
  default = default_label(cfg.default_n)
  rows9, rows64 = (rows_label(s) for s in cfg.row_shapes[:2])
  pool_case = pool_label(cfg.pool_shape)
  pool_ref = report.results[pool_case].reference if pool_case in report.results else None
  mem_n = cfg.memory_n
  mem = report.memory.get(("default", mem_n))
  dense = (f"default {softq.DEFAULT_ALGORITHM!r} is O(n^2)"
           if not affordable("default", max(cfg.default_n, mem_n)) else "")
  out = [
      Target("1. `sorted` <= 1.5x jnp.median", 1.5,
             _ratio(report, big_exact, "softq sorted"), big_exact),
      Target("1. `sorted` <= 0.5x SoftJAX fast_soft_sort", 0.5,
             _ratio(report, big_exact, "softq sorted", "SoftJAX fast_soft_sort"), big_exact),
      Target("2. default `softq.median(x)` <= 2x jnp.median", 2.0,
             _ratio(report, default, "softq default"), default, why_missing=dense),
      Target("2. default: peak memory above input, well under 1 GB", 512.0,
             None if mem is None else (mem, mem), f"memory n={mem_n:,}", unit="MB",
             why_missing=dense),
      Target("3. remedian <= 0.25x jnp.median", 0.25,
             _ratio(report, big_remedian, "softq remedian"), big_remedian),
      Target("3. remedian <= 0.5x jnp.median", 0.5,
             _ratio(report, big_remedian, "softq remedian"), big_remedian),
      Target("4. rows, default algorithm <= 1.0x", 1.0,
             _ratio(report, rows9, "softq default"), rows9),
      Target("4. rows, default algorithm <= 2.0x", 2.0,
             _ratio(report, rows64, "softq default"), rows64),
  ] + [
      Target("4. long rows, default algorithm <= 2.0x", 2.0,
             _ratio(report, rows_label(s), "softq default"), rows_label(s))
      for s in cfg.row_shapes[2:]
  ] + [
      Target("4. long rows, default algorithm <= 0.5x SoftJAX fast_soft_sort", 0.5,
             _ratio(report, rows_label(s), "softq default", "SoftJAX fast_soft_sort"),
             rows_label(s))
      for s in cfg.row_shapes[2:]
  ] + [
      Target("7. sort (64, 4096) <= 1.0x SoftJAX fast_soft_sort", 1.0,
             _ratio(report, "sort (64, 4096)", "softq sort", "softjax fast_soft_sort"),
             "sort (64, 4096)"),
      Target("7. sort n=65,536 <= 1.0x SoftJAX fast_soft_sort", 1.0,
             _ratio(report, "sort (65536,)", "softq sort", "softjax fast_soft_sort"),
             "sort (65536,)"),
      Target("7. top_k_mask <= 1.0x SoftJAX top_k", 1.0,
             _ratio(report, "top_k_mask (64, 4096) k=64", "softq top_k_mask",
                    "SoftJAX top_k (fast_soft_sort)"), "top_k_mask (64, 4096) k=64"),
      Target("7. top_k_mask <= 3x lax.top_k + scatter", 3.0,
             _ratio(report, "top_k_mask (64, 4096) k=64", "softq top_k_mask"),
             "top_k_mask (64, 4096) k=64"),
  ] + [
      Target(f"8. three quantile levels <= 1.5x one median {s}", 1.5,
             _ratio(report, f"quantile x3 vs median {s}", "softq quantile x3"),
             f"quantile x3 vs median {s}")
      for s in ((256, 512), (64, 4096))
  ] + [
      Target("5. median_pool <= 2x hard median filter", 2.0,
             _ratio(report, pool_case, "softq median_pool default"),
             pool_case + (f", ref {pool_ref}" if pool_ref else "")),
  ]
  for case in ("default", "sorted", "remedian"):
    out.append(Target(f"6. compile {case} <= 10x jnp.median", 10.0,
                      _compile_ratio(report, case, "jnp"), f"compile n={cfg.compile_n:,}"))
  out.append(Target("6. compile streaming remedian <= 10x trivial scan", 10.0,
                    _compile_ratio(report, "stream-remedian", "stream-trivial"),
                    f"compile n={cfg.compile_n:,}"))
  return out


def emit_targets(cfg: Config, report: Report, quick: bool, measured_only: bool = False) -> None:
  report.section("Targets (value+gradient unless said)",
                 ("**Quick run: the sizes are the smoke sizes, not the targets' sizes.** "
                  if quick else "") +
                 "met = the ratio of medians within the bound; the memory target counts "
                 "as met at <= 512 MB (\"well under\" 1 GB).", timing_table=False)
  report.emit("| target | case | ratio (medians) | ratio (minimums) | bound | status |",
              "|---|---|---|---|---|---|")
  report.emit(*(t.line() for t in targets(cfg, report)
                if not measured_only or t.measured is not None))


STANDING_NOTES = [
    "`vs deviation`: `sorted` computes the same soft value as `deviation` (it must agree "
    "to rounding); `rank` is a different soft "
    "construction with the same hard limit, so its difference is the gap between two "
    "softenings, not an error.",
    "The machine may be shared: the load average is printed per section.  Interleaving "
    "makes every ratio compare calls made under the same load, but it cannot remove the "
    "load, and implementations do not all slow down by the same factor under contention.",
]


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def _version(dist: str) -> str:
  try:
    return importlib.metadata.version(dist)
  except importlib.metadata.PackageNotFoundError:
    return "not installed"


def _cpu() -> str:
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      return next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
  except Exception:  # pylint: disable=broad-except
    return platform.processor() or platform.machine()


def versions_line() -> str:
  return (f"python {platform.python_version()}, jax {jax.__version__}, jaxlib "
          f"{_version('jaxlib')}, numpy {np.__version__}, softq {softq.__version__} "
          f"(default algorithm {softq.DEFAULT_ALGORITHM!r}), softjax {_version('softjax')}, "
          f"ott-jax {_version('ott-jax')}, flax {_version('flax')}")


def preamble(command: str, load_start, load_end, seconds: float,
             title: str = "# softq benchmark") -> list[str]:
  dev = jax.devices()[0]
  return [
      title,
      "",
      f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
      f"- machine: {_cpu()}, {os.cpu_count()} CPU cores, jax device {dev.platform} "
      f"({dev.device_kind}); load average at start {load_start[0]:.2f}, at end "
      f"{load_end[0]:.2f}",
      f"- versions: {versions_line()}",
      f"- command: `{command}` ({seconds:.0f} s)",
      "- settings: float32 standard normal; softq temperature 0.01 (data units); SoftJAX "
      "softness 0.01 (standardised); ott-jax default regularisation",
  ]


def parse_args(argv):
  parser = argparse.ArgumentParser(prog="python -m benchmarks",
                                   description=__doc__.split("\n", 1)[0])
  parser.add_argument("--quick", action="store_true", help="small smoke run (~2 minutes)")
  parser.add_argument("--only", metavar="SECTION[,SECTION]",
                      help="run these sections only: " + ", ".join(SECTIONS + OPTIONAL_SECTIONS))
  parser.add_argument("--rounds", type=int, help="timing rounds per case (default 7)")
  parser.add_argument("--gpu-large", action="store_true",
                      help="remedian section: add n = 10**8 against one read of the input")
  parser.add_argument("--no-memory", action="store_true", help="skip the memory section")
  parser.add_argument("--write", metavar="PATH", help="also write the markdown report here")
  parser.add_argument("--headline", action="store_true",
                      help="the headline rows only (" + ", ".join(HEADLINE_SECTIONS) +
                      " at the targets' sizes), e.g. on the oldest supported JAX")
  parser.add_argument("--append", metavar="PATH",
                      help="append the report to PATH as one section headed by the versions "
                      "(for --headline under another JAX)")
  args = parser.parse_args(argv)
  if args.headline and args.quick:
    parser.error("--headline runs the targets' sizes; it does not combine with --quick")
  default_sections = HEADLINE_SECTIONS if args.headline else SECTIONS
  sections = (default_sections if not args.only
              else tuple(s.strip() for s in args.only.split(",")))
  unknown = set(sections) - set(SECTIONS + OPTIONAL_SECTIONS)
  if unknown:
    parser.error(f"unknown section(s) {sorted(unknown)}; choose from "
                 f"{', '.join(SECTIONS + OPTIONAL_SECTIONS)}")
  if args.no_memory:
    sections = tuple(s for s in sections if s != "memory")
  return args, sections


def main(argv=None):
  argv = sys.argv[1:] if argv is None else argv
  args, sections = parse_args(argv)
  # A peer's failing callback (ott-jax's lineax solve) logs its whole traceback;
  # the failure is caught and reported in one line of the notes instead.
  logging.getLogger("jax._src.callback").setLevel(logging.CRITICAL)
  cfg = QUICK if args.quick else HEADLINE if args.headline else FULL
  cfg = dataclasses.replace(cfg, rounds=args.rounds or cfg.rounds, gpu_large=args.gpu_large)
  t0, load_start = time.perf_counter(), os.getloadavg()
  report = Report()
  peers = Peers(report.notes)
  rng = np.random.default_rng(0)
  for name in SECTIONS + OPTIONAL_SECTIONS:
    if name in sections:
      RUNNERS[name](cfg, peers, report, rng)
  emit_targets(cfg, report, args.quick, measured_only=args.headline)
  report.emit("", "## Notes", "")
  report.emit(*(f"- {note}" for note in report.notes + STANDING_NOTES))
  command = " ".join(["python -m benchmarks"] + list(argv))
  head = preamble(command, load_start, os.getloadavg(), time.perf_counter() - t0)
  print("\n" + "\n".join(head[2:]))
  if args.write:
    with open(args.write, "w", encoding="utf-8") as f:
      f.write("\n".join(head + report.lines) + "\n")
  if args.append:
    title = (f"# {'Headline rows' if args.headline else 'Benchmark'} on jax {jax.__version__} "
             f"(jaxlib {_version('jaxlib')}, python {platform.python_version()})")
    head = preamble(command, load_start, os.getloadavg(), time.perf_counter() - t0, title)
    # one section of the report it joins: every heading one level down
    lines = [("#" + ln) if ln.startswith("#") else ln for ln in head + report.lines]
    with open(args.append, "a", encoding="utf-8") as f:
      f.write("\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
  main()
