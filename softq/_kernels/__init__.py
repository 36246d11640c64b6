"""1-D kernels: one module per soft order-statistic algorithm.

Each kernel module exposes two functions over one sample ``x`` of ``n`` values
(``valid`` masks the entries that take part; ``m`` counts them):

``prepare(x, valid, m, tau) -> state``
    work that does not depend on which order statistic is wanted (shared
    between all requested order statistics of one sample);
``select(state, x, valid, m, k, r, tau) -> weights``
    convex weights over ``x`` for the ``k``-th smallest valid value (0-based),
    given ``r``, its hard value (finite, used as a reference point only).

The weights are non-negative, sum to one over the valid entries, and tend to
the one-hot of the ``k``-th order statistic (uniform over ties) as
``tau -> 0``.
"""

from softq._kernels import deviation, rank, sorted_deviation, subsets

KERNELS = {
    "subsets": subsets,
    "deviation": deviation,
    "rank": rank,
    "sorted": sorted_deviation,
}
