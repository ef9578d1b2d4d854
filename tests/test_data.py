"""Tests for memjax.data: the Zipf law, target maps, alias sampling and nested counts."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from memjax import data


def zipf_reference(num_inputs, zipf_exponent):
    """p(x) = (x+1)^(-α) / Σ_{k=1..N} k^(-α), straight from the formula, in float64."""
    weights = np.arange(1, num_inputs + 1, dtype=np.float64) ** -float(zipf_exponent)
    return weights / weights.sum()


def implied_probs(table):
    """The exact law of `sample_tokens` for `table`, in float64.

    Bin b is drawn with probability 1/N, kept when 32 uniform bits < threshold[b]
    (probability threshold[b] / 2^32), otherwise replaced by alias[b].
    """
    keep = np.asarray(table.threshold).astype(np.float64) / 2.0**32
    alias = np.asarray(table.alias)
    num = keep.shape[0]
    probs = keep / num
    np.add.at(probs, alias, (1.0 - keep) / num)
    return probs


# --- zipf_probs ------------------------------------------------------------------------

@pytest.mark.parametrize("num_inputs, zipf_exponent",
                         [(1, 2.0), (10, 0.0), (1000, 2.0), (10**4, 0.5), (100, 5.0)])
def test_zipf_probs_match_the_formula_in_float64(num_inputs, zipf_exponent):
    probs = data.zipf_probs(num_inputs, zipf_exponent)
    assert probs.shape == (num_inputs,)
    assert probs.dtype == jnp.result_type(float)
    # Logits -α log(x+1) carry a relative error ~ α log(N) eps, and exp turns it into the
    # same relative error on p; normalising adds a few eps more.
    eps = np.finfo(probs.dtype).eps
    rtol = 8 * (1 + zipf_exponent * math.log(num_inputs)) * eps
    np.testing.assert_allclose(np.asarray(probs), zipf_reference(num_inputs, zipf_exponent),
                               rtol=rtol, atol=0)


@pytest.mark.parametrize("num_inputs, zipf_exponent", [(1, 2.0), (1000, 2.0), (10**4, 0.5),
                                                       (50, 300.0)])
def test_zipf_probs_sum_to_one(num_inputs, zipf_exponent, tol):
    probs = np.asarray(data.zipf_probs(num_inputs, zipf_exponent))
    assert np.all(np.isfinite(probs)) and np.all(probs >= 0)
    assert abs(probs.astype(np.float64).sum() - 1.0) <= tol(probs.dtype)


@pytest.mark.parametrize("zipf_exponent", [0.5, 1.0, 2.0])
def test_zipf_probs_strictly_decrease_so_token_zero_is_most_frequent(zipf_exponent):
    probs = np.asarray(data.zipf_probs(1000, zipf_exponent))
    assert np.all(np.diff(probs) < 0)
    assert probs.argmax() == 0


def test_zipf_probs_with_exponent_zero_are_uniform(assert_close):
    assert_close(data.zipf_probs(7, 0.0), np.full(7, 1 / 7))


def test_zipf_probs_accept_a_traced_exponent_under_vmap(assert_close):
    exponents = jnp.asarray([0.0, 0.5, 2.0])
    batched = jax.vmap(lambda a: data.zipf_probs(20, a))(exponents)
    for row, exponent in zip(batched, exponents):
        assert_close(row, data.zipf_probs(20, float(exponent)))


@pytest.mark.parametrize("num_inputs, zipf_exponent, name", [
        (0, 1.0, "num_inputs"), (2.5, 1.0, "num_inputs"), (True, 1.0, "num_inputs"),
        (10, -0.5, "zipf_exponent"), (10, float("nan"), "zipf_exponent"),
        (10, float("inf"), "zipf_exponent"), (10, np.ones(2), "zipf_exponent")])
def test_zipf_probs_reject_bad_arguments_naming_them(num_inputs, zipf_exponent, name):
    with pytest.raises(ValueError, match=name):
        data.zipf_probs(num_inputs, zipf_exponent)


# --- targets ---------------------------------------------------------------------------

def test_mod_targets_are_x_mod_m():
    targets = data.mod_targets(23, 5)
    assert np.issubdtype(targets.dtype, np.integer)
    np.testing.assert_array_equal(targets, np.arange(23) % 5)


def test_mod_targets_with_one_output_are_all_zero():
    np.testing.assert_array_equal(data.mod_targets(9, 1), np.zeros(9))


def test_random_targets_are_integers_in_range_and_fixed_by_the_key():
    key = jax.random.key(0)
    targets = data.random_targets(key, 1000, 7)
    assert targets.shape == (1000,) and np.issubdtype(targets.dtype, np.integer)
    assert targets.min() >= 0 and targets.max() < 7
    np.testing.assert_array_equal(targets, data.random_targets(key, 1000, 7))
    assert np.any(targets != data.random_targets(jax.random.key(1), 1000, 7))


def test_random_targets_are_roughly_uniform():
    num_inputs, num_outputs = 20_000, 7
    targets = np.asarray(data.random_targets(jax.random.key(1), num_inputs, num_outputs))
    counts = np.bincount(targets, minlength=num_outputs)
    # Each count is Binomial(N, 1/M): allow 5 standard deviations.
    share = 1 / num_outputs
    sigma = math.sqrt(num_inputs * share * (1 - share))
    assert np.all(np.abs(counts - num_inputs * share) <= 5 * sigma), counts


@pytest.mark.parametrize("args, name", [((0, 3), "num_inputs"), ((3, 0), "num_outputs"),
                                        ((3, 1.5), "num_outputs")])
def test_targets_reject_bad_sizes_naming_them(args, name):
    with pytest.raises(ValueError, match=name):
        data.mod_targets(*args)
    with pytest.raises(ValueError, match=name):
        data.random_targets(jax.random.key(0), *args)


# --- alias tables and sampling ---------------------------------------------------------

def test_zipf_alias_table_reproduces_every_probability_to_32_bits():
    # SPEC §6: at N = 10^4, α = 2 a float32 inverse CDF never draws more than half the
    # tokens. The alias table is deterministic, so check its exact law against p.
    num_inputs = 10**4
    table = data.zipf_alias_table(num_inputs, 2.0)
    implied = implied_probs(table)
    probs = zipf_reference(num_inputs, 2.0)
    assert np.all(implied > 0), "some token can never be drawn"
    # Each threshold is rounded to the nearest 2^-32 (or clamped to 1 - 2^-32), so a token
    # is off by at most 2^-32 / N per bin it receives mass from (its own plus the bins
    # that alias to it); over all tokens the error is at most 2 · 2^-32 (≈ 5e-10).
    alias = np.asarray(table.alias)
    bins_feeding = 1 + np.bincount(alias[alias != np.arange(num_inputs)],
                                   minlength=num_inputs)
    bound = bins_feeding * 2.0**-32 / num_inputs + 1e-15
    assert np.all(np.abs(implied - probs) <= bound)
    assert np.abs(implied - probs).sum() <= 2 * 2.0**-32


def test_alias_table_of_a_small_vector_is_exact_and_normalises():
    np.testing.assert_allclose(implied_probs(data.alias_table([1.0, 1.0, 2.0])),
                               [0.25, 0.25, 0.5], rtol=0, atol=2.0**-32)
    implied = implied_probs(data.alias_table([0.5, 0.0, 0.5]))
    assert implied[1] == 0.0  # a zero-probability token is never kept nor aliased to
    np.testing.assert_allclose(implied[[0, 2]], [0.5, 0.5], rtol=0, atol=2.0**-32)


def test_an_alias_table_built_inside_jit_does_not_leak_into_later_calls():
    # The tables are cached by law. The cache once held JAX arrays: built first inside a
    # jitted function (the memory-matrices target does), it kept that trace's tracers, and
    # the next call outside (a notebook, in the same process) raised UnexpectedTracerError.
    law = (13, 1.25)  # a law no other test builds, so this call is the first
    inside = jax.jit(lambda key: data.sample_tokens(key, data.zipf_alias_table(*law), 64))
    first = inside(jax.random.key(0))
    outside = data.sample_tokens(jax.random.key(0), data.zipf_alias_table(*law), 64)
    np.testing.assert_array_equal(first, outside)


def test_sample_tokens_never_draw_a_zero_probability_token():
    table = data.alias_table([0.5, 0.0, 0.5])
    tokens = np.asarray(data.sample_tokens(jax.random.key(0), table, 2048))
    assert set(np.unique(tokens)) == {0, 2}


def test_sample_tokens_from_a_single_token_law_are_all_zero():
    tokens = data.sample_tokens(jax.random.key(0), data.zipf_alias_table(1, 2.0), 100)
    np.testing.assert_array_equal(tokens, np.zeros(100))


@pytest.fixture(scope="module")
def zipf_stream():
    """2^22 draws from the Zipf law with N = 10^4, α = 2, and their exact probabilities."""
    num_inputs = 10**4
    table = data.zipf_alias_table(num_inputs, 2.0)
    tokens = np.asarray(data.sample_tokens(jax.random.key(42), table, 2**22))
    return tokens, zipf_reference(num_inputs, 2.0)


def test_sample_tokens_are_int32_in_range(zipf_stream):
    tokens, probs = zipf_stream
    assert tokens.dtype == np.int32 and tokens.shape == (2**22,)
    assert tokens.min() == 0 and tokens.max() < probs.shape[0]


def test_sampled_head_frequencies_pass_a_chi_square_test(zipf_stream):
    tokens, probs = zipf_stream
    head = 50
    counts = np.bincount(tokens, minlength=probs.shape[0])
    observed = np.append(counts[:head], counts[head:].sum())
    expected = tokens.shape[0] * np.append(probs[:head], probs[head:].sum())
    statistic = ((observed - expected) ** 2 / expected).sum()
    # Pearson's statistic is ~ chi-square with `head` degrees of freedom; reject only
    # beyond its 1e-7 upper quantile (about a 5-sigma event).
    assert statistic <= stats.chi2.isf(1e-7, df=head), statistic


@pytest.mark.parametrize("tail_start", [1000, 5000])
def test_sampled_tail_mass_matches_its_probability(zipf_stream, tail_start):
    # Tokens x >= 5000 have p(x) < 3e-8, below float32 CDF resolution near 1: an inverse
    # CDF in float32 would never draw them.
    tokens, probs = zipf_stream
    num_samples = tokens.shape[0]
    mass = probs[tail_start:].sum()
    observed = np.count_nonzero(tokens >= tail_start)
    # The tail count is Binomial(T, mass): allow 5 standard deviations.
    sigma = math.sqrt(num_samples * mass * (1 - mass))
    assert abs(observed - num_samples * mass) <= 5 * sigma, (observed, num_samples * mass)


def test_sampled_tail_mass_is_not_piled_on_few_tokens(zipf_stream):
    # An inverse CDF in float32 has flat steps in the tail and piles each flat run's mass
    # on one token: the tail mass stays right but repeats of the same token soar. The
    # number of ordered pairs of equal draws, C = Σ_x n_x(n_x - 1), has mean
    # T(T-1) Σ_x p(x)²; with n_x ≈ Poisson(λ_x = T p(x)) (the tail's mass is ~1e-4, so the
    # multinomial's correlations are negligible) Var C = Σ_x (4 λ_x³ + 2 λ_x²).
    tokens, probs = zipf_stream
    num_samples, tail = tokens.shape[0], probs[3000:]
    counts = np.bincount(tokens, minlength=probs.shape[0])[3000:].astype(np.float64)
    pairs = (counts * (counts - 1)).sum()
    rate = num_samples * tail
    sigma = math.sqrt((4 * rate**3 + 2 * rate**2).sum())
    expected = num_samples * (num_samples - 1) * (tail**2).sum()
    assert abs(pairs - expected) <= 5 * sigma, (pairs, expected, sigma)


def test_sample_tokens_prefix_is_the_same_for_every_stream_length():
    table = data.zipf_alias_table(100, 1.5)
    key = jax.random.key(3)
    block = data.STREAM_BLOCK
    full = np.asarray(data.sample_tokens(key, table, 2 * block))
    # Lengths on both sides of the draw-block boundary. (Stream lengths are kept to at
    # most two blocks across this file: each new block count costs a compile.)
    for length in (0, 1, block - 1, block, block + 1, 2 * block - 1):
        prefix = data.sample_tokens(key, table, length)
        assert prefix.shape == (length,)
        np.testing.assert_array_equal(prefix, full[:length])


def test_sample_tokens_differ_between_keys():
    table = data.zipf_alias_table(100, 1.0)
    first = data.sample_tokens(jax.random.key(0), table, 200)
    second = data.sample_tokens(jax.random.key(1), table, 200)
    assert np.any(first != second)


@pytest.mark.parametrize("num_samples", [-1, 2.5, "10"])
def test_sample_tokens_reject_a_bad_num_samples(num_samples):
    with pytest.raises(ValueError, match="num_samples"):
        data.sample_tokens(jax.random.key(0), data.zipf_alias_table(5, 1.0), num_samples)


@pytest.mark.parametrize("probs, message", [
        ([0.5, -0.1, 0.6], "non-negative"), ([0.5, float("nan")], "NaN"),
        ([0.0, 0.0], "positive sum"), ([[0.5, 0.5]], "dimensions"), (["a", "b"], "real")])
def test_alias_table_rejects_bad_probs(probs, message):
    with pytest.raises(ValueError, match=f"probs.*{message}"):
        data.alias_table(probs)


@pytest.mark.parametrize("args, name", [((0, 1.0), "num_inputs"),
                                        ((5, -1.0), "zipf_exponent")])
def test_zipf_alias_table_rejects_bad_arguments_naming_them(args, name):
    with pytest.raises(ValueError, match=name):
        data.zipf_alias_table(*args)


# --- nested_counts ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_stream():
    table = data.zipf_alias_table(50, 1.0)
    return np.asarray(data.sample_tokens(jax.random.key(7), table, 2000))


@pytest.mark.parametrize("sample_sizes", [
        (1500, 0, 2000, 7, 1024, 7, 1999),  # unsorted, with 0, T_max and a repeat
        (2000,), (0,)])
def test_nested_counts_equal_bincounts_of_each_prefix(small_stream, sample_sizes):
    counts = np.asarray(data.nested_counts(jnp.asarray(small_stream), 50, sample_sizes))
    assert counts.shape == (len(sample_sizes), 50)
    for row, size in zip(counts, sample_sizes):
        np.testing.assert_array_equal(row, np.bincount(small_stream[:size], minlength=50))


def test_nested_counts_under_jit_equal_eager(small_stream):
    sizes = (100, 10, 2000)
    jitted = jax.jit(data.nested_counts, static_argnums=(1, 2))
    np.testing.assert_array_equal(jitted(jnp.asarray(small_stream), 50, sizes),
                                  data.nested_counts(jnp.asarray(small_stream), 50, sizes))


@pytest.mark.parametrize("tokens, num_inputs, sizes, name", [
        (np.arange(5), 5, (6,), "sample_sizes"),
        (np.arange(5), 5, (-1,), "sample_sizes"),
        (np.arange(5), 5, (2.5,), "sample_sizes"),
        (np.arange(5), 0, (2,), "num_inputs"),
        (np.arange(5.0), 5, (2,), "tokens"),
        (np.arange(6).reshape(2, 3), 6, (2,), "tokens"),
        (np.array([0, 1, 5]), 5, (3,), "tokens"),  # 5 would be silently dropped
        (np.array([0, -1, 2]), 5, (3,), "tokens")])  # -1 would wrap to token N-1
def test_nested_counts_reject_bad_inputs_naming_them(tokens, num_inputs, sizes, name):
    with pytest.raises(ValueError, match=name):
        data.nested_counts(jnp.asarray(tokens), num_inputs, sizes)


# --- binomial and multinomial counts ---------------------------------------------------
# Moment checks: with R independent draws, the sample mean of a count has standard error
# sqrt(var/R) and the sample variance has relative standard error sqrt((2 + κ)/R), κ the
# excess kurtosis (1 - 6pq)/(npq) of a binomial; 5 standard errors bound each check
# (probability < 6e-7 each, < 1e-4 over all the checks here, for fixed keys).

def _check_moments(draws, mean, var, label):
    draws = np.asarray(draws, np.float64)
    reps = draws.shape[0]
    z = (draws.mean(axis=0) - mean) / np.sqrt(np.maximum(var, 1e-300) / reps)
    assert np.all(np.abs(z[var > 0]) < 5), (label, np.abs(z).max())
    kurtosis = np.where(var > 0, (1 - 6 * var / np.maximum(mean, 1e-300) * (
        1 - var / np.maximum(mean, 1e-300))) / np.maximum(var, 1e-300), 0)
    ratio = draws.var(axis=0, ddof=1) / np.maximum(var, 1e-300)
    band = 5 * np.sqrt((2 + np.abs(kurtosis)) / reps)
    keep = var > 0.5  # below this the variance estimate is too discrete to test this way
    assert np.all(np.abs(ratio[keep] - 1) < band[keep]), (label, ratio[keep])


def test_binomial_has_the_exact_mean_and_variance():
    # Every (n, p) pair in one vectorised call; n = 3e7 > 2^20 goes through the
    # order-statistics halving in float32.
    trials, probs = np.meshgrid([0.0, 7.0, 5e4, 3e7], [0.0, 1e-6, 0.3, 1.0])
    trials, probs = trials.ravel(), probs.ravel()
    draws = np.asarray(jax.jit(jax.vmap(lambda k: data.binomial(k, trials, probs)))(
        jax.random.split(jax.random.key(5), 4000)), np.float64)
    assert np.all((draws >= 0) & (draws <= trials))
    np.testing.assert_array_equal(draws, np.round(draws))
    mean, var = trials * probs, trials * probs * (1 - probs)
    np.testing.assert_array_equal(draws[:, var == 0], np.broadcast_to(
        mean[var == 0], draws[:, var == 0].shape))
    _check_moments(draws[:, var > 0], mean[var > 0], var[var > 0], "binomial")


def test_one_vmapped_gamma_draws_the_bits_of_one_call_per_split_key():
    """`binomial`'s halving draws its two gammas from one vmapped sampler (compiled once,
    not twice) and relies on this to keep the bits of one call per split key: if a JAX
    release breaks it, every count drawn through the halving (n > 2^20 trials in float32,
    > 2^50 in float64) changes."""
    keys = jax.random.split(jax.random.key(7))
    shapes = jnp.stack([jnp.geomspace(1.0, 5e5, 64), jnp.geomspace(3e5, 2.0, 64)])
    vmapped = jax.jit(jax.vmap(jax.random.gamma))(keys, shapes)
    for key, shape, row in zip(keys, shapes, vmapped):
        np.testing.assert_array_equal(row, jax.jit(jax.random.gamma)(key, shape))


# 37 tokens: a tree with padding. T is traced, so this test and the next share one
# compiled program (the halving code included, run only where T > 2^20).
MOMENT_PROBS = np.asarray(zipf_reference(37, 1.3))


@jax.jit
def _multinomial_draws(keys, probs, num_samples):
    return jax.vmap(lambda k: data.multinomial_counts(k, probs, num_samples))(keys)


def _draws_at(num_samples, key, reps):
    return _multinomial_draws(jax.random.split(key, reps), jnp.asarray(MOMENT_PROBS),
                              jnp.asarray(float(num_samples), jnp.result_type(float)))


# 10^7 > 2^20 takes the order-statistics halving in float32 and stays below 2^24, where
# float32 counts are exact; T = 10^12 (rounded sums) is the next test.
@pytest.mark.parametrize("num_samples", [1, 250, 10**5, 10**7])
def test_multinomial_counts_have_the_exact_moments_per_token(num_samples):
    probs = MOMENT_PROBS
    draws = _draws_at(num_samples, jax.random.key(6), 1000)
    assert draws.shape == (1000, 37)
    np.testing.assert_array_equal(draws, np.round(draws))
    np.testing.assert_array_equal(np.asarray(draws, np.float64).sum(axis=1), num_samples)
    _check_moments(draws, num_samples * probs, num_samples * probs * (1 - probs),
                   num_samples)


def test_stream_and_counts_compile_one_program_per_shape_with_the_bits_of_op_by_op():
    # Eager calls run one compiled program per (T) and per (N, sizes), not one per
    # operation; integer arithmetic only, so exactly the tokens and counts that the
    # operations give one by one (jax.disable_jit).
    table, key = data.zipf_alias_table(30, 1.2), jax.random.key(13)
    programs = lambda: (data._sample_tokens._cache_size(), data._nested_counts._cache_size())
    before = programs()
    tokens = data.sample_tokens(key, table, 5000)
    counts = data.nested_counts(tokens, 30, [10, 5000, 200])
    first = programs()  # at most one new program each (none if another test made it)
    assert all(0 <= a - b <= 1 for a, b in zip(first, before))
    data.nested_counts(data.sample_tokens(jax.random.key(14), table, 5000), 30,
                       [10, 5000, 200])  # other draws: the same two programs
    assert programs() == first
    with jax.disable_jit():
        eager_tokens = data.sample_tokens(key, table, 5000)
        eager_counts = data.nested_counts(eager_tokens, 30, [10, 5000, 200])
    np.testing.assert_array_equal(tokens, eager_tokens)
    np.testing.assert_array_equal(counts, eager_counts)
    np.testing.assert_array_equal(counts[1], np.bincount(np.asarray(tokens), minlength=30))


def test_multinomial_counts_reach_a_trillion_samples():
    # Float32 holds counts above 2^24 only to rounding, so their sum is T up to rounding;
    # their law is still the multinomial's (each node draws its lighter child's count).
    num_samples, probs = 10**12, MOMENT_PROBS
    draws = np.asarray(_draws_at(num_samples, jax.random.key(7), 1000), np.float64)
    exact = jnp.result_type(float) == jnp.float64
    total_error = np.abs(draws.sum(axis=1) - num_samples).max()
    assert total_error == 0 if exact else total_error < 100 * 2.0**-24 * num_samples
    _check_moments(draws, num_samples * probs, num_samples * probs * (1 - probs),
                   num_samples)


def test_multinomial_counts_agree_with_counting_a_stream():
    # Two independent samples of 3000 count vectors: a two-sample z-test per token.
    table = data.zipf_alias_table(20, 1.0)
    keys = jax.random.split(jax.random.key(8), 3000)
    streamed = jax.vmap(lambda k: data.nested_counts(data.sample_tokens(k, table, 300), 20,
                                                     [300])[0])(keys)
    drawn = jax.vmap(lambda k: data.multinomial_counts(k, data.zipf_probs(20, 1.0),
                                                       300))(keys)
    a, b = np.asarray(streamed, np.float64), np.asarray(drawn, np.float64)
    z = (a.mean(0) - b.mean(0)) / np.sqrt((a.var(0) + b.var(0)) / 3000)
    assert np.abs(z).max() < 5
    assert np.all(np.abs(a.var(0) / b.var(0) - 1) < 5 * np.sqrt(4 / 3000))


def test_nested_multinomial_counts_grow_with_the_sample_size():
    probs = data.zipf_probs(50, 1.0)
    sizes = (1000, 10, 10**6, 0)
    counts = np.asarray(data.nested_multinomial_counts(jax.random.key(9), probs, sizes))
    assert counts.shape == (4, 50)
    np.testing.assert_array_equal(counts.sum(axis=1), sizes)
    ordered = counts[[3, 1, 0, 2]]
    assert np.all(np.diff(ordered, axis=0) >= 0)  # nested: counts never decrease in T
    # A point's counts do not depend on the larger sizes of the grid, nor on the order.
    smaller = np.asarray(data.nested_multinomial_counts(jax.random.key(9), probs, (10, 1000)))
    np.testing.assert_array_equal(smaller, counts[[1, 0]])


def test_nested_multinomial_counts_reject_bad_sizes_naming_them():
    with pytest.raises(ValueError, match=r"sample_sizes\[1\]"):
        data.nested_multinomial_counts(jax.random.key(0), data.zipf_probs(5, 1.0), (3, -1))
