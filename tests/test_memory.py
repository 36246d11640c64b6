"""Peak memory of the O(n^2) kernels stays O(n * tile): measured in a subprocess.

A dense pairwise matrix at n = 16,384 is 1 GiB in float32 (several in reverse
mode); the tiled kernels must stay far below that for value_and_grad
(``python -m benchmarks.memory ALGO N fwd`` measures forward mode).  The peak
resident set is reset after compilation (``/proc/self/clear_refs``), so only
the call itself is measured.  Linux only.
"""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N = 16384
LIMIT_MB = 256.0   # the budget at n = 65,536; a dense n x n slab is 1024 MB here

pytestmark = pytest.mark.skipif(
    not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc")


def _measure(algorithm, mode):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  res = subprocess.run([sys.executable, "-m", "benchmarks.memory", algorithm, str(N), mode],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=1200,
                       check=True)
  return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("algorithm", ["deviation", "rank", "sorted"])
@pytest.mark.parametrize("mode", ["rev"])
def test_peak_memory_is_tiled(algorithm, mode):
  out = _measure(algorithm, mode)
  assert out["delta_mb"] < LIMIT_MB, out
