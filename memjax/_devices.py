"""Placement on devices: a 1-D mesh over a batch axis (seeds, or runs), host arrays put on
it, results brought back to the host. Used by `memjax.sweep` and `memjax.train_sweep`.

The same calls serve one process (the default: its local devices) and JAX's multi-host
runtime (`jax.distributed.initialize` in every process, then `devices=jax.devices()`):
there every process runs the same program on the same host arrays, supplies the shards
its own devices hold, and receives the whole result. Nothing here is random or changes
a value: a batch element's result is the same on any number of devices or processes.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from memjax import _checks

AXIS = "batch"


def resolve(devices) -> list:
    """The devices to use (default: this process's local devices), checked."""
    devices = list(jax.local_devices() if devices is None else devices)
    if not devices:
        _checks.fail("devices", devices, "a non-empty sequence of jax devices")
    if len(set(devices)) != len(devices):
        _checks.fail("devices", devices, "distinct jax devices")
    if not any(d.process_index == jax.process_index() for d in devices):
        _checks.fail("devices", devices, "devices that include at least one of this "
                     f"process's (process {jax.process_index()}); every process of a "
                     "global program must hold part of the mesh")
    return devices


def mesh(devices) -> Mesh:
    """A 1-D mesh over `devices` (in the given order: every process must pass the same)."""
    return Mesh(np.asarray(devices, dtype=object), (AXIS,))


def put_batch(mesh_: Mesh, host) -> jax.Array:
    """A host array split along its leading axis over the mesh (its length must divide
    evenly); each process places only the slices its own devices hold."""
    host = np.asarray(host)
    sharding = NamedSharding(mesh_, PartitionSpec(AXIS))
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def put_replicated(mesh_: Mesh, tree):
    """A pytree of host values (NumPy arrays, scalars or typed PRNG keys) copied to every
    device of the mesh."""
    sharding = NamedSharding(mesh_, PartitionSpec())

    def put(value):
        if isinstance(value, jax.Array) and jax.dtypes.issubdtype(
                value.dtype, jax.dtypes.prng_key):
            data = put(jax.random.key_data(value))
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(value))
        host = np.asarray(value)
        return jax.make_array_from_callback(host.shape, sharding,
                                            lambda index: host[index])

    return jax.tree.map(put, tree)


def replicate(tree, mesh_: Mesh):
    """A pytree of arrays already on the mesh (e.g. sharded), copied whole to every
    device of it (an all-gather; exact)."""
    sharding = NamedSharding(mesh_, PartitionSpec())
    return jax.jit(lambda x: x, out_shardings=sharding)(tree)


def fetch(array) -> np.ndarray:
    """The whole value of an array as NumPy, in every process (gathered across processes
    when the array spans several; all processes must call this together then)."""
    if not isinstance(array, jax.Array) or array.is_fully_addressable:
        return np.asarray(array)
    if array.sharding.is_fully_replicated:
        return np.asarray(array.addressable_data(0))
    # Only for arrays spanning processes: given a process-local array it would instead
    # concatenate every process's copy.
    return multihost_utils.process_allgather(array, tiled=True)
