"""softq as a drop-in for jax.numpy: no recompiles for new values, jnp's dtype
promotion and signatures, errors that name the function (SPEC sections 4, 6)."""

import pathlib
import re
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

import softq
from _compiles import count_compiles

EXACT = tuple(name for name, r in softq.REGISTRY.items() if r.hard_limit == "jnp")
METHODS = ("linear", "lower", "higher", "nearest", "midpoint", "inverted_cdf",
           "averaged_inverted_cdf")
ROOT = pathlib.Path(__file__).resolve().parent.parent


# One method per kind of plan: interpolated, rounded, jnp's inverted_cdf, and
# NumPy's averaged_inverted_cdf (positions computed on the host).
PLAN_KINDS = ("linear", "nearest", "inverted_cdf", "averaged_inverted_cdf")


@pytest.mark.parametrize("algorithm", softq.ALGORITHMS)
def test_new_q_and_temperature_never_compile(algorithm):
  x = jnp.asarray(np.random.default_rng(0).standard_normal(9))
  for method in PLAN_KINDS:
    # The first call of each input type compiles (also jnp's conversions).
    softq.quantile(x, 0.1, method=method, temperature=0.3, algorithm=algorithm)
    softq.quantile(x, np.array([0.1, 0.2]), method=method, temperature=0.3,
                   algorithm=algorithm)
    with count_compiles() as events:
      for i, q in enumerate((0.05, 0.37, 0.5, 0.93)):
        softq.quantile(x, q, method=method, temperature=0.1 + i, algorithm=algorithm)
        softq.quantile(x, np.array([q, 1 - q]), method=method, temperature=0.2 * (i + 1),
                       algorithm=algorithm)
    assert not events, (method, events)


def test_quantile_loop_over_many_levels_compiles_once():
  x = jnp.asarray(np.random.default_rng(1).standard_normal(100))
  softq.quantile(x, 0.0, temperature=0.1)
  t0 = time.perf_counter()
  with count_compiles() as events:
    vals = [float(softq.quantile(x, i / 2000, temperature=0.1)) for i in range(0, 2001, 50)]
  assert not events
  assert np.all(np.diff(vals) >= -1e-6)
  assert time.perf_counter() - t0 < 20.0


def test_traced_q_under_jit_every_algorithm():
  x = jnp.asarray(np.random.default_rng(2).standard_normal(11))
  for algorithm in softq.ALGORITHMS:
    f = jax.jit(lambda x, q, a=algorithm: softq.quantile(x, q, temperature=1e-4, algorithm=a))
    np.testing.assert_allclose(f(x, 0.3), softq.quantile(x, 0.3, temperature=1e-4,
                                                         algorithm=algorithm), atol=1e-9)


# ------------------------------------------------------------------ promotion

INT_DTYPES = ("int8", "int16", "int32", "uint8", "bool", "int64")


@pytest.mark.parametrize("x64", [True, False])
@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_integer_promotion_matches_jnp(dtype, x64):
  with jax.enable_x64(x64):
    a = jnp.asarray(np.arange(7) % 2 if dtype == "bool" else np.arange(7)).astype(dtype)
    want_dtype = jnp.median(a).dtype
    # jnp itself raises for float64 data with a float32 q (inverted_cdf): compare
    # with q in the data's dtype there.
    q32 = np.float32(0.3)
    want_q = q32 if want_dtype == np.float32 else np.float64(q32)
    for got, want in [
        (softq.median(a, temperature=0), jnp.median(a)),
        (softq.quantile(a, 0.3, temperature=0), jnp.quantile(a, 0.3)),
        (softq.quantile(a, q32, method="inverted_cdf", temperature=0),
         jnp.quantile(a, want_q, method="inverted_cdf")),
        (softq.percentile(a, 40, temperature=0), jnp.percentile(a, 40)),
    ]:
      assert got.dtype == want.dtype, (got.dtype, want.dtype)
      np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    soft = softq.median(a, temperature=1e-3)
    assert soft.dtype == jnp.median(a).dtype


@pytest.mark.parametrize("q", [[0.25, 0.75], (0.1, 0.5, 0.9)])
@pytest.mark.parametrize("temperature", [0.0, 1e-3])
def test_list_and_tuple_q_at_every_temperature(q, temperature):
  x = np.random.default_rng(3).standard_normal(10)
  got = softq.quantile(x, q, temperature=temperature)
  np.testing.assert_allclose(got, jnp.quantile(jnp.asarray(x), jnp.asarray(q)), atol=1e-6)
  got = softq.percentile(x, [100 * v for v in q], temperature=temperature)
  np.testing.assert_allclose(got, np.percentile(x, [100 * v for v in q]), atol=1e-6)


# --------------------------------------------------------------- sort and rank

@pytest.mark.parametrize("algorithm", EXACT)
def test_sort_descending_and_flatten(algorithm):
  x = np.random.default_rng(4).standard_normal((3, 4))
  np.testing.assert_allclose(softq.sort(x, temperature=1e-5, descending=True,
                                        algorithm=algorithm),
                             -np.sort(-x, axis=-1), atol=1e-6)
  np.testing.assert_allclose(softq.sort(x, None, temperature=1e-5, algorithm=algorithm),
                             np.sort(x, axis=None), atol=1e-6)
  np.testing.assert_array_equal(softq.sort(x, None, temperature=0, descending=True),
                                jnp.sort(jnp.asarray(x), axis=None, descending=True))


def test_rank_descending_and_flatten():
  x = np.round(np.random.default_rng(5).standard_normal((3, 4)), 0)
  np.testing.assert_allclose(softq.rank(x, temperature=1e-5, descending=True),
                             scipy.stats.rankdata(-x, axis=-1), atol=1e-6)
  np.testing.assert_allclose(softq.rank(x, None, temperature=0),
                             scipy.stats.rankdata(x, axis=None), atol=1e-12)
  with pytest.raises(TypeError, match="rank: axis must be an int or None"):
    softq.rank(x, (0, 1))
  with pytest.raises(ValueError, match="sort: kind= and order= are not supported"):
    softq.sort(x, kind="stable")


# ----------------------------------------------------------- jnp's extra args

def test_out_and_overwrite_input_as_jnp():
  x = jnp.arange(5.0)
  np.testing.assert_array_equal(softq.quantile(x, 0.5, None, None, False, "lower",
                                               temperature=0),
                                jnp.quantile(x, 0.5, None, None, False, "lower"))
  np.testing.assert_array_equal(softq.median(x, 0, None, False, True, temperature=0),
                                jnp.median(x, 0, None, False, True))
  for fn in (softq.quantile, softq.percentile, softq.nanquantile):
    with pytest.raises(ValueError, match="overwrite_input=True or out != None"):
      fn(x, 0.5, overwrite_input=True)
  with pytest.raises(ValueError, match="median: .*out != None"):
    softq.median(x, out=jnp.zeros(()))


def test_max_min_follow_jnp_axis_and_argmax_the_last_axis():
  a = jnp.asarray(np.random.default_rng(6).standard_normal((3, 4)))
  assert softq.max(a, temperature=1e-6).shape == jnp.max(a).shape == ()
  np.testing.assert_allclose(softq.min(a, 0, temperature=1e-6), jnp.min(a, 0), atol=1e-5)
  np.testing.assert_array_equal(softq.max(a, 1, None, True, temperature=0),
                                jnp.max(a, 1, None, True))
  np.testing.assert_allclose(softq.max(a, 1, initial=5.0, temperature=1e-6),
                             jnp.max(a, 1, initial=5.0), atol=1e-5)
  assert softq.argmax(a, temperature=0.1).shape == a.shape
  np.testing.assert_allclose(softq.argmax(a, temperature=0.1).sum(-1), 1.0, atol=1e-6)


# ---------------------------------------------------------------------- errors

@pytest.mark.parametrize("call,error,pattern", [
    (lambda x: softq.median(x, axis=5), ValueError,
     r"median: axis 5 is out of bounds for an array of dimension 2; pass an axis in"),
    (lambda x: softq.quantile(x, 0.5, axis=(1, -1)), ValueError,
     r"quantile: axis \(1, -1\) names an axis twice"),
    (lambda x: softq.median(x, where=np.ones(3, bool)), ValueError,
     r"median: where of shape \(3,\) does not broadcast to a's shape \(2, 4\); pass"),
    (lambda x: softq.quantile(x, 0.5, weights=np.ones(3)), ValueError,
     r"quantile: weights of shape \(3,\) match neither"),
    (lambda x: softq.quantile(x, 0.5, weights=-np.ones(4)), ValueError,
     r"quantile: weights must be >= 0"),
    (lambda x: softq.median(x[:, :0], axis=1), ValueError,
     r"median: axis 1 of a \(shape \(2, 0\)\) is empty"),
    (lambda x: softq.median(jnp.ones((0,))), ValueError, r"median: a \(shape \(0,\)\) is empty"),
    (lambda x: softq.argmedian(x, algorithm="fast"), ValueError,
     r"argmedian: unknown algorithm 'fast'; valid algorithms are 'subsets'"),
    (lambda x: softq.quantile(x, 0.5, method="median"), ValueError,
     r"quantile: unknown method 'median'; valid methods are 'linear'"),
    (lambda x: softq.median(x, block_size=3), ValueError,
     r"median: block_size= applies to algorithm='remedian' only"),
    (lambda x: softq.median(x, algorithm="remedian", block_size=1), ValueError,
     r"median: block_size must be >= 2"),
    (lambda x: softq.median(x, weights=np.ones(4), algorithm="subsets"), ValueError,
     r"median: algorithm='subsets' does not support weights="),
    (lambda x: softq.max(x, axis=3), ValueError, r"max: axis 3 is out of bounds"),
    (lambda x: softq.min(x, temperature=-1.0), ValueError, r"min: temperature must be"),
    (lambda x: softq.argmin(x, axis=2), ValueError, r"argmin: axis 2 is out of bounds"),
])
def test_errors_name_the_function_and_the_way_out(call, error, pattern):
  with pytest.raises(error, match=pattern):
    call(jnp.ones((2, 4)))


# -------------------------------------------------------- constant folding

def test_sort_is_not_constant_folded():
  # Data captured as a closure constant once made XLA constant-fold the sort
  # of a (12544, 9) window batch for seconds at compile time.
  # Measured against the same program with the data as an argument (nothing
  # to fold), so that a loaded machine does not fail it: folding took ~10x.
  data = jnp.asarray(np.random.default_rng(7).standard_normal((12544, 9)), jnp.float32)
  closure = jax.jit(jax.grad(lambda t: softq.median(data, -1, temperature=t).sum()))
  argument = jax.jit(jax.grad(lambda t, d: softq.median(d, -1, temperature=t).sum()))

  def seconds(compile_it):
    t0 = time.perf_counter()
    compile_it()
    return time.perf_counter() - t0

  base = seconds(lambda: argument.lower(0.1, data).compile())
  folded = seconds(lambda: closure.lower(0.1).compile())
  assert folded < 3.0 * base + 1.0, (folded, base)


# ------------------------------------------------------------------- version

def test_version_defined_once():
  from importlib import metadata
  assert softq.__version__ == metadata.version("softq")
  cff = (ROOT / "CITATION.cff").read_text()
  assert re.search(rf"^version: {re.escape(softq.__version__)}$", cff, re.M)
  assert 'license = "Apache-2.0"' in (ROOT / "pyproject.toml").read_text()
