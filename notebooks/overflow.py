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
# # Overflow: storing every seen token fails once they outnumber the capacity
#
# `empirical(power=0)` without a top gives every seen token weight 1. A d × d memory holds
# about d / log d such associations; with a flat law (α = 0.5) the number of seen tokens
# grows quickly with T, so at small d the error first falls, then rises with T towards
# chance (SPEC §5.3).
#
# Set `MEMJAX_SMOKE=1` to run this notebook at a tiny size.

# %%
import os
import pathlib

import jax
import matplotlib.pyplot as plt
import numpy as np

import memjax
from memjax import plot, schemes

NAME = "overflow"
# Figures show inline in Jupyter, or in a window under `python` with a display. Headless
# (a non-interactive backend such as Agg) they are saved as PNGs next to this notebook,
# or in the folder named by the environment variable MEMJAX_FIGURES.
HERE = pathlib.Path(globals().get("__file__", "notebook")).parent  # Jupyter: the cwd


def show(name):
    plot.show_or_save(f"{NAME}_{name}", HERE)


SMOKE = os.environ.get("MEMJAX_SMOKE") == "1"
NUM_SEEDS = 4 if SMOKE else 100
COUNT = 4 if SMOKE else 30
DIMS = np.unique(np.round(np.logspace(1, 3, COUNT))).astype(int)
SIZES = np.unique(np.round(np.logspace(1, 4, COUNT))).astype(int)

# %%
result = memjax.sweep(jax.random.key(0), num_inputs=100, num_outputs=5, zipf_exponent=0.5,
                      dims=DIMS, num_samples=SIZES, schemes=[schemes.empirical(0.0)],
                      num_seeds=NUM_SEEDS, progress=not SMOKE)

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
plot.error_contour(result, ax=axes[0])
plot.error_vs_samples(result, dims=[DIMS[0], DIMS[len(DIMS) // 2], DIMS[-1]], ax=axes[1])
show("contour")

# %%
mean = result.mean("seed")[0]  # (T, d)
best = np.argmin(mean[:, 0])
print(f"d = {DIMS[0]}: best error {mean[best, 0]:.3f} at T = {SIZES[best]}, "
      f"{mean[-1, 0]:.3f} at T = {SIZES[-1]}")
