"""Fault injection with real processes: a sweep or a training grid killed (SIGKILL) in
the middle resumes bit for bit; a second writer on the same output is refused while the
first lives, and its lock is taken over once it is dead; corrupted and foreign files are
reported, never merged; a read-only output folder gives a clear error before any compute
(memjax/_atomic.py, memjax/_checkpoint.py, memjax/train_grid.py).

Each child process inherits the environment (so JAX_ENABLE_X64 too) and pauses at a
known point (after its 2nd chunk file, or its 1st training block, is on disk) until the
test kills it: the kill is deterministic, not a race against a timer.
"""

import json
import math
import os
import signal
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

import memjax
from memjax import schemes, train_grid

KEY = jax.random.key(3)
# The same grids in this process and in the children (evaluated in both).
SWEEP = ("dict(num_inputs=40, num_outputs=3, zipf_exponent=1.5, dims=(4, 8), "
         "num_samples=(0, 6, math.inf), schemes=(schemes.population(1.0), "
         "schemes.empirical(0.0, top=3)), num_seeds=5, seed_chunk=2)")
TRAIN = ("dict(num_inputs=20, num_outputs=5, zipf_exponent=2.0, dims=(8,), "
         "batch_sizes=(4, 8), num_samples=(8, 16), learning_rates=(0.5, 5.0), "
         "optimizers=('adam',), num_seeds=2)")
PRELUDE = f"""
import math, sys, time
import jax, memjax
from memjax import _checkpoint, schemes, train_grid
SWEEP, TRAIN = {SWEEP}, {TRAIN}
"""


def _sweep_kw():
    return eval(SWEEP, {"math": math, "schemes": schemes})


def _child(script, *args, **popen):
    """A Python child running PRELUDE + `script`, its stdout piped."""
    return subprocess.Popen([sys.executable, "-c", PRELUDE + textwrap.dedent(script),
                             *map(str, args)], stdout=subprocess.PIPE, text=True,
                            env=popen.pop("env", os.environ), **popen)


def _wait_for(child, word, timeout=300):
    """Reads the child's stdout until a line equal to `word`."""
    for line in child.stdout:
        if line.strip() == word:
            return
    child.wait(timeout)
    pytest.fail(f"child exited with {child.returncode} before printing {word!r}")


def _kill(child):
    child.send_signal(signal.SIGKILL)
    assert child.wait(60) == -signal.SIGKILL


PAUSED_SWEEP = """
_checkpoint.WRITE_EVERY_SECONDS = 0.0  # a file per chunk
original, saves = _checkpoint.SeedStore.save, []
def save(self, seeds, errors):
    path = original(self, seeds, errors)
    saves.append(path)
    if len(saves) == 2:  # 4 of the 5 seeds on disk: wait here to be killed
        print("paused", flush=True)
        time.sleep(600)
    return path
_checkpoint.SeedStore.save = save
memjax.sweep(jax.random.key(3), checkpoint=sys.argv[1], **SWEEP)
"""


def test_sigkill_mid_sweep_then_resume_is_bit_identical(tmp_path, caplog):
    folder = tmp_path / "grid.chunks"
    child = _child(PAUSED_SWEEP, folder)
    try:
        _wait_for(child, "paused")
        # A second writer while the first lives: refused, naming the lock and the pid.
        with pytest.raises(ValueError, match=f"the lock {folder / 'lock'} is held by pid "
                                             f"{child.pid} on host"):
            memjax.sweep(KEY, checkpoint=folder, **_sweep_kw())
    finally:
        _kill(child)
    assert json.loads((folder / "lock").read_text())["pid"] == child.pid  # left behind
    caplog.set_level("INFO", logger="memjax")
    resumed = memjax.sweep(KEY, checkpoint=folder, **_sweep_kw())  # stale lock taken
    assert "holds 4 of the 5 seeds (2 chunk files): computing 1" in caplog.text
    np.testing.assert_array_equal(resumed.error, memjax.sweep(KEY, **_sweep_kw()).error)
    assert not (folder / "lock").exists() and not list(folder.glob("*.tmp"))


PAUSED_TRAIN = """
original = _checkpoint.save_block
def save(*args):
    original(*args)
    print("paused", flush=True)  # one block on disk: wait here to be killed
    time.sleep(600)
_checkpoint.save_block = save
train_grid.train_sweep(jax.random.key(0), out=sys.argv[1], **TRAIN)
"""


def test_sigkill_mid_train_sweep_then_resume_is_bit_identical(tmp_path, monkeypatch):
    out = tmp_path / "train"
    child = _child(PAUSED_TRAIN, out)
    kw = eval(TRAIN)
    try:
        _wait_for(child, "paused")
        with pytest.raises(ValueError, match=f"the training output {out}.npz is in use by "
                                             f"another run: .* held by pid {child.pid}"):
            train_grid.train_sweep(jax.random.key(0), out=out, **kw)
    finally:
        _kill(child)
    blocks = tmp_path / "train.blocks"
    assert len(list(blocks.glob("block-*.npz"))) == 1 and not (tmp_path / "train.npz").exists()
    runs, original = [], train_grid._run_block
    monkeypatch.setattr(train_grid, "_run_block",
                        lambda *a, **k: (runs.append(a[1].index), original(*a, **k))[1])
    resumed = train_grid.train_sweep(jax.random.key(0), out=out, **kw)
    assert len(runs) == 1  # the finished block was read, not recomputed
    fresh = train_grid.train_sweep(jax.random.key(0), **kw)
    np.testing.assert_array_equal(resumed.error, fresh.error)
    np.testing.assert_array_equal(train_grid.load(out).error, fresh.error)
    assert not (blocks / "lock").exists()


def test_corrupted_and_foreign_checkpoint_files_are_reported(tmp_path):
    kw = dict(_sweep_kw(), num_seeds=2)
    folder = tmp_path / "c"
    memjax.sweep(KEY, checkpoint=folder, **kw)
    stray = folder / "seeds-7-7-00000000.npz"
    for content, what in [(b"", "empty"), (os.urandom(300), "random bytes"),
                          (None, "an npz of another program")]:
        if content is None:
            np.savez(stray, x=np.zeros(3))
            stray = stray.with_suffix(".npz")
        else:
            stray.write_bytes(content)
        with pytest.raises(ValueError, match=f"checkpoint file {stray} is unreadable, "
                                             "corrupt or truncated.*Delete this file"):
            memjax.sweep(KEY, checkpoint=folder, **kw)
    stray.unlink()
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="manifest .* is unreadable.*delete the folder"):
        memjax.sweep(KEY, checkpoint=folder, **kw)
    (folder / "manifest.json").unlink()
    (folder / "lock").write_bytes(os.urandom(20))  # not a lock memjax wrote
    with pytest.raises(ValueError, match=f"the lock file {folder / 'lock'} .* is "
                                         "unreadable; if no other run .*delete it"):
        memjax.sweep(KEY, checkpoint=folder, **kw)


def test_corrupted_and_foreign_training_blocks_are_reported(tmp_path):
    kw = dict(eval(TRAIN), batch_sizes=(8,), num_seeds=1)
    train_grid.train_sweep(jax.random.key(0), out=tmp_path / "t", **kw)
    (block,) = (tmp_path / "t.blocks").glob("block-*.npz")
    for write in (lambda: block.write_bytes(os.urandom(500)),
                  lambda: np.savez(block, error=np.zeros((1, 2, 2)),
                                   finite=np.ones((1, 2, 2), bool))):  # no identity
        write()
        with pytest.raises(ValueError, match=f"training block {block} cannot be read.*"
                                             f"Delete {block} to recompute"):
            train_grid.train_sweep(jax.random.key(0), out=tmp_path / "t", **kw)


READ_ONLY = """
import ctypes, os, tempfile, pathlib
if os.geteuid() == 0:  # root writes anywhere: drop the capabilities that let it
    libc = ctypes.CDLL(None, use_errno=True)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # capability ABI v3, this process
    caps = (ctypes.c_uint32 * 6)()  # (effective, permitted, inheritable) × 2 words
    assert libc.capget(header, caps) == 0
    keep = ~(1 << 1 | 1 << 2 | 1 << 3) & 0xFFFFFFFF  # DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER
    caps[0] &= keep
    caps[1] &= keep
    assert libc.capset(header, caps) == 0, ctypes.get_errno()
root = pathlib.Path(tempfile.mkdtemp())
os.chmod(root, 0o555)
try:
    for call in (lambda: memjax.sweep(jax.random.key(3), checkpoint=root / "c", **SWEEP),
                 lambda: train_grid.train_sweep(jax.random.key(0), out=root / "t",
                                                **TRAIN)):
        try:
            call()
        except ValueError as err:
            print(err, flush=True)
finally:
    os.chmod(root, 0o755)
    os.rmdir(root)
print("done", flush=True)
"""


def test_a_read_only_output_folder_is_a_clear_error_before_any_compute():
    child = _child(READ_ONLY)
    out, _ = child.communicate(timeout=300)
    lines = out.strip().splitlines()
    assert child.returncode == 0 and lines[-1] == "done" and len(lines) == 3, out
    assert lines[0].startswith("cannot write the checkpoint ") and "/c: Permission" in \
        lines[0] and "Pass a path in a folder you can write to." in lines[0]
    assert lines[1].startswith("cannot write the training output ") and \
        "Permission denied" in lines[1]
