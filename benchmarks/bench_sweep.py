"""Times the explicit-scheme grids of SPEC §5.1–5.3 at full paper size (100 seeds).

For each grid: compile time (first call minus a warm call), the median of >= 3 warm runs
(results fetched to the host, so every run is complete), grid points per second, the
process's peak resident memory, and the same grid computed by a plain NumPy loop over
(seed, T, d) with the same cheap contraction (scores = E (Eᵀ Z)), timed on a few seeds
and scaled to 100, for a side-by-side ratio. Each grid runs in its own process so that the
peak memory is its own.

    python benchmarks/bench_sweep.py                 # all three grids
    python benchmarks/bench_sweep.py --grids 5.1 --loop-seeds 3
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

GRIDS = {
    "5.1": dict(num_inputs=1000, num_outputs=5, zipf_exponent=2.0,
                dims=[10, 20, 50, 100, 200, 1000], num_samples=[10, 100, 1000, 10_000],
                schemes=["empirical:power=0,top=d/12"]),
    "5.2": dict(num_inputs=1000, num_outputs=5, zipf_exponent=2.0,
                dims=np.unique(np.round(np.logspace(1, 3, 20))).astype(int).tolist(),
                num_samples=[math.inf],
                schemes=["uniform", "population:power=1", "threshold:top=d/8"]),
    "5.3": dict(num_inputs=100, num_outputs=5, zipf_exponent=0.5,
                dims=np.unique(np.round(np.logspace(1, 3, 30))).astype(int).tolist(),
                num_samples=np.unique(np.round(np.logspace(1, 4, 30))).astype(int).tolist(),
                schemes=["empirical:power=0"]),
}
NUM_SEEDS = 100


def run_memjax(name: str, repeats: int) -> dict:
    import jax

    import memjax

    grid = GRIDS[name]
    start = time.perf_counter()
    result = memjax.sweep(jax.random.key(0), num_seeds=NUM_SEEDS, **grid)
    first = time.perf_counter() - start
    warm = []
    for r in range(repeats):
        start = time.perf_counter()
        result = memjax.sweep(jax.random.key(r + 1), num_seeds=NUM_SEEDS, **grid)
        warm.append(time.perf_counter() - start)  # sweep returns host arrays: complete
    median = statistics.median(warm)
    return {"grid": name, "points": int(result.error.size), "first_call_s": first,
            "compile_s": first - median, "warm_median_s": median, "warm_runs_s": warm,
            "points_per_s": result.error.size / median,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "route": result.config["route"]}


def _numpy_seed(rng, grid, probs):
    """One seed of the grid in plain NumPy float32, looping over (T, d)."""
    from memjax import schemes

    n, m = grid["num_inputs"], grid["num_outputs"]
    dims, sizes = grid["dims"], grid["num_samples"]
    parsed = [schemes.parse(s) for s in grid["schemes"]]
    targets = np.arange(n) % m
    base_in = rng.standard_normal((n, max(dims)), dtype=np.float32)
    base_out = rng.standard_normal((m, max(dims)), dtype=np.float32)
    finite = [int(t) for t in sizes if math.isfinite(t)]
    stream = rng.choice(n, size=max(finite), p=probs) if finite else None
    out = np.zeros((len(parsed), len(sizes), len(dims)))
    for t, size in enumerate(sizes):
        counts = np.bincount(stream[:int(size)], minlength=n) if math.isfinite(size) else None
        for i, dim in enumerate(dims):
            emb = base_in[:, :dim] / np.sqrt(dim)
            out_emb = base_out[:, :dim] / np.linalg.norm(base_out[:, :dim], axis=1,
                                                         keepdims=True)
            gram = out_emb @ out_emb.T
            for s, scheme in enumerate(parsed):
                q = np.asarray(scheme.weights(counts, size, probs, dim), np.float32)
                scores = emb @ (emb.T @ (q[:, None] * gram[targets]))
                out[s, t, i] = probs[np.argmax(scores, axis=1) != targets].sum()
    return out


def run_numpy(name: str, loop_seeds: int) -> dict:
    import memjax

    grid = GRIDS[name]
    probs = np.array(memjax.zipf_probs(grid["num_inputs"], grid["zipf_exponent"]),
                       np.float64)
    probs /= probs.sum()
    start = time.perf_counter()
    for seed in range(loop_seeds):
        _numpy_seed(np.random.default_rng(seed), grid, probs)
    per_seed = (time.perf_counter() - start) / loop_seeds
    return {"numpy_loop_s_per_seed": per_seed, "numpy_loop_s_100_seeds": per_seed * NUM_SEEDS,
            "numpy_loop_seeds_timed": loop_seeds}


def child(name: str, repeats: int, loop_seeds: int) -> dict:
    row = run_memjax(name, repeats)
    row.update(run_numpy(name, loop_seeds))
    row["speedup_vs_numpy"] = row["numpy_loop_s_100_seeds"] / row["warm_median_s"]
    return row


def machine() -> dict:
    import os

    import jax

    return {"python": platform.python_version(), "jax": jax.__version__,
            "backend": jax.default_backend(), "device": str(jax.devices()[0]),
            "cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
            "x64": bool(jax.config.jax_enable_x64)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", default="5.1,5.2,5.3")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--loop-seeds", type=int, default=3)
    parser.add_argument("--json", default=None, help="append JSON lines here")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.repeats, args.loop_seeds)))
        return
    print(json.dumps(machine()))
    print(f"{'grid':>5} {'points':>7} {'compile s':>9} {'warm s':>7} {'points/s':>9} "
          f"{'peak MiB':>8} {'numpy s':>8} {'ratio':>6}  route")
    for name in args.grids.split(","):
        out = subprocess.run([sys.executable, __file__, "--child", name, "--repeats",
                              str(args.repeats), "--loop-seeds", str(args.loop_seeds)],
                             check=True, capture_output=True, text=True).stdout
        row = json.loads(out.strip().splitlines()[-1])
        print(f"{name:>5} {row['points']:>7} {row['compile_s']:>9.2f} "
              f"{row['warm_median_s']:>7.3f} {row['points_per_s']:>9.0f} "
              f"{row['peak_rss_mib']:>8.0f} {row['numpy_loop_s_100_seeds']:>8.2f} "
              f"{row['speedup_vs_numpy']:>6.1f}  {row['route']}")
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps({**row, "machine": machine()}) + "\n")


if __name__ == "__main__":
    main()
