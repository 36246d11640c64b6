"""The algorithm record, the data the engine hands to it, and the exact-limit driver.

An algorithm is one :class:`Algorithm` record in :data:`softq._algorithms.REGISTRY`.
Its ``reduce`` turns a batch of rows (:class:`Rows`) and a request for order
statistics (:class:`Query`) into values ``(Q, B)`` or convex weights
``(Q, B, n)``.  Algorithms whose hard limit is ``jnp.quantile`` are written as
a 1-D :class:`Kernel` (``prepare``/``select`` over one :class:`Sample`);
:func:`exact_reduce` turns such a kernel into a ``reduce`` (plans, hard
references, infinite order statistics, the vmap over rows), so a new exact
algorithm is one kernel module and one registry line.
"""

from __future__ import annotations

from typing import Any, Callable, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from softq._core import numerics
from softq._core import plan as plans


class Rows(NamedTuple):
  """A batch of 1-D samples: the reduced axes flattened last."""
  x: jax.Array                 # (B, n), compute dtype; NaN replaced by 0
  weight: jax.Array | None     # (B, n) >= 0, 0 = takes no part; None = all 1
  mask_only: bool = False      # ``weight`` is a 0/1 presence mask (``where=``, NaNs
                               # omitted), never differentiated


class Sample(NamedTuple):
  """One 1-D sample as a :class:`Kernel` sees it."""
  x: jax.Array                 # (n,), NaN-free
  weight: jax.Array | None     # (n,) >= 0 (0: not part of the sample) or None (all 1)
  total: Any                   # the sum of the weights: the static n when weight is None

  @property
  def valid(self):
    return None if self.weight is None else self.weight > 0


class Query(NamedTuple):
  """Which order statistics are asked for.

  ``kind`` is ``"median"`` (the ``jnp.median`` convention), ``"sort"`` (every
  order statistic) or ``"quantile"`` (levels ``q`` of ``method``).  ``q`` is
  ``(Q,)`` and traced; ``positions`` optionally holds ``(lo, hi, g)`` computed
  on the host (``averaged_inverted_cdf``, which NumPy does in float64).
  """
  kind: Literal["median", "quantile", "sort"]
  method: str = "linear"
  q: Any = None
  positions: Any = None


class Batched(NamedTuple):
  """A kernel's batched form for many short rows ``(N, b)`` (the same function).

  ``value(x, weight, ks, tau, hoisted, *, g=None, columns=False, tiles=True)``: the soft
  values of the order statistics ``ks`` of every row, ``(len(ks), N)`` (or
  ``(N,)`` mixed by ``g``), with an analytic tangent.  ``x`` is ``(N, b)``
  (``(b, N)`` with ``columns``); ``weight`` None, a scalar, ``("mask", m, u)``
  or per-entry counts, not differentiated; ``ks`` static ints, traced
  scalars or ``(N,)`` arrays; ``tau`` a scalar or one per row, ``hoisted``
  its :func:`softq._core.numerics.hoisted_temperature`.
  ``weights(x, weight, total, ks, refs, hits, tau, inv_tau)``: one ``(N, b)``
  weight array per order statistic, differentiable in the weights too
  (``refs``/``hits`` from :func:`softq._algorithms.blocks.hard_select`).
  The remedian reduces its blocks with these, pooling calls ``value`` on
  its windows, and the engine takes ``value`` for unweighted rows of at most
  ``max_size`` values.
  """
  weights: Callable
  value: Callable
  max_size: int


class Kernel(NamedTuple):
  """A 1-D soft order-statistic kernel.

  ``prepare(sample, tau) -> state``: work shared by every order statistic of
  one sample.  ``select(state, sample, k, r, tau) -> (n,)``: convex weights of
  the ``k``-th order statistic (0-based; a static int or a traced scalar),
  given ``r``, its hard value (finite, a reference point only); they tend to
  the one-hot of that order statistic (shared over ties, by weight) as
  ``tau -> 0``.  ``batch_select``: False when ``select`` must see one ``k`` at
  a time (it branches on it).  ``batched``: the declared fast path for many
  short rows, or None.  ``select_adjacent(state, sample, k, r, r_next, tau)
  -> (w_k, w_k+1)``: optional, two neighbouring order statistics for the
  price of one (an even-``n`` median).  ``references(state, sample, ks) ->
  (U,)``: optional, the hard values of ``ks`` from the prepared state (a
  kernel that sorts anyway saves the engine its own sort;
  :func:`sorted_references`); :func:`hard_references` otherwise.
  ``select_many(state, sample, ks, rs, tau) -> (U, n)``: optional, the
  weights of several order statistics (``ks`` an array, ``rs`` their hard
  values) sharing their work (several quantile levels for about the price
  of one).  ``sort(x, tau) -> (B, n)``: optional, every order statistic of
  unweighted rows ``x (B, n)`` (a soft sort) without O(n^2) work or memory.
  """
  prepare: Callable
  select: Callable
  batch_select: bool = True
  batched: Batched | None = None
  select_adjacent: Callable | None = None
  references: Callable | None = None
  select_many: Callable | None = None
  sort: Callable | None = None


class Algorithm(NamedTuple):
  """One registry entry (see :data:`softq._algorithms.REGISTRY`)."""
  name: str
  summary: str                   # one line, for docs and errors
  cost: str                      # time complexity, for docs
  hard_limit: Literal["jnp", "remedian"]
  reduce: Callable               # (rows, query, tau, *, hard, output, options) -> array
  kernel: Kernel | None = None   # the 1-D kernel of an exact algorithm
  max_size: int | None = None    # refuse longer rows (a ValueError naming `faster`)
  faster: str = ""               # what to use instead past max_size
  supports_weights: bool = True
  options: tuple[tuple[str, Any], ...] = ()   # extra keyword options and defaults
  parse_options: Callable | None = None  # (name, values, get) -> validated values
  ranks: Callable | None = None  # (sample, tau) -> soft ranks 1..n of one row (softq.rank)


# --------------------------------------------------------------------------
# hard references: which value is the k-th order statistic
# --------------------------------------------------------------------------

def hard_references(sample: Sample, ks):
  """Hard values ``r`` of the order statistics ``ks`` (``(U,)``)."""
  x, weight, _ = sample
  valid = sample.valid
  key = jax.lax.stop_gradient(x if valid is None else jnp.where(valid, x, jnp.inf))
  if weight is None:
    return sorted_references(numerics.sort(key), None, ks)
  order = numerics.argsort(key)
  return sorted_references(key[order], jnp.where(valid, weight, 0)[order], ks)


def sorted_references(srt, ws, ks):
  """Hard values of the order statistics ``ks`` from a sample sorted in advance.

  ``srt``: the values in ascending order, absent entries ``+inf`` at the end;
  ``ws``: their weights in that order (0 for absent entries), or None (every
  entry counts once).  The weighted ``k``-th value is the first whose
  cumulative weight reaches ``k + 1/2`` (the repeated sample's with integer
  weights; ``jnp``'s ``"inverted_cdf"`` rule with real ones, ``k`` real).
  """
  srt = jax.lax.stop_gradient(srt)
  n = srt.shape[0]
  if ws is None:
    idx = ks if isinstance(ks, np.ndarray) else jnp.clip(ks, 0, n - 1).astype(jnp.int32)
    return srt[idx]
  ws = jax.lax.stop_gradient(ws)
  cum = jnp.cumsum(ws)
  pos = jnp.asarray(ks).astype(cum.dtype) + 0.5
  idx = jnp.searchsorted(cum, pos, side="left")
  last = jnp.maximum(jnp.sum((ws > 0).astype(jnp.int32)) - 1, 0)
  return srt[jnp.clip(idx, 0, last)]


def hard_weights(sample: Sample, r):
  """One-hot of the values equal to ``r`` (``(U,)``), shared over ties by weight."""
  x = sample.x
  eq = x[None, :] == r[:, None]
  share = eq.astype(x.dtype)
  if sample.weight is not None:
    share = jnp.where(eq & sample.valid[None, :], sample.weight[None, :], 0)
    share = share.astype(x.dtype)
  total = jnp.sum(share, axis=1, keepdims=True)
  return share / jnp.where(total > 0, total, jnp.ones_like(total))


def inverted_cdf_references(sample: Sample, levels):
  """Hard values ``(U,)`` and anchors ``q W`` of weighted ``"inverted_cdf"`` levels.

  ``jnp.quantile(..., weights=w, method="inverted_cdf")`` step by step (its
  sort, its cumulative sum, ``q`` times its last entry, the first
  ``C_i >= q W``), so a ``q W`` that lands on a cumulative weight is decided
  as ``jnp`` decides it.  One exception: at ``q W = 0`` ``jnp`` returns the
  smallest value even if its weight is 0; here the smallest of positive weight.
  """
  x = jax.lax.stop_gradient(sample.x)
  w = jax.lax.stop_gradient(jnp.where(sample.valid, sample.weight, 0)).astype(x.dtype)
  xs, ws = jax.lax.sort_key_val(x, w)
  cum = jnp.cumsum(ws)
  target = jnp.asarray(levels).astype(x.dtype) * cum[-1]
  idx = jnp.clip(jnp.searchsorted(cum, target, side="left"), 0, x.shape[0] - 1)
  # Only a target of 0 lands on a zero weight: take the first positive one.
  first = jnp.clip(jnp.searchsorted(cum, jnp.zeros_like(cum[-1]), side="right"),
                   0, x.shape[0] - 1)
  idx = jnp.where(ws[idx] > 0, idx, first)
  return xs[idx], target


def soft_orders(sample: Sample, centres, r):
  """The positions the soft kernels aim at for weighted order statistics.

  ``centres``: where the repeated sample aims (``k + 1/2``), ``r`` the hard
  values; see :func:`softq._core.plan.soft_position` (for integer weights: the
  order statistics themselves).  O(U n) comparisons, no sort.
  """
  x = jax.lax.stop_gradient(sample.x)
  w = jnp.where(sample.valid, sample.weight, 0).astype(x.dtype)
  r = jax.lax.stop_gradient(r)[:, None]
  below = jnp.sum(jnp.where(x[None, :] < r, w[None, :], 0), axis=1)
  upto = jnp.sum(jnp.where(x[None, :] <= r, w[None, :], 0), axis=1)
  return plans.soft_position(centres, below, upto)


def order_stat_weights(kernel: Kernel, sample: Sample, ks, tau, hard: bool, levels=None):
  """Weights ``(U, n)`` and hard values ``(U,)`` of the order statistics ``ks``.

  Order statistics whose hard value is infinite take the hard weights (the
  soft kernels are written for finite reference values).  Weighted samples:
  the hard value is the first whose cumulative weight reaches the anchor
  (``q W`` for ``levels``, from :attr:`softq._core.plan.Plan.levels`, else
  ``ks + 1/2``) and the kernels aim at :func:`soft_orders`, so the soft value
  tends to it for real weights too.
  """
  weighted = sample.weight is not None
  by_level = weighted and levels is not None
  if by_level:
    r, anchors = inverted_cdf_references(sample, levels)
    centres = plans.cell_centre(anchors)
  elif weighted:
    centres = jnp.asarray(ks, sample.x.dtype) + 0.5
  if hard:
    r = r if by_level else hard_references(sample, ks)
    return hard_weights(sample, r), r
  state = kernel.prepare(sample, tau)
  if not by_level:
    r = (hard_references(sample, ks) if kernel.references is None
         else kernel.references(state, sample, ks))
  if weighted:
    ks = soft_orders(sample, centres, r)
  w_hard = hard_weights(sample, r)
  bad = ~jnp.isfinite(r)
  r_safe = jnp.where(bad, jnp.zeros_like(r), r)
  static = isinstance(ks, np.ndarray)
  n_ks = len(ks) if static else ks.shape[0]
  pair = static and n_ks == 2 and int(ks[1]) == int(ks[0]) + 1
  if kernel.select_many is not None and n_ks > 1 and not pair:
    w_soft = kernel.select_many(state, sample, jnp.asarray(ks), r_safe, tau)
  elif (static and len(ks) <= 4) or not kernel.batch_select:
    # A few static order statistics: static indices (cheaper than a vmap).
    n_ks = len(ks) if static else ks.shape[0]
    k_at = (lambda u: int(ks[u])) if static else (lambda u: ks[u])
    rows, u = [], 0
    while u < n_ks:
      if (static and kernel.select_adjacent is not None and u + 1 < n_ks
          and k_at(u + 1) == k_at(u) + 1):
        rows += kernel.select_adjacent(state, sample, k_at(u), r_safe[u], r_safe[u + 1], tau)
        u += 2
      else:
        rows.append(kernel.select(state, sample, k_at(u), r_safe[u], tau))
        u += 1
    w_soft = jnp.stack(rows)
  else:
    w_soft = jax.vmap(lambda k, rr: kernel.select(state, sample, k, rr, tau))(
        jnp.asarray(ks), r_safe)
  return jnp.where(bad[:, None], w_hard, w_soft), r


# --------------------------------------------------------------------------
# the exact-limit reducer built from a kernel
# --------------------------------------------------------------------------

def _plan(query: Query, total):
  """The order statistics of ``query`` for a sample of ``total`` values/weight."""
  static = isinstance(total, (int, np.integer))
  if query.kind == "median":
    if static:
      return plans.median_plan(int(total))
    return plans.traced_plan(jnp.asarray([0.5], jnp.result_type(float)), total, "linear")
  if query.kind == "sort":
    return plans.all_plan(int(total))
  if query.positions is not None:
    return plans.from_positions(*query.positions)
  plan = plans.traced_plan(query.q, total, query.method)
  if query.method in _ONE_STAT_METHODS:
    # One order statistic per level (lo == hi): half the order statistics.
    nq = plan.coef.shape[0]
    levels = None if plan.levels is None else plan.levels[:nq]
    return plan._replace(ks=plan.ks[:nq], coef=plan.coef[:, :nq] + plan.coef[:, nq:],
                         levels=levels)
  return plan


#: Methods whose every level is a single order statistic.
_ONE_STAT_METHODS = ("lower", "higher", "nearest", "inverted_cdf")


def combine(coef, values):
  """``coef @ values`` where a zero coefficient on an infinite value counts 0."""
  return numerics.weighted_sum(coef, values[None, :])


def batched_values(batched: Batched, rows: Rows, query: Query, tau):
  """Values ``(Q, B)`` of the query's order statistics for short rows ``(B, n)``.

  Every order statistic of every row in one call of :attr:`Batched.value`
  (the pairs of a row are shared by its order statistics); ``tau`` is a
  scalar or one per row.  Masked rows (``rows.mask_only``) have a plan per
  row (their sizes differ) and reach the kernel as a 0/1 mask.
  """
  x = rows.x
  hoisted = numerics.hoisted_temperature(tau)
  if rows.weight is None:
    plan = _plan(query, x.shape[1])
    if isinstance(plan.ks, np.ndarray):
      ks = [int(k) for k in plan.ks]
    else:
      ks = [plan.ks[u] for u in range(plan.ks.shape[0])]
    v = batched.value(x, None, ks, tau, hoisted)                    # (U, B)
    coef = jnp.asarray(plan.coef, x.dtype)
    return numerics.weighted_sum(coef[None, :, :], v.T[:, None, :]).T
  present = rows.weight > 0
  total = jnp.sum(present, axis=1).astype(x.dtype)                   # (B,)
  plan = jax.vmap(lambda t: _plan(query, t))(total)                 # ks (B, U), coef (B, Q, U)
  ks = [plan.ks[:, u] for u in range(plan.ks.shape[1])]
  v = batched.value(x, ("mask", present.astype(x.dtype), 1), ks, tau, hoisted)   # (U, B)
  coef = plan.coef.astype(x.dtype)
  return numerics.weighted_sum(coef, v.T[:, None, :]).T


#: The batched short-row path unrolls one soft-min per order statistic: more
#: levels than this (e.g. 41 quantiles) take the generic path, which maps
#: over them (compile time stays flat).
BATCHED_MAX_STATS = 4


def _n_stats(query: Query) -> int:
  """How many order statistics the query needs (an upper bound, static)."""
  if query.kind == "median":
    return 2
  if query.kind == "sort":
    return 1 << 30
  if query.positions is not None:
    return 2 * len(query.positions[0])
  return 2 * int(np.prod(jnp.shape(query.q)))


#: Order statistics per chunk of the generic soft sort (its memory is O(n * chunk)).
SORT_CHUNK = 64


def sort_values(kernel: Kernel, rows: Rows, tau, hard: bool):
  """Every order statistic of unweighted rows ``(B, n)``: the soft sort, ``(B, n)``.

  The kernel's own :attr:`Kernel.sort` when it has one (``"sorted"``: O(n log n
  + n band)); otherwise every order statistic from :func:`order_stat_weights`,
  :data:`SORT_CHUNK` at a time (``lax.map`` over ``jax.checkpoint``-ed chunks:
  O(n^2) time for the O(n) kernels, but O(n * chunk) memory, value and
  gradient).
  """
  x = rows.x
  B, n = x.shape
  if hard:
    return jnp.sort(x, axis=1)
  if kernel.sort is not None:
    out = kernel.sort(x, tau)
    if out is not None:
      return out

  def one(row, t):
    sample = Sample(row, None, n)
    if n <= 2 * SORT_CHUNK or not kernel.batch_select:
      w, _ = order_stat_weights(kernel, sample, np.arange(n, dtype=np.int32), t, False)
      return numerics.weighted_sum(w, row[None])
    state = kernel.prepare(sample, t)
    ks = jnp.arange(n, dtype=jnp.int32)
    r = (hard_references(sample, ks) if kernel.references is None
         else kernel.references(state, sample, ks))
    nc = -(-n // SORT_CHUNK)

    @jax.checkpoint
    def chunk(c0):
      kc = jnp.minimum(c0 + jnp.arange(SORT_CHUNK), n - 1)
      rc = r[kc]
      bad = ~jnp.isfinite(rc)
      w = jax.vmap(lambda k, rr: kernel.select(state, sample, k, rr, t))(
          kc, jnp.where(bad, jnp.zeros_like(rc), rc))
      w = jnp.where(bad[:, None], hard_weights(sample, rc), w)
      return numerics.weighted_sum(w, row[None])

    v = jax.lax.map(chunk, jnp.arange(nc) * SORT_CHUNK)
    return v.reshape(-1)[:n]

  return jax.vmap(one, in_axes=(0, 0 if jnp.ndim(tau) == 1 else None))(x, tau)


def exact_reduce(kernel: Kernel) -> Callable:
  """A registry ``reduce`` for an exact-limit :class:`Kernel`."""

  def reduce(rows: Rows, query: Query, tau, *, hard: bool, output: str, options):
    del options
    n = rows.x.shape[1]
    if query.kind == "sort":
      return sort_values(kernel, rows, tau, hard).T
    shared = rows.weight is None
    plan_shared = _plan(query, n) if shared else None

    if (output == "values" and not hard and kernel.batched is not None
        and n <= kernel.batched.max_size and (shared or rows.mask_only)
        and jnp.ndim(tau) <= 1 and _n_stats(query) <= BATCHED_MAX_STATS):
      return batched_values(kernel.batched, rows, query, tau)

    def one(x, weight, tau_row):
      total = n if weight is None else jnp.sum(jnp.where(weight > 0, weight, 0))
      sample = Sample(x, weight, total)
      plan = plan_shared if shared else _plan(query, total)
      coef = plan.coef
      w, r = order_stat_weights(kernel, sample, plan.ks, tau_row, hard, plan.levels)
      coef = jnp.asarray(coef, w.dtype)
      if output == "weights":
        return jnp.einsum("qu,un->qn", coef, w)
      v = combine(coef, numerics.weighted_sum(w, x[None]))
      if hard:  # the selected values exactly, with the hard weights' gradient
        exact = combine(coef, r)
        v = jnp.where(jnp.isfinite(exact), v + jax.lax.stop_gradient(exact - v), v)
      return v

    w_axis = None if shared else 0

    def run(tau_rows):
      t_axis = 0 if jnp.ndim(tau_rows) == 1 else None
      if rows.x.shape[0] == 1:
        # One row (a full reduction): call the kernel directly.  The same
        # program, without the batching interpreter's tracing cost.
        out = one(rows.x[0], None if w_axis is None else rows.weight[0],
                  tau_rows if t_axis is None else tau_rows[0])[None]
      else:
        out = jax.vmap(one, in_axes=(0, w_axis, t_axis))(rows.x, rows.weight, tau_rows)
      return jnp.swapaxes(out, 0, 1)   # (Q, B[, n])

    if jnp.ndim(tau) == 2:
      # One temperature per (level, row): every level runs with its own.
      return jnp.stack([run(tau[i])[i] for i in range(tau.shape[0])])
    return run(tau)

  return reduce
