"""One level of the weighted soft remedian: ``(N, b)`` blocks -> ``N`` block results.

Every value carries a weight (its count: the number of inputs under it, times
the user's weights).  A block's result is the soft *weighted* median of its
values (the order statistic its block statistic asks for, in copies of the
repeated sample) and carries the sum of the block's weights.  Padding has
weight 0, so partial blocks need no special case.  Weights are None (every
entry counts once), a scalar ``u`` (every entry counts ``u`` times: the
complete blocks of a level, where the kernel's fast path applies) or an array
``(..., L)`` of counts.

The block kernel is the remedian's (:class:`Ctx`): its batched form
(:class:`softq._algorithms.base.Batched`) when it declares one, any other
1-D kernel vmapped over the blocks otherwise.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from softq._algorithms.base import Kernel
from softq._algorithms.base import Sample
from softq._algorithms.base import order_stat_weights
from softq._core import numerics
from softq._core import select


@dataclasses.dataclass(frozen=True)
class Ctx:
  block_size: int
  kernel: Kernel    # the block kernel (its ``batched`` ops are the fast path)
  hard: bool
  tau: Any          # scalar temperature (floored), unused when hard
  inv_tau: Any = None  # hoisted_temperature(tau), computed outside the scan (numerics.ratio)
  grad_weights: bool = False  # the weights are differentiable (user weights)


def is_static(v) -> bool:
  return isinstance(v, (int, float, np.integer, np.floating))


def median_stat(total):
  """(lo, hi, g) of the weighted median of a block of total weight ``W``.

  ``jnp.median``'s convention on the repeated sample (the mean of the two
  middle copies for an even ``W``), extended linearly to real ``W``.
  """
  if isinstance(total, (int, np.integer)):
    lo, hi = (total - 1) // 2, total // 2
    return lo, hi, (0.0 if lo == hi else 0.5)
  h = jnp.maximum(0.5 * (jnp.asarray(total) - 1.0), 0.0)
  lo = jnp.floor(h)
  return lo, jnp.ceil(h), h - lo


def _mix(g, lo, hi):
  return lo if g is None else (1.0 - g) * lo + g * hi


def block_level(ctx: Ctx, blk, vblk, weight, total, stat):
  """Reduces ``(N, b)`` blocks: node values ``blk`` pick the weights, ``vblk``
  (or ``blk`` itself when None) is what the weights average.

  The weighted median of a *uniform* block (``weight`` one scalar ``u``,
  static or traced: ``W = b u`` copies) selects the same values, with the
  same slopes ``2k + 1 - W``, as the median of ``b`` unit values
  (``k = (b - 1) // 2`` and ``b // 2``, in values): only the costs scale by
  ``u``.  Its order statistics are therefore static for every ``u``, and
  every uniform level shares one kernel program.
  """
  b = blk.shape[-1]
  uniform = stat is median_stat and (weight is None or jnp.ndim(weight) == 0)
  if uniform:
    lo, hi, g = median_stat(b)          # in values (see above)
    sel_weight, sel_total = None, b
  else:
    lo, hi, g = stat(total)
    sel_weight, sel_total = weight, total
  same = is_static(lo) and is_static(hi) and lo == hi
  gg = None if same else jnp.asarray(g, blk.dtype)   # scalar, or one per block
  batched = ctx.kernel.batched
  if (not ctx.hard and vblk is None and batched is not None and ctx.inv_tau is not None
      and not ctx.grad_weights):
    # The value path: the batched kernel finds the order statistics itself.
    if same:
      return batched.value(blk, weight, [lo], ctx.tau, ctx.inv_tau, tiles=False,
                           value_ks=uniform)[0], None
    return batched.value(blk, weight, [lo, hi], ctx.tau, ctx.inv_tau, g=gg, tiles=False,
                         value_ks=uniform), None
  hit_lo, r_lo = select.counted_select(blk, sel_weight, lo)
  hit_hi, r_hi = (hit_lo, r_lo) if same else select.counted_select(blk, sel_weight, hi)
  if ctx.hard:
    w = _mix(None if same else gg[..., None] if gg.ndim else gg,
             select.tie_weights(hit_lo, weight, blk.dtype),
             select.tie_weights(hit_hi, weight, blk.dtype))
    value = r_lo if same else jnp.where(gg == 0, r_lo, jnp.where(
        gg == 1, r_hi, (1.0 - gg) * r_lo + gg * r_hi))
    return value, (None if vblk is None else numerics.weighted_sum(w, vblk))
  batched = ctx.kernel.batched
  ks, refs, hits = ([lo], [r_lo], [hit_lo]) if same else (
      [lo, hi], [r_lo, r_hi], [hit_lo, hit_hi])
  if batched is not None:
    ws = batched.weights(blk, weight, sel_total, ks, refs, hits, ctx.tau, ctx.inv_tau)
  else:
    if uniform:   # the kernel's own copies: k + b (u - 1) / 2 of the b u
      u = 1 if weight is None else weight
      ks = [k + 0.5 * b * (u - 1) for k in ks]
    ws = _generic_weights(ctx, blk, weight, total, ks)
  w = ws[0] if same else _mix(gg[..., None] if gg.ndim else gg, ws[0], ws[1])
  value = numerics.weighted_sum(w, blk)
  return value, (None if vblk is None else numerics.weighted_sum(w, vblk))


def _generic_weights(ctx: Ctx, blk, weight, total, ks):
  """The block kernel's 1-D ``select``, vmapped over the blocks."""
  n_blocks, b = blk.shape
  w_arr = jnp.broadcast_to(jnp.asarray(1.0 if weight is None else weight, blk.dtype),
                           blk.shape)
  tot = jnp.broadcast_to(jnp.asarray(total, blk.dtype), (n_blocks,))
  kb = jnp.stack([jnp.broadcast_to(jnp.asarray(k, blk.dtype), (n_blocks,)) for k in ks], 1)

  def one(xb, wb, tb, kk):
    w, _ = order_stat_weights(ctx.kernel, Sample(xb, wb, tb), kk, ctx.tau, False)
    return w

  w = jax.vmap(one)(blk, w_arr, tot, kb)                        # (N, U, b)
  return [w[:, u] for u in range(len(ks))]


def ceil_div(a, b):
  if isinstance(a, (int, np.integer)):
    return -(-int(a) // b)
  return (a + (b - 1)) // b


def pad_to(t, size):
  if t is None or t.shape[-1] == size:
    return t
  widths = [(0, 0)] * (t.ndim - 1) + [(0, size - t.shape[-1])]
  return jnp.pad(t, widths)


def one_level(ctx: Ctx, v, vv, weight, stat):
  """One level over the last axis of ``v`` (a multiple of ``b`` long).

  ``weight``: a scalar (every entry counts that much; the blocks are
  complete) or counts shaped like ``v`` (0 for padding).  Returns the block
  results, their averaged values (or None) and their weights (a scalar
  ``b * u``, or the blocks' sums).
  """
  b = ctx.block_size
  lead = v.shape[:-1]
  nb = v.shape[-1] // b
  blk = v.reshape(-1, b)
  vblk = None if vv is None else vv.reshape(-1, b)
  uniform = weight is None or jnp.ndim(weight) == 0
  if uniform:
    unit = 1 if weight is None else weight
    total = b * unit
    out, vout = block_level(ctx, blk, vblk, unit, total, stat)
    new_weight = total
  else:
    wblk = weight.reshape(-1, b)
    total = jnp.sum(wblk, axis=-1)
    out, vout = block_level(ctx, blk, vblk, wblk, total, stat)
    empty = total <= 0
    # A block of padding only: value 0, weight 0 (no garbage reaches a gradient).
    out = jnp.where(empty, jnp.zeros_like(out), out)
    if vout is not None:
      vout = jnp.where(empty, jnp.zeros_like(vout), vout)
    new_weight = total.reshape(lead + (nb,))
  reshape = lambda t: None if t is None else t.reshape(lead + (nb,))
  return reshape(out), reshape(vout), new_weight
