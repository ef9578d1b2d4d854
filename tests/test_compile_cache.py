"""The command line's persistent compilation cache: on x86 CPUs it caps XLA's ISA at AVX2
so that cached programs load (jax-ml/jax#38445), a second run compiles from the cache, and
the numbers are those of the Python API."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import jax
import numpy as np
import pytest

import memjax
from memjax import cli, schemes

X86 = platform.machine().lower() in ("x86_64", "amd64")


def _prepare(env):
    """prepare_cpu_cache() in a fresh process: (its answer, the XLA_FLAGS it leaves)."""
    code = ("import os; from memjax import cli; ok = cli.prepare_cpu_cache(); "
            "print(ok, repr(os.environ.get('XLA_FLAGS', '')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120, check=True)
    answer, flags = done.stdout.split(" ", 1)
    return answer == "True", eval(flags)


def test_the_isa_cap_is_added_once_and_only_where_it_can_act(tmp_path):
    base = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    base["MEMJAX_CACHE_DIR"] = str(tmp_path)
    ok, flags = _prepare(base)
    assert (ok, flags) == ((True, cli.CPU_CACHE_FLAG) if X86 else (False, ""))
    # The user's own flags are kept; their own ISA cap is respected, not doubled.
    ok, flags = _prepare({**base, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    assert flags.startswith("--xla_force_host_platform_device_count=2")
    assert flags.count("--xla_cpu_max_isa") == (1 if X86 else 0)
    ok, flags = _prepare({**base, "XLA_FLAGS": "--xla_cpu_max_isa=SSE4_2"})
    assert ok and flags == "--xla_cpu_max_isa=SSE4_2"
    # MEMJAX_CACHE_DIR="" turns the cache off: nothing is added.
    assert _prepare({**base, "MEMJAX_CACHE_DIR": ""}) == (False, "")


def test_too_late_once_the_backend_has_started(monkeypatch):
    jax.devices()  # this test process's backend is up: a cap now would not act
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    assert cli.prepare_cpu_cache() is False
    assert "XLA_FLAGS" not in os.environ


@pytest.mark.skipif(not X86, reason="the ISA cap is an x86 flag")
def test_a_second_command_loads_its_programs_from_the_cache(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update(MEMJAX_CACHE_DIR=str(tmp_path / "cache"),
               JAX_LOG_COMPILES="1")  # logs each cache hit
    args = ["sweep", "--num-inputs", "200", "--dims", "8,16,32", "--num-samples", "100,inf",
            "--num-seeds", "3", "--scheme", "empirical:power=0", "--no-progress"]
    logs = []
    for run in ("first", "second"):
        done = subprocess.run([sys.executable, "-m", "memjax", *args, "--out",
                               str(tmp_path / run)], capture_output=True, text=True,
                              env=env, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        logs.append(done.stderr)
    assert list((tmp_path / "cache").iterdir())  # the first run wrote its programs
    assert "Persistent compilation cache hit" in logs[1]
    assert "is not supported on the host machine" not in logs[1]  # none was rejected
    first, second = memjax.load(tmp_path / "first"), memjax.load(tmp_path / "second")
    np.testing.assert_array_equal(first.error, second.error)  # the same executable
    # The capped ISA computes the numbers the API computes here (on this kind of machine
    # they were bit-identical; float tolerance allows another vector width's roundings).
    api = memjax.sweep(jax.random.key(0), num_inputs=200, num_outputs=5, zipf_exponent=2.0,
                       dims=[8, 16, 32], num_samples=[100, np.inf],
                       schemes=[schemes.empirical(0.0)], num_seeds=3)
    np.testing.assert_allclose(first.error, api.error, rtol=0, atol=1e-6)
