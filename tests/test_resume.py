"""Checkpointed sweeps: an interrupted sweep resumes bit for bit, recomputes nothing
finished, and refuses damaged or foreign checkpoint files (memjax/_checkpoint.py)."""

import json
import os
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

import memjax
from memjax import _atomic, _checkpoint, cli, schemes
from tiny_sweep import small


@pytest.fixture(name="write_every_chunk")
def write_every_chunk_fixture(monkeypatch):
    """Each finished chunk is written at once (one file per chunk)."""
    monkeypatch.setattr(_checkpoint, "WRITE_EVERY_SECONDS", 0.0)


def test_interrupted_sweep_resumes_bit_for_bit_and_recomputes_nothing(tmp_path, calls,
                                                                       reference):
    folder = tmp_path / "grid.chunks"
    calls.stop_after = 2
    with pytest.raises(KeyboardInterrupt):
        small(checkpoint=folder)
    # The two finished chunks are written when the sweep stops, as one file.
    (path,) = folder.glob("seeds-*.npz")
    with np.load(path) as saved:
        assert saved["seeds"].tolist() == [0, 1, 2, 3]
    assert not list(folder.glob("*.tmp")) and not (folder / "lock").exists()
    calls.clear()
    calls.stop_after = None
    resumed = small(checkpoint=folder)
    assert calls == [[4]]  # only the unfinished seed ran
    np.testing.assert_array_equal(resumed.error, reference.error)
    assert resumed.error.dtype == reference.error.dtype
    assert resumed.config == reference.config
    calls.clear()
    np.testing.assert_array_equal(small(checkpoint=folder).error, reference.error)
    assert calls == []  # a finished sweep recomputes nothing


def test_many_small_chunks_make_one_file_not_one_per_seed(tmp_path, calls, reference):
    folder = tmp_path / "c"
    np.testing.assert_array_equal(small(checkpoint=folder, seed_chunk=1).error,
                                  reference.error)
    assert len(calls) == 5 and len(list(folder.glob("seeds-*.npz"))) == 1


def test_finished_seeds_are_reused_by_any_chunking_and_seed_list(tmp_path, calls,
                                                                 reference,
                                                                 write_every_chunk):
    folder = tmp_path / "c"
    small(checkpoint=folder)
    assert len(list(folder.glob("seeds-*.npz"))) == 3  # chunks (0, 1), (2, 3), (4,)
    for path in folder.glob("seeds-2-3-*.npz"):
        path.unlink()  # a lost chunk: only its seeds are recomputed
    calls.clear()
    more = small(checkpoint=folder, seeds=(4, 3, 2, 1, 0, 6), seed_chunk=3)
    assert calls == [[3, 2, 6]]  # rows are indexed by seed: any chunking reuses them
    np.testing.assert_array_equal(more.error[:, :5], reference.error[:, ::-1])
    np.testing.assert_array_equal(more.error[:, 5], small(seeds=(6,)).error[:, 0])
    calls.clear()
    again = small(checkpoint=folder, seed_chunk=1, seeds=(6, 0, 2))  # files of 2 and 3
    assert calls == []
    np.testing.assert_array_equal(again.error, more.error[:, [5, 4, 2]])


def test_a_truncated_file_is_reported_not_merged(tmp_path):
    folder = tmp_path / "c"
    small(checkpoint=folder, num_seeds=2)
    path = next(folder.glob("seeds-*.npz"))
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(ValueError, match=f"checkpoint file {path} is unreadable, corrupt or "
                       "truncated .*Delete this file .*or delete the folder"):
        small(checkpoint=folder, num_seeds=2)


@pytest.mark.parametrize("change, field", [
    (dict(zipf_exponent=2.0), "zipf_exponent: expected 2.0 \\(this sweep\\), found 1.5"),
    (dict(key=jax.random.key(4)), "key: expected"),
    (dict(schemes=(schemes.population(1.0), schemes.empirical(0.0, top=2))), "schemes"),
    (dict(targets="random"), "targets"),
])
def test_a_different_configuration_is_reported(tmp_path, change, field):
    folder = tmp_path / "c"
    small(checkpoint=folder, num_seeds=1)
    with pytest.raises(ValueError, match=f"{folder}.* was written by a different sweep: "
                                         f"{field}.*Either delete the folder {folder}"):
        small(checkpoint=folder, num_seeds=1, **change)


def test_a_foreign_or_tampered_chunk_file_is_reported(tmp_path):
    mine, other = tmp_path / "mine", tmp_path / "other"
    small(checkpoint=mine, num_seeds=1)
    small(checkpoint=other, num_seeds=1, seeds=(3,), zipf_exponent=2.0)
    foreign = next(other.glob("seeds-*.npz"))
    foreign.rename(mine / foreign.name)  # the folder's manifest matches, the file's not
    with pytest.raises(ValueError, match="seeds-3-3-.* different sweep: zipf_exponent"):
        small(checkpoint=mine, num_seeds=1)
    (mine / foreign.name).unlink()

    path = next(mine.glob("seeds-*.npz"))
    with np.load(path) as saved:
        arrays = dict(saved)
    for bad, message in [(dict(error=arrays["error"] * np.nan), "errors outside \\[0, 1\\]"),
                         (dict(error=arrays["error"] * 0.5), "its arrays do not match the checksum"),
                         (dict(error=arrays["error"][..., ::-1]), "its arrays do not match the checksum"),
                         (dict(error=arrays["error"][..., :1]), "error shape"),
                         (dict(error=arrays["error"].astype(np.float16)), "error dtype"),
                         (dict(seeds=np.asarray([1])), "seeds \\[1\\] do not match")]:
        np.savez(path, **{**arrays, **bad})
        with pytest.raises(ValueError, match=f"{path} is invalid: {message}"):
            small(checkpoint=mine, num_seeds=1)


def test_an_empty_checkpoint_of_another_configuration_is_replaced(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / _checkpoint.MANIFEST).write_text(json.dumps({"zipf_exponent": 9.0}))
    small(checkpoint=folder, num_seeds=1)  # nothing was finished: nothing to protect
    assert json.loads((folder / _checkpoint.MANIFEST).read_text())["zipf_exponent"] == 1.5


def test_invalid_weights_are_reported_before_anything_is_saved(tmp_path):
    nan = schemes.custom(lambda f, p, d: f / 0.0 * 0.0, name="nan")
    with pytest.raises(ValueError, match="invalid weights from schemes \\['nan'\\]"):
        small(checkpoint=tmp_path / "c", schemes=(nan,))
    assert not list((tmp_path / "c").glob("seeds-*.npz"))


CLI = ["sweep", "--num-inputs", "40", "--num-outputs", "3", "--zipf-exponent", "1.5",
       "--dims", "4,8", "--num-samples", "0,6,inf", "--num-seeds", "5", "--seed-chunk",
       "2", "--scheme", "population:power=1", "--scheme", "empirical:power=0,top=3",
       "--key", "3", "--no-progress"]


def test_cli_resumes_an_interrupted_command(tmp_path, calls, capsys, reference):
    out = tmp_path / "grid.npz"
    calls.stop_after = 1
    with pytest.raises(KeyboardInterrupt):
        cli.main(CLI + ["--out", str(out)])
    assert (tmp_path / "grid.chunks").is_dir() and not out.exists()
    calls.clear()
    calls.stop_after = None
    capsys.readouterr()
    assert cli.main(CLI + ["--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "holds 2 of the 5 seeds (1 chunk file): computing 3" in printed
    assert len(calls) == 2
    np.testing.assert_array_equal(memjax.load(out).error, reference.error)
    assert not (tmp_path / "grid.chunks").exists()  # the result holds every seed now

    assert cli.main(CLI + ["--out", str(tmp_path / "k.npz"), "--keep-chunks"]) == 0
    assert len(list((tmp_path / "k.chunks").glob("seeds-*.npz"))) == 1  # its 3 chunks
    assert cli.main(CLI + ["--out", str(tmp_path / "b.npz"), "--no-checkpoint"]) == 0
    assert not (tmp_path / "b.chunks").exists()


def test_cli_reports_a_mismatched_checkpoint(tmp_path, capsys, calls):
    out = tmp_path / "grid.npz"
    calls.stop_after = 1  # interrupted: a checkpoint, no result yet
    with pytest.raises(KeyboardInterrupt):
        cli.main(CLI + ["--out", str(out), "--num-seeds", "3"])
    calls.stop_after = None
    assert cli.main(CLI + ["--out", str(out), "--num-seeds", "3", "--key", "5"]) == 2
    err = capsys.readouterr().err
    assert "different sweep: key" in err and "another --out" in err


def _lock(folder, pid):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / _checkpoint.LOCK).write_text(json.dumps(
        {"pid": pid, "host": socket.gethostname(), "token": "t", "since": "earlier"}))


def test_a_checkpoint_in_use_by_a_live_process_is_refused(tmp_path, calls):
    folder = tmp_path / "c"
    _lock(folder, os.getppid())  # a live process of this host (pytest's parent)
    with pytest.raises(ValueError, match=f"the lock {folder / 'lock'} is held by pid "
                                         f"{os.getppid()} on host"):
        small(checkpoint=folder)
    assert calls == [] and not list(folder.glob("seeds-*"))  # refused before computing


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path, reference):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folder = tmp_path / "c"
    _lock(folder, dead.pid)
    np.testing.assert_array_equal(small(checkpoint=folder).error, reference.error)
    assert not (folder / _checkpoint.LOCK).exists()  # released when the sweep returns


def test_a_lock_from_another_host_is_refused_while_refreshed_then_taken_over(
        tmp_path, reference):
    folder = tmp_path / "c"
    folder.mkdir()
    lock = folder / _checkpoint.LOCK
    lock.write_text(json.dumps({"pid": 1, "host": "another-node", "token": "t",
                                "since": "earlier"}))  # refreshed just now
    with pytest.raises(ValueError, match="held by pid 1 on host another-node .*taken "
                                         "over once not refreshed for 10 minutes"):
        small(checkpoint=folder)
    old = time.time() - _atomic.STALE_SECONDS - 1  # its job died on that node
    os.utime(lock, (old, old))
    np.testing.assert_array_equal(small(checkpoint=folder).error, reference.error)


def test_a_held_lock_is_refreshed(tmp_path, monkeypatch):
    monkeypatch.setattr(_atomic, "HEARTBEAT_SECONDS", 0.01)
    with _atomic.locked(tmp_path / "lock") as lock:
        os.utime(lock, (0, 0))
        deadline = time.time() + 30
        while os.stat(lock).st_mtime == 0 and time.time() < deadline:
            time.sleep(0.01)
        assert os.stat(lock).st_mtime > 0
    assert not lock.exists()
