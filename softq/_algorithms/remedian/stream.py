"""The streaming soft remedian: a pure-function state updated chunk by chunk.

``pending[l, :counts[l]]`` are the values waiting at level ``l`` for their
block to fill (level 0 holds raw inputs).  An update merges each level's
pending values with the block results arriving from below (a gather,
O(chunk)), reduces the complete blocks with the block kernel and keeps the
rest pending; the result completes the unfinished block of every level,
bottom up, exactly as the one-shot remedian treats the end of its input.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from softq._algorithms.remedian.levels import Ctx
from softq._algorithms.remedian.levels import block_level
from softq._algorithms.remedian.levels import ceil_div
from softq._algorithms.remedian.levels import median_stat
from softq._core import numerics


class BlockAlgorithm(str):
  """The name of a stream's block kernel: a string that is a pytree node with
  no leaves (the name is its static aux data), so a state carrying it passes
  through ``jit``, ``lax.scan`` and ``vmap`` unchanged and a different
  algorithm is a different tree structure (a retrace, never a traced value)."""

  __slots__ = ()

  def __repr__(self):
    return f"BlockAlgorithm({str(self)!r})"


jax.tree_util.register_pytree_node(BlockAlgorithm, lambda s: ((), str(s)),
                                   lambda name, _: BlockAlgorithm(name))


class RemedianState(NamedTuple):
  """Running state of a streamed remedian (a pytree of arrays).

  ``pending[l, :counts[l]]`` are the values waiting at level ``l`` for their
  block to fill (level 0 holds raw inputs).  ``top_sum``/``top_count``
  accumulate the roots of complete trees of ``block_size**levels`` values
  (more than one only past ``max_size``).  ``temperature`` may be replaced
  (``state._replace(temperature=...)``) between updates, e.g. to anneal it.
  ``algorithm`` is the block kernel fixed by ``remedian_init`` (static: no
  leaves).
  """
  pending: jax.Array       # (levels, block_size)
  counts: jax.Array        # (levels,) int32
  top_sum: jax.Array       # ()
  top_count: jax.Array     # () int32
  temperature: jax.Array   # ()
  algorithm: BlockAlgorithm = BlockAlgorithm("deviation")


def context(state: "RemedianState", kernel, hard: bool) -> Ctx:
  """The level context of a stream (its temperature floored, 1/tau hoisted)."""
  tau = numerics.floor_tau(state.temperature)
  return Ctx(state.pending.shape[1], kernel, hard, tau, numerics.hoisted_temperature(tau))


#: Levels of an update that run unrolled (each its own kernel program, sized
#: to the blocks that can arrive there) before one ``lax.scan`` over the
#: remaining levels takes over on a fixed buffer (one kernel program for all
#: of them): unroll while the scanned levels would do more than this
#: fraction of the unrolled levels' block work.
_LOOP_WASTE = 0.5


def _blocks_of(b: int, s: int) -> int:
  """Blocks a level reduces (at most) when ``s`` values may arrive."""
  return ceil_div(b + s, b)


def unrolled_levels(b: int, s: int, levels: int) -> int:
  """How many levels an update with chunks of ``s`` values unrolls (>= 1)."""
  sizes = [_blocks_of(b, s)]
  while len(sizes) < levels:
    sizes.append(_blocks_of(b, sizes[-1]))
  u = 1
  while u < levels and (levels - u) * sizes[u] > _LOOP_WASTE * sum(sizes[:u]):
    u += 1
  return u


def _update_level(ctx: Ctx, pend, cnt, incoming, in_count, unit):
  """One level: ``pend[:cnt]`` then ``incoming[:in_count]`` (each value
  ``unit`` inputs); the complete blocks are reduced.  Returns the new
  pending values and count, the block results (as many as ``incoming`` may
  have at most, padded with 0) and their count."""
  b = ctx.block_size
  s = incoming.shape[0]
  n_slots = ceil_div(b + s, b) * b + b
  j = jnp.arange(n_slots)
  from_pending = jnp.take(pend, jnp.clip(j, 0, b - 1))
  from_incoming = jnp.take(incoming, jnp.clip(j - cnt, 0, max(s - 1, 0)))
  merged = jnp.where(j < cnt, from_pending, jnp.where(j - cnt < in_count, from_incoming, 0))
  total = cnt + in_count
  n_full = total // b
  n_blocks = n_slots // b - 1
  # Complete blocks are uniform (every value stands for ``unit`` inputs):
  # the kernel's fast path, the same program for every ``unit``.
  out, _ = block_level(ctx, merged[:n_blocks * b].reshape(n_blocks, b), None, unit,
                       b * unit, median_stat)
  out = jnp.where(jnp.arange(n_blocks) < n_full, out, jnp.zeros_like(out))
  kept = jax.lax.dynamic_slice_in_dim(merged, n_full * b, b)
  left = total - n_full * b
  kept = jnp.where(jnp.arange(b) < left, kept, jnp.zeros_like(kept))
  return kept, left.astype(jnp.int32), out, n_full


def update(ctx: Ctx, state: "RemedianState", chunk) -> "RemedianState":
  """Feeds a 1-D ``chunk`` into the stream.

  The first levels (where most blocks arrive) are unrolled, each sized to
  its blocks; the others run in one ``lax.scan`` over levels on a buffer of
  the first scanned level's size, every value at level ``l`` weighing
  ``b**l`` (traced), so the kernel is compiled once for all of them.
  """
  b = ctx.block_size
  dtype = state.pending.dtype
  levels = state.pending.shape[0]
  incoming = chunk.astype(dtype)
  in_count = jnp.asarray(incoming.shape[0], jnp.int32)
  unroll = unrolled_levels(b, incoming.shape[0], levels)
  pending, counts = [], []
  for lvl in range(unroll):
    kept, left, incoming, in_count = _update_level(
        ctx, state.pending[lvl], state.counts[lvl], incoming, in_count, b ** lvl)
    pending.append(kept)
    counts.append(left)
  pending, counts = jnp.stack(pending), jnp.stack(counts)
  if unroll < levels:
    size = incoming.shape[0]

    def level(carry, xs):
      incoming, in_count = carry
      pend, cnt, unit = xs
      kept, left, out, n_full = _update_level(ctx, pend, cnt, incoming, in_count, unit)
      out = jnp.pad(out, (0, size - out.shape[0]))
      return (out, n_full), (kept, left)

    units = jnp.asarray(np.float64(b) ** np.arange(unroll, levels), dtype)
    (incoming, in_count), (p_rest, c_rest) = jax.lax.scan(
        level, (incoming, in_count), (state.pending[unroll:], state.counts[unroll:], units))
    pending = jnp.concatenate([pending, p_rest])
    counts = jnp.concatenate([counts, c_rest])
  top = jnp.sum(jnp.where(jnp.arange(incoming.shape[0]) < in_count, incoming, 0))
  return RemedianState(
      pending=pending, counts=counts.astype(jnp.int32),
      top_sum=state.top_sum + top, top_count=state.top_count + in_count,
      temperature=state.temperature, algorithm=state.algorithm)


def result(ctx: Ctx, state: "RemedianState"):
  """The soft remedian of everything fed so far (NaN for an empty stream).

  A ``lax.scan`` over the levels, bottom up: each completes its unfinished
  block with the value carried from below (one weighted block: one kernel
  program for every level).
  """
  b = ctx.block_size
  dtype = state.pending.dtype
  levels = state.pending.shape[0]
  units = jnp.asarray(np.float64(b) ** np.arange(levels), dtype)

  def level(carry, xs):
    carry, carry_weight = carry        # the value carried up, and the inputs under it
    pend, cnt, unit = xs
    slot = jnp.arange(b)
    has = carry_weight > 0
    vals = jnp.where((slot == cnt) & has, carry, pend)
    # The pending values stand for b**lvl inputs each; the carry for its own.
    weight = jnp.where(slot < cnt, unit,
                       jnp.where((slot == cnt) & has, carry_weight, 0.0)).astype(dtype)
    total = jnp.sum(weight)
    out, _ = block_level(ctx, vals[None], None, weight[None], total[None], median_stat)
    return (jnp.where(total > 0, out[0], carry), total), None

  zero = jnp.zeros((), dtype)
  (carry, carry_weight), _ = jax.lax.scan(level, (zero, zero),
                                          (state.pending, state.counts, units))
  has = carry_weight > 0
  n_top = state.top_count + has.astype(jnp.int32)
  total = state.top_sum + jnp.where(has, carry, 0)
  mean = total / jnp.maximum(n_top, 1).astype(total.dtype)
  res = jnp.where(state.top_count == 0, carry, mean)
  return jnp.where(n_top == 0, jnp.nan, res)
