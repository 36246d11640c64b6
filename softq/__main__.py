"""``python -m softq``: a short demo of what softq does and how fast.

Prints, for one seeded sample, every algorithm's soft median at a few
temperatures next to ``jnp.median``, how sharp the weights are, the soft
quantiles of every ``jnp.quantile`` method, and a timing table (compiled,
median of repeats) against ``jnp.median``.  ``--quick`` shrinks the timings.
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


def _time(fn, *args, repeats: int = 7) -> float:
  jax.block_until_ready(fn(*args))  # compile
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t0)
  return statistics.median(times)


def _algorithms():
  return [a for a in softq.ALGORITHMS]


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(prog="python -m softq", description=__doc__)
  parser.add_argument("--quick", action="store_true", help="smaller timing problems")
  args = parser.parse_args(argv)

  print(f"softq {softq.__version__} on JAX {jax.__version__}, {jax.devices()[0].platform.upper()}"
        f" ({platform.processor() or platform.machine()})\n")
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.standard_t(df=2, size=11), jnp.float32)
  print("sample (Student-t, n=11):", np.array2string(np.asarray(x), precision=2))
  hard = float(jnp.median(x))
  print(f"jnp.median = {hard:.4f}   mean = {float(x.mean()):.4f}\n")

  default = softq.DEFAULT_ALGORITHM
  print(f"default algorithm: {default!r}: {softq.REGISTRY[default].summary}; "
        f"{softq.REGISTRY[default].cost}.\nIt is the 'deviation' function at every temperature "
        "and never goes quadratic (docs/choosing.md).\n")

  temps = [10.0, 1.0, 0.1, 0.01, 0.0]
  print("soft median by algorithm and temperature (-> jnp.median as tau -> 0, -> mean as tau -> inf)")
  header = f"{'algorithm':>10} | " + " | ".join(f"tau={t:<7g}" for t in temps)
  print(header)
  print("-" * len(header))
  for algorithm in _algorithms():
    vals = [float(softq.median(x, temperature=t, algorithm=algorithm)) for t in temps]
    print(f"{algorithm:>10} | " + " | ".join(f"{v:<11.4f}" for v in vals))

  print("\nweights' sharpness: largest weight / effective sample size 1/sum(w^2)")
  print(f"{'algorithm':>10} | " + " | ".join(f"tau={t:<12g}" for t in temps[:-1]))
  for algorithm in _algorithms():
    cells = []
    for t in temps[:-1]:
      w = np.asarray(softq.argmedian(x, temperature=t, algorithm=algorithm), np.float64)
      cells.append(f"{w.max():.2f} / {1.0 / np.sum(w * w):<6.2f}")
    print(f"{algorithm:>10} | " + " | ".join(f"{c:<16}" for c in cells))

  print("\nsoft quantile q=0.3 at tau=0.01 for every method, next to jnp.quantile")
  for method in ("linear", "lower", "higher", "nearest", "midpoint", "inverted_cdf"):
    s = float(softq.quantile(x, 0.3, method=method, temperature=0.01))
    h = float(jnp.quantile(x, 0.3, method=method))
    print(f"  {method:>22}: soft {s:8.4f}   jnp {h:8.4f}")

  grad = jax.grad(lambda v: softq.median(v, temperature=0.1))(x)
  print("\ngradient of the soft median (tau=0.1): sums to",
        f"{float(grad.sum()):.4f}, largest on x={float(x[jnp.argmax(grad)]):.3f}")

  print("\ntiming (float32, jit, median of repeats; ratio = softq / jnp.median)")
  n_default = 100_000 if args.quick else 1_000_000
  cases = [(f"median n={n_default:,}", (n_default,), None, default),
           ("windows (100000, 9) axis=-1", (100000, 9), -1, default)]
  if "remedian" in softq.ALGORITHMS:
    n_big = 59049 if args.quick else 531441
    cases.append((f"median n={n_big:,}", (n_big,), None, "remedian"))
  print(f"{'case':>28} {'algorithm':>10} {'fwd ms':>8} {'x jnp':>6} {'fwd+grad ms':>12} {'x jnp':>6}")
  for label, shape, axis, algorithm in cases:
    data = jnp.asarray(rng.standard_normal(shape), jnp.float32)
    soft_f = jax.jit(lambda v: softq.median(v, axis, temperature=0.01, algorithm=algorithm))
    hard_f = jax.jit(lambda v: jnp.median(v, axis))
    soft_g = jax.jit(jax.value_and_grad(lambda v: soft_f(v).sum()))
    hard_g = jax.jit(jax.value_and_grad(lambda v: hard_f(v).sum()))
    reps = 3 if args.quick else 7
    sf, hf = _time(soft_f, data, repeats=reps), _time(hard_f, data, repeats=reps)
    sg, hg = _time(soft_g, data, repeats=reps), _time(hard_g, data, repeats=reps)
    print(f"{label:>28} {algorithm:>10} {sf * 1e3:8.2f} {sf / hf:6.2f} {sg * 1e3:12.2f} {sg / hg:6.2f}")
  print("\nMore: README.md, docs/, notebooks/, and `python -m benchmarks` for the full benchmark.")


if __name__ == "__main__":
  main()
