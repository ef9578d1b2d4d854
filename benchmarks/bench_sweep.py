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
import os
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
# SPEC issue 12 goal 3: N = 10^6 at the draw rate (streamed route), per seed.
HUGE = dict(num_inputs=10**6, num_outputs=5, zipf_exponent=1.1, dims=[32, 64, 128, 256, 512],
            num_samples=[math.inf], schemes=["population:power=1", "threshold:top=d/8"])


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


def run_huge(repeats: int, budgets) -> list[dict]:
    """Seconds per seed of `HUGE` (one seed per call, median of `repeats` after a first
    compiled call) under each memory budget, next to the time to draw one (N + M) × d_max
    block of normals at the normal ceiling measured in the same process."""
    import jax

    import memjax
    from memjax import bench, grid

    ceiling = max(bench.normal_rate(size, 3)["rate"] for size in (1 << 22, 1 << 24))
    block = (HUGE["num_inputs"] + HUGE["num_outputs"]) * max(HUGE["dims"])
    rows = []
    for budget in budgets:
        calls = []
        for r in range(repeats + 1):
            start = time.perf_counter()
            result = memjax.sweep(jax.random.key(r), num_seeds=1, memory_budget=budget,
                                  **HUGE)
            calls.append(time.perf_counter() - start)
        config = grid.plan(grid.SweepConfig(
            num_inputs=HUGE["num_inputs"], num_outputs=HUGE["num_outputs"],
            dims=tuple(HUGE["dims"]), num_samples=tuple(HUGE["num_samples"]),
            schemes=tuple(memjax.schemes.parse(x) for x in HUGE["schemes"])), budget)
        per_seed = statistics.median(calls[1:])
        draw_s = block / ceiling
        if hasattr(grid, "draws_per_seed"):
            drawn = grid.draws_per_seed(config)
        else:  # memjax before the one-draw streamed route: every d drawn twice
            drawn = (2 * HUGE["num_inputs"] + HUGE["num_outputs"]) * sum(HUGE["dims"])
        rows.append({"grid": "huge", "memory_budget": budget, "route": result.config["route"],
                     "token_chunk": config.token_chunk,
                     "kept_chunks": getattr(config, "kept_chunks", 0),
                     "normals_drawn": drawn, "first_call_s": calls[0],
                     "per_seed_s": per_seed, "warm_runs_s": calls[1:],
                     "normal_ceiling_per_s": ceiling, "block_draw_s": draw_s,
                     "ratio_to_block_draw": per_seed / draw_s,
                     "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                     "load_avg_1m": os.getloadavg()[0]})
    return rows


def _numpy_seed(rng, grid, probs):
    """One seed of the grid in plain NumPy float32, looping over (T, d)."""
    import jax
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
                q = np.asarray(scheme.weights(counts, size, probs, dim,  # any tie order will do
                                             key=jax.random.key(0)), np.float32)
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
    parser.add_argument("--huge", action="store_true",
                        help="only the N = 10^6 streamed grid, seconds per seed")
    parser.add_argument("--budgets", default="1G,4G",
                        help="memory budgets for --huge (default 1G,4G)")
    args = parser.parse_args(argv)
    if args.huge:
        print(json.dumps(machine()))
        print(f"{'budget':>7} {'chunk':>6} {'kept':>5} {'Mnormals':>8} {'first s':>7} "
              f"{'s/seed':>7} {'ceil M/s':>8} {'draw s':>6} {'ratio':>5} {'load':>5}")
        budgets = [int(float(b[:-1]) * 2**30) if b.endswith("G") else int(b)
                   for b in args.budgets.split(",")]
        for row in run_huge(args.repeats, budgets):
            print(f"{row['memory_budget'] / 2**30:>6.0f}G {row['token_chunk']:>6} "
                  f"{row['kept_chunks']:>5} {row['normals_drawn'] / 1e6:>8.0f} "
                  f"{row['first_call_s']:>7.1f} {row['per_seed_s']:>7.2f} "
                  f"{row['normal_ceiling_per_s'] / 1e6:>8.0f} {row['block_draw_s']:>6.2f} "
                  f"{row['ratio_to_block_draw']:>5.2f} {row['load_avg_1m']:>5.1f}")
            if args.json:
                with open(args.json, "a") as f:
                    f.write(json.dumps({**row, "machine": machine()}) + "\n")
        return
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
