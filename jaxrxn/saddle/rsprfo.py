"""Restricted-step P-RFO on an approximate Hessian, for calculators whose Hessian is
expensive or unavailable (xTB, Hartree-Fock, DFT through :func:`jaxrxn.potentials.ase_potential`).

The Hessian is never computed exactly. It starts from Lindh's model Hessian (R. Lindh,
A. Bernhardsson, G. Karlström & P.-Å. Malmqvist, Chem. Phys. Lett. 241, 423 (1995)), which
costs no calculator call; its lowest mode is then refined with a Davidson iteration whose
Hessian-vector products are forward differences of gradients (E. R. Davidson, J. Comput.
Phys. 17, 87 (1975); Olsen's correction, J. Olsen, P. Jørgensen & J. Simons, Chem. Phys.
Lett. 169, 463 (1990)), and every product is folded back into the model so that it
reproduces them exactly, as Sella does (E. D. Hermes, K. Sargsyan, H. N. Najm & J. Zádor,
J. Chem. Theory Comput. 18, 6974 (2022)). Each step then updates it from the change of the
gradient with Bofill's SR1/PSB mixture (J. M. Bofill, J. Comput. Chem. 15, 1 (1994)).

The step is P-RFO (Baker 1986; Banerjee et al. 1985): the lowest mode of the approximate
Hessian is maximized, the others minimized, each with its own rational-function shift; a
step longer than the trust radius moves both shifts apart by the same amount until it fits
(the restricted-step form of Besalú & Bofill, Theor. Chem. Acc. 100, 265 (1998)).
Coordinates are Cartesian with rigid translations and rotations projected out
(:mod:`jaxrxn.saddle.index`), or redundant internal coordinates
(:mod:`jaxrxn.saddle.internal`; ``RSPRFO(coordinates=redundant_internals(numbers, R0))``),
where the Hessian lives on the primitives, the step is taken in their active space and
back-transformed iteratively (Peng, Ayala, Schlegel & Frisch, J. Comput. Chem. 17, 49
(1996); Bakken & Helgaker, J. Chem. Phys. 117, 9160 (2002)); no starting mode is needed.

Everything runs in ``lax`` control flow, so the search jits end to end on a JAX potential
and runs through the host callback on an outside one. Every gradient spent on the Davidson
refinement is counted in ``n_force_calls``.
"""

from __future__ import annotations

import itertools
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Bool, Float, Int, Scalar

from jaxrxn._linalg import eigh, eigvalsh
from jaxrxn._results import RESULTS
from jaxrxn.potentials.core import Potential, max_atom_force
from jaxrxn.saddle.index import AbstractSaddleSolver, SaddleState, ZeroModes, count_negative, first_mode, removed_directions
from jaxrxn.saddle.internal import InternalCoordinates, active_space, back_transform, bend_angle, bond_length, torsion_angle, torsion_defined

_HARTREE_EV = 27.211386245988
_BOHR_ANG = 0.529177210903

# Lindh 1995, Table 1: exponents alpha (bohr^-2) and reference distances r_ref (bohr) by
# periodic-table row (1: H-He, 2: Li-Ne, 3: Na and beyond), force constants k_r
# (Hartree/bohr^2), k_phi, k_tau (Hartree/rad^2).
_LINDH_ALPHA = np.array([[1.0, 0.3949, 0.3949], [0.3949, 0.28, 0.28], [0.3949, 0.28, 0.28]])
_LINDH_RREF = np.array([[1.35, 2.10, 2.53], [2.10, 2.87, 3.40], [2.53, 3.40, 3.40]])
_LINDH_K = (0.45, 0.15, 0.005)


def _row_from_mass(masses: Float[Array, " n_atoms"]) -> Int[Array, " n_atoms"]:
    """Periodic-table row index (0, 1, 2) from atomic masses in amu (He 4.0, Ne 20.2)."""
    return jnp.where(masses < 4.5, 0, jnp.where(masses < 20.5, 1, 2))


def _tuples(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All bonds i<j, bends i-j-k (i<k) and torsions i-j-k-l (j<k) of ``n`` atoms."""
    r = range(n)
    bonds = [(i, j) for i, j in itertools.combinations(r, 2)]
    bends = [(i, j, k) for j in r for i, k in itertools.combinations([a for a in r if a != j], 2)]
    tors = [
        (i, j, k, m)
        for j, k in itertools.combinations(r, 2)
        for i in r
        for m in r
        if len({i, j, k, m}) == 4
    ]
    shape = lambda t, m: np.asarray(t, dtype=np.int64).reshape(-1, m)  # noqa: E731
    return shape(bonds, 2), shape(bends, 3), shape(tors, 4)


@jax.jit
def lindh_hessian(R: Float[Array, "n_atoms 3"], masses: Float[Array, " n_atoms"]) -> Float[Array, "n_dof n_dof"]:
    """Lindh's model Hessian (Chem. Phys. Lett. 241, 423 (1995)), ``(3 n_atoms, 3 n_atoms)`` in eV/Å².

    A sum over every bond, bend and torsion of the molecule of ``k rho b b^T``, with ``b``
    the Wilson B-matrix row of the internal coordinate and ``rho`` a product of
    ``exp(alpha (r_ref^2 - r^2))`` over its bonds, so stretched or distant pairs contribute
    little. Element rows are read from the masses (amu). Positive semidefinite; zero along
    rigid translations and rotations. Jittable; the coordinate lists are built once per
    atom count (``O(n_atoms^4)`` torsions).
    """
    n = R.shape[0]
    X = R / _BOHR_ANG
    row = _row_from_mass(masses)
    alpha = jnp.asarray(_LINDH_ALPHA, R.dtype)[row[:, None], row[None, :]]
    rref = jnp.asarray(_LINDH_RREF, R.dtype)[row[:, None], row[None, :]]
    r2 = jnp.sum((X[:, None] - X[None]) ** 2, axis=-1)
    rho = jnp.exp(alpha * (rref**2 - r2))
    bonds, bends, tors = _tuples(n)
    k_r, k_phi, k_tau = _LINDH_K
    H = jnp.zeros((3 * n, 3 * n), R.dtype)
    terms = [
        (bonds, bond_length, k_r * rho[bonds[:, 0], bonds[:, 1]], None),
        (bends, bend_angle, k_phi * rho[bends[:, 0], bends[:, 1]] * rho[bends[:, 1], bends[:, 2]], None),
        (
            tors,
            torsion_angle,
            k_tau * rho[tors[:, 0], tors[:, 1]] * rho[tors[:, 1], tors[:, 2]] * rho[tors[:, 2], tors[:, 3]],
            torsion_defined,
        ),
    ]
    for idx, q, weight, ok in terms:
        if len(idx) == 0:
            continue
        Xs = X[idx]  # (n_terms, m, 3)
        B = jax.vmap(jax.grad(q))(Xs).reshape(len(idx), -1)
        if ok is not None:
            weight = jnp.where(jax.vmap(ok)(Xs), weight, 0.0)
            B = jnp.where(jnp.isfinite(B), B, 0.0)
        flat = (idx[:, :, None] * 3 + np.arange(3)).reshape(len(idx), -1)
        blocks = weight[:, None, None] * B[:, :, None] * B[:, None, :]
        H = H.at[flat[:, :, None], flat[:, None, :]].add(blocks)
    return H * (_HARTREE_EV / _BOHR_ANG**2)


def fischer_almlof_hessian(
    coords: InternalCoordinates, R: Float[Array, "n_atoms 3"], numbers: Int[Array, " n_atoms"]
) -> Float[Array, "n_primitives n_primitives"]:
    """Diagonal model Hessian over the primitives of ``coords`` (eV/Å² for bonds and
    Cartesian primitives, eV/rad² for angles), from T. H. Fischer & J. Almlöf, J. Phys.
    Chem. 96, 9768 (1992), with the constants Sella uses (Hermes et al., J. Chem. Theory
    Comput. 18, 6974 (2022)).

    Each force constant decays with how far its bonds are stretched beyond the sum of
    covalent radii ``r_cov`` (distances in bohr, constants in Hartree): bonds
    ``0.3601 exp(-1.944 (r - r_cov))``; bends (linear bends too)
    ``0.089 + 0.11 exp(-0.44 (r_ab + r_bc - r_cov,ab - r_cov,bc)) (r_cov,ab r_cov,bc)^0.42``;
    torsions about ``b-c`` ``0.0015 + 14 L^0.57 exp(-2.85 (r_bc - r_cov,bc)) / (r_bc r_cov,bc)^4``
    with ``L`` the bonds at ``b`` and ``c`` other than ``b-c``; Cartesian primitives 70 eV/Å².
    Unlike Lindh's Cartesian model, a bond stretched to a transition-state length keeps a
    sizeable force constant, so the first steps of a saddle search are not long moves
    along the forming and breaking bonds.
    """
    from ase.data import covalent_radii

    X = R / _BOHR_ANG
    rcov = jnp.asarray(covalent_radii, R.dtype)[numbers] / _BOHR_ANG
    dist = lambda i, j: jnp.linalg.norm(X[i] - X[j], axis=-1)  # noqa: E731
    b = coords.bonds
    k_bond = 0.3601 * jnp.exp(-1.944 * (dist(b[:, 0], b[:, 1]) - rcov[b[:, 0]] - rcov[b[:, 1]]))

    def bend(t):
        i, j, k = t[:, 0], t[:, 1], t[:, 2]
        ca, cb = rcov[i] + rcov[j], rcov[j] + rcov[k]
        return 0.089 + 0.11 * jnp.exp(-0.44 * (dist(i, j) + dist(j, k) - ca - cb)) * (ca * cb) ** 0.42

    real = jnp.ones(len(b), bool) if coords.real is None else coords.real[: len(b)]  # padding bonds count for nothing
    nbonds = jnp.zeros(R.shape[0], jnp.int32).at[b.reshape(-1)].add(jnp.repeat(real, 2).astype(jnp.int32))
    t = coords.torsions
    j, k = t[:, 1], t[:, 2]
    r_jk, c_jk = dist(j, k), rcov[j] + rcov[k]
    L = jnp.maximum(nbonds[j] + nbonds[k] - 2, 0).astype(R.dtype)
    k_tors = 0.0015 + 14.0 * L**0.57 * jnp.exp(-2.85 * (r_jk - c_jk)) / (r_jk * c_jk) ** 4
    diag = jnp.concatenate(
        [
            k_bond * (_HARTREE_EV / _BOHR_ANG**2),
            bend(coords.bends) * _HARTREE_EV,
            jnp.repeat(bend(coords.linear), 2) * _HARTREE_EV,
            k_tors * _HARTREE_EV,
            jnp.full(3 * len(coords.cartesian), 70.0, R.dtype),
        ]
    )
    return jnp.diag(diag.astype(R.dtype))


def _numbers(potential: Potential, R) -> Int[Array, " n_atoms"]:
    """Atomic numbers of the potential's system, or else the elements whose standard
    atomic masses are nearest to its masses."""
    system = potential.system
    if system is not None and system.numbers is not None:
        return jnp.asarray(system.numbers)
    from ase.data import atomic_masses

    table = jnp.asarray(atomic_masses, R.dtype)
    return jnp.argmin(jnp.abs(potential.atom_masses(R)[:, None] - table[None, 1:]), axis=1) + 1


def _projector(potential, R, modes):
    V = removed_directions(potential, R, modes)
    return jnp.eye(R.size, dtype=R.dtype) - V.T @ V, V


def _sym(A):
    return 0.5 * (A + A.T)


def _bofill(H, s, y):
    """Bofill's update (J. Comput. Chem. 15, 1 (1994)): SR1 and Powell-symmetric-Broyden
    mixed by ``phi = (s.xi)^2 / (|s|^2 |xi|^2)``, ``xi = y - H s``; keeps the indefinite
    curvature a saddle search needs (BFGS would force it positive)."""
    xi = y - H @ s
    ss, sx, xx = s @ s, s @ xi, xi @ xi
    ok = (ss > 1e-20) & (xx > 1e-30)
    ss_, xx_ = jnp.where(ok, ss, 1.0), jnp.where(ok, xx, 1.0)
    sr1_ok = jnp.abs(sx) > 1e-12 * jnp.sqrt(ss_ * xx_)
    sr1 = jnp.where(sr1_ok, jnp.outer(xi, xi) / jnp.where(sr1_ok, sx, 1.0), 0.0)
    psb = (jnp.outer(xi, s) + jnp.outer(s, xi)) / ss_ - sx * jnp.outer(s, s) / ss_**2
    phi = jnp.where(sr1_ok, sx**2 / (ss_ * xx_), 0.0)
    return jnp.where(ok, H + phi * sr1 + (1.0 - phi) * psb, H)


def _ts_bfgs(H, s, y):
    """TS-BFGS update (J. M. Anglada & J. M. Bofill, J. Comput. Chem. 24, 1 (2003)):
    ``dH = u j^T + j u^T - (j.s) u u^T`` with ``j = y - H s`` and ``u = x / (x.s)``,
    ``x = (s.y) y + (s.|H|s) |H| s`` (``|H|``: ``H`` with its eigenvalues made positive),
    a BFGS-like update that keeps indefinite curvature; falls back to Powell-symmetric-Broyden
    where ``x.s`` vanishes."""
    w, V = eigh(H)
    j = y - H @ s
    aHs = V @ (jnp.abs(w) * (V.T @ s))
    x = (s @ y) * y + (s @ aHs) * aHs
    xs = x @ s
    ss = s @ s
    ok = (ss > 1e-20) & (jnp.abs(xs) > 1e-30)
    u = x / jnp.where(ok, xs, 1.0)
    ts = jnp.outer(u, j) + jnp.outer(j, u) - (j @ s) * jnp.outer(u, u)
    ss_ = jnp.where(ss > 1e-20, ss, 1.0)
    psb = (jnp.outer(j, s) + jnp.outer(s, j)) / ss_ - (s @ j) * jnp.outer(s, s) / ss_**2
    return jnp.where(ok, H + ts, jnp.where(ss > 1e-20, H + psb, H))


class RSPRFOState(eqx.Module):
    hessian: Float[Array, "n n"]  # approximate Hessian: Cartesian (eV/Å²) or over the internal primitives
    trust: Scalar  # Å (Cartesian) or the mixed Å/radian norm of the internal step
    n_hvp: Int[Array, ""]  # Hessian-vector products (one gradient each) so far
    n_steps: Int[Array, ""]
    since_refine: Int[Array, ""]  # steps since the last Davidson refinement
    confirmed: Bool[Array, ""]  # a negative curvature of the true Hessian is known at R (gradients, not the model)
    rejected: Int[Array, ""]  # points that met fmax without it; the next step leaves the last one along its softest mode
    space: tuple  # the step space at R (RSPRFO._space), computed once per point


def hessian_start(potential: Potential | None) -> dict[str, object]:
    """The :class:`RSPRFO` fields that start a search from `potential`'s exact Hessian (an
    ML Hessian: a JAX potential on the same atoms), the Davidson refinement then checking
    that Hessian's own lowest mode (``davidson_start="model"``); ``{}`` for ``None``. The
    one rule of ``hessian_from`` (:func:`jaxrxn.reaction.molecular_saddle_solver`) and the
    CLI's ``--hessian-from``: ``RSPRFO(**hessian_start(nnp))``."""
    return {} if potential is None else {"initial_hessian": potential, "davidson_start": "model"}


class RSPRFO(AbstractSaddleSolver):
    """Restricted-step P-RFO with an approximate, gradient-updated Hessian.

    For calculators with first derivatives only (or where second derivatives cost too
    much): the Hessian is modelled (Lindh 1995), its lowest mode refined with a few
    finite-difference Hessian-vector products (Davidson), and updated each step with
    Bofill's formula. See the module docstring for the references.

    - `trust_radius`: initial step length bound (norm over all coordinates: Å in
      Cartesians; Å and radians mixed in internal coordinates).
    - `trust_min`, `trust_max`: bounds of the adaptive trust radius.
    - `initial_hessian`: ``"model"`` (Lindh; masses decide the element rows, so give the
      potential real masses), ``"fischer"`` (Fischer-Almlöf, over internal coordinates),
      ``"exact"`` (one ``potential.hessian``, counted in ``n_hessian_calls``; for JAX
      potentials), ``"fd"`` (forward differences of gradients, ``3 n_atoms`` force calls)
      or another :class:`~jaxrxn.potentials.core.Potential` on the same atoms whose exact
      Hessian is cheap (a neural-network potential trained on the searched level: an ML
      Hessian, which E. C.-Y. Yuan et al., Nat. Commun. 15, 8865 (2024) use at every step
      of TS searches). Here it is a model like Lindh's (no call of the searched potential is
      counted; the Davidson refinement still checks its lowest mode).
    - `davidson_max`: Hessian-vector products allowed to refine the lowest mode at the start
      (0: trust the initial Hessian as it is).
    - `davidson_tol`: stop refining when the residual norm falls below this fraction of the
      lowest curvature's magnitude (Sella's ``gamma``).
    - `davidson_start`: the first refinement (without a ``mode0``) starts from the lowest
      mode of the model (``"model"``) or from the gradient (``"gradient"``, as Sella
      does). The gradient keeps the symmetry of the guess, as does the reaction
      coordinate of most reactions; the model's softest mode may not (an out-of-plane
      torsion of a planar guess), and a Davidson iteration started there stays in its
      symmetry block and misses the negative curvature.
    - `fd_step`: finite-difference step of the Hessian-vector products, Å (Cartesian length
      of the displacement in both coordinate systems).
    - `refine_every`: repeat the Davidson refinement every this many steps (0: never).
    - `refine_if_positive`: repeat it when the updated Hessian has no negative curvature
      left, at most once every this many steps (0: never; Sella's ``nsteps_per_diag`` is 3).
    - `coordinates`: ``None`` (Cartesian, rigid-body modes projected out) or an
      :class:`jaxrxn.saddle.internal.InternalCoordinates` set built from the guess with
      :func:`jaxrxn.saddle.internal.redundant_internals` (for free molecules). In internal
      coordinates the Hessian lives on the primitives (the initial Cartesian one transformed
      with the generalized inverse of ``B``, its gradient term dropped), Bofill updates it
      from primitive differences, each step is taken in the active (non-redundant) space
      and back-transformed to Cartesians iteratively.
    - `hessian_update`: ``"bofill"`` (SR1/PSB mixture) or ``"ts-bfgs"`` (Anglada & Bofill
      2003, Sella's default).
    - `step_norm`: what the trust radius bounds in internal coordinates: ``"l2"`` (the
      norm of the step) or ``"max"`` (its largest primitive component, Å or radian, as
      Sella's ``"mis"`` restricted step). Cartesian steps always use the 2-norm.
    - `trust_policy`: ``"doubling"`` (double the radius when the energy ratio
      actual/predicted is in (0.75, 1.25) and the step reached it; shrink to half the step
      when the ratio is below 0.25 or above 1.75) or ``"sella"`` (Hermes et al. 2022's
      defaults: grow to 1.15 times the step when the ratio is within 3.5 % of 1, shrink to
      0.65 times the step when it is below 0.2 or above 5).
    - `confirm_curvature`: convergence needs the true Hessian to curve down by more than
      this along the followed mode (eV/Å², along a unit Cartesian displacement; the default
      is the noise level of a finite-difference Hessian of xTB or HF gradients). ``None``:
      no check, the model's index is trusted.
    - `restarts`: how many points that meet ``fmax`` without that curvature the search
      leaves (one step of ``trust_radius`` up their softest mode) before it ends at the next
      one with ``RESULTS.saddle_wrong_index``.

    Convergence needs more than ``fmax``: the model's negative curvature may be an artefact
    of its updates (a search that slid off the saddle into a minimum still "follows" a
    mode the model believes negative). Where the forces meet ``fmax``, one
    finite-difference product along the followed mode measures its true curvature; if it
    is not below ``-confirm_curvature``, the Davidson refinement runs there, and unless it
    finds such a curvature the search restarts there with a step of ``trust_radius`` up
    the softest true mode, at most ``restarts`` times, then ends as failed
    (``RESULTS.saddle_wrong_index``, never ``converged``). One gradient per converged
    search; none when a refinement just ran at that point.

    Each step costs one energy+force evaluation (plus the Davidson products when it
    refines). The saddle index reported by :func:`jaxrxn.saddle.saddle_search` is that of the
    approximate Hessian; confirm it with an exact or finite-difference Hessian where that
    matters.
    """

    trust_radius: float = 0.1
    trust_min: float = 1e-3
    trust_max: float = 0.5
    initial_hessian: Literal["model", "fischer", "exact", "fd"] | Potential = "model"
    davidson_max: int = 8
    davidson_tol: float = 0.1
    davidson_start: Literal["model", "gradient"] = "model"
    fd_step: float = 1e-3
    refine_every: int = 0
    refine_if_positive: int = 0
    coordinates: InternalCoordinates | None = None
    hessian_update: Literal["bofill", "ts-bfgs"] = "bofill"
    step_norm: Literal["l2", "max"] = "l2"
    trust_policy: Literal["doubling", "sella"] = "doubling"
    confirm_curvature: float | None = 0.02
    restarts: int = 1

    @classmethod
    def molecular(cls, numbers, R, bond_scale: float = 1.3, **changes) -> "RSPRFO":
        """The saddle search for a free molecule: redundant internal coordinates built at
        ``R`` (Å) (bonds between atoms closer than `bond_scale` times the sum of their
        covalent radii; separate fragments welded by all their near-shortest contacts, as Sella
        does, so a symmetric guess keeps its symmetry; bends above 140 degrees also get
        the linear-bend pair, so the set still describes them if the search straightens
        them: HNCCS's H-N-C bend goes from 146 to 178 degrees on the way to its saddle;
        an atom bonded to nothing is joined to its two nearest atoms, so a hydrogen in
        flight is held by its distances to donor and acceptor),
        Fischer-Almlöf's model Hessian refined by Davidson from the gradient,
        TS-BFGS updates, a
        trust radius on the largest primitive step, adjusted as Sella does, and a
        re-diagonalization when the model has lost its negative curvature (at most every 3
        steps). These are the choices of Sella (Hermes et al. 2022); on the Baker set with
        HF/3-21G they spend fewer gradients than RSPRFO's Cartesian-model defaults
        (benchmarks/baker_vs_sella.py). The primitive lists are padded to lengths set by the
        atom count (:func:`jaxrxn.saddle.internal.padded_internals`), so one compiled search
        serves every molecule of a size and every start. ``changes`` override single fields.
        """
        from jaxrxn.saddle.internal import padded_internals, redundant_internals

        if "coordinates" not in changes:
            coordinates = redundant_internals(numbers, R, bond_scale=bond_scale, weld_tol=0.15, near_linear_deg=140.0, in_flight=True)
            changes["coordinates"] = padded_internals(coordinates, len(numbers))
        settings = dict(
            initial_hessian="fischer", hessian_update="ts-bfgs",
            step_norm="max", trust_policy="sella", refine_if_positive=3, trust_max=0.2, davidson_start="gradient",
        )  # fmt: skip
        settings.update(changes)
        return cls(**settings)

    def __check_init__(self):
        if not isinstance(self.initial_hessian, Potential) and self.initial_hessian not in ("model", "fischer", "exact", "fd"):
            raise ValueError(
                "RSPRFO initial_hessian must be 'model', 'fischer', 'exact', 'fd' or a Potential; "
                f"got {self.initial_hessian!r}."
            )
        for name, allowed in (("hessian_update", ("bofill", "ts-bfgs")), ("step_norm", ("l2", "max")), ("trust_policy", ("doubling", "sella"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"RSPRFO {name} must be one of {allowed}; got {getattr(self, name)!r}.")

    # ---- Hessian sources -------------------------------------------------------------
    def _gradient(self, potential, R):
        return -potential.forces(R).reshape(-1)

    def _hvp(self, potential, R, g0, v):
        """Forward-difference Hessian-vector product ``(g(R + eta v) - g(R)) / eta``."""
        eta = self.fd_step
        return (self._gradient(potential, R + eta * v.reshape(R.shape)) - g0) / eta

    def _initial_hessian(self, potential, R, g0):
        if isinstance(self.initial_hessian, Potential):
            system = self.initial_hessian.system
            if system is not None and system.numbers.shape[0] != R.shape[0]:
                raise ValueError(
                    f"the initial-Hessian potential is built for {system.numbers.shape[0]} atoms; the search has {R.shape[0]}."
                )
            return self.initial_hessian.hessian(R).astype(R.dtype), jnp.array(0), jnp.array(0)
        if self.initial_hessian == "exact":
            return potential.hessian(R), jnp.array(0), jnp.array(1)
        if self.initial_hessian == "fd":
            E = jnp.eye(R.size, dtype=R.dtype)
            cols = lax.map(lambda v: self._hvp(potential, R, g0, v), E)
            return _sym(cols), jnp.array(R.size), jnp.array(0)
        return lindh_hessian(R, potential.atom_masses(R)), jnp.array(0), jnp.array(0)

    def _davidson(self, hvp, H, P, V, q0=None):
        """Refine the lowest mode of ``H`` (in a space of dimension ``n``) against the true
        Hessian, whose products ``hvp(q)`` cost one gradient each.

        Davidson with Olsen's correction, preconditioned by ``H`` itself, in the range of
        the projector ``P`` (``V``: orthonormal rows of the removed directions); every
        product is folded into ``H`` so that afterwards ``H q = A q`` on the whole explored
        subspace (symmetric rank-2k correction). Returns ``(H, n_products)``. Starts from
        ``q0`` (projected) or else, ``None`` or zero, from the lowest mode of ``H``.
        """
        n, kmax = H.shape[0], self.davidson_max
        if kmax == 0:
            return H, jnp.array(0)
        Hp = P @ H @ P
        shift = 1.0 + jnp.linalg.norm(Hp)
        wH, UH = eigh(_sym(Hp) + shift * (V.T @ V))
        if q0 is None:
            q0 = UH[:, 0]
        else:  # a zero q0 (no mode0 given, or one wholly in the removed directions): H's own lowest mode
            q0 = P @ q0
            size = jnp.linalg.norm(q0)
            q0 = jnp.where(size > 0, q0 / jnp.where(size > 0, size, 1.0), UH[:, 0])

        def precondition(r, theta):
            d = wH - theta
            d = jnp.where(jnp.abs(d) < 1e-2, jnp.where(d < 0, -1e-2, 1e-2), d)
            return UH @ ((UH.T @ r) / d)

        def body(c):
            Q, Y, k, q, _ = c
            y = P @ hvp(q)
            Q, Y = Q.at[k].set(q), Y.at[k].set(y)
            used = jnp.arange(kmax) <= k
            T = _sym(Q @ Y.T)
            T = jnp.where(used[:, None] & used[None, :], T, jnp.diag(jnp.where(used, 0.0, 1e30)))
            theta_all, S = eigh(T)
            S = S * used[:, None]
            U_all, AU_all = S.T @ Q, S.T @ Y  # Ritz vectors and their products, one per row
            r_all = jnp.linalg.norm(AU_all - theta_all[:, None] * U_all, axis=1)
            # every negative Ritz pair (at least the lowest) must converge, as in Sella's
            # eigensolver: a second negative curvature left unresolved is kept by the model
            wanted = (jnp.arange(kmax) == 0) | ((theta_all < 0) & used)
            open_ = wanted & (r_all >= self.davidson_tol * jnp.abs(theta_all))
            done = ~jnp.any(open_)
            i = jnp.argmax(open_)
            theta, u, Au = theta_all[i], U_all[i], AU_all[i]
            r = Au - theta * u
            # Olsen: t = M^-1 r - eps M^-1 u, orthogonal to u in the M^-1 metric
            Mr, Mu = precondition(r, theta), precondition(u, theta)
            t = Mr - (u @ Mr) / (u @ Mu) * Mu
            t = P @ t
            for _ in range(2):
                t = t - Q.T @ (Q @ t)
            t = t / jnp.maximum(jnp.linalg.norm(t), 1e-300)
            return Q, Y, k + 1, t, done

        def cond(c):
            return (c[2] < min(kmax, n)) & ~c[4]

        z = jnp.zeros((kmax, n), H.dtype)
        Q, Y, k, _, _ = lax.while_loop(cond, body, (z, z, jnp.array(0), q0, jnp.array(False)))
        # make the explored block symmetric, then H Q^T = Y^T on it
        M = _sym(Q @ Y.T)
        Y = Y - (Y @ Q.T) @ Q + M @ Q
        D = Y - Q @ H
        H = H + D.T @ Q + Q.T @ D - Q.T @ (D @ Q.T) @ Q
        return _sym(H), k

    # ---- the two coordinate systems ---------------------------------------------------
    # The space of steps at R: Cartesian (the projector P off the removed directions and
    # their rows V), or the active internal space (U, s, Vt) and the removed rows V (for the
    # back-transformation). Depending on R alone, it is computed once per point, carried in
    # the state and handed to the methods below (`at`): recomputed in each, its Wilson
    # matrix, rigid-body modes and SVD made up most of a step's program, which compiled a
    # third slower (2026-12-07).
    def _space(self, potential, R, modes):
        if self.coordinates is None:
            return _projector(potential, R, modes)
        V = removed_directions(potential, R, modes)
        return (*active_space(self.coordinates, R, V), V)

    # Each returns, at R: the gradient g and Hessian Hs of the step space, the projector P
    # and removed rows V of that space, and a map from a step h of that space to Cartesians.
    def _frame(self, potential, R, g_x, H, modes, at=None):
        at = self._space(potential, R, modes) if at is None else at
        if self.coordinates is None:
            P, V = at
            return g_x, _sym(P @ H @ P), P, V, None
        U, s, Vt, _ = at
        m = U.shape[1]
        return (Vt @ g_x) / s, _sym(U.T @ H @ U), jnp.eye(m, dtype=R.dtype), jnp.zeros((0, m), R.dtype), (U, s, Vt)

    def _internal_gradient(self, potential, R, g_x, modes, at=None):
        U, s, Vt, _ = self._space(potential, R, modes) if at is None else at
        return U @ ((Vt @ g_x) / s)

    def _refine(self, potential, R, g_x, H, modes, q0=None, at=None):
        """Davidson refinement of ``H`` at ``R`` in the step space; returns ``(H, n_products)``."""
        if self.coordinates is None:
            P, V = self._space(potential, R, modes) if at is None else at
            return self._davidson(lambda q: self._hvp(potential, R, g_x, q), H, P, V, q0)
        _, Hs, P, V, frame = self._frame(potential, R, g_x, H, modes, at)
        U = frame[0]
        q0 = None if q0 is None else (U.T @ (self.coordinates.wilson_b(R) @ q0))
        Hs_new, k = self._davidson(self._active_hvp(potential, R, g_x, modes, frame), Hs, P, V, q0)
        return _sym(H + U @ (Hs_new - Hs) @ U.T), k

    def _active_hvp(self, potential, R, g_x, modes, frame):
        """Forward-difference Hessian-vector products in the active internal space at ``R``
        (one gradient each; the displacement is ``fd_step`` Å long in Cartesians)."""
        U, s, Vt = frame
        g_q = U @ ((Vt @ g_x) / s)

        def hvp(u):
            dx = Vt.T @ (u / s)
            eta = self.fd_step / jnp.maximum(jnp.linalg.norm(dx), 1e-12)
            R1 = R + eta * dx.reshape(R.shape)
            g1 = self._internal_gradient(potential, R1, self._gradient(potential, R1), modes)
            return U.T @ (g1 - g_q) / eta

        return hvp

    def _followed(self, potential, R, g_x, H, modes, at=None):
        """The followed (lowest) mode of the model at ``R`` as a unit Cartesian direction, and
        the model's curvature along it in eV/Å² (in internal coordinates the active-space
        eigenvalue divided by the squared Cartesian length of its unit vector)."""
        w, W, _, frame = self._eigen(potential, R, g_x, H, modes, at)
        v = W[:, 0]
        if frame is None:
            return v, w[0]
        U, s, Vt = frame
        dx = Vt.T @ (v / s)
        n = jnp.linalg.norm(dx)
        return dx / n, w[0] / n**2

    def _confirm(self, potential, R, g_x, H, modes, at=None):
        """Whether the true Hessian at ``R`` curves down by more than ``confirm_curvature``
        along the followed mode: one product along it; if that does not, the Davidson
        refinement from it (products folded into ``H``), whose lowest Ritz value decides
        (a Ritz value is an upper bound of the lowest eigenvalue). Returns
        ``(confirmed, H, n_products)``."""
        at = self._space(potential, R, modes) if at is None else at
        dx, _ = self._followed(potential, R, g_x, H, modes, at)
        curvature = dx @ self._hvp(potential, R, g_x, dx)

        def refine(H):
            H, k = self._refine(potential, R, g_x, H, modes, dx, at)
            return (k > 0) & (self._followed(potential, R, g_x, H, modes, at)[1] < -self.confirm_curvature), H, 1 + k

        return lax.cond(curvature < -self.confirm_curvature, lambda H: (jnp.array(True), H, jnp.array(1)), refine, H)

    # ---- solver protocol ---------------------------------------------------------------
    def start(self, potential: Potential, R, e, f, modes: ZeroModes, mode0=None) -> SaddleState:
        g0 = -f.reshape(-1)
        fischer = isinstance(self.initial_hessian, str) and self.initial_hessian == "fischer"
        if fischer:
            if self.coordinates is None:
                raise ValueError("initial_hessian='fischer' is a model over internal coordinates: give RSPRFO coordinates=.")
            H, n_fd, n_hess = fischer_almlof_hessian(self.coordinates, R, _numbers(potential, R)), jnp.array(0), jnp.array(0)
        else:
            H, n_fd, n_hess = self._initial_hessian(potential, R, g0)
        at = self._space(potential, R, modes)
        if self.coordinates is not None and not fischer:
            U, s, Vt, _ = at
            Binv = Vt.T @ (U / s[None]).T  # (n_dof, n_primitives)
            H = _sym(Binv.T @ H @ Binv)
        # without a mode0 (None or zeros) the Davidson starts from the gradient, or from the
        # model's lowest mode (_davidson)
        q0 = first_mode(mode0, g0) if self.davidson_start == "gradient" else (None if mode0 is None else jnp.asarray(mode0, R.dtype).reshape(-1))
        H, n_hvp = self._refine(potential, R, g0, H, modes, q0, at)
        # the model is true at R0 along what the Davidson explored, or everywhere when exact
        known = (n_hvp > 0) | (isinstance(self.initial_hessian, str) and self.initial_hessian in ("exact", "fd"))
        confirmed = known & (self._followed(potential, R, g0, H, modes, at)[1] < -self._threshold)
        inner = RSPRFOState(H, jnp.asarray(self.trust_radius, R.dtype), n_hvp, jnp.array(0), jnp.array(0), confirmed, jnp.array(0), at)
        return SaddleState(R, e, f, inner, modes, 1 + n_fd + n_hvp, n_hess)

    def _eigen(self, potential, R, g_x, H, modes, at=None):
        """Eigenpairs of the step-space Hessian (removed directions pushed to the top) and the frame."""
        g, Hs, P, V, frame = self._frame(potential, R, g_x, H, modes, at)
        shift = 1.0 + jnp.linalg.norm(Hs)
        w, W = eigh(Hs + shift * (V.T @ V))
        return w, W, g, frame

    def step(self, potential: Potential, state: SaddleState, args) -> SaddleState:
        st, modes = state.inner, state.modes
        R, trust = state.R, st.trust
        g_x = -state.forces.reshape(-1)
        w, W, g, frame = self._eigen(potential, R, g_x, st.hessian, modes, st.space)
        gt = W.T @ g
        if frame is not None and self.step_norm == "max":
            M = frame[0] @ W
            norm = lambda h: jnp.max(jnp.abs(M @ h))  # noqa: E731
        else:
            norm = jnp.linalg.norm
        h = _restricted_prfo_step(w, gt, trust, norm)
        # restart from a rejected point (forces met fmax, no negative curvature): a step of
        # the initial trust radius up the softest mode, which P-RFO then keeps climbing
        kick = st.rejected > 0
        up = jnp.zeros_like(h).at[0].set(jnp.where(gt[0] < 0, -1.0, 1.0))
        h = jnp.where(kick & ~st.confirmed & (max_atom_force(state.forces) <= args.fmax), self.trust_radius * up / norm(up), h)
        predicted = gt @ h + 0.5 * jnp.sum(w * h**2)
        if frame is None:
            dx = W @ h
            R_new = R + dx.reshape(R.shape)
        else:
            U, s, Vt = frame
            R_new = back_transform(self.coordinates, R, U @ (W @ h), st.space[-1])
        e, f = potential.energy_and_forces(R_new)
        g_new = -f.reshape(-1)
        at_new = self._space(potential, R_new, modes)
        update = _bofill if self.hessian_update == "bofill" else _ts_bfgs
        if frame is None:
            H = update(st.hessian, dx, g_new - g_x)
        else:
            c = self.coordinates
            dq = c.difference(c.values(R_new), c.values(R))
            dg = self._internal_gradient(potential, R_new, g_new, modes, at_new) - U @ g
            H = update(st.hessian, dq, dg)

        length = norm(h)
        # The model's change is an uphill part along the followed mode plus a downhill part
        # along the rest; near the saddle they cancel, and actual/predicted would divide by
        # a near-zero difference. The model's error is measured against the sum of their
        # sizes instead (for a pure descent step this is actual/predicted exactly).
        uphill = gt[0] * h[0] + 0.5 * w[0] * h[0] ** 2
        scale = jnp.maximum(jnp.abs(uphill) + jnp.abs(predicted - uphill), 1e-300)
        ratio = 1.0 + (e - state.energy - predicted) / jnp.where(predicted < 0, -scale, scale)
        if self.trust_policy == "doubling":
            good = (ratio > 0.75) & (ratio < 1.25) & (length > 0.9 * trust)
            bad = (ratio < 0.25) | (ratio > 1.75) | ~jnp.isfinite(e)
            trust = jnp.where(bad, 0.5 * length, jnp.where(good, 2.0 * trust, trust))
        else:
            good = (ratio > 1 / 1.035) & (ratio < 1.035)
            bad = (ratio < 0.2) | (ratio > 5.0) | ~jnp.isfinite(e)
            trust = jnp.where(bad, 0.65 * length, jnp.where(good, jnp.maximum(1.15 * length, trust), trust))
        trust = jnp.clip(trust, self.trust_min, self.trust_max)

        n_steps, since = st.n_steps + 1, st.since_refine + 1
        refine = jnp.array(False)
        if self.refine_every > 0:
            refine = refine | ((n_steps % self.refine_every) == 0)
        if self.refine_if_positive > 0:
            w_new = self._eigen(potential, R_new, g_new, H, modes, at_new)[0]
            refine = refine | ((since >= self.refine_if_positive) & (w_new[0] > 0))
        if self.refine_every > 0 or self.refine_if_positive > 0:
            H, n_hvp = lax.cond(
                refine,
                lambda H: self._refine(potential, R_new, g_new, H, modes, at=at_new),
                lambda H: (H, jnp.array(0)),
                H,
            )
        else:
            n_hvp = jnp.array(0)
        # a refinement at R_new has just measured the lowest curvature; otherwise measure it
        # where the forces meet fmax (see the class docstring)
        refined_negative = refine & (self._followed(potential, R_new, g_new, H, modes, at_new)[1] < -self._threshold)
        check = (max_atom_force(f) <= args.fmax) & ~refined_negative & jnp.isfinite(e)
        if self.confirm_curvature is None:
            check, confirmed, n_check = jnp.array(False), refined_negative, jnp.array(0)
        else:
            confirmed, H, n_check = lax.cond(
                check,
                lambda H: self._confirm(potential, R_new, g_new, H, modes, at_new),
                lambda H: (refined_negative, H, jnp.array(0)),
                H,
            )
        n_hvp = n_hvp + n_check
        rejected = st.rejected + (check & ~confirmed)
        inner = RSPRFOState(H, trust, st.n_hvp + n_hvp, n_steps, jnp.where(refine | (n_check > 1), 0, since), confirmed, rejected, at_new)
        calls = state.n_force_calls + 1 + n_hvp
        return SaddleState(R_new, e, f, inner, modes, calls, state.n_hessian_calls)

    @property
    def _threshold(self):
        return 0.0 if self.confirm_curvature is None else self.confirm_curvature

    def terminate(self, potential: Potential, state: SaddleState, args):
        done, result = super().terminate(potential, state, args)
        if self.confirm_curvature is None:
            return done, result
        # a second point without negative curvature ends the search there, as a failure
        given_up = state.inner.rejected > self.restarts
        result = RESULTS.where(done & ~state.inner.confirmed & given_up, RESULTS.saddle_wrong_index, result)
        return done & (state.inner.confirmed | given_up | ~jnp.isfinite(state.energy)), result

    def _lowest(self, potential, state: SaddleState):
        w, W, _, frame = self._eigen(potential, state.R, -state.forces.reshape(-1), state.inner.hessian, state.modes, state.inner.space)
        v = W[:, 0]
        if frame is not None:
            U, s, Vt = frame
            v = Vt.T @ (v / s)
            v = v / jnp.linalg.norm(v)
        return w, v.reshape(state.R.shape)

    def analysis(self, potential, state: SaddleState):
        w, mode = self._lowest(potential, state)
        index = count_negative(w, jnp.max(jnp.abs(w)))
        return index, w[0], mode, jnp.array(0), jnp.array(0)

    def mode_estimate(self, state: SaddleState):
        if self.coordinates is None:
            w, U = eigh(state.inner.hessian)
            return w[0], U[:, 0].reshape(state.R.shape)
        w, W = eigh(state.inner.hessian)
        dx = jnp.linalg.pinv(self.coordinates.wilson_b(state.R)) @ W[:, 0]
        return w[0], (dx / jnp.linalg.norm(dx)).reshape(state.R.shape)


def krylov_index(
    potential: Potential,
    R: Float[Array, "n_atoms dim"],
    forces: Float[Array, "n_atoms dim"],
    modes: ZeroModes,
    v0: Float[Array, "n_atoms dim"],
    n_products: int = 8,
    fd_step: float = 1e-3,
    rtol: float = 1e-3,
) -> tuple[Int[Array, ""], Scalar, Float[Array, "n_atoms dim"], Int[Array, ""]]:
    """Saddle index at ``R`` from gradients only: Lanczos (full reorthogonalization) on the
    projected Hessian started from ``v0``, with forward-difference Hessian-vector products.

    Returns ``(index, lowest curvature eV/Å², its unit mode, gradient calls)``. The index
    counts Ritz values below ``-rtol`` times the largest; by Cauchy interlacing a Ritz value
    lies above the eigenvalue of the same rank, so a negative Ritz value is a real negative
    curvature, while a second one might be missed if the Krylov space has not reached it.
    Costs ``min(n_products, n_dof)`` force calls (forces at ``R`` are given).
    """
    n = R.size
    k = min(n_products, n)
    P, _ = _projector(potential, R, modes)
    g0 = -forces.reshape(-1)

    def body(c):
        Q, Y, q, i, _ = c
        y = P @ ((-potential.forces(R + fd_step * q.reshape(R.shape)).reshape(-1) - g0) / fd_step)
        Q, Y = Q.at[i].set(q), Y.at[i].set(y)
        t = y - Q.T @ (Q @ y)
        t = t - Q.T @ (Q @ t)
        t = P @ t
        norm = jnp.linalg.norm(t)
        # the Krylov space is exhausted (all degrees of freedom spanned) when t vanishes
        return Q, Y, t / jnp.maximum(norm, 1e-300), i + 1, norm > 1e-8 * jnp.linalg.norm(y)

    def cond(c):
        return (c[3] < k) & c[4]

    q0 = P @ v0.reshape(-1)
    z = jnp.zeros((k, n), R.dtype)
    Q, Y, _, used, _ = lax.while_loop(cond, body, (z, z, q0 / jnp.linalg.norm(q0), jnp.array(0), jnp.array(True)))
    live = jnp.arange(k) < used
    T = jnp.where(live[:, None] & live[None, :], _sym(Q @ Y.T), jnp.diag(jnp.where(live, 0.0, 1e30)))
    theta, S = eigh(T)
    index = count_negative(jnp.where(theta < 1e29, theta, 0.0), jnp.max(jnp.abs(jnp.where(theta < 1e29, theta, 0.0))), rtol)
    return index, theta[0], (S[:, 0] @ Q).reshape(R.shape), used


def _restricted_prfo_step(w: Float[Array, " n"], g: Float[Array, " n"], trust: Scalar, norm=jnp.linalg.norm) -> Float[Array, " n"]:
    """P-RFO step in the Hessian eigenbasis (``w`` ascending, ``g`` the gradient there),
    maximizing along mode 0 and minimizing along the rest, restricted to ``|h| <= trust``.

    ``norm`` measures the step (default the 2-norm; any norm bounded by it, such as the
    largest component after an orthonormal map, keeps the bisection bracket valid).
    The unrestricted step uses Baker's shifts ``lam_p >= max(w_0, 0)`` and
    ``lam_n <= min(w_1.., 0)``; if it is too long, both are moved apart by ``t`` (found by
    bisection), which shortens every component monotonically.
    """
    n = w.size
    b0, g0 = w[0], g[0]
    lam_p = 0.5 * b0 + 0.5 * jnp.sqrt(b0**2 + 4.0 * g0**2)
    b_rest = w.at[0].set(jnp.abs(w[-1]) + 1.0)
    g_rest = g.at[0].set(0.0)
    aug = jnp.zeros((n + 1, n + 1), w.dtype)
    aug = aug.at[:n, :n].set(jnp.diag(b_rest)).at[:n, n].set(g_rest).at[n, :n].set(g_rest)
    lam_n = jnp.minimum(eigvalsh(aug)[0], 0.0)

    def step(t):
        d = b_rest - (lam_n - t)
        h = jnp.where(jnp.abs(d) > 1e-300, -g_rest / jnp.where(jnp.abs(d) > 1e-300, d, 1.0), 0.0)
        d0 = b0 - (lam_p + t)
        h0 = jnp.where(jnp.abs(d0) > 1e-300, -g0 / jnp.where(jnp.abs(d0) > 1e-300, d0, 1.0), 0.0)
        return h.at[0].set(h0)

    h = step(0.0)
    too_long = norm(h) > trust

    def shrink(_):
        hi = jnp.linalg.norm(g) / trust + jnp.abs(w).max()

        def bisect(_, lohi):
            lo, hi = lohi
            mid = 0.5 * (lo + hi)
            longer = norm(step(mid)) > trust
            return jnp.where(longer, mid, lo), jnp.where(longer, hi, mid)

        _, hi = lax.fori_loop(0, 80, bisect, (jnp.zeros_like(hi), hi))
        return step(hi)

    return lax.cond(too_long, shrink, lambda _: h, None)
