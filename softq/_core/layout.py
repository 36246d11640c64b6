"""Axis handling, written once: move the reduced axes last, flatten, restore.

Every public reduction runs a 1-D kernel on rows of a ``(batch, n)`` matrix;
these helpers build that matrix from any ``axis`` (int, tuple or None) and put
the results back into ``jax.numpy``'s output shapes (``keepdims``, a leading
``q`` axis, or the input's own shape for weights).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from softq._core import validation


@dataclasses.dataclass(frozen=True)
class Layout:
  shape: tuple[int, ...]          # the input's shape
  axes: tuple[int, ...]           # reduced axes, sorted
  perm: tuple[int, ...]           # kept axes then reduced axes

  @property
  def kept_shape(self) -> tuple[int, ...]:
    return tuple(self.shape[i] for i in range(len(self.shape)) if i not in self.axes)

  @property
  def keepdims_shape(self) -> tuple[int, ...]:
    return tuple(1 if i in self.axes else d for i, d in enumerate(self.shape))

  @property
  def n(self) -> int:
    return math.prod(self.shape[i] for i in self.axes)

  @property
  def batch(self) -> int:
    return math.prod(self.kept_shape)

  def out_shape(self, keepdims: bool) -> tuple[int, ...]:
    return self.keepdims_shape if keepdims else self.kept_shape


def layout(shape, axis, name: str, allow_empty: bool = False) -> Layout:
  """The layout of a reduction of an array of ``shape`` over ``axis``."""
  shape = tuple(shape)
  axes = validation.canonicalize_axes(axis, len(shape), name)
  kept = tuple(i for i in range(len(shape)) if i not in axes)
  lay = Layout(shape, axes, kept + axes)
  if not allow_empty:
    validation.check_nonempty(lay.n, name, axis, shape)
  return lay


def to_rows(x: jax.Array, lay: Layout) -> jax.Array:
  """``(batch, n)`` view of ``x`` (shape ``lay.shape``)."""
  return jnp.transpose(x, lay.perm).reshape(lay.batch, lay.n)


def from_rows_reduced(out: jax.Array, lay: Layout, keepdims: bool) -> jax.Array:
  """``(*lead, batch)`` -> ``(*lead, *out_shape)``."""
  lead = out.shape[:-1]
  return out.reshape(lead + lay.out_shape(keepdims))


def from_rows_full(w: jax.Array, lay: Layout) -> jax.Array:
  """``(*lead, batch, n)`` -> ``(*lead, *shape)`` (weights over the input)."""
  lead = w.shape[:-2]
  moved = w.reshape(lead + tuple(lay.shape[i] for i in lay.perm))
  inv = [0] * len(lay.perm)
  for pos, ax in enumerate(lay.perm):
    inv[ax] = pos
  nl = len(lead)
  return jnp.transpose(moved, tuple(range(nl)) + tuple(nl + i for i in inv))


def per_row(value, lay: Layout, lead_shape: tuple[int, ...], name: str,
            what: str = "temperature"):
  """Broadcasts a per-output argument (e.g. the temperature) to rows.

  ``value`` must broadcast against the output, ``lead_shape + out_shape``
  (with or without ``keepdims``; for weights, against the input's shape with
  the reduced axes of size 1).  Returns a scalar (shared by every row, so the
  kernels share work), an array ``(batch,)`` (one value per row), or
  ``lead_shape + (batch,)`` when it also varies along the leading (``q``) axis.
  """
  value = jnp.asarray(value)
  if value.ndim == 0:
    return value
  if value.size == 1:
    return value.reshape(())
  candidates = [((), lay.keepdims_shape), ((), lay.kept_shape)]
  if lead_shape:
    candidates += [(lead_shape, lead_shape + lay.keepdims_shape),
                   (lead_shape, lead_shape + lay.kept_shape)]
  for lead, target in candidates:
    if value.ndim > len(target):
      continue
    try:
      shape = jnp.broadcast_shapes(value.shape, target)
    except ValueError:
      continue
    if shape != target:
      continue
    return jnp.broadcast_to(value, target).reshape(lead + (lay.batch,))
  raise ValueError(
      f"{name}: {what} of shape {value.shape} does not broadcast against the "
      f"output shape {lead_shape + lay.kept_shape} "
      f"(or {lead_shape + lay.keepdims_shape} with keepdims)")
