"""The ``"sorted"`` costs: cumulative sums of increments between sorted neighbours.

The math, the error bound and the cost are in :mod:`softq._algorithms.deviation.sorted`;
this module evaluates them.  :func:`sorted_costs` is a ``jax.custom_jvp``
whose tangent is again linear recurrences (JAX transposes it for reverse
mode; no ``custom_vjp``, so forward mode works), built on the blocked
two-level scans of :mod:`softq._core.expsum`.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from softq._core import expsum
from softq._core import recurrence

DEFAULT_BLOCK = 64


# ---------------------------------------------------------------------------
# The core: cost increments between sorted neighbours.
# ---------------------------------------------------------------------------
def _prev(v, fill):
  return jnp.concatenate([jnp.full((1,), fill, v.dtype), v[:-1]])


def _next(v, fill):
  return jnp.concatenate([v[1:], jnp.full((1,), fill, v.dtype)])


class _Setup(NamedTuple):
  """Padded, sorted per-element data shared by the primal and every tangent.

  Arrays are ``(N,)``: the ``n`` sorted values padded with ``+inf`` to a
  multiple of the block ``B``.  The per-term regime and coefficients are
  static-length tuples (the terms are unrolled: see :mod:`softq._core.expsum`).
  """
  n: int
  N: int
  B: int
  M: int
  dt: object
  xs: jax.Array       # sorted values, +inf padded
  ws: jax.Array       # weights (0 on padding)
  finite: jax.Array
  xf: jax.Array       # xs with 0 at infinities
  Cx: jax.Array       # weight strictly before i
  D: jax.Array        # weight from i on
  W: jax.Array        # total weight
  ok: jax.Array       # both ends of gap i finite
  g: jax.Array        # gap x_i - x_{i-1} (0 unless ok)
  z: jax.Array        # 2 g / tau, clipped at the exp limit
  reset: jax.Array    # factor exactly 0 (clipped gap, infinity, first element)
  gk: jax.Array       # sum_{m in K} 2 m a_m G_m per gap
  useK: tuple         # per term: complementary form (traced booleans)
  a2m: tuple          # per term: 2 m a_m (floats)
  sigK: jax.Array     # sum_{m in K} 2 m a_m
  tw: jax.Array       # 2 Cx - W
  hc: jax.Array       # hard slope 2 (Cx - k) - 1 - sigK tw
  p: jax.Array        # the anchor: finite sorted position nearest r
  tau: jax.Array
  k: jax.Array


def _setup(xs, ws, k, tau, r, M, block):
  """The :class:`_Setup` of a sorted sample."""
  n = xs.shape[0]
  dt = xs.dtype
  B = max(1, min(block, n))
  N = n + (-n) % B
  if N > n:
    xs = jnp.concatenate([xs, jnp.full((N - n,), jnp.inf, dt)])
    ws = jnp.concatenate([ws, jnp.zeros((N - n,), dt)])
  finite = jnp.isfinite(xs)
  xf = jnp.where(finite, xs, jnp.zeros_like(xs))
  C = jnp.cumsum(ws)
  W = C[-1]
  Cx = _prev(C, 0.0)                       # weight strictly before i (sorted)
  D = W - Cx                               # weight from i on
  ok = jnp.concatenate([jnp.zeros((1,), bool), finite[1:] & finite[:-1]])
  g = jnp.where(ok, jnp.concatenate([jnp.zeros((1,), dt), xf[1:] - xf[:-1]]), jnp.zeros_like(xf))
  z, big = recurrence.gap_ratio(2.0 * g, tau)
  reset = big | ~ok
  # Regime per term: complementary sums where exp(-2m |x - r| / tau) is mostly
  # near 1 (weighted mean distance to r below tau log 2 / (2m)).
  wf = jnp.where(finite, ws, jnp.zeros_like(ws))
  wsum = jnp.sum(wf)
  spread = lax.stop_gradient(
      jnp.sum(wf * jnp.abs(xf - r)) / jnp.where(wsum > 0, wsum, jnp.ones_like(wsum)))
  tau_sg = lax.stop_gradient(tau)
  useK = [2.0 * (m + 1) * spread < math.log(2.0) * tau_sg for m in range(M)]
  a = expsum.coefficients(M)
  a2m = [float(2 * (m + 1) * a[m]) for m in range(M)]
  sigK = sum(jnp.where(useK[m], a2m[m], 0.0) for m in range(M)).astype(dt)
  tw = 2.0 * Cx - W
  hc = 2.0 * (Cx - k) - 1.0 - sigK * tw
  # sum_{m in K} 2 m a_m G_m, G_m = g - g phi(m z) = tau H(m z) / (2m): one fused
  # n-sized chain (H_m = H_{m-1} + H_1 + B_1 B_{m-1}, all terms >= 0).
  gk = _k_gap_term(g, z, reset, tau, useK, a2m, M)
  # Anchor: the finite sorted position nearest r (cost 0 there).
  nneg = jnp.sum(jnp.isneginf(xs))
  nfin = jnp.sum(finite)
  p = jnp.searchsorted(lax.stop_gradient(xs), r)
  p = jnp.clip(p, nneg, jnp.maximum(nneg + nfin - 1, nneg))
  return _Setup(n, N, B, M, dt, xs, ws, finite, xf, Cx, D, W, ok, g, z, reset, gk, tuple(useK),
                tuple(a2m), sigK, tw, hc, p, tau, k)


def _gap_seeds(z, reset):
  """``(0, A(z), B(z), h(z))`` of a gap for the per-term power chains (``A = 0, B = 1, h = 0`` clipped)."""
  zero = jnp.zeros_like(z)
  a1 = jnp.where(reset, zero, jnp.exp(-z))
  b1 = jnp.where(reset, jnp.ones_like(z), -jnp.expm1(-z))
  return zero, a1, b1, jnp.where(reset, zero, expsum.h1(z))


def _k_gap_term(g, z, reset, tau, useK, a2m, M):
  """``sum_{m in K} 2 m a_m G_m`` per gap, ``G_m = g (1 - phi(m z))``, accurately."""
  zero, a1, b1, h = _gap_seeds(z, reset)
  am, bm, hm = jnp.ones_like(z), zero, zero
  acc = zero
  accb = zero
  for m in range(M):
    hm = hm + h + b1 * bm
    bm = bm + am * b1
    am = am * a1
    c = float(a2m[m]) / (2.0 * (m + 1))          # a_m
    acc = acc + jnp.where(useK[m], c * hm, 0.0)
    accb = accb + jnp.where(useK[m], c * bm, 0.0)
  sig = sum(jnp.where(useK[m], a2m[m], 0.0) for m in range(M))
  # Clipped gaps: G_m = g - tau B_m / (2m) with B_m = 1.
  return jnp.where(reset, g * sig - tau * accb, tau * acc)


def _weight_tangent_state(S, dws):
  """The setup ``S`` with the weight tangent ``dws`` in place of the weights (linear in them)."""
  dwp = _pad(dws, S)
  dC = jnp.cumsum(dwp)
  dW = dC[-1]
  Cx = _prev(dC, 0.0)
  return S._replace(ws=dwp, Cx=Cx, D=dW - Cx, tw=2.0 * Cx - dW)


def _anchored_cumsum(delta, p):
  """``cost_i = sum_{p < l <= i} delta_l`` (``i > p``), ``-sum_{i < l <= p}`` (``i < p``)."""
  idx = jnp.arange(delta.shape[0])
  zero = jnp.zeros_like(delta)
  up = jnp.where(idx > p, delta, zero)
  down = jnp.where(idx <= p, delta, zero)
  return jnp.cumsum(up) - (jnp.cumsum(down[::-1])[::-1] - down)


def _dual(S, fwd, bwd):
  """Both directions in the engine's layout ``(B, 2, nb)``: ``fwd`` as is, ``bwd`` flipped.

  The backward sums (``j >= i``) are forward sums of the flipped row, so both
  directions are the engine's one forward recurrence (:func:`_scan` runs them).
  ``N`` is a multiple of ``B``: the flip maps blocks onto blocks, the same
  operations in the same order as a backward scan.
  """
  return recurrence.to_layout(jnp.stack([fwd, bwd[::-1]], 0), S.B)


def _undual(y, N):
  """``(B, 2, nb) -> (forward (N,), backward (N,))`` in natural order."""
  y = recurrence.from_layout(y, N)
  return y[0], y[1][::-1]


#: Direction signs on the ``(2, nb)`` rows of the layout: the backward
#: direction's contribution enters every combination with the opposite sign.
def _signs(dt):
  return jnp.asarray([[1.0], [-1.0]], dt)


def _gaps(S):
  """Per direction, the factor's gap and the other side's gap: ``(z, reset, z_other, reset_other)``.

  Forward element ``i`` has factor ``A^m(z_i)`` (gap ``i-1..i``) and reads
  the next gap in its output; backward, the factor is ``A^m(z_{i+1})`` and
  the output reads gap ``i``.
  """
  zn, rn = _next(S.z, 0.0), _next(S.reset, True)
  return (_dual(S, S.z, zn), _dual(S, S.reset, rn), _dual(S, zn, S.z), _dual(S, rn, S.reset))


def _scan(S, step, emit, xs, z2, r2):
  """Both directions of a recurrence: one engine call per direction.

  ``xs`` holds both directions on axis ``-2`` (:func:`_dual`); ``emit(ys, t,
  sign)`` gets the direction's sign (``+1`` forward, ``-1`` backward, shape
  ``(1, 1)``).  The two calls are independent loops, which XLA:CPU runs
  concurrently: one call over the stacked directions makes a smaller program
  (7,600 instead of 11,100 optimised HLO lines) but ran the rows (256, 512)
  value+gradient 1.6x slower on 2 cores (docs/performance.md).
  """
  sg = _signs(S.dt)
  outs = []
  for d in range(2):
    part = lambda v, d=d: v[..., d:d + 1, :]
    xd = jax.tree.map(part, xs)
    ed = lambda ys, t, s=sg[d:d + 1]: emit(ys, t, s)
    outs.append(recurrence.linrec(step, ed, xd, expsum.block_powers(part(z2), part(r2), S.M)))
  return jax.tree.map(lambda a, b: jnp.concatenate([a, b], -2), outs[0], outs[1])


def _primal(S, want_q=False, split=False):
  """Increments ``delta`` (N,) and, with ``want_q``, the Jacobian diagonal ``Q``.

  ``split``: only the soft parts (``delta - g hc`` and ``Q`` less its hard
  part ``-s + Cx - Dx - sigK (...)``), for :func:`soft_increments`.

  Forward:  ``y_i = A_i^m y_{i-1} + beta_i`` -- ``L_i`` (``beta = w_i``) or
  ``K_i`` (``beta = B_m(z_i) C_{i-1}``).  Backward: ``u_i = A_{i+1}^m u_{i+1} +
  beta'_i`` -- ``R_i`` (``w_i``) or ``K'_i`` (``B_m(z_{i+1}) D_{i+1}``).  The
  increment over gap ``l`` is

      delta_l = g_l hc_l + gk_l tw_l + tau sum_m a_m sgn_m B_m(z_l) (y_{l-1} - u_l)

  (``sgn = -1`` plain, ``+1`` complementary): each direction emits its own
  n-sized half, so no (n, M) array is ever stored.  ``Q_i = d cost_i / d x_i``
  (others fixed) ``= -s + sum_j w_j sa'(x_i - x_j)`` likewise splits into halves.
  Both directions share one layout (:func:`_dual`), one engine call each (:func:`_scan`).
  """
  M, tau, dt, N = S.M, S.tau, S.dt, S.N
  useK, a2m, sigK, W = S.useK, S.a2m, S.sigK, S.W
  am = [a2m[m] / (2.0 * (m + 1)) for m in range(M)]       # a_m
  z2, r2, zo2, ro2 = _gaps(S)
  w2 = _dual(S, S.ws, S.ws)
  c2 = _dual(S, S.Cx, _next(S.D, 0.0))

  def step(t):
    zt, rt, wt, ct = t[:4]
    As, Bs, _ = expsum.gap_powers(zt, rt, M, need_h=False)
    return As, [jnp.where(useK[m], Bs[m] * ct, wt) for m in range(M)]

  def emit(ys, t, sg):
    wt, zo, ro = t[2], t[4], t[5]
    _, Bo, _ = expsum.gap_powers(zo, ro, M, need_h=False)      # the other side's gap
    d = sg * (sum(jnp.where(useK[m], am[m], -am[m]) * Bo[m] * ys[m] for m in range(M)) * tau)
    if not want_q:
      return d
    q = sg * sum(a2m[m] * jnp.where(useK[m], ys[m], wt - ys[m]) for m in range(M))
    return d, q

  out = _scan(S, step, emit, (z2, r2, w2, c2, zo2, ro2), z2, r2)
  fd, bd = _undual(out[0] if want_q else out, N)
  soft = S.gk * S.tw + _prev(fd, 0.0) + bd
  delta = soft if split else S.g * S.hc + soft
  delta = jnp.where(S.ok, delta, jnp.zeros((N,), dt))
  if not want_q:
    return delta, None
  # -s + Cx - Dx = 2 (Cx - k) - 1 + w exactly; the rest of the hard part is -sigK (Cx - Dx).
  wsf, Cxf = S.ws, S.Cx
  qf, qb = _undual(out[1], N)
  q = qf + qb
  if not split:
    q = q + 2.0 * (Cxf - S.k) - 1.0 + wsf - sigK * (2.0 * Cxf + wsf - W)
  q = jnp.where(S.finite, q, jnp.zeros((N,), dt))
  return delta, q


def _sa_prime_conv(S, v, soft_only=False):
  """``sum_j v_j sa'(x_j - x_i)`` for every ``i`` (``sa'`` the fitted soft sign).

  Exclusive one-sided sums ``Lx_i = A_i (Lx_{i-1} + v_{i-1})`` (or
  ``Kx_i = A_i Kx_{i-1} + B_i P_i``, ``P_i = sum_{j<i} v_j``) and their
  mirrors, each scan emitting its n-sized share of

      (1 - sigK)(Sv - Pv) + sum_K 2ma (K'x - Kx) - sum_L 2ma (Rx - Lx).
  """
  M = S.M
  useK, a2m, sigK = S.useK, S.a2m, S.sigK
  Pv = _prev(jnp.cumsum(v), 0.0)              # sum_{j<i} v_j
  Sv = jnp.sum(v) - Pv - v                    # sum_{j>i} v_j
  z2, r2, _, _ = _gaps(S)

  def step(t):
    zt, rt, vt, pt = t
    As, Bs, _ = expsum.gap_powers(zt, rt, M, need_h=False)
    return As, [jnp.where(useK[m], Bs[m] * pt, As[m] * vt) for m in range(M)]

  def emit(ys, t, sg):
    return sg * sum(a2m[m] * jnp.where(useK[m], -ys[m], ys[m]) for m in range(M))

  xs = (z2, r2, _dual(S, _prev(v, 0.0), _next(v, 0.0)), _dual(S, Pv, Sv))
  cf, cb = _undual(_scan(S, step, emit, xs, z2, r2), S.N)
  out = cf + cb
  return out if soft_only else (1.0 - sigK) * (Sv - Pv) + out


def _k_gap_term_dtau(g, z, reset, useK, a2m, M):
  """``tau d/dtau`` of ``sum_{m in K} 2 m a_m G_m`` per gap (``G_m = tau H(m z) / 2m``).

  ``tau dG_m/dtau = G_m - g B_m = tau (H_m - m z B_m) / (2m)``; divided by tau:
  ``(H_m - m z B_m) / (2m)`` (``-1/(2m)`` on clipped gaps, where ``G = g - tau/2m``).
  """
  zero, a1, b1, h = _gap_seeds(z, reset)
  am, bm, hm = jnp.ones_like(z), zero, zero
  acc = zero
  accr = 0.0
  for m in range(M):
    hm = hm + h + b1 * bm
    bm = bm + am * b1
    am = am * a1
    c = float(a2m[m]) / (2.0 * (m + 1))          # a_m
    acc = acc + jnp.where(useK[m], c * ((m + 1) * z * bm - hm), 0.0)
    accr = accr + jnp.where(useK[m], c, 0.0)
  return jnp.where(reset, -accr, -acc)


def _tau_tangent(S):
  """``d delta / d tau`` (N,), directly: finite at every temperature.

  The one-sided sums' derivatives are carried scaled by ``tau``
  (``tau dA^m/dtau = m z A^m``, ``tau dB_m/dtau = -m z A^m``, ``z`` clipped so
  every factor is bounded), with ``A_i y_{i-1} = y_i - beta_i``; the sums
  themselves come from a first pass that stores them ``(B, M, nb)``.
  """
  M, tau = S.M, S.tau
  useK, a2m = S.useK, S.a2m
  am = [a2m[m] / (2.0 * (m + 1)) for m in range(M)]
  z2, r2, zo2, ro2 = _gaps(S)
  w2 = _dual(S, S.ws, S.ws)
  c2 = _dual(S, S.Cx, _next(S.D, 0.0))

  def betas(Bs, wt, ct):
    return [jnp.where(useK[m], Bs[m] * ct, wt) for m in range(M)]

  def step(t):
    zt, rt, wt, ct = t[:4]
    As, Bs, _ = expsum.gap_powers(zt, rt, M, need_h=False)
    return As, betas(Bs, wt, ct)

  stack = lambda ys, t, sg: jnp.stack(ys, 0)
  Y = _scan(S, step, stack, (z2, r2, w2, c2), z2, r2)          # (B, M, 2, nb)

  def dstep(t):
    zt, rt, wt, ct, Yt = t[:5]
    As, Bs, _ = expsum.gap_powers(zt, rt, M, need_h=False)
    be = betas(Bs, wt, ct)
    us = []
    for m in range(M):
      mz = (m + 1) * zt
      us.append(mz * (Yt[m] - be[m]) + jnp.where(useK[m], -mz * As[m] * ct, 0.0))
    return As, us

  def demit(dys, t, sg):
    Yt, zo, ro = t[4], t[5], t[6]
    Ao, Bo, _ = expsum.gap_powers(zo, ro, M, need_h=False)
    out = 0.0
    for m in range(M):
      val = (Bo[m] - (m + 1) * zo * Ao[m]) * Yt[m] + Bo[m] * dys[m]
      out = out + jnp.where(useK[m], am[m], -am[m]) * val
    return sg * out

  tf, tb = _undual(_scan(S, dstep, demit, (z2, r2, w2, c2, Y, zo2, ro2), z2, r2), S.N)
  dgk = _k_gap_term_dtau(S.g, S.z, S.reset, useK, a2m, M)
  d = dgk * S.tw + _prev(tf, 0.0) + tb
  return jnp.where(S.ok, d, jnp.zeros((S.N,), S.dt))


def _is_zero(t):
  return type(t) is jax.custom_derivatives.SymbolicZero


def _pad(v, S):
  N, n = S.N, S.n
  return jnp.concatenate([v, jnp.zeros((N - n,), v.dtype)]) if N > n else v


def _finish(S, delta):
  cost = _anchored_cumsum(delta, S.p)
  return jnp.where(S.finite, cost, jnp.full_like(cost, jnp.inf))[:S.n]


@functools.partial(jax.custom_jvp, nondiff_argnums=(5, 6))
def _core(xs, ws, k, tau, r, M, block):
  """Sorted costs (``n``,), anchored at ``r``; +inf for infinite values."""
  S = _setup(xs, ws, k, tau, r, M, block)
  return _finish(S, _primal(S)[0])


def _core_jvp(M, block, primals, tangents):
  """Tangent of the costs: linear in ``(dx, dw, dk, dtau)``.

  * ``x``: the Jacobian has diagonal ``Q_i = -s + sum_j w_j sa'(x_i - x_j)``
    (from the primal pass) and off-diagonal ``w_j sa'(x_j - x_i)``: two
    exclusive one-sided recurrences on ``v = w dx`` (:func:`_sa_prime_conv`);
  * ``w``: the costs are linear in ``w`` -- the primal increments with weights
    ``dw`` (same gaps, same regimes);
  * ``tau``: the increments' derivative, with the recurrences differentiated
    in ``tau`` (:func:`_tau_tangent`; bounded at every temperature);
  * ``k``: ``-2 (x - x_p)``.
  Every row is taken relative to the anchor row ``p`` (cost identically 0).
  Unperturbed inputs (symbolic zeros) cost nothing.
  """
  xs, ws, k, tau, r = primals
  dxs, dws, dk, dtau, _ = tangents
  S = _setup(xs, ws, k, tau, r, M, block)
  need_q = not _is_zero(dxs)
  need_t = not _is_zero(dtau)
  delta, q = _primal(S, want_q=need_q)
  n, dt, finite, p = S.n, S.dt, S.finite, S.p
  cost_full = _anchored_cumsum(delta, p)
  cost = jnp.where(finite, cost_full, jnp.full_like(cost_full, jnp.inf))[:n]
  xf = S.xf
  dev = xf - xf[p]
  out = jnp.zeros((S.N,), dt)
  if need_q:
    dx = jnp.where(finite, _pad(dxs, S), jnp.zeros((S.N,), dt))
    part = q * dx + _sa_prime_conv(S, S.ws * dx)
    out = out + (part - part[p])
  if need_t:
    out = out + _anchored_cumsum(_tau_tangent(S), p) * dtau
  if not _is_zero(dws):
    Sd = _weight_tangent_state(S, dws)
    Sd = Sd._replace(hc=2.0 * Sd.Cx - S.sigK * Sd.tw)
    out = out + _anchored_cumsum(_primal(Sd)[0], p)
  if not _is_zero(dk):
    out = out - 2.0 * dk * dev
  out = jnp.where(finite, out, jnp.zeros_like(out))[:n]
  return cost, out


_core.defjvp(_core_jvp, symbolic_zeros=True)


def sorted_costs(xs, ws, k, r, tau, terms: int, block: int = DEFAULT_BLOCK):
  """Costs of the sorted sample ``xs`` (weights ``ws``), anchored at ``r``.

  ``(n,)`` in sorted order: ``+inf`` where ``xs`` is infinite and exactly 0 at
  the anchor (the finite sorted position nearest ``r``); ``terms`` exponential
  terms (:func:`softq._core.expsum.default_terms`).  Differentiable in
  ``xs``, ``ws``, ``k`` and ``tau`` (``r`` only picks the anchor and regime).
  """
  dt = xs.dtype
  k = jnp.asarray(k, dt)
  tau = jnp.asarray(tau, dt)
  r = lax.stop_gradient(jnp.asarray(r, dt))
  return _core(xs, ws, k, tau, r, terms, block)


# ---------------------------------------------------------------------------
# The k-independent increments: every order statistic from one pass.
# ---------------------------------------------------------------------------
@functools.partial(jax.custom_jvp, nondiff_argnums=(4, 5))
def _soft_core(xs, ws, tau, r, M, block):
  """``(E, sigK)``: the soft part of every increment, and the regime's hard slope."""
  S = _setup(xs, ws, 0.0, tau, r, M, block)
  return _primal(S, split=True)[0][:S.n], S.sigK


def _soft_core_jvp(M, block, primals, tangents):
  """Tangent of ``E``, linear in ``(dx, dw, dtau)``.

  The increment's x-tangent is ``part_l - part_{l-1}`` with ``part_i = Q_i dx_i +
  sum_j w_j dx_j sa'(x_j - x_i)``; its hard part is exactly
  ``(hc0_l - 2k)(dx_l - dx_{l-1})`` (the derivative of ``g_l (hc0_l - 2k)``),
  so ``dE`` is the same difference over the *soft* parts of ``Q`` and of the
  convolution alone: no W-sized terms cancel.  ``dw``: ``E`` is linear in ``w``
  (the primal with weights ``dw``); ``dtau``: the hard part has none.
  """
  xs, ws, tau, r = primals
  dxs, dws, dtau, _ = tangents
  S = _setup(xs, ws, 0.0, tau, r, M, block)
  need_q = not _is_zero(dxs)
  soft, q = _primal(S, want_q=need_q, split=True)
  N, dt, finite, ok = S.N, S.dt, S.finite, S.ok
  out = jnp.zeros((N,), dt)
  if need_q:
    dx = jnp.where(finite, _pad(dxs, S), jnp.zeros((N,), dt))
    part = q * dx + _sa_prime_conv(S, S.ws * dx, soft_only=True)
    out = out + jnp.where(ok, part - _prev(part, 0.0), jnp.zeros((N,), dt))
  if not _is_zero(dtau):
    out = out + _tau_tangent(S) * dtau
  if not _is_zero(dws):
    Sd = _weight_tangent_state(S, dws)
    out = out + _primal(Sd, split=True)[0]
  n = S.n
  return (soft[:n], S.sigK), (out[:n], jnp.zeros_like(S.sigK))


_soft_core.defjvp(_soft_core_jvp, symbolic_zeros=True)


class Increments(NamedTuple):
  """The cost increments of a sorted sample, for every order statistic at once.

  Over the gap ``l`` (between sorted positions ``l - 1`` and ``l``) the cost of
  order statistic ``k`` grows by ``where(ok, g (hc0 - 2k) + soft, 0)``: ``k``
  enters only the hard slope (see :func:`soft_increments`).
  """
  g: jax.Array       # (n,) gaps x_l - x_{l-1} (0 at l = 0, ties, infinities)
  hc0: jax.Array     # (n,) k-independent hard slope 2 C_{l-1} - 1 - sigK (2 C_{l-1} - W)
  soft: jax.Array    # (n,) the soft part (exponential-sum recurrences)
  ok: jax.Array      # (n,) both ends of the gap finite
  finite: jax.Array  # (n,)

  def at(self, k):
    """The increments of order statistic ``k`` (a scalar), ``(n,)``."""
    d = self.g * (self.hc0 - 2.0 * k) + self.soft
    return jnp.where(self.ok, d, jnp.zeros_like(d))


def soft_increments(xs, ws, tau, r, terms: int, block: int = DEFAULT_BLOCK) -> Increments:
  """The increments of :func:`sorted_costs`, shared by every order statistic.

  ``delta_l(k) = g_l (2 (C_{l-1} - k) - 1) + soft_l``: the soft part (all of the
  exponential-sum work) does not depend on ``k``, so one pass of the
  recurrences serves every order statistic of the sample; each order
  statistic then costs one O(n) (or band-local) cumulative sum.  ``r`` picks
  the regime of each term (as in :func:`sorted_costs`; both are exact) and
  is not differentiated.  Differentiable in ``xs``, ``ws`` and ``tau``.
  """
  dt = xs.dtype
  tau = jnp.asarray(tau, dt)
  r = lax.stop_gradient(jnp.asarray(r, dt))
  soft, sig = _soft_core(xs, ws, tau, r, terms, block)
  sig = lax.stop_gradient(sig)
  finite = jnp.isfinite(xs)
  xf = jnp.where(finite, xs, jnp.zeros_like(xs))
  ok = jnp.concatenate([jnp.zeros((1,), bool), finite[1:] & finite[:-1]])
  g = jnp.where(ok, xf - _prev(xf, 0.0), jnp.zeros_like(xf))
  C = jnp.cumsum(ws)
  Cx = _prev(C, 0.0)
  hc0 = 2.0 * Cx - 1.0 - sig * (2.0 * Cx - C[-1])
  return Increments(g, hc0, soft, ok, finite)


def anchor(xs, r):
  """The finite sorted position nearest ``r`` (where :func:`sorted_costs` is 0)."""
  nneg = jnp.sum(jnp.isneginf(xs))
  nfin = jnp.sum(jnp.isfinite(xs))
  p = jnp.searchsorted(lax.stop_gradient(xs), r)
  return jnp.clip(p, nneg, jnp.maximum(nneg + nfin - 1, nneg))


def costs_from_increments(inc: Increments, k, p):
  """Costs of order statistic ``k`` anchored at position ``p`` (0 there), ``(n,)``.

  The same numbers as :func:`sorted_costs` to rounding (the cumulative sums
  run outwards from ``p``); ``+inf`` at infinite values.
  """
  cost = _anchored_cumsum(inc.at(jnp.asarray(k, inc.g.dtype)), p)
  return jnp.where(inc.finite, cost, jnp.full_like(cost, jnp.inf))
