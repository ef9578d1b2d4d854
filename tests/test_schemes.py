"""Tests for memjax.schemes: the weights q(x) of each scheme, parsing, names, hashing."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memjax import data, schemes

INF = math.inf
# A hand-checkable law: p ∝ (4, 2, 1, 1) / 8, sorted by frequency.
PROBS = np.array([0.5, 0.25, 0.125, 0.125])
# Counts of 8 draws (T = 8): token 1 unseen, tokens 2 and 3 tied.
COUNTS = np.array([4, 0, 2, 2])
# Orders count ties at a top-P cut (schemes that do not need it ignore it).
KEY = jax.random.key(0)


def weights(scheme, counts=None, num_samples=INF, probs=PROBS, dim=16, key=KEY):
    return np.asarray(scheme.weights(None if counts is None else jnp.asarray(counts),
                                      num_samples, jnp.asarray(probs), dim, key=key))


# --- the built-in schemes --------------------------------------------------------------

def test_uniform_stores_every_token_with_weight_one():
    np.testing.assert_array_equal(weights(schemes.uniform()), np.ones(4))
    np.testing.assert_array_equal(weights(schemes.uniform(), COUNTS, 8), np.ones(4))


@pytest.mark.parametrize("power, expected", [
        (0.0, [1.0, 1.0, 1.0, 1.0]),
        (1.0, [0.5, 0.25, 0.125, 0.125]),
        (2.0, [0.25, 0.0625, 0.015625, 0.015625]),
        (0.5, [math.sqrt(0.5), 0.5, math.sqrt(0.125), math.sqrt(0.125)])])
def test_population_weights_are_p_to_the_power(power, expected, assert_close):
    assert_close(weights(schemes.population(power)), expected)


def test_population_power_defaults_to_one():
    assert schemes.population() == schemes.population(1.0)


@pytest.mark.parametrize("top, dim, kept", [
        (2, 16, 2), (0, 16, 0), (4, 16, 4), (100, 16, 4),  # larger than N keeps all
        ("d/8", 16, 2), ("d/8", 23, 2), ("d/8", 24, 3), ("d/12", 11, 0),
        (lambda d: d - 13, 16, 3)])
def test_threshold_keeps_the_top_most_frequent_tokens(top, dim, kept):
    expected = (np.arange(4) < kept).astype(float)
    np.testing.assert_array_equal(weights(schemes.threshold(top), dim=dim), expected)


def test_threshold_top_rule_is_floor_of_d_over_k():
    rule = schemes.threshold("d/8").top
    assert [rule(d) for d in (7, 8, 15, 16, 100)] == [0, 1, 1, 2, 12]


def test_threshold_with_a_negative_top_at_some_dim_raises_naming_top():
    scheme = schemes.threshold(lambda d: d - 20)
    with pytest.raises(ValueError, match="top"):
        weights(scheme, dim=16)


@pytest.mark.parametrize("power, expected", [
        (0.0, [1.0, 0.0, 1.0, 1.0]),  # 1{seen}
        (1.0, [0.5, 0.0, 0.25, 0.25]),  # n_x / T
        (2.0, [0.25, 0.0, 0.0625, 0.0625])])
def test_empirical_weights_are_frequency_to_the_power_on_seen_tokens(power, expected,
                                                                     assert_close):
    assert_close(weights(schemes.empirical(power), COUNTS, 8), expected)


@pytest.mark.parametrize("power, top, expected", [
        (0.0, 1, [1.0, 0.0, 0.0, 0.0]),
        (0.0, 2, [1.0, 0.0, 1.0, 0.0]),  # tokens 2 and 3 tie: the lower index wins
        (1.0, 2, [0.5, 0.0, 0.25, 0.0]),  # (index order; random ties: test_ties.py)
        (1.0, 3, [0.5, 0.0, 0.25, 0.25]),
        (0.0, 4, [1.0, 0.0, 1.0, 1.0]),  # more room than seen tokens: unseen stay 0
        (0.0, 100, [1.0, 0.0, 1.0, 1.0]),  # top larger than N keeps all candidates
        (1.0, 0, [0.0, 0.0, 0.0, 0.0]),  # top 0 stores nothing (W = 0)
        (0.0, "d/8", [1.0, 0.0, 1.0, 0.0])])  # d = 16: P = 2
def test_empirical_top_keeps_the_most_frequent_seen_tokens(power, top, expected,
                                                           assert_close):
    scheme = schemes.empirical(power, top, tie_break="index")
    assert_close(weights(scheme, COUNTS, 8, dim=16), expected)


def test_empirical_top_with_index_ties_breaks_them_towards_the_lower_index():
    counts = np.array([0, 3, 1, 3, 3, 1])
    got = weights(schemes.empirical(0.0, 2, "index"), counts, 11, probs=np.full(6, 1 / 6))
    np.testing.assert_array_equal(got, [0, 1, 0, 1, 0, 0])
    got = weights(schemes.empirical(0.0, 4, "index"), counts, 11, probs=np.full(6, 1 / 6))
    np.testing.assert_array_equal(got, [0, 1, 1, 1, 1, 0])


def test_a_top_beyond_int32_keeps_every_candidate():
    # Clamped to N before it reaches the device, so it cannot overflow int32.
    for scheme in (schemes.threshold(2**31), schemes.empirical(0.0, 2**40)):
        np.testing.assert_array_equal(weights(scheme, COUNTS, 8),
                                      weights(dataclasses.replace(scheme, top=4), COUNTS, 8))


def test_random_ties_need_a_key_naming_it():
    with pytest.raises(ValueError, match="key"):
        weights(schemes.empirical(0.0, 2), COUNTS, 8, key=None)
    with pytest.raises(ValueError, match="key"):
        weights(schemes.empirical(0.0, 2), COUNTS, 8, key=0)
    # Without a top there is no cut, and the index rule needs no key.
    weights(schemes.empirical(0.0), COUNTS, 8, key=None)
    weights(schemes.empirical(0.0, 2, "index"), COUNTS, 8, key=None)


@pytest.mark.parametrize("power", [0.0, 0.5, 1.0, 2.0])
def test_empirical_with_infinite_data_is_the_population_scheme(power, assert_close):
    probs = np.asarray(data.zipf_probs(50, 1.5))
    assert_close(weights(schemes.empirical(power), num_samples=INF, probs=probs),
                 weights(schemes.population(power), probs=probs))


@pytest.mark.parametrize("top", [0, 7, "d/8", 1000])
def test_empirical_with_top_and_infinite_data_is_the_threshold_scheme(top):
    # Zipf probabilities strictly decrease, so the top P by frequency are x < P.
    probs = np.asarray(data.zipf_probs(50, 1.5))
    np.testing.assert_array_equal(
            weights(schemes.empirical(0.0, top), num_samples=INF, probs=probs, dim=80),
            weights(schemes.threshold(top), probs=probs, dim=80))


@pytest.mark.parametrize("scheme", [schemes.empirical(0.0), schemes.empirical(1.0, top=2),
                                    schemes.custom(lambda f, p, d: f)])
def test_empirical_with_no_data_stores_nothing(scheme):
    np.testing.assert_array_equal(weights(scheme, np.zeros(4, int), 0), np.zeros(4))
    # T = 0 has no draws, so no counts are needed.
    np.testing.assert_array_equal(weights(scheme, None, 0), np.zeros(4))


@pytest.mark.parametrize("scheme", [schemes.uniform(), schemes.population(0.5),
                                    schemes.threshold(2), schemes.custom([1, 2, 3, 4])])
def test_schemes_that_ignore_the_sample_need_no_counts(scheme, assert_close):
    assert_close(weights(scheme, None, 8), weights(scheme, COUNTS, 8))
    assert_close(weights(scheme, None, 8), weights(scheme, None, INF))


def test_empirical_without_counts_at_finite_t_raises_naming_counts():
    with pytest.raises(ValueError, match="counts"):
        weights(schemes.empirical(1.0), None, 8)


def test_weights_have_the_dtype_of_probs():
    for scheme in (schemes.uniform(), schemes.population(0.5), schemes.threshold(2),
                   schemes.empirical(1.0, 2), schemes.custom([1, 2, 3, 4])):
        got = scheme.weights(jnp.asarray(COUNTS), 8, jnp.asarray(PROBS), 16, key=KEY)
        assert got.shape == (4,) and got.dtype == jnp.asarray(PROBS).dtype, scheme.name


@pytest.mark.parametrize("scheme", [
        schemes.uniform(), schemes.population(0.5), schemes.threshold("d/8"),
        schemes.empirical(0.0, "d/8"), schemes.empirical(1.0),
        schemes.custom([1, 2, 3, 4]), schemes.custom(lambda f, p, d: f * d + p)],
        ids=lambda s: s.name)
def test_weight_grid_equals_weights_at_each_dim_and_sample_size(scheme, assert_close):
    sizes = (8, INF, 0, 5)
    counts = np.array([COUNTS, [0, 0, 0, 0], [1, 3, 0, 1]])  # finite sizes, in order
    dims = (8, 16, 24)
    freqs = schemes.frequencies(jnp.asarray(counts), sizes, jnp.asarray(PROBS))
    grid = np.asarray(scheme.weight_grid(freqs, jnp.asarray(PROBS), dims, key=KEY))
    rows = iter(counts)
    per_size = [None if math.isinf(t) else next(rows) for t in sizes]
    assert grid.shape == (len(dims), len(sizes) if scheme.uses_data else 1, 4)
    for i, dim in enumerate(dims):
        for k, (size, row) in enumerate(zip(sizes, per_size)):
            expected = weights(scheme, row, size, dim=dim)
            assert_close(grid[i, k if scheme.uses_data else 0], expected)


# --- custom schemes --------------------------------------------------------------------

def test_custom_fixed_vector_is_returned_as_is():
    scheme = schemes.custom([3.0, 0.0, 1.5, 2.0])
    np.testing.assert_array_equal(weights(scheme), [3.0, 0.0, 1.5, 2.0])
    np.testing.assert_array_equal(weights(scheme, COUNTS, 8), [3.0, 0.0, 1.5, 2.0])


def test_custom_fixed_vector_of_the_wrong_length_raises():
    with pytest.raises(ValueError, match="shape"):
        weights(schemes.custom([1.0, 2.0, 3.0]))


def test_custom_function_gets_frequencies_probs_and_dim(assert_close):
    seen = {}

    def fn(frequencies, probs, dim):
        seen["dim"] = dim
        return frequencies * 10 + probs + dim

    scheme = schemes.custom(fn, name="mine")
    assert_close(weights(scheme, COUNTS, 8, dim=3), COUNTS / 8 * 10 + PROBS + 3)
    assert seen["dim"] == 3
    # With T = ∞ the frequencies are p itself.
    assert_close(weights(scheme, dim=3), PROBS * 11 + 3)


def test_custom_function_returning_the_wrong_shape_raises():
    scheme = schemes.custom(lambda f, p, d: f[:2])
    with pytest.raises(ValueError, match="shape"):
        weights(scheme, COUNTS, 8)


@pytest.mark.parametrize("bad, message", [([1.0, -1.0], "non-negative"),
                                          ([1.0, float("nan")], "NaN"),
                                          ([[1.0, 2.0]], "dimensions"),
                                          (["a"], "real")])
def test_custom_rejects_bad_fixed_weights(bad, message):
    with pytest.raises(ValueError, match=f"weights.*{message}"):
        schemes.custom(bad)


def test_uses_data_only_for_schemes_that_read_the_sample():
    assert schemes.empirical().uses_data
    assert schemes.custom(lambda f, p, d: f).uses_data
    for scheme in (schemes.uniform(), schemes.population(), schemes.threshold(3),
                   schemes.custom([1.0])):
        assert not scheme.uses_data, scheme.name


# --- parsing, names, hashing -----------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
        ("uniform", schemes.uniform()),
        ("population", schemes.population(1.0)),
        ("population:power=1", schemes.population(1.0)),
        ("population:power=0.5", schemes.population(0.5)),
        ("threshold:top=5", schemes.threshold(5)),
        ("threshold:top=d/8", schemes.threshold("d/8")),
        ("threshold:top=d//8", schemes.threshold("d/8.0")),
        ("threshold:top=d/.5", schemes.threshold("d/0.5")),
        ("empirical", schemes.empirical(0.0)),
        ("empirical:power=1", schemes.empirical(1.0)),
        ("empirical:power=0,top=d/12", schemes.empirical(0.0, "d/12")),
        ("empirical:top=3,tie_break=index", schemes.empirical(0.0, 3, "index")),
        (" empirical : power = 0 , top = 3 ", schemes.empirical(0.0, 3))])
def test_parse_reads_the_cli_form(text, expected):
    assert schemes.parse(text) == expected


def test_parsed_rules_act_on_the_dimension():
    scheme = schemes.parse("empirical:power=0,top=d/12")
    counts = np.arange(30, 0, -1)
    got = weights(scheme, counts, int(counts.sum()), probs=np.full(30, 1 / 30), dim=40)
    np.testing.assert_array_equal(got, (np.arange(30) < 3).astype(float))


@pytest.mark.parametrize("text, name", [
        ("bogus", "scheme"), ("Uniform", "scheme"), ("", "scheme"),
        ("population:power=abc", "power"), ("population:power=-1", "power"),
        ("population:power=nan", "power"), ("population:power=inf", "power"),
        ("population:power", "power"), ("population:rho=1", "rho"),
        ("uniform:power=1", "power"), ("population:top=3", "top"),
        ("threshold", "top"), ("threshold:top=-3", "top"), ("threshold:top=d/0", "top"),
        ("threshold:top=e/8", "top"), ("threshold:top=d/.", "top"),
        ("threshold:top=d/1.2.3", "top"), ("empirical:top=half", "top"),
        ("empirical:top=3,tie_break=lower", "tie_break")])
def test_parse_rejects_bad_text_naming_the_problem(text, name):
    with pytest.raises(ValueError, match=name):
        schemes.parse(text)


@pytest.mark.parametrize("scheme, name", [
        (schemes.uniform(), "uniform"),
        (schemes.population(1), "population(power=1)"),
        (schemes.population(0.5), "population(power=0.5)"),
        (schemes.threshold(5), "threshold(top=5)"),
        (schemes.threshold("d/8"), "threshold(top=d/8)"),
        (schemes.empirical(), "empirical(power=0)"),
        (schemes.empirical(1, "d/12"), "empirical(power=1, top=d/12)"),
        (schemes.empirical(0, 3, "index"), "empirical(power=0, top=3, tie_break=index)"),
        (schemes.custom([1.0]), "custom"),
        (schemes.custom([1.0], name="flat"), "flat")])
def test_names_state_the_scheme_and_its_parameters(scheme, name):
    assert scheme.name == name


def test_names_of_function_rules_use_the_function_name():
    def half(dim):
        return dim // 2

    assert schemes.threshold(half).name == "threshold(top=half(d))"


def test_equal_schemes_are_equal_and_hash_alike():
    pairs = [(schemes.population(1), schemes.population(1.0)),
             (schemes.threshold("d/8"), schemes.threshold(" d / 8 ")),
             (schemes.empirical(0, "d/12"), schemes.parse("empirical:power=0,top=d/12")),
             (schemes.custom([1, 2]), schemes.custom([1.0, 2.0]))]
    for first, second in pairs:
        assert first == second and hash(first) == hash(second), first.name


def test_different_schemes_are_unequal_and_usable_as_dict_keys():
    distinct = [schemes.uniform(), schemes.population(1), schemes.population(2),
                schemes.threshold(8), schemes.threshold("d/8"), schemes.empirical(0),
                schemes.empirical(0, 8), schemes.empirical(1, 8),
                schemes.empirical(1, 8, tie_break="index"),
                schemes.custom([1.0, 2.0]), schemes.custom(lambda f, p, d: f)]
    table = {scheme: i for i, scheme in enumerate(distinct)}
    assert len(table) == len(distinct)
    assert [table[s] for s in distinct] == list(range(len(distinct)))


@pytest.mark.parametrize("build, args, name", [
        (schemes.population, (-0.5,), "power"), (schemes.population, (float("nan"),), "power"),
        (schemes.empirical, (-1.0,), "power"), (schemes.empirical, (0.0, -1), "top"),
        (schemes.empirical, (0.0, 2.5), "top"), (schemes.threshold, (None,), "top"),
        (schemes.empirical, (0.0, 3, "lower"), "tie_break"),
        (schemes.population, ("1",), "power"), (schemes.empirical, ("0",), "power"),
        (schemes.threshold, ("d*8",), "top"), (schemes.threshold, (), "top")])
def test_builders_reject_bad_parameters_naming_them(build, args, name):
    with pytest.raises(ValueError, match=name):
        build(*args)


# --- rescaling: argmax is scale-invariant, and powers of two scale exactly ---------------

# From the smallest float32 subnormal to near float32's largest value.
SCALES = [1e-45, 1e-38, 1e-20, 1e-3, 1.0, 7.0, 1e20, 1e38, 3e38]


@pytest.mark.parametrize("rescale", [schemes.rescale, schemes.rescale_host])
def test_rescale_multiplies_each_vector_by_a_power_of_two_with_max_in_1_2(rescale):
    vectors = np.array([[0.5, 0.25, 0.0], [3.0, 1.0, 2.0], [0.0, 0.0, 0.0],
                        [1e-30, 3e-30, 2e-30]])
    vectors = np.asarray(jnp.asarray(vectors), np.float64)  # as the default float holds them
    got = np.asarray(rescale(jnp.asarray(vectors)), np.float64)
    ratio = got[:3] / np.where(vectors[:3] > 0, vectors[:3], 1)
    np.testing.assert_array_equal(got[0], [1.0, 0.5, 0.0])  # × 2
    np.testing.assert_array_equal(got[1], [1.5, 0.5, 1.0])  # × 1/2
    np.testing.assert_array_equal(got[2], 0.0)  # all zero: unchanged
    assert 1 <= got[3].max() < 2 and np.isfinite(ratio).all()
    exponent = np.log2(got[3] / vectors[3])
    np.testing.assert_array_equal(exponent, np.round(exponent[0]))  # one power of two


def test_rescale_leaves_vectors_with_nan_or_inf_unchanged():
    bad = jnp.asarray([[np.inf, 1.0], [np.nan, 1.0]])
    np.testing.assert_array_equal(np.asarray(schemes.rescale(bad)), np.asarray(bad))


def test_rescale_host_keeps_subnormal_float32_ratios():
    tiny = np.array([1e-45, 3e-45, 0.0], np.float32)  # subnormal: XLA flushes these
    np.testing.assert_array_equal(np.asarray(schemes.rescale_host(tiny), np.float32),
                                  np.float32([1.0, 2.0, 0.0]) * np.float32(
                                      schemes.rescale_host(tiny)[0]))
    assert schemes.rescale_host(tiny).max() >= 1


def test_custom_multiples_of_ones_sweep_exactly_like_uniform():
    """argmax is scale-invariant, so custom(c·1) must equal uniform() for every c > 0 from
    the smallest float32 subnormal to near its overflow (and in float64 beyond)."""
    import memjax

    scales = SCALES + ([1e-300, 1e300] if jnp.result_type(float) == jnp.float64 else [])
    n = 40
    result = memjax.sweep(
        KEY, num_inputs=n, num_outputs=3, zipf_exponent=1.5, dims=[4, 16, 64],
        num_samples=[math.inf], num_seeds=2,
        schemes=[schemes.uniform()] + [schemes.custom(np.full(n, c), name=f"c={c:g}")
                                       for c in scales])
    for i, c in enumerate(scales, start=1):
        np.testing.assert_array_equal(result.error[i], result.error[0], err_msg=f"c={c}")
