"""``weights=``: integer weights are the repeated sample (SPEC section 4)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import softq

WEIGHTED = tuple(name for name, r in softq.REGISTRY.items()
                 if r.hard_limit == "jnp" and r.supports_weights)
METHODS = ("linear", "lower", "higher", "nearest", "midpoint", "inverted_cdf",
           "averaged_inverted_cdf")
X = np.array([0.3, -1.2, 2.5, 0.7, 4.0, -0.4])
W = np.array([2, 1, 3, 0, 1, 2])


@functools.lru_cache(maxsize=None)
def _quantile(algorithm, method, weighted):
  if weighted:
    f = lambda x, w, q, t: softq.quantile(x, q, method=method, weights=w, temperature=t,
                                          algorithm=algorithm)
  else:
    f = lambda x, q, t: softq.quantile(x, q, method=method, temperature=t,
                                       algorithm=algorithm)
  return jax.jit(f)


@pytest.mark.parametrize("algorithm", WEIGHTED)
@pytest.mark.parametrize("method", METHODS)
def test_integer_weights_are_the_repeated_sample(algorithm, method):
  q = jnp.array([0.1, 0.5, 0.77])
  repeated = jnp.asarray(np.repeat(X, W))
  for t in (0.05, 0.7):
    got = _quantile(algorithm, method, True)(jnp.asarray(X), jnp.asarray(W, float), q, t)
    want = _quantile(algorithm, method, False)(repeated, q, t)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
  # gradients in x: the repeated sample's, summed over each value's copies
  f_w = lambda x: jnp.sum(_quantile(algorithm, method, True)(x, jnp.asarray(W, float), q, 0.3))
  f_r = lambda x: jnp.sum(_quantile(algorithm, method, False)(
      jnp.repeat(x, W, total_repeat_length=int(W.sum())), q, 0.3))
  np.testing.assert_allclose(jax.grad(f_w)(jnp.asarray(X)), jax.grad(f_r)(jnp.asarray(X)),
                             rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("algorithm", WEIGHTED)
def test_hard_limit_of_integer_weights(algorithm):
  rng = np.random.default_rng(1)
  x = rng.standard_normal((3, 7))
  w = rng.integers(0, 4, size=(3, 7)).astype(float)
  w[:, 0] = 1.0
  q = np.array([0.0, 0.2, 0.5, 0.9, 1.0])
  got = softq.quantile(x, q, axis=1, weights=w, temperature=1e-6, algorithm=algorithm)
  want = np.stack([np.quantile(np.repeat(r, c.astype(int)), q) for r, c in zip(x, w)], -1)
  np.testing.assert_allclose(got, want, atol=1e-6)
  med = softq.median(x, axis=1, weights=w, temperature=0)
  np.testing.assert_allclose(med, [np.median(np.repeat(r, c.astype(int)))
                                   for r, c in zip(x, w)], atol=1e-12)


def test_inverted_cdf_at_temperature_zero_is_jnp():
  rng = np.random.default_rng(2)
  x = jnp.asarray(rng.standard_normal((4, 9)))
  w = jnp.asarray(rng.random((4, 9)))
  q = jnp.array([0.1, 0.5, 0.8])
  for axis, ww in ((1, w), (None, w), (1, w[0])):
    got = softq.quantile(x, q, axis=axis, weights=ww, method="inverted_cdf", temperature=0)
    want = jnp.quantile(x, q, axis=axis, weights=ww if axis is None or ww.ndim == 2
                        else jnp.broadcast_to(ww, x.shape), method="inverted_cdf")
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


@pytest.mark.parametrize("algorithm", WEIGHTED)
def test_zero_weights_remove_values_like_where(algorithm):
  rng = np.random.default_rng(3)
  x = rng.standard_normal((3, 8))
  keep = rng.random((3, 8)) > 0.4
  keep[:, 0] = True
  for t in (1e-4, 0.5):
    a = softq.quantile(x, 0.3, axis=1, weights=keep.astype(float), temperature=t,
                       algorithm=algorithm)
    b = softq.quantile(x, 0.3, axis=1, where=keep, temperature=t, algorithm=algorithm)
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
  w = softq.argmedian(x, weights=keep.astype(float), temperature=0.5, algorithm=algorithm)
  assert np.all(np.asarray(w)[~keep] == 0)


@pytest.mark.parametrize("algorithm", WEIGHTED)
def test_gradients_with_respect_to_weights(algorithm):
  x = jnp.asarray(X)
  w = jnp.asarray([0.5, 1.5, 2.0, 0.7, 1.0, 1.2])
  f = jax.jit(lambda w, x: softq.quantile(x, 0.4, weights=w, temperature=0.6,
                                          algorithm=algorithm))
  check_grads(f, (w, x), order=2, modes=("rev",), atol=1e-5, rtol=1e-5)
  check_grads(f, (w, x), order=1, modes=("fwd",), atol=1e-5, rtol=1e-5)
  g = jax.grad(lambda w: softq.median(x, weights=w, temperature=1e-3, algorithm=algorithm))(w)
  assert np.all(np.isfinite(g))


@pytest.mark.parametrize("algorithm", WEIGHTED)
def test_large_temperature_gives_the_weighted_mean(algorithm):
  w = np.asarray(W, float)
  got = softq.median(X, weights=w, temperature=1e7, algorithm=algorithm)
  np.testing.assert_allclose(got, np.average(X, weights=w), atol=1e-4)


def test_weights_shapes_and_other_entry_points():
  rng = np.random.default_rng(4)
  x = rng.standard_normal((2, 5))
  w = rng.integers(1, 3, size=5).astype(float)
  full = np.broadcast_to(w, x.shape)
  for fn in (lambda **k: softq.median(x, 1, **k),
             lambda **k: softq.percentile(x, 30, 1, **k),
             lambda **k: softq.nanquantile(x, 0.3, 1, **k),
             lambda **k: softq.argquantile(x, 0.3, 1, **k),
             lambda **k: softq.argmedian(x, 1, **k)):
    np.testing.assert_allclose(fn(weights=w, temperature=0.2),
                               fn(weights=full, temperature=0.2), rtol=1e-12)
  wm = softq.argmedian(x, weights=full, temperature=0.2)
  np.testing.assert_allclose((wm * x).sum(-1), softq.median(x, 1, weights=full,
                                                            temperature=0.2), rtol=1e-10)
  xn = x.copy()
  xn[0, 1] = np.nan
  np.testing.assert_allclose(
      softq.nanmedian(xn, 1, weights=full, temperature=1e-6),
      [np.median(np.repeat(r[~np.isnan(r)], c[~np.isnan(r)].astype(int)))
       for r, c in zip(xn, full)], atol=1e-6)
