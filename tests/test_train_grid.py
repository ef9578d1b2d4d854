"""Tests of memjax.train_grid: grid layout, independence of a run from the grid, resuming."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from memjax import train_grid

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
    with pytest.raises(ValueError, match=r"cannot be read.*delete it"):
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
