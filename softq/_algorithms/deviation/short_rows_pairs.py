"""The pair loop of :mod:`softq._algorithms.deviation.short_rows_value`: each unordered pair once.

Samples are the columns of a ``(b, T)`` array.  A ``fori_loop`` over offsets
``d = 1 .. b // 2`` pairs row ``i`` with ``(i + d) mod b``, reading
``dynamic_slice`` windows of the column doubled, and sends the partner's
share to a doubled accumulator folded at the end (the layout notes are in
:mod:`softq._algorithms.deviation.short_rows_value`).  :func:`pairs` forms the costs' pair
sums (and the tangent's), :func:`u_pass` the tangent's second pass.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from softq._core import numerics

_LOG2 = float(np.log(2.0))
#: At most this many ``(1 + e) <= 2`` factors multiply into one product.
_PRODUCT_RUN = 100

# --------------------------------------------------------------------------
# rows of a (b, T) array
# --------------------------------------------------------------------------

def rsum(a):
  """``sum(a, axis=0)`` as row additions (for arrays cheap to recompute)."""
  acc = a[0]
  for i in range(1, a.shape[0]):
    acc = acc + a[i]
  return acc


def _reduce_rows(a, op):
  """``op``-reduction over the rows of a *computed* array, as a loop (its
  input is materialised instead of recomputed for every row read)."""
  if a.shape[0] == 1:
    return a[0]
  return jax.lax.fori_loop(
      1, a.shape[0], lambda i, acc: op(acc, jax.lax.dynamic_index_in_dim(a, i, 0, False)),
      a[0])


def _loop(lo, hi, body, init):
  return init if hi <= lo else jax.lax.fori_loop(lo, hi, body, init)


def _double(a, axis=0):
  return jnp.concatenate([a, a], axis=axis)


def _shift(a2, d, b, axis=0):
  """Rows ``(i + d) mod b`` of ``a``, from ``a2 = _double(a)``."""
  return jax.lax.dynamic_slice_in_dim(a2, d, b, axis)


def _to_partner(acc2, v, d, b, op=jnp.add, axis=0):
  """Rows ``d .. d + b - 1`` of the doubled accumulator ``op=`` ``v``."""
  cur = jax.lax.dynamic_slice_in_dim(acc2, d, b, axis)
  return jax.lax.dynamic_update_slice_in_dim(acc2, op(cur, v), d, axis)


def _fold(acc, acc2, b, op=jnp.add):
  return op(acc, op(acc2[:b], acc2[b:]))


def _iota(b):
  return jnp.arange(b, dtype=jnp.int32)[:, None]



class _Sample(NamedTuple):
  x: Any           # (b, T)
  c: Any           # weights: None (1), scalar u, or (b, T)
  present: Any     # None (all) or (b, T) bool
  total: Any       # W: static number, scalar or (T,)
  unit: Any        # the common weight of a present value (None: per value)



# --------------------------------------------------------------------------
# the pairs: one fori_loop over offsets d (each unordered pair once)
# --------------------------------------------------------------------------

def pairs(smp: _Sample, refs, tau, hz, rule: bool):
  """``H = sum_j c_j (|x_i - x_j| - |r - x_j|)`` for every reference ``r`` in
  ``refs`` (each order statistic its own: values tied with it cost exactly 0),
  ``E = sum_j c_j log1p(e_ij)`` and, for the rule, ``R``, ``S`` and ``T_ij``
  of every visited pair.

  Offset ``d`` pairs row ``i`` with ``j = (i + d) mod b``; the partner's
  share goes to rows ``d .. d + b - 1`` of a doubled accumulator.
  """
  x, c, present = smp.x, smp.c, smp.present
  b, t = x.shape
  dtype = x.dtype
  lim = numerics.saturation(dtype)
  cap = lim * tau
  half = b // 2
  finite = jnp.isfinite(x)
  n_refs = len(refs)
  # candidates (infinite ones are never picked: scored at r, masked later)
  xi = [jnp.where(finite, x, r) for r in refs]
  di = [a - r for a, r in zip(xi, refs)]
  x2, xi2, di2 = _double(x), [_double(a) for a in xi], [_double(a) for a in di]
  weighted = c is not None and jnp.ndim(c) >= 2
  c2 = _double(c) if weighted else None
  p2 = _double(present) if present is not None else None
  one, zero = jnp.ones((), dtype), jnp.zeros((), dtype)
  product = smp.unit is not None

  def body(d, carry):
    xd = _shift(x2, d, b)
    keep = jnp.where(2 * d == b, zero, one)
    h_own, h_oth = [], []
    for r, xi_r, di_r, xi2_r, di2_r in zip(refs, xi, di, xi2, di2):
      # my candidate against the partner's value, and the partner's against mine
      xid, did = _shift(xi2_r, d, b), _shift(di2_r, d, b)
      h_own.append(numerics.abs_difference(jnp.where(xi_r == xd, zero, xi_r - xd),
                                           r - xd, di_r))
      h_oth.append(numerics.abs_difference(jnp.where(xid == x, zero, xid - x), r - x, did))
    a = jnp.where(x == xd, zero, jnp.abs(x - xd))   # |x_i - x_j| (inf: clipped)
    big = ~(a <= cap)
    z = jnp.where(big, lim, numerics.times_inverse(jnp.where(big, zero, a), *hz))
    e2 = jnp.exp(-2.0 * z)
    f = 1.0 + e2
    if weighted:
      c_own, c_oth = _shift(c2, d, b), c
    elif present is not None:
      c_own, c_oth = _shift(p2, d, b), present
    else:
      c_own = c_oth = None
    h, h2, e, e2acc = carry[:4]
    if c_own is None:
      h = tuple(a + v for a, v in zip(h, h_own))
      h2 = tuple(_to_partner(a, keep * v, d, b) for a, v in zip(h2, h_oth))
    else:
      h = tuple(a + jnp.where(c_own > 0, v, zero) * (c_own if weighted else one)
                for a, v in zip(h, h_own))
      h2 = tuple(_to_partner(a, keep * jnp.where(c_oth > 0, v, zero) *
                             (c_oth if weighted else one), d, b) for a, v in zip(h2, h_oth))
    if product:
      own = f if c_own is None else jnp.where(c_own, f, one)
      oth = f if c_oth is None else jnp.where(c_oth, f, one)
      e = e * own
      e2acc = _to_partner(e2acc, jnp.where(2 * d == b, one, oth), d, b, jnp.multiply)
    else:
      lf = jnp.log1p(e2)
      e = e + c_own * lf
      e2acc = _to_partner(e2acc, keep * c_oth * lf, d, b)
    out = (h, h2, e, e2acc)
    if not rule:
      return out
    rr, rr2, ss, ss2, ts = carry[4:]
    inv1p = 1.0 / f
    sgn = jnp.where(x == xd, zero, jnp.where(x > xd, one, -one))
    tij = sgn * (2.0 * inv1p - 1.0)                 # T_ij = tanh((x_i - x_j) / tau)
    sz = z * (2.0 * e2 * inv1p)
    w_own = one if c_own is None else (c_own if weighted else c_own.astype(dtype))
    w_oth = keep if c_oth is None else keep * (c_oth if weighted else c_oth.astype(dtype))
    return out + (rr + w_own * tij, _to_partner(rr2, -w_oth * tij, d, b),
                  ss + w_own * sz, _to_partner(ss2, w_oth * sz, d, b),
                  jax.lax.dynamic_update_index_in_dim(ts, tij, d - 1, 0))

  z1, z2 = jnp.zeros((b, t), dtype), jnp.zeros((2 * b, t), dtype)
  o1, o2 = jnp.ones((b, t), dtype), jnp.ones((2 * b, t), dtype)
  rest = (z1, z2, z1, z2, jnp.zeros((half, b, t), dtype)) if rule else ()
  e_sum = jnp.zeros((b, t), dtype)
  e_init = (o1, o2) if product else (z1, z2)
  carry = ((z1,) * n_refs, (z2,) * n_refs) + e_init + rest
  for lo in range(1, max(half, 1) + 1, _PRODUCT_RUN):   # products of (1 + e) <= 2 stay finite
    hi = min(half + 1, lo + _PRODUCT_RUN)
    carry = _loop(lo, hi, body, carry[:2] + e_init + carry[4:])
    if product:
      e_sum = e_sum + jnp.log(_fold(carry[2], carry[3], b, jnp.multiply))
    else:
      e_sum = e_sum + _fold(carry[2], carry[3], b)
  # j = i: |x_i - x_i| - |r - x_i| (the -|r - x_j| sum runs over every j).
  # Written as -|r - x_i| (not -|x_i - r|): at x_i = r its derivative is then
  # jnp.abs'(0) like the j = r term of every other candidate, so the kink's
  # choice cancels in the soft-min (second derivatives at the reference).
  self_c = c if weighted else (one if present is None else present.astype(dtype))
  h = [_fold(a, a2, b) - self_c * jnp.abs(r - xr) for a, a2, r, xr in
       zip(carry[0], carry[1], refs, xi)]
  if product:
    unit = jnp.asarray(smp.unit, dtype)
    e = (e_sum + _LOG2) * unit
    h = [a * unit for a in h]
  else:
    e = e_sum + c * _LOG2
  if not rule:
    return h, e
  rr, rr2, ss, ss2, ts = carry[4:]
  s_tot = _fold(ss, ss2, b)
  r_tot = _fold(rr, rr2, b)
  if product:
    s_tot, r_tot = s_tot * jnp.asarray(smp.unit, dtype), r_tot * jnp.asarray(smp.unit, dtype)
  return h, e, r_tot, s_tot + e, ts



def u_pass(qs, ts):
  """``U_m = sum_i q_i T_im`` for every ``q`` in ``qs``, from the stored ``T_ij``."""
  half, b, t = ts.shape
  q = jnp.stack(qs)
  q2 = _double(q, 1)
  one, zero = jnp.ones((), q.dtype), jnp.zeros((), q.dtype)

  def body(d, carry):
    u, u2 = carry
    tij = jax.lax.dynamic_index_in_dim(ts, d - 1, 0, False)
    keep = jnp.where(2 * d == b, zero, one)
    # row i gains q_j T_ji = -q_j T_ij; the partner row j gains q_i T_ij
    return (u - _shift(q2, d, b, 1) * tij,
            _to_partner(u2, keep * q * tij, d, b, axis=1))

  u, u2 = _loop(1, half + 1, body, (jnp.zeros_like(q), jnp.zeros((q.shape[0], 2 * b, t),
                                                                  q.dtype)))
  return u + u2[:, :b] + u2[:, b:]
