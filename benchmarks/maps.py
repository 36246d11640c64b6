"""Memory-map growth: lines added to /proc/self/maps by compiling one program per new shape.

Usage: python -m benchmarks.maps [--shapes 40] [--which softq,jnp]

Each implementation runs in a fresh subprocess that compiles
``jit(value_and_grad(lambda x: f(x, axis=-1).sum()))`` for shapes ``(2, n)``,
``n`` geometric from 1,000 to 200,000, calling it once per shape; it prints the
number of lines of ``/proc/self/maps`` before and after, the resident set and
the seconds taken.  XLA:CPU maps memory regions for every compiled program;
``vm.max_map_count`` (65,530 by default) bounds their total, and LLVM aborts
with "Unable to allocate section memory" when it is reached.
"""
import argparse
import json
import subprocess
import sys

_CHILD = r"""
import json, resource, sys, time
import numpy as np, jax, jax.numpy as jnp, softq
which, count = sys.argv[1], int(sys.argv[2])
f = {"softq": lambda x: softq.median(x, axis=-1, temperature=0.01),
     "jnp": lambda x: jnp.median(x, axis=-1)}[which]
def maps():
  with open("/proc/self/maps", "rb") as fh:
    return fh.read().count(b"\n")
ns = np.unique(np.geomspace(1000, 200000, count).astype(int))
g = jax.jit(jax.value_and_grad(lambda x: f(x).sum()))
jax.block_until_ready(g(jnp.ones((2, 999), jnp.float32)))    # warm the runtime first
before, t0 = maps(), time.perf_counter()
for n in ns:
  jax.block_until_ready(g(jnp.asarray(np.random.default_rng(int(n)).standard_normal((2, int(n))), jnp.float32)))
print(json.dumps({"which": which, "shapes": int(len(ns)), "maps_before": before, "maps_after": maps(),
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "seconds": time.perf_counter() - t0}))
"""


def measure(which: str, shapes: int) -> dict:
  out = subprocess.run([sys.executable, "-c", _CHILD, which, str(shapes)],
                       capture_output=True, text=True, check=False)
  if out.returncode:
    return {"which": which, "shapes": shapes, "error": f"exit {out.returncode}: {out.stderr[-300:]}"}
  return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--shapes", type=int, default=40)
  p.add_argument("--which", default="softq,jnp")
  a = p.parse_args(argv)
  print("| implementation | shapes | maps before | maps after | added | per shape | peak RSS MB | seconds |")
  print("|---|---|---|---|---|---|---|---|")
  for which in a.which.split(","):
    r = measure(which, a.shapes)
    if "error" in r:
      print(f"| {which} | {r['shapes']} | failed: {r['error']} |")
      continue
    add = r["maps_after"] - r["maps_before"]
    print(f"| {which} | {r['shapes']} | {r['maps_before']} | {r['maps_after']} | {add} | "
          f"{add / r['shapes']:.0f} | {r['rss_mb']:.0f} | {r['seconds']:.0f} |", flush=True)


if __name__ == "__main__":
  main()
