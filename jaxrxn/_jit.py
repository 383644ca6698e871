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
