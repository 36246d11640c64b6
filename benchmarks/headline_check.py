"""Headline value+gradient ratios, softq median / jnp.median, on the installed JAX (3 interleaved rounds).

Usage: python benchmarks/headline_check.py   (prints one line per shape)
"""
import jax, jax.numpy as jnp, softq, time, sys
print("jax", jax.__version__)
cases=[((1000000,),None),((100000,9),-1),((10000,64),-1),((256,512),-1),((64,4096),-1)]
def tm(f,x):
  jax.block_until_ready(f(x)); ts=[]
  for i in range(7):
    t=time.perf_counter(); jax.block_until_ready(f(x)); ts.append(time.perf_counter()-t)
  return sorted(ts)[3]
for shape,ax in cases:
  x=jax.random.normal(jax.random.PRNGKey(0),shape)
  fs=jax.jit(jax.value_and_grad(lambda x: softq.median(x, axis=ax, temperature=0.01).sum()))
  fj=jax.jit(jax.value_and_grad(lambda x: jnp.median(x, axis=ax).sum()))
  r=[]
  for _ in range(3): r.append(tm(fs,x)/tm(fj,x))
  print(shape, "softq/jnp v+g ratios (3 interleaved rounds):", " ".join("%.2f"%v for v in r), flush=True)
