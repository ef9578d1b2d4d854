"""Exact errors of a batch of weights at every d of a nested capacity grid, for one seed.

Three exact routes, picked per configuration by multiply-add count (`costs`):
  * 'tokens': scores = E (Eᵀ Z) with Z = diag(q) C[f*] (C = U Uᵀ, M × M): ~4NdQM per d;
  * 'gram':   scores = G_d Z with the N × N Gram G_d = E_d E_dᵀ: ~2N²(d + QM) per d,
              cheapest when N is small;
  * 'matrix': through W itself (`memjax.retrieval`), for M ≳ d.
The argmax over y is invariant to a positive scale of a token's scores, so the 1/√d of
`gaussian` inputs and the left factor 1/‖e_x‖ of `sphere` inputs are never applied; the
right factor 1/‖e_x'‖ of `sphere` inputs is folded into Z.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from memjax import embeddings, retrieval

ROUTES = ("auto", "tokens", "gram", "matrix")
_HIGHEST = jax.lax.Precision.HIGHEST


def working_floats(route, num_inputs, num_outputs, dims, num_weights) -> int:
    """Floats one seed's scoring holds at its peak, by route (an upper estimate)."""
    n, m, q, num_dims = num_inputs, num_outputs, num_weights, len(dims)
    if route == "gram":
        return num_dims * (n * n + 3 * q * n * m)
    if route == "matrix":
        return max(q * (n * max(dims) + 3 * max(dims) ** 2 + 3 * n * m) for _ in dims)
    return 4 * q * n * m + n * max(dims)


def costs(num_inputs, num_outputs, dims, num_weights) -> dict[str, int]:
    """Multiply-adds of each route for one seed (Q = num_weights vectors per d)."""
    n, m, q = num_inputs, num_outputs, num_weights
    return {
        "tokens": sum(4 * n * d * q * m + m * m * d for d in dims),
        "gram": sum(2 * n * n * d + 2 * n * n * q * m + m * m * d for d in dims),
        "matrix": sum(2 * q * n * d * d + 2 * q * d * d * m + 2 * q * n * d * m
                      for d in dims),
    }


def choose(num_inputs, num_outputs, dims, num_weights) -> str:
    table = costs(num_inputs, num_outputs, dims, num_weights)
    return min(table, key=table.get)


def _output_gram(out_cols, dim, kind):
    output_emb = embeddings.restrict(out_cols[:dim].T, dim, kind)
    return jnp.matmul(output_emb, output_emb.T, precision=_HIGHEST)


def wrong_mass(route, in_cols, out_cols, dims, weights, targets, probs, *,
               input_kind, output_kind, token_chunk=None):
    """Per-(d, weight vector) error, shape (D, Q).

    Args:
      route: 'tokens', 'gram' or 'matrix'.
      in_cols: a list of D (≥ d, N) standard normal column draws, one per d (the same
        array D times when nested). out_cols: likewise (≥ d, M).
      dims: D static dimensions. weights: (D, Q, N). targets: (N,). probs: (N,).
      input_kind, output_kind: 'gaussian' or 'sphere'.
    """
    if route == "matrix":
        return jnp.stack([jnp.sum(retrieval.wrong_mass(
            embeddings.restrict(ic[:d].T, d, input_kind),
            embeddings.restrict(oc[:d].T, d, output_kind), targets, w, probs,
            route="matrix", chunk_size=token_chunk), axis=-1)
            for d, ic, oc, w in zip(dims, in_cols, out_cols, weights)])
    grams = [_output_gram(oc, d, output_kind) for d, oc in zip(dims, out_cols)]
    if route == "tokens":
        out = []
        for i, (dim, cols) in enumerate(zip(dims, in_cols)):
            head = cols[:dim]
            z = weights[i][:, :, None] * grams[i][targets]  # Z: (Q, N, M)
            if input_kind == "sphere":
                z = z * jax.lax.rsqrt(jnp.sum(head * head, axis=0))[:, None]
            # (d, N) @ (N, Q·M): one wide product instead of Q skinny ones.
            factor = jnp.einsum("dn,qnm->dqm", head, z, precision=_HIGHEST)
            chunk = token_chunk or max(1, retrieval.SCORE_CHUNK_ENTRIES // factor[0].size)
            mass = retrieval._token_chunks(_wrong_flat, head.T, targets, probs, factor,
                                           chunk)
            out.append(jnp.sum(mass, axis=-1))
        return jnp.stack(out)
    input_grams = _input_grams(in_cols, dims)
    stored = weights[..., None] * jnp.stack(grams)[:, targets][:, None]  # Z: (D, Q, N, M)
    if input_kind == "sphere":
        inv_norm = jax.lax.rsqrt(jnp.diagonal(input_grams, axis1=-2, axis2=-1))
        stored = stored * inv_norm[:, None, :, None]
    scores = jnp.einsum("dxz,dqzm->dqxm", input_grams, stored, precision=_HIGHEST)
    wrong = jnp.argmax(scores, axis=-1) != targets
    return jnp.sum(jnp.where(wrong, probs.astype(scores.dtype), 0.0), axis=-1)


def _wrong_flat(emb, targets, probs, factor):
    """p(x)·1[wrong] for a token chunk, (Q, c), from emb (c, d) and factor (d, Q, M)."""
    scores = jnp.einsum("nd,dqm->nqm", emb, factor, precision=_HIGHEST)
    wrong = jnp.argmax(scores, axis=-1) != targets[:, None]
    return jnp.where(wrong, probs[:, None].astype(scores.dtype), 0.0).T


def _input_grams(in_cols, dims):
    """Raw Grams E_d E_dᵀ (unscaled), (D, N, N). Each is computed from its own prefix, not
    accumulated across the grid, so G_d does not depend on which other d are swept."""
    return jnp.stack([jnp.matmul(c[:d].T, c[:d], precision=_HIGHEST)
                      for d, c in zip(dims, in_cols)])
