"""Sweeps and training grids sharded over several devices give bit-identical results to
one device.

JAX fixes its device count at start-up, so the check runs in a fresh process with 8 fake
CPU devices (XLA_FLAGS=--xla_force_host_platform_device_count=8)."""

import os
import subprocess
import sys

SCRIPT = r"""
import math, jax, numpy as np, memjax
from memjax import schemes
assert len(jax.devices()) == 8, jax.devices()
kw = dict(num_inputs=60, num_outputs=4, zipf_exponent=1.5, dims=(4, 9, 16),
          num_samples=(0, 5, 40, math.inf), num_seeds=13,
          schemes=(schemes.population(1.0), schemes.threshold("d/4"), schemes.empirical(0.0)))
eight = memjax.sweep(jax.random.key(3), **kw)
one = memjax.sweep(jax.random.key(3), devices=jax.devices()[:1], **kw)
three = memjax.sweep(jax.random.key(3), devices=jax.devices()[:3], seed_chunk=5, **kw)
assert eight.config["num_devices"] == 8 and one.config["num_devices"] == 1
np.testing.assert_array_equal(eight.error, one.error)
np.testing.assert_array_equal(three.error, one.error)
print("ok")
"""

TRAIN_SCRIPT = r"""
import jax, numpy as np, memjax
assert len(jax.devices()) == 8, jax.devices()
# 5 seeds × 3 step sizes = 15 (seed, γ) runs: on 8 devices with memory_budget=1, two
# chunks of 8 runs (one padded); on one device, one chunk of 15.
grid = dict(num_inputs=20, num_outputs=5, zipf_exponent=2.0, dims=(8,), batch_sizes=(4,),
            num_samples=(8, 16), learning_rates=(0.5, 5.0, 50.0), num_seeds=5,
            optimizers=("sgd", "adam"))  # token-space and direct training
eight = memjax.train_sweep(jax.random.key(3), memory_budget=1, **grid)
one = memjax.train_sweep(jax.random.key(3), devices=jax.devices()[:1], **grid)
assert eight.config["num_devices"] == 8 and one.config["num_devices"] == 1
np.testing.assert_array_equal(eight.error, one.error)
print("ok")
"""


def _run_on_eight_devices(script):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
           "JAX_PLATFORMS": "cpu"}
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip().endswith("ok")


def test_sharded_sweep_equals_single_device():
    _run_on_eight_devices(SCRIPT)


def test_sharded_training_grid_equals_single_device():
    _run_on_eight_devices(TRAIN_SCRIPT)
