"""Argument checks shared by the public functions.

Every check raises a `ValueError` that names the argument, the value given and what is
allowed, before anything is traced, so no bad input surfaces as an XLA shape error or a
silent NaN. Traced values (inside someone else's `jit`) are passed through unchecked.
"""

from __future__ import annotations

import math
import numbers

import jax
import numpy as np


def _is_traced(value) -> bool:
    return isinstance(value, jax.core.Tracer)


def fail(name: str, value, allowed: str):
    """Raises the package's standard error for argument `name`."""
    shown = value
    if hasattr(value, "shape") and np.ndim(value) > 0:
        shown = f"array of shape {tuple(np.shape(value))}"
    raise ValueError(f"{name} must be {allowed}; got {shown!r}.")


def int_at_least(name: str, value, minimum: int) -> int:
    """Returns `value` as an int, checking that it is an integer >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        # bool is an Integral and float(True) is integral: reject it before the fallback.
        if (not isinstance(value, bool) and isinstance(value, numbers.Real)
                and float(value).is_integer()):
            value = int(value)
        else:
            fail(name, value, f"an integer >= {minimum}")
    if value < minimum:
        fail(name, value, f"an integer >= {minimum}")
    return int(value)


def real_at_least(name: str, value, minimum: float, *, finite: bool = True):
    """Checks a real scalar >= `minimum` (finite unless `finite=False`)."""
    if _is_traced(value):
        return value
    if np.ndim(value) != 0 or isinstance(value, bool):
        fail(name, value, f"a real number >= {minimum}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        fail(name, value, f"a real number >= {minimum}")
    if math.isnan(number) or (finite and math.isinf(number)) or number < minimum:
        kind = "finite real number" if finite else "real number (inf allowed)"
        fail(name, value, f"a {kind} >= {minimum}")
    return value


def int_tuple(name: str, values, minimum: int) -> tuple[int, ...]:
    """Checks a non-empty sequence of distinct integers >= `minimum`."""
    if isinstance(values, numbers.Number):
        values = (values,)
    try:
        values = tuple(values)
    except TypeError:
        fail(name, values, f"a non-empty sequence of integers >= {minimum}")
    if not values:
        fail(name, values, f"a non-empty sequence of integers >= {minimum}")
    out = tuple(int_at_least(f"{name}[{i}]", v, minimum) for i, v in enumerate(values))
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
