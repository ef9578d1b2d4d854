"""The `memjax reproduce` command: its parser, and the run that writes the report.

`memjax.cli` delegates here lazily, so building the parser or `--list` imports no JAX.
"""

from __future__ import annotations

import pathlib
import sys
import time
import zlib


def reproduction_targets() -> dict:
    """Every reproduction target by name (`memjax.reproduce.TARGETS`)."""
    from memjax.reproduce import TARGETS

    return TARGETS


def add_reproduce_parser(subparsers):
    p = subparsers.add_parser(
        "reproduce", help="reproduce the paper's scaling laws: figures, data and a report",
        description="Run the paper's experiments (SPEC §5) and more claims, write every "
        "figure (PNG, PDF), every grid's data (npz + JSON, CSV) and report.md/report.html "
        "comparing measured slopes with the theory.")
    p.add_argument("--out", default="results/reproduce", help="output folder")
    p.add_argument("--only", default=None, help="comma-separated target names")
    p.add_argument("--quick", action="store_true", help="reduced sizes (smoke test)")
    p.add_argument("--seeds", type=int, default=None,
                   help="trials per grid (default: the paper's 100; 12 with --quick)")
    p.add_argument("--key", type=int, default=0, help="the random key's seed (default 0)")
    p.add_argument("--list", action="store_true", help="list the targets and exit")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(run=run_reproduce)


def run_reproduce(args):
    import jax

    from memjax import results
    from memjax.reproduce import report, style

    targets = reproduction_targets()
    if args.list:
        for name, target in targets.items():
            print(f"{name:<22}{'' if target.default else '(not run by default) '}"
                  f"{target.description}")
        return
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in targets]
        if unknown:
            raise ValueError(f"--only names unknown targets {unknown}; known: "
                             f"{', '.join(targets)}.")
    else:
        names = [n for n, target in targets.items() if target.default]
    if args.seeds is not None and args.seeds < 2:
        raise ValueError(f"--seeds must be an integer >= 2 (a band needs two); "
                         f"got {args.seeds}.")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    claims, figures, timings = [], [], {}
    key = jax.random.key(args.key)
    start = time.perf_counter()
    for i, name in enumerate(names):
        print(f"[{i + 1}/{len(names)}] {name}", flush=True)
        begin = time.perf_counter()
        # A target's key depends on its name only, not on which other targets run.
        target_key = jax.random.fold_in(key, zlib.crc32(name.encode()) & 0x7FFFFFFF)
        with style.context():  # one figure style, restored afterwards
            rows, figs = targets[name].load()(out, key=target_key, quick=args.quick,
                                              seeds=args.seeds,
                                              progress=not args.no_progress)
        timings[name] = round(time.perf_counter() - begin, 2)
        claims += rows
        figures += figs
    meta = {"command": "memjax reproduce " + " ".join(sys.argv[2:]), "targets": names,
            "quick": args.quick, "seeds": args.seeds, "key": args.key,
            "seconds": round(time.perf_counter() - start, 2), "seconds_by_target": timings,
            "versions": results.versions()}
    path = report.write_report(out, claims, figures, meta=meta)
    print(report.markdown_table(claims))
    print(f"wrote {path}, {out / 'report.html'} and {len(figures)} figures in "
          f"{meta['seconds']:.0f} s")
