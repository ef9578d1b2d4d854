"""The jaxtyping shape annotations of the public signatures hold, checked at runtime.

memjax's functions carry `Float[Array, "N d"]`-style annotations (the JAX ecosystem's
convention) but do not check them on every call; here each annotated function is wrapped
in `jaxtyping.jaxtyped(typechecker=beartype)` and called, so a wrong annotation fails, and
a call with mismatched shapes is refused by the annotations alone.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from beartype import BeartypeConf, beartype
from jaxtyping import TypeCheckError, jaxtyped

import memjax
from memjax import data, embeddings, retrieval, schemes

KEY = jax.random.key(0)
N, M, D = 12, 3, 5


# The numeric tower of PEP 484 (an int is a valid float), as static type checkers read it.
TYPECHECKER = beartype(conf=BeartypeConf(is_pep484_tower=True))


def checked(function):
    # `fast_bits` wraps some functions in (*args, **kwargs): check the annotated inner one.
    return jaxtyped(typechecker=TYPECHECKER)(getattr(function, "__wrapped__", function))


@pytest.fixture(scope="module")
def case():
    input_emb = embeddings.embeddings(KEY, N, D, "gaussian")
    output_emb = embeddings.embeddings(jax.random.key(1), M, D, "sphere")
    return (input_emb, output_emb, data.mod_targets(N, M), jnp.ones((2, N)),
            data.zipf_probs(N, 1.5))


def test_retrieval_signatures_hold_on_valid_calls(case):
    input_emb, output_emb, targets, weights, probs = case
    assert checked(retrieval.memory)(input_emb, output_emb, targets, weights).shape == (2, D, D)
    assert checked(retrieval.scores)(input_emb, output_emb, targets, weights).shape == (2, N, M)
    assert checked(retrieval.predictions)(input_emb, output_emb, targets, weights).shape == (
        2, N)
    assert checked(retrieval.margins)(input_emb, output_emb, targets, weights).shape == (2, N)
    assert checked(retrieval.error)(input_emb, output_emb, targets, weights, probs).shape == (2,)
    head, tail = checked(retrieval.head_tail_error)(input_emb, output_emb, targets,
                                                    weights[0], probs, 3)
    assert head.shape == tail.shape == ()
    # NumPy arrays are ArrayLike too.
    checked(retrieval.error)(*(np.asarray(a) for a in case))


def test_data_embeddings_and_schemes_signatures_hold_on_valid_calls():
    probs = checked(data.zipf_probs)(N, 2.0)
    table = checked(data.alias_table)(np.asarray(probs))
    stream = checked(data.sample_tokens)(KEY, table, 40)
    counts = checked(data.nested_counts)(stream, N, [10, 40])
    assert counts.shape == (2, N)
    assert checked(data.random_targets)(KEY, N, M).shape == (N,)
    # (a static bound on n skips the halving loop: a smaller compile)
    assert checked(data.binomial)(KEY, jnp.full(3, 10.0), 0.5, max_trials=10).shape == (3,)
    base = checked(embeddings.draw_base)(KEY, N, 8)
    assert checked(embeddings.restrict)(base, 4, "sphere", "truncate").shape == (N, 4)
    assert checked(embeddings.draw_columns)(KEY, N, 8).shape == (8, N)
    scheme = schemes.empirical(0.0, 3)
    assert checked(scheme.weights)(counts[0], 10, probs, 8, key=KEY).shape == (N,)
    freqs = schemes.frequencies(counts, (10, 40), probs)
    assert checked(scheme.weight_grid)(freqs, probs, (4, 8), key=KEY).shape == (2, 2, N)
    assert checked(schemes.rescale)(jnp.ones((2, N))).shape == (2, N)


def test_mismatched_shapes_are_refused_by_the_annotations(case):
    input_emb, output_emb, targets, weights, probs = case
    with pytest.raises(TypeCheckError):  # d of output_emb differs from d of input_emb
        checked(retrieval.error)(input_emb, output_emb[:, :2], targets, weights, probs)
    with pytest.raises(TypeCheckError):  # N of probs differs from N of input_emb
        checked(retrieval.error)(input_emb, output_emb, targets, weights, probs[:-1])
    with pytest.raises(TypeCheckError):  # float targets
        checked(retrieval.memory)(input_emb, output_emb, targets * 1.0, weights)
    with pytest.raises(TypeCheckError):  # a 2-D probability vector
        checked(data.multinomial_counts)(KEY, jnp.ones((2, 2)), 10)


def test_unchecked_calls_still_give_the_package_errors(case):
    # Without the type checker, the same mistake is the package's named ValueError.
    input_emb, output_emb, targets, weights, probs = case
    with pytest.raises(ValueError, match="output_emb"):
        memjax.error(input_emb, output_emb[:, :2], targets, weights, probs)
    assert math.isfinite(float(memjax.error(input_emb, output_emb, targets, weights[0],
                                            probs)))
