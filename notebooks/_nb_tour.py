"""Cells of notebooks/01_soft_median_tour.ipynb."""

from _nb_cells import code, COMMON_SETUP, md  # pylint: disable=import-error

# ---------------------------------------------------------------------------
# 01: a tour of the soft median
# ---------------------------------------------------------------------------

NB01 = [
    md("""
# 01 — A tour of the soft median

`softq` replaces the hard order statistics of `jax.numpy` (max, median,
quantiles, ranks, sorts) by smooth ones. Every function takes a `temperature`
`tau` in the units of the data: `tau = 0` gives the `jax.numpy` result exactly,
small `tau` a close and smooth approximation, large `tau` the mean.

This notebook walks from the building blocks (soft max, abs, sign) to the four
soft median algorithms, side by side on one sample.
"""),
    code(COMMON_SETUP),
    md("""
## 1. The soft max family

`softq.max` is `tau * logsumexp(a / tau)`; `softq.abs(u)` is the soft max of
`u` and `-u`; `softq.sign` is its derivative `tanh(u / tau)`. All of them
recover the hard function as `tau -> 0`.
"""),
    code("""
u = jnp.linspace(-2, 2, 401)
fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
for tau in [1.0, 0.3, 0.1]:
  axes[0].plot(u, softq.abs(u, temperature=tau), label=f"tau={tau}")
  axes[1].plot(u, softq.sign(u, temperature=tau), label=f"tau={tau}")
axes[0].plot(u, jnp.abs(u), "k--", lw=1, label="|u|")
axes[1].plot(u, jnp.sign(u), "k--", lw=1, label="sign(u)")
axes[0].set_title("softq.abs"); axes[1].set_title("softq.sign")
taus = jnp.logspace(-3, 1, 60)
a = jnp.array([1.0, 2.0, 3.0])
# vmap over the temperature: one compiled call for the whole curve
axes[2].semilogx(taus, jax.vmap(lambda t: softq.max(a, temperature=t))(taus), label="softq.max")
axes[2].semilogx(taus, jax.vmap(lambda t: softq.min(a, temperature=t))(taus), label="softq.min")
axes[2].axhline(3, color="k", ls="--", lw=1); axes[2].axhline(1, color="k", ls="--", lw=1)
axes[2].set_title("max / min of [1, 2, 3] vs temperature"); axes[2].set_xlabel("tau")
for ax in axes:
  ax.legend(fontsize=8)
plt.tight_layout(); plt.show()
print("argmax weights of [1, 2, 3] at tau=0.5:", softq.argmax(a, temperature=0.5))
print("hard limit (tau=0):                    ", softq.argmax(a, temperature=0))
"""),
    md("""
## 2. Four soft median algorithms on one sample

One sample of 9 values with an outlier. Each algorithm gives convex weights
`w = argmedian(x)` and the value `sum(w * x)`:

* `"subsets"`: soft min over subsets of size 5 of the soft max (exponential, n <= 20);
* `"deviation"`: soft minimiser of the total absolute deviation;
* `"rank"`: the value whose soft rank is closest to the middle;
* `"remedian"`: the soft remedian (weighted medians of blocks of medians, O(n));
  its hard limit is the *weighted remedian*: blocks of `block_size` values (7 by
  default) are replaced by their medians, each carrying the number of inputs it
  stands for, and those are combined the same way until one value is left. It
  estimates the median and is not in general equal to it; the last line of the
  table prints every hard limit next to `jnp.median`, so you can compare them.
  Notebook 03 shows it at the scale where it is meant to be used.

(`"sorted"`, the default, is the `"deviation"` function computed in O(n log n):
the same numbers at every temperature and every size; samples this small are
evaluated densely.)
"""),
    code("""
x = jnp.array([2.1, -0.4, 0.9, 1.7, 0.2, 3.0, -1.2, 0.6, 25.0])
hard = float(jnp.median(x))
ALGOS = [a for a in ("subsets", "deviation", "rank", "remedian") if a in softq.ALGORITHMS]
# One compiled function per algorithm, vmapped over temperatures (traced: no retrace per value).
soft_median = {a: jax.jit(jax.vmap(lambda t, a=a: softq.median(x, temperature=t, algorithm=a)))
               for a in ALGOS}
table_taus = jnp.array([3.0, 1.0, 0.3, 0.1, 0.01])
table = {a: np.asarray(soft_median[a](table_taus)) for a in ALGOS}
print(f"sample: {np.asarray(x)}\\njnp.median = {hard:.4f}   mean = {float(x.mean()):.4f}\\n")
lines = ["tau      " + "".join(f"{a:>11}" for a in ALGOS)]
for i, tau in enumerate(np.asarray(table_taus)):
  lines.append(f"{tau:<8g} " + "".join(f"{table[a][i]:11.4f}" for a in ALGOS))
lines.append("0 (hard) " + "".join(f"{float(softq.median(x, temperature=0, algorithm=a)):11.4f}" for a in ALGOS))
print("\\n".join(lines))
for a in ALGOS:
  hard_a = float(softq.median(x, temperature=0, algorithm=a))
  print(f"{a:>9} at tau=0: {hard_a:.4f}", "= jnp.median" if hard_a == hard else "!= jnp.median")
"""),
    md("""
### Convergence to the hard median

The value against the temperature (log scale). Every exact algorithm reaches
`jnp.median` (dashed) as `tau -> 0` and drifts towards the mean as `tau` grows,
but at different speeds: the temperature is in data units for `deviation` and
`subsets`, while `rank` works in rank units after its first stage.
"""),
    code("""
taus = np.logspace(-3, 1.5, 40)
fig, ax = plt.subplots(figsize=(7, 4))
for a in ALGOS:
  ax.semilogx(taus, soft_median[a](jnp.asarray(taus)), label=a)
ax.axhline(hard, color="k", ls="--", lw=1, label="jnp.median")
ax.axhline(float(x.mean()), color="gray", ls=":", lw=1, label="mean")
ax.set_xlabel("temperature"); ax.set_ylabel("soft median"); ax.legend()
ax.set_title("soft median of the sample vs temperature")
plt.show()
"""),
    md("""
### The weights: `argmedian`

Bars are the weights each algorithm puts on each sample value (sorted by value)
at `tau = 0.3`, with each algorithm's value in its title; the line printed below
the plot gives the weight each one puts on the outlier. The weights concentrate
on the middle of the sample and its neighbours, each algorithm with its own
spread at the same temperature (the temperature means different things to them,
as above). The remedian's weights are products of block weights, so which
neighbours share the weight depends on how the values fall into blocks.
"""),
    code("""
order = np.argsort(np.asarray(x))
fig, axes = plt.subplots(1, len(ALGOS), figsize=(3.2 * len(ALGOS), 3), sharey=True)
for ax, a in zip(axes, ALGOS):
  w = jax.jit(lambda t, a=a: softq.argmedian(x, temperature=t, algorithm=a))(0.3)
  ax.bar(range(len(x)), np.asarray(w)[order])
  ax.set_xticks(range(len(x)), [f"{v:g}" for v in np.asarray(x)[order]], rotation=90)
  ax.set_title(f"{a}\\nsum(w*x) = {float((w * x).sum()):.3f}")
axes[0].set_ylabel("weight")
plt.tight_layout(); plt.show()
w_outlier = {a: float(softq.argmedian(x, temperature=0.3, algorithm=a)[jnp.argmax(x)]) for a in ALGOS}
print("weight on the outlier", float(x.max()), "at tau=0.3:",
      ", ".join(f"{a} {w:.2g}" for a, w in w_outlier.items()))
"""),
    md("""
## 3. Gradients

The gradient of the soft median with respect to the sample is the vector of
weights plus a correction for how the weights move; it tells which values the
median listens to. The mean listens to everyone equally, including the outlier.
The gradient with respect to the temperature is available too (for learned or
annealed temperatures).
"""),
    code("""
g_med = jax.grad(lambda v: softq.median(v, temperature=0.3))(x)
g_mean = jax.grad(jnp.mean)(x)
fig, ax = plt.subplots(figsize=(7, 3))
ax.bar(np.arange(len(x)) - 0.2, np.asarray(g_med)[order], width=0.4, label="d median / dx")
ax.bar(np.arange(len(x)) + 0.2, np.asarray(g_mean)[order], width=0.4, label="d mean / dx")
ax.set_xticks(range(len(x)), [f"{v:g}" for v in np.asarray(x)[order]])
ax.legend(); ax.set_title("who moves the estimate?"); plt.show()
print("gradient on the outlier: median", float(g_med[-1]), " mean", float(g_mean[-1]))
print("sum of median gradient (translation equivariance => 1):", float(g_med.sum()))
dtau = jax.grad(lambda t: softq.median(x, temperature=t))(0.3)
print("d median / d temperature at tau=0.3:", float(dtau))
"""),
    md("""
Everything composes with `jit`, `vmap` and `grad`; here a batch of rows, a
per-row temperature, and a second derivative.
"""),
    code("""
rows = jax.random.normal(jax.random.PRNGKey(0), (4, 11))
taus_row = jnp.array([0.0, 0.01, 0.1, 1.0])
print("per-row temperatures:", softq.median(rows, axis=1, temperature=taus_row))
print("jnp.median          :", jnp.median(rows, axis=1))
hess = jax.hessian(lambda v: softq.median(v, temperature=0.5))(x)
print("Hessian diagonal:", jnp.round(jnp.diag(hess), 4))
"""),
]
