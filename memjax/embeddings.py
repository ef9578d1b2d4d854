"""Embeddings: random vectors e_x (inputs) and u_y (outputs) in R^d.

Two laws, for inputs and outputs separately:
  * ``gaussian``: i.i.d. N(0, 1/d) entries (so ||e|| ≈ 1);
  * ``sphere``: uniform on the unit sphere of R^d.

Capacity grids are nested: one standard Gaussian `base` of width d_max is drawn per seed
and the d-dimensional embeddings are its first d coordinates, scaled at dimension d
(`restrict`), so every d has exactly the declared law while all d share randomness. The
authors' released code instead scaled at d_max and then truncated (`rule="truncate"`):
truncated `sphere` rows then have unequal norms, below 1, at small d.
Coordinates are keyed by their index (and rows by their block of `ROW_BLOCK`), so the
first d coordinates do not depend on d_max, and a block of rows can be drawn on its own.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxtyping import Array, ArrayLike, Float, Key

from memjax import _checks
from memjax._random import fast_bits

KINDS = ("gaussian", "sphere")
# How a d_max-wide draw gives d-dim embeddings: scaled at d (memjax), or scaled at d_max
# and then truncated (the authors' released code).
RULES = ("rescale", "truncate")


# Vectors are drawn in blocks of ROW_BLOCK rows, each coordinate k of each block b from
# its own key fold_in(key, k·2^16 + b): a block's values do not depend on how many vectors
# or coordinates are drawn, so huge draws can be made block by block (token streaming).
ROW_BLOCK = 1024
_MAX_BLOCKS = 1 << 16


def block_size(num_vectors: int) -> int:
    """Rows per block for a draw of `num_vectors` (one short block when it is small)."""
    return min(ROW_BLOCK, num_vectors)


@fast_bits
def draw_blocks(key: Key[Array, ""], first_block: int, num_blocks: int, size: int,
                max_dim: int) -> Float[Array, "max_dim rows"]:
    """Coordinates 0..max_dim-1 of the rows of blocks first_block.. of a draw whose block
    size is `size`: shape (max_dim, num_blocks·size). `first_block` may be traced."""
    dtype = jnp.result_type(float)
    blocks = first_block + jnp.arange(num_blocks, dtype=jnp.uint32)
    coords = jnp.arange(max_dim, dtype=jnp.uint32)
    index = ((coords[:, None] << 16) + blocks[None, :]).reshape(-1)
    cell = lambda i: jax.random.normal(jax.random.fold_in(key, i), (size,), dtype)
    return jax.vmap(cell)(index).reshape(max_dim, num_blocks * size)


def draw_columns(key: Key[Array, ""], num_vectors: int,
                 max_dim: int) -> Float[Array, "max_dim num_vectors"]:
    """The transpose of `draw_base`, (max_dim, num_vectors): row k is coordinate k of
    every vector, so the first d rows (a contiguous prefix) are the d-dim draw."""
    return _draw(key, *_draw_shape(key, num_vectors, max_dim), transpose=False)


def draw_base(key: Key[Array, ""], num_vectors: int,
              max_dim: int) -> Float[Array, "num_vectors max_dim"]:
    """Standard normal (num_vectors, max_dim) draw whose column k depends only on (key, k)."""
    return _draw(key, *_draw_shape(key, num_vectors, max_dim), transpose=True)


def _draw_shape(key, num_vectors, max_dim) -> tuple[int, int]:
    _checks.key("key", key)
    num_vectors = _checks.int_at_least("num_vectors", num_vectors, 1)
    max_dim = _checks.int_at_least("max_dim", max_dim, 1)
    if -(-num_vectors // block_size(num_vectors)) > _MAX_BLOCKS or max_dim > _MAX_BLOCKS:
        _checks.fail("num_vectors, max_dim", (num_vectors, max_dim),
                     f"at most {_MAX_BLOCKS * ROW_BLOCK} vectors and {_MAX_BLOCKS} "
                     "dimensions")
    return num_vectors, max_dim


# One compiled program per shape, not one per operation when called eagerly (0.65 → 0.35 s
# for (1000, 512)); the same bits as op by op (tests/test_embeddings.py).
@functools.partial(jax.jit, static_argnames=("num_vectors", "max_dim", "transpose"))
def _draw(key, num_vectors, max_dim, transpose):
    size = block_size(num_vectors)
    columns = draw_blocks(key, 0, -(-num_vectors // size), size, max_dim)[:, :num_vectors]
    return columns.T if transpose else columns


def restrict(base: Float[ArrayLike, "num_vectors max_dim"], dim: int, kind: str,
             rule: str = "rescale") -> Float[Array, "num_vectors d"]:
    """Embeddings of dimension `dim` from the first `dim` columns of a standard draw.

    Args:
      base: (num_vectors, max_dim) standard normal draw, max_dim >= dim.
      dim: d, static.
      kind: 'gaussian' (divide by √d) or 'sphere' (normalise each row in R^d).
      rule: 'rescale' (default): the first d columns, scaled at d, so every d has the
        declared law; 'truncate' (the authors' released code): every row scaled at the
        base width max_dim, then its first d columns (`sphere` rows then have norms
        below 1 that differ from row to row at small d; `gaussian` entries are
        N(0, 1/max_dim)).

    Returns:
      (num_vectors, dim) embeddings.
    """
    _checks.choice("kind", kind, KINDS)
    _checks.choice("rule", rule, RULES)
    dim = _checks.int_at_least("dim", dim, 1)
    base = jnp.asarray(base)
    if dim > base.shape[-1]:
        _checks.fail("dim", dim, f"at most the base width {base.shape[-1]}")
    if rule == "truncate":
        return _scaled(base, kind)[..., :dim]
    return _scaled(base[..., :dim], kind)


def _scaled(rows, kind):
    """`rows` scaled at their own width: by 1/√width ('gaussian') or to unit norm."""
    if kind == "gaussian":
        return rows * (1.0 / jnp.sqrt(jnp.asarray(rows.shape[-1], rows.dtype)))
    # A zero row has probability 0 for a Gaussian draw; guard it anyway, no NaN.
    norm = jnp.linalg.norm(rows, axis=-1, keepdims=True)
    return rows / jnp.where(norm > 0, norm, 1.0)


def embeddings(key: Key[Array, ""], num_vectors: int, dim: int,
               kind: str) -> Float[Array, "num_vectors dim"]:
    """An independent draw of `num_vectors` embeddings of law `kind` in R^dim."""
    return restrict(draw_base(key, num_vectors, dim), dim, kind)
