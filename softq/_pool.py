"""Soft median and soft quantile pooling over sliding windows (channels-last).

The windows are ``prod(window_shape)`` shifted, strided views of the padded
input stacked on a new axis (the layout of a hand-written median filter), so
the gradient is a sum of pads, never a scatter; the reduction over that axis
is the engine's, as for :func:`softq.quantile` (no kernel is duplicated
here): windows of up to 64 values take the batched short-row kernel with its
analytic tangent.  Padding entries are masked out as with ``where=``: they
never count, whatever the padding.
"""

from __future__ import annotations

import itertools
import operator
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from softq import _engine
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


def _shifted_views(x, nb: int, window, strides, pads):
  """The windows as ``prod(window)`` shifted views stacked on a new leading axis.

  ``x`` is ``(*batch, *spatial, features)`` with ``nb`` batch dimensions.
  View ``j`` holds entry ``j`` (row-major over the window) of every output
  position's window: a strided slice of the zero-padded input, so its
  gradient is a pad (no gather, no scatter).  Returns the views
  ``(K, *batch, *out_spatial, features)`` and, when some window reaches into
  the padding, a static NumPy presence mask ``(K, *out_spatial)`` (None
  otherwise).
  """
  spatial = x.shape[nb:-1]
  out = tuple((size + lo + hi - w) // s + 1 if size + lo + hi >= w else 0
              for size, w, s, (lo, hi) in zip(spatial, window, strides, pads))
  padded = jnp.pad(x, [(0, 0)] * nb + list(pads) + [(0, 0)])
  views, masks = [], []
  for offset in itertools.product(*(range(w) for w in window)):
    start = [0] * nb + list(offset) + [0]
    limit = (list(x.shape[:nb]) + [j + (o - 1) * s + 1 if o else j
                                   for j, o, s in zip(offset, out, strides)] + [x.shape[-1]])
    views.append(jax.lax.slice(padded, start, limit, [1] * nb + list(strides) + [1]))
    inside = np.ones(out, bool)
    for d, (j, o, s, (lo, _), size) in enumerate(zip(offset, out, strides, pads, spatial)):
      pos = np.arange(o) * s + j - lo
      shape = [1] * len(out)
      shape[d] = o
      inside = inside & ((pos >= 0) & (pos < size)).reshape(shape)
    masks.append(inside)
  mask = np.stack(masks)
  return jnp.stack(views), (None if mask.all() else mask)


def _pool(name, inputs, q, window_shape, strides, padding, *, method, temperature,
          algorithm, temperature_scale):
  x = validation.check_array(inputs, name)
  window = _check_tuple(window_shape, name, "window_shape", None)
  nd = len(window)
  strides = (1,) * nd if strides is None else _check_tuple(strides, name, "strides", nd)
  if x.ndim < nd + 1:
    raise ValueError(
        f"{name}: inputs must have shape (*batch, *spatial, features) with "
        f"{nd} spatial dimensions (window_shape={window}), got shape {x.shape}.")
  nb = x.ndim - nd - 1
  pads = _pads(name, x.shape[nb:-1], window, strides, padding)
  views, mask = _shifted_views(x, nb, window, strides, pads)
  where = None
  if mask is not None:
    lead = (mask.shape[0],) + (1,) * nb
    where = np.broadcast_to(mask.reshape(lead + mask.shape[1:] + (1,)), views.shape)
  request, args = _engine.prepare(
      name, views, q, 0, kind="quantile", method=method, temperature=temperature,
      algorithm=algorithm, where=where, temperature_scale=temperature_scale)
  return _engine.run(request, *args)


def quantile_pool(inputs: ArrayLike, q: ArrayLike, window_shape: Sequence[int],
                  strides: Sequence[int] | None = None, padding: Padding = "VALID", *,
                  method: str = "linear", temperature: ArrayLike = 1.0,
                  algorithm: str = DEFAULT_ALGORITHM,
                  temperature_scale: str | None = None) -> jax.Array:
  r"""Soft quantile pooling: the soft ``q``-quantile of every sliding window.

  Conventions of ``flax.linen.max_pool`` / ``jax.lax.reduce_window``:
  channels-last ``inputs`` of shape ``(*batch, *spatial, features)`` (zero or
  more batch dimensions; ``len(spatial) == len(window_shape)``), each feature
  pooled on its own.  For an output position ``o`` the window is

  .. math::
     W(o) = \{\, x[o \cdot s + j - \mathrm{lo}] : 0 \le j < w,\ \text{inside the input} \,\}

  (per spatial dimension: stride :math:`s`, window :math:`w`, low padding
  :math:`\mathrm{lo}`) and the output is ``softq.quantile(W(o), q, method=method,
  temperature=temperature, algorithm=algorithm)``.  **Padding entries do
  not count**: a ``"SAME"`` border window holds fewer values and its quantile
  is taken over those alone (as ``max_pool``'s ``-inf`` padding never wins);
  a window made only of padding gives NaN.

  Hard limit (``temperature=0``): the exact sliding-window ``jnp.quantile``
  (``jnp.nanquantile`` over the in-range entries of border windows).  Large
  temperature: the window mean (over in-range entries).  The result is
  smooth in ``inputs`` and in ``temperature`` for every ``temperature > 0``,
  so the temperature can be a trained parameter.

  The windows are ``prod(window_shape)`` shifted views of the input stacked
  on a new axis (memory: that many times the output size); the gradient is a
  sum of pads.  **Which algorithm:** keep the default.  Every exact
  algorithm computes the same function here except ``"rank"`` and
  ``"subsets"``, and the default (``"sorted"``, the ``"deviation"`` function)
  runs windows of up to 64 values (an 8x8 window and smaller) through the
  batched short-row kernel with an analytic tangent, the fastest path
  measured (``python -m benchmarks --only pool``); ``"rank"`` has no batched
  form and is several times slower.

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
    temperature: :math:`\tau \ge 0` in the units of ``inputs``: a scalar or an
      array broadcasting against the output ``(*batch, *out_spatial,
      features)`` (e.g. one per feature, shape ``(features,)``).
      Differentiable; changing its value never retraces.
    algorithm: the soft order-statistic algorithm (see :func:`softq.quantile`).
    temperature_scale: None (``temperature`` in data units), ``"std"`` or
      ``"mad"``: a fraction of each window's spread (see :func:`softq.quantile`).

  Returns:
    ``q.shape + (*batch, *out_spatial, features)`` in the input's float dtype.

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> x = jnp.array([1.0, 9.0, 2.0, 3.0, 8.0, 4.0])[:, None]   # (width, features)
    >>> print(softq.quantile_pool(x, 1.0, (3,), temperature=0)[:, 0])
    [9. 9. 8. 8.]
    >>> print(jnp.round(softq.quantile_pool(x, 0.0, (3,), temperature=0.01)[:, 0], 2))
    [1. 2. 2. 3.]
  """
  validation.check_q(q, "quantile_pool")
  if jnp.ndim(q) > 1:
    raise ValueError(f"quantile_pool: q must be a scalar or a 1-D array, got shape "
                     f"{jnp.shape(q)}.")
  return _pool("quantile_pool", inputs, q, window_shape, strides, padding,
               method=method, temperature=temperature, algorithm=algorithm,
               temperature_scale=temperature_scale)


def median_pool(inputs: ArrayLike, window_shape: Sequence[int],
                strides: Sequence[int] | None = None, padding: Padding = "VALID", *,
                temperature: ArrayLike = 1.0,
                algorithm: str = DEFAULT_ALGORITHM,
                temperature_scale: str | None = None) -> jax.Array:
  r"""Soft median pooling: the soft median of every sliding window.

  A drop-in for ``flax.linen.max_pool(inputs, window_shape, strides,
  padding)`` (channels-last, ``(*batch, *spatial, features)``) whose
  reduction is :func:`softq.median` over each window:

  .. math::
     y(o) = \sum_{i \in W(o)} w_i\, x_i, \qquad w = \mathrm{argmedian}_\tau(W(o)),

  with the window :math:`W(o)` of :func:`quantile_pool`; ``SAME`` or explicit
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
    temperature: :math:`\tau \ge 0` in the units of ``inputs`` (or of each window's spread
      with ``temperature_scale``): a scalar or broadcasting against the output.
    algorithm: the soft order-statistic algorithm (see :func:`softq.median`
      and :func:`quantile_pool` for which to pick).
    temperature_scale: None, ``"std"`` or ``"mad"`` (see :func:`softq.median`).

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
               method="linear", temperature=temperature, algorithm=algorithm,
               temperature_scale=temperature_scale)
