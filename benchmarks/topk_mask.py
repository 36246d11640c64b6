"""Soft top-k mask benchmark: ``softq.top_k_mask`` vs SoftJAX ``top_k`` and ``lax.top_k``.

Run: ``python -m benchmarks.topk_mask`` (SoftJAX needs Python >= 3.12; without
it its row is left out).  One case, float32 rows of shape (64, 4096), k = 64,
value and value+gradient (of the sum of the outputs), timed interleaved
(``benchmarks/_harness.py``):

* ``lax.top_k + scatter`` (the reference): the hard top-k values scattered
  into a zero array of the input's shape (its gradient is a gather);
* ``softq top_k_mask``: the soft mask at ``temperature=0.1`` (the data are
  standard normal, so this is 0.1 standard deviations);
* ``SoftJAX top_k (fast_soft_sort)``: ``softjax.top_k(x, 64,
  softness=0.1, method="fast_soft_sort")``, its soft top-k values.

Targets (issue 20): softq at most 1.0x SoftJAX and at most 3x the reference,
value+gradient.  The accuracy column is the largest difference from the
hard mask (the one-hot of ``lax.top_k``'s indices) for the mask outputs.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

import softq

from benchmarks import _harness
from benchmarks._harness import Impl

SHAPE = (64, 4096)
K = 64
TEMPERATURE = 0.1


def _scatter_top_k(v):
  vals, idx = jax.lax.top_k(v, K)
  rows = jnp.arange(v.shape[0])[:, None]
  return jnp.zeros_like(v).at[rows, idx].set(vals)


def _hard_mask(v):
  _, idx = jax.lax.top_k(v, K)
  rows = jnp.arange(v.shape[0])[:, None]
  return jnp.zeros_like(v).at[rows, idx].set(1.0)


def impls(notes: list[str]) -> list[Impl]:
  """The implementations of the case (SoftJAX only where it imports)."""
  out = [Impl("lax.top_k + scatter", _scatter_top_k),
         Impl("softq top_k_mask", lambda v: softq.top_k_mask(v, K, temperature=TEMPERATURE))]
  try:
    import softjax  # pylint: disable=import-outside-toplevel
  except ImportError:
    notes.append("SoftJAX is not installed (it needs Python >= 3.12): its row is left out")
  else:
    out.append(Impl("SoftJAX top_k (fast_soft_sort)", lambda v: softjax.top_k(
        v, K, softness=TEMPERATURE, method="fast_soft_sort")[0]))
  return out


def topk_mask_case(rounds: int, notes: list[str]) -> _harness.CaseResult:
  """Measures the case; the accuracy column is against the hard mask."""
  x = jnp.asarray(np.random.default_rng(0).standard_normal(SHAPE), jnp.float32)
  cases = impls(notes) + [Impl("hard mask (accuracy only)", _hard_mask, forward_only=True)]
  return _harness.measure_case(f"top_k_mask {SHAPE}, k={K}", x, cases, rounds, notes,
                               reference="lax.top_k + scatter",
                               hard_from="hard mask (accuracy only)")


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--rounds", type=int, default=15)
  args = parser.parse_args(argv)
  notes: list[str] = []
  result = topk_mask_case(args.rounds, notes)
  print(f"## top_k_mask, float32, temperature={TEMPERATURE}, {args.rounds} interleaved rounds")
  print("\n".join(_harness.header_lines() + _harness.row_lines(result)))
  for note in notes:
    print(f"- {note}")


if __name__ == "__main__":
  main()
