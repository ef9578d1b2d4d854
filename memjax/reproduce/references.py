"""Finite-size references of the explicit-scheme claims (SPEC §3), and their convergence.

- `unstored_mass`, `infinite_unstored_mass`: (1 − 1/M) Σ_{x≥P} p(x), the threshold's
  reference, at finite N and at N = ∞ (a Hurwitz-zeta tail).
- `accurate_window`: where that reference holds (the predictor, which leans high, puts the
  stored tokens' own errors below `UNSTORED_WINDOW` of the error).
- `*_convergence`: reference slopes on growing windows (N = ∞, d or T up to 10⁵ or 10⁸),
  for `claims.converges`.
"""

from __future__ import annotations

import math

import numpy as np

from memjax import schemes, theory
from memjax.data import zipf_probs
from memjax.reproduce import claims

M = 5  # every paper experiment: M = 5, f*(x) = x mod 5
UNSTORED_WINDOW = 0.05


def unstored_mass(probs, tops):
    """(1 − 1/M) Σ_{x ≥ P} p(x) for each P in `tops` (float64)."""
    probs = np.asarray(probs, np.float64)
    tail = np.append(np.cumsum(probs[::-1])[::-1], 0.0)
    return (1 - 1 / M) * tail[np.minimum(np.asarray(tops, int), len(probs))]


def infinite_unstored_mass(alpha, tops):
    """(1 − 1/M) Σ_{x ≥ P} p(x) for the N = ∞ Zipf law: ζ(α, P + 1)/ζ(α)."""
    return (1 - 1 / M) * theory.hurwitz_zeta(alpha, np.asarray(tops, float) + 1) / theory.zeta(
        alpha)


def accurate_window(dims, predicted, reference, tolerance=UNSTORED_WINDOW):
    """The longest run of consecutive d where |log(predicted/reference)| ≤ tolerance."""
    ok = np.abs(np.log(np.asarray(predicted) / np.asarray(reference))) <= tolerance
    best, start = (0, 0), None
    for i, flag in enumerate(list(ok) + [False]):
        if flag and start is None:
            start = i
        if not flag and start is not None:
            best = max(best, (i - start, start))
            start = None
    length, first = best
    if length < 2:
        return None
    return float(dims[first]), float(dims[first + length - 1])


def _window_slope(x, y, window):
    x, y = np.asarray(x, float), np.asarray(y, float)
    use = (x >= window[0]) & (x <= window[1])
    return claims.reference_slope(x[use], y[use])


CONVERGENCE_NOTE = ("convergence: the reference at N = ∞ on this window, then on d ∈ "
                    "[10³, 10⁴] and [10⁴, 10⁵]")


def _threshold_convergence(alpha, dims, window, divisor):
    """Unstored-mass slopes at N = ∞ on the window and on d ∈ [10³, 10⁴], [10⁴, 10⁵]."""
    dims = np.asarray(dims)
    out = [_window_slope(dims, infinite_unstored_mass(alpha, dims // divisor), window)]
    for lo in (1e3, 1e4):
        big = np.geomspace(lo, 10 * lo, 5)
        out.append(claims.reference_slope(big, infinite_unstored_mass(
            alpha, np.floor(big / divisor))))
    return out


def _missing_mass_convergence(alpha, grid_t):
    """(1 − 1/M) × missing-mass slopes at N = 2²² on grid_t, then on T ∈ [10⁴, 10⁶] and
    [10⁶, 10⁸] (the tail beyond 2²² is negligible there)."""
    probs = zipf_probs(1 << 22, alpha)
    out = []
    for sizes in (grid_t, np.geomspace(1e4, 1e6, 5), np.geomspace(1e6, 1e8, 5)):
        out.append(claims.reference_slope(sizes, np.asarray(theory.missing_mass(probs, sizes),
                                                            np.float64)))
    return out


def _population_convergence(power, alpha, window):
    """Predictor slopes for q = p^ρ at N = ∞ on `window` (3 points) and on d ∈ [10⁴, 10⁵]."""
    lo, hi = window
    dims = (int(lo), int(round(math.sqrt(lo * hi))), int(hi), 10_000, 100_000)
    errors = theory.predicted_zipf_error(schemes.population(power), alpha, math.inf, dims, M)
    return [claims.reference_slope(dims[:3], errors[:3]),
            claims.reference_slope(dims[3:], errors[3:])]


def reverse_index_top(num_inputs: int, top: int) -> schemes.Scheme:
    """`empirical(0, top)` with count ties at the cut broken towards the *higher* index
    (the least probable token first: an anti-oracle), as a custom scheme. With the index
    order (the oracle) and the random order it brackets what any fixed tie order, such as
    an unstable sort's, can give."""
    import jax.numpy as jnp

    def weights(freq, probs, dim):
        del probs, dim
        # Sorted by frequency (descending), then by index (descending): exact, no mixing.
        order = jnp.lexsort((-jnp.arange(num_inputs), -freq))
        keep = jnp.zeros(num_inputs).at[order[:top]].set(1.0)
        return keep * (freq > 0)

    return schemes.custom(weights, f"empirical(power=0, top={top}, ties=reverse index)")
