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
# # What the memory stores: pictures of W
#
# The building blocks compose directly: draw embeddings and data, weight the tokens,
# and look at softmax_y(u_yᵀ W e_x) for every input (SPEC §5.4), and at the stored weight
# q(x)/‖q‖ against the frequency rank.

# %%
import pathlib

import jax
import matplotlib.pyplot as plt

import memjax
from memjax import data, embeddings, plot, schemes

NAME = "memory_pictures"
# Figures show inline in Jupyter, or in a window under `python` with a display. Headless
# (a non-interactive backend such as Agg) they are saved as PNGs next to this notebook,
# or in the folder named by the environment variable MEMJAX_FIGURES.
HERE = pathlib.Path(globals().get("__file__", "notebook")).parent  # Jupyter: the cwd


def show(name):
    plot.show_or_save(f"{NAME}_{name}", HERE)


N, M, D, ALPHA, T = 10, 5, 10, 1.0, 1000
key_in, key_out, key_data = jax.random.split(jax.random.key(0), 3)
probs = memjax.zipf_probs(N, ALPHA)
targets = memjax.mod_targets(N, M)
input_emb = embeddings.embeddings(key_in, N, D, "gaussian")
output_emb = embeddings.embeddings(key_out, M, D, "sphere")
stream = data.sample_tokens(key_data, data.zipf_alias_table(N, ALPHA), T)
counts = data.nested_counts(stream, N, [T])[0]

# %%
fig, axes = plt.subplots(1, 2, figsize=(7, 3.6), constrained_layout=True)
stored = {}
for ax, power in zip(axes, [0.0, 1.0]):
    weights = schemes.empirical(power).weights(counts, T, probs, D)
    stored[f"ρ = {power:g}"] = weights
    plot.memory_matrix(memjax.scores(input_emb, output_emb, targets, weights), targets,
                       ax=ax, title=f"ρ = {power:g}")
    err = memjax.error(input_emb, output_emb, targets, weights, probs)
    print(f"ρ = {power:g}: error {float(err):.4f}")
show("matrices")

# %%
plot.stored_weights(stored, probs=probs, powers=[1.0, 0.35])
show("weights")
