"""Property-based tests of the public API's arguments (hypothesis).

Two properties, over generated arguments: every bad input raises a `ValueError` whose
message names the argument, before anything is traced; every valid input gives finite
errors in [0, 1]. Kept cheap: tiny N, few examples, derandomized (CI sees the same
examples every run) and, for `sweep`, one static configuration whose numbers (α, the
key, the seed) vary, so it compiles once.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import memjax
from memjax import data, schemes

CHEAP = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow])
KEY = jax.random.key(0)
FLOAT = jnp.result_type(float)

# --- memjax.error and friends ------------------------------------------------------------

SHAPES = [(6, 2, 3), (12, 3, 8)]  # (N, M, d): few shapes, so few compiles
finite_floats = st.floats(-10, 10, allow_nan=False, width=32)


@st.composite
def retrieval_case(draw):
    n, m, d = draw(st.sampled_from(SHAPES))
    arrays = lambda shape, elements: np.asarray(
        draw(st.lists(elements, min_size=math.prod(shape), max_size=math.prod(shape)))
    ).reshape(shape)
    raw = arrays((n,), st.floats(2.0**-20, 1.0, width=32))
    return {"input_emb": arrays((n, d), finite_floats).astype(FLOAT),
            "output_emb": arrays((m, d), finite_floats).astype(FLOAT),
            "targets": arrays((n,), st.integers(0, m - 1)).astype(np.int32),
            # Any non-negative scale, zeros included (argmax is scale-invariant).
            "weights": arrays((n,), st.sampled_from([0.0, 1e-30, 0.5, 1.0, 3e38])),
            "probs": (raw / raw.sum()).astype(FLOAT)}  # normalised in float64


def _error(case):
    return memjax.error(*(case[k] for k in ("input_emb", "output_emb", "targets",
                                            "weights", "probs")))


@CHEAP
@given(retrieval_case())
def test_valid_arrays_give_a_finite_error_in_0_1(case):
    error = float(_error(case))
    assert math.isfinite(error) and 0 <= error <= 1 + 1e-6


def at(array, index, value):
    """A copy of `array` with entry `index` (mod its size, flat) set to `value`."""
    out = array.copy()
    out.flat[index % out.size] = value
    return out


def _corruptions(case, index):
    """(argument, corrupted value) pairs for a valid case; index picks an entry."""
    n, d = case["input_emb"].shape
    m = case["output_emb"].shape[0]
    return [
        ("input_emb", at(case["input_emb"], index, np.nan)),
        ("input_emb", at(case["input_emb"], index, -np.inf)),
        ("input_emb", case["input_emb"][:, :, None]),
        ("output_emb", at(case["output_emb"], index, np.inf)),
        ("output_emb", case["output_emb"][:, : d - 1]),
        ("targets", at(case["targets"], index, m + index % 3)),
        ("targets", at(case["targets"], index, -1 - index % 3)),
        ("targets", case["targets"][: n - 1]),
        ("weights", at(case["weights"], index, -0.5 - index)),
        ("weights", at(case["weights"], index, np.nan)),
        ("weights", at(case["weights"], index, np.inf)),
        ("weights", case["weights"][: n - 1]),
        ("probs", case["probs"] * (1.5 + index)),
        ("probs", case["probs"] * 0.5),
        ("probs", at(case["probs"], index, -0.1)),
        ("probs", at(case["probs"], index, np.nan)),
        ("probs", np.concatenate([case["probs"], [0.0]])),
    ]


@CHEAP
@given(retrieval_case(), st.integers(0, 10**6), st.data())
def test_bad_arrays_raise_naming_the_argument(case, index, data_):
    name, value = data_.draw(st.sampled_from(_corruptions(case, index)))
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        _error({**case, name: value})


# --- memjax.sweep ------------------------------------------------------------------------

SWEEP = dict(num_inputs=30, num_outputs=3, dims=[4, 16], num_samples=[10, math.inf],
             schemes=[schemes.uniform(), schemes.population(1.0),
                      schemes.empirical(0.0, "d/4")])


@CHEAP
@given(st.floats(0.0, 6.0), st.integers(0, 2**32 - 1), st.integers(0, memjax.grid.MAX_SEED))
def test_valid_sweeps_give_finite_errors_in_0_1(zipf_exponent, key, seed):
    # α, the key and the seed are numbers, not shapes: one compile for every example.
    result = memjax.sweep(jax.random.key(key), zipf_exponent=zipf_exponent, seeds=[seed],
                          **SWEEP)
    assert np.isfinite(result.error).all()
    assert ((result.error >= 0) & (result.error <= 1 + 1e-6)).all()


not_integer = (st.integers(-10**6, 10**6).map(lambda k: k + 0.5) | st.just(math.nan)
               | st.just(math.inf) | st.just(-math.inf))
BAD_SWEEP_ARGUMENTS = {
    "num_inputs": st.integers(max_value=0) | not_integer | st.just("30")
    | st.integers(2**27, 2**60),
    "num_outputs": st.integers(max_value=0) | not_integer | st.booleans(),
    "zipf_exponent": st.floats(max_value=-1e-9) | st.just(math.nan) | st.just(math.inf)
    | st.text(max_size=3) | st.just(None) | st.just([2.0]),
    "dims": st.lists(st.integers(max_value=0), min_size=1, max_size=2)
    | st.lists(st.integers(2**16 + 1, 2**40), min_size=1, max_size=2) | st.just([])
    | st.just("8") | st.just([4, 4]) | st.lists(not_integer, min_size=1, max_size=1),
    "num_samples": st.lists(st.integers(max_value=-1), min_size=1, max_size=2)
    | st.lists(st.floats(2.0**53 + 2**12, 1e300), min_size=1, max_size=1)
    | st.lists(not_integer.filter(lambda x: not math.isinf(x)), min_size=1, max_size=1)
    | st.just([]) | st.just(["10"]) | st.just([10, 10]),
    "seeds": st.lists(st.integers(max_value=-1), min_size=1, max_size=2)
    | st.lists(st.integers(2**31, 2**64), min_size=1, max_size=2) | st.just([])
    | st.just([0, 0]) | st.just([1.5]),
    "num_seeds": st.integers(max_value=0) | st.integers(2**31 + 1, 2**64) | not_integer,
    "key": st.integers() | st.just(None) | st.just(jax.random.PRNGKey(0))
    | st.just(jax.random.split(KEY, 2)),
    "devices": st.just(["cpu"]) | st.just("cpu") | st.just([]) | st.just([0]),
    "schemes": st.just([]) | st.just(["bogus"]) | st.just([42])
    | st.just([schemes.uniform(), schemes.uniform()]),
    "route": st.text(max_size=4),
    "counts": st.text(max_size=4),
    "conventions": st.text(max_size=4),
    "input_embedding": st.text(max_size=4),
    "targets": st.text(max_size=4),
    "memory_budget": st.integers(max_value=0) | not_integer,
    "token_chunk": st.integers(max_value=0) | not_integer,
}


@settings(CHEAP, max_examples=60)  # no compile: enough to reach every argument
@given(st.data())
def test_bad_sweep_arguments_raise_naming_them(data_):
    name = data_.draw(st.sampled_from(sorted(BAD_SWEEP_ARGUMENTS)))
    value = data_.draw(BAD_SWEEP_ARGUMENTS[name])
    if name in ("route", "counts", "conventions", "input_embedding", "targets"):
        allowed = {"route": memjax.grid._nested.ROUTES, "counts": memjax.grid.COUNT_METHODS,
                   "conventions": memjax.grid.CONVENTIONS, "targets": ("mod", "random"),
                   "input_embedding": ("gaussian", "sphere")}[name]
        if value in allowed:
            return
    kwargs = {"zipf_exponent": 1.0, **SWEEP}
    key = KEY
    if name == "key":
        key = value
    else:
        kwargs[name] = value
    with pytest.raises(ValueError, match=name.rstrip("s") if name == "schemes" else name):
        memjax.sweep(key, **kwargs)


# --- schemes -----------------------------------------------------------------------------

@CHEAP
@given(st.floats(max_value=-1e-12) | st.just(math.nan) | st.just(math.inf) | st.text(max_size=3))
def test_bad_powers_raise_naming_power(power):
    for build in (schemes.population, schemes.empirical):
        with pytest.raises(ValueError, match="power"):
            build(power)


@CHEAP
@given(st.integers(max_value=-1) | not_integer | st.text(max_size=4).filter(
    lambda t: not t.strip().startswith("d")))
def test_bad_tops_raise_naming_top(top):
    for build in (schemes.threshold, lambda t: schemes.empirical(0.0, t)):
        with pytest.raises(ValueError, match="top"):
            build(top)


@CHEAP
@given(st.floats(0.0, 8.0), st.integers(0, 2**40), st.floats(0.0, 4.0))
def test_valid_scheme_weights_are_finite_and_non_negative(power, top, zipf_exponent):
    probs = data.zipf_probs(12, zipf_exponent)
    counts = jnp.asarray([5, 0, 3, 3, 1, 0, 0, 2, 1, 0, 0, 1])
    for scheme in (schemes.population(power), schemes.threshold(top),
                   schemes.empirical(power, top)):
        weights = np.asarray(scheme.weights(counts, 16, probs, 8, key=KEY))
        assert weights.shape == (12,) and np.isfinite(weights).all() and (weights >= 0).all()


# --- data --------------------------------------------------------------------------------

@CHEAP
@given(st.sampled_from(["num_trials", "prob"]), st.data())
def test_bad_binomial_arguments_raise_naming_them(name, data_):
    bad = {"num_trials": st.floats(max_value=-0.5) | st.just(math.nan) | st.just(math.inf)
           | not_integer.filter(math.isfinite) | st.floats(2.0**53 + 2**12, 1e300),
           "prob": st.floats(max_value=-1e-9) | st.floats(1 + 1e-9, 1e30)
           | st.just(math.nan)}[name]
    kwargs = {"num_trials": 10.0, "prob": 0.5, name: data_.draw(bad)}
    with pytest.raises(ValueError, match=name):
        data.binomial(KEY, kwargs["num_trials"], kwargs["prob"])


@CHEAP
@given(st.lists(st.floats(0, 1e3), min_size=1, max_size=8), st.integers(0, 7),
       st.sampled_from([-1.0, math.nan, math.inf, -math.inf]))
def test_bad_probabilities_raise_naming_probs(probs, index, bad):
    probs = np.asarray(probs)
    probs[index % probs.size] = bad
    for call in (data.alias_table, lambda p: data.multinomial_counts(KEY, p, 10),
                 lambda p: data.nested_multinomial_counts(KEY, p, [10])):
        with pytest.raises(ValueError, match="probs"):
            call(probs)


@CHEAP
@given(st.lists(st.floats(0, 1e3), min_size=1, max_size=8).filter(lambda p: sum(p) > 0))
def test_alias_tables_of_valid_weights_are_well_formed(probs):
    table = data.alias_table(probs)
    alias = np.asarray(table.alias)
    assert alias.shape == (len(probs),) and (alias >= 0).all() and (alias < len(probs)).all()


@CHEAP
@given(st.sampled_from([1, 7, 64]), st.floats(0.0, 60.0))
def test_zipf_probabilities_are_finite_and_sum_to_one(num_inputs, zipf_exponent):
    probs = np.asarray(data.zipf_probs(num_inputs, zipf_exponent), np.float64)
    assert np.isfinite(probs).all() and (probs >= 0).all()
    assert abs(probs.sum() - 1) <= num_inputs * np.finfo(FLOAT).eps


@pytest.mark.parametrize("on_host", [True, False])
def test_finite_checks_catch_nan_and_inf_in_device_arrays_on_both_routes(on_host,
                                                                         monkeypatch):
    # CPU arrays are read in place by NumPy; other devices' arrays are reduced where they
    # live (forced here on CPU). Both name the entry; a CPU check compiles nothing.
    from memjax import _checks

    monkeypatch.setattr(_checks, "_on_host", lambda value: on_host)
    # A shape no other test uses: the device route's eager ops compile here, not earlier.
    good = jnp.arange(3 * 61, dtype=FLOAT).reshape(3, 61)
    compiles = []

    def listen(event, seconds, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(event)

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        assert _checks.finite("x", good) is good
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    assert (compiles == []) == on_host
    for bad, shown in ((np.nan, "nan"), (-np.inf, "-inf")):
        with pytest.raises(ValueError, match=rf"x must be finite .*{shown} at index \(2, 7\)"):
            _checks.finite("x", good.at[2, 7].set(bad))
