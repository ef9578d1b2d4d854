"""Fits: log-log slopes of scaling laws, with bootstrap confidence intervals over seeds.

`fit_slope` fits the least-squares line of log(seed-mean error) against log(x) on a chosen
x range, and resamples seeds with replacement (explicit jax key) for a percentile
confidence interval. `power_law_range` picks the range where a decreasing curve is in
its power-law regime (off the small-x plateau, above the large-x floor), and
`fit_power_law` chains the two. `fit_joint_law` fits the two-term law
E(d, T) ≈ A·d^(−a) + B·T^(−b) (+ a floor) to a (d, T) grid. This is analysis, not simulation: the arithmetic is numpy
float64 whatever JAX's default float; only the resampling draws use jax.random.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np

from memjax import _checks


class SlopeFit(NamedTuple):
    """A fitted power law, mean error ≈ exp(intercept) · x^slope for x in [x_min, x_max].

    `ci_low`, `ci_high` bound the slope's bootstrap percentile interval over seeds;
    `num_points` is the number of x values the line was fitted on.
    """

    slope: float
    intercept: float
    ci_low: float
    ci_high: float
    x_min: float
    x_max: float
    num_points: int


def _grid(x, errors):
    """Validated float64 copies: x (K,), errors (num_seeds, K)."""
    x = np.asarray(_checks.array("x", x, ndim=1, kind="f"), np.float64)
    errors = np.asarray(_checks.array("errors", errors, ndim=(1, 2), kind="f"), np.float64)
    errors = errors.reshape(-1, errors.shape[-1]) if errors.ndim == 2 else errors[None]
    if errors.shape[1] != x.shape[0]:
        raise ValueError(f"errors has {errors.shape[1]} columns but x has {x.shape[0]} "
                         "values; errors must have shape (num_seeds, len(x)).")
    if not (np.all(np.isfinite(x)) and np.all(x > 0)):
        _checks.fail("x", x.tolist(), "finite and positive (it is log-transformed)")
    if np.isnan(errors).any():
        raise ValueError("errors must not contain NaN.")
    _checks.non_negative("errors", errors)
    return x, errors


def _lines(log_x, log_y, use):
    """Least-squares slopes and intercepts of log_y on log_x over the points in `use`.

    Vectorised over leading axes of log_y / use (..., K); NaN where fewer than two
    distinct x are used.
    """
    count = use.sum(axis=-1)
    safe = np.maximum(count, 1)
    x_mean = (use * log_x).sum(axis=-1) / safe
    y = np.where(use, log_y, 0.0)
    y_mean = y.sum(axis=-1) / safe
    dx = np.where(use, log_x - x_mean[..., None], 0.0)
    spread = (dx**2).sum(axis=-1)
    ok = (count >= 2) & (spread > 0)
    slope = np.where(ok, (dx * (y - y_mean[..., None])).sum(axis=-1) / np.where(ok, spread, 1),
                     np.nan)
    return slope, np.where(ok, y_mean - slope * x_mean, np.nan)


def fit_slope(x, errors, *, key=None, num_boot: int = 1000, level: float = 0.95,
              x_range=None) -> SlopeFit:
    """Least-squares slope of log(seed-mean error) against log(x), with a bootstrap CI.

    The line fits log ē(x) = intercept + slope · log x over the x in `x_range` where the
    seed mean ē is > 0. The CI resamples the seeds with replacement `num_boot` times,
    refits on the same x (dropping any whose resampled mean is 0), and takes the
    (1 ± level)/2 percentiles of the slopes.

    Args:
      x: (K,) positive grid values (d or T).
      errors: (num_seeds, K) errors, one row per seed ((K,) is one seed: then the CI is
        the point estimate).
      key: jax key for the resampling; default `jax.random.key(0)`, so results repeat.
      num_boot: number of bootstrap resamples, >= 1.
      level: confidence level of the percentile interval, in (0, 1).
      x_range: (low, high), inclusive; None (or a None bound) means unbounded.

    Returns:
      A `SlopeFit` of Python floats and an int.

    Raises:
      ValueError: bad shapes or values, or fewer than two usable points.
    """
    x, errors = _grid(x, errors)
    num_boot = _checks.int_at_least("num_boot", num_boot, 1)
    if not 0 < level < 1:
        _checks.fail("level", level, "a number strictly between 0 and 1")
    low, high = _bounds(x_range)
    mean = errors.mean(axis=0)
    usable = (x >= low) & (x <= high) & (mean > 0)
    if np.unique(x[usable]).size < 2:
        raise ValueError(
                f"fit_slope needs at least 2 distinct x in x_range={x_range} with a positive "
                f"mean error; got x={x.tolist()}, mean error={mean.tolist()}.")
    x, errors, mean = x[usable], errors[:, usable], mean[usable]
    log_x = np.log(x)
    slope, intercept = _lines(log_x, np.log(mean), np.ones(mean.shape, bool))

    key = jax.random.key(0) if key is None else key
    num_seeds = errors.shape[0]
    # Threefry compiles once per shape (seconds on a CPU): pad the seed axis to a power of
    # two so that a few shapes serve every call.
    width = 1 << (num_seeds - 1).bit_length()
    picks = np.asarray(jax.random.randint(key, (num_boot, width), 0, num_seeds))[:, :num_seeds]
    counts = np.zeros((num_boot, num_seeds))
    np.add.at(counts, (np.arange(num_boot)[:, None], picks), 1.0)
    boot_mean = counts @ errors / num_seeds  # (num_boot, K)
    positive = boot_mean > 0
    boot_slopes, _ = _lines(log_x, np.log(np.where(positive, boot_mean, 1.0)), positive)
    boot_slopes = boot_slopes[np.isfinite(boot_slopes)]
    if boot_slopes.size:
        ci_low, ci_high = np.quantile(boot_slopes, [(1 - level) / 2, (1 + level) / 2])
    else:  # every resample lost all but one point: no interval to report
        ci_low = ci_high = np.nan
    return SlopeFit(float(slope), float(intercept), float(ci_low), float(ci_high),
                    float(x.min()), float(x.max()), int(x.size))


def _bounds(x_range):
    if x_range is None:
        return -np.inf, np.inf
    try:
        low, high = x_range
    except (TypeError, ValueError):
        _checks.fail("x_range", x_range, "None or a pair (low, high)")
    low = -np.inf if low is None else float(low)
    high = np.inf if high is None else float(high)
    if np.isnan(low) or np.isnan(high) or low > high:
        _checks.fail("x_range", x_range, "a pair (low, high) with low <= high")
    return low, high


def power_law_range(x, mean_error, *, plateau: float = 0.9, floor: float = 0.0):
    """The contiguous x range where a decreasing curve is in its power-law regime.

    Rule, on the points sorted by x:
      1. Plateau (small x, W ≈ 0 or chance level): drop every point up to the maximum of
         the curve and the run after it that stays >= `plateau` × that maximum.
      2. Floor (large x, error ≈ 0 or a finite-N/finite-T floor): end before the first
         remaining point with error <= `floor`.
      3. Flattening: end at the lowest remaining point (the first, if tied): later
         points go no lower, so the curve has levelled off or turned up.
    Two points must remain.

    Args:
      x: (K,) distinct positive grid values.
      mean_error: (K,) seed-mean errors.
      plateau: fraction of the maximum in (0, 1]: points at or above it are the plateau.
      floor: errors at or below it are the floor (default 0: exact zeros).

    Returns:
      (x_min, x_max), the inclusive range to pass to `fit_slope`.

    Raises:
      ValueError: bad input, or fewer than two points left by the rule.
    """
    x, errors = _grid(x, mean_error)
    mean = errors[0] if errors.shape[0] == 1 else None
    if mean is None:
        _checks.fail("mean_error", errors, "a 1-D array of seed means, one per x")
    if not 0 < plateau <= 1:
        _checks.fail("plateau", plateau, "a fraction in (0, 1]")
    _checks.real_at_least("floor", floor, 0.0)
    order = np.argsort(x)
    x, mean = x[order], mean[order]
    if np.any(np.diff(x) == 0):
        _checks.fail("x", x.tolist(), "distinct values")
    peak = int(np.argmax(mean))
    start = peak
    while start < len(x) and mean[start] >= plateau * mean[peak]:
        start += 1
    stop = start
    while stop < len(x) and mean[stop] > floor:
        stop += 1
    if stop > start:  # end at the minimum of what is left above the floor
        stop = start + int(np.argmin(mean[start:stop]))
    else:
        stop = start - 1
    if stop - start < 1:
        raise ValueError(
                f"no power-law range with 2 points: after the plateau (>= {plateau} × max) "
                f"and the floor (<= {floor}) rules, x = {x.tolist()}, "
                f"mean error = {mean.tolist()} leaves {max(stop - start + 1, 0)} point(s).")
    return float(x[start]), float(x[stop])


def fit_power_law(x, errors, *, key=None, num_boot: int = 1000, level: float = 0.95,
                  plateau: float = 0.9, floor: float = 0.0) -> SlopeFit:
    """`power_law_range` on the seed mean, then `fit_slope` on that range.

    The returned `SlopeFit`'s x_min, x_max and num_points say which range was used.
    Arguments as in `fit_slope` and `power_law_range`.
    """
    x, errors = _grid(x, errors)
    x_range = power_law_range(x, errors.mean(axis=0), plateau=plateau, floor=floor)
    return fit_slope(x, errors, key=key, num_boot=num_boot, level=level, x_range=x_range)


class JointFit(NamedTuple):
    """A fitted joint law E(d, T) ≈ A·d^(−a) + B·T^(−b) (+ C).

    `d_exponent` = a and `t_exponent` = b are the decay exponents (positive numbers: the
    slopes are −a and −b); `*_ci` are their bootstrap percentile intervals over seeds;
    `floor` is C (0 when not fitted); `num_points` counts the (d, T) points used.
    """

    d_exponent: float
    t_exponent: float
    d_scale: float
    t_scale: float
    floor: float
    d_ci: tuple
    t_ci: tuple
    num_points: int


# Exponent search: a 41 × 41 grid on (0, 3]², then two zooms around the best pair (the
# step ends at ≈ 0.001).
_JOINT_GRID, _JOINT_ZOOMS = 41, 3


def _joint_solve(log_d, log_t, y, d_exps, t_exps, floor):
    """Relative least squares of y on [d^−a, T^−b, (1)] for every exponent pair.

    Minimises Σ ((y − model)/y)², linear in the scales for fixed (a, b), through the 3 × 3
    normal equations (the d column depends on a only and the T column on b only, so
    their cross products for all pairs are one matrix product). Pairs whose scales come
    out negative are discarded (inf loss). Returns (loss (A, B), scales (A, B, 3)).
    """
    col_d = np.exp(-d_exps[:, None] * log_d) / y  # (A, K)
    col_t = np.exp(-t_exps[:, None] * log_t) / y  # (B, K)
    col_c = (1.0 if floor else 0.0) / y  # (K,)
    shape = (d_exps.size, t_exps.size)
    gram = np.empty(shape + (3, 3))
    gram[..., 0, 0] = (col_d**2).sum(-1)[:, None]
    gram[..., 1, 1] = (col_t**2).sum(-1)[None, :]
    gram[..., 0, 1] = gram[..., 1, 0] = col_d @ col_t.T
    gram[..., 0, 2] = gram[..., 2, 0] = (col_d @ col_c)[:, None]
    gram[..., 1, 2] = gram[..., 2, 1] = (col_t @ col_c)[None, :]
    gram[..., 2, 2] = col_c @ col_c if floor else 1.0  # no floor: C = 0 exactly
    rhs = np.empty(shape + (3,))
    rhs[..., 0], rhs[..., 1] = col_d.sum(-1)[:, None], col_t.sum(-1)[None, :]
    rhs[..., 2] = col_c.sum()
    scales = np.linalg.solve(gram, rhs[..., None])[..., 0]
    # Σ(1 − design·s)² = K − 2 s·rhs + sᵀ G s.
    loss = (y.size - 2 * np.sum(scales * rhs, -1)
            + np.einsum("...i,...ij,...j->...", scales, gram, scales))
    return np.where(np.all(scales >= 0, axis=-1), loss, np.inf), scales


def _joint_best(log_d, log_t, y, floor):
    low, high = np.array([1e-3, 1e-3]), np.array([3.0, 3.0])
    for _ in range(_JOINT_ZOOMS):
        d_exps, t_exps = (np.linspace(low[i], high[i], _JOINT_GRID) for i in range(2))
        loss, scales = _joint_solve(log_d, log_t, y, d_exps, t_exps, floor)
        i, j = np.unravel_index(int(np.argmin(loss)), loss.shape)
        best = np.array([d_exps[i], t_exps[j]])
        step = (high - low) / (_JOINT_GRID - 1)
        low, high = np.maximum(best - 2 * step, 1e-4), best + 2 * step
    return best, scales[i, j], loss[i, j]


def fit_joint_law(dims, sizes, errors, *, key=None, num_boot: int = 200,
                  level: float = 0.95, floor: bool = False, use=None) -> JointFit:
    """Fits E(d, T) ≈ A·d^(−a) + B·T^(−b) (+ C if `floor`) to a (T, d) grid of seed means.

    The scales enter linearly, so for each exponent pair (a, b) they are the relative
    least-squares solution (Σ((ē − model)/ē)²: every decade of error counts alike); the
    pair is found by a grid search on (0, 3]² refined by zooming. The CIs resample the
    seeds with replacement and refit.

    Args:
      dims: (D,) dimensions d; sizes: (T,) finite sample sizes.
      errors: (num_seeds, T, D) errors.
      key: jax key of the resampling (default key 0).
      num_boot: bootstrap resamples. level: CI level in (0, 1).
      floor: also fit a constant C >= 0 (a finite-N or finite-T floor).
      use: optional (T, D) boolean mask of the points to fit (e.g. off the plateau).

    Returns:
      A `JointFit`.
    """
    dims = np.asarray(_checks.array("dims", dims, ndim=1, kind="f"), np.float64)
    sizes = np.asarray(_checks.array("sizes", sizes, ndim=1, kind="f"), np.float64)
    errors = np.asarray(_checks.array("errors", errors, ndim=3, kind="f"), np.float64)
    if errors.shape[1:] != (sizes.size, dims.size):
        raise ValueError(f"errors has shape {errors.shape}; expected (num_seeds, "
                         f"{sizes.size}, {dims.size}) = (seeds, len(sizes), len(dims)).")
    for name, values in (("dims", dims), ("sizes", sizes)):
        if not (np.all(np.isfinite(values)) and np.all(values > 0)):
            _checks.fail(name, values.tolist(), "finite and positive")
    num_boot = _checks.int_at_least("num_boot", num_boot, 1)
    if not 0 < level < 1:
        _checks.fail("level", level, "a number strictly between 0 and 1")
    mask = np.ones(errors.shape[1:], bool) if use is None else np.asarray(use, bool)
    if mask.shape != errors.shape[1:]:
        _checks.fail("use", mask, f"a boolean mask of shape {errors.shape[1:]}")
    mean = errors.mean(axis=0)
    mask = mask & (mean > 0)
    if mask.sum() < 4:
        raise ValueError(f"fit_joint_law needs at least 4 (d, T) points with a positive "
                         f"mean error; got {int(mask.sum())}.")
    grid_t, grid_d = np.meshgrid(np.log(sizes), np.log(dims), indexing="ij")
    log_d, log_t = grid_d[mask], grid_t[mask]
    (a, b), scales, _ = _joint_best(log_d, log_t, mean[mask], floor)

    key = jax.random.key(0) if key is None else key
    num_seeds = errors.shape[0]
    width = 1 << (num_seeds - 1).bit_length()
    picks = np.asarray(jax.random.randint(key, (num_boot, width), 0, num_seeds))[:, :num_seeds]
    boots = []
    for pick in picks:
        resampled = errors[pick].mean(axis=0)[mask]
        if np.all(resampled > 0):
            boots.append(_joint_best(log_d, log_t, resampled, floor)[0])
    boots = np.asarray(boots).reshape(-1, 2)
    quantiles = [(1 - level) / 2, (1 + level) / 2]
    d_ci, t_ci = ((tuple(float(v) for v in np.quantile(boots[:, i], quantiles))
                   if len(boots) else (np.nan, np.nan)) for i in range(2))
    return JointFit(float(a), float(b), float(scales[0]), float(scales[1]),
                    float(scales[2]) if floor else 0.0, d_ci, t_ci, int(mask.sum()))
