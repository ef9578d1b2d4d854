"""Tests for memjax.fit: slopes, bootstrap intervals and the power-law range rule."""

import functools
import math

import jax
import numpy as np
import pytest

from memjax import fit

GRID = np.geomspace(10, 1000, 12)
TRUE_SLOPE, TRUE_SCALE, NOISE = -0.5, 2.0, 0.3
NUM_DRAWS, MAX_SEEDS = 200, 50


@functools.lru_cache(maxsize=None)
def synthetic_errors():
    """(NUM_DRAWS, MAX_SEEDS, len(GRID)) draws of 2·x^(−1/2) · exp(0.3 Z), Z ~ N(0, 1).

    Multiplicative noise only shifts log(mean) by a constant, so the slope stays −1/2.
    One fixed-key draw serves every test (each random shape costs a compile).
    """
    key = jax.random.key(7, impl="rbg")  # rbg: a threefry compile costs seconds on a CPU
    normal = jax.random.normal(key, (NUM_DRAWS, MAX_SEEDS, GRID.size))
    return TRUE_SCALE * GRID**TRUE_SLOPE * np.exp(NOISE * np.asarray(normal, np.float64))


def test_fit_slope_recovers_a_known_power_law():
    result = fit.fit_slope(GRID, synthetic_errors()[0])  # 50 seeds
    # log(mean over 50 seeds) has sd ≈ 0.3/√50 = 0.042 per point; over 12 points spread
    # on ln(100) = 4.6 the slope's sd is ≈ 0.042/√(Σ(ln x − mean)²) = 0.042/4.8 ≈ 0.009:
    # 0.04 is > 4 sd. The intercept adds log E[e^(0.3 Z)] = 0.045 to log 2.
    assert result.slope == pytest.approx(TRUE_SLOPE, abs=0.04)
    assert result.intercept == pytest.approx(math.log(TRUE_SCALE) + 0.045, abs=0.2)
    assert result.ci_low < TRUE_SLOPE < result.ci_high
    assert result.ci_high - result.ci_low < 0.1  # ≈ 2 × 1.96 × 0.009
    assert (result.x_min, result.x_max, result.num_points) == (10.0, 1000.0, 12)
    assert all(isinstance(v, float) for v in result[:6]) and isinstance(result[6], int)


def test_exact_power_law_gives_exact_slope_and_a_point_interval():
    errors = np.broadcast_to(3.0 * GRID**-1.0, (20, GRID.size))
    result = fit.fit_slope(GRID, errors, num_boot=400)
    # Every resample is the same curve: float64 least squares is exact to rounding.
    assert result.slope == pytest.approx(-1.0, abs=1e-12)
    assert result.intercept == pytest.approx(math.log(3.0), abs=1e-12)
    assert result.ci_low == pytest.approx(-1.0, abs=1e-12)
    assert result.ci_high == pytest.approx(-1.0, abs=1e-12)


def test_bootstrap_interval_covers_the_true_slope_at_about_the_nominal_rate():
    num_draws, num_seeds = NUM_DRAWS, 20
    covered = 0
    for index, errors in enumerate(synthetic_errors()[:, :num_seeds]):
        result = fit.fit_slope(GRID, errors, key=jax.random.key(1000 + index), num_boot=400)
        covered += result.ci_low <= TRUE_SLOPE <= result.ci_high
    # Nominal 0.95; over 200 independent draws the binomial sd is √(0.95·0.05/200) =
    # 0.015. The percentile bootstrap with 20 seeds is a little narrow (its spread carries
    # a √(19/20) factor and the t-vs-normal gap), so ≈ 0.93 is expected; [0.88, 0.99] is
    # about −4.5 to +2.6 binomial sd around 0.95.
    assert 0.88 <= covered / num_draws <= 0.99, covered


def test_fit_slope_is_reproducible_and_keyed():
    errors = synthetic_errors()[1, :20]
    default = fit.fit_slope(GRID, errors)
    assert default == fit.fit_slope(GRID, errors, key=jax.random.key(0))
    other = fit.fit_slope(GRID, errors, key=jax.random.key(5))
    assert other.slope == default.slope
    assert (other.ci_low, other.ci_high) != (default.ci_low, default.ci_high)


def test_fit_slope_uses_x_range_and_skips_zero_means():
    errors = np.broadcast_to(GRID**-1.0, (20, GRID.size)).copy()
    errors[:, 3] = 0.0  # a point with zero mean error cannot be log-transformed
    result = fit.fit_slope(GRID, errors, x_range=(20, 500), num_boot=400)
    inside = (GRID >= 20) & (GRID <= 500)
    assert result.num_points == inside.sum() - 1
    assert result.x_min == pytest.approx(GRID[inside].min())
    assert result.x_max == pytest.approx(GRID[inside].max())
    assert result.slope == pytest.approx(-1.0, abs=1e-12)
    # Open bounds.
    assert fit.fit_slope(GRID, errors, x_range=(None, 100), num_boot=400).x_min == 10.0


def test_single_seed_gives_a_degenerate_interval():
    result = fit.fit_slope(GRID, 5 * GRID**-0.25, num_boot=400)
    assert result.ci_low == result.ci_high == pytest.approx(result.slope)


def test_power_law_range_drops_plateau_and_zero_floor():
    x = np.array([1, 2, 4, 8, 16, 32, 64, 128, 256, 512], float)
    mean = np.array([0.36, 0.36, 0.35, 0.2, 0.1, 0.05, 0.025, 0.0125, 0.0, 0.0])
    # Plateau: points >= 0.9 × 0.36 = 0.324 (x ≤ 4); floor: exact zeros (x ≥ 256).
    assert fit.power_law_range(x, mean) == (8.0, 128.0)
    # A finite floor and a curve that has levelled off.
    flat = np.array([0.36, 0.2, 0.1, 0.05, 0.025, 0.02, 0.021, 0.022, 0.02, 0.02])
    assert fit.power_law_range(x, flat) == (2.0, 32.0)  # ends at the minimum
    assert fit.power_law_range(x, flat, floor=0.0205) == (2.0, 16.0)
    # Unsorted input gives the same answer.
    order = np.array([3, 9, 0, 6, 1, 8, 4, 2, 7, 5])
    assert fit.power_law_range(x[order], mean[order]) == (8.0, 128.0)


def test_fit_power_law_reports_the_range_it_used():
    x = np.array([1, 2, 4, 8, 16, 32, 64, 128, 256, 512], float)
    curve = np.minimum(0.36, 2.0 * x**-1.0)  # plateau at 0.36 up to x ≈ 5.6, then x^−1
    curve[x > 200] = 0.0
    errors = np.broadcast_to(curve, (20, x.size))
    result = fit.fit_power_law(x, errors, num_boot=400)
    assert (result.x_min, result.x_max) == (8.0, 128.0)
    assert result.num_points == 5
    assert result.slope == pytest.approx(-1.0, abs=1e-12)


@pytest.mark.parametrize("call, argument", [
    (lambda: fit.fit_slope(GRID, np.ones((3, GRID.size - 1))), "errors"),
    (lambda: fit.fit_slope(-GRID, np.ones((3, GRID.size))), "x"),
    (lambda: fit.fit_slope(GRID * 0, np.ones((3, GRID.size))), "x"),
    (lambda: fit.fit_slope(GRID, np.zeros((3, GRID.size))), "at least 2"),
    (lambda: fit.fit_slope(GRID, np.ones((3, GRID.size)), x_range=(500, 600)), "at least 2"),
    (lambda: fit.fit_slope(GRID, np.ones((3, GRID.size)), x_range=(600, 500)), "x_range"),
    (lambda: fit.fit_slope(GRID, np.ones((3, GRID.size)), level=1.0), "level"),
    (lambda: fit.fit_slope(GRID, np.ones((3, GRID.size)), num_boot=0), "num_boot"),
    (lambda: fit.fit_slope(GRID, np.full((3, GRID.size), np.nan)), "NaN"),
    (lambda: fit.fit_slope(GRID, -np.ones((3, GRID.size))), "errors"),
    (lambda: fit.power_law_range(GRID, np.ones(GRID.size)), "no power-law range"),
    (lambda: fit.power_law_range(GRID, GRID**-1.0, plateau=0.0), "plateau"),
    (lambda: fit.power_law_range([1.0, 1.0, 2.0], [1.0, 0.5, 0.2]), "distinct"),
])
def test_bad_fit_input_raises_value_error(call, argument):
    with pytest.raises(ValueError, match=argument):
        call()


# --- the joint law E(d, T) ≈ A d^(−a) + B T^(−b) -------------------------------------------


JOINT_DIMS = np.array([10.0, 20, 50, 100, 200, 500, 1000])
JOINT_SIZES = np.geomspace(10, 1e4, 10)


def joint_errors(floor=0.0, seeds=30):
    """(seeds, T, D) draws of (2 d^(−1) + 0.7 T^(−1/2) + floor) · exp(0.1 Z − 0.005)."""
    law = (2 * JOINT_DIMS[None, :] ** -1.0 + 0.7 * JOINT_SIZES[:, None] ** -0.5 + floor)
    # float32 draws: the same data under JAX_ENABLE_X64=1.
    normal = jax.random.normal(jax.random.key(11, impl="rbg"),
                               (seeds, JOINT_SIZES.size, JOINT_DIMS.size), np.float32)
    return law * np.exp(0.1 * np.asarray(normal, np.float64) - 0.005)


def test_fit_joint_law_recovers_known_exponents():
    result = fit.fit_joint_law(JOINT_DIMS, JOINT_SIZES, joint_errors(), num_boot=50)
    # Seed means carry ≈ 0.1/√30 = 1.8 % noise per point over 70 points spanning two and
    # three decades: the exponents are pinned to ≈ ±0.02; 0.06 is 3 sd.
    assert result.d_exponent == pytest.approx(1.0, abs=0.06)
    assert result.t_exponent == pytest.approx(0.5, abs=0.06)
    assert result.d_scale == pytest.approx(2.0, rel=0.25)
    assert result.t_scale == pytest.approx(0.7, rel=0.25)
    # One draw: the 95 % CIs must be narrow and hold the truth (allowing one CI width,
    # so that a 5 % miss of this single draw does not make the test flaky).
    for (low, high), truth in ((result.d_ci, 1.0), (result.t_ci, 0.5)):
        assert 0 < high - low < 0.1
        assert low - (high - low) <= truth <= high + (high - low)
    assert result.floor == 0.0 and result.num_points == JOINT_DIMS.size * JOINT_SIZES.size


def test_fit_joint_law_with_a_floor():
    errors = joint_errors(floor=0.003)
    with_floor = fit.fit_joint_law(JOINT_DIMS, JOINT_SIZES, errors, num_boot=20, floor=True)
    assert with_floor.floor == pytest.approx(0.003, rel=0.3)
    assert with_floor.d_exponent == pytest.approx(1.0, abs=0.1)
    assert with_floor.t_exponent == pytest.approx(0.5, abs=0.1)
    assert fit.fit_joint_law(JOINT_DIMS, JOINT_SIZES, errors, num_boot=1).floor == 0.0


def test_fit_joint_law_rejects_bad_shapes():
    with pytest.raises(ValueError, match="errors"):
        fit.fit_joint_law(JOINT_DIMS, JOINT_SIZES, joint_errors()[:, :, :3])
    with pytest.raises(ValueError, match="use"):
        fit.fit_joint_law(JOINT_DIMS, JOINT_SIZES, joint_errors(), use=np.ones((2, 2)))
