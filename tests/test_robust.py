"""Robust statistics: softq.trim_mean, median_abs_deviation, iqr (SPEC section 7).

At ``temperature=0`` each equals ``scipy.stats`` (random data, ties, axis
variants, ``nan_policy`` propagate / omit, ``scale``); soft versions tend to
it, are smooth (``check_grads`` in float64) with finite gradients, take a
per-slice and a relative temperature, and raise the errors of SPEC section 6.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
from jax.test_util import check_grads

import softq

RNG = np.random.default_rng(0)
DATA = {"normal": RNG.standard_normal((9, 6)), "ties": np.round(RNG.standard_normal((9, 6)))}
AXES = [0, 1, None, (0, 1)]


@pytest.mark.parametrize("data", list(DATA))
@pytest.mark.parametrize("axis", AXES, ids=str)
def test_trim_mean_equals_scipy(data, axis):
  x = DATA[data]
  for p in (0.0, 0.1, 0.25, 0.49):
    want = scipy.stats.trim_mean(x, p, axis=axis)
    np.testing.assert_allclose(softq.trim_mean(x, p, axis=axis, temperature=0), want,
                               rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(softq.trim_mean(x, p, axis=axis, temperature=1e-7), want,
                               atol=1e-6)


@pytest.mark.parametrize("data", list(DATA))
@pytest.mark.parametrize("axis", AXES, ids=str)
def test_median_abs_deviation_equals_scipy(data, axis):
  x = DATA[data]
  for scale in (1.0, "normal", 2.5):
    want = scipy.stats.median_abs_deviation(x, axis=axis, scale=scale)
    np.testing.assert_allclose(
        softq.median_abs_deviation(x, axis=axis, scale=scale, temperature=0), want,
        rtol=1e-13)
    np.testing.assert_allclose(
        softq.median_abs_deviation(x, axis=axis, scale=scale, temperature=1e-7), want,
        atol=1e-6)
  np.testing.assert_allclose(
      softq.median_abs_deviation(x, axis=axis, center=np.mean, temperature=0),
      scipy.stats.median_abs_deviation(x, axis=axis, center=np.mean), rtol=1e-13)


@pytest.mark.parametrize("data", list(DATA))
@pytest.mark.parametrize("axis", AXES, ids=str)
def test_iqr_equals_scipy(data, axis):
  x = DATA[data]
  # "nearest" follows jnp.quantile, which rounds exact halves unlike NumPy (docstring).
  for method in ("linear", "lower", "higher", "midpoint"):
    for rng, scale in (((25, 75), 1.0), ((10, 90), "normal"), ((80, 5), 2.0)):
      want = scipy.stats.iqr(x, axis=axis, rng=rng, scale=scale, interpolation=method)
      got = softq.iqr(x, axis, rng, scale, method=method, temperature=0)
      np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)
      np.testing.assert_allclose(softq.iqr(x, axis, rng, scale, interpolation=method,
                                           temperature=1e-7), want, atol=1e-6)


@pytest.mark.parametrize("policy", ["propagate", "omit"])
def test_nan_policy_equals_scipy(policy):
  x = DATA["normal"].copy()
  x[2, 1] = x[5, 1] = x[4, 3] = np.nan
  cases = [
      (lambda **kw: softq.trim_mean(x, 0.2, **kw), scipy.stats.trim_mean(x, 0.2, nan_policy=policy)),
      (lambda **kw: softq.median_abs_deviation(x, **kw),
       scipy.stats.median_abs_deviation(x, nan_policy=policy)),
      (lambda **kw: softq.iqr(x, axis=0, **kw), scipy.stats.iqr(x, axis=0, nan_policy=policy)),
  ]
  for fn, want in cases:
    np.testing.assert_allclose(fn(nan_policy=policy, temperature=0), want, rtol=1e-13)
    soft = fn(nan_policy=policy, temperature=1e-7)
    np.testing.assert_allclose(soft, want, atol=1e-6)
    assert np.array_equal(np.isnan(soft), np.isnan(want))
  if policy == "omit":   # gradients of the kept values are finite, NaNs get 0
    g = jax.grad(lambda v: jnp.sum(softq.trim_mean(v, 0.2, nan_policy="omit",
                                                   temperature=0.3)))(jnp.asarray(x))
    assert np.all(np.isfinite(g)) and np.all(g[np.isnan(x)] == 0)


def test_keepdims_and_per_slice_temperature():
  x = DATA["normal"]
  tau = np.linspace(0.05, 1.0, 6)
  for fn in (lambda **kw: softq.trim_mean(x, 0.2, **kw),
             lambda **kw: softq.median_abs_deviation(x, **kw),
             lambda **kw: softq.iqr(x, axis=0, **kw)):
    out = fn(temperature=tau)
    assert out.shape == (6,)
    for i in (0, 5):
      np.testing.assert_allclose(out[i], fn(temperature=tau[i])[i], rtol=1e-10)
    assert fn(temperature=0.2, keepdims=True).shape == (1, 6)


@pytest.mark.parametrize("name", ["trim_mean", "median_abs_deviation", "iqr"])
def test_smooth_with_finite_gradients(name):
  fns = {"trim_mean": lambda v, t: softq.trim_mean(v, 0.25, temperature=t),
         "median_abs_deviation": lambda v, t: softq.median_abs_deviation(v, temperature=t),
         "iqr": lambda v, t: softq.iqr(v, temperature=t)}
  fn = jax.jit(fns[name])
  x = jnp.asarray(DATA["normal"][:, 0])
  check_grads(fn, (x, 0.4), order=2, modes=("rev",))
  check_grads(fn, (x, 0.4), order=1, modes=("fwd",))
  for tau in (1e-30, 1e30):
    g = jax.grad(lambda v, t: fn(v, t), argnums=(0, 1))(x, tau)
    assert all(np.all(np.isfinite(a)) for a in g)
  # large temperature: trim_mean -> mean, iqr -> 0
  if name == "trim_mean":
    np.testing.assert_allclose(fn(x, 1e9), np.mean(x), rtol=1e-6)
  if name == "iqr":
    np.testing.assert_allclose(fn(x, 1e9), 0.0, atol=1e-6)


def test_temperature_scale_makes_them_scale_equivariant():
  x = DATA["normal"]
  for fn in (lambda v: softq.trim_mean(v, 0.2, temperature=0.1, temperature_scale="std"),
             lambda v: softq.median_abs_deviation(v, temperature=0.1, temperature_scale="mad"),
             lambda v: softq.iqr(v, temperature=0.1, temperature_scale="std")):
    np.testing.assert_allclose(fn(1000.0 * x), 1000.0 * fn(x), rtol=1e-9)


def test_errors():
  x = jnp.ones((4, 3))
  for p in (0.5, -0.1, 0.7, np.nan):
    with pytest.raises(ValueError, match=r"trim_mean: proportiontocut must lie in \[0, 0.5\)"):
      softq.trim_mean(x, p)
  with pytest.raises(TypeError, match="proportiontocut"):
    softq.trim_mean(x, [0.1, 0.2])
  for fn in (lambda **kw: softq.trim_mean(x, 0.1, **kw),
             lambda **kw: softq.median_abs_deviation(x, **kw),
             lambda **kw: softq.iqr(x, **kw)):
    with pytest.raises(ValueError, match="out of bounds"):
      fn(axis=2)
    with pytest.raises(ValueError, match="nan_policy"):
      fn(nan_policy="ignore")
    with pytest.raises(ValueError, match="temperature"):
      fn(temperature=-1.0)
  xn = jnp.array([1.0, np.nan, 2.0])
  for fn in (lambda: softq.trim_mean(xn, 0.1, nan_policy="raise"),
             lambda: softq.median_abs_deviation(xn, nan_policy="raise"),
             lambda: softq.iqr(xn, nan_policy="raise")):
    with pytest.raises(ValueError, match="nan values"):
      fn()
  with pytest.raises(ValueError, match="empty"):
    softq.iqr(jnp.ones((0,)))
  with pytest.raises(ValueError, match="scale"):
    softq.median_abs_deviation(x, scale="raw")
  with pytest.raises(ValueError, match=r"rng must lie in \[0, 100\]"):
    softq.iqr(x, rng=(-1, 50))
  with pytest.raises(TypeError, match="rng"):
    softq.iqr(x, rng=(25,))
  with pytest.raises(TypeError, match="center"):
    softq.median_abs_deviation(x, center="mean")
  with pytest.raises(TypeError, match="complex"):
    softq.iqr(x.astype(jnp.complex64))
