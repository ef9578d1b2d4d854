"""Tests for memjax.retrieval: the memory W, scores, predictions, margins, exact errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import memjax
from memjax import data, retrieval

ROUTES = retrieval.ROUTES


def random_case(seed, num_inputs=40, num_outputs=4, dim=8, batch=(), dtype=None):
    """Gaussian inputs, sphere outputs, random targets, random weights with some zeros.

    Drawn with numpy (fixed seeds), since these tests need arbitrary embeddings, not
    memjax's laws, and eager jax.random would compile anew for every shape. Returns jax
    arrays in the default float dtype, or numpy arrays of `dtype`.
    """
    rng = np.random.default_rng(seed)
    input_emb = rng.normal(size=(num_inputs, dim)) / np.sqrt(dim)
    output_emb = rng.normal(size=(num_outputs, dim))
    output_emb /= np.linalg.norm(output_emb, axis=-1, keepdims=True)
    targets = rng.integers(0, num_outputs, num_inputs).astype(np.int32)
    # About a quarter of the tokens are not stored.
    weights = np.maximum(rng.uniform(-0.3, 1.0, batch + (num_inputs,)), 0.0)
    probs = 1 / np.arange(1, num_inputs + 1)
    probs /= probs.sum()
    floats = (input_emb, output_emb, weights, probs)
    if dtype is None:
        floats = tuple(jnp.asarray(a, jnp.result_type(float)) for a in floats)
        targets = jnp.asarray(targets)
    else:
        floats = tuple(a.astype(dtype) for a in floats)
    input_emb, output_emb, weights, probs = floats
    return input_emb, output_emb, targets, weights, probs


def reference_scores(input_emb, output_emb, targets, weights):
    """score(x, y) = u_yᵀ W e_x (N, M) in float64 numpy, W = Σ_x q(x) u_{f(x)} e_xᵀ.

    Also a bound on the rounding error of any float computation of the scores: the sum of
    |terms| times 4 (N + d + M) eps covers every summation order.
    """
    emb, out, q = (np.asarray(a, np.float64) for a in (input_emb, output_emb, weights))
    targets = np.asarray(targets)
    memory = (q[:, None] * out[targets]).T @ emb  # (d, d)
    scores = emb @ memory.T @ out.T
    abs_terms = (np.abs(emb) @ np.abs(emb).T) @ (q[:, None] * (np.abs(out) @ np.abs(out).T)
                                                [targets])
    eps = np.finfo(np.asarray(input_emb).dtype).eps
    return scores, 4 * (emb.shape[0] + emb.shape[1] + out.shape[0]) * eps * abs_terms


def top_two_gap(scores):
    ordered = np.sort(scores, axis=-1)
    return ordered[..., -1] - ordered[..., -2]


# --- exact facts -----------------------------------------------------------------------

def test_zero_memory_predicts_output_zero_and_errs_on_tokens_not_mapped_to_zero(tol):
    num_inputs, num_outputs = 1000, 5
    input_emb, output_emb, _, _, _ = random_case(0, num_inputs, num_outputs)
    targets = data.mod_targets(num_inputs, num_outputs)
    probs = data.zipf_probs(num_inputs, 2.0)
    weights = jnp.zeros(num_inputs)
    np.testing.assert_array_equal(
            memjax.predictions(input_emb, output_emb, targets, weights), 0)
    err = float(memjax.error(input_emb, output_emb, targets, weights, probs))
    assert round(err, 4) == 0.3610  # SPEC §1
    ranks = np.arange(1, num_inputs + 1, dtype=np.float64)
    exact = 1 - (ranks[::5] ** -2.0).sum() / (ranks**-2.0).sum()
    assert abs(err - exact) <= tol()


def test_one_hot_embeddings_recall_every_stored_token(tol):
    # Orthonormal embeddings (d >= N, M): score(x, y) = q(x) 1[y = f(x)], so a stored token
    # is recalled and an unstored one ties at 0 and goes to output 0.
    num_inputs, num_outputs = 2000, 5
    input_emb = jnp.eye(num_inputs)
    output_emb = jnp.eye(num_outputs, num_inputs)
    rng = np.random.default_rng(0)
    host_targets = rng.integers(0, num_outputs, num_inputs)
    stored = rng.uniform(size=num_inputs) < 0.7
    stored[-1] = False  # the rarest token, p ≈ 1.5e-7: its loss must not vanish
    host_targets[-1] = 1
    targets = jnp.asarray(host_targets)
    weights = jnp.asarray(stored * np.linspace(0.1, 2.0, num_inputs))
    probs = data.zipf_probs(num_inputs, 2.0)

    predicted = np.asarray(memjax.predictions(input_emb, output_emb, targets, weights))
    np.testing.assert_array_equal(predicted, np.where(stored, host_targets, 0))
    host_probs = np.asarray(probs, np.float64)
    expected = host_probs[~stored & (host_targets != 0)].sum()
    err = float(memjax.error(input_emb, output_emb, targets, weights, probs))
    # A sum over wrong tokens keeps the relative precision of p (1 − accuracy would not).
    assert abs(err - expected) <= tol() * expected

    only_last = jnp.asarray(np.arange(num_inputs) < num_inputs - 1, float)
    err = float(memjax.error(input_emb, output_emb, targets, only_last, probs))
    assert abs(err - host_probs[-1]) <= tol() * host_probs[-1]


@pytest.mark.parametrize("seed", range(4))
def test_error_equals_a_brute_force_loop_over_tokens(seed, tol):
    input_emb, output_emb, targets, weights, probs = random_case(
            seed, num_inputs=12, num_outputs=3, dim=5)
    memory = np.asarray(memjax.memory(input_emb, output_emb, targets, weights), np.float64)
    emb, out = np.asarray(input_emb, np.float64), np.asarray(output_emb, np.float64)
    host_targets, host_probs = np.asarray(targets), np.asarray(probs, np.float64)
    expected, wrong = 0.0, []
    for x in range(emb.shape[0]):
        scores = [out[y] @ memory @ emb[x] for y in range(out.shape[0])]
        ordered = sorted(scores)
        # Precondition: no near-tie that rounding could flip (fixed keys make this hold).
        assert ordered[-1] - ordered[-2] > 1e-4 * max(1.0, abs(ordered[-1]))
        if int(np.argmax(scores)) != host_targets[x]:
            expected += host_probs[x]
            wrong.append(x)
    assert wrong, "a case with no error checks little"
    for route in ROUTES:
        err = float(memjax.error(input_emb, output_emb, targets, weights, probs,
                                 route=route))
        assert abs(err - expected) <= tol() * expected, route
        predicted = memjax.predictions(input_emb, output_emb, targets, weights, route)
        np.testing.assert_array_equal(np.flatnonzero(predicted != targets), wrong)


# --- scores and routes -----------------------------------------------------------------

def test_memory_is_the_weighted_sum_of_outer_products(assert_close, tol):
    case = random_case(0)
    input_emb, output_emb, targets, weights, _ = case
    emb, out, targets_, q_ = (np.asarray(a) for a in case[:4])
    expected = sum(q_[x] * np.outer(out[targets_[x]], emb[x]) for x in range(emb.shape[0]))
    assert_close(memjax.memory(input_emb, output_emb, targets, weights), expected,
                 atol=tol(input_emb.dtype))


@pytest.mark.parametrize("route", ROUTES)
def test_scores_equal_u_w_e_for_every_route(route):
    input_emb, output_emb, targets, weights, _ = random_case(1)
    expected, bound = reference_scores(input_emb, output_emb, targets, weights)
    got = np.asarray(memjax.scores(input_emb, output_emb, targets, weights, route))
    assert got.shape == expected.shape
    assert np.all(np.abs(got - expected) <= bound)


@pytest.mark.parametrize("route", ROUTES)
def test_batched_weights_equal_per_vector_calls(route, assert_close, tol):
    input_emb, output_emb, targets, weights, probs = random_case(2, batch=(2, 3))
    args = input_emb, output_emb, targets
    batch_scores = memjax.scores(*args, weights, route)
    batch_error = memjax.error(*args, weights, probs, route=route)
    batch_margins = memjax.margins(*args, weights, route=route)
    assert batch_scores.shape == (2, 3, 40, 4) and batch_error.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            assert_close(batch_scores[i, j], memjax.scores(*args, weights[i, j], route),
                         atol=tol(input_emb.dtype))
            assert_close(batch_error[i, j], memjax.error(*args, weights[i, j], probs,
                                                         route=route))
            assert_close(batch_margins[i, j], memjax.margins(*args, weights[i, j],
                                                             route=route),
                         atol=tol(input_emb.dtype))


def test_routes_agree_on_errors(tol):
    input_emb, output_emb, targets, weights, probs = random_case(3, batch=(3,))
    errors = [memjax.error(input_emb, output_emb, targets, weights, probs, route=route)
              for route in ROUTES]
    for other in errors[1:]:
        np.testing.assert_allclose(other, errors[0], rtol=tol(input_emb.dtype))


@pytest.mark.parametrize("num_inputs, num_outputs, dim, route", [
        (100, 5, 50, "tokens"), (100, 50, 10, "matrix"), (1000, 20, 4, "matrix")])
def test_auto_route_picks_the_cheaper_one(num_inputs, num_outputs, dim, route):
    assert retrieval.choose_route(num_inputs, num_outputs, dim) == route


# --- chunking --------------------------------------------------------------------------

@pytest.mark.parametrize("route, chunk_size", [("tokens", 1), ("tokens", 7), ("matrix", 39)])
def test_chunked_scoring_equals_whole(route, chunk_size, assert_close, tol):
    # 7 and 39 do not divide N = 40: the last chunk is padded (with 1 it is not).
    input_emb, output_emb, targets, weights, probs = random_case(4, batch=(3,))
    args = input_emb, output_emb, targets, weights
    whole = retrieval.wrong_mass(*args, probs, route=route)
    chunked = retrieval.wrong_mass(*args, probs, route=route, chunk_size=chunk_size)
    assert chunked.shape == whole.shape == (3, 40)
    assert np.any(whole > 0)
    np.testing.assert_array_equal(chunked > 0, whole > 0)
    assert_close(memjax.error(*args, probs, route=route, chunk_size=chunk_size),
                 memjax.error(*args, probs, route=route))
    assert_close(memjax.margins(*args, route=route, chunk_size=chunk_size),
                 memjax.margins(*args, route=route), atol=tol(input_emb.dtype))


def test_default_chunking_scores_tokens_in_several_chunks(monkeypatch, assert_close):
    input_emb, output_emb, targets, weights, probs = random_case(5, batch=(3,))
    whole = memjax.error(input_emb, output_emb, targets, weights, probs)
    # 3 weight vectors × 4 outputs = 12 scores per token: chunks of 2 tokens.
    monkeypatch.setattr(retrieval, "SCORE_CHUNK_ENTRIES", 24)
    assert_close(memjax.error(input_emb, output_emb, targets, weights, probs), whole)


# --- margins and error decomposition ---------------------------------------------------

@pytest.mark.parametrize("seed", range(3))
def test_margins_are_positive_exactly_where_recalled(seed):
    input_emb, output_emb, targets, weights, _ = random_case(seed)
    scores = np.asarray(memjax.scores(input_emb, output_emb, targets, weights))
    assert np.all(top_two_gap(scores) > 0), "precondition: no ties"
    recalled = np.asarray(memjax.predictions(input_emb, output_emb, targets, weights)
                          == targets)
    margins = np.asarray(memjax.margins(input_emb, output_emb, targets, weights))
    assert recalled.any() and not recalled.all()
    np.testing.assert_array_equal(margins > 0, recalled)


def test_margins_are_the_target_score_minus_the_best_other(assert_close, tol):
    input_emb, output_emb, targets, weights, _ = random_case(6)
    scores = np.asarray(memjax.scores(input_emb, output_emb, targets, weights))
    rows = np.arange(scores.shape[0])
    others = scores.copy()
    others[rows, np.asarray(targets)] = -np.inf
    expected = scores[rows, np.asarray(targets)] - others.max(axis=-1)
    assert_close(memjax.margins(input_emb, output_emb, targets, weights), expected,
                 atol=tol(input_emb.dtype))


def test_margins_are_zero_on_ties_where_the_tie_rule_decides():
    input_emb, output_emb, targets, _, _ = random_case(7)
    margins = memjax.margins(input_emb, output_emb, targets, jnp.zeros(40))
    np.testing.assert_array_equal(margins, 0.0)


def test_margins_are_infinite_with_a_single_output():
    input_emb, _, _, weights, _ = random_case(8)
    output_emb = np.ones((1, 8), np.asarray(input_emb).dtype) / np.sqrt(8)
    margins = memjax.margins(input_emb, output_emb, jnp.zeros(40, jnp.int32), weights)
    assert np.all(np.isposinf(margins))


@pytest.mark.parametrize("head", [0, 1, 10, 40, 100])
def test_head_and_tail_errors_sum_to_the_error(head, tol):
    input_emb, output_emb, targets, weights, probs = random_case(9, batch=(3,))
    head_err, tail_err = memjax.head_tail_error(input_emb, output_emb, targets, weights,
                                                probs, head)
    total = memjax.error(input_emb, output_emb, targets, weights, probs)
    np.testing.assert_allclose(head_err + tail_err, total, rtol=tol(), atol=tol())
    wrong = np.asarray(memjax.predictions(input_emb, output_emb, targets, weights)
                       != targets)
    expected_head = (wrong[:, :head] * np.asarray(probs, np.float64)[:head]).sum(-1)
    np.testing.assert_allclose(head_err, expected_head, rtol=tol(), atol=tol())
    if head == 0:
        np.testing.assert_array_equal(head_err, 0.0)
    if head >= 40:
        np.testing.assert_array_equal(tail_err, 0.0)


# --- compilation and precision ---------------------------------------------------------

def test_jit_equals_eager(assert_close, tol):
    case = random_case(10, batch=(3,))
    assert_close(jax.jit(memjax.error)(*case), memjax.error(*case))
    assert_close(jax.jit(memjax.margins)(*case[:4]), memjax.margins(*case[:4]),
                 atol=tol(case[0].dtype))


def test_jit_of_vmap_over_weights_equals_eager_calls(assert_close):
    # jax 0.10.2 miscompiled jitted, vmapped reductions on CPU (jax-ml/jax#39103).
    input_emb, output_emb, targets, weights, probs = random_case(11, batch=(3,))
    batched = jax.jit(jax.vmap(memjax.error, in_axes=(None, None, None, 0, None)))(
            input_emb, output_emb, targets, weights, probs)
    eager = np.stack([memjax.error(input_emb, output_emb, targets, q, probs)
                      for q in weights])
    assert np.all(eager > 0) and len(np.unique(eager)) == len(eager)  # nothing trivial
    assert_close(batched, eager)
    masks = jax.jit(jax.vmap(retrieval.wrong_mass, in_axes=(None, None, None, 0, None)))(
            input_emb, output_emb, targets, weights, probs)
    for mask, q in zip(masks, weights):
        eager_mask = retrieval.wrong_mass(input_emb, output_emb, targets, q, probs)
        np.testing.assert_array_equal(mask > 0, eager_mask > 0)


def test_jit_of_vmap_over_seeds_equals_eager_calls(assert_close, tol):
    cases = [random_case(seed) for seed in range(12, 16)]
    stacked = [jnp.stack(parts) for parts in zip(*cases)]
    batched = jax.jit(jax.vmap(memjax.error))(*stacked)
    eager = np.stack([memjax.error(*case) for case in cases])
    assert np.all(eager > 0) and len(np.unique(eager)) == len(eager)  # nothing trivial
    assert_close(batched, eager)
    margins = jax.jit(jax.vmap(memjax.margins))(*stacked[:4])
    for got, case in zip(margins, cases):
        assert_close(got, memjax.margins(*case[:4]), atol=tol(case[0].dtype))


@pytest.mark.parametrize("seed", range(3))
def test_float32_agrees_with_a_float64_reference(seed):
    # float32 inputs stay float32 in both the default and the x64 run.
    input_emb, output_emb, targets, weights, probs = random_case(
            seed, dtype=np.float32)
    expected_scores, bound = reference_scores(input_emb, output_emb, targets, weights)
    # Precondition: every top-two gap exceeds what float32 rounding can move.
    assert np.all(top_two_gap(expected_scores) > 2 * bound.max(axis=-1))
    wrong = expected_scores.argmax(-1) != targets
    expected = np.asarray(probs, np.float64)[wrong].sum()
    for route in ROUTES:
        err = memjax.error(input_emb, output_emb, targets, weights, probs, route=route)
        assert err.dtype == np.float32
        # Summing ≤ N = 40 float32 probabilities: relative error ≤ N eps32.
        assert abs(float(err) - expected) <= 40 * np.finfo(np.float32).eps * expected


# --- bad inputs ------------------------------------------------------------------------

# (case id, argument, corruption of a valid case): the error must name the argument.
BAD_INPUTS = [
        ("1-D", "input_emb", lambda c: c["input_emb"][0]),
        ("3-D", "input_emb", lambda c: c["input_emb"][None]),
        ("wrong d", "output_emb", lambda c: c["output_emb"][:, :5]),
        ("1-D", "output_emb", lambda c: c["output_emb"][0]),
        ("wrong N", "targets", lambda c: c["targets"][:-1]),
        ("2-D", "targets", lambda c: c["targets"][None]),
        ("float", "targets", lambda c: c["targets"].astype(float)),
        ("= M", "targets", lambda c: c["targets"].at[3].set(4)),
        ("negative", "targets", lambda c: c["targets"].at[3].set(-1)),
        ("wrong N", "weights", lambda c: c["weights"][:-1]),
        ("0-D", "weights", lambda c: c["weights"][0]),
        ("negative", "weights", lambda c: c["weights"].at[2].set(-0.5)),
        ("NaN", "weights", lambda c: c["weights"].at[2].set(jnp.nan)),
        ("bool", "weights", lambda c: c["weights"].astype(bool)),
        ("wrong N", "probs", lambda c: c["probs"][:-1]),
        ("2-D", "probs", lambda c: c["probs"][None]),
        ("negative", "probs", lambda c: c["probs"].at[0].set(-0.1)),
        ("NaN", "probs", lambda c: c["probs"].at[0].set(jnp.nan)),
        ("NaN", "input_emb", lambda c: c["input_emb"].at[1, 2].set(jnp.nan)),
        ("inf", "input_emb", lambda c: c["input_emb"].at[0, 0].set(-jnp.inf)),
        ("NaN", "output_emb", lambda c: c["output_emb"].at[1, 2].set(jnp.nan)),
        ("inf", "output_emb", lambda c: c["output_emb"].at[0, 0].set(jnp.inf)),
        ("inf", "weights", lambda c: c["weights"].at[2].set(jnp.inf)),
        ("inf", "probs", lambda c: c["probs"].at[0].set(jnp.inf)),
        ("sum 2", "probs", lambda c: 2 * c["probs"]),
        ("sum 1 - 1e-4", "probs", lambda c: c["probs"].at[0].add(-1e-4)),
]
FUNCTIONS = [memjax.memory, memjax.scores, memjax.predictions, memjax.margins, memjax.error,
             memjax.head_tail_error]
TAKE_PROBS = (memjax.error, memjax.head_tail_error)


def _call(function, case):
    args = [case[n] for n in ("input_emb", "output_emb", "targets", "weights")]
    if function in TAKE_PROBS:
        args.append(case["probs"])
    if function is memjax.head_tail_error:
        args.append(3)  # head
    return function(*args)


@pytest.mark.parametrize("function, arg, corrupt", [
        pytest.param(function, arg, corrupt, id=f"{function.__name__}-{arg}-{what}")
        for function in FUNCTIONS for what, arg, corrupt in BAD_INPUTS
        if arg != "probs" or function in TAKE_PROBS])
def test_bad_inputs_raise_value_error_naming_the_argument(function, arg, corrupt):
    keys = ("input_emb", "output_emb", "targets", "weights", "probs")
    case = dict(zip(keys, random_case(0)))
    case[arg] = corrupt(case)
    with pytest.raises(ValueError, match=rf"^{arg}\b"):
        _call(function, case)


@pytest.mark.parametrize("call", [
        lambda c: memjax.scores(*c[:4], route="fast"),
        lambda c: memjax.predictions(*c[:4], route="Tokens"),
        lambda c: memjax.margins(*c[:4], route=""),
        lambda c: memjax.error(*c, route="gram?"),
        lambda c: memjax.head_tail_error(*c, 3, route=None)])
def test_unknown_routes_raise_naming_route(call):
    with pytest.raises(ValueError, match="route"):
        call(random_case(0))


@pytest.mark.parametrize("chunk_size", [0, -2, 2.5])
@pytest.mark.parametrize("function", [memjax.error, memjax.margins],
                         ids=lambda f: f.__name__)
def test_bad_chunk_sizes_raise_naming_chunk_size(function, chunk_size):
    case = random_case(0)
    args = case if function is memjax.error else case[:4]
    with pytest.raises(ValueError, match="chunk_size"):
        function(*args, chunk_size=chunk_size)


@pytest.mark.parametrize("head", [-1, 2.5])
def test_bad_head_raises_naming_head(head):
    with pytest.raises(ValueError, match="head"):
        memjax.head_tail_error(*random_case(0), head)


def test_probabilities_widened_from_float32_pass_the_sum_check(tol):
    # The sum may miss 1 by N·eps of float32 (the tolerance's floor), whatever the dtype.
    probs = np.asarray(data.zipf_probs(1000, 1.1), np.float32).astype(np.float64)
    input_emb, output_emb, targets, _, _ = random_case(0, num_inputs=1000)
    got = memjax.error(input_emb, output_emb, targets, jnp.ones(1000), probs)
    assert 0 <= float(got) <= 1


# From the smallest float32 subnormal to near float32's largest value.
SCALES = [1e-45, 1e-38, 1e-20, 1.0, 1e20, 1e38, 3e38]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_errors_and_predictions_do_not_depend_on_the_scale_of_the_weights(dtype):
    """argmax is scale-invariant: c·q must give the predictions of q for every c > 0, even
    where c·q or its scores leave the float range (weights are rescaled exactly first).
    q is 0 or 1 per token, so c·q is exact in `dtype` even where c is subnormal."""
    input_emb, output_emb, targets, weights, probs = random_case(3)
    q = (np.asarray(weights) > 0).astype(np.float64)
    expected = memjax.error(input_emb, output_emb, targets, q, probs)
    predicted = memjax.predictions(input_emb, output_emb, targets, q)
    for c in SCALES + ([1e-300, 1e300] if dtype == np.float64 else []):
        scaled = (c * q).astype(dtype)
        assert memjax.error(input_emb, output_emb, targets, scaled, probs) == expected, c
        np.testing.assert_array_equal(
            memjax.predictions(input_emb, output_emb, targets, scaled), predicted)
        head, tail = memjax.head_tail_error(input_emb, output_emb, targets, scaled, probs, 5)
        assert float(head + tail) == pytest.approx(float(expected))


def test_traced_weights_are_rescaled_on_the_device_too():
    # Powers of two keep c·q exact; unscaled, 2^-120 underflows the scores to zero and
    # 2^127 overflows them (subnormal inputs are flushed by XLA: rescaled on the host).
    input_emb, output_emb, targets, weights, probs = random_case(4)
    error = jax.jit(memjax.error)
    expected = error(input_emb, output_emb, targets, weights / weights.max(), probs)
    for power in (-120, 120, 127):
        scaled = jnp.ldexp(weights / weights.max(), power)
        assert error(input_emb, output_emb, targets, scaled, probs) == expected, power
