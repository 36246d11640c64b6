"""``"sorted"``: the ``"deviation"`` function in O(n log n), at every temperature.

The dense ``"deviation"`` kernel is the reference (itself checked against
``jnp`` and the math in tests/test_core.py): values, weights and gradients on
a grid of temperatures from 1e-4 to 1e4 times the spread, float32 and
float64, every method, weights, ties, infinities and tiny samples.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import softq
from softq._algorithms.deviation import sorted as sorted_deviation

METHODS = ("linear", "lower", "higher", "nearest", "midpoint", "inverted_cdf",
           "averaged_inverted_cdf")
TAUS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 1e2, 1e3, 1e4)   # times the sample's std


@pytest.fixture(autouse=True)
def every_size_through_the_sorted_kernel(monkeypatch):
  """Samples of up to DENSE_MAX values normally take the dense kernel; not here."""
  jax.clear_caches()
  monkeypatch.setattr(sorted_deviation, "DENSE_MAX", 0)
  yield
  jax.clear_caches()


@functools.lru_cache(maxsize=None)
def _weights_fn(algorithm, method, weighted):
  def f(x, q, t, w):
    return softq.argquantile(x, q, method=method, temperature=t, algorithm=algorithm,
                             weights=w if weighted else None)
  return jax.jit(f)


def _compare(x, q, method, w=None, dtype=np.float64):
  x = jnp.asarray(x, dtype)
  std = float(np.std(np.asarray(x)[np.isfinite(np.asarray(x))])) or 1.0
  wj = None if w is None else jnp.asarray(w, dtype)
  fs = _weights_fn("sorted", method, w is not None)
  fd = _weights_fn("deviation", method, w is not None)
  tol_w = 1e-9 if dtype == np.float64 else 5e-4
  for tau in TAUS:
    t = jnp.asarray(tau * std, dtype)
    a, b = fs(x, q, t, wj), fd(x, q, t, wj)
    np.testing.assert_allclose(a, b, atol=tol_w, err_msg=f"tau={tau} std")
    xs = np.where(np.isfinite(np.asarray(x)), np.asarray(x, np.float64), 0.0)
    va = np.sum(np.asarray(a, np.float64) * xs, -1)
    vb = np.sum(np.asarray(b, np.float64) * xs, -1)
    np.testing.assert_allclose(va, vb, atol=(1e-10 if dtype == np.float64 else 1e-3) * std)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [1, 2, 3, 17, 500])
def test_equals_deviation_on_a_temperature_grid(dtype, n):
  x = np.random.default_rng(n).standard_t(4, n)
  _compare(x, jnp.asarray([0.0, 0.3, 0.5, 1.0]), "linear", dtype=dtype)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_ties_and_infinities(method):
  rng = np.random.default_rng(7)
  x = np.round(rng.standard_normal(40), 1)          # many ties
  x[[3, 11]] = np.inf
  x[5] = -np.inf
  _compare(x, jnp.asarray([0.1, 0.5, 0.85]), method)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_weights_real_integer_and_zero(dtype):
  rng = np.random.default_rng(3)
  x = rng.standard_normal(60)
  w = rng.random(60) * 2
  w[::7] = 0.0
  _compare(x, jnp.asarray([0.2, 0.5]), "linear", w=w, dtype=dtype)
  wi = rng.integers(0, 4, 60).astype(float)
  _compare(x, jnp.asarray([0.5]), "inverted_cdf", w=wi, dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_even_median_from_one_pass_equals_deviation(dtype):
  # An even-n median's two order statistics share one evaluation of the costs
  # (they are linear in k): same weights and gradients as the dense kernel.
  rng = np.random.default_rng(11)
  x = np.round(rng.standard_t(4, 300), 2)          # ties
  x[[7, 100]] = np.inf
  x[42] = -np.inf
  xj = jnp.asarray(x, dtype)
  std = float(np.std(x[np.isfinite(x)]))
  tol = 1e-9 if dtype == np.float64 else 5e-4

  @functools.lru_cache(maxsize=None)
  def weights_and_grad(algorithm):
    w = lambda v, t: softq.argmedian(v, temperature=t, algorithm=algorithm)
    g = jax.grad(lambda v, t: softq.median(v, temperature=t, algorithm=algorithm))
    return jax.jit(w), jax.jit(g)

  for tau in (1e-3, 1e-1, 1.0, 1e2):
    t = jnp.asarray(tau * std, dtype)
    ws, gs = weights_and_grad("sorted")
    wd, gd = weights_and_grad("deviation")
    np.testing.assert_allclose(ws(xj, t), wd(xj, t), atol=tol, err_msg=f"tau={tau} std")
  finite = jnp.asarray(x[np.isfinite(x)][:296], dtype)       # even n, finite
  t = jnp.asarray(0.1 * std, dtype)
  np.testing.assert_allclose(gs(finite, t), gd(finite, t), atol=tol)


def test_extreme_temperatures_and_large_temperature_limit():
  x = np.random.default_rng(4).standard_normal(200)
  f = lambda v, t: softq.quantile(v, 0.3, temperature=t, algorithm="sorted")
  value_and_grads = jax.jit(jax.value_and_grad(f, argnums=(0, 1)))
  for dtype in (np.float32, np.float64):
    xd = jnp.asarray(x, dtype)
    for tau in (1e-30, 1e30):
      v, (gx, gt) = value_and_grads(xd, jnp.asarray(tau, dtype))
      assert np.isfinite(float(v)) and np.isfinite(float(gt))
      assert np.all(np.isfinite(np.asarray(gx)))
  big = softq.median(x, temperature=1e4 * np.std(x), algorithm="sorted")
  assert abs(float(big) - np.mean(x)) < 1e-2 * np.std(x)
  w = np.random.default_rng(5).random(200)
  bigw = softq.median(x, temperature=1e30, algorithm="sorted", weights=w)
  np.testing.assert_allclose(float(bigw), np.average(x, weights=w), rtol=1e-9)


def test_smooth_when_a_value_crosses_others():
  # No window edges: as one sample sweeps across the others the value follows
  # the dense (smooth) function everywhere.
  x = np.random.default_rng(6).standard_normal(300)
  s = jnp.linspace(-3, 3, 201)

  def sweep(algorithm):
    f = lambda v: softq.median(jnp.asarray(x).at[0].set(v), temperature=0.3,
                               algorithm=algorithm)
    return np.asarray(jax.jit(jax.vmap(f))(s))

  np.testing.assert_allclose(sweep("sorted"), sweep("deviation"), atol=1e-12)


def test_gradients():
  x = jnp.asarray(np.random.default_rng(8).standard_normal(12))
  w = jnp.asarray(np.random.default_rng(9).random(12) + 0.5)
  f = jax.jit(lambda x, w, t: softq.quantile(x, 0.4, weights=w, temperature=t,
                                             algorithm="sorted"))
  check_grads(f, (x, w, 0.7), order=2, modes=("rev",))
  g_s = jax.grad(lambda x, t: softq.median(x, temperature=t, algorithm="sorted"),
                 argnums=(0, 1))(x, 0.3)
  g_d = jax.grad(lambda x, t: softq.median(x, temperature=t, algorithm="deviation"),
                 argnums=(0, 1))(x, 0.3)
  for a, b in zip(g_s, g_d):
    np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)


def test_default_is_sorted_and_never_quadratic():
  assert softq.DEFAULT_ALGORITHM == "sorted"
  assert "n log n" in softq.REGISTRY["sorted"].cost
  x = jnp.asarray(np.random.default_rng(10).standard_normal(200_000), jnp.float32)
  v, g = jax.jit(jax.value_and_grad(lambda v: softq.median(v, temperature=0.01)))(x)
  assert abs(float(v) - float(jnp.median(x))) < 1e-2
  np.testing.assert_allclose(float(jnp.sum(g)), 1.0, atol=1e-3)
