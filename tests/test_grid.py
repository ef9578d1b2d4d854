"""memjax.sweep: one call over a (scheme, seed, T, d) grid, reproducible point by point."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import memjax
from memjax import data, embeddings, grid, schemes

KEY = jax.random.key(7)
SMALL = dict(num_inputs=60, num_outputs=4, zipf_exponent=1.5, dims=(4, 9, 16),
             num_samples=(0, 5, 40, math.inf),
             schemes=(schemes.population(1.0), schemes.threshold("d/4"),
                      schemes.empirical(0.0), schemes.empirical(1.0, top=3)),
             num_seeds=5)


def small(**overrides):
    return memjax.sweep(KEY, **{**SMALL, **overrides})


@pytest.fixture(scope="module")
def reference():
    return small()


def test_result_has_named_dims_and_coordinates(reference):
    assert reference.dims == ("scheme", "seed", "num_samples", "dim")
    assert reference.error.shape == (4, 5, 4, 3)
    assert reference.coords["scheme"] == [
        "population(power=1)", "threshold(top=d/4)", "empirical(power=0)",
        "empirical(power=1, top=3)"]
    np.testing.assert_array_equal(reference.coords["seed"], np.arange(5))
    np.testing.assert_array_equal(reference.coords["num_samples"], [0, 5, 40, np.inf])
    np.testing.assert_array_equal(reference.coords["dim"], [4, 9, 16])
    assert np.all((reference.error >= 0) & (reference.error <= 1))
    np.testing.assert_allclose(reference.mean("seed"), reference.error.mean(axis=1))
    np.testing.assert_allclose(reference.std("dim"), reference.error.std(axis=3))


@pytest.mark.parametrize("seed_chunk", [1, 2, 3])
def test_points_do_not_depend_on_seed_chunking(reference, seed_chunk):
    np.testing.assert_array_equal(small(seed_chunk=seed_chunk).error, reference.error)


def test_points_do_not_depend_on_seed_order(reference):
    shuffled = small(seeds=(4, 1, 3, 0, 2))
    np.testing.assert_array_equal(shuffled.error, reference.error[:, [4, 1, 3, 0, 2]])


def test_points_do_not_depend_on_grid_extent(reference):
    part = small(dims=(9, 4), num_samples=(40, 0), schemes=SMALL["schemes"][2:],
                 num_seeds=3)
    expected = reference.error[2:, :3][:, :, [2, 0]][..., [1, 0]]
    np.testing.assert_array_equal(part.error, expected)
    # A larger d_max or T_max draws more, but the shared prefixes are unchanged.
    wider = small(dims=(4, 9, 16, 40), num_samples=(0, 5, 40, math.inf, 300))
    np.testing.assert_array_equal(wider.error[:, :, :4, :3], reference.error)


def test_independent_draws_do_not_depend_on_grid_extent():
    full = small(nested=False)
    part = small(nested=False, dims=(16,), num_seeds=2)
    np.testing.assert_array_equal(part.error, full.error[:, :2, :, 2:])


@pytest.mark.parametrize("route", ["tokens", "gram", "matrix"])
def test_routes_agree(reference, route):
    # Each route computes the same scores up to float rounding; a flip would need a
    # near-tie within ~1e-6 relative, which these 60-token cases do not have.
    np.testing.assert_array_equal(small(route=route).error, reference.error)


def _numpy_error(weights, input_emb, output_emb, targets, probs):
    """Float64 brute force with W formed explicitly."""
    mem = (weights[:, None] * output_emb[targets]).T @ input_emb
    pred = np.argmax(input_emb @ mem.T @ output_emb.T, axis=1)
    return probs[pred != targets].sum(), input_emb @ mem.T @ output_emb.T


@pytest.mark.parametrize("nested", [True, False])
def test_each_point_equals_a_float64_brute_force_from_the_same_draws(nested):
    """Rebuilds one seed's draws with the public functions and recomputes its errors in
    NumPy float64; float32 sweeps must agree wherever no score is within 1e-4 of a tie."""
    result = small(num_seeds=2, seeds=(3, 1), nested=nested,
                   input_embedding="sphere", output_embedding="gaussian")
    n, m = SMALL["num_inputs"], SMALL["num_outputs"]
    probs = np.array(data.zipf_probs(n, SMALL["zipf_exponent"]), np.float64)  # a copy
    probs /= probs.sum()
    targets = np.arange(n) % m
    checked = 0
    for s_index, seed in enumerate((3, 1)):
        key = jax.random.fold_in(KEY, seed)
        # Role keys: 0 embeddings (inputs are rows :N of one N + M draw), 1 data.
        stream = data.sample_tokens(jax.random.fold_in(key, 1),
                                    data.zipf_alias_table(n, SMALL["zipf_exponent"]), 40)
        for i, dim in enumerate(SMALL["dims"]):
            emb_key = jax.random.fold_in(key, 0)
            if not nested:
                emb_key = jax.random.fold_in(emb_key, dim)
            width = max(SMALL["dims"]) if nested else dim
            both = embeddings.draw_base(emb_key, n + m, width)
            input_emb = np.asarray(embeddings.restrict(both[:n], dim, "sphere"), np.float64)
            output_emb = np.asarray(embeddings.restrict(both[n:], dim, "gaussian"),
                                    np.float64)
            for t, size in enumerate(SMALL["num_samples"]):
                counts = np.bincount(np.asarray(stream[:int(size)] if math.isfinite(size)
                                                else stream[:0]), minlength=n)
                for sc, scheme in enumerate(SMALL["schemes"]):
                    weights = np.asarray(scheme.weights(  # role 3: the top-P tie order
                        counts, size, probs, dim, key=jax.random.fold_in(key, 3)), np.float64)
                    expected, scores = _numpy_error(weights, input_emb, output_emb,
                                                    targets, probs)
                    top2 = np.sort(scores, axis=1)[:, -2:]
                    gap = (top2[:, 1] - top2[:, 0]) / (np.abs(top2).max(axis=1) + 1e-30)
                    if np.all(weights == 0) or gap.min() > 1e-4:
                        checked += 1
                        np.testing.assert_allclose(result.error[sc, s_index, t, i],
                                                   expected, rtol=1e-5, atol=1e-7)
    assert checked > 0.8 * 2 * 3 * 4 * 4  # near-ties are rare: most points are checked


def test_eager_equals_jit():
    config = grid.SweepConfig(num_inputs=50, num_outputs=3, dims=(12,),
                                   num_samples=(10, math.inf),
                                   schemes=(schemes.empirical(0.5, top="d/2"),))
    probs = data.zipf_probs(50, 2.0)
    table = data.zipf_alias_table(50, 2.0)
    seeds = jnp.arange(2, dtype=jnp.uint32)
    jitted = grid._chunk_errors(config, KEY, seeds, probs, table)
    with jax.disable_jit():
        eager = jnp.stack([grid._seed_errors(config, KEY, s, probs, table)
                           for s in seeds])
    np.testing.assert_allclose(jitted, eager, rtol=1e-6, atol=1e-7)


def test_one_compile_per_configuration():
    grid.TRACE_COUNTS.clear()
    args = dict(small_args := {**SMALL, "num_inputs": 37, "num_seeds": 3})
    memjax.sweep(KEY, **args, seed_chunk=1)  # three chunks, one shape
    memjax.sweep(jax.random.key(1), **{**args, "zipf_exponent": 2.5}, seed_chunk=1)
    assert list(grid.TRACE_COUNTS.values()) == [1]
    del small_args


def test_zero_memory_gives_the_exact_w0_error():
    """T = 0 stores nothing and top = 0 keeps nothing: W = 0 predicts 0 everywhere, so
    the error is 1 − Σ_{x ≡ 0 mod M} p(x) (0.3610 for N = 1000, M = 5, α = 2)."""
    result = memjax.sweep(KEY, num_inputs=1000, num_outputs=5, zipf_exponent=2.0,
                          dims=(8, 20), num_samples=(0, math.inf),
                          schemes=(schemes.empirical(0.0), schemes.threshold(0)),
                          num_seeds=3)
    probs = np.asarray(data.zipf_probs(1000, 2.0), np.float64)
    exact = 1 - probs[::5].sum()
    assert round(exact, 4) == 0.3610
    np.testing.assert_allclose(result.error[0, :, 0], exact, rtol=1e-6)
    np.testing.assert_allclose(result.error[1], exact, rtol=1e-6)


def test_empirical_at_infinite_data_is_the_population_scheme():
    result = small(schemes=(schemes.empirical(1.0), schemes.population(1.0)))
    np.testing.assert_array_equal(result.error[0, :, -1], result.error[1, :, -1])


def test_random_targets_change_the_result_but_stay_reproducible():
    a = small(targets="random")
    np.testing.assert_array_equal(a.error, small(targets="random").error)
    assert not np.array_equal(a.error, small().error)


def test_custom_schemes_run_and_nan_weights_are_reported():
    fixed = schemes.custom(np.linspace(1, 0, 60), name="linear")
    learned = schemes.custom(lambda f, p, d: jnp.sqrt(f) * d, name="sqrt")
    result = small(schemes=(fixed, learned))
    assert result.coords["scheme"] == ["linear", "sqrt"]
    with pytest.raises(ValueError, match="invalid weights from schemes \\['nan'\\]"):
        small(schemes=(schemes.custom(lambda f, p, d: f / 0.0 * 0.0, name="nan"),))
    with pytest.raises(ValueError, match="invalid weights from schemes \\['negative'\\]"):
        small(schemes=(fixed, schemes.custom(lambda f, p, d: f - 0.5, name="negative")))


def test_progress_bar_reports_chunks(capsys):
    small(progress=True, seed_chunk=2)
    assert "3/3" in capsys.readouterr().err


@pytest.mark.parametrize("overrides, message", [
    (dict(num_inputs=0), "num_inputs must be an integer >= 1; got 0"),
    (dict(num_outputs=-2), "num_outputs must be an integer >= 1; got -2"),
    (dict(zipf_exponent=-1.0), "zipf_exponent must be a finite real number >= 0"),
    (dict(zipf_exponent=math.nan), "zipf_exponent must be"),
    (dict(zipf_exponent=math.inf), "zipf_exponent must be"),
    (dict(dims=(4, 0)), r"dims\[1\] must be an integer >= 1; got 0"),
    (dict(dims=()), "dims must be a non-empty sequence"),
    (dict(dims=(4, 4)), "dims must be a sequence without repeated values"),
    (dict(num_samples=(-1,)), r"num_samples\[0\] must be a real number \(inf allowed\) >= 0"),
    (dict(num_samples=(2.5,)), r"num_samples\[0\] must be an integer >= 0 or inf"),
    (dict(num_samples=(math.nan,)), r"num_samples\[0\] must be"),
    (dict(num_seeds=0), "num_seeds must be an integer >= 1; got 0"),
    (dict(schemes=("nonsense",)), "scheme must be one of uniform"),
    (dict(schemes=()), "schemes must be a non-empty sequence"),
    (dict(schemes=(schemes.threshold(lambda d: -d),)), "top at dim=4"),
    (dict(schemes=(schemes.custom(np.ones(3)),)), "has 3 weights, but num_inputs is 60"),
    (dict(input_embedding="uniform"), "input_embedding must be one of 'gaussian', 'sphere'"),
    (dict(output_embedding="x"), "output_embedding must be one of"),
    (dict(targets="identity"), "targets must be one of 'mod', 'random'"),
    (dict(seed_chunk=0), "seed_chunk must be an integer >= 1"),
    (dict(route="fast"), "route must be one of"),
    (dict(devices=[]), "devices must be a non-empty sequence of jax devices"),
    (dict(devices=jax.devices()[:1] * 2), "devices must be distinct jax devices"),
])
def test_bad_input_is_rejected_before_tracing(overrides, message):
    with pytest.raises(ValueError, match=message):
        small(**overrides)


def test_scaling_sanity_at_moderate_size():
    """Log-log slopes over d of the seed-mean error (N=1000, M=5, α=2, T=∞, 64 seeds).

    Theory (SPEC §3, N=∞): population(1) ~ d^(−(α−1)/(2α)) = d^(−1/4), threshold(d/8)
    ~ d^(−(α−1)) = d^(−1). With 64 seeds the slope's sampling sd is ~0.01–0.03; finite-N
    and log-factor corrections (capacity ~ d/log d) shift finite-range slopes by up to
    ~0.1 (population) and ~0.15 (threshold), which sets the tolerances.
    """
    dims = (32, 64, 128, 256, 512, 1000)
    result = memjax.sweep(KEY, num_inputs=1000, num_outputs=5, zipf_exponent=2.0,
                          dims=dims, num_samples=(math.inf,), num_seeds=64,
                          schemes=(schemes.population(1.0), schemes.threshold("d/8")))
    mean = result.mean("seed")[:, 0]
    slopes = [np.polyfit(np.log(dims), np.log(m), 1)[0] for m in mean]
    assert abs(slopes[0] - (-0.25)) < 0.1, slopes
    assert abs(slopes[1] - (-1.0)) < 0.15, slopes


# --- huge N and T: the streamed route, multinomial counts, the memory budget ------------

STREAMED = dict(num_inputs=2500, num_outputs=6, zipf_exponent=1.2, dims=(8, 40),
                num_samples=(200, math.inf), num_seeds=2,
                schemes=(schemes.population(1.0), schemes.threshold("d/4"),
                         schemes.empirical(0.0)))


@pytest.mark.parametrize("overrides", [
    {"input_embedding": "sphere", "nested": False}, {"num_outputs": 80}])
def test_streamed_route_agrees_with_the_in_memory_route(overrides):
    # Same draws (embeddings are keyed by row block), different summation order: the
    # error masses differ by float rounding (~1e-7), except where a token's top two
    # scores tie to rounding and it flips: then by its p(x), ≤ 2e-4 for x ≥ 400 here.
    kw = {**STREAMED, **overrides}
    whole = memjax.sweep(KEY, route="tokens", **kw)
    streamed = memjax.sweep(KEY, route="stream", token_chunk=1024, **kw)
    assert streamed.config["route"] == "stream"
    _assert_equal_up_to_ties(streamed.error, whole.error)


def _assert_equal_up_to_ties(actual, desired):
    diff = np.abs(np.asarray(actual, np.float64) - desired)
    assert np.count_nonzero(diff > 1e-5) <= 2, diff.max()
    assert diff.max() < 2e-4


def test_streamed_route_does_not_depend_on_the_token_chunk_beyond_rounding():
    one = memjax.sweep(KEY, route="stream", token_chunk=1024, **STREAMED)
    three = memjax.sweep(KEY, route="stream", token_chunk=3072, **STREAMED)
    _assert_equal_up_to_ties(one.error, three.error)


def _streamed_config():
    """STREAMED's configuration, before planning."""
    return grid.SweepConfig(**{f: STREAMED[f] for f in (
        "num_inputs", "num_outputs", "dims", "num_samples", "schemes")})


def test_plan_fits_the_budget_and_refuses_bad_arguments_naming_them():
    config = _streamed_config()
    whole_seed = grid.plan(config, 1 << 40)
    assert whole_seed.route != "stream" and whole_seed.lanes == 1
    streamed = grid.plan(config, whole_seed.bytes_per_seed() // 2)
    assert streamed.route == "stream"
    assert streamed.bytes_per_seed() <= whole_seed.bytes_per_seed() // 2
    for args, name in [(("uniform", 1 << 20), "config"),
                       ((config, 0), "memory_budget"), ((config, 1.5), "memory_budget"),
                       ((config, 1 << 20, 0), "lanes")]:
        with pytest.raises(ValueError, match=name):
            grid.plan(*args)


def test_auto_streams_tokens_when_a_seed_does_not_fit_the_budget():
    whole_seed = grid.plan(_streamed_config(), 1 << 40).bytes_per_seed()
    result = memjax.sweep(KEY, memory_budget=whole_seed // 2, **STREAMED)
    assert result.config["route"] == "stream"
    assert result.config["token_chunk"] % embeddings.block_size(2506) == 0
    reference = memjax.sweep(KEY, **STREAMED)
    assert reference.config["route"] != "stream"
    _assert_equal_up_to_ties(result.error, reference.error)


def test_a_sweep_that_cannot_fit_is_refused_before_compiling_with_the_size_it_needs():
    traced = sum(grid.TRACE_COUNTS.values())
    with pytest.raises(ValueError, match=r"needs about [\d.,]+ MiB .*memory_budget=\d+"):
        memjax.sweep(KEY, num_inputs=10**6, num_outputs=10**4, zipf_exponent=1.0,
                     dims=(4096,), num_samples=(math.inf,), schemes=("population",),
                     memory_budget=64 << 20)
    with pytest.raises(ValueError, match="token_chunk"):
        memjax.sweep(KEY, route="stream", token_chunk=1000, **STREAMED)
    with pytest.raises(ValueError, match=r"route 'tokens'.*memory_budget=\d+"):
        memjax.sweep(KEY, route="tokens", memory_budget=1 << 20, **STREAMED)
    assert sum(grid.TRACE_COUNTS.values()) == traced


def test_multinomial_counts_give_the_same_law_as_streamed_counts():
    # Mean error over 64 seeds per point: a two-sample z-test with the seeds' spread.
    kw = dict(num_inputs=300, num_outputs=5, zipf_exponent=1.5, dims=(10, 60),
              num_samples=(30, 300), num_seeds=64,
              schemes=(schemes.empirical(0.0), schemes.empirical(1.0, top="d/2")))
    streamed = memjax.sweep(KEY, counts="stream", **kw)
    drawn = memjax.sweep(KEY, counts="multinomial", **kw)
    assert drawn.config["counts"] == "multinomial" and streamed.config["counts"] == "stream"
    a, b = streamed.error, drawn.error
    z = (a.mean(1) - b.mean(1)) / np.sqrt((a.var(1) + b.var(1)) / 64 + 1e-12)
    assert np.abs(z).max() < 5
    assert not np.array_equal(a, b)  # two different draws, not one path twice


def test_sample_sizes_up_to_a_trillion_use_multinomial_counts():
    result = memjax.sweep(KEY, num_inputs=200, num_outputs=5, zipf_exponent=2.0,
                          dims=(20,), num_samples=(10**6, 10**12, math.inf), num_seeds=2,
                          schemes=(schemes.empirical(0.0),))
    assert result.config["counts"] == "multinomial"
    # At T = 10^12 every token of p >= 1/(200² ζ(2)) is seen ~10^7 times: the seen set is
    # every token and empirical(0) stores the same weights as T = ∞.
    np.testing.assert_array_equal(result.error[0, :, 1], result.error[0, :, 2])
