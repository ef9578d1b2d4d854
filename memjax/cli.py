"""The `memjax` command line: `memjax sweep`, `reproduce`, `merge` and `bench`.

Flags mirror the argument names of `memjax.sweep` with dashes. Lists are comma-separated
(`--dims 10,20,50`, `--num-samples 100,1000,inf`) or log-spaced (`--dims log:10:1000:20`,
rounded to distinct integers). Output names are kept as given (`--out results/alpha1.5`
writes results/alpha1.5.npz); a result file of another configuration is not replaced
without `--overwrite`, and a rerun whose `--out` holds the finished result of the same
configuration returns it without computing. Every output path is checked before any
compute; usage errors exit 2 with one line. JAX is imported only once a command runs, so
`memjax --help` is fast. Compiled programs are cached on disk between runs
(`MEMJAX_CACHE_DIR`, default ~/.cache/memjax; empty turns it off); on x86 CPUs that takes
`XLA_FLAGS=--xla_cpu_max_isa=AVX2`, which the command adds (see `prepare_cpu_cache`).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib.util
import logging
import math
import os
import pathlib
import re
import sys
import tempfile

from memjax import __version__  # NumPy, JAX and the rest load when a command runs

DEFAULT_SCHEMES = ("population:power=1", "threshold:top=d/8")
# Choices shown in --help, spelled out here so that --help does not import JAX; a test
# checks that they equal the library's own (grid, _nested, embeddings).
ROUTES = ("auto", "tokens", "gram", "matrix", "stream")
COUNTS = ("auto", "stream", "multinomial")
EMBEDDINGS = ("gaussian", "sphere")
TARGETS = ("mod", "random")
CONVENTIONS = ("memjax", "authors")
PLOT_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg", ".eps", ".ps", ".tif", ".tiff",
                 ".webp")
MAX_LOG_COUNT = 10**6


def parse_grid(text: str, *, integer: bool, name: str) -> list[float]:
    """'10,20,inf' or 'log:START:STOP:COUNT' -> a list of numbers (ValueError naming the
    flag otherwise)."""
    import numpy as np

    text = text.strip()
    usage = (f"--{name} must be comma-separated numbers or 'log:START:STOP:COUNT' with "
             f"0 < START <= STOP and 1 <= COUNT <= {MAX_LOG_COUNT}; got {text!r}.")
    try:
        if text.startswith("log:"):
            start, stop, count = text[4:].split(":")
            start, stop, count = float(start), float(stop), int(count)
            if not (0 < start <= stop < math.inf and 1 <= count <= MAX_LOG_COUNT):
                raise ValueError(usage)
            values = np.logspace(np.log10(start), np.log10(stop), count)
            # Dims and sample sizes are integers: log-spaced values are rounded.
            return [int(v) for v in np.unique(np.round(values))]
        values = [float(v) for v in text.split(",") if v.strip()]
    except (ValueError, OverflowError):
        raise ValueError(usage) from None
    if integer:
        if any(not math.isfinite(v) or not v.is_integer() for v in values):
            raise ValueError(f"--{name} takes integers; got {text!r}.")
        return [int(v) for v in values]
    return [v if math.isinf(v) else (int(v) if v.is_integer() else v) for v in values]


# On x86 CPUs with AVX-512, XLA records the LLVM tuning attributes +prefer-no-gather and
# +prefer-no-scatter among a compiled program's target features, and its AOT loader then
# rejects every cached program on reload as built for another machine (jax-ml/jax#38445,
# openxla/xla#44565): JAX's persistent cache never hits. Capping the ISA at AVX2 makes XLA
# derive the features from the cap, without those attributes, and the entries load.
# Measured on the 2-core Xeon (benchmarks/README.md): a second process's §5.1 sweep
# compiled in 0.8 s instead of 3.6 s, warm times unchanged (sweep 0.20 vs 0.20 s, Adam
# d = 500 training 3.4 vs 3.4 s), results bit-identical.
CPU_CACHE_FLAG = "--xla_cpu_max_isa=AVX2"


def cache_dir() -> pathlib.Path | None:
    """Where compiled programs persist: $MEMJAX_CACHE_DIR (empty: off), else
    ~/.cache/memjax."""
    value = os.environ.get("MEMJAX_CACHE_DIR")
    if value == "":
        return None
    return pathlib.Path(value) if value else pathlib.Path.home() / ".cache" / "memjax"


def prepare_cpu_cache() -> bool:
    """Adds `CPU_CACHE_FLAG` to XLA_FLAGS when it can still act: the cache is on, this is
    an x86 machine, JAX's backends have not started and XLA_FLAGS sets no ISA cap of its
    own. Returns whether CPU programs can be cached (the cap is in XLA_FLAGS)."""
    import platform

    flags = os.environ.get("XLA_FLAGS", "")
    if "--xla_cpu_max_isa" in flags:
        return True
    if cache_dir() is None or platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    if "jax" in sys.modules:
        from jax._src import xla_bridge

        if xla_bridge.backends_are_initialized():  # too late: the CPU backend has its ISA
            return False
    os.environ["XLA_FLAGS"] = f"{flags} {CPU_CACHE_FLAG}".strip()
    return True


def enable_compilation_cache():
    """Persists compiled XLA programs across runs (JAX's own cache, in `cache_dir()`).

    On accelerators always; on CPU when `prepare_cpu_cache` could cap the ISA: without
    the cap XLA rejects every cached CPU program on reload (jax-ml/jax#38445), so the
    cache would never hit and only print errors.
    """
    path = cache_dir()
    if path is None:
        return
    cpu = prepare_cpu_cache()
    import jax

    if jax.default_backend() == "cpu" and not cpu:
        return
    use_cache(path)


def use_cache(path):
    """Points JAX's persistent cache at `path` (programs compiling in ≥ 0.1 s are kept)."""
    import jax

    try:
        pathlib.Path(path).mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", str(path))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)
    except (OSError, AttributeError):  # a read-only home or an old JAX: just recompile
        pass


def parse_bytes(text: str) -> int:
    """'512M', '8G', '1.5G' or a plain number of bytes -> bytes."""
    units = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([KMGT]?)i?B?\s*", str(text), re.IGNORECASE)
    if not match or float(match.group(1)) * units[match.group(2).upper()] < 1:
        raise argparse.ArgumentTypeError(
            f"expected a size such as 512M, 8G or a number of bytes; got {text!r}")
    return int(float(match.group(1)) * units[match.group(2).upper()])


def plot_path(path) -> pathlib.Path:
    """A figure name as given when it ends with a format matplotlib writes, else + .png."""
    from memjax import results

    path = pathlib.Path(path)
    return path if path.suffix.lower() in PLOT_SUFFIXES else results.output_path(path,
                                                                                 ".png")


def check_writable(path: pathlib.Path):
    """Raises ValueError naming `path` unless a file can be written there: its folder is
    created if needed and a probe file is created and removed next to it."""
    path = pathlib.Path(path)
    if path.is_dir():
        raise ValueError(f"cannot write {path}: it is a folder.")
    above = next((p for p in path.parents if p.exists()), None)
    if above is not None and not above.is_dir():
        raise ValueError(f"cannot write {path}: {above} is a file, not a folder.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.",
                                         suffix=".probe"):
            pass
        if path.exists() and not os.access(path, os.W_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as exc:
        raise ValueError(f"cannot write {path}: {exc.strerror or exc}.") from None


SWEEP_EXAMPLES = """examples:
  # the paper's schemes-vs-d figure (§5.2): population and threshold, 100 seeds
  memjax sweep --dims log:10:1000:20 --num-seeds 100 --out results/schemes --plot results/schemes
  # thresholded storage over (d, T) (§5.1), with a tidy CSV
  memjax sweep --scheme empirical:power=0,top=d/12 --dims 10,20,50,100,200,1000 \\
      --num-samples 10,100,1000,10000 --out results/thresholded --csv results/thresholded
  # one shard of four (e.g. a SLURM array task), merged later with `memjax merge`
  memjax sweep --num-seeds 400 --num-shards 4 --shard-index 0 --out results/part0
"""


def add_sweep_parser(subparsers):
    p = subparsers.add_parser("sweep", help="exact errors over a (scheme, seed, T, d) grid",
                              description="Evaluate memory schemes over a grid of sample "
                              "sizes T and capacities d, for many seeds, in one call. "
                              "Finished chunks of seeds are written to OUT.chunks/ as "
                              "they complete; rerunning an interrupted command resumes "
                              "from them (bit-identical to an uninterrupted run) and "
                              "recomputes nothing finished. The folder is removed once "
                              "OUT is written. Rerunning a finished command returns the "
                              "stored result (--overwrite recomputes).",
                              epilog=SWEEP_EXAMPLES)
    p.add_argument("--num-inputs", type=int, default=1000, help="N (default 1000)")
    p.add_argument("--num-outputs", type=int, default=5, help="M (default 5)")
    p.add_argument("--zipf-exponent", type=float, default=2.0, help="α (default 2)")
    p.add_argument("--dims", default="log:10:1000:20",
                   help="capacities d: '10,20,50' or 'log:10:1000:20' (default)")
    p.add_argument("--num-samples", default="inf",
                   help="sample sizes T, 'inf' for infinite data (default 'inf')")
    p.add_argument("--num-seeds", type=int, default=100, help="trials (default 100)")
    p.add_argument("--scheme", action="append", dest="schemes", metavar="SPEC",
                   help="repeatable: 'uniform', 'population:power=1', "
                        "'threshold:top=d/8', 'empirical:power=0,top=d/12' (default: "
                        + " and ".join(DEFAULT_SCHEMES) + ")")
    p.add_argument("--input-embedding", default="gaussian", choices=EMBEDDINGS,
                   help="default gaussian")
    p.add_argument("--output-embedding", default="sphere", choices=EMBEDDINGS,
                   help="default sphere")
    p.add_argument("--targets", default="mod", choices=TARGETS,
                   help="mod (x mod M, default) or random")
    p.add_argument("--independent", action="store_true",
                   help="draw embeddings independently per d instead of nested")
    p.add_argument("--key", type=int, default=0,
                   help="the random key's seed, in [0, 2^32) (default 0)")
    p.add_argument("--seed-chunk", type=int, default=None, help="seeds per compiled call")
    p.add_argument("--route", default="auto", choices=ROUTES,
                   help="how scores are computed (default auto: the cheapest that fits)")
    p.add_argument("--counts", default="auto", choices=COUNTS,
                   help="finite-T counts: stream (read T_max tokens), multinomial (nested "
                        "multinomial increments, any T up to 1e12+), or auto (default: "
                        "stream up to T_max = 2^22)")
    p.add_argument("--conventions", default="memjax", choices=CONVENTIONS,
                   help="embedding conventions: memjax (first d coordinates scaled at d; "
                        "default) or authors (the released code: scaled at d_max = "
                        "max(dims), then truncated); top-P ties are random under both")
    p.add_argument("--memory-budget", type=parse_bytes, default=None, metavar="SIZE",
                   help="memory one chunk of seeds may use, e.g. 512M or 8G (default "
                        "1G); larger vocabularies stream their tokens in chunks sized "
                        "to it, and a run that cannot fit is refused with the size needed")
    p.add_argument("--shard-index", type=int, default=0,
                   help="run only seeds s with s %% num-shards == shard-index")
    p.add_argument("--num-shards", type=int, default=1,
                   help="split the seeds over this many processes (see `memjax merge`)")
    p.add_argument("--out", default="results/sweep.npz",
                   help="result file, name kept as given with .npz appended if missing "
                        "(+ a .json sidecar; default results/sweep.npz)")
    p.add_argument("--overwrite", action="store_true",
                   help="recompute, and replace OUT even if it holds a result of another "
                        "configuration")
    p.add_argument("--csv", default=None, help="also write a tidy CSV here (.csv appended "
                                                "if missing)")
    p.add_argument("--plot", default=None, help="write error-vs-d (and vs-T) figure here "
                   "(.png appended unless the name ends with a format such as .pdf)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--no-checkpoint", action="store_true",
                   help="do not write finished seeds to OUT.chunks/ (an interrupted run "
                        "then starts over)")
    p.add_argument("--keep-chunks", action="store_true",
                   help="keep OUT.chunks/ after OUT is written (default: removed)")
    p.set_defaults(run=run_sweep)


def run_sweep(args):
    from memjax import results

    dims = parse_grid(args.dims, integer=True, name="dims")
    sizes = parse_grid(args.num_samples, integer=False, name="num-samples")
    seeds = shard_seeds(args.num_seeds, args.shard_index, args.num_shards)
    if not 0 <= args.key < 2**32:  # larger keys alias smaller ones in 32-bit key data
        raise ValueError(f"--key must be an integer in [0, 2^32); got {args.key}.")
    out = results.output_path(args.out, ".npz")
    csv = results.output_path(args.csv, ".csv") if args.csv else None
    figure = plot_path(args.plot) if args.plot else None
    folder = None if args.no_checkpoint else out.with_suffix(".chunks")

    import jax

    import memjax
    from memjax import _checkpoint, grid, schemes

    key = jax.random.key(args.key)
    specs = args.schemes or list(DEFAULT_SCHEMES)
    config = {"num_inputs": args.num_inputs, "num_outputs": args.num_outputs,
              "zipf_exponent": float(args.zipf_exponent),
              "input_embedding": args.input_embedding,
              "output_embedding": args.output_embedding, "targets": args.targets,
              "nested": not args.independent, "conventions": args.conventions,
              "key": grid._key_description(key)}
    if args.counts != "auto":  # 'auto' resolves from the T grid, which is compared
        config["counts"] = args.counts
    expected = {"kind": "sweep", "dims": results.DIMS, "config": config, "coords": {
        "scheme": [schemes.parse(s).name for s in specs], "seed": seeds,
        "num_samples": [float(t) for t in sizes], "dim": dims}}
    for path in (out, out.with_suffix(".json"), csv, figure):
        if path is not None:
            check_writable(path)
    if folder is not None and folder.is_dir():  # a new one goes next to OUT, checked
        check_writable(folder / "probe")
    result = None if args.overwrite else finished_result(out, expected)
    if result is not None:
        print(f"{out} already holds the finished result of this configuration: not "
              "recomputing (--overwrite recomputes)")
        print(summary(result))
    else:
        with _log_to_stdout():  # says how many seeds the checkpoint already holds
            result = memjax.sweep(
                key, num_inputs=args.num_inputs, num_outputs=args.num_outputs,
                zipf_exponent=args.zipf_exponent, dims=dims, num_samples=sizes,
                schemes=specs, seeds=seeds, input_embedding=args.input_embedding,
                output_embedding=args.output_embedding, targets=args.targets,
                nested=not args.independent, route=args.route, seed_chunk=args.seed_chunk,
                progress=not args.no_progress, checkpoint=folder, counts=args.counts,
                conventions=args.conventions,
                **({} if args.memory_budget is None else
                   {"memory_budget": args.memory_budget}))
        print(summary(result))
        try:  # same configuration, or --overwrite: checked above
            path = result.save(out, overwrite=True)
        except OSError as exc:
            kept = f"; the finished seeds are kept in {folder}: rerun to resume" if folder \
                else ""
            raise ValueError(f"could not write {out}: {exc.strerror or exc}{kept}.") from None
        print(f"wrote {path} and {path.with_suffix('.json')}")
        if folder is not None and not args.keep_chunks:  # the result holds every seed
            if _checkpoint.remove(folder):
                print(f"removed the checkpoint {folder} (--keep-chunks keeps it)")
            else:
                print(f"kept the checkpoint {folder}: it holds files memjax did not write")
    if csv is not None:
        print(f"wrote {result.to_csv(csv)}")
    if figure is not None:
        print(f"wrote {plot_sweep(result, figure)}")
    return result


def finished_result(out: pathlib.Path, expected: dict):
    """The result stored at `out` when it is the finished result of `expected` (an
    `results.identity`-like dict; config keys it lacks are not compared) in this run's
    precision; None when nothing is stored (or another precision is). Raises ValueError
    when `out` holds something else."""
    from memjax import results

    if not (out.exists() or out.with_suffix(".json").exists()):
        return None
    try:
        meta = results.read_meta(out)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{exc} Pass --overwrite to replace it, or choose another "
                         "--out.") from None
    stored, new = results.identity(meta), results.identity(expected)
    stored["config"] = {k: stored["config"].get(k) for k in new["config"]}
    if stored != new:
        raise ValueError(f"{out} holds the result of another configuration "
                         f"({'; '.join(results.differences(stored, new))}); pass "
                         "--overwrite to replace it, or choose another --out.")
    import jax

    x64 = bool(jax.config.jax_enable_x64)
    if meta.get("versions", {}).get("x64", x64) != x64:
        print(f"{out} holds this configuration in float{64 if not x64 else 32}; "
              f"recomputing it in float{64 if x64 else 32}")
        return None
    return results.load(out)


@contextlib.contextmanager
def _log_to_stdout():
    """Prints memjax's INFO messages (e.g. what a checkpoint resumes) while inside."""
    logger = logging.getLogger("memjax")
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def shard_seeds(num_seeds, shard_index, num_shards) -> list[int]:
    """Seeds s < num_seeds with s % num_shards == shard_index (a disjoint slice)."""
    if num_shards < 1:
        raise ValueError(f"--num-shards must be an integer >= 1; got {num_shards}.")
    if not 0 <= shard_index < num_shards:
        raise ValueError(f"--shard-index must be in [0, {num_shards}); got {shard_index}.")
    if num_seeds < 1:
        raise ValueError(f"num_seeds must be an integer >= 1; got {num_seeds}.")
    seeds = range(shard_index, num_seeds, num_shards)
    if not seeds:
        raise ValueError(f"shard {shard_index} of {num_shards} has no seeds: "
                         f"num_seeds is only {num_seeds}.")
    if len(seeds) > 10**7:
        raise ValueError(f"--num-seeds must be at most {10**7 * num_shards} "
                         f"(10^7 seeds per shard); got {num_seeds}.")
    return list(seeds)


MERGE_EXAMPLES = """examples:
  memjax merge results/part0.npz results/part1.npz results/part2.npz --out results/all
  memjax merge results/part*.npz --out results/all --csv results/all.csv
"""


def add_merge_parser(subparsers):
    p = subparsers.add_parser("merge", help="combine sweep results of disjoint seed shards",
                              description="Combine the result files of `memjax sweep "
                              "--shard-index i --num-shards n` runs into one file.",
                              epilog=MERGE_EXAMPLES)
    p.add_argument("parts", nargs="+", help="result files (.npz) to merge")
    p.add_argument("--out", required=True,
                   help="merged result file (.npz appended if missing, + .json)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace OUT even if it holds a result of another configuration")
    p.add_argument("--csv", default=None, help="also write a tidy CSV here")
    p.set_defaults(run=run_merge)


def run_merge(args):
    from memjax import results

    out = results.output_path(args.out, ".npz")
    csv = results.output_path(args.csv, ".csv") if args.csv else None
    for path in (out, out.with_suffix(".json"), csv):
        if path is not None:
            check_writable(path)
    merged = results.merge(args.parts)
    path = merged.save(out, overwrite=args.overwrite)
    print(f"merged {len(args.parts)} parts, {len(merged.coords['seed'])} seeds: wrote {path}")
    if csv is not None:
        print(f"wrote {merged.to_csv(csv)}")


def summary(result) -> str:
    """A text table of the seed-mean error: one row per (scheme, T), one column per d."""
    dims = result.coords["dim"]
    mean = result.mean("seed").values
    width = max(len(s) for s in result.coords["scheme"]) + 12
    lines = [f"mean error over {len(result.coords['seed'])} seeds "
             f"(N={result.config['num_inputs']}, M={result.config['num_outputs']}, "
             f"α={result.config['zipf_exponent']:g})",
             f"{'scheme, T':<{width}}" + "".join(f"{f'd={d}':>10}" for d in dims)]
    for s, name in enumerate(result.coords["scheme"]):
        for t, size in enumerate(result.coords["num_samples"]):
            label = f"{name}, {'inf' if math.isinf(size) else int(size)}"
            lines.append(f"{label:<{width}}" + "".join(f"{v:>10.4g}" for v in mean[s, t]))
    return "\n".join(lines)


def plot_sweep(result, path) -> pathlib.Path:
    """Error vs d (and error vs T when the grid has several finite T) saved to `path`."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from memjax import plot

    sizes = np.asarray(result.coords["num_samples"], float)
    with_t = np.sum(np.isfinite(sizes) & (sizes > 0)) > 1
    fig, axes = plt.subplots(1, 1 + with_t, figsize=(5 * (1 + with_t), 3.8),
                             constrained_layout=True, squeeze=False)
    plot.error_vs_dim(result, ax=axes[0, 0])
    if with_t:
        plot.error_vs_samples(result, ax=axes[0, 1])
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


BENCH_EXAMPLES = """examples:
  memjax bench --quick                     # the reduced ladder, a few minutes on a laptop
  memjax bench --out results/bench.jsonl   # append one JSON line per measurement
"""


def add_bench_parser(subparsers):
    """`memjax bench` (its description is memjax.bench's docstring, read without importing
    that module, which imports JAX)."""
    source = pathlib.Path(importlib.util.find_spec("memjax.bench").origin).read_text()
    doc = ast.get_docstring(ast.parse(source)) or ""
    p = subparsers.add_parser("bench", help="throughput of memjax and of the device",
                              description="\n\n".join(doc.split("\n\n")[1:]),
                              epilog=BENCH_EXAMPLES)
    p.add_argument("--quick", action="store_true", help="the reduced ladder (for CI)")
    p.add_argument("--repeats", type=int, default=3,
                   help="warm calls per measurement, median reported (default 3)")
    p.add_argument("--max-rung-seconds", type=float, default=60.0,
                   help="skip rungs whose ceiling time exceeds this (default 60)")
    p.add_argument("--out", default=None, help="append one JSON line per measurement here")
    p.add_argument("--record-reference", action="store_true",
                   help="store this run's fractions of the ceilings as this machine "
                   "kind's reference (in bench_reference.json) instead of checking them")
    p.set_defaults(run=_run_bench)


def _run_bench(args):
    from memjax import bench

    bench.run_bench(args)


def reproduction_targets() -> dict:
    """Every reproduction target by name (see `memjax.reproduce`)."""
    from memjax.reproduce import cli as reproduce_cli

    return reproduce_cli.reproduction_targets()


def add_reproduce_parser(subparsers):
    from memjax.reproduce import cli as reproduce_cli

    reproduce_cli.add_reproduce_parser(subparsers)


def run_reproduce(args):
    from memjax.reproduce import cli as reproduce_cli

    reproduce_cli.run_reproduce(args)


REPRODUCE_EXAMPLES = """examples:
  memjax reproduce --list                       # the targets, and which run by default
  memjax reproduce --quick --out results/smoke  # every default target at reduced size
  memjax reproduce --only schemes-vs-dim,overflow --seeds 20 --out results/paper
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="memjax", description="Simulate associative memories and their scaling laws.",
        epilog="examples:\n  memjax sweep --dims 10,100,1000 --num-seeds 20 --out "
        "results/quick\n  memjax reproduce --quick\n  memjax SUBCOMMAND --help",
        formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"memjax {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_sweep_parser(subparsers)
    add_reproduce_parser(subparsers)
    add_merge_parser(subparsers)
    add_bench_parser(subparsers)
    subparsers.choices["reproduce"].epilog = REPRODUCE_EXAMPLES
    for sub in subparsers.choices.values():
        # `--num-seed 4` must not be taken for --num-seeds; examples keep their lines.
        sub.allow_abbrev = False
        sub.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.subcommands = subparsers.choices
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # with the subcommand's usage, not the top-level one
        parser.subcommands[args.command].error(f"unrecognized arguments: "
                                               f"{' '.join(unknown)}")
    try:
        # `memjax bench` measures the machine's own ceilings: no ISA cap, no cache.
        if args.command != "bench":
            enable_compilation_cache()
        args.run(args)
    except (ValueError, OverflowError, OSError) as err:  # the message says what to do
        print(f"memjax: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
