"""Refits the soft-sign and tie tables of :mod:`softq._core.tanhsum` (offline).

``python -m softq._core.fits.tanhsum`` refits every table (constrained minimax,
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
from softq._core.fits import remez


def _target(name, t, mp=None):
  """``g1(t) = 2t/(1+t)`` (``1 - tanh``) or ``g2(t) = 4t/(1+t)^2`` (``sech^2``)."""
  if name == "sign":
    return 2 * t / (1 + t)
  return 4 * t / ((1 + t) * (1 + t))


def fit(name: str, M: int, iters: int = 80, ngrid: int = 40000, dps: int = 40):
  """Constrained minimax ``a_1..a_M`` for ``CONSTRAINTS[name]`` and its max error.

  Minimises ``max_{t in [0,1]} |sum_m a_m t^m - g(t)|`` subject to the
  z-derivatives (``t = exp(-z)``) of orders ``0..len(derivs)-1`` at ``z = 0``
  equal to ``derivs`` (:func:`softq._core.fits.remez.constrained_minimax`).
  """
  import mpmath as mp  # pylint: disable=import-outside-toplevel
  mp.mp.dps = dps
  derivs = [mp.mpf(d) for d in CONSTRAINTS[name]]
  g = lambda t: _target(name, t)
  return remez.constrained_minimax(g, g, derivs, range(len(derivs)), M, iters, ngrid, dps)


def measured_error(name: str, M: int, npts: int = 200001) -> float:
  """Max ``|p(t) - g(t)|`` of the stored table on a dense float64 grid."""
  return remez.measured_error(coefficients(name, M), lambda t: _target(name, t), npts)


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
