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

from typing import Any, Callable, Literal, NamedTuple, Protocol, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from softq._core import numerics
from softq._core import plan as plans
from softq._core import select
# Re-exported for the kernels that read hard values off their own sort.
from softq._core.select import sorted_references  # noqa: F401
from softq._core.sizes import SHORT_ROWS_MAX_STATS
from softq._core.sizes import SORT_CHUNK


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


# --------------------------------------------------------------------------
# the kernel interfaces (static checkers verify the kernel modules against
# these when a Kernel / Batched record is built from their functions)
# --------------------------------------------------------------------------

class Prepare(Protocol):
  def __call__(self, sample: Sample, tau: jax.Array, /) -> Any:
    """Work shared by every order statistic of one sample (the kernel's state)."""


class Select(Protocol):
  def __call__(self, state: Any, sample: Sample, k: Any, r: jax.Array, tau: jax.Array,
               /) -> jax.Array:
    """Convex weights ``(n,)`` of the ``k``-th order statistic of ``sample``.

    ``k``: 0-based, a static int or a traced scalar (real for weighted
    samples: :func:`soft_orders`); ``r``: its hard value (finite, a
    reference point only).  The weights tend to the one-hot of that order
    statistic (shared over ties, by weight) as ``tau -> 0``.
    """


class SelectAdjacent(Protocol):
  def __call__(self, state: Any, sample: Sample, k: int, r: jax.Array, r_next: jax.Array,
               tau: jax.Array, /) -> tuple[jax.Array, jax.Array]:
    """Weights of the order statistics ``k`` and ``k + 1`` for the price of one
    (an even-``n`` median); ``r``, ``r_next`` their hard values."""


class References(Protocol):
  def __call__(self, state: Any, sample: Sample, ks: Any, /) -> jax.Array:
    """Hard values ``(U,)`` of the order statistics ``ks`` from the prepared
    state (a kernel that sorts anyway saves the engine its own sort:
    :func:`softq._core.select.sorted_references`)."""


class SelectMany(Protocol):
  def __call__(self, state: Any, sample: Sample, ks: jax.Array, rs: jax.Array, tau: jax.Array,
               /) -> jax.Array:
    """Weights ``(U, n)`` of the order statistics ``ks`` (an array; ``rs`` their
    hard values) sharing their work (several quantile levels for about the
    price of one)."""


class SortRows(Protocol):
  def __call__(self, x: jax.Array, tau: jax.Array, /) -> jax.Array | None:
    """Every order statistic ``(B, n)`` of unweighted rows ``x (B, n)`` (a soft
    sort) without O(n^2) work or memory; None to decline (the generic path
    then runs)."""


class BatchedValue(Protocol):
  def __call__(self, x: jax.Array, weight: Any, ks: Sequence[Any], tau: jax.Array,
               hoisted: tuple[jax.Array, jax.Array], /, *, g: Any = None,
               columns: bool = False, tiles: bool = True,
               value_ks: bool = False) -> jax.Array:
    """Soft values of the order statistics ``ks`` of every short row, with an
    analytic tangent: ``(len(ks), N)``, or ``(N,)`` mixed ``(1 - g) v_0 + g v_1``.

    ``x`` is ``(N, b)`` (``(b, N)`` with ``columns``); ``weight`` None, a
    scalar, ``("mask", m, u)`` or per-entry counts, not differentiated;
    ``ks`` static ints, traced scalars or ``(N,)`` arrays; ``tau`` a scalar
    or one per row, ``hoisted`` its
    :func:`softq._core.numerics.hoisted_temperature`.  ``tiles``: split many
    rows into cache-sized tiles; ``value_ks``: with a scalar weight ``u``,
    ``ks`` count values, not copies (the remedian's uniform levels).
    """


class BatchedWeights(Protocol):
  def __call__(self, x: jax.Array, weight: Any, total: Any, ks: Sequence[Any],
               refs: Sequence[jax.Array], hits: Sequence[jax.Array], tau: jax.Array,
               inv_tau: tuple[jax.Array, jax.Array] | None = None, /) -> list[jax.Array]:
    """One ``(N, b)`` weight array per order statistic ``ks`` of every short row,
    differentiable in the weights too (``total`` their sum per row;
    ``refs``/``hits`` the hard values and hit masks of
    :func:`softq._core.select.counted_select`)."""


class Batched(NamedTuple):
  """A kernel's batched form for many short rows ``(N, b)`` (the same function).

  The remedian reduces its blocks with ``weights``, pooling calls ``value``
  on its windows, and the engine takes ``value`` for unweighted rows of at
  most ``max_size`` values (:data:`softq._core.sizes.SHORT_ROWS_MAX`).
  """
  weights: BatchedWeights
  value: BatchedValue
  max_size: int


class Kernel(NamedTuple):
  """A 1-D soft order-statistic kernel: the record of its functions.

  ``prepare`` and ``select`` are required; ``batch_select``: False when
  ``select`` must see one ``k`` at a time (it branches on it); ``batched``:
  the declared fast path for many short rows, or None.  The rest are
  optional: ``select_adjacent`` (two neighbouring order statistics),
  ``references`` (hard values from the prepared state;
  :func:`hard_references` otherwise), ``select_many`` (several order
  statistics at once), ``sort`` (every order statistic of unweighted rows).
  The signatures are the protocols above.
  """
  prepare: Prepare
  select: Select
  batch_select: bool = True
  batched: Batched | None = None
  select_adjacent: SelectAdjacent | None = None
  references: References | None = None
  select_many: SelectMany | None = None
  sort: SortRows | None = None


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
  """Hard values ``r`` of the order statistics ``ks`` (``(U,)``): :func:`softq._core.select.references`."""
  return select.references(sample.x, sample.weight, ks)


def hard_weights(sample: Sample, r):
  """One-hot of the values equal to ``r`` (``(U,)``), shared over ties by weight."""
  return select.equal_weights(sample.x, sample.weight, r)


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
    r, anchors = select.inverted_cdf_references(sample.x, sample.weight, levels)
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


def _n_stats(query: Query) -> int:
  """How many order statistics the query needs (an upper bound, static)."""
  if query.kind == "median":
    return 2
  if query.kind == "sort":
    return 1 << 30
  if query.positions is not None:
    return 2 * len(query.positions[0])
  return 2 * int(np.prod(jnp.shape(query.q)))


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
        and jnp.ndim(tau) <= 1 and _n_stats(query) <= SHORT_ROWS_MAX_STATS):
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
