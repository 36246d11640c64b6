"""Cells of notebooks/03_remedian_at_scale.ipynb ."""

from _nb_cells import code, COMMON_SETUP, md  # pylint: disable=import-error

NB03 = [
    md("""
# 03 — The soft remedian at scale

The exact soft medians cost O(n log n) (the default `"sorted"`) or O(n^2)
(`"deviation"`, `"rank"`), and at least a sort. The **remedian**
(Rousseeuw & Bassett, 1990) is an O(n) robust estimate of the median: split the
data into blocks of `b` values, take each block's median, repeat on the block
medians until one value is left. `softq.remedian` makes every block median soft;
its hard limit (`temperature=0`) is the hard remedian exactly.

This notebook measures how close the remedian is to the median (rank error)
for several `n` and block sizes, how fast it is next to `jnp.median`, and shows
its streaming and sharded forms. (The first cell asks XLA for 4 CPU devices so
that sharding can be shown on one machine.)
"""),
    code("""
import os
os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
""" + COMMON_SETUP + """
print("devices:", jax.devices())"""),
    code("""
x = jnp.array([3.0, 1.0, 10.0, 2.0, 4.0, 8.0, 5.0, 7.0, 6.0, 0.0, 9.0])
print("jnp.median            :", float(jnp.median(x)))
print("hard remedian (b=3)   :", float(softq.remedian(x, block_size=3, temperature=0)))
w = softq.argremedian(x, block_size=3, temperature=0.5)
print("argremedian weights (b=3, tau=0.5):", np.asarray(w).round(3))
print("soft remedian = sum(W*x) =", float((w * x).sum()))
"""),
    md("""
## 1. Accuracy: rank error vs n and block size

The rank error of an estimate `m` is `|mean(x < m) - 1/2|`: how far, as a
fraction of the sample, it is from the true median. Hard remedian
(`temperature=0`), standard normal data, averaged over 16 samples per point.
"""),
    code("""
def rank_error(rows, est):
  return jnp.abs(jnp.mean(rows < est[:, None], axis=1) - 0.5)

ns = [10**3, 10**4, 10**5]
blocks = [3, 7]
rows = jax.random.normal(jax.random.PRNGKey(0), (16, ns[-1]))
# One compilation per block size: a traced mask selects the first n values (the
# remedian with where= is the remedian of the selected subsequence).
@jax.jit
def remedian_prefix(rows, n):
  return {b: softq.remedian(rows, axis=1, block_size=b, temperature=0,
                            where=jnp.arange(rows.shape[1]) < n) for b in blocks}
err = {b: [] for b in blocks}
for n in ns:
  est = remedian_prefix(rows, n)
  for b in blocks:
    err[b].append(float(rank_error(rows[:, :n], est[b]).mean()))
print("n        " + "".join(f"{f'b={b}':>10}" for b in blocks))
for i, n in enumerate(ns):
  print(f"{n:<8} " + "".join(f"{err[b][i]:10.4f}" for b in blocks))
fig, ax = plt.subplots(figsize=(6.5, 4))
for b in blocks:
  ax.loglog(ns, err[b], "o-", label=f"block_size={b}")
ax.set_xlabel("n"); ax.set_ylabel("mean rank error |F(remedian) - 1/2|"); ax.legend()
ax.set_title("hard remedian: distance from the median (in rank)")
plt.show()
"""),
    md("""
### Classical vs weighted, at every n and on ordered data

`softq.remedian` is the *weighted* remedian (Rousseeuw and Bassett): every block value
carries the number of inputs under it; and its blocks interleave (inputs are dealt out
across segments, block `i` of a level takes entries `i, i + M, i + 2M, ...`), so every
block samples the whole input and ordered data are as easy as iid data
(`docs/remedian.md`). The classical remedian (every block its plain
median) is a poor median just above a power of the block size, where a lone leftover
input gets as much say as a whole block, and on data that arrive in order. Below: the
classical one in NumPy next to `softq.remedian(temperature=0)`, block size 7, on a log
grid of `n` (not only powers of 7), iid normal data (mean over 8 seeds) and ordered data
(90 % N(0, 1) inliers first, then 10 % outliers near 50). One compiled call covers every
`n`: each row is masked to its first `n` values.
"""),
    code("""
def classical_remedian(v, b=7):
  v = np.asarray(v, np.float64)
  while v.size > 1:
    full = (v.size // b) * b
    meds = list(np.median(v[:full].reshape(-1, b), axis=1))
    if full < v.size:
      meds.append(np.median(v[full:]))
    v = np.asarray(meds)
  return float(v[0])

grid = [10, 30, 50, 100, 344, 1000, 2402, 5000, 16808, 50000]
n_max, seeds = grid[-1], 8
rng = np.random.default_rng(0)
samples, sizes = [], []
for n in grid:
  for s in range(seeds):
    samples.append(rng.standard_normal(n)); sizes.append(n)
  k = n // 10
  samples.append(np.concatenate([rng.standard_normal(n - k), 50 + rng.standard_normal(k)]))
  sizes.append(n)
padded = np.zeros((len(samples), n_max))
for i, v in enumerate(samples):
  padded[i, :v.size] = v
weighted = np.asarray(jax.jit(lambda a, m: softq.remedian(a, axis=1, temperature=0, where=m))(
    jnp.asarray(padded, jnp.float32), jnp.arange(n_max)[None, :] < jnp.asarray(sizes)[:, None]))
rank_err = lambda v, r: abs(float(np.mean(v < r)) - 0.5)
rows, i = [], 0
for n in grid:
  iid_c = np.mean([rank_err(samples[i + s], classical_remedian(samples[i + s])) for s in range(seeds)])
  iid_w = np.mean([rank_err(samples[i + s], weighted[i + s]) for s in range(seeds)])
  o = samples[i + seeds]
  rows.append((n, iid_c, iid_w, rank_err(o, classical_remedian(o)), rank_err(o, weighted[i + seeds])))
  i += seeds + 1
print(f"{'n':>6} {'classical iid':>14} {'weighted iid':>13} {'classical ordered':>18} {'weighted ordered':>17}")
for r in rows:
  print(f"{r[0]:>6} {r[1]:14.3f} {r[2]:13.3f} {r[3]:18.3f} {r[4]:17.3f}")
fig, ax = plt.subplots(figsize=(7, 4))
ax.semilogx(grid, [r[1] for r in rows], "o-", label="classical, iid")
ax.semilogx(grid, [r[2] for r in rows], "o-", label="weighted, iid")
ax.semilogx(grid, [r[3] for r in rows], "s--", label="classical, ordered")
ax.semilogx(grid, [r[4] for r in rows], "s--", label="weighted, ordered")
ax.set_xlabel("n"); ax.set_ylabel("rank error |F(remedian) - 1/2|"); ax.legend()
ax.set_title("hard remedian, block size 7")
plt.show()
"""),
    md("""
Quantiles other than the median (`softq.quantile(..., algorithm="remedian")`)
pad the sample so that the padded remedian sits at rank `q`; their accuracy and
the choice of block size are measured in `docs/remedian.md`.
"""),
    md("""
## 2. Speed vs n

Wall time (median of 3 runs, jitted, after compilation) of the soft remedian,
the exact soft median (the default `"sorted"`, O(n log n)) and `jnp.median`
(sort-based, hard, not differentiable in a useful way). Log-log: the remedian's
slope is 1, and it stays below `jnp.median`.
"""),
    code("""
def bench(fn, x, repeats=3):
  jax.block_until_ready(fn(x))
  ts = []
  for _ in range(repeats):
    t0 = time.perf_counter(); jax.block_until_ready(fn(x)); ts.append(time.perf_counter() - t0)
  return float(np.median(ts))

sizes = [2**11, 2**13, 2**15, 2**18]
cands = {
    "jnp.median": (jax.jit(jnp.median), None),
    "softq.remedian": (jax.jit(lambda v: softq.remedian(v, temperature=0.1)), None),
    "softq.median (sorted)": (jax.jit(lambda v: softq.median(v, temperature=0.1)), None),
}
timings = {name: {} for name in cands}
for n in sizes:
  v = jax.random.normal(jax.random.PRNGKey(n), (n,))
  for name, (fn, limit) in cands.items():
    if limit is None or n <= limit:
      timings[name][n] = bench(fn, v)
print("n          " + "".join(f"{name:>26}" for name in cands))
for n in sizes:
  print(f"{n:<10} " + "".join(f"{1e3 * timings[name][n]:>23.3f} ms" if n in timings[name] else f"{'-':>26}"
                             for name in cands))
fig, ax = plt.subplots(figsize=(7, 4.2))
for name, t in timings.items():
  ax.loglog(list(t), list(t.values()), "o-", label=name)
ax.set_xlabel("n"); ax.set_ylabel("seconds"); ax.legend(fontsize=8); ax.set_title("time vs n (CPU)")
plt.show()
"""),
    md("""
## 3. Streaming: a running soft remedian inside a jitted loop

`remedian_init / remedian_update / remedian_result` keep O(b log n) state, so a
training loop can track a robust centre of a stream without storing it. Here a
`lax.scan` feeds 100 chunks of 500 values (a drifting stream with 10 % gross
outliers). A stream cannot deal values it has not seen, so it keeps consecutive blocks
(the consecutive-block weighted remedian, order sensitive on sorted streams); the one-shot
remedian interleaves, so the two are close but not equal.
"""),
    code("""
chunks = 100
key_s = jax.random.PRNGKey(2)
base = jax.random.normal(key_s, (chunks, 500)) + jnp.linspace(0, 2, chunks)[:, None]
outlier = jax.random.bernoulli(jax.random.fold_in(key_s, 1), 0.1, base.shape)
stream = jnp.where(outlier, 50.0, base)

@jax.jit
def run_stream(stream, tau):
  state = softq.remedian_init(block_size=7, temperature=tau)
  def step(state, chunk):
    state = softq.remedian_update(state, chunk)
    return state, softq.remedian_result(state)
  return jax.lax.scan(step, state, stream)

state, running = run_stream(stream, 0.05)
flat = stream.reshape(-1)
print("streamed soft remedian     :", float(running[-1]))
print("one-shot soft remedian     :", float(softq.remedian(flat, block_size=7, temperature=0.05)))
print("jnp.median of the stream   :", float(jnp.median(flat)), "   mean:", float(flat.mean()))
seen = np.arange(1, chunks + 1) * 500
fig, ax = plt.subplots(figsize=(7, 3.6))
ax.plot(seen, running, label="running soft remedian")
stream_np = np.asarray(stream)
ax.plot(seen, [np.median(stream_np[:i + 1]) for i in range(chunks)], "--", label="median so far")
ax.plot(seen, np.cumsum(np.asarray(stream.sum(1))) / seen, ":", label="mean so far")
ax.set_xlabel("values seen"); ax.legend(); ax.set_ylim(-1, 8); ax.set_title("a stream with 10% outliers at 50")
plt.show()
"""),
    md("""
## 4. Sharded input

With the reduced axis sharded over devices (`jax.sharding`) in whole segments
(`n` a multiple of devices x 2,401 for block size 7), each device deals and
reduces its own segments and only segment roots move between devices. Here 4
(virtual CPU) devices hold a quarter of 4 x 2,401 x 108 = 1,037,232 values each;
the result equals the unsharded one, and we list the collectives of the compiled
program with the number of values each moves: a small fraction of the inputs.
(For other `n` the one-shot remedian deals values across the whole input, which
moves data between devices: docs/remedian.md.)
"""),
    code("""
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
mesh = Mesh(np.array(jax.devices()[:4]), ("data",))
big = jax.random.normal(jax.random.PRNGKey(3), (4 * 2401 * 108,))
big_sharded = jax.device_put(big, NamedSharding(mesh, P("data")))
print("input sharding:", big_sharded.sharding, "| shard shapes:", {s.data.shape for s in big_sharded.addressable_shards})
f = jax.jit(lambda v: softq.remedian(v, temperature=0.05))
r_sharded, r_single = f(big_sharded), f(big)
print("sharded:", float(r_sharded), " single device:", float(r_single), " jnp.median:", float(jnp.median(big)))
hlo = f.lower(big_sharded).compile().as_text()
import re
collectives = re.findall(r"= \\w+\\[([\\d,]*)\\]\\S* (all-gather|all-reduce|all-to-all|collective-permute)\\(", hlo)
sizes_moved = [(op, int(np.prod([int(d) for d in dims.split(",") if d]))) for dims, op in collectives]
for op, size in sizes_moved:
  print(f"  {op:<20} {size:>8} values")
print(f"largest collective: {max(s for _, s in sizes_moved)} values "
      f"= {100 * max(s for _, s in sizes_moved) / big.size:.1f}% of the {big.size} inputs")
"""),
]
