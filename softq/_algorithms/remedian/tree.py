"""The soft remedian's tree: levels of interleaved blocks as one ``lax.scan`` over segments.

Definition (the hard limit; one row of ``n`` values, block size ``b``,
``C = b**c`` the largest power of ``b`` not above ``2**14``, ``n = q C + rem``):

* *segments*: the partial segment takes every ``s``-th value from ``s // 2``
  on (``s = n // rem``: ``rem`` values spread over the whole input); the other
  ``q C`` values, in order, are dealt out in rows of ``q``, one value of each
  row to each of the ``q`` full segments (row ``t`` of ``C``);
* *interleaved blocks*: a segment (its values in row order), and then the
  segment roots carrying their counts, are reduced level by level; a level
  of ``m`` entries has ``M = ceil(m / b)`` blocks, block ``i`` holding entries
  ``i, i + M, i + 2M, ...``, each replaced by its weighted median carrying
  the block's weight (:func:`interleaved_index` places the entries at the
  leaves of a consecutive tree; for a full segment it is the digit reversal);
* on ``D > 1`` devices with ``n`` a multiple of ``D C``, the dealing is done
  within each of ``D`` consecutive shares (so a sharded input stays put).

Every block then samples the whole input: sorted and inliers-then-outliers
data are as accurate as iid data (docs/remedian.md).

Layout of the computation:

* the dealt row (:func:`deal`: slices, reshapes and one transpose; a gather
  for the partial segment only) is viewed as ``(P, S, C)``: ``P`` segments are
  reduced side by side in each of the ``S`` steps of a ``lax.scan`` (``P`` is a
  multiple of the device count, so a sharded input is sharded along ``P``
  and only the ``P * S`` segment roots ever move);
* inside a step the segments are reduced level by level, vectorised over all
  blocks of the level (a Python loop over the ``c`` static levels);
* without user weights every value counts once, so every block of a full
  segment has equal weights (the uniform fast path); the partial segment is
  reduced again with its exact counts, and its root replaces the one the
  scan computed;
* the ``P * S`` roots are reduced by the remaining levels, vectorised.

Empty leaves never change the result: they have weight 0 (a block's weight
is the sum of its values' weights), so a block holding ``m < b`` values takes
the weighted median of those ``m``.  Values with zero weight (``where=``, NaNs
ignored, zero ``weights=``) are dropped by compacting the others to a prefix
first (``cumsum`` + scatter, O(n)), so their count may be traced (then the
layout is one gather, :func:`deal_index`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from softq._algorithms.remedian.levels import Ctx
from softq._algorithms.remedian.levels import ceil_div
from softq._algorithms.remedian.levels import median_stat
from softq._algorithms.remedian.levels import one_level
from softq._algorithms.remedian.levels import pad_to
from softq._core import numerics

#: Values per chunk (a full subtree) at most, and per scan step (all ``P``
#: chunks) about: large enough to amortise the loop, small enough to stay in
#: cache.  Tuned with ``python -m benchmarks.remedian``.
_CHUNK_MAX = 1 << 14
_STEP_TARGET = 1 << 16
#: Work a level loop may repeat on zeros, as a fraction of the first level's
#: (see :func:`_unrolled`).
_LOOP_WASTE = 0.5

def _unrolled(block_size: int, levels: int) -> int:
  """Levels to unroll before a loop on a fixed buffer takes over.

  The loop keeps the buffer size of the first looped level, so it repeats
  work on zeros; every unrolled level is one more kernel program to compile.
  Unrolling stops once the repeated work is under :data:`_LOOP_WASTE` of the
  first level's (for ``b = 7`` after the first level: measured, the loop's
  small levels cost their fixed overhead, not their size, and the scan's
  run time did not change while its compile time fell by 15%).
  """
  u = 1
  while u < levels and (levels - u) / block_size ** u > _LOOP_WASTE:
    u += 1
  return u


def _levels(ctx: Ctx, v, vv, weight, stat0, levels: int, unroll: int):
  """``levels`` levels of ``v`` (last axis), the first ``unroll`` unrolled.

  ``weight``: None or a scalar (uniform: complete blocks) or counts shaped
  like ``v``.  The remaining levels run in a ``lax.fori_loop`` on a buffer of
  fixed size (results written to its front, zero weight behind), one kernel
  in the program.  Returns the values, averaged values and weights.
  """
  b = ctx.block_size
  per_entry = weight is not None and jnp.ndim(weight) >= 1
  for lvl in range(min(unroll, levels)):
    size = ceil_div(v.shape[-1], b) * b
    v, vv = pad_to(v, size), pad_to(vv, size)
    weight = pad_to(weight, size) if per_entry else weight
    v, vv, weight = one_level(ctx, v, vv, weight, stat0 if lvl == 0 else median_stat)
  left = levels - min(unroll, levels)
  if left <= 0:
    return v, vv, weight
  size = ceil_div(v.shape[-1], b) * b
  v, vv = pad_to(v, size), pad_to(vv, size)
  weight = (pad_to(weight, size) if per_entry
            else jnp.asarray(1 if weight is None else weight, v.dtype))

  def body(_, carry):
    v, vv, weight = carry
    out, vout, weight = one_level(ctx, v, vv, weight, median_stat)
    return (pad_to(out, size), pad_to(vout, size),
            pad_to(weight, size) if per_entry else weight)

  v, vv, weight = jax.lax.fori_loop(0, left, body, (v, vv, weight))
  return v[..., :1], None if vv is None else vv[..., :1], (
      weight[..., :1] if per_entry else weight)


def num_levels(n: int, b: int) -> int:
  levels, size = 1, b
  while size < n:
    size *= b
    levels += 1
  return levels


def _grid(n: int, b: int):
  """Static chunk layout ``(P, S, c)`` for a row of ``n`` values."""
  levels = num_levels(n, b)
  c = 1
  while c < levels and b ** (c + 1) <= _CHUNK_MAX:
    c += 1
  chunk = b ** c
  n_chunks = ceil_div(n, chunk)
  devices = jax.device_count()
  if n_chunks >= devices:
    # Chunks per device per step: a divisor of the chunks each device holds,
    # so that no padding (which would move data between devices) is needed
    # when the devices divide the number of chunks.
    per_dev_total = ceil_div(n_chunks, devices)
    target = max(1, _STEP_TARGET // (devices * chunk))
    per_device = max(d for d in range(1, min(target, per_dev_total) + 1)
                     if per_dev_total % d == 0)
    groups = devices * per_device
  else:
    groups = max(1, min(n_chunks, _STEP_TARGET // chunk))
  steps = ceil_div(n_chunks, groups)
  return groups, steps, c


def _top_order(roots, vroots, rweights, m, b: int, n_top: int, xp):
  """The ``m`` real chunk roots in the interleaved order of an ``n_top``-level
  tree (``b**n_top`` leaves, empty ones of weight 0); and the leaf -> root
  map (NumPy when ``m`` is static)."""
  j, ok = interleaved_index(m, b, n_top, xp)
  jj, okk = jnp.asarray(j, jnp.int32), jnp.asarray(ok)
  take = lambda t: None if t is None else jnp.where(okk, jnp.take(t, jj, mode="clip"), 0)
  return take(roots), take(vroots), take(rweights), j


def _tree(ctx: Ctx, x, xv, count, weight, stat0):
  """The interleaved weighted remedian of the first ``count`` values of ``x``.

  ``weight``: None (every value counts once; ``count`` static: the scan
  reduces full segments with the uniform fast path, and the partial one is
  reduced again with its exact counts) or per-value weights (0 beyond
  ``count``, which may be traced: every level weighted).
  """
  b = ctx.block_size
  n = x.shape[0]
  groups, steps, c = _grid(n, b)
  chunk = b ** c
  total = groups * steps * chunk
  n_roots = groups * steps
  in_partial = None

  def as_steps(t):
    return None if t is None else jnp.swapaxes(t.reshape(groups, steps, chunk), 0, 1)

  if weight is None:
    count = int(count)
    j, rem = divmod(count, chunk)
    lay = lambda t: as_steps(deal(t, count, b, c, total))
    x, xv = lay(x), lay(xv)
    # The partial segment is reduced by the scan (result discarded) and
    # again exactly below: the scan sees it through stop_gradient (its zero
    # cotangent times a huge partial derivative -- ties with the padding at
    # a tiny temperature -- would be NaN).
    in_partial = None if not rem else as_steps((np.arange(total) // chunk) == j)
  else:
    idx, valid = deal_index(count, b, c, n_roots, jnp)
    idx, valid = as_steps(idx.reshape(-1)), as_steps(valid.reshape(-1))
    pick = lambda t: None if t is None else jnp.where(
        valid, jnp.take(pad_to(t, total), idx, mode="clip"), 0)
    x, xv, weight = pick(x), pick(xv), pick(weight)
  unroll = _unrolled(b, c)
  sg = lambda t: None if t is None or in_partial is None else jnp.where(
      in_partial, jax.lax.stop_gradient(t), t)
  xs, xvs = (x, xv) if in_partial is None else (sg(x), sg(xv))

  def step(carry, chunks):
    v, vv, w = chunks
    v, vv, w = _levels(ctx, v, vv, w, stat0, c, unroll)
    return carry, (v[:, 0], None if vv is None else vv[:, 0],
                   None if w is None or jnp.ndim(w) == 0 else w[:, 0])

  _, (roots, vroots, rweights) = jax.lax.scan(step, None, (xs, xvs, weight))

  def flat(t):
    return None if t is None else jnp.swapaxes(t, 0, 1).reshape(n_roots)

  roots, vroots, rweights = flat(roots), flat(vroots), flat(rweights)
  n_top = num_levels(n_roots, b) if n_roots > 1 else 0
  if weight is None:
    starts = np.arange(n_roots) * chunk
    rweights = jnp.asarray(np.clip(count - starts, 0, chunk), x.dtype)
    m, xp = ceil_div(count, chunk), np
  else:
    m, xp = ceil_div(count, chunk), jnp
  if n_top:
    roots, vroots, rweights, j_top = _top_order(roots, vroots, rweights, m, b, n_top, xp)
  if weight is None and rem:
    partial = _partial_chunk(x, xv, count, chunk, b, c)
    roots, vroots = _partial_and_top(ctx, partial, c, roots, vroots, rweights, n_top,
                                     j_top if n_top else None, stat0)
    if not n_top:
      return roots[0] if vroots is None else vroots[0]
  elif n_top:
    roots, vroots, _ = _levels(ctx, roots, vroots, rweights, median_stat, n_top, 0)
  return roots[0] if vroots is None else vroots[0]


def _partial_chunk(x, xv, count: int, chunk: int, b: int, c: int):
  """The partial segment (from the scan's ``(steps, groups, chunk)`` layout)
  with its exact counts (1 for its values, 0 for empty leaves): ``(values,
  averaged values, counts, j)`` (``j``: its chunk index)."""
  j = count // chunk
  steps, groups = x.shape[:2]
  g, st = divmod(j, steps)    # chunk j = g * steps + st
  part = x[st, g]
  vpart = None if xv is None else xv[st, g]
  counts = jnp.asarray(partial_valid(count, b, c), x.dtype)
  return part, vpart, counts, j


def _partial_and_top(ctx, partial, n_part, roots, vroots, rweights, n_top, j_top, stat0):
  """The partial segment's ``n_part`` levels (the first with ``stat0``), then
  the ``n_top`` levels of the chunk roots (interleaved; the partial
  segment's root at its leaf), as one ``lax.fori_loop`` on one buffer: one
  weighted kernel program for both (the loop's waste is on one segment and
  the roots only).

  Iteration ``n_part`` swaps the buffer for the roots; the buffer is as
  long as the longer of the two (a multiple of ``b``), zero weight behind.
  """
  b = ctx.block_size
  v, vv, w, j = partial
  leaf = int(np.flatnonzero((np.asarray(j_top) == j))[0]) if n_top else 0
  size = max(v.shape[0], ceil_div(roots.shape[0], b) * b)
  pad = lambda t: pad_to(t, size)
  v, vv, w = pad(v), pad(vv), pad(w)
  roots_b, vroots_b, rweights_b = pad(roots), pad(vroots), pad(rweights)

  def body(i, carry):
    v, vv, w = carry
    if n_top:
      swap = i == n_part
      v = jnp.where(swap, roots_b.at[leaf].set(v[0]), v)
      vv = None if vv is None else jnp.where(swap, vroots_b.at[leaf].set(vv[0]), vv)
      w = jnp.where(swap, rweights_b, w)
    stat = median_stat
    if stat0 is not median_stat:   # the first level's order statistic (quantiles)
      stat = lambda total: tuple(jnp.where(i == 0, a, m) for a, m in
                                 zip(stat0(total), median_stat(total)))
    out, vout, w = one_level(ctx, v, vv, w, stat)
    return pad(out), pad(vout), pad(w)

  v, vv, _ = jax.lax.fori_loop(0, n_part + n_top, body, (v, vv, w))
  return v[:1], None if vv is None else vv[:1]


# --------------------------------------------------------------------------
# interleaving: which input sits at which leaf (see the module docstring)
# --------------------------------------------------------------------------

def _digits(size: int, b: int, c: int) -> list:
  """Base-``b`` digits (least significant first) of ``0 .. size - 1``: ``c`` arrays."""
  p = np.arange(size)
  return [(p // b ** l) % b for l in range(c)]


def reversed_index(b: int, c: int) -> np.ndarray:
  """The digit reversal of ``0 .. b**c - 1``: the interleaved order of a full segment."""
  return sum(d * b ** (c - 1 - l) for l, d in enumerate(_digits(b ** c, b, c)))


def interleaved_index(m, b: int, c: int, xp=np):
  """Leaf ``p`` of a ``c``-level tree (``b**c`` leaves) -> the entry ``j`` it holds.

  The interleaved blocks of ``m <= b**c`` entries: a level of ``m_l`` entries
  has ``m_{l+1} = ceil(m_l / b)`` blocks, block ``i`` holding the entries
  ``i, i + m_{l+1}, i + 2 m_{l+1}, ...``.  The entry at slot ``p_l`` (the
  ``l``-th digit of ``p``) of a level-``l + 1`` block of class ``i`` is
  ``i + p_l m_{l+1}``, so ``j = sum_l p_l m_{l+1}``; a leaf is empty unless
  every class on its path is below its level's ``m_l``.  Returns ``(j,
  valid)``; ``m`` may be traced (``xp=jnp``).  For ``m = b**c``: the digit
  reversal.
  """
  digits = _digits(b ** c, b, c)
  ms = [m]
  for _ in range(c):
    ms.append((ms[-1] + (b - 1)) // b)
  j, valid = 0, True
  for l in reversed(range(c)):
    j = j + digits[l] * ms[l + 1]
    valid = valid & (j < ms[l])
  return j, valid


def shares(n, chunk: int) -> int:
  """Consecutive shares the segments are dealt within: the device count when
  it divides ``n`` into whole numbers of full segments (a sharded input is
  then dealt where it lives), else 1."""
  d = jax.device_count()
  return d if d > 1 and n > 0 and n % (d * chunk) == 0 else 1


def deal_index(count, b: int, c: int, n_chunks: int, xp=np):
  """Buffer position ``(r, p)`` (chunk ``r``, leaf ``p``) -> input index, valid.

  ``count = q C + rem`` values (``C = b**c``): the partial segment takes
  every ``s``-th value, ``s = count // rem``, from ``s // 2`` on (``rem`` of
  them, spread over the whole input); the other ``q C`` values, in order,
  are dealt out in rows of ``q``, one value of each row to each full
  segment.  Inside a segment the rows sit at the leaves of the interleaved
  order (:func:`interleaved_index`).  Returns ``(n_chunks, C)`` arrays;
  ``count`` may be traced (``xp=jnp``).
  """
  big = b ** c
  q, rem = count // big, count % big
  s = count // xp.maximum(rem, 1)
  o = s // 2
  rev = reversed_index(b, c)
  r = np.arange(n_chunks)[:, None]
  k = rev[None, :] * q + r                     # the k-th value not in the partial segment
  gap = xp.maximum(s - 1, 1)
  spread = (k // gap) * s + k % gap + (k % gap >= o)
  full = xp.where(rem == 0, k, xp.where(k < rem * (s - 1), spread, k + rem))
  j, ok = interleaved_index(rem, b, c, xp)
  part = j * s + o
  idx = xp.where(r < q, full, xp.where(r == q, part[None, :], 0))
  valid = (r < q) | ((r == q) & ok[None, :])
  d = jax.device_count()
  if d > 1:
    qd = xp.maximum(count // (d * big), 1)
    by_share = (r // qd) * qd * big + rev[None, :] * qd + r % qd
    use = (count % (d * big) == 0) & (count > 0)
    idx, valid = xp.where(use, by_share, idx), xp.where(use, r < count // big, valid)
  return idx, valid


def _reverse_rows(t, b: int, c: int):
  """``(..., C, q)`` rows -> ``(..., q, C)`` segments in the interleaved order."""
  lead, q = t.shape[:-2], t.shape[-1]
  k = len(lead)
  t = t.reshape(lead + (b,) * c + (q,))
  axes = tuple(range(k)) + (k + c,) + tuple(range(k + c - 1, k - 1, -1))
  return t.transpose(axes).reshape(lead + (q, b ** c))


def deal(t, count: int, b: int, c: int, total: int):
  """The layout of :func:`deal_index` for a static ``count``, padded to
  ``total``, from slices, reshapes and one transpose (their transposes are
  the same, never a scatter) and a gather of the partial segment only.
  Whole segments per device (:func:`shares`) are dealt within each share,
  so a sharded input stays where it lives."""
  if t is None:
    return None
  big = b ** c
  q, rem = divmod(count, big)
  if rem == 0:
    d = shares(count, big)
    return pad_to(_reverse_rows(t.reshape(d, big, q // d), b, c).reshape(-1), total)
  s = count // rem
  o = s // 2
  parts = []
  if q:
    blocks = t[:rem * s].reshape(rem, s)
    rest = jnp.concatenate([blocks[:, :o], blocks[:, o + 1:]], axis=1).reshape(-1)
    rest = jnp.concatenate([rest, t[rem * s:]])
    parts.append(_reverse_rows(rest.reshape(big, q), b, c).reshape(-1))
  j, ok = interleaved_index(rem, b, c)
  part = jnp.take(t[o:rem * s:s], jnp.asarray(np.where(ok, j, 0), jnp.int32))
  parts.append(jnp.where(jnp.asarray(ok), part, 0))
  return pad_to(jnp.concatenate(parts), total)


def partial_valid(count: int, b: int, c: int):
  """Leaf validity of the partial segment (static), or None."""
  rem = count % b ** c
  return None if rem == 0 else interleaved_index(rem, b, c)[1]


def _compact(t, valid):
  """The valid entries of ``t`` moved to a prefix, in order (zeros after)."""
  pos = jnp.cumsum(valid.astype(jnp.int32)) - 1
  idx = jnp.where(valid, pos, t.shape[0])
  return jnp.zeros_like(t).at[idx].add(jnp.where(valid, t, jnp.zeros_like(t)), mode="drop")


def _row_value(ctx: Ctx, x, xv, weight, stat0):
  if weight is None:
    return _tree(ctx, x, xv, x.shape[0], None, stat0)
  keep = weight > 0
  count = jnp.sum(keep.astype(jnp.int32))
  compact = lambda t: None if t is None else _compact(t, keep)
  return _tree(ctx, compact(x), compact(xv), count, compact(weight), stat0)


def _row(ctx, x, weight, stat0, weights_out: bool):
  """Value (scalar) or weights ``(n,)`` of one row."""
  if not weights_out:
    return _row_value(ctx, x, None, weight, stat0)
  # sum_i W_i(x) z_i is linear in z: its gradient in z is W(x), still a
  # differentiable function of x (the product of block weights on each path).
  _, pullback = jax.vjp(lambda z: _row_value(ctx, x, z, weight, stat0), x)
  return pullback(jnp.ones((), x.dtype))[0]


def rows_remedian(x, weight, tau_rows, stat0, block_size, kernel, hard, weights_out):
  """``(B,)`` values or ``(B, n)`` weights of rows ``x (B, n)``.

  ``weight`` ``(B, n)`` (0 drops a value: the remedian of the others, in
  order) or None; ``tau_rows`` scalar or ``(B,)``.
  """
  w_axis = None if weight is None else 0
  t_axis = 0 if jnp.ndim(tau_rows) == 1 else None

  def one(x, weight, tau):
    ctx = Ctx(block_size, kernel, hard, tau,
              None if hard else numerics.hoisted_temperature(jnp.asarray(tau)),
              grad_weights=weight is not None)
    return _row(ctx, x, weight, stat0, weights_out)

  return jax.vmap(one, in_axes=(0, w_axis, t_axis))(x, weight, tau_rows)
