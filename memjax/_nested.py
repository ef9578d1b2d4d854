"""Exact errors of a batch of weights at every d of a nested capacity grid, for one seed.

Four exact routes; the first three hold a seed's whole draw in memory and are picked per
configuration by flop count (`costs`), the fourth when they exceed the memory
budget:
  * 'tokens': scores = E (Eᵀ Z) with Z = diag(q) C[f*] (C = U Uᵀ, M × M): ~4NdQM per d;
  * 'gram':   scores = G_d Z with the N × N Gram G_d = E_d E_dᵀ: ~2N²(d + QM) per d,
              cheapest when N is small;
  * 'matrix': through W itself (`memjax.retrieval`), for M ≳ d;
  * 'stream': tokens in chunks, drawn on the fly twice per d (embeddings are keyed by
              row block, `embeddings.draw_blocks`): first A = Σ_x q(x) e_x 1[f*(x)]ᵀ
              (d × M per weight vector), then the scores e_xᵀ (A C) chunk by chunk. Memory
              O(QdM + chunk), whatever N: for N up to 10⁶ and beyond.
The argmax over y is invariant to a positive scale of a token's scores, so the 1/√d of
`gaussian` inputs and the left factor 1/‖e_x‖ of `sphere` inputs are never applied; the
right factor 1/‖e_x'‖ of `sphere` inputs is folded into Z.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from memjax import embeddings, retrieval

ROUTES = ("auto", "tokens", "gram", "matrix", "stream")
# Above this many outputs the streamed route scatters q(x) e_x into A by target; below, a
# product with the one-hot targets is faster.
_SCATTER_OUTPUTS = 64
_HIGHEST = jax.lax.Precision.HIGHEST


def working_floats(route, num_inputs, num_outputs, dims, num_weights,
                   token_chunk=None) -> int:
    """Floats one seed's scoring holds at its peak, by route (an upper estimate)."""
    n, m, q, num_dims = num_inputs, num_outputs, num_weights, len(dims)
    if route == "stream":
        return stream_fixed_floats(m, dims, q) + (token_chunk or 1) * stream_token_floats(
            m, dims, q)
    if route == "gram":
        return num_dims * (n * n + 3 * q * n * m)
    if route == "matrix":
        return max(q * (n * max(dims) + 3 * max(dims) ** 2 + 3 * n * m) for _ in dims)
    return 4 * q * n * m + n * max(dims)


def costs(num_inputs, num_outputs, dims, num_weights) -> dict[str, int]:
    """Flops (2 per multiply-add) per seed of each route (Q = num_weights per d)."""
    n, m, q = num_inputs, num_outputs, num_weights
    return {
        "tokens": sum(4 * n * d * q * m + m * m * d for d in dims),
        "gram": sum(2 * n * n * d + 2 * n * n * q * m + m * m * d for d in dims),
        "matrix": sum(2 * q * n * d * d + 2 * q * d * d * m + 2 * q * n * d * m
                      for d in dims),
    }


def choose(num_inputs, num_outputs, dims, num_weights) -> str:
    """The in-memory route with the fewest multiply-adds."""
    table = costs(num_inputs, num_outputs, dims, num_weights)
    return min(table, key=table.get)


def stream_fixed_floats(num_outputs, dims, num_weights) -> int:
    """Floats the streamed route holds whatever the chunk: U and, for every d, C and A,
    A·C."""
    m, q = num_outputs, num_weights
    # C = U Uᵀ is formed only when M ≤ 2d
    per_dim = sum((m * m if m <= 2 * d else 0) + 3 * q * d * m for d in dims)
    return 2 * m * max(dims) + per_dim


def stream_token_floats(num_outputs, dims, num_weights) -> int:
    """Floats the streamed route holds per token of a chunk."""
    d, m, q = max(dims), num_outputs, num_weights
    scatter = q * d if m > _SCATTER_OUTPUTS else q * m
    return 2 * d + 2 * q * m + scatter + 4


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
            out.append(_wrong_columns(head, targets, probs, factor, chunk))
        return jnp.stack(out)
    input_grams = _input_grams(in_cols, dims)
    stored = weights[..., None] * jnp.stack(grams)[:, targets][:, None]  # Z: (D, Q, N, M)
    if input_kind == "sphere":
        inv_norm = jax.lax.rsqrt(jnp.diagonal(input_grams, axis1=-2, axis2=-1))
        stored = stored * inv_norm[:, None, :, None]
    scores = jnp.einsum("dxz,dqzm->dqxm", input_grams, stored, precision=_HIGHEST)
    wrong = jnp.argmax(scores, axis=-1) != targets
    return jnp.sum(jnp.where(wrong, probs.astype(scores.dtype), 0.0), axis=-1)


def _wrong_columns(head, targets, probs, factor, chunk):
    """Σ_x p(x)·1[wrong], (Q,), from head (d, N) and factor (d, Q, M), `chunk` tokens at
    a time. Scores are laid out (Q, M, tokens): contracting the leading d of both
    operands ran 1.3× faster on CPU than (tokens, d) @ (d, Q·M), which transposes E."""
    def part(cols, tgt, prob):
        scores = jnp.einsum("dqm,dn->qmn", factor, cols, precision=_HIGHEST)
        wrong = jnp.argmax(scores, axis=1) != tgt
        return jnp.sum(jnp.where(wrong, prob.astype(scores.dtype), 0.0), axis=-1)

    num_inputs = head.shape[1]
    if chunk >= num_inputs:
        return part(head, targets, probs)
    pad = -num_inputs % chunk
    # Padded tokens have probability 0: they add nothing.
    cols = jnp.pad(head, ((0, 0), (0, pad))).reshape(head.shape[0], -1, chunk)
    tgt, prob = (jnp.pad(a, (0, pad)).reshape(-1, chunk) for a in (targets, probs))
    return jnp.sum(jax.lax.map(lambda a: part(*a), (jnp.moveaxis(cols, 1, 0), tgt, prob)),
                   axis=0)


def _input_grams(in_cols, dims):
    """Raw Grams E_d E_dᵀ (unscaled), (D, N, N). Each is computed from its own prefix, not
    accumulated across the grid, so G_d does not depend on which other d are swept."""
    return jnp.stack([jnp.matmul(c[:d].T, c[:d], precision=_HIGHEST)
                      for d, c in zip(dims, in_cols)])


def streamed_wrong_mass(key, num_inputs, num_outputs, dims, weights, targets, probs, *,
                        input_kind, output_kind, token_chunk, nested=True, kept_chunks=0):
    """Per-(d, weight vector) error, (D, Q), drawing the embeddings chunk by chunk.

    Nested: each token chunk is drawn once at d_max and serves every d (its first d
    coordinates); pass 1 accumulates A_d for all d, pass 2 scores against A_d·C_d, reading
    the first `kept_chunks` chunks from pass 1's draws and drawing the others again.

    Args:
      key: the seed's embeddings key (rows :N inputs, N:N+M outputs, as in
        `embeddings.draw_columns(key, N + M, d)`; per d fold_in(key, d) if not nested).
      num_inputs, num_outputs: N, M. dims: D static dimensions.
      weights: (D, Q, N). targets: (N,). probs: (N,).
      token_chunk: tokens per chunk, a multiple of the draw's block size.
      kept_chunks: chunks whose pass-1 draw is held for pass 2 (nested only).
    """
    n, m = num_inputs, num_outputs
    size = embeddings.block_size(n + m)
    if token_chunk % size:
        raise ValueError(f"token_chunk must be a multiple of {size} for the streamed "
                         f"route; got {token_chunk}.")
    per_chunk = token_chunk // size
    num_chunks = -(-n // token_chunk)
    kept = min(kept_chunks, num_chunks) if nested else 0
    pad = num_chunks * token_chunk - n
    # Padded tokens carry weight 0 and probability 0: they add nothing to A or the error.
    weights = jnp.pad(weights, [(0, 0), (0, 0), (0, pad)])
    targets = jnp.pad(targets, (0, pad))
    probs = jnp.pad(probs, (0, pad))
    first_out, skip = divmod(n, size)
    out_blocks = -(-(skip + m) // size)
    # Nested: one key and one draw width for every d; else per d its own key and width.
    groups = [(key, max(dims), tuple(range(len(dims))))] if nested else [
        (jax.random.fold_in(key, d), d, (i,)) for i, d in enumerate(dims)]
    mass = [None] * len(dims)
    for group_key, width, members in groups:
        out_rows = embeddings.draw_blocks(group_key, first_out, out_blocks, size, width)
        draw = lambda j, k=group_key, w=width: embeddings.draw_blocks(
            k, j * per_chunk, per_chunk, size, w)
        parts = _stream_passes(draw, [dims[i] for i in members], [weights[i] for i in members],
                               targets, probs, out_rows[:, skip:skip + m], num_chunks,
                               token_chunk, kept, input_kind, output_kind)
        for i, part in zip(members, parts):
            mass[i] = part
    return jnp.stack(mass)


def _stream_passes(draw, dims, weights, targets, probs, out_cols, num_chunks,
                   token_chunk, kept, input_kind, output_kind):
    """Both passes over the token chunks for dims sharing one draw `draw(j)` ((≥ d, c)
    standard normals of chunk j), with `weights` a list of (Q, N) per d: (D, Q) masses."""
    m = out_cols.shape[1]
    num_weights = weights[0].shape[0]
    outputs = [embeddings.restrict(out_cols[:d].T, d, output_kind) for d in dims]
    rows = lambda a, j: jax.lax.dynamic_slice_in_dim(a, j * token_chunk, token_chunk,
                                                     axis=a.ndim - 1)

    def accumulate(j, cols, stored):
        tgt = rows(targets, j)
        onehot = None if m > _SCATTER_OUTPUTS else jax.nn.one_hot(tgt, m, dtype=cols.dtype)
        new = []
        for i, (dim, a) in enumerate(zip(dims, stored)):
            head = cols[:dim]
            w = rows(weights[i], j)
            if input_kind == "sphere":
                w = w * jax.lax.rsqrt(jnp.sum(head * head, axis=0))
            if onehot is None:
                part = jax.ops.segment_sum(jnp.moveaxis(w[:, :, None] * head.T[None], 1, 0),
                                           tgt, m)  # (M, Q, d)
                new.append(a + jnp.transpose(part, (1, 2, 0)))
            else:
                new.append(a + jnp.einsum("dc,qcm->qdm", head, w[:, :, None] * onehot,
                                          precision=_HIGHEST))
        return tuple(new)

    def keep(stored, j):
        cols = draw(j)
        return accumulate(j, cols, stored), cols

    zeros = tuple(jnp.zeros((num_weights, d, m), out_cols.dtype) for d in dims)
    stored, held = jax.lax.scan(keep, zeros, jnp.arange(kept)) if kept else (zeros, None)
    stored = jax.lax.fori_loop(kept, num_chunks, lambda j, s: accumulate(j, draw(j), s),
                               stored)
    factors = []
    for a, output_emb, dim in zip(stored, outputs, dims):
        # A·C with C = U Uᵀ, through whichever side is cheaper.
        if m <= 2 * dim:
            factors.append(jnp.einsum("qdm,mk->qdk", a, jnp.matmul(
                output_emb, output_emb.T, precision=_HIGHEST), precision=_HIGHEST))
        else:
            factors.append(jnp.einsum("qdm,me,ke->qdk", a, output_emb, output_emb,
                                      precision=_HIGHEST))

    def score(j, cols, mass):
        tgt, prob = rows(targets, j), rows(probs, j)
        new = []
        for dim, factor, total in zip(dims, factors, mass):
            scores = jnp.einsum("dc,qdm->qcm", cols[:dim], factor, precision=_HIGHEST)
            wrong = jnp.argmax(scores, axis=-1) != tgt
            new.append(total + jnp.sum(jnp.where(wrong, prob.astype(scores.dtype), 0.0),
                                       axis=-1))
        return tuple(new)

    mass = tuple(jnp.zeros((num_weights,), out_cols.dtype) for _ in dims)
    if kept:
        mass = jax.lax.fori_loop(0, kept, lambda j, s: score(j, held[j], s), mass)
    mass = jax.lax.fori_loop(kept, num_chunks, lambda j, s: score(j, draw(j), s), mass)
    return mass
