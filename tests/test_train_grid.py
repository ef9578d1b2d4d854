"""Tests of memjax.train_grid: grid layout, independence of a run from the grid, resuming."""

from __future__ import annotations

import json
import os
import shutil
import socket

import jax
import numpy as np
import optax
import pytest

from memjax import _checkpoint, _processes, train_grid

KEY = jax.random.key(0)
GRID = dict(num_inputs=20, num_outputs=5, zipf_exponent=2.0, dims=(8,), batch_sizes=(4, 8),
            num_samples=(8, 16), learning_rates=(0.5, 5.0), layer_norms=(False, True),
            optimizers=("adam",))


def test_sweep_dims_and_coordinates(tmp_path):
    result = train_grid.train_sweep(KEY, num_seeds=2, out=tmp_path / "grid", **GRID)
    assert result.dims == train_grid.SWEEP_DIMS
    assert result.error.shape == (1, 1, 2, 1, 2, 2, 2, 2)
    assert np.all((result.error >= 0) & (result.error <= 1))
    loaded = train_grid.load(tmp_path / "grid")
    np.testing.assert_array_equal(loaded.error, result.error)
    assert loaded.coords["model"] == ["matrix"] and loaded.coords["optimizer"] == ["adam"]
    np.testing.assert_array_equal(loaded.coords["layer_norm"], [False, True])
    assert loaded.sel(model="matrix", optimizer="adam", layer_norm=True, dim=8,
                      batch_size=4, learning_rate=5.0).shape == (2, 2)


def test_a_run_does_not_depend_on_the_grid_around_it():
    grid = dict(GRID, layer_norms=(True,), batch_sizes=(8,))
    full = train_grid.train_sweep(KEY, seeds=(0, 1, 2), **grid)
    part = train_grid.train_sweep(KEY, seeds=(2,), **dict(grid, learning_rates=(5.0,)))
    np.testing.assert_array_equal(part.error[..., 0, 0, 0, :], full.error[..., 0, 1, 2, :])


def test_interrupted_grid_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch):
    calls = []
    original = train_grid._run_block

    def failing(*args, **kwargs):
        if len(calls) == 2:
            raise KeyboardInterrupt  # the user stops the grid after two blocks
        calls.append(args[1].index)
        return original(*args, **kwargs)

    monkeypatch.setattr(train_grid, "_run_block", failing)
    with pytest.raises(KeyboardInterrupt):
        train_grid.train_sweep(KEY, num_seeds=2, out=tmp_path / "a", **GRID)
    assert len(list((tmp_path / "a.blocks").glob("block-*.npz"))) == 2
    assert not list((tmp_path / "a.blocks").glob("*.tmp*"))  # nothing half-written

    calls.clear()
    monkeypatch.setattr(train_grid, "_run_block", lambda *a, **k: (calls.append(a[1].index),
                                                                   original(*a, **k))[1])
    resumed = train_grid.train_sweep(KEY, num_seeds=2, out=tmp_path / "a", **GRID)
    assert len(calls) == 2  # only the two unfinished blocks ran
    fresh = train_grid.train_sweep(KEY, num_seeds=2, out=tmp_path / "b", **GRID)
    np.testing.assert_array_equal(resumed.error, fresh.error)
    a, b = train_grid.load(tmp_path / "a"), train_grid.load(tmp_path / "b")
    np.testing.assert_array_equal(a.error, b.error)
    assert a.coords.keys() == b.coords.keys() and a.config == b.config


def test_a_damaged_block_file_is_reported_not_loaded(tmp_path):
    train_grid.train_sweep(KEY, num_seeds=2, out=tmp_path / "a", **GRID)
    block = sorted((tmp_path / "a.blocks").glob("block-*.npz"))[0]
    block.write_bytes(block.read_bytes()[:100])  # a truncated write
    with pytest.raises(ValueError, match=r"cannot be read.*Delete .*block-.*to recompute that block"):
        train_grid.train_sweep(KEY, num_seeds=2, out=tmp_path / "a", **GRID)


@pytest.mark.parametrize("change, name", [
    (dict(num_samples=(6, 16)), "num_samples"), (dict(models=("matrix", "matrix")), "models"),
    (dict(layer_norms=("yes",)), "layer_norms"), (dict(learning_rates=(-1.0,)),
                                                   "learning_rate"),
    (dict(dims=()), "dims"), (dict(init="ones"), "init"), (dict(devices=[]), "devices"),
])
def test_bad_grids_name_the_argument(change, name):
    with pytest.raises(ValueError, match=name):
        train_grid.train_sweep(KEY, **dict(GRID, **change))


# --- Stored blocks that can be trusted (issue 10) ----------------------------------------

def _rewrite_block(path, **changes):
    """Rewrites a block file with some arrays or identity fields changed; the checksum is
    recomputed unless `sha256` is among the changes (a file as another run writes it)."""
    with np.load(path) as saved:
        arrays = dict(saved)
    meta = json.loads(str(arrays["identity"]))
    arrays.update({k: v for k, v in changes.items() if k in ("error", "finite")})
    meta.update({k: v for k, v in changes.items() if k not in ("error", "finite")})
    if "sha256" not in changes:
        meta["sha256"] = _checkpoint.checksum(arrays["error"], arrays["finite"])
    arrays["identity"] = np.asarray(json.dumps(meta))
    np.savez(path, **arrays)


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A finished grid on disk (with its block files) and its result."""
    out = tmp_path_factory.mktemp("stored") / "a"
    return out, train_grid.train_sweep(KEY, num_seeds=2, out=out, **GRID)


def test_output_names_keep_their_dots(tmp_path, stored):
    grid = dict(GRID, layer_norms=(True,), batch_sizes=(8,))
    first = train_grid.train_sweep(KEY, num_seeds=1, out=tmp_path / "alpha1.5", **grid)
    second = train_grid.train_sweep(KEY, num_seeds=1, out=tmp_path / "alpha1.2",
                                    **dict(grid, zipf_exponent=1.2))
    assert {p.name for p in tmp_path.iterdir()} == {
        f"alpha1.{i}.{ext}" for i in (2, 5) for ext in ("npz", "json", "blocks")}
    np.testing.assert_array_equal(train_grid.load(tmp_path / "alpha1.5").error, first.error)
    np.testing.assert_array_equal(train_grid.load(tmp_path / "alpha1.2.npz").error,
                                  second.error)


def test_a_rerun_with_the_sample_sizes_in_another_order_keeps_their_labels(stored):
    out, result = stored
    for path in (out.with_name("a.npz"), out.with_name("a.json")):
        path.unlink()  # (a result stored there has the other T order: keep its blocks only)
    swapped = train_grid.train_sweep(KEY, num_seeds=2, out=out,
                                     **dict(GRID, num_samples=(16, 8)))  # from the blocks
    np.testing.assert_array_equal(swapped.error, result.error[..., ::-1])
    np.testing.assert_array_equal(swapped.coords["num_samples"], [16, 8])


def test_a_block_of_another_configuration_or_precision_is_refused(tmp_path, stored):
    out, _ = stored
    folder = tmp_path / "a.blocks"
    shutil.copytree(out.with_name("a.blocks"), folder)
    blocks = sorted(folder.glob("block-*.npz"))
    foreign = blocks[1].read_bytes()
    blocks[0].write_bytes(foreign)  # another block's file under this block's name
    with pytest.raises(ValueError, match=f"training block {blocks[0]} was written by a "
                       "different run: config: .*Delete .* to recompute that block"):
        train_grid.train_sweep(KEY, num_seeds=2, out=tmp_path / "a", **GRID)
    shutil.copy(blocks[1], blocks[0])
    _rewrite_block(blocks[0], **json.loads(str(np.load(blocks[2])["identity"])))
    with pytest.raises(ValueError, match="different run"):
        train_grid.train_sweep(KEY, num_seeds=2, out=tmp_path / "a", **GRID)

    # The same block computed in the other precision (JAX_ENABLE_X64 on or off).
    shutil.copytree(out.with_name("a.blocks"), folder, dirs_exist_ok=True)
    with np.load(blocks[0]) as saved:
        err = saved["error"]
    other = np.float64 if err.dtype == np.float32 else np.float32
    _rewrite_block(blocks[0], error=err.astype(other), dtype=np.dtype(other).name)
    with pytest.raises(ValueError, match=f"dtype: expected \"{err.dtype.name}\" \\(this "
                                         f"sweep\\), found \"{np.dtype(other).name}\""):
        train_grid.train_sweep(KEY, num_seeds=2, out=tmp_path / "a", **GRID)


@pytest.mark.parametrize("change, message", [
    (lambda e, f: dict(error=np.full_like(e, 7.0)), "errors outside \\[0, 1\\]"),
    (lambda e, f: dict(error=e * np.nan), "errors outside \\[0, 1\\] \\(NaN is allowed "
                                          "only where the run diverged\\)"),
    (lambda e, f: dict(error=e[..., :1], finite=f[..., :1]), "arrays of shape"),
    (lambda e, f: dict(finite=f.astype(np.int8)), "dtypes"),
    (lambda e, f: dict(error=e * 0.5, sha256="0"), "arrays that do not match its checksum"),
])
def test_a_block_with_impossible_or_tampered_values_is_refused(tmp_path, stored, change,
                                                               message):
    out, _ = stored
    folder = tmp_path / "a.blocks"
    shutil.copytree(out.with_name("a.blocks"), folder)
    path = sorted(folder.glob("block-*.npz"))[0]
    with np.load(path) as saved:
        changes = change(saved["error"], saved["finite"])
    if "sha256" in changes:  # in range, but not what was written
        with np.load(path) as saved:
            changes["sha256"] = json.loads(str(saved["identity"]))["sha256"]
    _rewrite_block(path, **changes)
    with pytest.raises(ValueError, match=f"training block {path} is invalid: it holds "
                                         f"{message}.*Delete {path}"):
        train_grid.train_sweep(KEY, num_seeds=2, out=tmp_path / "a", **GRID)


def test_diverged_runs_are_nan_with_a_finite_mask_and_one_warning():
    # SGD with γ = 1e30 on learned embeddings: each step multiplies the parameters' size,
    # so they overflow within the 16 steps (in float64 too); γ = 0.5 stays finite.
    grid = dict(GRID, models=("learnable",), optimizers=("sgd",), layer_norms=(False,),
                batch_sizes=(1,), num_samples=(4, 16), learning_rates=(0.5, 1e30))
    with pytest.warns(RuntimeWarning) as caught:
        result = train_grid.train_sweep(KEY, num_seeds=2, **grid)
    finite = result.finite
    assert finite.shape == result.error.shape and finite.dtype == bool
    assert finite[..., 0, :, :].all() and not finite[..., 1, :, -1].any()
    np.testing.assert_array_equal(np.isnan(result.error), ~finite)
    assert np.all((result.error[finite] >= 0) & (result.error[finite] <= 1))
    diverged = int((~finite.all(axis=-1)).sum())
    assert len(caught) == 1 and str(caught[0].message).startswith(
        f"{diverged} of 4 training runs diverged ")
    assert result.config["non_finite_runs"] == int((~finite).sum())
    assert np.isnan(result.mean("seed")[..., 1, -1]).all()  # not averaged in


def test_an_output_in_use_by_a_live_process_is_refused(tmp_path):
    folder = tmp_path / "a.blocks"
    folder.mkdir()
    lock = folder / _checkpoint.LOCK
    lock.write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname(),
                                "token": "t", "since": "earlier"}))
    with pytest.raises(ValueError, match=f"the lock {lock} is held by pid {os.getppid()}"):
        train_grid.train_sweep(KEY, num_seeds=1, out=tmp_path / "a", **GRID)
    assert not list(folder.glob("block-*")) and not (tmp_path / "a.npz").exists()


def test_calibration_blocks_run_and_give_a_usable_time_model():
    # `optimizer-grid` calibrates before it starts; every CALIBRATION block must be a
    # valid configuration (a bad one would fail only at the start of the hour-long run).
    # quick: the same blocks at d ≤ 200, 4× fewer steps (~6 s). No timing is asserted:
    # the rates must be finite and positive and the projection grow with the work.
    rates = train_grid.calibrate(KEY, num_seeds=2, learning_rates=(0.1, 1.0), quick=True)
    assert set(rates) == {"step_overhead_s", "flops_per_s", "entries_per_s", "compile_s"}
    assert all(np.isfinite(v) and v >= 0 for v in rates.values())
    assert rates["flops_per_s"] > 0 and rates["entries_per_s"] > 0
    blocks = train_grid.sweep_blocks(
        num_inputs=100, num_outputs=5, dims=(10, 1000), batch_sizes=(16,),
        num_samples=(1024,), models_=(train_grid.Model("learnable"),),
        optimizers_=(train_grid.Optimizer("sgd"),), layer_norms=(False,))
    small, large = (train_grid.projected_seconds([b], 40, rates) for b in blocks)
    assert 0 < small < large


# --- Blocks in worker processes (issue 12) -------------------------------------------------

def test_workers_give_the_same_bits_write_every_block_and_resume(tmp_path):
    # Two worker processes, each pinned to its own CPUs, compute the blocks; the parent
    # writes them. The result must be one process's, bit for bit, and a rerun after two
    # block files were lost must recompute those two only (the others keep their files).
    serial = train_grid.train_sweep(KEY, num_seeds=2, **GRID)
    parallel = train_grid.train_sweep(KEY, num_seeds=2, out=tmp_path / "a", workers=2,
                                      **GRID)
    np.testing.assert_array_equal(parallel.error, serial.error)
    np.testing.assert_array_equal(parallel.finite, serial.finite)
    files = sorted((tmp_path / "a.blocks").glob("block-*.npz"))
    assert len(files) == 4  # (layer norm) × (B): one file per block
    for lost in files[:2]:
        lost.unlink()
    kept = {f: f.stat().st_mtime_ns for f in files[2:]}
    resumed = train_grid.train_sweep(KEY, num_seeds=2, out=tmp_path / "a", workers=2,
                                     **GRID)
    np.testing.assert_array_equal(resumed.error, serial.error)
    assert all(f.exists() for f in files)
    assert {f: f.stat().st_mtime_ns for f in kept} == kept  # read back, not recomputed
    np.testing.assert_array_equal(train_grid.load(tmp_path / "a").error, serial.error)


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs two CPUs to compare one CPU with several")
def test_a_learnable_run_has_the_same_bits_on_one_cpu_as_on_several():
    # A worker is pinned to its share of the CPUs, so XLA gives it fewer threads. At
    # d = 1000 the learnable model's ∂e_x, as autodiff wrote it, was a dot that XLA's CPU
    # backend hands to Eigen, which splits its 1000-long sums over its threads: a process
    # on one CPU got other bits than one on two (models._rows_times_transpose). The
    # trained parameters themselves are compared, not just the errors.
    import concurrent.futures as cf
    import multiprocessing

    from memjax import train

    config = train.TrainConfig(100, 5, 1000, 16, (8,), model="learnable", optimizer="sgd",
                               record=True)
    kwargs = dict(zipf_exponent=2.0, num_seeds=1)
    here = train.train_runs(KEY, config, (10.0,), **kwargs)
    one_cpu = {min(os.sched_getaffinity(0))}
    with cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                initializer=_processes.init,
                                initargs=(one_cpu, bool(jax.config.jax_enable_x64),
                                          None)) as pool:
        there = pool.submit(train.train_runs, KEY, config, (10.0,), **kwargs).result()
    for name in ("W", "E", "U"):
        np.testing.assert_array_equal(np.asarray(there.params[name]),
                                      np.asarray(here.params[name]), err_msg=name)


@pytest.mark.parametrize("change, message", [
    (dict(workers=0), "workers"),
    (dict(workers=2, devices=jax.local_devices()), "workers.*each worker process"),
    (dict(workers=2, optimizers=(train_grid.Optimizer(kind=optax.sgd(0.1)),)),
     "workers.*cannot be sent"),
])
def test_bad_workers_name_the_argument(change, message):
    with pytest.raises(ValueError, match=message):
        train_grid.train_sweep(KEY, **dict(GRID, **change))


def test_the_projection_deals_blocks_to_the_workers():
    # With w workers the projection is the largest load after dealing the blocks largest
    # first (running time × WORKER_SLOWDOWN): at least the longest block and the total
    # over w, at most the one-process total × the slowdown.
    rates = {"step_overhead_s": 1e-4, "flops_per_s": 1e11, "entries_per_s": 1e9,
             "compile_s": 1.0}
    blocks = train_grid.sweep_blocks(
        num_inputs=100, num_outputs=5, dims=(10, 100, 1000), batch_sizes=(16, 64),
        num_samples=(1024,), models_=(train_grid.Model("learnable"),),
        optimizers_=(train_grid.Optimizer("sgd"),), layer_norms=(False,))
    each = [train_grid.projected_seconds([b], 40, rates) for b in blocks]
    one = train_grid.projected_seconds(blocks, 40, rates)
    two = train_grid.projected_seconds(blocks, 40, rates, workers=2)
    assert one == pytest.approx(sum(each))
    assert max(each) <= two <= one * train_grid.WORKER_SLOWDOWN
    assert two >= one / 2


def test_a_worker_keeps_what_it_printed_when_it_exits_early(capfd):
    # Workers skip JAX's teardown at exit (os._exit in memjax._processes); what they
    # printed but had not flushed (a child's stdout is block-buffered) must still come
    # out, and the task's result still come back. multiprocessing flushes the streams
    # before exit handlers run, and `_exit_now` flushes again: this fails if the early
    # exit ever came before both. `print` itself is the task: picklable, no flush.
    results = []
    _processes.run(print, [(0, ("printed by a worker, unflushed",))],
                   lambda i, result: results.append((i, result)), 1, pin=False)
    assert results == [(0, None)]
    assert "printed by a worker, unflushed" in capfd.readouterr().out
