"""``"remedian"``: the soft remedian as a registered row reducer.

The remedian reduces blocks of ``block_size`` values to their (soft)
medians, level by level, the blocks interleaved and the input dealt out
across segments (:mod:`softq._algorithms.remedian.tree`), in O(n) work and
O(log n) depth.  Quantiles other than the median pad the sample
virtually: every first-level block takes the order statistic that its share
of pad values would make its median (:func:`quantile_stat`).  Its hard limit
is the hard interleaved weighted remedian, an estimate of the median, not
``jnp.median``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from softq._algorithms.base import Query
from softq._algorithms.base import Rows
from softq._algorithms.remedian.levels import median_stat
from softq._algorithms.remedian.tree import rows_remedian
from softq._core import validation

#: Default block size, chosen by ``python -m benchmarks.remedian`` (see
#: docs/remedian.md): the fastest block size whose quantiles (by padding) stay
#: within 0.02 of their level, and whose median rank error is as small as the
#: largest blocks'.
DEFAULT_BLOCK_SIZE = 7
#: Default block kernel (a registered exact algorithm with a batched form).
DEFAULT_BLOCK_ALGORITHM = "deviation"
#: Algorithms the remedian's blocks may use.
BLOCK_ALGORITHMS = ("deviation", "rank")


def quantile_stat(p, method: str):
  """Level-0 order statistic of a block of ``m`` values for the level ``p``.

  The block takes the order statistic that its share of pad values would make
  its median: ``(1 - 2p)(m + 1/3)`` pads below (``p < 1/2``) or
  ``(2p - 1)(m + 1/3)`` above (``p > 1/2``) put the median of the padded
  block at the fractional position ``k = (m - 1)/2 + (p - 1/2)(m + 1/3)``
  among the ``m`` real values (clipped to ``[0, m - 1]``).  The ``+ 1/3`` is
  the median-unbiased correction for order statistics of small samples
  (the ``k``-th of ``m`` has median rank ``~(k + 2/3)/(m + 1/3)``); ``k`` is
  exactly ``(m - 1)/2`` at ``p = 1/2``.  ``method`` rounds or interpolates
  ``k`` as ``jnp.quantile`` does ``h``; ``"inverted_cdf"`` and
  ``"averaged_inverted_cdf"`` use their own definitions at level ``p`` on
  the block's ``m`` values.
  """
  static_p = not isinstance(p, jax.Array) or validation.is_concrete(p)

  def stat(m):
    static = static_p and isinstance(m, (int, np.integer))
    if static and float(p) == 0.5 and method in ("linear", "midpoint",
                                                 "averaged_inverted_cdf"):
      return median_stat(int(m))
    xp = np if static else jnp
    pp = float(p) if static else jnp.asarray(p)
    mf = float(m) if static else jnp.asarray(m, pp.dtype if hasattr(pp, "dtype") else jnp.float32)
    last = mf - 1.0
    if method == "inverted_cdf":
      lo = xp.clip(xp.ceil(pp * mf) - 1.0, 0.0, last)
      hi, g = lo, 0.0 * lo
    elif method == "averaged_inverted_cdf":
      h = pp * mf - 1.0
      prev = xp.floor(h)
      g = xp.where(h - prev == 0, 0.5, 1.0)
      lo = xp.clip(prev, 0.0, last)
      hi = xp.clip(prev + 1.0, 0.0, last)
    else:
      k = xp.clip(0.5 * last + (pp - 0.5) * (mf + 1.0 / 3.0), 0.0, last)
      lo, hi = xp.floor(k), xp.ceil(k)
      frac = k - lo
      if method == "linear":
        g = frac
      elif method == "lower":
        hi, g = lo, 0.0 * k
      elif method == "higher":
        lo, g = hi, 0.0 * k
      elif method == "nearest":
        lo = hi = xp.where(frac <= 0.5, lo, hi)
        g = 0.0 * k
      else:  # midpoint
        g = 0.5 + 0.0 * k
    if static:
      lo, hi, g = int(lo), int(hi), float(g)
      if lo == hi:
        g = 0.0
      return lo, hi, g
    return lo.astype(jnp.int32), hi.astype(jnp.int32), g
  return stat


def parse_options(name: str, values: dict, get) -> dict:
  """Validates ``block_size`` and resolves ``block_algorithm`` to its kernel.

  ``get(algorithm, name, allowed)`` is the registry's lookup.
  """
  block_size = validation.check_block_size(values["block_size"], name)
  block = get(values["block_algorithm"], name, BLOCK_ALGORITHMS)
  if block.max_size is not None:
    validation.check_size_limit(block_size, block.max_size, block.name, name,
                                f"block_size <= {block.max_size} or the default block kernel")
  return {"block_size": block_size, "block_kernel": block.kernel}


def reduce(rows: Rows, query: Query, tau, *, hard: bool, output: str, options):
  """Registry ``reduce``: remedian values ``(Q, B)`` or weights ``(Q, B, n)``.

  Values of weight 0 (masked, NaN ignored, zero ``weights=``) are dropped:
  the weighted remedian of the remaining values in their order, each
  starting with its weight (1 without ``weights=``).
  """
  opts = dict(options)
  block_size, kernel = opts["block_size"], opts["block_kernel"]
  weights_out = output == "weights"

  def run(stat0, tau_rows):
    return rows_remedian(rows.x, rows.weight, tau_rows, stat0, block_size, kernel, hard,
                         weights_out)

  if query.kind == "median":
    if jnp.ndim(tau) == 2:
      return run(median_stat, tau[0])[None]
    return run(median_stat, tau)[None]
  p_vec = jnp.asarray(query.q).reshape(-1)
  p_vec = p_vec.astype(jnp.promote_types(p_vec.dtype, jnp.float32))
  if jnp.ndim(tau) == 2:
    return jax.vmap(lambda p, t: run(quantile_stat(p, query.method), t))(p_vec, tau)
  return jax.vmap(lambda p: run(quantile_stat(p, query.method), tau))(p_vec)
