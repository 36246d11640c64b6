"""Soft top-k: the k largest soft order statistics and their weights (``jax.lax.top_k``)."""

from __future__ import annotations

import operator

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from softq import _engine
from softq._algorithms import DEFAULT_ALGORITHM
from softq._algorithms import AlgorithmName
from softq._core import numerics
from softq._core import validation


def _check_k(k, n: int) -> int:
  try:
    k = operator.index(k)
  except TypeError:
    raise TypeError(f"top_k: k must be a static Python int (as in jax.lax.top_k), got "
                    f"{type(k).__name__}; for a traced or real k use softq.top_k_mask.") from None
  if not 0 <= k <= n:
    raise ValueError(f"top_k: k={k} is outside [0, n] for a last axis of length n={n}; "
                     "pass 0 <= k <= a.shape[-1].")
  return k


def top_k(a: ArrayLike, k: int, *, temperature: ArrayLike = 1.0,
          temperature_scale: str | None = None,
          algorithm: AlgorithmName = DEFAULT_ALGORITHM) -> tuple[jax.Array, jax.Array]:
  r"""Soft top-k along the last axis: the ``k`` largest soft order statistics.

  Mirrors :func:`jax.lax.top_k`: ``values[..., j]`` is the soft ``(n-1-j)``-th
  order statistic (descending, ``j = 0`` the soft maximum) of the last axis,
  the same function as :func:`softq.quantile`'s order statistics for
  ``algorithm``; ``weights[..., j, :]`` are its convex weights over the inputs
  (non-negative, summing to 1), so ``values == (weights * a[..., None, :]).sum(-1)``.
  For the default ``"sorted"`` algorithm the weights of order statistic ``m``
  are :math:`\operatorname{softmin}_i\big(-(2m + 1 - n) x_i + \sum_j
  \mathrm{softabs}_\tau(x_i - x_j)\big)/\tau`.

  Hard limit (``temperature=0``, bit for bit): ``jax.lax.top_k(a, k)[0]`` and
  the one-hot of its indices, tied values sharing the weight equally.
  ``temperature`` is in data units (or a fraction of each row's spread with
  ``temperature_scale="std"`` or ``"mad"``, see :func:`softq.median`).

  Cost: one shared pass over the sorted row plus O(n) per output (``"sorted"``:
  O(n log n + n k) time, O(n k) memory, the size of ``weights``).

  Args:
    a: array of shape ``(..., n)``.
    k: static int in ``[0, n]``.
    temperature: ``>= 0``, a scalar or broadcastable to the leading axes.
    temperature_scale: None (data units), ``"std"`` or ``"mad"``.
    algorithm: one of :data:`softq.EXACT_ALGORITHMS`.

  Returns:
    ``(values, weights)`` of shapes ``(..., k)`` and ``(..., k, n)``.

  Examples:
    >>> import jax.numpy as jnp, numpy as np, softq
    >>> v, w = softq.top_k(jnp.array([3.0, 1.0, 10.0, 7.0]), 2, temperature=0.01)
    >>> print(np.round(np.asarray(v), 3))
    [10.  7.]
    >>> print(np.round(np.asarray(w), 3))
    [[0. 0. 1. 0.]
     [0. 0. 0. 1.]]
  """
  a = validation.check_array(a, "top_k")
  if a.ndim == 0:
    raise ValueError("top_k: a must have at least one axis (top_k reduces the last "
                     "axis, as jax.lax.top_k); pass a 1-D or larger array.")
  n = a.shape[-1]
  k = _check_k(k, n)
  if k == 0:
    return (jnp.zeros(a.shape[:-1] + (0,), a.dtype), jnp.zeros(a.shape[:-1] + (0, n), a.dtype))
  # The (n-1-j)-th order statistic is the inverted_cdf quantile at (n - j - 1/2) / n
  # (half a value from either rounding edge, whatever q's precision).
  q = (n - np.arange(k, dtype=np.float64) - 0.5) / n
  request, args = _engine.prepare("top_k", a, q, -1, kind="quantile", method="inverted_cdf",
                                  temperature=temperature, algorithm=algorithm,
                                  output="weights", exact_only=True,
                                  temperature_scale=temperature_scale)
  weights = jnp.moveaxis(_engine.run(request, *args), 0, -2)          # (..., k, n)
  if request.mode == "zero":
    return jax.lax.top_k(a, k)[0], weights
  return numerics.weighted_sum(weights, a[..., None, :]), weights


__all__ = ("top_k",)
