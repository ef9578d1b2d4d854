"""Tests for memjax.theory: exponents, missing mass, and the Gaussian-interference predictor."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memjax import _xla, schemes, theory

X64 = jnp.result_type(float) == jnp.float64
# Rounding of one float computation: machine epsilon of the active default float, ×10.
ROUND = 10 * float(jnp.finfo(jnp.result_type(float)).eps)


def zipf(num_inputs, zipf_exponent):
    """p(x) ∝ (x+1)^(−α), in float64 on the host (the reference, not the code under test)."""
    probs = np.arange(1, num_inputs + 1, dtype=np.float64) ** -zipf_exponent
    return probs / probs.sum()


# --- exponents (SPEC §3) -----------------------------------------------------------------


def test_zeta_matches_closed_forms():
    # Euler–Maclaurin with 7 Bernoulli terms at n = 20 is accurate to ~1e-15.
    assert theory.zeta(2.0) == pytest.approx(math.pi**2 / 6, rel=1e-14)
    assert theory.zeta(4.0) == pytest.approx(math.pi**4 / 90, rel=1e-14)
    assert theory.zeta(3.0) == pytest.approx(1.2020569031595942854, rel=1e-14)
    assert theory.zeta(1.5) == pytest.approx(2.6123753486854883433, rel=1e-14)
    # Near the pole ζ(s) = 1/(s−1) + γ + O(s−1), γ = 0.5772...
    assert theory.zeta(1.001) == pytest.approx(1000 + 0.5772157, rel=1e-6)


def test_exponents_match_spec_table_at_alpha_2():
    assert theory.capacity_exponent("population", 2.0, power=1.0) == pytest.approx(-0.25)
    assert theory.capacity_exponent("population", 2.0, power=0.5) == pytest.approx(-0.5)
    assert theory.capacity_exponent("threshold", 2.0) == pytest.approx(-1.0)
    assert theory.capacity_exponent("empirical_top", 2.0) == pytest.approx(-1.0)
    assert theory.capacity_exponent("uniform", 2.0) == 0.0
    assert theory.data_exponent(2.0) == pytest.approx(-0.5)
    assert theory.data_exponent(1.5) == pytest.approx(-1 / 3)


def test_population_exponent_reaches_the_optimum_at_the_validity_edge():
    # −(α−1)/(2ρα) → −(α−1) as ρ → 1/(2α): storing p^ρ then ranks like thresholding.
    alpha = 3.0
    edge = 1 / (2 * alpha)
    assert theory.capacity_exponent("population", alpha, edge * 1.000001) == pytest.approx(
            theory.capacity_exponent("threshold", alpha), rel=1e-5)


@pytest.mark.parametrize("call, argument", [
    (lambda: theory.capacity_exponent("population", 2.0, power=0.25), "power"),
    (lambda: theory.capacity_exponent("population", 2.0, power=0.1), "power"),
    (lambda: theory.capacity_exponent("threshold", 1.0), "zipf_exponent"),
    (lambda: theory.capacity_exponent("optimal", 2.0), "scheme"),
    (lambda: theory.data_exponent(0.5), "zipf_exponent"),
    (lambda: theory.zeta(1.0), "s"),
    (lambda: theory.missing_mass_asymptote(1.0, 10), "zipf_exponent"),
])
def test_bad_theory_arguments_raise_naming_the_argument(call, argument):
    with pytest.raises(ValueError, match=argument):
        call()


# --- missing mass ------------------------------------------------------------------------


@pytest.mark.parametrize("num_inputs, zipf_exponent", [(10, 1.0), (1000, 2.0), (5000, 1.5)])
def test_missing_mass_matches_direct_float64_sum(num_inputs, zipf_exponent):
    probs = zipf(num_inputs, zipf_exponent)
    sizes = np.array([1.0, 10.0, 1e3, 1e5])
    expected = np.array([np.sum(probs * (1 - probs) ** t) for t in sizes])
    got = np.asarray(theory.missing_mass(probs, sizes))
    assert got.shape == sizes.shape
    # Each term exp(T log1p(−p)) has relative error ≈ (Tp + 1)·eps where it matters
    # (Tp ≲ 30), and a sum of N terms adds log2(N)·eps: 1e-4 is generous for float32.
    np.testing.assert_allclose(got, expected, rtol=1e-11 if X64 else 1e-4)


def test_missing_mass_edges_zero_and_infinite_samples():
    probs = zipf(100, 2.0)
    got = theory.missing_mass(probs, jnp.array([0.0, jnp.inf]))
    # T = 0: nothing seen, the whole (normalised) mass is missing; T = ∞: nothing missing.
    assert float(got[0]) == pytest.approx(1.0, rel=ROUND * 100)
    assert float(got[1]) == 0.0
    assert float(theory.missing_mass(probs, 0)) == pytest.approx(1.0, rel=ROUND * 100)


def test_missing_mass_is_jittable_and_decreasing():
    probs = jnp.asarray(zipf(200, 2.0))
    sizes = jnp.array([1.0, 3.0, 10.0, 30.0, 100.0])
    got = jax.jit(theory.missing_mass)(probs, sizes)
    assert bool(jnp.all(jnp.diff(got) < 0))


def test_missing_mass_asymptote_matches_exact_at_large_n():
    # N = 10^6, α = 2, T = 10^3. The asymptote replaces (1−p)^T by e^(−Tp), whose leading
    # correction is relative −Γ(3−1/α)/(2Γ(1−1/α)T) = −0.375/T ≈ −4e-4, and N = ∞ (the
    # tail beyond 10^6 holds ≈ 1/(ζ(2)N) ≈ 6e-7 of the mass). So 2e-3 (several times the
    # predicted gap) is a strict check of the constant Γ(1/2) ζ(2)^(−1/2) / 2 ≈ 0.691.
    probs = zipf(10**6, 2.0)
    exact = float(theory.missing_mass(probs, 1e3))
    asymptote = float(theory.missing_mass_asymptote(2.0, 1e3))
    assert asymptote == pytest.approx(exact, rel=2e-3)
    assert float(theory.missing_mass_asymptote(2.0, 1.0)) == pytest.approx(
            math.sqrt(math.pi) / math.sqrt(math.pi**2 / 6) / 2, rel=1e-6)


# --- predicted_error -----------------------------------------------------------------------


MC_SEEDS, MC_MAX_DIM = 1000, 50


@functools.lru_cache(maxsize=None)
def standard_normals(num_vectors):
    """One (MC_SEEDS, num_vectors, MC_MAX_DIM) standard normal draw from a fixed key.

    Every d uses its first d coordinates (each exactly N(0, I_d)), so the draw compiles
    once; the "rbg" generator because a threefry compile costs seconds on a CPU.
    """
    key = jax.random.key(0, impl="rbg")
    return jax.random.normal(key, (MC_SEEDS, num_vectors, MC_MAX_DIM))


def monte_carlo_errors(weights, probs, targets, dim, num_outputs):
    """Exact population error of W = Σ_x q(x) u_{f(x)} e_xᵀ for each of MC_SEEDS draws."""
    num_inputs = len(probs)
    base = standard_normals(num_inputs + num_outputs)[..., :dim]

    @jax.jit
    @jax.vmap
    def one_draw(normals):
        inputs = normals[:num_inputs] / jnp.sqrt(dim)  # e_x ~ N(0, I/d)
        outputs = normals[num_inputs:]
        outputs = outputs / jnp.linalg.norm(outputs, axis=1, keepdims=True)  # sphere
        memory = (outputs[targets] * weights[:, None]).T @ inputs  # d × d
        scores = inputs @ memory.T @ outputs.T  # scores[x, y] = u_yᵀ W e_x
        wrong = jnp.argmax(scores, axis=1) != targets
        return jnp.sum(jnp.where(wrong, probs, 0.0))

    return np.asarray(one_draw(base), np.float64)


@pytest.mark.parametrize("dim", [10, 50])
@pytest.mark.parametrize("scheme", ["population", "threshold"])
def test_predicted_error_matches_monte_carlo(dim, scheme):
    num_inputs, num_outputs = 100, 5
    probs = zipf(num_inputs, 2.0)
    targets = np.arange(num_inputs) % num_outputs
    if scheme == "population":
        weights = probs
    else:
        weights = (np.arange(num_inputs) < dim / 8).astype(np.float64)
    draws = monte_carlo_errors(jnp.asarray(weights), jnp.asarray(probs), jnp.asarray(targets),
                               dim, num_outputs)
    mean, standard_error = draws.mean(), draws.std(ddof=1) / math.sqrt(MC_SEEDS)
    predicted = float(theory.predicted_error(weights, probs, targets, dim, num_outputs))
    # 3 standard errors of the Monte Carlo mean (a false alarm ≈ 0.3% per case), plus a
    # 3% model-error allowance: against 4000-seed runs the approximation is off by
    # +1.4% (population, d=10), +1.1% (threshold, d=10), +0.9% and +0.5% at d = 50.
    assert abs(predicted - mean) <= 3 * standard_error + 0.03 * mean, (predicted, mean)


def test_zero_memory_predicts_class_zero_exactly():
    # W = 0: every score is 0, the tie rule answers 0, so the error is the mass of f(x) ≠ 0.
    num_inputs, num_outputs = 1000, 5
    probs = zipf(num_inputs, 2.0)
    targets = np.arange(num_inputs) % num_outputs
    expected = 1 - probs[targets == 0].sum()
    assert round(expected, 4) == 0.3610  # SPEC §1
    got = theory.predicted_error(np.zeros(num_inputs), probs, targets, 64, num_outputs)
    assert float(got) == pytest.approx(expected, rel=ROUND * 10)


def test_predicted_error_is_invariant_to_the_scale_of_the_weights():
    # argmax is unchanged when W is multiplied by c > 0; tiny scales must not underflow.
    num_inputs, num_outputs = 100, 5
    probs = zipf(num_inputs, 2.0)
    targets = np.arange(num_inputs) % num_outputs
    reference = float(theory.predicted_error(probs, probs, targets, 10, num_outputs))
    for scale in (1e-20, 1e6):
        got = float(theory.predicted_error(scale * probs, probs, targets, 10, num_outputs))
        assert got == pytest.approx(reference, rel=1e-5)  # float32 rounding of q / max q


def test_unstored_token_with_balanced_classes_is_right_one_time_in_m():
    # By symmetry an unstored token (pure-noise scores) wins with probability exactly 1/M
    # when every class holds the same stored mass. Allowance 0.02: the model's cross terms
    # are Gaussian (true: products), worth ≈ 1/d relative; measured 0.813 at d = 10.
    num_inputs, num_outputs = 100, 5
    weights = (np.arange(num_inputs) < 50).astype(np.float64)  # 10 stored tokens per class
    targets = np.arange(num_inputs) % num_outputs
    token = np.eye(num_inputs)[57]  # all the probability on one unstored token
    for dim in (10, 50):
        got = float(theory.predicted_error(weights, token, targets, dim, num_outputs))
        assert got == pytest.approx(1 - 1 / num_outputs, abs=0.02)


def test_predicted_error_decreases_with_dimension_and_batches():
    num_inputs, num_outputs = 100, 5
    probs = zipf(num_inputs, 2.0)
    targets = np.arange(num_inputs) % num_outputs
    dims = np.array([10.0, 100.0])
    batch = theory.predicted_error(np.stack([probs, probs]), probs, targets, dims, num_outputs)
    assert batch.shape == (2,)
    assert float(batch[1]) < float(batch[0])
    # A traced dim (vmap) takes the device route, the batch the host route: the same
    # integrand on statistics rounded differently, so 1e-5 relative (as in the host-route
    # test below).
    mapped = jax.vmap(lambda d: theory.predicted_error(probs, probs, targets, d, num_outputs))(
            jnp.asarray(dims))
    np.testing.assert_allclose(mapped, batch, rtol=1e-5)
    single = theory.predicted_error(probs, probs, targets, 100, num_outputs)
    assert float(single) == pytest.approx(float(batch[1]), rel=1e-5)


def test_predictor_quadrature_has_converged():
    # The docstring promises that refining every quadrature rule moves the answer < 0.5%;
    # the worst case measured is q = p at d = 10 (0.44%).
    num_inputs, num_outputs = 100, 5
    probs = zipf(num_inputs, 2.0)
    args = (jnp.asarray(np.stack([probs, np.sqrt(probs)])), jnp.asarray(probs),
            jnp.asarray(np.arange(num_inputs) % num_outputs), jnp.array([10.0, 100.0]),
            num_outputs)
    coarse = theory._predicted_error(*args)
    fine = theory._predicted_error(*args, quadrature=(6, 6, (12, 4), (12, 4)))
    np.testing.assert_allclose(coarse, fine, rtol=5e-3)


def test_half_erf_is_the_normal_cdf_to_float_accuracy():
    # Φ(x) = (1 + erf(x/√2))/2 without ndtr's erfc branch: erf's absolute error is a few
    # ulp of 1, so 4·eps bounds the difference from ndtr; the clip keeps it in [0, 1].
    x = jnp.linspace(-12.0, 12.0, 20001)
    got = theory._half_erf(x * math.sqrt(0.5))
    eps = float(jnp.finfo(x.dtype).eps)
    np.testing.assert_allclose(got, jax.scipy.special.ndtr(x), rtol=0, atol=4 * eps)
    assert float(got.min()) >= 0.0 and float(got.max()) <= 1.0


def test_insert_sorted_gives_the_sorted_merge():
    rng = np.random.default_rng(0)
    grid = np.linspace(-8, 8, 9)
    # Values inside, on the grid (ties) and beyond both ends.
    values = np.concatenate([rng.uniform(-10, 10, 200), grid, [-np.inf, np.inf]])
    points = np.broadcast_to(grid, values.shape + grid.shape)
    got = theory._insert_sorted(jnp.asarray(points), jnp.asarray(values))
    want = np.sort(np.concatenate([points, values[:, None]], axis=-1), axis=-1)
    np.testing.assert_array_equal(got, want.astype(got.dtype))


@pytest.mark.parametrize("num_outputs", [1, 2, 5])
def test_host_route_matches_the_jitted_predictor(num_outputs, monkeypatch):
    # `_predicted_rows` (float64 statistics, distinct instances, chunks through one
    # program) against `_predicted_error` (all on device): the same integrand on
    # statistics rounded differently, so agreement to 1e-5 relative (float32 statistics
    # carry ~1e-7, which the integrand amplifies by at most ~10²). Chunks of 7 put
    # every row across several calls.
    monkeypatch.setattr(theory, "_CHUNK", 7)
    num_inputs = 60
    probs = zipf(num_inputs, 1.5)
    targets = np.arange(num_inputs) % num_outputs
    weights = np.stack([probs, np.sqrt(probs), (np.arange(num_inputs) < 9) * 1.0,
                        np.ones(num_inputs)])
    square = weights**2 * np.linspace(1, 3, num_inputs)  # as if each entry were a bin
    dims = np.array([8.0, 20.0, 50.0, 200.0])
    for square_mass in (None, square):
        host = theory._predicted_rows(weights, probs, targets, dims, num_outputs,
                                      square_mass=square_mass)
        device = theory._predicted_error(
            jnp.asarray(weights), jnp.asarray(probs), jnp.asarray(targets), jnp.asarray(dims),
            num_outputs, square_mass=None if square_mass is None else jnp.asarray(square))
        assert host.dtype == np.float64 and host.shape == (4,)
        np.testing.assert_allclose(host, np.asarray(device, np.float64), rtol=1e-5,
                                   atol=1e-12)


def test_host_route_evaluates_each_distinct_token_once(monkeypatch):
    # A threshold row has two kinds of token per class (stored, q = 1; unstored, q = 0),
    # each with the same class masses: at most 2M distinct instances, not N.
    seen = []
    real = theory._token_errors
    monkeypatch.setattr(theory, "_token_errors",
                        lambda rows, m: seen.append(len(rows)) or real(rows, m))
    num_inputs, num_outputs = 400, 5
    probs = zipf(num_inputs, 2.0)
    weights = (np.arange(num_inputs) < 40)[None] * 1.0
    theory._predicted_rows(weights, probs[None], np.arange(num_inputs) % num_outputs,
                           np.array([64.0]), num_outputs)
    assert seen == [2 * num_outputs]


def test_eager_calls_share_one_integrand_program_and_traced_calls_agree(monkeypatch):
    # An eager call takes the host route: its integrand is traced once per M, whatever
    # N, d or the batch shape (a fresh jit counts the traces). A traced call compiles the
    # device route (once here: ~5 s); the two agree to 1e-5 relative, as in the
    # host-route test above.
    traces = []

    def counted(*args):
        traces.append(args[0].shape)
        return theory._token_error(*args)

    monkeypatch.setattr(theory, "_token_error_jit", _xla.jit(counted))
    device_calls = []
    real = theory._predicted_error
    monkeypatch.setattr(theory, "_predicted_error",
                        lambda *a, **k: device_calls.append(1) or real(*a, **k))
    predict = jax.jit(theory.predicted_error, static_argnums=4)
    for num_inputs, dim in ((50, 12.0), (80, np.array([[10.0], [40.0]]))):
        probs = zipf(num_inputs, 1.5)
        weights = np.stack([probs, np.sqrt(probs), np.ones(num_inputs)])
        targets = np.arange(num_inputs) % 5
        eager = theory.predicted_error(weights, probs, targets, dim, 5)
        assert not device_calls and eager.shape == np.broadcast_shapes((3,), np.shape(dim))
    assert len(traces) == 1, traces
    traced = predict(weights, probs, targets, dim, 5)
    assert device_calls
    np.testing.assert_allclose(np.asarray(eager), np.asarray(traced), rtol=1e-5)


@pytest.mark.parametrize("change, argument", [
    (dict(weights=-np.ones(10)), "weights"),
    (dict(targets=np.full(10, 5)), "targets"),
    (dict(targets=np.zeros(9, int)), "targets"),
    (dict(probs=np.ones(11) / 11), "probs"),
    (dict(dim=0), "dim"),
    (dict(num_outputs=0), "num_outputs"),
])
def test_predicted_error_rejects_bad_input(change, argument):
    kwargs = dict(weights=np.ones(10), probs=np.ones(10) / 10, targets=np.arange(10) % 5,
                  dim=8, num_outputs=5)
    kwargs.update(change)
    with pytest.raises(ValueError, match=argument):
        theory.predicted_error(**kwargs)


# --- predicted_zipf_error: any N, the tail aggregated ---------------------------------------


def test_hurwitz_zeta_matches_riemann_zeta_and_its_shifts():
    assert float(theory.hurwitz_zeta(2.0, 1.0)) == pytest.approx(math.pi**2 / 6, rel=1e-13)
    # ζ(s, a + 1) = ζ(s, a) − a^(−s); ζ(s, ∞) = 0.
    a = np.array([0.2, 3.5, 1e6])
    np.testing.assert_allclose(theory.hurwitz_zeta(1.5, a + 1),
                               theory.hurwitz_zeta(1.5, a) - a**-1.5, rtol=1e-12)
    assert float(theory.hurwitz_zeta(3.0, np.inf)) == 0.0
    with pytest.raises(ValueError, match="a"):
        theory.hurwitz_zeta(2.0, 0.0)


@pytest.mark.parametrize("scheme", [schemes.population(1.0), schemes.threshold("d/8")])
def test_aggregated_tail_matches_the_token_by_token_predictor(monkeypatch, scheme):
    # Aggregation keeps each class's p and q² masses exactly and only gives a bin's tokens
    # one q (within ±4.4 % of theirs): with 1/8-octave bins from x = 16 on, the answer
    # moves by far less than the predictor's own 2–4 % (measured ~1e-6 at N = 3000).
    monkeypatch.setattr(theory, "HEAD", 16)
    num_inputs, dims = 600, (20, 200)
    probs = zipf(num_inputs, 2.0)
    weights = np.asarray(scheme.weight_grid(probs[None], probs, dims)[:, 0])
    explicit = theory.predicted_error(weights, probs, np.arange(num_inputs) % 5,
                                      np.asarray(dims, float), 5)
    binned = theory.predicted_zipf_error(scheme, 2.0, num_inputs, dims, 5)
    np.testing.assert_allclose(binned, np.asarray(explicit), rtol=5e-3)


def test_infinite_n_reference_slopes_approach_the_exponent():
    # SPEC §3: the N = ∞ reference for q = p, α = 2 has slope −0.269 on d ∈ [32, 512] and
    # −0.250 on [8192, 131072] (exponent −1/4); the tail beyond 2^22 is aggregated.
    dims = (32, 128, 512, 8192, 131072)
    errors = theory.predicted_zipf_error(schemes.population(1.0), 2.0, math.inf, dims, 5)
    small = np.polyfit(np.log(dims[:3]), np.log(errors[:3]), 1)[0]
    large = np.log(errors[4] / errors[3]) / np.log(dims[4] / dims[3])
    # 3 points instead of SPEC's grid shift the small-window slope by < 0.001 (measured).
    assert small == pytest.approx(-0.269, abs=0.003)
    assert large == pytest.approx(-0.250, abs=0.003)


@pytest.mark.parametrize("scheme, num_inputs, argument", [
    (schemes.uniform(), math.inf, "num_inputs"),
    (schemes.population(0.2), math.inf, "scheme"),
    (schemes.empirical(0.0), 100, "scheme"),
])
def test_predicted_zipf_error_refuses_what_it_cannot_predict(scheme, num_inputs, argument):
    with pytest.raises(ValueError, match=argument):
        theory.predicted_zipf_error(scheme, 2.0, num_inputs, (10,), 5)


def test_predicted_zipf_error_memo_returns_fresh_equal_answers():
    # Memoised per arguments: a repeated call gives the same numbers as a fresh
    # computation, a caller writing into its copy changes nothing for the next caller,
    # and a bad argument is still refused by name (not turned into a key).
    scheme, dims = schemes.population(0.5), (16, 64)
    theory._zipf_error_memo.cache_clear()
    first = theory.predicted_zipf_error(scheme, 2.0, 1000, dims, 5)
    first[:] = -1.0
    again = theory.predicted_zipf_error(scheme, 2.0, 1000, list(dims), 5)
    assert theory._zipf_error_memo.cache_info().hits == 1
    theory._zipf_error_memo.cache_clear()
    np.testing.assert_array_equal(again, theory.predicted_zipf_error(scheme, 2.0, 1000, dims, 5))
    assert np.all(again > 0)
    with pytest.raises(ValueError, match="num_inputs"):
        theory.predicted_zipf_error(scheme, 2.0, 10.5, dims, 5)


def test_zipf_predictor_quadrature_runs_in_float32_in_either_precision(monkeypatch):
    # The README and docs promise it: float64 statistics, a float32 integrand, float64
    # answers. Against the device route in the session's precision (float32 statistics
    # too, or float64 throughout): 1e-5 relative, as in the host-route test above.
    seen = []
    real = theory._token_error_jit

    def spy(q, *args):
        seen.append(np.dtype(q.dtype))
        return real(q, *args)

    monkeypatch.setattr(theory, "_token_error_jit", spy)
    num_inputs, dims = 61, (8, 20, 50)  # N < HEAD: the tokens one by one, as on device
    got = theory.predicted_zipf_error(schemes.population(1.0), 2.0, num_inputs, dims, 5)
    assert seen and set(seen) == {np.dtype(np.float32)} and got.dtype == np.float64
    probs = zipf(num_inputs, 2.0)
    device = theory._predicted_error(jnp.asarray(probs), jnp.asarray(probs),
                                     jnp.arange(num_inputs) % 5, jnp.asarray(dims, float), 5)
    np.testing.assert_allclose(got, np.asarray(device, np.float64), rtol=1e-5)
