"""Soft median pooling vs hard median filters and max pooling.

``python -m benchmarks`` runs the pool section (one case: ``(3, 3)`` windows,
stride 1, ``"SAME"``); ``python -m benchmarks.pool`` runs more windows,
strides and algorithms with the same implementations and the same
interleaved timing (see ``benchmarks/_harness.py``).

The hard median filter (the reference) ignores the padding, like
``softq.median_pool``: a border window's median is over its in-range values
(for an even count, the mean of the two middle ones).  Three hand-written
versions compute these same numbers (checked: their ``max abs err`` against
the first is reported):

* ``nanmedian``: pad with NaN, stack the window's shifted views on a new
  last axis, ``jnp.nanmedian`` over it;
* ``sort``: pad with +inf, stack, ``jnp.sort`` the last axis, then average
  the two middle entries of the ``k`` in-range values, ``k`` a static map
  (4 in the corners, 6 on the edges, 9 inside for 3 x 3);
* ``network``: as ``sort``, but sorting the stacked views (without
  gradient) with an odd-even transposition network of elementwise
  ``minimum`` / ``maximum`` (XLA fuses it into one loop), selecting the
  middle entries with static masks, and taking each as the first window
  entry equal to it (the gradient flows to that entry, as through a sort).

The reference of a case is the fastest of the three (median value+gradient
time in the same rounds).  Max pooling is ``flax.linen.max_pool`` when flax
is importable, else the ``lax.reduce_window`` it is built on.
"""

from __future__ import annotations

import argparse
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

import softq

from benchmarks import _harness

HARD = ("hard filter: nanmedian", "hard filter: sort", "hard filter: network")


def _pads(spatial, window, strides, padding):
  return tuple(jax.lax.padtype_to_pads(spatial, window, strides, padding))


def _stacked_windows(x, window, strides, padding, fill):
  """``(B, Ho, Wo, C, K)``: every window's ``K`` entries on a new last axis."""
  b, h, w, c = x.shape
  pads = _pads((h, w), window, strides, padding)
  xp = jnp.pad(x, ((0, 0),) + pads + ((0, 0),), constant_values=fill)
  out = [(size + lo + hi - k) // s + 1
         for size, k, s, (lo, hi) in zip((h, w), window, strides, pads)]
  views = [jax.lax.slice(xp, (0, i, j, 0),
                         (b, i + (out[0] - 1) * strides[0] + 1,
                          j + (out[1] - 1) * strides[1] + 1, c),
                         (1,) + tuple(strides) + (1,))
           for i in range(window[0]) for j in range(window[1])]
  return jnp.stack(views, axis=-1)


def _in_range_counts(spatial, window, strides, padding) -> np.ndarray:
  """Static ``(Ho, Wo)`` number of in-range entries of every window."""
  ones = np.ones((1,) + tuple(spatial) + (1,), np.float32)
  stacked = _stacked_windows(jnp.asarray(ones), window, strides, padding, 0.0)
  return np.asarray(stacked.sum(-1)[0, :, :, 0]).astype(np.int32)


def _middle(sorted_windows, counts, select):
  """Mean of the two middle of the first ``counts`` entries (sorted last axis)."""
  lo, hi = (counts - 1) // 2, counts // 2
  return 0.5 * (select(sorted_windows, lo) + select(sorted_windows, hi))


def _take(sorted_windows, index):
  idx = jnp.asarray(index)[None, :, :, None, None]
  idx = jnp.broadcast_to(idx, sorted_windows.shape[:-1] + (1,))
  return jnp.take_along_axis(sorted_windows, idx, axis=-1)[..., 0]


def _masked_select(sorted_windows, index):
  """``sorted_windows[..., index]`` for a static per-position index, by masks."""
  out = 0.0
  for k in np.unique(index):
    mask = jnp.asarray(index == k)[None, :, :, None]
    out = out + jnp.where(mask, sorted_windows[..., int(k)], 0.0)
  return out


def _first_match(windows, value):
  """``value`` (a window entry, no gradient) as the first window entry equal to
  it: same number, and the gradient flows to that one entry."""
  hit = windows == value[..., None]
  first = hit & (jnp.cumsum(hit, axis=-1) == 1)
  return jnp.sum(jnp.where(first, windows, 0.0), axis=-1)


def _odd_even_sort(v):
  """Sorts the last axis (static length) with a transposition network."""
  cols = [v[..., i] for i in range(v.shape[-1])]
  for r in range(len(cols)):
    for i in range(r % 2, len(cols) - 1, 2):
      cols[i], cols[i + 1] = jnp.minimum(cols[i], cols[i + 1]), jnp.maximum(cols[i], cols[i + 1])
  return jnp.stack(cols, axis=-1)


def hard_filters(spatial, window, strides, padding) -> dict:
  """name -> hard median filter ``x -> y`` (three ways, same numbers)."""
  counts = _in_range_counts(spatial, window, strides, padding)

  def nanmedian(x):
    return jnp.nanmedian(_stacked_windows(x, window, strides, padding, jnp.nan), axis=-1)

  def by_sort(x):
    s = jnp.sort(_stacked_windows(x, window, strides, padding, jnp.inf), axis=-1)
    return _middle(s, counts, _take)

  def by_network(x):
    w = _stacked_windows(x, window, strides, padding, jnp.inf)
    s = _odd_even_sort(jax.lax.stop_gradient(w))
    return _middle(s, counts, lambda v, index: _first_match(w, _masked_select(v, index)))

  return dict(zip(HARD, (nanmedian, by_sort, by_network)))


def max_pool(window, strides, padding) -> tuple[str, Callable]:
  """flax's max pooling if importable, else the ``lax.reduce_window`` it uses."""
  try:
    from flax import linen  # pylint: disable=import-outside-toplevel
    return "max pool (flax.linen.max_pool)", lambda x: linen.max_pool(
        x, window, strides, padding)
  except Exception:  # pylint: disable=broad-except
    return "max pool (lax.reduce_window)", lambda x: jax.lax.reduce_window(
        x, -jnp.inf, jax.lax.max, (1,) + tuple(window) + (1,),
        (1,) + tuple(strides) + (1,), padding)


def pool_impls(spatial, window, strides, padding, temperature, algorithms=("default",),
               hard_soft=False) -> list[_harness.Impl]:
  """The hard filters, softq's median pooling per algorithm and max pooling."""
  impls = [_harness.Impl(n, f) for n, f in
           hard_filters(spatial, window, strides, padding).items()]
  for algorithm in algorithms:
    kw = {} if algorithm == "default" else {"algorithm": algorithm}
    impls.append(_harness.Impl(
        f"softq median_pool {algorithm}", lambda x, kw=kw: softq.median_pool(
            x, window, strides, padding, temperature=temperature, **kw)))
  if hard_soft:
    impls.append(_harness.Impl("softq median_pool temperature=0", lambda x: softq.median_pool(
        x, window, strides, padding, temperature=0)))
  impls.append(_harness.Impl(*max_pool(window, strides, padding)))
  return impls


def run_case(x, window, strides, padding, temperature, rounds, notes, **kw):
  case = f"pool {tuple(x.shape)} {window} s{strides} {padding}"
  impls = pool_impls(x.shape[1:3], window, strides, padding, temperature, **kw)
  return _harness.measure_case(case, x, impls, rounds, notes, reference=HARD,
                               hard_from=HARD[0])


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--shape", type=int, nargs=4, default=(16, 32, 32, 16),
                      metavar=("BATCH", "H", "W", "C"))
  parser.add_argument("--rounds", type=int, default=7)
  parser.add_argument("--temperature", type=float, default=0.01)
  args = parser.parse_args(argv)
  x = jax.random.normal(jax.random.key(0), tuple(args.shape), jnp.float32)
  notes = []
  print(f"# median_pool: input {tuple(args.shape)} float32, temperature "
        f"{args.temperature}, {args.rounds} interleaved rounds, jax {jax.__version__}, "
        f"{jax.devices()[0].platform}; ref = fastest hard filter")
  print("\n".join(_harness.header_lines()), flush=True)
  for window, strides, padding in [((2, 2), (2, 2), "VALID"), ((3, 3), (2, 2), "SAME"),
                                   ((3, 3), (1, 1), "SAME")]:
    result = run_case(x, window, strides, padding, args.temperature, args.rounds, notes,
                      algorithms=("default", "deviation", "rank", "sorted"), hard_soft=True)
    print("\n".join(_harness.row_lines(result)), flush=True)
  for note in notes:
    print(f"note: {note}")


if __name__ == "__main__":
  main()
