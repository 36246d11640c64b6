"""The size policy: which row lengths take which evaluation path, in one place.

Every kernel that switches on the length ``n`` of a row (or the number of
order statistics asked for) reads its cut-off here, so the paths are decided
together: short rows take the batched short-row kernel, rows up to
:data:`DENSE_MAX` the dense pairwise kernels, longer rows sort once.  Each
path computes the same function (to rounding): these numbers decide speed
and compile time, never values.  Measured timings: docs/performance.md and
docs/choosing.md.
"""

from __future__ import annotations

#: Rows of at most this many values (sliding windows, short axes, remedian
#: blocks) take the batched short-row kernel (:mod:`softq._algorithms.deviation.short_rows`)
#: for their values: measured on (10000, 64) value+gradient, 4x faster than
#: the 1-D kernel vmapped.
SHORT_ROWS_MAX = 64

#: ... when they ask for at most this many order statistics: the batched
#: path unrolls one soft-min per order statistic, so more levels (e.g. 41
#: quantiles) take the generic path, which maps over them (compile time
#: stays flat).
SHORT_ROWS_MAX_STATS = 4

#: Rows of at most this many values take the dense pairwise evaluation
#: (``"sorted"``: the ``"deviation"`` kernel; ``"rank"``: the pairwise sums);
#: longer rows sort once and use the O(n log n) recurrences.  The same
#: function (to rounding), as fast or faster there, and it compiles in a
#: fraction of the time.
DENSE_MAX = 128

#: Order statistics per chunk of the generic soft sort (its memory is
#: O(n * chunk)); rows of at most twice this many values take every order
#: statistic at once.
SORT_CHUNK = 64

#: Pairwise sums (:mod:`softq._core.tiling`): up to this many rows the
#: pairwise matrix is formed whole (fastest) ...
PAIRWISE_WHOLE_MAX = 2048
#: ... beyond it, rows per tile: a (tile, n) slab per step of a ``lax.map`` ...
TILE_ROWS = 128
#: ... but at most this many pairs per tile, so a slab (and the handful of
#: slabs that reverse mode keeps alive while recomputing a tile) stays small
#: however large n is: memory O(n * TILE_PAIRS / n) = O(TILE_PAIRS + n).
TILE_PAIRS = 1 << 20
