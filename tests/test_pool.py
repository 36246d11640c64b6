"""Tests of softq.median_pool / softq.quantile_pool against NumPy sliding windows."""

import itertools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import softq


# --------------------------------------------------------------------------
# NumPy reference: explicit loops over windows, padding as NaN (ignored)
# --------------------------------------------------------------------------

def _np_pads(spatial, window, strides, padding):
  if padding == "VALID":
    return [(0, 0)] * len(spatial)
  if padding == "SAME":
    pads = []
    for size, w, s in zip(spatial, window, strides):
      out = -(-size // s)
      total = max((out - 1) * s + w - size, 0)
      pads.append((total // 2, total - total // 2))
    return pads
  return [tuple(p) for p in padding]


def np_quantile_pool(x, q, window, strides=None, padding="VALID", method="linear"):
  """``(*batch, *spatial, C)`` -> NumPy ``nanquantile`` of every window."""
  x = np.asarray(x, np.float64)
  nd = len(window)
  strides = strides or (1,) * nd
  nb = x.ndim - nd - 1
  pads = _np_pads(x.shape[nb:-1], window, strides, padding)
  xp = np.pad(x, [(0, 0)] * nb + list(pads) + [(0, 0)], constant_values=np.nan)
  padded = xp.shape[nb:-1]
  out_sp = [(p - w) // s + 1 for p, w, s in zip(padded, window, strides)]
  out = np.empty(np.shape(q) + x.shape[:nb] + tuple(out_sp) + x.shape[-1:])
  for o in itertools.product(*[range(n) for n in out_sp]):
    sl = tuple(slice(i * s, i * s + w) for i, s, w in zip(o, strides, window))
    win = xp[(Ellipsis,) + sl + (slice(None),)]             # (*batch, *window, C)
    win = win.reshape(x.shape[:nb] + (-1,) + x.shape[-1:])
    # jnp's "nearest" rounds half down, NumPy's half to even: the hard limit
    # is jnp's (SPEC section 4), so that one method is referenced to jnp.
    nanq = (lambda *a, **k: np.asarray(jnp.nanquantile(*a, **k))) if method == "nearest" \
        else np.nanquantile
    out[(Ellipsis,) + tuple(o) + (slice(None),)] = nanq(win, q, axis=nb, method=method)
  return out


def np_median_pool(x, window, strides=None, padding="VALID"):
  return np_quantile_pool(x, 0.5, window, strides, padding)


def _data(shape, seed=0):
  return np.random.default_rng(seed).normal(size=shape)


CASES = [
    # (shape, window, strides, padding)
    ((2, 7, 6, 3), (3, 3), None, "VALID"),
    ((2, 7, 6, 3), (3, 3), None, "SAME"),
    ((2, 7, 6, 3), (2, 2), (2, 2), "VALID"),
    ((2, 7, 6, 3), (3, 2), (2, 3), "SAME"),
    ((2, 7, 6, 3), (3, 3), (1, 2), ((1, 2), (0, 1))),
    ((7, 6, 3), (3, 3), (2, 2), "SAME"),                    # no batch
    ((2, 2, 7, 6, 1), (2, 3), None, "SAME"),                # two batch dims
    ((3, 9, 2), (4,), (2,), "SAME"),                        # 1-D
    ((1, 4, 5, 4, 2), (2, 3, 2), (1, 2, 1), "VALID"),       # 3-D
]


# --------------------------------------------------------------------------
# hard limit and small temperatures
# --------------------------------------------------------------------------

@pytest.mark.parametrize("shape,window,strides,padding", CASES)
def test_median_pool_hard_limit(shape, window, strides, padding):
  x = _data(shape)
  got = softq.median_pool(x, window, strides, padding, temperature=0)
  want = np_median_pool(x, window, strides, padding)
  assert got.shape == want.shape
  np.testing.assert_allclose(np.asarray(got), want, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("shape,window,strides,padding", CASES[:6])
@pytest.mark.parametrize("algorithm", ["deviation", "rank"])
def test_median_pool_small_temperature(shape, window, strides, padding, algorithm):
  x = _data(shape, seed=1)
  got = softq.median_pool(x, window, strides, padding, temperature=1e-4,
                          algorithm=algorithm)
  want = np_median_pool(x, window, strides, padding)
  np.testing.assert_allclose(np.asarray(got), want, atol=2e-3)


@pytest.mark.parametrize("method", ["linear", "lower", "higher", "nearest", "midpoint",
                                    "inverted_cdf"])
@pytest.mark.parametrize("padding", ["VALID", "SAME"])
def test_quantile_pool_methods_hard_limit(method, padding):
  x = _data((2, 6, 5, 2), seed=2)
  q = np.array([0.0, 0.2, 0.5, 0.9, 1.0])
  got = softq.quantile_pool(x, q, (3, 2), (1, 2), padding, method=method, temperature=0)
  want = np_quantile_pool(x, q, (3, 2), (1, 2), padding, method=method)
  assert got.shape == want.shape == (5, 2) + want.shape[2:]
  np.testing.assert_allclose(np.asarray(got), want, rtol=1e-13, atol=1e-13)


def test_quantile_pool_small_temperature_vector_q():
  x = _data((2, 6, 6, 2), seed=3)
  q = np.array([0.1, 0.5, 0.75])
  got = softq.quantile_pool(x, q, (3, 3), None, "SAME", temperature=1e-4)
  want = np_quantile_pool(x, q, (3, 3), None, "SAME")
  np.testing.assert_allclose(np.asarray(got), want, atol=2e-3)


@pytest.mark.parametrize("padding", ["VALID", "SAME", ((2, 0), (1, 1))])
def test_quantile_one_is_lax_max_pool(padding):
  """q = 1 in the hard limit is max pooling with lax.reduce_window's conventions."""
  x = _data((2, 7, 6, 3), seed=4)
  got = softq.quantile_pool(x, 1.0, (3, 2), (2, 1), padding, temperature=0)
  want = jax.lax.reduce_window(jnp.asarray(x), -jnp.inf, jax.lax.max, (1, 3, 2, 1),
                               (1, 2, 1, 1),
                               padding if isinstance(padding, str)
                               else ((0, 0),) + padding + ((0, 0),))
  np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_large_temperature_is_window_mean_over_valid_entries():
  x = _data((1, 5, 5, 2), seed=5)
  got = softq.median_pool(x, (3, 3), None, "SAME", temperature=1e5)
  xp = np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)], constant_values=np.nan)
  want = np.empty_like(x)
  for i, j in itertools.product(range(5), range(5)):
    want[0, i, j] = np.nanmean(xp[0, i:i + 3, j:j + 3].reshape(-1, 2), axis=0)
  np.testing.assert_allclose(np.asarray(got), want, atol=1e-3)


def test_salt_noise_is_ignored_by_median_not_by_max():
  x = np.zeros((1, 6, 6, 1))
  x[0, 2, 3, 0] = 100.0                                    # one hot pixel
  med = softq.median_pool(x, (3, 3), None, "SAME", temperature=0.01)
  mx = softq.quantile_pool(x, 1.0, (3, 3), None, "SAME", temperature=0)
  assert float(jnp.max(jnp.abs(med))) < 1e-6
  assert int(jnp.sum(mx > 50)) == 9


# --------------------------------------------------------------------------
# jit, retracing, dtypes
# --------------------------------------------------------------------------

def test_jit_matches_eager_and_no_retrace():
  x = jnp.asarray(_data((2, 6, 6, 2), seed=6))

  @jax.jit
  @chex.assert_max_traces(n=1)
  def f(x, t):
    return softq.median_pool(x, (3, 3), (2, 2), "SAME", temperature=t)

  for t in (0.3, 0.05, 1.7):
    np.testing.assert_allclose(
        np.asarray(f(x, t)),
        np.asarray(softq.median_pool(x, (3, 3), (2, 2), "SAME", temperature=t)),
        rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float16, jnp.bfloat16])
def test_dtypes(dtype):
  x = jnp.asarray(_data((1, 5, 5, 2), seed=7), dtype)
  for t in (0, 0.1):
    y = softq.median_pool(x, (2, 2), padding="SAME", temperature=t)
    assert y.dtype == dtype
    assert bool(jnp.all(jnp.isfinite(y)))
  np.testing.assert_allclose(
      np.asarray(softq.median_pool(x, (2, 2), padding="SAME", temperature=0), np.float64),
      np_median_pool(np.asarray(x, np.float64), (2, 2), padding="SAME"), rtol=1e-2,
      atol=1e-2)


def test_integer_input_is_promoted():
  x = np.arange(16).reshape(1, 4, 4, 1)
  y = softq.median_pool(x, (2, 2), temperature=0)
  assert jnp.issubdtype(y.dtype, jnp.floating)
  np.testing.assert_array_equal(np.asarray(y), np_median_pool(x, (2, 2)))


def test_vmap_matches_batch_axis():
  x = jnp.asarray(_data((3, 5, 5, 2), seed=8))
  f = lambda im: softq.median_pool(im, (3, 3), padding="SAME", temperature=0.2)
  np.testing.assert_allclose(np.asarray(jax.vmap(f)(x)), np.asarray(f(x)), rtol=1e-12)


# --------------------------------------------------------------------------
# gradients
# --------------------------------------------------------------------------

# Order 2 (forward and reverse) on the unmasked (VALID) path, order 1 on the
# masked (SAME) path: second derivatives through the masked path take ~1 min to
# compile on a 2-core CPU.
@pytest.mark.parametrize("padding,order", [("VALID", 2), ("SAME", 1)])
@pytest.mark.parametrize("algorithm", ["deviation", "rank"])
def test_check_grads_inputs(padding, order, algorithm):
  x = jnp.asarray(_data((1, 4, 3, 2), seed=9))
  f = jax.jit(lambda x: softq.median_pool(x, (2, 2), (1, 1), padding, temperature=0.5,
                                          algorithm=algorithm))
  check_grads(f, (x,), order=order, modes=("fwd", "rev"), atol=1e-5, rtol=1e-5)


def test_check_grads_quantile_pool_and_temperature():
  x = jnp.asarray(_data((1, 4, 4, 1), seed=10))
  f = jax.jit(lambda x, t: softq.quantile_pool(x, 0.3, (3, 3), (2, 2), "VALID",
                                               temperature=t))
  check_grads(f, (x, jnp.asarray(0.4)), order=1, modes=("fwd", "rev"), atol=1e-5,
              rtol=1e-5)


def test_learnable_temperature_gradient():
  x = jnp.asarray(_data((2, 8, 8, 3), seed=11))
  target = jnp.asarray(np_median_pool(np.asarray(x), (3, 3), (2, 2), "SAME"))

  def loss(log_t):
    y = softq.median_pool(x, (3, 3), (2, 2), "SAME", temperature=jnp.exp(log_t))
    return jnp.mean((y - target) ** 2)

  g = jax.jit(jax.grad(loss))(jnp.log(0.5))
  assert np.isfinite(float(g)) and float(g) > 0   # cooler is closer to the hard median
  # One temperature per feature: broadcasts against (..., features).
  t_feat = jnp.array([0.1, 0.5, 2.0])
  gf = jax.grad(lambda t: softq.median_pool(x, (3, 3), temperature=t).sum())(t_feat)
  assert gf.shape == (3,) and bool(jnp.all(jnp.isfinite(gf)))
  # Temperatures are per feature: feature 0 alone matches a scalar temperature.
  y = softq.median_pool(x, (3, 3), temperature=t_feat)
  y0 = softq.median_pool(x[..., :1], (3, 3), temperature=0.1)
  np.testing.assert_allclose(np.asarray(y[..., :1]), np.asarray(y0), rtol=1e-12)


def test_gradient_finite_at_tiny_temperature_and_hard_gradient():
  x = jnp.asarray(_data((1, 5, 5, 1), seed=12))
  for t in (1e-30, 1e-8, 1e30):
    g = jax.grad(lambda x: softq.median_pool(x, (3, 3), padding="SAME",
                                             temperature=t).sum())(x)
    assert bool(jnp.all(jnp.isfinite(g)))
  # At temperature 0 each window routes its gradient to its median element:
  # total gradient mass = number of windows.
  g0 = jax.grad(lambda x: softq.median_pool(x, (3, 3), temperature=0).sum())(x)
  np.testing.assert_allclose(float(g0.sum()), 9.0)


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,match", [
    (dict(window_shape=(3, 3), padding="FULL"), "padding"),
    (dict(window_shape=(3, 3), padding=((1, 1),)), "padding has 1 pairs"),
    (dict(window_shape=(3, 3), padding=((-1, 1), (0, 0))), ">= 0"),
    (dict(window_shape=(3, 3), strides=(1,)), "strides has 1 entries"),
    (dict(window_shape=(0, 3)), ">= 1"),
    (dict(window_shape=(3, 3, 3, 3)), "spatial"),
])
def test_errors(kwargs, match):
  x = np.zeros((5, 5, 2))
  with pytest.raises(ValueError, match=match):
    softq.median_pool(x, **kwargs)


def test_type_errors_and_keyword_only():
  with pytest.raises(TypeError):
    softq.median_pool(np.zeros((5, 5, 2)), 3)
  with pytest.raises(TypeError):
    softq.median_pool(np.zeros((5, 5, 2), complex), (2, 2))
  with pytest.raises(TypeError):
    softq.median_pool(np.zeros((5, 5, 2)), (2, 2), None, "VALID", 0.1)  # pylint: disable=too-many-function-args
  with pytest.raises(ValueError, match="temperature"):
    softq.median_pool(np.zeros((5, 5, 2)), (2, 2), temperature=-1.0)
  with pytest.raises(ValueError, match=r"q must lie"):
    softq.quantile_pool(np.zeros((5, 5, 2)), 1.5, (2, 2))
