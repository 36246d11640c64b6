"""The one recurrence engine: ``y_i = alpha_i y_{i-1} + beta_i`` over a sorted sample.

Every O(n log n) kernel of softq (the deviation sums of ``"sorted"``, the rank
sums of ``"rank"``, their tangents) reduces to one-sided exponential sums over
the sorted values, i.e. to this linear recurrence with factors
``alpha_i = exp(-c (x_i - x_{i-1}))`` in ``[0, 1]`` and non-negative inputs
``beta``: every step is a sum of non-negative terms, stable at every
temperature.  This module is the single home of

* the **layout**: a row of ``N`` elements as ``(B, ..., nb)`` blocks
  (:func:`to_layout`; element ``j B + t`` at ``[t, ..., j]``), any batch axes
  in between (rows, the two directions, the ``M`` terms);
* the **cut-off** of the factors: a gap of more than :func:`gap_cutoff`
  temperatures gives an exact 0 factor (:func:`gap_ratio`);
* the **blocked evaluation** (:func:`linrec`): pass 1 runs every block from 0
  (``B`` sequential steps, vectorised over the blocks and the batch axes), the
  block carries follow from the block ends and the blocks' factor products
  (:func:`block_carries`, itself two-level), pass 2 reruns every block from
  its true carry and emits per-step outputs.  Four ``lax.scan`` loops per
  call, whatever the batch.  Backward sums (``j >= i``) are forward sums of the
  flipped row, so one primitive serves both.  (Stacking both directions on a
  batch axis runs them in one set of loops: a smaller program, but on XLA:CPU
  two independent calls run concurrently and were faster; see
  docs/performance.md.)

The recurrence is linear in ``beta``: its tangent in ``beta`` is the same
recurrence, and so is the transpose JAX derives for reverse mode (a
recurrence run the other way).  Cost: ``O(N)`` work per batch element in
``~2 B + 2 sqrt(N / B)`` sequential steps; memory: the inputs and the
emitted outputs.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from softq._core import numerics


def gap_cutoff(dtype) -> float:
  """Ratio ``c (x_i - x_{i-1})`` beyond which a factor is set to an exact 0.

  ``exp(-40)`` (float32 and narrower) and ``exp(-80)`` (float64) are below
  the sums' rounding; the exact 0 also cuts the recurrence at infinite gaps.
  """
  return 40.0 if np.finfo(dtype).bits <= 32 else 80.0


def gap_ratio(u, tau, limit: float | None = None):
  """``(min(u / tau, limit), reset)`` for ``u >= 0`` (``u`` may be ``inf``).

  ``reset``: the ratio was clipped (its factor is an exact 0).  The numerator
  is replaced by 0 *before* the division where clipped, so neither the value
  nor any derivative sees ``inf`` or ``inf * 0``.
  """
  if limit is None:
    limit = gap_cutoff(u.dtype)
  big = ~(u <= limit * tau)
  safe_u = jnp.where(big, jnp.zeros_like(u), u)
  z = numerics.divide(safe_u, tau)
  return jnp.where(big, jnp.full_like(z, limit), z), big


def block_size(N: int) -> int:
  """Steps per block: ``ceil(sqrt(N))`` (two passes of ``B`` steps, ``~sqrt(N)`` blocks)."""
  return max(1, int(math.ceil(math.sqrt(N))))


def to_layout(v, B: int):
  """``(..., N) -> (B, ..., nb)``: element ``j B + t`` at ``[t, ..., j]`` (zero-padded)."""
  N = v.shape[-1]
  nb = -(-N // B)
  pad = nb * B - N
  if pad:
    v = jnp.concatenate([v, jnp.zeros(v.shape[:-1] + (pad,), v.dtype)], -1)
  return jnp.moveaxis(v.reshape(v.shape[:-1] + (nb, B)), -1, 0)


def from_layout(v, N: int):
  """Inverse of :func:`to_layout`: ``(B, ..., nb) -> (..., N)``."""
  v = jnp.moveaxis(v, 0, -1)
  return v.reshape(v.shape[:-2] + (-1,))[..., :N]


def block_carries(P, E):
  """``c_j = P_j c_{j-1} + E_j`` (``c_{-1} = 0``) along the last axis, any leading axes.

  ``P``: the blocks' factor products, ``E``: the block ends run from 0.
  Two-level itself (chunks of ~sqrt(nb) blocks, a short scan inside the
  chunks, one over the chunk carries, an elementwise fix-up): a few dozen
  tiny steps, far cheaper to compile than ``lax.associative_scan``.
  """
  lead, nb = E.shape[:-1], E.shape[-1]
  P = jnp.broadcast_to(P, E.shape)
  c2 = max(1, int(math.ceil(math.sqrt(nb))))
  c1 = -(-nb // c2)
  pad = c1 * c2 - nb
  if pad:
    P = jnp.concatenate([P, jnp.zeros(lead + (pad,), P.dtype)], -1)
    E = jnp.concatenate([E, jnp.zeros(lead + (pad,), E.dtype)], -1)
  # (c2, ..., c1): step over the position in the chunk, vectorised over chunks.
  P3 = jnp.moveaxis(P.reshape(lead + (c1, c2)), -1, 0)
  E3 = jnp.moveaxis(E.reshape(lead + (c1, c2)), -1, 0)

  def inside(carry, pe):
    pc, c = carry
    p, e = pe
    pc = pc * p
    c = p * c + e
    return (pc, c), (pc, c)

  init = (jnp.ones(lead + (c1,), P.dtype), jnp.zeros(lead + (c1,), E.dtype))
  (pend, cend), (pcum, cloc) = lax.scan(inside, init, (P3, E3))

  def across(c, pe):
    p, e = pe
    c = p * c + e
    return c, c

  _, chunk = lax.scan(across, jnp.zeros(lead, E.dtype),
                      (jnp.moveaxis(pend, -1, 0), jnp.moveaxis(cend, -1, 0)))   # (c1, ...)
  cin = jnp.concatenate([jnp.zeros((1,) + lead, E.dtype), chunk[:-1]], 0)
  out = cloc + pcum * jnp.moveaxis(cin, 0, -1)[None]                  # (c2, ..., c1)
  return jnp.moveaxis(out, 0, -1).reshape(lead + (c1 * c2,))[..., :nb]


def linrec(step, emit, xs, factors, recompute: bool = True):
  """The recurrence on laid-out data, for a tuple of series at once.

  ``xs``: a pytree of arrays ``(B, ..., nb)`` (:func:`to_layout`).
  ``step(x_t) -> (alphas, betas)``: two tuples of arrays ``(..., nb)``, one
  entry per series, from the step's slice ``x_t`` of ``xs``.
  ``factors``: a tuple (one per series) of the blocks' factor products
  ``prod_t alpha_t``, ``(..., nb)``, or an array stacking them on a new
  leading axis.  ``emit(ys, x_t)``: the per-step output from the tuple of
  updated values.  Returns the emitted outputs, stacked ``(B, ...)``.

  ``recompute``: under reverse mode, rebuild ``step``'s values in the
  transposed loops instead of storing them (cheaper when ``step`` is a few
  multiplications of stored data, as for the exponential-sum powers).
  """
  if recompute:
    step = jax.checkpoint(step, prevent_cse=False)

  def run(ys, xt):
    al, be = step(xt)
    return tuple(a * y + b for a, y, b in zip(al, ys, be))

  x0 = jax.tree.map(lambda v: v[0], xs)
  al0, be0 = jax.eval_shape(step, x0)
  zeros = tuple(jnp.zeros(b.shape, b.dtype) for b in be0)
  ends, _ = lax.scan(lambda ys, xt: (run(ys, xt), None), zeros, xs)
  E = jnp.stack(ends, 0)
  P = factors if not isinstance(factors, (tuple, list)) else jnp.stack(
      [jnp.broadcast_to(f, e.shape) for f, e in zip(factors, ends)], 0)
  c = block_carries(P, E)
  cin = jnp.concatenate([jnp.zeros(c.shape[:-1] + (1,), c.dtype), c[..., :-1]], -1)

  def body(ys, xt):
    ys = run(ys, xt)
    return ys, emit(ys, xt)

  return lax.scan(body, tuple(cin[m] for m in range(len(ends))), xs)[1]


def linrec_arrays(a, b):
  """``y_i = a_i y_{i-1} + b_i`` on arrays already in the layout ``(B, ..., nb)``.

  One series per batch position (the factors and inputs given, e.g. the
  ``M`` terms stacked on a batch axis); returns ``y`` in the same layout.
  """
  return linrec(lambda t: ((t[0],), (t[1],)), lambda ys, t: ys[0], (a, b),
                (jnp.prod(a, axis=0),), recompute=False)
