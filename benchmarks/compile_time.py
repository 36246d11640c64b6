"""Compile time of one value-and-gradient function, in a fresh process.

``python -m benchmarks.compile_time CASE N`` prints one line of JSON with the
seconds spent in ``jax.jit(jax.value_and_grad(f)).lower(x)`` (tracing and
lowering) and in ``.compile()`` (XLA), for a float32 input of ``N`` values.
Run it in a subprocess so that no cache of an earlier trace or compilation
helps (the persistent compilation cache is switched off); the process first
compiles a trivial function so that starting the backend is not counted.

CASE is ``jnp`` (``jnp.median``), ``default`` (``softq.median`` without an
``algorithm`` argument), an algorithm name (``sorted``, ``remedian``, ...),
``softjax`` (SoftJAX's ``median(method="fast_soft_sort")`` at softness 0.01,
when installed) or one of the streaming cases: ``stream-remedian`` (a ``lax.scan`` over
chunks of 1,000 values feeding ``softq.remedian_update``, then
``softq.remedian_result``) and ``stream-trivial`` (the same scan carrying a
running sum).

:func:`hlo_lines` counts the lines of the optimised HLO of the same compiled
function (``compile().as_text()``): a deterministic measure of program size,
unlike the seconds.
"""

from __future__ import annotations

import json
import os
import sys
import time

CASES = ("jnp", "default", "sorted", "remedian", "stream-remedian", "stream-trivial", "softjax")
CHUNK = 1000
TAU = 0.01


def _function(case: str):
  """The scalar function of the input whose value and gradient is compiled."""
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  import softq  # pylint: disable=import-outside-toplevel

  if case == "jnp":
    return jnp.median
  if case == "default":
    return lambda v: softq.median(v, temperature=TAU)
  if case == "softjax":
    import softjax  # pylint: disable=import-outside-toplevel
    return lambda v: softjax.median(v, softness=TAU, method="fast_soft_sort")
  if case == "stream-remedian":
    def stream(v):
      state = softq.remedian_init(temperature=TAU)
      step = lambda s, chunk: (softq.remedian_update(s, chunk), None)
      state, _ = jax.lax.scan(step, state, v.reshape(-1, CHUNK))
      return softq.remedian_result(state)
    return stream
  if case == "stream-trivial":
    def trivial(v):
      step = lambda s, chunk: (s + jnp.sum(chunk), None)
      total, _ = jax.lax.scan(step, jnp.zeros((), v.dtype), v.reshape(-1, CHUNK))
      return total / v.size
    return trivial
  return lambda v: softq.median(v, temperature=TAU, algorithm=case)


def measure(case: str, n: int) -> dict:
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel

  jax.jit(jnp.sum).lower(jnp.ones(3)).compile()        # backend start-up
  if case.startswith("stream") and n % CHUNK:
    raise ValueError(f"stream cases need N divisible by {CHUNK}, got {n}")
  x = jnp.zeros((n,), jnp.float32)
  f = jax.jit(jax.value_and_grad(_function(case)))
  t0 = time.perf_counter()
  lowered = f.lower(x)
  t1 = time.perf_counter()
  lowered.compile()
  t2 = time.perf_counter()
  return {"case": case, "n": n, "lower_s": round(t1 - t0, 4), "compile_s": round(t2 - t1, 4),
          "total_s": round(t2 - t0, 4)}


def hlo_lines(case: str, n: int) -> int:
  """Lines of the optimised HLO of ``jit(value_and_grad(f))`` at ``n`` float32 values."""
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel

  x = jnp.zeros((n,), jnp.float32)
  compiled = jax.jit(jax.value_and_grad(_function(case))).lower(x).compile()
  return len(compiled.as_text().splitlines())


if __name__ == "__main__":
  os.environ.setdefault("JAX_ENABLE_COMPILATION_CACHE", "false")
  print(json.dumps(measure(sys.argv[1], int(sys.argv[2]))))
