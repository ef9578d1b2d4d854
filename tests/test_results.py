"""SweepResult: labelled errors, reductions, and open file formats that round-trip."""

import json
import math

import numpy as np
import pandas as pd
import pytest

import memjax
from memjax import results
from memjax.results import SweepResult

SCHEMES = ["threshold(top=d/8)", "empirical(power=0, top=d/12)"]


def make_result(config=None):
    rng_free = np.arange(2 * 3 * 2 * 4, dtype=np.float64).reshape(2, 3, 2, 4) / 100
    return SweepResult(error=rng_free,
                       coords={"scheme": list(SCHEMES), "seed": np.arange(3),
                               "num_samples": np.array([10.0, math.inf]),
                               "dim": np.array([4, 8, 16, 32])},
                       config={"num_inputs": 7} if config is None else config)


def make_train_result():
    """A training-shaped result in which run (γ = 10, seed 1) diverged: NaN, not finite."""
    error = np.linspace(0.1, 0.6, 2 * 3 * 2).reshape(2, 3, 2)  # (dim, learning_rate, seed)
    finite = np.ones(error.shape, bool)
    error[:, 2, 1], finite[:, 2, 1] = np.nan, False
    return SweepResult(error, {"dim": np.array([10, 20]),
                               "learning_rate": np.array([0.1, 1.0, 10.0]),
                               "seed": np.arange(2)},
                       {"num_inputs": 100, "init": "gaussian", "layer_norm": False,
                        "schedules": ["constant"]},
                       dims=("dim", "learning_rate", "seed"), finite=finite)


def test_selections_and_reductions_keep_their_labels_until_values():
    result = make_result()
    mean = result.sel(scheme="threshold").mean("seed")
    assert isinstance(mean, SweepResult) and mean.dims == ("num_samples", "dim")
    assert mean.coords["scheme"] == SCHEMES[0] and mean.config == result.config
    np.testing.assert_array_equal(mean.values, result.error[0].mean(axis=0))
    np.testing.assert_array_equal(np.asarray(result.std("dim")), result.error.std(axis=3))
    best = result.min("num_samples")
    assert best.dims == ("scheme", "seed", "dim")
    np.testing.assert_array_equal(best.values, result.error.min(axis=2))
    np.testing.assert_array_equal(result.max(("seed", "dim")).values,
                                  result.error.max(axis=(1, 3)))
    assert float(result.max()) == result.error.max() and result.min().ndim == 0
    # NumPy-style calls still work: `axis=`, indexing, arithmetic and NumPy functions
    # see the bare values.
    np.testing.assert_array_equal(result.mean(axis=0).values, result.error.mean(axis=0))
    np.testing.assert_array_equal(mean[:, -1], result.error[0].mean(axis=0)[:, -1])
    assert isinstance(mean + 1, np.ndarray) and isinstance(np.nanmean(mean, 0), np.ndarray)
    point = result.sel(scheme=SCHEMES[1], seed=2, num_samples=math.inf, dim=32)
    assert float(point) == result.error[1, 2, 1, 3] and f"{point:.2f}" == "0.47"


def test_quantile_and_isel():
    result = make_result()
    median = result.quantile(0.5)
    np.testing.assert_array_equal(median.values, np.quantile(result.error, 0.5, axis=1))
    bands = result.quantile([0.25, 0.75], "seed")
    assert bands.dims == ("quantile", "scheme", "num_samples", "dim")
    np.testing.assert_array_equal(bands.coords["quantile"], [0.25, 0.75])
    np.testing.assert_array_equal(bands.values, np.quantile(result.error, [0.25, 0.75],
                                                            axis=1))
    with pytest.raises(ValueError, match=r"q must be .* in \[0, 1\]; got 1.5"):
        result.quantile(1.5)
    part = result.isel(dim=slice(1, 3), seed=-1)
    assert part.dims == ("scheme", "num_samples", "dim") and part.coords["seed"] == 2
    np.testing.assert_array_equal(part.coords["dim"], [8, 16])
    np.testing.assert_array_equal(part.values, result.error[:, -1, :, 1:3])
    with pytest.raises(ValueError, match=r"dim index must be an integer in \[-4, 4\); "
                       "got 4"):
        result.isel(dim=4)


def test_sel_short_names_lists_and_nearest():
    result = make_result()
    assert result.sel(scheme="empirical").coords["scheme"] == SCHEMES[1]
    both = result.sel(dim=[32, 4])
    np.testing.assert_array_equal(both.coords["dim"], [32, 4])
    np.testing.assert_array_equal(both.values, result.error[..., [3, 0]])
    near = result.sel(dim=[5, 30, 1000], method="nearest")
    np.testing.assert_array_equal(near.coords["dim"], [4, 32, 32])
    # Distances are linear, as in xarray: every finite T is infinitely far from inf.
    assert result.sel(num_samples=1e9, method="nearest").coords["num_samples"] == 10.0
    assert result.sel(num_samples=math.inf).coords["num_samples"] == math.inf
    assert result.sel(dim=np.int64(8)).coords["dim"] == 8
    twins = SweepResult(np.zeros((2, 1)), {"scheme": ["threshold(top=d/8)",
                                                      "threshold(top=d/12)"],
                                           "seed": [0]}, {}, dims=("scheme", "seed"))
    with pytest.raises(ValueError, match=r"scheme='threshold' is ambiguous: it matches "
                       r"\['threshold\(top=d/8\)', 'threshold\(top=d/12\)'\]"):
        twins.sel(scheme="threshold")


def test_error_messages_list_plain_numbers_also_after_load(tmp_path):
    loaded = memjax.load(make_result().save(tmp_path / "r"))
    with pytest.raises(ValueError) as info:
        loaded.sel(dim=5)
    assert str(info.value) == ("dim=5 is not in the grid (method='nearest' picks the "
                               "closest); values are [4, 8, 16, 32].")
    with pytest.raises(ValueError, match=r"values are \[0, 1, 2\]"):
        loaded.sel(seed=np.int64(10))
    with pytest.raises(ValueError, match="cannot select on 'colour'"):
        loaded.sel(colour=1)
    with pytest.raises(ValueError, match="dim must be one of"):
        loaded.mean("seeds")
    with pytest.raises(ValueError, match="method must be None or 'nearest'"):
        loaded.sel(dim=4, method="pad")


def test_diverged_runs_propagate_as_nan_unless_skipped_and_are_counted():
    result = make_train_result()
    assert result.kind == "train" and "kind='train'" in repr(result)
    mean = result.mean("seed")
    assert np.isnan(mean.values[:, 2]).all() and not mean.finite[:, 2].any()
    assert mean.finite[:, :2].all() and mean.skipped == 0
    skipped = result.mean("seed", skipna=True)
    np.testing.assert_array_equal(skipped.values[:, 2], result.error[:, 2, 0])
    assert skipped.skipped == 2 and "2 non-finite values left out" in repr(skipped)
    # The best step size per seed skips the diverged one only when asked to.
    assert np.isnan(result.min("learning_rate").values[:, 1]).all()
    np.testing.assert_array_equal(result.min("learning_rate", skipna=True).values,
                                  np.nanmin(result.error, axis=1))
    assert np.isnan(result.std("seed").values[:, 2]).all()
    assert np.isnan(result.quantile(0.5).values[:, 2]).all()
    assert result.quantile(0.5, skipna=True).skipped == 2
    # The mask is authoritative even where a diverged run holds a number.
    shown = SweepResult(np.nan_to_num(result.error, nan=0.348), result.coords,
                        result.config, result.dims, result.finite)
    assert np.isnan(shown.mean("seed").values[:, 2]).all()
    assert "non-finite    2 of 12" in repr(result)
    sel = result.sel(learning_rate=10.0)
    np.testing.assert_array_equal(sel.finite, result.finite[:, 2])
    with pytest.raises(ValueError, match=r"finite must be a bool array of shape \(2, 3, 2\)"):
        SweepResult(result.error, result.coords, {}, result.dims, np.ones((2, 3)))


def test_repr_is_short_and_says_kind_dims_ranges_config_and_the_seed_mean():
    text = repr(make_result({"num_inputs": 7, "zipf_exponent": 2.0}))
    assert text.splitlines()[0] == ("<memjax.SweepResult kind='sweep'> error (scheme: 2, "
                                    "seed: 3, num_samples: 2, dim: 4) float64")
    assert "config        num_inputs=7, zipf_exponent=2.0" in text
    assert "seed mean (scheme, num_samples × dim):" in text
    assert "threshold(top=d/8), inf" in text and "0.12" in text  # mean of 0.04, .12, .2
    big = SweepResult(np.zeros((1, 500, 1, 60)), {"scheme": ["uniform"],
                                                  "seed": np.arange(500),
                                                  "num_samples": [math.inf],
                                                  "dim": np.arange(1, 61)},
                      {"key": "x" * 5000})
    text = repr(big)
    assert len(text) < 1000 and "seed          0 … 499 (500 values)" in text
    assert "seed mean" not in text  # 60 columns: no table


def test_shape_must_match_coordinates():
    with pytest.raises(ValueError, match="error has shape"):
        SweepResult(error=np.zeros((1, 2, 3, 4)), coords=make_result().coords, config={})


def test_save_and_load_round_trip_with_infinite_sample_size(tmp_path):
    result = make_result()
    path = result.save(tmp_path / "sub" / "r")
    assert path.name == "r.npz" and path.with_suffix(".json").exists()
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["coords"]["num_samples"] == [10.0, "inf"]  # valid JSON, no bare Infinity
    loaded = memjax.load(path)
    np.testing.assert_array_equal(loaded.error, result.error)
    assert loaded.coords["scheme"] == SCHEMES and loaded.kind == "sweep"
    np.testing.assert_array_equal(loaded.coords["num_samples"], [10.0, np.inf])
    assert loaded.config == {"num_inputs": 7} and loaded.dims == result.dims
    train = make_train_result()
    back = memjax.load(train.sel(dim=20).save(tmp_path / "t"))
    np.testing.assert_array_equal(back.finite, train.finite[1])
    np.testing.assert_array_equal(back.error, train.error[1])
    assert back.kind == "train" and back.coords["dim"] == 20 and back.dims == (
        "learning_rate", "seed")


def test_names_are_kept_as_given_and_other_configurations_are_not_overwritten(tmp_path):
    assert results.output_path("results/alpha1.5", ".npz").name == "alpha1.5.npz"
    assert results.output_path("x.npz", ".npz").name == "x.npz"
    assert results.output_path("x.NPZ", ".npz").name == "x.NPZ"
    first = make_result({"zipf_exponent": 1.5}).save(tmp_path / "alpha1.5")
    second = make_result({"zipf_exponent": 1.2}).save(tmp_path / "alpha1.2")
    assert (first.name, second.name) == ("alpha1.5.npz", "alpha1.2.npz")
    assert memjax.load(tmp_path / "alpha1.5").config == {"zipf_exponent": 1.5}
    # The same configuration is replaced freely (a rerun); another one only when told.
    make_result({"zipf_exponent": 1.5}).save(first)
    with pytest.raises(ValueError, match=r"alpha1.5.npz holds a result of another "
                       r"configuration \(config zipf_exponent: 1.5 there, 1.2 here\); "
                       "pass overwrite=True"):
        make_result({"zipf_exponent": 1.2}).save(first)
    make_result({"zipf_exponent": 1.2}).save(first, overwrite=True)
    assert memjax.load(first).config == {"zipf_exponent": 1.2}
    (tmp_path / "foreign.npz").write_bytes(b"not mine")
    with pytest.raises(ValueError, match="foreign.npz exists and is not a readable memjax"):
        make_result().save(tmp_path / "foreign.npz")
    with pytest.raises(ValueError, match="names no file"):
        results.output_path("", ".npz")


def test_damaged_or_missing_files_are_reported_by_name(tmp_path):
    path = make_result().save(tmp_path / "r")
    with pytest.raises(FileNotFoundError, match="no memjax result at .*nope.npz"):
        memjax.load(tmp_path / "nope")
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"r.npz is not a readable memjax result"):
        memjax.load(path)
    path.with_suffix(".json").write_text("{")
    with pytest.raises(ValueError, match=r"r.json is not a memjax result sidecar"):
        memjax.load(path)


def test_save_is_atomic_an_interrupted_save_keeps_the_old_file(tmp_path, monkeypatch):
    result = make_result()
    path = result.save(tmp_path / "r.npz")
    newer = SweepResult(error=result.error + 1, coords=result.coords, config={})

    def interrupted(file, **arrays):
        file.write(b"half an npz")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        newer.save(path, overwrite=True)
    loaded = memjax.load(path)
    np.testing.assert_array_equal(loaded.error, result.error)
    assert loaded.config == {"num_inputs": 7}  # the sidecar was not replaced either
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "r.npz"]  # no temp


def test_tidy_table_and_csv_read_back_equal(tmp_path):
    result = make_result()
    frame = result.to_dataframe()
    assert list(frame.columns) == ["scheme", "seed", "num_samples", "dim", "error"]
    assert len(frame) == result.error.size
    row = frame[(frame.scheme == SCHEMES[1]) & (frame.seed == 2) & (frame.dim == 16)
                & np.isinf(frame.num_samples)]
    assert float(row.error.iloc[0]) == result.error[1, 2, 1, 2]
    path = result.to_csv(tmp_path / "r")
    assert path.name == "r.csv"
    # A scheme name with a comma is quoted, so every column stays in place.
    assert path.read_text().splitlines()[-1] == (
        f'"{SCHEMES[1]}",2,inf,32,{float(result.error[1, 2, 1, 3])!r}')
    pd.testing.assert_frame_equal(pd.read_csv(path), frame, check_exact=True)
    # Float32 errors, NaN, the finite mask and scalar coordinates read back too.
    train = make_train_result().sel(dim=10)
    train = SweepResult(train.error.astype(np.float32), train.coords, train.config,
                        train.dims, train.finite)
    table = train.to_dataframe()
    assert list(table.columns) == ["learning_rate", "seed", "dim", "error", "finite"]
    pd.testing.assert_frame_equal(pd.read_csv(train.to_csv(tmp_path / "t.csv")), table,
                                  check_dtype=False, check_exact=True)


def test_to_xarray_is_exact_with_typed_attrs_and_the_finite_mask():
    import xarray as xr
    result = make_result({"num_inputs": 7, "nested": True, "input_embedding": "gaussian",
                          "schedules": ["constant"]})
    data = result.to_xarray()
    assert isinstance(data, xr.Dataset) and list(data.data_vars) == ["error"]
    assert data.attrs == {"num_inputs": 7, "nested": True, "input_embedding": "gaussian",
                          "schedules": ["constant"], "kind": "sweep", "skipped": 0}
    np.testing.assert_array_equal(data["error"].values, result.error)
    assert list(data["scheme"].values) == SCHEMES
    np.testing.assert_array_equal(data.sel(scheme=SCHEMES[0]).mean("seed")["error"],
                                  result.sel(scheme="threshold").mean("seed").values)
    train = make_train_result().sel(dim=20).to_xarray()
    np.testing.assert_array_equal(train["finite"].values, make_train_result().finite[1])
    assert float(train["dim"]) == 20 and train.attrs["layer_norm"] is False


def test_missing_optional_dependencies_name_the_extra(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_xarray(name, *args, **kwargs):
        if name in ("xarray", "pandas"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_xarray)
    with pytest.raises(ImportError, match=r"to_xarray needs xarray.*memjax\[analysis\]"):
        make_result().to_xarray()
    with pytest.raises(ImportError, match=r"to_dataframe needs pandas.*memjax\[analysis\]"):
        make_result().to_dataframe()


def test_merge_keeps_the_finite_mask_and_refuses_mismatches(tmp_path):
    train = make_train_result()
    parts = [train.isel(seed=[1]), train.isel(seed=[0])]
    merged = memjax.merge([parts[0], parts[1].save(tmp_path / "p0")])
    np.testing.assert_array_equal(merged.finite, train.finite)
    np.testing.assert_array_equal(merged.error, train.error)
    other = SweepResult(parts[0].error, {**parts[0].coords, "dim": np.array([10, 30])},
                        train.config, train.dims, parts[0].finite)
    with pytest.raises(ValueError, match=r"different dim coordinates from part 0: "
                       r"\[10, 30\] vs \[10, 20\]"):
        memjax.merge([parts[1], other])
