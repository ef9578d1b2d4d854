"""XLA compile options memjax picks per program.

On CPU, XLA's loop emitters compile 20–30 % faster than its fusion emitters (XLA's
default) and run memjax's sweeps, draws, predictor and small training programs as fast or
faster (the §5.1–5.3 sweeps: compile 2.8/3.3/4.3 → 2.3/2.7/3.3 s, warm equal, peak memory
−45 %), but large training programs slower (Adam at d = 500–1000: +40–50 %), which keep
the default: benchmarks/README.md, third session.
"""

from __future__ import annotations

import functools

LOOP_EMITTERS = {"xla_cpu_use_fusion_emitters": False}


@functools.cache
def loop_emitters() -> dict:
    """`LOOP_EMITTERS` if this XLA has the option, else {} (probed once on a trivial CPU
    program: an XLA without the option refuses it as an unknown compile option)."""
    import jax
    import numpy as np

    try:
        jax.jit(lambda x: x + 1, compiler_options=LOOP_EMITTERS).lower(np.float32(0)).compile()
    except RuntimeError:  # "No such compile option"
        return {}
    return dict(LOOP_EMITTERS)


def compile_options(platform: str) -> dict | None:
    """The options for a compile-bound program on `platform` (None: XLA's defaults)."""
    return (loop_emitters() or None) if platform == "cpu" else None


def jit(fun=None, **kwargs):
    """`jax.jit` with `compile_options` for the default backend, chosen at the first call
    (not at import: the backend must not start before the command has set XLA_FLAGS).
    For memjax's compile-bound helper programs; use as `@jit` or `@jit(static_argnames=…)`.
    """
    if fun is None:
        return functools.partial(jit, **kwargs)
    import jax

    @functools.cache
    def program(platform):
        return jax.jit(fun, compiler_options=compile_options(platform), **kwargs)

    @functools.wraps(fun)
    def call(*args, **kw):
        return program(jax.default_backend())(*args, **kw)

    return call
