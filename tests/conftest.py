"""Test configuration: float64 available, strict dtype promotion, hypothesis profiles."""

import gc
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


# XLA:CPU keeps every compiled executable's code mapped (about a hundred memory
# mappings per softq program, measured: 57 programs -> 6,800 mappings), and the
# jit caches keep every executable of a live function.  Nothing here compiles
# per value of q or the temperature (tests/test_dropin.py counts compilations),
# but one xdist worker compiles thousands of distinct programs (shapes, dtypes,
# algorithms, methods) and would pass the kernel's vm.max_map_count (65,530 by
# default; measured: 35,000 after test_core.py alone), where mmap fails inside
# the compiler and the worker segfaults.  So a worker drops its compiled
# programs when its mappings pass half of that.
_MAP_BUDGET = 30_000


def _mappings() -> int:
  try:
    with open("/proc/self/maps", "rb") as f:
      return f.read().count(b"\n")
  except OSError:  # not Linux
    return 0


@pytest.fixture(autouse=True)
def _bounded_compiled_programs():
  yield
  if _mappings() > _MAP_BUDGET:
    jax.clear_caches()
    gc.collect()
