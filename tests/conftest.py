"""Test configuration: float64 available, strict dtype promotion, hypothesis profiles."""

import os

import jax
import pytest

jax.config.update("jax_enable_x64", True)

try:
  from hypothesis import settings, HealthCheck

  settings.register_profile(
      "ci", max_examples=12, deadline=None,
      suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
  settings.register_profile(
      "long", max_examples=500, deadline=None,
      suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
  settings.load_profile(os.environ.get("SOFTQ_HYPOTHESIS_PROFILE", "ci"))
except ImportError:  # pragma: no cover
  pass


@pytest.fixture
def strict_promotion():
  with jax.numpy_dtype_promotion("strict"):
    yield
