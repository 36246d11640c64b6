"""Hard (weighted) order statistics: which value is the ``k``-th, and its weights.

One home for the hard selection every kernel, the engine and the public
functions need (their hard references, their ``temperature=0`` paths, the
robust spread).  Nothing here is soft, and nothing is differentiated through
a selection: a selected value carries its own gradient, the choice none.

**The rule.**  For a sample with non-negative weights ``w`` (``W = sum w``;
absent entries have weight 0) sorted ascending, the value at *position*
``t`` is the first whose cumulative weight reaches ``t``
(:func:`at_position`).  Order statistic ``k`` (0-based, counted in copies)
sits at ``t = k + 1/2``: with integer weights, the ``k``-th value of the
sample with every ``x_i`` repeated ``w_i`` times; with real weights and
``t = q W``, ``jnp.quantile``'s ``"inverted_cdf"`` rule.  A position past
the total weight selects the largest value.  Tied values are one value: the
hard weights of a selected value are shared over its copies, by weight
(:func:`tie_weights`).

**Two evaluations of the rule.**  By sorting (:func:`references`,
:func:`sorted_references`, :func:`weighted_median`; O(n log n), for one long
sample or rows of any length) and by counting (:func:`counted_select`:
``O(b^2)`` comparisons and no sort, for many short rows at once: the
remedian's blocks).  :func:`tie_ranges` gives the ranks a sorted row assigns
to each value and its ties (hard ranks, the hard top-k mask).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from softq._core import numerics


# --------------------------------------------------------------------------
# by sorting
# --------------------------------------------------------------------------

def at_position(srt, ws, position):
  """The entry of ``srt`` at the weighted ``position`` (the rule above).

  ``srt``: ``(n,)`` values in ascending order, absent entries at the end;
  ``ws``: their weights in that order (0 for absent entries), never
  differentiated; ``position``: scalar or ``(U,)``, or a function of the
  total weight ``W`` giving it.  The first entry whose cumulative weight
  reaches the position (``searchsorted(..., side="left")``, the comparison
  ``jnp`` makes), at most the last entry of positive weight.  A gradient of
  ``srt`` reaches the selected entry.
  """
  ws = jax.lax.stop_gradient(ws)
  cum = jnp.cumsum(ws)
  if callable(position):
    position = position(cum[-1])
  idx = jnp.searchsorted(cum, position, side="left")
  last = jnp.maximum(jnp.sum((ws > 0).astype(jnp.int32)) - 1, 0)
  return srt[jnp.clip(idx, 0, last)]


def sorted_references(srt, ws, ks):
  """Hard values of the order statistics ``ks`` from a sample sorted in advance.

  ``srt``: the values in ascending order, absent entries ``+inf`` at the end;
  ``ws``: their weights in that order (0 for absent entries), or None (every
  entry counts once).  The weighted ``k``-th value is the first whose
  cumulative weight reaches ``k + 1/2`` (:func:`at_position`; ``k`` may be
  real).  Not differentiated.
  """
  srt = jax.lax.stop_gradient(srt)
  n = srt.shape[0]
  if ws is None:
    idx = ks if isinstance(ks, np.ndarray) else jnp.clip(ks, 0, n - 1).astype(jnp.int32)
    return srt[idx]
  return at_position(srt, ws, lambda total: jnp.asarray(ks).astype(total.dtype) + 0.5)


def references(x, weight, ks):
  """Hard values ``(U,)`` of the order statistics ``ks`` of one sample.

  ``x``: ``(n,)``, NaN-free; ``weight``: None (every entry counts once) or
  ``(n,)`` (entries of weight ``<= 0`` take no part).  One sort (integer
  keys, :func:`softq._core.numerics.sort`), then :func:`sorted_references`.
  """
  valid = None if weight is None else weight > 0
  key = jax.lax.stop_gradient(x if valid is None else jnp.where(valid, x, jnp.inf))
  if weight is None:
    return sorted_references(numerics.sort(key), None, ks)
  order = numerics.argsort(key)
  return sorted_references(key[order], jnp.where(valid, weight, 0)[order], ks)


def inverted_cdf_references(x, weight, levels):
  """Hard values ``(U,)`` and anchors ``q W`` of weighted ``"inverted_cdf"`` levels.

  ``jnp.quantile(..., weights=w, method="inverted_cdf")`` step by step (its
  sort, its cumulative sum, ``q`` times its last entry, the first
  ``C_i >= q W``), so a ``q W`` that lands on a cumulative weight is decided
  as ``jnp`` decides it.  One exception: at ``q W = 0`` ``jnp`` returns the
  smallest value even if its weight is 0; here the smallest of positive
  weight.  ``jnp``'s own sort (not :func:`softq._core.numerics.sort`): its
  order of signed zeros is kept.
  """
  x = jax.lax.stop_gradient(x)
  w = jax.lax.stop_gradient(jnp.where(weight > 0, weight, 0)).astype(x.dtype)
  xs, ws = jax.lax.sort_key_val(x, w)
  cum = jnp.cumsum(ws)
  target = jnp.asarray(levels).astype(x.dtype) * cum[-1]
  idx = jnp.clip(jnp.searchsorted(cum, target, side="left"), 0, x.shape[0] - 1)
  # Only a target of 0 lands on a zero weight: take the first positive one.
  first = jnp.clip(jnp.searchsorted(cum, jnp.zeros_like(cum[-1]), side="right"),
                   0, x.shape[0] - 1)
  idx = jnp.where(ws[idx] > 0, idx, first)
  return xs[idx], target


def weighted_median(x, w):
  """The lower weighted median of every row of ``x (B, n)``: ``(B,)``.

  The value at position ``W / 2`` (:func:`at_position`), ``w (B, n) >= 0``
  its weights (0: absent).  Differentiable in ``x`` (the selected entry).
  """
  order = numerics.argsort(jnp.where(w > 0, x, jnp.inf), axis=-1)
  xs = jnp.take_along_axis(x, order, axis=-1)
  ws = jnp.take_along_axis(w, order, axis=-1)
  return jax.vmap(lambda s, c: at_position(s, c, lambda total: 0.5 * total))(xs, ws)


def tie_ranges(srt, x):
  """``(lo, hi)``: the sorted positions ``lo .. hi - 1`` of the copies of every ``x``.

  ``srt (B, n)`` the rows sorted ascending, ``x (B, n)`` the rows: ``lo`` is
  the number of entries below ``x_i``, ``hi`` at or below it (so the average
  rank of ``x_i`` and its ties is ``(lo + hi + 1) / 2`` and ``n - hi`` entries
  lie above it).
  """
  def one(row_sorted, row):
    return (jnp.searchsorted(row_sorted, row, side="left"),
            jnp.searchsorted(row_sorted, row, side="right"))
  return jax.vmap(one)(srt, x)


def equal_weights(x, weight, r):
  """Hard weights ``(U, n)`` of the values ``r (U,)``: the entries equal to
  ``r``, shared by weight (:func:`tie_weights`)."""
  eq = x[None, :] == r[:, None]
  if weight is not None:
    eq = eq & (weight > 0)[None, :]
  return tie_weights(eq, weight, x.dtype)


# --------------------------------------------------------------------------
# the spread of a row: its standard deviation or its median absolute deviation
# --------------------------------------------------------------------------

#: Gaussian consistency factor of the median absolute deviation (1 / Phi^-1(3/4)).
MAD_TO_STD = 1.4826022185056018


def spread(x: jax.Array, weight, kind: str) -> jax.Array:
  """Per-row spread of ``x (B, n)`` (finite entries of positive weight): ``(B,)``.

  ``"std"``: the (weighted) standard deviation, smooth in ``x``;
  ``"mad"``: ``1.4826`` times the (weighted) median absolute deviation from
  the (weighted) median, robust to outliers, piecewise smooth.  Both equal
  the standard deviation on normal data, scale with ``|c|`` under ``x -> c x``
  and ignore translations.  A floor (the dtype's ``tiny`` times 256) keeps the
  spread of a constant sample positive, and the gradient finite.
  """
  w = jnp.isfinite(x).astype(x.dtype)
  if weight is not None:
    w = w * jnp.where(weight > 0, weight, 0).astype(x.dtype)
  x0 = jnp.where(w > 0, x, jnp.zeros_like(x))
  total = jnp.maximum(jnp.sum(w, axis=-1), jnp.asarray(numerics.tau_floor(x.dtype), x.dtype))
  floor = jnp.asarray(numerics.tau_floor(x.dtype), x.dtype)
  if kind == "std":
    mean = jnp.sum(w * x0, axis=-1) / total
    var = jnp.sum(w * (x0 - mean[:, None]) ** 2, axis=-1) / total
    return jnp.sqrt(var + floor)   # floor: a variance floor (its square underflows)
  med = weighted_median(x0, w)
  dev = jnp.abs(x0 - med[:, None])
  return jnp.maximum(MAD_TO_STD * weighted_median(dev, w), floor)


# --------------------------------------------------------------------------
# by counting: many short rows, no sort
# --------------------------------------------------------------------------

def per_entry(weight) -> bool:
  """Per-entry weights (an array of rank >= 1), rather than None or one number."""
  return weight is not None and jnp.ndim(weight) >= 1


def holds(below, upto, position, total=None):
  """The entries whose weight interval ``[below, upto)`` holds ``position``.

  ``below``/``upto``: the weight strictly below each entry and at or below it
  (itself included).  With ``total``, a position at or past it (real weights
  summing to less than ``k + 1``) selects the maximum: the entries with
  ``upto >= total``.
  """
  hit = (below <= position) & (position < upto)
  if total is None:
    return hit
  return jnp.where(position >= total, upto >= total, hit)


def counted_select(x, weight, k):
  """Hit mask ``(N, b)`` and value ``(N,)`` of the ``k``-th smallest entry of every row.

  ``x (N, b)`` NaN-free; ``weight``: None (every entry counts once), a
  number ``u`` (every entry ``u`` copies) or ``(N, b)`` (0 = absent); ``k``
  a static int, a traced scalar or ``(N,)``.  Every copy of a tied value
  whose weight interval holds ``k + 1/2`` is hit (:func:`holds`; hard
  weights are shared over ties: :func:`tie_weights`); the value is the
  selected entry itself (``max`` over the hits, which are all equal), hence
  exact.  A row with no (positive-weight) entry has no hit and value 0.
  ``O(b^2)`` comparisons per row, no sort.
  """
  xi = x[..., :, None]
  xj = x[..., None, :]
  lt = xj < xi
  le = xj <= xi
  valid = weight > 0 if per_entry(weight) else None
  if valid is None:
    scale = 1 if weight is None else weight
    n_lt = jnp.sum(lt, axis=-1, dtype=jnp.int32) * scale
    n_le = jnp.sum(le, axis=-1, dtype=jnp.int32) * scale
  else:
    wj = jnp.where(valid, weight, 0)[..., None, :]
    n_lt = jnp.sum(jnp.where(lt, wj, 0), axis=-1)
    n_le = jnp.sum(jnp.where(le, wj, 0), axis=-1)
  if weight is None and isinstance(k, (int, np.integer)):
    hit = holds(n_lt, n_le, k)   # integer counts: the same hits as k + 1/2
  else:
    point = jnp.asarray(k, x.dtype) + 0.5
    point = point[..., None] if point.ndim >= 1 else point
    hit = holds(n_lt, n_le, point, jnp.max(n_le, axis=-1, keepdims=True))
  if valid is not None:
    hit = hit & valid
  neg = jnp.asarray(-jnp.inf, x.dtype)
  value = jnp.max(jnp.where(hit, x, neg), axis=-1)
  value = jnp.where(jnp.any(hit, axis=-1), value, jnp.zeros_like(value))
  return hit, value


def tie_weights(hit, weight, dtype):
  """The hard weights over the entries ``hit`` (last axis), shared by weight.

  ``weight``: None or a number (equal shares) or per-entry weights; a row
  with no hit gets zeros.
  """
  h = hit.astype(dtype)
  if per_entry(weight):
    h = jnp.where(hit, weight, 0).astype(dtype)
  count = jnp.sum(h, axis=-1, keepdims=True)
  return h / jnp.where(count > 0, count, jnp.ones_like(count))
