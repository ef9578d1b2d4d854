"""Sweep checkpoints: finished seeds on disk, so that an interrupted sweep resumes.

A checkpoint is a folder (the CLI uses `<out>.chunks/` next to the result file):

    manifest.json                     the run's identity (see `identity`)
    lock                              while a sweep uses the folder: its pid and host
    seeds-<first>-<last>-<hash>.npz   finished seeds: `seeds` (k,), `error` (k, S, T, D)
                                      and `manifest` (the identity plus these seeds, the
                                      shape, the dtype and a sha256 of the two arrays)

Every file is written atomically (`memjax._atomic`). Finished chunks are gathered and
written as one file at most every `WRITE_EVERY_SECONDS` (and whenever the sweep stops, on
an error or Ctrl-C too), so a long sweep of many small chunks leaves a few files, not one
per seed, and a kill loses at most those seconds. Rows are stored per seed and indexed by
seed when read: seed s's row depends on nothing but the identity and s (it uses
fold_in(key, s)), so a rerun with any chunking, memory budget or device count, or with
more seeds, reuses every finished seed bit for bit. Anything that does not check out (an
unreadable or truncated file, another configuration, a wrong shape or dtype, an error
outside [0, 1], a checksum that does not match) raises a ValueError naming the file;
nothing is ever merged silently. A second sweep on a folder in use is refused (the lock).

Training blocks (`memjax.train_grid`, one file per static configuration under
`<out>.blocks/`) get the same protection: `save_block` stores the block's identity and a
sha256 with its arrays, `load_block` checks them, the shapes, the dtype and the values.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import pathlib
import time
import types

import numpy as np

from memjax import _atomic

FORMAT = 2  # 2: a sha256 of each file's arrays in its manifest
MANIFEST = "manifest.json"
LOCK = "lock"
# Finished seeds wait in memory at most this long before they are written (one file).
WRITE_EVERY_SECONDS = 10.0
_PATTERN = "seeds-*.npz"
_LOG = logging.getLogger("memjax")


def identity(config, **fields) -> dict:
    """What determines a seed's row: every field of the (dataclass) `config`, described
    as JSON, then `fields` (e.g. zipf_exponent, key, dtype), and the software versions."""
    import jax

    from memjax import __version__

    out = {"format": FORMAT, "memjax": __version__, "jax": jax.__version__}
    out.update({f.name: describe(getattr(config, f.name))
                for f in dataclasses.fields(config)})
    out.update({k: describe(v) for k, v in fields.items()})
    return out


def describe(value):
    """A JSON description of a configuration value that is stable across processes."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"type": type(value).__name__,
                **{f.name: describe(getattr(value, f.name))
                   for f in dataclasses.fields(value)}}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else str(float(value))
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (tuple, list)):
        items = [describe(v) for v in value]
        if len(items) > 32:  # e.g. a custom scheme's N fixed weights: a digest is enough
            return {"length": len(items), "sha1": _digest(items)}
        return items
    if isinstance(value, dict):
        return {str(k): describe(v) for k, v in value.items()}
    if callable(value):
        return _describe_callable(value)
    return repr(value)


def _describe_callable(fn) -> dict:
    # A function is known by its name and its code (bytecode and constants); values it
    # captures from an enclosing scope are not seen, hence the docs' advice to relabel.
    name = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
    code = getattr(fn, "__code__", None)
    if code is None:
        return {"function": name}
    return {"function": name, "code": _digest(_code_text(code))}


def _code_text(code: types.CodeType) -> str:
    consts = [_code_text(c) if isinstance(c, types.CodeType) else repr(c)
              for c in code.co_consts]
    return code.co_code.hex() + repr(consts) + repr(code.co_names)


def _digest(value) -> str:
    return hashlib.sha1(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def checksum(*arrays) -> str:
    """sha256 of the arrays' dtypes, shapes and bytes (C order)."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def differences(expected: dict, found: dict) -> list[str]:
    """'key: expected X (this sweep), found Y' for every key where the two differ."""
    keys = list(expected) + [k for k in found if k not in expected]
    return [f"{k}: expected {_short(expected.get(k))} (this sweep), found "
            f"{_short(found.get(k))}" for k in keys if expected.get(k) != found.get(k)]


def in_range(errors, tolerance: float = 1e-4) -> bool:
    """Whether every error is a finite number in [0, 1] (to `tolerance`: a sum of p over
    tokens may round above 1)."""
    errors = np.asarray(errors)
    return bool(np.all(np.isfinite(errors) & (errors >= 0) & (errors <= 1 + tolerance)))


class SeedStore:
    """The finished seeds of one sweep, in a checkpoint folder, locked while open.

    Use it as a context manager, or call `close()`: it writes the seeds not yet on disk
    and releases the lock.

    Args:
      folder: the checkpoint folder (created if needed).
      identity: the run's identity (`identity(...)`); every file must carry the same.
      row_shape: one seed's error shape (S, T, D). dtype: the errors' dtype.
    """

    def __init__(self, folder, identity: dict, row_shape, dtype):
        self.folder = pathlib.Path(folder)
        self.identity = dict(identity, row_shape=list(row_shape),
                             dtype=np.dtype(dtype).name)
        self.row_shape, self.dtype = tuple(row_shape), np.dtype(dtype)
        self.rows: dict[int, np.ndarray] = {}
        self.files = 0
        self._pending: dict[int, np.ndarray] = {}
        if self.folder.exists() and not self.folder.is_dir():
            raise ValueError(f"checkpoint {self.folder} exists and is not a folder; "
                             "pass a folder path.")
        self._token = _atomic.acquire(self.folder / LOCK, f"the checkpoint {self.folder}")
        try:
            self._read()
        except BaseException:
            self.close()
            raise
        self._written_at = time.monotonic()

    def _read(self):
        chunks = sorted(self.folder.glob(_PATTERN))
        manifest = self.folder / MANIFEST
        if manifest.exists() and chunks:  # fail fast, before reading every chunk
            self._check_identity(manifest, self._read_manifest(manifest))
        if not manifest.exists() or not chunks:  # nothing finished: nothing to protect
            _atomic.write_text(manifest, json.dumps(self.identity, indent=2) + "\n")
        owner = {}
        for path in chunks:
            for seed, row in self._read_chunk(path).items():
                if seed in self.rows and not np.array_equal(self.rows[seed], row):
                    raise ValueError(
                        f"checkpoint files {owner[seed]} and {path} disagree on seed "
                        f"{seed}. Either {self._advice()}.")
                self.rows[seed], owner[seed] = row, path
        self.files = len(chunks)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def report(self, seeds) -> list[int]:
        """Logs what a sweep over `seeds` reuses; returns the seeds still to compute."""
        missing = [s for s in seeds if s not in self.rows]
        _LOG.info("checkpoint %s holds %d of the %d seeds (%d chunk file%s): computing %d",
                  self.folder, len(seeds) - len(missing), len(seeds), self.files,
                  "" if self.files == 1 else "s", len(missing))
        return missing

    def save(self, seeds, errors) -> pathlib.Path | None:
        """Records one finished chunk, `errors` (k, S, T, D) of `seeds` (k,); the seeds
        recorded so far are written (one file) once `WRITE_EVERY_SECONDS` have passed
        since the last write. Returns the file written, if any."""
        for seed, row in zip(seeds, np.asarray(errors)):
            self._pending[int(seed)] = self.rows[int(seed)] = row
        if time.monotonic() - self._written_at >= WRITE_EVERY_SECONDS:
            return self.flush()
        return None

    def flush(self) -> pathlib.Path | None:
        """Writes the recorded seeds not yet on disk as one file, atomically."""
        if not self._pending:
            return None
        seeds = list(self._pending)
        errors = np.stack([self._pending[s] for s in seeds])
        seed_array = np.asarray(seeds, np.int64)
        meta = dict(self.identity, seeds=seeds, shape=list(errors.shape),
                    dtype=errors.dtype.name, sha256=checksum(seed_array, errors))
        path = self.folder / f"seeds-{min(seeds)}-{max(seeds)}-{_digest(seeds)[:8]}.npz"
        _atomic.save_npz(path, seeds=seed_array, error=errors,
                         manifest=np.asarray(json.dumps(meta)))
        self._pending.clear()
        self._written_at = time.monotonic()
        self.files += 1
        return path

    def close(self) -> None:
        """Writes what is not yet on disk, then releases the folder's lock."""
        if self._token is None:
            return
        try:
            self.flush()
        finally:
            _atomic.release(self.folder / LOCK, self._token)
            self._token = None

    def _read_manifest(self, path) -> dict:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise ValueError(f"checkpoint manifest {path} is unreadable ({err}). "
                             f"Either {self._advice()}.") from None

    def _read_chunk(self, path) -> dict:
        try:
            with np.load(path, allow_pickle=False) as saved:
                meta = json.loads(str(saved["manifest"]))
                seeds, errors = saved["seeds"], saved["error"]
        except Exception as err:  # zipfile, OS, value and key errors of a damaged file
            raise ValueError(f"checkpoint file {path} is unreadable, corrupt or truncated "
                             f"({type(err).__name__}: {err}). Delete this file to "
                             f"recompute its seeds (or {self._advice()}).") from None
        if not isinstance(meta, dict):
            meta = {"manifest": meta}
        self._check_identity(path, {k: v for k, v in meta.items()
                                    if k not in ("seeds", "shape", "sha256")})
        expected = (len(seeds),) + self.row_shape
        problems = []
        if seeds.ndim != 1 or [int(s) for s in seeds] != meta.get("seeds"):
            problems.append(f"seeds {seeds.tolist()} do not match its manifest's "
                            f"{meta.get('seeds')}")
        elif len(set(seeds.tolist())) != len(seeds):
            problems.append(f"seeds {seeds.tolist()} repeat")
        if errors.shape != expected:
            problems.append(f"error shape: expected {expected}, found {errors.shape}")
        if errors.dtype != self.dtype:
            problems.append(f"error dtype: expected {self.dtype}, found {errors.dtype}")
        elif not in_range(errors):
            problems.append("errors outside [0, 1] (NaN, inf or out of range)")
        if not problems and checksum(seeds, errors) != meta.get("sha256"):
            problems.append("its arrays do not match the checksum in its manifest "
                            "(modified after it was written)")
        if problems:
            raise ValueError(f"checkpoint file {path} is invalid: " + "; ".join(problems)
                             + f". Delete this file to recompute its seeds (or "
                             f"{self._advice()}).")
        return {int(s): row for s, row in zip(seeds, errors)}

    def _check_identity(self, path, found: dict):
        diffs = differences(self.identity, found)
        if diffs:
            raise ValueError(f"checkpoint {path} was written by a different sweep: "
                             + "; ".join(diffs) + f". Either {self._advice()}.")

    def _advice(self) -> str:
        return (f"delete the folder {self.folder} to start over, or pass another "
                "checkpoint path (on the command line, another --out) to keep it")


# --- Training blocks (memjax.train_grid) -------------------------------------------------

def save_block(path, expected: dict, err, fin) -> None:
    """Writes a training block: `error` and `finite` (runs…, E) with `expected` (its
    identity) and their sha256, atomically."""
    meta = dict(expected, sha256=checksum(err, fin))
    _atomic.save_npz(path, error=err, finite=fin, identity=np.asarray(json.dumps(meta)))


def load_block(path, expected: dict):
    """A finished block's (error, finite) arrays, checked against `expected` (its
    identity); a damaged, foreign or impossible file raises a ValueError naming it."""
    path = pathlib.Path(path)
    advice = (f"Delete {path} to recompute that block (or delete the folder "
              f"{path.parent} to start over, or pass another `out`).")
    try:
        with np.load(path, allow_pickle=False) as saved:
            err, fin = saved["error"], saved["finite"]
            found = json.loads(str(saved["identity"]))
    except Exception as exc:  # a truncated or foreign file: zipfile, KeyError, ...
        raise ValueError(f"training block {path} cannot be read ({exc!r}). "
                         + advice) from None
    if not isinstance(found, dict):
        found = {"identity": found}
    diffs = differences(expected, {k: v for k, v in found.items() if k != "sha256"})
    if diffs:
        raise ValueError(f"training block {path} was written by a different run: "
                         + "; ".join(diffs) + ". " + advice)
    shape, problems = tuple(expected["shape"]), []
    if err.shape != shape or fin.shape != shape:
        problems.append(f"arrays of shape {err.shape} / {fin.shape}, expected {shape}")
    elif err.dtype != np.dtype(expected["dtype"]) or fin.dtype != bool:
        problems.append(f"dtypes {err.dtype} / {fin.dtype}, expected "
                        f"{expected['dtype']} / bool")
    elif not (in_range(err[fin]) and np.isnan(err[~fin]).all()):
        problems.append("errors outside [0, 1] (NaN is allowed only where the run "
                        "diverged)")
    elif checksum(err, fin) != found.get("sha256"):
        problems.append("arrays that do not match its checksum (modified after it was "
                        "written)")
    if problems:
        raise ValueError(f"training block {path} is invalid: it holds "
                         + "; ".join(problems) + ". " + advice)
    return err, fin


def remove(folder) -> bool:
    """Deletes a checkpoint folder's own files, then the folder if nothing else is left
    in it; returns whether the folder is gone (a folder in use by a run is kept)."""
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        return not folder.exists()
    try:
        with _atomic.locked(folder / LOCK, f"the checkpoint {folder}"):
            for path in [*folder.glob(_PATTERN), *folder.glob("*.tmp"),
                         *folder.glob("*.stale"), folder / MANIFEST]:
                path.unlink(missing_ok=True)
    except ValueError:  # another run is using it
        return False
    try:
        folder.rmdir()
    except OSError:  # someone else's files: leave them
        return False
    return True


def _short(value, limit: int = 200) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[:limit] + "…"
