"""Reaction networks of minima (EQ), transition states (TS) and dissociation channels (DC).

GRRM's vocabulary (Maeda et al., JCC 39, 233 (2018)): EQ are local minima, TS first-order
saddles joining two EQ, DC saddle-free exits where the system falls apart (a TS-like point
whose downhill side is a dissociation limit). Structures are told apart by their energy
*and* a permutation-, rotation- and translation-invariant fingerprint
(:func:`structure_fingerprint`), so permutational copies of one minimum (the six
relabelled hexagons of 2D LJ7) are one EQ, and a TS joining an EQ to a relabelled copy of
itself is a degenerate rearrangement (an EQ -> same EQ edge).

The network is plain Python (lists of records holding numpy arrays): it is the
bookkeeping around jitted searches, saved to and resumed from JSON, exported to networkx,
drawn as a disconnectivity graph (O. M. Becker & M. Karplus, JCP 106, 1495 (1997)), and
turned into a rate matrix for kinetic Monte Carlo by harmonic TST.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence

import numpy as np

from jaxrxn.rates import arrhenius_rate


def structure_fingerprint(R, cell=None) -> np.ndarray:
    """Permutation-invariant fingerprint of ``R`` ``(n_atoms, dim)`` (Å).

    The sorted list of all interatomic distances (invariant to relabelling, rotation and
    translation). For one particle (a model surface) there are no distances and the
    coordinates themselves are the fingerprint. With a `cell` ``(dim, dim)`` distances use
    the minimum image.
    """
    R = np.asarray(R, float)
    if R.shape[0] == 1:
        return R.reshape(-1).copy()
    d = R[:, None, :] - R[None, :, :]
    if cell is not None:
        c = np.asarray(cell, float)[: R.shape[1], : R.shape[1]]
        f = d @ np.linalg.inv(c)
        d = (f - np.round(f)) @ c
    iu = np.triu_indices(R.shape[0], 1)
    return np.sort(np.sqrt((d**2).sum(-1))[iu])


@dataclasses.dataclass
class Minimum:
    """An EQ: `R` (Å), `energy` (eV), its `fingerprint`; `explored` once AFIR ran from it;
    `log_modes`: sum of log(eigenvalues) of the mass-weighted Hessian's real modes (zero
    modes removed), for Vineyard prefactors (NaN when not computed)."""

    R: np.ndarray
    energy: float
    fingerprint: np.ndarray
    explored: bool = False
    log_modes: float = float("nan")


@dataclasses.dataclass
class TransitionState:
    """A TS: `R` (Å), `energy` (eV), the EQ indices `minima` = (a, b) it joins (a == b for
    a degenerate rearrangement), and Vineyard prefactors (Hz) for a -> b and b -> a."""

    R: np.ndarray
    energy: float
    fingerprint: np.ndarray
    minima: tuple[int, int]
    prefactor_forward: float = float("nan")
    prefactor_backward: float = float("nan")


@dataclasses.dataclass
class DissociationChannel:
    """A DC: the highest structure (Å, eV) of a path from EQ `minimum` that ends in
    separated fragments (no bound product)."""

    R: np.ndarray
    energy: float
    fingerprint: np.ndarray
    minimum: int


class ReactionNetwork:
    """Minima, transition states and dissociation channels with deduplication.

    **Arguments:**

    - `energy_tol` (eV) and `fingerprint_tol` (Å, largest difference of sorted distances):
      two structures are the same when both agree.
    - `cell`: ``(dim, dim)`` for periodic systems (minimum-image fingerprints).
    """

    def __init__(self, energy_tol: float = 1e-4, fingerprint_tol: float = 1e-2, cell=None):
        if energy_tol <= 0 or fingerprint_tol <= 0:
            raise ValueError("energy_tol and fingerprint_tol must be positive.")
        self.energy_tol = float(energy_tol)
        self.fingerprint_tol = float(fingerprint_tol)
        self.cell = None if cell is None else np.asarray(cell, float)
        self.minima: list[Minimum] = []
        self.transition_states: list[TransitionState] = []
        self.channels: list[DissociationChannel] = []

    # ---- identity ---------------------------------------------------------------------
    def fingerprint(self, R) -> np.ndarray:
        return structure_fingerprint(R, self.cell)

    def _same(self, e1, fp1, e2, fp2) -> bool:
        return (
            abs(e1 - e2) < self.energy_tol
            and fp1.shape == fp2.shape
            and float(np.max(np.abs(fp1 - fp2), initial=0.0)) < self.fingerprint_tol
        )

    def find_minimum(self, R, energy: float) -> int | None:
        """Index of the known EQ matching ``(R, energy)``, or ``None``."""
        fp = self.fingerprint(R)
        for k, m in enumerate(self.minima):
            if self._same(energy, fp, m.energy, m.fingerprint):
                return k
        return None

    def add_minimum(self, R, energy: float, log_modes: float = float("nan")) -> tuple[int, bool]:
        """Add an EQ unless known; returns ``(index, is_new)``."""
        k = self.find_minimum(R, energy)
        if k is not None:
            return k, False
        self.minima.append(Minimum(np.asarray(R, float), float(energy), self.fingerprint(R), False, float(log_modes)))
        return len(self.minima) - 1, True

    def add_transition_state(
        self, R, energy: float, minima: tuple[int, int],
        prefactor_forward: float = float("nan"), prefactor_backward: float = float("nan"),
    ) -> tuple[int, bool]:  # fmt: skip
        """Add a TS joining EQ ``minima = (a, b)`` unless known; returns ``(index, is_new)``."""
        fp = self.fingerprint(R)
        a, b = (int(minima[0]), int(minima[1]))
        for k, t in enumerate(self.transition_states):
            if self._same(energy, fp, t.energy, t.fingerprint) and set(t.minima) == {a, b}:
                return k, False
        self.transition_states.append(
            TransitionState(np.asarray(R, float), float(energy), fp, (a, b), float(prefactor_forward), float(prefactor_backward))
        )
        return len(self.transition_states) - 1, True

    def add_channel(self, R, energy: float, minimum: int) -> tuple[int, bool]:
        """Add a DC out of EQ `minimum` unless known; returns ``(index, is_new)``."""
        # separated fragments sit at arbitrary distances: a DC is known by its energy
        fp = self.fingerprint(R)
        for k, c in enumerate(self.channels):
            if abs(energy - c.energy) < 10 * self.energy_tol and c.minimum == minimum:
                return k, False
        self.channels.append(DissociationChannel(np.asarray(R, float), float(energy), fp, int(minimum)))
        return len(self.channels) - 1, True

    # ---- summaries --------------------------------------------------------------------
    @property
    def minimum_energies(self) -> np.ndarray:
        return np.array([m.energy for m in self.minima])

    @property
    def transition_state_energies(self) -> np.ndarray:
        return np.array([t.energy for t in self.transition_states])

    def unexplored(self) -> list[int]:
        """EQ indices not yet explored, lowest energy first."""
        idx = [k for k, m in enumerate(self.minima) if not m.explored]
        return sorted(idx, key=lambda k: self.minima[k].energy)

    def summary(self) -> str:
        lines = [f"{len(self.minima)} EQ, {len(self.transition_states)} TS, {len(self.channels)} DC"]
        for k, m in enumerate(self.minima):
            lines.append(f"EQ{k}: E = {m.energy:.6f}")
        for k, t in sorted(enumerate(self.transition_states), key=lambda kt: kt[1].energy):
            a, b = t.minima
            lines.append(
                f"TS{k}: E = {t.energy:.6f}  EQ{a} <-> EQ{b}  barriers "
                f"{t.energy - self.minima[a].energy:.4f} / {t.energy - self.minima[b].energy:.4f}"
            )
        for k, c in enumerate(self.channels):
            lines.append(f"DC{k}: E = {c.energy:.6f} from EQ{c.minimum}")
        return "\n".join(lines)

    # ---- kinetics ---------------------------------------------------------------------
    def rate_matrix(self, temperature: float, prefactor: float | None = None) -> np.ndarray:
        """Harmonic-TST rate matrix ``K`` ``(n_min, n_min)``: ``K[i, j]`` is the rate (Hz)
        from EQ i to EQ j, summed over the TS joining them, with zero diagonal.

        Each TS contributes ``nu exp(-(E_TS - E_i)/kB T)`` with its Vineyard prefactor
        (from :func:`jaxrxn.rates.vineyard_prefactor`), or the constant `prefactor` (Hz)
        for every TS when given (or when the Vineyard one was not computed). Rates count
        one TS each: permutational copies of a TS (symmetry-equivalent routes) are not
        multiplied in. Degenerate rearrangements (i -> i) appear on the diagonal only
        through ``K[i, i]``, which is kept zero, as KMC ignores them.
        """
        if temperature <= 0:
            raise ValueError(f"temperature must be positive; got {temperature} K.")
        n = len(self.minima)
        rows, cols, barriers, nus = [], [], [], []
        for t in self.transition_states:
            a, b = t.minima
            if a == b:
                continue
            for i, j, nu in ((a, b, t.prefactor_forward), (b, a, t.prefactor_backward)):
                if prefactor is not None or not np.isfinite(nu):
                    if prefactor is None:
                        raise ValueError(
                            "a TS has no Vineyard prefactor; pass `prefactor` (Hz) or build the "
                            "network with prefactors."
                        )
                    nu = prefactor
                rows.append(i), cols.append(j), nus.append(nu)
                barriers.append(t.energy - self.minima[i].energy)
        K = np.zeros((n, n))
        k = arrhenius_rate(np.asarray(barriers, float), np.asarray(nus, float), float(temperature))
        np.add.at(K, (np.asarray(rows, int), np.asarray(cols, int)), k)
        return K

    # ---- export -----------------------------------------------------------------------
    def to_dict(self) -> dict:
        def arr(x):
            return np.asarray(x).tolist()

        def num(x):
            return None if not np.isfinite(x) else float(x)

        return {
            "format": "jaxrxn.ReactionNetwork/1",
            "energy_tol": self.energy_tol,
            "fingerprint_tol": self.fingerprint_tol,
            "cell": None if self.cell is None else arr(self.cell),
            "minima": [
                {"R": arr(m.R), "energy": m.energy, "explored": m.explored, "log_modes": num(m.log_modes)}
                for m in self.minima
            ],
            "transition_states": [
                {
                    "R": arr(t.R), "energy": t.energy, "minima": list(t.minima),
                    "prefactor_forward": num(t.prefactor_forward),
                    "prefactor_backward": num(t.prefactor_backward),
                }  # fmt: skip
                for t in self.transition_states
            ],
            "channels": [{"R": arr(c.R), "energy": c.energy, "minimum": c.minimum} for c in self.channels],
        }

    @classmethod
    def from_dict(cls, d: dict) -> "ReactionNetwork":
        if d.get("format") != "jaxrxn.ReactionNetwork/1":
            raise ValueError("not a jaxrxn reaction network (missing 'format': 'jaxrxn.ReactionNetwork/1').")
        net = cls(d["energy_tol"], d["fingerprint_tol"], d.get("cell"))
        nan = lambda x: float("nan") if x is None else float(x)  # noqa: E731
        for m in d["minima"]:
            R = np.asarray(m["R"], float)
            net.minima.append(Minimum(R, float(m["energy"]), net.fingerprint(R), bool(m["explored"]), nan(m["log_modes"])))
        for t in d["transition_states"]:
            R = np.asarray(t["R"], float)
            net.transition_states.append(
                TransitionState(R, float(t["energy"]), net.fingerprint(R), tuple(t["minima"]),
                                nan(t["prefactor_forward"]), nan(t["prefactor_backward"]))
            )  # fmt: skip
        for c in d["channels"]:
            R = np.asarray(c["R"], float)
            net.channels.append(DissociationChannel(R, float(c["energy"]), net.fingerprint(R), int(c["minimum"])))
        return net

    def save(self, filename: str) -> None:
        """Write the network as JSON (atomically: a checkpoint is never half-written)."""
        tmp = f"{filename}.tmp"
        with open(tmp, "w") as fh:
            json.dump(self.to_dict(), fh)
        os.replace(tmp, filename)

    @classmethod
    def load(cls, filename: str) -> "ReactionNetwork":
        with open(filename) as fh:
            return cls.from_dict(json.load(fh))

    def to_networkx(self):
        """A ``networkx.MultiGraph``: nodes ``("EQ", k)`` and ``("DC", k)`` with their
        energies, one edge per TS (keyed ``("TS", k)``) carrying its energy and barriers.

        Needs networkx (the ``graph`` extra)."""
        import networkx as nx

        g = nx.MultiGraph()
        for k, m in enumerate(self.minima):
            g.add_node(("EQ", k), kind="EQ", energy=m.energy)
        for k, c in enumerate(self.channels):
            g.add_node(("DC", k), kind="DC", energy=c.energy)
            g.add_edge(("EQ", c.minimum), ("DC", k), key=("DC", k), energy=c.energy)
        for k, t in enumerate(self.transition_states):
            a, b = t.minima
            g.add_edge(
                ("EQ", a), ("EQ", b), key=("TS", k), energy=t.energy,
                barrier_forward=t.energy - self.minima[a].energy,
                barrier_backward=t.energy - self.minima[b].energy,
            )  # fmt: skip
        return g

    # ---- disconnectivity graph ----------------------------------------------------------
    def disconnectivity(self, levels: Sequence[float]) -> list[list[list[int]]]:
        """Superbasins at each energy level (highest first): for every level, the groups of
        EQ that are joined by TS below that level and whose members lie below it."""
        groups_per_level = []
        E = self.minimum_energies
        for level in levels:
            parent = list(range(len(self.minima)))

            def root(i):
                while parent[i] != i:
                    parent[i] = parent[parent[i]]
                    i = parent[i]
                return i

            for t in self.transition_states:
                if t.energy < level:
                    a, b = t.minima
                    parent[root(a)] = root(b)
            groups: dict[int, list[int]] = {}
            for i in range(len(self.minima)):
                if E[i] < level:
                    groups.setdefault(root(i), []).append(i)
            groups_per_level.append(sorted(groups.values(), key=lambda g: min(E[g])))
        return groups_per_level

    def plot_disconnectivity(self, filename: str, *, n_levels: int = 30, energy_unit: str = "eV") -> None:
        """Draw the disconnectivity graph (Becker & Karplus 1997) as a PNG.

        Each vertical line ends at a minimum's energy; lines merge at the level where a TS
        first joins their superbasins. Needs at least one TS.
        """
        if not self.transition_states:
            raise ValueError("a disconnectivity graph needs at least one transition state.")
        from jaxrxn.plot import _pyplot

        E = self.minimum_energies
        top = max(t.energy for t in self.transition_states)
        span = top - E.min()
        levels = np.linspace(top + 0.05 * span, E.min(), n_levels + 1)[:-1]
        groups = self.disconnectivity(levels)
        # leaf order: depth-first through the tree, lower basins first
        order: list[int] = []

        def visit(members, depth):
            if depth + 1 >= len(groups):
                order.extend(sorted(members, key=lambda i: E[i]))
                return
            children = [g for g in groups[depth + 1] if set(g) <= set(members)]
            rest = set(members) - set(i for g in children for i in g)
            for g in children:
                visit(g, depth + 1)
            order.extend(sorted(rest, key=lambda i: E[i]))

        for g in groups[0]:
            visit(g, 0)
        x_of = {i: float(k) for k, i in enumerate(order)}
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(max(4.0, 0.45 * len(order) + 2), 5))

        def x_group(g):
            return float(np.mean([x_of[i] for i in g]))

        for d in range(len(levels)):
            for g in groups[d]:
                x = x_group(g)
                nxt = [h for h in groups[d + 1] if set(h) <= set(g)] if d + 1 < len(levels) else []
                if len(g) == 1 and not nxt:
                    ax.plot([x, x_of[g[0]]], [levels[d], E[g[0]]], "k-", lw=1)
                    continue
                for h in nxt:
                    ax.plot([x, x_group(h)], [levels[d], levels[d + 1]], "k-", lw=1)
                for i in set(g) - set(i for h in nxt for i in h):
                    ax.plot([x, x_of[i]], [levels[d], E[i]], "k-", lw=1)
        for i in order:
            ax.annotate(f"{i}", (x_of[i], E[i]), textcoords="offset points", xytext=(0, -10), ha="center", fontsize=7)
        ax.set_xticks([])
        ax.set_ylabel(f"energy [{energy_unit}]")
        ax.set_title(f"{len(self.minima)} minima, {len(self.transition_states)} transition states")
        fig.tight_layout()
        fig.savefig(filename, dpi=120)
        plt.close(fig)
