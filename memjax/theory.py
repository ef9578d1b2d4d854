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
from jax.scipy.special import log_ndtr

from memjax import _checks

CAPACITY_SCHEMES = ("population", "threshold", "empirical_top", "uniform")

# Quadrature sizes of `predicted_error`: Gauss–Hermite nodes over the correct score and
# over ‖e_x‖². The integrands are smooth; more nodes change the error by < 1e-4 (tested).
_SCORE_NODES = 32
_NORM_NODES = 12

# Bernoulli numbers B_2 … B_14 for the Euler–Maclaurin tail of ζ.
_BERNOULLI = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6)


def _check_zipf_exponent(zipf_exponent) -> float:
    _checks.real_at_least("zipf_exponent", zipf_exponent, 0.0)
    if not float(zipf_exponent) > 1.0:
        _checks.fail("zipf_exponent", zipf_exponent,
                     "a finite real number > 1 (the N = ∞ laws need a summable Zipf law)")
    return float(zipf_exponent)


def zeta(s: float) -> float:
    """Riemann zeta ζ(s) = Σ_{k≥1} k^(-s) for real s > 1, to about 1e-14 relative.

    Euler–Maclaurin: the first n − 1 terms, then ∫_n^∞ + n^(-s)/2 + Bernoulli corrections
    B_2j/(2j)! · s(s+1)…(s+2j−2) · n^(-s-2j+1), with n = 20 (the corrections then fall
    by a factor ~(s+2j)²/(2πn)² each).
    """
    s = _check_zipf_exponent(s)
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
      num_samples: T > 0, a scalar or an array.
    """
    alpha = _check_zipf_exponent(zipf_exponent)
    constant = math.gamma(1 - 1 / alpha) * zeta(alpha) ** (-1 / alpha) / alpha
    num_samples = jnp.asarray(num_samples, jnp.result_type(float))
    return constant * num_samples ** data_exponent(alpha)


def _normal_nodes(count: int):
    """Probabilists' Gauss–Hermite nodes and weights for E[g(Z)], Z ~ N(0, 1)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(count)
    return nodes, weights / weights.sum()


def predicted_error(weights, probs, targets, dim, num_outputs: int) -> jax.Array:
    """Gaussian-interference prediction of the population error of a linear memory.

    The memory is W = Σ_x q(x) u_{f(x)} e_xᵀ with e_x ~ N(0, I/d) and u_y uniform on the
    unit sphere (the default embeddings), prediction argmax_y u_yᵀ W e_x, and
    E = Σ_x p(x) · P(error at x), the expectation over the embeddings.

    Model. Write r = ‖e_x‖², c = f(x), and S_z = Σ_{x'≠x, f(x')=z} q(x')² the stored mass of
    class z without x. Given e_x, the class signals G_z = Σ_{f(x')=z} q(x') e_{x'}·e_x are
    independent, G_z ~ N(q(x) r [z = c], r S_z / d), and the scores are
    s(x, y) = Σ_z G_z (u_y·u_z) with u_y·u_z of variance 1/d (z ≠ y). So
        s(x, c) ≈ N(q(x) r, (r/d)[S_c + Σ_{z≠c} S_z / d]),
        s(x, y) ≈ N(0, (r/d)[S_y (1 − 1/d) + (q(x)² r + Σ_z S_z) / d]),   y ≠ c,
    the margins s(x,c) − s(x,y) having mean q(x) r and variance ≈ (r/d) Σ_{x'≠x} q(x')²
    E[((u_c − u_y)·u_{f(x')})²]. The scores are uncorrelated; the approximation treats
    them as independent Gaussians given r, so
        P(correct at x) = E_r E_Z Π_{y≠c} Φ((q(x) r + σ_c Z) / σ_y).
    Conditioning on s(x, c) keeps the correlation the M − 1 margins share through it
    (a plain product of margin Φs would give (1/2)^(M−1) instead of 1/M for an unstored
    token); E_Z and E_r (r ~ χ²_d/d via Wilson–Hilferty) are Gauss–Hermite sums.

    Assumptions: Gaussian products G_z (u_y·u_z) and u_y·u_z (the sphere's inner products
    are bounded by 1, so d ≲ 5 with a dominant token is off), independence of the scores
    given r. Exact cases: all q = 0 gives W = 0, every score 0, and the tie rule predicts
    class 0 (error = Σ_{f(x)≠0} p(x)); a token with q(x) = 0 among others has pure-noise
    scores and is right with probability ≈ 1/M (exactly 1/M when the classes are
    balanced).

    Args:
      weights: (..., N) non-negative memory weights q (a batch of schemes is fine).
      probs: (..., N) probabilities p, broadcastable against `weights`.
      targets: (N,) integer classes f(x) in [0, M).
      dim: d ≥ 1; a scalar or an array broadcastable against weights.shape[:-1] (may be
        traced, so sweeps over d can vmap or broadcast).
      num_outputs: M ≥ 1 (static).

    Returns:
      (...,) predicted errors, the leading shape of weights, probs and dim broadcast.
      Cost O(N·M) per weight vector (times the quadrature sizes).
    """
    num_outputs = _checks.int_at_least("num_outputs", num_outputs, 1)
    weights = _checks.array("weights", weights, ndim=tuple(range(1, 8)), kind="f")
    num_inputs = np.shape(weights)[-1]
    probs = _checks.array("probs", probs, ndim=tuple(range(1, 8)), kind="f",
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
        if np.any(np.isnan(np.asarray(dim, float))) or np.any(np.asarray(dim) < 1):
            _checks.fail("dim", dim, "a dimension >= 1 (scalar or array)")
    return _predicted_error(weights, probs, targets, dim, num_outputs)


@functools.partial(jax.jit, static_argnames=("num_outputs",))
def _predicted_error(weights, probs, targets, dim, num_outputs):
    dtype = jnp.result_type(weights.dtype, probs.dtype, float)
    q = jnp.asarray(weights, dtype)
    dim = jnp.asarray(dim, dtype)[..., None]  # broadcasts against (..., N)
    onehot = jax.nn.one_hot(targets, num_outputs, dtype=dtype)  # (N, M)
    q2 = q**2
    class_mass = q2 @ onehot  # (..., M): Σ_{f(x')=z} q(x')²
    # Everything below excludes x itself: S_z and Σ_z S_z per token.
    other = class_mass[..., None, :] - q2[..., :, None] * onehot  # (..., N, M)
    other = jnp.maximum(other, 0.0)  # rounding in the subtraction
    other_own = jnp.sum(other * onehot, axis=-1)  # S_c
    other_total = jnp.sum(other, axis=-1)  # Σ_z S_z
    rivals = onehot == 0  # (N, M): the classes y ≠ f(x)

    score_nodes, score_weights = (jnp.asarray(a, dtype) for a in _normal_nodes(_SCORE_NODES))
    norm_nodes, norm_weights = (jnp.asarray(a, dtype) for a in _normal_nodes(_NORM_NODES))

    def error_given_norm(norm_node):
        # r = ‖e_x‖² ~ χ²_d/d by Wilson–Hilferty; the floor keeps r > 0 at extreme nodes.
        spread = jnp.sqrt(2.0 / (9.0 * dim))
        r = jnp.maximum(1.0 - spread**2 + norm_node * spread, 0.05) ** 3
        mean_c = q * r
        var_c = r / dim * (other_own + (other_total - other_own) / dim)
        var_y = r[..., None] / dim[..., None] * (
                other * (1.0 - 1.0 / dim[..., None])
                + ((q2 * r + other_total) / dim)[..., None])
        # σ_y = 0 only in the all-zero case, handled below; keep the division finite.
        sd_y = jnp.sqrt(jnp.where(var_y > 0, var_y, 1.0))
        correct = mean_c[..., None] + jnp.sqrt(var_c)[..., None] * score_nodes  # (..., N, K)
        log_win = log_ndtr(correct[..., None, :] / sd_y[..., None])  # (..., N, M, K)
        log_win = jnp.sum(jnp.where(rivals[..., None], log_win, 0.0), axis=-2)
        # −expm1 keeps tiny error probabilities that 1 − Π Φ would round to 0.
        return -jnp.expm1(log_win) @ score_weights  # (..., N)

    token_error = jnp.tensordot(norm_weights, jax.lax.map(error_given_norm, norm_nodes),
                                axes=1)
    # W = 0 (nothing else stored, q(x) = 0): every score is 0 and the tie rule picks 0.
    silent = (q == 0) & (other_total == 0)
    token_error = jnp.where(silent, (targets != 0).astype(dtype), token_error)
    return jnp.sum(jnp.asarray(probs, dtype) * token_error, axis=-1)
