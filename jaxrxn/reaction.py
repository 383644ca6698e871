"""From reactant and product to a verified transition state in one call: :func:`find_reaction`.

The pipeline a computational chemist otherwise glues together by hand, with every stage's
failure caught and named:

1. **check** the end points: same atoms in the same order, finite coordinates, no
   overlapping atoms (a ``ValueError`` naming the problem);
2. **relax** both to minima (L-BFGS; skipped with ``relax=False``) and rigidly align the
   final state onto the initial one (Kabsch);
3. **interpolate** (``"geodesic"``, the default for molecules: X. Zhu, K. C. Thompson &
   T. J. Martinez, JCP 150, 164103 (2019); ``"idpp"``: S. Smidstrup et al., JCP 140,
   214106 (2014); ``"linear"``); for a molecule on an outside calculator, stages 5-7 run
   first from the interpolation's highest image (`refine_interpolation_max`), and the
   CI-NEB only when that saddle does not verify;
4. **CI-NEB** (G. Henkelman, B. P. Uberuaga & H. Jonsson, JCP 113, 9901 (2000)) to a loose
   force threshold, with the rigid rotation/translation of each image projected out for a
   free molecule, with rollback to the best band when a step tears it or the calculator
   fails: the band only has to bring the climbing image into the saddle's basin. On an
   outside calculator the band is relaxed by dense BFGS (:class:`jaxrxn.optimize.BFGS`,
   0.1 Å step cap) to 0.5 eV/Å in at most 50 steps (:data:`NEB_FMAX`,
   :data:`NEB_MAX_STEPS`). Measured with GFN2-xTB on H2CO (Birkholz 11): L-BFGS to 0.1
   eV/Å 824 NEB calls, L-BFGS to 0.5 eV/Å 218, BFGS to 0.5 eV/Å 110 (the same saddle after
   refinement); a sequence of thresholds (a fallback band) is an option. JAX potentials keep
   L-BFGS to 0.1 eV/Å: BFGS let a Muller-Brown band diverge past every rollback where
   L-BFGS converged in 184 calls, and the batched pipeline relaxes bands to one threshold;
5. **saddle**: the climbing image refined to a first-order saddle, starting along the
   band's tangent (the interpolation's highest image: without a first mode guess; RS-P-RFO
   on an updated Hessian for outside calculators, with Sella's choices in redundant
   internal coordinates for a free molecule, :func:`saddle_solver`; P-RFO on the exact
   Hessian for JAX potentials);
6. **frequencies** (molecules): harmonic analysis; one imaginary frequency required (from a
   point with two or more the saddle search starts again beside it, displaced along the second
   imaginary mode one way and then the other, :func:`off_second_order_point`);
7. **IRC** both ways from the saddle (:func:`jaxrxn.irc.irc`) and **verify** that its two
   ends are the initial and final states: each matches when its RMSD after Kabsch alignment
   is below `rmsd_tol` or when it has the same covalent bond graph (same atom indices; a
   different conformer of the same species still matches). The IRC's ends are relaxed to
   ``IRC_END_FMAX``; ends that do not match are relaxed on to `fmax` and matched again.

``converged`` is true only for a first-order saddle whose IRC connects the two end states.
Every force evaluation is counted, per stage and in total. A stage that fails (calculator
failure, non-finite values, no saddle) ends the run with ``failed_stage`` set and the last
good geometry kept, rather than raising.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import jax.numpy as jnp
import numpy as np

from jaxrxn._results import RESULTS
from jaxrxn.geometry import kabsch_rotation_numpy, rmsd_numpy
from jaxrxn.optimize import BFGS, LBFGS, minimize
from jaxrxn.path.elastic_band import NEB, improved_tangents, neb
from jaxrxn.potentials.core import Potential
from jaxrxn.potentials.external import HostEnergy, calculator_failures, describe_failures, time_limited
from jaxrxn.validation import check_configuration, check_same_system

if TYPE_CHECKING:
    from jaxrxn.saddle import RSPRFO

Interpolation = Literal["geodesic", "idpp", "linear"]

#: IRC settings of the pipeline (:func:`jaxrxn.irc.irc` keywords). The IRC here has to show
#: where the saddle leads, not to trace the path to 1e-4: a looser local error and a
#: hand-over to L-BFGS once the force has fallen below ``descent_fmax`` (after the energy
#: has dropped ``min_drop`` below the saddle) reach the same minima for fewer calls.
IRC_OPTIONS = {"step": 0.2, "tol": 1e-3, "descent_fmax": 0.5, "min_maxstep": 0.1}

#: Convergence (eV/Å) of the IRC's end minima in :func:`find_reaction`: they only have to
#: be recognised as the end states (RMSD or bond graph), whose energies come from their own
#: relaxation to `fmax`. A branch that ends less than ``min_drop`` below the saddle is
#: relaxed to the saddle's `fmax` instead (:func:`jaxrxn.irc.irc`'s `shallow_fmax`).
IRC_END_FMAX = 0.05

#: CI-NEB threshold (eV/Å) of the pipeline on an outside calculator (see
#: :func:`find_reaction`'s `neb_fmax`): a loose band already puts the climbing image in the
#: saddle's basin, from where RS-P-RFO in internal coordinates converges in tens of
#: gradients.
NEB_FMAX = 0.5

#: Step cap of that band (:func:`find_reaction`'s `neb_max_steps`). On the Birkholz
#: reactions (GFN2-xTB) every band that led to a connecting saddle reached 0.5 eV/Å in
#: 10-30 steps; five stalled (03, 07, 09, 13, 16), and relaxing them further (500 steps
#: more, to 0.1 eV/Å, dense BFGS or L-BFGS) cost 1,730-3,008 calls each and connected none
#: of them after a 50-step first band (and 13 only after 1,000 steps, 6,016 calls).
NEB_MAX_STEPS = 50

#: Stages in the order they run; ``failed_stage`` is one of them.
STAGES = ("input", "relax", "interpolation", "neb", "saddle", "frequencies", "irc", "verify")

#: The fields of a :class:`ReactionResult` that describe one saddle and its IRC.
_SADDLE_FIELDS = (
    "R_ts", "ts_energy", "barrier", "reverse_barrier", "saddle_index", "imaginary_frequency_cm1",
    "irc_path", "irc_energies", "irc_ends", "irc_match",
)  # fmt: skip


@dataclasses.dataclass
class ReactionResult:
    """Outcome of :func:`find_reaction` (host-side; NumPy arrays and Python numbers).

    Energies in eV, positions in Å.

    - `barrier` ``E_TS - E_IS``, `reverse_barrier` ``E_TS - E_FS``, `reaction_energy`
      ``E_FS - E_IS``, `ts_energy`; ``None`` when no saddle was reached.
    - `imaginary_frequency_cm1`: the TS's imaginary frequency as a negative number (cm^-1),
      ``None`` without a harmonic analysis (periodic systems) or without an imaginary mode.
    - `saddle_index`: number of negative curvatures at the saddle.
    - `connects`: both IRC ends match the end states (``irc_match`` says how).
    - `converged`: a first-order saddle was found and `connects`.
    - `ts_source`: where the verified saddle search started, ``"guess"`` (the `ts_guess`
      of :func:`find_reaction`), ``"interpolation"`` (the interpolation's highest image,
      `refine_interpolation_max`) or ``"band"`` (the CI-NEB's climbing image); ``None``
      when none verified. `guess_failure`, `interpolation_failure`: why the guess, the
      interpolation's highest image did not verify (``"stage: message"``), ``None`` if it
      did or was not tried.
    - `n_force_calls` and `n_force_calls_by_stage` (``relax``, ``neb``, ``saddle``,
      ``frequencies``, ``irc``): every energy/force evaluation (Hessian-vector products and
      finite-difference Hessians included); `n_hessian_calls`: analytic Hessians.
    - `failed_stage`: the first stage that failed (one of :data:`STAGES`), ``None`` if
      none; `message` says what happened. When a first attempt (the guess, the
      interpolation's highest image) reached a first-order saddle whose IRC leads to
      another minimum and the band then failed before an IRC of its own, the result is
      that saddle (``"verify"``, its IRC and ends kept; the message also says how the
      band failed).
    - `R_initial`, `R_final`: the relaxed, aligned end states; `e_initial`, `e_final`.
    - `R_ts`: the saddle (or the last good geometry of the stage that failed);
      `band`, `band_energies`: the relaxed band; `irc_path`, `irc_energies`: the IRC through
      the saddle, from its end on the initial state's side to the final state's (as the
      band runs; sides as in `irc_ends`); `irc_ends` ``(2, n_atoms, 3)``:
      the minima its ends relaxed to, in ``irc_match``'s order (initial side, final side;
      energies ``irc_match["irc_end_energies"]``): where an unconnected saddle leads
      (:func:`jaxrxn.mechanism.find_mechanism` goes on from there).
    """

    barrier: float | None = None
    reverse_barrier: float | None = None
    reaction_energy: float | None = None
    ts_energy: float | None = None
    imaginary_frequency_cm1: float | None = None
    saddle_index: int | None = None
    connects: bool = False
    converged: bool = False
    ts_source: str | None = None
    guess_failure: str | None = None
    interpolation_failure: str | None = None
    n_force_calls: int = 0
    n_force_calls_by_stage: dict[str, int] = dataclasses.field(default_factory=dict)
    n_hessian_calls: int = 0
    failed_stage: str | None = None
    message: str = ""
    e_initial: float | None = None
    e_final: float | None = None
    irc_match: dict[str, Any] = dataclasses.field(default_factory=dict)
    neb_converged: bool | None = None
    seconds: float = 0.0
    R_initial: np.ndarray | None = None
    R_final: np.ndarray | None = None
    R_ts: np.ndarray | None = None
    band: np.ndarray | None = None
    band_energies: np.ndarray | None = None
    irc_path: np.ndarray | None = None
    irc_energies: np.ndarray | None = None
    irc_ends: np.ndarray | None = None

    _ARRAYS = ("R_initial", "R_final", "R_ts", "band", "band_energies", "irc_path", "irc_energies", "irc_ends")

    def to_json(self) -> dict[str, Any]:
        """The scalar fields as a JSON-ready dict (arrays left out)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in self._ARRAYS}


def free_molecule(potential: Potential, n_atoms: int) -> bool:
    """Whether the pipeline treats `n_atoms` atoms on `potential` as a free molecule:
    atomic numbers, no periodic cell, no fixed atoms, at least 3 atoms."""
    system = potential.system
    if system is None or system.numbers is None or n_atoms < 3:
        return False
    periodic = system.cell is not None and bool(np.any(np.asarray(system.pbc)))
    fixed = potential.fixed
    return not periodic and (fixed is None or not bool(np.any(fixed)))


def _log(progress, text: str) -> None:
    if progress is True:
        print(f"jaxrxn reaction: {text}", file=sys.stderr, flush=True)
    elif callable(progress):
        progress(text)


def bond_graph(R: np.ndarray, numbers: np.ndarray, scale: float = 1.2) -> np.ndarray:
    """Covalent bonds ``(n_atoms, n_atoms)`` booleans: ``d_ij < scale (r_i + r_j)`` with
    ASE's covalent radii (B. Cordero et al., Dalton Trans. 2832 (2008))."""
    from ase.data import covalent_radii

    r = covalent_radii[np.asarray(numbers, int)]
    d = np.linalg.norm(R[:, None] - R[None], axis=-1)
    bonds = d < scale * (r[:, None] + r[None])
    np.fill_diagonal(bonds, False)
    return bonds


def bond_graph_hash(numbers, bonds: np.ndarray) -> str:
    """Hash of a bond graph (`bonds` as from :func:`bond_graph`) that does not depend on atom
    order: three rounds of Weisfeiler-Lehman refinement of element labels (B. Weisfeiler &
    A. Leman 1968). Equal graphs hash equal; distinct ones collide rarely (never for the small
    molecules of the shipped data set in practice)."""
    labels = [str(int(z)) for z in np.asarray(numbers)]
    for _ in range(3):
        labels = [
            hashlib.sha1((labels[i] + "|" + ",".join(sorted(labels[j] for j in np.flatnonzero(bonds[i])))).encode()).hexdigest()[:12]
            for i in range(len(labels))
        ]
    return hashlib.sha1(",".join(sorted(labels)).encode()).hexdigest()[:16]


def same_species(R_a: np.ndarray, R_b: np.ndarray, numbers, rmsd_tol: float, aligned: bool = True) -> tuple[bool, float, bool]:
    """``(match, rmsd, same_bonds)``: RMSD (Å; after Kabsch alignment if `aligned`) and
    whether the bond graphs (same atom indices) are equal; a match is either. Without
    `numbers` only the RMSD decides."""
    R_a, R_b = np.asarray(R_a, float), np.asarray(R_b, float)
    r = rmsd_numpy(R_a, R_b) if aligned else float(np.sqrt(np.mean(np.sum((R_a - R_b) ** 2, -1))))
    if numbers is None:
        return r <= rmsd_tol, r, False
    same_bonds = bool(np.array_equal(bond_graph(R_a, numbers), bond_graph(R_b, numbers)))
    return (r <= rmsd_tol) or same_bonds, r, same_bonds


def match_irc_ends(ends_irc, energies_irc, R_initial, R_final, numbers, rmsd_tol: float, aligned: bool) -> dict[str, Any]:
    """Match the IRC's (reverse, forward) end minima `ends_irc` (energies `energies_irc`,
    eV) to the end states, in either order (see :func:`same_species`): the ``irc_match``
    dict of a :class:`ReactionResult`. When the two end states have the same bond graph (a
    conformational change, or ends that relaxed into one complex) a bond graph matches
    either, so only the RMSD decides: on Birkholz 18 (F- + CH3Cl, GFN2-xTB) both ends
    relaxed to the product complex and an IRC through a 6i cm^-1 saddle "connected" them
    by bonds. The order with more matches is reported (on a tie, the one with the smaller
    RMSDs: when both ends have one state's bonds, the nearer is that state). An end that matches neither state
    but has its state's bond graph up to a renumbering of like atoms
    (:func:`bond_graph_hash`) is marked ``renumbered``: the same species reached with
    another atom mapping (a symmetric product or a bifurcation after the saddle: on held-out
    rxn0185_0010 the band's saddle, 0.02 Å from the data set's TS, leads to the product with
    two H atoms exchanged between its carbons). It does not count as a match: the atom
    mapping of the end states is part of the reaction asked for."""
    return matched_irc_ends(ends_irc, energies_irc, R_initial, R_final, numbers, rmsd_tol, aligned)[0]


def matched_irc_ends(ends_irc, energies_irc, R_initial, R_final, numbers, rmsd_tol: float, aligned: bool) -> tuple[dict[str, Any], np.ndarray]:
    """:func:`match_irc_ends`'s dict and the ends ``(2, n_atoms, dim)`` in its order
    (initial side, final side), as :attr:`ReactionResult.irc_ends` keeps them."""
    if numbers is not None and np.array_equal(bond_graph(R_initial, numbers), bond_graph(R_final, numbers)):
        numbers = None
    refs = (R_initial, R_final)
    # reverse end -> IS and forward end -> FS, or swapped
    orders = ((0, 1), (1, 0))
    checks = [[same_species(ends_irc[i], ref, numbers, rmsd_tol, aligned) for i, ref in zip(order, refs)] for order in orders]
    best = max((0, 1), key=lambda k: (sum(c[0] for c in checks[k]), -sum(c[1] for c in checks[k])))
    match: dict[str, Any] = {
        key: {"rmsd": c[1], "same_bonds": c[2], "match": bool(c[0])} for key, c in zip(("initial", "final"), checks[best])
    }
    match["irc_end_energies"] = [energies_irc[i] for i in orders[best]]
    if numbers is not None:  # a miss may be the state's species with like atoms renumbered
        for key, i, ref in zip(("initial", "final"), orders[best], refs):
            if not match[key]["match"]:
                hashes = {bond_graph_hash(numbers, bond_graph(np.asarray(R, float), numbers)) for R in (ends_irc[i], ref)}
                match[key]["renumbered"] = len(hashes) == 1
    return match, np.stack([np.asarray(ends_irc[i]) for i in orders[best]])


def irc_from_initial_side(result: ReactionResult) -> ReactionResult:
    """`result` with its `irc_path` and `irc_energies` running from the end on the initial
    state's side to the final state's (``irc_ends``' order); the IRC itself runs from its
    reverse end, which may lie on either side. Each IRC end relaxed from the path's end
    beside it, so the nearer pairing (plain distances) tells the sides."""
    if result.irc_path is None or result.irc_ends is None:
        return result
    path, (a, b) = result.irc_path, result.irc_ends
    if np.linalg.norm(path[0] - a) + np.linalg.norm(path[-1] - b) > np.linalg.norm(path[0] - b) + np.linalg.norm(path[-1] - a):
        result.irc_path, result.irc_energies = path[::-1].copy(), result.irc_energies[::-1].copy()
    return result


def _connects(match: dict[str, Any]) -> bool:
    return match["initial"]["match"] and match["final"]["match"]


def not_connected_message(match: dict[str, Any]) -> str:
    """The ``verify`` failure message for an ``irc_match`` whose ends do not both match."""
    missing = [k for k in ("initial", "final") if not match[k]["match"]]
    renumbered = [k for k in missing if match[k].get("renumbered")]
    return (
        "the IRC from the saddle found does not lead to the " + " and ".join(f"{k} state" for k in missing)
        + " (a different reaction): " + ", ".join(f"{k} RMSD {match[k]['rmsd']:.3f} Å" for k in missing)
        + "".join(f"; the {k} end is the {k} state's species with like atoms renumbered"
                  " (a symmetric product or a bifurcation after the saddle)" for k in renumbered)
    )  # fmt: skip


def _aligned_onto(P: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """``P`` rigidly moved onto ``Q`` (Kabsch, equal weights, as ASE's
    ``minimize_rotation_and_translation``). Mass weights were tried: on HCN -> HNC they keep
    C and N in place and send H straight through the C-N bond, where IDPP cannot move it
    off the axis and the SCF of the band's middle image fails."""
    U = kabsch_rotation_numpy(P, Q)
    return (P - P.mean(0)) @ U + Q.mean(0)


def check_end_points(R_initial, R_final, numbers_initial=None, numbers_final=None, *, cell=None, pbc=None) -> None:
    """Raise ``ValueError`` unless the two end states are usable: same shape, same atoms in
    the same order, finite, no overlapping atoms."""
    check_configuration(R_initial, name="initial state", cell=cell, pbc=pbc)
    check_configuration(R_final, name="final state", cell=cell, pbc=pbc)
    check_same_system(R_initial, R_final, numbers_initial, numbers_final)


def _interpolate(method: str, R0, R1, n_images: int, numbers):
    from jaxrxn.path import interpolation

    if method == "geodesic":
        from jaxrxn.path.geodesic_interpolation import geodesic
        from jaxrxn.system import System

        system = None if numbers is None else System(jnp.asarray(numbers))
        return geodesic(R0, R1, n_images, system).path
    if method not in ("idpp", "linear"):
        raise ValueError(f"unknown interpolation {method!r}; use 'geodesic', 'idpp' or 'linear'.")
    return interpolation.interpolate(R0, R1, n_images, method)


def pipeline_neb(remove_rigid: bool, outside: bool = False) -> NEB:
    """The CI-NEB solver of the pipeline (one definition for :func:`find_reaction` and the
    batched :func:`jaxrxn.batch.find_reactions`): L-BFGS for JAX potentials, dense BFGS
    (ASE's rule) for an outside calculator (`outside`), both with rollback."""
    optimizer = BFGS(maxstep=0.1) if outside else LBFGS(maxstep=0.1)
    return NEB(climb=True, optimizer=optimizer, remove_rigid=remove_rigid, rollback=True)


#: Bonds of the saddle stage's internal coordinates reach this multiple of the covalent
#: distance (:func:`saddle_solver`), so that bonds half broken or half formed at a climbing
#: image are primitives.
SADDLE_BOND_SCALE = 1.45


def molecular_saddle_solver(numbers, R, hessian_from: Potential | None = None) -> RSPRFO:
    """RS-P-RFO for a free molecule from a TS estimate `R` (Å, shape ``(n, 3)``; `numbers`
    ``(n,)``): :meth:`jaxrxn.saddle.RSPRFO.molecular` with bonds to
    :data:`SADDLE_BOND_SCALE`. The one setting shared by the pipeline's saddle stage
    (:func:`saddle_solver`), ``jaxrxn generate-ts --polish`` and the TS generator
    benchmark's refinement (benchmarks/ts_generator_xtb.py).

    `hessian_from`: a JAX potential on the same atoms (the shipped neural-network potential
    for GFN2-xTB searches) whose exact Hessian at `R` replaces the model Hessian, its lowest
    mode then checked by the Davidson refinement (started from that mode, not the
    gradient). From the TS generator's guesses on the 223 held-out reactions of the shipped
    data set, with GFN2-xTB: the data set's TS in 176 against 177 with 0.84x the gradients
    (11,056 vs 13,212; benchmarks/ml_hessian_ts.py)."""
    from jaxrxn.saddle import RSPRFO
    from jaxrxn.saddle.rsprfo import hessian_start

    return RSPRFO.molecular(np.asarray(numbers), np.asarray(R), bond_scale=SADDLE_BOND_SCALE, **hessian_start(hessian_from))


def check_hessian_potential(hessian_from: Potential, numbers, usable: bool = True) -> None:
    """Refuse (``ValueError``) a `hessian_from` potential that cannot start a search on the
    atoms `numbers` ``(n,)``: an outside calculator (it has no exact Hessian), or one built
    for other elements or another atom count; or any, unless `usable` (the search is a free
    molecule's on an outside calculator, where :func:`molecular_saddle_solver` takes it)."""
    if not usable:
        raise ValueError(
            "hessian_from is for free molecules on an outside calculator (xtb, pyscf): "
            "a JAX potential's saddle search starts from its own exact Hessian."
        )
    if isinstance(hessian_from.energy_fn, HostEnergy):
        raise ValueError("hessian_from must be a JAX potential with an exact Hessian (e.g. the shipped NNP); got an outside calculator.")
    system = hessian_from.system
    if system is None or system.numbers is None or not np.array_equal(np.asarray(system.numbers), np.asarray(numbers)):
        theirs = None if system is None or system.numbers is None else np.asarray(system.numbers).tolist()
        raise ValueError(f"hessian_from is built for atoms {theirs}; the reaction has {np.asarray(numbers).tolist()}.")


#: Length (Å, the whole displacement) of the step off a higher-order stationary point along
#: its second imaginary mode (:func:`off_second_order_point`).
SECOND_MODE_STEP = 0.1


def off_second_order_point(R: np.ndarray, modes) -> list[tuple[np.ndarray, np.ndarray]]:
    """Starts ``[(R_from, mode0), ...]`` for saddle searches off a stationary point `R` with
    two or more imaginary modes (`modes` ``(n_modes, 3 n_atoms)`` from
    :func:`jaxrxn.vibrations.vibrations`, most negative first): `R` displaced by
    :data:`SECOND_MODE_STEP` along the second mode, one way and then the other, each with
    the first mode as the reaction mode. Such points sit beside a TS when a torsion (a
    methyl, an OH) is left eclipsed: on the shipped data set's held-out rxn0081_0006,
    rxn0035_0006 and rxn0184_0002 (GFN2-xTB; index 2, 0.08-0.25 Å from the data set's TS)
    one of the two searches reaches the data set's TS in 17-32 gradients."""
    R = np.asarray(R, float)
    first, second = (np.asarray(modes[k], float).reshape(R.shape) for k in (0, 1))
    step = SECOND_MODE_STEP * second / np.linalg.norm(second)
    return [(R + step, first), (R - step, first)]


#: ``(stage, message, geometry)`` of the pipeline's first failing stage.
Failure = tuple[str, str, np.ndarray]


def judge_saddle(out, res, R_from: np.ndarray, frequencies: Callable[[np.ndarray], Any] | None,
                 broken: Callable[[], bool] = lambda: False) -> tuple[Failure | None, Any]:  # fmt: skip
    """Fill `out` (a :class:`ReactionResult`) from the saddle search `res` started at
    `R_from`, with the harmonic analysis ``frequencies(R_ts)`` of a molecule (``None``: the
    search's own index stands), and judge it as :func:`find_reaction` and
    :func:`jaxrxn.batch.find_reactions` both do.

    Returns ``(failure, vibrations)``: failure ``None`` for a first-order saddle; the
    vibrations of a stationary point of the wrong index (the caller may step off it,
    :func:`off_second_order_point`), else ``None``. `broken()` says whether an outside
    calculator failed meanwhile (then the stage fails whatever it returned)."""
    out.n_hessian_calls += int(res.n_hessian_calls)
    R_ts = out.R_ts = np.asarray(res.R)
    if broken() or not np.all(np.isfinite(R_ts)) or not np.isfinite(float(res.energy)):
        return ("saddle", RESULTS[res.result], R_from), None
    out.ts_energy = float(res.energy)
    out.barrier = out.ts_energy - out.e_initial
    out.reverse_barrier = out.ts_energy - out.e_final
    out.saddle_index = int(res.saddle_index)
    if not bool(res.converged) and res.result != RESULTS.saddle_wrong_index:
        return ("saddle", RESULTS[res.result], R_ts), None
    vib = None
    if frequencies is not None:
        vib = frequencies(R_ts)
        out.n_hessian_calls += vib.n_hessian_calls
        if broken() or not np.all(np.isfinite(vib.frequencies)):
            return ("frequencies", "the harmonic analysis failed", R_ts), None
        out.saddle_index = vib.n_imaginary
        out.imaginary_frequency_cm1 = vib.imaginary_frequency
    if out.saddle_index != 1:
        return ("saddle", f"{RESULTS[RESULTS.saddle_wrong_index]} (index {out.saddle_index})", R_ts), vib
    return None, vib


def saddle_solver(potential: Potential, R_ci, outside: bool, molecule: bool, hessian_from: Potential | None = None):
    """The pipeline's saddle search from the climbing image `R_ci`: P-RFO on exact Hessians
    for a JAX potential; RS-P-RFO on an updated Hessian for an outside calculator, for a
    free molecule with Sella's choices (:meth:`jaxrxn.saddle.RSPRFO.molecular`: redundant
    internal coordinates built at `R_ci`, Fischer-Almlöf model Hessian refined by Davidson,
    TS-BFGS updates, a trust radius on the largest primitive step) and bonds to
    :data:`SADDLE_BOND_SCALE`.

    Measured with GFN2-xTB (benchmarks/reaction_birkholz.py, benchmarks/ts_generator_xtb.py
    ``--pipeline``): these verify 11 of the 20 Birkholz-Schlegel reactions and find the data
    set's TS in 32 of 40 held-out reactions; the settings before (internal coordinates with
    the same bond scale but without ``molecular``'s fragment welding and in-flight atoms,
    Lindh's model Hessian, Bofill updates, a 2-norm trust radius) 9 and 31, a subset of
    both; ``molecular``'s own bond scale (1.3) 12 and 33, but it misses the Claisen
    rearrangement (benchmarks/data/claisen_*.xyz; a torsional saddle at 143i cm^-1, 0.22
    eV) that both others verify: at its climbing image the forming C-C bond is not a
    primitive. `hessian_from` (a free molecule on an outside calculator only): the JAX
    potential whose exact Hessian starts the search (:func:`molecular_saddle_solver`)."""
    from jaxrxn.saddle import PRFO, RSPRFO

    if not outside:
        return PRFO()
    if not molecule:
        return RSPRFO()
    return molecular_saddle_solver(potential.system.numbers, R_ci, hessian_from)


def band_schedule(neb_fmax, neb_max_steps, outside: bool) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """The CI-NEB thresholds (eV/Å) and step caps of :func:`find_reaction`'s `neb_fmax` and
    `neb_max_steps` (one value or one per threshold; ``None``: the defaults for an outside
    calculator, `outside`, or a JAX potential). Raises ``ValueError`` for a threshold that
    is not positive or caps that do not fit the thresholds."""
    if neb_fmax is None:
        neb_fmax = NEB_FMAX if outside else 0.1
    schedule = (float(neb_fmax),) if np.ndim(neb_fmax) == 0 else tuple(float(f) for f in neb_fmax)
    if not schedule or not all(f > 0 for f in schedule):
        raise ValueError(f"neb_fmax must be positive (one threshold or a sequence); got {neb_fmax!r}.")
    if neb_max_steps is None:
        neb_max_steps = NEB_MAX_STEPS if outside and schedule == (NEB_FMAX,) else 500
    caps = (int(neb_max_steps),) * len(schedule) if np.ndim(neb_max_steps) == 0 else tuple(int(n) for n in neb_max_steps)
    if len(caps) != len(schedule) or not all(n >= 1 for n in caps):
        raise ValueError(
            f"neb_max_steps must be a positive number or one per neb_fmax threshold ({len(schedule)}); got {neb_max_steps!r}."
        )
    return schedule, caps


def find_reaction(
    R_initial,
    R_final,
    potential: Potential,
    *,
    relax: bool = True,
    interpolation: Interpolation | None = None,
    n_images: int = 8,
    neb_fmax: float | Sequence[float] | None = None,
    neb_max_steps: int | Sequence[int] | None = None,
    fmax: float = 0.01,
    saddle_max_steps: int = 300,
    remove_rigid: bool | None = None,
    rmsd_tol: float = 0.2,
    ts_guess=None,
    refine_interpolation_max: bool | None = None,
    hessian_from: Potential | None = None,
    progress: bool | Callable[[str], None] = False,
) -> ReactionResult:
    """Transition state between two end states, refined and verified by an IRC.

    **Arguments:**

    - `R_initial`, `R_final`: end states ``(n_atoms, 3)`` in Å, same atoms in the same
      order (the atomic numbers are ``potential.system.numbers``; a potential without them
      is treated as a model surface: no alignment, no bond graphs, IDPP).
    - `potential`: a JAX potential or an outside calculator
      (:func:`jaxrxn.potentials.qm.xtb_potential`, ``pyscf_potential``, ``ase_potential``).
    - `relax`: relax both end states to `fmax` first (they should be minima).
    - `interpolation`: ``"geodesic"`` (default for free molecules), ``"idpp"`` (default
      otherwise) or ``"linear"``.
    - `n_images`: images of the band, end points included.
    - `neb_fmax`, `neb_max_steps`: the CI-NEB stops at this largest NEB force (eV/Å); it
      only has to bring the climbing image near the saddle, which the saddle search then
      converges to `fmax` (eV/Å). A sequence of decreasing thresholds is tried in turn:
      when the saddle search, the frequencies or the IRC check fails from the band relaxed
      to one, the same band is relaxed further to the next (each stage's calls add up).
      Default: :data:`NEB_FMAX` for an outside calculator, where every force call is the
      cost, and 0.1 for a JAX potential (as the batched
      :func:`jaxrxn.batch.find_reactions`). `neb_max_steps` caps each band's steps: one
      number for all, or one per threshold (default :data:`NEB_MAX_STEPS` on an outside
      calculator with the default threshold, else 500). A band
      stopped by its cap still hands its climbing image on (the saddle and IRC stages
      judge it).
    - `remove_rigid`: remove rigid-body motion from the NEB forces; default: for free
      molecules (no cell, no fixed atoms).
    - `rmsd_tol`: an IRC end matches an end state below this RMSD (Å), or with the same
      bond graph.
    - `ts_guess`: a transition-state estimate ``(n_atoms, 3)`` in Å (same atoms; e.g.
      ``jaxrxn generate-ts``'s, :func:`jaxrxn.generative.ts_generator.sample_ts`), or a
      function that makes one from the end states the pipeline reached (relaxed,
      aligned), ``ts_guess(R_initial, R_final) -> (n_atoms, 3)``, such as the shipped TS
      generator, :class:`jaxrxn.generative.ts_generator.PretrainedTSGuess`. The
      saddle search, frequencies and IRC run from it first (a free molecule's guess is
      first moved rigidly onto the initial state); only if that saddle does not verify
      does the pipeline interpolate and go on (`refine_interpolation_max`, then the
      CI-NEB; `guess_failure` says why; the calls of all attempts add up in their stages). A calculator failure on the way
      (an SCF that does not converge near the guess) ends that attempt, not the reaction.
    - `refine_interpolation_max`: before the CI-NEB (after a `ts_guess` that did not
      verify), run the saddle search, frequencies and IRC from the interpolation's highest
      image (its ``n_images - 2`` interior energies are counted in the ``interpolation``
      stage); the band runs only if that saddle does not verify either
      (`interpolation_failure` says why). Default: on for a free molecule on an outside
      calculator, where every gradient is the cost; off otherwise (a JAX potential's band
      is cheap; periodic systems were not measured).
      Measured at GFN2-xTB: on the 20 Birkholz-Schlegel reactions
      (benchmarks/reaction_birkholz.py) it connects 15 against the band alone's 11 (all
      11 among them, the same saddles, with 0.65x their calls), though its 5 failures
      cost 7,449 calls against 4,071, 11,669 in all against 11,501; on the shipped data
      set's 223 held-out reactions (geodesic, 8 images; benchmarks/ts_generator_xtb.py
      ``--max-first``) the data set's TS was verified in 185 against the band alone's 167,
      with 0.77x its gradients in all (results/dataset_lower_passes.json), and none that
      the band alone verifies was lost. The price: a verified saddle is kept even where
      the band would have found a lower one (6 of the 223, 0.08-0.68 eV higher; with a
      TS guess first, 2); pass ``False`` for the band alone.
    - `hessian_from`: a JAX potential on the same atoms (e.g. the shipped neural-network
      potential, :func:`jaxrxn.nnp.pretrained`) whose exact Hessian starts every saddle
      search instead of the model Hessian (an ML Hessian,
      :func:`molecular_saddle_solver`); its Hessians are not calculator calls. For a free
      molecule on an outside calculator only (a JAX potential's search uses its own exact
      Hessian). Measured with the shipped NNP on the shipped data set's 223 held-out
      reactions with GFN2-xTB (benchmarks/ml_hessian_ts.py, this pipeline's defaults,
      relax=False): where both runs verify the data set's TS from the same start (177
      reactions), the band and the searches take 0.89x the gradients (fewer in 151, more
      in 21), but the search from the interpolation's maximum fails to verify more often
      (25 against 20), and the band then costs more: the data set's TS verified in 187
      against 189 of 223 (5 gained, 7 lost), 1.01x the gradients in all (60,105 vs
      59,448). Hence not a default.
    - `progress`: ``True`` prints one line per stage on stderr; a callable receives them.

    Raises ``ValueError`` for unusable end points or a `hessian_from` that does not fit
    (before any calculator call). Everything
    else ends in the returned :class:`ReactionResult`.

    The stages compile once per atom count (the saddle search's internal coordinates are
    padded to lengths set by it), and JAX keeps what it compiled: a script that runs
    reactions of many sizes in one process should call
    :func:`jaxrxn._jit.clear_caches_near_map_limit` between reactions, as
    :func:`jaxrxn.batch.find_reactions` does (on GFN2-xTB a new atom count adds ~4,000
    memory mappings, a further reaction of that size ~10; a Linux process may hold 65,530
    by default, and past that compilation fails with ``Unable to allocate section
    memory``). Measured on held-out reactions of the shipped data set on an idle 2-core
    machine: the first reaction of a size 35 s, the next ones 1.0-1.4 s each.
    """
    t_start = time.perf_counter()
    system = potential.system
    numbers = None if system is None or system.numbers is None else np.asarray(system.numbers, int)
    cell = None if system is None else system.cell
    pbc = None if system is None else system.pbc
    check_end_points(R_initial, R_final, cell=cell, pbc=pbc)
    if ts_guess is not None and not callable(ts_guess):
        check_configuration(ts_guess, name="TS guess", n_atoms=np.shape(R_initial)[0], dim=np.shape(R_initial)[1], cell=cell, pbc=pbc)
    R0 = np.asarray(R_initial, float)
    R1 = np.asarray(R_final, float)
    if R0.shape[1] != 3:
        raise ValueError(f"find_reaction works on 3D structures; got dimension {R0.shape[1]}.")
    if n_images < 3:
        raise ValueError(f"n_images must be at least 3 (end points included); got {n_images}.")
    # A free molecule turns and moves freely: its end states are aligned, its band loses
    # rigid motion, its saddle gets a harmonic analysis and its IRC ends are compared after
    # alignment. A model surface (one particle, no elements) keeps its coordinates as they are.
    molecule = free_molecule(potential, R0.shape[0])
    if remove_rigid is None:
        remove_rigid = molecule
    interpolation = interpolation or ("geodesic" if molecule else "idpp")
    outside = isinstance(potential.energy_fn, HostEnergy)
    if refine_interpolation_max is None:
        refine_interpolation_max = molecule and outside
    if hessian_from is not None:
        check_hessian_potential(hessian_from, numbers, molecule and outside)
    if interpolation == "geodesic" and not molecule:
        raise ValueError("geodesic interpolation is for free molecules (atomic numbers, no cell, no fixed atoms).")
    schedule, caps = band_schedule(neb_fmax, neb_max_steps, outside)
    n_failed = [len(calculator_failures(potential))]  # failures before the current stage
    out = ReactionResult()
    calls = out.n_force_calls_by_stage

    retries = [getattr(potential.energy_fn, "n_retries", 0)]  # calculator retries before the current stage

    def stage_done(name: str, n_calls: int, t0: float, detail: str = "") -> None:
        calls[name] = calls.get(name, 0) + int(n_calls)
        # retried calculator calls (an SCF that converged only with more iterations) are what
        # makes a stage slow where its call count does not say why
        n_retried = getattr(potential.energy_fn, "n_retries", 0) - retries[0]
        retries[0] += n_retried
        retried = f", {n_retried} calculator retries" if n_retried else ""
        _log(progress, f"{name}: {int(n_calls)} force calls{retried}, {time.perf_counter() - t0:.1f} s{detail}")

    def fail(stage: str, message: str, R_keep=None) -> ReactionResult:
        failures = calculator_failures(potential)[n_failed[0]:]
        if failures:
            message = describe_failures(failures)
        out.failed_stage, out.message = stage, message
        if R_keep is not None:
            out.R_ts = np.asarray(R_keep)
        out.n_force_calls = sum(calls.values())
        out.seconds = time.perf_counter() - t_start
        _log(progress, f"failed at {stage}: {message}")
        return out

    def broken() -> bool:
        return len(calculator_failures(potential)) > n_failed[0]

    def forget_saddle() -> dict[str, Any]:
        """Clear `out`'s saddle and IRC for the next attempt; returns what they were."""
        kept = {field: getattr(out, field) for field in _SADDLE_FIELDS}
        for field in _SADDLE_FIELDS:
            setattr(out, field, {} if field == "irc_match" else None)
        return kept

    # A first attempt's first-order saddle whose IRC led to another minimum (its verify
    # message and fields): if the band then fails before an IRC of its own, that saddle is
    # the more telling result (find_mechanism goes on from its IRC's ends).
    led_elsewhere: list[tuple[str, dict[str, Any]]] = []

    def band_failed(stage: str, message: str, R_keep=None) -> ReactionResult:
        if not led_elsewhere or broken() or stage == "verify":
            return fail(stage, message, R_keep)
        verify_message, kept = led_elsewhere[-1]
        for field, value in kept.items():
            setattr(out, field, value)
        return fail("verify", f"{verify_message}; the band then failed at {stage}: {message}")

    def verified(source: str) -> ReactionResult:
        out.ts_source = source
        out.n_force_calls = sum(calls.values())
        out.seconds = time.perf_counter() - t_start
        out.converged = True
        out.message = "successful"
        _log(progress, f"verified from the {source}: barrier {out.barrier:.4f} eV, {out.n_force_calls} force calls, {out.seconds:.1f} s")
        return out

    # --- relax and align -----------------------------------------------------------
    t0 = time.perf_counter()
    e = []
    ends = []
    for R in (R0, R1):
        if relax:
            m = minimize(potential, jnp.asarray(R), LBFGS(maxstep=0.2), fmax=fmax, max_steps=1000)
            calls["relax"] = calls.get("relax", 0) + int(m.n_force_calls)
            if broken() or not bool(jnp.all(jnp.isfinite(m.R))) or not np.isfinite(float(m.energy)):
                return fail("relax", RESULTS[m.result], m.R)
            if not bool(m.converged):
                return fail("relax", f"an end state did not relax to fmax {fmax} eV/Å: {RESULTS[m.result]}", m.R)
            ends.append(np.asarray(m.R))
            e.append(float(m.energy))
        else:
            ends.append(R)
            e.append(float(potential.energy(jnp.asarray(R))))
            calls["relax"] = calls.get("relax", 0) + 1
    stage_done("relax", calls.pop("relax"), t0)  # counted as it went, for the failures above
    if broken() or not np.all(np.isfinite(e)):
        return fail("relax", "the calculator failed on an end state", R0)
    R0, R1 = ends
    if molecule:
        R1 = _aligned_onto(R1, R0)
    out.R_initial, out.R_final, out.e_initial, out.e_final = R0, R1, e[0], e[1]
    out.reaction_energy = e[1] - e[0]
    if (rmsd_numpy(R0, R1) if molecule else np.max(np.abs(R0 - R1))) < 1e-3:
        return fail("input", "the initial and final states are the same structure: there is no reaction")

    stopped: list[Failure] = []  # the first attempt that met the time limit

    def first_attempt(R_start: np.ndarray, what: str) -> str | None:
        """Saddle, frequencies and IRC from a start before the band: ``None`` when
        verified, else why not, ``"stage: message"`` (`out`'s saddle forgotten). A
        calculator failure there ends the attempt, not the reaction: the band may keep away
        from the geometry it failed on (and steps back from it if not)."""
        failure = _saddle_and_irc(potential, out, stage_done, broken, R_start, None, molecule, outside, numbers,
                                  fmax, saddle_max_steps, rmsd_tol, hessian_from)  # fmt: skip
        if failure is None:
            return None
        failures = calculator_failures(potential)[n_failed[0]:]
        why = f"{failure[0]}: " + (describe_failures(failures) if failures else failure[1])
        if time_limited(failures):
            stopped.append(failure)  # the calculator answers no more: nothing after this can run
            return why
        n_failed[0] += len(failures)
        _log(progress, f"{what} did not verify ({why}); going on")
        kept = forget_saddle()
        if failure[0] == "verify" and not failures:
            led_elsewhere.append((failure[1], kept))
        return why

    # --- saddle, frequencies, IRC from the guess ---------------------------------------------
    if ts_guess is not None:
        R_guess = np.asarray(ts_guess(R0, R1) if callable(ts_guess) else ts_guess, float)
        if callable(ts_guess):  # its shape checked now that it exists; close atoms only fail its attempt
            check_configuration(R_guess, name="generated TS guess", n_atoms=len(R0), dim=3, min_distance=None)
        out.guess_failure = first_attempt(_aligned_onto(R_guess, R0) if molecule else R_guess, "the TS guess")
        if out.guess_failure is None:
            return verified("guess")
        if stopped:
            return fail(stopped[0][0], "", stopped[0][2])

    # --- interpolate -----------------------------------------------------------------
    t0 = time.perf_counter()
    band0 = np.asarray(_interpolate(interpolation, R0, R1, n_images, numbers))
    # geodesic moves the final state rigidly onto its neighbouring image
    R1 = out.R_final = band0[-1]
    e_inner = [float(potential.energy(jnp.asarray(X))) for X in band0[1:-1]] if refine_interpolation_max else []
    stage_done("interpolation", len(e_inner), t0, f" ({interpolation})")

    # --- saddle, frequencies, IRC from the interpolation's highest image -------------
    if refine_interpolation_max:
        if broken() or not np.all(np.isfinite(e_inner)):
            # the first image it failed on (all finite: the calculator reported a failure)
            return fail("interpolation", "the calculator failed on an interpolated image", band0[1 + int(np.argmin(np.isfinite(e_inner)))])
        out.interpolation_failure = first_attempt(band0[1 + int(np.argmax(e_inner))], "the interpolation's highest image")
        if out.interpolation_failure is None:
            return verified("interpolation")
        if stopped:
            return fail(stopped[0][0], "", stopped[0][2])

    # --- CI-NEB, then saddle, frequencies, IRC; a failure there relaxes the band further --
    solver = pipeline_neb(remove_rigid, outside)
    band_path = band0
    for attempt, tol in enumerate(schedule):
        last = attempt == len(schedule) - 1
        t0 = time.perf_counter()
        band = neb(potential, band_path, solver, fmax=tol, max_steps=caps[attempt])
        band_path = out.band = np.asarray(band.path)
        out.band_energies = np.asarray(band.energies)
        out.neb_converged = bool(band.converged)
        stage_done("neb", band.n_force_calls, t0, f", {int(band.n_steps)} steps, max NEB force {float(band.max_force):.3f} eV/Å (threshold {tol})")
        energies = out.band_energies
        ts = int(band.ts_index)
        # The band is the best one the rollback kept, handed on (the saddle and IRC stages
        # judge it) unless the calculator kept failing until the rollbacks gave up.
        if not np.all(np.isfinite(energies)) or (band.result == RESULTS.band_diverged and broken()):
            return fail("neb", RESULTS[band.result], out.band[ts])
        # the band stepped back from any calculator failure (NEB rollback) and went on
        n_failed[0] = len(calculator_failures(potential))
        if energies[ts] <= max(energies[0], energies[-1]):
            if last:
                return band_failed("neb", "the band has no energy maximum between the end states (no barrier found)", out.band[ts])
            continue
        tangent = np.asarray(improved_tangents(band.path, band.energies, cell, pbc))[ts - 1]
        failure = _saddle_and_irc(potential, out, stage_done, broken, out.band[ts], tangent, molecule, outside, numbers,
                                  fmax, saddle_max_steps, rmsd_tol, hessian_from)  # fmt: skip
        if failure is None:
            break
        if broken() or last:
            return band_failed(*failure)
        _log(progress, f"{failure[0]} failed ({failure[1]}); relaxing the band to {schedule[attempt + 1]} eV/Å")
        forget_saddle()
    return verified("band")


def _saddle_and_irc(potential, out, stage_done, broken, R_start, tangent, molecule, outside, numbers,
                    fmax, saddle_max_steps, rmsd_tol, hessian_from=None) -> Failure | None:  # fmt: skip
    """Saddle search from `R_start` (a climbing image, its band `tangent` the first guess of
    the reaction mode; or a TS guess, `tangent` ``None``; the starting Hessian from
    `hessian_from` when given, :func:`saddle_solver`), frequencies, IRC and the check of
    its ends, filling `out`; ``None`` when verified, else ``(stage, message, geometry)`` of
    the first stage that failed (or met a calculator failure, `broken`)."""
    from jaxrxn.irc import irc
    from jaxrxn.saddle import saddle_search
    from jaxrxn.vibrations import vibrations

    def frequencies(R_ts: np.ndarray):
        t0 = time.perf_counter()
        # an outside calculator without analytic Hessian: central differences along the
        # 3N-6 vibrational directions only (2 (3N-6) gradients, not 6N)
        vib = vibrations(potential, R_ts, vibrational_only=outside and not hasattr(potential.energy_fn, "hessian"))
        stage_done("frequencies", vib.n_force_calls, t0)
        return vib

    def search(R_from: np.ndarray, mode0) -> tuple[Failure | None, Any]:
        """Saddle search from `R_from`, judged (:func:`judge_saddle`), `out` filled."""
        t0 = time.perf_counter()
        res = saddle_search(
            potential, jnp.asarray(R_from), saddle_solver(potential, R_from, outside, molecule, hessian_from), fmax=fmax,
            max_steps=saddle_max_steps, mode0=None if mode0 is None else jnp.asarray(mode0), check_index=not outside,
        )  # fmt: skip
        stage_done("saddle", res.n_force_calls, t0, f", fmax {float(res.fmax):.3g} eV/Å")
        return judge_saddle(out, res, R_from, frequencies if molecule else None, broken)

    failure, vib = search(np.asarray(R_start), tangent)
    if failure is not None and vib is not None and out.saddle_index >= 2 and not broken():
        for R_from, mode0 in off_second_order_point(out.R_ts, vib.modes):
            # a search from a TS guess had no first mode, nor has this one: the Hessian's own
            # lowest mode leads, as it did there
            failure, vib = search(R_from, None if tangent is None else mode0)
            if failure is None or broken() or vib is None:
                break
    if failure is not None:
        return failure
    R_ts = out.R_ts
    mode, hessian = (None, None) if vib is None else (jnp.asarray(vib.modes[0]), jnp.asarray(vib.hessian))

    # --- IRC ---------------------------------------------------------------------------
    t0 = time.perf_counter()
    path = irc(potential, jnp.asarray(R_ts), fmax=IRC_END_FMAX, shallow_fmax=fmax, mode=mode, hessian=hessian, **IRC_OPTIONS)
    stage_done("irc", path.n_force_calls, t0)
    out.n_hessian_calls += 0 if mode is not None else int(path.n_hessian_calls)
    nf, nr = int(path.forward.n_points), int(path.reverse.n_points)
    out.irc_path = np.concatenate(
        [np.asarray(path.reverse.path[:nr])[::-1], R_ts[None], np.asarray(path.forward.path[:nf])]
    )
    out.irc_energies = np.asarray(path.profile()[1])
    if broken() or path.result == RESULTS.nonfinite_state:
        return "irc", RESULTS[path.result], R_ts

    # --- verify ------------------------------------------------------------------------
    ends_irc = (np.asarray(path.reverse.R_min), np.asarray(path.forward.R_min))
    energies_irc = (float(path.reverse.energy_min), float(path.forward.energy_min))
    match, ordered = matched_irc_ends(ends_irc, energies_irc, out.R_initial, out.R_final, numbers if molecule else None, rmsd_tol, molecule)
    if not _connects(match) and fmax < IRC_END_FMAX:
        # An end relaxed only to IRC_END_FMAX can stop short on a flat stretch (a soft
        # torsion, a conformational step): held-out rxn0186_0004's stopped 0.28 and 0.33 Å
        # from its end states and matched at 0.01 eV/Å. Only a reaction that would fail pays.
        t0 = time.perf_counter()
        mins = [minimize(potential, jnp.asarray(R), LBFGS(maxstep=0.2), fmax=fmax, max_steps=1000) for R in ends_irc]
        stage_done("irc", sum(int(m.n_force_calls) for m in mins), t0, f", both ends relaxed to {fmax:g} eV/Å")
        if broken() or not all(np.isfinite(float(m.energy)) for m in mins):
            return "irc", "the calculator failed relaxing the IRC's ends", R_ts
        ends_irc = tuple(np.asarray(m.R) for m in mins)
        energies_irc = tuple(float(m.energy) for m in mins)
        match, ordered = matched_irc_ends(ends_irc, energies_irc, out.R_initial, out.R_final, numbers if molecule else None, rmsd_tol, molecule)
    out.irc_match, out.irc_ends = match, ordered
    irc_from_initial_side(out)
    out.connects = _connects(match)
    if not out.connects:
        return "verify", not_connected_message(match), R_ts
    return None
