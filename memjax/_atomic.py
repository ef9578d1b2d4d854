"""Atomic file writes: a file is either absent or whole, never half-written.

Each writer fills a temporary file in the destination's folder, flushes it to disk, then
renames it over the destination (`os.replace`, atomic on POSIX and Windows), so an
interrupted run leaves at worst a stray `*.tmp` file that no reader looks at. Nested
`replacing` blocks write several files that are renamed only once all are complete.

`locked(path)` keeps two runs from writing the same outputs: a lock file naming its
owner (pid, host), created in one atomic step and refreshed (its mtime) every
`HEARTBEAT_SECONDS` while held. A live owner's lock is refused with a ValueError naming
the lock and the pid; a stale one is taken over: at once if its pid is gone from this
host, after `STALE_SECONDS` without a refresh if it comes from another host (a cluster
job rerun on another node after its first node died).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import pathlib
import secrets
import socket
import threading
import time

import numpy as np

HEARTBEAT_SECONDS = 60.0
# A lock from another host not refreshed for this long is stale (10 heartbeats missed).
STALE_SECONDS = 600.0
_HELD: dict[str, threading.Event] = {}  # the locks this process holds: token -> stop


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


@contextlib.contextmanager
def locked(path, what: str = "this output"):
    """Holds the lock file `path` while inside (for `what`, named in the messages).

    Raises:
      ValueError: another live process holds it (naming the lock, its pid and host), or
        its folder cannot be written (naming the folder).
    """
    path = pathlib.Path(path)
    token = acquire(path, what)
    try:
        yield path
    finally:
        release(path, token)


def acquire(path, what: str = "this output") -> str:
    """Takes the lock file `path` (see `locked`); returns the token that `release` needs."""
    path = pathlib.Path(path)
    token = secrets.token_hex(8)
    owner = {"pid": os.getpid(), "host": socket.gethostname(), "token": token,
             "since": datetime.datetime.now(datetime.timezone.utc).isoformat(
                 timespec="seconds")}
    temp = path.with_name(f"{path.name}.{os.getpid()}-{token}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp.write_text(json.dumps(owner) + "\n")
    except OSError as err:
        raise ValueError(f"cannot write {what}: {err.strerror or err} ({err.filename}). "
                         "Pass a path in a folder you can write to.") from None
    try:
        for _ in range(3):  # a stale lock is taken over, then the link is retried
            try:
                _create(temp, path)
                _HELD[token] = stop = threading.Event()
                threading.Thread(target=_beat, args=(path, token, stop), daemon=True,
                                 name=f"memjax lock {path}").start()
                return token
            except FileExistsError:
                holder = _owner(path)
                if holder is not None and _alive(path, holder):
                    raise ValueError(_refusal(path, holder, what)) from None
                _take_over(path, holder, what)
        raise ValueError(f"could not take the lock {path} for {what}: other processes "
                         "keep replacing it; rerun once they are done.")
    finally:
        temp.unlink(missing_ok=True)


def _create(temp, path) -> None:
    """Creates `path` with `temp`'s content in one step; FileExistsError if it exists."""
    try:
        os.link(temp, path)
    except FileExistsError:
        raise
    except OSError:  # a filesystem without hard links: exclusive create, then write
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(pathlib.Path(temp).read_bytes())


def release(path, token: str) -> None:
    """Deletes the lock file `path` if it is still the one `acquire` returned `token` for."""
    path = pathlib.Path(path)
    stop = _HELD.pop(token, None)
    if stop is not None:
        stop.set()
    holder = _owner(path)
    if holder is not None and holder.get("token") == token:
        path.unlink(missing_ok=True)


def _beat(path, token, stop) -> None:
    """Refreshes the lock's mtime while it is held (so other hosts see it is alive)."""
    while not stop.wait(HEARTBEAT_SECONDS):
        holder = _owner(path)
        if holder is None or holder.get("token") != token:
            return
        with contextlib.suppress(OSError):
            os.utime(path)


def _owner(path) -> dict | None:
    """The lock's owner, or None if the lock is gone or unreadable."""
    try:
        holder = json.loads(pathlib.Path(path).read_text())
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


def _alive(path, holder: dict) -> bool:
    """Whether the lock's owner may still be running: its pid, on this host; its last
    refresh, from another host."""
    pid = holder.get("pid")
    if holder.get("host") != socket.gethostname():
        try:
            return time.time() - os.stat(path).st_mtime < STALE_SECONDS
        except OSError:  # gone: not alive
            return False
    if not isinstance(pid, int):
        return True
    if pid == os.getpid():  # this process: held only while a `locked` block is open
        return holder.get("token") in _HELD
    if os.name == "nt":  # os.kill(pid, 0) is not a probe there: never guess it stale
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _take_over(path, holder, what) -> None:
    """Removes a stale lock: renamed away first, so that only one process removes it."""
    if holder is None and path.exists():  # unreadable: not a lock this module wrote
        raise ValueError(f"the lock file {path} for {what} is unreadable; if no other run "
                         "is using these files, delete it and rerun.")
    stale = path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}.stale")
    try:
        os.replace(path, stale)
    except FileNotFoundError:  # another process removed it first
        return
    taken = _owner(stale)
    if taken is not None and holder is not None and taken.get("token") != holder.get(
            "token"):  # a fresh lock was taken in between: put it back
        with contextlib.suppress(OSError):
            os.link(stale, path)
    stale.unlink(missing_ok=True)


def _refusal(path, holder: dict, what: str) -> str:
    where = f"pid {holder.get('pid')} on host {holder.get('host')}"
    later = ""
    if holder.get("host") != socket.gethostname():
        later = (f" (it is taken over once not refreshed for {STALE_SECONDS / 60:.0f} "
                 "minutes)")
    return (f"{what} is in use by another run: the lock {path} is held by {where} "
            f"(since {holder.get('since')}). Wait for it to finish, or use another path; "
            f"if that process is no longer running, delete {path}{later}.")
