r"""Robust statistics: soft ``trim_mean``, ``median_abs_deviation`` and ``iqr``.

Drop-ins for :func:`scipy.stats.trim_mean`, :func:`scipy.stats.median_abs_deviation`
and :func:`scipy.stats.iqr`: the same positional parameters and defaults
(``axis=0`` for the first two, ``axis=None`` for ``iqr``), ``nan_policy``
and ``keepdims``, with the soft options after ``*``.  At ``temperature=0``
each equals scipy's result (to float rounding); for ``tau > 0`` each is built
from softq's soft functions and is smooth in the data and the temperature,
with finite gradients.

How the temperature enters (one ``tau`` for every soft step of a call, in
the units of the data; with ``temperature_scale="std"`` or ``"mad"`` it is
``temperature`` times each slice's spread, computed once and differentiated):

* ``trim_mean``: the trimmed mask ``top_k_mask(x, n - g) - top_k_mask(x, g)``
  (``g = int(proportiontocut * n)``, as scipy cuts), both at ``tau``; the
  value ``sum(mask * x) / (n - 2 g)``.  The mask lies in ``[0, 1]`` and sums to
  ``n - 2 g``, so the value is a weighted mean.
* ``median_abs_deviation``: the soft median ``m`` at ``tau``, the soft absolute
  deviations ``|x - m|_tau = tau log(2 cosh((x - m) / tau))`` and their soft
  median at ``tau``.  The soft absolute value is at least ``|x - m|`` (by at
  most ``tau log 2``), so the soft MAD is biased up by at most that much.
* ``iqr``: the difference of two soft percentiles at ``tau``.
"""

from __future__ import annotations

import functools
import math
import operator
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from softq import _mask
from softq import _quantiles
from softq import _softmax
from softq._algorithms import DEFAULT_ALGORITHM
from softq._core import layout as layouts
from softq._core import numerics
from softq._core import select
from softq._core import validation

Axis = int | tuple[int, ...] | None
NAN_POLICIES = ("propagate", "omit", "raise")
#: scipy's ``scale="normal"`` of ``median_abs_deviation``: ``Phi^-1(3/4)``.
MAD_NORMAL = 0.6744897501960817
#: scipy's ``scale="normal"`` of ``iqr``: ``2 sqrt(2) erfinv(1/2)``.
IQR_NORMAL = 1.3489795003921636


def _prepare(name, a, axis, nan_policy):
  """``(a, axis)`` validated; ``nan_policy="raise"`` raises on concrete NaNs."""
  a = validation.check_array(a, name)
  validation.check_choice(nan_policy, name, "nan_policy", NAN_POLICIES)
  layouts.layout(a.shape, axis, name)           # axis errors and empty axes
  if nan_policy == "raise" and validation.is_concrete(a) and bool(jnp.any(jnp.isnan(a))):
    raise ValueError(f"{name}: the input contains nan values (nan_policy='raise'); pass "
                     "nan_policy='omit' to ignore them or 'propagate' to return NaN.")
  return a, axis


def _temperature(name, a, axis, temperature, temperature_scale, valid):
  """The temperature in data units: ``temperature`` times each slice's spread
  when ``temperature_scale`` is given (shaped to broadcast with keepdims)."""
  scale = validation.check_temperature_scale(temperature_scale, name)
  if scale is None:
    return temperature
  tau, mode = validation.check_temperature(temperature, name,
                                           validation.compute_dtype(a.dtype))
  if mode == "zero":
    return temperature
  lay = layouts.layout(a.shape, axis, name)
  rows = layouts.to_rows(a, lay).astype(validation.compute_dtype(a.dtype))
  weight = None if valid is None else layouts.to_rows(valid, lay)
  spread = select.spread(rows, weight, scale).reshape(lay.keepdims_shape)
  tau = jnp.asarray(tau)
  if tau.ndim and tau.shape != lay.keepdims_shape:
    tau = jnp.reshape(jnp.broadcast_to(tau, lay.kept_shape), lay.keepdims_shape)
  return tau * spread


def _scale(scale, name, normal):
  if isinstance(scale, str):
    if scale.lower() == "normal":
      return normal
    if scale.lower() == "raw" and normal == IQR_NORMAL:
      return 1.0
    raise ValueError(f"{name}: {scale!r} is not a valid scale; pass a number or 'normal'.")
  return scale


def _squeeze(out, axis, ndim, keepdims):
  if keepdims:
    return out
  axes = validation.canonicalize_axes(axis, ndim, "squeeze")
  return jnp.squeeze(out, axis=axes)


def trim_mean(a: ArrayLike, proportiontocut: float, axis: Axis = 0, *,
              nan_policy: str = "propagate", keepdims: bool = False,
              temperature: ArrayLike = 1.0,
              temperature_scale: str | None = None) -> jax.Array:
  r"""Soft trimmed mean: a drop-in for :func:`scipy.stats.trim_mean`.

  Cuts ``g = int(proportiontocut * n)`` values from each end (as scipy) and
  averages the rest.  Soft: the trimmed mask
  ``M = top_k_mask(a, n - g) - top_k_mask(a, g)`` (see
  :func:`softq.top_k_mask`), in ``[0, 1]`` and summing to ``n - 2 g``, and the
  value ``sum(M * a) / (n - 2 g)``: a weighted mean, smooth in ``a`` and the
  temperature.  Hard limit (``temperature=0``, and ``tau -> 0``):
  ``scipy.stats.trim_mean``.  As ``tau -> inf`` it tends to the mean.  Cost:
  two top-k masks, O(n log n).

  Args:
    a: array of real numbers.
    proportiontocut: the fraction cut from each end, a number in ``[0, 0.5)``.
    axis: int, tuple of ints or None (all values), as in scipy (default 0).
    nan_policy: ``"propagate"`` (a NaN in a slice gives NaN), ``"omit"``
      (NaNs are dropped, ``g`` counts the rest of each slice) or ``"raise"``
      (``ValueError`` on a concrete NaN; under ``jit`` it acts as
      ``"propagate"``).
    keepdims: keep the reduced axes with size 1.
    temperature: ``tau >= 0`` in data units (see :func:`softq.quantile`); a
      scalar or one per slice; differentiable.
    temperature_scale: None, ``"std"`` or ``"mad"`` (``tau`` relative to each
      slice's spread).

  Returns:
    The trimmed mean of every slice, in ``a``'s (float) dtype.

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> x = jnp.array([1.0, 2.0, 3.0, 5.0, 100.0])
    >>> print(jnp.round(softq.trim_mean(x, 0.2, temperature=0), 4))
    3.3333
    >>> print(jnp.round(softq.trim_mean(x, 0.2, temperature=0.1), 3))
    3.331
  """
  name = "trim_mean"
  a, axis = _prepare(name, a, axis, nan_policy)
  if (isinstance(proportiontocut, (str, bytes)) or not validation.is_concrete(proportiontocut)
      or np.ndim(proportiontocut) != 0):
    raise TypeError(f"{name}: proportiontocut must be a concrete number (it fixes how many "
                    f"values are cut), got {proportiontocut!r}.")
  p = float(proportiontocut)
  if not 0.0 <= p < 0.5:
    raise ValueError(f"{name}: proportiontocut must lie in [0, 0.5), got {p}; it is the "
                     "fraction cut from each end.")
  lay = layouts.layout(a.shape, axis, name)
  n = lay.n
  rows = layouts.to_rows(a, lay)
  omit = nan_policy == "omit"
  valid = ~jnp.isnan(a) if omit else None
  tau = _tau_keepdims(_temperature(name, a, axis, temperature, temperature_scale, valid), lay)
  if omit:
    count = jnp.sum(~jnp.isnan(rows), axis=-1).astype(rows.dtype)
    cut = jnp.floor(jnp.asarray(p, count.dtype) * count)      # int(p * n) per slice
    keep, lower, denom = count - cut, cut, count - 2 * cut
  else:
    cut = int(p * n)                                           # as scipy, on the host
    if validation.is_concrete(tau) and np.all(np.asarray(tau) == 0):
      out = jnp.mean(jnp.sort(rows, axis=-1)[:, cut:n - cut], axis=-1)
      out = jnp.where(jnp.any(jnp.isnan(rows), axis=-1), jnp.nan, out)
      return out.reshape(lay.out_shape(keepdims)).astype(a.dtype)
    keep, lower, denom = float(n - cut), float(cut), float(n - 2 * cut)
  mask = functools.partial(_mask.top_k_mask, a, axis=lay.axes, temperature=tau, where=valid)
  upper = mask(_per_slice(keep, lay))
  below = mask(_per_slice(lower, lay))
  weights = layouts.to_rows(upper - below, lay)
  safe = jnp.where(jnp.isnan(rows) & (weights == 0), jnp.zeros_like(rows), rows)
  out = numerics.weighted_sum(weights, safe, axis=-1) / denom
  return out.reshape(lay.out_shape(keepdims)).astype(a.dtype)


def _per_slice(k, lay):
  """``k``: a float, or one value per row ``(B,)`` -> the kept shape."""
  if isinstance(k, float):
    return k
  return jnp.reshape(k, lay.kept_shape)


def _tau_keepdims(tau, lay):
  """A per-slice temperature in the keepdims shape (it then broadcasts against
  the input and against the output with or without keepdims)."""
  arr = jnp.asarray(tau) if not isinstance(tau, (int, float)) else None
  if arr is None or arr.ndim == 0 or arr.shape == lay.keepdims_shape:
    return tau
  try:
    return jnp.reshape(jnp.broadcast_to(arr, lay.kept_shape), lay.keepdims_shape)
  except ValueError:
    return tau      # let the soft function report the bad shape


def median_abs_deviation(x: ArrayLike, axis: Axis = 0, center: Callable | None = None,
                         scale: float | str = 1.0, nan_policy: str = "propagate", *,
                         keepdims: bool = False, temperature: ArrayLike = 1.0,
                         temperature_scale: str | None = None,
                         algorithm: str = DEFAULT_ALGORITHM) -> jax.Array:
  r"""Soft median absolute deviation: a drop-in for :func:`scipy.stats.median_abs_deviation`.

  ``MAD = median(|x - center(x)|) / scale``.  Soft: the soft median
  ``m = softq.median(x, temperature=tau)`` (or ``center(x, axis=axis)``
  when given), the soft absolute deviations ``softq.abs(x - m,
  temperature=tau)`` and their soft median, all at the same ``tau``.  Smooth in
  ``x`` and ``tau``; the soft absolute value exceeds ``|x - m|`` by at most
  ``tau log 2``.  Hard limit (``temperature=0``):
  ``scipy.stats.median_abs_deviation``.  Cost: two soft medians
  (``algorithm``, see :func:`softq.median`).

  Args:
    x: array of real numbers.
    axis: int, tuple of ints or None, as in scipy (default 0).
    center: None (the soft median) or a callable ``center(x, axis=axis)``
      returning the reduced centre (as in scipy; it is not softened).
    scale: the divisor, a number or ``"normal"`` (``0.67449``, so that the
      result estimates the standard deviation of normal data).
    nan_policy: ``"propagate"``, ``"omit"`` (soft ``nanmedian``) or
      ``"raise"`` (``ValueError`` on a concrete NaN; under ``jit`` as
      ``"propagate"``).
    keepdims: keep the reduced axes with size 1.
    temperature: ``tau >= 0`` in data units; a scalar or one per slice.
    temperature_scale: None, ``"std"`` or ``"mad"``.
    algorithm: the soft median's algorithm.

  Returns:
    The MAD of every slice, in ``x``'s (float) dtype.

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> x = jnp.array([[10.0, 7.0, 4.0], [3.0, 2.0, 1.0]])
    >>> print(softq.median_abs_deviation(x, temperature=0))
    [3.5 2.5 1.5]
    >>> print(jnp.round(softq.median_abs_deviation(x, axis=None, temperature=0.01), 3))
    2.0
  """
  name = "median_abs_deviation"
  x, axis = _prepare(name, x, axis, nan_policy)
  if center is not None and not callable(center):
    raise TypeError(f"{name}: center must be callable (e.g. jnp.mean) or None, got "
                    f"{center!r}.")
  div = _scale(scale, name, MAD_NORMAL)
  omit = nan_policy == "omit"
  valid = ~jnp.isnan(x) if omit else None
  tau = _temperature(name, x, axis, temperature, temperature_scale, valid)
  lay = layouts.layout(x.shape, axis, name)
  tau = _tau_keepdims(tau, lay)
  med_fn = _quantiles.nanmedian if omit else _quantiles.median
  if center is None:
    med = med_fn(x, axis=lay.axes, keepdims=True, temperature=tau, algorithm=algorithm)
  else:
    ax = lay.axes if len(lay.axes) > 1 else lay.axes[0]
    med = jnp.reshape(jnp.asarray(center(x, axis=ax)), lay.keepdims_shape)
  dev = _softmax.abs(x - med, temperature=tau)
  mad = med_fn(dev, axis=lay.axes, keepdims=keepdims, temperature=tau, algorithm=algorithm)
  return (mad / div).astype(x.dtype)


def iqr(x: ArrayLike, axis: Axis = None, rng: tuple[float, float] = (25, 75),
        scale: float | str = 1.0, *, nan_policy: str = "propagate", method: str = "linear",
        keepdims: bool = False, temperature: ArrayLike = 1.0,
        temperature_scale: str | None = None, algorithm: str = DEFAULT_ALGORITHM,
        interpolation: str | None = None) -> jax.Array:
  r"""Soft interquartile range: a drop-in for :func:`scipy.stats.iqr`.

  ``(percentile(x, rng[1]) - percentile(x, rng[0])) / scale``, the two
  percentiles soft at the same ``tau`` (:func:`softq.quantile` with
  ``method``).  Hard limit (``temperature=0``): ``scipy.stats.iqr``.  As
  ``tau -> inf`` it tends to 0 (both soft percentiles tend to the mean).

  Args:
    x: array of real numbers.
    axis: int, tuple of ints or None (all values, the default, as in scipy).
    rng: the two percentiles, in ``[0, 100]`` (swapped if given in reverse,
      as scipy does).
    scale: the divisor: a number, ``"raw"`` (1) or ``"normal"`` (``1.34898``).
    nan_policy: ``"propagate"``, ``"omit"`` (soft ``nanpercentile``) or
      ``"raise"`` (``ValueError`` on a concrete NaN; under ``jit`` as
      ``"propagate"``).
    method: the percentile method (scipy's ``interpolation``), any of
      :func:`softq.quantile`'s.
    keepdims: keep the reduced axes with size 1.
    temperature: ``tau >= 0`` in data units; a scalar or one per slice.
    temperature_scale: None, ``"std"`` or ``"mad"``.
    algorithm: the soft quantile's algorithm.
    interpolation: scipy's name for ``method`` (either may be given).

  Returns:
    The interquartile range of every slice, in ``x``'s (float) dtype.

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> x = jnp.array([[10.0, 7.0, 4.0], [3.0, 2.0, 1.0]])
    >>> print(softq.iqr(x, temperature=0))
    4.0
    >>> print(softq.iqr(x, axis=1, temperature=0))
    [3. 1.]
  """
  name = "iqr"
  x, axis = _prepare(name, x, axis, nan_policy)
  if interpolation is not None:
    if method != "linear" and method != interpolation:
      raise ValueError(f"{name}: method={method!r} and interpolation={interpolation!r} "
                       "disagree; pass one of them.")
    method = interpolation
  div = _scale(scale, name, IQR_NORMAL)
  try:
    lo, hi = (operator.index(v) if isinstance(v, (int, np.integer)) else float(v)
              for v in rng)
  except (TypeError, ValueError):
    raise TypeError(f"{name}: rng must be a two-element sequence of numbers, got "
                    f"{rng!r}.") from None
  if math.isnan(lo) or math.isnan(hi):
    raise ValueError(f"{name}: rng must not contain NaNs.")
  if lo > hi:
    lo, hi = hi, lo
  if lo < 0 or hi > 100:
    raise ValueError(f"{name}: the elements of rng must lie in [0, 100], got {tuple(rng)}.")
  omit = nan_policy == "omit"
  tau = _temperature(name, x, axis, temperature, temperature_scale,
                     ~jnp.isnan(x) if omit else None)
  lay = layouts.layout(x.shape, axis, name)
  tau = _tau_keepdims(tau, lay)
  q = np.array([lo / 100, hi / 100])
  fn = _quantiles.nanquantile if omit else _quantiles.quantile
  pct = fn(x, q, axis=lay.axes, method=method, keepdims=keepdims, temperature=tau,
           algorithm=algorithm)
  return ((pct[1] - pct[0]) / div).astype(x.dtype)

