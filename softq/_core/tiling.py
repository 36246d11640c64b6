"""Row-tiled pairwise reductions: O(n * tile) memory in every autodiff mode."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from softq._core.sizes import PAIRWISE_WHOLE_MAX
from softq._core.sizes import TILE_PAIRS
from softq._core.sizes import TILE_ROWS


def pairwise_rowsum(f: Callable, rows: tuple, cols: tuple, n_rows: int) -> jax.Array:
  """``sum_j f(*[r[i] for r in rows], *[c[j] for c in cols])`` for every ``i``.

  ``f`` maps broadcast ``(rows, 1)`` and ``(1, cols)`` operands to the pairwise
  terms (it may return a tuple of arrays: each is summed).  Up to
  :data:`softq._core.sizes.PAIRWISE_WHOLE_MAX` rows run dense; more in row
  tiles of ``TILE_ROWS`` (:mod:`softq._core.sizes`) under ``jax.checkpoint``
  inside ``lax.map``, so neither the forward pass nor either autodiff mode ever
  holds more than a ``(TILE_ROWS, n)`` slab.
  """
  def block(row_args):
    out = f(*[r[:, None] for r in row_args], *[c[None, :] for c in cols])
    return jax.tree.map(lambda t: jnp.sum(t, axis=1), out)

  if n_rows <= PAIRWISE_WHOLE_MAX:
    return block(rows)
  n_cols = cols[0].shape[0]
  tile = max(8, min(TILE_ROWS, TILE_PAIRS // max(n_cols, 1)))
  pad = (-n_rows) % tile
  padded = tuple(jnp.pad(r, (0, pad), mode="edge") for r in rows)
  tiled = tuple(r.reshape(-1, tile) for r in padded)
  out = jax.lax.map(jax.checkpoint(block), tiled)
  return jax.tree.map(lambda t: t.reshape(-1)[:n_rows], out)
