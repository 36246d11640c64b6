"""Real weights: the soft value tends to its own ``temperature=0`` value (SPEC section 4).

No jump at 0, on every method and weighted algorithm, for random real
weights, exact cumulative-weight ties (dyadic weights), equal weights, zero
weights, ``q`` in 0 and 1 and levels whose ``q W`` sits just beside a
cumulative weight; for ``"inverted_cdf"`` both equal ``jnp.quantile(...,
weights=w, method="inverted_cdf")``.  Plus integer ``q`` through the public
API at ``temperature=0`` (it used to reach ``jnp.floor`` as an integer).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import softq
from softq._core import plan as plans

WEIGHTED = tuple(name for name, r in softq.REGISTRY.items()
                 if r.hard_limit == "jnp" and r.supports_weights)
METHODS = ("linear", "lower", "higher", "nearest", "midpoint", "inverted_cdf",
           "averaged_inverted_cdf")
N = 12
TINY = 1e-6      # the soft temperature, in units of each row's std
FIXED_Q = (0.0, 0.1, 0.37, 0.5, 0.9, 1.0)


def _draws():
  """Rows ``x (D, N)``, weights ``w (D, N)`` and per-row levels ``q (D, Q)``."""
  rng = np.random.default_rng(20)
  xs, ws = [], []
  for kind in ("uniform", "uniform", "small", "dyadic", "equal", "half", "zeros"):
    x = rng.standard_normal(N)
    if kind == "uniform":
      w = rng.uniform(0.1, 2.0, N)
    elif kind == "small":        # total weight below a few units: cells cut many values
      w = rng.uniform(0.05, 0.4, N)
    elif kind == "dyadic":       # exact ties between cumulative weights and k + 1/2, q W
      w = rng.integers(1, 8, N) / 4.0
    elif kind == "equal":
      w = np.full(N, 0.7)
    elif kind == "half":
      w = np.full(N, 0.5)
    else:                        # some zero weights (never on the minimum: see docs)
      w = rng.uniform(0.1, 2.0, N)
      w[rng.permutation(N)[:4]] = 0.0
      w[np.argmin(x)] = 1.3
    xs.append(x)
    ws.append(w)
  x, w = np.stack(xs), np.stack(ws)
  qs = []
  for xr, wr in zip(x, w):
    c = np.cumsum(wr[np.argsort(xr)])
    total = c[-1]
    j = [2, N // 2, N - 3]
    near = [(c[i] + d) / total for i in j for d in (-1e-3, 1e-3)]   # q W beside C_j
    exact = [c[i] / total for i in j]                                # q W on C_j
    qs.append(np.clip(np.array(list(FIXED_Q) + near + exact), 0.0, 1.0))
  return x, w, np.stack(qs)


X, W, Q = _draws()


@functools.lru_cache(maxsize=None)
def _soft(algorithm, method):
  def one(x, w, q, t):
    return softq.quantile(x, q, method=method, weights=w, temperature=t,
                          temperature_scale="std", algorithm=algorithm)
  return jax.jit(jax.vmap(one, in_axes=(0, 0, 0, None)))


def _hard(algorithm, method):
  return np.stack([softq.quantile(x, q, method=method, weights=w, temperature=0,
                                  algorithm=algorithm) for x, w, q in zip(X, W, Q)])


@pytest.mark.parametrize("algorithm", WEIGHTED)
@pytest.mark.parametrize("method", METHODS)
def test_soft_value_tends_to_the_temperature_zero_value(algorithm, method):
  soft = np.asarray(_soft(algorithm, method)(X, W, Q, TINY))
  hard = _hard(algorithm, method)
  std = X.std(axis=1, keepdims=True)
  np.testing.assert_allclose(soft, hard, rtol=0, atol=1e-7 * std.max())
  if method == "inverted_cdf":
    want = np.stack([jnp.quantile(x, q, weights=w, method="inverted_cdf")
                     for x, w, q in zip(X, W, Q)])
    np.testing.assert_array_equal(hard, want)


@pytest.mark.parametrize("algorithm", WEIGHTED)
@pytest.mark.parametrize("method", ("inverted_cdf", "linear"))
def test_no_jump_at_zero(algorithm, method):
  """The error falls to ~0 as tau falls: it does not stall at a wrong value."""
  f = _soft(algorithm, method)
  hard = _hard(algorithm, method)
  errs = [np.max(np.abs(np.asarray(f(X, W, Q, t)) - hard)) for t in 10.0 ** -np.arange(2, 8)]
  assert errs[-1] < 1e-9 * X.std(axis=1).max(), errs
  assert all(b <= a + 1e-12 for a, b in zip(errs, errs[1:])), errs


def test_soft_position_is_the_order_statistic_for_integer_weights():
  """Integer cumulative weights: the kernels aim at the repeated sample's position."""
  for c_lo, c_hi, p in ((3.0, 7.0, 4.5), (3.0, 4.0, 3.5), (0.0, 2.0, 0.0), (5.0, 9.0, 6.2),
                        (6.0, 8.0, 7.000000000000001)):
    centre = plans.cell_centre(p)
    assert float(plans.soft_position(centre, c_lo, c_hi)) == max(np.ceil(p) - 1, 0)
    g = jax.grad(plans.soft_position, argnums=(1, 2))(centre, c_lo, c_hi)
    assert g == (0.0, 0.0)        # no dependence on the weights
  assert float(plans.soft_position(3.0, 2.0, 4.0)) == 2.5   # a half-integer k stays
  # real weights: at least min(1/2, w_i / 2) inside the hard value's interval
  for c_lo, c_hi, p in ((1.5, 2.7, 2.5), (6.3, 7.000000000000001, 7.000000000000001),
                        (0.0, 0.3, 0.0), (2.2, 2.25, 2.21), (3.9, 9.0, 4.0)):
    k = float(plans.soft_position(plans.cell_centre(p), c_lo, c_hi))
    m = min(0.5, (c_hi - c_lo) / 2)
    assert c_lo + m - 1e-12 <= k + 0.5 <= c_hi - m + 1e-12


INT_Q = ((softq.quantile, 1), (softq.quantile, 0), (softq.quantile, [0, 1]),
         (softq.quantile, np.array([0, 1], np.int32)), (softq.percentile, 50),
         (softq.percentile, [25, 50, 100]), (softq.nanquantile, 1),
         (softq.nanpercentile, np.int64(50)), (softq.nanpercentile, [0, 75]))


@pytest.mark.parametrize("fn,q", INT_Q)
@pytest.mark.parametrize("method", ("linear", "inverted_cdf", "nearest"))
def test_integer_q(fn, q, method):
  x = jnp.arange(10.0).at[3].set(7.5)
  qf = np.asarray(q, np.float64)
  ref = getattr(np, fn.__name__)(np.asarray(x), qf, method=method)
  np.testing.assert_array_equal(fn(x, q, temperature=0, method=method), ref)
  np.testing.assert_allclose(fn(x, q, temperature=1e-3, method=method), ref, atol=1e-6)
  np.testing.assert_array_equal(fn(x, q, temperature=0, method=method, weights=jnp.ones(10)),
                                ref)


def test_integer_q_traced():
  x = jnp.arange(10.0)
  f = jax.jit(lambda q, t: softq.quantile(x, q, temperature=t))
  assert float(f(1, 0.0)) == 9.0
  g = jax.jit(lambda q: softq.percentile(x, q, temperature=0, method="inverted_cdf",
                                         weights=jnp.ones(10)))
  assert float(g(50)) == 4.0
  assert float(jax.jit(lambda q: softq.quantile(x, q, temperature=0))(jnp.int32(0))) == 0.0


@pytest.mark.parametrize("algorithm", ("sorted", "rank"))
def test_long_rows(algorithm):
  """Rows past the dense kernels' size: the O(n log n) evaluations, same limit."""
  rng = np.random.default_rng(21)
  n = 160
  x = rng.standard_normal((2, n))
  w = np.stack([rng.uniform(0.1, 2.0, n), rng.integers(1, 8, n) / 4.0])
  q = np.array([0.0, 0.013, 0.5, 0.77, 1.0])
  for method in ("inverted_cdf", "linear"):
    soft = softq.quantile(x, q, axis=1, method=method, weights=w, temperature=TINY,
                          temperature_scale="std", algorithm=algorithm)
    hard = softq.quantile(x, q, axis=1, method=method, weights=w, temperature=0,
                          algorithm=algorithm)
    np.testing.assert_allclose(soft, hard, rtol=0, atol=1e-7)
    if method == "inverted_cdf":
      np.testing.assert_array_equal(hard, jnp.quantile(x, q, axis=1, weights=w,
                                                       method=method))
