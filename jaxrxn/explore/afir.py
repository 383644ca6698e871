"""The artificial force induced reaction (AFIR) function and AFIR paths.

S. Maeda, K. Ohno & K. Morokuma, PCCP 15, 3683 (2013); GRRM17: S. Maeda et al., JCC 39,
233 (2018). For fragments A and B of one configuration ``R`` (Å),

    F(R) = E(R) + rho * alpha * sum_{i in A, j in B} w_ij r_ij / sum_{i in A, j in B} w_ij,
    w_ij = [(R_i + R_j) / r_ij]^p,  p = 6,

with ``R_i`` covalent radii (ASE's table, or user radii for model systems), ``rho = +1``
pushing the fragments together and ``rho = -1`` pulling them apart. The force constant
``alpha`` (eV/Å) is set from the model collision energy ``gamma`` by
:func:`afir_alpha`. With more than two fragments the pair terms of all fragment pairs are
summed (each pair feels the full force).

The AFIR *path* is the sequence of minima of ``F`` as ``alpha`` ramps up from zero
(:func:`afir_path`): at small force the minimum of F stays in the starting basin, then
passes a barrier-breakdown point and drops into another basin. Its highest points on the
true surface ``E`` approximate transition states and are refined elsewhere
(:mod:`jaxrxn.explore.explorer`).

**One particle on a model surface.** With a single particle (a 2D surface, ``R`` of shape
``(1, 2)``) there are no fragments. Pushing "fragment" {particle} toward a fixed point far
away at constant force is the linear term ``-alpha * d . R`` along a unit direction ``d``:
:func:`directional_afir_potential`. Its minima as ``alpha`` grows are the force-displaced
stationary points / Newton trajectories of W. Quapp & J. M. Bofill, JCC 40, 2019 (Newton
trajectories and barrier-breakdown points), which AFIR paths on 2D surfaces follow.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Bool, Float, Int

from jaxrxn.optimize import StepRule, minimize, step_rule
from jaxrxn.potentials.core import Potential
from jaxrxn.units import H, KB, KJMOL_PER_EV

#: Ar-Ar Lennard-Jones parameters behind GRRM's gamma -> alpha rule (Maeda et al. 2013).
AFIR_R0 = 3.8164  # Å
AFIR_EPSILON = 1.0061  # kJ/mol


def afir_alpha(gamma, *, unit: str = "kJ/mol"):
    """AFIR force constant ``alpha`` for the model collision energy ``gamma``.

    alpha = gamma / {[2^(-1/6) - (1 + sqrt(1 + gamma/eps))^(-1/6)] R0}, with the Ar-Ar
    constants R0 = 3.8164 Å and eps = 1.0061 kJ/mol (Maeda, Ohno & Morokuma 2013): the mean
    force an Ar pair feels between its minimum and the turning point of a head-on collision
    at energy gamma. `unit` is ``"kJ/mol"`` (gamma in kJ/mol, alpha in kJ/mol/Å) or ``"eV"``
    (eV and eV/Å). alpha(100 kJ/mol) = 118.81 kJ/mol/Å = 1.2314 eV/Å.
    """
    if unit not in ("kJ/mol", "eV"):
        raise ValueError(f"unit must be 'kJ/mol' or 'eV'; got {unit!r}.")
    scale = KJMOL_PER_EV if unit == "eV" else 1.0
    g = jnp.asarray(gamma) * scale
    denom = (2.0 ** (-1.0 / 6.0) - (1.0 + jnp.sqrt(1.0 + g / AFIR_EPSILON)) ** (-1.0 / 6.0)) * AFIR_R0
    return g / denom / scale


def thermal_gamma(temperature, time):
    """GRRM's rule for gamma (kJ/mol): ``gamma = R T ln(k_B T t / h)``.

    `temperature` in K, `time` in s (about ten times the reaction time of interest): the
    Eyring barrier crossed in `time` at `temperature`. 298.15 K and 10 h give 99.0 kJ/mol,
    hence the customary gamma = 100 kJ/mol.
    """
    T = jnp.asarray(temperature)
    return KJMOL_PER_EV * KB * T * jnp.log(KB * T * jnp.asarray(time) / H)


def covalent_radii(numbers: Sequence[int]) -> np.ndarray:
    """Covalent radii (Å) of atomic numbers, from ``ase.data.covalent_radii``."""
    from ase.data import covalent_radii as table

    return np.asarray(table[np.asarray(numbers, int)], float)


def afir_pair_term(
    R: Float[Array, "n_atoms dim"],
    mask_a: Float[Array, " n_atoms"],
    mask_b: Float[Array, " n_atoms"],
    radii: Float[Array, " n_atoms"],
    p: float = 6.0,
):
    """Weighted mean distance (Å) between fragments A and B given as 0/1 atom masks:
    ``sum w_ij r_ij / sum w_ij`` over i in A, j in B, ``w_ij = ((R_i+R_j)/r_ij)^p``."""
    d = R[:, None, :] - R[None, :, :]
    pair = mask_a[:, None] * mask_b[None, :]
    pair = pair * (1.0 - jnp.eye(R.shape[0], dtype=R.dtype))  # an atom in both fragments
    r2 = jnp.sum(d**2, axis=-1)
    r = jnp.sqrt(jnp.where(pair > 0, r2, 1.0))  # safe sqrt: masked pairs carry no gradient
    w = pair * ((radii[:, None] + radii[None, :]) / r) ** p
    return jnp.sum(w * r) / jnp.sum(w)


@dataclasses.dataclass(frozen=True)
class _Biased:
    """``energy_fn`` of a biased potential: the true energy function `inner` (whose
    params are ``params["inner"]``) plus the subclass's ``bias(R, params)``."""

    inner: Callable

    def bias(self, R, params):
        raise NotImplementedError

    def true_energy(self, R, system, params):
        return self.inner(R, system, params["inner"])

    def __call__(self, R, system, params):
        return self.true_energy(R, system, params) + self.bias(R, params)


@dataclasses.dataclass(frozen=True)
class _FragmentAFIR(_Biased):
    """``energy_fn`` of an AFIR potential: true energy plus the fragment-pair terms.

    params = {"inner": params of the true potential, "alpha": eV/Å, "mask_a", "mask_b":
    (n_pairs, n_atoms), "rho": (n_pairs,), "radii": (n_atoms,)}.
    """

    p: float = 6.0

    def bias(self, R, params):
        terms = jax.vmap(afir_pair_term, (None, 0, 0, None, None))(
            R, params["mask_a"], params["mask_b"], params["radii"], self.p
        )
        return params["alpha"] * jnp.sum(params["rho"] * terms)


@dataclasses.dataclass(frozen=True)
class _DirectionalAFIR(_Biased):
    """``energy_fn`` of the one-particle variant: ``E(R) - alpha d . R``.

    params = {"inner", "alpha": eV/Å, "direction": unit vector (n_atoms, dim)}.
    """

    def bias(self, R, params):
        return -params["alpha"] * jnp.sum(params["direction"] * R)


@dataclasses.dataclass(frozen=True)
class _TargetAFIR(_Biased):
    """``energy_fn`` of DS-AFIR: ``E(R) + alpha (sqrt(|D(R) - D(R_target)|_w^2 + s^2) - s)``.

    ``D`` is the vector of interatomic distances; the weights ``((R_i+R_j)/r_ij)^p`` of the
    target, scaled so that the largest is 1, make the bias invariant to rotation and
    translation and pull first on the pairs that are bonded in the target. ``s`` (Å)
    rounds the cusp at the target (a quadratic well of curvature ``alpha / s``), so the
    minimisations converge once the path has arrived there. params = {"inner", "alpha",
    "target", "radii"}.
    """

    p: float = 6.0
    smoothing: float = 0.01

    def bias(self, R, params):
        n = R.shape[0]
        i, j = np.triu_indices(n, 1)  # only distinct pairs: sqrt(0) would poison the gradient
        dist = lambda X: jnp.sqrt(jnp.sum((X[i] - X[j]) ** 2, -1))  # noqa: E731
        r_t = dist(params["target"])
        w = ((params["radii"][i] + params["radii"][j]) / r_t) ** self.p
        # largest weight 1: one pair off its target distance by x costs alpha |x|, the
        # AFIR term of two atoms, so alpha means what it means in afir_potential
        w = w / jnp.max(w)
        diff = jnp.sum(w * (dist(R) - r_t) ** 2)
        return params["alpha"] * (jnp.sqrt(diff + self.smoothing**2) - self.smoothing)


def _fragment_masks(fragments: Sequence[Sequence[int]], n_atoms: int) -> np.ndarray:
    if len(fragments) < 2:
        raise ValueError(f"AFIR needs at least two fragments; got {len(fragments)}.")
    masks = np.zeros((len(fragments), n_atoms))
    for k, frag in enumerate(fragments):
        idx = np.asarray(list(frag), int)
        if idx.size == 0:
            raise ValueError(f"fragment {k} is empty.")
        if np.any(idx < 0) or np.any(idx >= n_atoms):
            raise ValueError(f"fragment {k} names atoms outside 0..{n_atoms - 1}.")
        masks[k, idx] = 1.0
    return masks


def _alpha_from(gamma, alpha):
    if (gamma is None) == (alpha is None):
        raise ValueError("give exactly one of `gamma` (eV) or `alpha` (eV/Å).")
    return afir_alpha(gamma, unit="eV") if alpha is None else jnp.asarray(alpha)


def afir_potential(
    potential: Potential,
    fragments: Sequence[Sequence[int]],
    gamma: float | None = None,
    *,
    alpha: float | None = None,
    rho: float | Sequence[float] = 1.0,
    numbers: Sequence[int] | None = None,
    radii: Sequence[float] | None = None,
    p: float = 6.0,
) -> Potential:
    """The AFIR function of `potential` as a :class:`Potential` (so ``minimize`` works on it).

    **Arguments:**

    - `fragments`: two or more lists of atom indices. Every pair of fragments (k < l) gets
      the term ``rho_kl alpha sum w r / sum w``.
    - `gamma`: model collision energy in eV (``gamma_kjmol / KJMOL_PER_EV``); or give the
      force constant `alpha` in eV/Å directly (model systems in reduced units).
    - `rho`: +1 pushes together, -1 pulls apart; one value or one per fragment pair.
    - `numbers` (covalent radii from ASE) or `radii` (Å, e.g. 0.5 sigma for LJ).

    The returned potential's params are ``{"inner", "alpha", "mask_a", "mask_b", "rho",
    "radii"}``: replacing ``alpha`` (or the masks) reuses the compiled code.
    """
    if (numbers is None) == (radii is None):
        raise ValueError("give exactly one of `numbers` (covalent radii) or `radii` (Å).")
    rad = covalent_radii(numbers) if radii is None else np.asarray(radii, float)
    masks = _fragment_masks(fragments, len(rad))
    pairs = list(itertools.combinations(range(len(masks)), 2))
    rho = np.broadcast_to(np.asarray(rho, float), (len(pairs),))
    dtype = jnp.result_type(float)
    params = {
        "inner": potential.params,
        "alpha": jnp.asarray(_alpha_from(gamma, alpha), dtype),
        "mask_a": jnp.asarray(masks[[a for a, _ in pairs]], dtype),
        "mask_b": jnp.asarray(masks[[b for _, b in pairs]], dtype),
        "rho": jnp.asarray(rho, dtype),
        "radii": jnp.asarray(rad, dtype),
    }
    return potential.replace(energy_fn=_FragmentAFIR(potential.energy_fn, p), params=params)


def directional_afir_potential(
    potential: Potential,
    direction: Float[Array, "n_atoms dim"],
    *,
    alpha: float = 0.0,
) -> Potential:
    """One-particle AFIR: ``F(R) = E(R) - alpha d . R`` with ``d`` = `direction` normalised.

    A constant force of magnitude `alpha` (eV/Å) along ``d``; see the module docstring for
    why this is AFIR on a model surface. params: ``{"inner", "alpha", "direction"}``.
    """
    d = jnp.asarray(direction, jnp.result_type(float))
    norm = jnp.linalg.norm(d)
    if not isinstance(norm, jax.core.Tracer) and float(norm) == 0.0:
        raise ValueError("`direction` must be non-zero.")
    params = {"inner": potential.params, "alpha": jnp.asarray(alpha, d.dtype), "direction": d / norm}
    return potential.replace(energy_fn=_DirectionalAFIR(potential.energy_fn), params=params)


def target_afir_potential(
    potential: Potential,
    target: Float[Array, "n_atoms dim"],
    gamma: float | None = None,
    *,
    alpha: float | None = None,
    numbers: Sequence[int] | None = None,
    radii: Sequence[float] | None = None,
    p: float = 6.0,
) -> Potential:
    """DS-AFIR bias toward a given structure: ``F = E + alpha |D(R) - D(target)|_w``
    (the cusp at the target rounded over 0.01 Å).

    ``D`` are interatomic distances, weighted toward pairs that are close in `target`
    (``w_ij = ((R_i+R_j)/r_ij^target)^p``, scaled so that the largest is 1), so the force
    pulls the system toward the target's bonding pattern. `alpha` (eV/Å) is the force on
    a single pair off its target distance, as in :func:`afir_potential`; when many pairs
    differ the largest atom force of the bias is below it (0.82 alpha on 2D LJ7 pulled
    from the hexagon toward C1, whose path breaks through at alpha = 5.6 eps/sigma).
    Used by :func:`jaxrxn.explore.explorer.ds_afir`.
    """
    if (numbers is None) == (radii is None):
        raise ValueError("give exactly one of `numbers` (covalent radii) or `radii` (Å).")
    rad = covalent_radii(numbers) if radii is None else np.asarray(radii, float)
    dtype = jnp.result_type(float)
    params = {
        "inner": potential.params,
        "alpha": jnp.asarray(_alpha_from(gamma, alpha), dtype),
        "target": jnp.asarray(target, dtype),
        "radii": jnp.asarray(rad, dtype),
    }
    return potential.replace(energy_fn=_TargetAFIR(potential.energy_fn, p), params=params)


def true_potential(afir: Potential) -> Potential:
    """The unbiased potential inside an AFIR potential."""
    return afir.replace(energy_fn=afir.energy_fn.inner, params=afir.params["inner"])


class AFIRPath(eqx.Module):
    """An AFIR path: minima of F for increasing force constants.

    - `R`: ``(n_alpha, n_atoms, dim)`` minima of F (Å); ``R[0]`` is the relaxed start.
    - `alpha`: ``(n_alpha,)`` force constants (eV/Å).
    - `energy`: true energies E (eV); `afir_energy`: F (eV).
    - `converged`: ``(n_alpha,)`` whether each minimisation met `fmax`.
    - `n_force_calls`: total force evaluations.
    """

    R: Float[Array, "n_alpha n_atoms dim"]
    alpha: Float[Array, " n_alpha"]
    energy: Float[Array, " n_alpha"]
    afir_energy: Float[Array, " n_alpha"]
    converged: Bool[Array, " n_alpha"]
    n_force_calls: Int[Array, ""]


def afir_path(
    afir: Potential,
    R0: Float[Array, "n_atoms dim"],
    alphas: Float[Array, " n_alpha"],
    optimizer: str | StepRule = "fire",
    *,
    fmax: float = 0.01,
    max_steps: int = 500,
) -> AFIRPath:
    """Minimise the AFIR function `afir` for each force constant in `alphas` (eV/Å,
    increasing, usually starting at 0), each from the previous minimum.

    Pure and jittable (``lax.scan`` over `alphas`); ``jax.vmap`` over the bias params (the
    fragment masks, signs, directions) gives many AFIR paths in one call.
    """
    rule = step_rule(optimizer)

    def one(R, a):
        pot = afir.replace(params={**afir.params, "alpha": a})
        res = minimize(pot, R, rule, fmax=fmax, max_steps=max_steps)
        e_true = afir.energy_fn.true_energy(res.R, afir.system, afir.params)
        return res.R, (res.R, e_true, res.energy, res.converged, res.n_force_calls)

    _, (Rs, e, f, conv, calls) = lax.scan(one, jnp.asarray(R0), jnp.asarray(alphas))
    return AFIRPath(Rs, jnp.asarray(alphas), e, f, conv, jnp.sum(calls))
