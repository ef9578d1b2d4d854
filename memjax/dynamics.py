"""Approximate per-token dynamics of SGD on the matrix model (SPEC §4, §5.5).

With (near-)orthogonal embeddings the memory decouples into one weight q(x) per token,
the gap between the logit of the correct output and the M − 1 others. A visit of x
with step γ moves it by γ (1 − softmax) = γ / (1 + e^{q}/m) with m = M − 1 competitors:

    visit map      q ← q + γ / (1 + e^q / m)
    batch map      q(x) ← q(x) + (γ/B) · n_B(x) / (1 + e^{q(x)} / m)

Small steps give q ∝ (number of visits) ∝ p; large steps saturate the head after a few
visits (q grows like log of the visits), which flattens q towards 1{seen}: q ≈ p^ρ with
a small ρ. `fitted_power` measures that ρ and `power_vs_step_size` traces it against γ.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from memjax import _checks


def visit_map(weights, step_size, competitors):
    """One visit: q + γ / (1 + e^q / m) (elementwise; any broadcastable shapes)."""
    return weights + step_size / (1.0 + jnp.exp(weights) / competitors)


def after_visits(num_visits: int, step_size, competitors) -> jax.Array:
    """q after n = 0, 1, …, num_visits visits from q = 0, shape (num_visits + 1,) (+ the
    shape of step_size: vmappable over γ)."""
    num_visits = _checks.int_at_least("num_visits", num_visits, 0)
    _checks.real_at_least("competitors", competitors, 0.0)
    start = jnp.zeros_like(jnp.asarray(step_size, jnp.result_type(float)))

    def visit(q, _):
        q = visit_map(q, step_size, competitors)
        return q, q

    _, path = jax.lax.scan(visit, start, None, length=num_visits)
    return jnp.concatenate([start[None], path])


def batch_weights(probs, step_size, batch_size, num_steps: int, competitors,
                  counts=None, *, trajectory: bool = False) -> jax.Array:
    """q(x) after `num_steps` batch maps from q = 0, shape (N,).

    Args:
      probs: (N,) p. step_size: γ. batch_size: B. competitors: m = M − 1.
      counts: optional (num_steps, N) visit counts n_B(x) of each batch (a real stream);
        default: their expectation B·p(x) at every step.
      trajectory: return q after every step instead, (num_steps + 1, N) from q = 0.
    """
    num_steps = _checks.int_at_least("num_steps", num_steps, 0)
    probs = jnp.asarray(probs, jnp.result_type(float))
    if counts is None:
        counts = jnp.broadcast_to(batch_size * probs, (num_steps, probs.shape[0]))

    def step(q, visits):
        q = q + (step_size / batch_size) * visits / (1.0 + jnp.exp(q) / competitors)
        return q, q

    start = jnp.zeros_like(probs)
    q, path = jax.lax.scan(step, start, jnp.asarray(counts, probs.dtype))
    return jnp.concatenate([start[None], path]) if trajectory else q


def batch_counts(tokens, num_inputs: int, batch_size: int) -> jax.Array:
    """Counts n_B(x) per consecutive batch of a token stream, (T // B, N)."""
    batches = jnp.asarray(tokens)[: (len(tokens) // batch_size) * batch_size].reshape(
        -1, batch_size)
    return jax.vmap(lambda b: jnp.zeros(num_inputs, jnp.int32).at[b].add(1))(batches)


def fitted_power(weights, probs, *, min_weight: float = 0.0) -> jax.Array:
    """ρ of the least-squares fit log q = ρ log p + c over tokens with q > min_weight.

    Weights are compared up to scale, so ρ = 1 for q ∝ p and ρ = 0 for q constant.
    """
    weights = jnp.asarray(weights)
    logp = jnp.log(jnp.asarray(probs, weights.dtype))
    keep = weights > min_weight
    logq = jnp.log(jnp.where(keep, weights, 1.0))
    count = jnp.sum(keep)
    mean_p = jnp.sum(jnp.where(keep, logp, 0.0)) / count
    mean_q = jnp.sum(jnp.where(keep, logq, 0.0)) / count
    cov = jnp.sum(jnp.where(keep, (logp - mean_p) * (logq - mean_q), 0.0))
    var = jnp.sum(jnp.where(keep, (logp - mean_p) ** 2, 0.0))
    return cov / var


def power_vs_step_size(probs, step_sizes, batch_size, num_steps: int,
                       competitors) -> jax.Array:
    """The fitted ρ of the expected batch dynamics for each γ in `step_sizes` (vmapped)."""
    rates = jnp.asarray(np.asarray(step_sizes, np.float64), jnp.result_type(float))
    if rates.ndim != 1 or not bool(jnp.all(rates > 0)):
        _checks.fail("step_sizes", step_sizes, "a 1-d sequence of positive numbers")
    weights = jax.vmap(lambda g: batch_weights(probs, g, batch_size, num_steps,
                                               competitors))(rates)
    return jax.vmap(lambda q: fitted_power(q, probs))(weights)


def stored_weights(input_emb, output_emb, matrix, targets) -> jax.Array:
    """The per-token weight a memory W holds, as the dynamics defines it: the correct
    output's score minus the mean of the others, u_{f*(x)}ᵀ W e_x − mean_{y≠f*(x)} u_yᵀ W e_x,
    shape (N,)."""
    scores = input_emb @ matrix.T @ output_emb.T  # (N, M)
    correct = jnp.take_along_axis(scores, targets[:, None], axis=1)[:, 0]
    others = (jnp.sum(scores, axis=1) - correct) / max(scores.shape[1] - 1, 1)
    return correct - others
