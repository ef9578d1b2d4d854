"""One global sweep over two JAX processes equals the one-process sweep, bit for bit.

Two fresh processes (2 fake CPU devices each) join JAX's multi-host runtime over loopback
(`jax.distributed.initialize`, CPU collectives through gloo) and run `memjax.sweep` on the
global 4-device mesh, as the processes of a multi-host accelerator slice would. Every
step has a timeout, so a hung collective fails the test instead of hanging CI."""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import time

import jax
import numpy as np

import memjax

TIMEOUT_S = 120  # the whole two-process run takes ~10 s on a 2-core machine
GRID = dict(num_inputs=60, num_outputs=4, zipf_exponent=1.5, dims=(4, 9, 16),
            num_samples=(0, 5, 40, math.inf), num_seeds=7, seed_chunk=4,
            schemes=("population:power=1", "threshold:top=d/4", "empirical:power=0"))

WORKER = r"""
import sys
from math import inf
import jax
import numpy as np
import memjax  # importing memjax starts no backend: initialize may still follow

process_id, port, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
jax.config.update("jax_num_cpu_devices", 2)
jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=2,
                           process_id=process_id, initialization_timeout=60,
                           heartbeat_timeout_seconds=30, shutdown_timeout_seconds=30)

assert jax.process_count() == 2 and len(jax.devices()) == 4, jax.devices()
assert len(jax.local_devices()) == 2, jax.local_devices()
grid = GRID
whole = memjax.sweep(jax.random.key(3), devices=jax.devices(), **grid)
assert whole.config["num_devices"] == 4, whole.config
local = memjax.sweep(jax.random.key(3), **grid)  # default: this process's devices only
assert local.config["num_devices"] == 2, local.config
np.save(out, np.stack([whole.error, local.error]))
jax.distributed.shutdown()
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_process_global_sweep_equals_one_process(tmp_path):
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)  # the device count comes from jax_num_cpu_devices
    script = WORKER.replace("grid = GRID", f"grid = {GRID!r}")
    port = _free_port()
    outs = [tmp_path / f"process-{i}.npy" for i in range(2)]
    procs = [subprocess.Popen([sys.executable, "-c", script, str(i), str(port), str(out)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for i, out in enumerate(outs)]
    logs, deadline = [], time.monotonic() + TIMEOUT_S
    try:
        for proc in procs:
            logs.append(proc.communicate(timeout=max(1.0, deadline - time.monotonic()))[0])
    finally:
        for proc in procs:  # a process stuck in a collective is killed, not waited on
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    for i, (proc, log) in enumerate(zip(procs, logs)):
        assert proc.returncode == 0, f"process {i}:\n{log[-3000:]}"

    one = memjax.sweep(jax.random.key(3), devices=jax.devices()[:1], **GRID)
    for out in outs:
        whole, local = np.load(out)
        np.testing.assert_array_equal(whole, one.error)
        np.testing.assert_array_equal(local, one.error)
