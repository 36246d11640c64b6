"""Rank error of the hard remedian against n and input order.

Run: ``python -m benchmarks.remedian_accuracy [--quick]``.  For ``n`` on a log
grid (not only powers of the block size, with ``7**k + 1`` included), the rank
error ``|mean(x < r) - 1/2|`` of the hard remedian ``r`` (block size 7), mean /
max over seeds, for four orders of the same kind of sample:

* ``iid``: N(0, 1);
* ``in-then-out``: 90 % N(0, 1) inliers first, then 10 % outliers near 50;
* ``ascending`` / ``descending``: that sample sorted.

Three remedians: ``softq.remedian(temperature=0)`` (one-shot: segments dealt
across the input, interleaved blocks); the consecutive-block weighted remedian
(what the streaming form computes: ``softq.remedian_update``/``remedian_result``
at ``temperature=0`` equal it, ``tests/test_remedian.py``), here in NumPy; and
the classical remedian (consecutive blocks, plain medians), in NumPy.  Prints
markdown tables in the format of docs/remedian.md.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

import softq

KINDS = ("iid", "in-then-out", "ascending", "descending")


def classical_remedian(x, b):
  """Every block of b consecutive values -> its median; repeat (NumPy)."""
  v = np.asarray(x, np.float64)
  while v.size > 1:
    full = (v.size // b) * b
    meds = list(np.median(v[:full].reshape(-1, b), axis=1))
    if full < v.size:
      meds.append(np.median(v[full:]))
    v = np.asarray(meds)
  return float(v[0])


def consecutive_weighted_remedian(x, b):
  """The weighted remedian of consecutive blocks (the streaming definition),
  vectorised NumPy: each block -> the median of its values repeated by their
  weights (jnp.median's convention), carrying the block's total weight."""
  v = np.asarray(x, np.float64)
  c = np.ones_like(v)
  while v.size > 1:
    m = -(-v.size // b) * b
    vb = np.pad(v, (0, m - v.size), constant_values=np.inf).reshape(-1, b)
    cb = np.pad(c, (0, m - c.size)).reshape(-1, b)
    order = np.argsort(vb, axis=1, kind="stable")
    vs, cum = np.take_along_axis(vb, order, 1), np.cumsum(np.take_along_axis(cb, order, 1), 1)
    total = cum[:, -1]
    h = np.maximum((total - 1) / 2, 0)
    lo, hi = np.floor(h), np.ceil(h)
    at = lambda k: np.take_along_axis(
        vs, np.minimum((cum <= (k + 0.5)[:, None]).sum(1), b - 1)[:, None], 1)[:, 0]
    v = np.where(lo == hi, at(lo), (1 - (h - lo)) * at(lo) + (h - lo) * at(hi))
    c = total
  return float(v[0])


def data(kind, n, seed):
  rng = np.random.default_rng(seed)
  if kind == "iid":
    return rng.standard_normal(n)
  k = n // 10
  x = np.concatenate([rng.standard_normal(n - k), 50.0 + rng.standard_normal(k)])
  if kind == "ascending":
    return np.sort(x)
  if kind == "descending":
    return np.sort(x)[::-1]
  return x


def rank_error(x, r):
  return abs(float(np.mean(x < r)) - 0.5)


def table(sizes, seeds, block_size=7):
  """{method: rows of (n, [(mean, max) per kind])}."""
  one_shot = jax.jit(lambda v: softq.remedian(v, block_size=block_size, temperature=0))
  methods = {
      "one-shot": lambda x: float(one_shot(jnp.asarray(x))),
      "consecutive (streaming)": lambda x: consecutive_weighted_remedian(x, block_size),
      "classical": lambda x: classical_remedian(x, block_size),
  }
  out = {name: [] for name in methods}
  for n in sizes:
    n_seeds = seeds if n <= 10 ** 5 else max(2, seeds // 4)
    samples = {kind: [data(kind, n, s) for s in range(n_seeds)] for kind in KINDS}
    for name, fn in methods.items():
      row = []
      for kind in KINDS:
        e = np.asarray([rank_error(x, fn(x)) for x in samples[kind]])
        row.append((e.mean(), e.max()))
      out[name].append((n, row))
  return out


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--quick", action="store_true")
  parser.add_argument("--max-n", type=int, default=None)
  parser.add_argument("--seeds", type=int, default=None)
  args = parser.parse_args()
  jax.config.update("jax_enable_x64", True)
  top = args.max_n or (10 ** 4 if args.quick else 10 ** 6)
  grid = np.unique(np.round(np.logspace(1, np.log10(top), 9 if args.quick else 11)))
  sizes = sorted(set(int(n) for n in grid) | {50, 300, 344, 2402, 16808, 117650})
  sizes = [n for n in sizes if n <= top]
  seeds = args.seeds or (4 if args.quick else 8)
  tables = table(sizes, seeds)
  print(f"Rank error |mean(x < r) - 1/2| of the hard remedian, block size 7, mean / max over "
        f"{seeds} seeds ({max(2, seeds // 4)} above n = 100,000); in-then-out: 90 % N(0, 1) "
        "then 10 % near 50; ascending/descending: that sample sorted.")
  for name, rows in tables.items():
    print(f"\n{name}:\n")
    print("| n | " + " | ".join(KINDS) + " |")
    print("|---|" + "---|" * len(KINDS))
    for n, row in rows:
      print(f"| {n:,} | " + " | ".join(f"{m:.3f} / {x:.3f}" for m, x in row) + " |")
  worst = {name: max(max(m for m, _ in row) for n, row in rows if n >= 300)
           for name, rows in tables.items()}
  print("\nworst mean rank error from n = 300 on: " +
        ", ".join(f"{name} {w:.3f}" for name, w in worst.items()))


if __name__ == "__main__":
  main()
