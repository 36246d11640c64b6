"""Soft remedian benchmark: speed vs ``jnp.median`` and the block-size sweep.

Run: ``python -m benchmarks.remedian`` (add ``--quick`` for the n = 59,049
row and a short sweep).  Timing is interleaved (``benchmarks/_harness.py``):
per case, ``jnp.median`` and every remedian variant are compiled, warmed up,
then called round by round, each once per round; the tables give the median
and the minimum over rounds and the ratios of medians and of minimums to
``jnp.median`` measured in the same rounds.  The sweep also reports the rank
errors of the hard remedian (``temperature=0``).
"""

from __future__ import annotations

import argparse
import inspect

import jax.numpy as jnp
import numpy as np

import softq

from benchmarks import _harness
from benchmarks._harness import Impl

DEFAULT_BLOCK_SIZE = inspect.signature(softq.remedian).parameters["block_size"].default


def _remedian(block_size: int, temperature: float) -> Impl:
  return Impl(f"remedian b={block_size}", lambda v: softq.remedian(
      v, block_size=block_size, temperature=temperature))


def _normal(n: int):
  return jnp.asarray(np.random.default_rng(0).standard_normal(n), jnp.float32)


def speed(sizes, block_size: int, temperature: float, rounds: int, notes: list[str]):
  print(f"## remedian (block_size={block_size}, temperature={temperature}) vs jnp.median, "
        f"float32, {rounds} interleaved rounds")
  print("\n".join(_harness.header_lines()))
  for n in sizes:
    impls = [Impl("jnp.median", jnp.median), _remedian(block_size, temperature)]
    result = _harness.measure_case(f"n={n:,}", _normal(n), impls, rounds, notes,
                                   reference="jnp.median")
    print("\n".join(_harness.row_lines(result)), flush=True)


def _rank_errors(block_size: int, trials: int) -> tuple[float, float]:
  """Max |rank - p| of the hard remedian: median of Student-t (df=1) samples of
  59,049; quantiles p = 0.1 / 0.25 / 0.75 / 0.9 of normal samples of 20,000."""
  rng = np.random.default_rng(1)
  ps = np.array([0.1, 0.25, 0.75, 0.9])
  e_med = e_q = 0.0
  for _ in range(trials):
    s = rng.standard_t(1, 59049)
    r = float(softq.remedian(jnp.asarray(s), block_size=block_size, temperature=0))
    e_med = max(e_med, abs(np.mean(s < r) - 0.5))
  for _ in range(trials):
    s = rng.standard_normal(20000)
    vals = np.asarray(softq.quantile(jnp.asarray(s), ps, algorithm="remedian",
                                     block_size=block_size, temperature=0))
    e_q = max(e_q, max(abs(np.mean(s < v) - p) for v, p in zip(vals, ps)))
  return e_med, e_q


def sweep(block_sizes, n: int, temperature: float, rounds: int, notes: list[str],
          trials: int = 3):
  print(f"\n## block-size sweep: value+gradient at n={n:,} float32 (all block sizes and "
        f"jnp.median interleaved, {rounds} rounds); rank errors of the hard remedian "
        "(median: 59,049 Student-t df=1; quantiles p=0.1/0.25/0.75/0.9: 20,000 normal), "
        "max |rank - p| over trials")
  impls = [Impl("jnp.median", jnp.median)] + [_remedian(b, temperature) for b in block_sizes]
  result = _harness.measure_case(f"n={n:,}", _normal(n), impls, rounds, notes,
                                 reference="jnp.median")
  print("| block_size | v+g ms (med) | v+g ms (min) | / jnp.median (med) | / jnp.median (min) "
        "| median rank err | quantile rank err |")
  print("|---|---|---|---|---|---|---|")
  for b in block_sizes:
    row, ratio = result.rows.get(f"remedian b={b}"), result.ratio(f"remedian b={b}")
    if row is None or row.vg is None or ratio is None:
      continue
    e_med, e_q = _rank_errors(b, trials)
    print(f"| {b} | {row.vg.median * 1e3:.3g} | {row.vg.min * 1e3:.3g} | {ratio[0]:.3g} "
          f"| {ratio[1]:.3g} | {e_med:.4f} | {e_q:.4f} |", flush=True)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true")
  parser.add_argument("--rounds", type=int, default=7)
  parser.add_argument("--temperature", type=float, default=1.0)
  args = parser.parse_args(argv)
  notes = []
  sizes = [59049] if args.quick else [59049, 531441, 1062882]
  speed(sizes, DEFAULT_BLOCK_SIZE, args.temperature, args.rounds, notes)
  sweep([3, 7] if args.quick else [3, 5, 7, 9, 11, 15], 59049 if args.quick else 531441,
        args.temperature, args.rounds, notes)
  for note in notes:
    print(f"note: {note}")


if __name__ == "__main__":
  main()
