"""Batches across devices: shard a batch's leading axis over every device with jax.sharding.

One code path for one CPU, several GPUs, or several hosts (after
``jax.distributed.initialize()`` every process sees all global devices in ``jax.devices()``):
the batch is padded to a multiple of the device count, laid out with a ``NamedSharding``
over a 1D mesh, and a ``jax.vmap``-ed function runs under ``jax.jit``, which keeps each
device's slice local.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def batch_mesh(devices=None) -> Mesh:
    """A 1D mesh named ``"batch"`` over `devices` (default: all of ``jax.devices()``)."""
    return Mesh(np.asarray(jax.devices() if devices is None else devices), ("batch",))


def _batch_size(tree) -> int:
    sizes = {np.shape(x)[0] for x in jax.tree_util.tree_leaves(tree)}
    if len(sizes) != 1:
        raise ValueError(f"every leaf of a batch needs the same leading size; got {sorted(sizes)}.")
    return sizes.pop()


def shard_batch(tree, mesh: Mesh | None = None):
    """Pad the leading axis of every leaf to a multiple of the device count (repeating the
    last entry) and place it sharded over `mesh`. Returns ``(sharded_tree, n)`` with ``n``
    the original batch size."""
    mesh = batch_mesh() if mesh is None else mesh
    n = _batch_size(tree)
    n_dev = mesh.devices.size
    pad = (-n) % n_dev

    def place(x):
        x = np.asarray(x)
        if pad:
            x = np.concatenate([x, np.repeat(x[-1:], pad, axis=0)])
        spec = PartitionSpec("batch", *([None] * (x.ndim - 1)))
        return jax.device_put(x, NamedSharding(mesh, spec))

    return jax.tree_util.tree_map(place, tree), n


def sharded_vmap(fn: Callable, batch, mesh: Mesh | None = None):
    """``jax.vmap(fn)(batch)`` with the batch sharded over all devices.

    `batch` is a pytree whose leaves share the leading (batch) axis; the result is cut
    back to the original batch size. Equal to ``jax.vmap(fn)(batch)`` on one device.
    """
    sharded, n = shard_batch(batch, mesh)
    out = jax.jit(jax.vmap(fn))(sharded)
    return jax.tree_util.tree_map(lambda x: x[:n], out)
