"""The `memjax` command line: flags mirror the API, files are written, bad input exits 2."""

import json
import math
import re

import numpy as np
import pandas as pd
import pytest

import memjax
from memjax import cli


def test_parse_grid_lists_and_log_spacing():
    assert cli.parse_grid("10,20,50", integer=True, name="dims") == [10, 20, 50]
    assert cli.parse_grid("100,1e3,inf", integer=False, name="num-samples") == [
        100, 1000, math.inf]
    log = cli.parse_grid("log:10:1000:20", integer=True, name="dims")
    assert log[0] == 10 and log[-1] == 1000 and log == sorted(set(log)) and len(log) == 20
    with pytest.raises(ValueError, match="--dims takes integers"):
        cli.parse_grid("10,2.5", integer=True, name="dims")
    for bad in ("ten", "log:0:10:3", "log:10:1:3", "log:1:10:1e9", "log:1:10"):
        with pytest.raises(ValueError, match="--dims must be comma-separated numbers"):
            cli.parse_grid(bad, integer=True, name="dims")


def test_sweep_command_writes_result_csv_and_plot(tmp_path, capsys):
    out = tmp_path / "grid.npz"
    code = cli.main(["sweep", "--num-inputs", "50", "--num-outputs", "3",
                     "--zipf-exponent", "1.5", "--dims", "4,8", "--num-samples", "10,inf",
                     "--num-seeds", "3", "--scheme", "population:power=1",
                     "--scheme", "empirical:power=0,top=d/2", "--out", str(out),
                     "--csv", str(tmp_path / "grid.csv"), "--plot", str(tmp_path / "g.png"),
                     "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "empirical(power=0, top=d/2), 10" in printed
    loaded = memjax.load(out)
    assert loaded.error.shape == (2, 3, 2, 2)
    # The command line and the API give the same numbers for the same key.
    direct = memjax.sweep(memjax_key(0), num_inputs=50, num_outputs=3, zipf_exponent=1.5,
                          dims=[4, 8], num_samples=[10, math.inf], num_seeds=3,
                          schemes=["population:power=1", "empirical:power=0,top=d/2"])
    np.testing.assert_array_equal(loaded.error, direct.error)
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["config"]["num_inputs"] == 50 and "jax" in meta["versions"]
    # The CSV quotes the scheme names with commas and reads back as the tidy table.
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "grid.csv"), loaded.to_dataframe(),
                                  check_dtype=False, check_exact=True)
    assert (tmp_path / "g.png").stat().st_size > 10_000


def test_sweep_command_streams_huge_grids_and_refuses_what_cannot_fit(tmp_path, capsys):
    out = tmp_path / "big.npz"
    args = ["sweep", "--num-inputs", "3000", "--num-outputs", "5", "--dims", "8,32",
            "--num-samples", "log:100:1e12:3", "--num-seeds", "2", "--scheme",
            "empirical:power=0", "--counts", "multinomial", "--no-progress", "--out",
            str(out)]
    assert cli.main(args + ["--memory-budget", "2M"]) == 0
    meta = json.loads(out.with_suffix(".json").read_text())["config"]
    assert (meta["route"], meta["counts"]) == ("stream", "multinomial")
    np.testing.assert_array_equal(memjax.load(out).coords["num_samples"],
                                  [100, 10**7, 10**12])
    assert cli.main(args + ["--memory-budget", "100K", "--overwrite"]) == 2
    assert re.search(r"needs about .* memory_budget=\d+ or more", capsys.readouterr().err)
    with pytest.raises(SystemExit):
        cli.main(args + ["--memory-budget", "lots"])


def memjax_key(seed):
    import jax

    return jax.random.key(seed)


def test_default_schemes_are_population_and_threshold(tmp_path):
    out = tmp_path / "d.npz"
    assert cli.main(["sweep", "--num-inputs", "40", "--dims", "4", "--num-seeds", "2",
                     "--out", str(out), "--no-progress"]) == 0
    assert memjax.load(out).coords["scheme"] == ["population(power=1)",
                                                 "threshold(top=d/8)"]


@pytest.mark.parametrize("argv, message", [
    (["--num-inputs", "0"], "num_inputs must be an integer >= 1; got 0"),
    (["--scheme", "foo"], "scheme must be one of uniform"),
    (["--scheme", "threshold:top=-3"], "top must be"),
    (["--zipf-exponent", "-1"], "zipf_exponent must be"),
    (["--num-samples", "-5"], r"num_samples\[0\] must be"),
])
def test_bad_input_exits_with_a_message(tmp_path, capsys, argv, message):
    code = cli.main(["sweep", "--dims", "4", "--num-seeds", "2", "--out",
                     str(tmp_path / "x.npz"), "--no-progress"] + argv)
    assert code == 2
    import re

    assert re.search(message, capsys.readouterr().err)


def test_reproduce_lists_targets(capsys):
    assert cli.main(["reproduce", "--list"]) == 0
    listed = capsys.readouterr().out
    for name in ("thresholded-storage", "schemes-vs-dim", "overflow", "memory-matrices"):
        assert name in listed


def test_reproduce_rejects_unknown_targets(capsys):
    assert cli.main(["reproduce", "--only", "nope"]) == 2
    assert "--only names unknown targets ['nope']" in capsys.readouterr().err


def test_sharded_runs_merge_to_the_one_process_result(tmp_path):
    common = ["sweep", "--num-inputs", "40", "--dims", "4,8", "--num-samples", "5,inf",
              "--num-seeds", "7", "--scheme", "empirical:power=0", "--no-progress"]
    assert cli.main(common + ["--out", str(tmp_path / "all.npz")]) == 0
    for i in range(3):
        assert cli.main(common + ["--shard-index", str(i), "--num-shards", "3", "--out",
                                  str(tmp_path / f"part{i}.npz")]) == 0
    assert list(memjax.load(tmp_path / "part1.npz").coords["seed"]) == [1, 4]
    parts = [str(tmp_path / f"part{i}.npz") for i in (2, 0, 1)]
    assert cli.main(["merge", *parts, "--out", str(tmp_path / "merged.npz")]) == 0
    merged, whole = memjax.load(tmp_path / "merged.npz"), memjax.load(tmp_path / "all.npz")
    np.testing.assert_array_equal(merged.coords["seed"], np.arange(7))
    np.testing.assert_array_equal(merged.error, whole.error)


def test_merge_rejects_overlapping_or_mismatched_parts(tmp_path, capsys):
    base = ["sweep", "--num-inputs", "40", "--dims", "4", "--num-seeds", "2",
            "--no-progress"]
    cli.main(base + ["--out", str(tmp_path / "a.npz")])
    cli.main(base + ["--zipf-exponent", "1.5", "--out", str(tmp_path / "b.npz")])
    assert cli.main(["merge", str(tmp_path / "a.npz"), str(tmp_path / "a.npz"),
                     "--out", str(tmp_path / "m.npz")]) == 2
    assert "the parts share seeds" in capsys.readouterr().err
    assert cli.main(["merge", str(tmp_path / "a.npz"), str(tmp_path / "b.npz"),
                     "--out", str(tmp_path / "m.npz")]) == 2
    assert "different configuration" in capsys.readouterr().err
    assert cli.main(base + ["--shard-index", "2", "--num-shards", "2", "--out",
                            str(tmp_path / "c.npz")]) == 2
    assert "--shard-index must be in [0, 2); got 2" in capsys.readouterr().err
