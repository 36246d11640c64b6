"""Soft ranks and soft sorts."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from softq import _algorithms
from softq import _engine
from softq._algorithms import DEFAULT_ALGORITHM
from softq._algorithms import AlgorithmName
from softq._algorithms import Sample
from softq._core import select
from softq._core import validation


def _single_axis(a, axis, name: str):
  """``(a, axis)`` with ``axis=None`` meaning the flattened array, as in ``jnp.sort``."""
  if axis is None:
    return jnp.ravel(validation.check_array(a, name)), 0
  if isinstance(axis, (tuple, list)):
    raise TypeError(f"{name}: axis must be an int or None (flatten), got {axis!r}.")
  return a, axis


def _rank_rows(x, valid, tau, hard):
  """Ranks ``1..n`` of every row of ``x (B, n)`` (average ranks over ties)."""
  del valid
  n = x.shape[1]
  if hard:
    lo, hi = select.tie_ranges(jnp.sort(x, axis=1), x)
    return (lo + hi + 1).astype(x.dtype) / 2

  ranks = _algorithms.REGISTRY["rank"].ranks

  def soft(row, t):
    return ranks(Sample(row, None, n), t)
  return jax.vmap(soft, in_axes=(0, 0 if jnp.ndim(tau) else None))(x, tau)


def _descending_rank_rows(x, valid, tau, hard):
  return _rank_rows(-x, valid, tau, hard)


def rank(a: ArrayLike, axis: int | None = -1, *, descending: bool = False,
         temperature: ArrayLike = 1.0, temperature_scale: str | None = None) -> jax.Array:
  r"""Soft ranks ``1..n``: ``R_i = (n + 1)/2 + 1/2 sum_j tanh((x_i - x_j)/tau)``.

  Hard limit: ``scipy.stats.rankdata(a, method="average", axis=axis)`` (ties
  share their average rank; ``tanh`` is the soft sign, ``sign(0) = 0``);
  ``descending=True`` ranks the largest value 1.  ``axis=None`` ranks the
  flattened array (the result is 1-D, as ``jnp.sort(axis=None)``).  As
  ``tau -> inf`` every rank tends to ``(n + 1)/2``.  A NaN in a slice makes
  that slice's ranks NaN (as ``rankdata``'s default).  O(n log n) time (all pairs
  summed through fitted exponential sums and recurrences; pairwise up to 128
  values, the same function to rounding), O(n) memory.
  ``temperature`` is in data units, or a fraction of each slice's spread
  with ``temperature_scale="std"`` or ``"mad"`` (see :func:`softq.median`).

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> print(jnp.round(softq.rank(jnp.array([3.0, 1.0, 10.0, 1.0]), temperature=0.01), 3))
    [3.  1.5 4.  1.5]
  """
  a, axis = _single_axis(a, axis, "rank")
  request, args = _engine.prepare_map("rank", a, axis, temperature,
                                      temperature_scale=temperature_scale)
  fn = _descending_rank_rows if descending else _rank_rows
  return _engine.run_map(request, fn, *args)


def sort(a: ArrayLike, axis: int | None = -1, *, kind: None = None, order: None = None,
         stable: bool = True, descending: bool = False, temperature: ArrayLike = 1.0,
         algorithm: AlgorithmName = DEFAULT_ALGORITHM,
         temperature_scale: str | None = None) -> jax.Array:
  r"""Soft sort: the ``k``-th output is the soft ``k``-th order statistic.

  A drop-in for :func:`jax.numpy.sort` (``axis=None`` sorts the flattened
  array; ``descending=True`` reverses the order).  Each output is a convex
  combination of the inputs (so the soft sort lies in ``[min, max]``).  With
  the default ``"sorted"`` algorithm output ``k`` is
  :math:`\sum_i \omega_{ki} x_i` with :math:`\omega_k =
  \operatorname{softmin}_i\big(-(2k + 1 - n) x_i + \sum_j
  \mathrm{softabs}_\tau(x_i - x_j)\big)/\tau`, the ``"deviation"`` function:
  outputs are non-decreasing at every temperature.  Hard limit: ``jnp.sort``;
  as ``tau -> inf`` every output tends to the mean.

  Cost (``"sorted"``): one sort and one pass of exponential-sum recurrences
  shared by all outputs, then each output is evaluated exactly on a band of
  sorted neighbours (O(n h), h = 48 or 192, checked: both band ends cost
  ``>= 40 tau`` above the minimum), O(n) memory in value and gradient; where
  the temperature needs wider bands, an exact O(n^2)-time, O(n)-memory
  fallback.  The other algorithms compute n order statistics, 64 at a time:
  O(n^2) time or more, O(n * 64) memory.  Under ``jax.vmap`` of ``sort`` the
  band choice becomes a select and every branch runs: give ``sort`` the
  batch axis instead.  ``kind`` and ``order`` are not supported (as in
  ``jnp.sort``, which refuses ``order``); ``stable`` is accepted and has no
  effect (the soft sort does not depend on the order of tied values).  ``temperature_scale``:
  see :func:`softq.median`.

  Examples:
    >>> import jax.numpy as jnp, numpy as np, softq
    >>> print(np.round(np.asarray(softq.sort(jnp.array([3.0, 1.0, 10.0]), temperature=0.01)), 3))
    [ 1.  3. 10.]
  """
  del stable
  if kind is not None or order is not None:
    raise ValueError("sort: kind= and order= are not supported (a soft sort has no "
                     "sort kind, and the input has no record fields); drop them.")
  a, axis = _single_axis(a, axis, "sort")
  request, args = _engine.prepare("sort", a, None, axis, kind="sort",
                                  temperature=temperature, algorithm=algorithm,
                                  descending=descending, exact_only=True,
                                  temperature_scale=temperature_scale)
  return _engine.run(request, *args)
