"""``"deviation"``: the soft minimiser of the total (pinball) deviation.

For the ``k``-th order statistic of ``m`` values take the level
``p = (k + 1/2) / m`` (the unique level whose pinball minimiser over the sample
is exactly the ``k``-th smallest value) and score every sample point by

    D_i = sum_j (2p - 1) (x_j - x_i) + soft_abs(x_j - x_i)      (= 2 x pinball)

then ``w = softmin(D / tau)``.  At ``p = 1/2`` this is the soft total absolute
deviation.  ``D`` is evaluated *relative to* ``r``, the hard ``k``-th value
(``D_i - D_r``, pair by pair, see :func:`_pair_terms`), so its
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


def _pair_terms(tau, limit):
  """Pairwise terms of ``D_i - D_r`` less the ``r``-only soft terms.

  ``|x_i - x_j| - |r - x_j| = sign(d_i) * clip(a + b, -|d_i|, |d_i|)`` with
  ``a = x_i - x_j``, ``b = r - x_j``, ``d_i = x_i - r``: exact where ``a`` and
  ``b`` share a sign, formed from ``a + b`` (error ``eps * |d_i|``) where they
  straddle, and ``+-|d_i|`` for infinite ``x_j``.  This is the arithmetic of
  ``_numerics.abs_difference`` in four cheap operations instead of selects.
  Rows with ``d_i == 0`` (``x_i`` tied with ``r``) get ``sign(b) * d_i``
  added (value 0): without it their derivative in ``x_i`` (``sum_j
  sign(r - x_j)``) would vanish through ``sign(0) = 0``.
  The soft excess of ``b`` (``tau * log1p(exp(-2|r - x_j|/tau))``) does not
  depend on ``i``: it is added back once, in O(n), by :func:`costs`.
  """
  def terms(sign_i, mag_i, at_r_i, xi, xj, bj, sign_bj, wj):
    a = xi - xj
    hard = sign_i * jnp.clip(a + bj, -mag_i, mag_i) + at_r_i * sign_bj
    soft = tau * _numerics.abs_excess(_numerics.ratio(jnp.abs(a), tau, limit))
    return wj * (hard + soft)

  return terms


def _relative_costs(x, valid, m, k, r, tau):
  """``D_i - D_r + E_r`` where ``E_r = sum_j w_j soft excess(r - x_j)``."""
  dtype = x.dtype
  mf = jnp.asarray(m, dtype)
  two_p_minus_1 = 2.0 * (jnp.asarray(k, dtype) + 0.5) / mf - 1.0
  finite = jnp.isfinite(x)
  xi = jnp.where(finite, x, r)           # candidates: infinite ones scored below
  di = xi - r
  w_col = jnp.ones_like(x) if valid is None else valid.astype(dtype)
  terms = _pair_terms(tau, _numerics.saturation(dtype))
  total = _tiling.pairwise_rowsum(
      terms, (jnp.sign(di), jnp.abs(di), jnp.where(di == 0, di, jnp.zeros_like(di)), xi),
      (x, r - x, jnp.sign(r - x), w_col), x.shape[0])
  cost = -two_p_minus_1 * mf * di + total
  return jnp.where(finite, cost, jnp.inf), w_col


def costs(x, valid, m, k, r, tau):
  """Relative pinball costs ``D_i - D_r`` (``+inf`` for infinite or masked)."""
  cost, w_col = _relative_costs(x, valid, m, k, r, tau)
  lim = _numerics.saturation(x.dtype)
  b = jnp.abs(r - x)
  e_r = jnp.sum(w_col * tau * _numerics.abs_excess(_numerics.ratio(b, tau, lim)))
  return cost - e_r


def select(state, x, valid, m, k, r, tau):
  del state
  # E_r is the same for every candidate: it cancels in the soft-min.
  cost, _ = _relative_costs(x, valid, m, k, r, tau)
  return _numerics.softmin_weights(cost, tau, valid)
