"""From ``q`` and ``method`` to order statistics, exactly as ``jnp.quantile``.

Every ``jnp.quantile`` method is a fixed combination of at most two order
statistics: ``value[q] = sum_u coef[q, u] * x_(ks[u])`` (0-based).  A plan is
built either on the host (NumPy, when ``q`` and the sample size are known:
the positions are then deduplicated, and the arrays reach the compiled
program as data, so a new ``q`` never compiles a new program) or in the
traced program (``q`` traced, or a size that depends on a mask, NaNs or
weights).  Both follow ``jnp.quantile`` step by step in ``q``'s dtype, so
positions round the same way (``"nearest"`` rounds half down, as ``jnp``).

Weighted samples: ``total`` is the sum of the weights ``W`` (a real number).
Every order statistic has an *anchor*, a cumulative-weight position ``p``:
``k + 1/2`` for the order statistic ``k``, and ``q W`` for the level ``q`` of
``"inverted_cdf"`` (:attr:`Plan.levels`).  Its hard value is the first sorted
value whose cumulative weight ``C_i`` reaches ``p`` (``C_i >= p``, as
``jnp.quantile(..., weights=w, method="inverted_cdf")`` does); with integer
weights this is the ``k``-th value of the sample in which every value is
repeated ``weight`` times.  The soft kernels aim at :func:`soft_position`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Plan(NamedTuple):
  """``value[q] = sum_u coef[q, u] * x_(ks[u])``.

  ``levels`` (weighted samples, ``"inverted_cdf"`` only): the level ``q`` of
  every order statistic, whose anchor is ``q W`` (else None: ``ks + 1/2``).
  """
  ks: Any      # (U,) order-statistic positions (integer-valued)
  coef: Any    # (Q, U)
  levels: Any = None   # (U,) or None


def q_dtype(q) -> np.dtype:
  """The dtype ``jnp.quantile`` does its level arithmetic in."""
  dt = jnp.asarray(q).dtype
  return dt if jnp.issubdtype(dt, jnp.floating) else jax.dtypes.canonicalize_dtype(np.float64)


def _positions(xp, qa, mf, method):
  """(lo, hi, g) of every level, in ``qa``'s dtype (``xp`` is np or jnp)."""
  one = qa.dtype.type(1) if xp is np else jnp.asarray(1, qa.dtype)
  last = xp.maximum(mf - one, 0 * one)
  if method in ("linear", "lower", "higher", "nearest", "midpoint"):
    h = qa * last
    lo = xp.clip(xp.floor(h), 0, last)
    hi = xp.clip(xp.ceil(h), 0, last)
    frac = h - xp.floor(h)
    zero = xp.zeros_like(h)
    if method == "linear":
      g = frac
    elif method == "lower":
      hi, g = lo, zero
    elif method == "higher":
      lo, g = hi, zero
    elif method == "nearest":
      lo = hi = xp.where(frac <= 0.5, lo, hi)
      g = zero
    else:  # midpoint
      g = xp.full_like(h, 0.5)
  elif method == "inverted_cdf":
    k = xp.clip(xp.ceil(qa * mf) - one, 0, last)
    lo, hi, g = k, k, xp.zeros_like(k)
  elif method == "averaged_inverted_cdf":
    h = qa * mf - one
    prev = xp.floor(h)
    g = xp.where(h - prev == 0, 0.5, 1.0).astype(h.dtype)
    lo = xp.clip(prev, 0, last)
    hi = xp.clip(prev + one, 0, last)
  else:  # pragma: no cover - validated earlier
    raise ValueError(method)
  return lo, hi, g


def host_positions(q, n: int, method: str):
  """``(lo, hi, g)`` for concrete ``q`` and ``n`` values, as NumPy arrays.

  Used for ``averaged_inverted_cdf`` (not in ``jnp``), which follows NumPy in
  float64: a float32 ``q = 0.1`` would move ``q * n`` off an integer.  The
  arrays reach the compiled program as data (a new ``q`` compiles nothing).
  """
  qa = np.asarray(q, dtype=np.float64).reshape(-1)
  lo, hi, g = _positions(np, qa, np.float64(n), method)
  return lo.astype(np.int32), hi.astype(np.int32), g


def from_positions(lo, hi, g) -> Plan:
  """A plan of ``2 Q`` positions from per-level ``(lo, hi, g)``."""
  g = jnp.asarray(g)
  eye = jnp.eye(g.shape[0], dtype=g.dtype)
  coef = jnp.concatenate([eye * (1 - g)[:, None], eye * g[:, None]], axis=1)
  return Plan(jnp.concatenate([jnp.asarray(lo), jnp.asarray(hi)]), coef)


def traced_plan(q, total, method: str) -> Plan:
  """The plan of levels ``q`` (``(Q,)``, traced) for ``total`` values or weight."""
  qa = jnp.asarray(q)
  qa = qa.astype(q_dtype(qa)).reshape(-1)
  mf = jnp.asarray(total).astype(qa.dtype)
  plan = from_positions(*_positions(jnp, qa, mf, method))
  if method != "inverted_cdf" or isinstance(total, (int, np.integer)):
    return plan
  return plan._replace(levels=jnp.concatenate([qa, qa]))


def cell_centre(anchor):
  """``max(ceil(p), 1) - 1/2``: the centre of the unit cell ``(c - 1, c]`` holding ``p``.

  The position the repeated sample's ``"inverted_cdf"`` aims at for an
  anchor ``p = q W`` (its order statistic ``ceil(q W) - 1``, at least 0).
  """
  return jnp.maximum(jnp.ceil(anchor), 1) - 0.5


def soft_position(centre, below, upto):
  """The position ``k`` a soft kernel aims at (its cost minimum: ``k + 1/2``).

  ``centre`` is where the repeated sample aims (``k + 1/2`` for the order
  statistic ``k``; :func:`cell_centre` of ``q W`` for ``"inverted_cdf"``);
  ``below``/``upto`` the cumulative weight strictly below / up to the hard
  value (``C_{i-1}``, ``C_i``).  The kernels' soft-min picks, as ``tau -> 0``,
  the value whose interval ``[C_{i-1}, C_i]`` holds ``k + 1/2``, so move the
  centre, if need be, to at least ``m = min(1/2, w_i / 2)`` inside the hard
  value's interval (``w_i = C_i - C_{i-1}``):

      k + 1/2 = clip(centre, C_{i-1} + m, C_i - m).

  With integer weights the centre is already that far inside, so ``k`` is the
  repeated sample's own (``ceil(p) - 1``), exactly, with no dependence on the
  weights.  With real weights the target is at least ``m`` inside the hard
  value's interval, so the soft value tends to the hard one, at every ``q``,
  exact cumulative-weight ties included, and uniformly (the soft-min's
  margin is about ``2 m x gap / tau``).  Differentiable in ``below``/``upto``
  where the clip acts.
  """
  c = jnp.asarray(centre)
  dt = jnp.result_type(c, below, upto)
  c, below, upto = (jnp.asarray(v, dt) for v in (c, below, upto))
  m = jnp.minimum(0.5, 0.5 * (upto - below))
  lo, hi = below + m, upto - m
  # where(), not clip(): a bound equal to the centre (integer weights) passes
  # no gradient to the weights.
  return jnp.where(c < lo, lo, jnp.where(c > hi, hi, c)) - 0.5


def median_plan(n: int) -> Plan:
  """The plan of ``jnp.median`` for ``n`` values (one level)."""
  lo, hi = (n - 1) // 2, n // 2
  if lo == hi:
    return Plan(np.array([lo], np.int32), np.ones((1, 1)))
  return Plan(np.array([lo, hi], np.int32), np.full((1, 2), 0.5))


def all_plan(n: int) -> Plan:
  """Every order statistic, in order (a sort)."""
  return Plan(np.arange(n, dtype=np.int32), np.eye(n))
