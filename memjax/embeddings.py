"""Embeddings: random vectors e_x (inputs) and u_y (outputs) in R^d.

Two laws, for inputs and outputs separately:
  * ``gaussian``: i.i.d. N(0, 1/d) entries (so ||e|| ≈ 1);
  * ``sphere``: uniform on the unit sphere of R^d.

Capacity grids are nested: one standard Gaussian `base` of width d_max is drawn per seed
and the d-dimensional embeddings are its first d coordinates, scaled at dimension d
(`restrict`), so every d has exactly the declared law while all d share randomness.
Columns of `base` are keyed by their index, so the first d columns do not depend on d_max.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from memjax import _checks
from memjax._random import fast_bits

KINDS = ("gaussian", "sphere")


@fast_bits
def draw_columns(key: jax.Array, num_vectors: int, max_dim: int) -> jax.Array:
    """The transpose of `draw_base`, (max_dim, num_vectors): row k is coordinate k of
    every vector, so the first d rows (a contiguous prefix) are the d-dim draw."""
    num_vectors = _checks.int_at_least("num_vectors", num_vectors, 1)
    max_dim = _checks.int_at_least("max_dim", max_dim, 1)
    dtype = jnp.result_type(float)
    column = lambda k: jax.random.normal(jax.random.fold_in(key, k), (num_vectors,), dtype)
    return jax.vmap(column)(jnp.arange(max_dim, dtype=jnp.uint32))


def draw_base(key: jax.Array, num_vectors: int, max_dim: int) -> jax.Array:
    """Standard normal (num_vectors, max_dim) draw whose column k depends only on (key, k)."""
    return draw_columns(key, num_vectors, max_dim).T


def restrict(base: jax.Array, dim: int, kind: str) -> jax.Array:
    """Embeddings of dimension `dim` from the first `dim` columns of a standard draw.

    Args:
      base: (num_vectors, max_dim) standard normal draw, max_dim >= dim.
      dim: d, static.
      kind: 'gaussian' (divide by √d) or 'sphere' (normalise each row in R^d).

    Returns:
      (num_vectors, dim) embeddings.
    """
    _checks.choice("kind", kind, KINDS)
    dim = _checks.int_at_least("dim", dim, 1)
    if dim > base.shape[-1]:
        _checks.fail("dim", dim, f"at most the base width {base.shape[-1]}")
    head = base[..., :dim]
    if kind == "gaussian":
        return head * (1.0 / jnp.sqrt(jnp.asarray(dim, head.dtype)))
    # A zero row has probability 0 for a Gaussian draw; guard it anyway, no NaN.
    norm = jnp.linalg.norm(head, axis=-1, keepdims=True)
    return head / jnp.where(norm > 0, norm, 1.0)


def embeddings(key: jax.Array, num_vectors: int, dim: int, kind: str) -> jax.Array:
    """An independent draw of `num_vectors` embeddings of law `kind` in R^dim."""
    return restrict(draw_base(key, num_vectors, dim), dim, kind)
