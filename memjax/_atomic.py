"""Atomic file writes: a file is either absent or whole, never half-written.

Each writer fills a temporary file in the destination's folder, flushes it to disk, then
renames it over the destination (`os.replace`, atomic on POSIX and Windows), so an
interrupted run leaves at worst a stray `*.tmp` file that no reader looks at. Nested
`replacing` blocks write several files that are renamed only once all are complete.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import secrets

import numpy as np


@contextlib.contextmanager
def replacing(path):
    """Yields a binary file to write; on success it becomes `path` in one rename."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A plain open (not mkstemp) keeps the permissions the umask gives any new file.
    temp = path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        with open(temp, "xb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    finally:
        if temp.exists():
            temp.unlink()


def save_npz(path, **arrays) -> pathlib.Path:
    """`np.savez(path, **arrays)`, atomically (`path` is used as given, no suffix added)."""
    with replacing(path) as f:
        np.savez(f, **arrays)
    return pathlib.Path(path)


def write_text(path, text: str) -> pathlib.Path:
    """`path.write_text(text)` (UTF-8), atomically."""
    with replacing(path) as f:
        f.write(text.encode("utf-8"))
    return pathlib.Path(path)
