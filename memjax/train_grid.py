"""Training grids: the population error after training over a grid, resumable.

`train_sweep` loops over the static axes (model, optimizer, layer norm, d, B), one
compiled program each (`memjax.train.train_runs`), with seeds and step sizes vmapped
inside it and the T axis nested (one pass over T_max evaluated at every T/B). Each static
configuration is a block; with an output path every finished block is written atomically
(temporary file + rename) under `<out>.blocks/`, named by a hash of everything that
determines it, so a rerun of an interrupted grid skips the finished blocks and loses
nothing. A block file carries that identity (configuration, the T order of its arrays,
the dtype, the memjax and JAX versions) and a checksum, and its errors must lie in [0, 1]
(NaN only where the run diverged): anything else raises a ValueError naming the file. The
folder is locked while a run uses it. The result is a `memjax.SweepResult` with dims
`SWEEP_DIMS` and a `finite` mask (False where a run's parameters became NaN or inf; its
error is NaN there)."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import pathlib
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from memjax import _atomic, _checkpoint, _checks, _devices, _processes
from memjax import models as models_lib
from memjax import optimizers as optimizers_lib
from memjax.models import Model
from memjax.optimizers import Optimizer, StepSize
from memjax import results
from memjax.results import SweepResult
from memjax.train import (DEFAULT_CACHE_BUDGET, DEFAULT_MEMORY_BUDGET, TrainConfig,
                          train_runs)

SWEEP_DIMS = ("model", "optimizer", "layer_norm", "dim", "batch_size", "learning_rate",
              "seed", "num_samples")


@dataclasses.dataclass(frozen=True)
class Block:
    """One static configuration of a sweep: its runs are all (seed, step size) pairs."""

    index: tuple[int, ...]  # position along (model, optimizer, layer_norm, dim, batch_size)
    config: TrainConfig
    sample_steps: tuple[int, ...]  # evaluation step of each T, in the sweep's T order

    def cost(self, num_runs: int) -> dict:
        """Work of the block (all runs): matmul flops and parameter entries updated."""
        steps = num_runs * self.config.num_steps
        return {"flops": steps * self.config.flops_per_step(),
                "updates": steps * self.config.entries_per_step()}


def sweep_blocks(*, num_inputs, num_outputs, dims, batch_sizes, num_samples, models_,
                 optimizers_, layer_norms, targets="mod", route="auto") -> list[Block]:
    """The static configurations of a sweep, in grid order (checked, nothing traced)."""
    blocks = []
    for i, model in enumerate(models_):
        for j, optimizer in enumerate(optimizers_):
            for k, norm in enumerate(layer_norms):
                for a, dim in enumerate(dims):
                    for b, batch in enumerate(batch_sizes):
                        for t in num_samples:
                            if t % batch:
                                _checks.fail("num_samples", num_samples, "multiples of every"
                                             f" batch size (T = {t} with B = {batch})")
                        steps = tuple(t // batch for t in num_samples)
                        config = TrainConfig(
                            num_inputs, num_outputs, dim, batch, tuple(sorted(set(steps))),
                            model=dataclasses.replace(model, layer_norm=norm),
                            optimizer=optimizer, targets=targets,
                            route=route if (route != "tokens" or (
                                model.kind == "matrix" and optimizer.is_plain_sgd))
                            else "auto")
                        blocks.append(Block((i, j, k, a, b), config, steps))
    return blocks


BLOCK_FORMAT = 1


def _block_identity(block: Block, identity: dict, num_runs: tuple[int, int]) -> dict:
    """What a block file must carry: its configuration, the T (evaluation step) order of
    its arrays, the sweep-wide numbers, the arrays' shape and dtype, the versions."""
    from memjax import __version__

    steps = list(block.config.eval_steps)
    return {"format": BLOCK_FORMAT, "memjax": __version__, "jax": jax.__version__,
            "config": _checkpoint.describe(block.config), "eval_steps": steps,
            **identity, "shape": [*num_runs, len(steps)],
            "dtype": np.dtype(jnp.result_type(float)).name}


def _block_id(expected: dict) -> str:
    """The block's file name: a hash of what determines its numbers (versions and dtype
    are checked inside the file, so that a changed one is reported, not recomputed)."""
    keys = {k: v for k, v in expected.items() if k not in ("memjax", "jax", "dtype")}
    return hashlib.sha1(json.dumps(keys, sort_keys=True).encode()).hexdigest()[:16]


def _run_block(key, block: Block, step_size, zipf_exponent, seeds, memory_budget,
               devices=None):
    """(error, finite), each (seed, γ, E) in the block's evaluation-step order; a run
    whose parameters are no longer finite has error NaN from then on."""
    out = train_runs(key, block.config, step_size, zipf_exponent=zipf_exponent,
                     seeds=seeds, memory_budget=memory_budget, devices=devices)
    finite = np.asarray(out.finite, bool)
    return np.where(finite, out.error, np.nan).astype(out.error.dtype), finite


def train_sweep(key, *, num_inputs: int = 100, num_outputs: int = 5,
                zipf_exponent: float = 2.0, dims, batch_sizes, num_samples, learning_rates,
                models=("matrix",), optimizers=("sgd",), layer_norms=(False,),
                init: str = "gaussian", num_seeds: int = 1, seeds=None,
                decay_factor: float = 1.0, decay_step: int = 0, targets: str = "mod",
                route: str = "auto", out=None, overwrite: bool = False,
                progress: bool = False, memory_budget: int = DEFAULT_MEMORY_BUDGET,
                devices=None, workers: int = 1):
    """The population error after training, over a grid, in one call.

    Static axes (model, optimizer, layer norm, d, B) are looped over, one compiled
    program each; seeds and step sizes are vmapped inside it; the T axis is nested (one
    pass over T_max evaluated at every T/B). With `out`, every finished block is written
    atomically under `<out>.blocks/` and a rerun skips it, so an interrupted grid loses
    nothing; the assembled result is saved to `out` (.npz + .json).

    Args:
      key: a typed key; seed s uses fold_in(key, s) (shared by all static configurations
        and step sizes: common random numbers).
      num_inputs, num_outputs, zipf_exponent: N, M, α.
      dims, batch_sizes: d and B values; num_samples: T values, multiples of every B.
      learning_rates: step sizes γ (vmapped).
      models: names ('matrix', 'learnable', 'exponential') or `Model`s (their layer_norm
        is replaced by each value of `layer_norms`); init: W's init for named models.
      optimizers: names ('sgd', 'adam', 'sign', 'normalized') or `Optimizer`s.
      decay_factor, decay_step: the 'step' schedule's numbers (same for every γ).
      route: 'auto', 'direct' or 'tokens' (tokens where exact, else auto).
      out: result path for saving and resuming (None: keep in memory only); '.npz' is
        appended unless it ends so. Its `<out>.blocks/` folder is locked while the call
        runs: a second call on the same `out` is refused (ValueError naming the lock).
      overwrite: replace a result of another configuration at `out` (otherwise refused
        with a ValueError before anything is computed).
      devices: devices to split each block's (seed, γ) runs over (default: this
        process's local devices); a run's result is the same on any number of devices.
      workers: CPU processes computing blocks side by side (1: this process). Each
        worker is a fresh process pinned to its own share of this process's CPUs (on
        Linux), largest blocks first; this process writes every finished block. On the
        2-core CPU of benchmarks/README.md two workers ran the full §5.6 grid in 54.4
        min against 71.7 in one process whose steps use both cores. A block's numbers
        do not depend on `workers`. CPU only, with the default `devices` and named
        optimizers (a user's optax transformation cannot be sent to a process); a
        script must call this under `if __name__ == "__main__":` (each worker imports
        it again, as Python's spawn start method does).

    Returns:
      A `memjax.SweepResult` with dims `SWEEP_DIMS` and `.finite` (same shape): a run
      whose parameters became NaN or inf has error NaN and finite False from the first
      evaluation at which that happened (one warning says how many runs diverged).
    """
    # --- Argument validation: every bad input is a ValueError here, before any trace. ---
    _checks.key("key", key)
    num_inputs = _checks.int_at_least("num_inputs", num_inputs, 1)
    num_outputs = _checks.int_at_least("num_outputs", num_outputs, 1)
    _checks.real_at_least("zipf_exponent", zipf_exponent, 0.0)
    explicit_devices = devices is not None
    devices = _devices.resolve(_checks.devices("devices", devices))
    workers = _checks.int_at_least("workers", workers, 1)
    dims = _checks.int_tuple("dims", dims, 1)
    batch_sizes = _checks.int_tuple("batch_sizes", batch_sizes, 1)
    # Steps and sample positions are int32 inside the training loop.
    num_samples = _checks.int_tuple("num_samples", num_samples, 1, 2**31 - 1)
    if seeds is None:
        num_seeds = _checks.int_at_least("num_seeds", num_seeds, 1, 2**31)
    else:
        seeds = _checks.int_tuple("seeds", seeds, 0, 2**31 - 1)
    num_rows = num_seeds if seeds is None else len(seeds)
    grid_size = num_rows * len(_as_tuple(learning_rates, "learning_rates")) * len(
        num_samples) * len(dims) * len(batch_sizes) * len(_as_tuple(models, "models")) * len(
        _as_tuple(optimizers, "optimizers")) * len(_as_tuple(layer_norms, "layer_norms"))
    # The result holds float64 errors and a bool mask per run and T; each seed also costs
    # ~256 bytes of host bookkeeping (the seed tuple, list and the JSON block identity).
    _checks.host_memory("num_seeds" if seeds is None else "seeds", num_rows,
                        9 * grid_size + 256 * num_rows, "results and per-seed bookkeeping")
    _checks.choice("init", init, models_lib.INITS)
    model_list = tuple(models_lib.parse(m) if not isinstance(m, str) else Model(m, init=init)
                       for m in _as_tuple(models, "models"))
    optimizer_list = tuple(optimizers_lib.parse(o) for o in _as_tuple(optimizers,
                                                                      "optimizers"))
    layer_norms = _as_tuple(layer_norms, "layer_norms")
    for i, norm in enumerate(layer_norms):
        _checks.choice(f"layer_norms[{i}]", norm, (False, True))
    rates = np.asarray([_checks.real_at_least(f"learning_rates[{i}]", r, 0.0) for i, r in
                        enumerate(_as_tuple(learning_rates, "learning_rates"))], np.float64)
    step_size = optimizers_lib.step_sizes(rates, decay_factor, decay_step)
    seeds = tuple(range(num_seeds)) if seeds is None else seeds
    for name, values in (("models", [m.kind for m in model_list]),
                         ("optimizers", [o.name for o in optimizer_list]),
                         ("layer_norms", layer_norms), ("learning_rates", rates.tolist())):
        if len(set(values)) != len(values):
            _checks.fail(name, tuple(values), "distinct values (labels)")
    if workers > 1:
        if explicit_devices or devices[0].platform != "cpu":
            _checks.fail("workers", workers, "1 unless the blocks run on this process's "
                         f"CPU devices (got devices {devices}): each worker process "
                         "would claim the devices")
        named = [o.name for o in optimizer_list if not isinstance(o.kind, str)]
        if named:
            _checks.fail("workers", workers, "1 with a user's optax transformation "
                         f"({', '.join(named)}): it cannot be sent to another process")
    # --- End of argument validation. ---
    blocks = sweep_blocks(num_inputs=num_inputs, num_outputs=num_outputs, dims=dims,
                          batch_sizes=batch_sizes, num_samples=num_samples,
                          models_=model_list, optimizers_=optimizer_list,
                          layer_norms=layer_norms, targets=targets, route=route)
    identity = {"zipf_exponent": float(zipf_exponent), "seeds": list(seeds),
                "learning_rates": rates.tolist(), "decay": [float(decay_factor),
                                                            float(decay_step)],
                "key": _key_description(key)}
    shape = (len(model_list), len(optimizer_list), len(layer_norms), len(dims),
             len(batch_sizes), len(rates), len(seeds), len(num_samples))
    coords = {"model": [m.kind for m in model_list],
              "optimizer": [o.name for o in optimizer_list],
              "layer_norm": np.asarray(layer_norms, bool),
              "dim": np.asarray(dims, np.int64),
              "batch_size": np.asarray(batch_sizes, np.int64),
              "learning_rate": rates, "seed": np.asarray(seeds, np.int64),
              "num_samples": np.asarray(num_samples, np.int64)}
    config = {"num_inputs": num_inputs, "num_outputs": num_outputs,
              "zipf_exponent": float(zipf_exponent), "init": init, "targets": targets,
              "route": route, "decay_factor": float(decay_factor),
              "decay_step": float(decay_step),
              "schedules": [o.schedule for o in optimizer_list],
              "models": [repr(m) for m in model_list],
              "optimizers": [repr(o) for o in optimizer_list],
              "key": identity["key"], "num_devices": len(devices)}
    folder, lock = None, contextlib.nullcontext()
    if out is not None:
        out = results.output_path(out, ".npz")  # as given: 'alpha1.5' -> 'alpha1.5.npz'
        if not overwrite:  # refused before any compute, not at the final save
            results.refuse_other(out, results.identity(
                {"kind": "train", "dims": SWEEP_DIMS, "coords": coords, "config": config}))
        folder = out.with_suffix(".blocks")
        lock = _atomic.locked(folder / _checkpoint.LOCK, f"the training output {out}")
    with lock:  # one writer at a time for `out` and its blocks
        errors, finite = _run_blocks(key, blocks, shape, identity, step_size,
                                     zipf_exponent, seeds, memory_budget, devices,
                                     folder, progress, workers)
        config["non_finite_runs"] = int((~finite).sum())  # diverged (run, T) points
        result = _result(errors, finite, coords, config)
        if out is not None:
            result.save(out, overwrite=overwrite)
    _warn_diverged(finite)
    return result


def _run_blocks(key, blocks, shape, identity, step_size, zipf_exponent, seeds,
                memory_budget, devices, folder, progress, workers=1):
    """Every block's (error, finite), each of the sweep's `shape`: read from its file in
    `folder` when finished, else computed (here, or by `workers` processes) and written
    there as soon as it is."""
    errors = np.full(shape, np.nan)
    finite = np.zeros(shape, bool)
    num_runs = (len(seeds), shape[5])  # (seed, γ)
    costs = [b.cost(num_runs[0] * num_runs[1]) for b in blocks]
    bar = _progress(sum(c["flops"] for c in costs) / 1e9, progress)
    todo = []

    def place(i, err, fin):
        block = blocks[i]
        # Stored in the block's sorted T order; the sweep's order may differ.
        where = [block.config.eval_steps.index(s) for s in block.sample_steps]
        # (seed, γ, T) -> (γ, seed, T)
        errors[block.index] = np.swapaxes(err[..., where], 0, 1)
        finite[block.index] = np.swapaxes(fin[..., where], 0, 1)
        bar.update(costs[i]["flops"] / 1e9)

    paths, expected = [], []
    for i, block in enumerate(blocks):
        expected.append(_block_identity(block, identity, num_runs))
        paths.append(None if folder is None else
                     folder / f"block-{_block_id(expected[-1])}.npz")
        if paths[-1] is not None and paths[-1].exists():
            place(i, *_checkpoint.load_block(paths[-1], expected[-1]))
        else:
            todo.append(i)

    def finished(i, err, fin):
        if paths[i] is not None:
            _checkpoint.save_block(paths[i], expected[i], err, fin)  # whole or absent
        place(i, err, fin)

    if workers > 1 and len(todo) > 1:
        sizes = StepSize(*(np.asarray(a) for a in step_size))  # host arrays: picklable
        tasks = [(i, (key, blocks[i], sizes, zipf_exponent, seeds, memory_budget))
                 for i in sorted(todo, key=lambda i: -costs[i]["flops"])]  # largest first
        _processes.run(_run_block, tasks, lambda i, out: finished(i, *out), workers)
    else:
        for i in todo:
            finished(i, *_run_block(key, blocks[i], step_size, zipf_exponent, seeds,
                                    memory_budget, devices=devices))
    bar.close()
    return errors, finite


def _result(errors, finite, coords, config) -> SweepResult:
    return SweepResult(error=errors, dims=SWEEP_DIMS, coords=coords, config=config,
                       finite=finite)


def _warn_diverged(finite) -> None:
    """One warning for the whole grid, with the number of runs that diverged."""
    diverged = ~finite.all(axis=-1)  # a run: every axis but T
    if diverged.any():
        warnings.warn(
            f"{int(diverged.sum())} of {diverged.size} training runs diverged (their "
            "parameters became NaN or inf): their error is NaN from the first T at which "
            "that happened, and `result.finite` is False there.", RuntimeWarning,
            stacklevel=3)


def load(path):
    """Reads a result saved by `train_sweep` (`memjax.load` does the same)."""
    return results.load(path)


def _as_tuple(values, name):
    if isinstance(values, (str, bool, int, float, Model, Optimizer)) or not hasattr(
            values, "__iter__"):
        values = (values,)
    values = tuple(values)
    if not values:
        _checks.fail(name, values, "a non-empty sequence")
    return values


def _progress(total, enabled):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc="memjax train", unit="GFLOP",
                bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} GFLOP [{elapsed}<{remaining}]")


def _key_description(key) -> str:
    try:
        return f"{jax.random.key_impl(key)}:{np.asarray(jax.random.key_data(key)).tolist()}"
    except (TypeError, ValueError):
        return repr(key)


# --- Projected wall time ------------------------------------------------------------------

# Blocks timed by `calibrate`: (model, optimizer, d, B, steps), 10 seeds × 4 step sizes,
# chosen so that each of the three costs dominates one of them, with the block kind that
# dominates the §5.6 grid (learnable, d = 1000: 31 of its 72 minutes) among them,
# and the d ≥ 500 blocks run 64 steps so that a call's fixed costs (the draws, ~25 ms per
# seed at d = 1000) do not pass for per-step costs. With 16 steps and without that block,
# the projection was 93 min for a grid measured at 71.4 (blocks' file times); with these,
# 78.5 (benchmarks/README.md, fourth session). Takes ~25 s on the 2-core CPU.
CALIBRATION = (("matrix", "adam", 10, 16, 400), ("matrix", "adam", 1000, 16, 64),
               ("matrix", "adam", 1000, 1024, 16), ("learnable", "sgd", 500, 64, 64),
               ("learnable", "sgd", 1000, 16, 64), ("matrix", "sgd", 1000, 16, 400),
               ("exponential", "adam", 200, 16, 200))


def _time_features(config: TrainConfig, num_runs: int, steps: int) -> np.ndarray:
    """(sequential steps, flops, entries) of `num_runs` runs of `steps` steps."""
    chunk = max(1, min(num_runs, DEFAULT_CACHE_BUDGET // config.bytes_per_run()))
    chunks = -(-num_runs // chunk)
    return np.array([chunks * steps, num_runs * steps * config.flops_per_step(),
                     num_runs * steps * config.entries_per_step()], float)


def calibrate(key, *, num_inputs: int = 100, num_outputs: int = 5, num_seeds: int = 10,
              learning_rates=(0.1, 1.0, 10.0, 100.0), quick: bool = False) -> dict:
    """Times a few small blocks on this machine and fits the time model
    t = steps·overhead + flops/F + entries/U (+ a compile time per block).
    `quick` times 4× shorter blocks at d ≤ 200 (a rough model, for smoke tests).

    Returns:
      {'step_overhead_s', 'flops_per_s', 'entries_per_s', 'compile_s'}.
    """
    import time

    rows, times, compiles = [], [], []
    for kind, opt, dim, batch, steps in CALIBRATION:
        if quick:
            dim, steps = min(dim, 200), max(1, steps // 4)
        config = TrainConfig(num_inputs, num_outputs, dim, batch, (steps,),
                             model=Model(kind), optimizer=opt)
        timed = []
        for attempt in range(2):
            start = time.perf_counter()
            train_runs(jax.random.fold_in(key, attempt), config, learning_rates,
                       zipf_exponent=2.0, num_seeds=num_seeds)
            timed.append(time.perf_counter() - start)
        rows.append(_time_features(config, num_seeds * len(learning_rates), steps))
        times.append(timed[1])
        compiles.append(max(timed[0] - timed[1], 0.0))
    rows, times = np.asarray(rows), np.asarray(times)
    scale = rows.max(axis=0)
    coef = np.linalg.lstsq(rows / scale, times, rcond=None)[0] / scale
    coef = np.maximum(coef, 1e-15)  # a cost the timings cannot see is ~free, not negative
    return {"step_overhead_s": float(coef[0]), "flops_per_s": float(1 / coef[1]),
            "entries_per_s": float(1 / coef[2]), "compile_s": float(np.median(compiles))}


# A process pinned to one of the 2 cores ran the grid's d ≥ 500 steps 1.47–1.65× slower
# than one using both (learnable SGD, d = 1000, B = 16: 1.88 vs 1.16 ms per run-step;
# matrix Adam 1.48 vs 0.92; `bench_train.py --blocks --one-cpu`, benchmarks/README.md,
# fifth session), so two workers run ~1.25× as fast and compile 2× as fast (compiling is
# single-threaded either way). With 1.55 the full grid was projected at 60.6 min for a
# run of 53.9 (the model over-predicts this machine by ~10 % in one process too).
WORKER_SLOWDOWN = 1.55


def projected_seconds(blocks, num_runs: int, rates: dict, workers: int = 1) -> float:
    """Projected wall time of `blocks` with `num_runs` runs each, from `calibrate`; with
    `workers` processes, the blocks are dealt largest first to the least-loaded one and
    their running time (not their compilation) is `WORKER_SLOWDOWN` × longer."""
    slowdown = 1.0 if workers == 1 else WORKER_SLOWDOWN
    times = []
    for block in blocks:
        steps, flops, entries = _time_features(block.config, num_runs,
                                               block.config.num_steps)
        times.append(rates["compile_s"] + slowdown * (
            steps * rates["step_overhead_s"] + flops / rates["flops_per_s"]
            + entries / rates["entries_per_s"]))
    loads = [0.0] * workers
    for t in sorted(times, reverse=True):
        loads[loads.index(min(loads))] += t
    return max(loads)
