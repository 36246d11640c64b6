"""``softq.top_k``: the k largest soft order statistics and their weights (SPEC 7)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import softq
from softq._algorithms.deviation import sorted as sorted_deviation


@functools.lru_cache(maxsize=None)
def _top_k(k, algorithm="sorted"):
  return jax.jit(lambda a, t: softq.top_k(a, k, temperature=t, algorithm=algorithm))


def _data(shape, seed=0, ties=False):
  x = np.random.default_rng(seed).standard_normal(shape)
  return np.round(x, 1) if ties else x


@pytest.mark.parametrize("ties", [False, True])
def test_temperature_zero_is_lax_top_k_bit_for_bit(ties):
  x = jnp.asarray(_data((3, 40), ties=ties), jnp.float32)
  v, w = softq.top_k(x, 5, temperature=0)
  ref_v, ref_i = jax.lax.top_k(x, 5)
  np.testing.assert_array_equal(v, ref_v)
  # One-hot of lax.top_k's indices; tied values share the weight equally.
  xn = np.asarray(x)
  for b in range(3):
    for j in range(5):
      tied = xn[b] == xn[b, int(ref_i[b, j])]
      np.testing.assert_allclose(w[b, j], tied / tied.sum(), atol=0)


@pytest.mark.parametrize("n", [30, 300])      # the dense and the sorted kernel
def test_small_temperature_tends_to_lax_top_k(n):
  x = jnp.asarray(_data((2, n), seed=n))
  v, w = _top_k(4)(x, jnp.asarray(1e-4))
  ref_v, ref_i = jax.lax.top_k(x, 4)
  np.testing.assert_allclose(v, ref_v, atol=1e-5)
  np.testing.assert_allclose(w, jax.nn.one_hot(ref_i, n), atol=1e-4)


def test_values_are_weighted_sums_descending_and_match_quantile():
  x = jnp.asarray(_data((2, 200), seed=3))
  for tau in (0.03, 0.3, 3.0):
    v, w = _top_k(6)(x, jnp.asarray(tau))
    np.testing.assert_allclose(jnp.sum(w, -1), 1.0, rtol=1e-6)
    assert np.all(np.asarray(w) >= 0)
    np.testing.assert_allclose(v, jnp.sum(w * x[:, None, :], -1), rtol=1e-5, atol=1e-6)
    assert np.all(np.diff(np.asarray(v), axis=-1) <= 1e-6)
    # The same soft order statistics as softq.quantile (inverted_cdf levels).
    q = (200 - np.arange(6) - 0.5) / 200
    ref = softq.quantile(x, q, axis=-1, method="inverted_cdf", temperature=tau)
    np.testing.assert_allclose(v, ref.T, rtol=1e-5, atol=1e-6)


def test_check_grads_float64_order_2(monkeypatch):
  monkeypatch.setattr(sorted_deviation, "DENSE_MAX", 0)       # the sorted kernel itself
  jax.clear_caches()
  x = jnp.asarray(_data(9, seed=5), jnp.float64)            # x64 is on in the tests
  f = jax.jit(lambda a, t: softq.top_k(a, 3, temperature=t)[0])
  check_grads(f, (x, 0.4), order=2, modes=("rev",))
  check_grads(f, (x, 0.4), order=1, modes=("fwd",))
  g = jax.jit(lambda a: softq.top_k(a, 2, temperature=0.4)[1])
  check_grads(g, (x,), order=1, modes=("fwd", "rev"))
  jax.clear_caches()


def test_jit_vmap_jacfwd_and_temperature_scale():
  x = jnp.asarray(_data((4, 12), seed=6), jnp.float32)
  f = lambda a: softq.top_k(a, 3, temperature=0.2)[0]
  np.testing.assert_allclose(jax.vmap(f)(x), jax.jit(f)(x), rtol=1e-6)
  jf = jax.jacfwd(f)(x[0])
  jr = jax.jacrev(f)(x[0])
  np.testing.assert_allclose(jf, jr, rtol=1e-4, atol=1e-6)
  s = lambda a: softq.top_k(a, 3, temperature=0.1, temperature_scale="std")[0]
  np.testing.assert_allclose(s(5 * x), 5 * s(x), rtol=1e-5)
  # A new temperature compiles nothing new.
  g = _top_k(3)
  g(x, jnp.asarray(0.1))
  before = g._cache_size()
  g(x, jnp.asarray(0.7))
  assert g._cache_size() == before


def test_k_zero_n_and_errors():
  x = jnp.asarray(_data((2, 5)), jnp.float32)
  v, w = softq.top_k(x, 0, temperature=0.1)
  assert v.shape == (2, 0) and w.shape == (2, 0, 5)
  v, w = softq.top_k(x, 5, temperature=0.1)
  assert v.shape == (2, 5) and w.shape == (2, 5, 5)
  with pytest.raises(ValueError, match=r"top_k: k=6 is outside \[0, n\]"):
    softq.top_k(x, 6)
  with pytest.raises(ValueError, match=r"top_k: k=-1 is outside"):
    softq.top_k(x, -1)
  with pytest.raises(TypeError, match="top_k: k must be a static Python int"):
    softq.top_k(x, 2.5)
  with pytest.raises(ValueError, match="top_k: a must have at least one axis"):
    softq.top_k(jnp.float32(1.0), 1)
  with pytest.raises(ValueError, match="temperature"):
    softq.top_k(x, 2, temperature=-1.0)
  with pytest.raises(ValueError, match="valid algorithms are"):
    softq.top_k(x, 2, algorithm="remedian")
  with pytest.raises(TypeError, match="complex"):
    softq.top_k(x.astype(jnp.complex64), 2)
