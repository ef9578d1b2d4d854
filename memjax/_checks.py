"""Argument checks shared by the public functions.

Every check raises a `ValueError` that names the argument, the value given and what is
allowed, before anything is traced, so no bad input surfaces as an XLA shape error or a
silent NaN. Traced values (inside someone else's `jit`) are passed through unchecked.
"""

from __future__ import annotations

import math
import numbers
import os

import jax
import jax.numpy as jnp
import numpy as np


def _is_traced(value) -> bool:
    return isinstance(value, jax.core.Tracer)


def fail(name: str, value, allowed: str):
    """Raises the package's standard error for argument `name`."""
    shown = value
    if hasattr(value, "shape") and np.ndim(value) > 0:
        shown = f"array of shape {tuple(np.shape(value))}"
    raise ValueError(f"{name} must be {allowed}; got {shown!r}.")


def int_at_least(name: str, value, minimum: int, maximum: int | None = None) -> int:
    """Returns `value` as an int, checking that it is an integer in [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        # bool is an Integral and float(True) is integral: reject it before the fallback.
        if (not isinstance(value, bool) and isinstance(value, numbers.Real)
                and math.isfinite(value) and float(value).is_integer()):
            value = int(value)
        else:
            fail(name, value, f"an integer >= {minimum}")
    if value < minimum:
        fail(name, value, f"an integer >= {minimum}")
    if maximum is not None and value > maximum:
        fail(name, value, f"an integer <= {maximum}")
    return int(value)


def _is_real_scalar(value) -> bool:
    # A string parses as float ('2') but fails later as an operand: only numbers pass.
    if isinstance(value, bool):
        return False
    if isinstance(value, numbers.Real):
        return True
    return (hasattr(value, "dtype") and np.ndim(value) == 0
            and np.dtype(value.dtype).kind in "fiu")


def real_at_least(name: str, value, minimum: float, *, finite: bool = True):
    """Checks a real scalar >= `minimum` (finite unless `finite=False`)."""
    if _is_traced(value):
        return value
    if not _is_real_scalar(value):
        fail(name, value, f"a real number >= {minimum}")
    number = float(value)
    if math.isnan(number) or (finite and math.isinf(number)) or number < minimum:
        kind = "finite real number" if finite else "real number (inf allowed)"
        fail(name, value, f"a {kind} >= {minimum}")
    return value


def int_tuple(name: str, values, minimum: int,
              maximum: int | None = None) -> tuple[int, ...]:
    """Checks a non-empty sequence of distinct integers in [minimum, maximum]."""
    if isinstance(values, numbers.Number):
        values = (values,)
    if isinstance(values, (str, bytes)):
        fail(name, values, f"a non-empty sequence of integers >= {minimum}")
    try:
        values = tuple(values)
    except TypeError:
        fail(name, values, f"a non-empty sequence of integers >= {minimum}")
    if not values:
        fail(name, values, f"a non-empty sequence of integers >= {minimum}")
    out = tuple(int_at_least(f"{name}[{i}]", v, minimum, maximum)
                for i, v in enumerate(values))
    if len(set(out)) != len(out):
        fail(name, values, "a sequence without repeated values")
    return out


def array(name: str, value, *, ndim: int | tuple[int, ...], kind: str,
                    length: dict[int, tuple[int, str]] | None = None):
    """Checks rank, dtype kind ('f' real, 'i' integer) and axis lengths of an array.

    `length` maps an axis to (expected length, what that length is called).
    """
    if _is_traced(value):
        return value
    if not hasattr(value, "dtype"):
        value = np.asarray(value)
    ndims = (ndim,) if isinstance(ndim, int) else ndim
    if value.ndim not in ndims:
        fail(name, value, f"an array with {' or '.join(map(str, ndims))} dimensions")
    dtype_kind = np.dtype(value.dtype).kind
    allowed = {"f": "fi", "i": "iu"}[kind]
    if dtype_kind not in allowed:
        what = {"f": "a real (float or int)", "i": "an integer"}[kind]
        raise ValueError(f"{name} must be {what} array; got dtype {value.dtype}.")
    for axis, (expected, called) in (length or {}).items():
        if value.shape[axis] != expected:
            raise ValueError(
                    f"{name} has length {value.shape[axis]} along axis {axis}, but {called} "
                    f"is {expected}; shapes must agree.")
    return value


def non_negative(name: str, value):
    """Checks that a concrete real array has no negative or NaN entries."""
    if _is_traced(value):
        return value
    host = np.asarray(value)
    if np.isnan(host).any():
        raise ValueError(f"{name} must not contain NaN.")
    if (host < 0).any():
        raise ValueError(
                f"{name} must be non-negative; got minimum {host.min()!r} at index "
                f"{np.unravel_index(np.argmin(host), host.shape)}.")
    return value


def choice(name: str, value, allowed):
    """Checks that `value` is one of `allowed`."""
    if value not in allowed:
        fail(name, value, "one of " + ", ".join(map(repr, allowed)))
    return value


def _on_host(value) -> bool:
    """Whether a jax.Array lives, whole, in this process's host memory (CPU devices)."""
    return value.is_fully_addressable and all(d.platform == "cpu" for d in value.devices())


def _all(predicate, value) -> bool:
    # Reduced where the array lives: an accelerator's array is not copied to the host
    # whole. A CPU array is read in place by NumPy: no program to compile per shape (two
    # eager ops each otherwise, ~70 compiles in the test suite).
    if isinstance(value, jax.Array) and not _on_host(value):
        # A concrete array inside someone's jit (a closed-over constant) is still checked:
        # evaluated now, not staged into their trace.
        with jax.ensure_compile_time_eval():
            return bool(predicate(jnp, value).all())
    return bool(predicate(np, np.asarray(value)).all())


def finite(name: str, value):
    """Checks that a concrete array holds no NaN or inf."""
    if _is_traced(value):
        return value
    if not _all(lambda xp, v: xp.isfinite(v), value):
        host = np.asarray(value)
        where = np.unravel_index(np.argmax(~np.isfinite(host)), host.shape)
        raise ValueError(f"{name} must be finite (no NaN or inf); got "
                         f"{float(host[where])!r} at index {tuple(int(i) for i in where)}.")
    return value


def probabilities(name: str, value):
    """Checks a concrete (N,) probability vector: finite, >= 0, summing to 1.

    The sum is taken in float64 and may miss 1 by N·eps: computing each p(x) (a ratio with
    a float sum) and summing them each cost at most N·eps/2. eps is that of the vector's
    dtype, and at least float32's (JAX's default), so float32 probabilities widened to
    float64 pass; a miss that small moves an error by no more than itself.
    """
    if _is_traced(value):
        return value
    finite(name, value)
    non_negative(name, value)
    dtype = np.dtype(value.dtype)
    eps = max(np.finfo(dtype if dtype.kind == "f" else np.float64).eps,
              np.finfo(np.float32).eps)
    total = float(np.asarray(value, np.float64).sum())
    tolerance = max(np.size(value), 4) * eps
    if abs(total - 1.0) > tolerance:
        raise ValueError(f"{name} must sum to 1 (within {tolerance:.2g} = N·eps); got a "
                         f"sum of {total!r}.")
    return value


def key(name: str, value, *, single: bool = True):
    """Checks a typed PRNG key (`jax.random.key(0)`), a single one unless `single=False`.

    Raw uint32 keys (`jax.random.PRNGKey`) are refused: their implementation is implicit
    and they cannot be told from data, so a result could not record which key made it.
    """
    dtype = getattr(value, "dtype", None)
    if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        if single and np.ndim(value) != 0:
            fail(name, value, "a single typed key (shape ()); vmap over a batch of keys")
        return value
    if dtype is not None and np.dtype(dtype) == np.uint32 and np.shape(value)[-1:] == (2,):
        raise ValueError(f"{name} must be a typed key such as jax.random.key(0); got a raw "
                         f"uint32 key of shape {tuple(np.shape(value))} (wrap it with "
                         "jax.random.wrap_key_data(key)).")
    fail(name, value, "a typed key such as jax.random.key(0)")


def devices(name: str, value):
    """Checks a non-empty sequence of `jax.Device`s (or None: the default devices)."""
    if value is None:
        return value
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        fail(name, value, "a sequence of jax devices, e.g. jax.devices('cpu')")
    value = list(value)
    for i, device in enumerate(value):
        if not isinstance(device, jax.Device):
            fail(f"{name}[{i}]", device, "a jax device (from jax.devices()), not a name")
    return value


def host_memory(name: str, value, needed: int, what: str):
    """Refuses a request whose host arrays (`needed` bytes) exceed this machine's memory."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not every platform reports it
        return value
    if needed > total:
        raise ValueError(f"{name}={value!r} would hold about {needed / 2**30:,.1f} GiB of "
                         f"{what} in host memory, more than this machine's "
                         f"{total / 2**30:,.1f} GiB; split the run (e.g. seeds= shards and "
                         "`memjax merge`).")
    return value
