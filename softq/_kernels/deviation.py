"""``"deviation"``: the soft minimiser of the total (pinball) deviation.

For the ``k``-th order statistic of ``m`` values take the level
``p = (k + 1/2) / m`` (the unique level whose pinball minimiser over the sample
is exactly the ``k``-th smallest value) and score every sample point by

    D_i = sum_j (2p - 1) (x_j - x_i) + soft_abs(x_j - x_i)      (= 2 x pinball)

then ``w = softmin(D / tau)``.  At ``p = 1/2`` this is the soft total absolute
deviation.  ``D`` is evaluated *relative to* ``r``, the hard ``k``-th value
(``D_i - D_r``, pair by pair, see ``_numerics.soft_abs_difference``), so its
rounding error is ``eps * n * |x_i - r|`` rather than ``eps * n * range``: the
hard limit stays exact in float32 at n = 65,536.  O(n^2) time, O(n) memory
(row tiles).
"""

from __future__ import annotations

import jax.numpy as jnp

from softq import _numerics
from softq._kernels import _tiling


def prepare(x, valid, m, tau):
  del x, valid, m, tau
  return None


def costs(x, valid, m, k, r, tau):
  """Relative pinball costs ``D_i - D_r`` (``+inf`` for infinite or masked)."""
  dtype = x.dtype
  mf = jnp.asarray(m, dtype)
  two_p_minus_1 = 2.0 * (jnp.asarray(k, dtype) + 0.5) / mf - 1.0
  finite = jnp.isfinite(x)
  xi = jnp.where(finite, x, r)           # candidates: infinite ones scored below
  di = xi - r
  w_col = jnp.ones_like(x) if valid is None else valid.astype(dtype)

  def terms(xi_, di_, xj, wj):
    a = jnp.where(xi_ == xj, jnp.zeros_like(xi_ - xj), xi_ - xj)
    b = r - xj
    return wj * _numerics.soft_abs_difference(a, b, di_, tau)

  total = _tiling.pairwise_rowsum(terms, (xi, di), (x, w_col), x.shape[0])
  cost = -two_p_minus_1 * mf * di + total
  return jnp.where(finite, cost, jnp.inf)


def select(state, x, valid, m, k, r, tau):
  del state
  return _numerics.softmin_weights(costs(x, valid, m, k, r, tau), tau, valid)
