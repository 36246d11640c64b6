"""The soft remedian: an O(n) soft median as a ``lax.scan`` over blocks.

Layout of the computation (one row of ``n`` values, block size ``b``):

* the row is padded to ``T = P * S * C`` values and viewed as ``(P, S, C)``:
  ``C = b**c`` values form a *chunk*, a complete subtree of ``c`` levels;
  ``P`` chunks are reduced side by side in each of the ``S`` steps of a
  ``lax.scan`` (``P`` is a multiple of the device count, so an input sharded
  along the reduced axis is sharded along ``P``: every device reduces the
  chunks it holds and only the ``P * S`` chunk roots ever move);
* inside a step the chunks are reduced level by level, vectorised over all
  blocks of the level (a Python loop over the ``c`` static levels);
* the chunk that holds the end of the data (a partial subtree) is reduced
  again with the partial blocks of each level handled exactly, and its root
  replaces the one the scan computed;
* the ``P * S`` roots are reduced by the remaining levels, vectorised.

Padding never changes the result: the valid values are always a prefix, a
block holding ``m < b`` valid values takes the median of those ``m``, and once
a level holds a single valid value the further levels return it unchanged.
Masks (``where=``, NaNs ignored) compact the valid values to a prefix first
(``cumsum`` + scatter, O(n)), so the count of valid values may be traced.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from softq import _axes
from softq import _checks
from softq import _engine
from softq import _numerics
from softq._kernels import blocks as _blocks

#: Default block size, chosen by ``python -m benchmarks.remedian`` (see
#: docs/remedian.md): the fastest block size whose quantiles (by padding) stay
#: within 0.02 of their level, and whose median rank error is as small as the
#: largest blocks'.
DEFAULT_BLOCK_SIZE = 7
#: Default block kernel.  ``"deviation"`` runs as a batched closed form over
#: all blocks of a level (:mod:`softq._kernels.blocks`).
DEFAULT_BLOCK_ALGORITHM = "deviation"
BLOCK_ALGORITHMS = ("deviation", "rank", "subsets")

#: Values per chunk (a full subtree) at most, and per scan step (all ``P``
#: chunks) about: large enough to amortise the loop, small enough to stay in
#: cache.  Tuned with ``python -m benchmarks.remedian``.
_CHUNK_MAX = 1 << 14
_STEP_TARGET = 1 << 16


# --------------------------------------------------------------------------
# order statistics of a block: which one each level takes
# --------------------------------------------------------------------------

def _median_stat(m):
  """(lo, hi, g) of the median of ``m`` values (``jnp.median`` convention)."""
  if isinstance(m, (int, np.integer)):
    lo, hi = (m - 1) // 2, m // 2
    return lo, hi, (0.0 if lo == hi else 0.5)
  lo, hi = (m - 1) // 2, m // 2
  return lo, hi, jnp.where(lo == hi, 0.0, 0.5)


def _quantile_stat(p, method: str):
  """Level-0 order statistic of a block of ``m`` values for the level ``p``.

  The block takes the order statistic that its share of pad values would make
  its median: ``(1 - 2p)(m + 1/3)`` pads below (``p < 1/2``) or
  ``(2p - 1)(m + 1/3)`` above (``p > 1/2``) put the median of the padded
  block at the fractional position ``k = (m - 1)/2 + (p - 1/2)(m + 1/3)``
  among the ``m`` real values (clipped to ``[0, m - 1]``).  The ``+ 1/3`` is
  the median-unbiased correction for order statistics of small samples
  (the ``k``-th of ``m`` has median rank ``~(k + 2/3)/(m + 1/3)``); ``k`` is
  exactly ``(m - 1)/2`` at ``p = 1/2``.  ``method`` rounds or interpolates
  ``k`` as ``jnp.quantile`` does ``h``; ``"inverted_cdf"`` and
  ``"averaged_inverted_cdf"`` use their own definitions at level ``p`` on
  the block's ``m`` values.
  """
  static_p = not isinstance(p, jax.Array) or _checks.is_concrete(p)

  def stat(m):
    static = static_p and isinstance(m, (int, np.integer))
    if static and float(p) == 0.5 and method in ("linear", "midpoint",
                                                 "averaged_inverted_cdf"):
      return _median_stat(int(m))
    xp = np if static else jnp
    pp = float(p) if static else jnp.asarray(p)
    mf = float(m) if static else jnp.asarray(m, pp.dtype if hasattr(pp, "dtype") else jnp.float32)
    last = mf - 1.0
    if method == "inverted_cdf":
      lo = xp.clip(xp.ceil(pp * mf) - 1.0, 0.0, last)
      hi, g = lo, 0.0 * lo
    elif method == "averaged_inverted_cdf":
      h = pp * mf - 1.0
      prev = xp.floor(h)
      g = xp.where(h - prev == 0, 0.5, 1.0)
      lo = xp.clip(prev, 0.0, last)
      hi = xp.clip(prev + 1.0, 0.0, last)
    else:
      k = xp.clip(0.5 * last + (pp - 0.5) * (mf + 1.0 / 3.0), 0.0, last)
      lo, hi = xp.floor(k), xp.ceil(k)
      frac = k - lo
      if method == "linear":
        g = frac
      elif method == "lower":
        hi, g = lo, 0.0 * k
      elif method == "higher":
        lo, g = hi, 0.0 * k
      elif method == "nearest":
        lo = hi = xp.where(frac <= 0.5, lo, hi)
        g = 0.0 * k
      else:  # midpoint
        g = 0.5 + 0.0 * k
    if static:
      lo, hi, g = int(lo), int(hi), float(g)
      if lo == hi:
        g = 0.0
      return lo, hi, g
    return lo.astype(jnp.int32), hi.astype(jnp.int32), g
  return stat


# --------------------------------------------------------------------------
# one level: blocks -> block results
# --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _Ctx:
  block_size: int
  algorithm: str
  hard: bool
  tau: Any          # scalar temperature (floored), unused when hard
  inv_tau: Any = None  # hoisted_temperature(tau), computed outside the scan (_numerics.ratio)


def _blocks_weights(ctx: _Ctx, x, valid, m, stat):
  """Weights ``(N, b)`` of the ``stat`` order statistic, and the exact hard value.

  ``x`` is ``(N, b)``; ``valid`` ``(N, b)`` or None (every entry counts, and
  then ``m`` is the static ``b``).
  """
  lo, hi, g = stat(m)
  same = isinstance(lo, int) and lo == hi
  hit_lo, r_lo = _blocks.hard_select(x, valid, lo)
  if same:
    hit_hi, r_hi = hit_lo, r_lo
  else:
    hit_hi, r_hi = _blocks.hard_select(x, valid, hi)
  if ctx.hard:
    w_lo = _blocks.hit_weights(hit_lo, x.dtype)
    w_hi = w_lo if same else _blocks.hit_weights(hit_hi, x.dtype)
  elif ctx.algorithm == "deviation":
    ks, refs, hits = ([lo], [r_lo], [hit_lo]) if same else (
        [lo, hi], [r_lo, r_hi], [hit_lo, hit_hi])
    ws = _blocks.deviation_weights(x, valid, m, ks, refs, hits, ctx.tau, ctx.inv_tau)
    w_lo, w_hi = ws[0], ws[-1]
  else:
    w_lo, w_hi = _generic_weights(ctx, x, valid, lo, hi, same)
  if same:
    return w_lo, r_lo
  g1 = jnp.asarray(g, x.dtype)   # a scalar: one order statistic per level
  w = (1.0 - g1) * w_lo + g1 * w_hi
  hard_value = jnp.where(g1 == 0, r_lo, jnp.where(
      g1 == 1, r_hi, (1.0 - g1) * r_lo + g1 * r_hi))
  return w, hard_value


def _soft_value(ctx: _Ctx, x, valid, m, stat):
  """Block values by :func:`softq._kernels.blocks.soft_value` (analytic tangent)."""
  lo, hi, g = stat(m)
  same = isinstance(lo, int) and lo == hi
  hit_lo, r_lo = _blocks.hard_select(x, valid, lo)
  if same:
    return _blocks.soft_value(x, valid, m, [lo], [r_lo], [hit_lo], None, ctx.tau, ctx.inv_tau)
  hit_hi, r_hi = _blocks.hard_select(x, valid, hi)
  return _blocks.soft_value(x, valid, m, [lo, hi], [r_lo, r_hi], [hit_lo, hit_hi], g,
                            ctx.tau, ctx.inv_tau)


def _generic_weights(ctx: _Ctx, x, valid, lo, hi, same):
  """Any 1-D kernel of :mod:`softq._kernels`, vmapped over the blocks."""
  n_blocks = x.shape[0]
  if isinstance(lo, int) and isinstance(hi, int):
    ks = np.array([lo] if same else [lo, hi])
    kb = None
  else:
    kb = jnp.stack([jnp.broadcast_to(lo, (n_blocks,)), jnp.broadcast_to(hi, (n_blocks,))], 1)
    ks = None

  def one(xb, vb, kk):
    return _engine.order_stat_weights(xb, vb, ks if kk is None else kk, ctx.algorithm, ctx.tau)

  w = jax.vmap(one, in_axes=(0, None if valid is None else 0, None if kb is None else 0))(
      x, valid, kb)                                          # (N, U, b)
  return w[:, 0], w[:, -1]


def _level(ctx: _Ctx, blk, vblk, stat, valid=None, m=None):
  """Reduces ``(N, b)`` blocks: node values ``blk`` pick the weights, ``vblk``
  (or ``blk`` itself when None) is what the weights average."""
  if m is None:
    m = blk.shape[-1]
  if (vblk is None and not ctx.hard and ctx.algorithm == "deviation"
      and ctx.inv_tau is not None):
    return _soft_value(ctx, blk, valid, m, stat), None
  w, hard_value = _blocks_weights(ctx, blk, valid, m, stat)
  value = hard_value if ctx.hard else _numerics.weighted_sum(w, blk)
  return value, (None if vblk is None else _numerics.weighted_sum(w, vblk))


def _ceil_div(a, b):
  if isinstance(a, (int, np.integer)):
    return -(-int(a) // b)
  return (a + (b - 1)) // b


def _pad_to(t, size):
  if t is None or t.shape[-1] == size:
    return t
  widths = [(0, 0)] * (t.ndim - 1) + [(0, size - t.shape[-1])]
  return jnp.pad(t, widths)


def _one_level(ctx: _Ctx, v, vv, count, stat):
  """One level over the last axis of ``v`` (a multiple of ``b`` long).

  ``count`` is None when every block is complete; else the number of valid
  values (a static int or a traced scalar, the valid values being a prefix of
  the 1-D ``v``): the one partial block is recomputed with its exact size
  and the invalid tail is zeroed, so no garbage (which could be infinite)
  reaches a gradient.  Returns the block results and their count.
  """
  b = ctx.block_size
  lead = v.shape[:-1]
  nb = v.shape[-1] // b
  blk = v.reshape(-1, b)
  vblk = None if vv is None else vv.reshape(-1, b)
  if count is None:
    out, vout = _level(ctx, blk, vblk, stat)
    reshape = lambda t: None if t is None else t.reshape(lead + (nb,))
    return reshape(out), reshape(vout), None
  # The partial block is computed twice: with the full-block kernel (on its
  # padding, result discarded) and exactly.  The discarded pass sees its
  # values through stop_gradient: its zero cotangent times a huge partial
  # derivative (ties with the padding at a tiny temperature) would be NaN.
  if isinstance(count, (int, np.integer)):
    idx, rem = divmod(int(count), b)
    if rem:
      blk_full = blk.at[idx].set(jax.lax.stop_gradient(blk[idx]))
      vblk_full = None if vblk is None else vblk.at[idx].set(
          jax.lax.stop_gradient(vblk[idx]))
    else:
      blk_full, vblk_full = blk, vblk
    out, vout = _level(ctx, blk_full, vblk_full, stat)
    if rem:
      p_out, p_vout = _level(ctx, blk[idx:idx + 1, :rem],
                             None if vblk is None else vblk[idx:idx + 1, :rem], stat)
      out = out.at[idx].set(p_out[0])
      if vout is not None:
        vout = vout.at[idx].set(p_vout[0])
  else:
    idx = jnp.clip(count // b, 0, nb - 1)
    rem = count - (count // b) * b
    has = rem > 0
    partial_row = ((jnp.arange(nb) == idx) & has)[:, None]
    sg = lambda t: None if t is None else jnp.where(
        partial_row, jax.lax.stop_gradient(t), t)
    out, vout = _level(ctx, sg(blk), sg(vblk), stat)
    pblk = jax.lax.dynamic_slice_in_dim(blk, idx, 1)
    pvblk = None if vblk is None else jax.lax.dynamic_slice_in_dim(vblk, idx, 1)
    valid = jnp.arange(b) < rem
    p_out, p_vout = _level(ctx, pblk, pvblk, stat, valid[None], jnp.maximum(rem, 1))
    out = out.at[idx].set(jnp.where(has, p_out[0], out[idx]))
    if vout is not None:
      vout = vout.at[idx].set(jnp.where(has, p_vout[0], vout[idx]))
  count = _ceil_div(count, b)
  keep = jnp.arange(nb) < count
  out = jnp.where(keep, out, jnp.zeros_like(out))
  if vout is not None:
    vout = jnp.where(keep, vout, jnp.zeros_like(vout))
  return out, vout, count


def _unrolled(block_size: int, levels: int) -> int:
  """Levels to unroll before a loop on a fixed buffer takes over.

  The loop keeps the buffer size of the first looped level, so it repeats
  work on zeros; unrolling until that waste is under ~6% of the first
  level's keeps the run time, while the loop keeps the program (and its
  compile time) the same size for every ``n``.
  """
  u = 1
  while u < levels and (levels - u) / block_size ** u > 0.06:
    u += 1
  return u


def _levels(ctx: _Ctx, v, vv, count, stat0, levels: int, unroll: int):
  """``levels`` levels of ``v`` (last axis), the first ``unroll`` unrolled.

  The remaining levels run in a ``lax.fori_loop`` on a buffer of fixed size
  (results written to its front, zeros behind), one kernel in the program.
  """
  b = ctx.block_size
  for lvl in range(min(unroll, levels)):
    n = v.shape[-1]
    size = _ceil_div(n, b) * b
    v, vv = _pad_to(v, size), _pad_to(vv, size)
    v, vv, count = _one_level(ctx, v, vv, count, stat0 if lvl == 0 else _median_stat)
  left = levels - min(unroll, levels)
  if left <= 0:
    return v, vv
  size = _ceil_div(v.shape[-1], b) * b
  v, vv = _pad_to(v, size), _pad_to(vv, size)
  dynamic = count is not None
  if dynamic:
    count = jnp.asarray(count, jnp.int32)

  def body(_, carry):
    v, vv, count = carry
    out, vout, count = _one_level(ctx, v, vv, count if dynamic else None, _median_stat)
    return _pad_to(out, size), _pad_to(vout, size), count

  v, vv, count = jax.lax.fori_loop(0, left, body, (v, vv, count))
  return v[..., :1], None if vv is None else vv[..., :1]


def _num_levels(n: int, b: int) -> int:
  levels, size = 1, b
  while size < n:
    size *= b
    levels += 1
  return levels


def _grid(n: int, b: int):
  """Static chunk layout ``(P, S, c)`` for a row of ``n`` values."""
  levels = _num_levels(n, b)
  c = 1
  while c < levels and b ** (c + 1) <= _CHUNK_MAX:
    c += 1
  chunk = b ** c
  n_chunks = _ceil_div(n, chunk)
  devices = jax.device_count()
  if n_chunks >= devices:
    # Chunks per device per step: a divisor of the chunks each device holds,
    # so that no padding (which would move data between devices) is needed
    # when the devices divide the number of chunks.
    per_dev_total = _ceil_div(n_chunks, devices)
    target = max(1, _STEP_TARGET // (devices * chunk))
    per_device = max(d for d in range(1, min(target, per_dev_total) + 1)
                     if per_dev_total % d == 0)
    groups = devices * per_device
  else:
    groups = max(1, min(n_chunks, _STEP_TARGET // chunk))
  steps = _ceil_div(n_chunks, groups)
  return groups, steps, c


def _tree(ctx: _Ctx, x, xv, count, stat0):
  """The remedian of the first ``count`` values of ``x`` (``(n,)``)."""
  b = ctx.block_size
  n = x.shape[0]
  groups, steps, c = _grid(n, b)
  chunk = b ** c
  total = groups * steps * chunk
  x, xv = _pad_to(x, total), _pad_to(xv, total)
  unroll = _unrolled(b, c)
  # The chunk holding the end of the data is reduced by the scan (result
  # discarded) and again exactly below: the scan sees it through
  # stop_gradient (see _one_level).
  if isinstance(count, (int, np.integer)):
    j, rem = divmod(int(count), chunk)
    in_partial = None if not rem else (np.arange(total) // chunk) == j
  else:
    j = jnp.clip(count // chunk, 0, groups * steps - 1)
    in_partial = ((jnp.arange(total) // chunk) == j) & (count % chunk > 0)
  sg = lambda t: None if t is None or in_partial is None else jnp.where(
      in_partial, jax.lax.stop_gradient(t), t)
  xs, xvs = (x, xv) if in_partial is None else (sg(x), sg(xv))

  def as_steps(t):
    return None if t is None else jnp.swapaxes(t.reshape(groups, steps, chunk), 0, 1)

  def step(carry, chunks):
    v, vv = chunks
    v, vv = _levels(ctx, v, vv, None, stat0, c, unroll)
    return carry, (v[:, 0], None if vv is None else vv[:, 0])

  _, (roots, vroots) = jax.lax.scan(step, None, (as_steps(xs), as_steps(xvs)))

  def flat(t):
    return None if t is None else jnp.swapaxes(t, 0, 1).reshape(groups * steps)

  roots, vroots = flat(roots), flat(vroots)
  # The chunk holding the end of the data is a partial subtree: redo it exactly.
  if isinstance(count, (int, np.integer)):
    j, rem = divmod(int(count), chunk)
    if rem:
      part = x[j * chunk:(j + 1) * chunk]
      vpart = None if xv is None else xv[j * chunk:(j + 1) * chunk]
      r, vr = _levels(ctx, part, vpart, rem, stat0, c, 1)
      roots = roots.at[j].set(r[0])
      if vr is not None:
        vroots = vroots.at[j].set(vr[0])
  else:
    j = jnp.clip(count // chunk, 0, groups * steps - 1)
    rem = count - (count // chunk) * chunk
    part = jax.lax.dynamic_slice_in_dim(x, j * chunk, chunk)
    vpart = None if xv is None else jax.lax.dynamic_slice_in_dim(xv, j * chunk, chunk)
    r, vr = _levels(ctx, part, vpart, rem, stat0, c, 1)
    has = rem > 0
    roots = roots.at[j].set(jnp.where(has, r[0], roots[j]))
    if vr is not None:
      vroots = vroots.at[j].set(jnp.where(has, vr[0], vroots[j]))
  n_roots = roots.shape[0]
  if n_roots > 1:
    top = _num_levels(n_roots, b)
    roots, vroots = _levels(ctx, roots, vroots, _ceil_div(count, chunk), _median_stat,
                            top, 0)
  return roots[0] if vroots is None else vroots[0]


def _compact(t, valid):
  """The valid entries of ``t`` moved to a prefix, in order (zeros after)."""
  pos = jnp.cumsum(valid.astype(jnp.int32)) - 1
  idx = jnp.where(valid, pos, t.shape[0])
  return jnp.zeros_like(t).at[idx].add(jnp.where(valid, t, jnp.zeros_like(t)), mode="drop")


def _row_value(ctx: _Ctx, x, xv, valid, stat0):
  if valid is None:
    return _tree(ctx, x, xv, x.shape[0], stat0)
  count = jnp.sum(valid.astype(jnp.int32))
  return _tree(ctx, _compact(x, valid), None if xv is None else _compact(xv, valid),
               count, stat0)


def _row(ctx_args, x, valid, tau, stat0, weights_out: bool):
  """Value (scalar) or weights ``(n,)`` of one row."""
  block_size, algorithm, hard = ctx_args
  ctx = _Ctx(block_size, algorithm, hard, tau,
             None if hard else _numerics.hoisted_temperature(jnp.asarray(tau)))
  if not weights_out:
    return _row_value(ctx, x, None, valid, stat0)
  # sum_i W_i(x) z_i is linear in z: its gradient in z is W(x), still a
  # differentiable function of x (the product of block weights on each path).
  _, pullback = jax.vjp(lambda z: _row_value(ctx, x, z, valid, stat0), x)
  return pullback(jnp.ones((), x.dtype))[0]


def _rows(rows, tau_rows, stat0, block_size, algorithm, hard, weights_out):
  """``(B,)`` values or ``(B, n)`` weights; ``tau_rows`` scalar or ``(B,)``."""
  v_axis = None if rows.valid is None else 0
  t_axis = 0 if jnp.ndim(tau_rows) == 1 else None

  def one(x, valid, tau):
    return _row((block_size, algorithm, hard), x, valid, tau, stat0, weights_out)

  return jax.vmap(one, in_axes=(0, v_axis, t_axis))(rows.x, rows.valid, tau_rows)


# --------------------------------------------------------------------------
# shared driver for remedian / argremedian / median / quantile
# --------------------------------------------------------------------------

def quantile_from_public(name, a, q, lay, *, method, keepdims, tau, mode, where,
                         nan_ignore, weights_out, cdtype,
                         block_size: int = DEFAULT_BLOCK_SIZE,
                         algorithm: str = DEFAULT_BLOCK_ALGORITHM):
  """Remedian values (``q.shape + out_shape``) or weights (``q.shape + a.shape``).

  Called by :mod:`softq._quantile` for ``algorithm="remedian"`` (with the
  default block size and block kernel) and by :func:`remedian`.
  """
  from softq import _quantile  # pylint: disable=import-outside-toplevel
  q_arr = jnp.asarray(q)
  lead = q_arr.shape
  rows = _engine.make_rows(a, lay, where, nan_ignore, name, cdtype)
  tau_rows = _axes.per_row(tau, lay, lead, name)
  soft_tau = _numerics.floor_tau(tau_rows)

  def run(stat0, tau_q, hard):
    return _rows(rows, tau_q, stat0, block_size, algorithm, hard, weights_out)

  def run_level(stat0, tau_q):
    if mode == "zero":
      return run(stat0, tau_q, True)
    out = run(stat0, _numerics.floor_tau(tau_q), False)
    if mode == "mixed":
      hard = run(stat0, tau_q, True)
      zero = jnp.broadcast_to(jnp.asarray(tau_q) == 0, (lay.batch,))
      zero = zero[:, None] if weights_out else zero
      out = jnp.where(zero, hard, out)
    return out

  del soft_tau
  tau_2d = jnp.ndim(tau_rows) == 2
  if _checks.is_concrete(q):
    ps = np.asarray(q, np.float64).reshape(-1)
    outs = [run_level(_quantile_stat(float(p), method), tau_rows[i] if tau_2d else tau_rows)
            for i, p in enumerate(ps)]
    out = jnp.stack(outs)                                   # (Q, B[, n])
  else:
    p_vec = q_arr.reshape(-1)
    if not jnp.issubdtype(p_vec.dtype, jnp.floating):
      p_vec = p_vec.astype(cdtype)
    p_vec = p_vec.astype(jnp.promote_types(p_vec.dtype, jnp.float32))
    if tau_2d:
      out = jax.vmap(lambda p, t: run_level(_quantile_stat(p, method), t))(p_vec, tau_rows)
    else:
      out = jax.vmap(lambda p: run_level(_quantile_stat(p, method), tau_rows))(p_vec)
  if weights_out:
    w = _quantile._nan_fill(out, rows, True)  # pylint: disable=protected-access
    full = _axes.from_rows_full(w, lay).astype(a.dtype)
    return full.reshape(lead + lay.shape)
  vals = out
  if rows.nan_rows is not None:
    vals = jnp.where(rows.nan_rows[None], jnp.nan, vals)
  vals = _quantile._empty_fill(vals, rows)  # pylint: disable=protected-access
  res = _axes.from_rows_reduced(vals, lay, keepdims).astype(a.dtype)
  return res.reshape(lead + lay.out_shape(keepdims))


# --------------------------------------------------------------------------
# public: remedian / argremedian
# --------------------------------------------------------------------------

def _prepare(name, a, axis, block_size, temperature, algorithm):
  a = _checks.check_array(a, name)
  block_size = _checks.check_block_size(block_size, name)
  _checks.check_algorithm(algorithm, name, BLOCK_ALGORITHMS)
  if algorithm == "subsets":
    _checks.check_subsets_size(block_size, name)
  lay = _axes.layout(a.shape, axis, name)
  cdtype = _checks.compute_dtype(a.dtype)
  tau, mode = _checks.check_temperature(temperature, name, cdtype)
  return a, block_size, lay, cdtype, tau, mode


def remedian(a: ArrayLike, axis: int | tuple[int, ...] | None = None, *,
             block_size: int = DEFAULT_BLOCK_SIZE, keepdims: bool = False,
             temperature: ArrayLike = 1.0, algorithm: str = DEFAULT_BLOCK_ALGORITHM,
             where: ArrayLike | None = None) -> jax.Array:
  r"""Soft remedian: an O(n) soft median, differentiable, with a hard limit.

  The (hard) remedian with block size ``b`` splits the sample into
  consecutive blocks of ``b`` values (the last block may hold fewer),
  replaces each block by its median (``jnp.median`` convention: the mean of
  the two middle values of an even block), and repeats on the block medians
  until one value is left.  The soft remedian replaces every block median by
  a soft one, ``sum_j w_j x_j`` with the weights of ``algorithm`` applied to
  the block (``"deviation"``: ``w = softmin_tau(D)``,
  ``D_i = sum_j tau log(2 cosh((x_i - x_j)/tau))``).  Its value is therefore
  ``sum_i W_i a_i`` with ``W = argremedian(a)``, the product of the block
  weights along each input's path to the root.

  Cost: O(n b) time, O(log_b n) depth, O(n) memory in every autodiff mode;
  the computation is a ``lax.scan`` over chunks of ``b**c`` values (complete
  subtrees), then the top levels vectorised.  On an input sharded along the
  reduced axis every device reduces its own chunks (see docs/remedian.md).

  Hard limit (``temperature -> 0``; exactly at ``temperature=0``): the hard
  remedian above, which is *not* ``jnp.median`` but a robust estimate of it:
  on 59,049 Student-t (df=1) values its rank (the fraction of the sample below
  it) is within about 0.01 of 1/2 for ``b = 7`` (see docs/remedian.md for the
  sweep).  Large temperatures: every block takes its mean (the sample mean when
  ``n`` is a power of ``b``).

  Masks: with ``where=`` the result is the remedian of the *compacted*
  subsequence of selected values (in their original order), so masking and
  dropping give the same number.  A NaN in a selected entry gives NaN
  (``softq.nanmedian(..., algorithm="remedian")`` ignores NaNs instead).

  Default ``block_size=7``: from ``python -m benchmarks.remedian``, the
  smallest block size whose padded quantiles are accurate (b = 3 and 5
  cannot reach p = 0.1: the first level already takes a block minimum);
  its median rank error matches b = 9..15 and it is as fast as b = 3..9
  (value and gradient at n = 531,441 float32: 0.48x ``jnp.median``'s; see
  docs/remedian.md).  Use ``block_size=15`` for the most accurate extreme
  quantiles.

  Args:
    a: array of real numbers (integers are promoted to float; float16 and
      bfloat16 are computed in float32).
    axis: int, tuple of ints or None (all axes, the default).
    block_size: ``b >= 2`` values per block.
    keepdims: keep reduced axes with size 1.
    temperature: ``tau >= 0`` in the units of ``a``: a scalar or an array
      broadcasting against the output; differentiable; ``0`` is exact.
    algorithm: block kernel: ``"deviation"`` (default, fastest),
      ``"rank"`` or ``"subsets"`` (``block_size <= 20``).
    where: boolean mask broadcastable to ``a``.

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
  name = "remedian"
  a, block_size, lay, cdtype, tau, mode = _prepare(name, a, axis, block_size,
                                                   temperature, algorithm)
  return quantile_from_public(
      name, a, 0.5, lay, method="linear", keepdims=keepdims, tau=tau, mode=mode,
      where=where, nan_ignore=False, weights_out=False, cdtype=cdtype,
      block_size=block_size, algorithm=algorithm)


def argremedian(a: ArrayLike, axis: int | tuple[int, ...] | None = -1, *,
                block_size: int = DEFAULT_BLOCK_SIZE, temperature: ArrayLike = 1.0,
                algorithm: str = DEFAULT_BLOCK_ALGORITHM,
                where: ArrayLike | None = None) -> jax.Array:
  """Soft argremedian: convex weights ``W`` over ``a`` with ``sum(W * a) = remedian(a)``.

  ``W_i`` is the product of the block weights along the path from ``a_i`` to
  the root of the remedian tree (exact, not a gradient), so ``W >= 0``, it
  sums to 1 along ``axis`` and ``(argremedian(a) * a).sum(axis) ==
  remedian(a, axis)`` up to rounding.  ``W`` is differentiable in ``a`` and
  the temperature.  Hard limit: the one-hot of the hard remedian's input
  (uniform over ties inside a block; 1/2 on each middle value of an even
  partial block).  Masked entries get weight 0.

  Examples:
    >>> import jax.numpy as jnp, softq
    >>> w = softq.argremedian(jnp.array([3.0, 1.0, 10.0, 2.0]), block_size=3, temperature=0)
    >>> print(w)
    [0.5 0.  0.  0.5]
  """
  name = "argremedian"
  a, block_size, lay, cdtype, tau, mode = _prepare(name, a, axis, block_size,
                                                   temperature, algorithm)
  return quantile_from_public(
      name, a, 0.5, lay, method="linear", keepdims=False, tau=tau, mode=mode,
      where=where, nan_ignore=False, weights_out=True, cdtype=cdtype,
      block_size=block_size, algorithm=algorithm)


# --------------------------------------------------------------------------
# streaming
# --------------------------------------------------------------------------

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


def remedian_init(*, block_size: int = DEFAULT_BLOCK_SIZE, max_size: int = 2 ** 31 - 1,
                  dtype=jnp.float32, temperature: ArrayLike = 1.0) -> RemedianState:
  """An empty stream state for :func:`remedian_update` / :func:`remedian_result`.

  The state holds ``levels * block_size`` values with
  ``levels = ceil(log_b(max_size))``: O(log n) memory for a stream of n.
  Up to ``max_size`` values, :func:`remedian_result` equals
  ``remedian(concatenated stream)`` up to rounding.  Past
  ``max_size`` (more than ``b**levels`` values) the complete trees of
  ``b**levels`` values are *averaged*: the result is the mean of their roots
  and of the remedian of the unfinished remainder, each counted once; it
  stays finite and differentiable.

  Args:
    block_size: ``b >= 2``.
    max_size: the longest stream that must match the one-shot remedian.
    dtype: the compute dtype of the state (float16/bfloat16 become float32).
    temperature: initial temperature (``0``: the hard remedian; for a traced
      temperature of 0 the kernels use a tiny positive floor).

  Examples:
    >>> import jax, jax.numpy as jnp, softq
    >>> state = softq.remedian_init(block_size=3, temperature=0.0)
    >>> for chunk in jnp.arange(12.0).reshape(4, 3):
    ...   state = softq.remedian_update(state, chunk)
    >>> print(softq.remedian_result(state))  # blocks 1, 4, 7, 10 -> 4, 10 -> 7
    7.0
  """
  name = "remedian_init"
  block_size = _checks.check_block_size(block_size, name)
  if int(max_size) < 1:
    raise ValueError(f"{name}: max_size must be >= 1, got {max_size}.")
  dtype = _checks.compute_dtype(dtype)
  tau, _ = _checks.check_temperature(temperature, name, dtype)
  if jnp.ndim(tau):
    raise ValueError(f"{name}: temperature must be a scalar, got shape {jnp.shape(tau)}.")
  levels = _num_levels(int(max_size), block_size)
  return RemedianState(
      pending=jnp.zeros((levels, block_size), dtype),
      counts=jnp.zeros((levels,), jnp.int32),
      top_sum=jnp.zeros((), dtype),
      top_count=jnp.zeros((), jnp.int32),
      temperature=jnp.asarray(tau, dtype))


def _stream_ctx(state, algorithm, name):
  _checks.check_algorithm(algorithm, name, BLOCK_ALGORITHMS)
  block_size = state.pending.shape[1]
  hard = _checks.is_concrete(state.temperature) and bool(
      np.all(np.asarray(state.temperature) == 0))
  tau = _numerics.floor_tau(state.temperature)
  return _Ctx(block_size, algorithm, hard, tau, _numerics.hoisted_temperature(tau))


def remedian_update(state: RemedianState, chunk: ArrayLike, *,
                    algorithm: str = DEFAULT_BLOCK_ALGORITHM) -> RemedianState:
  """Feeds a 1-D chunk (any static length) into the stream; returns the new state.

  Pure and jit/scan friendly: every level merges its pending values with
  the block results arriving from below (a gather, O(chunk)), reduces the
  complete blocks with the block kernel, and keeps the rest pending.  For
  several independent streams, ``jax.vmap`` the state and the chunk.
  """
  name = "remedian_update"
  ctx = _stream_ctx(state, algorithm, name)
  b = ctx.block_size
  chunk = jnp.asarray(chunk)
  if chunk.ndim != 1:
    raise ValueError(f"{name}: chunk must be 1-D, got shape {chunk.shape}.")
  dtype = state.pending.dtype
  incoming = chunk.astype(dtype)
  in_count = jnp.asarray(incoming.shape[0], jnp.int32)
  pending, counts = [], []
  for lvl in range(state.pending.shape[0]):
    cnt = state.counts[lvl]
    s = incoming.shape[0]
    n_slots = _ceil_div(b + s, b) * b + b
    j = jnp.arange(n_slots)
    from_pending = jnp.take(state.pending[lvl], jnp.clip(j, 0, b - 1))
    from_incoming = jnp.take(incoming, jnp.clip(j - cnt, 0, max(s - 1, 0)))
    merged = jnp.where(j < cnt, from_pending, jnp.where(j - cnt < in_count, from_incoming, 0))
    total = cnt + in_count
    n_full = total // b
    n_blocks = n_slots // b - 1
    out, _ = _level(ctx, merged[:n_blocks * b].reshape(n_blocks, b), None, _median_stat)
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


def remedian_result(state: RemedianState, *,
                    algorithm: str = DEFAULT_BLOCK_ALGORITHM) -> jax.Array:
  """The soft remedian of everything fed so far (NaN for an empty stream).

  Completes the unfinished block of every level, bottom up, exactly as the
  one-shot :func:`remedian` treats the end of its input.
  """
  ctx = _stream_ctx(state, algorithm, "remedian_result")
  b = ctx.block_size
  carry = jnp.zeros((), state.pending.dtype)
  has = jnp.zeros((), bool)
  for lvl in range(state.pending.shape[0]):
    cnt = state.counts[lvl]
    vals = jnp.where((jnp.arange(b) == cnt) & has, carry, state.pending[lvl])
    m = cnt + has.astype(jnp.int32)
    valid = jnp.arange(b) < m
    out, _ = _level(ctx, vals[None], None, _median_stat, valid[None], jnp.maximum(m, 1))
    carry = jnp.where(m > 0, out[0], carry)
    has = m > 0
  n_top = state.top_count + has.astype(jnp.int32)
  total = state.top_sum + jnp.where(has, carry, 0)
  mean = total / jnp.maximum(n_top, 1).astype(total.dtype)
  res = jnp.where(state.top_count == 0, carry, mean)
  return jnp.where(n_top == 0, jnp.nan, res)
