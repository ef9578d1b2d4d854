"""Times memjax training (the matrix model) and projects the full §5.6 optimizer grid.

For d ∈ {10, 100, 1000} and B ∈ {16, 1024}, 10 seeds × 4 step sizes of SGD on the matrix
model (N = 100, M = 5, α = 2) are timed warm (compiled beforehand) three ways:
  * `train_runs` as shipped: runs vmapped in cache-sized chunks, the route chosen by cost
    ('tokens' where exact and cheaper);
  * the same with the direct route forced (W trained as a d × d array);
  * a plain per-run loop: 40 calls of the jitted single-run `train_from`, no vmap.
It reports run-steps/s, runs/s at the timed length, the time of one paper-size run
(T = 102,400) and the matmul GFLOP/s reached against this machine's float32 matmul peak
(measured here). Then it calibrates the time model of `memjax.train_grid` and projects
the 40,320-run grid (flops, minutes, fraction of peak). Load (`uptime`) is recorded.

    python benchmarks/bench_train.py            # ~3 minutes on 2 cores
    python benchmarks/bench_train.py --quick    # d ∈ {10, 100} only, no projection
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time

import numpy as np

N, M, ALPHA = 100, 5, 2.0
RATES = (0.1, 1.0, 10.0, 100.0)
SEEDS = 10
REPEATS = 3  # warm timings per configuration; the median is reported
PAPER_SAMPLES = 102_400


def matmul_peak() -> float:
    """float32 GFLOP/s of a 2048² matmul (best of 10), this machine's practical peak
    under the current load."""
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(0), (2048, 2048), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    best = min(_timed(lambda: f(a).block_until_ready()) for _ in range(10))
    return 2 * 2048 ** 3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_config(dim: int, batch: int, steps: int, loop: bool) -> dict:
    import jax

    from memjax import data, optimizers, train
    from memjax.train import TrainConfig

    key = jax.random.key(0)
    out = {"dim": dim, "batch": batch, "steps": steps, "runs": SEEDS * len(RATES)}
    for route in ("auto", "direct"):
        config = TrainConfig(N, M, dim, batch, (steps,), route=route)
        if route == "direct" and out["auto"]["route"] == "direct":
            out["direct"] = out["auto"]
            continue
        run = lambda k: train.train_runs(k, config, RATES, zipf_exponent=ALPHA,
                                         num_seeds=SEEDS)
        run(key)  # compile
        seconds = statistics.median(_timed(lambda: run(jax.random.fold_in(key, r)))
                                    for r in range(REPEATS))
        out[route] = _rates(config, seconds, out["runs"], steps)
    if loop:
        # The plain loop: per seed one jitted draw, then one jitted run per step size.
        config = TrainConfig(N, M, dim, batch, (steps,))
        probs, table = data.zipf_probs(N, ALPHA), data.zipf_alias_table(N, ALPHA)
        draw = jax.jit(train.draw, static_argnums=1)
        single = jax.jit(train.train_from, static_argnums=1)
        sizes = [optimizers.step_sizes(r) for r in RATES]
        spec = train.draw_spec(config)

        def loop_all(grid_key):
            for s in range(SEEDS):
                draws = draw(jax.random.fold_in(grid_key, s), spec, table)
                for size in sizes:
                    np.asarray(single(draws, config, size, probs).error)

        loop_all(key)  # compile
        seconds = statistics.median(_timed(lambda: loop_all(jax.random.fold_in(key, r)))
                                    for r in range(REPEATS))
        out["loop"] = _rates(config, seconds, out["runs"], steps)
    return out


def _rates(config, seconds, runs, steps) -> dict:
    run_steps = runs * steps / seconds
    return {"route": config.resolved_route, "seconds": seconds,
            "run_steps_per_s": run_steps, "runs_per_s": runs / seconds,
            # amortised time of one T = 102,400 run inside such a batch of runs
            "paper_run_s": (PAPER_SAMPLES // config.batch_size) / run_steps,
            "gflops": run_steps * config.flops_per_step() / 1e9}


def paper_runs(dim: int) -> dict:
    """Seconds per run (amortised over 10 seeds × 4 γ) of the matrix model with SGD at the
    paper's largest size, B = 16 and T = 102,400 (6,400 steps), warm."""
    import jax

    from memjax import train
    from memjax.train import TrainConfig

    config = TrainConfig(N, M, dim, 16, (PAPER_SAMPLES // 16,))
    run = lambda k: train.train_runs(k, config, RATES, zipf_exponent=ALPHA, num_seeds=SEEDS)
    run(jax.random.key(0))
    seconds = _timed(lambda: run(jax.random.key(1)))
    return {"dim": dim, "route": config.resolved_route, "seconds": seconds,
            "seconds_per_run": seconds / (SEEDS * len(RATES))}


def project_grid(peak: float) -> dict:
    import jax

    from memjax import train_grid
    from memjax.reproduce import training as paper_train
    from memjax.models import Model
    from memjax.optimizers import Optimizer

    grid = paper_train.FULL_GRID
    blocks = train_grid.sweep_blocks(
        num_inputs=N, num_outputs=M, dims=grid["dims"], batch_sizes=grid["batch_sizes"],
        num_samples=grid["num_samples"], models_=tuple(Model(m) for m in grid["models"]),
        optimizers_=tuple(Optimizer(o) for o in grid["optimizers"]),
        layer_norms=grid["layer_norms"])
    start = time.perf_counter()
    rates = train_grid.calibrate(jax.random.key(1))
    calibration_s = time.perf_counter() - start
    runs = SEEDS * len(RATES)
    seconds = train_grid.projected_seconds(blocks, runs, rates)
    flops = sum(b.cost(runs)["flops"] for b in blocks)
    direct = [b for b in blocks if b.config.resolved_route == "direct"]
    by_dim = {}
    for b in blocks:
        by_dim[b.config.dim] = by_dim.get(b.config.dim, 0.0) + train_grid.projected_seconds(
            [b], runs, rates)
    return {"blocks": len(blocks), "runs": len(blocks) * runs * len(grid["num_samples"]),
            "calibration": rates, "calibration_s": calibration_s,
            "projected_min": seconds / 60, "tflop": flops / 1e12,
            "tflop_direct_blocks": sum(b.cost(runs)["flops"] for b in direct) / 1e12,
            "min_at_peak": flops / (peak * 1e9) / 60,
            "fraction_of_peak": flops / (peak * 1e9) / seconds,
            "projected_min_by_dim": {d: s / 60 for d, s in sorted(by_dim.items())}}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="d ∈ {10, 100}, no projection")
    parser.add_argument("--no-loop", action="store_true", help="skip the per-run loop")
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args(argv)

    import jax

    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    peak = matmul_peak()
    report = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
              "jax": jax.__version__, "uptime_before": load, "matmul_peak_gflops": peak,
              "configs": []}
    print(f"{load}\nfloat32 matmul peak: {peak:.0f} GFLOP/s")
    header = (f"{'d':>5} {'B':>5} {'steps':>5} | {'route':>6} {'run-steps/s':>12} "
              f"{'runs/s':>8} {'GFLOP/s':>8} {'paper run':>9} | {'direct':>12} "
              f"{'loop':>12} (run-steps/s)")
    print(header)
    for dim in ((10, 100) if args.quick else (10, 100, 1000)):
        for batch, steps in ((16, 200), (1024, 10)):
            res = bench_config(dim, batch, steps, loop=not args.no_loop)
            report["configs"].append(res)
            a = res["auto"]
            loop = res.get("loop", {}).get("run_steps_per_s", float("nan"))
            print(f"{dim:>5} {batch:>5} {steps:>5} | {a['route']:>6} "
                  f"{a['run_steps_per_s']:>12,.0f} {a['runs_per_s']:>8.1f} {a['gflops']:>8.2f}"
                  f" {a['paper_run_s']:>8.3f}s | {res['direct']['run_steps_per_s']:>12,.0f} "
                  f"{loop:>12,.0f}", flush=True)
    if not args.quick:
        report["paper_runs"] = [paper_runs(dim) for dim in (100, 1000)]
        for res in report["paper_runs"]:
            print(f"paper-size run (B = 16, T = 102,400, SGD) at d = {res['dim']}: "
                  f"{res['seconds_per_run']:.3f} s per run amortised over 40 "
                  f"({res['route']} route; the authors' PyTorch: 2.7 s at d = 100, 12 s at "
                  f"d = 1000)")
        grid = project_grid(peak)
        report["grid"] = grid
        print(f"§5.6 grid: {grid['runs']:,} runs, {grid['blocks']} blocks, "
              f"{grid['tflop']:.0f} TFLOP ({grid['tflop_direct_blocks']:.0f} in direct-route "
              f"blocks); projected {grid['projected_min']:.0f} min on this machine, "
              f"{grid['min_at_peak']:.0f} min at the matmul peak "
              f"({100 * grid['fraction_of_peak']:.0f}% of peak)")
        print("projected minutes by d:", {d: round(v, 1) for d, v in
                                          grid["projected_min_by_dim"].items()})
        print("time model:", {k: f"{v:.3g}" for k, v in grid["calibration"].items()})
    report["uptime_after"] = subprocess.run(["uptime"], capture_output=True,
                                            text=True).stdout.strip()
    print(report["uptime_after"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2, default=str)


if __name__ == "__main__":
    main()
