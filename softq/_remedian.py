"""The soft remedian: one-shot (``remedian``, ``argremedian``) and streaming.

The one-shot functions are the registered ``"remedian"`` algorithm through the
engine (``softq.median(..., algorithm="remedian")`` is the same computation);
the streaming state lives in :mod:`softq._algorithms.remedian.stream`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from softq import _algorithms
from softq import _engine
from softq._algorithms.remedian import reducer as remedian_algorithm
from softq._algorithms.remedian import stream as remedian_stream
from softq._algorithms.remedian.stream import RemedianState
from softq._algorithms.remedian.tree import num_levels
from softq._core import validation

DEFAULT_BLOCK_SIZE = remedian_algorithm.DEFAULT_BLOCK_SIZE
DEFAULT_BLOCK_ALGORITHM = remedian_algorithm.DEFAULT_BLOCK_ALGORITHM


def _one_shot(name, a, axis, *, block_size, keepdims, temperature, algorithm, where,
              weights, temperature_scale, output):
  request, args = _engine.prepare(
      name, a, None, axis, kind="median", keepdims=keepdims, temperature=temperature,
      algorithm="remedian", where=where, weights=weights,
      options=dict(block_size=block_size, block_algorithm=algorithm), output=output,
      temperature_scale=temperature_scale)
  return _engine.run(request, *args)


def remedian(a: ArrayLike, axis: int | tuple[int, ...] | None = None, *,
             block_size: int = DEFAULT_BLOCK_SIZE, keepdims: bool = False,
             temperature: ArrayLike = 1.0, algorithm: str = DEFAULT_BLOCK_ALGORITHM,
             where: ArrayLike | None = None, weights: ArrayLike | None = None,
             temperature_scale: str | None = None) -> jax.Array:
  r"""Soft remedian: an O(n) soft median, differentiable, with a hard limit.

  The hard *weighted* remedian (Rousseeuw and Bassett) with block size ``b``:
  every value carries a weight (1 per input, or ``weights``); blocks of up
  to ``b`` values are replaced by their weighted median (the ``jnp.median``
  of the block's values each repeated by its weight) carrying the sum of
  the block's weights, level by level until one value is left.  The blocks
  *interleave* so that none sees only one end of ordered data: a level of
  ``m`` entries has ``M = ceil(m / b)`` blocks, block ``j`` holding entries
  ``j, j + M, j + 2M, ...``; and inputs beyond one segment of ``C`` values
  (``C`` the largest power of ``b`` not above ``2**14``) are first dealt
  out across the segments (every segment samples the whole input), whose
  roots, carrying their counts, are reduced the same way (exact rule in
  docs/remedian.md).  The result does not depend on the input's order in
  accuracy: rank error at most 0.03 from ``n = 300`` on for iid, sorted
  (either way) or inliers-then-outliers data (docs/remedian.md); the
  weights keep a lone leftover value from pulling the result (classical
  remedian at ``n = 7**k + 1``: rank error about 0.15).  The streaming form
  (:func:`remedian_init`) keeps consecutive blocks.

  The soft remedian replaces each weighted block median by the
  soft weighted median of ``algorithm`` (see :func:`softq.median` with
  ``weights=``; with ``"deviation"``: :math:`w_i \propto c_i \exp(-D_i/\tau)`,
  :math:`D_i = \sum_j c_j\, \tau \log(2 \cosh((x_i - x_j)/\tau))` for counts
  :math:`c`).  Its value is :math:`\sum_i W_i a_i` with ``W = argremedian(a)``,
  the product of the block weights along each input's path to the root.

  Cost: O(n b) time, O(log_b n) depth, O(n) memory in every autodiff mode;
  the computation is a ``lax.scan`` over the segments (complete subtrees),
  then the top levels vectorised; dealing is slices, reshapes and one
  transpose.  On an input sharded along the reduced axis in whole segments
  per device, segments are dealt within each device's share and every
  device reduces its own (see docs/remedian.md).

  Hard limit (``temperature -> 0``; exactly at ``temperature=0``): the hard
  interleaved weighted remedian above, which is *not* ``jnp.median`` but a robust
  estimate of it (rank error against ``n`` in docs/remedian.md).  Large
  temperatures: every block takes its weighted mean, so the result tends to
  the (weighted) sample mean for every ``n``.

  Masks: with ``where=`` (and zero ``weights``) the result is the remedian
  of the *compacted* subsequence of selected values (in their original
  order), so masking and dropping give the same number.  A NaN in a selected
  entry gives NaN (``softq.nanmedian(..., algorithm="remedian")`` ignores
  NaNs instead).

  Default ``block_size=7``: from ``python -m benchmarks.remedian``, the
  smallest block size whose padded quantiles are accurate (b = 3 and 5
  cannot reach p = 0.1: the first level already takes a block minimum); its
  median rank error matches b = 9..15 (see docs/remedian.md).  Use
  ``block_size=15`` for the most accurate extreme quantiles.

  Args:
    a: array of real numbers (integers are promoted to float; float16 and
      bfloat16 are computed in float32).
    axis: int, tuple of ints or None (all axes, the default).
    block_size: ``b >= 2`` values per block.
    keepdims: keep reduced axes with size 1.
    temperature: :math:`\tau \ge 0` in the units of ``a``: a scalar or an array
      broadcasting against the output; differentiable; ``0`` is exact.
    algorithm: block kernel: ``"deviation"`` (default, fastest) or ``"rank"``.
    where: boolean mask broadcastable to ``a``.
    weights: non-negative starting weights of the inputs (default 1 each),
      broadcastable to ``a``; differentiable.
    temperature_scale: None, ``"std"`` or ``"mad"``: the temperature as a
      fraction of the sample's spread (see :func:`softq.median`).

  Returns:
    The soft remedian, shaped like ``jnp.median(a, axis, keepdims=keepdims)``.

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> x = jnp.array([3.0, 1.0, 10.0, 2.0, 4.0, 8.0, 5.0, 7.0, 6.0])
    >>> print(softq.remedian(x, block_size=3, temperature=0))
    4.0
    >>> print(jnp.round(softq.remedian(x, block_size=3, temperature=0.01), 3))
    4.0
  """
  return _one_shot("remedian", a, axis, block_size=block_size, keepdims=keepdims,
                   temperature=temperature, algorithm=algorithm, where=where,
                   weights=weights, temperature_scale=temperature_scale, output="values")


def argremedian(a: ArrayLike, axis: int | tuple[int, ...] | None = -1, *,
                block_size: int = DEFAULT_BLOCK_SIZE, temperature: ArrayLike = 1.0,
                algorithm: str = DEFAULT_BLOCK_ALGORITHM,
                where: ArrayLike | None = None, weights: ArrayLike | None = None,
                temperature_scale: str | None = None) -> jax.Array:
  """Soft argremedian: convex weights ``W`` over ``a`` with ``sum(W * a) = remedian(a)``.

  ``W_i`` is the product of the block weights along the path from ``a_i`` to
  the root of the remedian tree (exact, not a gradient), so ``W >= 0``, it
  sums to 1 along ``axis`` and ``(argremedian(a) * a).sum(axis) ==
  remedian(a, axis)`` up to rounding.  ``W`` is differentiable in ``a`` and
  the temperature.  Hard limit: the one-hot of the hard remedian's input
  (shared over ties inside a block; 1/2 on each of two middle copies).
  Masked entries get weight 0.

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> w = softq.argremedian(jnp.array([3.0, 1.0, 10.0, 2.0, 4.0]), block_size=3,
    ...                       temperature=0)
    >>> print(w)  # interleaved blocks: (3, 10, 4) -> 4 (3 inputs) outweighs (1, 2) -> 1.5 (2)
    [0. 0. 0. 0. 1.]
  """
  return _one_shot("argremedian", a, axis, block_size=block_size, keepdims=False,
                   temperature=temperature, algorithm=algorithm, where=where,
                   weights=weights, temperature_scale=temperature_scale, output="weights")


# streaming

def remedian_init(*, block_size: int = DEFAULT_BLOCK_SIZE, max_size: int = 2 ** 31 - 1,
                  dtype=jnp.float32, temperature: ArrayLike = 1.0,
                  algorithm: str = DEFAULT_BLOCK_ALGORITHM) -> RemedianState:
  """An empty stream state for :func:`remedian_update` / :func:`remedian_result`.

  The state holds ``levels * block_size`` values with
  ``levels = ceil(log_b(max_size))``: O(log n) memory for a stream of n.
  The stream keeps *consecutive* blocks (it cannot deal values it has not
  seen): up to ``max_size`` values, :func:`remedian_result` is the weighted
  remedian of consecutive blocks of the concatenated stream, which equals
  the one-shot :func:`remedian` on iid data in accuracy but not in value,
  and is order sensitive: on sorted data its rank error reaches about 0.25
  (docs/remedian.md).  Past
  ``max_size`` (more than ``b**levels`` values) the complete trees of
  ``b**levels`` values are *averaged*: the result is the mean of their roots
  and of the remedian of the unfinished remainder, each counted once; it
  stays finite and differentiable.

  Args:
    block_size: ``b >= 2``.
    max_size: the longest stream reduced exactly (longer: complete trees averaged).
    dtype: the compute dtype of the state (float16/bfloat16 become float32).
    temperature: initial temperature in data units (``0``: the hard remedian; for a traced
      temperature of 0 the kernels use a tiny positive floor).
    algorithm: the block kernel for the stream's life, ``"deviation"`` (default) or
      ``"rank"``; kept in the state (static, ``state.algorithm``), so updates and the
      result need not repeat it.

  Examples:
    >>> import jax, jax.numpy as jnp, softq
    >>> state = softq.remedian_init(block_size=3, temperature=0.0)
    >>> for chunk in jnp.arange(12.0).reshape(4, 3):
    ...   state = softq.remedian_update(state, chunk)
    >>> # blocks -> 1, 4, 7 (3 inputs each), 10 (3); then 1, 4, 7 -> 4 (9 inputs);
    >>> # the weighted median of 4 (9 inputs) and 10 (3 inputs) is 4
    >>> print(softq.remedian_result(state))
    4.0
  """
  name = "remedian_init"
  block_size = validation.check_block_size(block_size, name)
  if int(max_size) < 1:
    raise ValueError(f"{name}: max_size must be >= 1, got {max_size}.")
  dtype = validation.compute_dtype(dtype)
  tau, _ = validation.check_temperature(temperature, name, dtype)
  if jnp.ndim(tau):
    raise ValueError(f"{name}: temperature must be a scalar, got shape {jnp.shape(tau)}.")
  levels = num_levels(int(max_size), block_size)
  algorithm = _algorithms.get(algorithm, name, remedian_algorithm.BLOCK_ALGORITHMS).name
  return RemedianState(
      pending=jnp.zeros((levels, block_size), dtype),
      counts=jnp.zeros((levels,), jnp.int32),
      top_sum=jnp.zeros((), dtype),
      top_count=jnp.zeros((), jnp.int32),
      temperature=jnp.asarray(tau, dtype),
      algorithm=remedian_stream.BlockAlgorithm(algorithm))


def _stream_context(state: RemedianState, algorithm, name):
  if algorithm is not None and algorithm != state.algorithm:
    raise ValueError(
        f"{name}: algorithm={algorithm!r} conflicts with the stream's block algorithm "
        f"{str(state.algorithm)!r}, fixed at remedian_init(algorithm=...); omit the "
        "argument (the state carries it).")
  kernel = _algorithms.get(state.algorithm, name, remedian_algorithm.BLOCK_ALGORITHMS).kernel
  hard = validation.is_concrete(state.temperature) and bool(
      np.all(np.asarray(state.temperature) == 0))
  return remedian_stream.context(state, kernel, hard)


def remedian_update(state: RemedianState, chunk: ArrayLike, *,
                    algorithm: str | None = None) -> RemedianState:
  """Feeds a 1-D chunk (any static length) into the stream; returns the new state.

  Pure and jit/scan friendly: every level merges its pending values with
  the block results arriving from below (a gather, O(chunk)), reduces the
  complete blocks with the block kernel, and keeps the rest pending.  For
  several independent streams, ``jax.vmap`` the state and the chunk.
  The block kernel is the state's (``remedian_init(algorithm=...)``); an
  explicit ``algorithm`` must agree with it (else ``ValueError``).
  """
  name = "remedian_update"
  ctx = _stream_context(state, algorithm, name)
  chunk = jnp.asarray(chunk)
  if chunk.ndim != 1:
    raise ValueError(f"{name}: chunk must be 1-D, got shape {chunk.shape}; pass one "
                     "1-D chunk (jax.vmap the state and the chunk for several streams).")
  return remedian_stream.update(ctx, state, chunk)


def remedian_result(state: RemedianState, *, algorithm: str | None = None) -> jax.Array:
  """The soft remedian of everything fed so far (NaN for an empty stream).

  Completes the unfinished block of every level, bottom up, as the
  weighted remedian of consecutive blocks treats the end of its input.
  The block kernel is the state's (an explicit conflicting ``algorithm``
  raises ``ValueError``).
  """
  return remedian_stream.result(_stream_context(state, algorithm, "remedian_result"), state)
