"""Peak memory of one soft median, value and gradient, in a fresh process.

``python -m benchmarks.memory ALGORITHM N [MODE]`` prints one line of JSON:
the peak resident set (VmHWM) after building the input, after the measured
call, and their difference.  ALGORITHM is one of ``softq.ALGORITHMS``,
``default`` (``softq.median`` without an ``algorithm`` argument: whatever
the library's default is) or ``jnp`` (``jnp.median``, for reference).  MODE is
``rev`` (value_and_grad, default), ``fwd`` (a jvp: forward mode) or
``value``.  Run it in a subprocess: the high-water mark is per process.
"""

from __future__ import annotations

import json
import sys


def _status_mb(field: str) -> float:
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith(field + ":"):
        return int(line.split()[1]) / 1024.0
  raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> None:
  """Resets VmHWM to the current resident set (Linux >= 4.0), so compilation
  does not count."""
  with open("/proc/self/clear_refs", "w") as f:
    f.write("5")


def measure(algorithm: str, n: int, mode: str = "rev") -> dict:
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  import softq  # pylint: disable=import-outside-toplevel

  x = jax.random.normal(jax.random.key(0), (n,), jnp.float32)

  if algorithm == "jnp":
    f = jnp.median
  elif algorithm == "default":
    def f(v):
      return softq.median(v, temperature=0.01)
  else:
    def f(v):
      return softq.median(v, temperature=0.01, algorithm=algorithm)

  if mode == "rev":
    g = jax.jit(jax.value_and_grad(f))
    args = (x,)
  elif mode == "fwd":
    g = jax.jit(lambda v, t: jax.jvp(f, (v,), (t,)))
    args = (x, jnp.ones_like(x))
  else:
    g = jax.jit(f)
    args = (x,)
  compiled = g.lower(*args).compile()
  jax.block_until_ready(args)
  _reset_peak()
  base = _status_mb("VmRSS")
  jax.block_until_ready(compiled(*args))
  peak = _status_mb("VmHWM")
  if algorithm == "default":
    algorithm = f"default ({softq.DEFAULT_ALGORITHM})"
  elif algorithm == "jnp":
    algorithm = "jnp.median"
  return {"algorithm": algorithm, "n": n, "mode": mode, "base_mb": round(base, 1),
          "peak_mb": round(peak, 1), "delta_mb": round(peak - base, 1),
          "input_mb": round(n * 4 / 2**20, 3)}


if __name__ == "__main__":
  algo, size = sys.argv[1], int(sys.argv[2])
  print(json.dumps(measure(algo, size, sys.argv[3] if len(sys.argv) > 3 else "rev")))
