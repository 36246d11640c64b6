"""Soft median, quantiles and percentiles, their ``nan*`` and ``arg*`` forms.

Every function here is one call of :func:`_reduce`, the one worker over the
engine (as ``jax/_src/numpy/reductions.py`` builds ``median`` and
``percentile`` on ``quantile``): validation, the algorithm, the temperature
and the output shape are handled once, in :mod:`softq._engine`.
"""

from __future__ import annotations

from typing import Literal

import jax
from jax.typing import ArrayLike

from softq import _algorithms
from softq import _engine
from softq._algorithms import DEFAULT_ALGORITHM
from softq._algorithms import AlgorithmName
from softq._core import validation

Method = Literal["linear", "lower", "higher", "nearest", "midpoint", "inverted_cdf",
                 "averaged_inverted_cdf"]
Axis = int | tuple[int, ...] | None
TemperatureScale = Literal["std", "mad"] | None


def _reduce(name, a, q, axis, *, kind, method="linear", keepdims=False, weights=None,
            temperature, algorithm, where, block_size, temperature_scale, omit_nan=False,
            output="values", percent=False, out=None, overwrite_input=False):
  validation.check_out(out, overwrite_input, name)
  request, args = _engine.prepare(
      name, a, q, axis, kind=kind, method=method, keepdims=keepdims,
      temperature=temperature, algorithm=algorithm, where=where, weights=weights,
      options=dict(block_size=block_size), omit_nan=omit_nan, output=output,
      percent=percent, temperature_scale=temperature_scale)
  return _engine.run(request, *args)


def quantile(a: ArrayLike, q: ArrayLike, axis: Axis = None, out: None = None,
             overwrite_input: bool = False, method: Method = "linear",
             keepdims: bool = False, *, weights: ArrayLike | None = None,
             temperature: ArrayLike = 1.0, algorithm: AlgorithmName = DEFAULT_ALGORITHM,
             where: ArrayLike | None = None, block_size: int | None = None,
    temperature_scale: TemperatureScale = None) -> jax.Array:
  r"""Soft quantile: a drop-in for :func:`jax.numpy.quantile`.

  Every ``method`` of ``jnp.quantile`` is a fixed combination of one or two
  order statistics ``x_(lo), x_(hi)`` (for ``"linear"``, ``h = q (n - 1)``,
  ``lo = floor(h)``, ``hi = ceil(h)``, value ``x_(lo) + (h - lo)(x_(hi) - x_(lo))``).
  softq replaces each order statistic by a soft one, a convex combination
  ``sum_i w_i x_i`` whose weights come from ``algorithm``:

  {algorithms}

  Hard limit: ``jnp.quantile(a, q, axis, method=method, keepdims=keepdims)``
  (``"averaged_inverted_cdf"``, absent from ``jnp``, follows ``numpy``).
  As ``tau -> inf`` the soft order statistics tend to the mean.

  Args:
    a: array of real numbers (integers are promoted to float as ``jnp`` does).
    q: level(s) in ``[0, 1]``: a scalar, a list or a 1-D array (its axis is
      prepended to the output).  Traced: a new ``q`` compiles nothing new.
    axis: int, tuple of ints or None (all axes).
    out: not supported (as in ``jnp``): must be None.
    overwrite_input: not supported (as in ``jnp``): must be False.
    method: which ``jnp.quantile`` method is the hard limit.
    keepdims: keep reduced axes with size 1.
    weights: non-negative weights broadcastable to ``a`` (or of the reduced
      axes' shape): with integer weights the result is that of the sample
      with every value repeated ``weight`` times; 0 removes a value.
      Differentiable.  At ``temperature=0`` with ``method="inverted_cdf"``
      this is ``jnp.quantile(..., weights=weights)``.  Real weights: every
      order statistic is the first sorted value whose cumulative weight
      reaches its anchor (``k + 1/2``; ``q W`` for ``"inverted_cdf"``), and the
      soft value tends to it as ``temperature -> 0``, for every method (no
      jump at 0; docs/math.md section 6).
    temperature: {temperature}
    algorithm: the soft construction (see above).
    where: boolean mask broadcastable to ``a``: only ``True`` entries count.
    block_size: the remedian's block size (``algorithm="remedian"`` only).
    temperature_scale: {temperature_scale}

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
  return _reduce("quantile", a, q, axis, kind="quantile", method=method,
                 keepdims=keepdims, weights=weights, temperature=temperature,
                 algorithm=algorithm, where=where, block_size=block_size,
                 temperature_scale=temperature_scale, out=out,
                 overwrite_input=overwrite_input)


def percentile(a: ArrayLike, q: ArrayLike, axis: Axis = None, out: None = None,
               overwrite_input: bool = False, method: Method = "linear",
               keepdims: bool = False, *, weights: ArrayLike | None = None,
               temperature: ArrayLike = 1.0, algorithm: AlgorithmName = DEFAULT_ALGORITHM,
               where: ArrayLike | None = None, block_size: int | None = None,
    temperature_scale: TemperatureScale = None) -> jax.Array:
  """Soft percentile: :func:`quantile` with ``q`` in ``[0, 100]``.

  Hard limit: ``jnp.percentile``.

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> print(softq.percentile(jnp.arange(11.0), 30, temperature=0))
    3.0
  """
  return _reduce("percentile", a, q, axis, kind="quantile", method=method,
                 keepdims=keepdims, weights=weights, temperature=temperature,
                 algorithm=algorithm, where=where, block_size=block_size,
                 temperature_scale=temperature_scale, percent=True,
                 out=out, overwrite_input=overwrite_input)


def nanquantile(a: ArrayLike, q: ArrayLike, axis: Axis = None, out: None = None,
                overwrite_input: bool = False, method: Method = "linear",
                keepdims: bool = False, *, weights: ArrayLike | None = None,
                temperature: ArrayLike = 1.0, algorithm: AlgorithmName = DEFAULT_ALGORITHM,
                where: ArrayLike | None = None, block_size: int | None = None,
    temperature_scale: TemperatureScale = None) -> jax.Array:
  """Soft quantile ignoring NaNs; hard limit ``jnp.nanquantile``.

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> print(softq.nanquantile(jnp.array([1.0, jnp.nan, 3.0, 2.0]), 1.0, temperature=0))
    3.0
  """
  return _reduce("nanquantile", a, q, axis, kind="quantile", method=method,
                 keepdims=keepdims, weights=weights, temperature=temperature,
                 algorithm=algorithm, where=where, block_size=block_size,
                 temperature_scale=temperature_scale, omit_nan=True,
                 out=out, overwrite_input=overwrite_input)


def nanpercentile(a: ArrayLike, q: ArrayLike, axis: Axis = None, out: None = None,
                  overwrite_input: bool = False, method: Method = "linear",
                  keepdims: bool = False, *, weights: ArrayLike | None = None,
                  temperature: ArrayLike = 1.0,
                  algorithm: AlgorithmName = DEFAULT_ALGORITHM,
                  where: ArrayLike | None = None,
                  block_size: int | None = None,
    temperature_scale: TemperatureScale = None) -> jax.Array:
  """Soft percentile ignoring NaNs; hard limit ``jnp.nanpercentile``.

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> print(softq.nanpercentile(jnp.array([1.0, jnp.nan, 3.0]), 50, temperature=0))
    2.0
  """
  return _reduce("nanpercentile", a, q, axis, kind="quantile", method=method,
                 keepdims=keepdims, weights=weights, temperature=temperature,
                 algorithm=algorithm, where=where, block_size=block_size,
                 temperature_scale=temperature_scale, omit_nan=True,
                 percent=True, out=out, overwrite_input=overwrite_input)


def median(a: ArrayLike, axis: Axis = None, out: None = None, overwrite_input: bool = False,
           keepdims: bool = False, *, weights: ArrayLike | None = None,
           temperature: ArrayLike = 1.0, algorithm: AlgorithmName = DEFAULT_ALGORITHM,
           where: ArrayLike | None = None, block_size: int | None = None,
    temperature_scale: TemperatureScale = None) -> jax.Array:
  r"""Soft median: a drop-in for :func:`jax.numpy.median`.

  The value is ``sum_i w_i x_i`` with ``w = argmedian(a)``; for an even
  sample the mean of the two soft middle order statistics.  The weights come
  from ``algorithm`` (see :func:`quantile`); with ``"deviation"`` they are
  the soft-min of the soft total absolute deviation
  ``D_i = sum_j tau log(2 cosh((x_i - x_j)/tau))``.

  Hard limit (``temperature -> 0``): ``jnp.median`` (ties and even ``n``
  included).  Large temperature: the mean.  Smooth for every ``tau > 0``.

  Args:
    a: array of real numbers.
    axis: int, tuple of ints or None (all axes).
    out: not supported (as in ``jnp``): must be None.
    overwrite_input: not supported (as in ``jnp``): must be False.
    keepdims: keep reduced axes with size 1.
    weights: non-negative weights (see :func:`quantile`).
    temperature: {temperature}
    algorithm: {algorithm_names}
    where: boolean mask broadcastable to ``a``.
    block_size: the remedian's block size (``algorithm="remedian"`` only).
    temperature_scale: {temperature_scale}

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
  return _reduce("median", a, None, axis, kind="median", keepdims=keepdims,
                 weights=weights, temperature=temperature, algorithm=algorithm,
                 where=where, block_size=block_size,
                 temperature_scale=temperature_scale, out=out,
                 overwrite_input=overwrite_input)


def nanmedian(a: ArrayLike, axis: Axis = None, out: None = None,
              overwrite_input: bool = False, keepdims: bool = False, *,
              weights: ArrayLike | None = None, temperature: ArrayLike = 1.0,
              algorithm: AlgorithmName = DEFAULT_ALGORITHM, where: ArrayLike | None = None,
              block_size: int | None = None,
    temperature_scale: TemperatureScale = None) -> jax.Array:
  """Soft median ignoring NaNs; hard limit ``jnp.nanmedian``.

  NaN entries take no part (weight 0, gradient 0); an all-NaN slice gives NaN.

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> print(softq.nanmedian(jnp.array([1.0, jnp.nan, 3.0, 2.0]), temperature=0))
    2.0
  """
  return _reduce("nanmedian", a, None, axis, kind="median", keepdims=keepdims,
                 weights=weights, temperature=temperature, algorithm=algorithm,
                 where=where, block_size=block_size,
                 temperature_scale=temperature_scale, omit_nan=True, out=out,
                 overwrite_input=overwrite_input)


def argmedian(a: ArrayLike, axis: Axis = -1, *, weights: ArrayLike | None = None,
              temperature: ArrayLike = 1.0, algorithm: AlgorithmName = DEFAULT_ALGORITHM,
              where: ArrayLike | None = None, block_size: int | None = None,
    temperature_scale: TemperatureScale = None) -> jax.Array:
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
  return _reduce("argmedian", a, None, axis, kind="median", weights=weights,
                 temperature=temperature, algorithm=algorithm, where=where,
                 block_size=block_size, temperature_scale=temperature_scale, output="weights")


def argquantile(a: ArrayLike, q: ArrayLike, axis: Axis = -1, *, method: Method = "linear",
                weights: ArrayLike | None = None, temperature: ArrayLike = 1.0,
                algorithm: AlgorithmName = DEFAULT_ALGORITHM,
                where: ArrayLike | None = None, block_size: int | None = None,
    temperature_scale: TemperatureScale = None) -> jax.Array:
  """Soft argquantile: weights of shape ``q.shape + a.shape``.

  ``(argquantile(a, q) * a).sum(axis) == quantile(a, q, axis)`` up to rounding
  (for a vector ``q``, sum over ``axis + 1``).

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> w = softq.argquantile(jnp.array([3.0, 1.0, 10.0]), 1.0, temperature=0)
    >>> print(w)
    [0. 0. 1.]
  """
  return _reduce("argquantile", a, q, axis, kind="quantile", method=method,
                 weights=weights, temperature=temperature, algorithm=algorithm,
                 where=where, block_size=block_size,
                 temperature_scale=temperature_scale, output="weights")


TEMPERATURE_DOC = """``tau >= 0`` in the units of ``a`` (not relative to its
      spread: on data of spread 0.1 the default 1.0 is very soft; see
      ``temperature_scale`` for a scale-free one); a scalar
      or an array that broadcasts against the output (one temperature per
      row).  Traced temperatures are differentiable and never cause a
      recompile; their value is checked by a ``chex`` assertion that fires
      under ``chex.chexify`` (a concrete negative, NaN or infinite value
      raises ``ValueError`` at once).  ``0`` gives the ``jax.numpy`` result
      exactly."""


TEMPERATURE_SCALE_DOC = """None (``temperature`` in data units), ``"std"`` or
      ``"mad"``: the temperature is then a fraction of each slice's spread
      (its standard deviation, or 1.4826 times its median absolute
      deviation, robust to outliers), so ``temperature=0.05,
      temperature_scale="std"`` is soft at 5 % of the spread and the result
      scales with the data.  The spread is differentiated, not frozen."""


def _algorithm_list() -> str:
  lines = []
  for name, record in _algorithms.REGISTRY.items():
    default = " (default)" if name == DEFAULT_ALGORITHM else ""
    limit = ("exact ``jnp`` limit" if record.hard_limit == "jnp"
             else "its limit is the hard remedian, an estimate of the median")
    lines.append(f"* ``{name!r}``{default}: {record.summary}; {record.cost}; {limit}.")
  return "\n  ".join(lines)


for _f in (quantile, median):
  _f.__doc__ = (_f.__doc__.replace("{algorithms}", _algorithm_list())
                .replace("{temperature}", TEMPERATURE_DOC)
                .replace("{temperature_scale}", TEMPERATURE_SCALE_DOC)
                .replace("{algorithm_names}", ", ".join(
                    f"``{a!r}``" for a in _algorithms.ALGORITHMS)
                         + f" (default ``{DEFAULT_ALGORITHM!r}``)."))
