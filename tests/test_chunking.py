"""A seed's errors are bit-identical however the seeds are chunked, resumed or planned.

The grid is large enough that vmapping a whole chunk of seeds changed the last bits of
most points (84 % at 12 seeds per chunk before each device looped over its seeds in
fixed lane groups)."""

import math

import jax
import numpy as np
import pytest

import memjax
from memjax import grid

LARGE = dict(num_inputs=2000, num_outputs=5, zipf_exponent=1.5, dims=(8, 16, 32, 64, 128),
             num_samples=(100, 1000, math.inf),
             schemes=("uniform", "population:power=1", "threshold:top=d/8"))
KEY = jax.random.key(0)


def large(**overrides):
    return memjax.sweep(KEY, **{**LARGE, "num_seeds": 12, **overrides}).error


@pytest.fixture(scope="module")
def one_at_a_time():
    return large(seed_chunk=1)


@pytest.mark.parametrize("seed_chunk", [3, 5, 12])
def test_errors_do_not_depend_on_the_seed_chunk_to_the_last_bit(one_at_a_time, seed_chunk):
    np.testing.assert_array_equal(large(seed_chunk=seed_chunk), one_at_a_time)


def test_a_shorter_grid_gives_the_same_bits(one_at_a_time):
    # The default chunk depends on the grid; a seed's bits must not.
    part = large(dims=LARGE["dims"][:2], num_samples=(math.inf,), num_seeds=5)
    np.testing.assert_array_equal(part, one_at_a_time[:, :5, 2:, :2])


def test_a_resume_at_another_chunking_is_bit_identical(tmp_path, one_at_a_time):
    folder = tmp_path / "c"
    large(checkpoint=folder, seed_chunk=7, num_seeds=7)  # stopped after seven seeds
    resumed = large(checkpoint=folder, seed_chunk=2)
    np.testing.assert_array_equal(resumed, one_at_a_time)


def test_lane_groups_give_the_same_bits_for_any_chunk(monkeypatch):
    # Accelerators vmap seeds in fixed groups of lanes; emulate that on CPU.
    monkeypatch.setattr(grid, "_default_lanes", lambda devices: 4)
    small = dict(num_inputs=300, dims=(8, 32), num_samples=(100, math.inf))
    by_four = large(**small, seed_chunk=4)
    np.testing.assert_array_equal(large(**small, seed_chunk=12), by_four)
    np.testing.assert_array_equal(large(**small, seeds=range(5, 12)), by_four[:, 5:])


STREAMED = dict(num_inputs=3000, num_outputs=4, zipf_exponent=1.3, dims=(8, 16, 24),
                num_samples=(50, math.inf),
                schemes=("population:power=1", "empirical:power=0"))
# Planned here (float32): 'stream', 1024-token chunks, one kept, 853,528 bytes a seed;
# 2 MB makes 'auto' take the in-memory 'tokens' route.
SMALL_BUDGET = 1_000_000


def streamed(**overrides):
    return memjax.sweep(KEY, **{**STREAMED, "num_seeds": 4, **overrides})


def test_a_resume_under_another_memory_budget_keeps_the_checkpoints_plan(tmp_path):
    scale = np.dtype(jax.numpy.result_type(float)).itemsize // 4  # float64 doubles it
    budget = SMALL_BUDGET * scale
    whole = streamed(memory_budget=budget)
    assert whole.config["route"] == "stream"
    folder = tmp_path / "c"
    streamed(memory_budget=budget, checkpoint=folder, seeds=(0, 1))
    # A larger budget would plan 'tokens'; the checkpoint's 'stream' plan fits it: kept.
    assert streamed(memory_budget=1 << 30).config["route"] == "tokens"
    resumed = streamed(memory_budget=1 << 30, checkpoint=folder)
    assert resumed.config["route"] == "stream"
    np.testing.assert_array_equal(resumed.error, whole.error)
    # A budget the stored plan does not fit is refused, with the size it needs.
    with pytest.raises(ValueError, match=r"was computed with route 'stream'.*resume with "
                                         r"memory_budget=\d+ or more"):
        streamed(memory_budget=budget * 7 // 10, checkpoint=folder)
