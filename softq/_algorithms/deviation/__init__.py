"""The soft total (pinball) deviation: one function, several evaluation strategies.

For the ``k``-th order statistic every sample point is scored by its soft
total pinball deviation from the sample, and the soft minimiser of that
score is the value (the math: :mod:`softq._algorithms.deviation.pairwise`
and :mod:`softq._algorithms.deviation.sorted`).  The strategies:

* :mod:`~softq._algorithms.deviation.pairwise` -- pairwise, tiled:
  O(n^2) (the ``"deviation"`` algorithm);
* :mod:`~softq._algorithms.deviation.sorted` -- sort once + recurrences:
  O(n log n) (the ``"sorted"`` algorithm), with its cost increments and
  tangent (:mod:`~softq._algorithms.deviation.sorted_costs`) and every
  order statistic by bands (:mod:`~softq._algorithms.deviation.sorted_sort`);
* :mod:`~softq._algorithms.deviation.short_rows` -- many short rows at once
  (the batched form), its value and analytic tangent
  (:mod:`~softq._algorithms.deviation.short_rows_value`) and its pair loop
  (:mod:`~softq._algorithms.deviation.short_rows_pairs`).

No re-exports: import the modules themselves.
"""
