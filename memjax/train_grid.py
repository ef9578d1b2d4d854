"""Training grids: the population error after training over a grid, resumable.

`train_sweep` loops over the static axes (model, optimizer, layer norm, d, B), one
compiled program each (`memjax.train.train_runs`), with seeds and step sizes vmapped
inside it and the T axis nested (one pass over T_max evaluated at every T/B). Each static
configuration is a block; with an output path every finished block is written atomically
(temporary file + rename) under `<out>.blocks/`, named by a hash of everything that
determines it, so a rerun of an interrupted grid skips the finished blocks and loses
nothing. The result is a `memjax.SweepResult` with dims `SWEEP_DIMS`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib

import jax
import numpy as np

from memjax import _atomic, _checks, _devices
from memjax import models as models_lib
from memjax import optimizers as optimizers_lib
from memjax.models import Model
from memjax.optimizers import Optimizer
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


def _block_id(block: Block, identity: dict) -> str:
    text = json.dumps({"config": repr(block.config), **identity}, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _run_block(key, block: Block, step_size, zipf_exponent, seeds, memory_budget,
               devices=None):
    out = train_runs(key, block.config, step_size, zipf_exponent=zipf_exponent,
                     seeds=seeds, memory_budget=memory_budget, devices=devices)
    where = [block.config.eval_steps.index(s) for s in block.sample_steps]
    return out.error[..., where], out.finite[..., where]


def _load_block(path, shape):
    """A finished block's (error, finite) arrays, checked; a damaged file is reported."""
    try:
        with np.load(path) as saved:
            err, fin = saved["error"], saved["finite"]
    except Exception as exc:  # a truncated or foreign file: zipfile, KeyError, ...
        raise ValueError(f"training block {path} cannot be read ({exc!r}); delete it "
                         "and rerun to recompute that block.") from None
    if err.shape != shape or fin.shape != shape or fin.dtype != bool:
        raise ValueError(f"training block {path} holds arrays of shape {err.shape} / "
                         f"{fin.shape} ({fin.dtype}), expected {shape} (bool finite); "
                         "delete it and rerun to recompute that block.")
    return err, fin


def train_sweep(key, *, num_inputs: int = 100, num_outputs: int = 5,
                zipf_exponent: float = 2.0, dims, batch_sizes, num_samples, learning_rates,
                models=("matrix",), optimizers=("sgd",), layer_norms=(False,),
                init: str = "gaussian", num_seeds: int = 1, seeds=None,
                decay_factor: float = 1.0, decay_step: int = 0, targets: str = "mod",
                route: str = "auto", out=None, progress: bool = False,
                memory_budget: int = DEFAULT_MEMORY_BUDGET, devices=None):
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
      out: result path for saving and resuming (None: keep in memory only).
      devices: devices to split each block's (seed, γ) runs over (default: this
        process's local devices); a run's result is the same on any number of devices.

    Returns:
      A `memjax.SweepResult` with dims `SWEEP_DIMS`.
    """
    num_inputs = _checks.int_at_least("num_inputs", num_inputs, 1)
    num_outputs = _checks.int_at_least("num_outputs", num_outputs, 1)
    _checks.real_at_least("zipf_exponent", zipf_exponent, 0.0)
    devices = _devices.resolve(devices)
    dims = _checks.int_tuple("dims", dims, 1)
    batch_sizes = _checks.int_tuple("batch_sizes", batch_sizes, 1)
    num_samples = _checks.int_tuple("num_samples", num_samples, 1)
    _checks.choice("init", init, models_lib.INITS)
    model_list = tuple(models_lib.parse(m) if not isinstance(m, str) else Model(m, init=init)
                       for m in _as_tuple(models, "models"))
    optimizer_list = tuple(optimizers_lib.parse(o) for o in _as_tuple(optimizers,
                                                                      "optimizers"))
    layer_norms = _as_tuple(layer_norms, "layer_norms")
    for i, norm in enumerate(layer_norms):
        _checks.choice(f"layer_norms[{i}]", norm, (False, True))
    rates = np.asarray(_as_tuple(learning_rates, "learning_rates"), np.float64)
    step_size = optimizers_lib.step_sizes(rates, decay_factor, decay_step)
    seeds = (tuple(range(_checks.int_at_least("num_seeds", num_seeds, 1))) if seeds is None
             else _checks.int_tuple("seeds", seeds, 0))
    for name, values in (("models", [m.kind for m in model_list]),
                         ("optimizers", [o.name for o in optimizer_list]),
                         ("layer_norms", layer_norms), ("learning_rates", rates.tolist())):
        if len(set(values)) != len(values):
            _checks.fail(name, tuple(values), "distinct values (labels)")
    blocks = sweep_blocks(num_inputs=num_inputs, num_outputs=num_outputs, dims=dims,
                          batch_sizes=batch_sizes, num_samples=num_samples,
                          models_=model_list, optimizers_=optimizer_list,
                          layer_norms=layer_norms, targets=targets, route=route)
    identity = {"zipf_exponent": float(zipf_exponent), "seeds": list(seeds),
                "learning_rates": rates.tolist(), "decay": [float(decay_factor),
                                                            float(decay_step)],
                "key": _key_description(key)}
    folder = None
    if out is not None:
        out = pathlib.Path(out).with_suffix(".npz")
        folder = out.with_suffix(".blocks")
        folder.mkdir(parents=True, exist_ok=True)

    shape = (len(model_list), len(optimizer_list), len(layer_norms), len(dims),
             len(batch_sizes), len(rates), len(seeds), len(num_samples))
    errors = np.full(shape, np.nan)
    finite = np.zeros(shape, bool)
    costs = [b.cost(len(seeds) * len(rates)) for b in blocks]
    bar = _progress(sum(c["flops"] for c in costs) / 1e9, progress)
    for block, cost in zip(blocks, costs):
        path = None
        if folder is not None:
            path = folder / f"block-{_block_id(block, identity)}.npz"
        if path is not None and path.exists():
            err, fin = _load_block(path, (len(seeds), len(rates), len(num_samples)))
        else:
            err, fin = _run_block(key, block, step_size, zipf_exponent, seeds,
                                  memory_budget, devices=devices)
            if path is not None:
                _atomic.save_npz(path, error=err, finite=fin)  # whole or absent
        # (seed, γ, T) -> (γ, seed, T)
        errors[block.index] = np.swapaxes(err, 0, 1)
        finite[block.index] = np.swapaxes(fin, 0, 1)
        bar.update(cost["flops"] / 1e9)
    bar.close()
    result = SweepResult(
        error=errors, dims=SWEEP_DIMS,
        coords={"model": [m.kind for m in model_list],
                "optimizer": [o.name for o in optimizer_list],
                "layer_norm": np.asarray(layer_norms, bool),
                "dim": np.asarray(dims, np.int64),
                "batch_size": np.asarray(batch_sizes, np.int64),
                "learning_rate": rates, "seed": np.asarray(seeds, np.int64),
                "num_samples": np.asarray(num_samples, np.int64)},
        config={"num_inputs": num_inputs, "num_outputs": num_outputs,
                "zipf_exponent": float(zipf_exponent), "init": init, "targets": targets,
                "route": route, "decay_factor": float(decay_factor),
                "decay_step": float(decay_step),
                "schedules": [o.schedule for o in optimizer_list],
                "non_finite_runs": int((~finite).sum()),
                "models": [repr(m) for m in model_list],
                "optimizers": [repr(o) for o in optimizer_list],
                "key": identity["key"], "num_devices": len(devices)})
    if out is not None:
        result.save(out)
    return result


def load(path):
    """Reads a result saved by `train_sweep` (string and bool coordinates restored)."""
    path = pathlib.Path(path).with_suffix(".npz")
    meta = json.loads(path.with_suffix(".json").read_text())
    with np.load(path) as arrays:
        dims = tuple(meta["dims"])
        coords = {d: arrays[f"coord_{d}"] for d in dims}
        for d in dims:
            if coords[d].dtype.kind == "U":
                coords[d] = [str(v) for v in coords[d]]
        return SweepResult(error=arrays["error"], coords=coords, config=meta["config"],
                           dims=dims)


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
# chosen so that each of the three costs dominates one of them.
CALIBRATION = (("matrix", "adam", 10, 16, 400), ("matrix", "adam", 1000, 16, 16),
               ("matrix", "adam", 1000, 1024, 4), ("learnable", "sgd", 500, 64, 16),
               ("matrix", "sgd", 1000, 16, 400), ("exponential", "adam", 200, 16, 200))


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


def projected_seconds(blocks, num_runs: int, rates: dict) -> float:
    """Projected wall time of `blocks` with `num_runs` runs each, from `calibrate`."""
    total = 0.0
    for block in blocks:
        steps, flops, entries = _time_features(block.config, num_runs,
                                               block.config.num_steps)
        total += (rates["compile_s"] + steps * rates["step_overhead_s"]
                  + flops / rates["flops_per_s"] + entries / rates["entries_per_s"])
    return total
