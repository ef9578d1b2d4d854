"""Memory schemes: the weights q(x) >= 0 with which each association is stored.

| scheme                      | q(x)                                                  |
|-----------------------------|-------------------------------------------------------|
| `uniform()`                 | 1 for every token                                     |
| `population(power=ρ)`       | p(x)^ρ                                                |
| `threshold(top=P)`          | 1 if x < P else 0 (the oracle: the P most frequent)   |
| `empirical(power=ρ, top=P)` | (n_x/T)^ρ on seen tokens (n_x >= 1), else 0; with P,  |
|                             | only the P most frequent seen tokens (count ties at   |
|                             | the cut: at random from the seed's key)               |
| `custom(weights_or_fn)`     | a fixed vector, or fn(frequencies, probs, dim)        |

`top` is an int, a rule string 'd/K' (floor(d/K)), or any function of the dimension d.
With T = ∞ (`num_samples=inf`) the empirical frequencies n_x/T are the probabilities p.
A scheme is static configuration (hashable); `scheme.weights(...)` is a pure function.

Ties at the top-P cut: the data cannot tell which of two tokens seen equally often is the
more probable, so breaking them towards the lower index (the true frequency rank) would
leak the oracle into an empirical scheme (SPEC §2). `empirical` breaks them in a random
order drawn from a key (`tie_break="random"`, the default); `tie_break="index"` is the
oracle order, kept as a named option; `tie_break="unstable"` is the fixed order an unstable
sort of the counts gives, as in the authors' released code (`memjax.sweep`'s
`conventions="authors"`). `threshold` is the oracle and keeps the index order.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Callable, Union

import jax
import jax.numpy as jnp
import numpy as np

from jaxtyping import Array, ArrayLike, Float, Key, Num

from memjax import _checks
from memjax._random import fast_bits

Top = Union[int, str, Callable[[int], int], None]
TIE_BREAKS = ("random", "index", "unstable")


@dataclasses.dataclass(frozen=True)
class DimFraction:
    """The rule P = floor(d / divisor), written 'd/divisor'."""

    divisor: float

    def __call__(self, dim: int) -> int:
        return int(math.floor(dim / self.divisor))

    def __str__(self) -> str:
        return f"d/{self.divisor:g}"


def _parse_top(top: Top):
    if top is None or callable(top):
        return top
    if isinstance(top, str):
        # The number pattern admits only what float() parses ('d/.' would not).
        match = re.fullmatch(r"\s*d\s*//?\s*((?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)\s*", top)
        if not match or float(match.group(1)) <= 0:
            _checks.fail("top", top, "an integer >= 0, a rule 'd/K' with K > 0, or a "
                         "function of the dimension d")
        return DimFraction(float(match.group(1)))
    return _checks.int_at_least("top", top, 0)


def resolve_top(top, dim: int) -> int | None:
    """The number of tokens kept at dimension `dim` (None: no limit)."""
    if top is None:
        return None
    value = top(dim) if callable(top) else top
    return _checks.int_at_least(f"top at dim={dim} ({_top_label(top)})", value, 0)


def _top_label(top) -> str:
    if top is None or isinstance(top, (int, DimFraction)):
        return str(top)
    return getattr(top, "__name__", "f") + "(d)"


def _descending_rank(order_key):
    # The rank of each entry is the inverse permutation of a stable descending sort.
    return jnp.argsort(jnp.argsort(-order_key, axis=-1, stable=True), axis=-1)


@fast_bits
def _tie_order(key, num_inputs):
    """A uniformly random order of the tokens (one per key), and its inverse."""
    order = jax.random.permutation(key, num_inputs)
    return order, jnp.argsort(order)


def _keep_top(weights, order_key, top, tie_key=None, unstable=False):
    """Zeroes all but the `top` largest entries of `order_key` along the last axis; `top`
    broadcasts against the leading axes (e.g. (D, 1, 1) tops).

    Equal entries are ranked by index (`tie_key` None), in the random order drawn from
    `tie_key` (the same order for every row, so the kept sets of growing tops are nested),
    or (`unstable`) in the order of the backend's unstable descending sort of the row: a
    fixed order that XLA's sort sets (on CPU it leans to higher indices, like the authors'
    unstable sort: SPEC §2), nested across tops too.
    """
    if top is None:
        return weights
    if unstable:
        rank = jnp.argsort(jnp.argsort(-order_key, axis=-1, stable=False), axis=-1)
        return jnp.where(rank < top, weights, 0.0)
    if tie_key is None:
        return jnp.where(_descending_rank(order_key) < top, weights, 0.0)
    order, inverse = _tie_order(tie_key, order_key.shape[-1])
    # A stable sort of the shuffled entries ranks ties by their place in the shuffle.
    rank = jnp.take(_descending_rank(jnp.take(order_key, order, axis=-1)), inverse, axis=-1)
    return jnp.where(rank < top, weights, 0.0)


def rescale(weights: Float[ArrayLike, "*batch N"]) -> Float[Array, "*batch N"]:
    """Each weight vector (last axis) times the power of two 2^k that puts its maximum in
    [1, 2); all-zero vectors, and vectors with NaN or inf, are returned unchanged.

    Exact in floating point (only exponents change), so no prediction changes: argmax is
    scale-invariant. It keeps scores in range for extreme but valid scales (a vector of
    3e38 or 1e-30 in float32). Traced or not; subnormal inputs are flushed to zero by XLA
    on CPU, so rescale those on the host first (`rescale_host`).
    """
    weights = jnp.asarray(weights)
    top = jnp.max(weights, axis=-1, keepdims=True)
    usable = jnp.isfinite(top) & (top > 0)
    _, exponent = jnp.frexp(jnp.where(usable, top, 1.0))
    return jnp.where(usable, jnp.ldexp(weights, 1 - exponent), weights)


def rescale_host(weights) -> np.ndarray:
    """`rescale` on the host in float64 (exact, subnormals included)."""
    weights = np.asarray(weights, np.float64)
    top = np.max(weights, axis=-1, keepdims=True) if weights.size else weights
    usable = np.isfinite(top) & (top > 0)
    _, exponent = np.frexp(np.where(usable, top, 1.0))
    return np.where(usable, np.ldexp(weights, 1 - exponent), weights)


def _power(base, power):
    # 0^0 would be 1: unseen tokens (base 0) always get weight 0 in the empirical scheme.
    return jnp.where(base > 0, jnp.power(jnp.where(base > 0, base, 1.0), power), 0.0)


@dataclasses.dataclass(frozen=True)
class Scheme:
    """A memory scheme. Build it with the functions of this module, not directly."""

    kind: str
    power: float = 0.0
    top: Top = None
    fn: Callable | None = None
    fixed: tuple | None = None
    label: str | None = None
    tie_break: str = "random"

    @property
    def name(self) -> str:
        if self.label:
            return self.label
        if self.kind == "uniform":
            return "uniform"
        if self.kind == "population":
            return f"population(power={self.power:g})"
        if self.kind == "threshold":
            return f"threshold(top={_top_label(self.top)})"
        top = "" if self.top is None else f", top={_top_label(self.top)}"
        fixed_order = self.tie_break != "random" and self.top is not None
        ties = f", tie_break={self.tie_break}" if fixed_order else ""
        return f"empirical(power={self.power:g}{top}{ties})"

    @property
    def uses_data(self) -> bool:
        """Whether the weights depend on the sample (and so on T)."""
        return self.kind == "empirical" or (self.kind == "custom" and self.fn is not None)

    @property
    def needs_key(self) -> bool:
        """Whether the weights need a key (an empirical top-P cut with random ties)."""
        return self.kind == "empirical" and self.top is not None and (
            self.tie_break == "random")

    def weights(self, counts: Num[ArrayLike, " N"] | None, num_samples: float,
                probs: Float[ArrayLike, " N"], dim: int, *,
                key: Key[Array, ""] | None = None) -> Float[Array, " N"]:
        """q(x) for every token, shape (N,).

        Args:
          counts: (N,) counts n_x among the first T draws (ignored when T = ∞ or when
            the scheme does not use data; may then be None).
          num_samples: T, a static number; `math.inf` means population weights.
          probs: (N,) the true probabilities p.
          dim: d, static (sets `top` rules).
          key: a typed key ordering count ties at the top-P cut (needed only by
            `empirical(top=...)` with `tie_break="random"`); `memjax.sweep` uses
            fold_in(fold_in(key, seed), 3) for a seed.
        """
        probs = jnp.asarray(probs)
        if counts is None and not math.isinf(num_samples):
            # Counts matter only to schemes that read the sample, and T = 0 has no draws.
            if self.uses_data and num_samples != 0:
                _checks.fail("counts", counts, f"an (N,) array of counts at T = {num_samples}")
            counts = jnp.zeros(probs.shape, jnp.int32)
        freqs = frequencies(None if counts is None else jnp.asarray(counts)[None],
                            (num_samples,), probs)
        return self.weight_grid(freqs, probs, (dim,), key=key)[0, 0]

    def weight_grid(self, freqs: Float[ArrayLike, "K N"], probs: Float[ArrayLike, " N"],
                    dims, *, key: Key[Array, ""] | None = None,
                    rescaled: bool = False) -> Float[Array, "D _ N"]:
        """q for a batch of empirical frequencies at several dimensions.

        Args:
          freqs: (K, N) frequencies n_x / T, one row per sample size (see `frequencies`).
          probs: (N,) the true probabilities p.
          dims: D static dimensions (they set `top` rules).
          key: orders count ties at a top-P cut (see `weights`).
          rescaled: return each vector times a power of two that puts its maximum in
            [1, 2) (`rescale`: exact, changes no prediction; fixed vectors are rescaled
            on the host, so even subnormal float32 values keep their ratios).

        Returns:
          (D, K, N) weights, or (D, 1, N) when the scheme does not use data.
        """
        probs = jnp.asarray(probs)
        num_inputs, num_dims = probs.shape[-1], len(dims)
        if self.needs_key and key is None:
            _checks.fail("key", key, f"a typed key: {self.name} breaks count ties at the "
                         "top-P cut at random (tie_break='random'); pass key=, or build "
                         "the scheme with tie_break='index' for the oracle index order")
        if self.needs_key:
            _checks.key("key", key)
        # A top beyond N keeps every token: clamped, it fits int32 whatever its value.
        tops = None if self.top is None else jnp.asarray(
            [min(resolve_top(self.top, d), num_inputs) for d in dims])[:, None, None]
        if self.kind == "uniform":
            out = jnp.ones((1, 1, num_inputs), probs.dtype)
        elif self.kind == "population":
            out = _power(probs, self.power)[None, None]
        elif self.kind == "threshold":
            out = (jnp.arange(num_inputs) < tops).astype(probs.dtype)
        elif self.kind == "custom" and self.fn is None:
            # Checked like the function's output: a wrong length would otherwise broadcast.
            if len(self.fixed) != num_inputs:
                raise ValueError(f"custom scheme {self.name!r} has {len(self.fixed)} weights "
                                 f"(shape ({len(self.fixed)},)); expected shape "
                                 f"({num_inputs},) (one weight per input).")
            fixed = rescale_host(self.fixed) if rescaled else self.fixed
            out = jnp.asarray(fixed, probs.dtype)[None, None]
        elif self.kind == "custom":
            out = jnp.stack([jax.vmap(lambda f, d=d: self._call(f, probs, d))(freqs)
                             for d in dims])
        else:
            tie_key = key if self.needs_key else None
            out = _keep_top(_power(freqs, self.power), freqs, tops, tie_key,
                            unstable=self.tie_break == "unstable")
            out = out[None] if tops is None else out
        out = rescale(out) if rescaled else out
        return jnp.broadcast_to(out, (num_dims,) + out.shape[1:])

    def _call(self, freqs, probs, dim):
        out = jnp.asarray(self.fn(freqs, probs, dim))
        if out.shape != probs.shape:
            raise ValueError(f"custom scheme {self.name!r} returned shape {out.shape}; "
                             f"expected {probs.shape} (one weight per input).")
        return out.astype(probs.dtype)


def frequencies(counts, num_samples, probs) -> jax.Array:
    """Empirical frequencies n_x / T, shape (K, N); rows with T = ∞ are p, T = 0 zeros.

    Args:
      counts: (K_finite, N) counts for the finite sample sizes, in their order (None if
        there are none).
      num_samples: K static sample sizes (inf allowed).
      probs: (N,) probabilities.
    """
    rows, finite = [], 0
    for t in num_samples:
        if math.isinf(t):
            rows.append(probs)
        else:
            rows.append(counts[finite].astype(probs.dtype) / max(t, 1))
            finite += 1
    return jnp.stack(rows)


def uniform() -> Scheme:
    """Store every association with weight 1."""
    return Scheme("uniform")


def population(power: float = 1.0) -> Scheme:
    """q(x) = p(x)^ρ with ρ = `power` >= 0 (ρ = 1: q = p)."""
    return Scheme("population", power=float(_checks.real_at_least("power", power, 0.0)))


def threshold(top: Top = None) -> Scheme:
    """q(x) = 1 for the `top` most frequent tokens (x < P), else 0."""
    # `top` defaults to None only so that a missing top fails below, naming it.
    if top is None:
        _checks.fail("top", top, "an integer >= 0, a rule 'd/K', or a function of d")
    return Scheme("threshold", top=_parse_top(top))


def empirical(power: float = 0.0, top: Top = None, tie_break: str = "random") -> Scheme:
    """q(x) = (n_x/T)^ρ on seen tokens, 0 on unseen; optionally only the `top` most seen.

    Tokens tied in count at the top-P cut are kept in a random order drawn from the
    seed's key (`tie_break="random"`, the default: the data cannot rank them), towards
    the lower index (`tie_break="index"`: the true frequency rank, an oracle), or in the
    fixed order of the backend's unstable sort of the counts (`tie_break="unstable"`: the
    authors' released code's convention; XLA sets the order, so it may differ between
    CPU and accelerators). At N = 1000, α = 2, T = 10⁴, d = 1000, P = 83 on CPU, 100
    seeds, key 0, `conventions="authors"`: unstable 0.00749 ± 0.00006 (the authors'
    0.0075), random 0.00717 ± 0.00006, index 0.00608 ± 0.00003.
    """
    power = float(_checks.real_at_least("power", power, 0.0))
    _checks.choice("tie_break", tie_break, TIE_BREAKS)
    return Scheme("empirical", power=power, top=_parse_top(top), tie_break=tie_break)


def custom(weights_or_fn, name: str = "custom") -> Scheme:
    """A user scheme: a fixed (N,) non-negative vector, or fn(frequencies, probs, dim).

    `frequencies` are n_x / T among the first T draws (p itself when T = ∞); the function
    must return (N,) non-negative weights and be traceable by JAX.
    """
    if callable(weights_or_fn):
        return Scheme("custom", fn=weights_or_fn, label=name)
    fixed = np.asarray(weights_or_fn)
    _checks.array("weights", fixed, ndim=1, kind="f")
    _checks.non_negative("weights", fixed)
    _checks.finite("weights", fixed)
    return Scheme("custom", fixed=tuple(fixed.tolist()), label=name)


_BUILDERS = {"uniform": uniform, "population": population, "threshold": threshold,
             "empirical": empirical}


def parse(text: str) -> Scheme:
    """Parses the CLI form 'name' or 'name:key=value,key=value', e.g. 'threshold:top=d/8'."""
    name, _, params = text.partition(":")
    name = name.strip()
    if name not in _BUILDERS:
        _checks.fail("scheme", text, "one of " + ", ".join(_BUILDERS) +
                     " optionally followed by ':key=value,...'")
    kwargs = {}
    for item in filter(None, (p.strip() for p in params.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            _checks.fail(f"scheme {text!r}", item, "of the form key=value")
        key = key.strip()
        if key == "power":
            try:
                kwargs[key] = float(value)
            except ValueError:
                _checks.fail("power", value, "a real number >= 0")
        elif key == "top":
            value = value.strip()
            kwargs[key] = int(value) if re.fullmatch(r"\d+", value) else value
        elif key == "tie_break":
            kwargs[key] = value.strip()
        else:
            _checks.fail(f"parameter of scheme {name!r}", key,
                         "'power', 'top' or 'tie_break'")
    try:
        return _BUILDERS[name](**kwargs)
    except TypeError:
        raise ValueError(f"scheme {name!r} does not take parameters {sorted(kwargs)}; "
                         f"got {text!r}.") from None
