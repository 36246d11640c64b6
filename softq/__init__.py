"""softq: differentiable ("soft") order statistics for JAX.

Soft median, quantiles, ranks, sorts and the soft remedian, each with a
``temperature`` that recovers the exact ``jax.numpy`` operation at 0.  Every
function is pure and works under ``jax.jit``, ``jax.vmap`` and ``jax.grad``
(also with respect to the temperature).

Only the names in ``__all__`` are public API; modules whose names start with an
underscore are private and may change without notice.
"""

from softq._algorithms import ALGORITHMS
from softq._algorithms import DEFAULT_ALGORITHM
from softq._algorithms import DESCRIPTION as REGISTRY
from softq._mask import top_k_mask
from softq._pool import median_pool
from softq._pool import quantile_pool
from softq._quantiles import argmedian
from softq._quantiles import argquantile
from softq._quantiles import median
from softq._quantiles import nanmedian
from softq._quantiles import nanpercentile
from softq._quantiles import nanquantile
from softq._quantiles import percentile
from softq._quantiles import quantile
from softq._ranking import rank
from softq._ranking import sort
from softq._remedian import argremedian
from softq._remedian import remedian
from softq._remedian import remedian_init
from softq._remedian import remedian_result
from softq._remedian import remedian_update
from softq._remedian import RemedianState
from softq._robust import iqr
from softq._robust import median_abs_deviation
from softq._robust import trim_mean
from softq._softmax import abs  # pylint: disable=redefined-builtin
from softq._softmax import argmax
from softq._softmax import argmin
from softq._softmax import max  # pylint: disable=redefined-builtin
from softq._softmax import min  # pylint: disable=redefined-builtin
from softq._softmax import sign
from softq._topk import top_k
from softq._version import __version__

__all__ = (
    "ALGORITHMS",
    "DEFAULT_ALGORITHM",
    "REGISTRY",
    "abs",
    "argmax",
    "argmedian",
    "argmin",
    "argquantile",
    "argremedian",
    "iqr",
    "max",
    "median",
    "median_abs_deviation",
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
    "top_k",
    "top_k_mask",
    "trim_mean",
)
