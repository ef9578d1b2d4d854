"""Sweeps: the exact error at every (scheme, seed, T, d) point of a grid, in one call.

The per-seed experiment is one pure function: draw the targets, one token stream of length
T_max (nested counts for every T) and one Gaussian base of width d_max (nested embeddings
for every d), then score every scheme at every (T, d). It is vmapped over seeds and jitted
once per static configuration; seeds run in chunks sized to a memory budget. Seed s uses
the key fold_in(key, s), and each role (data, embeddings, targets) a further fold_in, so a
point's result is the same whatever the chunking, the seed order or the grid's extent.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import math
import numbers
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from memjax import (_checkpoint, _checks, _devices, _nested, data, embeddings,
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
# On CPU, default chunks hold about this much: one seed of §5.1/§5.2 (12 MiB) at a time
# ran 2.5× faster than chunks of 5–25 seeds on a 2-core EPYC (32 MiB L3), whose working
# sets spill the caches; on accelerators chunks fill the budget (parallel seeds).
CPU_CHUNK_BYTES = 16 << 20
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
        floats = 2 * draws + 2 * len(self.dims) * self.num_weights * n + _nested.working_floats(
            route, n, m, self.dims, self.num_weights, self.token_chunk)
        floats += 2 * len(self.num_samples) * n  # frequencies and their weights' ranks
        ints = len(self.num_samples) * n
        if self.finite_samples and self.resolved_counts == "stream":
            ints += 3 * self.finite_samples[-1]
        elif self.finite_samples:  # nested increments and the binary tree over tokens
            floats += 3 * len(self.finite_samples) * 2 * n
        return 4 * ints + jnp.dtype(jnp.result_type(float)).itemsize * floats


def _plan(config: SweepConfig, memory_budget: int) -> SweepConfig:
    """Fixes the route (and the streamed route's token chunk) so one seed fits the budget.

    'auto' takes the in-memory route with the fewest flops, or streams the tokens when a
    seed's whole draw would not fit; an explicit route is kept. A request that cannot fit
    is refused here, before anything is compiled, with the size it would need."""
    explicit = config.route != "auto"
    config = dataclasses.replace(config, route=config.resolved_route)
    if config.route != "stream" and (explicit or config.bytes_per_seed() <= memory_budget):
        return _fitting(config, memory_budget)
    config = dataclasses.replace(config, route="stream")
    size = embeddings.block_size(config.num_inputs + config.num_outputs)
    if config.token_chunk is not None:
        if config.token_chunk % size:
            _checks.fail("token_chunk", config.token_chunk,
                         f"a multiple of {size} (the draw's row block) for route 'stream'")
    else:
        smallest = dataclasses.replace(config, token_chunk=size)
        per_block = dataclasses.replace(config, token_chunk=2 * size).bytes_per_seed() - (
            smallest.bytes_per_seed())
        blocks = 1 + max(0, memory_budget - smallest.bytes_per_seed()) // per_block
        whole = -(-config.num_inputs // size)
        config = dataclasses.replace(config, token_chunk=size * int(min(blocks, whole)))
    return _fitting(config, memory_budget)


def _fitting(config, budget):
    """`config` if one seed of it fits `budget`, else a ValueError with the size needed."""
    needed = config.bytes_per_seed()
    if needed <= budget:
        return config
    raise ValueError(
        f"one seed of this sweep needs about {_mib(needed)} (route {config.route!r}"
        + (f", token_chunk={config.token_chunk}" if config.token_chunk else "")
        + f"; N={config.num_inputs}, M={config.num_outputs}, d_max={max(config.dims)}, "
        f"{config.num_weights} weight vectors per d), but memory_budget is {_mib(budget)}: "
        f"pass memory_budget={needed} or more (bytes), or a smaller grid.")


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
            token_chunk=config.token_chunk, nested=config.nested)
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


@functools.partial(jax.jit, static_argnums=0)
def _chunk_errors(config: SweepConfig, key, seeds, probs, table):
    TRACE_COUNTS[config] += 1  # runs at trace time only
    return jax.vmap(_seed_errors, in_axes=(None, None, 0, None, None))(
        config, key, seeds, probs, table)


def _samples_tuple(num_samples) -> tuple[float, ...]:
    if isinstance(num_samples, numbers.Number):
        num_samples = (num_samples,)
    if isinstance(num_samples, (str, bytes)) or not hasattr(num_samples, "__iter__"):
        _checks.fail("num_samples", num_samples, "a sequence of integers >= 0 (inf allowed)")
    values = []
    for i, t in enumerate(num_samples):
        _checks.real_at_least(f"num_samples[{i}]", t, 0.0, finite=False)
        # Counts are floats (exact integers up to 2^53 in float64), as are the T labels.
        if math.isfinite(t) and (not float(t).is_integer() or t > data.MAX_COUNT):
            _checks.fail(f"num_samples[{i}]", t, "an integer in [0, 2^53] or inf")
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
      key: a typed key (`jax.random.key(0)`); seed s uses fold_in(key, s).
      num_inputs: N. num_outputs: M. zipf_exponent: α.
      dims: capacities d (static; nested prefixes of one draw at max(dims)).
      num_samples: sample sizes T (nested prefixes of one stream); `math.inf` means
        population weights (infinite data).
      schemes: `memjax.schemes` objects or CLI strings such as 'threshold:top=d/8'.
      num_seeds: number of independent trials (seeds 0..num_seeds-1), or
      seeds: explicit seed indices (overrides num_seeds), e.g. a shard of a larger grid.
      input_embedding, output_embedding: 'gaussian' or 'sphere'.
      targets: 'mod' (f*(x) = x mod M) or 'random' (a random map per seed).
      nested: share one draw across d (True) or draw independently per d (False).
      progress: show a progress bar over seed chunks.
      seed_chunk: seeds per compiled call (default: as many as `memory_budget` allows
        on accelerators; on CPU as many as fit `CPU_CHUNK_BYTES` = 16 MiB, often one, which
        keeps a seed's draw in cache).
      memory_budget: bytes one chunk of seeds may use (default 1 GiB): caps seed_chunk,
        when one seed's whole draw does not fit, makes 'auto' stream the tokens in chunks
        sized to it; a sweep whose single seed cannot fit even so is refused before it
        starts, with the size it needs.
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
      checkpoint: a folder (created if needed) to write each finished chunk of seeds to,
        atomically; rerun with the same arguments, the sweep reuses every finished seed
        and computes only the others, bit-identical to an uninterrupted run (rows are
        kept per seed, so seed_chunk, memory_budget, devices and the seed list may change;
        seeds not asked for are ignored). A file that is damaged or was written by
        another configuration (any argument above that changes a seed's result, the key,
        the dtype, or the memjax or jax version) raises a ValueError naming it. A
        function in a custom scheme is known by its name and code, not by the values it
        captures: change its name (or the folder) when those change. None (default):
        nothing is written. `memjax sweep --out X` uses `X.chunks/`.
      counts: how finite-T counts are drawn: 'stream' reads one stream of T_max tokens
        (its prefixes give every T); 'multinomial' draws the nested increments between
        consecutive T from the multinomial law (the counts are sufficient statistics),
        at a cost independent of T, for T up to 10^12 and beyond (the counts at T then
        depend on the smaller T of the grid, not the larger); 'auto' (default) streams
        up to T_max = 2^22. Both give the same law.
      conventions: 'memjax' (default): the embeddings for d are the first d coordinates
        of one d_max draw scaled at d, so each d has its declared law. 'authors': those
        of the authors' released code, to reproduce their figures point for point:
        every embedding scaled at d_max = max(dims) and then truncated to d (truncated
        `sphere` outputs have unequal norms at small d, which raises the §5.3 error by
        0.01-0.03 for d ≲ 100; a point then depends on max(dims)). Top-P count ties are
        random under both (the authors' unstable sort is an arbitrary order). Needs
        nested=True and an in-memory route (not 'stream').

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
    config = _plan(config, memory_budget)
    if conventions == "authors" and config.route == "stream":
        _checks.fail("conventions", conventions, "'memjax' with the streamed route (the "
                     "authors' rule needs each seed's whole draw in memory: pass a larger "
                     "memory_budget or an in-memory route)")
    devices = _devices.resolve(devices)
    # --- End of argument validation. ---
    if seed_chunk is None:
        target = memory_budget
        if all(d.platform == "cpu" for d in devices):
            target = min(target, CPU_CHUNK_BYTES * len(devices))
        seed_chunk = max(1, target // config.bytes_per_seed())
    seed_chunk = min(_checks.int_at_least("seed_chunk", seed_chunk, 1), len(seeds))
    rows, todo, store = {}, list(seeds), None  # rows: seed -> errors (S, T, D)
    if checkpoint is not None and any(d.process_index != jax.process_index()
                                      for d in devices):
        # Each process would decide what is left from its own view of the folder; if the
        # views differed, the processes would run different programs and deadlock.
        _checks.fail("checkpoint", checkpoint, "None when `devices` span several "
                     "processes (checkpoint a multi-process run per process with "
                     "`seeds=` shards and `memjax merge` instead)")
    if checkpoint is not None:
        store = _checkpoint.SeedStore(
            checkpoint, _checkpoint.identity(
                config, route=config.resolved_route, zipf_exponent=float(zipf_exponent),
                key=_key_description(key)),
            row_shape=(len(config.schemes), len(sample_sizes), len(dims)),
            dtype=jnp.result_type(float))
        rows, todo = store.rows, store.report(seeds)
    # Equal chunks (the last padded with extra seeds, discarded) keep one compiled shape;
    # each chunk splits evenly over the devices.
    num_chunks = -(-len(todo) // seed_chunk)
    if todo:
        seed_chunk = -(-len(todo) // num_chunks)
        seed_chunk = -(-seed_chunk // len(devices)) * len(devices)
        num_chunks = -(-len(todo) // seed_chunk)  # rounding up may leave fewer chunks
    padded = np.concatenate([np.asarray(todo, np.uint32), np.arange(
        num_chunks * seed_chunk - len(todo), dtype=np.uint32) + max(seeds) + 1])

    mesh = _devices.mesh(devices)
    table = None  # the alias table is only read by streamed counts
    if config.finite_samples and config.resolved_counts == "stream":
        table = data.zipf_alias_table(num_inputs, zipf_exponent)
    probs, table, key = _devices.put_replicated(mesh,
        (data.zipf_probs(num_inputs, zipf_exponent), table, key))
    bar = _progress(num_chunks, progress)
    for c in range(num_chunks):
        part_seeds = _devices.put_batch(mesh, padded[c * seed_chunk:(c + 1) * seed_chunk])
        part = _chunk_errors(config, key, part_seeds, probs, table)
        real = todo[c * seed_chunk:(c + 1) * seed_chunk]
        part = _devices.fetch(part)[:len(real)]  # (seed, scheme, T, d)
        _check_finite(np.moveaxis(part, 0, 1), config)  # before anything is saved
        if store is not None:
            store.save(real, part)
        rows.update(zip(real, part))
        bar.update(1)
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
                "conventions": conventions, "key": _key_description(key),
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
