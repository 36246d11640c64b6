"""Argument validation, written once for every public function.

Everything here runs at trace time (shapes, dtypes, static options, concrete
values) and costs nothing under ``jax.jit``.  Traced temperatures are checked by
a ``chex`` value assertion that only fires under ``chex.chexify``.
"""

from __future__ import annotations

import math
import operator
from typing import Any, Sequence

import chex
import jax
import jax.numpy as jnp
import numpy as np

ALGORITHMS = ("subsets", "deviation", "rank", "sorted", "remedian")
EXACT_ALGORITHMS = ("subsets", "deviation", "rank", "sorted")
METHODS = (
    "linear",
    "lower",
    "higher",
    "nearest",
    "midpoint",
    "inverted_cdf",
    "averaged_inverted_cdf",
)
#: The largest sample the exponential ``"subsets"`` algorithm accepts.
MAX_SUBSETS_SIZE = 20


def is_concrete(x: Any) -> bool:
  """True when ``x`` holds known values at trace time (not a tracer)."""
  if isinstance(x, jax.core.Tracer):
    return False
  try:
    np.asarray(x)
  except Exception:  # pylint: disable=broad-except
    return False
  return True


def check_array(a: Any, name: str) -> jax.Array:
  """Converts ``a`` to an inexact array as ``jnp.quantile`` does.

  Integers and booleans are promoted to the default float dtype; complex and
  non-numeric input raise ``TypeError``.
  """
  if isinstance(a, (str, bytes)) or a is None:
    raise TypeError(f"{name}: expected a numeric array, got {type(a).__name__}.")
  if not isinstance(a, (jax.Array, np.ndarray, np.generic, int, float, bool,
                        list, tuple)) and not hasattr(a, "__jax_array__"):
    raise TypeError(f"{name}: expected a numeric array, got {type(a).__name__}.")
  try:
    dtype = jnp.result_type(a) if not isinstance(a, (list, tuple)) else None
  except TypeError as e:
    raise TypeError(f"{name}: expected a numeric array ({e}).") from None
  if dtype is None:
    try:
      arr = np.asarray(a)
    except Exception as e:  # pylint: disable=broad-except
      raise TypeError(f"{name}: expected a numeric array ({e}).") from None
    dtype = arr.dtype
    if dtype.kind not in "biuf":
      raise TypeError(
          f"{name}: expected a real numeric array, got dtype {dtype}.")
    a = jnp.asarray(arr)
    dtype = a.dtype
  if jnp.issubdtype(dtype, jnp.complexfloating):
    raise TypeError(
        f"{name}: complex input is not supported (order statistics need a "
        "total order); pass the real part or the magnitude.")
  if not (jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)
          or jnp.issubdtype(dtype, jnp.bool_)):
    raise TypeError(f"{name}: expected a real numeric array, got dtype {dtype}.")
  a = jnp.asarray(a)
  if not jnp.issubdtype(a.dtype, jnp.inexact):
    a = a.astype(jnp.result_type(float))
  return a


def compute_dtype(dtype) -> jnp.dtype:
  """Internal precision: float16/bfloat16 are computed in float32."""
  dtype = jnp.dtype(dtype)
  if dtype.itemsize < 4:
    return jnp.dtype(jnp.float32)
  return dtype


def check_algorithm(algorithm: str, name: str, allowed: Sequence[str] = ALGORITHMS) -> str:
  if not isinstance(algorithm, str) or algorithm not in allowed:
    raise ValueError(
        f"{name}: unknown algorithm {algorithm!r}; valid algorithms are "
        + ", ".join(repr(a) for a in allowed) + ".")
  return algorithm


def check_method(method: str, name: str) -> str:
  if not isinstance(method, str) or method not in METHODS:
    raise ValueError(
        f"{name}: unknown method {method!r}; valid methods are "
        + ", ".join(repr(m) for m in METHODS) + ".")
  return method


def canonicalize_axes(axis, ndim: int) -> tuple[int, ...]:
  """Normalises ``axis`` (None, int or tuple) with ``jax.numpy``'s wording."""
  if axis is None:
    return tuple(range(ndim))
  if isinstance(axis, (tuple, list)):
    axes = tuple(axis)
  else:
    axes = (axis,)
  out = []
  for ax in axes:
    try:
      ax = operator.index(ax)
    except TypeError:
      raise TypeError(
          f"axis must be an int, a tuple of ints or None, got {ax!r}") from None
    if not -ndim <= ax < ndim:
      raise ValueError(
          f"axis {ax} is out of bounds for array of dimension {ndim}")
    out.append(ax % ndim)
  if len(set(out)) != len(out):
    raise ValueError("repeated axis")
  return tuple(out)


def check_nonempty(n: int, name: str, axis) -> None:
  if n == 0:
    raise ValueError(
        f"{name}: the reduced axis {axis!r} is empty; an order statistic of "
        "zero values is undefined.")


def check_q(q: Any, name: str, scale: float = 1.0) -> jax.Array:
  """Validates a quantile level (or percentile when ``scale`` is 100)."""
  if isinstance(q, (str, bytes)):
    raise TypeError(f"{name}: q must be a number or a 1-D array of numbers.")
  qa = jnp.asarray(q)
  if jnp.issubdtype(qa.dtype, jnp.complexfloating):
    raise TypeError(f"{name}: q must be real.")
  if qa.ndim > 1:
    raise ValueError(f"{name}: q must have rank <= 1, got shape {qa.shape}.")
  if is_concrete(q):
    qn = np.asarray(q, dtype=np.float64)
    if np.any(np.isnan(qn)) or np.any(qn < 0) or np.any(qn > scale):
      lo, hi = (0, 100) if scale == 100 else (0, 1)
      raise ValueError(
          f"{name}: q must lie in [{lo}, {hi}], got {np.asarray(q).tolist()}.")
  return qa


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


def check_subsets_size(n: int, name: str) -> None:
  if n > MAX_SUBSETS_SIZE:
    raise ValueError(
        f"{name}: algorithm='subsets' enumerates C(n, n/2) subsets and is limited "
        f"to n <= {MAX_SUBSETS_SIZE} values, got n={n} "
        f"(C(n, n/2) = {math.comb(n, n // 2)}); use algorithm='sorted' "
        "(O(n log n)), 'deviation' or 'rank' (exact limit) or 'remedian' (O(n)).")


def check_temperature(temperature: Any, name: str, dtype) -> tuple[jax.Array, str]:
  """Validates the temperature.

  Returns the temperature as an array of ``dtype`` and a mode: ``"zero"`` when
  it is concretely zero everywhere (the hard path), ``"mixed"`` when it is
  concrete with some zeros, ``"soft"`` otherwise (positive, or traced).

  A concrete negative, NaN or infinite temperature raises ``ValueError``.  A
  traced temperature cannot be inspected while tracing: it is guarded by a
  ``chex`` value assertion that raises under ``chex.chexify``, and the
  kernels floor it at a tiny positive number so they never divide by zero.
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
    if isinstance(temperature, jax.Array):
      arr = temperature.astype(dtype)
    else:
      arr = jnp.asarray(tf, dtype=dtype)
    return arr, mode
  temperature = jnp.asarray(temperature)
  if jnp.issubdtype(temperature.dtype, jnp.complexfloating):
    raise TypeError(f"{name}: temperature must be real.")
  if _chexify_active():
    assert_temperature_valid(
        temperature, exception_type=ValueError,
        custom_message=f"{name}: temperature must be finite and >= 0")
  return temperature.astype(dtype), "soft"


def _temperature_host_check(temperature) -> None:
  t = np.asarray(temperature, dtype=np.float64)
  if np.any(~np.isfinite(t)) or np.any(t < 0):
    raise AssertionError(f"temperature must be finite and >= 0, got {t.tolist()}")


def _temperature_jittable_check(temperature) -> jax.Array:
  pred = jnp.all(jnp.isfinite(temperature) & (temperature >= 0))
  checkify.check(pred, "temperature must be finite and >= 0")
  return pred


try:  # chex's own machinery, so the check behaves like any chex value assertion
  from chex._src import asserts_internal as _chex_internal
  from jax.experimental import checkify

  assert_temperature_valid = _chex_internal.chex_assertion(
      _temperature_host_check, _temperature_jittable_check,
      name="assert_temperature_valid")

  def _chexify_active() -> bool:
    return bool(_chex_internal.CHEXIFY_STORAGE.level)
except (ImportError, AttributeError):  # pragma: no cover - older/newer chex
  def assert_temperature_valid(*args, **kwargs):  # type: ignore
    del args, kwargs

  def _chexify_active() -> bool:
    return False
