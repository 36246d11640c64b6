"""Cells of notebooks/04_applications.ipynb ."""

from _nb_cells import code, COMMON_SETUP, md  # pylint: disable=import-error

NB04 = [
    md("""
# 04 — Applications: robust training, median pooling, ensemble consensus

Three uses of a *differentiable* median, each against the usual mean or max:

1. **Robust regression with optax**: the loss is the soft median of the
   per-example losses (a smooth least-median-of-squares), on data with 30 %
   corrupted labels.
2. **A small CNN with soft-median pooling** (`softq.median_pool`, learnable
   temperature) vs max pooling, on generated images with salt noise.
3. **Ensemble consensus**: the soft median of several models' scores as a
   robust, differentiable vote (the PATE-style use), vs the mean, when some
   members are adversarial.

Everything is generated here (seeded); nothing is downloaded.
"""),
    code(COMMON_SETUP + """
import optax"""),
    md("""
## 1. Robust regression: soft median of the losses

A line `y = 1.5 x - 0.5` with noise; 30 % of the points are replaced by a
tight cluster of bad labels at high leverage (large `x`). We fit `y = w x + b`
with Adam, minimising

* the mean squared error (least squares),
* the mean absolute error (L1, median regression),
* the **soft median of the squared residuals**, `softq.median(r**2, temperature=0.05)`
  (a smooth least median of squares; the temperature is in loss units).

The training loop is a `lax.scan` under `jit`, with the soft median inside.
"""),
    code("""
rng = np.random.default_rng(0)
n = 200
x = rng.uniform(-3, 3, n)
corrupt = rng.random(n) < 0.3
x = np.where(corrupt, rng.uniform(2.0, 3.0, n), x)            # high-leverage points
y = np.where(corrupt, rng.normal(-6.0, 0.5, n), 1.5 * x - 0.5 + 0.3 * rng.normal(size=n))
X, Y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
x_test = np.linspace(-3, 3, 200); y_test = 1.5 * x_test - 0.5     # the clean line

def predict(p, x):
  return p["w"] * x + p["b"]

LOSSES = {
    "mean squared": lambda r: jnp.mean(r ** 2),
    "mean absolute": lambda r: jnp.mean(jnp.abs(r)),
    "soft median of squares": lambda r: softq.median(r ** 2, temperature=0.05),
}

def fit(loss, steps=400, lr=0.05):
  opt = optax.adam(lr)
  p0 = {"w": jnp.array(0.0), "b": jnp.array(0.0)}
  def step(carry, _):
    p, state = carry
    value, grads = jax.value_and_grad(lambda p: loss(Y - predict(p, X)))(p)
    updates, state = opt.update(grads, state, p)
    return (optax.apply_updates(p, updates), state), value
  (p, _), history = jax.jit(lambda p: jax.lax.scan(step, (p, opt.init(p)), None, length=steps))(p0)
  return p, history

fits = {}
print(f"{'loss':>24} {'w':>7} {'b':>7} {'test RMSE':>10}   (truth: w=1.5, b=-0.5)")
for name, loss in LOSSES.items():
  p, history = fit(loss)
  rmse = float(np.sqrt(np.mean((np.asarray(predict(p, x_test)) - y_test) ** 2)))
  fits[name] = (p, history, rmse)
  print(f"{name:>24} {float(p['w']):7.3f} {float(p['b']):7.3f} {rmse:10.4f}")
"""),
    code("""
fig, axes = plt.subplots(1, 2, figsize=(13, 4))
axes[0].scatter(x[~corrupt], y[~corrupt], s=8, c="gray", label="clean")
axes[0].scatter(x[corrupt], y[corrupt], s=8, c="tab:red", label="corrupted (30%)")
axes[0].plot(x_test, y_test, "k--", lw=1, label="truth")
for name, (p, history, rmse) in fits.items():
  axes[0].plot(x_test, predict(p, x_test), lw=2, label=f"{name} (RMSE {rmse:.2f})")
  axes[1].semilogy(np.asarray(history) / np.asarray(history)[0], label=name)
axes[0].legend(fontsize=8); axes[0].set_title("learned lines")
axes[1].set_title("training loss (relative to step 0)"); axes[1].set_xlabel("Adam step"); axes[1].legend(fontsize=8)
plt.tight_layout(); plt.show()
"""),
    md("""
Least squares is dragged towards the bad cluster, L1 is tilted by the
high-leverage points, and the soft median of the squared residuals ignores
them: it only listens to the best-fitting half of the data.

### Learning the temperature of the loss, and why not to

The temperature is differentiable, so it is tempting to learn it with the
weights. Here the same fit with the soft median of squares, 600 Adam steps,
five ways: the temperature learned jointly (as `log tau`, starting at 1), fixed
at 0.05, scheduled (geometric decay from 1 to 0.05), and fixed at 5 % of the
squared residuals' spread (`temperature_scale="std"`, and the robust `"mad"`). The fit error is the largest
difference between the learned `(w, b)` and the least-squares fit of the clean
points alone (what a robust fit should recover); the loss roughness is the
typical step-to-step change of the loss over the last 100 steps, relative to
the loss.

A soft median of a right-skewed sample (squared residuals are) grows with the
temperature towards the mean, so the gradient of the loss with respect to the
temperature is positive and Adam keeps lowering it: the learned temperature
anneals towards 0, where the loss becomes the hard median of the squares,
a non-smooth function whose gradient jumps from one data point to another.
"""),
    code("""
A_clean = np.stack([x[~corrupt], np.ones((~corrupt).sum())], axis=1)
clean_fit = np.linalg.lstsq(A_clean, y[~corrupt], rcond=None)[0]    # (w, b) on the clean points
STEPS = 600

def scale_of(mode):   # 'temperature_scale="std"' -> "std"; None for the others
  return mode.split('"')[1] if mode.startswith("temperature_scale") else None

def fit_tau(mode, steps=STEPS, lr=0.05):
  opt = optax.adam(lr)
  p0 = {"w": jnp.array(0.0), "b": jnp.array(0.0), "log_tau": jnp.log(1.0)}
  def loss(p, t):
    r2 = (Y - predict(p, X)) ** 2
    if mode == "learned":
      return softq.median(r2, temperature=jnp.exp(p["log_tau"]))
    if mode == "fixed 0.05":
      return softq.median(r2, temperature=0.05)
    if mode == "schedule 1 -> 0.05":
      return softq.median(r2, temperature=0.05 ** (t / steps))
    return softq.median(r2, temperature=0.05, temperature_scale=scale_of(mode))
  def step(carry, t):
    p, state = carry
    value, grads = jax.value_and_grad(loss)(p, t)
    if mode != "learned":
      grads["log_tau"] = jnp.zeros_like(grads["log_tau"])
    updates, state = opt.update(grads, state, p)
    return (optax.apply_updates(p, updates), state), (value, jnp.exp(p["log_tau"]))
  (p, _), (values, taus) = jax.jit(lambda p: jax.lax.scan(
      step, (p, opt.init(p)), jnp.arange(steps, dtype=jnp.float32)))(p0)
  return p, np.asarray(values), np.asarray(taus)

tau_runs = {}
print(f"{'temperature':>22} {'tau at end':>11} {'fit error':>10} {'loss roughness':>15}")
for mode in ["learned", "fixed 0.05", "schedule 1 -> 0.05", 'temperature_scale="std"',
             'temperature_scale="mad"']:
  p, values, taus = fit_tau(mode)
  err = float(np.max(np.abs(np.array([float(p["w"]), float(p["b"])]) - clean_fit)))
  tail = values[-100:]
  rough = float(np.median(np.abs(np.diff(tail))) / np.mean(tail))
  end_tau = (f"0.05 {scale_of(mode)}" if scale_of(mode) else
             {"learned": f"{float(taus[-1]):.4g}", "fixed 0.05": "0.05",
              "schedule 1 -> 0.05": f"{0.05 ** ((STEPS - 1) / STEPS):.4g}"}[mode])
  tau_runs[mode] = (values, taus, err)
  print(f"{mode:>22} {end_tau:>11} {err:10.4f} {rough:15.2e}")
print(f"learned temperature: {tau_runs['learned'][1][0]:.3g} at step 0, "
      f"{tau_runs['learned'][1][STEPS // 2]:.3g} at step {STEPS // 2}, {tau_runs['learned'][1][-1]:.3g} at step {STEPS}")

fig, axes = plt.subplots(1, 2, figsize=(13, 3.6))
axes[0].semilogy(tau_runs["learned"][1]); axes[0].set_title("learned temperature"); axes[0].set_xlabel("Adam step")
for mode, (values, taus, err) in tau_runs.items():
  axes[1].semilogy(values, label=f"{mode} (fit error {err:.3f})", lw=1)
axes[1].set_title("training loss"); axes[1].set_xlabel("Adam step"); axes[1].legend(fontsize=8)
plt.tight_layout(); plt.show()
"""),
    md("""
The table carries this run's numbers: how far the learned temperature fell,
how rough the loss became, and how each fit compares with the clean-data fit.
The remedies, in order of simplicity: fix the temperature (at a value in the
units of the loss), schedule it (anneal it yourself, slowly, to the
temperature you want to end at), or state it as a fraction of the spread with
`temperature_scale=` so that it follows the residuals as they shrink. With a
large share of gross outliers the standard deviation of the squared residuals
is theirs, so a fraction of it can be soft against the inliers' residuals;
`"mad"` measures the spread robustly. Learning a temperature makes more sense where
the objective does not reward sharpness by itself, as in the pooling layer of the
next section, whose temperature is trained through a classification loss.

## 2. A small CNN with soft-median pooling

Generated 12 x 12 images of four classes (a horizontal, vertical, diagonal or
anti-diagonal stroke at a random place), with Gaussian noise and **salt noise**
(8 % of the pixels set to the stroke intensity). The same CNN

`conv 3x3 (8) -> ReLU -> pool 2x2 stride 2 -> conv 3x3 (16) -> ReLU -> global mean -> dense (4)`

is trained with the pool being max pooling (`lax.reduce_window`) or
`softq.median_pool` whose temperature is a trained parameter (`log tau`, started
at `tau = 0.3`). Then both are tested at several salt-noise levels.
"""),
    code("""
S = 12

def make_images(n, salt, rng):
  imgs = np.zeros((n, S, S), np.float32)
  labels = rng.integers(0, 4, n)
  for i, c in enumerate(labels):
    length = rng.integers(6, 10); r0, c0 = rng.integers(0, S - length + 1, 2); k = rng.integers(0, S)
    t = np.arange(length)
    rows, cols = [(np.full(length, k), c0 + t), (r0 + t, np.full(length, k)),
                  (r0 + t, c0 + t), (r0 + t, c0 + length - 1 - t)][c]
    imgs[i, rows, cols] = 1.0
  imgs += 0.1 * rng.normal(size=imgs.shape)
  imgs = np.where(rng.random(imgs.shape) < salt, 1.0, imgs)
  return jnp.asarray(imgs[..., None], jnp.float32), jnp.asarray(labels)

data_rng = np.random.default_rng(1)
x_train, y_train = make_images(2048, 0.08, data_rng)
fig, axes = plt.subplots(1, 8, figsize=(12, 1.8))
for ax, im, lab in zip(axes, x_train[:8, ..., 0], y_train[:8]):
  ax.imshow(im, cmap="gray"); ax.set_title(["horiz.", "vert.", "diag.", "anti-diag."][int(lab)], fontsize=9); ax.axis("off")
plt.show()
"""),
    code("""
def conv(x, w, b):
  return jax.lax.conv_general_dilated(x, w, (1, 1), "SAME",
                                      dimension_numbers=("NHWC", "HWIO", "NHWC")) + b

def pool(h, p, kind):
  if kind == "max":
    return jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
  return softq.median_pool(h, (2, 2), (2, 2), "VALID", temperature=jnp.exp(p["log_tau"]))

def cnn(p, x, kind):
  h = jax.nn.relu(conv(x, p["c1"], p["b1"]))
  h = pool(h, p, kind)
  h = jax.nn.relu(conv(h, p["c2"], p["b2"]))
  return h.mean(axis=(1, 2)) @ p["d"] + p["bd"]

def init(key):
  k1, k2, k3 = jax.random.split(key, 3)
  return {"c1": 0.5 * jax.random.normal(k1, (3, 3, 1, 8)), "b1": jnp.zeros(8),
          "c2": 0.2 * jax.random.normal(k2, (3, 3, 8, 16)), "b2": jnp.zeros(16),
          "d": 0.3 * jax.random.normal(k3, (16, 4)), "bd": jnp.zeros(4), "log_tau": jnp.log(0.3)}

def train_cnn(kind, steps=250, batch=32):
  opt = optax.adam(0.01)
  p0 = init(jax.random.PRNGKey(0))
  idx = jax.random.randint(jax.random.PRNGKey(2), (steps, batch), 0, len(y_train))
  def loss(p, xb, yb):
    return optax.softmax_cross_entropy_with_integer_labels(cnn(p, xb, kind), yb).mean()
  def step(carry, i):
    p, state = carry
    value, grads = jax.value_and_grad(loss)(p, x_train[i], y_train[i])
    updates, state = opt.update(grads, state, p)
    p = optax.apply_updates(p, updates)
    return (p, state), (value, jnp.exp(p["log_tau"]))
  (p, _), (losses, taus) = jax.jit(lambda p: jax.lax.scan(step, (p, opt.init(p)), idx))(p0)
  return p, np.asarray(losses), np.asarray(taus)

trained = {}
for kind in ["max", "median"]:
  t0 = time.perf_counter()
  trained[kind] = train_cnn(kind)
  print(f"{kind:>6} pooling: trained in {time.perf_counter() - t0:.1f} s, final loss "
        f"{trained[kind][1][-20:].mean():.3f}" + (f", learned tau {trained[kind][2][-1]:.3f}" if kind == "median" else ""))
"""),
    code("""
salts = [0.0, 0.04, 0.08, 0.12, 0.16, 0.2]
test_rng = np.random.default_rng(3)
tests = [make_images(1000, s, test_rng) for s in salts]
acc = {kind: [float((jnp.argmax(jax.jit(cnn, static_argnums=2)(trained[kind][0], xt, kind), -1) == yt).mean())
              for xt, yt in tests] for kind in trained}
print("salt rate     " + "".join(f"{s:>7.2f}" for s in salts))
for kind in acc:
  print(f"{kind:>6} pool   " + "".join(f"{a:7.3f}" for a in acc[kind]))
fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
for kind in acc:
  axes[0].plot(salts, acc[kind], "o-", label=f"{kind} pooling")
  axes[1].plot(np.convolve(trained[kind][1], np.ones(10) / 10, "valid"), label=f"{kind} pooling")
axes[0].set_xlabel("salt-noise rate at test time (trained at 0.08)"); axes[0].set_ylabel("test accuracy"); axes[0].legend()
axes[1].set_title("training loss (moving average)"); axes[1].set_xlabel("step"); axes[1].legend()
axes[2].plot(trained["median"][2]); axes[2].set_title("learned temperature of median_pool"); axes[2].set_xlabel("step")
plt.tight_layout(); plt.show()
"""),
    md("""
Both networks learn the clean task; as the salt rate grows, max pooling passes
every salt pixel that survives the first convolution on to the next layer,
while the median of a 2 x 2 window needs two of its four values to be high.
In this seeded run median pooling is ahead at every noise level above 0 (see
the table), by a few points at the higher rates, and the learned temperature
settles well below its starting value 0.3: training chose a pooling closer to
the hard median.
"""),
    md("""
## 3. Ensemble consensus: a robust, differentiable vote

Nine "teachers" are trained on disjoint ninths of a labelled set (as
in PATE), each a softmax regression on 2-D data with three classes. Their
consensus for a test point aggregates the nine score vectors (logits) class by
class, then takes the argmax. We turn `k` of the nine members adversarial (they
report their logits flipped and amplified by 20) and compare the aggregates:
the mean, the hard median and the soft median (`temperature=0.5`, in logit units).
"""),
    code("""
centers = np.array([[0.0, 2.0], [-1.8, -1.0], [1.8, -1.0]])
def blobs(n, rng):
  lab = rng.integers(0, 3, n)
  return jnp.asarray(centers[lab] + 1.1 * rng.normal(size=(n, 2)), jnp.float32), jnp.asarray(lab)

ens_rng = np.random.default_rng(4)
M = 9
xs, ys = blobs(M * 100, ens_rng)
xs, ys = xs.reshape(M, 100, 2), ys.reshape(M, 100)          # one disjoint part per teacher
x_eval, y_eval = blobs(1000, ens_rng)

def logits(p, x):
  return x @ p["W"] + p["c"]

def train_teacher(x, y, steps=300):
  opt = optax.adam(0.05)
  p0 = {"W": jnp.zeros((2, 3)), "c": jnp.zeros(3)}
  loss = lambda p: optax.softmax_cross_entropy_with_integer_labels(logits(p, x), y).mean()
  def step(carry, _):
    p, s = carry
    u, s = opt.update(jax.grad(loss)(p), s, p)
    return (optax.apply_updates(p, u), s), None
  return jax.lax.scan(step, (p0, opt.init(p0)), None, length=steps)[0][0]

teachers = jax.jit(jax.vmap(train_teacher))(xs, ys)
scores = jax.vmap(logits, in_axes=(0, None))(teachers, x_eval)    # (M, n, 3)
single = (jnp.argmax(scores, -1) == y_eval).mean(axis=1)
print("accuracy of each teacher:", np.asarray(single).round(3))

AGG = {
    "mean": lambda s: s.mean(axis=0),
    "hard median": lambda s: jnp.median(s, axis=0),
    "soft median (tau=0.5)": lambda s: softq.median(s, axis=0, temperature=0.5),
}
def corrupt_scores(s, k):
  return s.at[:k].set(-20.0 * s[:k])

ks = list(range(0, 6))
ens_acc = {name: [float((jnp.argmax(agg(corrupt_scores(scores, k)), -1) == y_eval).mean()) for k in ks]
           for name, agg in AGG.items()}
print("adversaries   " + "".join(f"{k:>7d}" for k in ks))
for name, a in ens_acc.items():
  print(f"{name:>22}" + "".join(f"{v:7.3f}" for v in a))
"""),
    md("""
The consensus is differentiable, so a student can be trained through it and
each member's influence is a gradient. Below: how much the consensus score of
the true class moves per unit change of each member's score (averaged over
test points), with 2 adversaries (members 0 and 1).
"""),
    code("""
s2 = corrupt_scores(scores, 2)
def consensus_true(s, agg):
  return jnp.take_along_axis(agg(s), y_eval[:, None], axis=1).sum()
influence = {name: np.asarray(jnp.abs(jax.grad(consensus_true)(s2, agg)).sum(axis=(1, 2)) / len(y_eval))
             for name, agg in AGG.items() if name != "hard median"}
fig, axes = plt.subplots(1, 2, figsize=(13, 3.6))
for name, a in ens_acc.items():
  axes[0].plot(ks, a, "o-", label=name)
axes[0].set_xlabel("adversarial members (of 9)"); axes[0].set_ylabel("consensus accuracy"); axes[0].legend()
width = 0.4
for j, (name, inf) in enumerate(influence.items()):
  axes[1].bar(np.arange(M) + (j - 0.5) * width, inf, width=width, label=name)
axes[1].set_xticks(range(M), [f"{i}" + (" (adv)" if i < 2 else "") for i in range(M)], fontsize=8)
axes[1].set_title("influence of each member on the consensus (2 adversaries)"); axes[1].legend()
plt.tight_layout(); plt.show()
for name, inf in influence.items():
  print(f"{name:>22}: adversaries' share of the influence = {inf[:2].sum() / inf.sum():.3f}")
"""),
    md("""
The mean is taken over by a single adversary, since its amplified scores
dominate the average. The median votes hold until the adversaries are close to
half of the ensemble, and the soft median gives (almost) no gradient to the
adversarial members, so a student trained through it is not pulled by them.
"""),
]
