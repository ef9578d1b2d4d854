"""memjax._xla: the loop-emitter compile option, where memjax uses it, and that it does not
change the numbers beyond float rounding."""

import functools

import jax
import numpy as np
import pytest

import memjax
from memjax import _xla, grid, schemes, train
from memjax.train import Optimizer, TrainConfig


def test_options_are_for_cpu_only_and_probed_safely(monkeypatch):
    assert _xla.compile_options("gpu") is None and _xla.compile_options("tpu") is None
    assert _xla.compile_options("cpu") in (None, _xla.LOOP_EMITTERS)
    # An XLA without the option refuses it at compile time: the probe then gives {}.
    _xla.loop_emitters.cache_clear()

    def refuse(*args, **kwargs):
        raise RuntimeError("INVALID_ARGUMENT: No such compile option")

    monkeypatch.setattr(jax, "jit", refuse)
    try:
        assert _xla.loop_emitters() == {}
    finally:
        monkeypatch.undo()
        _xla.loop_emitters.cache_clear()
    assert _xla.loop_emitters() in ({}, _xla.LOOP_EMITTERS)


def test_small_depends_on_the_configuration_only():
    small = TrainConfig(100, 5, 50, 64, (160,))
    large = TrainConfig(100, 5, 1000, 16, (640,), optimizer=Optimizer("adam"))
    assert train._small(small) and not train._small(large)
    assert small.flops_per_step() * 160 <= train.SMALL_RUN_FLOPS


def _without_options(monkeypatch):
    """XLA's default emitters (fusion) from here to the test's end, in fresh program
    caches; the original caches come back afterwards with their programs (later tests
    reuse them). Asked for explicitly: the suite's XLA_FLAGS turn them off (conftest)."""
    fusion = {"xla_cpu_use_fusion_emitters": True} if _xla.loop_emitters() else None
    monkeypatch.setattr(_xla, "compile_options", lambda platform: fusion)
    for module, name in ((train, "_train_program"), (train, "_draw_programs"),
                         (grid, "_program")):
        monkeypatch.setattr(module, name,
                            functools.cache(getattr(module, name).__wrapped__))


def test_loop_emitters_change_numbers_by_rounding_only(monkeypatch):
    # The two emitters order float operations differently: errors that are sums of ~10²
    # terms of size ≤ 1 agree to a few float ulps (1e-5 covers float32's 1.2e-7 × 10²).
    key = jax.random.key(3)
    config = TrainConfig(60, 5, 20, 16, (0, 40, 80), optimizer=Optimizer("adam"))
    kwargs = dict(num_inputs=300, num_outputs=5, zipf_exponent=1.5, dims=[8, 32], num_samples=[100, 1000],
                  schemes=[schemes.population(1.0), schemes.empirical(0.0, top="d/8")],
                  num_seeds=3)
    trained = train.train_runs(key, config, [0.1, 1.0], zipf_exponent=2.0, num_seeds=3)
    swept = memjax.sweep(key, **kwargs)
    _without_options(monkeypatch)
    trained_default = train.train_runs(key, config, [0.1, 1.0], zipf_exponent=2.0,
                                       num_seeds=3)
    swept_default = memjax.sweep(key, **kwargs)
    np.testing.assert_allclose(trained.error, trained_default.error, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(swept.error, swept_default.error, rtol=1e-5, atol=1e-6)
