"""Bond graphs and a reaction detector that ignores vibrations.

Follows the idea of the NanoReactor's ``LearnReactions.py`` (``leeping/nanoreactor``): bonds
from interatomic distances, a filter so that a stretching vibration is not a reaction, and a
reaction = a persistent change of the bond graph. The filter here is two-fold:

1. *distance hysteresis*: a bond forms when ``r < r_form`` and breaks only when
   ``r > r_break`` (``r_break > r_form``), so a bond vibrating around one threshold does not
   flicker;
2. *persistence*: a new graph counts only after it has held for ``persist`` consecutive frames.

Each reaction is reported as (frame, reactant graph, product graph); bond changes in the same
frame that share no atom are separate reactions. :func:`reaction_frames` cuts the frames
around a reaction as a start for NEB refinement. The graph
functions are jittable; :func:`detect_reactions` is a thin Python wrapper around the
jitted scans.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from ase.data import covalent_radii
from jax import lax
from jaxtyping import Array, Bool, Float, Int


def covalent_cutoffs(numbers: Sequence[int], scale: float = 1.2) -> np.ndarray:
    """Bond cutoffs ``scale (r_cov,i + r_cov,j)`` in Å, shape ``(n, n)`` (ASE's covalent radii)."""
    r = covalent_radii[np.asarray(numbers)]
    return scale * (r[:, None] + r[None, :])


def _distances(R):
    d = R[:, None, :] - R[None, :, :]
    return jnp.sqrt(jnp.sum(d**2, -1))


def bond_graph(R: Float[Array, "n_atoms dim"], r_bond) -> Bool[Array, "n_atoms n_atoms"]:
    """Adjacency matrix: atoms closer than `r_bond` (Å; a scalar or an ``(n, n)`` matrix)."""
    n = R.shape[0]
    return (_distances(R) < r_bond) & ~jnp.eye(n, dtype=bool)


def hysteresis_graph(previous: Bool[Array, "n n"], R: Float[Array, "n dim"], r_form, r_break) -> Bool[Array, "n n"]:
    """Bonds of `R` given the `previous` graph: formed below `r_form`, kept until above `r_break` (Å)."""
    r = _distances(R)
    n = R.shape[0]
    return ((r < r_form) | (previous & (r < r_break))) & ~jnp.eye(n, dtype=bool)


def bond_graphs(frames: Float[Array, "n_frames n dim"], r_form, r_break) -> Bool[Array, "n_frames n n"]:
    """Hysteretic bond graph of every frame (``lax.scan``); the first uses `r_form` alone."""
    first = bond_graph(frames[0], r_form)

    def step(prev, R):
        g = hysteresis_graph(prev, R, r_form, r_break)
        return g, g

    return lax.scan(step, first, frames)[1]


def persistent_changes(graphs: Bool[Array, "n_frames n n"], persist: int) -> tuple[Bool[Array, " n_frames"], Bool[Array, "n_frames n n"]]:
    """Where the graph changed persistently.

    Returns ``(is_reaction, reference)``: ``is_reaction[f]`` is ``True`` at the first frame
    ``f`` of a new graph that then held for `persist` frames, and ``reference[f]`` is the
    accepted graph before frame ``f`` (the reactant graph of a reaction at ``f``).
    """

    def step(carry, g):
        ref, cand, count, start, f = carry
        same_cand = jnp.all(g == cand)
        new_run = ~same_cand
        cand = jnp.where(new_run, g, cand)
        count = jnp.where(new_run, 1, count + 1)
        start = jnp.where(new_run, f, start)
        accept = (count == persist) & ~jnp.all(cand == ref)
        out = (accept, start, ref)
        ref = jnp.where(accept, cand, ref)
        return (ref, cand, count, start, f + 1), out

    g0 = graphs[0]
    _, (accept, start, refs) = lax.scan(step, (g0, g0, jnp.array(persist), jnp.array(0), jnp.array(0)), graphs)
    n = graphs.shape[0]
    at = jnp.where(accept, start, n)  # out of range for frames without a reaction: dropped
    is_reaction = jnp.zeros(n, bool).at[at].set(True, mode="drop")
    reference = jnp.zeros_like(graphs).at[at].set(refs, mode="drop")
    return is_reaction, reference


def molecules(adjacency: Bool[Array, "n n"]) -> Int[Array, " n"]:
    """Connected components: each atom's label is the smallest atom index in its molecule."""
    n = adjacency.shape[0]
    link = adjacency | jnp.eye(n, dtype=bool)

    def step(labels, _):
        return jnp.min(jnp.where(link, labels[None, :], n), axis=1), None

    return lax.scan(step, jnp.arange(n), None, length=n)[0]


def formulas(adjacency, symbols: Sequence[str]) -> list[str]:
    """Sorted list of molecular formulas (Hill-like, elements alphabetical) of a bond graph."""
    labels = np.asarray(molecules(jnp.asarray(adjacency)))
    out = []
    for lab in np.unique(labels):
        members = [symbols[i] for i in np.flatnonzero(labels == lab)]
        out.append("".join(f"{el}{members.count(el) if members.count(el) > 1 else ''}" for el in sorted(set(members))))
    return sorted(out)


@dataclasses.dataclass(frozen=True)
class BondChange:
    """One persistent bond-graph change.

    - `frame`: index of the first frame with the product graph.
    - `reactants`, `products`: adjacency matrices ``(n, n)`` before and after.
    - `broken`, `formed`: atom pairs ``(i, j)``, ``i < j``.
    """

    frame: int
    reactants: np.ndarray
    products: np.ndarray

    @property
    def broken(self) -> list[tuple[int, int]]:
        return [tuple(p) for p in np.argwhere(np.triu(self.reactants & ~self.products))]

    @property
    def formed(self) -> list[tuple[int, int]]:
        return [tuple(p) for p in np.argwhere(np.triu(self.products & ~self.reactants))]


def split_reaction(reaction: BondChange) -> list[BondChange]:
    """Split one graph change into independent reactions.

    Several molecules can react within the same saved frame (common in a dense compressed
    gas); the changed bonds then fall into groups that share no atom of the union graph
    ``reactants | products``. Each group is one reaction (e.g. the four atoms of
    A2 + B2 -> 2 AB), reported with the reactant graph and a product graph in which only
    that group's bonds changed.
    """
    changed = reaction.reactants ^ reaction.products
    involved = np.any(changed, axis=1)
    labels = np.asarray(molecules(jnp.asarray(reaction.reactants | reaction.products)))
    out = []
    for lab in np.unique(labels[involved]):
        m = labels == lab
        block = m[:, None] & m[None, :]
        out.append(BondChange(reaction.frame, reaction.reactants, np.where(block, reaction.products, reaction.reactants)))
    return out


_graphs_jit = jax.jit(bond_graphs)
_changes_jit = jax.jit(persistent_changes, static_argnums=1)


def detect_reactions(
    frames: Float[Array, "n_frames n_atoms dim"],
    r_form,
    r_break,
    persist: int = 5,
    *,
    split: bool = True,
) -> list[BondChange]:
    """Reactions in a trajectory (frames in Å), with distance hysteresis and persistence.

    `r_form` < `r_break` (Å, scalars or ``(n, n)`` matrices, e.g. from
    :func:`covalent_cutoffs` with scales 1.2 and 1.5). A bond vibrating across one threshold
    or a graph that reverts within `persist` frames is not a reaction. With `split` (the
    default) a persistent graph change is split into its independent reactions
    (:func:`split_reaction`), so two molecule pairs reacting in the same frame count as two
    reactions; ``split=False`` reports whole-graph changes.
    """
    if np.any(np.asarray(r_break) <= np.asarray(r_form)):
        raise ValueError("`r_break` must exceed `r_form` for the hysteresis to suppress vibrations.")
    if persist < 1:
        raise ValueError(f"`persist` must be at least 1 frame; got {persist}.")
    graphs = _graphs_jit(jnp.asarray(frames), r_form, r_break)
    is_reaction, reference = _changes_jit(graphs, persist)
    graphs, is_reaction, reference = np.asarray(graphs), np.asarray(is_reaction), np.asarray(reference)
    changes = [BondChange(int(f), reference[f], graphs[f]) for f in np.flatnonzero(is_reaction)]
    return [r for c in changes for r in split_reaction(c)] if split else changes


def reaction_frames(frames, reaction: BondChange, before: int = 10, after: int = 10) -> np.ndarray:
    """The frames from ``before`` frames ahead of `reaction` to ``after`` frames past it
    (clipped to the trajectory), a start for NEB refinement between quenched ends."""
    lo = max(reaction.frame - before, 0)
    return np.asarray(frames)[lo : reaction.frame + after + 1]
