"""`memjax sweep`/`merge` outputs: names kept as given, no silent overwrite of another
configuration, a finished rerun is not recomputed, and every output path, full disk or
unreadable input ends in one line with exit 2, before any compute where it can."""

import errno

import numpy as np
import pandas as pd
import pytest

import memjax
from memjax import cli

# The grid of test_cli.py's default-schemes test: one compiled program serves both files.
TINY = ["sweep", "--num-inputs", "40", "--dims", "4", "--num-seeds", "2", "--no-progress"]


@pytest.fixture
def no_compute(monkeypatch):
    """Makes any sweep computation fail the test: what is checked must happen first."""
    def computed(*args, **kwargs):
        raise AssertionError("the sweep was computed")

    monkeypatch.setattr(memjax, "sweep", computed)


def test_names_are_kept_and_another_configuration_is_not_overwritten(tmp_path, capsys,
                                                                     monkeypatch):
    out = tmp_path / "alpha1.5"
    assert cli.main(TINY + ["--zipf-exponent", "1.5", "--out", str(out), "--csv",
                            str(tmp_path / "alpha1.5")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "alpha1.5.csv", "alpha1.5.json", "alpha1.5.npz"]
    assert cli.plot_path("figs/fig1.5").name == "fig1.5.png"
    assert cli.plot_path("figs/fig.pdf").name == "fig.pdf"
    stored = memjax.load(out)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "alpha1.5.csv"),
                                  stored.to_dataframe(), check_dtype=False, check_exact=True)
    capsys.readouterr()
    calls = []

    def computed(*args, **kwargs):
        calls.append(kwargs["zipf_exponent"])  # stands for a recomputation
        return memjax.SweepResult(stored.error, stored.coords,
                                  {**stored.config, "zipf_exponent": 1.2})

    monkeypatch.setattr(memjax, "sweep", computed)
    # Another configuration on the same --out is refused before computing.
    assert cli.main(TINY + ["--zipf-exponent", "1.2", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "alpha1.5.npz holds the result of another " \
        "configuration (config zipf_exponent: 1.5 there, 1.2 here); pass " \
        "--overwrite" in err
    # The same configuration is returned as stored, CSV still written.
    (tmp_path / "alpha1.5.csv").unlink()
    assert cli.main(TINY + ["--zipf-exponent", "1.5", "--out", str(out), "--csv",
                            str(tmp_path / "alpha1.5.csv")]) == 0
    printed = capsys.readouterr().out
    assert "already holds the finished result of this configuration: not " \
        "recomputing (--overwrite recomputes)" in printed
    assert (tmp_path / "alpha1.5.csv").exists() and calls == []
    # Other seeds are another configuration too.
    assert cli.main(TINY + ["--num-seeds", "3", "--zipf-exponent", "1.5", "--out",
                            str(out)]) == 2
    assert "coords seed: [0, 1] there, [0, 1, 2] here" in capsys.readouterr().err
    assert cli.main(TINY + ["--zipf-exponent", "1.2", "--out", str(out),
                            "--overwrite"]) == 0
    assert calls == [1.2] and memjax.load(out).config["zipf_exponent"] == 1.2
    # A merge does not overwrite another configuration either.
    other = tmp_path / "other.npz"
    assert cli.main(["merge", str(out), "--out", str(tmp_path / "alpha1.5")]) == 0
    memjax.load(out).sel(dim=4).save(other)
    assert cli.main(["merge", str(out), "--out", str(other)]) == 2
    assert "other.npz holds a result of another configuration" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--out", "--csv", "--plot"])
def test_unwritable_outputs_fail_before_computing(tmp_path, capsys, no_compute, flag):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    argv = TINY + ["--out", str(tmp_path / "r"), "--no-checkpoint"]
    assert cli.main(argv + [flag, str(blocker / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot write {blocker / 'x'}" in err
    assert f"{blocker} is a file, not a folder" in err
    (tmp_path / "folder.npz").mkdir()
    assert cli.main(TINY + ["--out", str(tmp_path / "folder")]) == 2
    assert "folder.npz: it is a folder" in capsys.readouterr().err


def test_a_full_disk_ends_in_one_line_keeping_the_checkpoint(tmp_path, capsys,
                                                             monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(memjax.SweepResult, "save", full)
    assert cli.main(TINY + ["--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "could not write" in err and "No space left" in err
    assert f"kept in {tmp_path / 'r.chunks'}: rerun to resume" in err


def test_unreadable_merge_inputs_and_usage_errors_exit_2_in_one_line(tmp_path, capsys):
    (tmp_path / "bad.npz").write_bytes(b"garbage")
    (tmp_path / "bad.json").write_text("{}")
    for argv, message in [
            (["merge", str(tmp_path / "nope.npz"), "--out", str(tmp_path / "m")],
             "no memjax result at"),
            (["merge", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "m")],
             "bad.json is not a memjax result sidecar"),
            (TINY + ["--dims", "4,ten"], "--dims must be comma-separated numbers"),
            (TINY + ["--num-samples", "log:1:1e9:99999999"], "--num-samples must be"),
            (TINY + ["--key", str(2**40)], r"--key must be an integer in [0, 2^32)"),
            (TINY + ["--num-seeds", str(10**12)], "--num-seeds must be at most")]:
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, (argv, err)


def test_a_result_of_the_other_precision_is_recomputed(tmp_path, capsys, monkeypatch):
    import json

    import jax

    out = tmp_path / "r.npz"
    assert cli.main(TINY + ["--out", str(out)]) == 0
    meta = json.loads(out.with_suffix(".json").read_text())
    meta["versions"]["x64"] = not jax.config.jax_enable_x64
    out.with_suffix(".json").write_text(json.dumps(meta))
    calls = []
    stored = memjax.load(out)
    monkeypatch.setattr(memjax, "sweep", lambda *a, **k: calls.append(1) or stored)
    capsys.readouterr()
    assert cli.main(TINY + ["--out", str(out)]) == 0
    assert calls == [1] and "holds this configuration in float" in capsys.readouterr().out
