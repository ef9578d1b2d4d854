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
import pathlib
import re
import resource
import subprocess
import sys
import tempfile
import time


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=None, help="comma-separated targets")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", default=None, help="append a JSON line here")
    args = parser.parse_args(argv)
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
