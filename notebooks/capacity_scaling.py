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
# # Capacity scaling: how the error falls with the memory dimension d
#
# With infinite data (T = ∞) the only limit is the capacity of the d × d memory. The theory
# (SPEC §3) predicts, for a Zipf law of exponent α:
#
# * `population(power=ρ)` (q = p^ρ): error ~ d^(−(α−1)/(2ρα)), so d^(−1/4) for ρ = 1, α = 2;
# * `threshold(top=d/8)` (store the d/8 most frequent tokens equally): d^(−(α−1)), the best;
# * `uniform` (store all N tokens): no decay until d is of the order of N.
#
# Set `MEMJAX_SMOKE=1` to run this notebook at a tiny size.

# %%
import math
import os
import pathlib

import jax
import matplotlib.pyplot as plt
import numpy as np

import memjax
from memjax import fit, plot, schemes, theory

NAME = "capacity_scaling"
# Figures show inline in Jupyter, or in a window under `python` with a display. Headless
# (a non-interactive backend such as Agg) they are saved as PNGs next to this notebook,
# or in the folder named by the environment variable MEMJAX_FIGURES.
HERE = pathlib.Path(globals().get("__file__", "notebook")).parent  # Jupyter: the cwd


def show(name):
    plot.show_or_save(f"{NAME}_{name}", HERE)


SMOKE = os.environ.get("MEMJAX_SMOKE") == "1"
NUM_SEEDS = 4 if SMOKE else 100
DIMS = [10, 30, 100, 300, 1000] if SMOKE else np.unique(np.round(np.logspace(1, 3, 20))).astype(int)

# %% [markdown]
# One call sweeps every scheme, seed and d. Seeds share nothing; each d reuses the first d
# coordinates of one draw per seed, so the curves are smooth in d.

# %%
result = memjax.sweep(
    jax.random.key(0), num_inputs=1000, num_outputs=5, zipf_exponent=2.0, dims=DIMS,
    num_samples=[math.inf], num_seeds=NUM_SEEDS,
    schemes=[schemes.uniform(), schemes.population(1.0), schemes.threshold("d/8")])
print(result.error.shape, result.dims)

# %%
ax = plot.error_vs_dim(result)
for name, kind in [("population(power=1)", "population"), ("threshold(top=d/8)", "threshold")]:
    errors = result.sel(scheme=name, num_samples=math.inf)
    slope = fit.fit_power_law(result.coords["dim"], errors)
    expected = theory.capacity_exponent(kind, 2.0)
    print(f"{name}: slope {slope.slope:+.3f} [{slope.ci_low:+.3f}, {slope.ci_high:+.3f}] "
          f"over d in [{slope.x_min:g}, {slope.x_max:g}]; theory {expected:+.3f}")
    plot.add_power_law(ax, result.coords["dim"], expected,
                       (slope.x_min, np.exp(slope.intercept) * slope.x_min ** slope.slope),
                       label=f"theory $d^{{{expected:g}}}$", color="0.4")
show("schemes")

# %% [markdown]
# ## The exponent depends on how much the scheme favours the head
#
# `population(power=ρ)` interpolates between storing by frequency (ρ = 1) and storing
# uniformly (ρ = 0). Smaller ρ (above 1/(2α)) gives a steeper law.

# %%
powers = [0.5, 1.0, 2.0]
by_power = memjax.sweep(
    jax.random.key(1), num_inputs=1000, num_outputs=5, zipf_exponent=2.0, dims=DIMS,
    num_samples=[math.inf], num_seeds=NUM_SEEDS,
    schemes=[schemes.population(r) for r in powers])
for r, name in zip(powers, by_power.coords["scheme"]):
    slope = fit.fit_power_law(by_power.coords["dim"], by_power.sel(scheme=name,
                                                                  num_samples=math.inf))
    print(f"ρ = {r}: measured {slope.slope:+.3f}, "
          f"theory {theory.capacity_exponent('population', 2.0, r):+.3f}")
plot.error_vs_dim(by_power)
show("powers")
