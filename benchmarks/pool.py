"""Soft median pooling vs ``lax.reduce_window`` max pooling (CPU wall time).

Run with ``python -m benchmarks.pool`` (``--help`` for options).  Each case is
compiled once, then timed ``--repeats`` times; the table reports the median
time of the forward pass and of forward + gradient (with respect to the
inputs and, for the soft poolings, the temperature), both under ``jax.jit``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import jax
import jax.numpy as jnp

import softq


def _time(fn, *args, repeats: int) -> float:
  jax.block_until_ready(fn(*args))            # compile + warm up
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t0)
  return statistics.median(times)


def _max_pool(x, window, strides, padding):
  return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1,) + window + (1,),
                               (1,) + strides + (1,), padding)


def _poolers(window, strides, padding):
  """name -> (forward fn(x, t), scalar loss fn(x, t), differentiates t)."""
  out = {"max (lax.reduce_window)": lambda x, t: _max_pool(x, window, strides, padding)}
  out["median_pool tau=0 (hard)"] = lambda x, t: softq.median_pool(
      x, window, strides, padding, temperature=0)
  for algorithm in ("deviation", "rank"):
    out[f"median_pool {algorithm}"] = (
        lambda x, t, a=algorithm: softq.median_pool(x, window, strides, padding,
                                                    temperature=t, algorithm=a))
  return out


def run(shape, cases, repeats: int):
  x = jax.random.normal(jax.random.PRNGKey(0), shape, jnp.float32)
  t = jnp.asarray(0.1, jnp.float32)
  rows = []
  for window, strides, padding in cases:
    for name, fn in _poolers(window, strides, padding).items():
      fwd = jax.jit(fn)
      soft_t = "tau=0" not in name and name.startswith("median_pool")
      argnums = (0, 1) if soft_t else 0
      grad = jax.jit(jax.value_and_grad(lambda x, t, f=fn: jnp.sum(f(x, t) ** 2),
                                        argnums=argnums))
      rows.append(dict(
          window=window, strides=strides, padding=padding, pooling=name,
          forward_ms=1e3 * _time(fwd, x, t, repeats=repeats),
          fwd_grad_ms=1e3 * _time(grad, x, t, repeats=repeats)))
  return rows


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--shape", type=int, nargs=4, default=(16, 32, 32, 16),
                      metavar=("BATCH", "H", "W", "C"))
  parser.add_argument("--repeats", type=int, default=7)
  parser.add_argument("--json", help="also write the rows to this file")
  args = parser.parse_args(argv)
  cases = [((2, 2), (2, 2), "VALID"), ((3, 3), (2, 2), "SAME"), ((3, 3), (1, 1), "SAME")]
  rows = run(tuple(args.shape), cases, args.repeats)
  print(f"# median_pool vs max pooling: input {tuple(args.shape)} float32, "
        f"median of {args.repeats} runs, jax {jax.__version__}, "
        f"{jax.devices()[0].platform} ({platform.processor() or platform.machine()})")
  print("| window | strides | padding | pooling | forward ms | fwd+grad ms | x max fwd |")
  print("| --- | --- | --- | --- | ---: | ---: | ---: |")
  base = {}
  for r in rows:
    key = (r["window"], r["strides"], r["padding"])
    if r["pooling"].startswith("max"):
      base[key] = r["forward_ms"]
    ratio = r["forward_ms"] / base[key]
    print(f"| {r['window']} | {r['strides']} | {r['padding']} | {r['pooling']} | "
          f"{r['forward_ms']:.2f} | {r['fwd_grad_ms']:.2f} | {ratio:.0f} |")
  if args.json:
    with open(args.json, "w", encoding="utf-8") as f:
      json.dump(dict(shape=args.shape, repeats=args.repeats, jax=jax.__version__,
                     rows=rows), f, indent=1)


if __name__ == "__main__":
  main()
