"""Theory: the paper's predictions, to check simulations against (no Monte Carlo here).

- `capacity_exponent`, `data_exponent`: log-log slopes of the error against d (T = ∞) and
  against T (d = ∞) in the N = ∞ limit (SPEC §3).
- `missing_mass`, `missing_mass_asymptote`: the d = ∞ error Σ_x p(x)(1 − p(x))^T, exact
  for a finite law, and its large-T, N = ∞ Zipf asymptote.
- `predicted_error`: a finite-N, finite-d numerical predictor of the population error of
  W = Σ_x q(x) u_{f(x)} e_xᵀ under the default embeddings (Gaussian-interference
  approximation); `predicted_zipf_error` runs it for a data-free scheme on a Zipf law at
  any N, N = ∞ included, with the tail aggregated in bins (`hurwitz_zeta` sums the far
  tail exactly).

Symbols: N = num_inputs, M = num_outputs, d = dim, T = num_samples, α = zipf_exponent,
ρ = power, q = weights, p = probs, f = targets.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr

from memjax import _checks, _xla

CAPACITY_SCHEMES = ("population", "threshold", "empirical_top", "uniform")

# Quadrature of `predicted_error`: Gauss–Hermite nodes over ‖e_x‖² and over a sphere inner
# product; (pieces, Gauss–Legendre order) over the heavy rival's signal and the correct
# score. Refining every rule, e.g. to (6, 6, (12, 4), (12, 4)), moves the answer < 0.5%
# (tested).
_QUADRATURE = (4, 4, (8, 3), (8, 3))
_NORMAL_RANGE = 8.0  # normal integrals drop the mass beyond ±8 (1e-15)

# Bernoulli numbers B_2 … B_14 for the Euler–Maclaurin tail of ζ.
_BERNOULLI = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6)


def _check_zipf_exponent(value, name: str = "zipf_exponent") -> float:
    if _checks._is_traced(value):
        _checks.fail(name, value, "a concrete Python number (these formulas run on the host)")
    _checks.real_at_least(name, value, 0.0)
    if not float(value) > 1.0:
        _checks.fail(name, value,
                     "a finite real number > 1 (the N = ∞ laws need a summable Zipf law)")
    return float(value)


def zeta(s: float) -> float:
    """Riemann zeta ζ(s) = Σ_{k≥1} k^(-s) for real s > 1, to about 1e-14 relative.

    Euler–Maclaurin: the first n − 1 terms, then ∫_n^∞ + n^(-s)/2 + Bernoulli corrections
    B_2j/(2j)! · s(s+1)…(s+2j−2) · n^(-s-2j+1), with n = 20 (the corrections then fall
    by a factor ~(s+2j)²/(2πn)² each).
    """
    s = _check_zipf_exponent(s, "s")
    n = 20
    terms = [k ** -s for k in range(1, n)]
    terms += [n ** (1 - s) / (s - 1), n ** -s / 2]
    rising = s  # s(s+1)…(s+2j−2)
    for j, bernoulli in enumerate(_BERNOULLI, start=1):
        terms.append(bernoulli / math.factorial(2 * j) * rising * n ** (-s - 2 * j + 1))
        rising *= (s + 2 * j - 1) * (s + 2 * j)
    return math.fsum(terms)


def capacity_exponent(scheme: str, zipf_exponent: float, power: float = 1.0) -> float:
    """Predicted log-log slope of the error against d at T = ∞, N = ∞ (SPEC §3).

    - "population" (q = p^ρ): −(α−1)/(2ρα), valid for ρ > 1/(2α);
    - "threshold" / "empirical_top" (the P ∝ d most frequent tokens, equal weights):
      −(α−1), the best any scheme achieves;
    - "uniform" (all of N ≫ d tokens stored): 0, no decay until d is of the order of N.

    Args:
      scheme: one of `CAPACITY_SCHEMES`.
      zipf_exponent: α > 1.
      power: ρ, used by "population" only.

    Returns:
      The exponent, a float ≤ 0.
    """
    _checks.choice("scheme", scheme, CAPACITY_SCHEMES)
    alpha = _check_zipf_exponent(zipf_exponent)
    if scheme == "population":
        _checks.real_at_least("power", power, 0.0)
        power = float(power)
        if not power > 1 / (2 * alpha):
            _checks.fail(
                "power", power,
                f"> 1/(2α) = {1 / (2 * alpha):.4g} for the population law d^(−(α−1)/(2ρα)): "
                "at smaller ρ, Σ_x p(x)^(2ρ) diverges, so with N = ∞ the interference of "
                "the tail swamps every token and the error depends on N instead")
        return -(alpha - 1) / (2 * power * alpha)
    if scheme in ("threshold", "empirical_top"):
        return -(alpha - 1)
    return 0.0


def data_exponent(zipf_exponent: float) -> float:
    """Predicted log-log slope of the error against T at d = ∞: −(1 − 1/α), α > 1."""
    alpha = _check_zipf_exponent(zipf_exponent)
    return -(1 - 1 / alpha)


def missing_mass(probs, num_samples) -> jax.Array:
    """Expected probability of the tokens unseen in T draws: Σ_x p(x)(1 − p(x))^T.

    This is the d = ∞ error of any scheme that stores only seen tokens. Each term is
    computed as p·exp(T·log1p(−p)), which stays accurate for tiny p and large T.

    Args:
      probs: (N,) probabilities p.
      num_samples: T, a scalar or an array of any shape; T = 0 gives Σ p, T = inf gives 0.

    Returns:
      An array with the shape of `num_samples`.
    """
    probs = _checks.array("probs", probs, ndim=1, kind="f")
    _checks.non_negative("probs", probs)
    _checks.non_negative("num_samples", num_samples)
    dtype = jnp.result_type(jnp.asarray(probs).dtype, float)
    probs = jnp.asarray(probs, dtype)
    num_samples = jnp.asarray(num_samples, dtype)[..., None]
    log_keep = jnp.log1p(-probs)
    # 0·(−inf) and inf·0 are NaN: T = 0 keeps every token, p = 0 contributes nothing.
    exponent = jnp.where(num_samples == 0, 0.0, num_samples * log_keep)
    exponent = jnp.where(probs == 0, 0.0, exponent)
    return jnp.sum(probs * jnp.exp(exponent), axis=-1)


def missing_mass_asymptote(zipf_exponent: float, num_samples) -> jax.Array:
    """Large-T missing mass of the N = ∞ Zipf law: Γ(1−1/α) ζ(α)^(−1/α) / α · T^(−(1−1/α)).

    From Σ_x p(x) e^(−T p(x)) with p(x) ≈ x^(−α)/ζ(α) and the sum replaced by an integral;
    α = 2 gives ≈ 0.691 · T^(−1/2).

    Args:
      zipf_exponent: α > 1 (a Python number).
      num_samples: T > 0, a scalar or an array (T = 0 gives inf).
    """
    alpha = _check_zipf_exponent(zipf_exponent)
    _checks.non_negative("num_samples", num_samples)
    constant = math.gamma(1 - 1 / alpha) * zeta(alpha) ** (-1 / alpha) / alpha
    num_samples = jnp.asarray(num_samples, jnp.result_type(float))
    return constant * num_samples ** data_exponent(alpha)


def predicted_error(weights, probs, targets, dim, num_outputs: int) -> jax.Array:
    """Gaussian-interference prediction of the population error of a linear memory.

    The memory is W = Σ_x q(x) u_{f(x)} e_xᵀ with e_x ~ N(0, I/d) and u_y uniform on the
    unit sphere (the default embeddings), prediction argmax_y u_yᵀ W e_x (ties to the lowest
    y), and the prediction is E = Σ_x p(x) P(error at x), the mean over embeddings.

    Model. Fix x, c = f(x), r = ‖e_x‖², ξ_yz = u_y·u_z, and S_z = Σ_{x'≠x, f(x')=z} q(x')².
    Given e_x the class signals G_z = Σ_{f(x')=z} q(x') e_{x'}·e_x are independent,
    G_z ~ N(q(x) r [z = c], r S_z / d), the scores are s(x, y) = Σ_z G_z ξ_yz, and the margin
    against a rival y is exactly
        s(x, c) − s(x, y) = (G_c − G_y)(1 − ξ_cy) + Σ_{z≠c,y} G_z (ξ_cz − ξ_yz),
    whose variance ≈ (r/d) Σ_{x'≠x} q(x')² E[((u_c − u_y)·u_{f(x')})²] as in the paper.
    The M − 1 margins are dependent through what they share: G_c, A = Σ_{z≠c} G_z ξ_cz, and
    the signal G_h of the heaviest rival class h (whose size sets every cross term). The
    predictor conditions on r, G_h and s_c = G_c + A, and assumes the rest independent
    across rivals: each rival's own ξ_cy (bounded, |ξ| ≤ 1) is integrated separately and
    its other terms are Gaussian, so
        P(correct at x) = E_{r, G_h, s_c} Π_{y≠c} E_ξ Φ(mean_y / sd_y).
    Conditioning matters: a plain product of M − 1 margin Φs would give (1/2)^(M−1), not
    1/M, for an unstored token, and misses that a rare token loses to a heavy class
    exactly when G_h > G_c.

    Integrals: Gauss–Hermite over r and ξ; over G_h and s_c, Gauss–Legendre on pieces of
    [−8, 8] cut where a margin changes sign, so near-step integrands stay accurate.

    Assumptions: cross terms G_z ξ_yz are Gaussian; rivals are independent given
    (r, G_h, s_c); ξ ≈ Z/√(Z² + d − 1) (bounded, exact at d = 1); r ~ χ²_d/d by
    Wilson–Hilferty. Exact properties: the answer is invariant to the scale of q; all
    q = 0 gives W = 0, all scores 0, and class 0 by the tie rule (error Σ_{f(x)≠0} p(x)).
    Against Monte Carlo (N ∈ {100, 1000}, M = 5, α = 2; q = p^ρ, ρ ∈ {½, 1, 2}; top-P
    thresholds; uniform) it is within ≈ 1–3% for d ≥ 20 and ≈ 1–5% at d = 10, except
    equal weights on P ≥ M tokens at d ≤ 20 (up to +13%); it leans high (conservative).
    Against simulated seed means for α ∈ {1.5, 2}, N = 10³–10⁵ it is within 2–4%. It is
    inaccurate for α = 3 thresholds once the error is ≲ 1e-3 (2–12% high): do not use it
    as a reference there (the reproduction uses the exact unstored mass instead); and at
    d ≲ 16 when many tail tokens interfere (q = p^½, N ≥ 10⁴: 30–50% high, within 3%
    from d = 32 on).

    Routes. A call on concrete arrays takes the host route of `predicted_zipf_error`:
    the per-token statistics in float64 on the host, then the integrand on the distinct
    token instances only, in chunks of 1024 through one compiled float32 program per M,
    shared by every N, d, batch shape and scheme, so a new shape costs no compile. A
    traced call (inside `jax.jit`, `vmap` or `grad`) compiles the whole predictor for its
    shapes, in the session's precision. The two agree to 1e-5 relative (tested; the
    quadrature's own error is < 0.5 %). Cost O(N·M) per weight vector times ~10⁴ nodes;
    memory ~120·N·M floats per vector. Measured on a 2-core CPU, 4 weight vectors, M = 5
    (benchmarks/bench_predictor.py; benchmarks/README.md, fifteenth session): first calls
    at N = 100, 300, 1000, 3000 took 22 s in all traced (~5 s each to compile) against 7 s
    eager (~3 s once); warm, eager is ~2× slower at N ≤ 300 (a chunk is mostly padding:
    0.2 against 0.1 s at N = 100) and about equal from N = 1000 (1.0 against 0.9 s). For
    many calls at one small shape, wrap the call in `jax.jit`.

    Args:
      weights: (..., N) non-negative memory weights q (a batch of schemes is fine).
      probs: (..., N) probabilities p, broadcastable against `weights`.
      targets: (N,) integer classes f(x) in [0, M).
      dim: d ≥ 1; a scalar or an array broadcastable against weights.shape[:-1] (may be
        traced: a sweep over d can broadcast or vmap).
      num_outputs: M ≥ 1 (static).

    Returns:
      (...,) predicted errors over the broadcast leading shape of weights, probs and dim.
    """
    num_outputs = _checks.int_at_least("num_outputs", num_outputs, 1)
    weights = _checks.array("weights", weights, ndim=tuple(range(1, 9)), kind="f")
    num_inputs = np.shape(weights)[-1]
    probs = _checks.array("probs", probs, ndim=tuple(range(1, 9)), kind="f",
                          length={-1: (num_inputs, "weights.shape[-1] (N)")})
    targets = _checks.array("targets", targets, ndim=1, kind="i",
                            length={0: (num_inputs, "weights.shape[-1] (N)")})
    _checks.non_negative("weights", weights)
    _checks.non_negative("probs", probs)
    if not _checks._is_traced(targets):
        host = np.asarray(targets)
        if host.size and (host.min() < 0 or host.max() >= num_outputs):
            _checks.fail("targets", host, f"integers in [0, num_outputs={num_outputs})")
    if not _checks._is_traced(dim):
        host = np.asarray(dim, dtype=float)
        if np.isnan(host).any() or (host < 1).any():
            _checks.fail("dim", dim, "a dimension >= 1 (a scalar or an array)")
    if any(_checks._is_traced(a) for a in (weights, probs, targets, dim)):
        return _predicted_error(weights, probs, targets, dim, num_outputs)
    dtype = jnp.result_type(*(jax.dtypes.canonicalize_dtype(a.dtype) for a in (weights, probs)),
                            float)
    shape = np.broadcast_shapes(weights.shape[:-1], probs.shape[:-1], np.shape(dim))
    rows = [np.broadcast_to(np.asarray(a, np.float64), shape + (num_inputs,)).reshape(
        -1, num_inputs) for a in (weights, probs)]
    dims = np.broadcast_to(np.asarray(dim, np.float64), shape).reshape(-1)
    errors = _predicted_rows(*rows, np.asarray(targets), dims, num_outputs)
    return jnp.asarray(errors.reshape(shape), dtype)


# `predicted_zipf_error`: tokens below HEAD one by one, then bins of BINS_PER_OCTAVE per
# octave summed exactly up to EXPLICIT_LIMIT, then (N = ∞) one aggregate bin per class.
HEAD, BINS_PER_OCTAVE, EXPLICIT_LIMIT = 256, 8, 1 << 22


def hurwitz_zeta(s: float, a) -> np.ndarray:
    """Hurwitz zeta ζ(s, a) = Σ_{k≥0} (k + a)^(−s) for s > 1 and a > 0 (numpy float64).

    The first 20 terms, then the Euler–Maclaurin tail at a + 20 as in `zeta` (same
    accuracy, ~1e-14 relative); a = inf gives 0.
    """
    s = _check_zipf_exponent(s, "s")
    a = np.asarray(a, np.float64)
    if np.any(~(a > 0)):
        _checks.fail("a", a, "positive numbers (inf allowed)")
    with np.errstate(over="ignore", invalid="ignore"):
        direct = np.sum((a[..., None] + np.arange(20)) ** -s, axis=-1)
        b = a + 20
        terms = b ** (1 - s) / (s - 1) + b ** -s / 2
        rising = s
        for j, bernoulli in enumerate(_BERNOULLI, start=1):
            terms = terms + bernoulli / math.factorial(2 * j) * rising * b ** (-s - 2 * j + 1)
            rising *= (s + 2 * j - 1) * (s + 2 * j)
    return np.where(np.isinf(a), 0.0, direct + terms)


def _zipf_bins(weights, probs, num_outputs, cut, tail=None):
    """Aggregates tokens into representatives: (q, p mass, q² mass, class) arrays.

    Tokens x < HEAD stay single; beyond, bins of BINS_PER_OCTAVE per octave, split at
    `cut` (where q may jump; clipped into range, so an unused cut leaves an empty bin and
    every call with the same N has the same layout), one representative per class per
    bin with the bin's exact p mass and q² mass and q = √(mean q²). `tail`: per-class
    (p mass, q² mass) of the tokens beyond the explicit ones (N = ∞), or None.
    """
    n, m = len(weights), num_outputs
    head = min(n, HEAD)
    grid = np.round(head * 2.0 ** (np.arange(1, 64 * BINS_PER_OCTAVE) / BINS_PER_OCTAVE))
    grid = np.unique(grid[grid < n])
    edges = np.sort(np.concatenate([[head], grid, [np.clip(cut, head, n), n]])).astype(
        np.int64)
    q_rep, p_rep, q2_rep, classes = [weights[:head]], [probs[:head]], [weights[:head] ** 2], [
        np.arange(head) % m]
    for z in range(m):
        starts = -(-(edges - z) // m)  # index in x = z, z + M, ... of each edge
        tokens_p = np.concatenate([probs[z::m], [0.0]])
        tokens_q2 = np.concatenate([weights[z::m] ** 2, [0.0]])
        count = np.diff(starts).astype(np.float64)
        cum_p = np.concatenate([[0.0], np.cumsum(tokens_p)])
        cum_q2 = np.concatenate([[0.0], np.cumsum(tokens_q2)])
        p_sum = np.maximum(cum_p[starts[1:]] - cum_p[starts[:-1]], 0.0)
        q2_sum = np.maximum(cum_q2[starts[1:]] - cum_q2[starts[:-1]], 0.0)
        q_rep.append(np.sqrt(q2_sum / np.maximum(count, 1)))
        p_rep.append(p_sum)
        q2_rep.append(q2_sum)
        classes.append(np.full(len(count), z))
    if tail is not None:
        p_tail, q2_tail = tail
        q_rep.append(np.zeros(m))  # far-tail tokens carry no signal worth resolving
        p_rep.append(p_tail)
        q2_rep.append(q2_tail)
        classes.append(np.arange(m))
    return tuple(np.concatenate(part) for part in (q_rep, p_rep, q2_rep, classes))


def predicted_zipf_error(scheme, zipf_exponent: float, num_inputs, dims,
                         num_outputs: int) -> np.ndarray:
    """`predicted_error` of a data-free scheme on a Zipf law with f(x) = x mod M, any N.

    For large or infinite N the tokens are aggregated: x < 256 one by one; beyond, in
    bins of 1/8 octave (cut where a threshold's q jumps), one representative per class
    with the bin's exact p mass and q² mass, so the interference (which depends on
    Σ q² per class only) is exact and only the per-token recall inside a bin is
    approximated (q = √(mean q²) for all its tokens, within ±4.4% of each). With
    N = ∞ the tokens beyond 2^22 form one aggregate bin per class whose p and q² masses
    are Hurwitz-zeta sums (exact); they carry no signal (q ≈ 0 there). Against the
    token-by-token predictor at N = 3000 this moves the answer by < 0.5% (tested).

    Evaluation: the per-token statistics in float64 on the host, then the integrand on
    the distinct (q, d, class masses) instances only, in chunks of 1,024 through one
    compiled program shared by every N, d and scheme (`_predicted_rows`).

    Accuracy is that of `predicted_error`: within 2–4% of simulated seed means for
    α ∈ {1.5, 2}; for α = 3 thresholds it is 2–12% high once the error is ≲ 1e-3, so
    do not use it as a reference there (SPEC §3); for q = p^½ at d ≲ 16 and N ≥ 10⁴ it is
    30–50% high.

    Args:
      scheme: a `memjax.schemes` scheme without data: 'uniform' (finite N only),
        'population' (N = ∞ needs 2ρα > 1) or 'threshold'.
      zipf_exponent: α > 0 (α > 1 when N = ∞).
      num_inputs: N, an integer >= 1 or `math.inf`.
      dims: D dimensions d >= 1.
      num_outputs: M >= 1.

    Returns:
      (D,) predicted errors, float64.
    """
    if getattr(scheme, "kind", None) not in ("uniform", "population", "threshold"):
        _checks.fail("scheme", scheme, "a uniform, population or threshold scheme")
    num_outputs = _checks.int_at_least("num_outputs", num_outputs, 1)
    dims = _checks.int_tuple("dims", dims, 1)
    _checks.real_at_least("zipf_exponent", zipf_exponent, 0.0)
    # A call costs seconds (its quadrature is ~10⁵ normal integrals per token and d), and
    # reproduction targets ask for the same curve more than once: answers are memoised
    # per arguments (returned as fresh copies).
    if num_inputs != math.inf:
        num_inputs = _checks.int_at_least("num_inputs", num_inputs, 1)
    key = (scheme, float(zipf_exponent), num_inputs, dims, num_outputs,
           (HEAD, BINS_PER_OCTAVE, EXPLICIT_LIMIT))
    return _zipf_error_memo(*key).copy()


@functools.lru_cache(maxsize=512)
def _zipf_error_memo(scheme, zipf_exponent, num_inputs, dims, num_outputs, *settings):
    from memjax import schemes as schemes_lib

    del settings  # in the key only: the binning constants
    infinite = num_inputs == math.inf
    if infinite:
        alpha = _check_zipf_exponent(zipf_exponent)
        if scheme.kind == "uniform":
            _checks.fail("num_inputs", num_inputs, "finite for the uniform scheme (with "
                         "N = ∞ its stored mass is infinite)")
        if scheme.kind == "population" and not 2 * scheme.power * alpha > 1:
            _checks.fail("scheme", scheme.name, "population with 2ρα > 1 when N = ∞ "
                         "(else Σ q² diverges)")
        count = EXPLICIT_LIMIT
    else:
        count = _checks.int_at_least("num_inputs", num_inputs, 1)
        _checks.real_at_least("zipf_exponent", zipf_exponent, 0.0)
        alpha = float(zipf_exponent)
    ranks = np.arange(1, count + 1, dtype=np.float64)
    log_p = -alpha * np.log(ranks)
    norm = zeta(alpha) if infinite else np.exp(log_p - log_p.max()).sum()
    probs = np.exp(log_p - log_p.max()) / norm
    tail = None
    if infinite:  # class z holds x = kM + z, k ≥ k0: M^(-s) ζ(s, k0 + (z + 1)/M)
        start = -(-(count - np.arange(num_outputs)) // num_outputs) + (
            np.arange(num_outputs) + 1) / num_outputs

        def class_sums(s):
            return num_outputs ** -s * hurwitz_zeta(s, start)

        square_power = 2 * scheme.power * alpha if scheme.kind == "population" else None
        tail = (class_sums(alpha) / zeta(alpha),
                class_sums(square_power) / zeta(alpha) ** (2 * scheme.power)
                if square_power else np.zeros(num_outputs))
    bins = {}  # per threshold top P (None: the weights do not depend on d)
    for d in dims:
        top = schemes_lib.resolve_top(scheme.top, d) if scheme.kind == "threshold" else None
        if top in bins:
            continue
        if scheme.kind == "uniform":
            weights = np.ones(count)
        elif scheme.kind == "population":
            weights = probs ** scheme.power
        else:
            weights = (np.arange(count) < top).astype(np.float64)
        bins[top] = _zipf_bins(weights, probs, num_outputs, top or 0, tail)
    reps = [bins[schemes_lib.resolve_top(scheme.top, d) if scheme.kind == "threshold" else
                 None] for d in dims]
    width = max(len(r[0]) for r in reps)  # equal unless a cut splits a bin

    def stack(i):
        return np.stack([np.pad(r[i], (0, width - len(r[i]))) for r in reps])

    classes = np.pad(reps[0][3], (0, width - len(reps[0][3])))
    return _predicted_rows(stack(0), stack(1), classes, np.asarray(dims, float),
                           num_outputs, square_mass=stack(2))


def _hermite(count: int, dtype):
    """Probabilists' Gauss–Hermite rule for E[g(Z)], Z ~ N(0, 1)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(count)
    return jnp.asarray(nodes, dtype), jnp.asarray(weights / weights.sum(), dtype)


def _normal_pieces(splits, pieces: int, order: int):
    """Nodes t and weights w with Σ w g(t) ≈ E[g(Z)], Z ~ N(0, 1), for g smooth between splits.

    [−8, 8] is cut into `pieces` equal steps and at the split points (..., S). Each piece
    gets its exact normal mass, spread over `order` Gauss–Legendre nodes in proportion to
    φ, so a jump of g at a split costs nothing. Returns (..., (pieces + S)·order) arrays.
    """
    dtype = splits.dtype
    grid = jnp.linspace(-_NORMAL_RANGE, _NORMAL_RANGE, pieces + 1, dtype=dtype)
    points = jnp.broadcast_to(grid, splits.shape[:-1] + grid.shape)
    # Inserted in increasing order (S ≤ 2: min then max), each keeping `points` sorted.
    ordered = ([splits[..., 0]] if splits.shape[-1] == 1 else
               [jnp.min(splits, axis=-1), jnp.max(splits, axis=-1)])
    for split in ordered:
        points = _insert_sorted(points, jnp.clip(split, -_NORMAL_RANGE, _NORMAL_RANGE))
    low, high = points[..., :-1], points[..., 1:]
    # Upper pieces from the upper tail, where float32 still resolves their mass.
    upper = low + high > 0
    mass = jnp.where(upper, ndtr(-low) - ndtr(-high), ndtr(high) - ndtr(low))
    nodes, weights = np.polynomial.legendre.leggauss(order)
    t = (high + low)[..., None] / 2 + (high - low)[..., None] / 2 * jnp.asarray(nodes, dtype)
    density = jnp.asarray(weights, dtype) * jnp.exp(-(t**2) / 2)
    w = mass[..., None] * _safe_ratio(density, jnp.sum(density, axis=-1, keepdims=True))
    shape = splits.shape[:-1] + (-1,)
    return t.reshape(shape), w.reshape(shape)


def _insert_sorted(points, value):
    """Sorted `points` (..., K) with `value` (...) inserted: (..., K + 1), sorted.

    Entry k of the merged list is `value` clipped to [points[k − 1], points[k]] (±inf past
    the ends): the same numbers as a sort, elementwise (a sort is a call per row on CPU).
    """
    edge = jnp.full(points.shape[:-1] + (1,), jnp.inf, points.dtype)
    return jnp.clip(value[..., None], jnp.concatenate([-edge, points], axis=-1),
                    jnp.concatenate([points, edge], axis=-1))


def _half_erf(y):
    """Φ(√2 y) = (1 + erf(y))/2, to the absolute accuracy of erf (~1e-7 in float32).

    `ndtr` adds an erfc branch for relative accuracy deep in the lower tail, which makes
    the margin integrand 2.7× slower and which the predictor does not need: it sums
    log Φ of winning margins, where Φ ≈ 0 means an error probability of 1 either way,
    and the small error probabilities sit in the upper tail, 1 − Φ, that float32 resolves
    to 6e-8 with either form. XLA's float32 erf overshoots ±1 by one ulp: clipped.
    """
    return jnp.clip(0.5 + 0.5 * jax.lax.erf(y), 0.0, 1.0)


def _safe_ratio(num, den):
    """num / den, and 0 where den == 0."""
    positive = den > 0
    return jnp.where(positive, num / jnp.where(positive, den, 1.0), 0.0)


@functools.partial(jax.jit, static_argnames=("num_outputs", "quadrature"))
def _predicted_error(weights, probs, targets, dim, num_outputs, quadrature=_QUADRATURE,
                     square_mass=None):
    """The predictor; `square_mass` (..., N), if given, is the Σ q² each entry stands for
    in the interference (an aggregated bin of tokens, see `_zipf_bins`); default q²."""
    dtype = jnp.result_type(weights.dtype, probs.dtype, float)
    q = jnp.asarray(weights, dtype)  # (..., N)
    # The error is invariant to the scale of q; unit max keeps q² from underflowing.
    top = jnp.max(q, axis=-1, keepdims=True)
    q = _safe_ratio(q, top)
    q2_mass = q * q if square_mass is None else _safe_ratio(
        jnp.asarray(square_mass, dtype), top * top)
    dim = jnp.asarray(dim, dtype)[..., None]  # (..., 1) against tokens
    if num_outputs == 1:  # no rival: always correct
        return jnp.zeros(jnp.broadcast_shapes(q.shape[:-1], jnp.shape(probs)[:-1],
                                              dim.shape[:-1]), dtype)
    mass_own, mass, tie_win = _token_stats(q, q2_mass, targets, num_outputs, jnp)
    token_error = _token_error(q, dim, mass, mass_own, tie_win, quadrature)
    return jnp.sum(jnp.asarray(probs, dtype) * token_error, axis=-1)


def _token_stats(q, q2_mass, targets, num_outputs, xp):
    """Each token's class masses, in `xp` (jax.numpy traced, or numpy on the host):
    S_c (..., N) of its own class and S_y (..., N, M − 1) of its rivals y ≠ f(x) in
    increasing order (slot k holds class k, or k + 1 from f(x) on, so no work is spent on
    the correct class), and tie_win (N, M − 1): 1 where x wins a tie against y.

    S_z is every other token's q² (an entry's own bin keeps the rest of its tokens).
    """
    onehot = (targets[:, None] == xp.arange(num_outputs)).astype(q.dtype)  # (N, M)
    mass = xp.maximum((q2_mass @ onehot)[..., None, :] - (q * q)[..., None] * onehot, 0.0)
    mass_own = xp.sum(mass * onehot, axis=-1)
    slot = xp.arange(num_outputs - 1)
    rival_class = slot + (slot >= targets[:, None])  # (N, M − 1)
    rivals = xp.take_along_axis(
        mass, xp.broadcast_to(rival_class, mass.shape[:-1] + rival_class.shape[-1:]), axis=-1)
    # Ties go to the lowest class: f(x) beats y at equal scores iff f(x) < y.
    return mass_own, rivals, (rival_class > targets[:, None]).astype(q.dtype)


def _token_error(q, dim, mass, mass_own, tie_win, quadrature=_QUADRATURE):
    """P(error at x) for each token: the integrand of `predicted_error`, elementwise over
    the tokens' (broadcast) leading shape L.

    Args: q (L) the token's weight (max 1); dim (broadcastable to L); mass (L, M − 1) the
    rivals' S_y and mass_own (L) the own class's S_c, on the scale of q²; tie_win
    (broadcastable to (L, M − 1)) 1 where the token wins a tie against that rival.
    """
    dtype = q.dtype
    norm_count, sphere_count, heavy_rule, score_rule = quadrature
    heavy = jax.nn.one_hot(jnp.argmax(mass, axis=-1), mass.shape[-1],
                           dtype=dtype)  # the heaviest rival class h
    not_heavy = 1 - heavy
    mass_heavy = jnp.sum(mass * heavy, axis=-1)
    mass_rest = jnp.sum(mass * not_heavy, axis=-1)  # classes other than c and h

    norm_nodes, norm_weights = _hermite(norm_count, dtype)
    sphere_nodes, sphere_weights = _hermite(sphere_count, dtype)
    # 1 − ξ for ξ = u_c·u_y ≈ Z/√(Z² + d − 1), on axes (..., N, M, K_s, K_ξ).
    lever = 1 - sphere_nodes / jnp.sqrt(sphere_nodes**2 + dim[..., None, None, None] - 1)

    def error_given_norm(norm_node):
        spread = jnp.sqrt(2 / (9 * dim))
        r = jnp.maximum(1 - spread**2 + norm_node * spread, 0.05) ** 3  # (..., 1)
        signal = q * r  # E G_c
        sd_heavy = jnp.sqrt(r * mass_heavy / dim)
        # x loses to h about when G_h > G_c: split the G_h integral at E G_c.
        heavy_t, heavy_w = _normal_pieces(_safe_ratio(signal, sd_heavy)[..., None],
                                          *heavy_rule)

        def error_given_heavy(index):
            g_heavy = sd_heavy * heavy_t[..., index]  # (..., N)
            var_own = r * mass_own / dim  # Var G_c
            var_cross = g_heavy**2 / dim + r * mass_rest / dim**2  # Var A given G_h
            var_score = var_own + var_cross
            share = jnp.where(var_score > 0, _safe_ratio(var_own, var_score), 1.0)
            # Rival y's part of A, G_y ξ_cy, joins its margin as (G_c − G_y)(1 − ξ_cy); the
            # rest of A is shared by all rivals: κ_y A plus an independent residual.
            own_part = jnp.where(heavy > 0, (g_heavy**2 / dim)[..., None],
                                 r[..., None] * mass / dim[..., None] ** 2)
            kappa = jnp.clip(1 - _safe_ratio(own_part, var_cross[..., None]), 0.0, 1.0)
            noise = (own_part * kappa
                     + not_heavy * (g_heavy**2 / dim)[..., None]  # G_h ξ_yh
                     + r[..., None] * (mass_rest[..., None] - not_heavy * mass)
                     / dim[..., None] ** 2)  # G_z ξ_yz, z ∉ {c, y, h}
            rival_var = not_heavy * r[..., None] * mass / dim[..., None]  # Var G_y
            # Margins change sign near s_c = 0 (light rivals) and Ĝ_c + κ_h Â = G_h.
            kappa_heavy = jnp.sum(kappa * heavy, axis=-1)
            sd_score = jnp.sqrt(var_score)
            to_heavy = (g_heavy - signal) / jnp.maximum(share + kappa_heavy * (1 - share), 1e-6)
            splits = jnp.stack([_safe_ratio(-signal, sd_score),
                                _safe_ratio(to_heavy, sd_score)], axis=-1)
            score_t, score_w = _normal_pieces(splits, *score_rule)
            deviation = sd_score[..., None] * score_t  # s_c − q r, (..., N, K_s)
            g_own = signal[..., None] + share[..., None] * deviation  # E[G_c | s_c]
            cross = (1 - share)[..., None] * deviation  # E[A | s_c]
            # Margins on axes (..., M − 1, K_ξ, K_s, N), tokens minor so that the loop
            # vectorizes: linear in (g_own, cross) with coefficients per (rival, ξ) over
            # an sd that does not depend on s_c, scaled by 1/(√2 sd) outside the K_s axis.
            lever_m = lever[..., 0, :]  # (..., 1, 1, K_ξ)
            margin_var = (noise[..., None] + lever_m**2 * rival_var[..., None]
                          + (var_own * (1 - share))[..., None, None]  # Var(G_c | s_c)
                          * (lever_m - kappa[..., None]) ** 2)  # (..., N, M − 1, K_ξ)
            positive = margin_var > 0
            # Where the variance is 0 only the margin's sign counts: scale 1.
            scale = jnp.where(positive, 1 / jnp.sqrt(2 * jnp.where(positive, margin_var, 1.0)),
                              1.0)

            def rival_major(x):  # (..., N, M − 1, K_ξ) -> (..., M − 1, K_ξ, 1, N)
                return jnp.moveaxis(x, -3, -1)[..., None, :]

            own_coef = rival_major(lever_m * scale)
            cross_coef = rival_major(kappa[..., None] * scale)
            offset = rival_major((heavy * g_heavy[..., None])[..., None] * lever_m * scale)
            tie = rival_major(jnp.broadcast_to(tie_win[..., None], scale.shape))
            positive = rival_major(positive)
            g_own, cross = (jnp.swapaxes(x, -1, -2)[..., None, None, :, :] for x in (g_own, cross))
            # Computed once: XLA would otherwise fuse (recompute) them per element below.
            g_own, cross, own_coef, cross_coef, offset, tie, positive, score_w = (
                jax.lax.optimization_barrier((g_own, cross, own_coef, cross_coef, offset, tie,
                                              positive, score_w)))
            z = g_own * own_coef + cross * cross_coef - offset  # margin / (√2 sd)
            win = jnp.where(positive, _half_erf(z),
                            jnp.where(z > 0, 1.0, jnp.where(z < 0, 0.0, tie)))
            rival_win = jnp.sum(win * sphere_weights[:, None, None], axis=-3)
            log_correct = jnp.sum(jnp.log(rival_win), axis=-3)  # (..., K_s, N)
            # −expm1 keeps tiny error probabilities that 1 − Π would round to 0.
            return jnp.sum(-jnp.expm1(log_correct) * jnp.swapaxes(score_w, -1, -2), axis=-2)

        # Accumulated in the loop: stacking the nodes' errors (lax.map) rewrites the whole
        # stack each step, with the last step's integrand fused in (a fifth of the time).
        def add_heavy(index, total):
            return total + error_given_heavy(index) * heavy_w[..., index]

        return jax.lax.fori_loop(0, heavy_t.shape[-1], add_heavy, jnp.zeros_like(signal))

    return jnp.tensordot(norm_weights, jax.lax.map(error_given_norm, norm_nodes), axes=1)


_token_error_jit = _xla.jit(_token_error, static_argnames=("quadrature",))


# Token instances per call of the compiled integrand: one program for every N, d and
# scheme (shapes used to be padded per call and compiled per shape, ~2 s each).
_CHUNK = 1024


def _predicted_rows(weights, probs, targets, dims, num_outputs, square_mass=None):
    """`predicted_error` of R rows of host arrays, float64 (R,): weights, probs and
    square_mass (R, N), targets (N,), dims (R,).

    The per-token statistics are computed here in float64; the integrand runs on the
    distinct token instances only (equal q, d and class masses give equal errors: a
    threshold or uniform row has at most 2M), in chunks of `_CHUNK` through one compiled
    program, in float32 whatever the session's precision (`INTEGRAND_DTYPE`).
    """
    weights = np.asarray(weights, np.float64)
    probs = np.broadcast_to(np.asarray(probs, np.float64), weights.shape)
    targets = np.asarray(targets, np.int64)
    rows, _ = weights.shape
    if num_outputs == 1:
        return np.zeros(rows)
    top = weights.max(axis=-1, keepdims=True)
    scale = np.where(top > 0, top, 1.0)
    q = weights / scale
    q2_mass = q * q if square_mass is None else np.asarray(square_mass, np.float64) / scale**2
    mass_own, mass, tie_win = _token_stats(q, q2_mass, targets, num_outputs, np)
    tie_win = np.broadcast_to(tie_win, mass.shape)
    dim = np.broadcast_to(np.asarray(dims, np.float64)[:, None], q.shape)
    used = probs > 0  # tokens without mass add nothing
    instances = np.column_stack([q[used], dim[used], mass_own[used], mass[used],
                                 tie_win[used]])
    distinct, inverse = np.unique(instances, axis=0, return_inverse=True)
    errors = np.zeros(q.shape)
    errors[used] = _token_errors(distinct, num_outputs)[np.ravel(inverse)]
    return np.sum(probs * errors, axis=-1)


# The host route's integrand runs in float32 under JAX_ENABLE_X64 too: its quadrature
# error (< 0.5 %, `test_predictor_quadrature_has_converged`) is ~10⁴ times float32's
# rounding, and XLA's float64 erf and log cost 17× and 5× their float32 versions on CPU,
# which made the x64 predictor ~6× slower (schemes-vs-dim --quick: 17.5 vs 4.3 s in
# `predicted_zipf_error`; benchmarks/README.md, eighth session). The statistics it is fed
# are float64; the answers are returned as float64.
INTEGRAND_DTYPE = jnp.float32


def _token_errors(instances, num_outputs):
    """`_token_error` of (K, 3 + 2(M − 1)) rows [q, d, S_c, S_y..., tie_win...], chunked."""
    dtype = INTEGRAND_DTYPE
    count = len(instances)
    if count == 0:
        return np.zeros(0)
    padded = np.concatenate([instances, np.repeat(instances[:1], -count % _CHUNK, axis=0)])
    rivals = num_outputs - 1
    out = []
    for start in range(0, len(padded), _CHUNK):
        chunk = jnp.asarray(padded[start:start + _CHUNK], dtype)
        out.append(_token_error_jit(chunk[:, 0], chunk[:, 1], chunk[:, 3:3 + rivals],
                                    chunk[:, 2], chunk[:, 3 + rivals:]))
    return np.concatenate([np.asarray(o, np.float64) for o in out])[:count]
