"""Shared test helpers: dtype-keyed tolerances, in the manner of jax-md's test_util.

The suite runs twice in CI: with JAX's default float32 and with JAX_ENABLE_X64=1. Results
computed in float32 are compared with a float32 tolerance, float64 ones with a float64
tolerance, so one test body serves both runs.
"""

from __future__ import annotations

import os
import tempfile

# Command-line subprocesses cache compiled programs (memjax.cli.enable_compilation_cache):
# in one folder per user under the temporary directory, never in the user's home.
os.environ.setdefault("MEMJAX_CACHE_DIR",
                      os.path.join(tempfile.gettempdir(), f"memjax-test-cache-{os.getuid()}"))

import subprocess
import sys

# XLA's loop emitters for every CPU program the suite compiles, eager operations and
# plain `jax.jit` included, as memjax's own programs already use (memjax._xla): eager
# programs compile ~40 % faster (60 shapes × 6 operations: 14.0 → 7.5 s), though a
# same-hour A/B of a whole float32 pass showed no gain beyond noise (320 vs 319 s), and
# `memjax reproduce --quick` writes byte-identical files either way (benchmarks/README.md,
# eighth session). Emitters change float rounding only
# (tests/test_xla_options.py compares them explicitly). Set before JAX's backend starts,
# and only where this XLA knows the flag (an unknown XLA_FLAGS flag aborts the process):
# probed once in a child process, the answer inherited by xdist's workers.
LOOP_EMITTERS_FLAG = "--xla_cpu_use_fusion_emitters=false"
if "MEMJAX_TEST_LOOP_EMITTERS" not in os.environ:
    _flags = f"{os.environ.get('XLA_FLAGS', '')} {LOOP_EMITTERS_FLAG}".strip()
    _probe = subprocess.run([sys.executable, "-c", "import jax.numpy as j; j.zeros(1)"],
                            env={**os.environ, "XLA_FLAGS": _flags, "JAX_PLATFORMS": "cpu"},
                            capture_output=True)
    os.environ["MEMJAX_TEST_LOOP_EMITTERS"] = str(int(_probe.returncode == 0))
    if _probe.returncode == 0 and "xla_cpu_use_fusion_emitters" not in os.environ.get(
            "XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = _flags

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax._src import xla_bridge

assert not xla_bridge.backends_are_initialized(), "XLA_FLAGS must be set before JAX starts"

# Relative tolerance for a short chain of float ops (a few hundred roundings of eps/2).
_DEFAULT_TOLERANCE = {
        np.dtype(np.float16): 1e-2,
        np.dtype(np.float32): 1e-5,
        np.dtype(np.float64): 1e-12,
}


def tolerance(dtype=None, tol=None) -> float:
    """The tolerance for results computed in `dtype` (default: JAX's default float).

    `tol` overrides it: a number, or a dict dtype -> number (missing dtypes use the default).
    """
    dtype = np.dtype(jnp.result_type(float) if dtype is None else dtype)
    if isinstance(tol, dict):
        return {np.dtype(k): v for k, v in tol.items()}.get(dtype, _DEFAULT_TOLERANCE[dtype])
    if tol is not None:
        return tol
    return _DEFAULT_TOLERANCE[dtype]


def assert_close(actual, desired, *, rtol=None, atol=None):
    """np.testing.assert_allclose with tolerances keyed by the dtype of `actual`."""
    dtype = np.asarray(actual).dtype
    if dtype.kind != "f":
        dtype = np.dtype(jnp.result_type(float))
    rtol = tolerance(dtype, rtol)
    atol = tolerance(dtype, atol) if atol is not None else 0.0
    np.testing.assert_allclose(np.asarray(actual), np.asarray(desired), rtol=rtol, atol=atol)


@pytest.fixture(name="tol")
def tol_fixture():
    """tolerance(dtype=None, tol=None): the tolerance for results in `dtype`."""
    return tolerance


@pytest.fixture(name="assert_close")
def assert_close_fixture():
    """assert_close(actual, desired, rtol=None, atol=None) with dtype-keyed defaults."""
    return assert_close


@pytest.fixture(name="float_dtype")
def float_dtype_fixture():
    """JAX's default float dtype in this run (float32, or float64 with JAX_ENABLE_X64=1)."""
    return np.dtype(jnp.result_type(float))


def pytest_report_header(config):
    return (f"jax {jax.__version__}, default float "
            f"{np.dtype(jnp.result_type(float)).name} (JAX_ENABLE_X64="
            f"{int(jax.config.jax_enable_x64)})")


@pytest.fixture(name="calls")
def calls_fixture(monkeypatch):
    """tiny_sweep.Calls: the seeds of every chunk computed; set `calls.stop_after` to
    interrupt the sweep."""
    import tiny_sweep

    return tiny_sweep.spy_on_chunks(monkeypatch)


@pytest.fixture(scope="module")
def reference():
    """tiny_sweep.small() without interruption, once per test module."""
    import tiny_sweep

    return tiny_sweep.small()
