"""Tests of memjax.train, memjax.models and memjax.optimizers: the spec of SPEC §4.

Every test uses fixed keys and small sizes (N ≤ 100, d ≤ 60, a few seeds), so the file runs
in seconds under float32 and under JAX_ENABLE_X64=1.
"""

from __future__ import annotations

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from memjax import data, models, optimizers, retrieval, train
from memjax.models import Model
from memjax.optimizers import Optimizer
from memjax.train import TrainConfig

KEY = jax.random.key(0)
_DRAW = jax.jit(train.draw, static_argnums=1)
_TRAIN = jax.jit(train.train_from, static_argnums=1)
# Most tests share one shape (N = 30, M = 5, d = 20, B = 8, 160 drawn samples), so the
# draw program compiles once for the file; compiling dominates these tests' run time.
N, M, D, B = 30, 5, 20, 8


def _draws(key=KEY, num_inputs=N, num_outputs=M, dim=D, num_samples=B * 20, alpha=2.0):
    spec = train.DrawSpec(num_inputs, num_outputs, dim, num_samples, "gaussian", "gaussian",
                          "mod")
    return _DRAW(key, spec, data.zipf_alias_table(num_inputs, alpha))


def _train(draws, config, rate, alpha=2.0, **kwargs):
    probs = data.zipf_probs(config.num_inputs, alpha)
    step = optimizers.step_sizes(rate, **kwargs)
    return _TRAIN(draws, config, step, probs)


# --- SPEC §4 facts ---------------------------------------------------------------------

@pytest.mark.parametrize("route", ["direct", "tokens"])
def test_one_population_gd_step_from_zero_gives_population_predictions(route):
    # From W = 0 the softmax is uniform, so one full-batch step adds
    # γ Σ_x p(x) (u_{f*(x)} − mean_y u_y) e_xᵀ: with orthonormal u the second term is the
    # same for every output, and the argmax is that of W_p (q = p, population(1)).
    n, m, d = 40, 5, 12  # d < N: the inputs interfere, so the predictions are not trivial
    base = _draws(KEY, n, m, d, num_samples=0)
    draws = base._replace(output_emb=jnp.eye(m, d, dtype=base.input_emb.dtype))
    config = TrainConfig(n, m, d, None, (1,), model=Model("matrix", init="zero"),
                         route=route, record=True)
    out = _train(draws, config, 0.7)
    probs = data.zipf_probs(n, 2.0)
    learned = jnp.argmax(draws.input_emb @ out.params["W"][0].T @ draws.output_emb.T, -1)
    expected = retrieval.predictions(draws.input_emb, draws.output_emb, draws.targets, probs)
    np.testing.assert_array_equal(learned, expected)
    assert 0 < np.sum(np.asarray(learned) != np.asarray(draws.targets)) < n  # non-trivial


def test_token_space_sgd_equals_direct_training(float_dtype):
    # Same updates in other coordinates: the two differ only by rounding. After S steps
    # the rounding error grows like S·eps·‖W‖ at most (the dynamics is contracting at
    # these step sizes); 50 steps × eps64 ≈ 1e-14, × eps32 ≈ 6e-6, relative to ‖W‖ ~ 1.
    tol = 1e-10 if float_dtype == np.float64 else 2e-4
    draws = _draws(jax.random.fold_in(KEY, 1), 30, 5, 40, num_samples=8 * 50, alpha=1.5)
    # Without LN the basis is span(Uᵀ) (k = M); with LN and W₀ ≠ 0 it is span(Uᵀ, W₀Eᵀ).
    for norm, batch in [(False, 8), (True, None)]:
        outs = {}
        for route in ("direct", "tokens"):
            config = TrainConfig(30, 5, 40, batch, (0, 7, 50), route=route, record=True,
                                 model=Model("matrix", layer_norm=norm),
                                 optimizer=Optimizer("sgd", schedule="step"))
            outs[route] = _train(draws, config, 3.0, alpha=1.5, decay_factor=0.5,
                                 decay_step=20)
        np.testing.assert_allclose(outs["tokens"].params["W"], outs["direct"].params["W"],
                                   atol=tol * np.abs(outs["direct"].params["W"]).max())
        if float_dtype == np.float64:
            np.testing.assert_array_equal(outs["tokens"].error, outs["direct"].error)


def test_auto_route_uses_token_space_only_where_exact():
    assert TrainConfig(100, 5, 1000, 16, (1,)).resolved_route == "tokens"
    assert TrainConfig(100, 5, 10, 16, (1,)).resolved_route == "direct"  # cheaper directly
    for optimizer in ("adam", "sign", "normalized", optax.sgd(1.0)):
        assert TrainConfig(100, 5, 1000, 16, (1,),
                           optimizer=optimizer).resolved_route == "direct"
    assert TrainConfig(100, 5, 1000, 16, (1,), model="learnable").resolved_route == "direct"


@pytest.mark.parametrize("kind", ["matrix", "learnable"])  # token space; direct (Adam)
def test_vmapped_runs_equal_a_per_run_loop(kind, float_dtype):
    config = TrainConfig(20, 5, 30, 8, (0, 5, 40), model=kind, optimizer="adam",
                         record=True)
    if kind == "matrix":
        config = TrainConfig(20, 5, 30, 8, (0, 5, 40), record=True, route="tokens")
    seeds, rates = (3, 5), (0.1, 10.0)
    out = train.train_runs(KEY, config, rates, zipf_exponent=1.5, seeds=seeds, run_chunk=3)
    chex.assert_shape([out.error, out.finite], [(2, 2, 3)] * 2)
    chex.assert_shape(out.params["W"], (2, 2, 3, 30, 30))
    for i, seed in enumerate(seeds):
        draws = _draws(jax.random.fold_in(KEY, seed), 20, 5, 30, 8 * 40, alpha=1.5)
        for j, rate in enumerate(rates):
            single = _train(draws, config, rate, alpha=1.5)
            for name in single.params:
                if float_dtype == np.float64:  # same operations, same order
                    np.testing.assert_array_equal(single.params[name],
                                                  out.params[name][i, j])
                else:  # float32: XLA may fuse differently per shape; 40 steps of eps32
                    np.testing.assert_allclose(single.params[name], out.params[name][i, j],
                                               rtol=1e-4, atol=1e-4)
            if float_dtype == np.float64:
                np.testing.assert_array_equal(single.error, out.error[i, j])


def test_one_compile_per_static_configuration():
    config = TrainConfig(20, 5, 16, 4, (3, 6), model="learnable", optimizer="sign")
    before = train.TRACE_COUNTS[config]
    for rates, seeds in [((0.1, 1.0, 10.0), (0, 1)), ((5.0, 2.0, 3.0), (7, 2))]:
        train.train_runs(KEY, config, rates, zipf_exponent=2.0, seeds=seeds, run_chunk=2)
    assert train.TRACE_COUNTS[config] - before == 1  # 3 chunks × 2 calls, one trace


def test_error_decreases_with_step_size_in_the_optimizer_grid_regime():
    # SPEC §5.6: N = 100, M = 5, α = 2, SGD, B = 16; larger steps flatten q towards
    # 1{seen} and store more of the tail.
    config = TrainConfig(100, 5, 50, 16, (64,))
    out = train.train_runs(KEY, config, (0.1, 1.0, 10.0), zipf_exponent=2.0, num_seeds=4)
    mean = out.error[..., -1].mean(axis=0)
    assert np.all(np.diff(mean) < 0), mean


def test_sign_and_normalized_gd_store_all_associations_while_gd_does_not():
    # SPEC §5.8: population GD, N = d = 10, M = 5, γ = 1, W₀ = 0, 32 fixed seeds:
    # normalised GD reaches error 0 within 100 steps; so does sign-GD except where its
    # constant ±γ step keeps bouncing a rare token (5 of 100 trials in `memjax reproduce`:
    # at that rate, 7 or more misses of 32 has probability 0.09 %); GD's shrinking
    # gradients never get there.
    reached = {}
    for kind in ("sgd", "sign", "normalized"):
        config = TrainConfig(10, 5, 10, None, tuple(range(1, 101)), optimizer=kind,
                             model=Model("matrix", init="zero"))
        errors = train.train_runs(KEY, config, 1.0, zipf_exponent=2.0,
                                  num_seeds=32).error[:, 0]
        reached[kind] = np.any(errors == 0, axis=1)
    assert reached["normalized"].all() and reached["sign"].sum() >= 32 - 6
    assert not reached["sgd"].any()


# --- Each feature changes what it should ----------------------------------------------

def test_layer_norm_makes_logits_invariant_to_the_scale_of_w():
    trained, frozen = models.init(KEY, Model("matrix"), N, M, D)
    tokens = jnp.arange(N)
    for norm in (False, True):
        model = Model("matrix", layer_norm=norm)
        small = models.logits(model, dict(frozen, **trained), tokens)
        big = models.logits(model, dict(frozen, W=3.0 * trained["W"]), tokens)
        if norm:  # LN(3z) = 3z/√(9‖z‖² + 1e-6) ≈ LN(z) up to 1e-6/‖z‖² ~ 1e-5
            np.testing.assert_allclose(big, small, rtol=1e-4, atol=1e-5)
        else:
            # Matmul rounding is relative to Σ|terms| ~ 1, not to a small logit: atol.
            np.testing.assert_allclose(big, 3.0 * small, rtol=1e-5, atol=1e-6)
    z = jnp.array([[3.0, 4.0]])
    np.testing.assert_allclose(models.layer_norm(z), z / jnp.sqrt(25.0 + 1e-6), rtol=1e-6)


def test_layer_norm_changes_training():
    draws = _draws()
    final = [_train(draws, TrainConfig(N, M, D, B, (20,), record=True, route="direct",
                                       model=Model("matrix", layer_norm=norm)),
                    1.0).params["W"] for norm in (False, True)]
    assert np.abs(final[0] - final[1]).max() > 1e-2


def test_step_schedule_decays_the_step_size():
    # Decay by 0 at step 10: nothing moves after it; a no-op schedule would keep moving.
    draws = _draws()
    config = TrainConfig(N, M, D, B, (10, 20), record=True, route="direct",
                         optimizer=Optimizer("sgd", schedule="step"))
    out = _train(draws, config, 1.0, decay_factor=0.0, decay_step=10)
    np.testing.assert_array_equal(out.params["W"][0], out.params["W"][1])
    moving = _train(draws, config, 1.0, decay_factor=1.0, decay_step=10)
    assert np.abs(moving.params["W"][0] - moving.params["W"][1]).max() > 1e-3
    rate = optimizers.schedule(Optimizer(schedule="step"), optimizers.step_sizes(10.0, 0.03,
                                                                                  100))
    np.testing.assert_allclose([rate(99), rate(100)], [10.0, 0.3], rtol=1e-6)


@pytest.mark.parametrize("kind, moved, fixed", [("matrix", "W", "EU"),
                                                ("learnable", "WEU", ""),
                                                ("exponential", "EU", "")])
def test_each_model_trains_exactly_its_parameters(kind, moved, fixed):
    out = _train(_draws(), TrainConfig(N, M, D, B, (0, 10), model=kind, record=True,
                                       route="direct"), 1.0)
    for name in moved:
        assert np.abs(out.params[name][1] - out.params[name][0]).max() > 1e-3, name
    for name in fixed:
        np.testing.assert_array_equal(out.params[name][1], out.params[name][0])
    assert ("W" in out.params) == (kind != "exponential")


def test_exponential_model_reads_relu_of_the_input_embeddings():
    trained, frozen = models.init(KEY, Model("exponential"), N, M, D)
    params = dict(frozen, **trained)
    np.testing.assert_allclose(models.logits(Model("exponential"), params, jnp.arange(N)),
                               jax.nn.relu(params["E"]) @ params["U"].T, rtol=1e-5)


def test_optimizer_updates_have_their_defining_form():
    # One step from the same point: sign moves every entry by exactly γ; normalised GD's
    # update has std γ; Adam with β₁ = β₂ = 0 is ±γ/d (ε = 1e-8 ≪ |∇| here, so the
    # magnitudes are γ/d to a relative 1e-5); plain SGD is linear in γ.
    draws = _draws()
    change = {}
    for kind in ("sgd", "sign", "normalized", "adam"):
        config = TrainConfig(N, M, D, B, (0, 1), optimizer=kind, record=True,
                             route="direct")
        w = _train(draws, config, 0.5).params["W"]
        change[kind] = np.asarray(w[1] - w[0])
    np.testing.assert_allclose(np.abs(change["sign"]), 0.5, rtol=1e-5)
    np.testing.assert_allclose(np.std(change["normalized"]), 0.5, rtol=1e-4)
    # Adam: γ/d · |∇|/(|∇| + ε), which is γ/d to 1e-4 except where |∇| < 1e-4.
    assert np.all(np.abs(change["adam"]) <= 0.5 / D * (1 + 1e-5))
    assert np.mean(np.isclose(np.abs(change["adam"]), 0.5 / D, rtol=1e-4)) > 0.95
    np.testing.assert_allclose(np.sign(change["adam"]), np.sign(change["sign"]))


def test_user_optax_transformations_work():
    draws = _draws()
    sgd = _train(draws, TrainConfig(N, M, D, B, (10,), record=True), 0.5)
    as_transform = _train(draws, TrainConfig(N, M, D, B, (10,), record=True,
                                             optimizer=optax.sgd(1.0)), 0.5)
    np.testing.assert_allclose(as_transform.params["W"], sgd.params["W"], rtol=1e-4,
                               atol=1e-5)  # token space vs direct: rounding only
    factory = _train(draws, TrainConfig(N, M, D, B, (10,), record=True,
                                        optimizer=Optimizer(optax.adam, label="adam-0.9")),
                     0.01)
    assert np.all(np.isfinite(factory.params["W"]))
    assert Optimizer(optax.adam, label="adam-0.9").name == "adam-0.9"


def test_nested_sample_sizes_equal_separate_runs():
    # One pass evaluated at T/B for every T equals a run with T samples (a prefix).
    config = TrainConfig(20, 5, 30, 8, (0, 5, 40), model="learnable", optimizer="adam")
    long = train.train_runs(KEY, config, (0.1, 10.0), zipf_exponent=1.5, seeds=(3, 5))
    short = train.train_runs(KEY, TrainConfig(20, 5, 30, 8, (5,), model="learnable",
                                              optimizer="adam"),
                             (10.0,), zipf_exponent=1.5, seeds=(5,))
    np.testing.assert_array_equal(long.error[1, 1, 1], short.error[0, 0, 0])


# --- Exact shortcuts of the direct route ----------------------------------------------

def test_adam_with_zero_betas_runs_without_state_and_equals_optax_adam():
    # β₁ = β₂ = 0: optax.adam's moments are ∇ and ∇², so the stateless rule does the same
    # operations; the old path is optax.adam itself, given as a factory (same 'dim' scales).
    def adam(learning_rate):
        return optax.adam(learning_rate, b1=0.0, b2=0.0)

    assert Optimizer("adam").state_copies == 0 and Optimizer("adam", b1=0.9).state_copies
    draws = _draws()
    kind = "learnable"  # W (γ/d) and E, U (γ/√d): both parameter groups
    ours = TrainConfig(N, M, D, B, (0, 10), model=kind, optimizer="adam", record=True)
    old = TrainConfig(N, M, D, B, (0, 10), model=kind, record=True,
                      optimizer=Optimizer(adam, step_scaling="dim", label="adam"))
    new, reference = _train(draws, ours, 3.0), _train(draws, old, 3.0)
    for name in reference.params:  # the same arithmetic: equal up to XLA's fusion choices
        np.testing.assert_allclose(new.params[name], reference.params[name], rtol=1e-6,
                                   atol=1e-7)
    np.testing.assert_array_equal(new.error, reference.error)


def test_evaluations_share_one_scan_when_their_steps_are_multiples():
    assert train._segments((64, 640, 6400))[0] == [(0, 100, 64)]  # the §5.6 grid's T/B
    assert train._segments((0, 16, 48, 160))[1].tolist() == [0, 1, 3, 10]
    assert train._segments((1, 100))[1] is None  # 98 extra evaluations: kept apart
    assert train._segments((0, 5, 10, 20))[1].tolist() == [0, 1, 2, 4]  # used below
    # The uniform layout (record=False) and the grouped one (record=True) make the same
    # steps, so they give the same errors.
    draws = _draws()
    config = TrainConfig(N, M, D, B, (0, 5, 10, 20), optimizer="adam")
    grouped = _train(draws, dataclasses.replace(config, record=True), 2.0)
    uniform = _train(draws, config, 2.0)
    np.testing.assert_array_equal(uniform.error, grouped.error)
    np.testing.assert_array_equal(uniform.finite, grouped.finite)


def test_run_sizes_count_only_the_arrays_a_run_keeps():
    # The exponential model has no d × d memory; stateless Adam keeps no moments.
    matrix = TrainConfig(100, 5, 1000, 16, (1,), optimizer="adam")
    expo = TrainConfig(100, 5, 1000, 16, (1,), model="exponential", optimizer="adam")
    moments = TrainConfig(100, 5, 1000, 16, (1,), optimizer=Optimizer("adam", b1=0.9))
    assert expo.bytes_per_run() < matrix.bytes_per_run() / 5
    assert moments.bytes_per_run() > 1.5 * matrix.bytes_per_run()


@pytest.mark.parametrize("kind", ["matrix", "learnable", "exponential"])
def test_flop_counts_are_those_of_the_products_of_a_step(kind):
    # 2·m·n·k per (m × k)(k × n) product of the gradient step, read off its jaxpr.
    config = TrainConfig(N, M, D, B, (1,), model=kind, optimizer="adam")
    trained, frozen = models.split(config.model, *_draws()[:3])
    tokens = jnp.arange(B)
    step = jax.make_jaxpr(jax.grad(lambda p: models.loss(
        config.model, dict(frozen, **p), tokens, tokens % M)))(trained)
    flops = 0
    for eqn in step.jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            contracted = eqn.params["dimension_numbers"][0][0]
            flops += 2 * np.prod(eqn.outvars[0].aval.shape) * np.prod(
                [eqn.invars[0].aval.shape[i] for i in contracted])
    assert flops == config.flops_per_step()



@pytest.mark.parametrize("invariant", [False, True])
@pytest.mark.parametrize("kind", ["matrix", "learnable"])
@pytest.mark.parametrize("rows", [16, models._LEFT_PRODUCT_ROWS,
                                  models._LEFT_PRODUCT_ROWS + 1, 100])
def test_both_layouts_of_the_hidden_product_equal_emb_times_w_transposed(kind, rows,
                                                                         invariant):
    # A few rows are multiplied as (W embᵀ)ᵀ, more as emb Wᵀ (`models._rows_times_transpose`,
    # a speed choice); both must give emb Wᵀ and its gradients up to float rounding: each
    # entry is a sum of d = 200 products of O(1/√d) terms, so an error of a few ulps of the
    # O(1) result, well inside rtol = 1e-4 (float32) / 1e-12 (float64).
    dim = 200
    trained, frozen = models.split(Model(kind), *_draws(dim=dim, num_inputs=100)[:3])
    tokens = jax.random.randint(jax.random.key(3), (rows,), 0, 100)
    plain = lambda p: jnp.matmul(p["E"][tokens], p["W"].T,
                                 precision=jax.lax.Precision.HIGHEST)
    params = dict(frozen, **trained)
    # invariant_grad: the training loop's product, whose gradient is a custom VJP.
    ours = lambda p: models.hidden(Model(kind), p, tokens, invariant_grad=invariant)
    tol = 1e-4 if jnp.result_type(float) == jnp.float32 else 1e-12
    np.testing.assert_allclose(ours(params), plain(params), rtol=tol, atol=tol)
    weights = jax.random.normal(jax.random.key(4), (rows, dim))
    ours_grad = jax.grad(lambda p: jnp.sum(weights * ours(p)))(params)
    plain_grad = jax.grad(lambda p: jnp.sum(weights * plain(p)))(params)
    for name in ("W", "E"):
        np.testing.assert_allclose(ours_grad[name], plain_grad[name], rtol=tol,
                                   atol=tol * float(jnp.max(jnp.abs(plain_grad[name]))))


def test_the_public_loss_supports_forward_mode_and_the_training_product_matches_it():
    # models.loss is composable: a Hessian-vector product (forward over reverse) works by
    # default; invariant_grad=True (reverse mode only) gives the same loss and gradient
    # within float rounding (the same products, summed in another order), the same
    # tolerance argument as above.
    model = Model("learnable", layer_norm=True)
    trained, frozen = models.split(model, *_draws(dim=64, num_inputs=100)[:3])
    tokens = jax.random.randint(jax.random.key(5), (16,), 0, 100)
    labels = tokens % 5
    loss = lambda w, inv=False: models.loss(model, {**frozen, **trained, "W": w}, tokens,
                                            labels, invariant_grad=inv)
    w = trained["W"]
    hvp = jax.jvp(jax.grad(loss), (w,), (jnp.ones_like(w),))[1]
    assert hvp.shape == w.shape and bool(jnp.all(jnp.isfinite(hvp)))
    tol = 1e-4 if jnp.result_type(float) == jnp.float32 else 1e-12
    np.testing.assert_allclose(loss(w, True), loss(w), rtol=tol)
    grad, plain = jax.grad(loss)(w, True), jax.grad(loss)(w)
    np.testing.assert_allclose(grad, plain, rtol=tol,
                               atol=tol * float(jnp.max(jnp.abs(plain))))

# --- Bad input -------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, name", [
    (dict(batch_size=0), "batch_size"), (dict(eval_steps=()), "eval_steps"),
    (dict(eval_steps=(3, 3)), "eval_steps"), (dict(model="mlp"), "model kind"),
    (dict(optimizer="rmsprop"), "optimizer kind"), (dict(targets="odd"), "targets"),
    (dict(route="tokens", optimizer="adam"), "route"), (dict(dim=0), "dim"),
])
def test_bad_configurations_name_the_argument(kwargs, name):
    args = dict(num_inputs=10, num_outputs=5, dim=8, batch_size=4, eval_steps=(2,))
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        TrainConfig(**args)


@pytest.mark.parametrize("kwargs, name", [
    (dict(kind="sgd", schedule="cosine"), "schedule"), (dict(step_scaling="half"),
                                                        "step_scaling"),
    (dict(kind="adam", b1=1.0), "b1"), (dict(kind=3), "optimizer kind"),
])
def test_bad_optimizers_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Optimizer(**kwargs)


def test_bad_step_sizes_and_runs_name_the_argument():
    with pytest.raises(ValueError, match="learning_rate"):
        optimizers.step_sizes(-1.0)
    with pytest.raises(ValueError, match="decay_factor"):
        optimizers.step_sizes(1.0, decay_factor=np.nan)
    config = TrainConfig(10, 5, 8, 4, (2,))
    with pytest.raises(ValueError, match="zipf_exponent"):
        train.train_runs(KEY, config, 1.0, zipf_exponent=-1.0)
    with pytest.raises(ValueError, match="seeds"):
        train.train_runs(KEY, config, 1.0, zipf_exponent=1.0, seeds=(1, 1))
    with pytest.raises(ValueError, match="config"):
        train.train_runs(KEY, "matrix", 1.0, zipf_exponent=1.0)
