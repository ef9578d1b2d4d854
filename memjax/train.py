"""Training: memories learned by SGD, Adam and friends (grids: `memjax.train_grid`).

Protocol (SPEC §4): a run draws T_max tokens once and makes one pass over them in
consecutive batches of B (T/B steps), evaluating the exact population error at chosen
steps — so one run of T_max gives every T of a nested grid, and learning curves come for
free. Population (full-batch) gradient descent is B = ∞ (`batch_size=None`): every step
uses all N tokens weighted by p.

Static configuration (`TrainConfig`: N, M, d, B, evaluation steps, model, optimizer) sets
shapes and code paths; the step-size numbers (`optimizers.StepSize`) and the seeds are
vmapped arrays inside one jitted `lax.scan` over steps (nested: an outer scan over
evaluations), so a grid of seeds × step sizes is one compiled program per static
configuration. Seed s uses the key fold_in(key, s) (roles in `memjax.models`), whatever
the chunking, order or extent of the grid; the step size does not enter the key, so all
step sizes of a seed share data and embeddings. The random draws are made in their own
compiled programs, the arrays shared by every configuration with the same N, M and d and
the token streams by every one with the same N and T.

Exact shortcuts: the matrix model under plain SGD trains in token space (`memjax.models`),
at a cost independent of d; a batch larger than N is summed per token, weighted by its
counts (`TrainConfig.aggregated`). Otherwise W, E, U train directly with `jax.grad`.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from memjax import _checks, _devices, data, models, optimizers
from memjax.models import Model
from memjax.optimizers import Optimizer, StepSize

ROUTES = ("auto", "direct", "tokens")
TARGET_KINDS = ("mod", "random")
DEFAULT_MEMORY_BUDGET = 1 << 30  # bytes for one chunk of runs, at most
# A chunk's working set is kept near this size: a step streams every run's parameters,
# so runs of a large memory (d = 1000: 4 MB per W) go faster one at a time, in cache, than
# vmapped together through main memory (3.5× for Adam at d = 1000, B = 16, on the 2-core
# EPYC of benchmarks/README.md), while small runs gain from vmapping many per step.
DEFAULT_CACHE_BUDGET = 16 << 20
MAX_SEGMENTS = 1024  # evaluations a uniform layout may make (each is kept until the end)
TRACE_COUNTS: collections.Counter = collections.Counter()


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that sets shapes or code paths of a run (hashable, static under jit).

    Attributes:
      num_inputs: N. num_outputs: M. dim: d.
      batch_size: B, or None for population gradient descent (B = ∞).
      eval_steps: distinct steps at which the population error is measured (0: before
        training); the run makes max(eval_steps) steps.
      model, optimizer: a `Model` / `Optimizer` or their kind names.
      targets: 'mod' (f*(x) = x mod M) or 'random' (a random map per seed).
      route: 'direct', 'tokens' (matrix model with plain SGD only) or 'auto' (the cheaper).
      record: also return the trained parameters at every evaluation step.
    """

    num_inputs: int
    num_outputs: int
    dim: int
    batch_size: int | None
    eval_steps: tuple[int, ...]
    model: Model = Model()
    optimizer: Optimizer = Optimizer()
    targets: str = "mod"
    route: str = "auto"
    record: bool = False

    def __post_init__(self):
        fix = functools.partial(object.__setattr__, self)
        fix("num_inputs", _checks.int_at_least("num_inputs", self.num_inputs, 1))
        fix("num_outputs", _checks.int_at_least("num_outputs", self.num_outputs, 1))
        fix("dim", _checks.int_at_least("dim", self.dim, 1))
        if self.batch_size is not None:
            fix("batch_size", _checks.int_at_least("batch_size", self.batch_size, 1))
        steps = _checks.int_tuple("eval_steps", self.eval_steps, 0)
        fix("eval_steps", tuple(sorted(steps)))
        fix("model", models.parse(self.model))
        fix("optimizer", optimizers.parse(self.optimizer))
        _checks.choice("targets", self.targets, TARGET_KINDS)
        _checks.choice("route", self.route, ROUTES)
        if self.route == "tokens" and not self.token_space_exact:
            _checks.fail("route", self.route, "'direct' or 'auto' unless the model is "
                         f"'matrix' and the optimizer plain 'sgd' (got model "
                         f"{self.model.kind!r}, optimizer {self.optimizer.name!r})")

    @property
    def num_steps(self) -> int:
        return self.eval_steps[-1]

    @property
    def aggregated(self) -> bool:
        """Whether a step sums over the N tokens weighted by their batch counts instead of
        over the B samples: the same loss (labels are a function of x), cheaper when
        B > N. It changes only the order of the sum, i.e. rounding."""
        return self.batch_size is not None and self.batch_size > self.num_inputs

    @property
    def rows_per_step(self) -> int:
        """Rows a step evaluates: N when aggregated or full-batch, else B."""
        if self.batch_size is None or self.aggregated:
            return self.num_inputs
        return self.batch_size

    @property
    def token_space_exact(self) -> bool:
        return self.model.kind == "matrix" and self.optimizer.is_plain_sgd

    @property
    def resolved_route(self) -> str:
        if self.route != "auto":
            return self.route
        if not self.token_space_exact:
            return "direct"
        n, m, d = self.num_inputs, self.num_outputs, self.dim
        k = models.token_dim(self.model, n, m, d)
        return "tokens" if k * (n + m) < d * (d + m) else "direct"

    def flops_per_row(self) -> int:
        """Flops (2 × multiply-adds) of one row's forward and backward pass in matmuls;
        a step evaluates `rows_per_step` rows."""
        n, m, d = self.num_inputs, self.num_outputs, self.dim
        if self.resolved_route == "tokens":
            k = models.token_dim(self.model, n, m, d)
            return 2 * k * (2 * m + n)
        # Forward W e_x (d²) and U h (dm); backward δU (dm), ∂W (d²), and with learned
        # embeddings also ∂U (dm) and ∂e_x = Wᵀ∂h (d²); the exponential model has no W.
        products = 3 if "U" in self.model.trained else 2
        if self.model.kind == "exponential":
            return 2 * products * d * m
        return 2 * products * (d * d + d * m)

    def flops_per_step(self) -> int:
        return self.rows_per_step * self.flops_per_row()

    def entries_per_step(self) -> int:
        """Parameter entries an optimizer step reads and writes (the memory-bound part)."""
        n, m, d = self.num_inputs, self.num_outputs, self.dim
        if self.resolved_route == "tokens":
            return 2 * models.token_dim(self.model, n, m, d) * n
        sizes = {"W": d * d, "E": n * d, "U": m * d}
        return sum(sizes[p] for p in self.model.trained)

    def bytes_per_run(self) -> int:
        """An upper estimate of one run's working memory."""
        n, m, d = self.num_inputs, self.num_outputs, self.dim
        batch = self.rows_per_step
        if self.resolved_route == "tokens":  # the d-sized draws are only read at the start
            k = models.token_dim(self.model, n, m, d)
            floats = n * n + 4 * k * n + 4 * batch * (k + m)
        else:  # each trained array: itself, its gradient, its update and the rule's state
            sizes = {"W": d * d if self.model.kind != "exponential" else 0, "E": n * d,
                     "U": m * d}
            trained = sum(sizes[p] for p in self.model.trained)
            floats = ((3 + self.optimizer.state_copies) * trained
                      + sum(sizes.values()) - trained + 6 * batch * (d + m))
        if self.record:
            floats += len(self.eval_steps) * (d * d + (n + m) * d)
        ints = 2 * self.num_steps * (0 if self.batch_size is None else
                                     max(self.batch_size, n if self.aggregated else 0))
        return 4 * ints + jnp.dtype(jnp.result_type(float)).itemsize * floats


class RunOutput(NamedTuple):
    """What a run returns at its evaluation steps: the errors (..., E); whether every
    parameter was finite (..., E) (a diverged run's NaN logits count as maximal in the
    argmax, so its error is that of predicting output 0, as in the paper's code); and,
    with `record=True`, the parameters {'W', 'E', 'U'} with shapes (..., E, ...)."""

    error: jax.Array
    finite: jax.Array
    params: dict | None


def _segments(eval_steps, uniform: bool = True):
    """Groups the evaluation steps into (start, count, length): `count` evaluations,
    each `length` steps after the previous one, starting from step `start`.

    Each group is its own scan, i.e. its own copy of the step in the compiled program.
    With `uniform`, when every step is a multiple of their gcd L and evaluating after
    every L steps adds at most one evaluation per 16 steps (an evaluation costs less
    than a step), the run is one group of L-step segments instead, and the second value
    returned picks the wanted evaluations; it is None when every evaluation is wanted.
    The steps are the same either way, so are the results.
    """
    groups, previous = [], 0
    for step in eval_steps:
        length = step - previous
        if groups and groups[-1][2] == length and length > 0:
            start, count, _ = groups[-1]
            groups[-1] = (start, count + 1, length)
        else:
            groups.append((previous, 1, length))
        previous = step
    positive = [step for step in eval_steps if step > 0]
    if not uniform or len([g for g in groups if g[2] > 0]) < 2:
        return groups, None
    length = functools.reduce(math.gcd, positive)
    count = positive[-1] // length
    if (count - len(positive)) * 16 > positive[-1] or count > MAX_SEGMENTS:
        return groups, None
    head = [(0, 1, 0)] if eval_steps[0] == 0 else []
    pick = [0] * len(head) + [len(head) + step // length - 1 for step in positive]
    return head + [(0, count, length)], np.asarray(pick)


class Draws(NamedTuple):
    """A seed's random draws: E (N, d), U (M, d), W₀ (d, d), targets (N,), tokens (T,)."""

    input_emb: jax.Array
    output_emb: jax.Array
    matrix: jax.Array
    targets: jax.Array
    tokens: jax.Array


@dataclasses.dataclass(frozen=True)
class DrawSpec:
    """The shapes and laws of a seed's draws (static). Configurations that differ only in
    model, optimizer, layer norm or B share one spec, hence one compiled draw."""

    num_inputs: int
    num_outputs: int
    dim: int
    num_samples: int
    input_embedding: str
    output_embedding: str
    targets: str


def draw_spec(config: TrainConfig) -> DrawSpec:
    samples = 0 if config.batch_size is None else config.num_steps * config.batch_size
    return DrawSpec(config.num_inputs, config.num_outputs, config.dim, samples,
                    config.model.input_embedding, config.model.output_embedding,
                    config.targets)


def draw(key, spec: DrawSpec, table) -> Draws:
    """All the randomness of a run, from its key by role (`memjax.models`): embeddings and
    W₀, the targets (random map only) and the token stream (first T draws of the seed's
    stream, the same stream `memjax.sweep` uses)."""
    return Draws(*_draw_arrays(key, spec), _draw_tokens(key, spec.num_samples, table))


def _draw_arrays(key, spec: DrawSpec):
    """E, U, W₀ and the targets: everything but the token stream (independent of T)."""
    n, m = spec.num_inputs, spec.num_outputs
    emb, out, matrix = models.draw(key, n, m, spec.dim,
                                   input_embedding=spec.input_embedding,
                                   output_embedding=spec.output_embedding)
    if spec.targets == "mod":
        targets = data.mod_targets(n, m)
    else:
        targets = data.random_targets(jax.random.fold_in(key, models.TARGETS), n, m)
    return emb, out, matrix, targets


def _draw_tokens(key, num_samples: int, table):
    """The first T tokens of the seed's stream (independent of d)."""
    return data.sample_tokens(jax.random.fold_in(key, models.DATA), table, num_samples)


def run(key, config: TrainConfig, step_size: StepSize, probs, table) -> RunOutput:
    """One training run (pure; vmap it over keys and step sizes): `train_from(draw(...))`.

    `train_runs` makes the draws and the training in two compiled programs; a loop that
    does the same per run is bit-identical to it. Jitting `run` whole lets XLA lay out
    the drawn embeddings differently, which can change the last bits.

    Args:
      key: the run's key (a seed's key: fold_in(grid_key, seed)).
      config: static `TrainConfig`.
      step_size: scalar `StepSize`.
      probs: (N,) p, for the population error and the population loss.
      table: the alias table of p (`data.zipf_alias_table`), to draw the token stream.
    """
    return train_from(draw(key, draw_spec(config), table), config, step_size, probs)


def train_from(draws: Draws, config: TrainConfig, step_size: StepSize,
               probs) -> RunOutput:
    """One training run from its draws (pure, nothing random)."""
    n, d = config.num_inputs, config.dim
    model, batch = config.model, config.batch_size
    trained, frozen = models.split(model, draws.input_emb, draws.output_emb, draws.matrix)
    targets = draws.targets
    all_tokens = jnp.arange(n, dtype=jnp.int32)
    if batch is None:
        stream = None
    elif config.aggregated:  # per-step counts: the loss is Σ_x (n_B(x)/B) loss(x)
        stream = jax.vmap(lambda b: jnp.zeros(n, probs.dtype).at[b].add(1.0 / batch))(
            draws.tokens.reshape(-1, batch))
    else:
        stream = draws.tokens.reshape(-1, batch)
    rate = optimizers.schedule(config.optimizer, step_size)

    def batch_of(t, item):
        """(tokens, labels, weights) of step t from its stream item."""
        if item is None:  # population: all tokens, weighted by p
            return all_tokens, targets, probs
        if config.aggregated:  # item: the weights n_B(x)/B of every token
            return all_tokens, targets, item
        return item, targets[item], jnp.full(item.shape, 1.0 / batch, probs.dtype)

    if config.resolved_route == "tokens":
        state, consts = models.token_init(model, trained, frozen)
        scale = optimizers.param_scales(config.optimizer, d)["matrix"]

        def step(state, t, tokens):
            toks, labels, weights = batch_of(t, tokens)
            return models.token_step(model, state, consts, toks, labels,
                                     weights.astype(state["Z"].dtype), rate(t) * scale)

        def measure(state):
            err = jnp.sum(models.token_wrong_mass(state, consts, targets, probs))
            params = None
            if config.record:
                params = dict(frozen, W=models.token_memory(trained, frozen, state, consts))
            return err, jnp.all(jnp.isfinite(state["Z"])), params
    else:
        tx = optimizers.build(config.optimizer, step_size, d, tuple(trained))
        state = (trained, tx.init(trained))

        def step(state, t, tokens):
            params, opt_state = state
            toks, labels, weights = batch_of(t, tokens)
            objective = lambda p: models.loss(model, dict(frozen, **p), toks, labels,
                                              weights, invariant_grad=True)
            grads = jax.grad(objective)(params)
            updates, opt_state = tx.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state

        def measure(state):
            params = dict(frozen, **state[0])
            err = models.error(model, params, targets, probs)
            finite = jnp.all(jnp.asarray([jnp.all(jnp.isfinite(a))
                                          for a in state[0].values()]))
            return err, finite, (params if config.record else None)

    outputs = []
    segments, pick = _segments(config.eval_steps, uniform=not config.record)
    for start, count, length in segments:
        if length == 0:  # evaluation before the first step
            outputs.append(jax.tree.map(lambda a: a[None], measure(state)))
            continue
        steps = jnp.arange(start, start + count * length, dtype=jnp.int32)
        xs = steps.reshape(count, length)
        if stream is not None:
            part = stream[start:start + count * length]
            xs = (xs, part.reshape((count, length) + part.shape[1:]))
        else:
            xs = (xs, None)

        def segment(state, x):
            def inner(state, y):
                return step(state, y[0], y[1]), None

            state, _ = jax.lax.scan(inner, state, x)
            return state, measure(state)

        state, measured = jax.lax.scan(segment, state, xs)
        outputs.append(measured)
    measured = jax.tree.map(lambda *a: jnp.concatenate(a), *outputs)
    if pick is not None:
        measured = jax.tree.map(lambda a: a[pick], measured)
    return RunOutput(*measured)


def _draw_seeds(spec: DrawSpec, key, seeds, table) -> Draws:
    """`draw` for every seed, in two compiled programs: one for the arrays (shared by
    every T) and one for the token streams (shared by every d)."""
    arrays, tokens = _draw_programs(jax.default_backend())
    return Draws(*arrays(dataclasses.replace(spec, num_samples=0), key, seeds),
                 tokens(spec.num_samples, key, seeds, table))


# Random draws compile slowly on CPU (threefry's rounds, the normal's inverse CDF): LLVM's
# -O1 compiles them 2.2× faster (0.65 vs 1.5 s of CPU per program on the 2-core Xeon of
# benchmarks/README.md) and they run as fast; the bits are the same (1 ulp in rows
# normalised to the sphere, whose sum of squares is vectorised differently).
_DRAW_COMPILER_OPTIONS = {"cpu": {"xla_backend_optimization_level": 1}}


@functools.cache
def _draw_programs(platform: str):
    from memjax import _xla

    options = {**_DRAW_COMPILER_OPTIONS.get(platform, {}),
               **(_xla.compile_options(platform) or {})} or None

    def arrays(spec: DrawSpec, key, seeds):
        return jax.vmap(lambda s: _draw_arrays(jax.random.fold_in(key, s), spec))(seeds)

    def tokens(num_samples: int, key, seeds, table):
        return jax.vmap(lambda s: _draw_tokens(jax.random.fold_in(key, s), num_samples,
                                               table))(seeds)

    return (jax.jit(arrays, static_argnums=0, compiler_options=options),
            jax.jit(tokens, static_argnums=0, compiler_options=options))


# A configuration whose runs each take at most this many matmul flops is compile-bound
# (compiling takes ~1 s, running ~0.1 s): on CPU its program is compiled with XLA's loop
# emitters (`memjax._xla`), 20–30 % faster to compile. The choice depends on the
# configuration only, so a run's numbers do not depend on how many runs share a call.
SMALL_RUN_FLOPS = 5e9


def _small(config: TrainConfig) -> bool:
    return config.flops_per_step() * max(config.eval_steps) <= SMALL_RUN_FLOPS


@functools.cache
def _train_program(platform: str, small: bool):
    from memjax import _xla

    return jax.jit(_train_chunk, static_argnums=0,
                   compiler_options=_xla.compile_options(platform) if small else None)


def _train_chunk(config: TrainConfig, draws, which, step_size, probs):
    """Runs (which[r], step_size[r]): seed draws are picked inside the program, so a
    seed's d × d draw is not copied once per step size. Sharded over devices along r,
    every device holds all the draws and picks its own runs' seeds."""
    TRACE_COUNTS[config] += 1  # runs at trace time only

    def one(i, size):
        return train_from(jax.tree.map(lambda a: a[i], draws), config, size, probs)

    return jax.vmap(one)(which, step_size)


def train_runs(key, config: TrainConfig, step_size: StepSize, *, zipf_exponent: float,
               seeds=None, num_seeds: int = 1, run_chunk: int | None = None,
               memory_budget: int = DEFAULT_MEMORY_BUDGET,
               cache_budget: int = DEFAULT_CACHE_BUDGET, devices=None) -> RunOutput:
    """Every (seed, step size) run of one static configuration, vmapped in chunks.

    Args:
      key: a typed key (`jax.random.key(0)`); seed s uses fold_in(key, s).
      config: the static `TrainConfig`.
      step_size: a `StepSize` with G entries (`optimizers.step_sizes([0.1, 1, 10])`), or
        a number or sequence of step sizes γ.
      zipf_exponent: α of the input law.
      seeds: seed indices (default: 0 .. num_seeds−1).
      run_chunk: runs per compiled call (default: as many as fit in `cache_budget`
        bytes, at least one, at most what `memory_budget` allows); every chunk has the
        same size, so one configuration compiles once.
      devices: devices to split each chunk's runs over (default: this process's local
        devices); a run's result is the same on any number of devices. The seeds'
        draws are made split over the devices too, then copied to each of them.

    Returns:
      `RunOutput` with leading axes (seed, step size): error (S, G, E).
    """
    if not isinstance(config, TrainConfig):
        _checks.fail("config", config, "a memjax.train.TrainConfig")
    _checks.real_at_least("zipf_exponent", zipf_exponent, 0.0)
    if not isinstance(step_size, StepSize):
        step_size = optimizers.step_sizes(step_size)
    step_size = StepSize(*(jnp.atleast_1d(a) for a in step_size))
    if step_size.learning_rate.ndim != 1:
        _checks.fail("step_size", step_size.learning_rate, "a 1-d batch of step sizes")
    seeds = (tuple(range(_checks.int_at_least("num_seeds", num_seeds, 1))) if seeds is None
             else _checks.int_tuple("seeds", seeds, 0))
    num_sizes = step_size.learning_rate.shape[0]
    runs = len(seeds) * num_sizes
    if run_chunk is None:
        budget = min(_checks.int_at_least("memory_budget", memory_budget, 1),
                     _checks.int_at_least("cache_budget", cache_budget, 1))
        run_chunk = max(1, budget // config.bytes_per_run())
    run_chunk = min(_checks.int_at_least("run_chunk", run_chunk, 1), runs)
    num_chunks = -(-runs // run_chunk)
    run_chunk = -(-runs // num_chunks)  # equal chunks: one compiled shape
    devices = _devices.resolve(devices)
    run_chunk = -(-run_chunk // len(devices)) * len(devices)  # even split over devices
    num_chunks = -(-runs // run_chunk)
    # Run r is (seed r // G, step size r % G); padding repeats the last run.
    index = np.minimum(np.arange(num_chunks * run_chunk), runs - 1)
    size_of = jax.tree.map(lambda a: np.asarray(a)[index % num_sizes], step_size)
    mesh = _devices.mesh(devices)
    probs, table, key = _devices.put_replicated(mesh, (
        data.zipf_probs(config.num_inputs, zipf_exponent),
        data.zipf_alias_table(config.num_inputs, zipf_exponent), key))
    # Draws are made once per seed, in their own programs shared by every configuration
    # with the same shapes (drawing random numbers compiles slowly on CPU). Padding
    # repeats the last seed; no run reads it.
    seed_array = np.asarray(seeds, np.uint32)
    seed_array = seed_array[np.minimum(np.arange(-(-len(seeds) // len(devices))
                                                 * len(devices)), len(seeds) - 1)]
    draws = _draw_seeds(draw_spec(config), key, _devices.put_batch(mesh, seed_array),
                        table)
    if len(devices) > 1:
        draws = _devices.replicate(draws, mesh)
    program = _train_program(devices[0].platform, _small(config))
    parts = []
    for c in range(num_chunks):
        part = slice(c * run_chunk, (c + 1) * run_chunk)
        which = (index[part] // num_sizes).astype(np.int32)
        sizes = jax.tree.map(lambda a: _devices.put_batch(mesh, a[part]), size_of)
        out = program(config, draws, _devices.put_batch(mesh, which), sizes, probs)
        parts.append(jax.tree.map(_devices.fetch, out))
    out = jax.tree.map(lambda *a: np.concatenate(a)[:runs], *parts)
    return jax.tree.map(lambda a: a.reshape((len(seeds), num_sizes) + a.shape[1:]), out)
