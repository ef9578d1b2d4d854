"""Tests for memjax.embeddings: nested standard draws and their restriction to each d."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memjax import embeddings


@pytest.fixture(scope="module")
def base():
    """A (4000, 50) standard normal draw shared by the statistical tests."""
    return embeddings.draw_base(jax.random.key(0), 4000, 50)


def test_draw_base_has_the_requested_shape_and_default_float_dtype(base):
    assert base.shape == (4000, 50)
    assert base.dtype == jnp.result_type(float)


def test_draw_base_columns_do_not_depend_on_the_width(base):
    np.testing.assert_array_equal(base[:, :20],
                                  embeddings.draw_base(jax.random.key(0), 4000, 20))


def test_draw_base_differs_between_keys(base):
    other = embeddings.draw_base(jax.random.key(1), *base.shape)
    assert np.all(base != other)


def test_draw_base_columns_are_distinct_draws(base):
    # Sample correlation of independent columns is ~ N(0, 1/n): 5 standard deviations.
    corr = np.corrcoef(np.asarray(base, np.float64).T)
    off_diagonal = corr[~np.eye(corr.shape[0], dtype=bool)]
    assert np.abs(off_diagonal).max() <= 5 / math.sqrt(base.shape[0])


@pytest.mark.parametrize("dim", [1, 7, 20, 50])
def test_restrict_gaussian_is_the_first_d_columns_divided_by_sqrt_d(base, dim, assert_close):
    emb = embeddings.restrict(base, dim, "gaussian")
    assert emb.shape == (base.shape[0], dim)
    assert_close(emb * math.sqrt(dim), base[:, :dim])


@pytest.mark.parametrize("dim", [1, 7, 20, 50])
def test_restrict_sphere_is_the_first_d_columns_normalised(base, dim, assert_close):
    emb = embeddings.restrict(base, dim, "sphere")
    norms = jnp.linalg.norm(base[:, :dim], axis=-1, keepdims=True)
    assert_close(emb * norms, base[:, :dim])


@pytest.mark.parametrize("kind", embeddings.KINDS)
def test_restrict_uses_only_the_first_d_columns(base, kind):
    np.testing.assert_array_equal(embeddings.restrict(base, 10, kind),
                                  embeddings.restrict(base[:, :10], 10, kind))


# A spread of d from 1 to d_max (each new d costs a compile, so not all 50).
@pytest.mark.parametrize("dim", [1, 2, 3, 5, 8, 13, 21, 34, 50])
def test_sphere_rows_have_unit_norm_at_every_dim(base, dim, tol):
    norms = np.linalg.norm(np.asarray(embeddings.restrict(base, dim, "sphere"), np.float64),
                           axis=-1)
    assert np.abs(norms - 1).max() <= tol(base.dtype)


def test_sphere_never_returns_nan_for_a_zero_row():
    emb = embeddings.restrict(jnp.zeros((2, 3)), 3, "sphere")
    assert np.all(np.isfinite(emb))


@pytest.mark.parametrize("dim", [1, 8, 50])
def test_gaussian_entries_have_mean_zero_and_variance_one_over_d(base, dim):
    entries = np.asarray(embeddings.restrict(base, dim, "gaussian"), np.float64).ravel()
    count = entries.size
    # For n i.i.d. N(0, σ²) entries, the sample mean has sd σ/√n and the sample variance
    # has sd σ²·√(2/(n-1)): allow 5 standard deviations of each.
    variance = 1 / dim
    assert abs(entries.mean()) <= 5 * math.sqrt(variance / count)
    assert abs(entries.var(ddof=1) - variance) <= 5 * variance * math.sqrt(2 / (count - 1))


@pytest.mark.parametrize("dim", [2, 8, 50])
def test_sphere_coordinates_have_the_uniform_laws_moments(base, dim):
    first = np.asarray(embeddings.restrict(base, dim, "sphere"), np.float64)[:, 0]
    count = first.size
    # A uniform unit vector u in R^d has E u_0 = 0, E u_0² = 1/d and
    # Var u_0² = E u_0⁴ − 1/d² = 3/(d(d+2)) − 1/d²; 5 standard errors of each mean.
    var_square = 3 / (dim * (dim + 2)) - 1 / dim**2
    assert abs(first.mean()) <= 5 * math.sqrt(1 / dim / count)
    assert abs((first**2).mean() - 1 / dim) <= 5 * math.sqrt(var_square / count)


@pytest.mark.parametrize("kind", embeddings.KINDS)
def test_embeddings_at_d_equal_the_restricted_wider_draw(base, kind, assert_close):
    # `base` is the draw of key 0 at width 50; an independent draw at d = 20 matches it.
    assert_close(embeddings.embeddings(jax.random.key(0), base.shape[0], 20, kind),
                 embeddings.restrict(base, 20, kind))


@pytest.mark.parametrize("kind", ["normal", "Sphere", "", None])
def test_bad_kinds_raise_naming_kind(base, kind):
    with pytest.raises(ValueError, match="kind"):
        embeddings.restrict(base, 5, kind)
    with pytest.raises(ValueError, match="kind"):
        embeddings.embeddings(jax.random.key(0), 3, 5, kind)


@pytest.mark.parametrize("dim", [0, -1, 2.5, 51, True])
def test_bad_dims_raise_naming_dim(base, dim):
    with pytest.raises(ValueError, match="dim"):
        embeddings.restrict(base, dim, "gaussian")


@pytest.mark.parametrize("num_vectors, max_dim, name", [(0, 5, "num_vectors"),
                                                        (3, 0, "max_dim"),
                                                        (3, 1.5, "max_dim")])
def test_draw_base_rejects_bad_sizes_naming_them(num_vectors, max_dim, name):
    with pytest.raises(ValueError, match=name):
        embeddings.draw_base(jax.random.key(0), num_vectors, max_dim)
