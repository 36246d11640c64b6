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
