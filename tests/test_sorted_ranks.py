"""Soft ranks in O(n log n) (``softq._algorithms.rank.sorted``) against their dense definition.

The reference is the dense pair sums of ``"rank"`` computed in NumPy float64
(exact ``tanh``, ``sech^2``, soft abs; ``xi == xj`` gives ``u = 0``; an
infinite ``x_j`` adds ``w_j sign(x_i - x_j)`` to the sign sum only).  Above
``rank.DENSE_MAX`` values ``soft_ranks`` takes the sorted path: values on a
grid of temperatures 1e-4 .. 1e4 x std, float32 and float64, ties, +-inf,
real, zero (masked) and integer weights; gradients (``check_grads(order=2)``
and against autodiff of the dense path); extreme temperatures and scales;
the public API.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import softq
from softq._algorithms.rank import kernel as rank_algorithm
from softq._algorithms.rank import sorted as sorted_ranks
from softq._algorithms.base import Sample
from softq._core import numerics
from softq._core import recurrence
from softq._core import tanhsum

TAUS = tuple(10.0 ** np.arange(-4, 5))     # times the sample's std
# Errors per unit of total weight (ranks, ties) and relative (tau_rank).
TOL = {np.float32: (1e-5, 3e-5, 1e-5), np.float64: (1e-12, 1e-12, 1e-12)}


def dense_reference(x, w, tau, total):
  """``(ranks, ties, tau_rank)`` of ``rank.soft_ranks`` in NumPy float64, all pairs."""
  x = np.asarray(x, np.float64)
  w = np.asarray(w, np.float64)
  xi, xj = x[:, None], x[None, :]
  with np.errstate(invalid="ignore"):
    u = np.where(xi == xj, 0.0, xi - xj)
    fin = np.isfinite(u)
    r = np.clip(np.where(fin, u / tau, np.sign(u) * np.inf), -400.0, 400.0)
  s = np.sum(w * np.tanh(r), 1)
  c = np.sum(w / np.cosh(np.clip(r, -300.0, 300.0)) ** 2, 1)
  uf = np.where(fin, u, 0.0)
  sa = np.abs(uf) + tau * np.log1p(np.exp(-2.0 * np.abs(uf) / tau))
  wf = w * np.isfinite(x)
  pair_w = wf[None, :] * np.isfinite(x)[:, None]
  md = np.sum(w * np.sum(pair_w * sa, 1)) / max(np.sum(w * np.sum(pair_w, 1)), 1.0)
  gap = 3.0 * md / total
  tau_rank = tau / max(gap, numerics.tau_floor(np.float64))
  return 0.5 * (total + 1.0) + 0.5 * s, c, tau_rank


@functools.lru_cache(maxsize=None)
def _soft_ranks():
  return jax.jit(lambda x, w, t, total: rank_algorithm.soft_ranks(Sample(x, w, total), t))


def _sample(rng, n, kind):
  x = rng.standard_t(2, n) if kind != "normal" else rng.normal(size=n)
  x[: n // 8] = np.round(x[: n // 8])           # ties
  if kind == "inf":
    x[[3, 7, 11]] = [np.inf, -np.inf, np.inf]
  return x


def _check(x, w, dtype, taus=TAUS):
  assert x.shape[0] > rank_algorithm.DENSE_MAX
  W = float(np.sum(w))
  std = float(np.std(x[np.isfinite(x)]))
  f = _soft_ranks()
  tr, tt, tq = TOL[dtype]
  xd, wd = x.astype(dtype), w.astype(dtype)         # the reference sees the same inputs
  for tau in taus:
    t = float(np.asarray(tau * std, dtype))
    got = f(jnp.asarray(xd), jnp.asarray(wd), jnp.asarray(t, dtype), jnp.asarray(W, dtype))
    ranks, ties, tau_rank = (np.asarray(g, np.float64) for g in got)
    er, et, eq = dense_reference(xd, wd, t, W)
    msg = f"tau={tau:g} std, {np.dtype(dtype).name}"
    np.testing.assert_allclose(ranks, er, rtol=0, atol=tr * W, err_msg=msg)
    np.testing.assert_allclose(ties, et, rtol=0, atol=tt * W, err_msg=msg)
    np.testing.assert_allclose(tau_rank, eq, rtol=tq, err_msg=msg)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n,kind,weights", [
    (129, "normal", "ones"), (500, "inf", "real"), (500, "t", "ones")])
def test_values_match_the_dense_definition(dtype, n, kind, weights):
  rng = np.random.default_rng(n)
  x = _sample(rng, n, kind)
  w = np.ones(n) if weights == "ones" else rng.uniform(0.2, 3.0, n)
  if weights == "real":
    w[::13] = 0.0                                   # masked entries: scored, no weight
  _check(x, w, dtype)


@pytest.mark.parametrize("dtype", [np.float64])
def test_integer_weights_are_the_repeated_sample(dtype):
  rng = np.random.default_rng(7)
  x = _sample(rng, 200, "inf")
  w = rng.integers(0, 4, 200).astype(np.float64)
  _check(x, w, dtype, taus=(1e-3, 1e-1, 10.0))
  rep = np.repeat(x, w.astype(int))
  f = _soft_ranks()
  first = np.cumsum(w.astype(int)) - w.astype(int)   # a copy of each present entry
  present = w > 0
  for tau in (1e-3, 1e-1, 10.0):
    t = jnp.asarray(tau * np.std(x[np.isfinite(x)]), dtype)
    a = f(jnp.asarray(x, dtype), jnp.asarray(w, dtype), t, jnp.asarray(w.sum(), dtype))
    b = f(jnp.asarray(rep, dtype), jnp.ones(rep.shape, dtype), t, jnp.asarray(rep.size, dtype))
    tol = 1e-5 * rep.size if dtype == np.float32 else 1e-11 * rep.size
    np.testing.assert_allclose(np.asarray(a[0])[present], np.asarray(b[0])[first[present]],
                               atol=tol)
    np.testing.assert_allclose(np.asarray(a[1])[present], np.asarray(b[1])[first[present]],
                               atol=tol)
    np.testing.assert_allclose(a[2], b[2], rtol=1e-5 if dtype == np.float32 else 1e-11)


def test_fits_and_scan():
  t = np.linspace(0.0, 1.0, 20001)
  for M in tanhsum.TABLES["sign"]:
    for name, g in (("sign", 2 * t / (1 + t)), ("ties", 4 * t / (1 + t) ** 2)):
      stored = tanhsum.TABLES[name][M][0]     # the fit's error, plus float64 rounding
      assert np.max(np.abs(tanhsum.evaluate(name, M, g * 0 + t) - g)) <= 1.01 * stored + 2e-15
    a = tanhsum.coefficients("sign", M)
    m = np.arange(1, M + 1)
    np.testing.assert_allclose([a.sum(), (m * a).sum(), (m * m * a).sum()], [1.0, 0.5, 0.0],
                               atol=1e-12)
  rng = np.random.default_rng(0)
  a, b = rng.uniform(0, 1, (2, 1, 3, 50)), rng.normal(size=(2, 4, 3, 50))
  y, ref = np.zeros((2, 4, 3)), []
  for i in range(50):
    y = a[..., i] * y + b[..., i]
    ref.append(y)
  size = recurrence.block_size(50)

  def linrec(a, b):   # along the last axis, through the blocked layout
    a = jnp.broadcast_to(a, b.shape)
    laid = recurrence.linrec_arrays(recurrence.to_layout(a, size), recurrence.to_layout(b, size))
    return recurrence.from_layout(laid, 50)

  np.testing.assert_allclose(jax.jit(linrec)(a, b), np.stack(ref, -1), atol=1e-13)


@pytest.fixture
def small_fast_path(monkeypatch):
  """The sorted path from 9 values on (small enough for numerical differences)."""
  jax.clear_caches()
  monkeypatch.setattr(rank_algorithm, "DENSE_MAX", 8)
  yield
  jax.clear_caches()


def test_check_grads_order_2(small_fast_path):
  del small_fast_path
  rng = np.random.default_rng(3)
  x = jnp.asarray(rng.normal(size=12))
  w = jnp.asarray(rng.uniform(0.5, 2.0, 12))

  def f(x, w, t):
    ranks, ties, tau_rank = rank_algorithm.soft_ranks(Sample(x, w, 12.0), t)
    return ranks, ties, tau_rank

  # Second order in forward mode (the rule differentiated by autodiff), first
  # order in reverse (the rule's tangent transposed); both together cost ~35 s.
  f = jax.jit(f)
  check_grads(f, (x, w, jnp.asarray(0.4)), order=2, modes=("fwd",))
  check_grads(f, (x, w, jnp.asarray(0.4)), order=1, modes=("rev",))


def test_gradients_match_autodiff_of_the_dense_path(monkeypatch):
  rng = np.random.default_rng(4)
  x = _sample(rng, 160, "inf")
  w = rng.uniform(0.2, 2.0, 160)
  coef = jnp.asarray(rng.normal(size=(2, 160)))

  def loss(x, w, t):
    ranks, ties, tau_rank = rank_algorithm.soft_ranks(Sample(x, w, jnp.sum(w)), t)
    return jnp.sum(coef[0] * ranks) + jnp.sum(coef[1] * ties) + tau_rank

  taus = (1e-3, 0.3, 30.0)
  args = [(jnp.asarray(x), jnp.asarray(w), jnp.asarray(t)) for t in taus]
  grad = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))
  fast = [grad(*a) for a in args]
  d = (jnp.asarray(rng.normal(size=160)), jnp.asarray(rng.normal(size=160)), jnp.asarray(0.3))
  _, jv = jax.jit(lambda *a: jax.jvp(loss, a, d))(*args[1])   # forward mode = reverse
  np.testing.assert_allclose(jv, sum(jnp.sum(g * v) for g, v in zip(fast[1], d)), rtol=1e-9)
  jax.clear_caches()
  monkeypatch.setattr(rank_algorithm, "DENSE_MAX", 10**9)
  grad = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))
  for tau, a, got in zip(taus, args, fast):
    for g, want in zip(got, grad(*a)):
      np.testing.assert_allclose(g, want, rtol=0, atol=1e-9 * float(np.max(np.abs(want))),
                                 err_msg=f"tau={tau}")
  jax.clear_caches()


@pytest.mark.parametrize("dtype", [np.float32])
def test_extreme_temperatures_and_scales_are_finite(dtype):
  rng = np.random.default_rng(5)
  base = _sample(rng, 200, "inf")

  def f(x, t):
    return softq.median(x, algorithm="rank", temperature=t)

  vg = jax.jit(jax.value_and_grad(f, argnums=(0, 1)))
  for scale in (1e-30, 1.0, 1e30):
    for tau in (1e-30, 1.0, 1e30):
      x = jnp.asarray(base * scale, dtype)
      v, (gx, gt) = vg(x, jnp.asarray(tau, dtype))
      for a in (v, gx, gt):
        assert np.all(np.isfinite(np.asarray(a))), (scale, tau)


def test_sixteen_bit_inputs_compute_in_float32():
  x = jnp.asarray(np.random.default_rng(6).normal(size=150), jnp.bfloat16)
  r = softq.rank(x, temperature=0.01)
  assert r.dtype == jnp.bfloat16
  np.testing.assert_allclose(np.asarray(r, np.float32),
                             softq.rank(x.astype(jnp.float32), temperature=0.01), atol=0.5)


def test_public_api_above_the_threshold(monkeypatch):
  rng = np.random.default_rng(8)
  x = _sample(rng, 300, "t")
  std = float(np.std(x))
  xj = jnp.asarray(x)
  q = jnp.asarray([0.1, 0.5, 0.9])
  rank_fn = jax.jit(lambda x, t: softq.rank(x, temperature=t))
  quant_fn = jax.jit(lambda x, t: softq.quantile(x, q, algorithm="rank", temperature=t))
  taus = (1e-3 * std, 0.1 * std, 10.0 * std)
  fast = [(rank_fn(xj, t), quant_fn(xj, t)) for t in taus]
  for t, (r, _) in zip(taus, fast):
    np.testing.assert_allclose(r, dense_reference(x, np.ones(300), t, 300.0)[0], atol=1e-10)
  jax.clear_caches()
  monkeypatch.setattr(rank_algorithm, "DENSE_MAX", 10**9)
  for t, got in zip(taus, fast):
    want = (rank_fn(xj, t), quant_fn(xj, t))
    for a, b in zip(got, want):
      np.testing.assert_allclose(a, b, atol=1e-10 * std)
  jax.clear_caches()
