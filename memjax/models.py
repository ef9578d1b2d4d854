"""Models: associative memories whose parameters are learned by gradient descent.

| kind          | logits for input x                | trained   |
|---------------|-----------------------------------|-----------|
| 'matrix'      | U · LN?(W e_x)                    | W         |
| 'learnable'   | U · LN?(W e_x)                    | W, E, U   |
| 'exponential' | U · LN?(ReLU(e_x))                | E, U      |

E (N × d) holds the input embeddings e_x as rows, U (M × d) the output embeddings u_y;
W is d × d. LN(z) = z / √(‖z‖² + 1e−6) (no gain, bias or centring). The loss is the
cross-entropy on the M logits, averaged over the batch (or weighted by p(x) for the
population loss). Predictions are argmax_y logits (ties: lowest y); the optional LN is a
positive rescaling of a token's logits, so it never changes them and the error is
computed without it.

A model's randomness comes from the run key by stable roles (`fold_in`): embeddings (0),
data (1), targets (2) — the same roles as `memjax.sweep`, so a seed sees the same token
stream and embedding draw there — and W's initialisation (3).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax

from memjax import _checks, embeddings, retrieval
from memjax._random import fast_bits

KINDS = ("matrix", "learnable", "exponential")
INITS = ("gaussian", "zero")
LN_EPS = 1e-6
EMBEDDINGS, DATA, TARGETS, INIT = 0, 1, 2, 3
_HIGHEST = jax.lax.Precision.HIGHEST


@dataclasses.dataclass(frozen=True)
class Model:
    """Static description of a model (hashable).

    Attributes:
      kind: 'matrix', 'learnable' or 'exponential'.
      layer_norm: apply LN to W e_x (or ReLU(e_x)) before the output embeddings.
      init: W's initialisation, 'gaussian' (N(0, 1/d) entries, the paper's) or 'zero'.
      input_embedding, output_embedding: laws of E and U ('gaussian': N(0, 1/d)
        entries, the paper's training setting; or 'sphere').
    """

    kind: str = "matrix"
    layer_norm: bool = False
    init: str = "gaussian"
    input_embedding: str = "gaussian"
    output_embedding: str = "gaussian"

    def __post_init__(self):
        _checks.choice("model kind", self.kind, KINDS)
        _checks.choice("layer_norm", self.layer_norm, (False, True))
        _checks.choice("init", self.init, INITS)
        _checks.choice("input_embedding", self.input_embedding, embeddings.KINDS)
        _checks.choice("output_embedding", self.output_embedding, embeddings.KINDS)

    @property
    def trained(self) -> tuple[str, ...]:
        """Names of the trained parameters."""
        return {"matrix": ("W",), "learnable": ("W", "E", "U"),
                "exponential": ("E", "U")}[self.kind]


def parse(model) -> Model:
    return model if isinstance(model, Model) else Model(kind=model)


@fast_bits  # the same threefry layout as every other memjax draw
def draw(key, num_inputs: int, num_outputs: int, dim: int, *,
         input_embedding: str = "gaussian", output_embedding: str = "gaussian"):
    """A run's random arrays (E (N, d), U (M, d), W₀ (d, d) with N(0, 1/d) entries).

    E and U are rows :N and N: of one nested draw of N + M vectors (as in `memjax.sweep`),
    so the embeddings at d are the first d coordinates of those at any larger d.
    """
    both = embeddings.draw_columns(jax.random.fold_in(key, EMBEDDINGS),
                                   num_inputs + num_outputs, dim).T
    dtype = both.dtype
    w0 = jax.random.normal(jax.random.fold_in(key, INIT), (dim, dim), dtype)
    return (embeddings.restrict(both[:num_inputs], dim, input_embedding),
            embeddings.restrict(both[num_inputs:], dim, output_embedding),
            w0 / jnp.sqrt(jnp.asarray(dim, dtype)))


def split(model: Model, input_emb, output_emb, matrix):
    """Initial (trained, frozen) parameter dicts, keyed by 'W', 'E', 'U', from the draws
    (W₀ = `matrix` or zeros by `model.init`; no W for the exponential model)."""
    arrays = {"E": input_emb, "U": output_emb}
    if model.kind != "exponential":
        arrays["W"] = matrix if model.init == "gaussian" else jnp.zeros_like(matrix)
    trained = {k: v for k, v in arrays.items() if k in model.trained}
    frozen = {k: v for k, v in arrays.items() if k not in model.trained}
    return trained, frozen


def init(key, model: Model, num_inputs: int, num_outputs: int, dim: int):
    """Initial (trained, frozen) parameter dicts of one run: `split` of `draw`."""
    return split(model, *draw(key, num_inputs, num_outputs, dim,
                              input_embedding=model.input_embedding,
                              output_embedding=model.output_embedding))


def layer_norm(z):
    """LN(z) = z / √(‖z‖² + 1e−6) over the last axis."""
    return z / jnp.sqrt(jnp.sum(z * z, axis=-1, keepdims=True) + LN_EPS)


def hidden(model: Model, params: dict, tokens, *, invariant_grad: bool = False):
    """The vectors read by the output embeddings, (B, d): W e_x or ReLU(e_x), LN'd.

    `invariant_grad`: differentiate W e_x through a custom VJP whose gradient products
    give the same bits on any number of CPU threads (reverse mode only: `jax.grad`, not
    `jax.jvp`); the training loop uses it. The values are the same either way."""
    emb = params["E"][tokens]
    if model.kind == "exponential":
        z = jax.nn.relu(emb)
    else:
        product = _rows_times_transpose_invariant if invariant_grad else _rows_times_transpose
        z = product(emb, params["W"])
    return layer_norm(z) if model.layer_norm else z


# A batch of a few rows is multiplied as (W embᵀ)ᵀ, not emb Wᵀ: XLA's CPU dot copies W
# transposed before the latter, a d × d pass that costs as much as the product itself at
# B = 16 (matrix model, Adam, d = 1000: 1.45 → 0.94 ms per step; learnable model: 1.46 →
# 1.12 with SGD, 1.75 → 1.21 with Adam, on the 2-core Xeon of benchmarks/README.md). From
# ~100 rows (the aggregated batches B ≥ 256, and the population) emb Wᵀ is the faster one
# (by 8 %). The same products summed in another order: equal within float rounding.
_LEFT_PRODUCT_ROWS = 64


def _rows_times_transpose(rows, matrix):
    """rows @ matrixᵀ, (B, d) × (d, d)ᵀ, in the faster of two layouts for B."""
    if rows.shape[0] <= _LEFT_PRODUCT_ROWS:
        return jnp.matmul(matrix, rows.T, precision=_HIGHEST).T
    return jnp.matmul(rows, matrix.T, precision=_HIGHEST)


# The same product with its gradients as row-major products (g W, gᵀ rows). Autodiff of
# the (W embᵀ)ᵀ layout gives ∂rows as a dot that XLA's CPU backend hands to Eigen, which
# splits its d-long sums over its threads: the learnable model's trained parameters then
# depended on how many CPUs the process may use (a run pinned to one core differed from
# one on two at d = 1000), so a `train_sweep` worker would not repeat the parent's bits.
# These products give the same bits on any number of threads (tests/test_train_grid.py),
# at no measurable cost (the grid's d ≥ 500 blocks within −7 % to +2 % of the autodiff
# form per step, on two cores and on one: benchmarks/README.md, fifth session).
_rows_times_transpose_invariant = jax.custom_vjp(_rows_times_transpose)


def _invariant_fwd(rows, matrix):
    return _rows_times_transpose(rows, matrix), (rows, matrix)


def _invariant_bwd(residuals, grad):
    rows, matrix = residuals
    return (jnp.matmul(grad, matrix, precision=_HIGHEST),
            jnp.matmul(grad.T, rows, precision=_HIGHEST))


_rows_times_transpose_invariant.defvjp(_invariant_fwd, _invariant_bwd)


def logits(model: Model, params: dict, tokens, *, invariant_grad: bool = False):
    """Logits u_yᵀ h(x), shape (B, M); `params` holds trained and frozen arrays
    (`invariant_grad`: see `hidden`)."""
    return jnp.matmul(hidden(model, params, tokens, invariant_grad=invariant_grad),
                      params["U"].T, precision=_HIGHEST)


def loss(model: Model, params: dict, tokens, labels, weights=None, *,
         invariant_grad: bool = False):
    """Cross-entropy: mean over the batch, or Σ weights·CE when weights are given
    (weights = p over all tokens gives the population loss; `invariant_grad`: see
    `hidden`)."""
    losses = optax.softmax_cross_entropy_with_integer_labels(
        logits(model, params, tokens, invariant_grad=invariant_grad), labels)
    if weights is None:
        return jnp.mean(losses)
    return jnp.sum(weights * losses)


def wrong_mass(model: Model, params: dict, targets, probs):
    """p(x)·1[argmax_y logits(x) ≠ f*(x)] for every token, (N,), exact (no LN: it is a
    positive rescaling of each token's logits)."""
    if model.kind == "exponential":
        emb, factor = jax.nn.relu(params["E"]), params["U"].T
    else:  # logits = E Wᵀ Uᵀ: the d × M right factor costs d²M, not Nd²
        emb = params["E"]
        factor = jnp.matmul(params["W"].T, params["U"].T, precision=_HIGHEST)
    return retrieval.wrong_mass_from_factor(emb, targets, probs, factor)


def error(model: Model, params: dict, targets, probs):
    """The exact population 0-1 error Σ_x p(x) 1[f(x) ≠ f*(x)] (summed over wrong tokens)."""
    return jnp.sum(wrong_mass(model, params, targets, probs))


# --- The matrix model under SGD, in token space --------------------------------------
#
# An SGD step adds Σ_i δ_i e_{x_i}ᵀ to W, with δ_i = ∂loss/∂z_i for z = W e_x. Every z_x
# and every δ lies in a fixed subspace V of R^d: span(Uᵀ) without LN (only U z is read;
# z's part outside span(Uᵀ) never matters), and span(Uᵀ, W₀Eᵀ) with LN (δ then also
# points along z). With Q (d × k) an orthonormal basis of V, the state is Z = E Wᵀ Q
# (N × k, row x = Qᵀ W e_x) and W = W₀ + Q Aᵀ E; a step costs ~2Bk(M + N) instead of
# ~2Bd(d + M) and never touches a d × d array. Exact in exact arithmetic; Adam, sign or
# normalised updates act entrywise on W and leave V, so they never use it.
# (Rows, not columns, are gathered: XLA then emits the same code batched or not, so
# vmapped runs are bit-identical to single ones.)


def token_dim(model: Model, num_inputs: int, num_outputs: int, dim: int) -> int:
    """k, the dimension of the token-space coordinates."""
    span = num_outputs + (num_inputs if model.layer_norm and model.init != "zero" else 0)
    return min(dim, span)


def token_init(model: Model, trained: dict, frozen: dict):
    """Token-space state {Z, A} (N × k each) and constants {Q, UQ, gram} of the matrix
    model (gram = E Eᵀ, N × N)."""
    w0, emb, out = trained["W"], frozen["E"], frozen["U"]
    basis = out.T
    if model.layer_norm and model.init != "zero":
        basis = jnp.concatenate([basis, jnp.matmul(w0, emb.T, precision=_HIGHEST)], axis=1)
    num_inputs, num_outputs, dim = emb.shape[0], out.shape[0], emb.shape[1]
    k = token_dim(model, num_inputs, num_outputs, dim)
    q = jnp.linalg.qr(basis, mode="reduced")[0][:, :k]  # Householder: spans the columns
    consts = {"Q": q, "UQ": jnp.matmul(out, q, precision=_HIGHEST),
              "gram": jnp.matmul(emb, emb.T, precision=_HIGHEST)}
    if model.init == "zero":
        z = jnp.zeros((num_inputs, k), emb.dtype)
    else:
        z = jnp.matmul(emb, jnp.matmul(w0.T, q, precision=_HIGHEST), precision=_HIGHEST)
    return {"Z": z, "A": jnp.zeros_like(z)}, consts


def token_step(model: Model, state: dict, consts: dict, tokens, labels, weights, rate):
    """One SGD step with step size `rate` on tokens (B,) with per-sample weights (B,)."""
    z = state["Z"][tokens]  # (B, k)
    if model.layer_norm:
        norm = jnp.sqrt(jnp.sum(z * z, axis=-1, keepdims=True) + LN_EPS)
        h = z / norm
    else:
        h = z
    scores = jnp.matmul(h, consts["UQ"].T, precision=_HIGHEST)
    probs = jax.nn.softmax(scores, axis=-1)
    residual = probs - jax.nn.one_hot(labels, scores.shape[-1], dtype=scores.dtype)
    grad_h = jnp.matmul(residual, consts["UQ"], precision=_HIGHEST)  # (B, k)
    if model.layer_norm:  # ∂LN/∂z = (I − h hᵀ)/‖z‖
        grad_h = (grad_h - h * jnp.sum(h * grad_h, axis=-1, keepdims=True)) / norm
    delta = (-rate * weights)[:, None] * grad_h  # (B, k): W += Q deltaᵀ E[tokens]
    onehot = jax.nn.one_hot(tokens, state["Z"].shape[0], dtype=delta.dtype)
    spread = lambda rows: jnp.einsum("bn,bk->nk", rows, delta, precision=_HIGHEST)
    return {"Z": state["Z"] + spread(consts["gram"][tokens]),
            "A": state["A"] + spread(onehot)}


def token_memory(trained: dict, frozen: dict, state: dict, consts: dict):
    """W = W₀ + Q Aᵀ E from the token-space state, (d, d)."""
    coef = jnp.matmul(state["A"], consts["Q"].T, precision=_HIGHEST)  # (N, d)
    return trained["W"] + jnp.einsum("nd,ne->de", coef, frozen["E"], precision=_HIGHEST)


def token_wrong_mass(state: dict, consts: dict, targets, probs):
    """p(x)·1[f(x) ≠ f*(x)] from the token-space state: logits are Z (UQ)ᵀ (no LN needed)."""
    scores = jnp.matmul(state["Z"], consts["UQ"].T, precision=_HIGHEST)
    wrong = jnp.argmax(scores, axis=-1) != targets
    return jnp.where(wrong, probs.astype(scores.dtype), 0.0)
