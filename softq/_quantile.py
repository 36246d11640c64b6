"""Soft median, quantiles, order statistics, ranks and sorts (public layer).

Each function validates its arguments (``_checks``), builds ``(batch, n)`` rows
(``_axes``), runs the engine (``_engine``) and restores ``jax.numpy``'s output
shape.  ``temperature=0`` (concrete) calls the ``jax.numpy`` function itself.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from softq import _axes
from softq import _checks
from softq import _engine
from softq import _numerics

#: The default soft order-statistic algorithm (see docs/choosing.md).
DEFAULT_ALGORITHM = "rank"

_JNP_METHODS = ("linear", "lower", "higher", "nearest", "midpoint", "inverted_cdf")


# --------------------------------------------------------------------------
# shared implementation
# --------------------------------------------------------------------------

def _prepare(name, a, axis, temperature, algorithm, method="linear",
             allow_remedian=True):
  a = _checks.check_array(a, name)
  allowed = _checks.ALGORITHMS if allow_remedian else _checks.EXACT_ALGORITHMS
  _checks.check_algorithm(algorithm, name, allowed)
  _checks.check_method(method, name)
  lay = _axes.layout(a.shape, axis, name)
  cdtype = _checks.compute_dtype(a.dtype)
  tau, mode = _checks.check_temperature(temperature, name, cdtype)
  if algorithm == "subsets":
    _checks.check_subsets_size(lay.n, name)
  return a, lay, cdtype, tau, mode


def _hard_values(name, a, q, lay, method, keepdims, where, nan_ignore, is_median,
                 percent_q=None):
  """The ``jax.numpy`` result itself (bit for bit, with its gradient)."""
  del name
  axis = lay.axes if len(lay.axes) != a.ndim else None
  if where is None and method in _JNP_METHODS:
    if is_median:
      fn = jnp.nanmedian if nan_ignore else jnp.median
      return fn(a, axis=axis, keepdims=keepdims)
    if percent_q is not None:
      fn = jnp.nanpercentile if nan_ignore else jnp.percentile
      return fn(a, percent_q, axis=axis, method=method, keepdims=keepdims)
    fn = jnp.nanquantile if nan_ignore else jnp.quantile
    return fn(a, q, axis=axis, method=method, keepdims=keepdims)
  if method in _JNP_METHODS:
    mask = jnp.broadcast_to(jnp.asarray(where, bool), a.shape)
    masked = jnp.where(mask, a, jnp.nan)
    if is_median:
      out = jnp.nanmedian(masked, axis=axis, keepdims=keepdims)
    else:
      out = jnp.nanquantile(masked, q, axis=axis, method=method, keepdims=keepdims)
    if not nan_ignore:
      bad = jnp.any(jnp.isnan(a) & mask, axis=axis, keepdims=keepdims)
      out = jnp.where(bad, jnp.nan, out)
    return out
  return None  # averaged_inverted_cdf: the engine's hard weights


def _soft_quantile(name: str, a, q, axis, *, method: str, keepdims: bool,
                   temperature, algorithm: str, where, nan_ignore: bool,
                   weights_out: bool, is_median: bool = False, percent_q=None):
  """Values (``q.shape + out_shape``) or weights (``q.shape + a.shape``)."""
  a, lay, cdtype, tau, mode = _prepare(name, a, axis, temperature, algorithm, method)
  q_arr = jnp.asarray(q)
  if algorithm == "remedian":
    from softq import _remedian  # pylint: disable=import-outside-toplevel
    return _remedian.quantile_from_public(
        name, a, q, lay, method=method, keepdims=keepdims, tau=tau, mode=mode,
        where=where, nan_ignore=nan_ignore, weights_out=weights_out, cdtype=cdtype)

  if mode == "zero" and not weights_out:
    out = _hard_values(name, a, q, lay, method, keepdims, where, nan_ignore, is_median,
                       percent_q)
    if out is not None:
      return out

  q_static = None
  if _checks.is_concrete(q):
    q_np = np.asarray(q)
    q_static = (tuple(float(v) for v in q_np.reshape(-1)), str(_engine._q_dtype(q_np)),
                q_np.shape)
    q_dyn = None
  else:
    q_dyn = q_arr
  return _soft_core(a, tau, where, q_dyn, name=name, lay=lay, q_static=q_static,
                    method=method, keepdims=keepdims, algorithm=algorithm,
                    nan_ignore=nan_ignore, weights_out=weights_out, mode=mode,
                    cdtype=str(cdtype))


# jax.numpy's own reductions are jitted the same way: eager calls then compile
# one program instead of dispatching hundreds of small ones; under a caller's
# jit this is inlined.  Only hashable options are static.
@functools.partial(jax.jit, static_argnames=(
    "name", "lay", "q_static", "method", "keepdims", "algorithm", "nan_ignore",
    "weights_out", "mode", "cdtype"))
def _soft_core(a, tau, where, q_dyn, *, name, lay, q_static, method, keepdims, algorithm,
               nan_ignore, weights_out, mode, cdtype):
  if q_static is not None:
    values, q_dtype, q_shape = q_static
    # averaged_inverted_cdf follows NumPy, which works in float64: rounding q to
    # float32 first moved q * n off an integer (0.1 -> 0.10000000149).
    q_in = np.asarray(values, dtype=np.float64 if method == "averaged_inverted_cdf" else q_dtype)
    lead = q_shape
  else:
    q_in = q_dyn.reshape(-1)
    lead = q_dyn.shape
  rows = _engine.make_rows(a, lay, where, nan_ignore, name, jnp.dtype(cdtype))
  tau_rows = _axes.per_row(tau, lay, lead, name)
  algo = None if mode == "zero" else algorithm
  soft_tau = _numerics.floor_tau(tau_rows)
  if (not weights_out and mode == "soft" and algorithm == "deviation"
      and rows.valid is None and rows.x.shape[1] <= SMALL_ROWS
      and q_static is not None and jnp.ndim(soft_tau) == 0):
    vals = _small_rows_deviation_values(rows, q_in, method, soft_tau)
    if rows.nan_rows is not None:
      vals = jnp.where(rows.nan_rows[None], jnp.nan, vals)
    out = _axes.from_rows_reduced(vals, lay, keepdims).astype(a.dtype)
    return out.reshape(lead + lay.out_shape(keepdims))
  w = _engine.run_rows(rows, q_in, method, algo, soft_tau)          # (Q, B, n)
  if mode == "mixed":
    w_hard = _engine.run_rows(rows, q_in, method, None, soft_tau)
    zero = _broadcast_rows(tau_rows == 0, w.shape[:2])
    w = jnp.where(zero[..., None], w_hard, w)
  w = _nan_fill(w, rows, weights_out)
  if weights_out:
    full = _axes.from_rows_full(w, lay).astype(a.dtype)
    return full.reshape(lead + lay.shape)
  vals = _engine.values_from_weights(w, rows.x)                    # (Q, B)
  if rows.nan_rows is not None:
    vals = jnp.where(rows.nan_rows[None], jnp.nan, vals)
  vals = _empty_fill(vals, rows)
  out = _axes.from_rows_reduced(vals, lay, keepdims).astype(a.dtype)
  return out.reshape(lead + lay.out_shape(keepdims))


#: Rows of at most this many values (e.g. sliding windows) take the batched
#: block kernel of the remedian for ``algorithm="deviation"`` values: the same
#: costs and weights, all rows in one ``(B, n, n)`` pass, and an analytic
#: tangent (:func:`softq._kernels.blocks.deviation_value`).
SMALL_ROWS = 32


def _small_rows_deviation_values(rows, q_in, method, tau):
  from softq._kernels import blocks  # pylint: disable=import-outside-toplevel
  n = rows.x.shape[1]
  plan = _engine.quantile_plan(q_in, n, method)
  hoisted = _numerics.hoisted_temperature(tau)
  vs = []
  for k in np.asarray(plan.ks).tolist():
    hit, r = blocks.hard_select(rows.x, None, int(k))
    vs.append(blocks.soft_value(rows.x, None, n, [int(k)], [r], [hit], None, tau, hoisted))
  v = jnp.stack(vs)                                                  # (U, B)
  return jnp.einsum("qu,ub->qb", jnp.asarray(plan.coef, v.dtype), v)


def _broadcast_rows(t, shape):
  t = jnp.asarray(t)
  if t.ndim == 0:
    return jnp.broadcast_to(t, shape)
  if t.ndim == 1:
    return jnp.broadcast_to(t[None, :], shape)
  return t


def _nan_fill(w, rows, weights_out):
  if rows.nan_rows is not None and weights_out:
    w = jnp.where(rows.nan_rows[None, :, None], jnp.nan, w)
  if rows.valid is not None:
    empty = ~jnp.any(rows.valid, axis=1)
    w = jnp.where(empty[None, :, None], jnp.nan, w)
  return w


def _empty_fill(vals, rows):
  if rows.valid is None:
    return vals
  empty = ~jnp.any(rows.valid, axis=1)
  return jnp.where(empty[None], jnp.nan, vals)


# --------------------------------------------------------------------------
# public functions
# --------------------------------------------------------------------------

_TEMPERATURE_DOC = """temperature: ``tau >= 0`` in the units of ``a``; a scalar or an array that
      broadcasts against the output (one temperature per row).  Traced
      temperatures are differentiable and never cause a retrace; their value
      is checked by a ``chex`` assertion that fires under ``chex.chexify``
      (a concrete negative, NaN or infinite value raises ``ValueError`` at
      once).  ``0`` gives the ``jax.numpy`` result exactly."""


def quantile(a: ArrayLike, q: ArrayLike, axis: int | tuple[int, ...] | None = None, *,
             method: str = "linear", keepdims: bool = False,
             temperature: ArrayLike = 1.0, algorithm: str = DEFAULT_ALGORITHM,
             where: ArrayLike | None = None) -> jax.Array:
  r"""Soft quantile: a drop-in for :func:`jax.numpy.quantile`.

  Every ``method`` of ``jnp.quantile`` is a fixed combination of one or two
  order statistics ``x_(lo), x_(hi)`` (for ``"linear"``, ``h = q (n - 1)``,
  ``lo = floor(h)``, ``hi = ceil(h)``, value ``x_(lo) + (h - lo)(x_(hi) - x_(lo))``).
  softq replaces each order statistic by a soft one, a convex combination
  ``sum_i w_i x_i`` whose weights come from ``algorithm``:

  * ``"rank"`` (default): soft ranks ``R_i = (n+1)/2 + 1/2 sum_j tanh((x_i - x_j)/tau)``,
    weights by closeness of ``R`` to ``k + 1`` (ties cover a range of ranks);
    O(n^2) time, O(n) memory, the fastest smooth exact-limit algorithm;
  * ``"deviation"``: ``w = softmin_tau(D)`` with
    ``D_i = sum_j (2p-1)(x_j - x_i) + soft_abs_tau(x_j - x_i)``,
    ``p = (k + 1/2)/n``; O(n^2) time, O(n) memory;
  * ``"sorted"``: the deviation costs in O(n log n) (prefix sums plus a soft
    correction over 16 sorted neighbours): the fast choice for large ``n`` at
    small ``tau``; smooth only up to a stated bound (see ``docs/choosing.md``);
  * ``"subsets"``: soft min over subsets of the soft max; n <= 20;
  * ``"remedian"``: the soft remedian with padding (O(n); its limit is the
    hard remedian, not ``jnp.quantile``; see :func:`softq.remedian`).

  Hard limit: ``jnp.quantile(a, q, axis, method=method, keepdims=keepdims)``
  (``"averaged_inverted_cdf"``, absent from ``jnp``, follows ``numpy``).
  As ``tau -> inf`` the soft order statistics tend to the mean.

  Args:
    a: array of real numbers (integers are promoted to float).
    q: level(s) in ``[0, 1]``: a scalar or a 1-D array (its axis is prepended
      to the output).  May be traced.
    axis: int, tuple of ints or None (all axes).
    method: which ``jnp.quantile`` method is the hard limit.
    keepdims: keep reduced axes with size 1.
    temperature: {temperature}
    algorithm: the soft construction (see above).
    where: boolean mask broadcastable to ``a``: only ``True`` entries count.

  Returns:
    An array of shape ``q.shape + reduced shape`` and ``a``'s (float) dtype.

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> x = jnp.array([1.0, 2.0, 4.0, 7.0, 50.0])
    >>> print(jnp.round(softq.quantile(x, 0.25, temperature=0.01), 3))
    2.0
    >>> print(softq.quantile(x, jnp.array([0.5, 0.75]), temperature=0))
    [4. 7.]
  """
  _checks.check_q(q, "quantile")
  return _soft_quantile("quantile", a, q, axis, method=method, keepdims=keepdims,
                        temperature=temperature, algorithm=algorithm, where=where,
                        nan_ignore=False, weights_out=False)


def percentile(a: ArrayLike, q: ArrayLike, axis: int | tuple[int, ...] | None = None, *,
               method: str = "linear", keepdims: bool = False,
               temperature: ArrayLike = 1.0, algorithm: str = DEFAULT_ALGORITHM,
               where: ArrayLike | None = None) -> jax.Array:
  """Soft percentile: :func:`quantile` with ``q`` in ``[0, 100]``.

  Hard limit: ``jnp.percentile``.

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> print(softq.percentile(jnp.arange(11.0), 30, temperature=0))
    3.0
  """
  _checks.check_q(q, "percentile", scale=100.0)
  return _soft_quantile("percentile", a, _percent_to_fraction(q), axis, method=method,
                        keepdims=keepdims, temperature=temperature, algorithm=algorithm,
                        where=where, nan_ignore=False, weights_out=False, percent_q=q)


def _percent_to_fraction(q):
  if _checks.is_concrete(q):
    qa = np.asarray(q)
    dt = qa.dtype if qa.dtype.kind == "f" else np.dtype(jnp.result_type(float))
    return (qa.astype(dt) / dt.type(100)).astype(dt)
  qa = jnp.asarray(q)
  if not jnp.issubdtype(qa.dtype, jnp.floating):
    qa = qa.astype(jnp.result_type(float))
  return qa / 100


def median(a: ArrayLike, axis: int | tuple[int, ...] | None = None, *,
           keepdims: bool = False, temperature: ArrayLike = 1.0,
           algorithm: str = DEFAULT_ALGORITHM, where: ArrayLike | None = None) -> jax.Array:
  r"""Soft median: a drop-in for :func:`jax.numpy.median`.

  The value is ``sum_i w_i x_i`` with ``w = argmedian(a)``; for an even
  sample the mean of the two soft middle order statistics.  With the default
  ``"deviation"`` algorithm ``w`` is the soft-min of the soft total absolute
  deviation ``D_i = sum_j tau log(2 cosh((x_i - x_j)/tau))`` (``"deviation"``);
  the default ``"rank"`` picks it by soft ranks instead.

  Hard limit (``temperature -> 0``): ``jnp.median`` (ties and even ``n``
  included).  Large temperature: the mean.  Smooth for every ``tau > 0``.

  Args:
    a: array of real numbers.
    axis: int, tuple of ints or None (all axes).
    keepdims: keep reduced axes with size 1.
    temperature: {temperature}
    algorithm: ``"deviation"``, ``"rank"``, ``"subsets"`` or ``"remedian"``.
    where: boolean mask broadcastable to ``a``.

  Returns:
    The soft median, shaped like ``jnp.median(a, axis, keepdims=keepdims)``.

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> x = jnp.array([3.0, 1.0, 10.0, 2.0, 4.0])
    >>> print(jnp.round(softq.median(x, temperature=0.01), 4))
    3.0
    >>> print(softq.median(x, temperature=0))
    3.0
  """
  return _soft_quantile("median", a, 0.5, axis, method="linear", keepdims=keepdims,
                        temperature=temperature, algorithm=algorithm, where=where,
                        nan_ignore=False, weights_out=False, is_median=True)


def nanmedian(a: ArrayLike, axis: int | tuple[int, ...] | None = None, *,
              keepdims: bool = False, temperature: ArrayLike = 1.0,
              algorithm: str = DEFAULT_ALGORITHM, where: ArrayLike | None = None) -> jax.Array:
  """Soft median ignoring NaNs; hard limit ``jnp.nanmedian``.

  NaN entries take no part (weight 0, gradient 0); an all-NaN slice gives NaN.

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> print(softq.nanmedian(jnp.array([1.0, jnp.nan, 3.0, 2.0]), temperature=0))
    2.0
  """
  return _soft_quantile("nanmedian", a, 0.5, axis, method="linear", keepdims=keepdims,
                        temperature=temperature, algorithm=algorithm, where=where,
                        nan_ignore=True, weights_out=False, is_median=True)


def nanquantile(a: ArrayLike, q: ArrayLike, axis: int | tuple[int, ...] | None = None, *,
                method: str = "linear", keepdims: bool = False,
                temperature: ArrayLike = 1.0, algorithm: str = DEFAULT_ALGORITHM,
                where: ArrayLike | None = None) -> jax.Array:
  """Soft quantile ignoring NaNs; hard limit ``jnp.nanquantile``.

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> print(softq.nanquantile(jnp.array([1.0, jnp.nan, 3.0, 2.0]), 1.0, temperature=0))
    3.0
  """
  _checks.check_q(q, "nanquantile")
  return _soft_quantile("nanquantile", a, q, axis, method=method, keepdims=keepdims,
                        temperature=temperature, algorithm=algorithm, where=where,
                        nan_ignore=True, weights_out=False)


def nanpercentile(a: ArrayLike, q: ArrayLike, axis: int | tuple[int, ...] | None = None, *,
                  method: str = "linear", keepdims: bool = False,
                  temperature: ArrayLike = 1.0, algorithm: str = DEFAULT_ALGORITHM,
                  where: ArrayLike | None = None) -> jax.Array:
  """Soft percentile ignoring NaNs; hard limit ``jnp.nanpercentile``.

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> print(softq.nanpercentile(jnp.array([1.0, jnp.nan, 3.0]), 50, temperature=0))
    2.0
  """
  _checks.check_q(q, "nanpercentile", scale=100.0)
  return _soft_quantile("nanpercentile", a, _percent_to_fraction(q), axis, method=method,
                        keepdims=keepdims, temperature=temperature, algorithm=algorithm,
                        where=where, nan_ignore=True, weights_out=False, percent_q=q)


def argmedian(a: ArrayLike, axis: int | tuple[int, ...] | None = -1, *,
              temperature: ArrayLike = 1.0, algorithm: str = DEFAULT_ALGORITHM,
              where: ArrayLike | None = None) -> jax.Array:
  """Soft argmedian: convex weights over ``a`` whose weighted sum is the median.

  ``(argmedian(a) * a).sum(axis) == median(a, axis)`` up to rounding.  The
  weights are non-negative, sum to 1 along ``axis`` and have ``a``'s shape.
  Hard limit: the one-hot of the median element (uniform over ties; 1/2 on
  each middle element of an even sample).

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> w = softq.argmedian(jnp.array([3.0, 1.0, 10.0]), temperature=0.01)
    >>> print(jnp.round(w, 3))
    [1. 0. 0.]
  """
  return _soft_quantile("argmedian", a, 0.5, axis, method="linear", keepdims=False,
                        temperature=temperature, algorithm=algorithm, where=where,
                        nan_ignore=False, weights_out=True, is_median=True)


def argquantile(a: ArrayLike, q: ArrayLike, axis: int | tuple[int, ...] | None = -1, *,
                method: str = "linear", temperature: ArrayLike = 1.0,
                algorithm: str = DEFAULT_ALGORITHM,
                where: ArrayLike | None = None) -> jax.Array:
  """Soft argquantile: weights of shape ``q.shape + a.shape``.

  ``(argquantile(a, q) * a).sum(axis) == quantile(a, q, axis)`` up to rounding
  (for a vector ``q``, sum over ``axis + 1``).

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> w = softq.argquantile(jnp.array([3.0, 1.0, 10.0]), 1.0, temperature=0)
    >>> print(w)
    [0. 0. 1.]
  """
  _checks.check_q(q, "argquantile")
  return _soft_quantile("argquantile", a, q, axis, method=method, keepdims=False,
                        temperature=temperature, algorithm=algorithm, where=where,
                        nan_ignore=False, weights_out=True)


def rank(a: ArrayLike, axis: int = -1, *, temperature: ArrayLike = 1.0) -> jax.Array:
  r"""Soft ranks ``1..n``: ``R_i = (n + 1)/2 + 1/2 sum_j tanh((x_i - x_j)/tau)``.

  Hard limit: ``scipy.stats.rankdata(a, method="average", axis=axis)`` (ties
  share their average rank; ``tanh`` is the soft sign, ``sign(0) = 0``).  As
  ``tau -> inf`` every rank tends to ``(n + 1)/2``.  A NaN in a slice makes
  that slice's ranks NaN (as ``rankdata``'s default).  O(n^2) time, O(n) memory.

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> print(jnp.round(softq.rank(jnp.array([3.0, 1.0, 10.0, 1.0]), temperature=0.01), 3))
    [3.  1.5 4.  1.5]
  """
  from softq._kernels import rank as rank_kernel  # pylint: disable=import-outside-toplevel
  name = "rank"
  a = _checks.check_array(a, name)
  _checks.canonicalize_axes(axis, a.ndim)
  if not isinstance(axis, (int, np.integer)):
    raise TypeError(f"{name}: axis must be an int, got {axis!r}.")
  lay = _axes.layout(a.shape, axis, name)
  cdtype = _checks.compute_dtype(a.dtype)
  tau, mode = _checks.check_temperature(temperature, name, cdtype)
  rows = _engine.make_rows(a, lay, None, False, name, cdtype)
  n = lay.n

  def hard(x):
    srt = jnp.sort(x)
    lo = jnp.searchsorted(srt, x, side="left")
    hi = jnp.searchsorted(srt, x, side="right")
    return (lo + hi + 1).astype(x.dtype) / 2

  def soft(x, t):
    r, _, _ = rank_kernel.soft_ranks(x, None, n, _numerics.floor_tau(t))
    return r

  tau_rows = _axes.per_row(tau, lay, (), name)
  if mode == "zero":
    out = jax.vmap(hard)(rows.x)
  else:
    out = jax.vmap(soft, in_axes=(0, 0 if jnp.ndim(tau_rows) else None))(rows.x, tau_rows)
    if mode == "mixed":
      out = jnp.where(_broadcast_rows(tau_rows == 0, (lay.batch,))[:, None],
                      jax.vmap(hard)(rows.x), out)
  out = jnp.where(rows.nan_rows[:, None], jnp.nan, out)
  return _axes.from_rows_full(out, lay).astype(a.dtype)


def sort(a: ArrayLike, axis: int = -1, *, temperature: ArrayLike = 1.0,
         algorithm: str = "rank") -> jax.Array:
  """Soft sort: the ``k``-th output is the soft ``k``-th order statistic.

  Each output is a convex combination of the inputs (so the soft sort lies in
  ``[min, max]``); with ``algorithm="rank"`` (default) the soft ranks are
  computed once (O(n^2) for the whole sort).  Hard limit: ``jnp.sort``.  As
  ``tau -> inf`` every output tends to the mean.

  Examples:
    >>> import jax.numpy as jnp, numpy as np, softq
    >>> print(np.round(np.asarray(softq.sort(jnp.array([3.0, 1.0, 10.0]), temperature=0.01)), 3))
    [ 1.  3. 10.]
  """
  name = "sort"
  a_arr = _checks.check_array(a, name)
  if not isinstance(axis, (int, np.integer)):
    _checks.canonicalize_axes(axis, a_arr.ndim)
    raise TypeError(f"{name}: axis must be an int, got {axis!r}.")
  a_arr, lay, cdtype, tau, mode = _prepare(name, a_arr, axis, temperature, algorithm,
                                           allow_remedian=False)
  if mode == "zero":
    return jnp.sort(a_arr, axis=axis)
  n = lay.n
  rows = _engine.make_rows(a_arr, lay, None, False, name, cdtype)
  plan = _engine.Plan(np.arange(n), np.eye(n))
  tau_rows = _axes.per_row(tau, lay, (), name)
  soft_tau = _numerics.floor_tau(tau_rows)
  w = _engine.run_rows(rows, None, "linear", algorithm, soft_tau, ks_override=plan)
  if mode == "mixed":
    w_hard = _engine.run_rows(rows, None, "linear", None, soft_tau, ks_override=plan)
    w = jnp.where(_broadcast_rows(tau_rows == 0, (lay.batch,))[None, :, None], w_hard, w)
  vals = _engine.values_from_weights(w, rows.x)          # (n, B)
  vals = jnp.where(rows.nan_rows[None], jnp.nan, vals)
  out = jnp.moveaxis(vals, 0, -1)                         # (B, n)
  return _axes.from_rows_full(out, lay).astype(a_arr.dtype)


for _f in (quantile, median):
  _f.__doc__ = _f.__doc__.replace("{temperature}", _TEMPERATURE_DOC)
