"""``"rank"``: soft ranks from pairwise soft signs, re-centred.

First stage (data units, temperature ``tau``): for every valid ``x_i``

    R_i = (m + 1) / 2 + 1/2 sum_j tanh((x_i - x_j) / tau)      (soft average rank)
    c_i = sum_j sech^2((x_i - x_j) / tau)                       (soft tie count)

``R`` tends to ``scipy.stats.rankdata(method="average")`` and ``c`` to the
number of copies of ``x_i``.  A value tied ``c`` times covers the ranks
``R - (c-1)/2 .. R + (c-1)/2``, so the distance from the wanted rank ``k + 1``
to that range is ``max(|R_i - (k+1)| - (c_i - 1)/2, 0)`` (smoothed with soft
abs and soft plus).

Second stage (rank units): ``w = softmin(dist^2 / tau_rank)`` with

    tau_rank = tau / gap,   gap = 3 * MD / m,

``MD`` being the soft mean absolute difference of the sample (for evenly spread
data ``gap`` is the spacing between neighbours, so ``tau_rank`` is the
temperature measured in ranks).  ``tau_rank`` is scale- and translation-free
and goes to 0 with ``tau``.

Cost: samples of at most :data:`softq._core.sizes.DENSE_MAX` values sum the pairs directly
(O(n^2) time, O(n) memory in row tiles); larger ones sort once and evaluate
the same pair sums in O(n log n) (:mod:`softq._algorithms.rank.sorted`:
``tanh`` and ``sech^2`` through constrained-minimax fits in
``exp(-2|u|/tau)``, within ~1e-7 (float32) / 1e-14 (float64) of the dense sums
per unit weight, at every temperature).
"""

from __future__ import annotations


import jax.numpy as jnp

from softq._algorithms.rank import sorted as sorted_ranks
from softq._algorithms.base import Kernel
from softq._core import numerics
from softq._core import tiling
# Samples of at most DENSE_MAX values take the dense pairwise sums; larger ones
# the O(n log n) sorted evaluation of the same function (to rounding).
from softq._core.sizes import DENSE_MAX


def soft_ranks(sample, tau):
  """(R, c, tau_rank) of the docstring above."""
  x, weight, m = sample
  dtype = x.dtype
  w_col = (jnp.ones_like(x) if weight is None
           else jnp.where(weight > 0, weight, 0).astype(dtype))
  finite_col = w_col * jnp.isfinite(x).astype(dtype)
  if x.shape[0] > DENSE_MAX:
    s_sum, ties, abs_sum = sorted_ranks.pair_sums(x, w_col, tau)
    n_pairs = jnp.isfinite(x).astype(dtype) * jnp.sum(finite_col)
    return _finish(s_sum, ties, abs_sum, n_pairs, w_col, m, tau, dtype)

  def terms(xi, xj, wj, fj):
    u = jnp.where(xi == xj, jnp.zeros_like(xi - xj), xi - xj)
    s = numerics.soft_sign(u, tau)
    finite_pair = jnp.isfinite(u)
    sa = numerics.soft_abs(jnp.where(finite_pair, u, jnp.zeros_like(u)), tau)
    pair_w = fj * jnp.isfinite(xi).astype(dtype)
    return wj * s, wj * (1.0 - s * s), pair_w * sa, pair_w * jnp.ones_like(sa)

  s_sum, ties, abs_sum, n_pairs = tiling.pairwise_rowsum(
      terms, (x,), (x, w_col, finite_col), x.shape[0])
  return _finish(s_sum, ties, abs_sum, n_pairs, w_col, m, tau, dtype)


def _finish(s_sum, ties, abs_sum, n_pairs, w_col, m, tau, dtype):
  mf = jnp.asarray(m, dtype)
  ranks = 0.5 * (mf + 1.0) + 0.5 * s_sum
  row_w = w_col
  md = jnp.sum(row_w * abs_sum) / jnp.maximum(jnp.sum(row_w * n_pairs), 1.0)
  gap = 3.0 * md / mf
  # divide(): plain `/` differentiates through gap**-2, which overflows for
  # data spread ~1e-20 in float32 (NaN gradients).
  tau_rank = numerics.floor_tau(
      numerics.divide(tau, jnp.maximum(gap, numerics.tau_floor(dtype))))
  return ranks, ties, tau_rank


def prepare(sample, tau):
  return soft_ranks(sample, tau)


def select(state, sample, k, r, tau):
  del r, tau
  x, valid = sample.x, sample.valid
  ranks, ties, tau_rank = state
  target = jnp.asarray(k, ranks.dtype) + 1.0
  half_width = 0.5 * jnp.maximum(ties - 1.0, 0.0)
  excess = numerics.soft_abs(ranks - target, tau_rank) - half_width
  # soft plus via soft abs: tau log(1 + e^{z/tau}) = z/2 + soft_abs_{2 tau}(z)/2
  dist = 0.5 * excess + 0.5 * numerics.soft_abs(excess, 2.0 * tau_rank)
  # An infinite value never carries weight (its hard rank is extreme): a
  # finite order statistic must stay finite (0 * inf is avoided downstream).
  finite = jnp.isfinite(x) if valid is None else valid & jnp.isfinite(x)
  return numerics.softmin_weights(dist * dist, tau_rank, finite, prior=sample.weight)


KERNEL = Kernel(prepare, select)


