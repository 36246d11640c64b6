"""The table of docs/choosing.md: every algorithm's soft median against ``jnp.median``.

Usage: ``python -m benchmarks.choosing [N ...]`` (default n = 100 .. 1,000,000).

Value+gradient of the median, float32, temperature 0.01, N(0, 1) data; the
implementations of one n are interleaved round by round in one process
(``benchmarks/_harness.py`` does the same for the full run) and the median
over rounds is printed with its ratio to ``jnp.median``.  The O(n^2)
algorithms run up to n = 10,000 only.
"""

from __future__ import annotations

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import softq


def _value_and_grad(f):
  return jax.jit(jax.value_and_grad(f))


def _interleaved(fns, x, rounds):
  for f in fns.values():
    jax.block_until_ready(f(x))
  times = {name: [] for name in fns}
  for _ in range(rounds):
    for name, f in fns.items():
      t = time.perf_counter()
      jax.block_until_ready(f(x))
      times[name].append(time.perf_counter() - t)
  return {name: float(np.median(v)) for name, v in times.items()}


def main(sizes):
  print("| n | " + " | ".join(("jnp.median",) + softq.ALGORITHMS) + " |")
  print("|---" * (len(softq.ALGORITHMS) + 2) + "|")
  for n in sizes:
    x = jnp.asarray(np.random.default_rng(0).standard_normal(n), jnp.float32)
    fns = {"jnp.median": _value_and_grad(jnp.median)}
    for name, record in softq.REGISTRY.items():
      quadratic = record.cost.startswith("O(n^2)") or record.max_size is not None
      if (quadratic and n > 10_000) or (record.max_size is not None and n > record.max_size):
        continue
      fns[name] = _value_and_grad(
          lambda x, name=name: softq.median(x, temperature=0.01, algorithm=name))
    t = _interleaved(fns, x, rounds=7 if n < 10**6 else 5)
    base = t["jnp.median"]
    cells = []
    for name in ("jnp.median",) + softq.ALGORITHMS:
      cells.append(f"{t[name] * 1e3:.3g} ms ({t[name] / base:.2g}x)" if name in t else "-")
    print(f"| {n:,} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
  main([int(a) for a in sys.argv[1:]] or [100, 1000, 10_000, 100_000, 1_000_000])
