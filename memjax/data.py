"""Data: the Zipf law over inputs, the target map, token streams and nested counts.

Inputs are tokens x in {0, ..., N-1} with p(x) ∝ (x+1)^(-α) (token 0 most frequent); the
correct output is y = f*(x) in {0, ..., M-1}. Sample-size grids are nested: the data for
T is the first T draws of one stream of length T_max, so every T shares its randomness.

Sampling uses Walker's alias method with integer thresholds, so every token keeps its
probability to about 2^-32 even where an inverse CDF in float32 would never reach it
(SPEC §6), at O(1) cost per draw.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxtyping import Array, ArrayLike, Float, Int, Key, Real, UInt32

from memjax import _checks
from memjax._random import fast_bits

# Draws are made in blocks keyed by block index, so the first T draws do not depend on
# how long the stream is (a grid point's data does not depend on the grid's extent).
STREAM_BLOCK = 1024
# Streams are indexed by int32 positions.
MAX_STREAM = 2**31 - 1
# Counts are floats: beyond 2^53 even float64 cannot hold them as integers.
MAX_COUNT = 2**53


def _check_probs(probs):
    """A concrete (N,) vector of weights: finite, >= 0, with a positive sum."""
    probs = _checks.array("probs", probs, ndim=1, kind="f")
    _checks.finite("probs", probs)
    _checks.non_negative("probs", probs)
    if not _checks._is_traced(probs) and not float(np.asarray(probs, np.float64).sum()) > 0:
        raise ValueError("probs must have a positive sum; got all zeros.")
    return probs


def zipf_probs(num_inputs: int, zipf_exponent) -> Float[Array, " N"]:
    """Zipf probabilities p(x) = (x+1)^(-α) / Σ_{k=1..N} k^(-α), shape (N,).

    Args:
      num_inputs: N >= 1.
      zipf_exponent: α >= 0 (may be a traced scalar, e.g. under `vmap`).
    """
    num_inputs = _checks.int_at_least("num_inputs", num_inputs, 1)
    _checks.real_at_least("zipf_exponent", zipf_exponent, 0.0)
    ranks = jnp.arange(1, num_inputs + 1, dtype=jnp.result_type(float))
    # Log space keeps (x+1)^(-α) representable for large α instead of underflowing to 0.
    logits = -zipf_exponent * jnp.log(ranks)
    return jax.nn.softmax(logits)


def mod_targets(num_inputs: int, num_outputs: int) -> Int[Array, " N"]:
    """The paper's target map f*(x) = x mod M, shape (N,), int32."""
    num_inputs = _checks.int_at_least("num_inputs", num_inputs, 1)
    num_outputs = _checks.int_at_least("num_outputs", num_outputs, 1)
    return jnp.arange(num_inputs, dtype=jnp.int32) % num_outputs


@fast_bits
def random_targets(key: Key[Array, ""], num_inputs: int,
                   num_outputs: int) -> Int[Array, " N"]:
    """A uniformly random target map f*: [N] -> [M] drawn from `key`, shape (N,)."""
    _checks.key("key", key)
    num_inputs = _checks.int_at_least("num_inputs", num_inputs, 1)
    num_outputs = _checks.int_at_least("num_outputs", num_outputs, 1)
    return jax.random.randint(key, (num_inputs,), 0, num_outputs, dtype=jnp.int32)


class AliasTable(NamedTuple):
    """Walker alias table: draw a bin b uniformly, keep b if 32 random bits < threshold[b],
    else take alias[b]. Both arrays have shape (N,)."""

    threshold: UInt32[Array, " N"]
    alias: Int[Array, " N"]


def alias_table(probs: Real[ArrayLike, " N"]) -> AliasTable:
    """Builds the alias table of a probability vector, on the host in float64.

    The table is a fixed function of `probs` (nothing random), built once per law and
    passed to `sample_tokens` as an argument, so changing the law does not recompile.

    Args:
      probs: (N,) non-negative, not all zero; normalised here in float64.
    """
    probs = np.asarray(_check_probs(probs), np.float64)
    total = probs.sum()
    if not math.isfinite(total):  # finite entries whose float64 sum overflows
        _checks.fail("probs", probs, "weights whose sum is finite in float64")
    # The cache holds host arrays: a JAX array made while tracing (a call inside jit) would
    # be a tracer, and a later call would get it back after its trace had ended.
    threshold, alias = _alias_from_scaled(tuple((probs * (len(probs) / total)).tolist()))
    return AliasTable(jnp.asarray(threshold), jnp.asarray(alias))


@functools.lru_cache(maxsize=32)
def _alias_from_scaled(scaled: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    # Vose's algorithm: pair each under-full bin with an over-full donor.
    scaled = list(scaled)
    num = len(scaled)
    keep = [1.0] * num
    alias = list(range(num))
    small = [i for i, s in enumerate(scaled) if s < 1.0]
    large = [i for i, s in enumerate(scaled) if s >= 1.0]
    while small and large:
        under, donor = small.pop(), large.pop()
        keep[under] = scaled[under]
        alias[under] = donor
        scaled[donor] -= 1.0 - scaled[under]
        (small if scaled[donor] < 1.0 else large).append(donor)
    # Bins left over hold exactly 1 up to rounding: they always keep their own token.
    threshold = np.minimum(np.round(np.asarray(keep) * 2.0**32), 2.0**32 - 1)
    threshold[np.asarray(keep) >= 1.0] = 2.0**32 - 1
    return threshold.astype(np.uint32), np.asarray(alias, np.int32)


def zipf_alias_table(num_inputs: int, zipf_exponent: float) -> AliasTable:
    """Alias table of the Zipf law, computed in float64 on the host."""
    num_inputs = _checks.int_at_least("num_inputs", num_inputs, 1)
    _checks.real_at_least("zipf_exponent", zipf_exponent, 0.0)
    logits = -float(zipf_exponent) * np.log(np.arange(1, num_inputs + 1, dtype=np.float64))
    return alias_table(np.exp(logits - logits.max()))


@fast_bits
def sample_tokens(key: Key[Array, ""], table: AliasTable,
                  num_samples: int) -> Int[Array, " T"]:
    """A stream of T i.i.d. tokens from the law of `table`, shape (T,), int32.

    The first t draws are the same for every stream length T >= t (T < 2^31).
    """
    _checks.key("key", key)
    num_samples = _checks.int_at_least("num_samples", num_samples, 0, MAX_STREAM)
    return _sample_tokens(key, table, num_samples)


# One compiled program per stream length, not one per operation when called eagerly
# (1.45 → 0.54 s for the README's first call); the same bits (integer arithmetic only).
@functools.partial(jax.jit, static_argnames="num_samples")
def _sample_tokens(key, table, num_samples):
    num_blocks = -(-num_samples // STREAM_BLOCK)
    num_bins = table.alias.shape[0]

    def block(index):
        bin_key, bits_key = jax.random.split(jax.random.fold_in(key, index))
        bins = jax.random.randint(bin_key, (STREAM_BLOCK,), 0, num_bins, dtype=jnp.int32)
        bits = jax.random.bits(bits_key, (STREAM_BLOCK,), dtype=jnp.uint32)
        return jnp.where(bits < table.threshold[bins], bins, table.alias[bins])

    tokens = jax.vmap(block)(jnp.arange(num_blocks, dtype=jnp.uint32))
    return tokens.reshape(-1)[:num_samples]


def nested_counts(tokens: Int[ArrayLike, " T"], num_inputs: int,
                  sample_sizes) -> Int[Array, "K N"]:
    """Counts of each token among the first T draws, for every T in `sample_sizes`.

    Computed cumulatively: one scatter-add of the stream into the segments between
    consecutive sizes, then a cumulative sum over segments.

    Args:
      tokens: (T_max,) int stream with T_max >= max(sample_sizes).
      num_inputs: N.
      sample_sizes: K integers in [0, T_max], any order (static).

    Returns:
      (K, N) int32 counts, row k for sample_sizes[k].
    """
    num_inputs = _checks.int_at_least("num_inputs", num_inputs, 1)
    sizes = tuple(_checks.int_at_least(f"sample_sizes[{i}]", t, 0)
                  for i, t in enumerate(sample_sizes))
    _checks.array("tokens", tokens, ndim=1, kind="i")
    if not _checks._is_traced(tokens):
        host = np.asarray(tokens)
        # The scatter would silently drop tokens >= N and wrap negative ones to N-1.
        if host.size and (host.min() < 0 or host.max() >= num_inputs):
            _checks.fail("tokens", f"values in [{host.min()}, {host.max()}]",
                         f"integers in [0, {num_inputs}) (num_inputs)")
    if sizes and max(sizes) > tokens.shape[0]:
        _checks.fail("sample_sizes", sizes,
                     f"at most the stream length {tokens.shape[0]}")
    return _nested_counts(tokens, num_inputs, sizes)


@functools.partial(jax.jit, static_argnames=("num_inputs", "sizes"))
def _nested_counts(tokens, num_inputs, sizes):
    ordered = sorted(set(sizes))
    # Segment k holds positions t with ordered[k-1] <= t < ordered[k].
    segment = jnp.searchsorted(jnp.asarray(ordered), jnp.arange(tokens.shape[0]),
                               side="right")
    counts = jnp.zeros((len(ordered) + 1, num_inputs), jnp.int32)
    counts = counts.at[segment, tokens].add(1, mode="drop")
    cumulative = jnp.cumsum(counts[:-1], axis=0)
    return cumulative[jnp.asarray([ordered.index(t) for t in sizes], jnp.int32)]


# Largest trial count for which `jax.random.binomial` is exact in each float width: its
# rejection sampler works in the count's dtype, and in float32 its variance drifts by
# > 4 standard errors from n = 2^22 on (measured with 4·10^5 draws); in float64 it was
# within 2 standard errors up to n = 2^50.
_EXACT_BINOMIAL_LIMIT = {4: 2.0**20, 8: 2.0**50}


def binomial(key: Key[Array, ""], num_trials: Real[ArrayLike, "*shape"],
             prob: Real[ArrayLike, "*#shape"], *,
             complement: Real[ArrayLike, "*#shape"] | None = None,
             max_trials: float | None = None) -> Float[Array, "*shape"]:
    """Binomial(n, p) draws, elementwise, for counts n up to 10^12 and beyond.

    Counts above the limit where `jax.random.binomial` is exact in the working float
    width are first halved by the order-statistics recursion (Devroye 1986, X.4): the
    k-th smallest of n uniforms (k = ⌈n/2⌉) is B ~ Beta(k, n + 1 - k); if B <= p, k
    trials succeeded and the n - k above B succeed with probability (p - B)/(1 - B), else
    the k - 1 below B succeed with probability p/B. The rarer outcome is the one counted,
    and both p and q = 1 - p are carried (each updated without cancellation), so p near 1
    loses no precision. In float64 the law is exact (counts exact to 2^53); in float32
    counts are exact integers up to 2^24, and beyond that exact up to float rounding.

    Args:
      key: a typed key.
      num_trials: n, float array of non-negative integer values.
      prob: p in [0, 1], broadcastable to n.
      complement: 1 - p, if the caller knows it more precisely than 1 - prob (e.g. a
        share of a small mass); default 1 - prob.
      max_trials: a static upper bound on n, if known (skips the halving code when it
        cannot be needed).

    Returns:
      Float array of the shape of `num_trials`.
    """
    _checks.key("key", key)
    _check_binomial(num_trials, prob, complement, max_trials)
    dtype = jnp.result_type(float)
    n = jnp.asarray(num_trials, dtype)
    p = jnp.clip(jnp.broadcast_to(jnp.asarray(prob, dtype), n.shape), 0.0, 1.0)
    q = 1 - p if complement is None else jnp.clip(
        jnp.broadcast_to(jnp.asarray(complement, dtype), n.shape), 0.0, 1.0)
    limit = _EXACT_BINOMIAL_LIMIT[jnp.dtype(dtype).itemsize]
    # Count the rarer outcome: its count never comes from a difference of large numbers.
    swap = p > q
    trials, p, q = n, jnp.where(swap, q, p), jnp.where(swap, p, q)
    done = jnp.zeros_like(n)
    if max_trials is None or max_trials > limit:
        def halve(state):
            step, n, p, q, done = state
            big = n > limit
            k = jnp.where(big, jnp.ceil(n / 2), 1.0)
            # Both gammas from one vmapped sampler: the bits of two calls on the split
            # keys, at half the compile (the sampler's loop is compiled once, not twice).
            below, above = jax.vmap(functools.partial(jax.random.gamma, dtype=dtype))(
                jax.random.split(jax.random.fold_in(key, step)),
                jnp.stack([k, jnp.where(big, n + 1 - k, 1.0)]))
            order = below / (below + above)
            hit = order <= p
            new = (jnp.where(hit, n - k, k - 1),
                   jnp.where(hit, (p - order) / (1 - order), p / order),
                   jnp.where(hit, q / (1 - order), (order - p) / order))
            n, p, q = (jnp.where(big, a, b) for a, b in zip(new, (n, p, q)))
            return (step + 1, n, jnp.clip(p, 0.0, 1.0), jnp.clip(q, 0.0, 1.0),
                    done + jnp.where(big & hit, k, 0.0))

        _, n, p, q, done = jax.lax.while_loop(
            lambda s: jnp.any(s[1] > limit), halve, (jnp.uint32(1), n, p, q, done))
    draw = jnp.where(n > 0, jax.random.binomial(
        jax.random.fold_in(key, 0), n, jnp.minimum(p, q), dtype=dtype), 0.0)
    rare = done + jnp.where(p <= q, draw, n - draw)
    return jnp.where(swap, trials - rare, rare)


def _check_binomial(num_trials, prob, complement, max_trials):
    """Concrete arguments of `binomial`: n integers in [0, 2^53], p and 1 - p in [0, 1]."""
    if not _checks._is_traced(num_trials):
        _checks.finite("num_trials", num_trials)
        host = np.asarray(num_trials, np.float64)
        if host.size and (host.min() < 0 or host.max() > MAX_COUNT
                          or not np.all(host == np.round(host))):
            _checks.fail("num_trials", num_trials if host.ndim == 0 else
                         f"values in [{host.min()}, {host.max()}]",
                         f"integers in [0, 2^53] (trial counts)")
    for name, value in (("prob", prob), ("complement", complement)):
        if value is None or _checks._is_traced(value):
            continue
        _checks.finite(name, value)
        host = np.asarray(value, np.float64)
        if host.size and (host.min() < 0 or host.max() > 1):
            _checks.fail(name, value if host.ndim == 0 else
                         f"values in [{host.min()}, {host.max()}]", "probabilities in [0, 1]")
    if max_trials is not None:
        _checks.real_at_least("max_trials", max_trials, 0.0)


def _tree_steps(num_leaves: int):
    """The internal nodes of a heap-ordered binary tree over `num_leaves` (a power of 2)
    leaves, grouped into fixed-size blocks, level by level: (block size, (S,) first node
    of each step, (S,) one past the last node of the step's level)."""
    block = min(4096, max(64, num_leaves // 8))
    starts, ends = [], []
    for level in range(num_leaves.bit_length() - 1):
        first, last = 2**level - 1, 2 ** (level + 1) - 1
        starts += range(first, last, block)
        ends += [last] * len(range(first, last, block))
    return block, np.asarray(starts, np.int32), np.asarray(ends, np.int32)


@fast_bits
def multinomial_counts(key: Key[Array, ""], probs: Real[ArrayLike, " N"],
                       num_samples) -> Float[Array, " N"]:
    """Counts of each token in T i.i.d. draws from `probs`, without drawing the stream.

    A binary tree over the tokens splits T with one binomial per node, root first, in
    fixed-size blocks of nodes (one compiled binomial for the whole tree): O(N) draws
    whatever T is (T up to 10^12 and beyond).

    Args:
      key: a typed key.
      probs: (N,) non-negative probabilities, not all zero (normalised here).
      num_samples: T in [0, 2^53], an integer (a Python number or a traced float scalar).

    Returns:
      (N,) float counts summing to T (exact integers up to 2^24 in float32, 2^53 in
      float64).
    """
    _checks.key("key", key)
    probs = _check_probs(probs)
    bound = None
    if not _checks._is_traced(num_samples):
        bound = float(_checks.int_at_least("num_samples", num_samples, 0, MAX_COUNT))
        num_samples = bound
    return _multinomial(key, probs, num_samples, bound)


def _multinomial(key, probs, num_samples, bound):
    dtype = jnp.result_type(float)
    probs = jnp.asarray(probs, dtype)
    num_inputs = probs.shape[0]
    leaves = 2 ** max(1, (num_inputs - 1).bit_length())
    # Node masses in heap order (root 0, children of i at 2i+1 and 2i+2; padding mass 0).
    levels = [jnp.pad(probs, (0, leaves - num_inputs))]
    while levels[-1].shape[0] > 1:
        levels.append(levels[-1].reshape(-1, 2).sum(axis=1))
    mass = jnp.concatenate(levels[::-1])
    internal = leaves - 1
    total = jnp.where(mass[:internal] > 0, mass[:internal], 1.0)
    # Both children's shares from their masses: no 1 - share cancellation for a light child.
    share = jnp.stack([mass[1:2 * internal:2] / total, mass[2:2 * internal + 1:2] / total])
    block, starts, ends = _tree_steps(leaves)
    # Room past the end so every fixed-size slice stays in bounds.
    counts = jnp.zeros(2 * leaves - 1 + 2 * block + 2, dtype).at[0].set(num_samples)
    share = jnp.pad(share, ((0, 0), (0, block)))

    def split(step, counts):
        start, end = starts[step], ends[step]
        nodes = start + jnp.arange(block, dtype=jnp.int32)
        active = nodes < end
        n = jnp.where(active, jax.lax.dynamic_slice(counts, (start,), (block,)), 0.0)
        left_share, right_share = jax.lax.dynamic_slice(
            share, (jnp.zeros_like(start), start), (2, block))
        # Draw the lighter child's count; the heavier one takes the rest (and the rounding).
        light = binomial(jax.random.fold_in(key, step), n,
                         jnp.minimum(left_share, right_share),
                         complement=jnp.maximum(left_share, right_share), max_trials=bound)
        left = jnp.where(left_share <= right_share, light, n - light)
        drop = counts.shape[0]  # out of range: dropped by the scatter
        children = jnp.stack([jnp.where(active, 2 * nodes + 1, drop),
                              jnp.where(active, 2 * nodes + 2, drop)])
        return counts.at[children].set(jnp.stack([left, n - left]), mode="drop")

    starts, ends = jnp.asarray(starts), jnp.asarray(ends)
    counts = jax.lax.fori_loop(0, starts.shape[0], split, counts)
    return counts[internal:internal + num_inputs]


@fast_bits
def nested_multinomial_counts(key: Key[Array, ""], probs: Real[ArrayLike, " N"],
                              sample_sizes) -> Float[Array, "K N"]:
    """Counts for every T in `sample_sizes`, nested as if read from one stream.

    The counts at the sorted sizes T_1 < T_2 < ... are cumulative sums of independent
    multinomial increments of T_k - T_{k-1} draws, the k-th keyed by T_k itself; so a
    point's counts do not depend on the larger sizes in a grid (they do depend on the
    smaller ones, which its increments start from).

    Args:
      key: a typed key.
      probs: (N,) probabilities.
      sample_sizes: K non-negative integers (static; any order; up to 2^53).

    Returns:
      (K, N) float counts, row k for sample_sizes[k].
    """
    _checks.key("key", key)
    probs = _check_probs(probs)
    sizes = tuple(_checks.int_at_least(f"sample_sizes[{i}]", t, 0, MAX_COUNT)
                  for i, t in enumerate(sample_sizes))
    num_inputs = jnp.shape(probs)[0]
    if not sizes:
        return jnp.zeros((0, num_inputs), jnp.result_type(float))
    ordered = sorted(set(sizes))
    steps = np.diff(np.asarray([0] + ordered, np.float64))
    keys = jnp.stack([jax.random.fold_in(jax.random.fold_in(key, t >> 32), t & 0xFFFFFFFF)
                      for t in ordered])
    # One vmapped draw for all increments (one compiled sampler, not one per T).
    increments = jax.vmap(_multinomial, (0, None, 0, None))(
        keys, probs, jnp.asarray(steps, jnp.result_type(float)), float(steps.max()))
    totals = jnp.cumsum(increments, axis=0)
    return totals[jnp.asarray([ordered.index(t) for t in sizes], jnp.int32)]
