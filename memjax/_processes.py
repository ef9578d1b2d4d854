"""Work in fresh CPU worker processes, each pinned to its own share of the CPUs.

Used by `memjax.train_sweep(workers=N)`. On a small CPU, one process whose short kernels
are split over every core leaves part of each idle; N processes, each on its own cores
and each running its own task, keep them busy (benchmarks/README.md, fifth session).
Workers are started with `spawn` (JAX's threads do not survive `fork`), so they import
the calling script again: a script must start them under `if __name__ == "__main__":`.
A worker gets the parent's x64 setting and persistent compilation cache; its numbers are
the parent's as long as the work does not depend on the number of threads (XLA sizes its
thread pool by the CPUs a process may use).
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import multiprocessing
import os
import sys

import jax
import numpy as np


def cpu_shares(workers: int) -> list:
    """Disjoint CPU sets, one per worker, from this process's (None each where CPUs
    cannot be pinned: not Linux, or fewer CPUs than workers)."""
    if not hasattr(os, "sched_getaffinity"):
        return [None] * workers
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < workers:
        return [None] * workers
    return [set(share.tolist()) for share in np.array_split(np.asarray(cpus), workers)]


def init(cpus, x64: bool, cache_dir) -> None:
    """A worker process's set-up, before it computes: its CPUs (XLA's threads, started
    later, inherit them), x64 and the persistent cache as in the parent."""
    if cpus is not None:
        os.sched_setaffinity(0, cpus)
    # Registered after JAX's own exit handlers, so it runs first: a worker exits as soon
    # as its pool shuts it down, skipping the teardown of JAX's backends and caches
    # (~1.2 s per worker after `memjax reproduce --quick`'s targets, nothing it needs:
    # its results were sent already; benchmarks/README.md, twelfth session).
    atexit.register(_exit_now)
    jax.config.update("jax_enable_x64", x64)
    if cache_dir:
        from memjax import cli

        cli.use_cache(cache_dir)


def _exit_now() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def run(fn, tasks, finished, workers: int, *, pin: bool = True, started=None) -> None:
    """Calls `fn(*args)` for each `(id, args)` of `tasks` in up to `workers` fresh
    processes, in the order given, and `finished(id, result)` here as each comes back.

    `pin`: each process on its own share of the CPUs (else every process may use every
    CPU); `started(id)`, if given, is called here as each task is handed to a process.
    `fn` and the arguments must be picklable (module-level functions, host arrays,
    typed keys). A failure (or Ctrl-C) cancels the tasks not started and is raised once
    the running ones stop; the tasks finished by then have been handed to `finished`.
    """
    context = multiprocessing.get_context("spawn")
    setup = (bool(jax.config.jax_enable_x64), jax.config.jax_compilation_cache_dir)
    count = min(workers, len(tasks))
    pools = [cf.ProcessPoolExecutor(1, mp_context=context, initializer=init,
                                    initargs=(cpus, *setup))
             for cpus in (cpu_shares(count) if pin else [None] * count)]
    queue, running = list(tasks), {}  # running: future -> (pool, task id)
    try:
        while queue or running:
            busy = [pool for pool, _ in running.values()]
            for pool in pools:
                if queue and pool not in busy:
                    i, args = queue.pop(0)
                    running[pool.submit(fn, *args)] = (pool, i)
                    if started is not None:
                        started(i)
            done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for future in done:
                _, i = running.pop(future)
                finished(i, future.result())
    except cf.process.BrokenProcessPool as error:
        raise RuntimeError(
            "a worker process stopped before returning its result (killed, out of "
            "memory, or it could not start: a script that starts worker processes, e.g. "
            "train_sweep with workers > 1, must do so under `if __name__ == "
            "'__main__':`, since each worker imports the script again); the results "
            "finished before were kept") from error
    finally:  # all told to stop first, so that they stop side by side
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)
        for pool in pools:
            pool.shutdown(wait=True)
