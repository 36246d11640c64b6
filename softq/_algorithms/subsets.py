"""``"subsets"``: min over subsets of the max, softened (exponential cost).

The ``k``-th smallest (0-based) of ``m`` values is ``min over |S| = k + 1 of
max(S)`` (equally ``max over |S| = m - k of min(S)``): for the median of
``n = 2h + 1`` values the subsets have ``ceil(n/2)`` elements; for an even
sample the two middle values come from subsets of ``n/2`` and ``n/2 + 1``
elements, and their mean is ``jnp.median``.  Masked entries take part in no
subset.  Replace the max by
the soft max ``tau * logsumexp(x_S / tau)`` and the min over subsets by a soft
min; the weights are

    w_i = sum_S softmin_S(softmax(S)) * softargmax_S(x)_i,

a convex combination, so the value ``sum_i w_i x_i`` lies in ``[min, max]``.
Cost ``C(n, k + 1) * (k + 1)``: limited to ``n <= 20``.
"""

from __future__ import annotations

import functools
import itertools

import jax.numpy as jnp
import numpy as np

from softq._algorithms.base import Kernel
from softq._core import numerics


@functools.lru_cache(maxsize=None)
def _subsets(n: int, size: int) -> np.ndarray:
  return np.array(list(itertools.combinations(range(n), size)), dtype=np.int32).reshape(-1, size)


def _size_weights(x, valid, size: int, tau):
  n = x.shape[0]
  idx = _subsets(n, size)
  xs = x[idx]                                        # (C, size)
  inner = numerics.softmax_weights(xs, tau, axis=1)  # soft argmax inside S
  smax = numerics.soft_logsumexp(xs, tau, axis=1)   # soft max of S
  ok = None if valid is None else jnp.all(valid[idx], axis=1)
  outer = numerics.softmin_weights(smax, tau, ok)   # soft argmin over subsets
  contrib = (outer[:, None] * inner).reshape(-1)
  return jnp.zeros_like(x).at[idx.reshape(-1)].add(contrib)


def prepare(sample, tau):
  del sample, tau
  return None


def select(state, sample, k, r, tau):
  """One subset size for a static ``k``; a table of every size for a traced one.

  The table (all ``sum_s C(n, s) = 2^n`` subsets) does not depend on ``k``:
  under a ``vmap`` over several traced ``k`` it is computed once.
  """
  del state, r
  x, valid = sample.x, sample.valid
  n = x.shape[0]
  if isinstance(k, (int, np.integer)):
    return _size_weights(x, valid, int(k) + 1, tau)
  table = jnp.stack([_size_weights(x, valid, size, tau) for size in range(1, n + 1)])
  return table[jnp.clip(jnp.asarray(k, jnp.int32), 0, n - 1)]


KERNEL = Kernel(prepare, select)
