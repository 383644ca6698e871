"""Compilation helpers shared by the potentials and the solvers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import PyTree


def dynamic_floats(tree: PyTree) -> PyTree:
    """`tree` with every Python float leaf a JAX scalar, so that ``jit`` traces it.

    :func:`equinox.filter_jit` keys its cache on every non-array leaf: a solver built with
    ``NEB(k=0.5)`` and then ``NEB(k=1.0)``, or an ``fmax`` passed as a float, would compile
    the loop again. The scalars are weakly typed, as the floats were, so they do not
    promote a float32 computation. A hyperparameter that selects code in Python (a mode
    switch) must be a static field instead.
    """
    return jax.tree_util.tree_map(lambda x: jnp.asarray(float(x)) if isinstance(x, float) else x, tree)


def near_map_limit(fraction: float = 0.5) -> bool:
    """Whether this process holds more than `fraction` of the memory mappings Linux allows
    it (``/proc/sys/vm/max_map_count``, 65,530 by default); ``False`` where there is no
    ``/proc``.

    Compiled code holds mappings and JAX keeps every executable it compiled: the reaction
    pipeline on GFN2-xTB adds ~4,000 mappings for each new atom count and ~10 for each
    further reaction of that size (measured: 633 -> 8,785 over 6 held-out reactions of 7
    and 9 atoms; before the saddle search's internal coordinates were padded to a size,
    1,900-3,800 for every reaction), so a long run over many sizes fails to compile
    (``Unable to allocate section memory``) unless it calls ``jax.clear_caches()`` in
    time. Clearing only near the limit keeps the compiled code shared by same-sized
    molecules until then."""
    try:
        with open("/proc/self/maps") as fh:
            n_maps = sum(1 for _ in fh)
        with open("/proc/sys/vm/max_map_count") as fh:
            limit = int(fh.read())
    except (OSError, ValueError):
        return False
    return n_maps > fraction * limit


def clear_caches_near_map_limit(fraction: float = 0.5) -> bool:
    """``jax.clear_caches()`` when :func:`near_map_limit` says so; returns whether it
    cleared. Call it where no other thread is compiling or running JAX code."""
    if not near_map_limit(fraction):
        return False
    jax.clear_caches()
    return True
