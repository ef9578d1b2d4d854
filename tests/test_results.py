"""SweepResult: labelled errors, reductions, and open file formats that round-trip."""

import json
import math

import numpy as np
import pytest

import memjax
from memjax.results import SweepResult


def make_result():
    rng_free = np.arange(2 * 3 * 2 * 4, dtype=np.float64).reshape(2, 3, 2, 4) / 100
    return SweepResult(error=rng_free,
                       coords={"scheme": ["a", "b"], "seed": np.arange(3),
                               "num_samples": np.array([10.0, math.inf]),
                               "dim": np.array([4, 8, 16, 32])},
                       config={"num_inputs": 7})


def test_reductions_and_selection():
    result = make_result()
    np.testing.assert_allclose(result.mean(), result.error.mean(axis=1))
    np.testing.assert_allclose(result.std("dim"), result.error.std(axis=3))
    np.testing.assert_array_equal(result.sel(scheme="b", num_samples=math.inf),
                                  result.error[1, :, 1])
    with pytest.raises(ValueError, match="dim=5 is not in the grid"):
        result.sel(dim=5)
    with pytest.raises(ValueError, match="cannot select on 'colour'"):
        result.sel(colour=1)
    with pytest.raises(ValueError, match="dim must be one of"):
        result.mean("seeds")


def test_shape_must_match_coordinates():
    with pytest.raises(ValueError, match="error has shape"):
        SweepResult(error=np.zeros((1, 2, 3, 4)), coords=make_result().coords, config={})


def test_save_and_load_round_trip_with_infinite_sample_size(tmp_path):
    result = make_result()
    path = result.save(tmp_path / "sub" / "r")
    assert path.suffix == ".npz" and path.with_suffix(".json").exists()
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["coords"]["num_samples"] == [10.0, "inf"]  # valid JSON, no bare Infinity
    loaded = memjax.load(path)
    np.testing.assert_array_equal(loaded.error, result.error)
    assert loaded.coords["scheme"] == ["a", "b"]
    np.testing.assert_array_equal(loaded.coords["num_samples"], [10.0, np.inf])
    assert loaded.config == {"num_inputs": 7} and loaded.dims == result.dims


def test_save_is_atomic_an_interrupted_save_keeps_the_old_file(tmp_path, monkeypatch):
    result = make_result()
    path = result.save(tmp_path / "r.npz")
    newer = SweepResult(error=result.error + 1, coords=result.coords, config={})

    def interrupted(file, **arrays):
        file.write(b"half an npz")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        newer.save(path)
    loaded = memjax.load(path)
    np.testing.assert_array_equal(loaded.error, result.error)
    assert loaded.config == {"num_inputs": 7}  # the sidecar was not replaced either
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "r.npz"]  # no temp


def test_tidy_table_and_csv_agree(tmp_path):
    result = make_result()
    frame = result.to_dataframe()
    assert list(frame.columns) == ["scheme", "seed", "num_samples", "dim", "error"]
    assert len(frame) == result.error.size
    row = frame[(frame.scheme == "b") & (frame.seed == 2) & (frame.dim == 16)
                & np.isinf(frame.num_samples)]
    assert float(row.error.iloc[0]) == result.error[1, 2, 1, 2]
    lines = result.to_csv(tmp_path / "r.csv").read_text().splitlines()
    assert lines[0] == "scheme,seed,num_samples,dim,error" and len(lines) == 1 + 48
    assert lines[-1] == f"b,2,inf,32,{float(result.error[1, 2, 1, 3])!r}"
