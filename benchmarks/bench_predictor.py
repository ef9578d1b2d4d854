"""`theory.predicted_error` over a sequence of sizes, as a user calls it: each call's time
with compilation (the first at its shape) and warm (median of repeats), per route.

    python benchmarks/bench_predictor.py --route eager    # concrete arrays: host route
    python benchmarks/bench_predictor.py --route traced   # inside jax.jit: device route

Run each route in its own process (compiled programs are cached per process), on a quiet
machine; the machine and its load are printed first.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import jax
import numpy as np

from memjax import theory
from memjax.data import zipf_probs

SIZES = (100, 300, 1000, 3000)  # N; a batch of 4 weight vectors q = p^ρ at d = 64
NUM_OUTPUTS, DIM, REPEATS = 5, 64.0, 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--route", choices=("eager", "traced"), default="eager")
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.2f}, jax {jax.__version__}, "
          f"{jax.default_backend()}, route {args.route}")
    predict = theory.predicted_error
    if args.route == "traced":
        predict = jax.jit(theory.predicted_error, static_argnums=4)
    total = 0.0
    for num_inputs in SIZES:
        probs = np.asarray(zipf_probs(num_inputs, 2.0), np.float64)
        weights = np.stack([probs ** rho for rho in (0.5, 1.0, 1.5, 2.0)])
        targets = np.arange(num_inputs) % NUM_OUTPUTS

        def call():
            return jax.block_until_ready(predict(weights, probs, targets, DIM, NUM_OUTPUTS))

        start = time.perf_counter()
        call()
        first = time.perf_counter() - start
        warm = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            call()
            warm.append(time.perf_counter() - start)
        total += first
        print(f"N = {num_inputs:5d}: first call {first:6.2f} s, warm {np.median(warm):6.3f} s")
    print(f"first calls, all sizes: {total:.2f} s")


if __name__ == "__main__":
    main()
