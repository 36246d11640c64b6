"""Numerical robustness: extreme temperatures and magnitudes, inf/NaN, dtypes, guards.

See docs/numerics.md for the policies these tests pin down.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import softq


# --------------------------------------------------------------------------
# regression tests (each named after what broke)
# --------------------------------------------------------------------------

@pytest.mark.parametrize("algorithm", ["deviation", "rank", "subsets"])
def test_regression_grad_nan_at_tiny_temperature_float32(algorithm):
  # lax.div's derivative forms tau**-2, which overflows to inf in float32 for
  # tau < ~1e-19; 0 * inf then gave NaN gradients (w.r.t. the temperature for
  # every algorithm, and w.r.t. the input for "rank") at temperature=1e-30.
  x = jnp.array([0.3, -1.2, 2.5, 0.7, 4.0], jnp.float32)
  f = lambda x, t: softq.median(x, temperature=t, algorithm=algorithm)
  gx, gt = jax.grad(f, argnums=(0, 1))(x, jnp.float32(1e-30))
  assert np.all(np.isfinite(gx)) and np.isfinite(gt)
  np.testing.assert_allclose(gx, [0, 0, 0, 1, 0], atol=1e-6)  # median is x[3]


def test_regression_rank_grad_nan_at_tiny_data_scale_float32():
  # The rank kernel's tau / gap differentiated through gap**-2, which
  # overflows for data spread ~1e-30 in float32: NaN/inf gradients.
  x = jnp.array([0.3, -1.2, 2.5, 0.7, 4.0], jnp.float32) * 1e-30
  f = lambda x, t: softq.median(x, temperature=t, algorithm="rank")
  gx, gt = jax.grad(f, argnums=(0, 1))(x, jnp.float32(1e-30))
  assert np.all(np.isfinite(gx)) and np.isfinite(gt)


def test_regression_rank_weight_on_infinite_entries_gave_nan():
  # The rank kernel gave +-inf entries a tiny non-zero weight at moderate
  # temperatures: inf - inf = NaN in the value.
  x = jnp.array([-np.inf, 0.3, 4.0, np.inf, 1.5])
  f = lambda x: softq.median(x, temperature=1.0, algorithm="rank")
  assert np.isfinite(f(x))
  g = jax.grad(f)(x)
  assert np.all(np.isfinite(g)) and g[0] == 0 and g[3] == 0


@pytest.mark.parametrize("fn", ["max", "median_subsets"])
def test_regression_logsumexp_temperature_grad_nan_with_posinf(fn):
  # soft_logsumexp of a slice holding +inf computed exp(limit) = inf in the
  # discarded branch; 0 * inf gave a NaN temperature gradient (soft max, and
  # every soft median of the "subsets" algorithm with an infinite entry).
  x = jnp.array([-np.inf, 0.3, 4.0, np.inf, 1.5])
  if fn == "max":
    f = lambda x, t: softq.max(x, temperature=t)
  else:
    f = lambda x, t: softq.median(x, temperature=t, algorithm="subsets")
  gx, gt = jax.grad(f, argnums=(0, 1))(x, 1.0)
  assert np.all(np.isfinite(gx)) and np.isfinite(gt)


@pytest.mark.parametrize("algorithm", ["deviation", "rank"])
def test_regression_infinite_order_statistic_poisoned_other_gradients(algorithm):
  # d(w . x)/dw = x = -inf times a zero cotangent is NaN, and the engine mixes
  # the weight rows of all order statistics: the finite middle of a soft sort
  # of a sample holding +-inf got NaN gradients.
  x = jnp.array([-np.inf, 0.3, 4.0, np.inf, 1.5])
  f = lambda x, t: softq.sort(x, temperature=t, algorithm=algorithm)[2]
  gx, gt = jax.grad(f, argnums=(0, 1))(x, 1.0)
  assert np.all(np.isfinite(gx)) and np.isfinite(gt)
  assert gx[0] == 0 and gx[3] == 0
  np.testing.assert_array_equal(softq.sort(x, temperature=1e-3, algorithm=algorithm),
                                [-np.inf, 0.3, 1.5, 4.0, np.inf])


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
