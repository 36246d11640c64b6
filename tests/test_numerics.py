"""Numerical robustness: extreme temperatures and magnitudes, inf/NaN, dtypes, guards.

The policies pinned down here are written up in docs/numerics.md.  The grid is
built around one small sample (n = 5) so that every public function is jitted
once per (function, algorithm, dtype) -- the temperature and the data are
traced arguments -- and the same compiled function serves the temperature
grid, the magnitude grid, the infinity and NaN cases and the traced-negative
temperature case.
"""

import dataclasses
import functools
from typing import Callable

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

import softq

N = 5
X = np.array([0.3, -1.2, 2.5, 0.7, 4.0])
X_INF = np.array([-np.inf, 0.3, 4.0, np.inf, 1.5])
X_NAN = np.array([0.3, np.nan, 4.0, -1.0, 1.5])
Q = np.array([0.3, 0.6])   # both levels have finite hard values on X_INF
TEMPERATURES = (1e-30, 1e-12, 1e-3, 1.0, 1e6, 1e30)
SMALL = 1e-3               # at or below: the hard result (sample gaps >= 0.4)
LARGE = 1e6                # at or above: the large-temperature limit
HAS_REMEDIAN = hasattr(softq, "remedian")
ALGORITHMS = tuple(a for a in softq.ALGORITHMS if a != "remedian" or HAS_REMEDIAN)
DEFAULT = softq.DEFAULT_ALGORITHM


@dataclasses.dataclass(frozen=True)
class Case:
  """One public function on one 1-D sample ``x`` with temperature ``t``.

  kind: "stat" (order statistic: in [min, max], hard limit, mean at large
  temperature), "weights" (arg-weights over the last axis: convex, their
  weighted sum is a "stat"), or the soft-max family's own kinds.
  """
  fn: Callable
  kind: str
  mean_limit: bool = True      # the large-temperature limit is the mean
  nan_ignore: bool = False


def _grid():
  """Every public function; every algorithm through ``median`` and ``quantile``.

  The other order-statistic functions (nan*, arg*, sort, percentile, pools)
  differ from ``median``/``quantile`` only in the engine code around the
  kernel (plans, masks, weights out), which does not depend on the algorithm:
  they run with their default algorithm, which keeps the file's compile time
  small.  Masks with every algorithm: ``test_where_mask_*``.
  """
  g = {}
  for alg in ALGORITHMS:
    kw = dict(algorithm=alg)
    mean = alg != "remedian"   # the remedian tends to a mean of block means
    g[f"median/{alg}"] = Case(lambda x, t, kw=kw: softq.median(x, temperature=t, **kw),
                              "stat", mean)
    if alg == "remedian":
      continue  # its quantiles: argremedian below and tests/test_remedian.py
    g[f"quantile/{alg}"] = Case(
        lambda x, t, kw=kw: softq.quantile(x, Q, temperature=t, **kw), "stat", mean)
  g["nanquantile"] = Case(lambda x, t: softq.nanquantile(x, Q, temperature=t), "stat",
                          nan_ignore=True)
  g["argquantile"] = Case(lambda x, t: softq.argquantile(x, Q, temperature=t), "weights")
  g["sort"] = Case(lambda x, t: softq.sort(x, temperature=t), "stat")
  g["percentile"] = Case(lambda x, t: softq.percentile(x, 100 * Q, temperature=t), "stat")
  g["nanpercentile"] = Case(lambda x, t: softq.nanpercentile(x, 100 * Q, temperature=t),
                            "stat", nan_ignore=True)
  g["nanmedian"] = Case(lambda x, t: softq.nanmedian(x, temperature=t), "stat",
                        nan_ignore=True)
  g["argmedian"] = Case(lambda x, t: softq.argmedian(x, temperature=t), "weights")
  g["median_pool"] = Case(
      lambda x, t: softq.median_pool(x[:, None], (N,), temperature=t)[0], "stat")
  g["quantile_pool"] = Case(
      lambda x, t: softq.quantile_pool(x[:, None], Q, (N,), temperature=t)[:, 0], "stat")
  if HAS_REMEDIAN:  # block_size=3: two levels on n = 5
    g["argremedian/b3"] = Case(
        lambda x, t: softq.argremedian(x, block_size=3, temperature=t), "weights",
        mean_limit=False)
  g["max"] = Case(lambda x, t: softq.max(x, temperature=t), "max")
  g["min"] = Case(lambda x, t: softq.min(x, temperature=t), "min")
  g["argmax"] = Case(lambda x, t: softq.argmax(x, temperature=t), "weights")
  g["argmin"] = Case(lambda x, t: softq.argmin(x, temperature=t), "weights")
  g["abs"] = Case(lambda x, t: softq.abs(x, temperature=t), "abs")
  g["sign"] = Case(lambda x, t: softq.sign(x, temperature=t), "sign")
  g["rank"] = Case(lambda x, t: softq.rank(x, temperature=t), "rank")
  return g


GRID = _grid()
NAMES = tuple(GRID)


@functools.lru_cache(maxsize=None)
def _compiled(name):
  """``(out, d loss/dx, d loss/dt)``, jitted once (traced ``x`` and ``t``)."""
  fn = GRID[name].fn

  def loss(x, t):
    out = fn(x, t)
    c = jnp.linspace(1.0, 2.0, out.size).reshape(out.shape).astype(out.dtype)
    return jnp.sum(c * out).astype(jnp.float32), out

  vg = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)
  return jax.jit(lambda x, t: (lambda r: (r[0][1], r[1][0], r[1][1]))(vg(x, t)))


def over_grid(test):
  """Runs ``test(name, dtype, temperature)`` over every function, float32/64 and temperature."""
  for mark in (pytest.mark.parametrize("name", NAMES),
               pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64], ids=["f32", "f64"]),
               pytest.mark.parametrize("temperature", TEMPERATURES)):
    test = mark(test)
  return test


def run(name, x, t, dtype):
  out, gx, gt = _compiled(name)(jnp.asarray(x, dtype), jnp.asarray(t, dtype))
  assert out.dtype == dtype and gx.dtype == dtype, (out.dtype, gx.dtype)
  return tuple(np.asarray(v, np.float64) for v in (out, gx, gt))


def hard(name, x):
  """The exact result: the public function at a concrete ``temperature=0``."""
  return np.asarray(GRID[name].fn(jnp.asarray(x), 0), np.float64)


def statistic(case, out, x):
  """The order-statistic values: weights are turned into ``sum(w * x)``."""
  if case.kind != "weights":
    return out
  w = np.where(out == 0, 0.0, out)
  return np.sum(w * np.where(out == 0, 0.0, x), axis=-1)


def tol(dtype, scale=1.0):
  return (2e-5 if dtype == jnp.float32 else 1e-11) * scale


def assert_finite(*arrays):
  for a in arrays:
    assert np.all(np.isfinite(a)), a


# --------------------------------------------------------------------------
# 1. extreme temperatures, float32 and float64
# --------------------------------------------------------------------------

@over_grid
def test_extreme_temperatures(name, dtype, temperature):
  case = GRID[name]
  out, gx, gt = run(name, X, temperature, dtype)
  assert_finite(out, gx, gt)
  x = np.asarray(jnp.asarray(X, dtype), np.float64)
  eps = tol(dtype, scale=np.max(np.abs(x)))
  value = statistic(case, out, x)
  if case.kind in ("stat", "weights"):
    assert np.all(value >= x.min() - eps) and np.all(value <= x.max() + eps), value
  if case.kind == "weights":
    assert np.all(out >= 0)
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=tol(dtype, 10))
  if case.kind == "sign":
    assert np.all(np.abs(out) <= 1)
  if case.kind == "rank":
    assert np.all(out >= 1 - eps) and np.all(out <= N + eps)
  if case.kind == "abs":
    assert np.all(out >= np.abs(x) - eps)
  if case.kind == "max":
    assert np.all(out >= x.max() - eps)
  if case.kind == "min":
    assert np.all(out <= x.min() + eps)

  if temperature <= SMALL:  # the hard limit, no overflow on the way
    expected = statistic(case, hard(name, x), x)
    np.testing.assert_allclose(value, expected, rtol=0, atol=eps)
  if temperature >= LARGE:  # the documented large-temperature limits
    slack = eps + (np.ptp(x) ** 2 / temperature) * N
    if case.kind in ("stat", "weights") and case.mean_limit:
      np.testing.assert_allclose(value, np.full_like(value, x.mean()), atol=slack)
    elif case.kind == "rank":
      np.testing.assert_allclose(out, (N + 1) / 2, atol=slack)
    elif case.kind == "sign":
      np.testing.assert_allclose(out, 0.0, atol=slack)


@pytest.mark.parametrize("temperature", [-1.0, 0.0])
@pytest.mark.parametrize("name", NAMES)
def test_traced_zero_or_negative_temperature_never_divides_by_zero(name, temperature):
  # Under plain jit a traced temperature cannot be checked (see the chexify
  # test); it is floored at a tiny positive number: the hard result, finite.
  out, gx, gt = run(name, X, temperature, jnp.float64)
  assert_finite(out, gx, gt)
  case = GRID[name]
  np.testing.assert_allclose(statistic(case, out, X), statistic(case, hard(name, X), X),
                             atol=1e-12)


# --------------------------------------------------------------------------
# 2. extreme magnitudes (float32, temperature scaled with the data)
# --------------------------------------------------------------------------

@pytest.mark.parametrize("scale", [1e-30, 1e30])
@pytest.mark.parametrize("name", NAMES)
def test_extreme_magnitudes_float32(name, scale):
  case = GRID[name]
  x = np.asarray(jnp.asarray(X * scale, jnp.float32), np.float64)
  eps = tol(jnp.float32, scale=np.max(np.abs(x)))
  # Small temperature: the hard result.
  out, gx, gt = run(name, x, SMALL * scale, jnp.float32)
  assert_finite(out, gx, gt)
  np.testing.assert_allclose(statistic(case, out, x),
                             statistic(case, hard(name, x), x), rtol=0, atol=eps)
  # Temperature = data scale: finite, and scale-equivariant (invariant for
  # weights, ranks and signs) against the unscaled float64 result.
  out, gx, gt = run(name, x, scale, jnp.float32)
  assert_finite(out, gx, gt)
  ref, _, _ = run(name, X, 1.0, jnp.float64)
  unit = scale if case.kind in ("stat", "max", "min", "abs") else 1.0
  np.testing.assert_allclose(out / unit, ref, rtol=1e-3, atol=1e-4)


# --------------------------------------------------------------------------
# 3. infinities
# --------------------------------------------------------------------------

@over_grid
def test_infinite_entries(name, dtype, temperature):
  case = GRID[name]
  out, gx, gt = run(name, X_INF, temperature, dtype)
  assert_finite(gx, gt)  # always, also where the value itself is +-inf
  expected = statistic(case, hard(name, X_INF), X_INF)
  value = statistic(case, out, X_INF)
  finite = np.isfinite(expected)
  # The same finite value as the hard operation wherever that is finite.
  assert np.all(np.isfinite(value[finite])), value
  if temperature <= SMALL:
    np.testing.assert_allclose(value[finite], expected[finite], rtol=0, atol=tol(dtype, 4))
    np.testing.assert_array_equal(value[~finite], expected[~finite])
  if case.kind in ("stat", "weights") and np.all(finite):
    lo, hi = np.min(X_INF[1:3]), 4.0
    assert np.all(value >= min(lo, 0.3) - 1e-5) and np.all(value <= hi + 1e-5)
    # No gradient reaches an infinite entry of a finite order statistic.
    np.testing.assert_array_equal(gx[~np.isfinite(X_INF)], 0.0)


@pytest.mark.parametrize("algorithm", [a for a in ALGORITHMS if a != "remedian"])
def test_soft_median_of_the_issue_example(algorithm):
  out, gx, _ = run(f"median/{algorithm}", X_INF, 1e-2, jnp.float64)
  np.testing.assert_allclose(out, 1.5, atol=1e-6)   # x_INF = [-inf, .3, 4, inf, 1.5]
  np.testing.assert_allclose(gx, [0, 0, 0, 0, 1], atol=1e-6)


# --------------------------------------------------------------------------
# 4. NaN and where= masks
# --------------------------------------------------------------------------

ORDER_NAMES = tuple(n for n in NAMES if GRID[n].kind in ("stat", "weights")
                    and not n.startswith(("argmax", "argmin")))


@pytest.mark.parametrize("temperature", [1e-3, 1.0])
@pytest.mark.parametrize("name", ORDER_NAMES)
def test_nan_entries(name, temperature):
  case = GRID[name]
  out, gx, gt = run(name, X_NAN, temperature, jnp.float64)
  assert_finite(gx, gt)
  assert gx[1] == 0.0  # the NaN entry
  if case.nan_ignore:
    assert_finite(out)
    kept = X_NAN[~np.isnan(X_NAN)]
    assert np.all(out >= kept.min()) and np.all(out <= kept.max())
    if temperature <= SMALL:
      np.testing.assert_allclose(out, hard(name, X_NAN), atol=1e-9)
    # Where the NaN sits does not matter (it takes no part).
    moved, _, _ = run(name, np.roll(X_NAN, 2), temperature, jnp.float64)
    np.testing.assert_allclose(out, moved, rtol=1e-12, atol=1e-12)
  else:
    assert np.all(np.isnan(out)), out  # as jnp.median / jnp.quantile


MASK = np.array([True, False, True, True, False])


@pytest.mark.parametrize("hidden", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("algorithm", [a for a in ALGORITHMS])
def test_where_mask_never_leaks_nan_into_gradients(algorithm, hidden):
  x = X.copy()
  x[~MASK] = hidden
  g = _compiled_where(algorithm)
  clean = None
  for t in TEMPERATURES:
    (_, (q, w)), (gx, gt) = g(jnp.asarray(x), t)
    assert_finite(q, w, gx, gt)
    np.testing.assert_array_equal(np.asarray(gx)[~MASK], 0.0)
    np.testing.assert_array_equal(np.asarray(w)[~MASK], 0.0)
    # Masked entries take no part: the same numbers as with finite ones there.
    clean = g(jnp.asarray(X), t)[0][1][0]
    np.testing.assert_allclose(q, clean, rtol=1e-12, atol=1e-12)
    if t <= SMALL and algorithm != "remedian":  # its limit: the hard remedian
      np.testing.assert_allclose(q, np.quantile(X[MASK], 0.3), atol=1e-9)


@functools.lru_cache(maxsize=None)
def _compiled_where(algorithm):
  def f(x, t):
    q = softq.quantile(x, 0.3, temperature=t, algorithm=algorithm, where=MASK)
    w = softq.argmedian(x, temperature=t, where=MASK)  # default algorithm
    return q + jnp.sum(w * jnp.arange(N)), (q, w)
  return jax.jit(jax.value_and_grad(f, argnums=(0, 1), has_aux=True))


@pytest.mark.parametrize("hidden", [np.nan, np.inf], ids=["nan", "inf"])
def test_where_mask_soft_max_family(hidden):
  x = jnp.asarray(np.where(MASK, X, hidden))
  for fn in (softq.max, softq.min, softq.argmax, softq.argmin):
    f = lambda x, t, fn=fn: jnp.sum(fn(x, temperature=t, where=MASK) * jnp.arange(1.0, N + 1))
    val, (gx, gt) = jax.value_and_grad(f, argnums=(0, 1))(x, 1.0)
    assert_finite(val, gx, gt)
    np.testing.assert_array_equal(np.asarray(gx)[~MASK], 0.0)


# --------------------------------------------------------------------------
# 5. dtypes
# --------------------------------------------------------------------------

DTYPE_NAMES = (f"median/{DEFAULT}", "median/rank", f"quantile/{DEFAULT}", "argmedian", "max", "argmax", "abs", "sign", "rank")


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16, jnp.float32, jnp.float64],
                         ids=["bf16", "f16", "f32", "f64"])
@pytest.mark.parametrize("name", DTYPE_NAMES)
def test_dtype_in_dtype_out_gradients_finite(name, dtype):
  case = GRID[name]
  x = np.asarray(jnp.asarray(X, dtype), np.float64)
  for t in (1e-3, 1.0, 1e3):  # 1e3: float16 holds soft abs/max values (< 65504)
    out, gx, gt = run(name, x, t, dtype)  # run() asserts the dtypes
    assert_finite(out, gx, gt)
    if t == 1e-3 and case.kind != "max":
      # Computed in float32 internally: the hard result, to the output's rounding.
      expected = statistic(case, hard(name, x), x)
      atol = 4 * float(jnp.finfo(dtype).eps) * np.max(np.abs(x))
      np.testing.assert_allclose(statistic(case, out, x), expected, rtol=0, atol=atol)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_low_precision_computed_in_float32(dtype):
  # Internally float32: a spread far below the input's eps around a large
  # offset is still resolved before the final cast.
  x = jnp.asarray([1.0, 2.0, 3.0, 4.0, 1000.0], dtype)
  out = softq.median(x, temperature=1e-3)
  assert out.dtype == dtype and float(out) == 3.0
  jaxpr = str(jax.make_jaxpr(lambda x: softq.median(x, temperature=1.0))(x))
  assert "f32[" in jaxpr


# --------------------------------------------------------------------------
# 6. guards
# --------------------------------------------------------------------------

CALLS = {
    "median": lambda **k: softq.median(X, **k),
    "quantile": lambda **k: softq.quantile(X, 0.5, **k),
    "percentile": lambda **k: softq.percentile(X, 50, **k),
    "nanmedian": lambda **k: softq.nanmedian(X, **k),
    "nanquantile": lambda **k: softq.nanquantile(X, 0.5, **k),
    "nanpercentile": lambda **k: softq.nanpercentile(X, 50, **k),
    "argmedian": lambda **k: softq.argmedian(X, **k),
    "argquantile": lambda **k: softq.argquantile(X, 0.5, **k),
    "rank": lambda **k: softq.rank(X, **k),
    "sort": lambda **k: softq.sort(X, **k),
    "max": lambda **k: softq.max(X, **k),
    "min": lambda **k: softq.min(X, **k),
    "argmax": lambda **k: softq.argmax(X, **k),
    "argmin": lambda **k: softq.argmin(X, **k),
    "abs": lambda **k: softq.abs(X, **k),
    "sign": lambda **k: softq.sign(X, **k),
    "median_pool": lambda **k: softq.median_pool(X[:, None], (2,), **k),
    "quantile_pool": lambda **k: softq.quantile_pool(X[:, None], 0.5, (2,), **k),
}
if HAS_REMEDIAN:
  CALLS["remedian"] = lambda **k: softq.remedian(X, **k)
  CALLS["argremedian"] = lambda **k: softq.argremedian(X, **k)


@pytest.mark.parametrize("bad", [-1.0, np.nan, np.inf, np.array([-0.1])],
                         ids=["negative", "nan", "inf", "array"])
@pytest.mark.parametrize("name", list(CALLS))
def test_concrete_bad_temperature_raises_at_call_time(name, bad):
  with pytest.raises(ValueError, match=r"temperature must be finite and >= 0.*temperature=0"):
    CALLS[name](temperature=bad)


@pytest.mark.parametrize("name", list(CALLS))
def test_temperature_type_errors(name):
  with pytest.raises(TypeError, match="temperature"):
    CALLS[name](temperature="hot")
  with pytest.raises(TypeError, match="temperature must be real"):
    CALLS[name](temperature=1j)


@functools.lru_cache(maxsize=None)
def _chexified_median():
  return chex.chexify(jax.jit(lambda t: softq.median(X, temperature=t)), async_check=False)


@pytest.mark.parametrize("bad", [-1.0, np.nan, np.inf], ids=["negative", "nan", "inf"])
def test_traced_bad_temperature_raises_under_chexify(bad):
  # The check lives in _checks (algorithm-independent): one compiled function.
  f = _chexified_median()
  with pytest.raises(AssertionError, match="median: temperature must be finite and >= 0"):
    f(bad)
  np.testing.assert_allclose(f(1e-3), np.median(X))  # a good one passes


def test_traced_bad_temperature_under_async_chexify_raises_when_checked():
  f = chex.chexify(jax.jit(lambda t: softq.quantile(X, 0.3, temperature=t)))
  f(-1.0).block_until_ready()
  with pytest.raises(AssertionError, match="quantile: temperature must be finite"):
    chex.block_until_chexify_assertions_complete()


def test_chexify_inactive_under_plain_jit():
  # Without chexify the check costs nothing and raises nothing (floored, finite).
  out = jax.jit(lambda t: softq.median(X, temperature=t))(-5.0)
  np.testing.assert_allclose(out, np.median(X))


GUARDS = [
    (lambda: softq.median(jnp.zeros((3, 0)), axis=1), ValueError, r"median: .*axis 1.* empty"),
    (lambda: softq.quantile(X, 1.5), ValueError, r"quantile: q must lie in \[0, 1\]"),
    (lambda: softq.quantile(X, -0.1), ValueError, r"q must lie in \[0, 1\]"),
    (lambda: softq.percentile(X, 101), ValueError, r"percentile: q must lie in \[0, 100\]"),
    (lambda: softq.quantile(X, np.nan), ValueError, r"q must lie in"),
    (lambda: softq.quantile(X, np.ones((2, 2)) / 2), ValueError, r"rank <= 1"),
    (lambda: softq.median(X, axis=1), ValueError, r"axis 1 is out of bounds"),
    (lambda: softq.median(np.ones((2, 3)), axis=(1, -1)), ValueError, r"repeated axis"),
    (lambda: softq.median(X, algorithm="fast"), ValueError,
     r"unknown algorithm 'fast'; valid algorithms are 'subsets', 'deviation'"),
    (lambda: softq.quantile(X, 0.5, method="cubic"), ValueError,
     r"unknown method 'cubic'; valid methods are 'linear'"),
    (lambda: softq.median(X + 1j), TypeError, r"complex input is not supported"),
    (lambda: softq.median("abc"), TypeError, r"expected a numeric array"),
    (lambda: softq.median(np.array(["a", "b"])), TypeError, r"numeric"),
    (lambda: softq.median(np.ones(21), algorithm="subsets"), ValueError,
     r"n <= 20.*use algorithm="),
    (lambda: softq.sort(X, algorithm="remedian"), ValueError, r"valid algorithms are"),
    (lambda: softq.median(X, temperature=np.ones(3)), ValueError, r"does not broadcast"),
]
if HAS_REMEDIAN:
  GUARDS += [(lambda: softq.remedian(X, block_size=1), ValueError,
              r"block_size must be >= 2.*use block_size=")]


@pytest.mark.parametrize("call,exc,match", GUARDS, ids=[g[2][:30] for g in GUARDS])
def test_guards_raise_actionable_errors(call, exc, match):
  with pytest.raises(exc, match=match):
    call()


# --------------------------------------------------------------------------
# regression tests (each named after what broke)
# --------------------------------------------------------------------------

@pytest.mark.parametrize("algorithm", ["deviation", "rank", "subsets"])
def test_regression_grad_nan_at_tiny_temperature_float32(algorithm):
  # lax.div's derivative forms tau**-2, which overflows to inf in float32 for
  # tau < ~1e-19; 0 * inf then gave NaN gradients (w.r.t. the temperature for
  # every algorithm, and w.r.t. the input for "rank") at temperature=1e-30.
  x = jnp.array([0.3, -1.2, 2.5, 0.7, 4.0], jnp.float32)
  _, gx, gt = run(f"median/{algorithm}", x, 1e-30, jnp.float32)
  assert np.all(np.isfinite(gx)) and np.isfinite(gt)
  np.testing.assert_allclose(gx, [0, 0, 0, 1, 0], atol=1e-6)  # median is x[3]


@pytest.mark.parametrize("algorithm", ["deviation", "rank", "subsets"])
def test_regression_mixed_second_derivative_nan_at_tiny_temperature(algorithm):
  # The transpose of lax.div is a division again, so a gradient of a gradient
  # (d/dtau of d median/dx) differentiated through tau**-2: NaN at 1e-30 in
  # float32 (0 * inf), for every algorithm.
  x = jnp.array([0.3, -1.2, 2.5, 0.7, 4.0], jnp.float32)
  c = jnp.linspace(1.0, 2.0, 5, dtype=jnp.float32)
  def dmedian_dx(t):
    g = jax.grad(lambda x: softq.median(x, temperature=t, algorithm=algorithm))(x)
    return jnp.sum(c * g)
  assert np.isfinite(jax.grad(dmedian_dx)(jnp.float32(1e-30)))
  assert np.isfinite(jax.jacfwd(dmedian_dx)(jnp.float32(1e-30)))


def test_regression_rank_grad_nan_at_tiny_data_scale_float32():
  # The rank kernel's tau / gap differentiated through gap**-2, which
  # overflows for data spread ~1e-30 in float32: NaN/inf gradients.
  x = jnp.array([0.3, -1.2, 2.5, 0.7, 4.0], jnp.float32) * 1e-30
  _, gx, gt = run("median/rank", x, 1e-30, jnp.float32)
  assert np.all(np.isfinite(gx)) and np.isfinite(gt)


def test_regression_rank_weight_on_infinite_entries_gave_nan():
  # The rank kernel gave +-inf entries a tiny non-zero weight at moderate
  # temperatures: inf - inf = NaN in the value.
  x = jnp.array([-np.inf, 0.3, 4.0, np.inf, 1.5])
  out, g, _ = run("median/rank", x, 1.0, jnp.float64)
  assert np.isfinite(out)
  assert np.all(np.isfinite(g)) and g[0] == 0 and g[3] == 0


@pytest.mark.parametrize("fn", ["max", "median_subsets"])
def test_regression_logsumexp_temperature_grad_nan_with_posinf(fn):
  # soft_logsumexp of a slice holding +inf computed exp(limit) = inf in the
  # discarded branch; 0 * inf gave a NaN temperature gradient (soft max, and
  # every soft median of the "subsets" algorithm with an infinite entry).
  x = jnp.array([-np.inf, 0.3, 4.0, np.inf, 1.5])
  _, gx, gt = run("max" if fn == "max" else "median/subsets", x, 1.0, jnp.float64)
  assert np.all(np.isfinite(gx)) and np.isfinite(gt)


def test_regression_infinite_order_statistic_poisoned_other_gradients():
  # d(w . x)/dw = x = -inf times a zero cotangent is NaN, and the engine mixes
  # the weight rows of all order statistics: the finite soft median next to
  # an infinite minimum (q = [0, 0.5]), and the finite middle of a soft sort
  # of a sample holding +-inf, got NaN gradients.
  x = jnp.array([-np.inf, 0.3, 4.0, np.inf, 1.5])
  f = lambda x, t: softq.quantile(x, jnp.array([0.0, 0.5]), temperature=t)[1]
  gx, gt = jax.grad(f, argnums=(0, 1))(x, 1.0)
  assert np.all(np.isfinite(gx)) and np.isfinite(gt)
  assert gx[0] == 0 and gx[3] == 0
  _, gx, gt = run("sort", x, 1.0, jnp.float64)   # d(c . sort(x))/dx
  assert np.all(np.isfinite(gx)) and np.isfinite(gt)


def test_regression_bfloat16_temperature_rejected_as_non_numeric():
  # NumPy reports bfloat16's kind as "V": a bfloat16 temperature (natural
  # with bfloat16 data) raised "temperature must be numeric".
  x = jnp.array([0.3, -1.2, 2.5], jnp.bfloat16)
  t = jnp.asarray(0.1, jnp.bfloat16)
  out = softq.median(x, temperature=t)
  assert out.dtype == jnp.bfloat16
  np.testing.assert_allclose(float(out), 0.3, atol=1e-2)
  with pytest.raises(TypeError, match="temperature must be numeric"):
    softq.median(x, temperature=np.array(["a"]))
