"""The order-statistic engine shared by every public reduction.

``order_stat_weights`` turns one sample into convex weights for a set of order
statistics with any kernel; ``quantile_plan`` turns ``q`` and ``method`` into
order statistics and interpolation coefficients exactly as ``jnp.quantile``
does; ``reduce`` runs both over the rows built by :mod:`softq._axes`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from softq import _axes
from softq import _checks
from softq import _numerics
from softq._kernels import KERNELS


# --------------------------------------------------------------------------
# q and method -> order statistics
# --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Plan:
  """``value[q] = sum_u coef[q, u] * x_(ks[u])`` (0-based order statistics)."""
  ks: Any      # (U,) ints: numpy when static, else a jax array
  coef: Any    # (Q, U)

  @property
  def static(self) -> bool:
    return isinstance(self.ks, np.ndarray)


def _q_dtype(q):
  dt = jnp.asarray(q).dtype
  return dt if jnp.issubdtype(dt, jnp.floating) else jnp.result_type(float)


def quantile_plan(q, m, method: str) -> Plan:
  """Order statistics and weights reproducing ``jnp.quantile(method=...)``.

  ``q`` has shape ``(Q,)``; ``m`` is the number of values (a Python int, or a
  traced count under a mask).  Arithmetic follows ``jnp.quantile`` step by step
  in ``q``'s dtype so that positions round the same way (``"nearest"`` rounds
  half down, as ``jnp`` does); ``"averaged_inverted_cdf"`` (not in ``jnp``)
  follows NumPy, in float64 when ``q`` is concrete.
  """
  static = _checks.is_concrete(q) and isinstance(m, (int, np.integer))
  xp = np if static else jnp
  qd = _q_dtype(q)
  if static:
    qa = np.asarray(q, dtype=qd) if method != "averaged_inverted_cdf" else np.asarray(q, np.float64)
  else:
    qa = jnp.asarray(q).astype(qd)
  ft = qa.dtype.type if static else (lambda v: jnp.asarray(v, qa.dtype))
  mf = ft(m) if static else jnp.asarray(m, qa.dtype)
  last = mf - ft(1)

  if method in ("linear", "lower", "higher", "nearest", "midpoint"):
    h = qa * last
    lo = xp.clip(xp.floor(h), 0, last)
    hi = xp.clip(xp.ceil(h), 0, last)
    frac = h - xp.floor(h)
    if method == "linear":
      g = h - xp.floor(h)
    elif method == "lower":
      hi, g = lo, xp.zeros_like(h)
    elif method == "higher":
      lo, g = hi, xp.zeros_like(h)
    elif method == "nearest":
      k = xp.where(frac <= 0.5, lo, hi)
      lo, hi, g = k, k, xp.zeros_like(h)
    else:  # midpoint
      g = xp.full_like(h, 0.5)
  elif method == "inverted_cdf":
    t = qa * mf
    k = xp.clip(xp.ceil(t) - 1, 0, last)
    lo, hi, g = k, k, xp.zeros_like(t)
  elif method == "averaged_inverted_cdf":
    h = qa * mf - 1
    prev = xp.floor(h)
    gamma = h - prev
    g = xp.where(gamma == 0, 0.5, 1.0).astype(h.dtype)
    lo = xp.clip(prev, 0, last)
    hi = xp.clip(prev + 1, 0, last)
  else:  # pragma: no cover - validated earlier
    raise ValueError(method)

  if static:
    lo = lo.astype(np.int64)
    hi = hi.astype(np.int64)
    g = np.asarray(g, np.float64)
    ks = np.unique(np.concatenate([lo, hi]))
    index = {int(k): i for i, k in enumerate(ks)}
    coef = np.zeros((lo.shape[0], ks.shape[0]))
    for row, (a, b, w) in enumerate(zip(lo, hi, g)):
      coef[row, index[int(a)]] += 1.0 - w
      coef[row, index[int(b)]] += w
    return Plan(ks, coef)
  lo = lo.astype(jnp.int32)
  hi = hi.astype(jnp.int32)
  g = jnp.asarray(g)
  ks = jnp.concatenate([lo, hi])
  eye = jnp.eye(lo.shape[0], dtype=g.dtype)
  coef = jnp.concatenate([eye * (1 - g)[:, None], eye * g[:, None]], axis=1)
  return Plan(ks, coef)


# --------------------------------------------------------------------------
# one sample -> weights
# --------------------------------------------------------------------------

def hard_weights(x, valid, r):
  """One-hot of the values equal to ``r`` (uniform over ties)."""
  eq = x[None, :] == r[:, None]
  if valid is not None:
    eq = eq & valid[None, :]
  eq = eq.astype(x.dtype)
  count = jnp.sum(eq, axis=1, keepdims=True)
  return eq / jnp.where(count > 0, count, jnp.ones_like(count))


def order_stat_weights(x, valid, ks, algorithm: str | None, tau):
  """Weights ``(U, n)`` of the order statistics ``ks`` of one sample.

  ``x`` must be NaN-free (masked entries may hold anything finite); ``valid``
  is a boolean mask or None.  ``algorithm=None`` gives the hard one-hot
  weights.  Order statistics whose hard value is infinite take the hard
  weights (the soft kernels are written for finite reference values).
  """
  n = x.shape[0]
  m = n if valid is None else jnp.sum(valid.astype(jnp.int32))
  key = x if valid is None else jnp.where(valid, x, jnp.inf)
  srt = jnp.sort(jax.lax.stop_gradient(key))
  ks_c = ks if isinstance(ks, np.ndarray) else jnp.clip(ks, 0, jnp.maximum(m - 1, 0))
  r = srt[ks_c]
  w_hard = hard_weights(x, valid, r)
  if algorithm is None:
    return w_hard
  r_bad = ~jnp.isfinite(r)
  r_safe = jnp.where(r_bad, jnp.zeros_like(r), r)
  kernel = KERNELS[algorithm]
  state = kernel.prepare(x, valid, m, tau)
  if isinstance(ks, np.ndarray):
    w_soft = jnp.stack([
        kernel.select(state, x, valid, m, int(k), r_safe[u], tau)
        for u, k in enumerate(ks)])
  else:
    w_soft = jax.vmap(lambda k, rr: kernel.select(state, x, valid, m, k, rr, tau))(ks_c, r_safe)
  return jnp.where(r_bad[:, None], w_hard, w_soft)


# --------------------------------------------------------------------------
# rows
# --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Rows:
  """A batch of samples ready for the kernels."""
  x: jax.Array              # (B, n), compute dtype, NaN replaced by 0
  valid: jax.Array | None   # (B, n) bool, or None when every entry counts
  nan_rows: jax.Array | None  # (B,) bool: rows whose result must be NaN


def make_rows(a, lay, where, nan_ignore: bool, name: str, cdtype) -> Rows:
  x = _axes.to_rows(a, lay).astype(cdtype)
  valid = None
  if where is not None:
    w = jnp.broadcast_to(jnp.asarray(where, bool), lay.shape)
    valid = _axes.to_rows(w, lay)
  isnan = jnp.isnan(x)
  nan_rows = None
  if nan_ignore:
    valid = ~isnan if valid is None else valid & ~isnan
  else:
    # Rows holding a NaN are computed on finite stand-ins (so the gradients
    # of the other entries stay finite) and overwritten with NaN at the end.
    bad = isnan if valid is None else isnan & valid
    nan_rows = jnp.any(bad, axis=1)
    if valid is not None:
      valid = valid & ~isnan
  x = jnp.where(isnan, jnp.zeros_like(x), x)
  return Rows(x, valid, nan_rows)


def row_counts(rows: Rows):
  if rows.valid is None:
    return rows.x.shape[1]
  return jnp.sum(rows.valid.astype(jnp.int32), axis=1)


def run_rows(rows: Rows, q, method: str, algorithm: str | None, tau,
             ks_override=None):
  """Weights ``(Q, B, n)`` for the rows; ``tau`` is a scalar, ``(B,)`` or ``(Q, B)``."""
  n = rows.x.shape[1]
  if rows.valid is None:
    plan = quantile_plan(q, n, method) if ks_override is None else ks_override
    return _run_plan(rows, plan, algorithm, tau)

  def one(x, valid, tau_row, q_row):
    m = jnp.sum(valid.astype(jnp.int32))
    plan = quantile_plan(q_row, m, method)
    w = order_stat_weights(x, valid, plan.ks, algorithm, tau_row)
    return jnp.einsum("qu,un->qn", plan.coef.astype(w.dtype), w)

  return _vmap_rows(one, rows, tau, q)


def _run_plan(rows: Rows, plan: Plan, algorithm, tau):
  coef = plan.coef

  def one(x, valid, tau_row, q_row):
    del q_row
    w = order_stat_weights(x, valid, plan.ks, algorithm, tau_row)
    return jnp.einsum("qu,un->qn", jnp.asarray(coef, w.dtype), w)

  if jnp.ndim(tau) == 2:
    # One temperature per (q, row): run each q level on its own.
    def per_q(tau_q, coef_q):
      def one_q(x, valid, tau_row):
        w = order_stat_weights(x, valid, plan.ks, algorithm, tau_row)
        return jnp.einsum("u,un->n", coef_q.astype(w.dtype), w)
      return jax.vmap(one_q, in_axes=(0, 0 if rows.valid is not None else None, 0))(
          rows.x, rows.valid, tau_q)
    return jax.vmap(per_q)(tau, jnp.asarray(coef))
  return _vmap_rows(one, rows, tau, None)


def _vmap_rows(one: Callable, rows: Rows, tau, q):
  v_axis = 0 if rows.valid is not None else None
  if jnp.ndim(tau) == 2:
    def per_q(tau_q, q_one):
      return jax.vmap(one, in_axes=(0, v_axis, 0, None))(
          rows.x, rows.valid, tau_q, q_one[None])[:, 0]
    return jax.vmap(per_q)(tau, jnp.asarray(q))
  t_axis = 0 if jnp.ndim(tau) == 1 else None
  out = jax.vmap(one, in_axes=(0, v_axis, t_axis, None))(rows.x, rows.valid, tau, q)
  return jnp.swapaxes(out, 0, 1)  # (Q, B, n)


def values_from_weights(w, x):
  return _numerics.weighted_sum(w, x[None], axis=-1)
