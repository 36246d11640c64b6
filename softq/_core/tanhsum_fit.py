"""Refits the soft-sign and tie tables of :mod:`softq._core.tanhsum` (offline).

``python -m softq._core.tanhsum_fit`` refits every table (constrained minimax,
Remez exchange in 40-digit ``mpmath``, error curve in long double) and
compares it with the stored constants; ``--print`` prints fresh literals.
Needs ``mpmath``; not imported by the package.
"""

from __future__ import annotations

import sys

import numpy as np

from softq._core.tanhsum import CONSTRAINTS
from softq._core.tanhsum import TABLES
from softq._core.tanhsum import coefficients


def _target(name, t, mp=None):
  """``g1(t) = 2t/(1+t)`` (``1 - tanh``) or ``g2(t) = 4t/(1+t)^2`` (``sech^2``)."""
  if name == "sign":
    return 2 * t / (1 + t)
  return 4 * t / ((1 + t) * (1 + t))


def fit(name: str, M: int, iters: int = 80, ngrid: int = 40000, dps: int = 40):
  """Constrained minimax ``a_1..a_M`` for ``CONSTRAINTS[name]`` and its max error.

  Minimises ``max_{t in [0,1]} |sum_m a_m t^m - g(t)|`` subject to the
  z-derivatives (``t = exp(-z)``) of orders ``0..len(derivs)-1`` at ``z = 0``
  equal to ``derivs``.  Linear Remez with ``M - nc + 1`` reference points.
  """
  import mpmath as mp
  mp.mp.dps = dps
  LD = np.longdouble
  derivs = [mp.mpf(d) for d in CONSTRAINTS[name]]
  nc = len(derivs)
  K = M - nc
  s = np.arange(1, K + 2) / (K + 2)
  ref = [mp.mpf((1 - np.cos(np.pi * si)) / 2) for si in s]
  sg = np.linspace(0, 1, ngrid)
  tg = np.unique(np.concatenate([((1 - np.cos(np.pi * sg)) / 2).astype(LD),
                                 np.linspace(0, 1, ngrid, dtype=LD)]))
  fg = _target(name, tg)
  best = None
  for _ in range(iters):
    A = mp.matrix(M + 1, M + 1)
    rhs = mp.matrix(M + 1, 1)
    for i, t in enumerate(ref):
      for m in range(1, M + 1):
        A[i, m - 1] = t ** m
      A[i, M] = (-1) ** i
      rhs[i] = _target(name, t)
    for k in range(nc):
      for m in range(1, M + 1):
        A[K + 1 + k, m - 1] = mp.mpf(-m) ** k
      rhs[K + 1 + k] = derivs[k]
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


def measured_error(name: str, M: int, npts: int = 200001) -> float:
  """Max ``|p(t) - g(t)|`` of the stored table on a dense float64 grid."""
  t = np.concatenate([np.linspace(0, 1, npts), (1 - np.cos(np.linspace(0, np.pi, npts))) / 2])
  a = coefficients(name, M)
  p = np.zeros_like(t)
  for m in range(M, 0, -1):
    p = (p + a[m - 1]) * t
  return float(np.max(np.abs(p - _target(name, t))))


def _main(argv):
  fresh = {}
  for name in ("sign", "ties"):
    for M in sorted(TABLES[name]):
      a, err = fit(name, M)
      fresh[name, M] = (a, err)
      stored = coefficients(name, M)
      print("%-5s M=%2d  fit max error %.3e  measured(stored) %.3e  "
            "max|a_fit - a_stored| %.1e  sum|a| %.1f  sum m|a| %.1f"
            % (name, M, err, measured_error(name, M), np.max(np.abs(a - stored)),
               np.sum(np.abs(a)), np.sum(np.arange(1, M + 1) * np.abs(a))))
  if "--print" in argv:
    for name in ("sign", "ties"):
      print("    %r: {" % name)
      for M in sorted(TABLES[name]):
        a, err = fresh[name, M]
        print("        %d: (%.3e, (%s))," % (M, err, ", ".join(repr(float(x)) for x in a)))
      print("    },")


if __name__ == "__main__":
  _main(sys.argv[1:])
