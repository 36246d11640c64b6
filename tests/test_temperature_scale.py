"""``temperature_scale``: a temperature relative to each slice's spread."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import softq

X = np.random.default_rng(0).standard_normal((3, 40)) * np.array([[0.01], [1.0], [30.0]])


@pytest.mark.parametrize("scale", ["std", "mad"])
@pytest.mark.parametrize("algorithm", ["rank", "deviation", "remedian"])
def test_scale_free_results_scale_with_the_data(scale, algorithm):
  f = jax.jit(lambda x: softq.quantile(x, jnp.array([0.3, 0.5]), axis=1, temperature=0.05,
                                       temperature_scale=scale, algorithm=algorithm))
  np.testing.assert_allclose(f(1000.0 * X), 1000.0 * f(X), rtol=1e-9)
  np.testing.assert_allclose(f(X + 7.0), f(X) + 7.0, rtol=1e-9, atol=1e-9)
  # rows that are scaled copies of one sample are soft by the same fraction
  scales = np.array([0.01, 1.0, 30.0])
  rows = scales[:, None] * X[1]
  want = np.broadcast_to(np.asarray(f(X[1:2])), (2, 3))
  np.testing.assert_allclose(np.asarray(f(rows)) / scales, want, rtol=1e-9)


@pytest.mark.parametrize("scale", ["std", "mad"])
def test_limits_of_a_relative_temperature(scale):
  x = X[1]
  np.testing.assert_array_equal(softq.median(x, temperature=0, temperature_scale=scale),
                                jnp.median(x))
  np.testing.assert_allclose(softq.median(x, temperature=1e-9, temperature_scale=scale),
                             np.median(x), atol=1e-9)
  np.testing.assert_allclose(softq.median(x, temperature=1e6, temperature_scale=scale,
                                          algorithm="deviation"), np.mean(x), atol=1e-6)
  for tau in (1e-30, 1e30):
    g = jax.grad(lambda v: softq.median(v, temperature=tau, temperature_scale=scale))(
        jnp.asarray(x))
    assert np.all(np.isfinite(g))


def test_gradients_with_a_relative_temperature():
  x = jnp.asarray(X[1, :8])
  f = jax.jit(lambda x, t: softq.quantile(x, 0.4, temperature=t, temperature_scale="std",
                                          algorithm="deviation"))
  check_grads(f, (x, 0.3), order=2, modes=("rev",))
  check_grads(f, (x, 0.3), order=1, modes=("fwd",))
  const = jnp.full((6,), 2.5)
  g = jax.grad(lambda v: softq.median(v, temperature=0.1, temperature_scale="std"))(const)
  assert np.all(np.isfinite(g))
  np.testing.assert_allclose(softq.median(const, temperature=0.1, temperature_scale="mad"), 2.5)


def test_sort_and_rank_take_the_scale_and_bad_names_raise():
  r1 = softq.rank(X, temperature=0.05, temperature_scale="std")
  r2 = softq.rank(X * 1e-3, temperature=0.05, temperature_scale="std")
  np.testing.assert_allclose(r1, r2, rtol=1e-9)
  s = softq.sort(X, temperature=0.05, temperature_scale="mad")
  np.testing.assert_allclose(softq.sort(5 * X, temperature=0.05, temperature_scale="mad"),
                             5 * s, rtol=1e-9)
  with pytest.raises(ValueError, match="median: unknown temperature_scale 'iqr'; valid"):
    softq.median(X, temperature_scale="iqr")
