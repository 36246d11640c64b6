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


# Every compiled XLA:CPU program keeps a few memory mappings until it is freed,
# and the suite compiles thousands of programs.  A pytest worker that runs half
# the suite passed Linux's vm.max_map_count (65,530) and died in a segfault in
# CI.  Drop JAX's compilation caches whenever the process holds many mappings.
_MAP_LIMIT = 16_000


def _mappings() -> int:
  try:
    with open("/proc/self/maps", "rb") as f:
      return sum(1 for _ in f)
  except OSError:  # not Linux
    return 0


@pytest.fixture(autouse=True)
def _bounded_compile_cache():
  yield
  if _mappings() > _MAP_LIMIT:
    import gc
    jax.clear_caches()
    gc.collect()
