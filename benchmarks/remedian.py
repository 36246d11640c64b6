"""Soft remedian benchmark: speed vs ``jnp.median`` and the block-size sweep.

Run: ``python -m benchmarks.remedian`` (add ``--quick`` for the n = 59,049
row and a short sweep).  Times are the median of several repeats of a jitted
call, compilation excluded; ``jnp.median`` is measured in the same run.
"""

from __future__ import annotations

import argparse
import inspect
import time

import jax
import jax.numpy as jnp
import numpy as np

import softq


def _time(fn, *args, repeats=5):
  jax.block_until_ready(fn(*args))
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t0)
  return float(np.median(times))


def speed(sizes, block_size):
  print(f"## remedian (block_size={block_size}, temperature=1) vs jnp.median, float32")
  print("| n | jnp.median fwd ms | remedian fwd ms | ratio | jnp.median fwd+grad ms "
        "| remedian fwd+grad ms | ratio |")
  print("|---|---|---|---|---|---|---|")
  for n in sizes:
    x = jnp.asarray(np.random.default_rng(0).standard_normal(n), jnp.float32)
    rem = lambda v: softq.remedian(v, block_size=block_size)
    m_f = _time(jax.jit(jnp.median), x)
    r_f = _time(jax.jit(rem), x)
    m_g = _time(jax.jit(jax.value_and_grad(jnp.median)), x)
    r_g = _time(jax.jit(jax.value_and_grad(rem)), x)
    print(f"| {n:,} | {m_f*1e3:.1f} | {r_f*1e3:.1f} | {r_f/m_f:.2f} | {m_g*1e3:.1f} "
          f"| {r_g*1e3:.1f} | {r_g/m_g:.2f} |", flush=True)


def sweep(block_sizes, n=531441, trials=3):
  print(f"\n## block-size sweep: fwd+grad at n={n:,} float32; rank errors of the hard "
        "remedian (median: 59,049 Student-t df=1; quantiles p=0.1/0.25/0.75/0.9: "
        "20,000 normal), max |rank - p| over trials")
  print("| block_size | fwd+grad ms | median rank err | quantile rank err |")
  print("|---|---|---|---|")
  x = jnp.asarray(np.random.default_rng(0).standard_normal(n), jnp.float32)
  ps = np.array([0.1, 0.25, 0.75, 0.9])
  for b in block_sizes:
    t = _time(jax.jit(jax.value_and_grad(lambda v: softq.remedian(v, block_size=b))), x,
              repeats=3)
    med = jax.jit(lambda v: softq.remedian(v, block_size=b, temperature=0))
    rng = np.random.default_rng(1)
    e_med, e_q = 0.0, 0.0
    for _ in range(trials):
      s = rng.standard_t(1, 59049)
      e_med = max(e_med, abs(np.mean(s < float(med(jnp.asarray(s)))) - 0.5))
    for _ in range(trials):
      s = rng.standard_normal(20000)
      vals = _quantiles(jnp.asarray(s), ps, b)
      e_q = max(e_q, max(abs(np.mean(s < v) - p) for v, p in zip(np.asarray(vals), ps)))
    print(f"| {b} | {t*1e3:.1f} | {e_med:.4f} | {e_q:.4f} |", flush=True)


def _quantiles(x, ps, block_size):
  return softq.quantile(x, ps, algorithm="remedian", block_size=block_size, temperature=0)


DEFAULT_BLOCK_SIZE = inspect.signature(softq.remedian).parameters["block_size"].default


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--quick", action="store_true")
  args = parser.parse_args()
  sizes = [59049] if args.quick else [59049, 531441, 1062882]
  speed(sizes, DEFAULT_BLOCK_SIZE)
  sweep([3, 7] if args.quick else [3, 5, 7, 9, 11, 15], n=59049 if args.quick else 531441)


if __name__ == "__main__":
  main()
