"""Numerical primitives shared by every kernel.

The rules, written once here so the kernels never have to think about them:

* the temperature is floored at a tiny positive number, so nothing divides by a
  (traced) zero;
* every ratio ``u / tau`` goes through :func:`ratio`, which clips it to a range
  where ``exp`` and ``tanh`` are already saturated, with the "double where"
  pattern so that neither the value nor any gradient sees an overflow;
* soft-min weights subtract the minimum (under ``stop_gradient``) before
  ``exp`` and underflow to exact zeros, so an infinite sample value that is not
  selected contributes exactly nothing.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def tau_floor(dtype) -> float:
  """Smallest temperature the kernels use: 256 x the dtype's ``tiny``.

  Large enough that ``limit / tau`` (a gradient of a clipped ratio) stays
  finite, small enough to be far below any temperature a user means.
  """
  return float(np.finfo(dtype).tiny) * 256.0


def exp_limit(dtype) -> float:
  """``z`` beyond which ``exp(-z)`` is exactly zero in ``dtype``."""
  return float(-np.log(np.finfo(dtype).smallest_subnormal)) + 2.0


def saturation(dtype) -> float:
  """``z`` beyond which ``tanh(z) == 1`` and ``log1p(exp(-2 z)) == 0``."""
  return 24.0 if np.finfo(dtype).bits <= 32 else 48.0


def floor_tau(tau: jax.Array) -> jax.Array:
  return jnp.maximum(tau, jnp.asarray(tau_floor(tau.dtype), tau.dtype))


@jax.custom_jvp
def divide(u: jax.Array, tau: jax.Array) -> jax.Array:
  """``u / tau`` whose derivative never forms ``tau**2``.

  ``lax.div``'s own rule computes ``-u * tau**-2``: for ``tau`` below ~1e-19
  (float32) ``tau**-2`` overflows and ``0 * inf`` gives NaN.  Here the tangent
  is ``(du - z dtau) / tau`` with ``z = u / tau`` (bounded by the callers), so
  every order of derivative stays finite.
  """
  return u / tau


@divide.defjvp
def _divide_jvp(primals, tangents):
  u, tau = primals
  du, dtau = tangents
  z = divide(u, tau)
  # A product with reciprocal() rather than a division: reverse mode
  # transposes it into another product, so forward-over-reverse (a gradient
  # of a gradient, e.g. argremedian's weights w.r.t. the temperature) meets
  # reciprocal's saturated derivative instead of lax.div's tau**-2.
  return z, (du - z * dtau) * reciprocal(tau)


@jax.custom_jvp
def reciprocal(tau: jax.Array) -> jax.Array:
  """``1 / tau`` whose derivative ``-1/tau**2`` saturates at the dtype's max.

  ``1/tau**2`` overflows for ``tau`` below ~1e-19 (float32) and meets exactly
  zero cotangents in second derivatives (0 * inf = NaN); saturating keeps it
  finite.  First derivatives never use it (:func:`divide` forms ``z / tau``).
  """
  return 1.0 / tau


@reciprocal.defjvp
def _reciprocal_jvp(primals, tangents):
  (tau,), (dtau,) = primals, tangents
  r = reciprocal(tau)
  # Saturated at r = sqrt(max) by a select (whose derivative is a select too,
  # so a second derivative never meets inf * 0), not by min(r * r, max).
  cap = jnp.asarray(np.sqrt(np.finfo(r.dtype).max), r.dtype)
  rc = jnp.where(r < cap, r, cap)
  return r, -dtau * (rc * rc)


@jax.custom_jvp
def hoisted_reciprocal(tau: jax.Array) -> jax.Array:
  """``1 / tau`` whose tangent ``-(dtau * r) * r`` reverse mode transposes to
  ``-(ct * r) * r`` (no ``r**2`` formed on its own, which overflows float32
  below ~1e-19).  Part of :func:`hoisted_temperature`.
  """
  return 1.0 / tau


@hoisted_reciprocal.defjvp
def _hoisted_reciprocal_jvp(primals, tangents):
  (tau,), (dtau,) = primals, tangents
  r = hoisted_reciprocal(tau)
  return r, -((dtau * r) * r)


def hoisted_temperature(tau: jax.Array):
  """``(1 / tau, log tau)``: what :func:`ratio` needs, computed outside loops.

  Inside ``lax.scan``/``fori_loop`` bodies JAX's partial evaluation inlines a
  ``custom_jvp`` function whose inputs are all known, dropping its rule.  That
  is the case of :func:`softq.argremedian`, whose weights are a pullback of
  the remedian's scan, differentiated in the temperature: :func:`divide`'s
  rule is lost there and ``lax.div``'s ``tau**-2`` overflows.  A loop body
  given this pair only multiplies (:func:`times_inverse`): its own rule
  (used whenever the rule survives) is ``du / tau - z * dlog(tau)``, bounded
  in every mode; the inlined product ``u * (1/tau)`` differentiates through
  :func:`hoisted_reciprocal`, computed outside the loop, exactly.
  """
  return hoisted_reciprocal(tau), jnp.log(tau)


@jax.custom_jvp
def times_inverse(u: jax.Array, inv: jax.Array, log_tau: jax.Array) -> jax.Array:
  """``u / tau`` given ``(inv, log_tau)`` from :func:`hoisted_temperature`."""
  return u * inv


@times_inverse.defjvp
def _times_inverse_jvp(primals, tangents):
  u, inv, log_tau = primals
  du, _, dlog = tangents   # dinv = -inv * dlog: the rule uses dlog
  z = times_inverse(u, inv, log_tau)
  return z, du * inv - z * dlog


def ratio(u: jax.Array, tau: jax.Array, limit: float, inv_tau=None) -> jax.Array:
  """``clip(u / tau, -limit, limit)`` with finite values and gradients.

  ``tau`` must be positive (floored).  Where ``|u| > limit * tau`` the result is
  the constant ``+-limit`` and ``u`` is replaced by zero *before* the division,
  so no infinite intermediate (nor ``0 * inf`` in reverse mode) ever appears.
  Infinite ``u`` gives ``+-limit``.

  ``inv_tau``: the pair :func:`hoisted_temperature` computed by the caller
  *outside* any ``lax.scan``/``fori_loop`` whose body calls this (see there).
  """
  big = ~(jnp.abs(u) <= limit * tau)  # also True for NaN: handled below
  safe_u = jnp.where(big, jnp.zeros_like(u), u)
  clipped = jnp.where(jnp.isnan(u), u, jnp.sign(u) * limit)
  z = divide(safe_u, tau) if inv_tau is None else times_inverse(safe_u, *inv_tau)
  return jnp.where(big, clipped, z)


def soft_sign(u: jax.Array, tau: jax.Array) -> jax.Array:
  """``tanh(u / tau)``: the derivative of :func:`soft_abs`."""
  return jnp.tanh(ratio(u, tau, saturation(u.dtype)))


def abs_excess(z: jax.Array) -> jax.Array:
  """``log1p(exp(-2 z))`` for ``z >= 0``: ``soft_abs(u) = |u| + tau * abs_excess(|u|/tau)``."""
  return jnp.log1p(jnp.exp(-2.0 * z))


_abs_excess = abs_excess


@jax.custom_jvp
def soft_abs(u: jax.Array, tau: jax.Array) -> jax.Array:
  """``tau * log(exp(u/tau) + exp(-u/tau))`` written without overflow.

  Equal to ``|u| + tau * log1p(exp(-2|u|/tau))``; its derivative in ``u`` is
  ``tanh(u/tau)`` (smooth at ``u = 0``, including higher derivatives).
  """
  z = ratio(jnp.abs(u), tau, saturation(u.dtype))
  return jnp.abs(u) + tau * _abs_excess(z)


@soft_abs.defjvp
def _soft_abs_jvp(primals, tangents):
  u, tau = primals
  du, dtau = tangents
  out = soft_abs(u, tau)
  z = ratio(jnp.abs(u), tau, saturation(u.dtype))
  # d/dtau: (f - u tanh(u/tau)) / tau = z (1 - tanh z) + log1p(exp(-2z)).
  dfdtau = z * (2.0 * jax.nn.sigmoid(-2.0 * z)) + _abs_excess(z)
  return out, soft_sign(u, tau) * du + dfdtau * dtau


def abs_difference(a: jax.Array, b: jax.Array, d: jax.Array) -> jax.Array:
  """``|a| - |b|`` where ``d = a - b`` is known more precisely than ``a - b``.

  Where ``a`` and ``b`` share a sign the result is ``+-d`` exactly; only
  pairs straddling zero are formed from ``|a|`` and ``|b|``.  Summed over a
  sample this keeps total-deviation *differences* accurate to ``eps * n * |d|``
  instead of ``eps * n * range``.
  """
  # Strict signs: at a == 0 or b == 0 the kink of |.| must be differentiated as
  # jnp.abs does (sign(0) = 0) for every pair alike, or the constant-in-i terms
  # |b_j| stop cancelling in the softmin and the gradient is wrong.
  both_pos = (a > 0) & (b > 0)
  both_neg = (a < 0) & (b < 0)
  straddle = ~(both_pos | both_neg)
  safe_a = jnp.where(straddle, a, jnp.zeros_like(a))
  safe_b = jnp.where(straddle, b, jnp.zeros_like(b))
  return jnp.where(both_pos, d, jnp.where(both_neg, -d, jnp.abs(safe_a) - jnp.abs(safe_b)))


def soft_abs_difference(a, b, d, tau):
  """``soft_abs(a) - soft_abs(b)`` computed as in :func:`abs_difference`."""
  lim = saturation(a.dtype)
  za = ratio(jnp.abs(a), tau, lim)
  zb = ratio(jnp.abs(b), tau, lim)
  return abs_difference(a, b, d) + tau * (_abs_excess(za) - _abs_excess(zb))


def softmin_weights(cost: jax.Array, tau: jax.Array, valid=None, axis: int = -1,
                    inv_tau=None, prior=None) -> jax.Array:
  """``prior * exp(-cost/tau)`` normalised over ``axis`` (over ``valid`` entries only).

  Stable for every ``tau`` and any cost magnitude: the minimum is subtracted
  first (under ``stop_gradient``: the weights do not depend on it), ratios are
  clipped where ``exp`` already underflows to an exact 0, and masked entries
  get exactly zero weight with zero gradient.  ``+inf`` costs get weight 0.

  ``prior``: optional non-negative weights (a sample value repeated ``w``
  times has ``w`` times the weight of one copy); entries with ``prior == 0``
  take no part, like masked ones.
  """
  return softmin_weights_and_exponent(cost, tau, valid, axis, inv_tau, prior)[0]


def _reduce_along(axis):
  """``reduce(a, op)``: the ``op`` reduction of ``a`` over ``axis``, kept (size 1)."""
  by_op = {jnp.minimum: jnp.min, jnp.add: jnp.sum, jnp.logical_or: jnp.any}
  return lambda a, op: by_op[op](a, axis=axis, keepdims=True)


def softmin_weights_and_exponent(cost, tau, valid=None, axis: int = -1, inv_tau=None,
                                 prior=None, *, reduce=None):
  """:func:`softmin_weights` and its (clipped) exponent ``(cost - shift) / tau``.

  ``reduce``: optional ``reduce(a, op)`` giving the ``op`` reduction
  (``jnp.minimum``, ``jnp.add`` or ``jnp.logical_or``) of ``a`` over
  ``axis``, broadcastable against ``cost``: a caller whose reductions run
  better another way (the batched short-row kernel reduces the rows of a
  ``(b, T)`` array as a loop) passes its own.
  """
  reduce = _reduce_along(axis) if reduce is None else reduce
  if prior is not None:
    present = prior > 0
    valid = present if valid is None else valid & present
  if valid is not None:
    cost = jnp.where(valid, cost, jnp.inf)
  # -inf costs (e.g. a +inf sample value scored by a soft max) take all the
  # weight, shared equally (by prior), as in the hard limit.
  neg = jnp.isneginf(cost)
  any_neg = reduce(neg, jnp.logical_or)
  cost = jnp.where(any_neg, jnp.where(neg, jnp.zeros_like(cost), jnp.inf), cost)
  finite = jnp.isfinite(cost)
  if prior is None:
    key = cost
  else:
    # The shift is the minimum of cost - tau log(prior) so that the largest
    # prior * exp(-z) is exactly 1: nothing overflows, something stays > 0.
    safe_prior = jnp.where(present, prior, jnp.ones_like(prior))
    key = cost - tau * jnp.log(safe_prior)
  cmin = jax.lax.stop_gradient(
      reduce(jnp.where(finite | jnp.isnan(key), key, jnp.inf), jnp.minimum))
  cmin = jnp.where(jnp.isfinite(cmin), cmin, jnp.zeros_like(cmin))
  shifted = jnp.where(jnp.isposinf(cost), jnp.inf, cost - cmin)
  z = ratio(shifted, tau, exp_limit(cost.dtype), inv_tau)
  e = jnp.exp(-z)
  if prior is not None:
    e = e * jnp.where(present, prior, jnp.zeros_like(prior))
  if valid is not None:
    e = jnp.where(valid, e, jnp.zeros_like(e))
  total = reduce(e, jnp.add)
  return e / jnp.where(total > 0, total, jnp.ones_like(total)), z


def softmax_weights(score: jax.Array, tau: jax.Array, valid=None, axis: int = -1) -> jax.Array:
  return softmin_weights(-score, tau, valid, axis)


def soft_logsumexp(a: jax.Array, tau: jax.Array, valid=None, axis: int = -1,
                   keepdims: bool = False) -> jax.Array:
  """``tau * log(sum(exp(a / tau)))``, stable for every ``tau`` and ``+-inf``."""
  neg = jnp.asarray(-jnp.inf, a.dtype)
  if valid is not None:
    a = jnp.where(valid, a, neg)
  m = jax.lax.stop_gradient(jnp.max(a, axis=axis, keepdims=True))
  # A +inf entry makes the result +inf: compute the rest on zeros so that
  # exp(limit) never overflows into the (discarded) branch's gradient.
  a = jnp.where(jnp.isposinf(m), jnp.zeros_like(a), a)
  m_finite = jnp.where(jnp.isfinite(m), m, jnp.zeros_like(m))
  shifted = jnp.where(jnp.isneginf(a), -jnp.inf, a - m_finite)
  z = ratio(shifted, tau, exp_limit(a.dtype))
  e = jnp.exp(z)
  e = jnp.where(jnp.isneginf(a), jnp.zeros_like(e), e)
  s = jnp.sum(e, axis=axis, keepdims=True)
  safe_s = jnp.where(s > 0, s, jnp.ones_like(s))
  out = m_finite + tau * jnp.log(safe_s)
  # All -inf (or empty mask): -inf.  A +inf entry: +inf.  NaN propagates.
  out = jnp.where(s > 0, out, neg)
  out = jnp.where(jnp.isposinf(m), m, out)
  out = jnp.where(jnp.isnan(m), m, out)
  if not keepdims:
    out = jnp.squeeze(out, axis=axis)
  return out


def weighted_sum(weights: jax.Array, x: jax.Array, axis: int = -1) -> jax.Array:
  """``sum(weights * x)`` where a zero weight on an infinite value counts 0.

  Infinite values pass no gradient to their weight: ``d/dw_i = x_i = +-inf``
  times a zero cotangent is NaN, and the engine mixes weight rows (``einsum``
  with coefficient 0), so one infinite order statistic (the ends of a soft
  sort of ``[-inf, 1, inf]``) would poison every other one.  Their own
  gradient ``d/dx_i = w_i`` is kept.
  """
  finite = jnp.isfinite(x)
  safe_x = jnp.where(finite, x, jnp.zeros_like(x))
  inf_x = jnp.where(finite | (weights == 0), jnp.zeros_like(x), x)
  return (jnp.sum(weights * safe_x, axis=axis)
          + jnp.sum(jax.lax.stop_gradient(weights) * inf_x, axis=axis))


# --------------------------------------------------------------------------
# sorting: one home for every sort of softq's kernels
# --------------------------------------------------------------------------

def _order_keys(x):
  """Integer keys in the order of the float values ``x`` (NaN last, ``-0.0 == 0.0``).

  The IEEE bit pattern with the magnitude bits flipped on negative numbers is
  an integer in the same order as the value.  Signed zeros are made one key
  and every NaN the positive quiet NaN, so ties and NaNs sort as in
  ``jnp.sort``/``jnp.argsort``.  Nothing is differentiated through the keys.
  """
  x = jax.lax.stop_gradient(x)
  itype = {2: jnp.int16, 4: jnp.int32, 8: jnp.int64}[jnp.dtype(x.dtype).itemsize]
  x = jnp.where(x == 0, jnp.zeros_like(x), x)
  x = jnp.where(jnp.isnan(x), jnp.full_like(x, jnp.nan), x)
  bits = jax.lax.bitcast_convert_type(x, itype)
  flip = jnp.asarray(np.iinfo(itype).max, itype)
  return jnp.where(bits < 0, bits ^ flip, bits), itype, flip


def argsort(x, axis: int = -1):
  """``jnp.argsort(x, axis, stable=True)`` for floats, sorted as integer keys.

  The same permutation (ties and NaNs included).  XLA:CPU sorts integer keys
  about 2x faster than floats, whose comparator carries the total order's
  NaN handling (measured: (64, 4096) 39 -> 24 ms, n = 10^6 387 -> 181 ms,
  jax 0.12).
  """
  if not jnp.issubdtype(x.dtype, jnp.floating):
    return jnp.argsort(x, axis=axis)
  axis = axis % x.ndim
  keys, _, _ = _order_keys(x)
  iota = jax.lax.broadcasted_iota(jnp.int32, x.shape, axis)
  return jax.lax.sort((keys, iota), dimension=axis, is_stable=True, num_keys=1)[1]


def sort(x, axis: int = -1, descending: bool = False):
  """``jnp.sort(x, axis)`` for floats, sorted as integer keys; values bit for bit.

  Not differentiable (for hard references and brackets): a signed zero comes
  back as ``+0.0`` and every NaN as the positive quiet NaN.
  """
  if not jnp.issubdtype(x.dtype, jnp.floating):
    out = jnp.sort(x, axis=axis)
    return jnp.flip(out, axis) if descending else out
  axis = axis % x.ndim
  keys, _, flip = _order_keys(x)
  keys = jax.lax.sort(keys, dimension=axis)
  if descending:
    keys = jnp.flip(keys, axis)
  bits = jnp.where(keys < 0, keys ^ flip, keys)
  return jax.lax.bitcast_convert_type(bits, x.dtype)
