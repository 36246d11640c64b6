"""``"sorted"``: the ``"deviation"`` costs in O(n log n), sorting once.

The ``"deviation"`` kernel scores every sample point by the soft total pinball
deviation (with ``p = (k + 1/2) / m``, see :mod:`softq._kernels.deviation`)

    D_i = sum_j (2p - 1)(x_j - x_i) + soft_abs(x_j - x_i),
    soft_abs(u) = |u| + tau * log1p(exp(-2 |u| / tau)),

and returns ``w = softmin(D / tau)``.  This kernel splits ``D`` into its hard
part and the soft correction and evaluates each without the ``n x n`` pairs.

**Hard part, exactly, from prefix sums.**  Sort the valid values once
(``s_0 <= ... <= s_{m-1}``), let ``f_i`` be the number of values strictly
below ``x_i`` and ``d_i = x_i - r`` (``r`` the hard ``k``-th value, at sorted
position ``k``, first of its ties at ``f_r``).  Then, relative to ``r``,

    H_i = sum_j (2p-1)(x_j - x_i) + |x_i - x_j| - (same at r)
        = 2 d_i (f_i - k - 1/2) - 2 Q(f_i),
    Q(t) = sum_{f_r <= j < t} (s_j - r)     (t >= f_r)
         = -sum_{t <= j < f_r} (s_j - r)    (t <  f_r).

Both cumulative sums start *at r* and run outwards, so in float32 their
rounding error is ``eps * m * |d_i|`` (as in the dense ``"deviation"``
kernel), not ``eps * m * range``: the hard limit is exact at large ``n``.

**Soft correction over a window of sorted neighbours.**  The correction
``E_i = tau * sum_{j != i} log1p(exp(-2 |x_i - x_j| / tau))`` is evaluated
only over the ``W = min(WINDOW, m - 1)`` sorted neighbours on each side of
``x_i`` (a static window, the same for every ``i``), plus exactly
``tau * log 2`` for every further copy of a value tied with ``x_i`` (so tied
copies keep equal costs, and the hard limit stays uniform over ties).  The
terms of the reference point ``r`` are the same for every ``i``; they cancel
in the soft-min and are dropped.

**Error bound.**  Every dropped term is ``tau * log1p(exp(-2 |x_i - x_j| /
tau))`` for a ``j`` outside the window and not tied with ``x_i``; its distance
is at least ``delta_i``, the distance from ``x_i`` to the nearest such value
(the first value beyond the window and beyond ``x_i``'s ties, on either side).
Hence, with ``D`` the dense ``"deviation"`` cost and ``C`` this kernel's,

    0 <= (D_i - D_r) - (C_i + tau log 2 - E_r) <= N_i * tau * log1p(exp(-2 delta_i / tau))
                                               <= N_i * tau * exp(-2 delta_i / tau),

where ``E_r = tau * sum_j log1p(exp(-2 |r - x_j| / tau))`` is the dropped
constant and ``N_i <= m - 1`` the number of dropped terms.  If ``B`` bounds
the right-hand side over the sample, every weight is within a factor
``exp(+-B / tau)`` of the dense ``"deviation"`` weight (total-variation
distance at most ``exp(B / tau) - 1``).  ``tests/test_sorted.py`` checks the
bound against the dense kernel.

**Where it is accurate.**  The bound is negligible when ``tau`` is small
compared with ``delta``, the spread of ``W`` neighbours (``W`` times the local
spacing of the sample): there this kernel equals ``"deviation"`` to rounding.
For larger ``tau`` (many samples within a few temperatures of each other, e.g.
``tau = 0.01`` on a million standard-normal values) the window sees only part
of the correction: ``C`` is then closer to the *hard* total deviation than
``D`` is, so the weights are more concentrated than ``"deviation"``'s and the
value is closer to the hard quantile.  It is still a soft order statistic with
the same exact hard limit (every ``jnp.quantile`` method, ties, even ``n``),
differentiable almost everywhere, but no longer the same function as
``"deviation"``: where a value crosses the edge of another's window its cost
jumps by at most the bound above (a dropped term).  Use ``"deviation"`` when
you need the exact dense soft deviation at a large temperature.

Cost: one sort, ``O(n)`` cumulative sums per order statistic and ``O(n W)``
for the window (``WINDOW = 16``): ``O(n log n)`` time, ``O(n)`` memory.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from softq._algorithms.base import Kernel
from softq._core import numerics

#: Sorted neighbours on each side whose soft correction is kept exactly.
WINDOW = 16


def _excess(u, tau):
  """``tau * log1p(exp(-2 u / tau))`` for ``u >= 0`` (may be ``inf``)."""
  return tau * numerics.abs_excess(numerics.ratio(u, tau, numerics.saturation(u.dtype)))


def _tie_groups(s):
  """First and last sorted index of every value's group of ties."""
  n = s.shape[0]
  idx = jnp.arange(n)
  starts = jnp.concatenate([jnp.ones((1,), bool), s[1:] != s[:-1]])
  ends = jnp.concatenate([s[1:] != s[:-1], jnp.ones((1,), bool)])
  first = jax.lax.cummax(jnp.where(starts, idx, 0))
  last = jax.lax.cummin(jnp.where(ends, idx, n - 1), reverse=True)
  return first, last


def prepare(sample, tau):
  """Sort once; the window correction ``E`` (independent of ``k``)."""
  x, valid = sample.x, sample.valid
  n = x.shape[0]
  key = jax.lax.stop_gradient(x if valid is None else jnp.where(valid, x, jnp.inf))
  perm = jnp.argsort(key)
  s = key[perm]
  xs = x[perm]                      # carries the gradient
  ok = jnp.isfinite(s)              # valid and finite (masked entries sort as +inf)
  xs = jnp.where(ok, xs, jnp.zeros_like(xs))
  first, last = _tie_groups(s)
  window = min(WINDOW, n - 1)
  idx = jnp.arange(n)
  offsets = jnp.arange(1, window + 1)
  # g[t, o-1]: the pair (t, t + o), right neighbours only; each pair is
  # evaluated once and credited to both ends (the left end by a gather).
  right = idx[:, None] + offsets[None, :]
  inside = right < n
  right = jnp.minimum(right, n - 1)
  pair_ok = inside & ok[:, None] & ok[right]
  u = jnp.where(pair_ok, xs[right] - xs[:, None], jnp.zeros((n, window), xs.dtype))
  g = jnp.where(pair_ok, _excess(jnp.abs(u), tau), jnp.zeros_like(u))
  left = idx[:, None] - offsets[None, :]
  from_left = jnp.where(left >= 0, g[jnp.maximum(left, 0), offsets[None, :] - 1],
                        jnp.zeros_like(g))
  corr = jnp.sum(g, axis=1) + jnp.sum(from_left, axis=1)
  # Copies of x_i's value beyond the window: exactly tau*log(2) each.
  seen = jnp.minimum(idx - first, window) + jnp.minimum(last - idx, window)
  extra = (last - first - seen).astype(xs.dtype)
  corr = corr + tau * math.log(2.0) * extra
  return perm, s, xs, ok, first, corr


def _sorted_costs(state, m, k, r):
  """Costs in sorted order, relative to ``r`` (``+inf`` where not ok)."""
  _, _, xs, ok, first, corr = state
  n = xs.shape[0]
  dtype = xs.dtype
  k = jnp.asarray(k, jnp.int32)
  anchor = first[k]                 # first copy of r
  idx = jnp.arange(n)
  y = jnp.where(ok, xs - r, jnp.zeros_like(xs))
  above = idx >= anchor
  up = jnp.where(above, y, jnp.zeros_like(y))
  down = jnp.where(above, jnp.zeros_like(y), y)
  # Exclusive prefix sums running outwards from the anchor.
  q_up = jnp.cumsum(up) - up
  q_down = -jnp.cumsum(down[::-1])[::-1]
  q = (q_up + q_down)[first]
  slope = first.astype(dtype) - k.astype(dtype) - 0.5
  cost = 2.0 * y * slope - 2.0 * q + corr
  del m
  return jnp.where(ok, cost, jnp.inf)


def select(state, sample, k, r, tau):
  perm, ok = state[0], state[3]
  w = numerics.softmin_weights(_sorted_costs(state, sample.total, k, r), tau, ok)
  return jnp.zeros_like(w).at[perm].set(w)


KERNEL = Kernel(prepare, select)
