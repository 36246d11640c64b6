"""Tests for the soft remedian (SPEC section 5)."""

import functools
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import softq


# --------------------------------------------------------------------------
# plain NumPy reference
# --------------------------------------------------------------------------

def _ref_block(bv, bc, first, p):
  """Weighted median of one block: the value whose cumulative weight interval
  holds k + 1/2 (mixed as jnp.median mixes two middle copies); the first
  level takes the order statistic of level p by (virtual) padding."""
  total = bc.sum()
  order = np.argsort(bv, kind="stable")
  sv, cum = bv[order], np.cumsum(bc[order])
  at = lambda k: sv[min(np.searchsorted(cum, k + 0.5, side="right"), len(sv) - 1)]
  if first and p != 0.5:
    h = min(max((total - 1) / 2 + (p - 0.5) * (total + 1 / 3), 0.0), total - 1)
  else:
    h = max((total - 1) / 2, 0.0)
  lo, hi = np.floor(h), np.ceil(h)
  return (at(lo) if lo == hi else (1 - (h - lo)) * at(lo) + (h - lo) * at(hi)), total


def _ref_levels(v, c, b, p, interleaved):
  """Levels of blocks until one value is left: consecutive blocks, or
  interleaved ones (a level of m entries has M = ceil(m / b) blocks, block j
  holding entries j, j + M, j + 2M, ...)."""
  first = True
  while first or len(v) > 1:
    m = len(v)
    n_blocks = -(-m // b)
    take = (lambda j: slice(j, None, n_blocks)) if interleaved else (
        lambda j: slice(j * b, j * b + b))
    out = [_ref_block(v[take(j)], c[take(j)], first, p) for j in range(n_blocks)]
    v, c = np.array([o[0] for o in out]), np.array([o[1] for o in out])
    first = False
  return v[0], c[0]


def _ref_values(x, weights):
  v = np.asarray(x, np.float64).ravel()
  c = np.ones_like(v) if weights is None else np.asarray(weights, np.float64).ravel()
  return v[c > 0], c[c > 0]


def ref_consecutive(x, b, p=0.5, weights=None):
  """The weighted remedian of consecutive blocks (Rousseeuw and Bassett): the
  streaming remedian's definition."""
  return _ref_levels(*_ref_values(x, weights), b, p, interleaved=False)[0]


def ref_remedian(x, b, p=0.5, weights=None):
  """The one-shot remedian's hard limit (docs/remedian.md), on one device.

  Zero weights dropped; n = q C + rem values (C: the largest power of b not
  above 2**14): the partial segment takes every s-th value from s // 2 on
  (s = n // rem); the others, in order, are dealt out in rows of q, one to
  each full segment.  Each segment, then the segment roots (carrying their
  weights), are reduced by interleaved blocks.
  """
  v, c = _ref_values(x, weights)
  seg = b
  while seg * b <= 1 << 14:
    seg *= b
  q, rem = divmod(len(v), seg)
  members = []
  if rem:
    s = len(v) // rem
    partial = np.arange(rem) * s + s // 2
    rest = np.setdiff1d(np.arange(len(v)), partial)
  else:
    partial, rest = None, np.arange(len(v))
  members = [rest[r::q] for r in range(q)] + ([partial] if rem else [])
  roots = [_ref_levels(v[m], c[m], b, p, interleaved=True) for m in members]
  return _ref_levels(np.array([r[0] for r in roots]), np.array([r[1] for r in roots]), b,
                     0.5, interleaved=True)[0]


DEFAULT_BLOCK_SIZE = inspect.signature(softq.remedian).parameters["block_size"].default


@functools.lru_cache(maxsize=None)
def _jitted(block_size, temperature):
  return jax.jit(lambda x: softq.remedian(x, block_size=block_size, temperature=temperature))


# --------------------------------------------------------------------------
# hard limit
# --------------------------------------------------------------------------

@pytest.mark.parametrize("b", [2, 3, 5, 7, 9])
@pytest.mark.parametrize("n_kind", ["1", "2", "b", "b+1", "b2", "b2+1", "1000", "7001"])
def test_hard_limit_matches_numpy_reference(b, n_kind):
  n = {"1": 1, "2": 2, "b": b, "b+1": b + 1, "b2": b * b, "b2+1": b * b + 1, "1000": 1000,
       "7001": 7001}[n_kind]
  if b == 3 and n_kind == "7001":
    n = 3 * 6561 - 1   # three segments of 3**8 (two full, one partial) and the top
  x = np.random.default_rng(n * 31 + b).standard_normal(n)
  got = _jitted(b, 0.0)(jnp.asarray(x, jnp.float64))
  assert float(got) == ref_remedian(x, b)


@pytest.mark.parametrize("b", [3, 7])
def test_weighted_hard_limit_matches_numpy_reference(b):
  rng = np.random.default_rng(b)
  for n in (5, 50, 344, 1001) + ((3 * 6561 + 40,) if b == 3 else ()):
    x = rng.standard_normal(n)
    for w in (rng.integers(0, 4, n).astype(float), rng.random(n) * 2):
      got = softq.remedian(jnp.asarray(x), block_size=b, weights=w, temperature=0)
      np.testing.assert_allclose(float(got), ref_remedian(x, b, weights=w), rtol=1e-12)
    if n == 1001:
      got = softq.quantile(jnp.asarray(x), 0.3, algorithm="remedian", block_size=b,
                           weights=w, temperature=0)
      np.testing.assert_allclose(float(got), ref_remedian(x, b, 0.3, w), rtol=1e-12)


def test_hard_limit_with_ties_and_even_block():
  x = np.array([5.0, 5.0, 5.0, 9.0, 1.0, 2.0, 2.0, 7.0, 3.0, 3.0])
  for b in (2, 3, 4):
    assert float(softq.remedian(jnp.asarray(x), block_size=b, temperature=0)) == ref_remedian(x, b)


def test_small_temperature_converges_to_hard():
  x = np.random.default_rng(0).standard_normal(1000)
  hard = ref_remedian(x, 5)
  soft = _jitted(5, 1e-6)(jnp.asarray(x))
  np.testing.assert_allclose(float(soft), hard, atol=1e-9)


def _hits_and_refs(x, valid, k):
  """NumPy: the k-th smallest valid value of every row and the entries equal to it."""
  x = np.asarray(x)
  key = np.where(valid, x, np.inf) if valid is not None else x
  r = np.sort(key, axis=-1)[:, k]
  hit = (x == r[:, None]) & (valid if valid is not None else True)
  return jnp.asarray(hit), jnp.asarray(r)


def _weighted_hits_and_refs(x, weight, k):
  """NumPy: per row, the value whose cumulative-weight interval holds k + 1/2
  (weight None: every value counts once) and the present entries equal to it."""
  x = np.asarray(x)
  w = np.ones_like(x) if weight is None else np.asarray(weight)
  ks = np.broadcast_to(np.asarray(k, float), x.shape[:1])
  refs = []
  for row, wr, kr in zip(x, w, ks):
    order = np.argsort(np.where(wr > 0, row, np.inf), kind="stable")
    cum = np.cumsum(wr[order])
    refs.append(row[order][min(np.searchsorted(cum, kr + 0.5, side="right"), len(row) - 1)])
  refs = np.asarray(refs)
  return jnp.asarray((x == refs[:, None]) & (w > 0)), jnp.asarray(refs)


def test_deviation_block_kernel_matches_generic_kernel():
  """The registry's batched "deviation" block kernel equals the 1-D kernel."""
  batched = softq._algorithms.REGISTRY["deviation"].kernel.batched
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.standard_normal((50, 7)))
  hit, r = _hits_and_refs(x, None, 3)
  w_fast, = batched.weights(x, None, 7, [3], [r], [hit], jnp.asarray(0.3), None)
  w_ref = softq.argmedian(x, axis=-1, temperature=0.3, algorithm="deviation")
  np.testing.assert_allclose(w_fast, w_ref, atol=1e-12)


@pytest.mark.parametrize("algorithm", ["rank"])
def test_other_block_kernels(algorithm):
  x = jnp.asarray(np.random.default_rng(2).standard_normal(60))
  hard = ref_remedian(np.asarray(x), 5)
  soft = softq.remedian(x, block_size=5, temperature=1e-4, algorithm=algorithm)
  np.testing.assert_allclose(float(soft), hard, atol=1e-3)
  w = softq.argremedian(x, block_size=5, temperature=0.5, algorithm=algorithm)
  v = softq.remedian(x, block_size=5, temperature=0.5, algorithm=algorithm)
  np.testing.assert_allclose(float(jnp.sum(w * x)), float(v), atol=1e-12)


# --------------------------------------------------------------------------
# shapes
# --------------------------------------------------------------------------

@pytest.mark.parametrize("axis,keepdims", [(None, False), (1, True), ((0, 2), False),
                                           (-1, False), ((1, 2), True)])
def test_axes_and_keepdims_match_loop(axis, keepdims):
  a = np.random.default_rng(3).standard_normal((4, 6, 5))
  got = softq.remedian(jnp.asarray(a), axis, block_size=3, keepdims=keepdims, temperature=0)
  want_shape = np.median(a, axis=axis, keepdims=keepdims).shape
  assert got.shape == want_shape
  ax = tuple(range(3)) if axis is None else (axis if isinstance(axis, tuple) else (axis,))
  ax = tuple(sorted(d % 3 for d in ax))
  kept = [d for d in range(3) if d not in ax]
  moved = np.transpose(a, kept + list(ax)).reshape(-1, int(np.prod([a.shape[d] for d in ax])))
  want = np.array([ref_remedian(r, 3) for r in moved]).reshape(want_shape)
  np.testing.assert_array_equal(np.asarray(got), want)


def test_soft_batch_equals_rows_and_per_row_temperature():
  a = jnp.asarray(np.random.default_rng(4).standard_normal((3, 40)))
  tau = jnp.asarray([0.1, 0.5, 2.0])
  got = softq.remedian(a, axis=1, block_size=3, temperature=tau)
  for i in range(3):
    want = softq.remedian(a[i], block_size=3, temperature=tau[i])
    np.testing.assert_allclose(got[i], want, rtol=1e-12)


def test_dtypes_and_extreme_temperatures():
  x = np.random.default_rng(5).standard_normal(500)
  for dtype in (jnp.float16, jnp.bfloat16, jnp.float32, jnp.float64):
    for tau in (1e-30, 1.0, 1e30):
      v = softq.remedian(jnp.asarray(x, dtype), temperature=tau)
      assert v.dtype == dtype and np.isfinite(float(v)), (dtype, tau)
  # Large temperature: every block takes its weighted mean, so the tree of
  # weighted block means is the sample mean for every n.
  for n in (343, 500):
    big = softq.remedian(jnp.asarray(x[:n]), temperature=1e30)
    np.testing.assert_allclose(float(big), np.mean(x[:n]), rtol=1e-6)


# --------------------------------------------------------------------------
# argremedian and gradients
# --------------------------------------------------------------------------

def test_argremedian_reproduces_value():
  x = jnp.asarray(np.random.default_rng(6).standard_normal((2, 1000)))
  w = softq.argremedian(x, block_size=5, temperature=0.3)
  v = softq.remedian(x, axis=-1, block_size=5, temperature=0.3)
  assert w.shape == x.shape and bool(jnp.all(w >= 0))
  np.testing.assert_allclose(jnp.sum(w, -1), 1.0, atol=1e-12)
  np.testing.assert_allclose(jnp.sum(w * x, -1), v, atol=1e-12)
  wh = softq.argremedian(x, block_size=5, temperature=0)
  np.testing.assert_allclose(jnp.sum(wh * x, -1), softq.remedian(x, -1, block_size=5, temperature=0))
  assert softq.argmedian(x, algorithm="remedian", temperature=0.3).shape == x.shape


def test_check_grads_float64():
  x = jnp.asarray(np.random.default_rng(7).standard_normal(11))
  # jit: check_grads evaluates many times; eager dispatch made this test 5 minutes.
  f = jax.jit(lambda x, t: softq.remedian(x, block_size=3, temperature=t))
  check_grads(f, (x, jnp.asarray(0.7)), order=1, modes=("fwd",))
  check_grads(f, (x, jnp.asarray(0.7)), order=2, modes=("rev",))
  g = jax.jit(lambda x: softq.argremedian(x, block_size=3, temperature=0.7))
  check_grads(g, (x,), order=1, modes=("fwd", "rev"))


def test_large_gradient_finite_and_sums_to_one():
  x = jnp.asarray(np.random.default_rng(8).standard_normal(10 ** 5), jnp.float32)
  g = jax.jit(jax.grad(lambda x: softq.remedian(x)))(x)
  assert bool(jnp.all(jnp.isfinite(g)))
  np.testing.assert_allclose(float(jnp.sum(g)), 1.0, atol=1e-3)


def test_nan_inf_and_masks():
  x = jnp.asarray([1.0, 2.0, jnp.inf, 4.0, -jnp.inf, 3.0, 0.5])
  for tau in (0.0, 0.01):   # the finite values are >= 0.5 apart: 0.01 is hard to 1e-6
    v = softq.remedian(x, block_size=3, temperature=tau)
    np.testing.assert_allclose(float(v), ref_remedian(np.asarray(x), 3), atol=1e-6)
  g = jax.grad(lambda x: softq.remedian(x, block_size=3, temperature=0.1))(x)
  assert bool(jnp.all(jnp.isfinite(g)))
  y = jnp.asarray([1.0, jnp.nan, 3.0, 2.0, 8.0])
  assert np.isnan(float(softq.remedian(y, block_size=3)))
  assert float(softq.nanmedian(y, algorithm="remedian", temperature=0)) == ref_remedian(
      [1.0, 3.0, 2.0, 8.0], DEFAULT_BLOCK_SIZE)
  z = jnp.asarray(np.random.default_rng(9).standard_normal(50))
  mask = np.random.default_rng(10).random(50) < 0.6
  for tau in (0.0, 0.2):
    got = softq.remedian(z, block_size=3, temperature=tau, where=mask)
    want = softq.remedian(z[mask], block_size=3, temperature=tau)
    np.testing.assert_allclose(float(got), float(want), atol=1e-12)
  w = softq.argremedian(z, block_size=3, temperature=0.2, where=mask)
  assert float(jnp.sum(jnp.where(mask, 0.0, w))) == 0.0


# --------------------------------------------------------------------------
# accuracy
# --------------------------------------------------------------------------

def _rank_error(x, v):
  return abs(np.mean(np.asarray(x) < v) - 0.5)


@pytest.mark.parametrize("n", [300, 344, 2402, 16808])
def test_rank_error_for_every_n_iid_and_ordered(n):
  # n = 7**k + 1 made the classical remedian average a lone leftover value.
  f = jax.jit(lambda x: softq.remedian(x, temperature=1e-3))
  errors = []
  for seed in range(8):
    x = np.random.default_rng(seed).standard_normal(n)
    errors.append(_rank_error(x, float(f(jnp.asarray(x)))))
  assert np.mean(errors) < 0.05, errors
  # ordered data: 90 % inliers first, 10 % outliers near 50 last
  errors = []
  for seed in range(8):
    rng = np.random.default_rng(n + seed)
    inliers = rng.standard_normal(n - n // 10)
    x = np.concatenate([inliers, 50 + rng.standard_normal(n // 10)])
    v = float(f(jnp.asarray(x)))
    assert inliers.min() <= v <= inliers.max()
    errors.append(_rank_error(x, v))
  # sampling noise, not order: iid data at n = 344 give a mean of about 0.03 too
  assert np.mean(errors) < 0.04, errors


_hard3 = jax.jit(lambda x: softq.remedian(x, block_size=3, temperature=0))
_soft3 = jax.jit(lambda x: softq.remedian(x, block_size=3, temperature=1e-3))
_arg3 = jax.jit(lambda x: softq.argremedian(x, block_size=3, temperature=1e-3))


@pytest.mark.parametrize("n", [3 ** 7, 6561 + 1000])   # one segment; two, the second partial
def test_sorted_input_rank_error(n):
  """Ascending, descending and inliers-then-outliers data: the segments are
  dealt across the whole input and blocks interleave, so no block sees only
  one end (consecutive blocks: rank error up to 0.25 on sorted data)."""
  rng = np.random.default_rng(n)
  inliers = rng.standard_normal(n - n // 10)
  ordered = np.concatenate([inliers, 50 + rng.standard_normal(n // 10)])
  for x in (ordered, np.sort(ordered), np.sort(ordered)[::-1]):
    for f in (_hard3, _soft3):
      assert _rank_error(x, float(f(jnp.asarray(x)))) <= 0.03
    w = np.asarray(_arg3(jnp.asarray(x)))
    assert w.min() >= 0
    np.testing.assert_allclose(w.sum(), 1.0, atol=1e-9)
    np.testing.assert_allclose(w @ x, float(_soft3(jnp.asarray(x))), rtol=1e-9)
  assert float(_hard3(jnp.asarray(ordered))) == ref_remedian(ordered, 3)


def test_median_rank_error_heavy_tails():
  x = np.random.default_rng(11).standard_t(1, 59049)
  v = float(jax.jit(lambda x: softq.remedian(x, temperature=0.01))(jnp.asarray(x, jnp.float32)))
  assert abs(np.mean(x < v) - 0.5) < 0.02


def test_padded_quantiles_traced_q():
  x = np.random.default_rng(12).standard_normal(20000)
  ps = np.array([0.1, 0.25, 0.75, 0.9])
  f = jax.jit(lambda x, q: softq.quantile(x, q, algorithm="remedian", temperature=0.01))
  got = np.asarray(f(jnp.asarray(x, jnp.float32), jnp.asarray(ps, jnp.float32)))
  for p, v in zip(ps, got):
    assert abs(np.mean(x < v) - p) < 0.04, (p, np.mean(x < v))
  hard = softq.quantile(jnp.asarray(x[:300]), ps, algorithm="remedian", temperature=0)
  want = [ref_remedian(x[:300], DEFAULT_BLOCK_SIZE, p) for p in ps]
  np.testing.assert_allclose(np.asarray(hard), want, rtol=1e-12)


def test_quantile_methods_and_median_route():
  x = jnp.asarray(np.random.default_rng(13).standard_normal(200))
  for method in ("linear", "lower", "higher", "nearest", "midpoint", "inverted_cdf",
                 "averaged_inverted_cdf"):
    v = softq.quantile(x, 0.3, algorithm="remedian", method=method, temperature=0)
    assert float(jnp.min(x)) <= float(v) <= float(jnp.max(x))
  assert float(softq.median(x, algorithm="remedian", temperature=0)) == ref_remedian(
      np.asarray(x), DEFAULT_BLOCK_SIZE)


# --------------------------------------------------------------------------
# streaming
# --------------------------------------------------------------------------

def soft_levels(x, b, tau, interleaved, algorithm="deviation"):
  """The soft weighted remedian by definition, through the public API: every
  level's blocks (consecutive or interleaved) reduced by ``softq.median(...,
  weights=counts, algorithm=...)``, the block kernel's weighted median."""
  v = jnp.asarray(x)
  c = jnp.ones_like(v)
  while v.shape[0] > 1:
    m = v.shape[0]
    n_blocks = -(-m // b)
    v, c = jnp.pad(v, (0, n_blocks * b - m)), jnp.pad(c, (0, n_blocks * b - m))
    shape = (b, n_blocks) if interleaved else (n_blocks, b)
    vb, cb = v.reshape(shape), c.reshape(shape)
    if interleaved:
      vb, cb = vb.T, cb.T
    v = softq.median(vb, axis=-1, weights=cb, temperature=tau, algorithm=algorithm)
    c = cb.sum(-1)
  return v[0]


@pytest.mark.parametrize("chunk", [1, 7, 100])
@pytest.mark.parametrize("tau", [0.0, 0.3])
def test_streaming_equals_consecutive_definition(chunk, tau):
  """The stream keeps consecutive blocks (it cannot deal values it has not
  seen): it equals the consecutive-block weighted remedian, not the
  one-shot interleaved one; under ``jit`` + ``lax.scan``."""
  n = 700
  x = jnp.asarray(np.random.default_rng(14).standard_normal(n))
  state = softq.remedian_init(block_size=3, max_size=10 ** 4, dtype=jnp.float64,
                              temperature=tau)

  def body(s, c):
    return softq.remedian_update(s, c), None

  state, _ = jax.jit(lambda s, xs: jax.lax.scan(body, s, xs))(state, x.reshape(-1, chunk))
  got = float(jax.jit(softq.remedian_result)(state))
  if tau == 0:
    assert got == ref_consecutive(np.asarray(x), 3)
  else:
    np.testing.assert_allclose(got, float(soft_levels(x, 3, tau, False)), rtol=1e-12,
                               atol=1e-12)


def test_one_shot_soft_equals_interleaved_definition():
  """One segment (n < 3**8): the soft one-shot remedian is the interleaved
  soft weighted remedian, level by level."""
  x = jnp.asarray(np.random.default_rng(15).standard_normal(700))
  for tau in (0.05, 0.3):
    np.testing.assert_allclose(float(softq.remedian(x, block_size=3, temperature=tau)),
                               float(soft_levels(x, 3, tau, True)), rtol=1e-12, atol=1e-12)


def test_stream_block_algorithm_fixed_at_init():
  x = jnp.asarray(np.random.default_rng(16).standard_normal(63))
  state = softq.remedian_init(block_size=3, dtype=jnp.float64, temperature=0.2,
                              algorithm="rank")
  assert state.algorithm == "rank"
  step = jax.jit(softq.remedian_update)
  for c in x.reshape(3, 21):
    state = step(state, c)
  assert state.algorithm == "rank"
  got = float(softq.remedian_result(state))
  np.testing.assert_allclose(float(softq.remedian_result(state, algorithm="rank")), got)
  # the state's kernel is the one used: the consecutive soft remedian with "rank" blocks
  np.testing.assert_allclose(got, float(soft_levels(x, 3, 0.2, False, "rank")), rtol=1e-12)
  default = softq.remedian_init(block_size=3, dtype=jnp.float64, temperature=0.2)
  assert default.algorithm == "deviation"
  with pytest.raises(ValueError, match="remedian_init"):
    softq.remedian_update(state, x[:3], algorithm="deviation")
  with pytest.raises(ValueError, match="remedian_init"):
    softq.remedian_result(state, algorithm="deviation")
  with pytest.raises(ValueError, match="algorithm"):
    softq.remedian_init(algorithm="subsets")


def test_streaming_past_max_size_and_empty():
  state = softq.remedian_init(block_size=3, max_size=9, temperature=0.0)
  assert np.isnan(float(softq.remedian_result(state)))
  for c in jnp.arange(27.0).reshape(3, 9):
    state = softq.remedian_update(state, c)
  # three complete trees of 9 values, averaged: (4 + 13 + 22) / 3
  assert float(softq.remedian_result(state)) == 13.0


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------

def test_errors():
  x = jnp.ones(10)
  with pytest.raises(ValueError, match="block_size=3"):
    softq.remedian(x, block_size=1)
  with pytest.raises(ValueError, match="block_size"):
    softq.remedian_init(block_size=0)
  with pytest.raises(ValueError, match="valid algorithms are 'deviation', 'rank'"):
    softq.remedian(x, algorithm="subsets")
  with pytest.raises(ValueError, match="valid algorithms"):
    softq.remedian(x, algorithm="remedian")
  with pytest.raises(ValueError, match="empty"):
    softq.remedian(jnp.ones((0, 3)), axis=0)
  with pytest.raises(ValueError, match="temperature"):
    softq.remedian(x, temperature=-1.0)
  with pytest.raises(TypeError):
    softq.remedian(x, 0, block_size=3, keepdims=False, temperature=1.0, algorithm="deviation",
                   where=None, extra=1)  # pylint: disable=unexpected-keyword-arg


@pytest.mark.parametrize("case", ["full-odd", "partial-even", "infinite", "ties", "counts"])
def test_block_value_analytic_tangent_matches_autodiff(case):
  # The batched value (the short-row/remedian/pool value path, analytic
  # tangent) against autodiff of the batched weights and a weighted sum.
  batched = softq._algorithms.REGISTRY["deviation"].kernel.batched
  rng = np.random.default_rng(21)
  x = rng.standard_normal((6, 5))
  weight, wmode, total, ks = None, None, 5, [2]
  if case == "partial-even":
    valid = np.broadcast_to(np.arange(5) < 4, x.shape)
    weight = jnp.asarray(valid, jnp.float64)
    wmode, total, ks = ("mask", weight, 1), 4, [1, 2]
  if case == "counts":
    weight = jnp.asarray(rng.integers(0, 3, x.shape).astype(float)).at[:, 0].set(2.0)
    wmode, total = weight, jnp.sum(weight, axis=1)
    ks = [jnp.floor((total - 1) / 2), jnp.ceil((total - 1) / 2)]
  if case == "infinite":
    x[0, 1], x[1, 0], x[1, 2], x[1, 4] = np.inf, -np.inf, -np.inf, -np.inf
  if case == "ties":
    x = np.round(x, 0)
  x = jnp.asarray(x)
  refs_hits = [_weighted_hits_and_refs(x, weight, k) for k in ks]
  hits, refs = [h for h, _ in refs_hits], [r for _, r in refs_hits]
  g = 0.5

  def both(x, tau):
    hoisted = (1.0 / tau, jnp.log(tau))
    if len(ks) == 1:
      new = batched.value(x, wmode, ks, tau, hoisted)[0]
    else:
      new = batched.value(x, wmode, ks, tau, hoisted, g=jnp.asarray(g))
    ws = batched.weights(x, weight, total, ks, refs, hits, tau)
    w = ws[0] if len(ws) == 1 else (1 - g) * ws[0] + g * ws[1]
    finite = jnp.isfinite(x)
    old = jnp.sum(w * jnp.where(finite, x, 0), -1) + jnp.sum(
        jax.lax.stop_gradient(w) * jnp.where(finite | (w == 0), 0, x), -1)
    return new, old

  tau = jnp.asarray(0.3)
  dx = jnp.asarray(rng.standard_normal(x.shape))
  (v_new, v_old), (t_new, t_old) = jax.jvp(both, (x, tau), (dx, jnp.asarray(0.7)))
  np.testing.assert_allclose(v_new, v_old, rtol=1e-12)
  np.testing.assert_allclose(t_new, t_old, rtol=1e-9, atol=1e-12)
  # reverse mode (the transpose of the rule) agrees too
  c = jnp.asarray(rng.standard_normal(x.shape[0]))
  g_new = jax.grad(lambda x, t: jnp.sum(c * both(x, t)[0]), argnums=(0, 1))(x, tau)
  g_old = jax.grad(lambda x, t: jnp.sum(c * both(x, t)[1]), argnums=(0, 1))(x, tau)
  for a, b in zip(g_new, g_old):
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
