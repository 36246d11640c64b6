"""Constrained minimax polynomials on ``[0, 1]`` (offline fitting; needs ``mpmath``).

Shared by the table fits of :mod:`softq._core.fits.expsum` and
:mod:`softq._core.fits.tanhsum`.  Not imported by the package at run time.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np


def constrained_minimax(target_mp: Callable, target_np: Callable, derivs: Sequence,
                        orders: Sequence[int], M: int, iters: int = 80,
                        ngrid: int = 40000, dps: int = 40):
  """``a_1..a_M`` minimising ``max_{t in [0,1]} |sum_m a_m t^m - g(t)|``, and the error.

  Subject to the z-derivatives (``t = exp(-z)``) of ``orders`` at ``z = 0``
  (``t = 1``) being ``derivs[k]`` (``d^k/dz^k t^m = (-m)^k t^m``).  Linear
  Remez exchange: ``M - len(orders) + 1`` reference points, each step's system
  solved in ``dps``-digit mpmath, the error curve on a dense long-double grid
  (``g`` as ``target_mp`` on mpmath numbers and ``target_np`` on arrays),
  single-point-per-lobe exchange.  Returns the best iterate.
  """
  import mpmath as mp  # pylint: disable=import-outside-toplevel
  mp.mp.dps = dps
  LD = np.longdouble
  nc = len(orders)
  K = M - nc
  s = np.arange(1, K + 2) / (K + 2)
  ref = [mp.mpf((1 - np.cos(np.pi * si)) / 2) for si in s]
  sg = np.linspace(0, 1, ngrid)
  tg = np.unique(np.concatenate([((1 - np.cos(np.pi * sg)) / 2).astype(LD),
                                 np.linspace(0, 1, ngrid, dtype=LD)]))
  fg = target_np(tg)
  best = None
  for _ in range(iters):
    A = mp.matrix(M + 1, M + 1)
    rhs = mp.matrix(M + 1, 1)
    for i, t in enumerate(ref):
      for m in range(1, M + 1):
        A[i, m - 1] = t ** m
      A[i, M] = (-1) ** i
      rhs[i] = target_mp(t)
    for j, k in enumerate(orders):
      for m in range(1, M + 1):
        A[K + 1 + j, m - 1] = mp.mpf(-m) ** k
      rhs[K + 1 + j] = derivs[k]
    sol = mp.lu_solve(A, rhs)
    a = [sol[m] for m in range(M)]
    E = abs(float(sol[M]))
    al = np.array([LD(mp.nstr(x, 30)) for x in a])
    pg = np.zeros_like(tg)
    for m in range(M, 0, -1):
      pg = (pg + al[m - 1]) * tg
    e = pg - fg
    emax = float(np.max(np.abs(e)))
    if best is None or emax < best[1]:
      best = (a, emax)
    if emax <= E * (1 + 1e-6):
      break
    ae = np.abs(e)
    idx = np.nonzero((ae[1:-1] >= ae[:-2]) & (ae[1:-1] >= ae[2:]) & (e[1:-1] != 0))[0] + 1
    pts = []
    for i in idx:
      if pts and np.sign(e[pts[-1]]) == np.sign(e[i]):
        if ae[i] > ae[pts[-1]]:
          pts[-1] = i
      else:
        pts.append(i)
    while len(pts) > K + 1:
      if ae[pts[0]] < ae[pts[-1]]:
        pts.pop(0)
      else:
        pts.pop()
    if len(pts) < K + 1:
      break
    ref = [mp.mpf(str(tg[i])) for i in pts]
  a, emax = best
  return np.array([float(x) for x in a]), emax


def measured_error(coefs, target_np: Callable, npts: int = 200001) -> float:
  """Max ``|sum_m a_m t^m - g(t)|`` of stored coefficients on a dense float64 grid."""
  t = np.concatenate([np.linspace(0, 1, npts), (1 - np.cos(np.linspace(0, np.pi, npts))) / 2])
  p = np.zeros_like(t)
  for m in range(len(coefs), 0, -1):
    p = (p + coefs[m - 1]) * t
  return float(np.max(np.abs(p - target_np(t))))
