"""memjax: a vectorised JAX simulator of associative memories and their scaling laws.

The data flow is sample → embed → store → retrieve → score → sweep → fit/plot:
`memjax.data`, `memjax.embeddings`, `memjax.schemes`, `memjax.retrieval`, `memjax.grid`
(`memjax.sweep`), then `memjax.theory`, `memjax.fit`, `memjax.plot`, `memjax.reproduce`.
Learned memories: `memjax.models`, `memjax.optimizers`, `memjax.train`,
`memjax.train_grid` (`memjax.train_sweep`), `memjax.dynamics`.
Notation: N = num_inputs, M = num_outputs, d = dim, T = num_samples, α = zipf_exponent,
ρ = power, P = top.
"""

__version__ = "0.1.0"

from memjax import data, embeddings, retrieval, schemes
from memjax.data import mod_targets, random_targets, zipf_probs
from memjax.grid import sweep
from memjax.models import Model
from memjax.optimizers import Optimizer, StepSize, step_sizes
from memjax.results import SweepResult, load, merge
from memjax.retrieval import error, head_tail_error, margins, memory, predictions, scores
from memjax.train import RunOutput, TrainConfig, train_runs
from memjax.train_grid import train_sweep

__all__ = [
    "Model", "Optimizer", "RunOutput", "StepSize", "SweepResult", "TrainConfig", "data",
    "embeddings", "error", "head_tail_error", "load", "margins", "memory", "merge",
    "mod_targets", "predictions", "random_targets", "retrieval", "schemes", "scores",
    "step_sizes", "sweep", "train_runs", "train_sweep", "zipf_probs",
]
