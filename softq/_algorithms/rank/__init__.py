"""The soft ranks: pairwise soft signs, re-centred on the wanted rank.

* :mod:`~softq._algorithms.rank.kernel` -- the ``"rank"`` algorithm:
  pairwise up to ``DENSE_MAX`` values, else sorted;
* :mod:`~softq._algorithms.rank.sorted` -- the O(n log n) rank sums (sort
  once, recurrences).

No re-exports: import the modules themselves.
"""
