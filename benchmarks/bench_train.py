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

With `--blocks`, it times instead the blocks that bound the full grid (d = 500–1000,
B = 16–1024, Adam and the learned-embedding models), warm, per run-step (wall and process
CPU time), each in a child process; `--baseline PATH` also times them with the memjax
package found under PATH (e.g. an older checkout, `git archive <commit> memjax | tar -x
-C PATH`), alternating with the current one configuration by configuration, and prints
the ratios and whether the two give the same errors. `--one-cpu` pins each child to one
CPU, as a `train_sweep(workers=2)` worker is pinned on a 2-core machine.

    python benchmarks/bench_train.py            # ~3 minutes on 2 cores
    python benchmarks/bench_train.py --quick    # d ∈ {10, 100} only, no projection
    python benchmarks/bench_train.py --blocks --baseline /tmp/old   # before/after
    python benchmarks/bench_train.py --blocks --one-cpu   # as a pinned grid worker
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


# (model, optimizer, d, B, timed steps): the blocks that bound the §5.6 grid
GRID_BLOCKS = (("matrix", "adam", 1000, 16, 50), ("learnable", "sgd", 1000, 16, 50),
               ("learnable", "adam", 1000, 16, 50), ("learnable", "adam", 1000, 64, 20),
               ("matrix", "adam", 1000, 1024, 10), ("matrix", "adam", 500, 16, 100),
               ("exponential", "adam", 1000, 16, 100))
BLOCK_SEEDS = 2  # × the 4 step sizes: 8 runs per block


def time_block(kind: str, optimizer: str, dim: int, batch: int, steps: int) -> dict:
    """Warm wall and CPU seconds per run-step of one grid block (8 runs), its errors."""
    import jax

    from memjax import train
    from memjax.models import Model
    from memjax.train import TrainConfig

    config = TrainConfig(N, M, dim, batch, (steps,), model=Model(kind), optimizer=optimizer)
    run = lambda k: train.train_runs(k, config, RATES, zipf_exponent=ALPHA,
                                     num_seeds=BLOCK_SEEDS)
    start = time.perf_counter()
    errors = run(jax.random.key(0)).error  # compile (results are host arrays: complete)
    first = time.perf_counter() - start
    walls, cpus = [], []
    for r in range(REPEATS):
        wall, cpu = time.perf_counter(), time.process_time()
        run(jax.random.key(0))
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    run_steps = BLOCK_SEEDS * len(RATES) * steps
    load = os.getloadavg()[0]
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {"block": [kind, optimizer, dim, batch, steps], "cpus": allowed,
            "first_s": first,
            "wall_ms": 1e3 * statistics.median(walls) / run_steps,
            "cpu_ms": 1e3 * statistics.median(cpus) / run_steps, "load_1m": load,
            "errors": np.asarray(errors).tolist()}


def _block_in_child(block, path, one_cpu: bool = False) -> dict:
    """`time_block` in a fresh process importing memjax from `path` (pinned to this
    process's first CPU with `one_cpu`)."""
    import sys

    env = dict(os.environ, PYTHONPATH=path)
    pin = "os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); " if one_cpu else ""
    code = ("import json, os, sys; %ssys.path.insert(0, %r); import bench_train; "
            "print(json.dumps(bench_train.time_block(*%r)))"
            % (pin, os.path.dirname(os.path.abspath(__file__)), tuple(block)))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def bench_blocks(baseline: str | None, one_cpu: bool = False) -> list[dict]:
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    rows = []
    print(f"{'block':>28} | {'wall ms':>8} {'cpu ms':>7} {'load':>5} | per run-step"
          + ("; baseline: wall ms, cpu ms, load, new/old cpu, same errors" if baseline
             else ""))
    for block in GRID_BLOCKS:
        row = {"new": _block_in_child(block, here, one_cpu)}
        if baseline:
            row["old"] = _block_in_child(block, baseline, one_cpu)
        new = row["new"]
        line = (f"{' '.join(map(str, block)):>28} | {new['wall_ms']:8.3f} "
                f"{new['cpu_ms']:7.3f} {new['load_1m']:5.1f}")
        if baseline:
            old = row["old"]
            row["cpu_ratio"] = new["cpu_ms"] / old["cpu_ms"]
            row["same_errors"] = bool(np.array_equal(new["errors"], old["errors"]))
            row["max_error_change"] = float(np.max(np.abs(np.subtract(new["errors"],
                                                                      old["errors"]))))
            line += (f" | {old['wall_ms']:8.3f} {old['cpu_ms']:7.3f} {old['load_1m']:5.1f}"
                     f" {row['cpu_ratio']:6.2f} {row['same_errors']}")
        print(line, flush=True)
        rows.append(row)
    return rows


def profile_targets(names, quick: bool, out_dir: str) -> list[dict]:
    """Runs reproduce targets `names` in order in this process, as `memjax reproduce`
    does (so later targets reuse the programs of earlier ones), persistent cache off, and
    splits each target's time into tracing, lowering and XLA compilation (JAX's
    monitoring events; in threads they overlap, so their sum may exceed the wall time)
    and counts its compiled programs (eager operations compile tiny programs too)."""
    import zlib

    import jax

    from memjax import cli

    jax.config.update("jax_enable_compilation_cache", False)
    events = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, seconds, **kw: events.append((event, seconds, kw.get("fun_name"))))
    rows = []
    for name in names:
        events.clear()
        fn = cli.reproduction_targets()[name].load()
        key = jax.random.fold_in(jax.random.key(0), zlib.crc32(name.encode()) & 0x7FFFFFFF)
        start, cpu = time.perf_counter(), time.process_time()
        fn(out_dir, key=key, quick=quick, seeds=None, progress=False)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        seconds = lambda suffix: sum(s for e, s, _ in events if e.endswith(suffix))
        compiles = [(f, s) for e, s, f in events if e.endswith("backend_compile_duration")]
        big = [(f, s) for f, s in compiles if s >= 0.1]
        rows.append({"target": name, "quick": quick, "wall_s": wall, "cpu_s": cpu,
                     "trace_s": seconds("jaxpr_trace_duration"),
                     "lower_s": seconds("jaxpr_to_mlir_module_duration"),
                     "compile_s": sum(s for _, s in compiles), "programs": len(compiles),
                     "programs_over_0.1s": len(big),
                     "by_function": {f: [round(s, 2) for g, s in big if g == f]
                                     for f in sorted({f for f, _ in big})},
                     "load_1m": os.getloadavg()[0]})
    return rows


def _targets_in_child(names, quick, path) -> subprocess.Popen:
    """A child process profiling `names` with the memjax under `path`; it prints one JSON
    line. Its outputs go to a temporary folder of its own (one made here would be
    deleted before the child starts writing)."""
    import sys

    env = dict(os.environ, PYTHONPATH=path, MPLBACKEND="Agg")
    code = ("import json, sys, tempfile; sys.path.insert(0, %r); import bench_train\n"
            "with tempfile.TemporaryDirectory() as out:\n"
            "    print(json.dumps(bench_train.profile_targets(%r, %r, out)))"
            % (os.path.dirname(os.path.abspath(__file__)), list(names), quick))
    return subprocess.Popen([sys.executable, "-c", code], env=env, text=True,
                            stdout=subprocess.PIPE)


def bench_targets(names, quick: bool, baseline: str | None) -> list[dict]:
    """Profiles the targets with this checkout and, at the same time (same load), with
    the baseline checkout, each in its own process."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    trees = {"new": here, "old": baseline} if baseline else {"new": here}
    children = {tree: _targets_in_child(names, quick, path) for tree, path in trees.items()}
    results = {tree: json.loads(child.communicate()[0].strip().splitlines()[-1])
               for tree, child in children.items()}
    print(f"{'target':>22} {'tree':>5} | {'wall s':>6} {'cpu s':>6} {'trace':>6} "
          f"{'lower':>6} {'compile':>7} {'programs':>8} {'≥0.1 s':>6} {'load':>5}")
    rows = []
    for i, name in enumerate(names):
        for tree in trees:
            r = dict(results[tree][i], tree=tree)
            rows.append(r)
            print(f"{name:>22} {tree:>5} | {r['wall_s']:6.1f} {r['cpu_s']:6.1f} "
                  f"{r['trace_s']:6.1f} {r['lower_s']:6.1f} {r['compile_s']:7.1f} "
                  f"{r['programs']:8d} {r['programs_over_0.1s']:6d} {r['load_1m']:5.1f}")
    for tree in trees:
        mine = [r for r in rows if r["tree"] == tree]
        print(f"{'all':>22} {tree:>5} | {sum(r['wall_s'] for r in mine):6.1f} "
              f"{sum(r['cpu_s'] for r in mine):6.1f} "
              f"{sum(r['compile_s'] for r in mine):>22.1f} "
              f"{sum(r['programs'] for r in mine):8d}")
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="d ∈ {10, 100}, no projection")
    parser.add_argument("--no-loop", action="store_true", help="skip the per-run loop")
    parser.add_argument("--json", default=None, help="also write the figures here")
    parser.add_argument("--blocks", action="store_true",
                        help="time the blocks that bound the full grid instead")
    parser.add_argument("--one-cpu", action="store_true",
                        help="with --blocks: pin each timed process to one CPU")
    parser.add_argument("--baseline", default=None, metavar="PATH",
                        help="with --blocks: also time the memjax package under PATH")
    parser.add_argument("--targets", default=None, metavar="NAMES",
                        help="profile these reproduce targets' compilation instead "
                        "(comma-separated, or 'train' for every train-* target); "
                        "with --quick at reduced size; --baseline as for --blocks")
    args = parser.parse_args(argv)
    if args.targets:
        from memjax import cli

        names = [n for n in cli.reproduction_targets() if n.startswith("train-")] if (
            args.targets == "train") else args.targets.split(",")
        print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
        report = {"targets": bench_targets(names, args.quick, args.baseline)}
        print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
        if args.json:
            with open(args.json, "w") as f:
                json.dump(report, f, indent=2)
        return
    if args.blocks:
        load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
        print(load)
        report = {"uptime_before": load, "one_cpu": args.one_cpu,
                  "blocks": bench_blocks(args.baseline, args.one_cpu)}
        report["uptime_after"] = subprocess.run(["uptime"], capture_output=True,
                                                text=True).stdout.strip()
        print(report["uptime_after"])
        if args.json:
            with open(args.json, "w") as f:
                json.dump(report, f, indent=2)
        return

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
