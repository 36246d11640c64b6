"""The ``"sorted"`` costs: cumulative sums of increments between sorted neighbours.

The math, the error bound and the cost are in :mod:`softq._algorithms.sorted_deviation`;
this module evaluates them.  :func:`sorted_costs` is a ``jax.custom_jvp``
whose tangent is again linear recurrences (JAX transposes it for reverse
mode; no ``custom_vjp``, so forward mode works), built on the blocked
two-level scans of :mod:`softq._core.expsum`.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from softq._core import expsum

DEFAULT_BLOCK = 128


# ---------------------------------------------------------------------------
# The core: cost increments between sorted neighbours.
# ---------------------------------------------------------------------------
def _prev(v, fill):
  return jnp.concatenate([jnp.full((1,), fill, v.dtype), v[:-1]])


def _next(v, fill):
  return jnp.concatenate([v[1:], jnp.full((1,), fill, v.dtype)])


def _setup(xs, ws, k, tau, r, M, block):
  """Padded, sorted, laid-out per-element data shared by the primal and tangent."""
  n = xs.shape[0]
  dt = xs.dtype
  lim = expsum.exp_limit(dt)
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
  z, big = expsum.safe_ratio(2.0 * g, tau, lim)
  reset = big | ~ok
  # Regime per term: complementary sums where exp(-2m |x - r| / tau) is mostly
  # near 1 (weighted mean distance to r below tau log 2 / (2m)).
  wf = jnp.where(finite, ws, jnp.zeros_like(ws))
  wsum = jnp.sum(wf)
  spread = lax.stop_gradient(
      jnp.sum(wf * jnp.abs(xf - r)) / jnp.where(wsum > 0, wsum, jnp.ones_like(wsum)))
  tau_sg = lax.stop_gradient(tau)
  mvec = np.arange(1, M + 1, dtype=np.float64)
  useK = 2.0 * jnp.asarray(mvec, dt) * spread < math.log(2.0) * tau_sg     # (M,)
  a2m = 2.0 * mvec * expsum.coefficients(M)                                # 2 m a_m
  sigK = jnp.sum(jnp.where(useK, jnp.asarray(a2m, dt), 0.0))
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
  return dict(n=n, N=N, B=B, M=M, dt=dt, xs=xs, ws=ws, finite=finite, xf=xf, Cx=Cx, D=D, W=W,
              ok=ok, g=g, z=z, reset=reset, gk=gk, useK=useK, a2m=a2m, sigK=sigK, tw=tw, hc=hc, p=p,
              tau=tau, k=k)


def _k_gap_term(g, z, reset, tau, useK, a2m, M):
  """``sum_{m in K} 2 m a_m G_m`` per gap, ``G_m = g (1 - phi(m z))``, accurately."""
  zero = jnp.zeros_like(z)
  a1 = jnp.where(reset, zero, jnp.exp(-z))
  b1 = jnp.where(reset, jnp.ones_like(z), -jnp.expm1(-z))
  h = jnp.where(reset, zero, expsum.h1(z))
  am, bm, hm = jnp.ones_like(z), zero, zero
  acc = zero
  accb = zero
  for m in range(M):
    hm = hm + h + b1 * bm
    bm = bm + am * b1
    am = am * a1
    c = float(a2m[m]) / (2.0 * (m + 1))          # a_m
    acc = acc + _sel(useK[m], c * hm, zero)
    accb = accb + _sel(useK[m], c * bm, zero)
  sig = jnp.sum(jnp.where(useK, jnp.asarray(a2m, z.dtype), 0.0))
  # Clipped gaps: G_m = g - tau B_m / (2m) with B_m = 1.
  return jnp.where(reset, g * sig - tau * accb, tau * acc)


def _sel(pred, a, b):
  """``a if pred else b`` for a scalar ``pred`` (``lax.select``: one op, cheap to trace)."""
  return lax.select(pred, a, b)


def _anchored_cumsum(delta, p):
  """``cost_i = sum_{p < l <= i} delta_l`` (``i > p``), ``-sum_{i < l <= p}`` (``i < p``)."""
  idx = jnp.arange(delta.shape[0])
  zero = jnp.zeros_like(delta)
  up = jnp.where(idx > p, delta, zero)
  down = jnp.where(idx <= p, delta, zero)
  return jnp.cumsum(up) - (jnp.cumsum(down[::-1])[::-1] - down)


def _unseq(S, out):
  """Inverse of :func:`_seq_stack` for a scan's ``(B, nb)`` output (or a flat ``(2N,)``): ``(fwd, bwd)``."""
  v = expsum.from_layout(out) if out.ndim == 2 else out
  N = S['N']
  return v[:N], v[N:][::-1]


def _seq_stack(S, pairs):
  """Both directions of each input as one sequence, all inputs in one ``(B, K, nb)`` array.

  A backward recurrence is a forward one on reversed data, and each half
  starts with a reset (factor 0: the first gap, and the one past the end), so
  one scan runs both with no crosstalk; blocks never straddle the halves.
  Each pair ``(fwd, bwd)`` becomes ``fwd`` then ``bwd`` reversed; stacking
  the inputs costs one transpose for all.  Booleans become 0/1.
  """
  dt = S['dt']
  flat = jnp.stack([jnp.concatenate([f, b[::-1]]).astype(dt) for f, b in pairs])  # (K, 2N)
  return flat.reshape(len(pairs), -1, S['B']).transpose(2, 0, 1)


def _unstack(out):
  """A scan's stacked ``(B, J, nb)`` output -> ``(J, 2N)`` in sequence order."""
  return out.transpose(1, 2, 0).reshape(out.shape[1], -1)


def _unseq_shifted(S, out):
  """``(e_i, e'_i)`` from an output emitted one position late (at the next element).

  Forward: position ``i`` itself.  Backward: sequence position ``p + 1`` of
  original ``i`` (``p = N - 1 - i``), i.e. flat index ``2N - i``; ``i = 0`` has
  none (its gap is masked out by the callers).
  """
  v = expsum.from_layout(out) if out.ndim == 2 else out
  N = S['N']
  bwd = jnp.concatenate([jnp.zeros((1,), v.dtype), v[N + 1:][::-1]])
  return v[:N], bwd


def _scan(S, step, emit, *data):
  """:func:`softq._core.expsum.two_level_scan` of both directions at once.

  The step sees ``(G, *data)`` at its position: ``G = (z, reset)`` of its
  factor (forward: ``A(z_i)``, gap ``i-1..i``; backward: ``A(z_{i+1})``, as
  ``u_i = A_{i+1} u_{i+1} + beta_i``), then each ``data`` array's slice
  (``(B, K, nb)`` from :func:`_seq_stack`).  The gaps stay a separate input
  so that a scan linear in ``data`` (a tangent) stays linear.
  """
  z, reset = S['z'], S['reset']
  G = _seq_stack(S, ((z, _next(z, 0.0)), (reset, _next(reset, True))))
  return expsum.two_level_scan(step, emit, (G,) + data, G[:, 0], G[:, 1] > 0.5, S['M'])


def _gap(t):
  """``(z, reset)`` of a step's slice (see :func:`_scan`)."""
  return t[0][0], t[0][1] > 0.5


def _block_sign(S, nb):
  """``+1`` on the forward half's blocks, ``-1`` on the backward half's ``(nb,)``."""
  return jnp.where(jnp.arange(nb) < nb // 2, 1.0, -1.0).astype(S['dt'])


def _coefs(S):
  """Per term: ``a_m sgn_m`` (``sgn = +1`` complementary, -1 plain) and ``2 m a_m``."""
  a2m = [float(v) for v in S['a2m']]
  am = [v / (2.0 * (m + 1)) for m, v in enumerate(a2m)]
  return [jnp.where(S['useK'][m], am[m], -am[m]) for m in range(S['M'])], a2m


def _primal(S, want_q=False):
  """Increments ``delta`` (N,) and, with ``want_q``, the Jacobian diagonal ``Q``.

  Forward:  ``y_i = A_i^m y_{i-1} + beta_i`` -- ``L_i`` (``beta = w_i``) or
  ``K_i`` (``beta = B_m(z_i) C_{i-1}``).  Backward: ``u_i = A_{i+1}^m u_{i+1} +
  beta'_i`` -- ``R_i`` (``w_i``) or ``K'_i`` (``B_m(z_{i+1}) D_{i+1}``).  The
  increment over gap ``l`` is

      delta_l = g_l hc_l + gk_l tw_l + tau sum_m a_m sgn_m B_m(z_l) (y_{l-1} - u_l)

  (``sgn = -1`` plain, ``+1`` complementary).  One scan runs both directions
  (:func:`_seq_stack`); each step emits ``B_m`` of its own factor times the rows
  *before* its update -- the previous element's sums -- so the soft part of
  every increment comes out one position late with no second ``exp``, and no
  (n, M) array is ever stored.  ``Q_i = d cost_i / d x_i`` (others fixed)
  ``= -s + sum_j w_j sa'(x_i - x_j)`` likewise splits into halves.
  """
  M, tau, dt, N = S['M'], S['tau'], S['dt'], S['N']
  useK, sigK, W = S['useK'], S['sigK'], S['W']
  cam, a2m = _coefs(S)
  X = _seq_stack(S, ((S['ws'], S['ws']), (S['Cx'], _next(S['D'], 0.0))))
  sgn = _block_sign(S, X.shape[2])

  def step(t):
    A, Bm = expsum.gap_powers(*_gap(t), M)
    wt, ct = t[1][0], t[1][1]
    return A, [_sel(useK[m], Bm[m] * ct, wt) for m in range(M)], Bm

  def emit(yp, ys, Bm, t):
    d = sgn * tau * sum(cam[m] * Bm[m] * yp[m] for m in range(M))
    if not want_q:
      return d
    wt = t[1][0]
    return jnp.stack([d, sgn * sum(a2m[m] * _sel(useK[m], ys[m], wt - ys[m])
                                   for m in range(M))])

  out = _scan(S, step, emit, X)
  if want_q:
    out = _unstack(out)
  fd, bd = _unseq_shifted(S, out[0] if want_q else out)
  delta = S['g'] * S['hc'] + S['gk'] * S['tw'] + fd + bd
  delta = jnp.where(S['ok'], delta, jnp.zeros((N,), dt))
  if not want_q:
    return delta, None
  qf, qb = _unseq(S, out[1])
  # -s + Cx - Dx = 2 (Cx - k) - 1 + w exactly; the rest of the hard part is -sigK (Cx - Dx).
  wsf, Cxf = S['ws'], S['Cx']
  q = 2.0 * (Cxf - S['k']) - 1.0 + wsf - sigK * (2.0 * Cxf + wsf - W) + qf + qb
  q = jnp.where(S['finite'], q, jnp.zeros((N,), dt))
  return delta, q


def _sa_prime_conv(S, v):
  """``sum_j v_j sa'(x_j - x_i)`` for every ``i`` (``sa'`` the fitted soft sign).

  Exclusive one-sided sums ``Lx_i = A_i (Lx_{i-1} + v_{i-1})`` (or
  ``Kx_i = A_i Kx_{i-1} + B_i P_i``, ``P_i = sum_{j<i} v_j``) and their
  mirrors, in one two-direction scan emitting its n-sized share of

      (1 - sigK)(Sv - Pv) + sum_K 2ma (K'x - Kx) - sum_L 2ma (Rx - Lx).
  """
  M = S['M']
  useK, sigK = S['useK'], S['sigK']
  _, a2m = _coefs(S)
  Pv = _prev(jnp.cumsum(v), 0.0)              # sum_{j<i} v_j
  Sv = jnp.sum(v) - Pv - v                    # sum_{j>i} v_j
  X = _seq_stack(S, ((_prev(v, 0.0), _next(v, 0.0)), (Pv, Sv)))
  sgn = _block_sign(S, X.shape[2])

  def step(t):
    A, Bm = expsum.gap_powers(*_gap(t), M)
    vt, pt = t[1][0], t[1][1]
    return A, [_sel(useK[m], Bm[m] * pt, A[m] * vt) for m in range(M)], None

  def emit(yp, ys, aux, t):
    return sgn * sum(a2m[m] * _sel(useK[m], -ys[m], ys[m]) for m in range(M))

  cf, cb = _unseq(S, _scan(S, step, emit, X))
  return (1.0 - sigK) * (Sv - Pv) + cf + cb


def _k_gap_term_dtau(g, z, reset, useK, a2m, M):
  """``tau d/dtau`` of ``sum_{m in K} 2 m a_m G_m`` per gap (``G_m = tau H(m z) / 2m``).

  ``tau dG_m/dtau = G_m - g B_m = tau (H_m - m z B_m) / (2m)``; divided by tau:
  ``(H_m - m z B_m) / (2m)`` (``-1/(2m)`` on clipped gaps, where ``G = g - tau/2m``).
  """
  zero = jnp.zeros_like(z)
  a1 = jnp.where(reset, zero, jnp.exp(-z))
  b1 = jnp.where(reset, jnp.ones_like(z), -jnp.expm1(-z))
  h = jnp.where(reset, zero, expsum.h1(z))
  am, bm, hm = jnp.ones_like(z), zero, zero
  acc = zero
  accr = 0.0
  for m in range(M):
    hm = hm + h + b1 * bm
    bm = bm + am * b1
    am = am * a1
    c = float(a2m[m]) / (2.0 * (m + 1))          # a_m
    acc = acc + _sel(useK[m], c * ((m + 1) * z * bm - hm), zero)
    accr = accr + jnp.where(useK[m], c, 0.0)
  return jnp.where(reset, -accr, -acc)


def _tau_tangent(S):
  """``d delta / d tau`` (N,), directly: finite at every temperature.

  The one-sided sums' derivatives are carried scaled by ``tau``
  (``tau dA^m/dtau = m z A^m``, ``tau dB_m/dtau = -m z A^m``, ``z`` clipped so
  every factor is bounded), with ``A_i y_{i-1} = y_i - beta_i``; the sums
  themselves come from a first pass that stores them ``(B, M, nb)``.  As in
  :func:`_primal`, each step emits the previous element's share.
  """
  M = S['M']
  useK = S['useK']
  cam, _ = _coefs(S)
  X = _seq_stack(S, ((S['ws'], S['ws']), (S['Cx'], _next(S['D'], 0.0))))
  sgn = _block_sign(S, X.shape[2])

  def beta(Bm, wt, ct):
    return [_sel(useK[m], Bm[m] * ct, wt) for m in range(M)]

  def step(t):
    A, Bm = expsum.gap_powers(*_gap(t), M)
    return A, beta(Bm, t[1][0], t[1][1]), None

  Y = _scan(S, step, lambda yp, ys, aux, t: jnp.stack(ys, 0), X)            # (B, M, nb)
  # The previous element's sums: one step back, across block boundaries.
  first = jnp.concatenate([jnp.zeros((M, 1), Y.dtype), Y[-1, :, :-1]], 1)
  Yprev = jnp.concatenate([first[None], Y[:-1]], 0)

  def dstep(t):
    zt, rt = _gap(t)
    wt, ct, Yt = t[1][0], t[1][1], t[2]
    A, Bm = expsum.gap_powers(zt, rt, M)
    be = beta(Bm, wt, ct)
    us = []
    for m in range(M):
      mz = (m + 1) * zt
      us.append(mz * (Yt[m] - be[m]) + _sel(useK[m], -mz * A[m] * ct, jnp.zeros_like(zt)))
    return A, us, (A, Bm)

  def demit(dyp, dys, aux, t):
    A, Bm = aux
    zt, Yp = t[0][0], t[3]
    out = 0.0
    for m in range(M):
      out = out + cam[m] * ((Bm[m] - (m + 1) * zt * A[m]) * Yp[m] + Bm[m] * dyp[m])
    return sgn * out

  out = _scan(S, dstep, demit, X, Y, Yprev)
  tf, tb = _unseq_shifted(S, out)
  dgk = _k_gap_term_dtau(S['g'], S['z'], S['reset'], S['useK'], S['a2m'], M)
  d = dgk * S['tw'] + tf + tb
  return jnp.where(S['ok'], d, jnp.zeros((S['N'],), S['dt']))


def _is_zero(t):
  return type(t) is jax.custom_derivatives.SymbolicZero


def _pad(v, S):
  N, n = S['N'], S['n']
  return jnp.concatenate([v, jnp.zeros((N - n,), v.dtype)]) if N > n else v


def _finish(S, delta):
  cost = _anchored_cumsum(delta, S['p'])
  return jnp.where(S['finite'], cost, jnp.full_like(cost, jnp.inf))[:S['n']]


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
  n, dt, finite, p = S['n'], S['dt'], S['finite'], S['p']
  cost_full = _anchored_cumsum(delta, p)
  cost = jnp.where(finite, cost_full, jnp.full_like(cost_full, jnp.inf))[:n]
  xf = S['xf']
  dev = xf - xf[p]
  out = jnp.zeros((S['N'],), dt)
  if need_q:
    dx = jnp.where(finite, _pad(dxs, S), jnp.zeros((S['N'],), dt))
    part = q * dx + _sa_prime_conv(S, S['ws'] * dx)
    out = out + (part - part[p])
  if need_t:
    out = out + _anchored_cumsum(_tau_tangent(S), p) * dtau
  if not _is_zero(dws):
    dwp = _pad(dws, S)
    dC = jnp.cumsum(dwp)
    dW = dC[-1]
    Sd = dict(S)
    Sd['ws'] = dwp
    Sd['Cx'] = _prev(dC, 0.0)
    Sd['D'] = dW - Sd['Cx']
    Sd['tw'] = 2.0 * Sd['Cx'] - dW
    Sd['hc'] = 2.0 * Sd['Cx'] - S['sigK'] * Sd['tw']
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
