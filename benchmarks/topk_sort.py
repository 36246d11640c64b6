"""Soft sort, soft top-k and several quantiles at once (issues 20 and 21).

Section ``topk_sort`` of ``python -m benchmarks``:

* ``softq.sort`` value+gradient at (64, 4096) and n = 65,536 against
  ``jnp.sort`` and SoftJAX ``sort(method="fast_soft_sort")``;
* ``softq.top_k`` at (64, 4096), k = 64, against ``jax.lax.top_k`` and SoftJAX
  ``top_k(method="fast_soft_sort")``;
* ``softq.quantile(x, [0.1, 0.5, 0.9], axis=-1)`` against one
  ``softq.median`` of the same rows at (256, 512) and (64, 4096);
* peak memory of the sort's value+gradient at n = 65,536 in a fresh process
  (``python -m benchmarks.topk_sort memory N``, prints JSON).

Same methodology as the other sections (temperature 0.01 on standard-normal
float32 data; SoftJAX at softness 0.01, standardised).
"""

from __future__ import annotations

import json
import sys

import jax
import jax.numpy as jnp

import softq

from benchmarks import topk_mask

TAU = 0.01
LEVELS = (0.1, 0.5, 0.9)


def _softjax():
  try:
    import softjax  # pylint: disable=import-outside-toplevel
  except ImportError:
    return None
  return softjax


def sort_impls(Impl):
  impls = [Impl("jnp.sort", lambda v: jnp.sort(v, axis=-1)),
           Impl("softq sort", lambda v: softq.sort(v, temperature=TAU))]
  sj = _softjax()
  if sj is not None:
    impls.append(Impl("softjax fast_soft_sort", lambda v: sj.sort(
        v, axis=-1, softness=TAU, method="fast_soft_sort")))
  return impls


def top_k_impls(Impl, k):
  impls = [Impl("lax.top_k", lambda v: jax.lax.top_k(v, k)[0]),
           Impl("softq top_k", lambda v: softq.top_k(v, k, temperature=TAU)[0])]
  sj = _softjax()
  if sj is not None:
    impls.append(Impl("softjax top_k fast_soft_sort", lambda v: sj.top_k(
        v, k, softness=TAU, method="fast_soft_sort")[0]))
  return impls


def quantile_impls(Impl):
  q = jnp.asarray(LEVELS, jnp.float32)
  return [Impl("softq median", lambda v: softq.median(v, axis=-1, temperature=TAU)),
          Impl("softq quantile x3", lambda v: softq.quantile(v, q, axis=-1, temperature=TAU)),
          Impl("jnp.quantile x3", lambda v: jnp.quantile(v, q, axis=-1)),
          Impl("jnp.median", lambda v: jnp.median(v, axis=-1))]


def run(cfg, report, rng, Impl, memory_json):
  """The section (``cfg.rounds`` rounds; ``memory_json(module, *args)`` runs a subprocess)."""
  normal = lambda shape: jnp.asarray(rng.standard_normal(shape), jnp.float32)
  report.section("Soft sort, top-k and several quantiles (issues 20, 21)",
                 "value+gradient of the sum of the outputs; softq at temperature 0.01, "
                 "SoftJAX fast_soft_sort at softness 0.01; see benchmarks/topk_sort.py.")
  for shape in ((64, 4096), (65536,)):
    report.case(f"sort {shape}", normal(shape), sort_impls(Impl), cfg.rounds,
                reference="jnp.sort", hard_from="jnp.sort")
  report.case("top_k (64, 4096) k=64", normal((64, 4096)), top_k_impls(Impl, 64), cfg.rounds,
              reference="lax.top_k", hard_from="lax.top_k")
  notes: list[str] = []
  report.case(f"top_k_mask {topk_mask.SHAPE} k={topk_mask.K}", normal(topk_mask.SHAPE),
              topk_mask.impls(notes), cfg.rounds, reference="lax.top_k + scatter",
              hard_from=None)
  for note in notes:
    report.emit("", note)
  for shape in ((256, 512), (64, 4096)):
    report.case(f"quantile x3 vs median {shape}", normal(shape), quantile_impls(Impl),
                cfg.rounds, reference="softq median", hard_from=None)
  try:
    mem = memory_json("benchmarks.topk_sort", "memory", 65536)
    report.emit("", f"Peak memory above the input, softq.sort value+gradient, n = 65,536: "
                f"{mem['delta_mb']} MB (input {mem['input_mb']} MB).")
  except Exception as e:  # pylint: disable=broad-except
    report.skip(f"sort memory: {e}")


def memory(n: int) -> dict:
  """Peak resident set above the input during one sort value+gradient (this process)."""
  from benchmarks import memory as mem  # pylint: disable=import-outside-toplevel
  x = jax.random.normal(jax.random.key(0), (n,), jnp.float32)
  g = jax.jit(jax.value_and_grad(lambda v: jnp.sum(jnp.cos(v) * softq.sort(v, temperature=TAU))))
  compiled = g.lower(x).compile()
  jax.block_until_ready(x)
  mem._reset_peak()  # pylint: disable=protected-access
  base = mem._status_mb("VmRSS")  # pylint: disable=protected-access
  jax.block_until_ready(compiled(x))
  peak = mem._status_mb("VmHWM")  # pylint: disable=protected-access
  return {"n": n, "base_mb": round(base, 1), "peak_mb": round(peak, 1),
          "delta_mb": round(peak - base, 1), "input_mb": round(n * 4 / 2**20, 3)}


if __name__ == "__main__":
  if sys.argv[1:2] == ["memory"]:
    print(json.dumps(memory(int(sys.argv[2]))))
