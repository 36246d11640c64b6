"""The soft max family: max, min, argmax, argmin, abs, sign.

Building blocks of every soft order statistic, each with a keyword-only
``temperature`` that recovers the ``jax.numpy`` function at 0.  ``max`` and
``min`` follow ``jnp.max``/``jnp.min`` (``axis=None`` reduces everything,
positional ``out``, ``keepdims``, ``initial``, ``where``); ``argmax`` and
``argmin`` return weights over ``a`` and, like ``jax.nn.softmax``, default to
the last axis.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from softq import _engine
from softq._core import numerics
from softq._core import validation

Axis = int | tuple[int, ...] | None


def _with_initial(x, valid, initial):
  """Appends ``initial`` to every row as one more (always valid) value."""
  if initial is None:
    return x, valid
  col = jnp.full((x.shape[0], 1), initial, x.dtype)
  if valid is not None:
    valid = jnp.concatenate([valid, jnp.ones((x.shape[0], 1), bool)], axis=1)
  return jnp.concatenate([x, col], axis=1), valid


def _lse_rows(sign, initial):
  def fn(x, valid, tau, hard):
    x, valid = _with_initial(sign * x, valid, initial if initial is None else sign * initial)
    if hard:
      out = jnp.max(x if valid is None else jnp.where(valid, x, -jnp.inf), axis=-1)
    else:
      t = tau if jnp.ndim(tau) == 0 else tau[:, None]
      out = numerics.soft_logsumexp(x, t, valid, axis=-1)
    return sign * out
  return fn


def _hard_argmax(x, valid):
  masked = x if valid is None else jnp.where(valid, x, -jnp.inf)
  top = jnp.max(masked, axis=-1, keepdims=True)
  eq = masked == top
  if valid is not None:
    eq = eq & valid
  eq = eq.astype(x.dtype)
  return eq / jnp.maximum(jnp.sum(eq, axis=-1, keepdims=True), 1)


def _softmax_rows(sign):
  def fn(x, valid, tau, hard):
    if hard:
      return _hard_argmax(sign * x, valid)
    t = tau if jnp.ndim(tau) == 0 else tau[:, None]
    return numerics.softmax_weights(sign * x, t, valid, axis=-1)
  return fn


# Row functions are static arguments of the engine's jit: build each once.
_MAX, _MIN = _lse_rows(1.0, None), _lse_rows(-1.0, None)
_ARGMAX, _ARGMIN = _softmax_rows(1.0), _softmax_rows(-1.0)


def _extreme(name, sign, a, axis, out, keepdims, initial, where, temperature):
  validation.check_out(out, False, name)
  req, (arr, tau, mask) = _engine.prepare_map(name, a, axis, temperature, where=where,
                                              keepdims=keepdims, nan_rows=False,
                                              allow_empty=initial is not None)
  if req.mode == "zero":
    fn = jnp.max if sign > 0 else jnp.min
    if initial is None and where is not None:
      initial = -jnp.inf if sign > 0 else jnp.inf
    return fn(arr, axis=req.layout.axes, keepdims=keepdims, initial=initial, where=mask)
  if initial is None:
    fn = _MAX if sign > 0 else _MIN
  else:
    fn = _lse_rows(sign, float(initial))
  return _engine.run_map(req, fn, arr, tau, mask)


def max(a: ArrayLike, axis: Axis = None, out: None = None,  # pylint: disable=redefined-builtin
        keepdims: bool = False, initial: float | None = None,
        where: ArrayLike | None = None, *, temperature: ArrayLike = 1.0) -> jax.Array:
  r"""Soft maximum :math:`\tau \log \sum_i e^{a_i/\tau}` (log-sum-exp).

  A drop-in for :func:`jax.numpy.max` (same positional parameters; ``out``
  must be None).  This is the log-sum-exp *value*, not the argmax-weighted
  mean :math:`\sum_i \operatorname{argmax}(a)_i\, a_i` (both are standard soft maxima; this
  one is an upper bound of ``jnp.max``, within :math:`\tau \log n` of it).  Stable for
  every temperature: the maximum is subtracted before ``exp``.  Masked entries
  (``where=False``) take no part; ``initial`` joins every reduction as one
  more value; an empty selection gives ``-inf``.

  Hard limit: ``jnp.max``.  Gradient: :func:`argmax`.

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> print(jnp.round(softq.max(jnp.array([1.0, 2.0, 3.0]), temperature=1.0), 4))
    3.4076
    >>> print(softq.max(jnp.array([1.0, 2.0, 3.0]), temperature=0))
    3.0
  """
  return _extreme("max", 1.0, a, axis, out, keepdims, initial, where, temperature)


def min(a: ArrayLike, axis: Axis = None, out: None = None,  # pylint: disable=redefined-builtin
        keepdims: bool = False, initial: float | None = None,
        where: ArrayLike | None = None, *, temperature: ArrayLike = 1.0) -> jax.Array:
  r"""Soft minimum :math:`-\max(-a) = -\tau \log \sum_i e^{-a_i/\tau}`.

  A drop-in for :func:`jax.numpy.min`; a lower bound of it, within
  :math:`\tau \log n`.  Hard limit: ``jnp.min``.

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> print(jnp.round(softq.min(jnp.array([1.0, 2.0, 3.0]), temperature=0.01), 4))
    1.0
  """
  return _extreme("min", -1.0, a, axis, out, keepdims, initial, where, temperature)


def _arg(name, fn, a, axis, where, temperature):
  req, args = _engine.prepare_map(name, a, axis, temperature, where=where, nan_rows=False)
  return _engine.run_map(req, fn, *args)


def argmax(a: ArrayLike, axis: Axis = -1, *, temperature: ArrayLike = 1.0,
           where: ArrayLike | None = None) -> jax.Array:
  r"""Soft argmax: weights :math:`e^{a_i/\tau} / \sum_j e^{a_j/\tau}` (the softmax).

  Non-negative weights summing to 1 along ``axis``, with ``a``'s shape (a soft
  one-hot mask, not an index; the last axis by default, as
  ``jax.nn.softmax``).  Hard limit: the one-hot of ``jnp.argmax``, uniform
  over tied maxima.  Masked entries get weight 0 and gradient 0.

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> print(jnp.round(softq.argmax(jnp.array([1.0, 3.0, 3.0]), temperature=0), 3))
    [0.  0.5 0.5]
  """
  return _arg("argmax", _ARGMAX, a, axis, where, temperature)


def argmin(a: ArrayLike, axis: Axis = -1, *, temperature: ArrayLike = 1.0,
           where: ArrayLike | None = None) -> jax.Array:
  """Soft argmin ``argmax(-a)``; hard limit the one-hot of ``jnp.argmin``.

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> print(jnp.round(softq.argmin(jnp.array([1.0, 3.0, 0.0]), temperature=0.01), 3))
    [0. 0. 1.]
  """
  return _arg("argmin", _ARGMIN, a, axis, where, temperature)


def _elementwise(name, a, temperature, soft, hard):
  arr = validation.check_array(a, name)
  cdtype = validation.compute_dtype(arr.dtype)
  tau, mode = validation.check_temperature(temperature, name, cdtype)
  x = arr.astype(cdtype)
  try:
    tau = jnp.broadcast_to(tau, jnp.broadcast_shapes(tau.shape, x.shape))
  except ValueError:
    raise ValueError(f"{name}: temperature of shape {tau.shape} does not broadcast "
                     f"against a's shape {x.shape}.") from None
  out = _engine.by_temperature(
      mode, tau, lambda t, is_hard: hard(x) if is_hard else soft(x, t), row_axis=0)
  return out.astype(arr.dtype)


def abs(a: ArrayLike, *, temperature: ArrayLike = 1.0) -> jax.Array:  # pylint: disable=redefined-builtin
  r"""Soft absolute value :math:`\tau \log(e^{a/\tau} + e^{-a/\tau})`, the soft ``max(a, -a)``.

  Computed as :math:`\lvert a\rvert + \tau \mathrm{log1p}(e^{-2\lvert a\rvert/\tau})`
  (no overflow); its derivative is :func:`sign`.
  :math:`\operatorname{abs}(0) = \tau \log 2`.  Hard limit: ``jnp.abs``.

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> print(jnp.round(softq.abs(jnp.array([-2.0, 0.0, 3.0]), temperature=0.01), 4))
    [2.     0.0069 3.    ]
  """
  return _elementwise("abs", a, temperature, numerics.soft_abs, jnp.abs)


def sign(a: ArrayLike, *, temperature: ArrayLike = 1.0) -> jax.Array:
  r"""Soft sign :math:`\tanh(a/\tau)`, in :math:`(-1, 1)`: the derivative of :func:`abs`.

  :math:`\tanh` is chosen over :math:`\frac{2}{\pi}\arctan` because it saturates
  exponentially (soft ranks built from it are within
  :math:`e^{-2\,\mathrm{gap}/\tau}` of the hard ones) and is exactly the
  derivative of the log-sum-exp soft abs.
  Hard limit: ``jnp.sign`` (``sign(0) = 0``).

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> print(jnp.round(softq.sign(jnp.array([-2.0, 0.0, 3.0]), temperature=0.01), 4))
    [-1.  0.  1.]
  """
  return _elementwise("sign", a, temperature, numerics.soft_sign, jnp.sign)
