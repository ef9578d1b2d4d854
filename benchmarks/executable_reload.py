"""Can a compiled CPU program be kept on disk and run in a later process? Checks, on this
jaxlib, the two cases that stopped a cache of memjax's executables keyed by call signature
(benchmarks/README.md, thirteenth session):

1. `jax.experimental.serialize_executable` of a freshly compiled program, loaded in a new
   process: expected to run.
2. The same for a program JAX had loaded from its persistent cache: jaxlib 0.10.1 writes
   a copy without its kernels, and running it fails ("Function ... not found").
3. A program with a LAPACK custom call (QR) loaded in a new process: it crashes the
   process unless `jax._src.lax.linalg.initialize_lapack()` runs first (tracing a
   program does that; loading one does not; `jax.export` calls it too).

Usage: python benchmarks/executable_reload.py   (~20 s on 2 CPUs; prints one line per case)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

CHILD = r"""
import pickle, sys
from memjax import cli
cli.prepare_cpu_cache()  # the ISA cap that lets JAX's CPU cache entries load
import jax, jax.numpy as jnp, numpy as np
from jax.experimental import serialize_executable as se
stage, folder, program = sys.argv[1:4]
cli.use_cache(folder + "/jax-cache")
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)

def elementwise(x):
    return jnp.sin(x[:, None] * jnp.arange(1000.0)).sum(0) + jnp.cumsum(x).max()

def qr(x):
    return jnp.linalg.qr(x.reshape(10, 5))[0].sum(0)

fn = {"elementwise": elementwise, "qr": qr}[program]
x = np.linspace(0, 1, 50, dtype=np.float32)
path = f"{folder}/{program}.pickle"
if stage == "compile":  # fills JAX's persistent cache
    jax.jit(fn).lower(x).compile()
elif stage == "serialize":
    with open(path, "wb") as f:
        pickle.dump(se.serialize(jax.jit(fn).lower(x).compile()), f)
else:
    if stage == "load-lapack":
        from jax._src.lax import linalg
        linalg.initialize_lapack()
    with open(path, "rb") as f:
        loaded = se.deserialize_and_load(*pickle.load(f))
    out = np.asarray(loaded(x))  # run first: tracing `fn` below would set LAPACK up
    same = np.array_equal(out, np.asarray(jax.jit(fn)(x)))
    print("ran, the same numbers as a fresh compile" if same else "ran, other numbers")
"""


def _stage(stage, folder, program):
    done = subprocess.run([sys.executable, "-c", CHILD, stage, folder, program],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "JAX_PLATFORMS": "cpu"})
    if done.returncode == 0:
        return done.stdout.strip().splitlines()[-1] if stage.startswith("load") else "done"
    if done.returncode < 0:
        return f"killed by signal {-done.returncode}"
    return "failed: " + (done.stderr.strip().splitlines() or ["?"])[-1][:120]


def main():
    cases = [
        ("1. fresh compile, serialised, loaded", "elementwise", ["serialize", "load"]),
        ("2. loaded from JAX's cache, serialised again, loaded", "elementwise",
         ["compile", "serialize", "load"]),
        ("3a. QR program loaded without initialize_lapack", "qr", ["serialize", "load"]),
        ("3b. QR program loaded after initialize_lapack", "qr", ["serialize", "load-lapack"]),
    ]
    for title, program, stages in cases:
        with tempfile.TemporaryDirectory() as folder:
            outcome = [_stage(s, folder, program) for s in stages]
        print(f"{title}: {outcome[-1]}")


if __name__ == "__main__":
    main()
