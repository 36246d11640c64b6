"""softq.top_k_mask: the soft top-k membership mask (SPEC section 7).

Hard limit against ``lax.top_k``'s one-hot (and the tie-sharing rule computed
here in NumPy), the mask summing to ``k`` at every temperature (hypothesis),
gradients (``check_grads`` order 2 in float64, forward and reverse, with
respect to the data, ``k`` and the temperature), jit / vmap / jacfwd,
extreme temperatures and dtypes, infinities and NaN, ``where=``, no
recompilation for new ``k`` or temperatures, and the errors.
"""


import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st
from jax.test_util import check_grads

import softq
from _compiles import count_compiles

MASK = jax.jit(lambda x, k, t: softq.top_k_mask(x, k, temperature=t))
MASK_AXIS0 = jax.jit(lambda x, k, t: softq.top_k_mask(x, k, axis=0, temperature=t))


def hard_reference(x, k):
  """1 on the k largest, ties at the boundary sharing what is left (NumPy)."""
  x = np.asarray(x, np.float64)
  above = (x[None, :] > x[:, None]).sum(1)
  equal = (x[None, :] == x[:, None]).sum(1)
  return np.clip(k - above, 0, equal) / equal


@pytest.mark.parametrize("k", [0, 1, 3, 8])
def test_hard_limit_is_lax_top_k_one_hot(k):
  x = jnp.asarray(np.random.default_rng(k).standard_normal((4, 8)), jnp.float32)
  _, idx = jax.lax.top_k(x, k)
  want = jnp.zeros_like(x).at[jnp.arange(4)[:, None], idx].set(1.0)
  np.testing.assert_array_equal(softq.top_k_mask(x, k, temperature=0), want)
  # the soft mask tends to it
  np.testing.assert_allclose(MASK(x, k, 1e-6), want, atol=1e-5)


def test_hard_limit_ties_and_real_k():
  x = jnp.array([1.0, 2.0, 2.0, 3.0, 0.0, 2.0])
  for k in (0.0, 1.0, 2.0, 2.5, 3.7, 4.0, 5.5, 6.0):
    want = hard_reference(x, k)
    np.testing.assert_allclose(softq.top_k_mask(x, k, temperature=0), want, rtol=1e-6)
    np.testing.assert_allclose(MASK(x, k, 1e-7), want, atol=1e-5)
    np.testing.assert_allclose(float(jnp.sum(softq.top_k_mask(x, k, temperature=0))), k,
                               rtol=1e-6)


def test_signed_zeros_tie_and_extreme_magnitudes():
  # the values are sorted as integer keys: -0.0 and 0.0 must still tie
  x = jnp.array([0.0, -0.0, 1.0, -3e38, 1e-30, -1e-30], jnp.float32)   # (XLA:CPU flushes subnormals)
  for k in (2.0, 3.5, 5.0):
    want = hard_reference(np.asarray(x), k)
    np.testing.assert_allclose(softq.top_k_mask(x, k, temperature=0), want, rtol=1e-6)
    np.testing.assert_allclose(MASK(x, k, 1e-34), want, atol=1e-6)   # gaps of 1e4 tau


def test_axis_and_batch_shapes():
  x = np.random.default_rng(1).standard_normal((5, 3, 4))
  m = MASK_AXIS0(x, 2.5, 0.3)
  assert m.shape == x.shape
  np.testing.assert_allclose(m.sum(0), 2.5, rtol=1e-12)
  m = softq.top_k_mask(x, 5.0, axis=(0, 2), temperature=0.3)
  np.testing.assert_allclose(m.sum((0, 2)), 5.0, rtol=1e-12)
  m = softq.top_k_mask(x, 7.0, axis=None, temperature=0)
  assert m.sum() == 7.0
  # one k and one temperature per slice
  m = softq.top_k_mask(x, np.array([[1.0], [2.0], [3.5]]), temperature=np.array([0.1, 1, 10])[:, None])
  np.testing.assert_allclose(m.sum(-1), np.broadcast_to([1.0, 2.0, 3.5], (5, 3)), rtol=1e-12)


MASK_WHERE = jax.jit(lambda x, k, t, w: softq.top_k_mask(x, k, temperature=t, where=w))


@given(n=st.integers(1, 40), seed=st.integers(0, 2**31 - 1),
       log_tau=st.floats(-30, 30), frac=st.floats(0, 1), ties=st.booleans())
def test_mask_in_unit_interval_and_sums_to_k(n, seed, log_tau, frac, ties):
  # One compiled program: rows of 40 values, the first n kept (where=).
  rng = np.random.default_rng(seed)
  x = rng.standard_normal(40) * 10.0 ** rng.uniform(-5, 5)
  if ties:
    x = np.round(x / np.std(x))
  keep = np.arange(40) < n
  k = frac * n
  for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-5)):
    m = np.asarray(MASK_WHERE(jnp.asarray(x, dtype), jnp.asarray(k, dtype),
                              jnp.asarray(10.0 ** log_tau, dtype), keep), np.float64)
    assert np.all(m >= 0) and np.all(m <= 1) and np.all(m[~keep] == 0)
    np.testing.assert_allclose(m.sum(), k, rtol=tol, atol=tol * n)


def test_monotone_in_the_data_order_and_permutation_equivariant():
  x = np.random.default_rng(2).standard_normal(20)
  m = np.asarray(MASK(x, 4.3, 0.2))
  order = np.argsort(x)
  assert np.all(np.diff(m[order]) >= -1e-15)
  perm = np.random.default_rng(3).permutation(20)
  np.testing.assert_allclose(MASK(x[perm], 4.3, 0.2), m[perm], rtol=1e-12)
  # large temperature: uniform k / n
  np.testing.assert_allclose(MASK(x, 4.3, 1e12), np.full(20, 4.3 / 20), rtol=1e-9)


def test_gradients_float64_order_2():
  x = jnp.asarray(np.random.default_rng(4).standard_normal(6))
  check_grads(lambda v, k, t: MASK(v, k, t), (x, 2.5, 0.4), order=2, modes=("rev",))
  check_grads(lambda v, k, t: MASK(v, k, t), (x, 2.5, 0.4), order=1, modes=("fwd",))


def test_implicit_gradient_matches_the_definition():
  # d/dk sum(m) = 1, sum of d m / d x_j over j = 0 (translation invariance)
  x = jnp.asarray(np.random.default_rng(5).standard_normal(9))
  jk = jax.jacfwd(lambda k: MASK(x, k, 0.3))(3.2)
  np.testing.assert_allclose(jk.sum(), 1.0, rtol=1e-12)
  jx = jax.jacrev(lambda v: MASK(v, 3.2, 0.3))(x)
  np.testing.assert_allclose(jx.sum(1), 0.0, atol=1e-12)
  np.testing.assert_allclose(jx.sum(0), 0.0, atol=1e-12)   # sum stays k
  np.testing.assert_allclose(jax.jacfwd(lambda v: MASK(v, 3.2, 0.3))(x), jx, atol=1e-12)
  # scale equivariance: m(c x, c tau) = m(x, tau) => x.dm/dx + tau dm/dtau = 0
  dtau = jax.jacfwd(lambda t: MASK(x, 3.2, t))(0.3)
  np.testing.assert_allclose(jx @ x + 0.3 * dtau, 0.0, atol=1e-10)


def test_vmap_matches_a_loop_and_grad_wrt_k_and_temperature_under_jit():
  x = jnp.asarray(np.random.default_rng(6).standard_normal((3, 7)))
  ks = jnp.array([1.0, 2.5, 6.0])
  got = jax.vmap(lambda v, k: softq.top_k_mask(v, k, temperature=0.2))(x, ks)
  want = np.stack([np.asarray(MASK(x[i], ks[i], 0.2)) for i in range(3)])
  np.testing.assert_allclose(got, want, rtol=1e-12)
  loss = jax.jit(jax.grad(lambda k, t: jnp.sum(MASK(x, k, t) * x), argnums=(0, 1)))
  gk, gt = loss(2.5, 0.3)
  assert np.isfinite(gk) and np.isfinite(gt) and gk > 0


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16, jnp.float32, jnp.float64])
@pytest.mark.parametrize("tau", [1e-30, 1e-3, 1e30])
def test_extreme_temperatures_and_dtypes(dtype, tau):
  x = jnp.asarray(np.random.default_rng(7).standard_normal(12), dtype)
  m = MASK(x, 4.5, tau)
  assert m.dtype == dtype
  np.testing.assert_allclose(np.asarray(m, np.float64).sum(), 4.5,
                             rtol=2e-2 if jnp.finfo(dtype).bits == 16 else 1e-5)
  # A value on the boundary (k = 4.5) has d m / d x ~ 1 / (4 tau): beyond
  # float16's range below tau ~ 1e-5 (documented); an integer k has none.
  k = 4.0 if dtype == jnp.float16 and tau < 1e-5 else 4.5
  g = jax.grad(lambda v, t: jnp.sum(MASK(v, k, t).astype(jnp.float32) * jnp.arange(12.0)),
               argnums=(0, 1))(x, jnp.asarray(tau, jnp.float32))
  assert all(np.all(np.isfinite(np.asarray(a, np.float32))) for a in g)


def test_infinities_nan_and_where():
  inf = np.inf
  x = jnp.array([1.0, inf, inf, 3.0, -inf])
  np.testing.assert_allclose(MASK(x, 1.0, 0.1), [0, 0.5, 0.5, 0, 0])
  np.testing.assert_allclose(MASK(x, 4.5, 0.1), [1, 1, 1, 1, 0.5])
  np.testing.assert_allclose(softq.top_k_mask(x, 3.0, temperature=0), [0, 1, 1, 1, 0])
  m = MASK(x, 2.6, 0.5)
  np.testing.assert_allclose(m.sum(), 2.6, rtol=1e-12)
  g = jax.grad(lambda v: jnp.sum(MASK(v, 2.6, 0.5) * jnp.arange(5.0)))(x)
  assert np.all(np.isfinite(g))
  rows = jnp.array([[1.0, np.nan, 3.0], [1.0, 2.0, 3.0]])
  m = MASK(rows, 1.0, 0.1)
  assert np.all(np.isnan(m[0])) and np.all(np.isfinite(m[1]))
  # masked entries get 0; k counts the kept ones; a masked NaN is ignored
  where = jnp.array([[True, False, True], [True, True, False]])
  m = softq.top_k_mask(rows, 1.5, temperature=0.2, where=where)
  np.testing.assert_array_equal(m[~where], 0.0)
  np.testing.assert_allclose(m.sum(-1), 1.5, rtol=1e-12)
  np.testing.assert_allclose(softq.top_k_mask(rows, 1.0, temperature=0, where=where),
                             [[0, 0, 1], [0, 1, 0]])


def test_new_k_and_temperature_never_compile():
  x = jnp.asarray(np.random.default_rng(8).standard_normal(10))
  softq.top_k_mask(x, 2.0, temperature=0.5)
  MASK(x, 2.0, 0.5)
  with count_compiles() as events:
    for i, k in enumerate((0.5, 3.0, 7.25)):
      softq.top_k_mask(x, k, temperature=0.1 * (i + 1))
      MASK(x, k, 10.0 ** i)
  assert not events, events


def test_errors():
  x = jnp.ones((2, 4))
  with pytest.raises(ValueError, match=r"top_k_mask: k must lie in \[0, n\] = \[0, 4\]"):
    softq.top_k_mask(x, 5)
  with pytest.raises(ValueError, match="k must lie"):
    softq.top_k_mask(x, -0.5)
  with pytest.raises(ValueError, match="k must lie"):
    softq.top_k_mask(x, np.nan)
  with pytest.raises(ValueError, match="temperature"):
    softq.top_k_mask(x, 1, temperature=-1.0)
  with pytest.raises(ValueError, match="out of bounds"):
    softq.top_k_mask(x, 1, axis=2)
  with pytest.raises(ValueError, match="empty"):
    softq.top_k_mask(jnp.ones((2, 0)), 0)
  with pytest.raises(ValueError, match="where"):
    softq.top_k_mask(x, 1, where=jnp.ones(3, bool))
  with pytest.raises(ValueError, match="temperature_scale"):
    softq.top_k_mask(x, 1, temperature_scale="iqr")
  with pytest.raises(TypeError, match="complex"):
    softq.top_k_mask(x.astype(jnp.complex64), 1)
  with pytest.raises(TypeError):
    softq.top_k_mask(x, 1, 0.1)   # temperature is keyword-only: 0.1 is not an axis


def test_temperature_scale():
  x = np.random.default_rng(9).standard_normal(15)
  for scale in ("std", "mad"):
    f = lambda v, scale=scale: softq.top_k_mask(v, 4.0, temperature=0.1,
                                                  temperature_scale=scale)
    np.testing.assert_allclose(f(1000.0 * x + 3.0), f(x), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(f(x).sum(), 4.0, rtol=1e-12)


def test_checkpoint_and_scan():
  x = jnp.asarray(np.random.default_rng(10).standard_normal(8))

  def body(carry, tau):
    m = jax.checkpoint(lambda v: softq.top_k_mask(v, 3.0, temperature=tau))(carry)
    return carry + 0.1 * m, m.sum()
  g = jax.grad(lambda v: jnp.sum(jax.lax.scan(body, v, jnp.array([1.0, 0.3, 0.1]))[0] ** 2))(x)
  assert np.all(np.isfinite(g))
  _, sums = jax.lax.scan(body, x, jnp.array([1.0, 0.3, 0.1]))
  np.testing.assert_allclose(sums, 3.0, rtol=1e-12)
