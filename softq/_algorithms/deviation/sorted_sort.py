"""The ``"sorted"`` soft sort: every order statistic in O(n log n + n h), never n x n.

**The function** is the ``"sorted"``/``"deviation"`` one
(:mod:`softq._algorithms.deviation.sorted`), for every order statistic
``k = 0..n-1`` of an unweighted row: ``v_k = sum_i omega_ki x_i`` with
``omega_k = softmin(cost(k) / tau)`` and

    cost_i(k) = -(2k + 1 - n) x_i + sum_j softabs(x_i - x_j)   (+ a constant).

Only the linear term depends on ``k``.  Over the sorted sample, the cost of
``k`` grows across gap ``l`` by ``g_l (hc0_l - 2k) + soft_l``
(:func:`softq._algorithms.deviation.sorted_costs.soft_increments`): one pass of the
exponential-sum recurrences serves all ``n`` order statistics.

**The band.**  ``cost(k)`` is a convex function of ``x`` sampled at the sorted
points, so unimodal along the sorted index: once both ends of a window of
positions around ``k`` cost at least ``min + 40 tau``, every position outside
costs more still and carries weight below ``e^-40`` (all of them together
below ``n e^-40``, under 3e-13 relative at n = 65,536).  So each ``v_k`` is
evaluated exactly on the band of ``2h + 1`` sorted neighbours of position
``k``: the costs are cumulative sums of the increments running outwards from
``k`` inside the band (their rounding is that of the band, not of the whole
row's ``W x range``).  The half-width ``h`` is static: the smallest of
:data:`HALF_WIDTHS` whose band passes the edge test for every ``k`` of every
row is found first on values that carry no derivative (a ``lax.while_loop``
over the widths, costs only), then the values are computed, differentiably,
on that band (``lax.switch``).  If no width passes (large temperatures,
where each weight spreads over more than ~200 neighbours, ~800 on long
rows), the exact
fallback evaluates every ``k``'s full cost vector from the same increments
(O(n^2) time, O(n * chunk) memory).  The result is the dense function to
rounding at every temperature either way (tests/test_sort_scaling.py: equal
to the per-k path and to a long-double dense evaluation).

**Cost.**  One sort, one pass of the recurrences (two scans; four more for a
gradient), then O(n h) elementwise work in chunks of about
:data:`CHUNK_ELEMENTS` band entries (``lax.map`` of a ``jax.checkpoint``-ed
body: memory O(n + chunk) in the value and in both autodiff modes).  The
band's ``h`` grows with ``tau n``: at tau = 0.01 std on normal data,
neither 48 nor 192 passes at n = 4,096 or 65,536, and h = 768
(:data:`WIDE_HALF_WIDTH`, tried on rows of at least 6,144) passes at both.

The edge test decides a branch per call, for the whole batch: under a
caller's ``jax.vmap`` of ``softq.sort`` the ``lax.cond`` becomes a select
and every branch runs (pass a batch axis instead).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from softq._algorithms.deviation import sorted_costs
from softq._core import expsum
from softq._core import numerics

#: Band half-widths tried in turn (those below n/2).
HALF_WIDTHS = (48, 192)
#: A third, wider band, tried on rows at least 8 times its half-width
#: (n >= 6,144): at tau = 0.01 std on normal data the 192 band fails the edge
#: test at n = 65,536, where the O(n^2) fallback took 113 s per value+gradient
#: call and this band 4.7 s.  At n = 4,096 it was no faster than the fallback
#: (0.72-0.77 s either way at (64, 4096)) and added 4 s of compile time.
WIDE_HALF_WIDTH = 768
#: A band is exact when both its ends cost this many temperatures above its minimum.
EDGE = 40.0
#: Band entries (rows x order statistics x band) per chunk of the map.
CHUNK_ELEMENTS = 1 << 19


def _pad(v, h, extra, fill):
  return jnp.pad(v, ((0, 0), (h, h + extra)), constant_values=fill)


def _windows(v, start, length, h):
  """``(B, 2h + 1, length)`` band ``M[:, t, j] = v[:, start + j + t]`` (no gather)."""
  B = v.shape[0]
  T = 2 * h + 1
  S = length + 2 * h + 1
  w = lax.dynamic_slice_in_dim(v, start, S, axis=1)          # (B, S)
  if T <= 97:
    # One fused copy of static slices (measured 5x faster than the skew below).
    return jnp.stack([w[:, t:t + length] for t in range(T)], axis=1)
  # The skew trick: rows of stride S + 1 in T + 1 copies of the window.
  flat = jnp.broadcast_to(w[:, None, :], (B, T + 1, S)).reshape(B, (T + 1) * S)
  return flat[:, :T * (S + 1)].reshape(B, T, S + 1)[:, :, :length]


def _chunks(n, per_k, B):
  """(chunk length, number of chunks) for ``per_k`` entries per order statistic."""
  c = max(1, min(n, CHUNK_ELEMENTS // max(1, per_k * B)))
  return c, -(-n // c)


def _band_data(inc, xs, h, extra):
  """Padded rows for the bands: gaps, k-free increment parts, values, presence."""
  n = xs.shape[1]
  dt = xs.dtype
  finite = inc.finite
  pos = jnp.arange(n, dtype=dt)
  # g_l (hc0_l - 2k) = g_l (2 (l - k) - 1) + g_l (hc0_l - 2 l + 1): the second part
  # is k-free (0 where every term is plain: hc0 = 2 l - 1 exactly).
  sp = jnp.where(inc.ok, inc.g * (inc.hc0 - 2.0 * pos + 1.0) + inc.soft, jnp.zeros((), dt))
  pad = lambda v, fill: _pad(v, h, extra, fill)
  return (pad(inc.g, 0), pad(sp, 0), pad(jnp.where(finite, xs, jnp.zeros_like(xs)), 0),
          pad(finite, False))


def _band_costs(data, c0, C, h):
  """Band costs ``(B, 2h + 1, C)`` of order statistics ``c0..c0+C-1`` (0 at ``k``)."""
  G, SP, _, F = data
  B = G.shape[0]
  dt = G.dtype
  win = lambda v: _windows(v, c0, C, h)
  coef = (2.0 * jnp.arange(-h, h + 1, dtype=dt) - 1.0)[None, :, None]
  d = win(G) * coef + win(SP)
  # Associative scans: XLA's CPU cumsum is a reduce-window, O(h^2) per column.
  right = lax.associative_scan(jnp.add, d[:, h + 1:], axis=1)
  left = -lax.associative_scan(jnp.add, d[:, 1:h + 1], axis=1, reverse=True)
  cost = jnp.concatenate([left, jnp.zeros((B, 1, C), dt), right], axis=1)
  present = win(F)
  none = ~jnp.any(present, axis=1, keepdims=True)               # an infinite order statistic
  cost = jnp.where(present, cost, jnp.inf)
  return jnp.where(none, jnp.zeros_like(cost), cost), present, none


def _edges_ok(cost, present, none, tau3):
  """Both band ends ``>= min + EDGE tau`` (or no sample beyond them), every column."""
  high = jnp.min(cost, axis=1) + EDGE * tau3[:, 0]
  ok = ((cost[:, 0] >= high) | ~present[:, 0] | none[:, 0]) & (
      (cost[:, -1] >= high) | ~present[:, -1] | none[:, 0])
  return jnp.all(ok)


def _band_check(inc, xs, tau, h):
  """Whether bands of half-width ``h`` are exact for every order statistic (no values)."""
  B, n = xs.shape
  C, nc = _chunks(n, 2 * h + 1, B)
  data = _band_data(inc, xs, h, nc * C - n + 1)
  tau3 = tau[:, None, None]

  def chunk(ok, c0):
    cost, present, none = _band_costs(data, c0, C, h)
    return ok & _edges_ok(cost, present, none, tau3), None

  return lax.scan(chunk, jnp.asarray(True), jnp.arange(nc) * C)[0]


def _band(inc, xs, tau, h):
  """Values ``(B, n)`` from bands of half-width ``h``, and whether all are exact."""
  B, n = xs.shape
  C, nc = _chunks(n, 2 * h + 1, B)
  data = _band_data(inc, xs, h, nc * C - n + 1)
  tau3 = tau[:, None, None]

  @jax.checkpoint
  def chunk(c0):
    cost, present, none = _band_costs(data, c0, C, h)
    w = numerics.softmin_weights(cost, tau3, axis=1)
    v = jnp.sum(w * _windows(data[2], c0, C, h), axis=1)          # (B, C)
    return v, _edges_ok(cost, present, none, tau3)

  v, ok = lax.map(chunk, jnp.arange(nc) * C)
  v = jnp.moveaxis(v, 0, 1).reshape(B, nc * C)[:, :n]
  return v, jnp.all(ok)


def _full(inc, xs, tau):
  """Values ``(B, n)`` from every order statistic's full cost vector (exact, O(n^2))."""
  B, n = xs.shape
  dt = xs.dtype
  C, nc = _chunks(n, n, B)
  nneg = jnp.sum(jnp.isneginf(xs), axis=1)
  nfin = jnp.sum(inc.finite, axis=1)
  xf = jnp.where(inc.finite, xs, jnp.zeros_like(xs))

  def row(inc_row, xf_row, t, lo, cnt, ks):
    p = jnp.clip(ks, lo, jnp.maximum(lo + cnt - 1, lo))
    cost = jax.vmap(lambda k, pk: sorted_costs.costs_from_increments(inc_row, k, pk))(
        ks.astype(dt), p)
    cost = jnp.where(cnt > 0, cost, jnp.zeros_like(cost))
    w = numerics.softmin_weights(cost, t)
    return jnp.sum(w * xf_row[None], axis=1)

  @jax.checkpoint
  def chunk(c0):
    ks = jnp.minimum(c0 + jnp.arange(C), n - 1)
    return jax.vmap(row, in_axes=(0, 0, 0, 0, 0, None))(inc, xf, tau, nneg, nfin, ks)

  v = lax.map(chunk, jnp.arange(nc) * C)
  return jnp.moveaxis(v, 0, 1).reshape(B, nc * C)[:, :n]


def sort(x, tau):
  """Soft sorted rows ``(B, n)`` of unweighted rows ``x (B, n)`` (ascending).

  ``tau``: a scalar or one per row (floored, > 0).  Infinite values sort to
  the ends and keep their value (their order statistics are hard).
  """
  B, n = x.shape
  dt = x.dtype
  tau = jnp.broadcast_to(jnp.asarray(tau, dt), (B,))
  perm = numerics.argsort(x, axis=1)
  xs = jnp.take_along_axis(x, perm, axis=1)          # carries the gradient
  ws = jnp.ones_like(xs)
  r = lax.stop_gradient(xs[:, n // 2])
  terms = expsum.default_terms(dt)
  inc = jax.vmap(lambda a, w, t, rr: sorted_costs.soft_increments(a, w, t, rr, terms))(
      xs, ws, tau, r)

  widths = [h for h in HALF_WIDTHS if 2 * h + 1 < n]
  if n >= 8 * WIDE_HALF_WIDTH:
    widths.append(WIDE_HALF_WIDTH)
  # Which band: the narrowest that passes the edge test, found on values that
  # carry no derivative (a while loop; costs only, no exponentials) ...
  inc0 = jax.tree_util.tree_map(lax.stop_gradient, inc)
  xs0, tau0 = lax.stop_gradient(xs), lax.stop_gradient(tau)
  checks = [functools.partial(_band_check, inc0, xs0, tau0, h) for h in widths]

  def more(state):
    i, ok = state
    return (~ok) & (i < len(widths))

  def step(state):
    i, _ = state
    ok = lax.switch(jnp.minimum(i + 1, len(widths) - 1), checks) & (i + 1 < len(widths))
    return i + 1, ok

  if widths:
    tier, _ = lax.while_loop(more, step, (jnp.asarray(0), lax.switch(0, checks)))
  else:
    tier = jnp.asarray(0)
  # ... then the values, differentiably, on that band (or the exact fallback).
  branches = [functools.partial(_band, inc, xs, tau, h) for h in widths]
  branches.append(lambda: (_full(inc, xs, tau), jnp.asarray(True)))
  v, _ = lax.switch(tier, branches)    # the same edge test again: it passes
  v = jnp.where(jnp.isfinite(xs), v, xs)
  # The function is non-decreasing in k (each v_k is the mean of an exponential
  # family whose natural parameter is 2k / tau); a running maximum removes the
  # last-bit rounding that could reverse two (near-)tied neighbours.
  return lax.cummax(v, axis=1)


__all__ = ("sort",)
