"""The soft max family: max, min, argmax, argmin, abs, sign.

Building blocks of every soft order statistic, each with a keyword-only
``temperature`` that recovers the ``jax.numpy`` function at 0.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from softq import _axes
from softq import _checks
from softq import _numerics


def _reduce_setup(name, a, axis, temperature, where, keepdims=False):
  a = _checks.check_array(a, name)
  lay = _axes.layout(a.shape, axis, name)
  cdtype = _checks.compute_dtype(a.dtype)
  tau, mode = _checks.check_temperature(temperature, name, cdtype)
  x = _axes.to_rows(a, lay).astype(cdtype)
  valid = None
  if where is not None:
    valid = _axes.to_rows(jnp.broadcast_to(jnp.asarray(where, bool), a.shape), lay)
  tau_rows = _axes.per_row(tau, lay, (), name)
  if jnp.ndim(tau_rows) == 1:
    tau_rows = tau_rows[:, None]
  return a, lay, x, valid, tau_rows, mode


def max(a: ArrayLike, axis: int | tuple[int, ...] | None = -1, *,  # pylint: disable=redefined-builtin
        temperature: ArrayLike = 1.0, keepdims: bool = False,
        where: ArrayLike | None = None) -> jax.Array:
  r"""Soft maximum ``tau * log(sum_i exp(a_i / tau))`` (log-sum-exp).

  This is the log-sum-exp *value*, not the argmax-weighted mean
  ``sum_i argmax(a)_i a_i`` (both are standard soft maxima; this one is an
  upper bound of ``jnp.max``, within ``tau * log(n)`` of it).  Stable for every
  temperature: the maximum is subtracted before ``exp``.  Masked entries
  (``where=False``) take no part; an empty selection gives ``-inf``.

  Hard limit: ``jnp.max``.  Gradient: :func:`argmax`.

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> print(jnp.round(softq.max(jnp.array([1.0, 2.0, 3.0]), temperature=1.0), 4))
    3.4076
    >>> print(softq.max(jnp.array([1.0, 2.0, 3.0]), temperature=0))
    3.0
  """
  a, lay, x, valid, tau, mode = _reduce_setup("max", a, axis, temperature, where)
  if mode == "zero":
    if where is None:
      return jnp.max(a, axis=lay.axes, keepdims=keepdims)
    return jnp.max(a, axis=lay.axes, keepdims=keepdims, where=where, initial=-jnp.inf)
  out = _numerics.soft_logsumexp(x, _numerics.floor_tau(tau), valid, axis=-1)
  if mode == "mixed":
    hard = jnp.max(jnp.where(valid, x, -jnp.inf) if valid is not None else x, axis=-1)
    out = jnp.where(jnp.broadcast_to(tau[..., 0] == 0, out.shape), hard, out)
  return _axes.from_rows_reduced(out, lay, keepdims).astype(a.dtype)


def min(a: ArrayLike, axis: int | tuple[int, ...] | None = -1, *,  # pylint: disable=redefined-builtin
        temperature: ArrayLike = 1.0, keepdims: bool = False,
        where: ArrayLike | None = None) -> jax.Array:
  r"""Soft minimum ``-max(-a)`` = ``-tau * log(sum_i exp(-a_i / tau))``.

  A lower bound of ``jnp.min``, within ``tau * log(n)``.  Hard limit: ``jnp.min``.

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> print(jnp.round(softq.min(jnp.array([1.0, 2.0, 3.0]), temperature=0.01), 4))
    1.0
  """
  a = _checks.check_array(a, "min")
  _, mode = _checks.check_temperature(temperature, "min", _checks.compute_dtype(a.dtype))
  if mode == "zero":
    lay = _axes.layout(a.shape, axis, "min")
    if where is None:
      return jnp.min(a, axis=lay.axes, keepdims=keepdims)
    return jnp.min(a, axis=lay.axes, keepdims=keepdims, where=where, initial=jnp.inf)
  return -max(-a, axis, temperature=temperature, keepdims=keepdims, where=where)


def argmax(a: ArrayLike, axis: int | tuple[int, ...] | None = -1, *,
           temperature: ArrayLike = 1.0, where: ArrayLike | None = None) -> jax.Array:
  r"""Soft argmax: weights ``exp(a_i/tau) / sum_j exp(a_j/tau)`` (the softmax).

  Non-negative weights summing to 1 along ``axis``, with ``a``'s shape (a soft
  one-hot mask, not an index).  Hard limit: the one-hot of ``jnp.argmax``,
  uniform over tied maxima.  Masked entries get weight 0 and gradient 0.

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> print(jnp.round(softq.argmax(jnp.array([1.0, 3.0, 3.0]), temperature=0), 3))
    [0.  0.5 0.5]
  """
  a, lay, x, valid, tau, mode = _reduce_setup("argmax", a, axis, temperature, where)
  hard = _hard_argmax(x, valid) if mode != "soft" else None
  if mode == "zero":
    w = hard
  else:
    w = _numerics.softmax_weights(x, _numerics.floor_tau(tau), valid, axis=-1)
    if mode == "mixed":
      w = jnp.where(jnp.broadcast_to(tau == 0, w.shape[:1] + (1,)), hard, w)
  return _axes.from_rows_full(w, lay).astype(a.dtype)


def _hard_argmax(x, valid):
  masked = x if valid is None else jnp.where(valid, x, -jnp.inf)
  top = jnp.max(masked, axis=-1, keepdims=True)
  eq = (masked == top)
  if valid is not None:
    eq = eq & valid
  eq = eq.astype(x.dtype)
  return eq / jnp.maximum(jnp.sum(eq, axis=-1, keepdims=True), 1)


def argmin(a: ArrayLike, axis: int | tuple[int, ...] | None = -1, *,
           temperature: ArrayLike = 1.0, where: ArrayLike | None = None) -> jax.Array:
  """Soft argmin ``argmax(-a)``; hard limit the one-hot of ``jnp.argmin``.

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> print(jnp.round(softq.argmin(jnp.array([1.0, 3.0, 0.0]), temperature=0.01), 3))
    [0. 0. 1.]
  """
  a = _checks.check_array(a, "argmin")
  return argmax(-a, axis, temperature=temperature, where=where)


def abs(a: ArrayLike, *, temperature: ArrayLike = 1.0) -> jax.Array:  # pylint: disable=redefined-builtin
  r"""Soft absolute value ``tau * log(exp(a/tau) + exp(-a/tau))`` = soft ``max(a, -a)``.

  Computed as ``|a| + tau * log1p(exp(-2|a|/tau))`` (no overflow); its
  derivative is :func:`sign`.  ``abs(0) = tau * log 2``.  Hard limit: ``jnp.abs``.

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> print(jnp.round(softq.abs(jnp.array([-2.0, 0.0, 3.0]), temperature=0.01), 4))
    [2.     0.0069 3.    ]
  """
  a = _checks.check_array(a, "abs")
  cdtype = _checks.compute_dtype(a.dtype)
  tau, mode = _checks.check_temperature(temperature, "abs", cdtype)
  if mode == "zero":
    return jnp.abs(a)
  x = a.astype(cdtype)
  out = _numerics.soft_abs(x, _numerics.floor_tau(jnp.broadcast_to(tau, jnp.broadcast_shapes(tau.shape, x.shape))))
  if mode == "mixed":
    out = jnp.where(tau == 0, jnp.abs(x), out)
  return out.astype(a.dtype)


def sign(a: ArrayLike, *, temperature: ArrayLike = 1.0) -> jax.Array:
  r"""Soft sign ``tanh(a / tau)``, in ``(-1, 1)``: the derivative of :func:`abs`.

  ``tanh`` is chosen over ``2/pi * arctan`` because it saturates
  exponentially (soft ranks built from it are within ``e^{-2 gap/tau}`` of the
  hard ones) and is exactly the derivative of the log-sum-exp soft abs.
  Hard limit: ``jnp.sign`` (``sign(0) = 0``).

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> print(jnp.round(softq.sign(jnp.array([-2.0, 0.0, 3.0]), temperature=0.01), 4))
    [-1.  0.  1.]
  """
  a = _checks.check_array(a, "sign")
  cdtype = _checks.compute_dtype(a.dtype)
  tau, mode = _checks.check_temperature(temperature, "sign", cdtype)
  if mode == "zero":
    return jnp.sign(a)
  x = a.astype(cdtype)
  out = _numerics.soft_sign(x, _numerics.floor_tau(tau))
  if mode == "mixed":
    out = jnp.where(tau == 0, jnp.sign(x), out)
  return out.astype(a.dtype)
