"""The README's promises about interrupted sweeps ("Long sweeps survive interruption")
and about splitting a grid ("Clusters and multi-device runs"), each checked as written,
at tiny size. The multi-host promise (`jax.distributed`) is tests/test_multihost.py's."""

import dataclasses
import json
import math
import os
import subprocess
import sys
import time
import types

import jax
import numpy as np
import pytest

import memjax
from memjax import _atomic, _checkpoint, cli, grid, schemes
from tiny_sweep import KEY, SMALL, interrupted, small

# The CLI form of tiny_sweep.SMALL.
CLI = ["sweep", "--num-inputs", "40", "--num-outputs", "3", "--zipf-exponent", "1.5",
       "--dims", "4,8", "--num-samples", "0,6,inf", "--num-seeds", "5", "--seed-chunk",
       "2", "--scheme", "population:power=1", "--scheme", "empirical:power=0,top=3",
       "--key", "3", "--no-progress"]


# --- Long sweeps survive interruption --------------------------------------------------

def test_finished_seeds_are_written_atomically_at_most_every_interval(tmp_path,
                                                                      monkeypatch, calls):
    """'finished seeds are written ... atomically (a temporary file, then a rename),
    gathered into one file at most every 10 seconds and whenever the sweep stops'."""
    assert _checkpoint.WRITE_EVERY_SECONDS == 10.0
    clock = iter(range(0, 10**6, 11))  # 11 s between readings: every chunk is written
    monkeypatch.setattr(_checkpoint, "time", types.SimpleNamespace(
        monotonic=lambda: next(clock)))
    small(checkpoint=tmp_path / "slow", seed_chunk=1)
    assert len(list((tmp_path / "slow").glob("seeds-*.npz"))) == 5
    monkeypatch.setattr(_checkpoint, "time", types.SimpleNamespace(monotonic=lambda: 0))
    interrupted(calls, after=3, checkpoint=tmp_path / "fast", seed_chunk=1)
    # Ctrl-C wrote the 3 finished seeds as one file; no temporary file is left.
    assert sorted(p.name[:10] for p in (tmp_path / "fast").iterdir()) == [
        "manifest.j", "seeds-0-2-"]


def test_the_manifest_holds_everything_that_determines_the_numbers(tmp_path,
                                                                   monkeypatch):
    """'a manifest of everything that determines its numbers (all arguments that change
    a seed's result, the key, the dtype, the memjax and jax versions)' and a sha256."""
    small(checkpoint=tmp_path / "c", num_seeds=1)
    manifest = json.loads((tmp_path / "c" / _checkpoint.MANIFEST).read_text())
    fields = {f.name for f in dataclasses.fields(grid.SweepConfig)}
    assert fields | {"zipf_exponent", "key", "dtype", "memjax", "jax"} <= set(manifest)
    (chunk,) = (tmp_path / "c").glob("seeds-*.npz")
    with np.load(chunk) as saved:
        assert json.loads(str(saved["manifest"]))["sha256"] == _checkpoint.checksum(
            saved["seeds"], saved["error"])
    monkeypatch.setattr(memjax, "__version__", "0.0.0+another")
    with pytest.raises(ValueError, match="memjax: expected \"0.0.0\\+another\" \\(this "
                                         "sweep\\)"):
        small(checkpoint=tmp_path / "c", num_seeds=1)


def test_a_rerun_computes_only_the_unfinished_seeds_bit_identically(tmp_path, calls,
                                                                    reference):
    """'Rerun the same call and it reuses every finished seed, computes only the others
    and returns a result bit-identical to an uninterrupted run'."""
    interrupted(calls, after=2, checkpoint=tmp_path / "c")
    resumed = small(checkpoint=tmp_path / "c")
    assert calls == [[4]]
    np.testing.assert_array_equal(resumed.error, reference.error)
    assert resumed.config == reference.config


def test_seed_chunk_and_the_seed_list_may_change_in_between(tmp_path, calls, reference):
    """'seed_chunk ... and the seed list may change in between (added seeds are
    computed, unused ones ignored)'."""
    interrupted(calls, after=1, checkpoint=tmp_path / "c")  # seeds 0, 1 finished
    seeds = (6, 4, 1, 0, 2)  # 6 added, 3 not asked for
    resumed = small(checkpoint=tmp_path / "c", seeds=seeds, seed_chunk=3)
    assert sorted(sum(calls, [])) == [2, 4, 6]
    np.testing.assert_array_equal(resumed.error[:, 1:], reference.error[:, [4, 1, 0, 2]])
    np.testing.assert_array_equal(resumed.error[:, 0], small(seeds=(6,)).error[:, 0])


BIG_N = dict(SMALL, num_inputs=1100, dims=(4,), num_seeds=3, seed_chunk=1)


def _streaming_budget():
    """A memory budget under which BIG_N's plan streams its tokens (its whole draw does
    not fit), while the default budget holds it."""
    config = grid.SweepConfig(1100, 3, (4,), (0.0, 6.0, math.inf), SMALL["schemes"])
    budget = dataclasses.replace(config, route="stream", token_chunk=1024).bytes_per_seed()
    assert grid.plan(config, budget).route == "stream"
    assert grid.plan(config, grid.DEFAULT_MEMORY_BUDGET).route != "stream"
    return budget


def test_memory_budget_may_change_in_between_without_a_route_change(tmp_path, calls,
                                                                    reference):
    """'memory_budget ... may change in between' (here the route stays the same)."""
    one_seed = grid.SweepConfig(40, 3, (4, 8), (0.0, 6.0, math.inf),
                                SMALL["schemes"]).bytes_per_seed()
    interrupted(calls, after=1, checkpoint=tmp_path / "c", memory_budget=one_seed)
    resumed = small(checkpoint=tmp_path / "c", seed_chunk=None)  # the default budget
    assert sorted(sum(calls, [])) == [2, 3, 4]
    np.testing.assert_array_equal(resumed.error, reference.error)


def test_memory_budget_may_change_in_between_even_where_it_changes_the_route(tmp_path,
                                                                             calls):
    """'memory_budget ... may change in between', where the first budget made the sweep
    stream its tokens and the new one alone would not: the resumed result is the
    uninterrupted one."""
    budget = _streaming_budget()
    whole = memjax.sweep(KEY, memory_budget=budget, **BIG_N)
    calls.clear()
    calls.stop_after = 1
    with pytest.raises(KeyboardInterrupt):
        memjax.sweep(KEY, checkpoint=tmp_path / "c", memory_budget=budget, **BIG_N)
    calls.stop_after = None
    resumed = memjax.sweep(KEY, checkpoint=tmp_path / "c", **BIG_N)  # the default budget
    np.testing.assert_array_equal(resumed.error, whole.error)


DEVICES = r"""
import math, sys, jax, numpy as np, memjax
from memjax import grid, schemes
assert len(jax.devices()) == 4, jax.devices()
kw = dict(num_inputs=40, num_outputs=3, zipf_exponent=1.5, dims=(4,), num_samples=(6,),
          num_seeds=5, seed_chunk=2, schemes=(schemes.empirical(0.0, top=3),))
one = jax.devices()[:1]
whole = memjax.sweep(jax.random.key(3), devices=one, **kw)
original, done = grid._chunk_errors, []
def stop(*args):
    if done:
        raise KeyboardInterrupt
    done.append(1)
    return original(*args)
grid._chunk_errors = stop
try:
    memjax.sweep(jax.random.key(3), devices=one, checkpoint=sys.argv[1], **kw)
except KeyboardInterrupt:
    pass
grid._chunk_errors = original
# Resumed on 4 devices: the 3 seeds left, in one chunk padded to 4.
resumed = memjax.sweep(jax.random.key(3), checkpoint=sys.argv[1], **dict(kw, seed_chunk=3))
assert resumed.config["num_devices"] == 4
np.testing.assert_array_equal(resumed.error, whole.error)
print("ok")
"""


def test_the_devices_may_change_in_between(tmp_path):
    """'the devices ... may change in between': interrupted on one device, resumed on 4
    (a fresh process with 4 fake CPU devices), bit-identical to one device."""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    done = subprocess.run([sys.executable, "-c", DEVICES, str(tmp_path / "c")], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


def test_a_bad_file_names_itself_what_differs_and_what_to_delete(tmp_path):
    """'A truncated or unreadable file, one from another configuration, or one with the
    wrong shape, dtype, values or checksum raises a ValueError that names the file, what
    differs, and what to delete; nothing is merged silently'."""
    folder = tmp_path / "c"
    small(checkpoint=folder, num_seeds=1)
    (path,) = folder.glob("seeds-*.npz")
    good = path.read_bytes()
    with np.load(path) as saved:
        arrays = dict(saved)
    meta = json.loads(str(arrays["manifest"]))
    cases = {"truncated": good[:-50],
             "another configuration": dict(manifest=json.dumps(dict(meta, targets="random"))),
             "shape": dict(error=arrays["error"][..., :1]),
             "dtype": dict(error=arrays["error"].astype(np.float16)),
             "values": dict(error=arrays["error"] + 2.0),
             "checksum": dict(error=arrays["error"] / 2)}
    for what, bad in cases.items():
        if isinstance(bad, bytes):
            path.write_bytes(bad)
        else:
            np.savez(path, **{**arrays, **{k: np.asarray(v) for k, v in bad.items()}})
        with pytest.raises(ValueError) as caught:
            small(checkpoint=folder, num_seeds=1)
        message = str(caught.value)
        assert str(path) in message and "elete" in message, (what, message)
        assert {"truncated": "truncated", "another configuration": "targets: expected",
                "shape": "error shape", "dtype": "error dtype", "values": "outside [0, 1]",
                "checksum": "checksum"}[what] in message, (what, message)
    path.write_bytes(good)
    np.testing.assert_array_equal(small(checkpoint=folder, num_seeds=1).error,
                                  small(num_seeds=1).error)


def test_a_second_sweep_on_a_folder_in_use_is_refused_and_a_dead_ones_lock_taken(
        tmp_path, reference):
    """'While a sweep runs, the folder holds a lock file with its pid and host: a second
    sweep on the same folder is refused ... (a lock left by a killed process is taken
    over)'. (tests/test_faults.py does this with a real second process.)"""
    folder = tmp_path / "c"
    with _checkpoint.SeedStore(folder, {"x": 1}, (2, 3, 2), np.float32):
        owner = json.loads((folder / _checkpoint.LOCK).read_text())
        assert owner["pid"] == os.getpid() and owner["host"]
        with pytest.raises(ValueError, match=f"held by pid {os.getpid()}"):
            small(checkpoint=folder)
    (folder / _checkpoint.LOCK).write_text(json.dumps(dict(owner, token="gone")))
    np.testing.assert_array_equal(small(checkpoint=folder).error, reference.error)


def test_a_custom_function_is_known_by_its_name_and_code_not_its_captured_values(
        tmp_path):
    """'A custom scheme's function is recognised by its name and code, not by values it
    captures: rename it (or use another folder) when those change'."""
    def make(power, name="scaled"):
        def weights(freqs, probs, dim):
            return probs ** power
        weights.__qualname__ = name
        return schemes.custom(weights, name="mine")

    folder = tmp_path / "c"
    first = small(checkpoint=folder, num_seeds=1, schemes=(make(1.0),))
    # Another captured value under the same name and code: the stored seeds are reused.
    reused = small(checkpoint=folder, num_seeds=1, schemes=(make(3.0),))
    np.testing.assert_array_equal(reused.error, first.error)
    with pytest.raises(ValueError, match="different sweep: schemes"):
        small(checkpoint=folder, num_seeds=1, schemes=(make(3.0, name="cubed"),))


# --- Clusters and multi-device runs ----------------------------------------------------

def test_any_split_of_the_seeds_is_bit_identical_to_one_run(reference):
    """'Every seed's key is fold_in(key, seed), so however a grid is split ... each
    seed's numbers are bit-identical to a one-device run'."""
    for part in [(0, 2, 4), (3,), (1, 4)]:
        np.testing.assert_array_equal(small(seeds=part).error,
                                      reference.error[:, list(part)])


def test_slurm_array_shards_checkpoint_resume_and_merge_to_one_process(tmp_path, calls,
                                                                       capsys, reference):
    """'a job that fails or is pre-empted is simply rerun (--out checkpoints it to
    part-$ID.chunks/)'; 'Shard i runs seeds s with s % num-shards == i; memjax merge
    checks that the parts share one configuration and hold disjoint seeds, and returns
    the one-process result'."""
    parts = [tmp_path / "parts" / f"part-{i}.npz" for i in range(2)]
    shard = lambda i: CLI + ["--shard-index", str(i), "--num-shards", "2",
                             "--out", str(parts[i])]
    calls.stop_after = 1
    with pytest.raises(KeyboardInterrupt):  # shard 0 pre-empted after one chunk
        cli.main(shard(0))
    chunks = tmp_path / "parts" / "part-0.chunks"
    assert chunks.is_dir()
    # As if the job had been killed on another node: its lock is left, not refreshed.
    (chunks / _checkpoint.LOCK).write_text(json.dumps(
        {"pid": 1, "host": "node-17", "token": "t", "since": "earlier"}))
    old = time.time() - _atomic.STALE_SECONDS - 1
    os.utime(chunks / _checkpoint.LOCK, (old, old))
    calls.clear()
    calls.stop_after = None
    assert cli.main(shard(0)) == 0 and cli.main(shard(1)) == 0
    assert sorted(sum(calls, [])) == [1, 3, 4]  # the rerun computed only seed 4 of 0, 2, 4
    for i, path in enumerate(parts):
        np.testing.assert_array_equal(memjax.load(path).coords["seed"], range(i, 5, 2))
    merged = tmp_path / "grid.npz"
    assert cli.main(["merge", *map(str, parts), "--out", str(merged)]) == 0
    np.testing.assert_array_equal(memjax.load(merged).error, reference.error)
    capsys.readouterr()
    assert cli.main(["merge", str(parts[0]), str(parts[0]), "--out",
                     str(tmp_path / "x.npz")]) == 2
    assert "disjoint" in capsys.readouterr().err
    other = tmp_path / "other.npz"
    assert cli.main(CLI + ["--zipf-exponent", "2", "--out", str(other), "--seed-chunk",
                           "5", "--shard-index", "1", "--num-shards", "2"]) == 0
    assert cli.main(["merge", str(parts[0]), str(other), "--out",
                     str(tmp_path / "y.npz")]) == 2
    assert "different configuration" in capsys.readouterr().err


def test_devices_one_uses_one_device(reference):
    """'devices=jax.devices()[:1] uses one'."""
    one = small(devices=jax.devices()[:1])
    assert one.config["num_devices"] == 1
    np.testing.assert_array_equal(one.error, reference.error)
