"""Rank error of the hard remedian against n: classical vs weighted, iid vs ordered.

Run: ``python -m benchmarks.remedian_accuracy [--quick]``.  For every ``n`` on a
log grid from 10 to 10**6 (not only powers of the block size), the rank error
``|mean(x < r) - 1/2|`` of the hard remedian ``r`` (block size 7), mean and max
over seeds, on iid normal data and on ordered data (90 % N(0, 1) inliers
first, then 10 % outliers near 50).  ``softq.remedian(temperature=0)`` is the
weighted remedian (Rousseeuw and Bassett); the classical one (every block its
plain median) is a NumPy reference here.  Prints a markdown table.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

import softq


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


def data(kind, n, seed):
  rng = np.random.default_rng(seed)
  if kind == "iid":
    return rng.standard_normal(n)
  k = n // 10
  return np.concatenate([rng.standard_normal(n - k), 50.0 + rng.standard_normal(k)])


def rank_error(x, r):
  return abs(float(np.mean(x < r)) - 0.5)


def table(sizes, seeds, block_size=7):
  weighted = jax.jit(lambda v: softq.remedian(v, block_size=block_size, temperature=0))
  rows = []
  for n in sizes:
    row = [n]
    for kind in ("iid", "ordered"):
      errs = {"classical": [], "weighted": []}
      for seed in range(seeds if kind == "iid" else 1):
        x = data(kind, n, seed)
        errs["classical"].append(rank_error(x, classical_remedian(x, block_size)))
        errs["weighted"].append(rank_error(x, float(weighted(jnp.asarray(x)))))
      for name in ("classical", "weighted"):
        e = np.asarray(errs[name])
        row.append(f"{e.mean():.3f} / {e.max():.3f}" if kind == "iid" else f"{e[0]:.3f}")
    rows.append(row)
  return rows


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--quick", action="store_true")
  args = parser.parse_args()
  jax.config.update("jax_enable_x64", True)
  grid = np.unique(np.round(np.logspace(1, 4 if args.quick else 6, 13 if args.quick else 21)))
  sizes = sorted(set(int(n) for n in grid) | {50, 344, 2402, 16808, 117650})
  sizes = [n for n in sizes if n <= (10 ** 4 if args.quick else 10 ** 6)]
  seeds = 5 if args.quick else 20
  print(f"rank error |mean(x < r) - 1/2| of the hard remedian, block size 7; iid: mean / "
        f"max over {seeds} seeds; ordered: 90% N(0,1) then 10% near 50")
  print("| n | classical iid | weighted iid | classical ordered | weighted ordered |")
  print("|---|---|---|---|---|")
  for n, ci, wi, co, wo in table(sizes, seeds):
    print(f"| {n:,} | {ci} | {wi} | {co} | {wo} |", flush=True)


if __name__ == "__main__":
  main()
