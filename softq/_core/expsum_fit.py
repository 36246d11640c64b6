"""Refits the exponential-sum tables of :mod:`softq._core.expsum` (offline).

``python -m softq._core.expsum_fit`` refits every table (constrained minimax,
Remez exchange in 40-digit ``mpmath``) and compares it with the stored
constants; ``--print`` prints fresh literals.  Not imported by the package.
"""

from __future__ import annotations

import sys

import numpy as np

from softq._core.expsum import CONSTRAINT_ORDERS
from softq._core.expsum import TABLES
from softq._core.expsum import coefficients


# ---------------------------------------------------------------------------
# Fitting (offline): constrained Remez exchange for log(1 + t) on [0, 1].
# ---------------------------------------------------------------------------
def fit(M: int, orders=CONSTRAINT_ORDERS, iters: int = 80, ngrid: int = 40000, dps: int = 40):
  """Constrained minimax coefficients ``a_1..a_M`` and their max error.

  Minimises ``max_{t in [0,1]} |sum_m a_m t^m - log(1+t)|`` subject to the
  z-derivative constraints of ``orders`` at ``t = 1`` (``z = 0``).  Linear
  Remez: ``M - len(orders) + 1`` reference points, solved in mpmath, error
  curve on a dense long-double grid, single-point-per-lobe exchange.
  """
  import mpmath as mp
  mp.mp.dps = dps
  LD = np.longdouble
  derivs = [mp.log(2), mp.mpf(-1) / 2, mp.mpf(1) / 4, mp.mpf(0), mp.mpf(-1) / 8, mp.mpf(0)]
  nc = len(orders)
  K = M - nc
  s = np.arange(1, K + 2) / (K + 2)
  ref = [mp.mpf((1 - np.cos(np.pi * si)) / 2) for si in s]
  sg = np.linspace(0, 1, ngrid)
  tg = np.unique(np.concatenate([((1 - np.cos(np.pi * sg)) / 2).astype(LD),
                                 np.linspace(0, 1, ngrid, dtype=LD)]))
  fg = np.log1p(tg)
  best = None
  for _ in range(iters):
    A = mp.matrix(M + 1, M + 1)
    rhs = mp.matrix(M + 1, 1)
    for i, t in enumerate(ref):
      for m in range(1, M + 1):
        A[i, m - 1] = t ** m
      A[i, M] = (-1) ** i
      rhs[i] = mp.log1p(t)
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



def measured_error(M: int, npts: int = 200001) -> float:
  """Max ``|p(z) - f(z)|`` of the stored table on a dense float64 grid."""
  t = np.concatenate([np.linspace(0, 1, npts), (1 - np.cos(np.linspace(0, np.pi, npts))) / 2])
  a = coefficients(M)
  p = np.zeros_like(t)
  for m in range(M, 0, -1):
    p = (p + a[m - 1]) * t
  return float(np.max(np.abs(p - np.log1p(t))))



def _main(argv):
  Ms = sorted(TABLES)
  fresh = {}
  for M in Ms:
    a, err = fit(M)
    fresh[M] = (a, err)
    stored = coefficients(M)
    print('M=%2d  fit max error %.3e  measured(stored) %.3e  max|a_fit - a_stored| %.1e'
          % (M, err, measured_error(M), np.max(np.abs(a - stored))))
  if '--print' in argv:
    for M in Ms:
      a, err = fresh[M]
      print('    %d: (%.3e, (%s)),' % (M, err, ', '.join(repr(float(x)) for x in a)))


if __name__ == '__main__':
  _main(sys.argv[1:])
