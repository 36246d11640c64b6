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

from softq._algorithms.remedian_levels import Ctx
from softq._algorithms.remedian_levels import block_level
from softq._algorithms.remedian_levels import ceil_div
from softq._algorithms.remedian_levels import median_stat
from softq._core import numerics


class RemedianState(NamedTuple):
  """Running state of a streamed remedian (a pytree of arrays).

  ``pending[l, :counts[l]]`` are the values waiting at level ``l`` for their
  block to fill (level 0 holds raw inputs).  ``top_sum``/``top_count``
  accumulate the roots of complete trees of ``block_size**levels`` values
  (more than one only past ``max_size``).  ``temperature`` may be replaced
  (``state._replace(temperature=...)``) between updates, e.g. to anneal it.
  """
  pending: jax.Array       # (levels, block_size)
  counts: jax.Array        # (levels,) int32
  top_sum: jax.Array       # ()
  top_count: jax.Array     # () int32
  temperature: jax.Array   # ()


def context(state: "RemedianState", kernel, hard: bool) -> Ctx:
  """The level context of a stream (its temperature floored, 1/tau hoisted)."""
  tau = numerics.floor_tau(state.temperature)
  return Ctx(state.pending.shape[1], kernel, hard, tau, numerics.hoisted_temperature(tau))


def update(ctx: Ctx, state: "RemedianState", chunk) -> "RemedianState":
  """Feeds a 1-D ``chunk`` into the stream."""
  b = ctx.block_size
  dtype = state.pending.dtype
  incoming = chunk.astype(dtype)
  in_count = jnp.asarray(incoming.shape[0], jnp.int32)
  pending, counts = [], []
  for lvl in range(state.pending.shape[0]):
    cnt = state.counts[lvl]
    s = incoming.shape[0]
    n_slots = ceil_div(b + s, b) * b + b
    j = jnp.arange(n_slots)
    from_pending = jnp.take(state.pending[lvl], jnp.clip(j, 0, b - 1))
    from_incoming = jnp.take(incoming, jnp.clip(j - cnt, 0, max(s - 1, 0)))
    merged = jnp.where(j < cnt, from_pending, jnp.where(j - cnt < in_count, from_incoming, 0))
    total = cnt + in_count
    n_full = total // b
    n_blocks = n_slots // b - 1
    # Every value pending at level l stands for b**l inputs: complete blocks
    # are uniform (the kernel's fast path).
    out, _ = block_level(ctx, merged[:n_blocks * b].reshape(n_blocks, b), None, b ** lvl,
                         b ** (lvl + 1), median_stat)
    out = jnp.where(jnp.arange(n_blocks) < n_full, out, jnp.zeros_like(out))
    pending.append(jax.lax.dynamic_slice_in_dim(merged, n_full * b, b))
    left = total - n_full * b
    pending[-1] = jnp.where(jnp.arange(b) < left, pending[-1], jnp.zeros_like(pending[-1]))
    counts.append(left)
    incoming, in_count = out, n_full
  top = jnp.sum(jnp.where(jnp.arange(incoming.shape[0]) < in_count, incoming, 0))
  return RemedianState(
      pending=jnp.stack(pending), counts=jnp.stack(counts).astype(jnp.int32),
      top_sum=state.top_sum + top, top_count=state.top_count + in_count,
      temperature=state.temperature)


def result(ctx: Ctx, state: "RemedianState"):
  """The soft remedian of everything fed so far (NaN for an empty stream)."""
  b = ctx.block_size
  dtype = state.pending.dtype
  carry = jnp.zeros((), dtype)
  carry_weight = jnp.zeros((), dtype)      # the inputs under the carried value
  for lvl in range(state.pending.shape[0]):
    cnt = state.counts[lvl]
    slot = jnp.arange(b)
    has = carry_weight > 0
    vals = jnp.where((slot == cnt) & has, carry, state.pending[lvl])
    # The pending values stand for b**lvl inputs each; the carry for its own.
    weight = jnp.where(slot < cnt, jnp.asarray(float(b ** lvl), dtype),
                       jnp.where((slot == cnt) & has, carry_weight, 0.0)).astype(dtype)
    total = jnp.sum(weight)
    out, _ = block_level(ctx, vals[None], None, weight[None], total[None], median_stat)
    carry = jnp.where(total > 0, out[0], carry)
    carry_weight = total
  has = carry_weight > 0
  n_top = state.top_count + has.astype(jnp.int32)
  total = state.top_sum + jnp.where(has, carry, 0)
  mean = total / jnp.maximum(n_top, 1).astype(total.dtype)
  res = jnp.where(state.top_count == 0, carry, mean)
  return jnp.where(n_top == 0, jnp.nan, res)

