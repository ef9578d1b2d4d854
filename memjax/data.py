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
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from memjax import _checks
from memjax._random import fast_bits

# Draws are made in blocks keyed by block index, so the first T draws do not depend on
# how long the stream is (a grid point's data does not depend on the grid's extent).
STREAM_BLOCK = 1024


def zipf_probs(num_inputs: int, zipf_exponent) -> jax.Array:
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


def mod_targets(num_inputs: int, num_outputs: int) -> jax.Array:
    """The paper's target map f*(x) = x mod M, shape (N,), int32."""
    num_inputs = _checks.int_at_least("num_inputs", num_inputs, 1)
    num_outputs = _checks.int_at_least("num_outputs", num_outputs, 1)
    return jnp.arange(num_inputs, dtype=jnp.int32) % num_outputs


@fast_bits
def random_targets(key: jax.Array, num_inputs: int, num_outputs: int) -> jax.Array:
    """A uniformly random target map f*: [N] -> [M] drawn from `key`, shape (N,)."""
    num_inputs = _checks.int_at_least("num_inputs", num_inputs, 1)
    num_outputs = _checks.int_at_least("num_outputs", num_outputs, 1)
    return jax.random.randint(key, (num_inputs,), 0, num_outputs, dtype=jnp.int32)


class AliasTable(NamedTuple):
    """Walker alias table: draw a bin b uniformly, keep b if 32 random bits < threshold[b],
    else take alias[b]. Both arrays have shape (N,)."""

    threshold: jax.Array  # uint32
    alias: jax.Array  # int32


def alias_table(probs) -> AliasTable:
    """Builds the alias table of a probability vector, on the host in float64.

    The table is a fixed function of `probs` (nothing random), built once per law and
    passed to `sample_tokens` as an argument, so changing the law does not recompile.

    Args:
      probs: (N,) non-negative, not all zero; normalised here in float64.
    """
    probs = np.asarray(_checks.array("probs", probs, ndim=1, kind="f"), np.float64)
    _checks.non_negative("probs", probs)
    total = probs.sum()
    if not total > 0:
        raise ValueError("probs must have a positive sum; got all zeros.")
    return _alias_from_scaled(tuple((probs * (len(probs) / total)).tolist()))


@functools.lru_cache(maxsize=32)
def _alias_from_scaled(scaled: tuple[float, ...]) -> AliasTable:
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
    return AliasTable(jnp.asarray(threshold.astype(np.uint32)),
                      jnp.asarray(np.asarray(alias, np.int32)))


def zipf_alias_table(num_inputs: int, zipf_exponent: float) -> AliasTable:
    """Alias table of the Zipf law, computed in float64 on the host."""
    num_inputs = _checks.int_at_least("num_inputs", num_inputs, 1)
    _checks.real_at_least("zipf_exponent", zipf_exponent, 0.0)
    logits = -float(zipf_exponent) * np.log(np.arange(1, num_inputs + 1, dtype=np.float64))
    return alias_table(np.exp(logits - logits.max()))


@fast_bits
def sample_tokens(key: jax.Array, table: AliasTable, num_samples: int) -> jax.Array:
    """A stream of T i.i.d. tokens from the law of `table`, shape (T,), int32.

    The first t draws are the same for every stream length T >= t.
    """
    num_samples = _checks.int_at_least("num_samples", num_samples, 0)
    num_blocks = -(-num_samples // STREAM_BLOCK)
    num_bins = table.alias.shape[0]

    def block(index):
        bin_key, bits_key = jax.random.split(jax.random.fold_in(key, index))
        bins = jax.random.randint(bin_key, (STREAM_BLOCK,), 0, num_bins, dtype=jnp.int32)
        bits = jax.random.bits(bits_key, (STREAM_BLOCK,), dtype=jnp.uint32)
        return jnp.where(bits < table.threshold[bins], bins, table.alias[bins])

    tokens = jax.vmap(block)(jnp.arange(num_blocks, dtype=jnp.uint32))
    return tokens.reshape(-1)[:num_samples]


def nested_counts(tokens: jax.Array, num_inputs: int, sample_sizes) -> jax.Array:
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
    ordered = sorted(set(sizes))
    # Segment k holds positions t with ordered[k-1] <= t < ordered[k].
    segment = jnp.searchsorted(jnp.asarray(ordered), jnp.arange(tokens.shape[0]),
                               side="right")
    counts = jnp.zeros((len(ordered) + 1, num_inputs), jnp.int32)
    counts = counts.at[segment, tokens].add(1, mode="drop")
    cumulative = jnp.cumsum(counts[:-1], axis=0)
    return cumulative[jnp.asarray([ordered.index(t) for t in sizes], jnp.int32)]
