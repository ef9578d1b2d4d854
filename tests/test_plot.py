"""Plots run headless on small data and return Axes with the expected artists."""

import math

import jax
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import memjax  # noqa: E402
from memjax import plot, schemes  # noqa: E402


@pytest.fixture(scope="module")
def result():
    return memjax.sweep(jax.random.key(0), num_inputs=40, num_outputs=3,
                        zipf_exponent=1.5, dims=[4, 8, 16], num_samples=[5, 50, math.inf],
                        schemes=[schemes.population(1.0), schemes.empirical(0.0)],
                        num_seeds=3)


def teardown_function():
    plt.close("all")


def test_error_vs_dim_draws_a_curve_and_band_per_scheme_and_sample_size(result):
    ax = plot.error_vs_dim(result)
    assert len(ax.get_lines()) == 2 * 3 and len(ax.collections) == 2 * 3
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "dimension" in ax.get_xlabel() and ax.get_legend() is not None
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "population(power=1), T = ∞" in labels


def test_error_vs_samples_uses_finite_sample_sizes_only(result):
    ax = plot.error_vs_samples(result, schemes=["empirical(power=0)"], dims=[8])
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_xdata(), [5, 50])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["empirical(power=0)"]


def test_contour_and_power_law_line(result):
    fig, (a, b) = plt.subplots(1, 2)
    assert plot.error_contour(result, scheme="empirical(power=0)", ax=a) is a
    assert len(a.collections) >= 1
    assert plot.add_power_law(b, [1, 10, 100], -0.5, (1, 1.0)) is b
    np.testing.assert_allclose(b.get_lines()[0].get_ydata(), [1, 10 ** -0.5, 0.1])


def test_memory_matrix_and_stored_weights():
    scores = np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    ax = plot.memory_matrix(scores, np.array([0, 1, 0]), title="ρ = 0")
    image = ax.get_images()[0].get_array()
    np.testing.assert_allclose(image.sum(axis=1), 1.0)  # rows are softmax distributions
    np.testing.assert_allclose(image[2], [0.5, 0.5])
    clim = ax.get_images()[0].get_clim()  # the colour scale spans the values shown
    np.testing.assert_allclose(clim, (image.min(), image.max()))
    probs = memjax.zipf_probs(10, 1.0)
    ax = plot.stored_weights({"q = p": probs}, probs=probs, powers=[0.5])
    assert len(ax.get_lines()) == 2


def _band_low(ax, x):
    vertices = ax.collections[0].get_paths()[0].vertices
    return vertices[vertices[:, 0] == x, 1].min()


def test_bands_stay_within_the_seeds_range():
    errors = np.array([[0.1, 0.0], [0.1, 0.01], [0.1, 1.0], [0.1, 1.0], [1.0, 0.01]])
    _, (lin, log) = plt.subplots(1, 2)
    plot.mean_band([1, 2], errors, ax=lin, band=1.0, log=False)
    # mean − std at x = 1 is 0.28 − 0.36, below every seed: clipped to the best seed, 0.1
    np.testing.assert_allclose(_band_low(lin, 1), 0.1)
    plot.mean_band([1, 2], errors, ax=log, band=1.0, log=True)
    # at x = 2, mean − std = 0.40 − 0.49 < 0 = the best seed; on log axes the band stops
    # at the smallest positive seed instead
    np.testing.assert_allclose(_band_low(log, 2), 0.01)
