"""Wall time and peak memory of `memjax reproduce` (the main job), per target.

Runs the command in a child process (so its peak resident memory is its own), reads the
per-target seconds the report records, and prints one table. The report's seconds include
compilation; `benchmarks/bench_sweep.py` separates compile and warm time for the grids.

    python benchmarks/bench_reproduce.py                  # the default targets
    python benchmarks/bench_reproduce.py --only thresholded-storage,schemes-vs-dim,overflow
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import resource
import subprocess
import sys
import tempfile
import time


# The explicit-scheme targets (SPEC §5.1–5.4).
DEFAULT_PROFILE = "thresholded-storage,schemes-vs-dim,overflow,memory-matrices"


def _total(rows):
    keys = ("wall_s", "trace_s", "lower_s", "compile_s", "programs", "distinct",
            "new_in_process")
    return {"target": "total", **{k: sum(r[k] for r in rows) for k in keys}}


def profile(names, *, quick=False, seeds=None, out=None) -> list[dict]:
    """Runs targets in this process, one after another (as `memjax reproduce` does), and
    returns per target: wall s, JAX's trace / lowering / XLA-compile seconds (from
    `jax.monitoring`), programs compiled, and how many of them were distinct (by a hash
    of the lowered module: a program compiled twice is counted once)."""
    import hashlib
    import zlib

    import jax
    from jax._src import compiler, dispatch

    from memjax import cli

    events = {dispatch.JAXPR_TRACE_EVENT: "trace_s",
              dispatch.JAXPR_TO_MLIR_MODULE_EVENT: "lower_s",
              dispatch.BACKEND_COMPILE_EVENT: "compile_s"}
    current = {}

    def listen(event, duration, fun_name="?", **_):
        if event in events and current:
            current[events[event]] += duration
            if event == dispatch.BACKEND_COMPILE_EVENT:
                current["by_function"][fun_name] = current["by_function"].get(
                    fun_name, 0.0) + duration

    jax.monitoring.register_event_duration_secs_listener(listen)
    original = compiler.compile_or_get_cached
    seen = set()

    def counted(backend, computation, *args, **kwargs):
        digest = hashlib.sha1(str(computation).encode()).hexdigest()
        if current:
            current["programs"] += 1
            current["distinct"] += digest not in current["hashes"]
            current["new_in_process"] += digest not in seen
            current["hashes"].add(digest)
        seen.add(digest)
        return original(backend, computation, *args, **kwargs)

    compiler.compile_or_get_cached = counted
    targets = cli.reproduction_targets()
    rows = []
    key = jax.random.key(0)
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            current.update(trace_s=0.0, lower_s=0.0, compile_s=0.0, programs=0,
                           distinct=0, new_in_process=0, hashes=set(), by_function={})
            start = time.perf_counter()
            targets[name].load()(pathlib.Path(out or tmp), key=jax.random.fold_in(
                key, zlib.crc32(name.encode()) & 0x7FFFFFFF), quick=quick, seeds=seeds,
                progress=False)
            row = {k: v for k, v in current.items() if k != "hashes"}
            rows.append({"target": name, "wall_s": time.perf_counter() - start, **row})
            current.clear()
    compiler.compile_or_get_cached = original
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=None, help="comma-separated targets")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", default=None, help="append a JSON line here")
    parser.add_argument("--profile", action="store_true",
                        help="run the targets in this process and split each one's time "
                        "into trace, lowering, compilation and the rest")
    parser.add_argument("--seeds", type=int, default=None)
    args = parser.parse_args(argv)
    if args.profile:
        names = (args.only or DEFAULT_PROFILE).split(",")
        print(f"load {os.getloadavg()[0]:.1f}")
        print(f"{'target':<22}{'wall s':>8}{'trace s':>8}{'lower s':>8}{'compile s':>10}"
              f"{'rest s':>8}{'programs':>9}{'distinct':>9}{'new':>5}")
        rows = profile(names, quick=args.quick, seeds=args.seeds)
        for r in rows:
            top = sorted(r["by_function"].items(), key=lambda kv: -kv[1])[:8]
            print(f"  {r['target']}: " + ", ".join(f"{k} {v:.1f}" for k, v in top))
        for r in rows + [_total(rows)]:
            rest = r["wall_s"] - r["trace_s"] - r["lower_s"] - r["compile_s"]
            print(f"{r['target']:<22}{r['wall_s']:>8.1f}{r['trace_s']:>8.1f}"
                  f"{r['lower_s']:>8.1f}{r['compile_s']:>10.1f}{rest:>8.1f}"
                  f"{r['programs']:>9}{r['distinct']:>9}{r['new_in_process']:>5}")
        print(f"load {os.getloadavg()[0]:.1f}")
        if args.json:
            with open(args.json, "a") as f:
                for r in rows:
                    f.write(json.dumps({**r, "load_avg_1m": os.getloadavg()[0]}) + "\n")
        return
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "memjax.cli", "reproduce", "--out", out,
                   "--no-progress"] + (["--only", args.only] if args.only else []) + (
                       ["--quick"] if args.quick else [])
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, text=True)
        wall = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        text = (pathlib.Path(out) / "report.md").read_text()
        meta = json.loads(re.search(r"```json\n(.*?)\n```", text, re.S).group(1))
    print(f"memjax reproduce{' --quick' if args.quick else ''}"
          f"{' --only ' + args.only if args.only else ''}: {wall:.1f} s wall, "
          f"peak RSS {peak:.0f} MiB")
    for name, seconds in meta["seconds_by_target"].items():
        print(f"  {name:<24}{seconds:>8.1f} s")
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps({"wall_s": wall, "peak_rss_mib": peak, "only": args.only,
                                "quick": args.quick, **meta}) + "\n")


if __name__ == "__main__":
    main()
