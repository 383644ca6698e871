"""Save a pytree of arrays (PRNG keys included) to ``.npz`` and load it back exactly.

Long runs (KMC, TAD, MD, training loops) keep their whole state, random key included, in a
pytree; saving that pytree and loading it back must resume bit for bit. Typed PRNG keys
(``jax.random.key``) are stored as their raw key data plus the name of their implementation
and re-wrapped on load; legacy ``uint32`` keys are plain arrays and round-trip as such.

Loading needs a template with the same structure (``like``), as orbax and equinox's
``tree_deserialise_leaves`` do: the ``.npz`` holds leaves, the template gives the tree.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PyTree

_KEY_IMPL = "__key_impl_{}"
_TREEDEF = "__treedef__"


def _is_typed_key(x) -> bool:
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def save_checkpoint(path: str | os.PathLike, tree: PyTree) -> None:
    """Write every array leaf of ``tree`` to the ``.npz`` file ``path``.

    Non-array leaves (Python scalars) are stored as 0-d arrays. The tree structure is
    recorded as text so that :func:`load_checkpoint` can refuse a mismatched template.
    """
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    arrays: dict[str, np.ndarray] = {_TREEDEF: np.array(str(treedef))}
    for i, leaf in enumerate(leaves):
        if _is_typed_key(leaf):
            arrays[_KEY_IMPL.format(i)] = np.array(str(jax.random.key_impl(leaf)))
            leaf = jax.random.key_data(leaf)
        arrays[f"leaf_{i}"] = np.asarray(leaf)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def load_checkpoint(path: str | os.PathLike, like: PyTree) -> PyTree:
    """Read a tree saved by :func:`save_checkpoint` into the structure of ``like``.

    ``like`` is any tree of the same structure (for example the initial state of the run);
    only its structure, shapes and dtypes are used. Raises ``ValueError`` if the file holds a
    different structure, or a leaf of another shape or dtype.
    """
    leaves, treedef = jax.tree_util.tree_flatten(like)
    with np.load(path, allow_pickle=False) as data:
        saved_treedef = str(data[_TREEDEF])
        if saved_treedef != str(treedef):
            raise ValueError(
                f"checkpoint {os.fspath(path)!r} holds a different tree structure than `like`: "
                f"{saved_treedef} vs {treedef}"
            )
        out = []
        for i, ref in enumerate(leaves):
            arr = data[f"leaf_{i}"]
            impl_name = _KEY_IMPL.format(i)
            if impl_name in data.files:
                if not _is_typed_key(ref):
                    raise ValueError(f"checkpoint leaf {i} is a typed PRNG key but `like` holds {ref!r}")
                leaf = jax.random.wrap_key_data(jnp.asarray(arr), impl=str(data[impl_name]))
            else:
                ref_arr = np.asarray(ref)
                if arr.shape != ref_arr.shape or arr.dtype != ref_arr.dtype:
                    raise ValueError(
                        f"checkpoint leaf {i} has shape {arr.shape} and dtype {arr.dtype}; "
                        f"`like` expects {ref_arr.shape} and {ref_arr.dtype}"
                    )
                leaf = jnp.asarray(arr) if isinstance(ref, jax.Array) else arr
            out.append(leaf)
    return jax.tree_util.tree_unflatten(treedef, out)
