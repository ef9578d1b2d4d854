"""Optimizers: optax update rules with a vmappable step size and schedule.

An `Optimizer` is static configuration (hashable): which optax rule, which schedule, and
whether the step size is scaled per parameter. The numbers — step size γ, decay factor
and decay step — are a `StepSize` of arrays, so a grid of step sizes is a vmapped axis of
one compiled program: `build(optimizer, step_size, ...)` is called inside the trace and
closes over the traced numbers (the effect of `optax.inject_hyperparams`, without state).

| kind         | update (before the step size)              | optax                         |
|--------------|--------------------------------------------|-------------------------------|
| 'sgd'        | −∇ (no momentum, no weight decay)          | `optax.sgd`                   |
| 'adam'       | −m̂/(√v̂ + ε); β₁ = β₂ = 0 gives −∇/(|∇|+ε) | `optax.adam` (stateless at β = 0) |
| 'sign'       | −sign(∇)                                   | `optax.sign_sgd`              |
| 'normalized' | −∇ / std(∇) (std over a parameter's entries) | `optax.stateless` + scale   |

A user may instead pass any `optax.GradientTransformation` (its updates are multiplied by
the step-size schedule: use γ = 1 to apply it unchanged) or a factory
`learning_rate -> GradientTransformation` such as `optax.adam` (it receives the schedule).

With β₁ = β₂ = 0 (the paper's setting) Adam's moments are the current gradient and its
square, so the rule is applied without state (`scale_by_sign_adam`): the same arithmetic
as `optax.adam`, without reading and writing two parameter-sized moments every step,
which halves a step's memory traffic for a d × d memory.

Per-parameter scaling ('dim', the paper's Adam grid): γ/d for the memory matrix W and
γ/√d for the embeddings E and U. 'auto' applies it to 'adam' only, as the paper did.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, NamedTuple, Union

import jax
import jax.numpy as jnp
import optax

from memjax import _checks

KINDS = ("sgd", "adam", "sign", "normalized")
SCHEDULES = ("constant", "step")
SCALINGS = ("auto", "none", "dim")
# Which per-parameter scale each parameter gets under 'dim' scaling (W: γ/d, E, U: γ/√d).
PARAM_GROUPS = {"W": "matrix", "E": "embedding", "U": "embedding"}

Kind = Union[str, optax.GradientTransformation, Callable[..., optax.GradientTransformation]]


class StepSize(NamedTuple):
    """The vmappable numbers of a step-size schedule (each a scalar, or a batch of them).

    learning_rate: γ. decay_factor: the step size is multiplied by it from step
    `decay_step` on (schedule 'step' only; 1 leaves it constant).
    """

    learning_rate: jax.Array
    decay_factor: jax.Array
    decay_step: jax.Array


def step_sizes(learning_rate, decay_factor=1.0, decay_step=0) -> StepSize:
    """A `StepSize` of arrays broadcast against each other (shape of the broadcast)."""
    dtype = jnp.result_type(float)
    rate, factor, step = jnp.broadcast_arrays(jnp.asarray(learning_rate, dtype),
                                              jnp.asarray(decay_factor, dtype),
                                              jnp.asarray(decay_step, dtype))
    for name, value in (("learning_rate", rate), ("decay_factor", factor),
                        ("decay_step", step)):
        if not isinstance(value, jax.core.Tracer) and not bool(
                jnp.all(jnp.isfinite(value) & (value >= 0))):
            _checks.fail(name, learning_rate if name == "learning_rate" else
                         (decay_factor if name == "decay_factor" else decay_step),
                         "finite numbers >= 0")
    return StepSize(rate, factor, step)


@dataclasses.dataclass(frozen=True)
class Optimizer:
    """Static description of an update rule (hashable, so it can key a compiled program).

    Attributes:
      kind: 'sgd', 'adam', 'sign', 'normalized', an `optax.GradientTransformation`, or a
        factory `schedule -> GradientTransformation`. Programs are cached by identity of
        a user object: reuse the same object to avoid recompiling.
      schedule: 'constant' (γ) or 'step' (γ, then γ · decay_factor from decay_step on).
      step_scaling: 'auto' ('dim' for 'adam', else 'none'), 'none' or 'dim'.
      b1, b2, eps: Adam's parameters (the paper: β₁ = β₂ = 0, optax's ε = 1e-8).
      label: the name in result coordinates (default: derived from kind).
    """

    kind: Kind = "sgd"
    schedule: str = "constant"
    step_scaling: str = "auto"
    b1: float = 0.0
    b2: float = 0.0
    eps: float = 1e-8
    label: str | None = None

    def __post_init__(self):
        if isinstance(self.kind, str):
            _checks.choice("optimizer kind", self.kind, KINDS)
        elif not (isinstance(self.kind, optax.GradientTransformation) or callable(self.kind)):
            _checks.fail("optimizer kind", self.kind, "one of " + ", ".join(map(repr, KINDS))
                         + ", an optax.GradientTransformation or a factory lr -> one")
        _checks.choice("schedule", self.schedule, SCHEDULES)
        _checks.choice("step_scaling", self.step_scaling, SCALINGS)
        for name in ("b1", "b2"):
            value = getattr(self, name)
            _checks.real_at_least(name, value, 0.0)
            if value >= 1:
                _checks.fail(name, value, "a real number in [0, 1)")
        _checks.real_at_least("eps", self.eps, 0.0)

    @property
    def name(self) -> str:
        if self.label is not None:
            return self.label
        if isinstance(self.kind, str):
            return self.kind
        return getattr(self.kind, "__name__", type(self.kind).__name__)

    @property
    def scaling(self) -> str:
        """The resolved per-parameter scaling, 'none' or 'dim'."""
        if self.step_scaling != "auto":
            return self.step_scaling
        return "dim" if self.kind == "adam" else "none"

    @property
    def state_copies(self) -> int:
        """Parameter-sized arrays the rule keeps between steps (2 for a user's rule)."""
        if not isinstance(self.kind, str):
            return 2
        return 2 if self.kind == "adam" and (self.b1 or self.b2) else 0

    @property
    def is_plain_sgd(self) -> bool:
        """Whether the update is −γ(t)·c·∇, linear in the gradient (token-space exact)."""
        return isinstance(self.kind, str) and self.kind == "sgd"


def parse(optimizer) -> Optimizer:
    """An `Optimizer` from itself, a kind name, or a user transformation or factory."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    return Optimizer(kind=optimizer)


def schedule(optimizer: Optimizer, step_size: StepSize) -> optax.Schedule:
    """The step-size schedule t -> γ(t) (t counts updates from 0), built from optax."""
    rate = step_size.learning_rate
    if optimizer.schedule == "constant":
        return optax.constant_schedule(rate)
    # join_schedules compares the count with a traced boundary, so the decay step and
    # factor stay vmappable (piecewise_constant_schedule needs Python numbers).
    return optax.join_schedules(
        [optax.constant_schedule(rate),
         optax.constant_schedule(rate * step_size.decay_factor)],
        [step_size.decay_step])


def normalize_by_std() -> optax.GradientTransformation:
    """Divides each parameter's update by the standard deviation of its entries (∇/std ∇);
    a constant update (std 0) is left unchanged rather than turned into NaN."""

    def normalize(updates, params):
        del params

        def one(g):
            std = jnp.std(g)
            return g / jnp.where(std > 0, std, jnp.ones_like(std))

        return jax.tree.map(one, updates)

    return optax.stateless(normalize)


def scale_by_sign_adam(eps: float = 1e-8) -> optax.GradientTransformation:
    """Adam's direction at β₁ = β₂ = 0 without state: m̂ = ∇ and v̂ = ∇², so the update
    is ∇/(√(∇²) + ε), computed with `optax.scale_by_adam`'s operations (its moment
    updates reduce to these exactly while the gradients are finite)."""

    def direction(updates, params):
        del params
        return jax.tree.map(lambda g: g / (jnp.sqrt(g * g) + eps), updates)

    return optax.stateless(direction)


def _rule(optimizer: Optimizer, rate: optax.Schedule) -> optax.GradientTransformation:
    kind = optimizer.kind
    if isinstance(kind, optax.GradientTransformation):
        return optax.chain(kind, optax.scale_by_schedule(rate))
    if not isinstance(kind, str):
        return kind(rate)
    if kind == "sgd":
        return optax.sgd(rate)
    if kind == "adam" and optimizer.state_copies == 0:
        return optax.chain(scale_by_sign_adam(optimizer.eps),
                           optax.scale_by_learning_rate(rate))
    if kind == "adam":
        return optax.adam(rate, b1=optimizer.b1, b2=optimizer.b2, eps=optimizer.eps)
    if kind == "sign":
        return optax.sign_sgd(rate)
    return optax.chain(normalize_by_std(), optax.scale_by_learning_rate(rate))


def param_scales(optimizer: Optimizer, dim: int) -> dict[str, float]:
    """The factor on γ of each parameter group: W 1/d and E, U 1/√d under 'dim'."""
    if optimizer.scaling == "none":
        return {"matrix": 1.0, "embedding": 1.0}
    return {"matrix": 1.0 / dim, "embedding": 1.0 / dim ** 0.5}


def build(optimizer: Optimizer, step_size: StepSize, dim: int,
          param_names) -> optax.GradientTransformation:
    """The optax transformation for parameters named `param_names` (keys 'W', 'E', 'U').

    With 'dim' scaling each group gets its own copy of the rule with the scaled schedule
    (`optax.multi_transform`), which is exact for any rule, linear in γ or not.
    """
    rate = schedule(optimizer, step_size)
    if optimizer.scaling == "none":
        return _rule(optimizer, rate)
    scales = param_scales(optimizer, dim)
    groups = {PARAM_GROUPS[name] for name in param_names}
    transforms = {g: _rule(optimizer, _scaled(rate, scales[g])) for g in sorted(groups)}
    return optax.multi_transform(transforms, {n: PARAM_GROUPS[n] for n in param_names})


def _scaled(rate, factor):
    return lambda count: rate(count) * factor
