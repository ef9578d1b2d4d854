"""Tests of memjax.dynamics: the per-token approximation of SGD (SPEC §4, §5.5)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memjax import data, dynamics, optimizers, train
from memjax.models import Model
from memjax.train import TrainConfig


def test_visit_map_values(assert_close):
    # From 0: γ/(1 + 1/m); a saturated weight barely moves.
    assert_close(dynamics.visit_map(0.0, 2.0, 4.0), 2.0 / 1.25)
    assert float(dynamics.visit_map(30.0, 1.0, 4.0) - 30.0) < 1e-12 + 1e-5
    path = dynamics.after_visits(3, 1.0, 10.0)
    assert path.shape == (4,) and float(path[0]) == 0.0
    assert_close(path[2], dynamics.visit_map(dynamics.visit_map(0.0, 1.0, 10.0), 1.0, 10.0))
    assert np.all(np.diff(np.diff(np.asarray(path))) < 0)  # concave: saturation


def test_fitted_power_recovers_a_power_of_p(assert_close):
    probs = data.zipf_probs(50, 1.5)
    for power in (0.05, 0.35, 1.0):
        # Relative rounding of log p^ρ: a few eps; the slope inherits it.
        assert_close(dynamics.fitted_power(probs ** power, probs), power,
                     rtol={np.float32: 1e-4})
    weights = (probs ** 0.5).at[40:].set(0.0)  # unseen tokens are left out of the fit
    assert_close(dynamics.fitted_power(weights, probs), 0.5, rtol={np.float32: 1e-4})


def test_fitted_power_falls_from_one_as_the_step_size_grows():
    # SPEC §4: small γ stores q ∝ p (ρ = 1); large γ flattens q (small ρ).
    probs = data.zipf_probs(100, 2.0)
    powers = np.asarray(dynamics.power_vs_step_size(probs, [0.01, 0.1, 1.0, 10.0, 100.0],
                                                    batch_size=1000, num_steps=100,
                                                    competitors=4))
    assert abs(powers[0] - 1.0) < 0.01
    assert np.all(np.diff(powers) < 0) and powers[-1] < 0.5


def test_sgd_with_orthonormal_embeddings_follows_the_batch_map(float_dtype):
    # One-hot inputs (d = N) and orthonormal outputs decouple the tokens exactly; the gap
    # q = correct logit − others then moves by (γ/B) n_B (1 + 1/m) / (1 + e^q/m): the batch
    # map with step γ·M/(M − 1). Only rounding separates the two (10 steps of eps).
    n, m, batch, steps, rate = 32, 5, 8, 10, 2.0
    spec = train.DrawSpec(n, m, n, batch * steps, "gaussian", "gaussian", "mod")
    table = data.zipf_alias_table(n, 2.0)
    draws = jax.jit(train.draw, static_argnums=1)(jax.random.key(3), spec, table)
    dtype = draws.input_emb.dtype
    draws = draws._replace(input_emb=jnp.eye(n, dtype=dtype),
                           output_emb=jnp.eye(m, n, dtype=dtype))
    config = TrainConfig(n, m, n, batch, (steps,), model=Model("matrix", init="zero"),
                         record=True)
    out = jax.jit(train.train_from, static_argnums=1)(
        draws, config, optimizers.step_sizes(rate), data.zipf_probs(n, 2.0))
    learned = dynamics.stored_weights(draws.input_emb, draws.output_emb,
                                      out.params["W"][-1], draws.targets)
    counts = dynamics.batch_counts(draws.tokens, n, batch)
    predicted = dynamics.batch_weights(data.zipf_probs(n, 2.0), rate * m / (m - 1), batch,
                                       steps, m - 1, counts=counts)
    tol = 1e-12 if float_dtype == np.float64 else 1e-5
    np.testing.assert_allclose(learned, predicted, rtol=tol, atol=tol)
    assert np.sum(np.asarray(counts).sum(0) == 0) > 0  # some tokens unseen: q stays 0
    np.testing.assert_array_equal(np.asarray(learned)[np.asarray(counts).sum(0) == 0], 0.0)


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="num_visits"):
        dynamics.after_visits(-1, 1.0, 4.0)
    with pytest.raises(ValueError, match="step_sizes"):
        dynamics.power_vs_step_size(data.zipf_probs(10, 1.0), [0.0, 1.0], 10, 10, 4)
    with pytest.raises(ValueError, match="num_steps"):
        dynamics.batch_weights(data.zipf_probs(10, 1.0), 1.0, 10, -2, 4)
