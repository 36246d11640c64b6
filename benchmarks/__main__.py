"""softq benchmark: ``python -m benchmarks [--quick] [--gpu-large] [--write PATH]``.

Prints one markdown table: forward and forward+gradient wall times (median
of repeats, after compilation and one warm-up call), the ratio of the
forward+gradient time to ``jax.numpy``'s own reduction measured on the same
input in the same run, the accuracy (absolute error to the hard result) and,
where asked, the peak memory of the value+gradient call (measured in a fresh
subprocess by :mod:`benchmarks.memory`).  Peers (SoftJAX, ott-jax) are timed
through their public APIs when installed, and skipped with a note otherwise.

All inputs are float32 standard-normal samples (seeded); soft methods run at
temperature 0.01 (softq, in data units = 1% of the standard deviation) and
softness 0.01 (SoftJAX, on standardised data: the same scale).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import softq

TAU = 0.01
Q5 = (0.1, 0.25, 0.5, 0.75, 0.9)


# --------------------------------------------------------------------------
# peers (public APIs only)
# --------------------------------------------------------------------------

def _softjax():
  try:
    import softjax  # pylint: disable=import-outside-toplevel
    return softjax
  except Exception:  # pylint: disable=broad-except
    return None


def _ott_soft_sort():
  try:
    from ott.tools import soft_sort  # pylint: disable=import-outside-toplevel
    return soft_sort
  except Exception:  # pylint: disable=broad-except
    return None


def _has_remedian() -> bool:
  return "remedian" in getattr(softq, "ALGORITHMS", ()) and hasattr(softq, "median")


# --------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------

def _time(fn, args, repeats: int, budget_s: float) -> tuple[float, object]:
  """Median wall time (s) of ``fn(*args)`` after compile and one warm-up."""
  out = jax.block_until_ready(fn(*args))           # compile + run
  t0 = time.perf_counter()
  out = jax.block_until_ready(fn(*args))           # warm
  first = time.perf_counter() - t0
  reps = max(1, min(repeats, int(budget_s / max(first, 1e-9))))
  times = [first]
  for _ in range(reps - 1):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t0)
  return statistics.median(times), out


def _value_and_grad(reduce):
  return jax.jit(jax.value_and_grad(lambda v: jnp.sum(reduce(v))))


def _memory_mb(algorithm: str, n: int) -> str:
  cmd = [sys.executable, "-m", "benchmarks.memory", algorithm, str(n), "rev"]
  try:
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=900,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return f"{json.loads(res.stdout.strip().splitlines()[-1])['delta_mb']:.0f}"
  except Exception as e:  # pylint: disable=broad-except
    return f"n/a ({type(e).__name__})"


class Table:
  def __init__(self):
    self.rows = []
    self.notes = []

  def add(self, case, impl, fwd, grad, base_grad, err, mem=""):
    ratio = grad / base_grad if base_grad else float("nan")
    row = (case, impl, f"{fwd * 1e3:.2f}", f"{grad * 1e3:.2f}", f"{ratio:.3g}",
           f"{err:.2e}" if err == err else "-", mem)
    self.rows.append(row)
    print("| " + " | ".join(row) + " |", flush=True)

  def header(self):
    head = ("case", "implementation", "fwd ms", "fwd+grad ms", "fwd+grad / jnp",
            "abs err", "peak MB (v+g)")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return lines

  def markdown(self):
    return "\n".join(self.header() + ["| " + " | ".join(r) + " |" for r in self.rows])


# --------------------------------------------------------------------------
# cases
# --------------------------------------------------------------------------

def run_case(table, case, x, reduce_hard, impls, repeats, budget, memory=None):
  """``impls``: list of (name, reduce_fn, memory_algorithm or None)."""
  hard = np.asarray(jax.jit(reduce_hard)(x))
  t_f, _ = _time(jax.jit(reduce_hard), (x,), repeats, budget)
  t_g, _ = _time(_value_and_grad(reduce_hard), (x,), repeats, budget)
  table.add(case, "jnp (hard)", t_f, t_g, t_g, 0.0)
  for name, fn, mem_algo in impls:
    try:
      f = jax.jit(fn)
      t_fwd, val = _time(f, (x,), repeats, budget)
      t_grad, _ = _time(_value_and_grad(fn), (x,), repeats, budget)
      err = float(np.mean(np.abs(np.asarray(val, np.float64) - hard)))
      mem = _memory_mb(mem_algo, x.shape[0]) if (memory and mem_algo) else ""
      table.add(case, name, t_fwd, t_grad, t_g, err, mem)
    except Exception as e:  # pylint: disable=broad-except
      msg = f"{case} / {name}: failed ({type(e).__name__}: {str(e)[:120]})"
      table.notes.append(msg)
      print("  note: " + msg, flush=True)


def softq_median(algorithm, axis=None):
  return lambda v: softq.median(v, axis=axis, temperature=TAU, algorithm=algorithm)


def main(argv=None):
  parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
  parser.add_argument("--quick", action="store_true", help="small smoke run (< 2 minutes)")
  parser.add_argument("--gpu-large", action="store_true",
                      help="add the remedian at n = 10**8 against one read of the input")
  parser.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
  parser.add_argument("--write", metavar="PATH", help="also write the table as markdown")
  args = parser.parse_args(argv)

  sj, ott = _softjax(), _ott_soft_sort()
  quick = args.quick
  repeats, budget = (2, 0.5) if quick else (5, 3.0)
  memory = not (quick or args.no_memory)
  rng = np.random.default_rng(0)
  table = Table()
  if sj is None:
    table.notes.append("SoftJAX not installed here (needs Python >= 3.12): its rows are skipped.")
  if ott is None:
    table.notes.append("ott-jax not installed here: its rows are skipped.")
  if not _has_remedian():
    table.notes.append("softq has no remedian yet: its rows are skipped.")
  print("\n".join(table.header()), flush=True)

  def peers_median(n, axis=None, neuralsort_max=16384, ott_max=16384):
    out = []
    if sj is not None:
      if n <= neuralsort_max:
        out.append(("SoftJAX neuralsort", lambda v: sj.median(
            v, axis=axis, softness=TAU, method="neuralsort"), None))
      out.append(("SoftJAX fast_soft_sort", lambda v: sj.median(
          v, axis=axis, softness=TAU, method="fast_soft_sort"), None))
    if ott is not None and n <= ott_max:
      out.append(("ott soft_sort.quantile", lambda v: ott.quantile(
          v, q=jnp.asarray(0.5), axis=-1 if axis is not None else 0), None))
    return out

  # 1. remedian median
  if _has_remedian():
    sizes = (59049,) if quick else (59049, 531441, 1062882)
    for n in sizes:
      x = jnp.asarray(rng.standard_normal(n), jnp.float32)
      impls = [("softq remedian", softq_median("remedian"), None)]
      impls += [p for p in peers_median(n, neuralsort_max=0, ott_max=0)]
      run_case(table, f"median n={n}", x, jnp.median, impls, repeats, budget)

  # 2. exact-limit median
  sizes = (1024,) if quick else (1024, 16384, 65536, 531441)
  for n in sizes:
    x = jnp.asarray(rng.standard_normal(n), jnp.float32)
    impls = [("softq sorted", softq_median("sorted"), "sorted" if n <= 65536 else None)]
    if n <= 65536:
      impls.append(("softq deviation", softq_median("deviation"),
                    "deviation" if n >= 16384 else None))
    if n <= 16384:
      impls.append(("softq rank", softq_median("rank"), "rank" if n >= 16384 else None))
    impls += peers_median(n)
    run_case(table, f"exact median n={n}", x, jnp.median, impls,
             1 if n >= 65536 else repeats, budget, memory)

  # 3. batched windows along the last axis
  shapes = ((1000, 9), (1000, 64)) if quick else ((100000, 9), (10000, 64))
  for shape in shapes:
    x = jnp.asarray(rng.standard_normal(shape), jnp.float32)
    impls = [(f"softq {a}", softq_median(a, axis=-1), None) for a in ("deviation", "sorted")]
    impls += peers_median(shape[1], axis=-1)
    run_case(table, f"windows {shape}", x, lambda v: jnp.median(v, axis=-1), impls,
             repeats, budget)

  # 4. five quantile levels
  n = 1024 if quick else 16384
  x = jnp.asarray(rng.standard_normal(n), jnp.float32)
  q = jnp.asarray(Q5, jnp.float32)
  impls = [(f"softq {a}", lambda v, a=a: softq.quantile(v, q, temperature=TAU, algorithm=a),
            None) for a in ("sorted", "deviation")]
  if sj is not None:
    for method in ("neuralsort", "fast_soft_sort"):
      impls.append((f"SoftJAX {method}", lambda v, m=method: sj.quantile(
          v, q, softness=TAU, method=m), None))
  if ott is not None:
    impls.append(("ott soft_sort.quantile", lambda v: ott.quantile(v, q=q), None))
  run_case(table, f"quantile x5 n={n}", x, lambda v: jnp.quantile(v, q), impls, repeats, budget)

  # 5. GPU only: the remedian at 10^8 against one read of the input
  if args.gpu_large and _has_remedian():
    n = 10 ** 8
    x = jax.random.normal(jax.random.key(0), (n,), jnp.float32)
    t_sum, _ = _time(jax.jit(jnp.sum), (x,), 5, 2.0)
    t_f, _ = _time(jax.jit(softq_median("remedian")), (x,), 5, 5.0)
    t_g, _ = _time(_value_and_grad(softq_median("remedian")), (x,), 5, 5.0)
    table.add(f"median n={n}", "jnp.sum (one read)", t_sum, t_sum, t_sum, float("nan"))
    table.add(f"median n={n}", "softq remedian (ratio to jnp.sum)", t_f, t_g, t_sum, float("nan"))

  for note in table.notes:
    print("note: " + note)
  if args.write:
    _write(args.write, table, " ".join(["python -m benchmarks"] + (argv or sys.argv[1:])))


def _write(path, table, command):
  try:
    import softjax  # pylint: disable=import-outside-toplevel
    sj_version = getattr(softjax, "__version__", "installed")
  except Exception:  # pylint: disable=broad-except
    sj_version = "not installed"
  try:
    import ott  # pylint: disable=import-outside-toplevel
    ott_version = getattr(ott, "__version__", "installed")
  except Exception:  # pylint: disable=broad-except
    ott_version = "not installed"
  cpu = platform.processor() or platform.machine()
  try:
    with open("/proc/cpuinfo") as f:
      cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
  except Exception:  # pylint: disable=broad-except
    pass
  lines = [
      f"date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
      f"machine: {cpu}, {os.cpu_count()} CPU cores, device {jax.devices()[0].platform}",
      f"versions: python {platform.python_version()}, jax {jax.__version__}, "
      f"softq {softq.__version__}, softjax {sj_version}, ott-jax {ott_version}",
      f"command: `{command}`",
      "",
      table.markdown(),
      "",
  ] + [f"- {n}" for n in table.notes]
  with open(path, "w") as f:
    f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
  main()
