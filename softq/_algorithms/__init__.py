"""The algorithm registry: one :class:`Algorithm` record per algorithm.

Everything that lists or dispatches on algorithms derives from
:data:`REGISTRY`: the public ``softq.ALGORITHMS`` and ``softq.REGISTRY`` (a
read-only :class:`AlgorithmInfo` description, no callables), the
:data:`AlgorithmName` type, argument validation and its error messages (the
"use a faster algorithm" and "does not support weights" hints), the engine's
dispatch, the docs' algorithm table and the tests' parametrisation.  To add an
algorithm, write one module with a 1-D :class:`Kernel` (or a ``reduce`` of
your own) and add one entry below (see docs/architecture.md).
"""

from __future__ import annotations

import types
from typing import Any, Literal, Mapping, NamedTuple

from softq._algorithms import subsets
from softq._algorithms.deviation import pairwise
from softq._algorithms.deviation import sorted as sorted_deviation
from softq._algorithms.rank import kernel as rank_kernel
from softq._algorithms.remedian import reducer as remedian_reducer
from softq._algorithms.base import Algorithm
from softq._algorithms.base import Batched
from softq._algorithms.base import Kernel
from softq._algorithms.base import Query
from softq._algorithms.base import Rows
from softq._algorithms.base import Sample
from softq._algorithms.base import exact_reduce
from softq._core import validation

def _soft_ranks(sample: Sample, tau):
  """Soft ranks ``1..n`` of one row (the ``"rank"`` algorithm's first stage)."""
  return rank_kernel.soft_ranks(sample, tau)[0]


def _exact(name: str, module, summary: str, cost: str, **kw) -> Algorithm:
  return Algorithm(name=name, summary=summary, cost=cost, hard_limit="jnp",
                   reduce=exact_reduce(module.KERNEL), kernel=module.KERNEL, **kw)


#: Every algorithm, by name, in the order the docs list them.
REGISTRY: Mapping[str, Algorithm] = types.MappingProxyType({a.name: a for a in (
    _exact("subsets", subsets,
           "soft min over subsets of the soft max (the textbook definition)",
           "O(C(n, n/2))", max_size=20, supports_weights=False),
    _exact("deviation", pairwise,
           "soft minimiser of the total (pinball) deviation", "O(n^2), O(n) memory"),
    _exact("rank", rank_kernel, "soft ranks re-centred on the wanted rank",
           "O(n log n) (pairwise up to 128 values), O(n) memory", ranks=_soft_ranks),
    _exact("sorted", sorted_deviation,
           "the deviation function, sorting once and summing its soft part by "
           "exponential-sum recurrences (exact at every temperature)", "O(n log n), O(n) memory"),
    Algorithm(name="remedian", summary="the soft remedian: blocks of soft medians, "
              "level by level", cost="O(n), O(log n) depth", hard_limit="remedian",
              reduce=remedian_reducer.reduce, parse_options=remedian_reducer.parse_options,
              options=(("block_size", remedian_reducer.DEFAULT_BLOCK_SIZE),
                       ("block_algorithm", remedian_reducer.DEFAULT_BLOCK_ALGORITHM))),
)})



def _with_hints(records):
  """Fill in the hints that list other algorithms (derived, never typed)."""
  unlimited = [r for r in records if r.max_size is None]
  faster = ", ".join(f"algorithm={r.name!r} ({r.cost.split(',')[0].split(' (')[0]})"
                     for r in unlimited)
  return tuple(r._replace(faster=faster) if r.max_size is not None else r for r in records)


REGISTRY = types.MappingProxyType({r.name: r for r in _with_hints(tuple(REGISTRY.values()))})

#: The algorithm names, for ``algorithm=``.
ALGORITHMS: tuple[str, ...] = tuple(REGISTRY)
#: The type of ``algorithm=``: one of :data:`ALGORITHMS` (derived from the registry).
AlgorithmName = Literal[ALGORITHMS]  # type: ignore[valid-type]
#: The algorithms whose hard limit is ``jnp.quantile`` itself.
EXACT_ALGORITHMS: tuple[str, ...] = tuple(
    name for name, a in REGISTRY.items() if a.hard_limit == "jnp")
#: The algorithms that take ``weights=``.
WEIGHTED_ALGORITHMS: tuple[str, ...] = tuple(
    name for name, a in REGISTRY.items() if a.supports_weights)
#: The default soft order-statistic algorithm (see docs/choosing.md).
DEFAULT_ALGORITHM: AlgorithmName = "sorted"


class AlgorithmInfo(NamedTuple):
  """The public, read-only description of one algorithm (``softq.REGISTRY[name]``)."""
  name: str
  summary: str                   # one line
  cost: str                      # time and memory complexity
  hard_limit: str                # "jnp": exactly jax.numpy at temperature=0; "remedian"
  max_size: int | None           # the longest row it accepts (None: any)
  supports_weights: bool         # takes weights=
  options: tuple[tuple[str, Any], ...]   # extra keyword options and their defaults


#: ``softq.REGISTRY``: every algorithm's description, by name (no callables).
DESCRIPTION: Mapping[str, AlgorithmInfo] = types.MappingProxyType({
    name: AlgorithmInfo(r.name, r.summary, r.cost, r.hard_limit, r.max_size,
                        r.supports_weights, r.options)
    for name, r in REGISTRY.items()})


def weights_error(record: Algorithm, name: str) -> ValueError:
  """The error for ``weights=`` given to an algorithm that does not take them."""
  takers = ", ".join(repr(a) for a in WEIGHTED_ALGORITHMS)
  return ValueError(f"{name}: algorithm={record.name!r} does not support weights=; "
                    f"use algorithm= one of {takers}.")


def get(algorithm: Any, name: str, allowed: tuple[str, ...] = ALGORITHMS) -> Algorithm:
  """The record of ``algorithm`` (a ``ValueError`` listing the valid names otherwise)."""
  return REGISTRY[validation.check_choice(algorithm, name, "algorithm", allowed)]


def options(record: Algorithm, name: str, given: Mapping[str, Any]) -> tuple:
  """Validated options of ``record`` (hashable), from the keywords a caller gave.

  An option given to an algorithm that does not take it raises ``ValueError``.
  """
  known = dict(record.options)
  for key, value in given.items():
    if value is not None and key not in known:
      takers = [a for a, r in REGISTRY.items() if key in dict(r.options)]
      raise ValueError(f"{name}: {key}= applies to algorithm="
                       f"{' or '.join(repr(t) for t in takers)} only, not "
                       f"{record.name!r}; drop it or pick that algorithm.")
  values = {k: (given.get(k) if given.get(k) is not None else d) for k, d in known.items()}
  if record.parse_options is not None:
    values = record.parse_options(name, values, get)
  return tuple(sorted(values.items()))


__all__ = ("ALGORITHMS", "Algorithm", "AlgorithmInfo", "AlgorithmName", "Batched",
           "DEFAULT_ALGORITHM", "DESCRIPTION", "EXACT_ALGORITHMS", "Kernel", "Query", "REGISTRY",
           "Rows", "Sample", "WEIGHTED_ALGORITHMS", "get", "options", "weights_error")
