"""Soft median and soft quantile pooling over sliding windows (channels-last).

The windows are gathered with precomputed (static, NumPy) indices, so one
gather builds every window at once and its transpose, a scatter-add, is the
gradient; the reduction is the public :func:`softq.quantile` over the window
axis (no kernel is duplicated here).  Padding entries are masked out with
``quantile``'s ``where=``: they never count, whatever the padding.
"""

from __future__ import annotations

import functools
import math
import operator
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from softq import _quantiles
from softq._algorithms import DEFAULT_ALGORITHM
from softq._core import validation

Padding = str | Sequence[tuple[int, int]]


def _check_tuple(value, name: str, what: str, ndim: int | None) -> tuple[int, ...]:
  if isinstance(value, (int, np.integer)):
    raise TypeError(f"{name}: {what} must be a tuple of ints (one per spatial "
                    f"dimension), got {value!r}.")
  try:
    out = tuple(operator.index(v) for v in value)
  except TypeError:
    raise TypeError(f"{name}: {what} must be a tuple of ints, got {value!r}.") from None
  if ndim is not None and len(out) != ndim:
    raise ValueError(f"{name}: {what} has {len(out)} entries but window_shape "
                     f"has {ndim}.")
  if any(v < 1 for v in out):
    raise ValueError(f"{name}: {what} entries must be >= 1, got {out}.")
  return out


def _pads(name, spatial, window, strides, padding) -> tuple[tuple[int, int], ...]:
  if isinstance(padding, str):
    if padding.upper() not in ("SAME", "VALID"):
      raise ValueError(f"{name}: padding must be 'SAME', 'VALID' or a sequence of "
                       f"(low, high) pairs, got {padding!r}.")
    return tuple(jax.lax.padtype_to_pads(spatial, window, strides, padding.upper()))
  try:
    pads = tuple((operator.index(lo), operator.index(hi)) for lo, hi in padding)
  except (TypeError, ValueError):
    raise ValueError(f"{name}: padding must be 'SAME', 'VALID' or a sequence of "
                     f"(low, high) int pairs, got {padding!r}.") from None
  if len(pads) != len(window):
    raise ValueError(f"{name}: padding has {len(pads)} pairs but window_shape has "
                     f"{len(window)} entries.")
  if any(lo < 0 or hi < 0 for lo, hi in pads):
    raise ValueError(f"{name}: padding entries must be >= 0, got {pads}.")
  return pads


@functools.lru_cache(maxsize=64)
def _window_indices(spatial, window, strides, pads):
  """Static gather plan: ``(P, K)`` flat input indices and validity mask.

  ``P`` output positions (row-major over the output grid), ``K`` window
  entries (row-major over the window).  Entries that fall in the padding get
  index 0 and ``valid = False``.  Also returns the output spatial shape.
  """
  out_shape = tuple(
      (size + lo + hi - w) // s + 1 if size + lo + hi >= w else 0
      for size, w, s, (lo, hi) in zip(spatial, window, strides, pads))
  # Per dimension: coordinate (out_d, win_d) of each window entry in the input.
  coords = []
  for size, w, s, (lo, _), o in zip(spatial, window, strides, pads, out_shape):
    c = np.arange(o)[:, None] * s + np.arange(w)[None, :] - lo
    coords.append(c)
  nd = len(spatial)
  flat = np.zeros(out_shape + window, np.int64)
  valid = np.ones(out_shape + window, bool)
  stride = 1
  for d in range(nd - 1, -1, -1):
    shape = [1] * (2 * nd)
    shape[d] = out_shape[d]
    shape[nd + d] = window[d]
    c = coords[d].reshape(shape)
    ok = (c >= 0) & (c < spatial[d])
    valid = valid & ok
    flat = flat + np.where(ok, c, 0) * stride
    stride *= spatial[d]
  p, k = math.prod(out_shape), math.prod(window)
  flat = np.where(valid, flat, 0).reshape(p, k)
  valid = valid.reshape(p, k)
  return flat, valid, out_shape


def _pool(name, inputs, q, window_shape, strides, padding, *, method, temperature,
          algorithm):
  x = validation.check_array(inputs, name)
  window = _check_tuple(window_shape, name, "window_shape", None)
  nd = len(window)
  strides = (1,) * nd if strides is None else _check_tuple(strides, name, "strides", nd)
  if x.ndim < nd + 1:
    raise ValueError(
        f"{name}: inputs must have shape (*batch, *spatial, features) with "
        f"{nd} spatial dimensions (window_shape={window}), got shape {x.shape}.")
  nb = x.ndim - nd - 1
  batch, spatial, features = x.shape[:nb], x.shape[nb:-1], x.shape[-1]
  pads = _pads(name, spatial, window, strides, padding)
  index, valid, out_spatial = _window_indices(tuple(spatial), window, strides, pads)
  b = math.prod(batch)
  rows = x.reshape((b, math.prod(spatial), features))
  out_shape = jnp.shape(q) + batch + out_spatial + (features,)
  if jnp.ndim(temperature):
    # One temperature per output entry: lay it out like the windows, (B, P, C).
    try:
      temperature = jnp.broadcast_to(
          jnp.asarray(temperature), batch + out_spatial + (features,)).reshape(b, -1, features)
    except ValueError:
      raise ValueError(
          f"{name}: temperature of shape {jnp.shape(temperature)} does not broadcast "
          f"against the output shape {batch + out_spatial + (features,)}.") from None
  full = valid.all(axis=1)
  if full.all() or not full.any():
    vals = _reduce_windows(rows, index, None if full.all() else valid, q, method,
                           temperature, algorithm)
    return vals.reshape(out_shape)
  # Windows that touch the padding need the (slower) masked path: reduce the
  # interior windows without a mask and only the border ones with it, then
  # put the two groups back in output order with one static permutation.
  inner, border = np.flatnonzero(full), np.flatnonzero(~full)
  order = np.argsort(np.concatenate([inner, border]))
  parts = [
      _reduce_windows(rows, index[sel], mask, q, method,
                      temperature[:, sel] if jnp.ndim(temperature) else temperature,
                      algorithm)
      for sel, mask in ((inner, None), (border, valid[border]))]
  vals = jnp.take(jnp.concatenate(parts, axis=-2), jnp.asarray(order), axis=-2)
  return vals.reshape(out_shape)


def _reduce_windows(rows, index, valid, q, method, temperature, algorithm):
  """``rows (B, S, C)`` -> ``q.shape + (B, P, C)``: the quantile of each window."""
  windows = jnp.take(rows, jnp.asarray(index), axis=1, mode="clip")     # (B, P, K, C)
  windows = jnp.swapaxes(windows, 2, 3)                                  # (B, P, C, K)
  where = None if valid is None else jnp.asarray(valid[None, :, None, :])
  return _quantiles.quantile(windows, q, axis=-1, method=method, temperature=temperature,
                            algorithm=algorithm, where=where)


def quantile_pool(inputs: ArrayLike, q: ArrayLike, window_shape: Sequence[int],
                  strides: Sequence[int] | None = None, padding: Padding = "VALID", *,
                  method: str = "linear", temperature: ArrayLike = 1.0,
                  algorithm: str = DEFAULT_ALGORITHM) -> jax.Array:
  r"""Soft quantile pooling: the soft ``q``-quantile of every sliding window.

  Conventions of ``flax.linen.max_pool`` / ``jax.lax.reduce_window``:
  channels-last ``inputs`` of shape ``(*batch, *spatial, features)`` (zero or
  more batch dimensions; ``len(spatial) == len(window_shape)``), each feature
  pooled on its own.  For an output position ``o`` the window is

  .. math::
     W(o) = \{\, x[o \cdot s + j - \mathrm{lo}] : 0 \le j < w,\ \text{inside the input} \,\}

  (per spatial dimension: stride ``s``, window ``w``, low padding ``lo``) and
  the output is ``softq.quantile(W(o), q, method=method,
  temperature=temperature, algorithm=algorithm)``.  **Padding entries do
  not count**: a ``"SAME"`` border window holds fewer values and its quantile
  is taken over those alone (as ``max_pool``'s ``-inf`` padding never wins);
  a window made only of padding gives NaN.

  Hard limit (``temperature=0``): the exact sliding-window ``jnp.quantile``
  (``jnp.nanquantile`` over the in-range entries of border windows).  Large
  temperature: the window mean (over in-range entries).  The result is
  smooth in ``inputs`` and in ``temperature`` for every ``temperature > 0``,
  so the temperature can be a trained parameter.

  Windows are gathered with static indices (no Python loop over windows);
  memory is ``prod(window_shape)`` times the output size.

  Args:
    inputs: real array ``(*batch, *spatial, features)``.
    q: level in ``[0, 1]``, a scalar or a 1-D array (its axis is prepended to
      the output, as in ``jnp.quantile``).
    window_shape: window size per spatial dimension, a tuple of ints.
    strides: step per spatial dimension (default all 1).
    padding: ``"VALID"``, ``"SAME"`` (output size ``ceil(size / stride)``,
      as ``lax.padtype_to_pads``) or a sequence of ``(low, high)`` int pairs,
      one per spatial dimension.
    method: the ``jnp.quantile`` method of the hard limit.
    temperature: ``tau >= 0`` in the units of ``inputs``: a scalar or an
      array broadcasting against the output ``(*batch, *out_spatial,
      features)`` (e.g. one per feature, shape ``(features,)``).
      Differentiable; changing its value never retraces.
    algorithm: the soft order-statistic algorithm (see :func:`softq.quantile`).

  Returns:
    ``q.shape + (*batch, *out_spatial, features)`` in the input's float dtype.

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> x = jnp.array([1.0, 9.0, 2.0, 3.0, 8.0, 4.0])[:, None]   # (width, features)
    >>> print(softq.quantile_pool(x, 1.0, (3,), temperature=0)[:, 0])
    [9. 9. 8. 8.]
    >>> print(jnp.round(softq.quantile_pool(x, 0.0, (3,), temperature=0.01)[:, 0], 3))
    [1. 2. 2. 3.]
  """
  validation.check_q(q, "quantile_pool")
  if jnp.ndim(q) > 1:
    raise ValueError(f"quantile_pool: q must be a scalar or a 1-D array, got shape "
                     f"{jnp.shape(q)}.")
  return _pool("quantile_pool", inputs, q, window_shape, strides, padding,
               method=method, temperature=temperature, algorithm=algorithm)


def median_pool(inputs: ArrayLike, window_shape: Sequence[int],
                strides: Sequence[int] | None = None, padding: Padding = "VALID", *,
                temperature: ArrayLike = 1.0,
                algorithm: str = DEFAULT_ALGORITHM) -> jax.Array:
  r"""Soft median pooling: the soft median of every sliding window.

  A drop-in for ``flax.linen.max_pool(inputs, window_shape, strides,
  padding)`` (channels-last, ``(*batch, *spatial, features)``) whose
  reduction is :func:`softq.median` over each window:

  .. math::
     y(o) = \sum_{i \in W(o)} w_i\, x_i, \qquad w = \mathrm{argmedian}_\tau(W(o)),

  with the window ``W(o)`` of :func:`quantile_pool`; ``SAME`` or explicit
  padding entries do not count (a border window's median is over its
  in-range values).  Median pooling keeps edges like max pooling but
  ignores isolated outliers (salt-and-pepper noise) that max pooling
  spreads over whole windows.

  Hard limit (``temperature=0``, exactly): the sliding-window ``jnp.median``
  (for an even window the mean of the two middle values).  Large
  temperature: the window mean.  Differentiable in ``inputs`` and in
  ``temperature`` (a learnable temperature is a supported use).

  Args:
    inputs: real array ``(*batch, *spatial, features)``.
    window_shape: window size per spatial dimension, a tuple of ints.
    strides: step per spatial dimension (default all 1).
    padding: ``"VALID"``, ``"SAME"`` or a sequence of ``(low, high)`` pairs.
    temperature: ``tau >= 0`` (scalar, or broadcasting against the output).
    algorithm: the soft order-statistic algorithm (see :func:`softq.median`).

  Returns:
    ``(*batch, *out_spatial, features)`` in the input's float dtype.

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> img = jnp.array([[1.0, 2.0, 3.0], [4.0, 99.0, 6.0], [7.0, 8.0, 9.0]])
    >>> x = img[None, :, :, None]                     # (batch, H, W, features)
    >>> print(softq.median_pool(x, (2, 2), temperature=0)[0, :, :, 0])
    [[3.  4.5]
     [7.5 8.5]]
    >>> y = softq.median_pool(x, (3, 3), padding="SAME", temperature=0.01)
    >>> print(jnp.round(y[0, :, :, 0], 2))
    [[3.  3.5 4.5]
     [5.5 6.  7. ]
     [7.5 7.5 8.5]]
  """
  return _pool("median_pool", inputs, 0.5, window_shape, strides, padding,
               method="linear", temperature=temperature, algorithm=algorithm)
