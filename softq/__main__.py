"""``python -m softq``: a short demo of what softq does and how fast.

Prints, for one small seeded sample, every algorithm's soft median at a few
temperatures next to ``jnp.median`` and the mean (with why some rows agree
and one does not), the soft quantiles of every ``jnp.quantile`` method on a
sample where the methods give different answers, a gradient, and a timing
table (compiled, median of repeats) against ``jnp.median`` at sizes that run
in a few seconds.  ``--quick`` shrinks the timings further.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

import softq


def _time(fn, *args, repeats: int = 5) -> float:
  jax.block_until_ready(fn(*args))  # compile
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t0)
  return statistics.median(times)


_METHODS = ("lower", "higher", "nearest", "midpoint", "linear", "inverted_cdf",
            "averaged_inverted_cdf")


def _run_once(fn, *args):
  """``jax.jit(fn)(*args)`` for a function called once on tiny inputs: compiled
  with XLA's backend optimisation off, which halves the compile time that is
  most of such a call (the timing table below compiles normally)."""
  lowered = jax.jit(fn).lower(*args)
  try:
    compiled = lowered.compile({"xla_backend_optimization_level": 0})
  except Exception:  # pylint: disable=broad-except  # an XLA without the option
    compiled = lowered.compile()
  return compiled(*args)


def _tables(x, temps, xq, q):
  """Everything the first two sections print: one compiled function for every
  algorithm's median and one for every method's quantile, vmapped over the
  temperatures (a traced temperature never recompiles); ``temperature=0``
  calls ``jax.numpy``."""
  t = jnp.asarray(temps, x.dtype)
  medians = _run_once(lambda taus: {a: jax.vmap(lambda tau, a=a: softq.median(
      x, temperature=tau, algorithm=a))(taus) for a in softq.ALGORITHMS}, t)
  hard = {a: softq.median(x, temperature=0, algorithm=a) for a in softq.ALGORITHMS}
  tq = jnp.asarray([0.5, 0.01], xq.dtype)
  soft = _run_once(lambda taus: {m: jax.vmap(lambda tau, m=m: softq.quantile(
      xq, q, method=m, temperature=tau))(taus) for m in _METHODS}, tq)
  quantiles = {m: jnp.append(soft[m], softq.quantile(xq, q, method=m, temperature=0))
               for m in _METHODS}
  grad = _run_once(jax.grad(lambda v: softq.median(v, temperature=0.1)), x)
  return medians, hard, quantiles, grad


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(prog="python -m softq", description=__doc__)
  parser.add_argument("--quick", action="store_true", help="smaller timing problems")
  args = parser.parse_args(argv)

  print(f"softq {softq.__version__} on JAX {jax.__version__}, {jax.devices()[0].platform.upper()}"
        f" ({platform.processor() or platform.machine()})\n")

  # -- 1. The soft median, by algorithm and temperature ------------------------
  rng = np.random.default_rng(0)
  x = np.round(rng.normal(size=10), 2)
  x[3] = 6.0                                       # one outlier: median and mean differ
  x = jnp.asarray(x, jnp.float32)
  hard, mean = float(jnp.median(x)), float(x.mean())
  print("sample (n=10, one outlier):", np.array2string(np.asarray(x), precision=2))
  print(f"jnp.median = {hard:.4f}   mean = {mean:.4f}   std = {float(x.std()):.4f}\n")

  temps = [100.0, 10.0, 1.0, 0.1, 0.01]
  xq = jnp.array([1.0, 2.0, 4.0, 7.0, 11.0, 16.0, 22.0, 29.0])
  q = 0.25
  medians, hards, quantiles, grad = jax.tree.map(
      np.asarray, _tables(x, temps, xq, q))
  print("soft median by algorithm and temperature (tau in data units)")
  header = f"{'algorithm':>10} | " + " | ".join(f"tau={t:<6g}" for t in temps) + " | tau=0 (hard)"
  print(header)
  print("-" * len(header))
  for algorithm in softq.ALGORITHMS:
    mark = "  (default)" if algorithm == softq.DEFAULT_ALGORITHM else ""
    print(f"{algorithm:>10} | " + " | ".join(f"{v:<10.4f}" for v in medians[algorithm])
          + f" | {float(hards[algorithm]):.4f}{mark}")
  notes = ["How to read it:"]
  exact = [a for a in softq.ALGORITHMS if a != "remedian"]
  agree = all(float(hards[a]) == hard for a in exact)
  notes.append(f"- tau -> 0: {'every' if agree else 'not every'} exact algorithm gives "
               f"jnp.median = {hard:.4f}.")
  if "remedian" in softq.ALGORITHMS:
    notes.append(f"  \"remedian\"'s hard limit ({float(hards['remedian']):.4f} here) is the weighted "
                 "remedian\n  (medians of blocks of medians), an O(n) estimate of the median "
                 "meant for large n.")
  if {"deviation", "sorted"} <= set(softq.ALGORITHMS):
    same = np.allclose(medians["deviation"], medians["sorted"], rtol=1e-5, atol=1e-6)
    notes.append(
        "- \"deviation\" and \"sorted\" are one function (the soft minimiser of the total\n"
        "  absolute deviation) evaluated two ways: \"deviation\" sums the n^2 pairs, \"sorted\"\n"
        "  (the default) sorts once and sums them with recurrences in O(n log n)"
        + (":\n  hence identical rows." if same else "."))
  spread = float(x.max() - x.min())
  notes.append(f"- tau large against the spread (max - min = {spread:.2f}): the weights tend to "
               f"uniform,\n  so every row tends to the mean {mean:.4f}.")
  if "rank" in softq.ALGORITHMS:
    notes.append("- \"rank\" reads tau in data units for its soft ranks, then in rank units to "
                 "pick the\n  middle rank, so it sharpens at a different pace.")
  if "subsets" in softq.ALGORITHMS:
    sub = medians["subsets"]
    far = int(np.argmax(np.minimum(np.abs(sub - hard), np.abs(sub - mean))))
    notes.append(
        "- \"subsets\" is a soft min over subsets of a soft max. The inner soft max leans\n"
        "  towards the largest values of each subset (here the outlier), by about their\n"
        "  variance / tau: most where tau is comparable to the spread "
        f"(tau={temps[far]:g}: {sub[far]:.4f},\n  "
        + ("above both the median and the mean" if sub[far] > max(hard, mean) else
           "away from the median") +
        f").\n  It approaches the mean only for tau >> spread (tau={temps[0]:g}: {sub[0]:.4f}).")
  print("\n" + "\n".join(notes) + "\n")

  # -- 2. Quantiles: every jnp.quantile method ---------------------------------
  h = q * (xq.size - 1)
  print(f"soft quantile q={q} of {np.asarray(xq).astype(int).tolist()} (n={xq.size}) for every method")
  print(f"(h = q (n-1) = {h:g}: between the order statistics x_(1) = {float(xq[1]):g} and "
        f"x_(2) = {float(xq[2]):g}; q n = {q * xq.size:g})")
  print(f"{'method':>22} | {'tau=0.5':>8} | {'tau=0.01':>8} | {'tau=0':>6} | numpy")
  for method in _METHODS:
    s1, s2, s0 = quantiles[method]
    ref = float(np.quantile(np.asarray(xq), q, method=method))
    print(f"{method:>22} | {s1:8.4f} | {s2:8.4f} | {s0:6.3g} | {ref:g}")
  print("lower and inverted_cdf take x_(1); higher and nearest x_(2); midpoint and\n"
        "averaged_inverted_cdf their mean; linear interpolates at h. Each soft value is\n"
        "the same combination of soft order statistics.\n")

  outlier = int(np.argmax(np.asarray(x)))
  print("gradient of the soft median (tau=0.1): sums to",
        f"{float(grad.sum()):.4f}; on the outlier {float(grad[outlier]):.2g};",
        f"largest ({float(grad.max()):.3f}) on x={float(x[int(np.argmax(grad))]):.2f}\n")

  # -- 3. Timing ----------------------------------------------------------------
  default = softq.DEFAULT_ALGORITHM
  print("timing of value and gradient (float32, jit, median of repeats after compiling;\n"
        "x jnp = softq / jnp.median)")
  n_default = 10_000 if args.quick else 100_000
  rows = 1_000 if args.quick else 10_000
  cases = [(f"median n={n_default:,}", (n_default,), None, default),
           (f"windows ({rows:,}, 9) axis=-1", (rows, 9), -1, default)]
  print(f"{'case':>28} {'algorithm':>10} {'softq ms':>9} {'jnp ms':>7} {'x jnp':>6}")
  reps = 3 if args.quick else 5
  for label, shape, axis, algorithm in cases:
    data = jnp.asarray(rng.standard_normal(shape), jnp.float32)
    soft_g = jax.jit(jax.value_and_grad(
        lambda v, a=axis, al=algorithm: softq.median(v, a, temperature=0.01, algorithm=al).sum()))
    hard_g = jax.jit(jax.value_and_grad(lambda v, a=axis: jnp.median(v, a).sum()))
    sg, hg = _time(soft_g, data, repeats=reps), _time(hard_g, data, repeats=reps)
    print(f"{label:>28} {algorithm:>10} {sg * 1e3:9.2f} {hg * 1e3:7.2f} {sg / hg:6.2f}")
  print("\nMost of this demo's run time is compiling (once per function and shape).\n"
        "Larger sizes, the remedian and every algorithm: `python -m benchmarks`.\n"
        "More: README.md, docs/, notebooks/.")


if __name__ == "__main__":
  main()
