"""``"deviation"``: the soft minimiser of the total (pinball) deviation.

For the ``k``-th order statistic of a sample of total weight ``W`` take the
level ``p = (k + 1/2) / W`` (the level whose pinball minimiser over the sample
is exactly the ``k``-th smallest value) and score every sample point by

    D_i = sum_j w_j [(2p - 1) (x_j - x_i) + soft_abs(x_j - x_i)]      (= 2 x pinball)

then ``w = softmin(D / tau)`` with the weights ``w_i`` as a prior (with
integer weights: the same weights as on the sample with every value repeated
``w_i`` times).  At ``p = 1/2`` this is the soft total absolute deviation.
``D`` is evaluated *relative to* ``r``, the hard ``k``-th value
(``D_i - D_r``, pair by pair, see ``numerics.soft_abs_difference``), so its
rounding error is ``eps * W * |x_i - r|`` rather than ``eps * W * range``:
the hard limit stays exact in float32 at n = 65,536.  O(n^2) time, O(n)
memory (row tiles).  Rows of at most
:data:`softq._core.sizes.SHORT_ROWS_MAX` values take the
batched block kernel of :mod:`softq._algorithms.deviation.short_rows` for their values (the
same function, with an analytic tangent).
"""

from __future__ import annotations

import jax.numpy as jnp

from softq._algorithms.deviation import short_rows
from softq._algorithms.base import Batched
from softq._algorithms.base import Kernel
from softq._core import numerics
from softq._core import tiling
from softq._core.sizes import SHORT_ROWS_MAX


def prepare(sample, tau):
  del sample, tau
  return None


def costs(sample, k, r, tau):
  """Relative pinball costs ``D_i - D_r`` (``+inf`` for infinite entries)."""
  x, weight, total = sample
  dtype = x.dtype
  slope = 2.0 * jnp.asarray(k, dtype) + 1.0 - jnp.asarray(total, dtype)   # (2p - 1) W
  finite = jnp.isfinite(x)
  xi = jnp.where(finite, x, r)           # candidates: infinite ones scored below
  di = xi - r
  w_col = jnp.ones_like(x) if weight is None else jnp.where(weight > 0, weight, 0).astype(dtype)

  def terms(xi_, di_, xj, wj):
    a = jnp.where(xi_ == xj, jnp.zeros_like(xi_ - xj), xi_ - xj)
    b = r - xj
    return wj * numerics.soft_abs_difference(a, b, di_, tau)

  total_terms = tiling.pairwise_rowsum(terms, (xi, di), (x, w_col), x.shape[0])
  cost = -slope * di + total_terms
  return jnp.where(finite, cost, jnp.inf)


def select(state, sample, k, r, tau):
  del state
  return numerics.softmin_weights(costs(sample, k, r, tau), tau, prior=sample.weight)


KERNEL = Kernel(prepare, select, batched=Batched(
    weights=short_rows.deviation_weights, value=short_rows.soft_value, max_size=SHORT_ROWS_MAX))
