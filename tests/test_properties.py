"""Property-based tests (hypothesis) for the soft order statistics.

Profiles (tests/conftest.py): "ci" (default, 12 examples per test) and "long"
(``SOFTQ_HYPOTHESIS_PROFILE=long``, 500).  Shapes are drawn from a small set so
that compiled programs are reused across examples (values, temperatures and
axes vary freely); samples are drawn with many ties and constant samples.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import softq

EXACT = tuple(name for name, record in softq.REGISTRY.items() if record.hard_limit == "jnp")
ALL = EXACT + (("remedian",) if hasattr(softq, "remedian") else ())
SHAPES = ((1,), (4,), (5,), (2, 3))
METHODS = ("linear", "lower", "higher", "nearest", "midpoint", "inverted_cdf")


@st.composite
def samples(draw, dtypes=(np.float64, np.float32)):
  """(x, axis, dtype): values from a small pool (ties), sometimes constant."""
  shape = draw(st.sampled_from(SHAPES))
  dtype = draw(st.sampled_from(dtypes))
  size = int(np.prod(shape))
  kind = draw(st.sampled_from(["free", "ties", "constant"]))
  scale = draw(st.sampled_from([1.0, 1e-3, 1e3]))
  if kind == "constant":
    vals = [draw(st.floats(-10, 10, allow_nan=False, width=32))] * size
  elif kind == "ties":
    pool = draw(st.lists(st.integers(-3, 3), min_size=1, max_size=3))
    vals = draw(st.lists(st.sampled_from(pool), min_size=size, max_size=size))
  else:
    vals = draw(st.lists(st.floats(-10, 10, allow_nan=False, width=32),
                         min_size=size, max_size=size))
  x = (np.asarray(vals, np.float64) * scale).reshape(shape).astype(dtype)
  axis = draw(st.sampled_from([None, -1] + ([0, (0, 1)] if len(shape) == 2 else [])))
  return x, axis, dtype


temperatures = st.floats(-4, 2).map(lambda e: float(10.0 ** e))


def _atol(x, dtype, factor=64.0):
  spread = float(np.max(np.abs(x))) if x.size else 1.0
  return factor * float(np.finfo(dtype).eps) * max(spread, 1e-30) * max(x.size, 1)


def _lohi(x, axis):
  return np.min(x, axis=axis), np.max(x, axis=axis)


@given(samples(), temperatures, st.sampled_from(ALL), st.floats(0, 1))
def test_weights_convex_and_reproduce_value(data, t, algorithm, q):
  x, _, dtype = data
  tau = t * max(float(np.ptp(x)), 1e-3)
  w = np.asarray(softq.argquantile(x, q, axis=-1, temperature=tau, algorithm=algorithm),
                 np.float64)
  assert np.all(w >= 0)
  np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-5 if dtype == np.float32 else 1e-12)
  v = np.asarray(softq.quantile(x, q, axis=-1, temperature=tau, algorithm=algorithm),
                 np.float64)
  np.testing.assert_allclose(v, (w * x).sum(-1), atol=_atol(x, dtype))


@given(samples(dtypes=(np.float64, np.float32, jnp.bfloat16)), temperatures,
       st.sampled_from(ALL))
def test_median_between_min_and_max_and_finite(data, t, algorithm):
  x, axis, dtype = data
  xj = jnp.asarray(x, dtype)
  xf = np.asarray(xj, np.float64)
  tau = t * max(float(np.ptp(xf)), 1e-3)
  v = np.asarray(softq.median(xj, axis=axis, temperature=tau, algorithm=algorithm),
                 np.float64)
  assert np.all(np.isfinite(v))
  lo, hi = _lohi(xf, axis)
  atol = _atol(xf, np.float32 if dtype != np.float64 else np.float64) + (
      0.02 * np.abs(xf).max() if dtype == jnp.bfloat16 else 0.0)
  assert np.all(v >= lo - atol) and np.all(v <= hi + atol)


@given(samples(), temperatures, st.sampled_from(EXACT), st.randoms(use_true_random=False))
def test_permutation_invariance(data, t, algorithm, rnd):
  x, _, dtype = data
  flat = x.reshape(-1)
  perm = list(range(flat.size))
  rnd.shuffle(perm)
  tau = t * max(float(np.ptp(flat)), 1e-3)
  a = softq.median(flat, temperature=tau, algorithm=algorithm)
  b = softq.median(flat[perm], temperature=tau, algorithm=algorithm)
  np.testing.assert_allclose(a, b, rtol=0, atol=_atol(flat, dtype))


@given(samples(), temperatures, st.sampled_from(EXACT),
       st.floats(-100, 100, allow_nan=False))
def test_translation_equivariance(data, t, algorithm, shift):
  x, axis, dtype = data
  tau = t * max(float(np.ptp(x)), 1e-3)
  a = np.asarray(softq.median(x, axis, temperature=tau, algorithm=algorithm), np.float64)
  b = np.asarray(softq.median((x + dtype(shift)).astype(dtype), axis, temperature=tau,
                              algorithm=algorithm), np.float64)
  shifted = (x + dtype(shift)).astype(dtype)
  atol = _atol(np.concatenate([x.ravel(), shifted.ravel()]), dtype, factor=256.0)
  np.testing.assert_allclose(b, a + float(dtype(shift)), rtol=0, atol=atol)


@given(samples(), temperatures, st.sampled_from([1e-3, 0.5, 2.0, 1e3]))
def test_scale_equivariance_default_algorithm(data, t, scale):
  # Data and temperature scaled together (the temperature is in data units).
  x, axis, dtype = data
  tau = t * max(float(np.ptp(x)), 1e-3)
  a = np.asarray(softq.median(x, axis, temperature=tau), np.float64)
  b = np.asarray(softq.median((x * scale).astype(dtype), axis, temperature=tau * scale),
                 np.float64)
  np.testing.assert_allclose(b / scale, a, rtol=0, atol=_atol(x, dtype, factor=256.0))


@given(samples(), temperatures, st.sampled_from([a for a in EXACT if a != "subsets"]))
def test_median_is_odd(data, t, algorithm):
  # Exact for every soft algorithm whose construction is symmetric under
  # x -> -x.  "subsets" is a soft min of soft maxima, whose mirror image is a
  # soft max of soft minima: odd only in the hard limit (subsets of [0, 0, 1]
  # at temperature 1: 0.200 vs 0.379).
  x, axis, dtype = data
  tau = t * max(float(np.ptp(x)), 1e-3)
  a = softq.median(x, axis, temperature=tau, algorithm=algorithm)
  b = softq.median(-x, axis, temperature=tau, algorithm=algorithm)
  np.testing.assert_allclose(b, -a, rtol=0, atol=_atol(x, dtype))


@given(samples(), st.sampled_from(EXACT), st.sampled_from(METHODS),
       st.lists(st.floats(0, 1), min_size=2, max_size=4))
def test_quantile_monotone_in_q_at_small_temperature(data, algorithm, method, qs):
  # Exact for the hard operation; the soft quantile is within
  # O(n * exp(-gap / tau)) of it, so at tau = 1e-4 * spread (gaps here are at
  # least 1e-7 * spread or exactly 0) it is monotone to rounding.  At larger
  # temperatures the soft quantiles of nearby levels can cross slightly.
  x, _, dtype = data
  flat = x.reshape(-1)
  gaps = np.diff(np.unique(flat))
  spread = max(float(np.ptp(flat)), 1e-3)
  assume(gaps.size == 0 or gaps.min() > 1e-2 * spread)
  q = np.sort(np.asarray(qs))
  v = np.asarray(softq.quantile(flat, q, method=method, temperature=1e-4 * spread,
                                algorithm=algorithm), np.float64)
  assert np.all(np.diff(v) >= -_atol(flat, dtype)), (q, v)


@given(samples(), st.sampled_from(EXACT), st.sampled_from(METHODS), st.floats(0, 1))
def test_temperature_zero_equals_jnp(data, algorithm, method, q):
  x, axis, dtype = data
  # q in x's dtype: jnp.quantile(float32, float64 q, method="inverted_cdf")
  # itself raises a lax.mul dtype error under x64.
  q = np.asarray(q, dtype)
  np.testing.assert_array_equal(
      softq.quantile(x, q, axis, method=method, temperature=0, algorithm=algorithm),
      jnp.quantile(jnp.asarray(x), q, axis, method=method))
  np.testing.assert_array_equal(softq.median(x, axis, temperature=0, algorithm=algorithm),
                                jnp.median(jnp.asarray(x), axis))


@given(samples(dtypes=(np.float64,)), temperatures, st.sampled_from(ALL), st.floats(0, 1))
def test_no_nan_or_inf_for_finite_inputs(data, t, algorithm, q):
  x, axis, dtype = data
  tau = t * max(float(np.ptp(x)), 1e-3)
  def f(x, tau):
    return (jnp.sum(softq.quantile(x, q, axis, temperature=tau, algorithm=algorithm))
            + jnp.sum(softq.nanmedian(x, axis, temperature=tau, algorithm=algorithm)))
  v, (gx, gt) = jax.value_and_grad(f, argnums=(0, 1))(jnp.asarray(x), jnp.asarray(tau, dtype))
  assert np.isfinite(v) and np.all(np.isfinite(gx)) and np.isfinite(gt)


@given(samples(), temperatures)
def test_soft_family_finite_and_bounded(data, t):
  x, _, dtype = data
  tau = t * max(float(np.ptp(x)), 1e-3)
  r = np.asarray(softq.rank(x, temperature=tau))
  n = x.shape[-1]
  assert np.all(r >= 1 - 1e-3) and np.all(r <= n + 1e-3)
  np.testing.assert_allclose(r.sum(-1), n * (n + 1) / 2, rtol=1e-4)
  s = np.asarray(softq.sort(x, temperature=tau), np.float64)
  assert np.all(np.isfinite(s))
  lo, hi = x.min(-1, keepdims=True), x.max(-1, keepdims=True)
  atol = _atol(x, dtype)
  assert np.all(s >= lo - atol) and np.all(s <= hi + atol)
  w = np.asarray(softq.argmax(x, temperature=tau), np.float64)
  assert np.all(w >= 0)
  np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-5)
  m = np.asarray(softq.max(x, -1, temperature=tau), np.float64)
  bound = x.max(-1) + tau * np.log(n) * (1 + 1e-5)  # attained by constant samples
  assert np.all(m >= x.max(-1) - atol) and np.all(m <= bound + atol)


def test_hypothesis_profiles_registered():
  from hypothesis import settings
  ci, long = settings.get_profile("ci"), settings.get_profile("long")
  assert 10 <= ci.max_examples < long.max_examples
  assert ci.deadline is None and long.deadline is None
