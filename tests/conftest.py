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

import jax
import jax.numpy as jnp
import numpy as np
import pytest

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
