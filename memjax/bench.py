"""`memjax bench`: the standard throughput benchmark, on whatever devices JAX sees.

One run measures, in memjax's float dtype (float32, or float64 with JAX_ENABLE_X64=1):
  * the ceilings: square matmul GFLOP/s (at `Precision.HIGHEST`, as memjax's products run)
    and standard normals per second (`jax.random.normal`, threefry in the non-partitionable
    layout memjax draws with, `memjax._random.fast_bits`), each the best over its sizes;
    a size predicted to need over `CEILING_CALL_SECONDS` per call is skipped;
  * `memjax.sweep` on a fixed ladder of grids (the paper's §5.1–5.3, then larger N and d);
  * `memjax.train_runs` on a ladder of training configurations.

Columns. Timings are the median of `repeats` warm calls, each complete (results on the
host); compile s = first call − warm median. A sweep rung has points = schemes × seeds ×
T × d errors and scores N tokens at every d for every seed: tok·dims/s = N·Σd·seeds /
warm s. A train rung makes `steps` sequential optimizer steps in each of runs = seeds ×
4 step sizes: steps/s = steps / warm s, run-steps/s = runs·steps / warm s. Work: a sweep
seed does `memjax._nested.costs(...)[route]` flops and draws (N + M)·d_max normals
(plus N·d_max again for the token chunks the streamed route does not keep between its two
passes: `memjax.grid.draws_per_seed`); a train run does
steps·`TrainConfig.flops_per_step()` flops and its seed draws (N + M)·d + d² normals.
GFLOP/s and Mnormal/s are that work / warm s. kernel: the one whose work would take its
ceiling longer; % ceil = that ceiling time / warm s (100 = the rung runs at its kernel's
peak). Ceilings are one device's; a sweep shards its seeds over all local devices, so
its ceilings are scaled by the device count. A rung whose ceiling time over its
1 + repeats calls exceeds `max_rung_seconds` is skipped (recorded, not run), so one
ladder serves a small CPU and an accelerator.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import math
import os
import pathlib
import platform
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from memjax import _checks, _nested, grid, schemes as schemes_lib, train
from memjax._random import fast_bits

_HIGHEST = jax.lax.Precision.HIGHEST
RATES = (0.1, 1.0, 10.0, 100.0)  # the §5.6 step sizes: one train rung vmaps all four
# A ceiling size predicted (from the smaller sizes) to need longer per call is skipped:
# by then the rate is measured, and an 8192² matmul would take ~6 s on a 2-core CPU.
CEILING_CALL_SECONDS = 1.0


@dataclasses.dataclass(frozen=True)
class SweepRung:
    """One `memjax.sweep` grid of the ladder (key 0, nested draws, f*(x) = x mod M)."""

    name: str
    num_inputs: int
    num_outputs: int
    zipf_exponent: float
    dims: tuple[int, ...]
    num_samples: tuple[float, ...]
    schemes: tuple[str, ...]
    num_seeds: int
    route: str = "auto"

    def __post_init__(self):
        _checks.int_at_least("num_inputs", self.num_inputs, 1)
        _checks.int_at_least("num_outputs", self.num_outputs, 1)
        _checks.int_at_least("num_seeds", self.num_seeds, 1)
        _checks.real_at_least("zipf_exponent", self.zipf_exponent, 0.0)
        _checks.choice("route", self.route, _nested.ROUTES)
        fix = functools.partial(object.__setattr__, self)
        fix("dims", _checks.int_tuple("dims", self.dims, 1))
        fix("num_samples", grid._samples_tuple(self.num_samples))
        fix("schemes", (self.schemes,) if isinstance(self.schemes, str)
            else tuple(self.schemes))
        self.config()  # parses the schemes

    def config(self) -> grid.SweepConfig:
        return grid.SweepConfig(
            num_inputs=self.num_inputs, num_outputs=self.num_outputs, dims=self.dims,
            num_samples=self.num_samples, route=self.route,
            schemes=tuple(schemes_lib.parse(s) for s in self.schemes))


@dataclasses.dataclass(frozen=True)
class TrainRung:
    """One `memjax.train_runs` call: seeds × `RATES` runs of `num_steps` steps of B."""

    name: str
    dim: int
    batch_size: int
    num_steps: int
    num_seeds: int
    model: str = "matrix"
    optimizer: str = "sgd"
    num_inputs: int = 100
    num_outputs: int = 5
    zipf_exponent: float = 2.0

    def __post_init__(self):
        _checks.int_at_least("num_seeds", self.num_seeds, 1)
        _checks.real_at_least("zipf_exponent", self.zipf_exponent, 0.0)
        self.config()  # checks every other field

    def config(self) -> train.TrainConfig:
        return train.TrainConfig(self.num_inputs, self.num_outputs, self.dim,
                                 self.batch_size, (self.num_steps,), model=self.model,
                                 optimizer=self.optimizer)


@dataclasses.dataclass(frozen=True)
class Ladder:
    """Ceiling sizes (matrix side, normals per draw) and the rungs, in order."""

    name: str
    matmul_sizes: tuple[int, ...]
    normal_sizes: tuple[int, ...]
    sweeps: tuple[SweepRung, ...]
    trains: tuple[TrainRung, ...]

    def __post_init__(self):
        _checks.int_tuple("matmul_sizes", self.matmul_sizes, 1)
        _checks.int_tuple("normal_sizes", self.normal_sizes, 1)
        for field, kind in (("sweeps", SweepRung), ("trains", TrainRung)):
            for i, rung in enumerate(getattr(self, field)):
                if not isinstance(rung, kind):
                    _checks.fail(f"{field}[{i}]", rung, f"a memjax.bench.{kind.__name__}")


def _logspace(start, stop, count) -> tuple[int, ...]:
    return tuple(int(v) for v in np.unique(np.round(np.logspace(
        np.log10(start), np.log10(stop), count))))


_PAPER = dict(num_inputs=1000, num_outputs=5, zipf_exponent=2.0)
_SCHEMES_52 = ("uniform", "population:power=1", "threshold:top=d/8")
_LARGE = ("population:power=1", "threshold:top=d/8")
LADDERS = {
    "quick": Ladder(
        "quick", (1024, 2048), (1 << 20, 1 << 22),
        sweeps=(
            SweepRung("5.1/8", **_PAPER, dims=(10, 50, 200), num_samples=(10, 1000),
                      schemes=("empirical:power=0,top=d/12",), num_seeds=8),
            SweepRung("5.2/8", **_PAPER, dims=_logspace(10, 1000, 4),
                      num_samples=(math.inf,), schemes=_SCHEMES_52, num_seeds=8),
            SweepRung("5.3/8", 100, 5, 0.5, _logspace(10, 1000, 5),
                      _logspace(10, 10_000, 5), ("empirical:power=0",), 8)),
        trains=(TrainRung("sgd d=10 B=16", 10, 16, 100, 2),
                TrainRung("adam d=100 B=16", 100, 16, 100, 2, optimizer="adam"))),
    "full": Ladder(
        "full", (1024, 2048, 4096, 8192, 16384), tuple(1 << k for k in range(20, 29, 2)),
        sweeps=(
            SweepRung("5.1", **_PAPER, dims=(10, 20, 50, 100, 200, 1000),
                      num_samples=(10, 100, 1000, 10_000),
                      schemes=("empirical:power=0,top=d/12",), num_seeds=100),
            SweepRung("5.2", **_PAPER, dims=_logspace(10, 1000, 20),
                      num_samples=(math.inf,), schemes=_SCHEMES_52, num_seeds=100),
            SweepRung("5.3", 100, 5, 0.5, _logspace(10, 1000, 30),
                      _logspace(10, 10_000, 30), ("empirical:power=0",), 100),
            SweepRung("N=1e4 d<=1e3", 10_000, 5, 2.0, _logspace(10, 1000, 10),
                      (math.inf,), _LARGE, 20),
            SweepRung("N=1e4 d<=4e3", 10_000, 5, 2.0, _logspace(100, 4000, 6),
                      (math.inf,), _LARGE, 4),
            SweepRung("N=1e5 d<=1e3", 100_000, 5, 2.0, _logspace(10, 1000, 10),
                      (math.inf,), _LARGE, 4),
            SweepRung("N=1e5 d<=4e3", 100_000, 5, 2.0, _logspace(100, 4000, 6),
                      (math.inf,), _LARGE, 10)),
        trains=tuple(TrainRung(f"sgd d={d} B={b}", d, b, steps, 10)
                     for d in (10, 100, 1000) for b, steps in ((16, 200), (1024, 10)))
        + (TrainRung("adam d=100 B=16", 100, 16, 200, 10, optimizer="adam"),
           TrainRung("adam d=1000 B=16", 1000, 16, 200, 10, optimizer="adam"))),
}


def machine() -> dict:
    """What ran the benchmark (no hostname): backend, devices, dtype, versions, CPU."""
    import jaxlib

    import memjax

    try:  # the CPU's marketing name where Linux gives it
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or platform.machine()
    return {"backend": jax.default_backend(), "device_kind": jax.devices()[0].device_kind,
            "device_count": jax.device_count(),
            "dtype": np.dtype(jnp.result_type(float)).name, "jax": jax.__version__,
            "jaxlib": jaxlib.__version__, "memjax": memjax.__version__,
            "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "cpu_model": cpu, "platform": platform.platform(terse=True)}


def sweep_work(rung: SweepRung) -> dict:
    """A sweep rung's size and work (grid points, token·dims, flops, normals) on the route
    `memjax.sweep` takes under its default memory budget."""
    config = grid.plan(rung.config(), grid.DEFAULT_MEMORY_BUDGET)
    n, m, dims, seeds = rung.num_inputs, rung.num_outputs, config.dims, rung.num_seeds
    # `costs` counts 2 flops per multiply-add; the streamed route does the tokens
    # route's products, drawing each token chunk once at d_max, twice if not kept.
    flops = _nested.costs(n, m, dims, config.num_weights)[
        "tokens" if config.route == "stream" else config.route]
    draws = grid.draws_per_seed(config)
    return {"route": config.route, "points": len(rung.schemes) * seeds
            * len(rung.num_samples) * len(dims), "token_dims": n * sum(dims) * seeds,
            "flops": flops * seeds, "normals": draws * seeds}


def train_work(rung: TrainRung) -> dict:
    """A train rung's size and work: runs, run-steps, matmul flops, normals drawn."""
    config = rung.config()
    runs = rung.num_seeds * len(RATES)
    d = rung.dim
    return {"route": config.resolved_route, "runs": runs,
            "run_steps": runs * rung.num_steps,
            "flops": runs * rung.num_steps * config.flops_per_step(),
            "normals": rung.num_seeds * ((rung.num_inputs + rung.num_outputs) * d + d * d)}


def kernel_fraction(flops, normals, seconds, ceilings) -> tuple[str, float]:
    """(dominant kernel, its ceiling time / `seconds`) from ceilings {'matmul': flop/s,
    'normal': normals/s}."""
    need = {"matmul": flops / ceilings["matmul"], "normal": normals / ceilings["normal"]}
    kernel = max(need, key=need.get)
    return kernel, need[kernel] / seconds


def _timings(call, repeats) -> dict:
    """First call and warm calls of `call(i)` (i: the call's index), each waited for."""
    def once(i):
        start = time.perf_counter()
        jax.block_until_ready(call(i))
        return time.perf_counter() - start

    first = once(0)
    warm = [once(i + 1) for i in range(repeats)]
    median = statistics.median(warm)
    return {"first_s": first, "compile_s": max(0.0, first - median), "warm_s": warm,
            "warm_median_s": median}


def matmul_rate(size: int, repeats: int) -> dict:
    """Square (size × size) matmuls in memjax's float dtype at HIGHEST precision."""
    dtype = jnp.result_type(float)
    a, b = (jax.random.normal(k, (size, size), dtype)
            for k in jax.random.split(jax.random.key(0)))
    product = jax.jit(lambda x, y: jnp.matmul(x, y, precision=_HIGHEST))
    row = _timings(lambda i: product(a, b), repeats)
    return {"size": size, "flops": 2 * size ** 3,
            "rate": 2 * size ** 3 / row["warm_median_s"], **row}


def normal_rate(count: int, repeats: int) -> dict:
    """One draw of `count` standard normals, threefry non-partitionable (memjax's)."""
    dtype = jnp.result_type(float)
    draw = jax.jit(fast_bits(lambda key: jax.random.normal(key, (count,), dtype)))
    key = jax.random.key(0)
    row = _timings(lambda i: draw(jax.random.fold_in(key, i)), repeats)
    return {"size": count, "normals": count, "rate": count / row["warm_median_s"], **row}


CEILINGS = {"matmul": matmul_rate, "normal": normal_rate}


def _sweep(rung: SweepRung, i):
    result = grid.sweep(jax.random.fold_in(jax.random.key(0), i),
                        num_inputs=rung.num_inputs, num_outputs=rung.num_outputs,
                        zipf_exponent=rung.zipf_exponent, dims=rung.dims,
                        num_samples=rung.num_samples, schemes=rung.schemes,
                        num_seeds=rung.num_seeds, route=rung.route)
    return result.error  # host NumPy: the call is complete


def _train(rung: TrainRung, i):
    out = train.train_runs(jax.random.fold_in(jax.random.key(0), i), rung.config(), RATES,
                           zipf_exponent=rung.zipf_exponent, num_seeds=rung.num_seeds)
    return out.error


def _rung_row(kind, rung, work, ceilings, repeats, max_rung_seconds, call) -> dict:
    row = {"kind": kind, **_jsonable(dataclasses.asdict(rung)), **work}
    # A sweep shards its seeds over every local device; training runs on one device.
    devices = jax.local_device_count() if kind == "sweep" else 1
    ceilings = {k: v * devices for k, v in ceilings.items()}
    bound = work["flops"] / ceilings["matmul"] + work["normals"] / ceilings["normal"]
    row["ceiling_s"] = bound
    if bound * (1 + repeats) > max_rung_seconds:
        return {**row, "skipped": f"ceiling time {bound * (1 + repeats):.0f} s > "
                f"max_rung_seconds {max_rung_seconds:g}"}
    row.update(_timings(call, repeats))
    seconds = row["warm_median_s"]
    row["kernel"], row["ceiling_fraction"] = kernel_fraction(
        work["flops"], work["normals"], seconds, ceilings)
    # points_per_s, token_dims_per_s, flops_per_s, normals_per_s, run_steps_per_s, ...
    row.update({f"{k}_per_s": v / seconds for k, v in work.items() if k != "route"})
    if kind == "train":
        row["steps_per_s"] = rung.num_steps / seconds
    return row


def run(ladder="full", *, repeats: int = 3, max_rung_seconds: float = 60.0, out=None,
        log=None) -> list[dict]:
    """Runs a ladder; returns one record per measurement (and appends them to `out`).

    Args:
      ladder: 'quick', 'full' or a `Ladder`.
      repeats: warm calls per measurement (the median is reported).
      max_rung_seconds: skip a rung whose ceiling time over its 1 + repeats calls
        exceeds this (`math.inf`: run every rung).
      out: a JSON-lines file to append to (one line per record), or None.
      log: called with a short progress line after each measurement, or None.

    Returns:
      Records (dicts): kind 'matmul' / 'normal' (the ceilings), 'sweep', 'train'; each
      with the `machine()` fields, the ladder's name, the UTC time and the load average.
    """
    if isinstance(ladder, str):
        _checks.choice("ladder", ladder, tuple(LADDERS))
        ladder = LADDERS[ladder]
    elif not isinstance(ladder, Ladder):
        _checks.fail("ladder", ladder, "'quick', 'full' or a memjax.bench.Ladder")
    repeats = _checks.int_at_least("repeats", repeats, 1)
    _checks.real_at_least("max_rung_seconds", max_rung_seconds, 0.0, finite=False)
    if not max_rung_seconds > 0:
        _checks.fail("max_rung_seconds", max_rung_seconds, "a real number > 0")
    host = machine()
    out = None if out is None else pathlib.Path(out)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
    records = []

    def record(row, label):
        row = {**row, "ladder": ladder.name, "repeats": repeats, **host,
               "time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(
                   timespec="seconds"), "load_avg_1m": _load()}
        records.append(row)
        if out is not None:
            with open(out, "a") as f:
                f.write(json.dumps(_jsonable(row), allow_nan=False) + "\n")
        if log is not None:
            log(f"{row['kind']} {label}: " + (row.get("skipped") or
                                             f"{row['warm_median_s']:.4g} s warm"))

    ceilings = {}
    for kind, sizes in (("matmul", ladder.matmul_sizes), ("normal", ladder.normal_sizes)):
        for size in sorted(sizes):
            work = 2 * size ** 3 if kind == "matmul" else size
            need = work / ceilings.get(kind, math.inf)
            if need > CEILING_CALL_SECONDS:
                record({"kind": kind, "size": size, "skipped": f"predicted {need:.1f} s "
                        f"per call > {CEILING_CALL_SECONDS:g} s"}, size)
                continue
            record({"kind": kind, **CEILINGS[kind](size, repeats)}, size)
            ceilings[kind] = max(ceilings.get(kind, 0.0), records[-1]["rate"])
    for rung in ladder.sweeps:
        record(_rung_row("sweep", rung, sweep_work(rung), ceilings, repeats,
                         max_rung_seconds, lambda i: _sweep(rung, i)), rung.name)
    for rung in ladder.trains:
        record(_rung_row("train", rung, train_work(rung), ceilings, repeats,
                         max_rung_seconds, lambda i: _train(rung, i)), rung.name)
    return records


def _load():
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def _jsonable(value):
    """Plain JSON: tuples as lists, inf as 'inf' (NaN is refused by json.dumps)."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return "inf" if value == math.inf else value


def _col(header, width, spec, field, scale=1):
    return header, width, lambda r: format(r[field] * scale, spec)


_ID = {"ceiling": [("ceiling", 8, lambda r: r["kind"]), _col("size", 11, ",", "size")],
       "sweep": [("sweep", 14, lambda r: r["name"]), _col("points", 7, ",", "points"),
                 _col("seeds", 5, "", "num_seeds"), ("route", 6, lambda r: r["route"])],
       "train": [("train", 18, lambda r: r["name"]), _col("runs", 5, "", "runs"),
                 _col("steps", 5, "", "num_steps"), ("route", 6, lambda r: r["route"])]}
_TIMES = [_col("compile s", 9, ".2f", "compile_s"),
          _col("warm s", 8, ".4f", "warm_median_s")]
_KERNEL = [("kernel", 6, lambda r: r["kernel"]),
           _col("% ceil", 6, ".1f", "ceiling_fraction", 100)]
_SECTION = {"matmul": "ceiling", "normal": "ceiling", "sweep": "sweep", "train": "train"}
_COLUMNS = {
    "ceiling": _ID["ceiling"] + _TIMES + [("rate", 17, lambda r: (
        f"{r['rate'] / 1e9:,.1f} GFLOP/s" if r["kind"] == "matmul"
        else f"{r['rate'] / 1e6:,.1f} Mnormal/s"))],
    "sweep": _ID["sweep"] + _TIMES + [
        _col("points/s", 9, ".3g", "points_per_s"),
        _col("tok·dims/s", 10, ".3g", "token_dims_per_s"),
        _col("GFLOP/s", 8, ".2f", "flops_per_s", 1e-9),
        _col("Mnormal/s", 9, ".1f", "normals_per_s", 1e-6)] + _KERNEL,
    "train": _ID["train"] + _TIMES + [
        _col("steps/s", 8, ".4g", "steps_per_s"),
        _col("run-steps/s", 11, ".4g", "run_steps_per_s"),
        _col("GFLOP/s", 8, ".2f", "flops_per_s", 1e-9)] + _KERNEL,
}


def format_table(records: list[dict]) -> str:
    """The records as a plain-text table, one section per kind (see the module doc)."""
    if not records:
        return "(no measurements)"
    first, last = records[0], records[-1]
    lines = [f"memjax bench, {first['ladder']} ladder: {first['backend']} backend, "
             f"{first['device_count']} × {first['device_kind']}, {first['dtype']}, jax "
             f"{first['jax']} / jaxlib {first['jaxlib']}, {first['cpu_count']} CPUs "
             f"({first['cpu_model']}), load {_fmt(first['load_avg_1m'])}–"
             f"{_fmt(last['load_avg_1m'])}, median of {first['repeats']}"]
    for section, columns in _COLUMNS.items():
        rows = [r for r in records if _SECTION[r["kind"]] == section]
        if not rows:
            continue
        cell = lambda i, text: f"{text:{'<' if i == 0 else '>'}{columns[i][1]}}"
        lines += ["", " ".join(cell(i, c[0]) for i, c in enumerate(columns))]
        for r in rows:
            shown = columns if "skipped" not in r else columns[:len(_ID[section])]
            line = " ".join(cell(i, c[2](r)) for i, c in enumerate(shown))
            lines.append(line + (f" skipped: {r['skipped']}" if "skipped" in r else ""))
    return "\n".join(lines)


def _fmt(value):
    return "?" if value is None else f"{value:.2f}"


# Each machine kind's recorded fractions of the ceilings, per ladder and rung (see
# `record_reference`); `memjax bench` fails when a rung falls below half of its figure.
REFERENCE_FILE = pathlib.Path(__file__).with_name("bench_reference.json")
REGRESSION_FACTOR = 0.5


def machine_kind(record: dict) -> str:
    """What a reference figure is kept for: backend, device kind, CPU model and count,
    dtype (a ratio to the ceilings moves with each)."""
    return (f"{record['backend']} | {record['device_kind']} | {record['cpu_model']} × "
            f"{record['cpu_count']} | {record['dtype']}")


def _fractions(records) -> dict:
    return {r["name"]: r["ceiling_fraction"] for r in records
            if r["kind"] in ("sweep", "train") and "ceiling_fraction" in r}


def compare_to_reference(records: list[dict], reference: dict) -> tuple[bool, list[str]]:
    """(passed, lines): every rung's fraction of its ceiling against
    `REGRESSION_FACTOR` × the figure recorded in `reference` (the file's content) for
    this machine kind and ladder; no figure for this machine: passes, says so."""
    if not records:
        return True, []
    kind, ladder = machine_kind(records[0]), records[0]["ladder"]
    recorded = reference.get(kind, {}).get(ladder, {}).get("fractions")
    if not recorded:
        return True, [f"memjax bench: no reference for {kind!r}, ladder {ladder!r}: "
                      "nothing to compare (record one with --record-reference)"]
    passed, lines = True, []
    for name, fraction in _fractions(records).items():
        if name not in recorded:
            continue
        floor = REGRESSION_FACTOR * recorded[name]
        ok = fraction >= floor
        passed &= ok
        lines.append(f"memjax bench: {'ok' if ok else 'REGRESSION'} {name}: "
                     f"{100 * fraction:.1f} % of its ceiling (recorded "
                     f"{100 * recorded[name]:.1f} %, floor {100 * floor:.1f} %)")
    return passed, lines


def record_reference(records: list[dict], path=None) -> dict:
    """Stores the records' fractions as this machine kind's reference for their ladder
    in `path` (default `REFERENCE_FILE`; other machines and ladders are kept); returns
    the file's new content."""
    path = pathlib.Path(REFERENCE_FILE if path is None else path)
    reference = json.loads(path.read_text()) if path.exists() else {}
    first = records[0]
    reference.setdefault(machine_kind(first), {})[first["ladder"]] = {
        "fractions": _fractions(records), "time_utc": first["time_utc"],
        "load_avg_1m": [first["load_avg_1m"], records[-1]["load_avg_1m"]],
        "jax": first["jax"], "memjax": first["memjax"]}
    path.write_text(json.dumps(reference, indent=1, sort_keys=True) + "\n")
    return reference


def run_bench(args):
    # Compile times are cold: a persistent-cache hit would time a disk read instead.
    cache = jax.config.jax_enable_compilation_cache
    jax.config.update("jax_enable_compilation_cache", False)
    try:
        records = run("quick" if args.quick else "full", repeats=args.repeats,
                      max_rung_seconds=args.max_rung_seconds, out=args.out,
                      log=lambda line: print(f"memjax bench: {line}", file=sys.stderr,
                                             flush=True))
    finally:
        jax.config.update("jax_enable_compilation_cache", cache)
    print(format_table(records))
    if args.out:
        print(f"appended {len(records)} lines to {args.out}")
    if args.record_reference:
        record_reference(records)
        print(f"recorded the reference for {machine_kind(records[0])!r} in {REFERENCE_FILE}")
        return
    reference = json.loads(REFERENCE_FILE.read_text()) if REFERENCE_FILE.exists() else {}
    passed, lines = compare_to_reference(records, reference)
    print("\n".join(lines))
    if not passed:  # a regression must fail the command (and CI), not just print
        print(f"memjax bench: a rung fell below {REGRESSION_FACTOR:g} × its recorded "
              "fraction of the ceiling (see above)", file=sys.stderr)
        raise SystemExit(1)
