"""How memjax draws random bits.

Every memjax draw has a small fixed shape and its own key (derived with fold_in from the
seed, a role and an index), so no single draw ever needs splitting across devices. The
non-partitionable threefry counter layout is then free of cost in sharding and measured
1.6× faster on a 2-core CPU (11 vs 17.5 ns per normal): draws run inside `fast_bits`,
both in the public functions and inside sweeps, so the two always agree.
"""

import functools

import jax


def fast_bits(fn):
    """Runs `fn` (traced or eager) with `jax.threefry_partitionable(False)`."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with jax.threefry_partitionable(False):
            return fn(*args, **kwargs)

    return wrapped
