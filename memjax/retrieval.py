"""Memory and retrieval: W = Σ_x q(x) u_{f(x)} e_xᵀ, scores, predictions and exact errors.

    W_q         = Σ_x q(x) · u_{f*(x)} e_xᵀ                     (d × d)
    score(x, y) = u_yᵀ W_q e_x
    f_W(x)      = argmax_y score(x, y)                           (ties: lowest y)
    E(W)        = Σ_x p(x) · 1[f_W(x) ≠ f*(x)]                   (exact population error)

Shapes: input_emb (N, d), output_emb (M, d), targets (N,) ints in [0, M), probs (N,),
weights (N,) or a batch (..., N) — scores are linear in q, so a batch of schemes is a batch
of weight vectors. Scores are computed as input_emb @ R with a right factor R (d × M)
built by the cheaper of two exact routes:
  * 'tokens': R = Eᵀ (diag(q) C[f*]) with C = U Uᵀ (M × M); cost ~ M²d + 2NdM per weight
    vector, never forming W (best when M ≪ d);
  * 'matrix': R = Wᵀ Uᵀ; cost ~ 2Nd² + 2d²M (best when M ≳ d).
Nothing of size N × N or N × d × d is formed; tokens are scored in chunks when N·M is large.

Concrete arguments are checked (finite embeddings and weights, probs >= 0 summing to 1,
targets in [0, M), agreeing shapes); traced ones pass unchecked. `error`, `predictions`
and `head_tail_error` first rescale each weight vector by a power of two (`schemes.rescale`:
exact, argmax is scale-invariant), so weights as small as 1e-45 or as large as 3e38 in
float32 give the predictions of any other positive multiple.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int, Real

from memjax import _checks
from memjax.schemes import rescale, rescale_host

ROUTES = ("auto", "tokens", "matrix")
# Scores of one token chunk stay below this many entries (64 MiB in float32).
SCORE_CHUNK_ENTRIES = 1 << 24
_HIGHEST = jax.lax.Precision.HIGHEST  # accelerators would otherwise use TF32/bf16 passes


def _check_inputs(input_emb, output_emb, targets, weights=None, probs=None):
    input_emb = _checks.finite("input_emb", _checks.array("input_emb", input_emb, ndim=2,
                                                          kind="f"))
    num_inputs, dim = input_emb.shape
    output_emb = _checks.array("output_emb", output_emb, ndim=2, kind="f",
                               length={1: (dim, "the embedding dimension of input_emb")})
    _checks.finite("output_emb", output_emb)
    targets = _checks.array("targets", targets, ndim=1, kind="i",
                            length={0: (num_inputs, "the number of inputs (input_emb rows)")})
    if not isinstance(targets, jax.core.Tracer):
        host = np.asarray(targets)
        if host.size and (host.min() < 0 or host.max() >= output_emb.shape[0]):
            _checks.fail("targets", f"values in [{host.min()}, {host.max()}]",
                         f"integers in [0, {output_emb.shape[0]}) (one per output_emb row)")
    if weights is not None:
        weights = _checks.array("weights", weights, ndim=(1, 2, 3, 4), kind="f",
                                length={-1: (num_inputs, "the number of inputs")})
        _checks.non_negative("weights", weights)
        _checks.finite("weights", weights)
    if probs is not None:
        probs = _checks.array("probs", probs, ndim=1, kind="f",
                              length={0: (num_inputs, "the number of inputs")})
        _checks.probabilities("probs", probs)
    return input_emb, output_emb, targets, weights, probs


def _scale_free(weights, dtype):
    """Weights rescaled by powers of two (`schemes.rescale`), on the host when concrete
    (exact even for subnormal float32 values, which XLA flushes to zero on CPU)."""
    if not jnp.issubdtype(dtype, jnp.floating):  # integer embeddings score in floats
        dtype = jnp.result_type(float)
    if isinstance(weights, jax.core.Tracer):
        return rescale(jnp.asarray(weights, dtype))
    return jnp.asarray(rescale_host(weights), dtype)


def memory(input_emb: Real[ArrayLike, "N d"], output_emb: Real[ArrayLike, "M d"],
           targets: Int[ArrayLike, " N"],
           weights: Real[ArrayLike, "*batch N"]) -> Float[Array, "*batch d d"]:
    """W (d × d) = Σ_x weights[x] · output_emb[targets[x]] input_emb[x]ᵀ (batched over weights)."""
    input_emb, output_emb, targets, weights, _ = _check_inputs(
        input_emb, output_emb, targets, weights)
    weights = jnp.asarray(weights, input_emb.dtype)
    stored = weights[..., :, None] * output_emb[targets]
    return jnp.einsum("...nd,ne->...de", stored, input_emb, precision=_HIGHEST)


def choose_route(num_inputs: int, num_outputs: int, dim: int) -> str:
    """The cheaper exact route ('tokens' or 'matrix') by multiply-add count."""
    tokens = num_outputs * num_outputs * dim + 2 * num_inputs * dim * num_outputs
    matrix = 2 * num_inputs * dim * dim + 2 * dim * dim * num_outputs
    return "tokens" if tokens <= matrix else "matrix"


def right_factor(input_emb: Float[Array, "N d"], output_emb: Float[Array, "M d"],
                 targets: Int[Array, " N"], weights: Float[Array, "*batch N"],
                 route: str = "auto") -> Float[Array, "*batch d M"]:
    """R (..., d, M) such that scores = input_emb @ R, by the chosen route (unchecked)."""
    num_inputs, dim = input_emb.shape
    num_outputs = output_emb.shape[0]
    if route == "auto":
        route = choose_route(num_inputs, num_outputs, dim)
    weights = weights.astype(input_emb.dtype)
    if route == "tokens":
        gram = jnp.matmul(output_emb, output_emb.T, precision=_HIGHEST)
        stored = weights[..., :, None] * gram[targets]  # (..., N, M)
        return jnp.einsum("nd,...nm->...dm", input_emb, stored, precision=_HIGHEST)
    stored = weights[..., :, None] * output_emb[targets]  # (..., N, d)
    mem = jnp.einsum("...nd,ne->...de", stored, input_emb, precision=_HIGHEST)  # W
    return jnp.einsum("...de,md->...em", mem, output_emb, precision=_HIGHEST)


def scores(input_emb: Real[ArrayLike, "N d"], output_emb: Real[ArrayLike, "M d"],
           targets: Int[ArrayLike, " N"], weights: Real[ArrayLike, "*batch N"],
           route: str = "auto") -> Float[Array, "*batch N M"]:
    """score(x, y) = u_yᵀ W e_x for every token and output, shape (..., N, M)."""
    _checks.choice("route", route, ROUTES)
    input_emb, output_emb, targets, weights, _ = _check_inputs(
        input_emb, output_emb, targets, weights)
    factor = right_factor(input_emb, output_emb, targets, jnp.asarray(weights), route)
    return jnp.einsum("nd,...dm->...nm", input_emb, factor, precision=_HIGHEST)


def predictions(input_emb: Real[ArrayLike, "N d"], output_emb: Real[ArrayLike, "M d"],
                targets: Int[ArrayLike, " N"], weights: Real[ArrayLike, "*batch N"],
                route: str = "auto") -> Int[Array, "*batch N"]:
    """f_W(x) = argmax_y score(x, y), ties to the lowest y, shape (..., N)."""
    _checks.choice("route", route, ROUTES)
    input_emb, output_emb, targets, weights, _ = _check_inputs(
        input_emb, output_emb, targets, weights)
    input_emb = jnp.asarray(input_emb)
    factor = right_factor(input_emb, jnp.asarray(output_emb), jnp.asarray(targets),
                          _scale_free(weights, input_emb.dtype), route)
    return jnp.argmax(jnp.einsum("nd,...dm->...nm", input_emb, factor, precision=_HIGHEST),
                      axis=-1)


def _token_chunks(per_chunk, input_emb, targets, probs, factor, chunk_size):
    """Applies per_chunk(emb, targets, probs, factor) -> (..., c) over token chunks."""
    num_inputs = input_emb.shape[0]
    if chunk_size is None:
        batch = int(np.prod(factor.shape[:-2])) * factor.shape[-1]
        chunk_size = max(1, SCORE_CHUNK_ENTRIES // max(batch, 1))
    if chunk_size >= num_inputs:
        return per_chunk(input_emb, targets, probs, factor)
    pad = -num_inputs % chunk_size
    # Padded tokens have probability 0, so they add nothing to any error.
    chunked = [jnp.pad(a, [(0, pad)] + [(0, 0)] * (a.ndim - 1)).reshape(
        (-1, chunk_size) + a.shape[1:]) for a in (input_emb, targets, probs)]
    out = jax.lax.map(lambda args: per_chunk(*args, factor), tuple(chunked))
    out = jnp.moveaxis(out, 0, -2)
    return out.reshape(out.shape[:-2] + (-1,))[..., :num_inputs]


def _wrong_mass(emb, targets, probs, factor):
    chunk_scores = jnp.einsum("nd,...dm->...nm", emb, factor, precision=_HIGHEST)
    wrong = jnp.argmax(chunk_scores, axis=-1) != targets
    return jnp.where(wrong, probs.astype(chunk_scores.dtype), 0.0)


def _margin(emb, targets, probs, factor):
    del probs
    chunk_scores = jnp.einsum("nd,...dm->...nm", emb, factor, precision=_HIGHEST)
    is_target = jnp.arange(chunk_scores.shape[-1]) == targets[:, None]
    correct = jnp.sum(jnp.where(is_target, chunk_scores, 0.0), axis=-1)
    others = jnp.max(jnp.where(is_target, -jnp.inf, chunk_scores), axis=-1)
    return correct - others


def wrong_mass(input_emb: Float[Array, "N d"], output_emb: Float[Array, "M d"],
               targets: Int[Array, " N"], weights: Float[Array, "*batch N"],
               probs: Float[Array, " N"], *, route="auto",
               chunk_size=None) -> Float[Array, "*batch N"]:
    """p(x) · 1[f_W(x) ≠ f*(x)] per token, shape (..., N) (unchecked, jit-friendly)."""
    factor = right_factor(input_emb, output_emb, targets, weights, route)
    return wrong_mass_from_factor(input_emb, targets, probs, factor, chunk_size)


def wrong_mass_from_factor(input_emb, targets, probs, factor, chunk_size=None):
    """p(x) · 1[argmax_y (input_emb @ factor)[x, y] ≠ f*(x)], shape (..., N) (unchecked)."""
    return _token_chunks(_wrong_mass, input_emb, targets, probs, factor, chunk_size)


def error(input_emb: Real[ArrayLike, "N d"], output_emb: Real[ArrayLike, "M d"],
          targets: Int[ArrayLike, " N"], weights: Real[ArrayLike, "*batch N"],
          probs: Real[ArrayLike, " N"], *, route: str = "auto",
          chunk_size: int | None = None) -> Float[Array, "*batch"]:
    """Exact population 0-1 error Σ_x p(x) 1[f_W(x) ≠ f*(x)], shape (...) of the weights' batch.

    Summed over wrong tokens, never as 1 − accuracy (which loses small errors in float32).

    Args:
      input_emb: (N, d). output_emb: (M, d). targets: (N,) ints in [0, M).
      weights: (..., N) non-negative q (any positive scale per vector).
      probs: (N,) p, summing to 1 (within N·eps of its dtype).
      route: 'auto' (cheapest), 'tokens' or 'matrix'.
      chunk_size: tokens scored at once (None: sized to keep scores under 64 MiB).
    """
    _checks.choice("route", route, ROUTES)
    if chunk_size is not None:
        chunk_size = _checks.int_at_least("chunk_size", chunk_size, 1)
    input_emb, output_emb, targets, weights, probs = _check_inputs(
        input_emb, output_emb, targets, weights, probs)
    input_emb = jnp.asarray(input_emb)
    mass = wrong_mass(input_emb, jnp.asarray(output_emb), jnp.asarray(targets),
                      _scale_free(weights, input_emb.dtype), jnp.asarray(probs),
                      route=route, chunk_size=chunk_size)
    return jnp.sum(mass, axis=-1)


def margins(input_emb: Real[ArrayLike, "N d"], output_emb: Real[ArrayLike, "M d"],
            targets: Int[ArrayLike, " N"], weights: Real[ArrayLike, "*batch N"], *,
            route: str = "auto", chunk_size: int | None = None) -> Float[Array, "*batch N"]:
    """score(x, f*(x)) − max_{y ≠ f*(x)} score(x, y) per token, shape (..., N).

    Positive where the token is recalled; +inf when M = 1 (no competitor).
    """
    _checks.choice("route", route, ROUTES)
    # Unchecked, chunk_size=0 would reach a modulo by zero in the chunking.
    if chunk_size is not None:
        chunk_size = _checks.int_at_least("chunk_size", chunk_size, 1)
    input_emb, output_emb, targets, weights, _ = _check_inputs(
        input_emb, output_emb, targets, weights)
    factor = right_factor(input_emb, output_emb, targets, jnp.asarray(weights), route)
    dummy = jnp.zeros(input_emb.shape[0], input_emb.dtype)
    return _token_chunks(_margin, input_emb, targets, dummy, factor, chunk_size)


def head_tail_error(input_emb: Real[ArrayLike, "N d"], output_emb: Real[ArrayLike, "M d"],
                    targets: Int[ArrayLike, " N"], weights: Real[ArrayLike, "*batch N"],
                    probs: Real[ArrayLike, " N"], head: int, *, route: str = "auto",
                    ) -> tuple[Float[Array, "*batch"], Float[Array, "*batch"]]:
    """The error split into the head (tokens x < head) and the tail (x >= head).

    The two parts sum to `error`. Tokens are assumed sorted by frequency (as Zipf's are).
    """
    head = _checks.int_at_least("head", head, 0)
    _checks.choice("route", route, ROUTES)
    input_emb, output_emb, targets, weights, probs = _check_inputs(
        input_emb, output_emb, targets, weights, probs)
    input_emb = jnp.asarray(input_emb)
    mass = wrong_mass(input_emb, jnp.asarray(output_emb), jnp.asarray(targets),
                      _scale_free(weights, input_emb.dtype), jnp.asarray(probs), route=route)
    return jnp.sum(mass[..., :head], axis=-1), jnp.sum(mass[..., head:], axis=-1)
