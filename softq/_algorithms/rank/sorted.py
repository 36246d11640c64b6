"""The pair sums of the soft ranks in O(n log n) time: sort once, two recurrences per term.

**The function.**  For a sample ``x`` (n,) with weights ``w >= 0`` and a
temperature ``tau`` the ``"rank"`` algorithm (:mod:`softq._algorithms.rank.kernel`)
needs, for every ``i``,

    s_i = sum_j w_j tanh((x_i - x_j) / tau)                       (soft sign sum)
    c_i = sum_j w_j sech^2((x_i - x_j) / tau)                     (soft tie count)
    A_i = sum_{j finite} w_j softabs(x_i - x_j)   (finite x_i; 0 otherwise)

with ``xi == xj`` giving ``u = 0`` (so tied infinities are ties), an infinite
``x_j`` contributing ``w_j sign(x_i - x_j)`` to ``s`` and nothing to ``c`` or
``A``.  The dense kernel forms all pairs (O(n^2)); this one computes the same
sums with ``tanh``, ``sech^2`` replaced by the constrained-minimax fits of
:mod:`softq._core.tanhsum` in ``t = exp(-2|u|/tau)`` (M = 10 terms in float32,
18 in float64) and ``softabs(u) = |u| + tau sum_m a_m t^m / (2m)`` (the soft
abs whose derivative is the fitted soft sign):

    s_i = sum_{j<i} w_j (1 - P1(t_ij)) - sum_{j>i} w_j (1 - P1(t_ij))   (sorted order)
    c_i = w_i + sum_{j != i} w_j P2(t_ij)

**Algorithm.**  Sort once (``argsort`` of the stop-gradient values, a gather
that carries the gradient).  Every pair sum is a combination of the one-sided
sums ``EL^m_i = sum_{j<i} v_j e^{-m (Z_i - Z_j)}`` and ``ER^m_i`` (mirror),
``Z = 2 x / tau``, i.e. the linear recurrences ``EL^m_i = A^m_i (EL^m_{i-1} +
v_{i-1})`` with ``A_i = exp(-2 (x_i - x_{i-1}) / tau)`` in ``[0, 1]``: stable at
every temperature.  Where tau is large against the spread (``2 m spread <
tau log 2``, per term) the complementary sums ``EK^m_i = sum_{j<i} v_j (1 -
e^{-m (Z_i - Z_j)}) = A^m_i EK^m_{i-1} + (1 - A^m_i) sum_{j<i} v_j`` replace them
(all terms non-negative: the small variations keep their relative precision
and the hard part cancels exactly).  Both directions, and the tangent's
weight vectors, go through one call of the recurrence engine
(:func:`softq._core.recurrence.linrec_arrays`); the hard parts are prefix sums.  Gaps beyond
:func:`softq._core.recurrence.gap_cutoff` temperatures give an exact 0 factor; infinite values sit at
the ends of the sorted order and are handled in closed form.

**Error.**  Each pair's soft sign is within ``delta_1`` of ``tanh`` and its
tie term within ``delta_2`` of ``sech^2`` (``delta_1, delta_2 = 3.3e-8, 4.9e-7``
for M = 10; ``1.5e-14, 4.0e-13`` for M = 18), and the error decays like
``t = e^{-2|u|/tau}``, so ``|s_i - s_dense| <= delta_1 W_near`` with
``W_near`` the weight within a few tau of ``x_i``.  Exactly tied values
(``xi == xj``) are excluded from the recurrences (the one-sided sums run over
strictly smaller / larger values) and added in closed form, so ties cost no
approximation error and, as in the dense kernel, pass no slope.  Measured
against the float64 dense definition (NumPy; t(2) data with ties and +-inf,
real weights with zeros; max over tau = 1e-4 .. 1e4 x std; ranks and ties per
unit of total weight ``W``, gradients of ``sum(a r) + sum(b c) + tau_rank``
relative to the largest x-gradient; n = 129, 500, 2000):

                     ranks      ties       tau_rank   d/dx       d/dtau
    float32 (M=10):  1e-6 W     1.3e-5 W   2e-7 rel   1.5e-4     6e-4 rel
    (dense float32:  9e-8 W     1e-7 W     2e-7 rel   1e-6       3e-4 rel)
    float64 (M=18):  6e-15 W    3e-13 W    2e-14 rel  1e-10      2e-10 rel

The float32 ties and x-gradient errors are rounding in the sums, amplified by
the tie fit's alternating coefficients (``sum|b| = 96``, ``sum m|b| = 473``);
they peak at tau ~ 1-10 std, where every pair is near.

**Gradients.**  A ``jax.custom_jvp`` (forward mode, ``jacfwd`` and
``check_grads(order=2)`` work) whose tangent is the exact derivative of the
approximated sums and again recurrences: for ``x``, ``sum_j w_j k(u_ij) (dx_i -
dx_j)`` with the derivative kernels ``sum_m 2 m a_m t^m / tau`` (the fitted
soft sign's slope) and ``-sgn(u) sum_m 2 m b_m t^m / tau``, i.e. the same
one-sided sums on ``w`` and ``w dx``; for ``w`` the sums on ``dw`` (everything
is linear in ``w``); for ``tau`` the first-moment sums ``F^m_i = sum_j v_j Z_ij
t_ij^m`` (``F_i = A_i F_{i-1} + z_i EL_i``, a second recurrence), bounded at
every temperature.  Unperturbed inputs cost nothing (symbolic zeros); second
derivatives differentiate the rule by autodiff.

**Cost.**  One sort plus O(n M) work in ~3 sqrt(n) sequential steps per
recurrence (the M-fold arrays built and reduced in the scan's blocked
layout); memory O(n M)
(the per-term sums are stored: ``2 R M n`` numbers per recurrence, ``R`` = 1
for the value, 2-3 in the tangent).  Measured value+gradient, float32,
tau = 0.01, shared 2-core CPU (``python -m benchmarks --only ranks``; dense =
the pairwise sums forced):

    n          softq.rank (sum)        softq.median(algorithm="rank")
    2,048      2.3 ms (dense 2.9)      6.1 ms (dense 59)
    16,384     18 ms (dense 451)       22 ms (dense 1,160)
    131,072    265 ms                  304 ms (jnp.median: 36 ms)

Compile (value+gradient, n = 16,384): ~2.3 s (rank), ~3.5 s (median).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from softq._core import numerics
from softq._core import recurrence
from softq._core import tanhsum


def _prev(v, fill):
  pad = jnp.full(v.shape[:-1] + (1,), fill, v.dtype)
  return jnp.concatenate([pad, v[..., :-1]], -1)


def _next(v, fill):
  pad = jnp.full(v.shape[:-1] + (1,), fill, v.dtype)
  return jnp.concatenate([v[..., 1:], pad], -1)


def _dirs(v):
  """``(..., N) -> (2, ..., N)``: left sums in natural order, right sums flipped."""
  return jnp.stack([v, jnp.flip(v, -1)], 0)


def _undir(y):
  return y[0], jnp.flip(y[1], -1)


class _Kernel:
  """A kernel ``sum_m c_m t^m`` with its exact total ``sum_m c_m`` (from the constraints).

  ``kc[j]``: the weight of the exclusive sum ``V`` when the ``j`` smallest
  terms use the complementary form (``sum_{m<j} c_m``; exactly 0 for ``j = 0``
  and exactly ``tot`` for ``j = M``, so the hard part cancels exactly there).
  """

  def __init__(self, c, tot):
    self.c = np.asarray(c, np.float64)
    self.tot = float(tot)
    self.kc = np.concatenate([[0.0], np.cumsum(self.c)[:-1], [self.tot]])
    self.hard = self.tot - self.kc
    self.hard[-1] = 0.0


class _Kernels(NamedTuple):
  """The fitted kernels of the pair sums (and the tau-tangent's moment weights)."""
  sign: _Kernel
  dsign: _Kernel
  ties: _Kernel
  dties: _Kernel
  abs: _Kernel
  f_sign: np.ndarray
  f_ties: np.ndarray
  f_abs: np.ndarray


@functools.lru_cache(maxsize=None)
def _kernels(M: int) -> _Kernels:
  a = tanhsum.coefficients("sign", M)
  b = tanhsum.coefficients("ties", M)
  m = np.arange(1, M + 1, dtype=np.float64)
  return _Kernels(
      sign=_Kernel(a, 1.0),                  # P1 ~ 1 - tanh
      dsign=_Kernel(m * a, 0.5),             # -dP1/dz: tau * slope of the soft sign / 2
      ties=_Kernel(b, 1.0),                  # P2 ~ sech^2
      dties=_Kernel(m * b, 0.0),             # -dP2/dz
      abs=_Kernel(a / (2 * m), float(np.sum(a / (2 * m)))),   # the soft abs' excess
      f_sign=m * a, f_ties=m * b, f_abs=a / 2.0)


class _Setup(NamedTuple):
  """Per-element data of the sorted sample shared by the primal and the tangent.

  ``(N,)`` arrays in sorted order unless noted; the laid-out ones are in the
  recurrence engine's layout ``(size, 2, ...)`` (direction 1 flipped).  The
  regime fields are filled by :func:`_regime`.
  """
  dt: object
  M: int
  finite: jax.Array
  posinf: jax.Array
  neginf: jax.Array
  xf: jax.Array        # xs with 0 at infinities
  zl: jax.Array        # (size, 2, nb) gap ratios 2 g / tau, laid out
  gd: jax.Array        # (2, N) gaps per direction
  A: jax.Array         # (size, 2, M, nb) factors exp(-m z)
  B: jax.Array         # (size, 2, M, nb) 1 - A
  tau: jax.Array
  gid: jax.Array       # tie-group id
  N: int
  size: int            # steps per block
  first: jax.Array     # (2, N) first element of the tie group per direction
  useK: jax.Array | None = None   # (M,) complementary form per term
  nK: jax.Array | None = None     # number of complementary terms
  sgn: jax.Array | None = None    # (M,) -1 complementary, +1 plain


def _setup(xs, tau, M) -> _Setup:
  """The :class:`_Setup` of a sorted sample (regime not yet chosen)."""
  dt = xs.dtype
  finite = jnp.isfinite(xs)
  xf = jnp.where(finite, xs, jnp.zeros_like(xs))
  ok = jnp.concatenate([jnp.zeros((1,), bool), finite[1:] & finite[:-1]])
  g = jnp.where(ok, jnp.concatenate([jnp.zeros((1,), dt), xf[1:] - xf[:-1]]), jnp.zeros_like(xf))
  z, big = recurrence.gap_ratio(2.0 * g, tau)
  reset = big | ~ok
  zd = jnp.stack([z, jnp.flip(_next(z, 0.0), -1)], 0)
  rd = jnp.stack([reset, jnp.flip(_next(reset, True), -1)], 0)
  gd = jnp.stack([g, jnp.flip(_next(g, 0.0), -1)], 0)
  # The M-fold arrays live in the scan's blocked layout (size, 2, M, nb) only.
  N = xs.shape[0]
  size = recurrence.block_size(N)
  # The barrier materialises the small transposed inputs: fused into the
  # M-fold consumers, XLA:CPU re-reads them strided M times (several x slower).
  zl, rl = lax.optimization_barrier(
      (recurrence.to_layout(zd, size), recurrence.to_layout(rd, size)))         # (size, 2, nb)
  mz = jnp.arange(1, M + 1, dtype=dt)[:, None] * zl[:, :, None, :]        # (size, 2, M, nb)
  A = jnp.where(rl[:, :, None], jnp.zeros_like(mz), jnp.exp(-mz))
  B = jnp.where(rl[:, :, None], jnp.ones_like(mz), -jnp.expm1(-mz))
  # Tie groups (equal values, xi == xj: u = 0, as in the dense kernel): the
  # one-sided sums are taken over *strictly* smaller (larger) values, i.e. at
  # the first element of the group in each direction, and ties are added in
  # closed form (tanh 0 = 0, sech^2 0 = 1, softabs 0 = tau log 2; no slope).
  key = lax.stop_gradient(xs)
  new = jnp.concatenate([jnp.ones((1,), bool), key[1:] != key[:-1]])
  gid = jnp.cumsum(new.astype(jnp.int32)) - 1
  idx = jnp.arange(xs.shape[0], dtype=jnp.int32)
  first = lax.cummax(jnp.where(new, idx, 0))
  new_r = jnp.flip(jnp.concatenate([key[1:] != key[:-1], jnp.ones((1,), bool)]), -1)
  first_r = lax.cummax(jnp.where(new_r, idx, 0))
  return _Setup(dt=dt, M=M, finite=finite, posinf=jnp.isposinf(xs), neginf=jnp.isneginf(xs),
                xf=xf, zl=zl, gd=gd, A=A, B=B, tau=tau, gid=gid, N=N, size=size,
                first=jnp.stack([first, first_r], 0))


def _regime(S, wf) -> _Setup:
  """``S`` with the terms in complementary form: ``2 m spread < tau log 2`` (``spread``: mean |x - mean|)."""
  xf = S.xf
  W = jnp.sum(wf)
  Wsafe = jnp.where(W > 0, W, jnp.ones_like(W))
  mean = jnp.sum(wf * xf) / Wsafe
  spread = lax.stop_gradient(jnp.sum(wf * jnp.abs(xf - mean)) / Wsafe)
  m = jnp.arange(1, S.M + 1, dtype=S.dt)
  useK = 2.0 * m * spread < math.log(2.0) * lax.stop_gradient(S.tau)
  return S._replace(useK=useK, nK=jnp.sum(useK.astype(jnp.int32)),
                    sgn=jnp.where(useK, -jnp.ones_like(m), jnp.ones_like(m)))


def _sums(S, v):
  """One-sided sums of the weight rows ``v`` (R, N): ``(Y, Vx)``, ``(2, R, M, N)``, ``(2, R, N)``.

  ``Y^m`` (in the blocked layout ``(size, 2, R, M, nb)``) is ``EL^m`` for
  plain terms and ``EK^m`` for complementary ones; ``Vx`` the exclusive
  cumulative weight (direction 1 flipped).  Combinations
  of them are taken over strictly smaller / larger values by :func:`_strict`.
  """
  vd = _dirs(v)
  Vx = _prev(jnp.cumsum(vd, -1), 0.0)
  Vl, vp = lax.optimization_barrier(
      (recurrence.to_layout(Vx, S.size), recurrence.to_layout(_prev(vd, 0.0), S.size)))
  Vl, vp = Vl[:, :, :, None, :], vp[:, :, :, None, :]                     # (size, 2, R, 1, nb)
  useK = S.useK[:, None]
  A, B = S.A[:, :, None], S.B[:, :, None]                           # (size, 2, 1, M, nb)
  beta = jnp.where(useK, B * Vl, A * vp)
  return recurrence.linrec_arrays(A, beta), Vx


def _strict(S, y):
  """Sums ``(2, R, N)`` over the values strictly before / after ``x_i``: the
  plain sums read at the first element of ``i``'s tie group in each direction."""
  return jnp.take_along_axis(y, jnp.broadcast_to(S.first[:, None, :], y.shape), axis=-1)


def _group_sum(S, v):
  """``sum_{j tied with i} v_j`` (``i`` included) for the rows ``v`` (R, N)."""
  n = v.shape[-1]
  seg = jax.vmap(lambda r: jax.ops.segment_sum(r, S.gid, num_segments=n))(v)
  return jnp.take(seg, S.gid, axis=-1)


def _reduce(S, c, Y):
  """``sum_m c_m Y^m`` out of the blocked layout: ``(size, ..., M, nb) -> (..., N)``."""
  return recurrence.from_layout(jnp.einsum("m,...mj->...j", c, Y), S.N)


def _plain(S, ker, Y, Vx):
  """``sum_m c_m EL^m`` (``(2, R, N)``, strict) from either form."""
  cs = S.sgn * jnp.asarray(ker.c, S.dt)
  return _strict(S, _reduce(S, cs, Y) + jnp.asarray(ker.kc, S.dt)[S.nK] * Vx)


def _compl(S, ker, Y, Vx):
  """``sum_m c_m (V - EL^m) = sum_m c_m EK^m`` (strict) from either form."""
  cs = S.sgn * jnp.asarray(ker.c, S.dt)
  return _strict(S, jnp.asarray(ker.hard, S.dt)[S.nK] * Vx - _reduce(S, cs, Y))


def _both(y, sign=1.0):
  left, right = _undir(y)
  return left + sign * right


def _values(S, K, Y, Vx, v):
  """``(s, c, A)`` of the weight rows ``v`` (R, N): linear in ``v``."""
  finite, posinf, neginf = S.finite, S.posinf, S.neginf
  vf = jnp.where(finite, v, jnp.zeros_like(v))
  zero = jnp.zeros_like(v)
  vneg = jnp.sum(jnp.where(neginf, v, zero), -1, keepdims=True)
  vpos = jnp.sum(jnp.where(posinf, v, zero), -1, keepdims=True)
  vtot = jnp.sum(v, -1, keepdims=True)
  s_fin = _both(_compl(S, K.sign, Y, Vx), -1.0) + vneg - vpos
  s_inf = jnp.where(posinf, vtot - vpos, vneg - vtot)
  s = jnp.where(finite, s_fin, s_inf)
  tied = _group_sum(S, vf)
  c_fin = tied + _both(_plain(S, K.ties, Y, Vx))
  c = jnp.where(finite, c_fin, jnp.where(posinf, vpos, vneg))
  hard = _both(jnp.cumsum(S.gd[:, None] * Vx, -1))
  soft = tied * K.abs.tot + _both(_plain(S, K.abs, Y, Vx))
  a = jnp.where(finite, hard + S.tau * soft, zero)
  return s, c, a


@functools.partial(jax.custom_jvp, nondiff_argnums=(3,))
def _core(xs, ws, tau, M):
  S = _setup(xs, tau, M)
  wf = jnp.where(S.finite, ws, jnp.zeros_like(ws))
  S = _regime(S, wf)
  Y, Vx = _sums(S, wf[None])
  s, c, a = _values(S, _kernels(M), Y, Vx, ws[None])
  return s[0], c[0], a[0]


def _is_zero(t):
  return type(t) is jax.custom_derivatives.SymbolicZero


def _core_jvp(M, primals, tangents):
  xs, ws, tau = primals
  dxs, dws, dtau = tangents
  S = _setup(xs, tau, M)
  K = _kernels(M)
  dt, finite = S.dt, S.finite
  zero = jnp.zeros_like(xs)
  wf = jnp.where(finite, ws, zero)
  S = _regime(S, wf)
  need_x, need_w, need_t = not _is_zero(dxs), not _is_zero(dws), not _is_zero(dtau)
  # The primal sums and the tangent rows go through separate scans: reverse
  # mode must see the primal outputs computed from primal inputs only.
  Y0, V0 = _sums(S, wf[None])             # (size, 2, 1, M, nb), (2, 1, N)
  s, c, a = (o[0] for o in _values(S, K, Y0, V0, ws[None]))
  rows = []
  if need_x:
    dxf = jnp.where(finite, dxs, zero)
    rows.append(wf * dxf)
  if need_w:
    rows.append(jnp.where(finite, dws, zero))
  if rows:
    Yt, Vt = _sums(S, jnp.stack(rows, 0))
  ds, dc, da = zero, zero, zero
  rtau = numerics.reciprocal(tau)
  if need_x:
    Y1, V1 = Yt[:, :, :1], Vt[:, :1]      # never concatenated with the primal rows (linearity)
    # slope of the soft sign: (2/tau) sum_m m a_m t^m (even in u)
    ks0, ks1 = (_both(_plain(S, K.dsign, y, v))[0] for y, v in ((Y0, V0), (Y1, V1)))
    ds = ds + 2.0 * (dxf * ks0 - ks1) * rtau
    # slope of the tie term: -(2/tau) sgn(u) sum_m m b_m t^m (odd; u > 0 on the left)
    kt0, kt1 = (_both(_plain(S, K.dties, y, v), -1.0)[0] for y, v in ((Y0, V0), (Y1, V1)))
    dc = dc - 2.0 * (dxf * kt0 - kt1) * rtau
    # slope of the soft abs: the soft sign (finite j only)
    sf0, sf1 = (_both(_compl(S, K.sign, y, v), -1.0)[0] for y, v in ((Y0, V0), (Y1, V1)))
    da = da + (dxf * sf0 - sf1)
  if need_t:
    # d t^m / dtau = m Z t^m / tau: first-moment sums F^m = sum_j w_j Z_ij t_ij^m,
    # F_i = A_i F_{i-1} + z_i EL_i (a second recurrence on the plain sums).
    Vl = recurrence.to_layout(V0[:, 0], S.size)[:, :, None, :]              # (size, 2, 1, nb)
    EL = jnp.where(S.useK[:, None], Vl - Y0[:, :, 0], Y0[:, :, 0])         # (size, 2, M, nb)
    F = recurrence.linrec_arrays(S.A, S.zl[:, :, None, :] * EL)
    fs, ft, fa = (_reduce(S, jnp.asarray(f, dt), F) for f in (K.f_sign, K.f_ties, K.f_abs))
    ds = ds - _both(fs, -1.0) * rtau * dtau
    dc = dc + _both(ft) * rtau * dtau
    tied = _group_sum(S, wf[None])[0]
    soft = tied * K.abs.tot + _both(_plain(S, K.abs, Y0, V0))[0] + _both(fa)
    da = da + soft * dtau
  # x and tau move neither the sums of an infinite x_i nor anything at an infinite x_j.
  ds, dc, da = (jnp.where(finite, d, zero) for d in (ds, dc, da))
  if need_w:
    k = len(rows) - 1
    sw, cw, aw = (o[0] for o in _values(S, K, Yt[:, :, k:k + 1], Vt[:, k:k + 1], dws[None]))
    ds, dc, da = ds + sw, dc + cw, da + aw
  return (s, c, a), (ds, dc, da)


_core.defjvp(_core_jvp, symbolic_zeros=True)


def pair_sums(x, w, tau):
  """``(s, c, A)`` of the module docstring for the sample ``x`` (n,), weights ``w``.

  ``w`` must be non-negative (0 for absent entries, which are still scored);
  ``tau`` positive.  Outputs in the order of ``x``.  Differentiable in ``x``,
  ``w`` and ``tau`` (a ``custom_jvp``: forward and reverse mode).
  """
  dtype = x.dtype
  cdt = jnp.float32 if jnp.dtype(dtype).itemsize < 4 else dtype
  x = x.astype(cdt)
  w = w.astype(cdt)
  tau = numerics.floor_tau(jnp.asarray(tau, cdt))
  n = x.shape[0]
  perm = numerics.argsort(x)
  M = tanhsum.default_terms(cdt)
  s, c, a = _core(x[perm], w[perm], tau, M)
  inv = jnp.zeros((n,), perm.dtype).at[perm].set(jnp.arange(n, dtype=perm.dtype))
  return tuple(o[inv].astype(dtype) for o in (s, c, a))
