"""Tests for memjax.reproduce.claims: the claim rule on synthetic curves with known
finite-size slopes."""

import functools
import json
import math

import jax
import numpy as np
import pytest

from memjax.reproduce import claims

DIMS = np.geomspace(10, 1000, 12)
SEEDS = 40
NOISE = 0.2  # multiplicative seed noise exp(0.2 Z)


def finite_size_curve(x, exponent=-1.0, floor=0.004):
    """A curve with a known pre-asymptotic slope: A x^exponent + floor (it flattens)."""
    return 2.0 * np.asarray(x, float) ** exponent + floor


@functools.lru_cache(maxsize=None)
def seed_noise():
    """(SEEDS, len(DIMS)) factors exp(0.2 Z − 0.02), mean 1 (fixed key)."""
    normal = jax.random.normal(jax.random.key(3, impl="rbg"), (SEEDS, DIMS.size))
    return np.exp(NOISE * np.asarray(normal, np.float64) - NOISE**2 / 2)


def test_a_right_curve_agrees_where_the_bare_exponent_would_fail():
    reference = finite_size_curve(DIMS)
    errors = reference * seed_noise()
    check = claims.slope_check("synthetic", "A/d + floor", DIMS, errors, reference, -1.0,
                               reference_kind="predictor")
    assert check.verdict == "agrees" and check.kind == "slope"
    # The floor makes the finite-size slope much shallower than −1: the old rule
    # (exponent inside the CI) would have failed this correct curve.
    assert not check.ci_low <= -1.0 <= check.ci_high
    assert check.offset == pytest.approx(check.reference + 1.0)
    assert check.reference == pytest.approx(claims.reference_slope(DIMS, reference))
    assert check.reference > -0.95


def test_a_wrong_exponent_disagrees():
    reference = finite_size_curve(DIMS)
    # The simulated curve decays with exponent −0.8 instead of −1 (same floor).
    errors = finite_size_curve(DIMS, exponent=-0.8) * seed_noise()
    check = claims.slope_check("synthetic", "wrong law", DIMS, errors, reference, -1.0,
                               reference_kind="predictor")
    assert check.verdict == "disagrees"
    assert "outside" in check.explanation


def test_a_reference_off_by_epsilon_in_level_still_agrees():
    # A reference wrong by a relative 4 % (tilted from −4 % to +4 % over the window) is
    # what ε = 0.04 allows: the verdict must still be "agrees" on exact data.
    truth = finite_size_curve(DIMS)
    u = np.log(DIMS)
    tilt = 0.04 * (2 * (u - u.min()) / (u.max() - u.min()) - 1)
    errors = np.broadcast_to(truth, (SEEDS, DIMS.size))  # no noise: a point interval
    check = claims.slope_check("synthetic", "tilted reference", DIMS, errors,
                               truth * np.exp(tilt), -1.0, reference_kind="predictor")
    assert check.ci_high - check.ci_low < 1e-12
    assert check.verdict == "agrees"


def test_tolerance_is_what_the_rule_says():
    # Two points: Σ|u − ū| / Σ(u − ū)² = L / (L²/2) = 2/L.
    assert claims.slope_tolerance([10, 1000], 0.04) == pytest.approx(0.08 / math.log(100))
    # Many evenly spaced points: → 3ε/L.
    many = np.geomspace(10, 1000, 2001)
    assert claims.slope_tolerance(many, 0.04) == pytest.approx(0.12 / math.log(100), rel=1e-3)
    # The bound is attained: δ = ε·sign(u − ū) moves the slope by exactly the tolerance.
    u = np.log(DIMS)
    bumped = finite_size_curve(DIMS) * np.exp(0.04 * np.sign(u - u.mean()))
    moved = claims.reference_slope(DIMS, bumped) - claims.reference_slope(
        DIMS, finite_size_curve(DIMS))
    assert moved == pytest.approx(claims.slope_tolerance(DIMS, 0.04), rel=1e-9)
    # And a check reports it, with ε from ACCURACY.
    check = claims.slope_check("s", "c", DIMS, finite_size_curve(DIMS) * seed_noise(),
                               finite_size_curve(DIMS), -1.0, reference_kind="unstored mass")
    assert check.tolerance == pytest.approx(
        claims.slope_tolerance(DIMS, claims.ACCURACY["unstored mass"]))
    # The rule text states the tolerance formula and the accuracies used.
    text = claims.rule_text()
    assert "ε·Σ|u − ū|/Σ(u − ū)²" in text and "predictor 0.04" in text


def test_the_window_is_the_same_for_measurement_and_reference():
    reference = finite_size_curve(DIMS)
    check = claims.slope_check("s", "c", DIMS, reference * seed_noise(), reference, -1.0,
                               reference_kind="predictor", x_range=(20, 500))
    inside = (DIMS >= 20) & (DIMS <= 500)
    assert check.fit_range == {"variable": "d", "low": DIMS[inside].min(),
                               "high": DIMS[inside].max(), "points": int(inside.sum())}
    assert check.reference == pytest.approx(claims.reference_slope(DIMS[inside],
                                                                   reference[inside]))


def test_level_check_allows_epsilon_plus_three_standard_errors():
    reference = finite_size_curve(DIMS)
    close = claims.level_check("s", "c", DIMS, 1.03 * reference * seed_noise(), reference,
                               reference_kind="predictor")
    # SE of log(mean of 40 seeds) ≈ 0.2/√40 ≈ 0.032: tolerance ≈ 0.04 + 0.1.
    assert close.verdict == "agrees"
    assert 0.04 + 3 * 0.02 < close.tolerance < 0.04 + 3 * 0.05
    far = claims.level_check("s", "c", DIMS, 1.5 * reference * seed_noise(), reference,
                             reference_kind="predictor")
    assert far.verdict == "disagrees" and far.measured > math.log(1.3)


def test_convergence_needs_shrinking_offsets():
    assert claims.converges([-0.269, -0.252, -0.250], -0.25)
    assert claims.converges([-0.561, -0.506, -0.495], -0.5)  # overshoot within slack
    assert not claims.converges([-0.30, -0.35, -0.40], -0.25)
    assert not claims.converges([-0.30, -0.20, -0.30], -0.25)
    row = claims.convergence_check("s", "c", [1e3, 1e4, math.inf], [-0.56, -0.51, -0.50],
                                   -0.5)
    assert row.verdict == "agrees" and row.converges and "∞" in row.explanation


def test_to_dict_carries_numbers_as_numbers():
    reference = finite_size_curve(DIMS)
    check = claims.slope_check("s", "c", DIMS, reference * seed_noise(), reference, -1.0,
                               reference_kind="predictor", convergence=[-0.9, -0.95])
    row = json.loads(json.dumps(check.to_dict()))
    for name in ("measured", "ci_low", "ci_high", "reference", "exponent", "offset",
                 "tolerance"):
        assert isinstance(row[name], float), name
    assert isinstance(row["fit_range"]["points"], int)
    assert row["verdict"] == "agrees" and row["converges"] is True


def test_bad_rows_are_refused():
    with pytest.raises(ValueError, match="verdict"):
        claims.Check("e", "c", "slope", 1.0, "yes")
    with pytest.raises(ValueError, match="kind"):
        claims.Check("e", "c", "vibe", 1.0, "agrees")
    with pytest.raises(ValueError, match="reference"):
        claims.slope_check("e", "c", DIMS, finite_size_curve(DIMS)[None], np.ones(3), -1.0,
                           reference_kind="predictor")


def test_authors_check_chi2_against_released_numbers():
    from memjax.reproduce.claims import authors_check

    # Seed means drawn around the authors' values with the stated noise agree; the same
    # points shifted by 5 standard deviations of a point disagree. χ² is exact arithmetic.
    rng = np.random.default_rng(0)
    authors, se = np.array([0.64, 0.36]), np.array([0.01, 0.01])
    sd = np.sqrt(2 * se**2 + 0.005**2 / 3)
    right = authors + sd * rng.standard_normal(2) * 0.5
    row = authors_check("x", "y", ["a", "b"], right, se, authors, rounding=0.005, figure="§5.3")
    assert row.verdict == "agrees"
    assert row.measured == pytest.approx(np.sum(((right - authors) / sd) ** 2) / 2)
    assert row.reference == pytest.approx(9.2103 / 2, rel=1e-4)  # χ²(2) 99 % quantile
    wrong = authors + 5 * sd
    assert authors_check("x", "y", ["a", "b"], wrong, se, authors, rounding=0.005,
                         figure="§5.3").verdict == "disagrees"
    with pytest.raises(ValueError, match="equal-length"):
        authors_check("x", "y", ["a"], [0.1, 0.2], [0.01], [0.1], rounding=0, figure="new")
