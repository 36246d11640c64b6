r"""Soft top-k membership mask: ``sigmoid((x_i - t) / tau)`` with ``sum_i m_i = k``.

Definition.  For a row ``x_1..x_n`` and a level ``k`` in ``[0, n]`` the mask is
``m_i = sigmoid((x_i - t) / tau)`` where the threshold ``t`` solves
``S(t) = sum_i sigmoid((x_i - t) / tau) = k``.  ``S`` falls strictly from ``n``
to ``0`` as ``t`` runs over the reals, so ``t`` is unique: every ``m_i`` lies in
``[0, 1]``, ``sum(m) = k`` and the mask is a smooth function of ``x``, ``k``
and ``tau``.  Hard limit (``tau -> 0``, and ``temperature=0``): 1 on the
``k`` largest values, 0 elsewhere; a group of ``e`` tied values that straddles
the boundary shares what is left equally (``(k - a) / e`` each, ``a`` the
number of larger values), so the hard mask also sums to ``k`` for a real ``k``.

Solver (O(n log n) time, O(n) memory per row, a static iteration count):

1. sort the row once (values only, as integer keys: nothing is differentiated
   through it);
2. bracket ``t`` between two neighbouring order statistics ``y_j >= t >= y_{j+1}``
   by a binary search over the sorted positions (``ceil(log2(n + 1))``
   evaluations of ``S``);
3. anchor the threshold at the nearer of the two, ``t = c + tau * s``, so that
   ``s`` (in units of the temperature) is resolved to full precision even
   where ``tau`` is far below the spacing of ``x`` (``tau = 1e-30``);
4. solve ``log(U(s) + r^-) = log(D(s) + r^+)`` for ``s`` with ``U`` the mass of
   the values below the bracket, ``D`` the missing mass of those above it and
   ``r = k - j``: Newton's method, safeguarded by bisection inside a bracket
   of at most ``~log(n / |r|)`` units of ``tau`` (both sides of this equation
   are nearly linear in ``s`` where ``tau`` is small against the gaps, and
   smooth where it is large), for a fixed number of steps.

Gradient: the implicit function theorem in closed form, in a
``jax.custom_jvp`` on the threshold (the iterations are never
differentiated).  With ``z_i = (x_i - c) / tau``, ``g_i = m_i (1 - m_i)`` and
``G = sum_i g_i``: ``ds = (sum_i g_i dz_i - dk) / G`` and
``dm_i = g_i (dz_i - ds)``.  The tangent is linear in ``(dx, dk, dtau)``, so
reverse mode works by transposition and forward mode (``jvp``, ``jacfwd``) as
written; higher derivatives differentiate the rule itself.

Infinities and NaN: ``+inf`` entries are the largest values (mask
``min(k, P) / P`` each for ``P`` of them), ``-inf`` the smallest (they share
``max(k - (n - M), 0)`` among ``M``); the finite values share what is left,
as above, with finite gradients.  A NaN among the kept entries of a row makes
that row's mask NaN (as ``jnp`` reductions propagate NaN).
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from softq import _engine
from softq._core import layout as layouts
from softq._core import numerics
from softq._core import select
from softq._core import validation

Axis = int | tuple[int, ...] | None

#: Safeguarded Newton steps after the bracket (float32 / float64 compute).
NEWTON_STEPS = {4: 8, 8: 14}


def _limits(dtype):
  """``(bracket, clip)``: the largest offset ``|s|`` the solver looks at, and
  the clip of ``|z|`` (beyond ``bracket + exp_limit`` every mask value is an
  exact 0 or 1)."""
  lim = numerics.exp_limit(dtype)
  return lim, 2.0 * lim + 8.0


# --------------------------------------------------------------------------
# the hard mask
# --------------------------------------------------------------------------

def _hard_rows(x, valid, k):
  """``clip(k - a_i, 0, e_i) / e_i`` over the valid entries of every row."""
  keys = jnp.where(valid, x, -jnp.inf)
  srt = numerics.sort(keys)                              # ascending, invalid first
  below, upto = select.tie_ranges(srt, keys)
  equal, above = upto - below, srt.shape[-1] - upto
  equal = jnp.maximum(equal, 1).astype(x.dtype)
  share = jnp.clip(k[:, None] - above.astype(x.dtype), 0.0, equal) / equal
  return jnp.where(valid, share, jnp.zeros_like(share))


# --------------------------------------------------------------------------
# the soft mask
# --------------------------------------------------------------------------

@jax.custom_jvp
def _offset(z, k, weight, s):
  """The threshold offset ``s`` (already solved) with its implicit derivative.

  ``sum_i weight_i sigmoid(z_i - s) = k`` defines ``s(z, k)``; the primal is
  the solver's value, passed in, and only the tangent rule is written here.
  """
  del z, k, weight
  return s


@_offset.defjvp
def _offset_jvp(primals, tangents):
  z, k, weight, s = primals
  dz, dk, _, _ = tangents
  s = _offset(z, k, weight, s)       # so that a second derivative sees ds
  u = z - s[:, None]
  g = weight * jax.nn.sigmoid(u) * jax.nn.sigmoid(-u)
  total = jnp.sum(g, axis=-1)
  tiny = jnp.asarray(np.finfo(total.dtype).tiny, total.dtype)
  safe = jnp.where(total > tiny, total, jnp.ones_like(total))
  ds = (jnp.sum(g * dz, axis=-1) - dk) / safe
  return s, jnp.where(total > tiny, ds, jnp.zeros_like(ds))


def _search(x, valid, ys, nv, k, tau, clip):
  """``j``: how many sorted values ``y_p`` have ``S(y_p) <= k`` (binary search)."""
  n = x.shape[-1]
  inv = 1.0 / tau
  w = valid.astype(x.dtype)

  def step(_, bounds):
    lo, hi = bounds
    mid = (lo + hi) // 2
    ym = jnp.take_along_axis(ys, jnp.minimum(mid, n - 1)[:, None], axis=-1)
    z = jnp.clip((x - ym) * inv, -clip, clip)
    total = jnp.sum(w * jax.nn.sigmoid(z), axis=-1)
    below = total <= k
    active = lo < hi
    return (jnp.where(active & below, mid + 1, lo), jnp.where(active & ~below, mid, hi))
  steps = max(1, math.ceil(math.log2(n + 1)))
  lo, _ = jax.lax.fori_loop(0, steps, step, (jnp.zeros_like(nv), nv))
  return lo


def _newton(zs, above, wsorted, r, lo, hi, steps):
  """Safeguarded Newton for ``log(U + r^-) = log(D + r^+)`` in ``s``."""
  sgn = jnp.where(above, -1.0, 1.0).astype(zs.dtype)
  rpos = jnp.maximum(r, 0.0)
  rneg = jnp.maximum(-r, 0.0)
  tiny = jnp.asarray(np.finfo(zs.dtype).tiny, zs.dtype)

  def step(_, state):
    s, lo, hi = state
    q = wsorted * jax.nn.sigmoid(sgn * (zs - s[:, None]))    # every term in [0, 1/2]
    g = q * (1.0 - q)
    up = jnp.sum(jnp.where(above, 0.0, q), axis=-1) + rneg
    down = jnp.sum(jnp.where(above, q, 0.0), axis=-1) + rpos
    dup = -jnp.sum(jnp.where(above, 0.0, g), axis=-1)
    ddown = jnp.sum(jnp.where(above, g, 0.0), axis=-1)
    up, down = jnp.maximum(up, tiny), jnp.maximum(down, tiny)
    f = jnp.log(up) - jnp.log(down)
    fp = dup / up - ddown / down                              # < 0
    lo = jnp.where(f > 0, s, lo)
    hi = jnp.where(f > 0, hi, s)
    newton = s - f / jnp.where(fp < 0, fp, -1.0)
    ok = (fp < 0) & (newton >= lo) & (newton <= hi)
    s = jnp.where(f == 0, s, jnp.where(ok, newton, 0.5 * (lo + hi)))
    return s, lo, hi
  s0 = 0.5 * (lo + hi)
  s, _, _ = jax.lax.fori_loop(0, steps, step, (s0, lo, hi))
  return s


def _soft_rows(x, valid, k, tau):
  """The soft mask of every row: ``x (B, n)`` finite where ``valid``, ``k (B,)``
  in ``[0, sum(valid)]``, ``tau`` positive, ``()`` or ``(B,)``."""
  dtype = x.dtype
  n = x.shape[-1]
  bound, clip = _limits(dtype)
  tau_rows = jnp.broadcast_to(tau, k.shape)
  t_col = tau_rows[:, None]
  nv = jnp.sum(valid, axis=-1).astype(jnp.int32)
  xs = jax.lax.stop_gradient(jnp.where(valid, x, jnp.zeros_like(x)))
  ks, ts = jax.lax.stop_gradient(k), jax.lax.stop_gradient(t_col)
  ys = numerics.sort(jnp.where(valid, xs, -jnp.inf), descending=True)   # invalid last
  j = _search(xs, valid, ys, nv, ks, ts, clip)
  r = ks - j.astype(dtype)

  def at(p):
    v = jnp.take_along_axis(ys, jnp.clip(p, 0, n - 1)[:, None], axis=-1)[:, 0]
    return jnp.where(jnp.isfinite(v), v, jnp.zeros_like(v))
  y_above, y_below = at(j - 1), at(j)
  inner = (j >= 1) & (j < nv)
  gap = jnp.where(inner, (y_above - y_below) / ts[:, 0], jnp.inf)
  pos = r > 0
  anchor = jnp.where(pos, y_below, y_above)
  big = jnp.asarray(bound, dtype)
  tiny = jnp.asarray(np.finfo(dtype).tiny, dtype)
  count_below = jnp.maximum(nv - j, 1).astype(dtype)
  count_above = jnp.maximum(j, 1).astype(dtype)
  reach_up = jnp.log(count_below) - jnp.log(jnp.maximum(r, tiny))
  reach_down = jnp.log(count_above) - jnp.log(jnp.maximum(-r, tiny))
  hi = jnp.where(pos, jnp.minimum(jnp.minimum(gap, reach_up), big), 0.0)
  lo = jnp.where(pos, 0.0, -jnp.minimum(jnp.minimum(gap, reach_down), big))

  idx = jnp.arange(n)
  wsorted = (idx[None, :] < nv[:, None]).astype(dtype)
  zs = jnp.clip((ys - anchor[:, None]) / ts, -clip, clip)
  zs = jnp.where(wsorted > 0, zs, jnp.zeros_like(zs))
  s = _newton(zs, idx[None, :] < j[:, None], wsorted, r, lo, hi, NEWTON_STEPS[dtype.itemsize])

  weight = valid.astype(dtype)
  z = numerics.ratio(x - anchor[:, None], t_col, clip)
  s = _offset(z, k, weight, s)
  m = weight * jax.nn.sigmoid(z - s[:, None])
  full = (k >= nv.astype(dtype))[:, None]
  empty = (k <= 0)[:, None]
  return jnp.where(full, weight, jnp.where(empty, jnp.zeros_like(m), m))


# --------------------------------------------------------------------------
# rows: infinities, NaN, the level
# --------------------------------------------------------------------------

def _mask_rows(x, valid, k, tau, hard):
  """The mask of rows ``x (B, n)`` (kept entries ``valid``), ``k (B,)``."""
  if valid is None:
    valid = jnp.ones(x.shape, bool)
  nan_row = jnp.any(valid & jnp.isnan(x), axis=-1)
  top = valid & jnp.isposinf(x)
  bottom = valid & jnp.isneginf(x)
  finite = valid & jnp.isfinite(x)
  count = lambda m: jnp.sum(m, axis=-1).astype(x.dtype)
  n_top, n_bottom, n_finite = count(top), count(bottom), count(finite)
  k = jnp.clip(k, 0.0, n_top + n_bottom + n_finite)
  k_finite = jnp.clip(k - n_top, 0.0, n_finite)
  xf = jnp.where(finite, x, jnp.zeros_like(x))
  core = _hard_rows(xf, finite, k_finite) if hard else _soft_rows(xf, finite, k_finite, tau)
  top_share = jnp.clip(k, 0.0, n_top) / jnp.maximum(n_top, 1.0)
  bottom_share = jnp.clip(k - n_top - n_finite, 0.0, n_bottom) / jnp.maximum(n_bottom, 1.0)
  m = jnp.where(top, top_share[:, None], jnp.where(bottom, bottom_share[:, None], core))
  return jnp.where(nan_row[:, None], jnp.nan, m)


@dataclasses.dataclass(frozen=True)
class _Request:
  layout: layouts.Layout
  mode: str
  temperature_scale: str | None


@functools.partial(jax.jit, static_argnums=0)
def _run(req: _Request, a, k, tau, where):
  lay = req.layout
  cdtype = validation.compute_dtype(a.dtype)
  x = layouts.to_rows(a, lay).astype(cdtype)
  valid = None if where is None else layouts.to_rows(where, lay)
  kr = jnp.broadcast_to(jnp.asarray(k, cdtype), (lay.batch,))
  finite_x = jnp.where(jnp.isfinite(x), x, jnp.zeros_like(x))
  tau = _engine.scale_temperature(tau, finite_x if valid is None else x, valid,
                                  req.temperature_scale)
  out = _engine.by_temperature(req.mode, tau, lambda t, hard: _mask_rows(x, valid, kr, t, hard),
                               row_axis=0)
  return layouts.from_rows_full(out, lay).astype(a.dtype)


def _check_k(k, n: int, name: str):
  karr = validation.numeric_array(k, name, "k", "a real number (or a traced scalar)")
  if not (jnp.issubdtype(karr.dtype, jnp.number) or jnp.issubdtype(karr.dtype, jnp.bool_)) or (
      jnp.issubdtype(karr.dtype, jnp.complexfloating)):
    raise TypeError(f"{name}: k must be real, got dtype {karr.dtype}.")
  if validation.is_concrete(k):
    kn = np.asarray(k, dtype=np.float64)
    if np.any(np.isnan(kn)) or np.any(kn < 0) or np.any(kn > n):
      raise ValueError(f"{name}: k must lie in [0, n] = [0, {n}] (n, the length of the "
                       f"reduced axis), got {np.asarray(k).tolist()}.")
  return karr


def top_k_mask(a: ArrayLike, k: ArrayLike, axis: Axis = -1, *, temperature: ArrayLike = 1.0,
               temperature_scale: str | None = None,
               where: ArrayLike | None = None) -> jax.Array:
  r"""Soft top-k membership mask: ``m_i = sigmoid((a_i - t) / tau)``, ``sum(m) = k``.

  The threshold ``t`` solves ``sum_i sigmoid((a_i - t) / tau) = k`` along
  ``axis`` (unique: the sum falls strictly in ``t``), so every ``m_i`` lies in
  ``[0, 1]`` and the mask sums to ``k`` at every temperature (to float
  rounding).  It is smooth in ``a``, ``k`` and the temperature; the gradient is
  the implicit-function-theorem one, in closed form (forward and reverse
  mode), never a derivative of the solver's iterations.

  Hard limit (``temperature=0`` exactly, and ``tau -> 0``): 1 on the ``k``
  largest values, 0 elsewhere; tied values at the boundary share what is left
  equally (so a real ``k`` such as 2.5 gives ``0.5`` to the third largest, and
  the mask still sums to ``k``).  As ``tau -> inf`` every entry tends to
  ``k / n``.

  Cost: O(n log n) per row, O(n) memory: one sort, a binary search over the
  sorted values (``ceil(log2(n + 1))`` passes) and a fixed number of
  safeguarded Newton steps, each one pass over the row.

  ``+inf`` entries are the largest (they share ``min(k, P)`` if there are
  ``P`` of them), ``-inf`` the smallest; a NaN among the kept entries of a
  slice makes that slice's mask NaN.  Gradients stay finite for finite input
  and every temperature from 1e-30 to 1e30 (float16 and bfloat16 are computed
  in float32).

  Args:
    a: array of real numbers.
    k: how many entries to keep, a real number in ``[0, n]`` (``n`` the size
      of the reduced axes); a scalar, or an array broadcasting against the
      reduced output (one ``k`` per slice).  Traced and differentiable: a new
      ``k`` compiles nothing new.  A concrete ``k`` outside ``[0, n]`` raises
      ``ValueError``; a traced one is clipped to ``[0, n_kept]``.
    axis: the axis (or tuple of axes, or None for all) along which the mask
      sums to ``k``.
    temperature: ``tau >= 0`` in the units of ``a`` (or a fraction of each
      slice's spread with ``temperature_scale``); a scalar or one per slice,
      differentiable, never recompiles.  ``0`` gives the hard mask.
    temperature_scale: None, ``"std"`` or ``"mad"``, as for
      :func:`softq.quantile`.
    where: boolean mask broadcastable to ``a``: masked entries get 0 and ``k``
      counts the kept ones.

  Returns:
    The mask, with ``a``'s shape and (float) dtype.

  Examples:
    >>> import jax.numpy as jnp, numpy as np, softq
    >>> x = jnp.array([0.1, 3.0, -1.0, 2.0, 0.5])
    >>> print(softq.top_k_mask(x, 2, temperature=0))
    [0. 1. 0. 1. 0.]
    >>> m = softq.top_k_mask(x, 2, temperature=0.3)
    >>> print(np.round(np.asarray(m), 2), round(float(m.sum()), 4))
    [0.02 1.   0.   0.92 0.07] 2.0
  """
  name = "top_k_mask"
  req, (arr, tau, mask) = _engine.prepare_map(name, a, axis, temperature, where=where,
                                              temperature_scale=temperature_scale)
  lay = req.layout
  karr = _check_k(k, lay.n, name)
  cdtype = validation.compute_dtype(arr.dtype)
  karr = layouts.per_row(karr.astype(cdtype), lay, (), name, what="k")
  request = _Request(lay, req.mode, req.temperature_scale)
  return _run(request, arr, karr, tau, mask)
