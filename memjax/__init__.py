"""memjax: a vectorised JAX simulator of associative memories and their scaling laws.

The data flow is sample → embed → store → retrieve → score → sweep → fit/plot:
`memjax.data`, `memjax.embeddings`, `memjax.schemes`, `memjax.retrieval`, `memjax.grid`
(`memjax.sweep`), then `memjax.theory`, `memjax.fit`, `memjax.plot`, `memjax.reproduce`.
Learned memories: `memjax.models`, `memjax.optimizers`, `memjax.train`,
`memjax.train_grid` (`memjax.train_sweep`), `memjax.dynamics`. Results:
`memjax.results` (`memjax.SweepResult`, `memjax.load`, `memjax.merge`).
Notation: N = num_inputs, M = num_outputs, d = dim, T = num_samples, α = zipf_exponent,
ρ = power, P = top.

Every name is imported on first use (PEP 562), so `import memjax` does not import JAX;
`memjax.sweep` or `memjax.theory` import what they need when first touched.
"""

import importlib

__version__ = "0.1.0"

# Public functions and classes, by the module that defines them.
_ATTRIBUTES = {
    "data": ("mod_targets", "random_targets", "zipf_probs"),
    "grid": ("sweep",),
    "models": ("Model",),
    "optimizers": ("Optimizer", "StepSize", "step_sizes"),
    "results": ("SweepResult", "load", "merge"),
    "retrieval": ("error", "head_tail_error", "margins", "memory", "predictions", "scores"),
    "train": ("RunOutput", "TrainConfig", "train_runs"),
    "train_grid": ("train_sweep",),
}
_SOURCE = {name: module for module, names in _ATTRIBUTES.items() for name in names}
_MODULES = ("data", "dynamics", "embeddings", "fit", "grid", "models", "optimizers",
            "plot", "reproduce", "results", "retrieval", "schemes", "theory", "train",
            "train_grid")

__all__ = sorted(set(_SOURCE) | set(_MODULES))


def __getattr__(name: str):
    if name in _SOURCE:
        value = getattr(importlib.import_module(f"memjax.{_SOURCE[name]}"), name)
    elif not name.startswith("__"):
        try:  # any submodule, listed or not (memjax.bench, memjax.cli, ...)
            value = importlib.import_module(f"memjax.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"memjax.{name}":  # the module exists, a dependency is missing
                raise
            raise AttributeError(f"module 'memjax' has no attribute {name!r}") from None
    else:
        raise AttributeError(f"module 'memjax' has no attribute {name!r}")
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
