"""Sweeps: the exact error at every (scheme, seed, T, d) point of a grid, in one call.

The per-seed experiment is one pure function: draw the targets, one token stream of length
T_max (nested counts for every T) and one Gaussian base of width d_max (nested embeddings
for every d), then score every scheme at every (T, d). It is compiled once per static
configuration into a program in which each device loops over its seeds (one at a time on
CPU, in fixed groups of vmapped lanes on accelerators), so a seed's arithmetic, to the
last bit, does not depend on how many seeds share its chunk; planning (`plan`) fixes the
route and its chunks to a memory budget. Seed s uses the key fold_in(key, s), and each
role (data, embeddings, targets) a further fold_in, so a point's result is the same
whatever the chunking, the seed order or the grid's extent.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import json
import math
import numbers
import pathlib
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from memjax import (_checkpoint, _checks, _devices, _nested, _xla, data, embeddings,
                    schemes as schemes_lib)
from memjax.results import SweepResult

TARGET_KINDS = ("mod", "random")
COUNT_METHODS = ("auto", "stream", "multinomial")
# 'memjax': embeddings for d are a d_max draw's first d coordinates scaled at d; 'authors':
# the authors' released code, which scaled at d_max and then truncated (SPEC §2).
CONVENTIONS = ("memjax", "authors")
# Seeds are folded into keys as uint32, with room above the largest for padding seeds.
MAX_SEED = 2**31 - 1
# Embedding coordinates and row blocks are keyed in 16 bits each (`embeddings.draw_blocks`).
MAX_DIM = embeddings._MAX_BLOCKS
MAX_VECTORS = embeddings._MAX_BLOCKS * embeddings.ROW_BLOCK
# Host bytes per seed beyond its errors: the seed list, the per-seed row dict and views.
_HOST_BYTES_PER_SEED = 512
# 'auto' counts by reading a token stream up to this T_max, by multinomial draws above it.
STREAM_COUNTS_LIMIT = 1 << 22
# The most memory one chunk of seeds may use (it decides whether a seed's whole draw is
# held or its tokens streamed, and refuses what cannot fit).
DEFAULT_MEMORY_BUDGET = 1 << 30
# The streamed route's default token chunk, in row blocks of 1024: 16 MiB of inputs at
# d = 256 (larger chunks were no faster), leaving the budget to kept first-pass draws.
STREAM_CHUNK_BLOCKS = 16
# Seeds vmapped together on accelerators (one on CPU), whatever the grid: the lanes set a
# seed's last bits, so they depend only on the device kind (and a very small budget).
ACCELERATOR_LANES = 16
# Default chunks (a compiled call, a checkpoint file, a progress step) hold about this
# many seconds of work at `NOMINAL_RATES` (flop/s, normals/s: a 2-core CPU's).
CHUNK_SECONDS = 2.0
NOMINAL_RATES = (5e10, 1.5e8)
# The planned fields: a checkpoint's values are kept on resume when they fit the budget.
_PLAN_FIELDS = ("route", "token_chunk", "lanes", "kept_chunks")
# Roles folded into a seed's key: stable indices, never positions in a grid.
_EMBEDDINGS, _DATA, _TARGETS, _TIES = 0, 1, 2, 3
# How many times each configuration was traced (the test of "one compile per sweep").
TRACE_COUNTS: collections.Counter = collections.Counter()


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """Everything that sets shapes or code paths: static under `jit`, hashable."""

    num_inputs: int
    num_outputs: int
    dims: tuple[int, ...]
    num_samples: tuple[float, ...]
    schemes: tuple[schemes_lib.Scheme, ...]
    input_embedding: str = "gaussian"
    output_embedding: str = "sphere"
    targets: str = "mod"
    nested: bool = True
    route: str = "auto"
    token_chunk: int | None = None
    counts: str = "auto"
    conventions: str = "memjax"
    # Set by planning (`plan`): seeds vmapped together in the compiled program, and the
    # streamed route's token chunks whose draw is kept from its first pass to its second.
    lanes: int = 1
    kept_chunks: int = 0

    @property
    def finite_samples(self) -> tuple[int, ...]:
        return tuple(sorted({int(t) for t in self.num_samples if math.isfinite(t)}))

    @property
    def num_weights(self) -> int:
        """Distinct weight vectors per d (data-free schemes count once)."""
        return sum(len(self.num_samples) if s.uses_data else 1 for s in self.schemes)

    @property
    def resolved_route(self) -> str:
        if self.route != "auto":
            return self.route
        return _nested.choose(self.num_inputs, self.num_outputs, self.dims,
                              self.num_weights)

    @property
    def resolved_counts(self) -> str:
        """How finite-T counts are drawn: 'stream' (read T_max tokens) or 'multinomial'
        (nested multinomial increments; cost independent of T)."""
        if self.counts != "auto":
            return self.counts
        finite = self.finite_samples
        return "stream" if not finite or finite[-1] <= STREAM_COUNTS_LIMIT else "multinomial"

    def bytes_per_seed(self) -> int:
        """An upper estimate of one seed's peak working memory."""
        n, m, d_max = self.num_inputs, self.num_outputs, max(self.dims)
        route = self.resolved_route
        draws = 0 if route == "stream" else (n + m) * (d_max if self.nested else sum(
            self.dims))
        if route == "stream":  # the kept chunks' draws (inputs at d_max)
            draws = self.kept_chunks * (self.token_chunk or 0) * d_max
        # The draw and a copy (scaled prefixes; the scan's stacked chunks).
        floats = 2 * draws + 2 * len(self.dims) * self.num_weights * n + _nested.working_floats(
            route, n, m, self.dims, self.num_weights, self.token_chunk)
        floats += 2 * len(self.num_samples) * n  # frequencies and their weights' ranks
        ints = len(self.num_samples) * n
        if self.finite_samples and self.resolved_counts == "stream":
            ints += 3 * self.finite_samples[-1]
        elif self.finite_samples:  # nested increments and the binary tree over tokens
            floats += 3 * len(self.finite_samples) * 2 * n
        return 4 * ints + jnp.dtype(jnp.result_type(float)).itemsize * floats


def plan(config: SweepConfig, memory_budget: int, lanes: int = 1) -> SweepConfig:
    """`config` as `sweep` runs it: with the route, the lanes (seeds vmapped together, at
    most `lanes`) and the streamed route's token chunk and kept chunks fixed so that one
    group of lanes fits `memory_budget` bytes (`SweepConfig.bytes_per_seed` says what a
    seed needs). For a look at the plan before compiling anything, as `memjax bench` does.

    'auto' takes the in-memory route with the fewest flops, or streams the tokens when a
    seed's whole draw would not fit; an explicit route is kept. A request that cannot fit
    is refused here, before anything is compiled, with the size it would need."""
    if not isinstance(config, SweepConfig):
        _checks.fail("config", config, "a memjax.grid.SweepConfig")
    memory_budget = _checks.int_at_least("memory_budget", memory_budget, 1)
    lanes = _checks.int_at_least("lanes", lanes, 1)
    explicit = config.route != "auto"
    config = dataclasses.replace(config, route=config.resolved_route, lanes=1,
                                 kept_chunks=0)
    if config.route != "stream" and (explicit or config.bytes_per_seed() <= memory_budget):
        while lanes > 1 and lanes * config.bytes_per_seed() > memory_budget:
            lanes //= 2
        return _fitting(dataclasses.replace(config, lanes=max(1, lanes)), memory_budget)
    config = dataclasses.replace(config, route="stream")
    size = embeddings.block_size(config.num_inputs + config.num_outputs)
    whole = -(-config.num_inputs // size)
    if config.token_chunk is not None:
        if config.token_chunk % size:
            _checks.fail("token_chunk", config.token_chunk,
                         f"a multiple of {size} (the draw's row block) for route 'stream'")
    else:
        smallest = dataclasses.replace(config, token_chunk=size)
        per_block = dataclasses.replace(config, token_chunk=2 * size).bytes_per_seed() - (
            smallest.bytes_per_seed())
        blocks = 1 + max(0, memory_budget - smallest.bytes_per_seed()) // per_block
        config = dataclasses.replace(config, token_chunk=size * int(
            min(blocks, whole, STREAM_CHUNK_BLOCKS)))
    if config.nested:  # keep as many first-pass draws as the budget holds
        num_chunks = -(-config.num_inputs // config.token_chunk)
        one = dataclasses.replace(config, kept_chunks=1).bytes_per_seed() - (
            config.bytes_per_seed())
        kept = max(0, memory_budget - config.bytes_per_seed()) // one
        config = dataclasses.replace(config, kept_chunks=int(min(kept, num_chunks)))
    return _fitting(config, memory_budget)


def _default_lanes(devices) -> int:
    """Seeds vmapped together: one on CPU (a seed's draw stays in cache; measured fastest),
    `ACCELERATOR_LANES` on accelerators (parallel seeds)."""
    return 1 if all(d.platform == "cpu" for d in devices) else ACCELERATOR_LANES


def _resume_plan(config: SweepConfig, requested: SweepConfig, folder, memory_budget: int,
                 identity) -> SweepConfig:
    """The plan of the checkpoint in `folder` where this call's plan `config` differs
    from it only in what was planned automatically (`requested` is the call before
    planning): its seeds were computed on that route, token chunk and lane count, whose
    last bits differ from other plans', so a resume under another `memory_budget` keeps
    them if they fit it, and is refused with the size otherwise."""
    path = pathlib.Path(folder) / _checkpoint.MANIFEST
    try:
        stored = json.loads(path.read_text())
        fields = {f: stored[f] for f in _PLAN_FIELDS}
        stored_plan = dataclasses.replace(config, **fields)
        if not any(pathlib.Path(folder).glob(_checkpoint._PATTERN)):
            return config  # nothing finished: nothing to keep
    except (OSError, ValueError, KeyError, TypeError):
        return config  # nothing to adopt; the checkpoint's own checks report the rest
    automatic = {"route": requested.route == "auto",
                 "token_chunk": requested.token_chunk is None}
    if fields == {f: getattr(config, f) for f in _PLAN_FIELDS} or any(
            fields[f] != getattr(config, f) and not automatic.get(f, True)
            for f in _PLAN_FIELDS):
        return config  # the same plan, or an explicit request the checkpoint refuses
    if any(stored.get(k) != v for k, v in identity(
            stored_plan, route=stored_plan.route).items()):
        return config  # another configuration: the checkpoint refuses it
    needed = stored_plan.lanes * stored_plan.bytes_per_seed()
    if needed > memory_budget:
        raise ValueError(
            f"checkpoint {folder} was computed with route {stored_plan.route!r}, "
            f"token_chunk={stored_plan.token_chunk}, lanes={stored_plan.lanes}, "
            f"kept_chunks={stored_plan.kept_chunks}, which needs about {_mib(needed)}, "
            f"but memory_budget is {_mib(memory_budget)}: resume with "
            f"memory_budget={needed} or more (bytes), or use another checkpoint folder "
            "(results on another plan differ in the last bits).")
    return stored_plan


def _fitting(config, budget):
    """`config` if one seed of it fits `budget`, else a ValueError with the size needed."""
    needed = config.lanes * config.bytes_per_seed()
    if needed <= budget:
        return config
    raise ValueError(
        f"one seed of this sweep needs about {_mib(needed)} (route {config.route!r}"
        + (f", token_chunk={config.token_chunk}" if config.token_chunk else "")
        + f"; N={config.num_inputs}, M={config.num_outputs}, d_max={max(config.dims)}, "
        f"{config.num_weights} weight vectors per d), but memory_budget is {_mib(budget)}: "
        f"pass memory_budget={needed} or more (bytes), or a smaller grid.")


def _chunking(config: SweepConfig, num_seeds: int, num_devices: int, seed_chunk=None):
    """(seeds per chunk, number of chunks) for `num_seeds` seeds: equal chunks, each
    split evenly over the devices in whole groups of lanes; by default about
    `CHUNK_SECONDS` of work each."""
    group = num_devices * config.lanes
    if seed_chunk is None:
        seed_chunk = int(CHUNK_SECONDS / _seconds_per_seed(config))
    seed_chunk = max(1, min(seed_chunk, num_seeds))
    num_chunks = -(-num_seeds // seed_chunk)
    if num_chunks:
        seed_chunk = -(-num_seeds // num_chunks)  # balanced
    seed_chunk = -(-seed_chunk // group) * group
    return seed_chunk, -(-num_seeds // seed_chunk)


def _seconds_per_seed(config: SweepConfig) -> float:
    """A seed's work at `NOMINAL_RATES`: its products' flops and its normals."""
    n, m, dims = config.num_inputs, config.num_outputs, config.dims
    route = config.resolved_route
    flops = _nested.costs(n, m, dims, config.num_weights)[
        "tokens" if route == "stream" else route]
    return flops / NOMINAL_RATES[0] + draws_per_seed(config) / NOMINAL_RATES[1]


def draws_per_seed(config: SweepConfig) -> int:
    """Standard normals one seed draws: (N + M)·d_max nested ((N + M)·Σd independent);
    the streamed route draws the chunks it does not keep twice."""
    n, m, dims = config.num_inputs, config.num_outputs, config.dims
    if config.resolved_route == "stream" and config.nested:
        chunk = config.token_chunk or n
        redrawn = max(0, n - config.kept_chunks * chunk)
        return (n + m + redrawn) * max(dims)
    if config.resolved_route == "stream":
        return (2 * n + m) * sum(dims)
    return (n + m) * (max(dims) if config.nested else sum(dims))


def _mib(size: int) -> str:
    return f"{size / 2**20:,.1f} MiB"


def _weight_batch(config, freqs, probs, tie_key):
    """The distinct weight vectors at every d, (D, Q, N), and for every (scheme, T) point
    the row it reads, (S, T) (data-free schemes are computed once, not once per T).

    Each vector is rescaled by a power of two (max in [1, 2): exact, no prediction
    changes), so every route's scores stay finite whatever the weights' scale."""
    blocks, index, offset = [], np.zeros(
        (len(config.schemes), len(config.num_samples)), np.int32), 0
    for s, scheme in enumerate(config.schemes):
        block = scheme.weight_grid(freqs, probs, config.dims, rescaled=True,
                                   key=tie_key if scheme.needs_key else None)
        index[s] = offset + (np.arange(len(config.num_samples)) if scheme.uses_data else 0)
        blocks.append(block)
        offset += block.shape[1]
    return jnp.concatenate(blocks, axis=1), index


def _seed_errors(config: SweepConfig, key, seed, probs, table):
    """Errors of one seed at every (scheme, T, d): shape (S, T, D)."""
    # One batched fold_in derives every role's key (one hash to compile, not three).
    role_keys = jax.vmap(jax.random.fold_in, (None, 0))(
        jax.random.fold_in(key, seed), jnp.arange(4, dtype=jnp.uint32))
    n, m = config.num_inputs, config.num_outputs
    if config.targets == "mod":
        targets = data.mod_targets(n, m)
    else:
        targets = data.random_targets(role_keys[_TARGETS], n, m)
    finite = [int(t) for t in config.num_samples if math.isfinite(t)]
    counts = None
    if finite and config.resolved_counts == "stream":
        stream = data.sample_tokens(role_keys[_DATA], table, max(finite))
        counts = data.nested_counts(stream, n, finite)
    elif finite:
        counts = data.nested_multinomial_counts(role_keys[_DATA], probs, finite)
    freqs = schemes_lib.frequencies(counts, config.num_samples, probs)
    weights, index = _weight_batch(config, freqs, probs, role_keys[_TIES])
    if config.resolved_route == "stream":
        mass = _nested.streamed_wrong_mass(
            role_keys[_EMBEDDINGS], n, m, config.dims, weights, targets, probs,
            input_kind=config.input_embedding, output_kind=config.output_embedding,
            token_chunk=config.token_chunk, nested=config.nested,
            kept_chunks=config.kept_chunks)
        return _finish(mass, weights, index)
    # Inputs and outputs come from one draw of N + M vectors (rows :N and N:).
    input_kind, output_kind = config.input_embedding, config.output_embedding
    if config.nested:
        both = embeddings.draw_columns(role_keys[_EMBEDDINGS], n + m, max(config.dims))
        ins, outs = both[:, :n], both[:, n:]
        if config.conventions == "authors":
            ins, input_kind = _scaled_at_max(ins, input_kind)
            outs, output_kind = _scaled_at_max(outs, output_kind)
        in_cols, out_cols = [ins] * len(config.dims), [outs] * len(config.dims)
    else:  # an independent draw per d, keyed by d itself
        draws = [embeddings.draw_columns(jax.random.fold_in(role_keys[_EMBEDDINGS], d),
                                         n + m, d) for d in config.dims]
        in_cols, out_cols = [b[:, :n] for b in draws], [b[:, n:] for b in draws]
    mass = _nested.wrong_mass(config.resolved_route, in_cols, out_cols, config.dims,
                              weights, targets, probs, input_kind=input_kind,
                              output_kind=output_kind,
                              token_chunk=config.token_chunk)  # (D, Q)
    return _finish(mass, weights, index)


def _scaled_at_max(columns, kind):
    """The authors' rule (`embeddings.restrict(..., rule="truncate")`) on a (d_max, n)
    column draw: returns columns whose d-prefix, restricted as 'gaussian', is the
    truncated embedding times 1/√d, and 'gaussian'. That factor is common to every score
    of a d, so no argmax sees it; 'gaussian' scaled at d_max is such a factor already."""
    if kind == "sphere":
        norm = jnp.linalg.norm(columns, axis=0, keepdims=True)
        return columns / jnp.where(norm > 0, norm, 1.0), "gaussian"
    return columns, kind


def _finish(mass, weights, index):
    """(D, Q) masses -> (S, T, D) errors."""
    # Invalid weights (a custom scheme's NaN, inf or negative values) poison their points
    # with NaN, which `sweep` reports, instead of an argmax over NaN scores passing silently.
    # Valid weights are rescaled to a maximum below 2, so their scores are finite: |score|
    # <= 2 N max‖u‖² max‖e‖² (at most ~1e18 within MAX_VECTORS and MAX_DIM).
    valid = jnp.all(jnp.isfinite(weights) & (weights >= 0), axis=-1)
    mass = jnp.where(valid, mass, jnp.nan)
    return jnp.moveaxis(mass[:, index], 0, -1)


def _chunk_errors(config: SweepConfig, key, seeds, probs, table):
    """Errors of a chunk of seeds, (k, S, T, D), by the compiled program of `config`.

    `probs` is on the sweep's mesh (replicated) or a plain array: the seeds (k,) are
    split over that mesh's devices, each device's share padded to the program's
    capacity, so chunks of any length up to `capacity(config, k)` reuse one executable."""
    seeds = np.asarray(seeds, np.uint32)
    sharding = getattr(probs, "sharding", None)
    mesh = sharding.mesh if isinstance(sharding, jax.sharding.NamedSharding) else None
    num_devices = 1 if mesh is None else mesh.size
    # Default-sized chunks set the capacity, so shorter ones (the last, a resume, a sweep
    # of fewer seeds) reuse their executable.
    usual, _ = _chunking(config, 1 << 30, num_devices)
    cap = _capacity(config, -(-max(len(seeds), usual) // num_devices))
    shares = np.zeros((num_devices, cap), np.uint32)
    counts = np.zeros((num_devices,), np.int32)
    for i, part in enumerate(np.array_split(seeds, num_devices)):
        shares[i, :len(part)], counts[i] = part, len(part)
    put = jnp.asarray if mesh is None else functools.partial(_devices.put_batch, mesh)
    out = _devices.fetch(_program(config, mesh)(key, put(shares.ravel()), put(counts),
                                                probs, table))
    out = out.reshape((num_devices, cap) + out.shape[1:])
    return np.concatenate([out[i, :c] for i, c in enumerate(counts.tolist())])


def _capacity(config: SweepConfig, per_device: int) -> int:
    """Seeds one device's program holds: a power-of-two number of lane groups, so that
    chunks of similar size (a resume, a shorter seed list) share one executable."""
    groups = -(-max(per_device, 1) // config.lanes)
    return config.lanes * (1 << (groups - 1).bit_length())


@functools.cache
def _program(config: SweepConfig, mesh):
    """The jitted chunk program (key, seeds, counts, probs, table) -> (cap·devices, S, T,
    D). Each device loops over its first `count` seeds in groups of `config.lanes`
    (vmapped), so a seed's arithmetic is that of a program of `lanes` seeds, whatever the
    chunk size, seed count or device count: vmapping a whole chunk let XLA order float
    sums by the chunk's size. Cached per (config, mesh): one executable per
    configuration, shared by every sweep that has it."""
    lanes = config.lanes
    row = (len(config.schemes), len(config.num_samples), len(config.dims))

    def local(key, seeds, count, probs, table):
        TRACE_COUNTS[config] += 1  # runs at trace time only
        def group(part):
            if lanes == 1:
                return _seed_errors(config, key, part[0], probs, table)[None]
            return jax.vmap(_seed_errors, in_axes=(None, None, 0, None, None))(
                config, key, part, probs, table)

        def body(g, out):
            part = jax.lax.dynamic_slice_in_dim(seeds, g * lanes, lanes)
            errors = group(part).astype(out.dtype)
            return jax.lax.dynamic_update_slice_in_dim(out, errors, g * lanes, axis=0)

        out = jnp.zeros((seeds.shape[0],) + row, jnp.result_type(float))
        return jax.lax.fori_loop(0, -(-count[0] // lanes), body, out)

    if mesh is not None:
        spec = jax.sharding.PartitionSpec
        local = jax.shard_map(local, mesh=mesh, in_specs=(
            spec(), spec(_devices.AXIS), spec(_devices.AXIS), spec(), spec()),
            out_specs=spec(_devices.AXIS), check_vma=False)
    platform = mesh.devices.flat[0].platform if mesh is not None else jax.default_backend()
    return jax.jit(local, compiler_options=_xla.compile_options(platform))


def _samples_tuple(num_samples) -> tuple[float, ...]:
    if isinstance(num_samples, numbers.Number):
        num_samples = (num_samples,)
    if isinstance(num_samples, (str, bytes)) or not hasattr(num_samples, "__iter__"):
        _checks.fail("num_samples", num_samples, "a sequence of integers >= 0 (inf allowed)")
    values = []
    for i, t in enumerate(num_samples):
        _checks.real_at_least(f"num_samples[{i}]", t, 0.0, finite=False)
        # Counts are floats (exact integers up to 2^53 in float64), as are the T labels.
        if math.isfinite(t) and not float(t).is_integer():
            _checks.fail(f"num_samples[{i}]", t, "an integer >= 0 or inf")
        if math.isfinite(t) and t > data.MAX_COUNT:
            _checks.fail(f"num_samples[{i}]", t, "an integer <= 2^53 or inf")
        values.append(float(t))
    if not values or len(set(values)) != len(values):
        _checks.fail("num_samples", tuple(num_samples),
                     "a non-empty sequence of distinct integers >= 0 (inf allowed)")
    return tuple(values)


def _schemes_tuple(schemes, num_inputs, dims) -> tuple[schemes_lib.Scheme, ...]:
    if isinstance(schemes, (schemes_lib.Scheme, str)):
        schemes = (schemes,)
    if not hasattr(schemes, "__iter__"):
        _checks.fail("schemes", schemes, "a sequence of schemes")
    out = tuple(schemes_lib.parse(s) if isinstance(s, str) else s for s in schemes)
    if not out:
        _checks.fail("schemes", schemes, "a non-empty sequence of schemes")
    for scheme in out:
        if not isinstance(scheme, schemes_lib.Scheme):
            _checks.fail("schemes", scheme, "memjax.schemes objects or strings like "
                         "'threshold:top=d/8'")
        if scheme.fixed is not None and len(scheme.fixed) != num_inputs:
            raise ValueError(f"custom scheme {scheme.name!r} has {len(scheme.fixed)} "
                             f"weights, but num_inputs is {num_inputs}.")
        for dim in dims:  # evaluate every `top` rule now, not inside the trace
            schemes_lib.resolve_top(scheme.top, dim)
    names = [s.name for s in out]
    if len(set(names)) != len(names):
        _checks.fail("schemes", names, "schemes with distinct names")
    return out


def sweep(key: jax.Array, *, num_inputs: int, num_outputs: int, zipf_exponent: float,
          dims: Sequence[int], num_samples: Sequence[float], schemes, num_seeds: int = 1,
          seeds: Sequence[int] | None = None, input_embedding: str = "gaussian",
          output_embedding: str = "sphere", targets: str = "mod", nested: bool = True,
          progress: bool = False, seed_chunk: int | None = None,
          memory_budget: int = DEFAULT_MEMORY_BUDGET, route: str = "auto",
          token_chunk: int | None = None, devices=None,
          checkpoint=None, counts: str = "auto",
          conventions: str = "memjax") -> SweepResult:
    """The exact population error at every (scheme, seed, T, d) of a grid.

    Args:
      key: a typed key (`jax.random.key(0)`; a raw uint32 `PRNGKey` is refused); seed s
        uses fold_in(key, s), and count ties at a top-P cut the seed's role key 3.
      num_inputs: N. num_outputs: M. zipf_exponent: α.
      dims: capacities d (static; nested prefixes of one draw at max(dims)).
      num_samples: sample sizes T (nested prefixes of one stream); `math.inf` means
        population weights (infinite data).
      schemes: `memjax.schemes` objects or CLI strings such as 'threshold:top=d/8'.
      num_seeds: number of independent trials (seeds 0..num_seeds-1), or
      seeds: explicit seed indices in [0, 2^31) (overrides num_seeds), e.g. a shard of a
        larger grid. A seed list whose results would not fit in host memory is refused.
      input_embedding, output_embedding: 'gaussian' or 'sphere'.
      targets: 'mod' (f*(x) = x mod M) or 'random' (a random map per seed).
      nested: share one draw across d (True) or draw independently per d (False).
      progress: show a progress bar over seed chunks.
      seed_chunk: seeds per compiled call, checkpoint file and progress step (default:
        about `CHUNK_SECONDS` = 2 s of work each). Each device loops over its seeds one
        at a time on CPU (a seed's draw stays in cache), in fixed groups of
        `ACCELERATOR_LANES` = 16 vmapped seeds on accelerators, so a seed's result does
        not depend on the chunk, the grid's extent or the device count, bit for bit.
      memory_budget: bytes one group of seeds may use at once (default 1 GiB; one seed
        on CPU): when one seed's whole draw does not fit, 'auto' streams the tokens in
        chunks sized to it (keeping as many first-pass chunk draws as fit); a sweep whose
        single seed cannot fit even so is refused before it starts, with the size it
        needs.
      route: 'tokens', 'gram', 'matrix' or 'stream' (see `memjax._nested`); 'auto'
        picks the in-memory route with the fewest multiply-adds, or 'stream' when it
        would exceed `memory_budget` (an explicit route that does not fit is refused).
        Routes agree up to float rounding (ties aside).
      token_chunk: tokens scored at once (default: automatic; for 'stream', a multiple
        of `embeddings.ROW_BLOCK`).
      devices: devices to shard each chunk's seeds over (default: this process's local
        devices of the default backend); each seed's result is the same on any number of
        devices. After `jax.distributed.initialize`, pass `jax.devices()` to run one
        global program over every process's devices (every process makes the same call
        and receives the whole result).
      checkpoint: a folder (created if needed) to write finished seeds to, atomically
        (gathered into one file at most every `_checkpoint.WRITE_EVERY_SECONDS` = 10 s,
        and whenever the sweep stops, Ctrl-C or an error included); rerun with the same
        arguments, the sweep reuses every finished seed and computes only the others,
        bit-identical to an uninterrupted run (rows are kept per seed, so seed_chunk,
        memory_budget, devices and the seed list may change; seeds not asked for are
        ignored). A file that is damaged, fails its checksum or was written by another
        configuration (any argument above that changes a seed's result, the key, the
        dtype, or the memjax or jax version) raises a ValueError naming it. The folder
        is locked while the sweep runs: another sweep on it is refused (a lock left by
        a killed process is taken over). A
        function in a custom scheme is known by its name and code, not by the values it
        captures: change its name (or the folder) when those change. A resume under
        another memory_budget keeps the checkpoint's plan (route, token chunk, lanes) if
        it fits that budget (other plans differ in the last bits), and is refused with
        the size it needs otherwise. None (default):
        nothing is written. `memjax sweep --out X` uses `X.chunks/`.
      counts: how finite-T counts are drawn: 'stream' reads one stream of T_max tokens
        (its prefixes give every T); 'multinomial' draws the nested increments between
        consecutive T from the multinomial law (the counts are sufficient statistics),
        at a cost independent of T, for T up to 10^12 and beyond (the counts at T then
        depend on the smaller T of the grid, not the larger); 'auto' (default) streams
        up to T_max = 2^22. Both give the same law.
      conventions: 'memjax' (default): the embeddings for d are the first d coordinates
        of one d_max draw scaled at d, so each d has its declared law. 'authors': those
        of the authors' released code, to compare with their figures:
        every embedding scaled at d_max = max(dims) and then truncated to d (truncated
        `sphere` outputs have unequal norms at small d, which raises the §5.3 error by
        0.01-0.03 for d ≲ 100; a point then depends on max(dims)), and top-P count ties
        of `empirical` schemes with `tie_break="random"` in an unstable sort's fixed
        order instead (`tie_break="unstable"`, as the authors' code sorted; the result's
        scheme names say so). Needs nested=True and an in-memory route (not 'stream').

    Returns:
      A `SweepResult` whose `.error` has dims ("scheme", "seed", "num_samples", "dim").
    """
    # --- Argument validation: every bad input is a ValueError here, before any trace. ---
    _checks.key("key", key)
    num_inputs = _checks.int_at_least("num_inputs", num_inputs, 1)
    num_outputs = _checks.int_at_least("num_outputs", num_outputs, 1)
    if num_inputs + num_outputs > MAX_VECTORS:
        _checks.fail("num_inputs", num_inputs, f"at most {MAX_VECTORS} - num_outputs "
                     "(embeddings are drawn in at most 2^16 blocks of 1024 rows)")
    _checks.real_at_least("zipf_exponent", zipf_exponent, 0.0)
    dims = _checks.int_tuple("dims", dims, 1, MAX_DIM)
    sample_sizes = _samples_tuple(num_samples)
    if seeds is None:
        num_seeds = _checks.int_at_least("num_seeds", num_seeds, 1, MAX_SEED + 1)
    else:
        seeds = _checks.int_tuple("seeds", seeds, 0, MAX_SEED)
    _checks.choice("conventions", conventions, CONVENTIONS)
    if conventions == "authors" and not nested:
        _checks.fail("conventions", conventions, "'memjax' when nested=False (the "
                     "authors' rule truncates one draw at d_max)")
    devices = _checks.devices("devices", devices)
    schemes = _schemes_tuple(schemes, num_inputs, dims)
    if conventions == "authors":  # the authors' code sorted the counts with an unstable sort
        schemes = tuple(dataclasses.replace(s, tie_break="unstable")
                        if s.kind == "empirical" and s.top is not None
                        and s.tie_break == "random" else s for s in schemes)
    row_bytes = len(schemes) * len(sample_sizes) * len(dims) * jnp.dtype(
        jnp.result_type(float)).itemsize
    num_rows = num_seeds if seeds is None else len(seeds)
    # The host holds every seed's row twice (per seed, then stacked) and its bookkeeping.
    _checks.host_memory("num_seeds" if seeds is None else "seeds", num_rows,
                        num_rows * (2 * row_bytes + _HOST_BYTES_PER_SEED),
                        "results and per-seed bookkeeping")
    if seeds is None:
        seeds = tuple(range(num_seeds))
    config = SweepConfig(
        num_inputs=num_inputs, num_outputs=num_outputs, dims=dims,
        num_samples=sample_sizes, schemes=schemes,
        input_embedding=_checks.choice("input_embedding", input_embedding,
                                       embeddings.KINDS),
        output_embedding=_checks.choice("output_embedding", output_embedding,
                                        embeddings.KINDS),
        targets=_checks.choice("targets", targets, TARGET_KINDS), nested=bool(nested),
        route=_checks.choice("route", route, _nested.ROUTES),
        token_chunk=None if token_chunk is None else _checks.int_at_least(
            "token_chunk", token_chunk, 1),
        counts=_checks.choice("counts", counts, COUNT_METHODS), conventions=conventions)
    memory_budget = _checks.int_at_least("memory_budget", memory_budget, 1)
    devices = _devices.resolve(devices)
    requested, config = config, plan(config, memory_budget, _default_lanes(devices))
    if conventions == "authors" and config.route == "stream":
        _checks.fail("conventions", conventions, "'memjax' with the streamed route (the "
                     "authors' rule needs each seed's whole draw in memory: pass a larger "
                     "memory_budget or an in-memory route)")
    if seed_chunk is not None:
        seed_chunk = _checks.int_at_least("seed_chunk", seed_chunk, 1)
    rows, todo, store = {}, list(seeds), None  # rows: seed -> errors (S, T, D)
    if checkpoint is not None and any(d.process_index != jax.process_index()
                                      for d in devices):
        # Each process would decide what is left from its own view of the folder; if the
        # views differed, the processes would run different programs and deadlock.
        _checks.fail("checkpoint", checkpoint, "None when `devices` span several "
                     "processes (checkpoint a multi-process run per process with "
                     "`seeds=` shards and `memjax merge` instead)")
    if checkpoint is not None:
        identity = functools.partial(_checkpoint.identity, zipf_exponent=float(
            zipf_exponent), key=_key_description(key))
        config = _resume_plan(config, requested, checkpoint, memory_budget, identity)
        store = _checkpoint.SeedStore(
            checkpoint, identity(config, route=config.resolved_route),
            row_shape=(len(config.schemes), len(sample_sizes), len(dims)),
            dtype=jnp.result_type(float))
        rows, todo = store.rows, store.report(seeds)
    seed_chunk, num_chunks = _chunking(config, len(todo), len(devices), seed_chunk)

    mesh = _devices.mesh(devices)
    table = None  # the alias table is only read by streamed counts
    if config.finite_samples and config.resolved_counts == "stream":
        table = data.zipf_alias_table(num_inputs, zipf_exponent)
    probs, table, key = _devices.put_replicated(mesh,
        (data.zipf_probs(num_inputs, zipf_exponent), table, key))
    bar = _progress(num_chunks, progress)
    try:
        for c in range(num_chunks):
            real = todo[c * seed_chunk:(c + 1) * seed_chunk]
            part = _chunk_errors(config, key, real, probs, table)  # (seed, scheme, T, d)
            _check_finite(np.moveaxis(part, 0, 1), config)  # before anything is saved
            if store is not None:
                store.save(real, part)
            rows.update(zip(real, part))
            bar.update(1)
    finally:
        if store is not None:  # on Ctrl-C or an error too: write what finished, unlock
            store.close()
    bar.close()
    errors = np.stack([rows[s] for s in seeds], axis=1)  # (scheme, seed, T, d)
    return SweepResult(
        error=errors,
        coords={"scheme": [s.name for s in config.schemes],
                "seed": np.asarray(seeds, np.int64),
                "num_samples": np.asarray(sample_sizes, np.float64),
                "dim": np.asarray(dims, np.int64)},
        config={"num_inputs": num_inputs, "num_outputs": num_outputs,
                "zipf_exponent": float(zipf_exponent),
                "input_embedding": input_embedding, "output_embedding": output_embedding,
                "targets": targets, "nested": bool(nested), "route": config.resolved_route,
                "token_chunk": config.token_chunk, "counts": config.resolved_counts,
                "conventions": conventions, "lanes": config.lanes,
                "kept_chunks": config.kept_chunks, "key": _key_description(key),
                "num_devices": len(devices)})


def _progress(total, enabled):
    from tqdm.auto import tqdm
    return tqdm(total=total, disable=not enabled, desc="memjax sweep", unit="chunk")


def _check_finite(errors, config):
    bad = ~np.isfinite(errors)
    if bad.any():
        names = sorted({config.schemes[i].name for i in np.nonzero(bad)[0]})
        raise ValueError(f"invalid weights from schemes {names}: NaN, inf or negative "
                         "values at some (seed, T, d), so their scores are not finite; "
                         "weights must be finite and >= 0.")


def _key_description(key) -> str:
    try:
        data_ = _devices.fetch(jax.random.key_data(key))
        return f"{jax.random.key_impl(key)}:{data_.tolist()}"
    except (TypeError, ValueError):
        return repr(key)
