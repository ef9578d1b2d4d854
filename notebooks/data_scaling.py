# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Data scaling: the error as a function of the number of samples T
#
# With a large memory the only errors are on tokens never seen in the T samples: the
# missing mass Σ_x p(x)(1 − p(x))^T ≈ 0.69 · T^(−1/2) for α = 2 (SPEC §3). Storing the
# ⌊d/12⌋ most frequent seen tokens (SPEC §5.1) combines both limits:
# error ≈ d^(−(α−1)) + T^(−(1−1/α)).
#
# Set `MEMJAX_SMOKE=1` to run this notebook at a tiny size.

# %%
import os
import pathlib

import jax
import matplotlib.pyplot as plt
import numpy as np

import memjax
from memjax import fit, plot, schemes, theory

NAME = "data_scaling"
# Figures show inline in Jupyter, or in a window under `python` with a display. Headless
# (a non-interactive backend such as Agg) they are saved as PNGs next to this notebook,
# or in the folder named by the environment variable MEMJAX_FIGURES.
HERE = pathlib.Path(globals().get("__file__", "notebook")).parent  # Jupyter: the cwd


def show(name):
    plot.show_or_save(f"{NAME}_{name}", HERE)


SMOKE = os.environ.get("MEMJAX_SMOKE") == "1"
NUM_SEEDS = 4 if SMOKE else 100
SIZES = [10, 100, 1000] if SMOKE else np.unique(np.round(np.logspace(1, 4, 13))).astype(int)
DIMS = [20, 200] if SMOKE else [10, 20, 50, 100, 200, 1000]

# %%
result = memjax.sweep(
    jax.random.key(0), num_inputs=1000, num_outputs=5, zipf_exponent=2.0, dims=DIMS,
    num_samples=SIZES, num_seeds=NUM_SEEDS,
    schemes=[schemes.empirical(power=0.0, top="d/12"), schemes.empirical(power=0.0)])

# %% [markdown]
# Every seen token stored, at the largest d, against the exact missing mass:

# %%
probs = memjax.zipf_probs(1000, 2.0)
ax = plot.error_vs_samples(result, schemes=["empirical(power=0)"], dims=[max(DIMS)])
ax.plot(SIZES, theory.missing_mass(probs, np.asarray(SIZES, float)), "k--",
        label="missing mass")
ax.legend(frameon=False, fontsize="small")
errors = result.sel(scheme="empirical(power=0)", dim=max(DIMS))
slope = fit.fit_power_law(result.coords["num_samples"], errors)
print(f"slope {slope.slope:+.3f} [{slope.ci_low:+.3f}, {slope.ci_high:+.3f}], "
      f"theory {theory.data_exponent(2.0):+.3f}")
show("missing_mass")

# %% [markdown]
# The thresholded scheme over the whole (d, T) grid:

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
plot.error_contour(result, scheme="empirical(power=0, top=d/12)", ax=axes[0])
plot.error_vs_dim(result, schemes=["empirical(power=0, top=d/12)"], ax=axes[1])
show("grid")

# %% [markdown]
# Results save to open formats: `.npz` with a JSON sidecar, CSV, or a pandas table.

# %%
table = result.to_dataframe()
print(table.groupby(["scheme", "num_samples", "dim"])["error"].mean().head())
