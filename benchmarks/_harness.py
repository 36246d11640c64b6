"""Interleaved timing and result tables shared by the benchmark modules.

Timing.  Every implementation of one case is compiled ahead of time
(``jax.jit(f).lower(x).compile()``), for its value and for its value and
gradient (``jax.value_and_grad`` of the sum of its outputs), and each compiled
call is made once as a warm-up.  Then the calls are made round by round: in
round ``r`` every call runs once; the starting call rotates from round to
round, so no call always follows the same neighbour.  Load that changes
during a case (the benchmark machines are shared) then hits every
implementation in the same rounds, and ratios between implementations of
one case compare like with like.  Every round's wall time is kept; the
tables report the median (the typical call) and the minimum (the least
disturbed call), and the ratios of medians and of minimums to the case's
reference implementation.

Accuracy.  ``max |err|`` is the largest absolute difference, over the
outputs of the case, between an implementation's value and the hard result
(the reference's value unless a case names another); ``vs deviation`` is the
same against softq's dense ``"deviation"`` value, for the softq algorithms
whose hard limit is ``jnp`` (they must agree with it at every temperature).
"""

from __future__ import annotations

import dataclasses
import re
import statistics
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

FWD, VG = "fwd", "v+g"


# --------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------

@dataclasses.dataclass
class Stats:
  """Wall times (seconds) of one call over the rounds."""
  times: list[float]

  @property
  def min(self) -> float:
    return min(self.times)

  @property
  def median(self) -> float:
    return statistics.median(self.times)


def short_error(exc: BaseException, limit: int = 200) -> str:
  """One line out of a (possibly very long) JAX / equinox error message."""
  text = str(exc)
  found = re.findall(r"(\w*(?:Error|Exception)): (.+?)(?:\n\s*\n|$)", text, re.DOTALL)
  if found:
    first_sentence = " ".join(found[-1][1].split()).split(". ")[0]
    msg = f"{found[-1][0]}: {first_sentence}"
  else:
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    msg = f"{type(exc).__name__}: {first}"
  return msg if len(msg) <= limit else msg[:limit - 3] + "..."


def compile_call(fn: Callable, *args) -> Callable[[], Any]:
  """Compiles ``fn`` for ``args``; returns a no-argument call that blocks."""
  compiled = jax.jit(fn).lower(*args).compile()
  return lambda: jax.block_until_ready(compiled(*args))


def value_and_grad(fn: Callable) -> Callable:
  """``x -> (sum(fn(x)), d sum(fn(x)) / dx)``."""
  return jax.value_and_grad(lambda v: jnp.sum(fn(v)))


def interleaved(calls: dict[Any, Callable[[], Any]], rounds: int,
                on_error: Callable[[Any, BaseException], None]
                ) -> tuple[dict[Any, Stats], dict[Any, Any]]:
  """Times the no-argument ``calls`` round by round (see the module docstring).

  ``calls`` maps a key to a call that compiles on first use (the warm-up)
  and blocks on its result.  A call that raises is reported to ``on_error``
  and dropped from the remaining rounds.

  Returns:
    (key -> Stats, key -> warm-up output), for the calls that never failed.
  """
  outputs = {}
  for key, call in calls.items():
    try:
      outputs[key] = call()
    except Exception as e:  # pylint: disable=broad-except
      on_error(key, e)
  times = {key: [] for key in outputs}
  for r in range(rounds):
    order = list(times)
    order = order[r % len(order):] + order[:r % len(order)] if order else []
    for key in order:
      t0 = time.perf_counter()
      try:
        calls[key]()
      except Exception as e:  # pylint: disable=broad-except
        del times[key], outputs[key]
        on_error(key, e)
        continue
      times[key].append(time.perf_counter() - t0)
  return {k: Stats(t) for k, t in times.items()}, outputs


# --------------------------------------------------------------------------
# cases
# --------------------------------------------------------------------------

@dataclasses.dataclass
class Impl:
  """One implementation of a case: ``fn(x)`` returns the case's outputs."""
  name: str
  fn: Callable
  forward_only: bool = False     # time the value only (no gradient)


@dataclasses.dataclass
class Row:
  impl: str
  fwd: Stats | None
  vg: Stats | None
  err_hard: float | None
  err_deviation: float | None


@dataclasses.dataclass
class CaseResult:
  """The rows of one case and the name of its reference implementation."""
  case: str
  reference: str
  rows: dict[str, Row]

  def ratio(self, impl: str, ref: str | None = None, mode: str = VG
            ) -> tuple[float, float] | None:
    """(ratio of medians, ratio of minimums) of ``impl`` to ``ref``."""
    ref = ref or self.reference
    if impl not in self.rows or ref not in self.rows:
      return None
    a, b = (getattr(self.rows[k], "vg" if mode == VG else "fwd") for k in (impl, ref))
    if a is None or b is None:
      return None
    return a.median / b.median, a.min / b.min


def _max_abs(a, b) -> float | None:
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  if a.size != b.size:
    return None
  return float(np.max(np.abs(a.reshape(-1) - b.reshape(-1))))


def measure_case(case: str, x, impls: Sequence[Impl], rounds: int, notes: list[str],
                 reference: str | Sequence[str], hard_from: str | None = "",
                 deviation_from: str | None = None) -> CaseResult:
  """Compiles, warms up and times ``impls`` on ``x``, interleaved.

  Args:
    reference: the name of the implementation the ratios are taken against,
      or several names: the fastest of them (median value+gradient time) is
      the reference.
    hard_from: the implementation whose value is the hard result for the
      accuracy column ("" = the reference; None = no accuracy column).
    deviation_from: the implementation whose value is softq's dense
      ``"deviation"`` result (the second accuracy column), if in the case.
  """
  calls = {}
  for impl in impls:
    calls[(impl.name, FWD)] = _lazy(impl.fn, x)
    if not impl.forward_only:
      calls[(impl.name, VG)] = _lazy(value_and_grad(impl.fn), x)

  def on_error(key, e):
    msg = f"{case} / {key[0]} ({key[1]}): failed, {short_error(e)}"
    notes.append(msg)
    print(f"  note: {msg}", flush=True)

  stats, outputs = interleaved(calls, rounds, on_error)
  candidates = [reference] if isinstance(reference, str) else list(reference)
  timed = [c for c in candidates if (c, VG) in stats] or candidates
  ref = min(timed, key=lambda c: stats[(c, VG)].median if (c, VG) in stats else np.inf)
  hard = outputs.get((hard_from or ref, FWD)) if hard_from is not None else None
  dev = outputs.get((deviation_from, FWD)) if deviation_from else None
  rows = {}
  for impl in impls:
    value = outputs.get((impl.name, FWD))
    if value is None and (impl.name, VG) not in stats:
      continue
    if value is not None and not np.all(np.isfinite(np.asarray(value))):
      notes.append(f"{case} / {impl.name}: non-finite output")
    rows[impl.name] = Row(
        impl.name, stats.get((impl.name, FWD)), stats.get((impl.name, VG)),
        _max_abs(value, hard) if value is not None and hard is not None else None,
        _max_abs(value, dev) if value is not None and dev is not None
        and impl.name.startswith("softq") else None)
  return CaseResult(case, ref, rows)


def _lazy(fn: Callable, x) -> Callable[[], Any]:
  """A call that compiles on its first use (the warm-up), then reuses it."""
  compiled = []

  def call():
    if not compiled:
      compiled.append(compile_call(fn, x))
    return compiled[0]()
  return call


# --------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------

HEADER = ("case", "implementation", "fwd ms (med)", "fwd ms (min)", "v+g ms (med)",
          "v+g ms (min)", "v+g / ref (med)", "v+g / ref (min)", "max abs err",
          "vs deviation")


def header_lines() -> list[str]:
  return ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]


def _ms(s: Stats | None, attr: str) -> str:
  return "-" if s is None else f"{getattr(s, attr) * 1e3:.3g}"


def _err(e: float | None) -> str:
  return "-" if e is None else f"{e:.2e}"


def row_lines(result: CaseResult) -> list[str]:
  lines = []
  for name, row in result.rows.items():
    ratio = result.ratio(name)
    label = f"{name} (ref)" if name == result.reference else name
    cells = (result.case, label, _ms(row.fwd, "median"), _ms(row.fwd, "min"),
             _ms(row.vg, "median"), _ms(row.vg, "min"),
             "-" if ratio is None else f"{ratio[0]:.3g}",
             "-" if ratio is None else f"{ratio[1]:.3g}",
             _err(row.err_hard), _err(row.err_deviation))
    lines.append("| " + " | ".join(cells) + " |")
  return lines
