"""The tiny checkpointed sweep that tests/test_resume.py and tests/test_readme_promises.py
interrupt and resume: its arguments, a runner, and a spy on the chunks it computes (the
fixtures `calls` and `reference` in conftest.py use them)."""

import math

import jax
import numpy as np
import pytest

import memjax
from memjax import grid, schemes

KEY = jax.random.key(3)
# 5 seeds in chunks of 2: three chunks, the last one short.
SMALL = dict(num_inputs=40, num_outputs=3, zipf_exponent=1.5, dims=(4, 8),
             num_samples=(0, 6, math.inf),
             schemes=(schemes.population(1.0), schemes.empirical(0.0, top=3)),
             num_seeds=5, seed_chunk=2)


def small(**overrides):
    return memjax.sweep(overrides.pop("key", KEY), **{**SMALL, **overrides})


class Calls(list):
    """The seeds of every chunk computed, in order; with `stop_after = k` the sweep is
    interrupted (Ctrl-C) when its (k+1)-th chunk starts."""

    stop_after = None


def spy_on_chunks(monkeypatch) -> Calls:
    calls = Calls()
    original = grid._chunk_errors

    def counted(config, key, seeds, *args):
        if calls.stop_after is not None and len(calls) == calls.stop_after:
            raise KeyboardInterrupt  # the user stops the sweep
        calls.append(np.asarray(seeds).tolist())
        return original(config, key, seeds, *args)

    monkeypatch.setattr(grid, "_chunk_errors", counted)
    return calls


def interrupted(calls, after=1, **overrides):
    """Runs `small(**overrides)` and stops it (Ctrl-C) after `after` chunks."""
    calls.clear()
    calls.stop_after = after
    with pytest.raises(KeyboardInterrupt):
        small(**overrides)
    calls.clear()
    calls.stop_after = None
