"""The O(n log n) ``"sorted"`` kernel: error bound, hard limits, autodiff."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import softq
from softq._kernels import deviation
from softq._kernels import sorted_deviation

METHODS = ("linear", "lower", "higher", "nearest", "midpoint", "inverted_cdf",
           "averaged_inverted_cdf")


_sorted_costs = jax.jit(sorted_deviation.costs, static_argnums=(2,))
_dense_costs = jax.jit(deviation.costs, static_argnums=(2,))


def _stated_bound(x, valid, tau, window):
  """The docstring's bound N_i * tau * log1p(exp(-2 delta_i / tau)), in NumPy."""
  x = np.asarray(x, np.float64)
  n = x.shape[0]
  key = np.where(valid, x, np.inf)
  pos = np.empty(n, int)
  pos[np.argsort(key, kind="stable")] = np.arange(n)
  bound = np.zeros(n)
  for i in range(n):
    far = (np.abs(pos - pos[i]) > window) & valid & np.isfinite(x) & (x != x[i])
    if far.any():
      delta = np.min(np.abs(x[far] - x[i]))
      bound[i] = far.sum() * tau * np.log1p(np.exp(-2.0 * delta / tau))
  return bound


def _gap(x, valid, k, tau):
  """(D_i - D_r) - (C_i + tau log 2 - E_r): the dropped terms, >= 0."""
  m = int(np.sum(valid))
  xv = np.sort(np.asarray(x)[valid])
  r = jnp.asarray(xv[k])
  vj = None if np.all(valid) else jnp.asarray(valid)
  c_sorted = np.asarray(_sorted_costs(x, vj, m, k, r, tau))
  c_dense = np.asarray(_dense_costs(x, vj, m, k, r, tau))
  e_r = tau * np.sum(np.log1p(np.exp(-2.0 * np.abs(float(r) - xv) / tau)))
  return c_dense - (c_sorted + tau * np.log(2.0) - e_r)


@pytest.mark.parametrize("n", [40, 129, 400])
@pytest.mark.parametrize("tau", [1e-3, 0.03, 0.3, 3.0])
def test_error_bound_against_dense_deviation(n, tau):
  rng = np.random.default_rng(n)
  x = rng.standard_normal(n)
  x[:5] = x[5]                       # a group of ties
  valid = np.ones(n, bool)
  valid[-3:] = False                 # and a mask
  x = jnp.asarray(x)
  m = int(valid.sum())
  bound = _stated_bound(x, valid, tau, min(sorted_deviation.WINDOW, n - 1))
  for k in (0, m // 3, m // 2, m - 1):
    gap = _gap(x, valid, k, tau)[valid]
    slack = 1e-9 * (1.0 + np.abs(gap).max())
    assert np.all(gap >= -slack), gap.min()
    assert np.all(gap <= bound[valid] + slack), np.max(gap - bound[valid])


def test_bound_is_tight_enough_to_matter():
  # In the accurate regime the kernel equals the dense one to rounding; at a
  # large temperature the dropped terms are real (so the test above can fail).
  x = jnp.asarray(np.random.default_rng(0).standard_normal(300))
  valid = np.ones(300, bool)
  assert np.abs(_gap(x, valid, 150, 1e-3)).max() < 1e-9
  assert _gap(x, valid, 150, 1.0).max() > 1.0


def test_weights_match_deviation_in_the_accurate_regime():
  x = jnp.asarray(np.random.default_rng(1).standard_normal(500))
  for tau in (1e-4, 3e-3):
    ws = softq.argmedian(x, temperature=tau, algorithm="sorted")
    wd = softq.argmedian(x, temperature=tau, algorithm="deviation")
    np.testing.assert_allclose(ws, wd, atol=1e-9)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n", [9, 10, 64])
def test_hard_limit_all_methods(method, n):
  rng = np.random.default_rng(n)
  q = np.array([0.0, 0.1, 0.25, 0.5, 0.77, 1.0])
  for x in (rng.standard_normal(n), rng.integers(0, 4, n).astype(float)):
    got = jax.jit(lambda v: softq.quantile(v, q, method=method, temperature=1e-9,
                                           algorithm="sorted"))(x)
    want = softq.quantile(x, q, method=method, temperature=0)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-7)


def test_ties_uniform_weights_even_beyond_the_window():
  # 40 copies of the median value: more than WINDOW on each side.
  x = jnp.asarray(np.concatenate([np.zeros(40), np.arange(1.0, 31.0), -np.arange(1.0, 31.0)]))
  w = softq.argmedian(x, temperature=1e-9, algorithm="sorted")
  np.testing.assert_allclose(w[:40], np.full(40, 1 / 40), atol=1e-12)
  np.testing.assert_allclose(w[40:], 0.0, atol=1e-12)


def test_float32_hard_limit_large_n():
  x = jax.random.normal(jax.random.key(0), (65536,), jnp.float32) * 100 + 1e4
  for q in (0.5, 0.1, 0.9):
    got = softq.quantile(x, q, temperature=1e-6, algorithm="sorted", method="lower")
    assert got == jnp.quantile(x, q, method="lower")
  assert softq.median(x, temperature=1e-6, algorithm="sorted") == jnp.median(x)


def test_where_nan_inf():
  x = jnp.array([3.0, -jnp.inf, 1.0, 7.0, jnp.inf, 2.0, 100.0])
  where = jnp.array([True, True, True, True, True, True, False])
  got = softq.median(x, temperature=1e-6, algorithm="sorted", where=where)
  assert jnp.isclose(got, 2.5)
  g = jax.grad(lambda v: softq.median(v, temperature=0.3, algorithm="sorted", where=where))(x)
  assert np.all(np.isfinite(g))
  assert np.isnan(softq.median(x.at[0].set(jnp.nan), temperature=0.1, algorithm="sorted"))
  assert np.isclose(softq.nanmedian(x.at[6].set(jnp.nan), temperature=1e-6, algorithm="sorted"), 2.5)


@pytest.mark.parametrize("tau", [1e-30, 1e-6, 1.0, 1e30])
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_finite_at_extreme_temperatures(tau, dtype):
  x = jnp.asarray(np.random.default_rng(2).standard_normal(50), dtype)

  def f(v, t):
    return softq.quantile(v, 0.3, temperature=t, algorithm="sorted")

  val, grads = jax.value_and_grad(f, argnums=(0, 1))(x, jnp.asarray(tau, dtype))
  assert np.isfinite(val)
  assert np.all(np.isfinite(grads[0])) and np.isfinite(grads[1])


def test_check_grads_order_2():
  x = jnp.asarray(np.random.default_rng(3).standard_normal(24))
  t = jnp.asarray(0.2)
  # jit: eager dispatch of the unrolled window makes check_grads very slow.
  check_grads(jax.jit(lambda v, t: softq.median(v, temperature=t, algorithm="sorted")), (x, t),
              order=2, modes=("fwd", "rev"))
  check_grads(jax.jit(lambda v: softq.quantile(v, jnp.array([0.2, 0.9]), temperature=0.05,
                                               algorithm="sorted")), (x,), order=2,
              modes=("fwd", "rev"))


def test_jit_vmap_jacfwd_jacrev():
  x = jnp.asarray(np.random.default_rng(4).standard_normal((5, 40)))

  def f(v):
    return softq.median(v, axis=-1, temperature=0.1, algorithm="sorted")

  loop = jnp.stack([softq.median(row, temperature=0.1, algorithm="sorted") for row in x])
  np.testing.assert_allclose(jax.jit(f)(x), loop, rtol=1e-12)
  np.testing.assert_allclose(jax.vmap(lambda r: softq.median(r, temperature=0.1,
                                                             algorithm="sorted"))(x), loop,
                             rtol=1e-12)
  np.testing.assert_allclose(jax.jacfwd(f)(x), jax.jacrev(f)(x), atol=1e-12)


def test_traced_q_and_mixed_temperature():
  x = jnp.asarray(np.random.default_rng(5).standard_normal((3, 33)))
  f = jax.jit(lambda v, q: softq.quantile(v, q, axis=1, temperature=1e-9, algorithm="sorted"))
  np.testing.assert_allclose(f(x, jnp.array([0.3, 0.6])), jnp.quantile(x, jnp.array([0.3, 0.6]),
                                                                       axis=1), atol=1e-9)
  got = softq.median(x, axis=1, temperature=jnp.array([0.0, 1e-9, 0.5]), algorithm="sorted")
  np.testing.assert_allclose(got[:2], jnp.median(x, axis=1)[:2], atol=1e-9)
