"""``"sorted"``: the ``"deviation"`` function in O(n log n) time and O(n) memory.

**The function.**  For a sample ``x`` (n,) with non-negative weights ``w``
(``W = sum w``), an order-statistic position ``k``, a finite reference ``r``
(e.g. the hard weighted ``k``-th value; only fixes an additive constant) and a
temperature ``tau > 0``, with ``softabs(u) = tau log(e^{u/tau} + e^{-u/tau})``,
``d_i = x_i - r`` and ``s = 2k + 1 - W``,

    cost_i = -s d_i + sum_j w_j (softabs(x_i - x_j) - softabs(r - x_j))      (finite x_i)

(an infinite ``x_j`` contributes ``-sign(x_j) d_i``; infinite ``x_i`` has cost
+inf), ``omega_i = w_i exp(-(cost_i - min) / tau) / sum`` and
``soft_value = sum_i omega_i x_i``.  Integer weights give exactly the same
numbers (values and gradients) as the sample with ``x_i`` repeated ``w_i``
times; zero-weight entries are scored but get ``omega = 0`` (finite
``d omega / d w``).  This is the dense ``"deviation"`` kernel, computed without
the n x n pairs.

**Algorithm (as implemented).**  Sort once (``argsort`` of the stop-gradient
values, then a gather that carries the gradient).  Write
``softabs(u) = |u| + tau p(2|u|/tau)`` with the refitted exponential sum
``p(z) = sum_{m=1..M} a_m e^{-m z}`` (:mod:`softq._core.expsum`; M = 8 for float32,
16 for float64).  Over a gap ``g_l = x_l - x_{l-1}`` of the sorted sample the
cost changes by

    delta_l = g_l (2 (C_{l-1} - k) - 1)                         (hard part, exact)
            - tau sum_m a_m (1 - e^{-2 m g_l / tau}) (L^m_{l-1} - R^m_l)  (soft part)

with ``C`` the cumulative weight and ``L^m_i = sum_{j<=i} w_j e^{-2m(x_i - x_j)/tau}``,
``R^m`` its mirror: two linear recurrences per term (factors in [0, 1], stable
at every tau), evaluated in a blocked two-level scan.  Per term ``m`` one of
two exact forms is used, chosen from the data (``2m x mean|x - r| < tau log 2``
-> complementary): the plain sums ``L, R`` (accurate while the exponentials
are mostly small) or the complementary sums ``K = C - L``, ``K' = D - R``
(accurate when tau is large against the spread: they keep the tiny variation
instead of the huge constant, and the hard part cancels analytically).  Every
``1 - e^{-y}`` and ``y - 1 + e^{-y}`` is formed from non-negative terms, so
nothing cancels catastrophically at any temperature.  The costs are the
cumulative sums of ``delta`` *running outwards from the anchor* (the finite
sorted value nearest ``r``, whose cost is 0), so float rounding is
``eps W |x_i - r|``-sized, not ``eps W range``.  Ties give zero increments
(tied values get identical costs); +-inf values sit at the ends of the sorted
order, contribute their weight to ``C`` and nothing to the exponential sums.

**Error bound.**  The only approximation is ``p ~ f = log1p(e^{-z})``:
``|p - f| <= delta_M`` uniformly (8.8e-6, 1.2e-7, 2.4e-14 for M = 6, 8, 16),
and ``p - f = O(z^4)`` at ``z = 0`` (value and first three derivatives matched).
Each pair's soft-abs is off by at most ``tau delta_M``, so every cost difference
``cost_i - cost_j`` is within ``2 tau delta_M W_near`` of the dense one, where
``W_near <= W`` is the weight within a few ``tau`` of ``x_i`` or ``x_j`` (the
error term decays like ``e^{-2|u|/tau}``): every ``omega`` is within a factor
``exp(+-2 delta_M W_near)`` of the dense one, independent of tau.  Rounding on
top of that (measured against the float64 dense definition, n <= 2000,
t(4)-distributed samples, real and integer weights, k in {0, W/2, W-1}, r the
weighted k-th value, tau = 1e-4 .. 1e4 x std):

    float32 (M=8):  |v - v_dense| <= 4e-5 std,   |omega - omega_dense| <= 2e-4,
                    |grad - grad_dense| <= 9e-4 max|grad|
    float64 (M=16): |v - v_dense| <= 2e-12 std,  |omega - omega_dense| <= 2e-12,
                    |grad - grad_dense| <= 3e-11 max|grad|

and at n = 531,441 (float32 vs this kernel in float64, N(0, 1), tau = 1e-4 .. 1e4):
``|v - v64| <= 2e-5 std``, x-gradient within 2e-3 relative (<= 5e-5 for
tau <= 0.1 std); the tau-gradient is the weakest: 2e-1 relative at
tau = 10 std, 6e-4 at tau = 1 std, <= 3e-3 elsewhere (there both one-sided
sums are ~W/2 and dv/dtau is a small difference of them).  tau from 1e-30 to 1e30 gives finite values and gradients (tested).

The evaluation is :func:`softq._algorithms.deviation.sorted_costs.sorted_costs`.

**Gradients.**  A ``jax.custom_jvp`` (never ``custom_vjp``: forward mode,
``jacfwd``, ``check_grads(order=2)`` work) whose tangent is itself linear
recurrences: for ``x`` the Jacobian's diagonal ``Q`` (from the primal pass) plus
``sum_j w_j dx_j sa'(x_j - x_i)`` (two exclusive one-sided scans on ``w dx``);
for ``w`` the primal increments with weights ``dw`` (costs are linear in w);
for ``tau`` the increments' derivative with the sums differentiated in tau
(scaled by tau, bounded at every temperature); for ``k``, ``-2 (x - x_p)``.
JAX transposes the tangent for reverse mode.  Unperturbed inputs cost nothing
(symbolic zeros).  Second derivatives differentiate the rule by autodiff.

**Cost.**  One sort -- shared with the hard reference values, which the
kernel reads off the sorted sample (:func:`references`) -- plus, per call,
two blocked scans (forward and backward recurrences, independent: XLA runs
them concurrently) for a value, two more for a gradient in x (four with
tau): O(n log n + n M) time; O(n) memory (no n x M array is stored except
two in the tau tangent).  Running both directions as one scan over 2n
elements halves the while loops (compile 4.9 -> 3.0 s at n = 1e5) but loses
that concurrency: measured 2x slower on an idle 2-core CPU, so not kept.
Measured figures: ``python -m benchmarks --only exact,default,compile`` and
``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from softq._algorithms.deviation import pairwise
from softq._algorithms.base import Kernel
from softq._algorithms.base import hard_references
from softq._algorithms.base import sorted_references
from softq._algorithms.deviation import sorted_costs
from softq._algorithms.deviation import sorted_sort
from softq._core import expsum
from softq._core import numerics


#: Samples of at most this many values take the dense ``"deviation"`` kernel:
#: the same function (to rounding), as fast or faster there, and it compiles
#: in a fraction of the time (measured: docs/choosing.md).
from softq._core.sizes import DENSE_MAX  # the size policy: one home for every cut-off


def prepare(sample, tau):
  """Sort once (shared by every order statistic of the sample)."""
  if sample.x.shape[0] <= DENSE_MAX:
    return None
  del tau
  x, weight, _ = sample
  valid = sample.valid
  key = jax.lax.stop_gradient(x if valid is None else jnp.where(valid, x, jnp.inf))
  perm = numerics.argsort(key)
  xs = x[perm]                                    # carries the gradient
  if weight is None:
    ws = jnp.ones_like(xs)
  else:
    present = valid[perm]
    xs = jnp.where(present, xs, jnp.inf)          # absent entries sort last, cost nothing
    ws = jnp.where(present, weight[perm], 0).astype(xs.dtype)
  return perm, xs, ws


def select(state, sample, k, r, tau):
  if state is None:
    return pairwise.select(None, sample, k, r, tau)
  perm, xs, ws = state
  cost = sorted_costs.sorted_costs(xs, ws, k, r, tau, expsum.default_terms(xs.dtype))
  w = numerics.softmin_weights(cost, tau, prior=ws)
  return jnp.zeros_like(w).at[perm].set(w)


def select_adjacent(state, sample, k, r, r_next, tau):
  """Weights of the order statistics ``k`` and ``k + 1`` from one evaluation.

  The costs are linear in ``k``: with the same reference ``r``,
  ``cost_i(k + 1) = cost_i(k) - 2 (x_i - r)``, and the soft-min ignores the
  constant by which the reference ``r_next`` would shift them.  Rounding grows
  like ``eps W |x_i - r|``, small near ``r_next``, the neighbour of ``r``.
  So an even-``n`` median (and every interpolated level whose two order
  statistics are neighbours) costs one pass of the recurrences, not two.
  """
  if state is None:
    return (pairwise.select(None, sample, k, r, tau),
            pairwise.select(None, sample, k + 1, r_next, tau))
  perm, xs, ws = state
  cost = sorted_costs.sorted_costs(xs, ws, k, r, tau, expsum.default_terms(xs.dtype))
  shift = jnp.where(jnp.isfinite(xs), xs - r, jnp.zeros_like(xs))
  cost_next = jnp.where(jnp.isfinite(cost), cost - 2.0 * shift, cost)
  out = []
  for c in (cost, cost_next):
    w = numerics.softmin_weights(c, tau, prior=ws)
    out.append(jnp.zeros_like(w).at[perm].set(w))
  return tuple(out)


def select_many(state, sample, ks, rs, tau):
  """Weights ``(U, n)`` of the order statistics ``ks`` (hard values ``rs``) at once.

  The soft part of the increments does not depend on ``k``
  (:func:`softq._algorithms.deviation.sorted_costs.soft_increments`): one pass of the
  recurrences serves every level, and each order statistic adds one O(n)
  cumulative sum, anchored at its own reference (so its rounding stays
  ``eps W |x_i - r_k|``-sized).  Several quantiles cost about one.
  """
  if state is None:
    return jax.vmap(lambda k, r: pairwise.select(None, sample, k, r, tau))(ks, rs)
  perm, xs, ws = state
  inc = sorted_costs.soft_increments(xs, ws, tau, rs[rs.shape[0] // 2],
                                     expsum.default_terms(xs.dtype))
  anchors = jax.vmap(lambda r: sorted_costs.anchor(xs, r))(rs)
  cost = jax.vmap(lambda k, p: sorted_costs.costs_from_increments(inc, k, p))(
      jnp.asarray(ks, xs.dtype), anchors)
  w = numerics.softmin_weights(cost, tau, prior=ws[None])
  return jnp.zeros_like(w).at[:, perm].set(w)


def references(state, sample, ks):
  """Hard values of ``ks`` from the sorted sample (no second sort)."""
  if state is None:
    return hard_references(sample, ks)
  _, xs, ws = state
  return sorted_references(xs, None if sample.weight is None else ws, ks)


#: Short rows (windows, blocks) take the batched dense form of the same function.
def sort(x, tau):
  """Every order statistic of unweighted rows (:mod:`softq._algorithms.deviation.sorted_sort`)."""
  if x.shape[1] <= DENSE_MAX:
    return None
  return sorted_sort.sort(x, tau)


KERNEL = Kernel(prepare, select, batched=pairwise.KERNEL.batched,
                select_adjacent=select_adjacent, references=references,
                select_many=select_many, sort=sort)
