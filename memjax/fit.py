"""Fits: log-log slopes of scaling laws, with bootstrap confidence intervals over seeds.

The slope is the least-squares line of log(mean over seeds of the error) against log(x),
fitted on a chosen x range; its confidence interval resamples seeds with replacement
(explicit jax key), refits, and takes percentiles. `power_law_range` picks the range where
a curve is in its power-law regime, and `fit_power_law` chains the two.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np

from memjax import _checks


class SlopeFit(NamedTuple):
    """A fitted power law error ≈ exp(intercept) · x^slope over [x_min, x_max]."""

    slope: float
    intercept: float
    ci_low: float
    ci_high: float
    x_min: float
    x_max: float
    num_points: int


def _as_grid(x, errors):
    x = np.asarray(_checks.array("x", x, ndim=1, kind="f"), np.float64)
    errors = np.asarray(_checks.array("errors", errors, ndim=2, kind="f"), np.float64)
    if errors.shape[1] != x.shape[0]:
        raise ValueError(f"errors has {errors.shape[1]} columns but x has {x.shape[0]} "
                         "values; errors must have shape (num_seeds, len(x)).")
    if not np.all(x > 0) or not np.all(np.isfinite(x)):
        _checks.fail("x", x.tolist(), "finite positive values (they are log-transformed)")
    return x, errors


def _line(log_x, mean):
    keep = mean > 0
    if keep.sum() < 2:
        return np.nan, np.nan
    slope, intercept = np.polyfit(log_x[keep], np.log(mean[keep]), 1)
    return slope, intercept


def fit_slope(x, errors, *, key=None, num_boot: int = 1000, level: float = 0.95,
              x_range=None) -> SlopeFit:
    """Least-squares slope of log(seed-mean error) vs log(x), with a bootstrap CI.

    Args:
      x: (K,) positive grid values (d or T).
      errors: (num_seeds, K) errors.
      key: jax key for the bootstrap (default `jax.random.key(0)`: reproducible).
      num_boot: bootstrap resamples of the seeds.
      level: confidence level of the percentile interval.
      x_range: (low, high) inclusive; default all x.
    """
    x, errors = _as_grid(x, errors)
    num_boot = _checks.int_at_least("num_boot", num_boot, 1)
    if not 0 < level < 1:
        _checks.fail("level", level, "a number in (0, 1)")
    low, high = (-np.inf, np.inf) if x_range is None else x_range
    mean = errors.mean(axis=0)
    keep = (x >= low) & (x <= high) & (mean > 0)
    if keep.sum() < 2:
        raise ValueError(f"fewer than 2 points with positive mean error in x_range "
                         f"{x_range}; x = {x.tolist()}.")
    log_x, errors = np.log(x[keep]), errors[:, keep]
    slope, intercept = _line(log_x, errors.mean(axis=0))
    key = jax.random.key(0) if key is None else key
    picks = np.asarray(jax.random.randint(key, (num_boot, errors.shape[0]), 0,
                                          errors.shape[0]))
    boots = np.asarray([_line(log_x, errors[p].mean(axis=0))[0] for p in picks])
    boots = boots[np.isfinite(boots)]
    tail = 100 * (1 - level) / 2
    ci_low, ci_high = np.percentile(boots, [tail, 100 - tail]) if boots.size else (
        np.nan, np.nan)
    return SlopeFit(float(slope), float(intercept), float(ci_low), float(ci_high),
                    float(x[keep].min()), float(x[keep].max()), int(keep.sum()))


def power_law_range(x, mean_error, *, plateau: float = 0.7, floor: float = 1e-6):
    """The contiguous x range where a decreasing curve is in its power-law regime.

    Rule (deterministic): sort by x and keep points with error above `floor` (below it the
    finite-N floor has been reached, errors hit 0). Then drop leading points while the
    next point is still above `plateau` × the first kept error (the W = 0 or
    small-capacity plateau), and drop trailing points that no longer fall (error ≥ the
    previous point's: the curve has flattened). At least two points always remain.

    Returns:
      (x_min, x_max).
    """
    x = np.asarray(x, np.float64)
    mean = np.asarray(mean_error, np.float64)
    order = np.argsort(x)
    x, mean = x[order], mean[order]
    valid = np.nonzero(mean > floor)[0]
    if valid.size < 2:
        raise ValueError("fewer than 2 points above the floor; cannot pick a range.")
    start, stop = valid[0], valid[-1]
    # Plateau: skip leading points until the curve has fallen below plateau × its start.
    while stop - start > 1 and mean[start + 1] > plateau * mean[valid[0]]:
        start += 1
    # Floor: skip trailing points that no longer decrease.
    while stop - start > 1 and (mean[stop] >= mean[stop - 1] or mean[stop] <= floor):
        stop -= 1
    return float(x[start]), float(x[stop])


def fit_power_law(x, errors, *, key=None, num_boot: int = 1000, level: float = 0.95,
                  plateau: float = 0.7, floor: float = 1e-6) -> SlopeFit:
    """`power_law_range` on the seed mean, then `fit_slope` on that range."""
    x_arr, errors_arr = _as_grid(x, errors)
    x_range = power_law_range(x_arr, errors_arr.mean(axis=0), plateau=plateau, floor=floor)
    return fit_slope(x_arr, errors_arr, key=key, num_boot=num_boot, level=level,
                     x_range=x_range)
