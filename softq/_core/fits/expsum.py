"""Refits the exponential-sum tables of :mod:`softq._core.expsum` (offline).

``python -m softq._core.fits.expsum`` refits every table (constrained minimax,
Remez exchange in 40-digit ``mpmath``) and compares it with the stored
constants; ``--print`` prints fresh literals.  Not imported by the package.
"""

from __future__ import annotations

import sys

import numpy as np

from softq._core.expsum import CONSTRAINT_ORDERS
from softq._core.expsum import TABLES
from softq._core.expsum import coefficients
from softq._core.fits import remez


def fit(M: int, orders=CONSTRAINT_ORDERS, iters: int = 80, ngrid: int = 40000, dps: int = 40):
  """Constrained minimax coefficients ``a_1..a_M`` and their max error.

  Minimises ``max_{t in [0,1]} |sum_m a_m t^m - log(1+t)|`` subject to the
  z-derivative constraints of ``orders`` at ``t = 1`` (``z = 0``)
  (:func:`softq._core.fits.remez.constrained_minimax`).
  """
  import mpmath as mp  # pylint: disable=import-outside-toplevel
  mp.mp.dps = dps
  derivs = [mp.log(2), mp.mpf(-1) / 2, mp.mpf(1) / 4, mp.mpf(0), mp.mpf(-1) / 8, mp.mpf(0)]
  return remez.constrained_minimax(mp.log1p, np.log1p, derivs, orders, M, iters, ngrid, dps)


def measured_error(M: int, npts: int = 200001) -> float:
  """Max ``|p(z) - f(z)|`` of the stored table on a dense float64 grid."""
  return remez.measured_error(coefficients(M), np.log1p, npts)


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
