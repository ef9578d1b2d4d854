"""`memjax bench`: the ladder runs, every measurement is a valid JSON line, the work
accounting matches a hand count, and bad arguments fail clearly. No timing is asserted."""

import json
import math
import os

import pytest

from memjax import bench, cli

TINY = bench.Ladder(
    "tiny", matmul_sizes=(32, 64), normal_sizes=(1 << 10,),
    sweeps=(bench.SweepRung("tiny sweep", 30, 3, 1.5, (4, 8), (10, math.inf),
                            ("population:power=1", "threshold:top=d/2"), 2),),
    trains=(bench.TrainRung("tiny train", 4, 4, 5, 1, num_inputs=10, num_outputs=2),))
MACHINE_FIELDS = ("backend", "device_kind", "device_count", "dtype", "jax", "jaxlib",
                  "cpu_count", "cpu_model", "ladder", "time_utc", "repeats")


def _strict_json(line):
    def reject(constant):
        raise ValueError(f"not plain JSON: {constant}")
    return json.loads(line, parse_constant=reject)


@pytest.fixture(scope="module", name="tiny_run")
def tiny_run_fixture(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "sub" / "bench.jsonl"
    return bench.run(TINY, repeats=1, out=out), out


def test_ladder_writes_one_valid_json_line_per_measurement(tiny_run, float_dtype):
    records, out = tiny_run
    lines = out.read_text().splitlines()
    assert [r["kind"] for r in records] == ["matmul", "matmul", "normal", "sweep", "train"]
    assert len(lines) == len(records)
    for line, record in zip(lines, records):
        row = _strict_json(line)
        assert row["kind"] == record["kind"]
        for field in MACHINE_FIELDS:
            assert field in row, field
        assert row["dtype"] == float_dtype.name and row["ladder"] == "tiny"
        assert row["warm_median_s"] > 0 and row["compile_s"] >= 0
        assert len(row["warm_s"]) == 1
    sweep, train = (_strict_json(line) for line in lines[-2:])
    assert sweep["num_samples"] == [10.0, "inf"] and sweep["dims"] == [4, 8]
    assert sweep["points"] == 2 * 2 * 2 * 2
    for key in ("points_per_s", "token_dims_per_s", "flops_per_s", "normals_per_s",
                "ceiling_fraction"):
        assert sweep[key] > 0, key
    assert sweep["kernel"] in ("matmul", "normal")
    assert train["runs"] == len(bench.RATES) and train["run_steps_per_s"] > 0
    assert train["steps_per_s"] * train["runs"] == pytest.approx(train["run_steps_per_s"])


def test_table_has_a_line_per_measurement(tiny_run):
    records, _ = tiny_run
    lines = bench.format_table(records).splitlines()
    assert "tiny ladder" in lines[0] and "float" in lines[0]
    assert sum(line.startswith(("matmul ", "normal ")) for line in lines) == 3
    assert sum(line.startswith(("tiny sweep ", "tiny train ")) for line in lines) == 2
    assert sum("% ceil" in line for line in lines) == 2  # the sweep and train headers


def test_cli_bench_quick_prints_table_and_appends(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(bench.LADDERS, "quick", TINY)  # the same shapes: compiled already
    out = tmp_path / "b.jsonl"
    earlier = json.dumps({"kind": "earlier"})
    out.write_text(earlier + "\n")
    assert cli.main(["bench", "--quick", "--repeats", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "tiny sweep" in printed.out and "appended 5 lines" in printed.out
    assert "memjax bench: sweep tiny sweep" in printed.err  # progress on stderr
    lines = out.read_text().splitlines()
    assert lines[0] == earlier and len(lines) == 6  # appended, not replaced


def test_rungs_beyond_the_time_limit_are_skipped_and_reported(tmp_path):
    out = tmp_path / "skip.jsonl"
    records = bench.run(TINY, repeats=1, max_rung_seconds=1e-12, out=out)
    rungs = [r for r in records if r["kind"] in ("sweep", "train")]
    assert rungs and all("max_rung_seconds" in r["skipped"] for r in rungs)
    assert all("warm_median_s" not in r for r in rungs)
    assert "skipped" in bench.format_table(records)
    assert all("skipped" in _strict_json(line) for line in
               out.read_text().splitlines()[-2:])


def test_sweep_work_counts_by_hand():
    # N = 10, M = 2, d ∈ {3, 5}, T ∈ {10, ∞}: population is data-free (1 weight vector per
    # d), empirical has one per T (2): Q = 3 vectors; 2 seeds.
    hand = dict(num_inputs=10, num_outputs=2, zipf_exponent=1.5, dims=(3, 5),
                num_samples=(10, math.inf),
                schemes=("population:power=1", "empirical:power=0"), num_seeds=2)
    same = {"points": 2 * 2 * 2 * 2, "token_dims": 10 * (3 + 5) * 2}
    # gram, per d: G_d = E_d E_dᵀ (N²d multiply-adds), G_d Z (N²·QM), C = U Uᵀ (M²d,
    # counted once by `costs`): 2·100·8 + 2·(100·3·2)·2 + 4·8 = 4032 flops per seed.
    assert bench.sweep_work(bench.SweepRung("hand", **hand, route="gram")) == {
        "route": "gram", **same, "flops": 4032 * 2, "normals": 2 * (10 + 2) * 5}
    # tokens, per d: Eᵀ Z and E (Eᵀ Z), N·d·QM multiply-adds each, + C:
    # 4·10·8·3·2 + 4·8 = 1952 flops per seed, the cheapest, so 'auto' takes it.
    assert bench.sweep_work(bench.SweepRung("hand", **hand)) == {
        "route": "tokens", **same, "flops": 1952 * 2, "normals": 2 * (10 + 2) * 5}
    # streamed: the tokens products; its one chunk drawn once at d_max and kept for the
    # second pass (N + M)·d_max, as in memory.
    assert bench.sweep_work(bench.SweepRung("hand", **hand, route="stream")) == {
        "route": "stream", **same, "flops": 1952 * 2, "normals": 2 * (10 + 2) * 5}


def test_train_work_counts_by_hand():
    # Matrix model, SGD, d = 4, M = 2: k(N + M) = 2·12 is not < d(d + M) = 24: direct route.
    # A row: forward + backward 2·(2d² + 2dM) = 96 flops; B = 4 rows a step; 5 steps;
    # 2 seeds × 4 step sizes = 8 runs. Normals per seed: (N + M)·d + d² (E, U and W₀).
    work = bench.train_work(bench.TrainRung("hand", 4, 4, 5, 2, num_inputs=10,
                                            num_outputs=2))
    assert work == {"route": "direct", "runs": 8, "run_steps": 40, "flops": 40 * 4 * 96,
                    "normals": 2 * (12 * 4 + 16)}


def test_kernel_fraction_is_the_dominant_ceiling_time_over_the_measured_time():
    ceilings = {"matmul": 1e10, "normal": 1e8}
    assert bench.kernel_fraction(2e9, 1e6, 1.0, ceilings) == ("matmul", pytest.approx(0.2))
    assert bench.kernel_fraction(2e6, 5e7, 2.0, ceilings) == ("normal", pytest.approx(0.25))


@pytest.mark.parametrize("kwargs, match", [
    (dict(ladder="huge"), r"ladder must be one of 'quick', 'full'; got 'huge'"),
    (dict(ladder=3), r"ladder must be 'quick', 'full' or a memjax.bench.Ladder; got 3"),
    (dict(repeats=0), r"repeats must be an integer >= 1; got 0"),
    (dict(max_rung_seconds=0.0), r"max_rung_seconds must be a real number > 0; got 0.0"),
    (dict(max_rung_seconds=math.nan),
     r"max_rung_seconds must be a real number \(inf allowed\) >= 0"),
])
def test_bad_run_arguments_raise_before_measuring(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bench.run(**kwargs)


def test_bad_rungs_and_ladders_raise():
    with pytest.raises(ValueError, match=r"dims\[1\] must be an integer >= 1; got 0"):
        bench.SweepRung("bad", 10, 2, 1.0, (3, 0), (10,), ("uniform",), 1)
    with pytest.raises(ValueError, match="scheme must be one of"):
        bench.SweepRung("bad", 10, 2, 1.0, (3,), (10,), ("bogus",), 1)
    with pytest.raises(ValueError, match=r"zipf_exponent must be a finite real number >= 0"):
        bench.SweepRung("bad", 10, 2, -1.0, (3,), (10,), ("uniform",), 1)
    with pytest.raises(ValueError, match=r"num_seeds must be an integer >= 1; got 0"):
        bench.TrainRung("bad", 4, 4, 5, 0)
    with pytest.raises(ValueError, match="optimizer kind must be one of"):
        bench.TrainRung("bad", 4, 4, 5, 1, optimizer="rmsprop")
    with pytest.raises(ValueError, match=r"sweeps\[0\] must be a memjax.bench.SweepRung"):
        bench.Ladder("bad", (8,), (8,), sweeps=(TINY.trains[0],), trains=())
    with pytest.raises(ValueError, match=r"matmul_sizes\[0\] must be an integer >= 1"):
        bench.Ladder("bad", (0,), (8,), sweeps=(), trains=())


def test_cli_bad_repeats_exits_2_with_the_reason(capsys):
    assert cli.main(["bench", "--quick", "--repeats", "0"]) == 2
    assert "repeats must be an integer >= 1; got 0" in capsys.readouterr().err


def test_shipped_ladders_are_valid_and_quick_is_far_smaller():
    quick, full = bench.LADDERS["quick"], bench.LADDERS["full"]
    assert len(quick.sweeps) >= 3 and len(quick.trains) >= 2
    work = lambda ladder: sum(bench.sweep_work(r)["flops"] for r in ladder.sweeps)
    assert work(quick) < work(full) / 100


def _reference_for(records, scale):
    """A reference file's content recording `scale` × the measured fractions."""
    fractions = {r["name"]: scale * r["ceiling_fraction"] for r in records
                 if "ceiling_fraction" in r}
    return {bench.machine_kind(records[0]): {records[0]["ladder"]: {"fractions": fractions}}}


def test_regression_guard_compares_fractions_with_the_machine_kinds_reference(tiny_run):
    records, _ = tiny_run
    # Measured against a reference it meets (the same figures), or one 3× higher:
    # below half of it, a regression. No timing is assumed: the ratios are constructed.
    passed, lines = bench.compare_to_reference(records, _reference_for(records, 1.0))
    assert passed and len(lines) == 2 and all(" ok " in line for line in lines)
    passed, lines = bench.compare_to_reference(records, _reference_for(records, 3.0))
    assert not passed and all("REGRESSION" in line for line in lines)
    passed, lines = bench.compare_to_reference(records, {"another machine": {}})
    assert passed and "no reference" in lines[0]


def test_cli_bench_fails_loudly_below_half_the_recorded_fraction(tmp_path, capsys,
                                                                 monkeypatch, tiny_run):
    records, _ = tiny_run
    monkeypatch.setitem(bench.LADDERS, "quick", TINY)
    monkeypatch.setattr(bench, "run", lambda *args, **kwargs: records)  # no timing
    path = tmp_path / "reference.json"
    monkeypatch.setattr(bench, "REFERENCE_FILE", path)
    assert cli.main(["bench", "--quick"]) == 0  # unknown machine: passes, says so
    assert "no reference" in capsys.readouterr().out
    assert cli.main(["bench", "--quick", "--record-reference"]) == 0
    assert bench.machine_kind(records[0]) in json.loads(path.read_text())  # not the real file
    assert cli.main(["bench", "--quick"]) == 0  # the recorded figures themselves: met
    path.write_text(json.dumps(_reference_for(records, 1e6)))  # set artificially high
    with pytest.raises(SystemExit) as failed:
        cli.main(["bench", "--quick"])
    assert failed.value.code == 1
    printed = capsys.readouterr()
    assert "REGRESSION tiny sweep" in printed.out and "fell below" in printed.err


@pytest.mark.parametrize("script, args", [
    ("bench_reproduce.py", ["--profile", "--quick", "--only", "memory-matrices"]),
    ("bench_train.py", ["--targets", "memory-matrices", "--quick"]),
])
def test_benchmark_scripts_profile_a_reproduce_target(script, args, tmp_path):
    # The profiling entry points look targets up in `memjax.reproduce.TARGETS`; when its
    # entries changed from tuples to `Target`s both broke unnoticed. One cheap target
    # (about 2 s at --quick) in a child process (the scripts patch JAX's compiler hooks
    # and turn the persistent cache off for their process). No timing is asserted.
    import pathlib
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parents[1]
    out = tmp_path / "profile.json"
    done = subprocess.run([sys.executable, str(root / "benchmarks" / script), *args,
                           "--json", str(out)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    text = out.read_text()
    rows = ([json.loads(line) for line in text.splitlines()] if script.startswith(
        "bench_reproduce") else json.loads(text)["targets"])
    assert [r["target"] for r in rows] == ["memory-matrices"]
    assert rows[0]["wall_s"] > 0 and rows[0]["programs"] >= 1


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs two CPUs to pin a child to one")
def test_block_timing_child_can_be_pinned_to_one_cpu():
    # `bench_train.py --blocks --one-cpu` times blocks as a pinned train_sweep worker
    # runs them; the child reports the CPUs it was allowed. A tiny block (d = 10, 5 steps).
    import pathlib
    import sys

    root = pathlib.Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "benchmarks"))
    try:
        import bench_train
    finally:
        sys.path.remove(str(root / "benchmarks"))
    block = ("matrix", "adam", 10, 16, 5)
    pinned = bench_train._block_in_child(block, str(root), one_cpu=True)
    free = bench_train._block_in_child(block, str(root))
    assert pinned["cpus"] == 1 and free["cpus"] == len(os.sched_getaffinity(0))
    assert pinned["errors"] == free["errors"]  # the same bits on one CPU
