"""Builds (and executes) the softq notebooks from the cell sources below.

    python notebooks/build_notebooks.py                 # write + execute all
    python notebooks/build_notebooks.py 01 04           # only these
    python notebooks/build_notebooks.py --no-execute    # write sources only

The notebooks are committed with their outputs so they read well on a code
host; edit this file, not the ``.ipynb`` files, and rerun it.
``tests/test_notebooks.py`` re-executes the committed notebooks and checks
that their sources still match this file.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import nbformat
from nbclient import NotebookClient

HERE = pathlib.Path(__file__).resolve().parent
KERNEL = "python3"
TIMEOUT_S = 300

COMMON_SETUP = """\
import time
import numpy as np
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import softq

%matplotlib inline
plt.rcParams["figure.dpi"] = 90
np.set_printoptions(precision=4, suppress=True)
print("jax", jax.__version__, "| softq", softq.__version__, "|", jax.devices()[0].platform)"""


def md(text: str):
  return nbformat.v4.new_markdown_cell(text.strip("\n"))


def code(text: str):
  return nbformat.v4.new_code_cell(text.strip("\n"))


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
* `"remedian"`: the soft remedian (medians of blocks of medians, O(n)); its
  hard limit is the *remedian*, which on this sample is not the median: with the
  default block size 7 the blocks are the first 7 values (median 0.9) and the
  last 2 (median 12.8), and the remedian is the median of those two, 6.85.
  Notebook 03 shows it at the scale where it is meant to be used.

(`"sorted"`, the default, computes the `"deviation"` costs in O(n log n) and
gives the same numbers on a sample this small.)
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
at `tau = 0.3`. The three exact algorithms give the outlier (25.0) essentially
no weight and concentrate on the middle value 0.9 and its neighbours. The
remedian gives the outlier a quarter of its weight here: its last block holds
only 0.6 and 25.0 (the small-sample caveat above).
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
]


NOTEBOOKS = {
    "01_soft_median_tour.ipynb": NB01,
    "02_soft_quantiles_and_ranks.ipynb": NB02,
}


def _extra_notebooks():
  # Defined in companion modules to keep this file readable.
  sys.path.insert(0, str(HERE))
  import _nb_remedian  # pylint: disable=import-outside-toplevel,import-error
  import _nb_applications  # pylint: disable=import-outside-toplevel,import-error
  return {"03_remedian_at_scale.ipynb": _nb_remedian.NB03,
          "04_applications.ipynb": _nb_applications.NB04}


def build(name: str, cells) -> nbformat.NotebookNode:
  nb = nbformat.v4.new_notebook()
  nb.cells = cells
  nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
  nb.metadata["language_info"] = {"name": "python"}
  for i, cell in enumerate(nb.cells):
    cell["id"] = f"{name[:2]}-{i:02d}"      # stable ids: clean diffs on rebuild
  return nb


def execute(nb: nbformat.NotebookNode) -> float:
  t0 = time.perf_counter()
  NotebookClient(nb, timeout=TIMEOUT_S, kernel_name=KERNEL,
                 resources={"metadata": {"path": str(HERE)}}).execute()
  return time.perf_counter() - t0


def all_notebooks():
  out = dict(NOTEBOOKS)
  out.update(_extra_notebooks())
  return out


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("only", nargs="*", help="notebook name prefixes, e.g. 01 04")
  parser.add_argument("--no-execute", action="store_true")
  parser.add_argument("--timings", action="store_true", help="print per-cell times")
  args = parser.parse_args(argv)
  for name, cells in all_notebooks().items():
    if args.only and not any(name.startswith(p) for p in args.only):
      continue
    nb = build(name, cells)
    msg = "written"
    if not args.no_execute:
      msg = f"executed in {execute(nb):.1f} s"
    for i, cell in enumerate(nb.cells):
      ex = cell.metadata.pop("execution", None)    # timestamps: noise in diffs
      if args.timings and ex and "shell.execute_reply" in ex:
        import datetime  # pylint: disable=import-outside-toplevel
        t = (datetime.datetime.fromisoformat(ex["shell.execute_reply"].rstrip("Z"))
             - datetime.datetime.fromisoformat(ex["iopub.execute_input"].rstrip("Z")))
        print(f"  cell {i:2d}: {t.total_seconds():6.1f} s")
    nbformat.write(nb, HERE / name)
    print(f"{name}: {msg}")


if __name__ == "__main__":
  main()
