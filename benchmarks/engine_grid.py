"""Old-vs-new grid for kernel replacements: the same values and gradients, to rounding.

Usage::

  python benchmarks/engine_grid.py run SRC OUT.pkl   # evaluate the grid with softq from SRC
  python benchmarks/engine_grid.py diff A.pkl B.pkl  # bit-identical count, worst relative diff

``SRC`` is a checkout (e.g. a ``git worktree`` of the old commit); it is put
first on ``sys.path`` so it beats an installed softq (the printed path says
which ran).  Grid: median and its gradient (x and tau), weighted quantiles and
their gradients, infinities, ``jvp``, sort, rank and its gradient, ``top_k``
and its gradient (float32 and float64; n = 129, 1,000, 4,099; tau = 1e-5,
1e-2, 1, 1e4), and rows of (8, 600).  ``diff`` reports, per dtype and kind, the
largest absolute difference relative to the largest entry of the old array.
"""
import pickle
import sys


def run(src, out_path):
  sys.path.insert(0, src)
  import jax
  import jax.numpy as jnp
  import numpy as np
  jax.config.update("jax_enable_x64", True)
  import softq
  print(softq.__file__)
  out = {}
  rng = np.random.default_rng(0)
  for dt in (jnp.float32, jnp.float64):
    for n in (129, 1000, 4099):
      x = jnp.asarray(rng.standard_normal(n) * 3, dt)
      w = jnp.asarray(rng.uniform(0, 2, n), dt)
      xi = x.at[3].set(jnp.inf).at[7].set(-jnp.inf)
      for tau in (1e-5, 1e-2, 1.0, 1e4):
        t = jnp.asarray(tau, dt)
        key = (str(jnp.dtype(dt)), n, tau)
        med = lambda x, t: softq.median(x, temperature=t)
        out[key + ("med",)] = jax.jit(med)(x, t)
        out[key + ("medg",)] = jax.jit(jax.grad(med, argnums=(0, 1)))(x, t)
        out[key + ("q",)] = jax.jit(lambda x, t: softq.quantile(
            x, jnp.asarray([0.1, 0.5, 0.9], x.dtype), temperature=t, weights=w))(x, t)
        out[key + ("qg",)] = jax.jit(jax.grad(lambda x, t: softq.quantile(
            x, 0.3, temperature=t, weights=w), argnums=(0, 1)))(x, t)
        out[key + ("inf",)] = jax.jit(med)(xi, t)
        out[key + ("jvp",)] = jax.jit(lambda x, t: jax.jvp(
            med, (x, t), (jnp.ones_like(x), jnp.ones_like(t))))(x, t)
        out[key + ("sort",)] = jax.jit(lambda x, t: softq.sort(x, temperature=t))(x, t)
        out[key + ("rank",)] = jax.jit(lambda x, t: softq.rank(x, temperature=t))(x, t)
        out[key + ("rankg",)] = jax.jit(jax.grad(lambda x, t: jnp.sum(
            jnp.sin(jnp.arange(x.shape[0])) * softq.rank(x, temperature=t)), argnums=(0, 1)))(x, t)
        out[key + ("topk",)] = jax.jit(lambda x, t: softq.top_k(x, 5, temperature=t))(x, t)
        out[key + ("topkg",)] = jax.jit(jax.grad(lambda x, t: jnp.sum(
            softq.top_k(x, 5, temperature=t)[0] * jnp.arange(5.)), argnums=(0, 1)))(x, t)
    X = jnp.asarray(rng.standard_normal((8, 600)), dt)
    for tau in (1e-3, 0.1, 10.0):
      out[(str(jnp.dtype(dt)), "rows", tau)] = jax.jit(jax.value_and_grad(
          lambda X: jnp.sum(softq.median(X, axis=-1, temperature=tau) ** 2)))(X)
  out = jax.tree.map(np.asarray, out)
  with open(out_path, "wb") as f:
    pickle.dump(out, f)
  print("done", len(out))


def diff(a_path, b_path):
  import jax
  import numpy as np
  with open(a_path, "rb") as f:
    a = pickle.load(f)
  with open(b_path, "rb") as f:
    b = pickle.load(f)
  worst, same, total = {}, 0, 0
  for k in a:
    for u, v in zip(jax.tree.leaves(a[k]), jax.tree.leaves(b[k])):
      u, v = np.asarray(u, np.float64), np.asarray(v, np.float64)
      total += 1
      same += np.array_equal(u, v, equal_nan=True)
      if not np.array_equal(np.isfinite(u), np.isfinite(v)):
        print("finiteness differs:", k)
      fin = np.isfinite(u) & np.isfinite(v)
      d = 0.0
      if fin.any():
        d = np.max(np.abs(u[fin] - v[fin])) / (np.max(np.abs(u[fin])) + 1e-300)
      kind = (k[0], k[-1] if isinstance(k[-1], str) else k[1])
      worst[kind] = max(worst.get(kind, 0.0), d)
  print(f"bit-identical arrays: {same} of {total}")
  for k in sorted(worst):
    print(k, f"{worst[k]:.3g}")


if __name__ == "__main__":
  {"run": run, "diff": diff}[sys.argv[1]](*sys.argv[2:])
