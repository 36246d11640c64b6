"""The ``"deviation"`` kernel in batched form for many short rows (blocks).

The remedian reduces millions of blocks of ``b <= ~20`` values each, and
sliding windows (pooling) and short rows along an axis are short samples too.
Running the 1-D kernel per row (``vmap`` of
:func:`softq._algorithms.base.order_stat_weights`) pays for a sort per row
and for the kernels' large-sample machinery (row tiles).  This module is the
``"deviation"`` kernel's declared batched form
(:class:`softq._algorithms.base.Batched`):

* :func:`soft_value` -- the values, with an analytic tangent: the fast path
  (:mod:`softq._algorithms.deviation.short_rows_value`: pairs visited once, a hard reference
  found by counting, tiles that stay in cache);
* :func:`deviation_weights` -- the convex weights themselves, differentiable
  by plain autodiff (also in the weights): ``argremedian``, and the
  remedian with differentiable user ``weights=``; one ``(N, b, b)``
  elementwise pass;
The hard ``k``-th value of every row and its weights (by counting, no sort)
are :func:`softq._core.select.counted_select` and
:func:`softq._core.select.tie_weights`.

Weights (``weight``): None (every entry counts once), a Python number ``u``
(every entry counts ``u`` times: the remedian's complete blocks) or an
``(N, b)`` array (0 = absent).  A value of weight ``w`` is ``w`` copies of it:
pair terms are weighted by ``w_j``, ``w_i`` is a prior in the soft-min, and
the order statistic ``k`` counts copies (``total`` is the sum of the weights).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from softq._algorithms.deviation import short_rows_value
from softq._core import numerics
from softq._core import select


def _column(v):
  """A per-row quantity (scalar or ``(N,)``) as a column against ``(N, b)``."""
  v = jnp.asarray(v)
  return v[..., None] if v.ndim >= 1 else v


def deviation_weights(x, weight, total, ks, refs, hits, tau, inv_tau=None):
  """Soft weights of the order statistics ``ks`` of every row (``"deviation"``).

  ``x`` is ``(N, b)`` (NaN-free, may hold +-inf); ``weight`` as in the module
  docstring, ``total`` its sum per row (static or traced); ``ks`` a list of
  order statistics (static ints, traced scalars or ``(N,)``), ``refs``/``hits``
  their hard values and hit masks from
  :func:`softq._core.select.counted_select`.  Returns one
  ``(N, b)`` weight array per ``k``.  Differentiable in ``weight`` too.

  For ``p_k = (k + 1/2) / W`` the cost of candidate ``i`` is
  ``D_i = sum_j w_j [(2 p_k - 1)(x_j - x_i) + soft_abs(x_j - x_i)]``, taken
  relative to a finite reference ``r`` (a hard order statistic):
  ``sum_j w_j [|x_i - x_j| - |r - x_j|]`` is formed by
  :func:`softq._core.numerics.abs_difference` from ``d = x_i - r``, exact
  where ``x_i`` and ``r`` lie on the same side of ``x_j`` (in particular for
  infinite ``x_j``).  The smoothing term of ``|r - x_j|`` does not depend on
  ``i`` and cancels in the soft-min, so it is never computed.  An order
  statistic whose hard value is infinite takes the hard weights (as in
  :func:`softq._algorithms.base.order_stat_weights`).  ``inv_tau``: see
  :func:`softq._core.numerics.ratio` (the remedian calls this inside a scan).
  """
  dtype = x.dtype
  r = _reference(refs)
  finite, d, _, _, _, _, pair_sum = _pair_totals(x, weight, r, tau, inv_tau)
  prior = weight if select.per_entry(weight) else None
  out = []
  for slope, ref, hit in zip(_slopes(ks, total, dtype), refs, hits):
    cost = jnp.where(finite, pair_sum - slope * d, jnp.inf)
    w = numerics.softmin_weights(cost, tau, inv_tau=inv_tau, prior=prior)
    hard = select.tie_weights(hit, weight, dtype)
    out.append(jnp.where(_column(jnp.isfinite(ref)), w, hard))
  return out


def _reference(refs):
  """The common finite reference ``r``: the first finite hard value (else 0)."""
  r = refs[0]
  for other in refs[1:]:
    r = jnp.where(jnp.isfinite(r), r, other)
  return jax.lax.stop_gradient(jnp.where(jnp.isfinite(r), r, jnp.zeros_like(r)))


def _slopes(ks, total, dtype):
  """``2 k + 1 - W`` per order statistic (the pinball slope times ``W``), as columns."""
  w = jnp.asarray(total, dtype)
  return [_column(2.0 * jnp.asarray(k, dtype) + 1.0 - w) for k in ks]


def _pair_totals(x, weight, r, tau, inv_tau):
  """The ``(N, b, b)`` pass: per candidate ``sum_j w_j [rel_ij + tau E(z_ij)]``.

  Returns ``(finite, d, a, z, e2, excess, pair_sum)`` with ``d = x_i - r``,
  ``a = x_i - x_j``, ``z = |a| / tau`` (clipped), ``e2 = exp(-2 z)`` and
  ``excess = E(z) = log1p(e2)``; the costs of :func:`deviation_weights`.
  """
  finite = jnp.isfinite(x)
  xi = jnp.where(finite, x, r[..., None])
  d = xi - r[..., None]                                   # (N, b)
  a = xi[..., :, None] - x[..., None, :]                  # (N, b, b): x_i - x_j
  bj = (r[..., None] - x)[..., None, :]                   # (N, 1, b): r - x_j
  rel = numerics.abs_difference(a, bj, d[..., None])
  z = numerics.ratio(jnp.abs(a), tau, numerics.saturation(x.dtype), inv_tau)
  e2 = jnp.exp(-2.0 * z)
  excess = jnp.log1p(e2)
  terms = _weigh_columns(rel + tau * excess, weight)
  return finite, d, a, z, e2, excess, jnp.sum(terms, axis=-1)


def _weigh_columns(t, weight):
  """``t (N, b, b)`` with column ``j`` times ``w_j`` (absent columns exactly 0)."""
  if weight is None:
    return t
  if not select.per_entry(weight):
    return t * weight
  wj = weight[..., None, :]
  return jnp.where(wj > 0, t * wj, jnp.zeros_like(t))


# --------------------------------------------------------------------------
# the soft value with an analytic tangent
# --------------------------------------------------------------------------

def soft_value(x, weight, ks, tau, hoisted, *, g=None, columns: bool = False,
               tiles: bool = True, value_ks: bool = False):
  """Soft ``"deviation"`` values of the order statistics ``ks`` of every row.

  ``x``: ``(N, b)`` rows (or ``(b, N)`` with ``columns=True``); ``weight``:
  None, a scalar, ``("mask", m, u)`` or per-entry counts (not differentiated);
  ``ks``: order statistics in copies (static ints, traced scalars or ``(N,)``);
  ``tau``: scalar or ``(N,)``, ``hoisted`` its
  :func:`softq._core.numerics.hoisted_temperature`.  Returns ``(len(ks), N)``,
  or ``(N,)`` mixed ``(1 - g) v_0 + g v_1``.  ``value_ks``: with a scalar
  weight ``u``, the ks of the median of ``b`` values stand for the weighted
  median of the ``b u`` copies (the remedian's uniform levels).  See
  :func:`softq._algorithms.deviation.short_rows_value.values`.
  """
  return short_rows_value.values(x, weight, ks, tau, hoisted, g=g, columns=columns, tiles=tiles,
                                 value_ks=value_ks)
