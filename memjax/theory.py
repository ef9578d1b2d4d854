"""Theory: the paper's predictions, to check simulations against (no Monte Carlo here).

- `capacity_exponent`, `data_exponent`: log-log slopes of the error against d (T = ∞) and
  against T (d = ∞) in the N = ∞ limit (SPEC §3).
- `missing_mass`, `missing_mass_asymptote`: the d = ∞ error Σ_x p(x)(1 − p(x))^T, exact
  for a finite law, and its large-T, N = ∞ Zipf asymptote.
- `predicted_error`: a finite-N, finite-d numerical predictor of the population error of
  W = Σ_x q(x) u_{f(x)} e_xᵀ under the default embeddings (Gaussian-interference
  approximation).

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

from memjax import _checks

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

    Args:
      weights: (..., N) non-negative memory weights q (a batch of schemes is fine).
      probs: (..., N) probabilities p, broadcastable against `weights`.
      targets: (N,) integer classes f(x) in [0, M).
      dim: d ≥ 1; a scalar or an array broadcastable against weights.shape[:-1] (may be
        traced: a sweep over d can broadcast or vmap).
      num_outputs: M ≥ 1 (static).

    Returns:
      (...,) predicted errors over the broadcast leading shape of weights, probs and dim.
      Cost O(N·M) per weight vector times ~10⁴ quadrature nodes (≈ 0.3 s per weight
      vector at N = 1000, M = 5 on a 2-core CPU); memory ~120·N·M floats per vector.
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
    return _predicted_error(weights, probs, targets, dim, num_outputs)


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
    points = jnp.sort(jnp.concatenate(
            [jnp.broadcast_to(grid, splits.shape[:-1] + grid.shape),
             jnp.clip(splits, -_NORMAL_RANGE, _NORMAL_RANGE)], axis=-1), axis=-1)
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


def _safe_ratio(num, den):
    """num / den, and 0 where den == 0."""
    positive = den > 0
    return jnp.where(positive, num / jnp.where(positive, den, 1.0), 0.0)


@functools.partial(jax.jit, static_argnames=("num_outputs", "quadrature"))
def _predicted_error(weights, probs, targets, dim, num_outputs, quadrature=_QUADRATURE):
    dtype = jnp.result_type(weights.dtype, probs.dtype, float)
    norm_count, sphere_count, heavy_rule, score_rule = quadrature
    q = jnp.asarray(weights, dtype)  # (..., N)
    # The error is invariant to the scale of q; unit max keeps q² from underflowing.
    top = jnp.max(q, axis=-1, keepdims=True)
    q = _safe_ratio(q, top)
    dim = jnp.asarray(dim, dtype)[..., None]  # (..., 1) against tokens
    onehot = jax.nn.one_hot(targets, num_outputs, dtype=dtype)  # (N, M)
    rivals = onehot == 0
    # Ties go to the lowest class: f(x) beats y at equal scores iff f(x) < y.
    tie_win = (jnp.arange(num_outputs) > targets[:, None]).astype(dtype)
    q2 = q * q
    mass = jnp.maximum((q2 @ onehot)[..., None, :] - q2[..., None] * onehot, 0.0)  # S_z
    mass_own = jnp.sum(mass * onehot, axis=-1)  # S_c
    heavy = rivals * jax.nn.one_hot(jnp.argmax(jnp.where(rivals, mass, -1.0), axis=-1),
                                    num_outputs, dtype=dtype)  # the heaviest rival class h
    not_heavy = rivals * (1 - heavy)
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
            # Axes (..., N, M, K_s, K_ξ).
            margin = ((g_own[..., None, :, None] - (heavy * g_heavy[..., None])[..., None, None])
                      * lever + kappa[..., None, None] * cross[..., None, :, None])
            margin_var = (noise[..., None, None] + lever**2 * rival_var[..., None, None]
                          + (var_own * (1 - share))[..., None, None, None]  # Var(G_c | s_c)
                          * (lever - kappa[..., None, None]) ** 2)
            sd = jnp.sqrt(jnp.where(margin_var > 0, margin_var, 1.0))
            win = jnp.where(margin_var > 0, ndtr(margin / sd),
                            jnp.where(margin > 0, 1.0,
                                      jnp.where(margin < 0, 0.0, tie_win[..., None, None])))
            log_correct = jnp.sum(jnp.where(rivals[..., None], jnp.log(win @ sphere_weights),
                                            0.0), axis=-2)
            # −expm1 keeps tiny error probabilities that 1 − Π would round to 0.
            return jnp.sum(-jnp.expm1(log_correct) * score_w, axis=-1)

        errors = jax.lax.map(error_given_heavy, jnp.arange(heavy_t.shape[-1]))
        return jnp.sum(jnp.moveaxis(errors, 0, -1) * heavy_w, axis=-1)

    token_error = jnp.tensordot(norm_weights, jax.lax.map(error_given_norm, norm_nodes), axes=1)
    return jnp.sum(jnp.asarray(probs, dtype) * token_error, axis=-1)
