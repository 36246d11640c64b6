"""Cells of notebooks/02_soft_quantiles_and_ranks.ipynb."""

from _nb_cells import code, COMMON_SETUP, md  # pylint: disable=import-error

# ---------------------------------------------------------------------------
# 02: quantiles, ranks and sorts
# ---------------------------------------------------------------------------

NB02 = [
    md("""
# 02 — Soft quantiles, ranks and sorts

`softq.quantile(x, q, axis, method=...)` is a drop-in for `jnp.quantile`: the
`method` names the hard limit, and each method is built from one or two soft
order statistics.
"""),
    code(COMMON_SETUP),
    md("""
## 1. Every `method` in the hard limit

For each `jnp.quantile` method: the hard result (`temperature=0`, bit for bit),
a soft one at a small temperature, and `jnp.quantile` itself.
"""),
    code("""
rng = np.random.default_rng(0)
x = jnp.asarray(rng.normal(size=10).round(2))
q = jnp.array([0.1, 0.25, 0.5, 0.9])
methods = ["linear", "lower", "higher", "nearest", "midpoint", "inverted_cdf"]
print("x =", np.asarray(x), "  q =", np.asarray(q), "\\n")
worst_hard, worst_soft = 0.0, 0.0
for m in methods:
  ref = jnp.quantile(x, q, method=m)
  h = softq.quantile(x, q, method=m, temperature=0)
  s = jax.jit(lambda t: softq.quantile(x, q, method=m, temperature=t))(1e-3)
  worst_hard = max(worst_hard, float(jnp.max(jnp.abs(h - ref))))
  worst_soft = max(worst_soft, float(jnp.max(jnp.abs(s - ref))))
  print(f"{m:>13}  jnp {np.asarray(ref)}\\n{'':>13}  tau=0 {np.asarray(h)}  tau=1e-3 {np.asarray(s)}")
print(f"\\nmax |tau=0 - jnp| = {worst_hard},  max |tau=1e-3 - jnp| = {worst_soft:.2e}")
"""),
    md("""
## 2. Quantile curves at several temperatures

The quantile function `q -> quantile(x, q)` of a skewed sample of 40 values.
The hard one (`tau = 0`) is piecewise linear; soft ones are smooth and pulled
towards the mean as the temperature grows (tails first).
"""),
    code("""
sample = jnp.asarray(np.concatenate([rng.normal(0, 1, 32), rng.normal(6, 0.5, 8)]))
grid = jnp.linspace(0, 1, 101)
fig, ax = plt.subplots(figsize=(7, 4))
curve = jax.jit(lambda t: softq.quantile(sample, grid, temperature=t))
ax.plot(grid, softq.quantile(sample, grid, temperature=0), "k", lw=2, label="tau=0 (jnp.quantile)")
for tau in [0.05, 0.3, 1.0, 3.0]:
  ax.plot(grid, curve(tau), label=f"tau={tau}", lw=1.2)
ax.axhline(float(sample.mean()), color="gray", ls=":", lw=1, label="mean")
ax.set_xlabel("q"); ax.set_ylabel("quantile"); ax.legend(); ax.set_title("soft quantile curves")
plt.show()
"""),
    md("""
The weights behind them: `argquantile` for every `q` on the grid (rows) over the
sorted sample (columns). At `tau = 0` it is a staircase of one-hot rows (two
neighbours with linear interpolation); a temperature blurs it.
"""),
    code("""
srt = jnp.sort(sample)
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
weights = jax.jit(lambda t: softq.argquantile(srt, grid, temperature=t))
for ax, tau in zip(axes, [0.0, 0.1, 0.5]):
  w = softq.argquantile(srt, grid, temperature=0) if tau == 0 else weights(tau)
  ax.imshow(np.asarray(w), aspect="auto", origin="lower", extent=[0, len(srt), 0, 1], cmap="viridis")
  ax.set_title(f"argquantile, tau={tau}"); ax.set_xlabel("sorted sample index"); ax.set_ylabel("q")
plt.tight_layout(); plt.show()
"""),
    md("""
## 3. Soft ranks and soft sorts

`softq.rank` gives ranks `1..n` whose hard limit is
`scipy.stats.rankdata(method="average")` (ties share their average rank);
`softq.sort` gives every soft order statistic, convex combinations of the input.
"""),
    code("""
from scipy.stats import rankdata
v = jnp.array([0.3, -1.2, 2.5, 0.3, 1.1, -0.2])
print("values       ", np.asarray(v))
print("rankdata     ", rankdata(np.asarray(v)))
soft_rank = jax.jit(jax.vmap(lambda t: softq.rank(v, temperature=t)))   # all temperatures at once
soft_sort = jax.jit(jax.vmap(lambda t: softq.sort(v, temperature=t)))
row_taus = jnp.array([0.01, 0.3, 1.0])
print(f"rank tau=0    ", np.asarray(softq.rank(v, temperature=0)))
for t, r in zip(np.asarray(row_taus), np.asarray(soft_rank(row_taus))):
  print(f"rank tau={t:<5g}", r.round(3))
print()
print("jnp.sort     ", np.asarray(jnp.sort(v)))
print(f"sort tau=0    ", np.asarray(softq.sort(v, temperature=0)))
for t, r in zip(np.asarray(row_taus), np.asarray(soft_sort(row_taus))):
  print(f"sort tau={t:<5g}", r.round(3))
"""),
    code("""
taus = np.logspace(-3, 1, 50)
r = np.asarray(soft_rank(jnp.asarray(taus)))
s = np.asarray(soft_sort(jnp.asarray(taus)))
fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
for i in range(len(v)):
  axes[0].semilogx(taus, r[:, i], label=f"x={float(v[i]):g}")
  axes[1].semilogx(taus, s[:, i], label=f"{i + 1}-th")
axes[0].set_title("soft ranks vs temperature (ties at 0.3 share 3.5)"); axes[0].legend(fontsize=7)
axes[1].set_title("soft sort vs temperature (all tend to the mean)"); axes[1].legend(fontsize=7)
for ax in axes:
  ax.set_xlabel("temperature")
plt.tight_layout(); plt.show()
"""),
    md("""
## 4. Differentiable quantile objectives

Because the soft quantile is smooth, it can be optimised directly. Here we
move a sample so that its soft 90th percentile hits a target, by gradient
descent on the sample itself: only the values near the 90th percentile move.
"""),
    code("""
pts = jnp.asarray(rng.normal(size=30))
target = 2.5
loss = lambda p: (softq.quantile(p, 0.9, temperature=0.05) - target) ** 2
step = jax.jit(lambda p: p - 0.5 * jax.grad(loss)(p))
p = jax.lax.fori_loop(0, 1000, lambda i, p: step(p), pts)     # plain gradient descent
print(f"90th percentile: before {float(jnp.quantile(pts, 0.9)):.3f}, after {float(jnp.quantile(p, 0.9)):.3f} (target {target})")
moved = np.abs(np.asarray(p - pts)) > 1e-2
print(f"values that moved by more than 0.01: {moved.sum()} of {len(pts)}:", np.asarray(pts)[moved].round(3))
fig, ax = plt.subplots(figsize=(7, 2.8))
ax.scatter(np.asarray(pts), np.zeros(30), label="before"); ax.scatter(np.asarray(p), np.ones(30), label="after")
ax.set_yticks([0, 1], ["before", "after"]); ax.axvline(target, color="k", ls="--", lw=1); ax.legend()
plt.show()
"""),
    md("""
## 5. Soft top-k masks and robust statistics

`softq.top_k_mask(x, k, temperature=tau)` is `sigmoid((x - t) / tau)` with the
threshold `t` chosen so that the mask sums to `k` exactly, at every temperature
(`k` may be real and traced). As `tau` falls it sharpens into the hard top-k
mask; here `k = 3.5`, so in the limit the fourth largest value keeps half.
"""),
    code("""
vals = jnp.asarray(rng.normal(size=12).round(2))
order = np.argsort(-np.asarray(vals))
mask = jax.jit(jax.vmap(lambda t: softq.top_k_mask(vals, 3.5, temperature=t)))
taus_k = jnp.array([2.0, 0.5, 0.15, 0.03])
fig, ax = plt.subplots(figsize=(8, 3.6))
width = 0.18
for i, (t, m) in enumerate(zip(np.asarray(taus_k), np.asarray(mask(taus_k)))):
  ax.bar(np.arange(12) + (i - 2) * width, m[order], width, label=f"tau={t:g}  (sum {m.sum():.3f})")
hard = np.asarray(softq.top_k_mask(vals, 3.5, temperature=0))
ax.step(np.arange(12), hard[order], "k", where="mid", lw=1.5, label="tau=0 (hard)")
ax.set_xticks(np.arange(12), [f"{float(v):.2f}" for v in np.asarray(vals)[order]], fontsize=8)
ax.set_xlabel("values, largest first"); ax.set_ylabel("mask"); ax.legend(fontsize=8)
ax.set_title("top_k_mask(x, k=3.5) sharpening as the temperature falls")
plt.tight_layout(); plt.show()
"""),
    md("""
The robust statistics keep `scipy.stats`' signatures and equal it at
`temperature=0`; soft ones are smooth in the data: `trim_mean` weights the
values by `top_k_mask(x, n - g) - top_k_mask(x, g)`.
"""),
    code("""
import scipy.stats
data = jnp.asarray(np.concatenate([rng.normal(size=40), [15.0, 30.0]]))   # two outliers
for name, ref, ours in [
    ("trim_mean(0.1)", scipy.stats.trim_mean(np.asarray(data), 0.1), lambda t: softq.trim_mean(data, 0.1, temperature=t)),
    ("median_abs_deviation", scipy.stats.median_abs_deviation(np.asarray(data)), lambda t: softq.median_abs_deviation(data, temperature=t)),
    ("iqr", scipy.stats.iqr(np.asarray(data)), lambda t: softq.iqr(data, temperature=t))]:
  print(f"{name:>22}: scipy {ref:.4f} | tau=0 {float(ours(0)):.4f} | tau=0.05 {float(ours(0.05)):.4f}")
g = jax.grad(lambda v: softq.trim_mean(v, 0.1, temperature=0.05))(data)
print("gradient of the soft trim_mean on the two outliers:", np.asarray(g[-2:]).round(6))
"""),
]
