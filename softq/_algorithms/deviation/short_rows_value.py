"""The ``"deviation"`` value of many short samples, with an analytic tangent.

One sample per *column* of a ``(b, T)`` array (``b`` values, ``T`` samples):
the fast path behind short rows, pooling windows and the remedian's blocks.
The value is exactly the dense ``"deviation"`` function of
:mod:`softq._algorithms.deviation.pairwise` (the same costs, to float rounding); only
the evaluation differs from :func:`softq._algorithms.deviation.short_rows.deviation_weights`.

**Costs.**  For the ``k``-th order statistic (in copies; ``W`` the total
weight, ``slope = 2k + 1 - W``) candidate ``i`` costs, relative to ``r``
(a hard order statistic, found by counting),

    D_i = sum_j c_j [(|x_i - x_j| - |r - x_j|) + tau log1p(exp(-2 |x_i - x_j| / tau))]
          - slope (x_i - r)

with ``c`` the weights (``j = i`` included: ``c_i tau log 2``).  The hard part
is formed pair by pair from ``d = x_i - r`` (exact where ``x_i`` and ``r``
lie on the same side of ``x_j``), so a value tied with ``r`` costs exactly 0
and the hard limit is exact at every temperature, infinite values included.
Two neighbouring order statistics (an even-``b`` median) share the pass of
the first: with another reference the pair sums change by a constant per
sample, which the soft-min ignores (rounding ``~ b eps |x_i - r|``, one gap
at the second statistic's candidates).
Each *unordered* pair is visited once (its ``exp`` serves both ends) and,
with equal weights or 0/1 masks, ``sum_j log1p(e_ij)`` is the ``log`` of a
product: one ``log`` per value instead of one per pair.  Then
``w = softmin(D / tau)`` (weights ``c`` as a prior) and ``v = sum_i w_i x_i``.

**Tangent.**  ``dv = sum_m G_m dx_m + G_tau dlog(tau)`` with
``G_m = w_m - (q_m (R_m - slope) - c_m U_m) / tau``, ``q = w (x - v)``,
``R_m = sum_j c_j T_mj``, ``U_m = sum_i q_i T_im``,
``T_ij = tanh((x_i - x_j) / tau)`` (the soft absolute value's derivative)
and ``G_tau = -sum_i q_i (S_i - zeta_i)`` (``S_i = sum_j c_j d(tau
E_ij)/dtau``, ``zeta = (D - min D) / tau``).  ``G`` is computed with the
value (one more pass over the pairs): reverse mode keeps one ``(b, T)``
residual and its transpose is a product.

**Layout, for XLA on CPU.**  It reduces a major axis ~15x slower than it adds
rows, stops vectorising at pads or concatenations inside a fusion, and
recomputes a fused producer for every row of it that a consumer reads (it
drops optimization barriers before fusion).  So: pairs ``(i, i + d mod b)``
are visited by a ``fori_loop`` over ``d = 1 .. b // 2`` reading
``dynamic_slice`` windows of the column doubled; contributions to the partner
row go to a doubled accumulator folded at the end; reductions over the ``b``
values of a computed array run as loops (their input is then materialised).
The pair loop lives in :mod:`softq._algorithms.deviation.short_rows_pairs`.
The program stays small (it compiles in a fraction of a second) and
:func:`values` tiles the samples so that a tile's working set stays in cache.

Weights (``weight``): None (each value counts once), a scalar ``u`` (every
value is ``u`` copies: the remedian's complete blocks), ``("mask", m, u)``
(``m`` a ``(b, T)`` 0/1 presence mask, present values ``u`` copies:
pooling windows at a border) or a ``(b, T)`` array of counts (0 = absent).
They are not differentiated here (differentiable weights:
:func:`softq._algorithms.deviation.short_rows.deviation_weights`).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from softq._core import numerics
from softq._core import select
from softq._algorithms.deviation.short_rows_pairs import (_Sample, _double, _fold, _loop,
                                                          _reduce_rows, _shift, _to_partner,
                                                          rsum)
from softq._algorithms.deviation import short_rows_pairs

#: Samples per tile (columns), at most; fewer for long samples.  Small
#: tiles keep the pair loop's accumulators in L1/L2: measured on (100000, 9)
#: value+gradient, 512-1024 columns beat 4096 by 1.3x and 32768 by 2.4x.
TILE = 1024


class Spec(NamedTuple):
  """The static part of a call (hashable)."""
  mode: str              # "unit" | "scalar" | "mask" | "array"
  ks: tuple              # static ints (copies), or None where traced
  mixed: bool            # two order statistics mixed by g into one value
  hard: bool = False     # the hard order statistics only
  unit: Any = None       # a static common weight (Python number), if any
  value_ks: bool = False  # ks count values of equal weight u, not copies (see values)



def _sample(spec: Spec, xt, weight) -> _Sample:
  b = xt.shape[0]
  dtype = xt.dtype
  if spec.mode == "unit":
    return _Sample(xt, None, None, b, 1)
  if spec.mode == "scalar":
    u = weight if spec.unit is None else spec.unit
    return _Sample(xt, u, None, b * u, u)
  if spec.mode == "mask":
    mask, u = weight
    u = u if spec.unit is None else spec.unit
    present = mask > 0
    uu = jnp.asarray(u, dtype)
    return _Sample(xt, jnp.where(present, uu, jnp.zeros((), dtype)), present,
                   _reduce_rows(present.astype(dtype), jnp.add) * uu, u)
  c = jnp.where(weight > 0, weight, 0).astype(dtype)
  return _Sample(xt, c, c > 0, _reduce_rows(c, jnp.add), None)


def _counts(smp: _Sample):
  """Per value: the weight strictly below it and at or below it (itself
  included); in values for equal weights (exact integers), else in weight."""
  x, c, present = smp.x, smp.c, smp.present
  b = x.shape[0]
  weighted = smp.unit is None
  acc = x.dtype if weighted else jnp.int32
  x2 = _double(x)
  w = c if weighted else (None if present is None else present.astype(acc))
  w2 = None if w is None else _double(w)
  zero = jnp.zeros((), acc)

  def body(d, carry):
    lt, le, lt2, le2 = carry
    xd = _shift(x2, d, b)
    keep = 2 * d != b                  # at d = b/2 both ends see the pair
    below, above = xd < x, x < xd      # partner below me / me below partner
    wd = None if w is None else _shift(w2, d, b)
    own_lt = below.astype(acc) if wd is None else jnp.where(below, wd, zero)
    own_le = (~above).astype(acc) if wd is None else jnp.where(above, zero, wd)
    oth_lt = above.astype(acc) if w is None else jnp.where(above, w, zero)
    oth_le = (~below).astype(acc) if w is None else jnp.where(below, zero, w)
    oth_lt, oth_le = jnp.where(keep, oth_lt, zero), jnp.where(keep, oth_le, zero)
    return (lt + own_lt, le + own_le, _to_partner(lt2, oth_lt, d, b),
            _to_partner(le2, oth_le, d, b))

  z1, z2 = jnp.zeros(x.shape, acc), jnp.zeros((2 * b,) + x.shape[1:], acc)
  lt, le, lt2, le2 = _loop(1, b // 2 + 1, body, (z1, z1, z2, z2))
  own = jnp.ones(x.shape, acc) if w is None else w
  return _fold(lt, lt2, b), _fold(le, le2, b) + own


def _hits(smp: _Sample, counts, k):
  """The values holding copy ``k + 1/2`` of the weighted sample (past the
  total weight: the maximum; the rule of :func:`softq._core.select.holds`,
  counted here pair by pair in the column layout) and the hard value ``r``
  (0 for no value)."""
  lt, le = counts
  x = smp.x
  if smp.unit is None:
    point = jnp.asarray(k, x.dtype) + 0.5
    hit = select.holds(lt, le, point, smp.total)
  else:
    u = smp.unit
    if isinstance(k, (int, np.integer)) and isinstance(u, (int, np.integer)):
      point = (int(k) + 0.5) / int(u)
    else:
      point = (jnp.asarray(k, x.dtype) + 0.5) / jnp.asarray(u, x.dtype)
    hit = select.holds(lt, le, point)
  if smp.present is not None:
    hit = hit & smp.present
  neg = jnp.asarray(-jnp.inf, x.dtype)
  r = _reduce_rows(jnp.where(hit, x, neg), jnp.maximum)
  some = _reduce_rows(hit.astype(jnp.int32), jnp.maximum) > 0
  return hit, jnp.where(some, r, jnp.zeros_like(r))


# --------------------------------------------------------------------------
# soft-min, value and tangent
# --------------------------------------------------------------------------

class _Stat(NamedTuple):
  """One order statistic of a tile, as :func:`_compute` carries it from the
  value to the tangent (every field ``(b, T)`` or per sample ``(T,)``)."""
  slope: Any       # 2k + 1 - W
  w: Any           # the soft-min weights
  zeta: Any        # their exponents (cost - min) / tau
  value: Any       # the soft value v
  finite: Any      # the hard value is finite (else the hard weights stand)
  hit: Any         # the hard value's copies
  d0: Any          # x - r (0 where absent)
  v_rel: Any       # v - r = sum_i w_i d0_i


def _compute(spec: Spec, xt, tau, hz, extra, rule: bool):
  """Values (and for the rule: ``G`` and ``G_tau``)."""
  dtype = xt.dtype
  smp = _sample(spec, xt, extra["weight"])
  ks = [k if k is not None else extra["ks"][u] for u, k in enumerate(spec.ks)]
  counts = _counts(smp)
  # value_ks: select and slope as for b values of weight 1 (the costs keep u)
  sel = smp._replace(unit=1, total=xt.shape[0]) if spec.value_ks else smp
  hits = [_hits(sel, counts, k) for k in ks]
  if spec.hard:
    return _mix(spec, extra, [r for _, r in hits])
  x = smp.x
  present = jnp.isfinite(x) if smp.present is None else jnp.isfinite(x) & smp.present
  refs = [jax.lax.stop_gradient(jnp.where(jnp.isfinite(rk), rk, jnp.zeros_like(rk)))
          for _, rk in hits]
  # H_i(r) - H_i(r') = sum_j c_j (|r' - x_j| - |r - x_j|) does not depend on i,
  # and the soft-min ignores a constant: neighbouring order statistics (an
  # even-b median) share one pass over the pairs, taken from the first
  # reference (rounding ~ b eps |x_i - r|: one gap near the second).
  share = (len(ks) == 2 and all(isinstance(k, (int, np.integer)) for k in ks)
           and int(ks[1]) == int(ks[0]) + 1)
  parts = short_rows_pairs.pairs(smp, refs[:1] if share else refs, tau, hz, rule)
  hs, e = (parts[0] * 2 if share else parts[0]), parts[1]
  total = jnp.asarray(sel.total, dtype)
  outs = []
  for k, (hit, rk), h, r in zip(ks, hits, hs, refs):
    d = jnp.where(jnp.isfinite(x), x, r) - r
    soft = h + tau * e
    slope = (2.0 * k + 1.0) - sel.total if isinstance(k, (int, np.integer)) and isinstance(
        sel.total, (int, np.integer)) else 2.0 * jnp.asarray(k, dtype) + 1.0 - total
    cost = jnp.where(present, soft - slope * d, jnp.inf)
    # the weights c are the prior; the rows reduced as loops (module docstring)
    w, zeta = numerics.softmin_weights_and_exponent(
        cost, tau, axis=0, inv_tau=hz, prior=smp.c if smp.unit is None else None,
        reduce=_reduce_rows)
    fin = jnp.isfinite(rk)
    # v = r + sum_i w_i (x_i - r): exact when the weight sits on copies of r
    d0 = jnp.where(present, d, jnp.zeros_like(d))
    v_rel = _reduce_rows(w * d0, jnp.add)
    v = jnp.where(fin, r + v_rel, rk)
    outs.append(_Stat(slope, w, zeta, v, fin, hit, d0, v_rel))
  values = _mix(spec, extra, [o.value for o in outs])
  if not rule:
    return values
  _, _, rowt, big_s, ts = parts
  qs = [jnp.where(present & (o.w > 0), o.w * (o.d0 - o.v_rel), jnp.zeros_like(o.w))
        for o in outs]
  us = short_rows_pairs.u_pass(qs, ts)
  rinv = numerics.reciprocal(tau)
  cw = 1.0 if smp.c is None else smp.c
  gs, gts = [], []
  for o, q, u in zip(outs, qs, us):
    g = jnp.where(present, o.w - rinv * (q * (rowt - o.slope) - cw * u), jnp.zeros_like(o.w))
    hw = jnp.where(o.hit, cw * jnp.ones_like(x), jnp.zeros_like(x))
    hw = hw / jnp.maximum(_reduce_rows(hw, jnp.add), jnp.asarray(numerics.tau_floor(dtype), dtype))
    gs.append(jnp.where(o.finite, g, hw))
    gts.append(jnp.where(o.finite, -rsum(q * (big_s - o.zeta)), jnp.zeros_like(o.value)))
  if spec.mixed:
    gg = jnp.asarray(extra["g"], dtype)
    return values, (1.0 - gg) * gs[0] + gg * gs[1], (1.0 - gg) * gts[0] + gg * gts[1]
  return values, jnp.stack(gs), jnp.stack(gts)


def _mix(spec: Spec, extra, vs):
  if not spec.mixed:
    return jnp.stack(vs)
  g = jnp.asarray(extra["g"], vs[0].dtype)
  mid = (1.0 - g) * vs[0] + g * vs[1]
  return jnp.where(g == 0, vs[0], jnp.where(g == 1, vs[1], mid))


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _tile_value(spec, xt, tau, inv, log_tau, extra):
  return _compute(spec, xt, tau, (inv, log_tau), extra, False)


@_tile_value.defjvp
def _tile_value_jvp(spec, primals, tangents):
  xt, tau, inv, log_tau, extra = primals
  dx, _, _, dlog, _ = tangents
  v, g, g_t = _compute(spec, xt, tau, (inv, log_tau), extra, True)
  if g.ndim == 2:
    return v, jnp.sum(g * dx, axis=0) + g_t * dlog
  return v, jnp.sum(g * dx[None], axis=1) + g_t * dlog


# --------------------------------------------------------------------------
# many samples: tiles
# --------------------------------------------------------------------------

def _tile_size(n: int, b: int) -> int:
  """Columns per tile: about :data:`TILE` (fewer for long samples), even tiles."""
  target = max(256, min(TILE, (1 << 14) // max(b, 1)))
  tiles = -(-n // target)
  return -(-n // tiles)


def values(x, weight, ks, tau, hoisted, *, g=None, columns: bool = False,
           hard: bool = False, tiles: bool = True, value_ks: bool = False):
  """The ``"deviation"`` order statistics ``ks`` of many short samples.

  Args:
    x: ``(N, b)`` rows (``columns=False``) or ``(b, N)`` columns, NaN-free
      (``+-inf`` allowed), in the compute dtype.
    weight: None, a scalar, ``("mask", mask, u)`` or per-value counts shaped
      like ``x`` (see the module docstring); not differentiated.
    ks: order statistics (in copies, 0-based): static ints, traced scalars
      or ``(N,)`` arrays; with ``g`` exactly two, mixed ``(1 - g) v0 + g v1``.
    tau: the (floored) temperature, a scalar or ``(N,)``; ``hoisted`` its
      :func:`softq._core.numerics.hoisted_temperature`, computed outside
      any loop the caller runs this in.
    g: None, or the mixing weight of two order statistics (scalar or
      ``(N,)``; not differentiated).
    hard: the hard order statistics (the values selected by counting).
    tiles: split many samples into cache-sized tiles (a ``lax.map``).  False
      for callers whose batch is already bounded and may be sharded (the
      remedian's scan steps): a loop over a sharded axis would gather it.
    value_ks: with a scalar ``weight`` ``u`` (static or traced): ``ks``
      count *values*, not copies: ``k`` stands for the copy statistic
      ``k + b (u - 1) / 2`` (the slope ``2k + 1 - b`` of ``b`` unit values),
      which for the median's ``k`` of ``b`` values (``(b - 1) // 2`` and
      ``b // 2``) is the weighted median of the ``b u`` copies and selects
      value ``k``.  The program then does not depend on ``u``: the
      remedian's uniform levels share one kernel with ``u`` traced.

  Returns:
    ``(N,)`` with ``g``, else ``(len(ks), N)``.
  """
  if columns:
    b, n = x.shape
  else:
    n, b = x.shape
  dtype = x.dtype
  mode, w_static, w_cols = _weight_mode(weight, columns)
  static_u = w_static if isinstance(w_static, (int, float, np.integer, np.floating)) else None
  if value_ks and mode not in ("unit", "scalar"):
    raise ValueError(f"value_ks needs a scalar weight, got mode {mode!r}")
  spec = Spec(mode, tuple(int(k) if isinstance(k, (int, np.integer)) else None for k in ks),
              g is not None, hard, static_u, value_ks and mode == "scalar")
  inv, log_tau = hoisted
  per = dict(tau=tau, inv=inv, log_tau=log_tau, g=g)
  per = {key: (None if v is None else jnp.asarray(v, dtype)) for key, v in per.items()}
  ks_t = [None if isinstance(k, (int, np.integer)) else jnp.asarray(k) for k in ks]
  shared = {key: v for key, v in per.items() if v is not None and v.ndim == 0}
  cols = {key: v for key, v in per.items() if v is not None and v.ndim == 1}
  shared_ks = [k if k is not None and k.ndim == 0 else None for k in ks_t]
  cols_ks = [k if k is not None and k.ndim == 1 else None for k in ks_t]

  def tile(xt, wt, ct, kt):
    p = dict(shared, **ct)
    kk = tuple(a if a is not None else s for a, s in zip(kt, shared_ks))
    u = None if static_u is not None else w_static
    weight_t = {"unit": None, "scalar": u, "mask": (wt, u), "array": wt}[mode]
    extra = dict(weight=weight_t, ks=kk, g=p.get("g"))
    if hard:
      return _compute(spec, xt, None, None, extra, False)
    return _tile_value(spec, xt, p["tau"], p["inv"], p["log_tau"], extra)

  t = _tile_size(n, b)
  n_tiles = -(-n // t) if tiles else 1
  if n_tiles == 1:
    xt = x if columns else x.T
    wt = None if w_cols is None else (w_cols if columns else w_cols.T)
    return tile(xt, wt, cols, cols_ks)
  pad = n_tiles * t - n

  def split(a, fill=0):
    """(N,), rows (N, b) or columns (b, N) -> (n_tiles, [b,] t) tiles."""
    if a is None:
      return None
    if a.ndim == 1:
      return jnp.pad(a, (0, pad), constant_values=fill).reshape(n_tiles, t)
    if columns:
      a = jnp.pad(a, ((0, 0), (0, pad)), constant_values=fill)
      return jnp.moveaxis(a.reshape(b, n_tiles, t), 1, 0)
    a = jnp.pad(a, ((0, pad), (0, 0)), constant_values=fill)
    return jnp.swapaxes(a.reshape(n_tiles, t, b), 1, 2)

  fills = {"tau": 1, "inv": 1}
  out = jax.lax.map(lambda a: tile(*a), (
      split(x), split(w_cols), {key: split(v, fills.get(key, 0)) for key, v in cols.items()},
      [split(k) for k in cols_ks]))                 # (n_tiles, [U,] t)
  if out.ndim == 2:
    return out.reshape(-1)[:n]
  return jnp.moveaxis(out, 0, 1).reshape(out.shape[1], -1)[:, :n]


def _weight_mode(weight, columns):
  """(mode, static part, per-value array or None)."""
  if weight is None:
    return "unit", None, None
  if isinstance(weight, tuple) and weight and isinstance(weight[0], str):
    _, mask, u = weight
    return "mask", u, jnp.asarray(mask)
  if jnp.ndim(weight) == 0:
    if isinstance(weight, (int, np.integer)) and int(weight) == 1:
      return "unit", None, None
    return "scalar", weight, None
  return "array", None, jax.lax.stop_gradient(weight)
