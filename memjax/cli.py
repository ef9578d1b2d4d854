"""The `memjax` command line: `memjax sweep`, `reproduce`, `merge` and `bench`.

Flags mirror the argument names of `memjax.sweep` with dashes. Lists are comma-separated
(`--dims 10,20,50`, `--num-samples 100,1000,inf`) or log-spaced (`--dims log:10:1000:20`,
rounded to distinct integers). On accelerators, compiled programs are cached on disk
between runs (`MEMJAX_CACHE_DIR`, default ~/.cache/memjax).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import pathlib
import re
import sys

import numpy as np

from memjax.bench import add_bench_parser

DEFAULT_SCHEMES = ("population:power=1", "threshold:top=d/8")


def parse_grid(text: str, *, integer: bool, name: str) -> list[float]:
    """'10,20,inf' or 'log:START:STOP:COUNT' -> a list of numbers."""
    text = text.strip()
    try:
        if text.startswith("log:"):
            start, stop, count = text[4:].split(":")
            values = np.logspace(np.log10(float(start)), np.log10(float(stop)), int(count))
            # Dims and sample sizes are integers: log-spaced values are rounded.
            return [int(v) for v in np.unique(np.round(values))]
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise SystemExit(f"memjax: --{name} must be comma-separated numbers or "
                         f"'log:START:STOP:COUNT'; got {text!r}.") from None
    if integer:
        if any(not math.isfinite(v) or not v.is_integer() for v in values):
            raise SystemExit(f"memjax: --{name} takes integers; got {text!r}.")
        return [int(v) for v in values]
    return [v if math.isinf(v) else (int(v) if v.is_integer() else v) for v in values]


def enable_compilation_cache():
    """Persists compiled XLA programs across runs (JAX's own cache), on accelerators.

    Not on CPU: there XLA rejects every cached executable on reload (its AOT loader
    treats the tuning flags +prefer-no-gather/-scatter as missing CPU features,
    jax-ml/jax#38445), so the cache never hits and only prints errors.
    """
    import jax

    if jax.default_backend() == "cpu":
        return
    path = pathlib.Path(os.environ.get("MEMJAX_CACHE_DIR",
                                       pathlib.Path.home() / ".cache" / "memjax"))
    try:
        path.mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", str(path))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
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


def add_sweep_parser(subparsers):
    p = subparsers.add_parser("sweep", help="exact errors over a (scheme, seed, T, d) grid",
                              description="Evaluate memory schemes over a grid of sample "
                              "sizes T and capacities d, for many seeds, in one call. "
                              "Finished chunks of seeds are written to OUT.chunks/ as "
                              "they complete; rerunning an interrupted command resumes "
                              "from them (bit-identical to an uninterrupted run) and "
                              "recomputes nothing finished. The folder is removed once "
                              "OUT is written.")
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
    p.add_argument("--input-embedding", default="gaussian", help="gaussian or sphere")
    p.add_argument("--output-embedding", default="sphere", help="gaussian or sphere")
    p.add_argument("--targets", default="mod", help="mod (x mod M) or random")
    p.add_argument("--independent", action="store_true",
                   help="draw embeddings independently per d instead of nested")
    p.add_argument("--key", type=int, default=0, help="the random key's seed (default 0)")
    p.add_argument("--seed-chunk", type=int, default=None, help="seeds per compiled call")
    p.add_argument("--route", default="auto", help="auto, tokens, gram, matrix or stream")
    p.add_argument("--counts", default="auto",
                   help="finite-T counts: stream (read T_max tokens), multinomial (nested "
                        "multinomial increments, any T up to 1e12+), or auto (default: "
                        "stream up to T_max = 2^22)")
    p.add_argument("--memory-budget", type=parse_bytes, default=None, metavar="SIZE",
                   help="memory one chunk of seeds may use, e.g. 512M or 8G (default "
                        "1G); larger vocabularies stream their tokens in chunks sized "
                        "to it, and a run that cannot fit is refused with the size needed")
    p.add_argument("--shard-index", type=int, default=0,
                   help="run only seeds s with s %% num-shards == shard-index")
    p.add_argument("--num-shards", type=int, default=1,
                   help="split the seeds over this many processes (see `memjax merge`)")
    p.add_argument("--out", default="results/sweep.npz",
                   help="result file (.npz + .json sidecar; default results/sweep.npz)")
    p.add_argument("--csv", default=None, help="also write a tidy CSV here")
    p.add_argument("--plot", default=None, help="write error-vs-d (and vs-T) figure here")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--no-checkpoint", action="store_true",
                   help="do not write finished seeds to OUT.chunks/ (an interrupted run "
                        "then starts over)")
    p.add_argument("--keep-chunks", action="store_true",
                   help="keep OUT.chunks/ after OUT is written (default: removed)")
    p.set_defaults(run=run_sweep)


def run_sweep(args):
    import jax

    import memjax
    from memjax import _checkpoint

    folder = None if args.no_checkpoint else pathlib.Path(args.out).with_suffix(".chunks")
    with _log_to_stdout():  # says how many seeds the checkpoint already holds
        result = memjax.sweep(
            jax.random.key(args.key), num_inputs=args.num_inputs,
            num_outputs=args.num_outputs, zipf_exponent=args.zipf_exponent,
            dims=parse_grid(args.dims, integer=True, name="dims"),
            num_samples=parse_grid(args.num_samples, integer=False, name="num-samples"),
            schemes=args.schemes or list(DEFAULT_SCHEMES),
            seeds=shard_seeds(args.num_seeds, args.shard_index, args.num_shards),
            input_embedding=args.input_embedding, output_embedding=args.output_embedding,
            targets=args.targets, nested=not args.independent, route=args.route,
            seed_chunk=args.seed_chunk, progress=not args.no_progress, checkpoint=folder,
            counts=args.counts, **({} if args.memory_budget is None else
                                   {"memory_budget": args.memory_budget}))
    print(summary(result))
    path = result.save(args.out)
    print(f"wrote {path} and {path.with_suffix('.json')}")
    if folder is not None and not args.keep_chunks:  # the result now holds every seed
        if _checkpoint.remove(folder):
            print(f"removed the checkpoint {folder} (--keep-chunks keeps it)")
        else:
            print(f"kept the checkpoint {folder}: it holds files memjax did not write")
    if args.csv:
        print(f"wrote {result.to_csv(args.csv)}")
    if args.plot:
        print(f"wrote {plot_sweep(result, args.plot)}")


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
    seeds = list(range(shard_index, num_seeds, num_shards))
    if not seeds:
        raise ValueError(f"shard {shard_index} of {num_shards} has no seeds: "
                         f"num_seeds is only {num_seeds}.")
    return seeds


def add_merge_parser(subparsers):
    p = subparsers.add_parser("merge", help="combine sweep results of disjoint seed shards",
                              description="Combine the result files of `memjax sweep "
                              "--shard-index i --num-shards n` runs into one file.")
    p.add_argument("parts", nargs="+", help="result files (.npz) to merge")
    p.add_argument("--out", required=True, help="merged result file (.npz + .json)")
    p.add_argument("--csv", default=None, help="also write a tidy CSV here")
    p.set_defaults(run=run_merge)


def run_merge(args):
    from memjax import results

    merged = results.merge(args.parts)
    path = merged.save(args.out)
    print(f"merged {len(args.parts)} parts, {merged.error.shape[1]} seeds: wrote {path}")
    if args.csv:
        print(f"wrote {merged.to_csv(args.csv)}")


def summary(result) -> str:
    """A text table of the seed-mean error: one row per (scheme, T), one column per d."""
    dims = result.coords["dim"]
    mean = result.mean("seed")
    width = max(len(s) for s in result.coords["scheme"]) + 12
    lines = [f"mean error over {result.error.shape[1]} seeds "
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="memjax", description="Simulate associative memories and their scaling laws.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_sweep_parser(subparsers)
    add_reproduce_parser(subparsers)
    add_merge_parser(subparsers)
    add_bench_parser(subparsers)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    enable_compilation_cache()
    try:
        args.run(args)
    except ValueError as err:  # bad input: the message already says what is allowed
        print(f"memjax: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
