"""memjax: a vectorised JAX simulator of associative memories and their scaling laws.

The data flow is sample → embed → store → retrieve → score → sweep:
`memjax.data`, `memjax.embeddings`, `memjax.schemes`, `memjax.retrieval`, `memjax.sweep`.
Notation: N = num_inputs, M = num_outputs, d = dim, T = num_samples, α = zipf_exponent,
ρ = power, P = top.
"""

__version__ = "0.1.0"

from memjax import data, embeddings, retrieval, schemes
from memjax.data import mod_targets, random_targets, zipf_probs
from memjax.retrieval import error, head_tail_error, margins, memory, predictions, scores
from memjax.results import SweepResult, load
from memjax.grid import sweep

__all__ = [
    "SweepResult", "data", "embeddings", "error", "head_tail_error", "load", "margins",
    "memory", "mod_targets", "predictions", "random_targets", "retrieval", "schemes",
    "scores", "sweep", "zipf_probs",
]
