"""Argument validation, written once for every public function.

Everything here runs at trace time (shapes, dtypes, static options, concrete
values) and costs nothing under ``jax.jit``.  Every error names the public
function, the argument and what to pass instead (SPEC section 6).  A traced
temperature cannot be inspected while tracing: it is checked by a ``chex``
value assertion that fires under ``chex.chexify``.
"""

from __future__ import annotations

import math
import operator
from typing import Any, Sequence

import chex
import jax
import jax.numpy as jnp
import numpy as np

#: ``jnp.quantile``'s methods, plus NumPy's ``averaged_inverted_cdf``.
METHODS = ("linear", "lower", "higher", "nearest", "midpoint", "inverted_cdf",
           "averaged_inverted_cdf")
#: The methods ``jax.numpy`` itself implements (the hard path calls it).
JNP_METHODS = METHODS[:-1]


def is_concrete(x: Any) -> bool:
  """True when ``x`` holds known values at trace time (not a tracer)."""
  if isinstance(x, jax.core.Tracer):
    return False
  try:
    np.asarray(x)
  except Exception:  # pylint: disable=broad-except
    return False
  return True


def inexact_dtype(dtype) -> np.dtype:
  """The float dtype ``jnp.quantile`` computes an array of ``dtype`` in.

  Floats keep their dtype; booleans and integers of up to 32 bits become
  float32 and 64-bit integers float64 (float32 without x64), exactly as
  ``jax.numpy`` promotes them (``jnp.median(int32)`` is float32 under x64).
  """
  dtype = np.dtype(dtype)
  if jnp.issubdtype(dtype, jnp.inexact):
    return dtype
  wide = dtype.itemsize >= 8
  return jax.dtypes.canonicalize_dtype(np.float64 if wide else np.float32)


def check_array(a: Any, name: str, arg: str = "a") -> jax.Array:
  """Converts ``a`` to a real inexact array as ``jnp.quantile`` does.

  Complex and non-numeric input raise ``TypeError``.
  """
  bad = isinstance(a, (str, bytes)) or a is None
  if not bad and not isinstance(a, (jax.Array, np.ndarray, np.generic, int, float, bool,
                                    list, tuple)) and not hasattr(a, "__jax_array__"):
    bad = True
  if bad:
    raise TypeError(f"{name}: expected a numeric array for {arg}, got "
                    f"{type(a).__name__}; pass a jax or NumPy array of floats or ints.")
  try:
    arr = jnp.asarray(a)
  except (TypeError, ValueError) as e:
    raise TypeError(f"{name}: expected a numeric array for {arg} ({e}).") from None
  if jnp.issubdtype(arr.dtype, jnp.complexfloating):
    raise TypeError(
        f"{name}: complex input is not supported (order statistics need a total "
        "order); pass the real part or the magnitude.")
  if not (jnp.issubdtype(arr.dtype, jnp.number) or jnp.issubdtype(arr.dtype, jnp.bool_)):
    raise TypeError(f"{name}: expected a numeric array for {arg}, got dtype {arr.dtype}.")
  return arr.astype(inexact_dtype(arr.dtype))


def compute_dtype(dtype) -> np.dtype:
  """Internal precision: float16/bfloat16 are computed in float32."""
  dtype = np.dtype(dtype)
  return np.dtype(np.float32) if dtype.itemsize < 4 else dtype


def check_choice(value: Any, name: str, arg: str, valid: Sequence[str]) -> str:
  """``value`` must be one of ``valid`` (e.g. an algorithm or method name)."""
  if not isinstance(value, str) or value not in valid:
    plural = "algorithms" if arg == "algorithm" else f"{arg}s"
    raise ValueError(
        f"{name}: unknown {arg} {value!r}; valid {plural} are "
        + ", ".join(repr(v) for v in valid) + ".")
  return value


def canonicalize_axes(axis: Any, ndim: int, name: str) -> tuple[int, ...]:
  """Normalises ``axis`` (None, int or tuple of ints) to sorted non-negative ints."""
  if axis is None:
    return tuple(range(ndim))
  axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
  out = []
  for ax in axes:
    try:
      ax = operator.index(ax)
    except TypeError:
      raise TypeError(f"{name}: axis must be an int, a tuple of ints or None, got "
                      f"{axis!r}.") from None
    if not -ndim <= ax < ndim:
      hint = f"an axis in [{-ndim}, {ndim - 1}]" if ndim else "axis=None (a is 0-d)"
      raise ValueError(f"{name}: axis {ax} is out of bounds for an array of dimension "
                       f"{ndim}; pass {hint}, a tuple of them, or None (all axes).")
    out.append(ax % ndim)
  if len(set(out)) != len(out):
    raise ValueError(f"{name}: axis {axis!r} names an axis twice (repeated axis); "
                     "pass each axis once.")
  return tuple(sorted(out))


def check_nonempty(n: int, name: str, axis: Any, shape: tuple[int, ...]) -> None:
  if n == 0:
    where = ("a" if axis is None else f"axis {axis!r} of a") + f" (shape {shape})"
    raise ValueError(
        f"{name}: {where} is empty: an order statistic of zero values is undefined; "
        "pass a non-empty axis (or mask values with where= instead of removing them).")


def numeric_array(v: Any, name: str, arg: str, expected: str) -> jax.Array:
  """``jnp.asarray(v)``, or a TypeError naming ``name``, ``arg`` and what it ``expected``."""
  if isinstance(v, (str, bytes)) or v is None:
    raise TypeError(f"{name}: {arg} must be {expected}, got {v!r}.")
  try:
    return jnp.asarray(v)
  except (TypeError, ValueError) as e:
    raise TypeError(f"{name}: {arg} must be {expected} ({e}).") from None


def check_q(q: Any, name: str, percent: bool = False) -> jax.Array:
  """Validates a quantile level (a percentile when ``percent``): rank <= 1, in range."""
  qa = numeric_array(q, name, "q", "a number or a 1-D array of numbers")
  if jnp.issubdtype(qa.dtype, jnp.complexfloating):
    raise TypeError(f"{name}: q must be real.")
  if qa.ndim > 1:
    raise ValueError(f"{name}: q must have rank <= 1, got shape {qa.shape}; pass a scalar "
                     "or a 1-D array of levels.")
  if is_concrete(q):
    hi = 100 if percent else 1
    qn = np.asarray(q, dtype=np.float64)
    if np.any(np.isnan(qn)) or np.any(qn < 0) or np.any(qn > hi):
      raise ValueError(f"{name}: q must lie in [0, {hi}], got {np.asarray(q).tolist()}.")
  return qa


def check_out(out: Any, overwrite_input: Any, name: str) -> None:
  """``jnp.quantile``'s positional ``out`` and ``overwrite_input``, refused as jnp does."""
  if out is not None or overwrite_input:
    raise ValueError(f"{name}: softq, like jax.numpy, does not support "
                     "overwrite_input=True or out != None; use the return value.")


def check_where(where: Any, shape: tuple[int, ...], name: str) -> jax.Array | None:
  """A boolean mask broadcast to ``shape`` (None stays None)."""
  if where is None:
    return None
  w = jnp.asarray(where)
  if not jnp.issubdtype(w.dtype, jnp.bool_):
    w = w.astype(bool)
  try:
    return jnp.broadcast_to(w, shape)
  except ValueError:
    raise ValueError(f"{name}: where of shape {w.shape} does not broadcast to a's shape "
                     f"{shape}; pass a boolean mask broadcastable to {shape}.") from None


def check_weights(weights: Any, shape: tuple[int, ...], axes: tuple[int, ...], name: str,
                  dtype) -> jax.Array | None:
  """Non-negative weights broadcast to ``shape``, as ``jnp.quantile`` accepts them.

  ``weights`` may broadcast to ``a``'s shape, or have the reduced axes' shape
  (as in ``jnp.quantile``).  Concrete negative or NaN weights raise.
  """
  if weights is None:
    return None
  if isinstance(weights, (str, bytes)):
    raise TypeError(f"{name}: weights must be a real numeric array.")
  w = jnp.asarray(weights)
  if jnp.issubdtype(w.dtype, jnp.complexfloating):
    raise TypeError(f"{name}: weights must be real, got dtype {w.dtype}.")
  if is_concrete(weights):
    wn = np.asarray(weights, dtype=np.float64)
    if np.any(np.isnan(wn)) or np.any(wn < 0):
      raise ValueError(f"{name}: weights must be >= 0 (0 removes a value), got "
                       f"{'NaN' if np.any(np.isnan(wn)) else wn[wn < 0][0]}; pass "
                       "non-negative weights.")
  reduced = tuple(shape[ax] for ax in axes)
  if w.shape == reduced and w.shape != shape:
    full = tuple(d if i in axes else 1 for i, d in enumerate(shape))
    w = w.reshape(full)
  try:
    w = jnp.broadcast_to(w, shape)
  except ValueError:
    raise ValueError(
        f"{name}: weights of shape {w.shape} match neither a's shape {shape} nor the "
        f"reduced axes' shape {reduced}; pass weights broadcastable to {shape}.") from None
  return w.astype(dtype)


def check_block_size(block_size: Any, name: str) -> int:
  try:
    block_size = operator.index(block_size)
  except TypeError:
    raise TypeError(f"{name}: block_size must be an int, got {block_size!r}.") from None
  if block_size < 2:
    raise ValueError(
        f"{name}: block_size must be >= 2, got {block_size}; use block_size=3 "
        "for the classic remedian or the default for the best accuracy.")
  return block_size


def check_size_limit(n: int, limit: int | None, algorithm: str, name: str,
                     faster: str) -> None:
  if limit is not None and n > limit:
    raise ValueError(
        f"{name}: algorithm={algorithm!r} enumerates C(n, n/2) subsets and is limited "
        f"to n <= {limit} values, got n={n} (C(n, n/2) = {math.comb(n, n // 2)}); "
        f"use {faster}.")


TEMPERATURE_SCALES = ("std", "mad")


def check_temperature_scale(scale: Any, name: str) -> str | None:
  """None (the temperature is in data units) or one of :data:`TEMPERATURE_SCALES`."""
  if scale is None:
    return None
  return check_choice(scale, name, "temperature_scale", TEMPERATURE_SCALES)


def check_temperature(temperature: Any, name: str, dtype) -> tuple[jax.Array, str]:
  """Validates the temperature; returns it as a ``dtype`` array and a mode.

  The mode is ``"zero"`` when it is concretely zero everywhere (the hard
  path), ``"mixed"`` when it is concrete with some zeros, ``"soft"``
  otherwise (positive, or traced).  A concrete negative, NaN or infinite
  temperature raises ``ValueError``.  A traced one is guarded by a ``chex``
  value assertion that raises under ``chex.chexify``; the kernels floor it
  at a tiny positive number so they never divide by zero.
  """
  if isinstance(temperature, (str, bytes)) or temperature is None:
    raise TypeError(f"{name}: temperature must be a number or an array, got {temperature!r}.")
  if is_concrete(temperature):
    t = np.asarray(temperature)
    if t.dtype.kind == "c":
      raise TypeError(f"{name}: temperature must be real.")
    # bfloat16 (and other ml_dtypes floats) have NumPy kind "V".
    if t.dtype.kind not in "biuf" and not jnp.issubdtype(t.dtype, jnp.floating):
      raise TypeError(f"{name}: temperature must be numeric, got dtype {t.dtype}.")
    tf = t.astype(np.float64)
    if np.any(~np.isfinite(tf)) or np.any(tf < 0):
      raise ValueError(
          f"{name}: temperature must be finite and >= 0, got {t.tolist()}; "
          "use temperature=0 for the exact (hard) result.")
    mode = "zero" if np.all(tf == 0) else ("mixed" if np.any(tf == 0) else "soft")
    arr = (temperature.astype(dtype) if isinstance(temperature, jax.Array)
           else jnp.asarray(tf, dtype=dtype))
    return arr, mode
  temperature = jnp.asarray(temperature)
  if jnp.issubdtype(temperature.dtype, jnp.complexfloating):
    raise TypeError(f"{name}: temperature must be real.")
  _assert_traced_temperature(temperature, name)
  return temperature.astype(dtype), "soft"


def _assert_traced_temperature(temperature: jax.Array, name: str) -> None:
  """``temperature >= 0`` and finite, as a chex value assertion (under chexify).

  ``log(t + tiny)`` is finite exactly when ``t`` is finite and ``>= 0``.
  Outside ``chex.chexify`` chex refuses value assertions on tracers
  (``RuntimeError``): there the check is skipped, as documented.
  """
  t = temperature.astype(jnp.promote_types(temperature.dtype, jnp.float32))
  probe = jnp.log(t + jnp.finfo(t.dtype).tiny)
  try:
    chex.assert_tree_all_finite(
        probe, custom_message=f"{name}: temperature must be finite and >= 0",
        exception_type=ValueError)
  except RuntimeError as e:
    if "chexify" not in str(e):
      raise
