"""softq: differentiable ("soft") order statistics for JAX.

Soft median, quantiles, ranks, sorts and the soft remedian, each with a
``temperature`` that recovers the exact ``jax.numpy`` operation at 0.  Every
function is pure and works under ``jax.jit``, ``jax.vmap`` and ``jax.grad``
(also with respect to the temperature).

Only the names in ``__all__`` are public API; modules whose names start with an
underscore are private and may change without notice.
"""

from softq._pool import median_pool
from softq._pool import quantile_pool
from softq._quantile import argmedian
from softq._quantile import argquantile
from softq._quantile import DEFAULT_ALGORITHM
from softq._quantile import median
from softq._quantile import nanmedian
from softq._quantile import nanpercentile
from softq._quantile import nanquantile
from softq._quantile import percentile
from softq._quantile import quantile
from softq._quantile import rank
from softq._quantile import sort
from softq._remedian import argremedian
from softq._remedian import remedian
from softq._remedian import remedian_init
from softq._remedian import remedian_result
from softq._remedian import remedian_update
from softq._remedian import RemedianState
from softq._soft import abs  # pylint: disable=redefined-builtin
from softq._soft import argmax
from softq._soft import argmin
from softq._soft import max  # pylint: disable=redefined-builtin
from softq._soft import min  # pylint: disable=redefined-builtin
from softq._soft import sign

__version__ = "0.1.0"

ALGORITHMS = ("subsets", "deviation", "rank", "sorted", "remedian")

__all__ = (
    "ALGORITHMS",
    "DEFAULT_ALGORITHM",
    "abs",
    "argmax",
    "argmedian",
    "argmin",
    "argquantile",
    "argremedian",
    "max",
    "median",
    "median_pool",
    "min",
    "nanmedian",
    "nanpercentile",
    "nanquantile",
    "percentile",
    "quantile",
    "quantile_pool",
    "rank",
    "remedian",
    "remedian_init",
    "remedian_result",
    "remedian_update",
    "RemedianState",
    "sign",
    "sort",
)
