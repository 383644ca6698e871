"""find_mechanism: how a saddle that does not join its leg's end states splits the leg.

The Muller-Brown mechanism (a saddle from an end state to an intermediate) is tested with
the other Muller-Brown cases in tests/test_reaction.py; here the two other ways on: a saddle
between two intermediates (a chain surface whose stationary points are set by
construction), and a saddle that is only a conformational change of an end state.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

# The chain surface's stationary points along x (Å): the roots of dV/dx, a polynomial.
# Minima at 0, 1.8, 5.2 and 7; maxima at 0.8, 3.5 and 6.2, the middle one the highest.
CHAIN_ROOTS = np.array([0.0, 0.8, 1.8, 3.5, 5.2, 6.2, 7.0])
CHAIN_SCALE = 0.02  # eV per unit of the integrated polynomial: barriers of 1.4 and 3.4 eV
CHAIN_POLY = np.polyint(np.poly(CHAIN_ROOTS))  # V(x) / CHAIN_SCALE, V(0) = 0


def _chain_energy(R, system, params):
    """One atom: V = CHAIN_SCALE * P(x) + 5 (y^2 + z^2) eV, with dP/dx = prod_k (x - r_k)."""
    return CHAIN_SCALE * jnp.polyval(jnp.asarray(CHAIN_POLY), R[0, 0]) + 5.0 * jnp.sum(R[0, 1:] ** 2)


def _at(x: float) -> np.ndarray:
    return np.array([[x, 0.0, 0.0]])


def test_a_saddle_between_two_intermediates_is_the_middle_of_three_steps():
    """0 -> 7 on the chain surface: the band's highest point is the middle maximum (3.5),
    whose IRC ends in the two intermediates (1.8 and 5.2), neither end state. The mechanism
    is the three steps 0 -> 1.8 -> 5.2 -> 7 through the three maxima. Oracle: the surface's
    stationary points are the roots of its derivative by construction, their energies the
    exact integral (NumPy's polyint); with two searches the legs cannot all be searched."""
    from jaxrxn.mechanism import find_mechanism
    from jaxrxn.potentials.core import Potential

    pot = Potential(_chain_energy, None, None)
    energy = {float(x): CHAIN_SCALE * float(np.polyval(CHAIN_POLY, x)) for x in CHAIN_ROOTS}
    options = {"n_images": 9, "neb_fmax": 0.1}
    mech = find_mechanism(_at(0.0), _at(7.0), pot, **options)
    assert mech.converged and len(mech.steps) == 3 and mech.failed_step is None, mech.message
    saddles = [float(s.R_ts[0, 0]) for s in mech.steps]
    np.testing.assert_allclose(saddles, CHAIN_ROOTS[1::2], atol=1e-4)
    np.testing.assert_allclose([s.ts_energy for s in mech.steps], [energy[x] for x in CHAIN_ROOTS[1::2]], atol=1e-6)
    ends = [(float(s.R_initial[0, 0]), float(s.R_final[0, 0])) for s in mech.steps]
    np.testing.assert_allclose(ends, [(0.0, 1.8), (1.8, 5.2), (5.2, 7.0)], atol=1e-3)
    for first, second in zip(mech.steps, mech.steps[1:]):  # one chain: each step starts where the last ended
        np.testing.assert_array_equal(first.R_final, second.R_initial)
    assert all(s.converged and s.connects for s in mech.steps)
    assert mech.ts_step == 1 and mech.barrier == pytest.approx(energy[3.5], abs=1e-6)
    assert mech.intermediate_energies == pytest.approx([energy[1.8], energy[5.2]], abs=1e-5)  # minima relaxed to fmax
    assert mech.n_searches == 3 and mech.n_force_calls == sum(s.n_force_calls for s in mech.steps)

    short = find_mechanism(_at(0.0), _at(7.0), pot, max_steps=2, **options)
    assert not short.converged and short.failed_step == 0 and "max_steps spent" in short.message


# Formaldehyde (C, O, H, H; Å) and the two planar conformers of hydroxymethylene HCOH:
# one bond graph (H1-C, C-O, O-H2), the O-H cis or trans to the C-H.
_H2CO = np.array([[0.0, 0.0, 0.0], [1.21, 0.0, 0.0], [-0.55, 0.94, 0.0], [-0.55, -0.94, 0.0]])
_TRANS = np.array([[0.0, 0.0, 0.0], [1.32, 0.0, 0.0], [-0.55, 0.98, 0.0], [1.65, -0.91, 0.0]])
_CIS = _TRANS * np.array([1.0, 1.0, 1.0]) + np.array([[0, 0, 0]] * 3 + [[0, 1.82, 0]])
_TWISTED = _TRANS + np.array([[0, 0, 0]] * 3 + [[0, 0.5, 0.75]])  # trans, the O-H turned out of plane
_NUMBERS = np.array([6, 8, 1, 1])


def _canned_search(results: list, first):
    """A stand-in for find_reaction: the search between the end states returns `first`;
    a search to another minimum is a verified step straight to it (100 force calls). Each
    call's end states are kept in `results`."""
    from jaxrxn.reaction import matched_irc_ends

    def search(R_a, R_b, potential, **kwargs):
        results.append((R_a, R_b))
        if np.array_equal(R_b, _TRANS):
            return first
        match, ends = matched_irc_ends([R_a, R_b], [0.0, 1.0], R_a, R_b, _NUMBERS, 0.2, True)
        return dataclasses.replace(first, R_initial=R_a, R_final=R_b, e_initial=0.0, e_final=1.0, ts_energy=2.5, barrier=2.5,
                                   irc_match=match, irc_ends=ends, connects=True, converged=True, failed_stage=None,
                                   message="successful", n_force_calls=100)  # fmt: skip

    return search


def test_a_conformational_saddle_of_the_product_sends_the_search_to_its_other_conformer(monkeypatch):
    """H2CO -> trans-HCOH where the band's saddle is the cis/trans turn of the product: its
    IRC ends in cis-HCOH and in a trans form 0.3 Å (RMSD) from the product, which matches
    it by bonds only. That saddle is no step of the reaction (a conformer of the product
    is the product by find_reaction's criterion); the next search goes to the conformer on
    the reactant's side, and its step, which ends at a form of the product, is the
    reaction. The searches are canned (this tests how the mechanism goes on)."""
    import jaxrxn.mechanism as mechanism
    from jaxrxn.potentials.core import Potential
    from jaxrxn.reaction import ReactionResult, matched_irc_ends, same_species
    from jaxrxn.system import System

    for a, b in ((_CIS, _TRANS), (_TWISTED, _TRANS), (_CIS, _TWISTED), (_CIS, _H2CO), (_TWISTED, _H2CO)):
        assert not same_species(a, b, None, 0.2)[0]  # all 0.2 Å or more apart
    match, ends = matched_irc_ends([_CIS, _TWISTED], [1.3, 1.1], _H2CO, _TRANS, _NUMBERS, 0.2, True)
    assert match["final"]["match"] and not match["final"]["rmsd"] <= 0.2 and not match["initial"]["match"]
    first = ReactionResult(
        converged=False, failed_stage="verify", message="not connected", irc_match=match, irc_ends=ends, n_force_calls=300,
        R_initial=_H2CO, R_final=_TRANS, e_initial=0.0, e_final=1.0, ts_energy=3.0, R_ts=_TRANS, saddle_index=1,
    )  # fmt: skip
    searches = []
    monkeypatch.setattr(mechanism, "find_reaction", _canned_search(searches, first))
    pot = Potential(lambda R, system, params: 0.0, None, System(numbers=_NUMBERS))

    mech = mechanism.find_mechanism(_H2CO, _TRANS, pot, relax=False)
    assert mech.converged and len(mech.steps) == 1 and mech.failed_step is None, mech.message
    assert len(searches) == 2 and np.array_equal(searches[1][1], _CIS)  # the conformer on the reactant's side
    (step,) = mech.steps
    np.testing.assert_array_equal(step.R_final, _TRANS)  # the product itself, matched by bonds
    assert step.irc_match["final"]["match"] and step.irc_match["final"]["same_bonds"]
    assert step.e_final == 1.0 and step.reaction_energy == 1.0 and mech.barrier == 2.5
    assert mech.n_searches == 2 and mech.n_force_calls == 400  # the dropped search's calls count

    # a flat saddle whose two ways both end in the cis form: the same way on
    match, ends = matched_irc_ends([_CIS, _CIS + 0.01], [1.3, 1.3], _H2CO, _TRANS, _NUMBERS, 0.2, True)
    searches.clear()
    monkeypatch.setattr(mechanism, "find_reaction", _canned_search(searches, dataclasses.replace(first, irc_match=match, irc_ends=ends)))
    flat = mechanism.find_mechanism(_H2CO, _TRANS, pot, relax=False)
    assert flat.converged and flat.n_searches == 2 and np.array_equal(flat.steps[0].R_final, _TRANS), flat.message

    # the conformer within 0.2 Å of the product: both IRC ends are the product, no way on
    near = dataclasses.replace(first, irc_ends=np.stack([_TRANS + 0.01, ends[1]]))
    searches.clear()
    monkeypatch.setattr(mechanism, "find_reaction", _canned_search(searches, near))
    assert not mechanism.find_mechanism(_H2CO, _TRANS, pot, relax=False).converged and len(searches) == 1


def test_a_later_search_that_finds_the_reactions_own_saddle_ends_the_mechanism(monkeypatch):
    """A -> B: the first saddle joins A to an intermediate M; the search M -> B then finds
    a saddle whose IRC ends in A and B themselves. That saddle is the reaction, one step
    (not "an intermediate met before"). Canned searches on one-atom points."""
    import jaxrxn.mechanism as mechanism
    from jaxrxn.potentials.core import Potential
    from jaxrxn.reaction import ReactionResult, matched_irc_ends

    A, B, M = _at(0.0), _at(3.0), np.array([[1.5, 1.0, 0.0]])
    energy = {0.0: 0.0, 3.0: -0.5, 1.5: 0.2}
    calls = []

    def search(R_a, R_b, potential, **kwargs):
        calls.append((R_a, R_b))
        irc = [A, M] if len(calls) == 1 else [A, B]  # the second search's saddle joins A and B
        match, ends = matched_irc_ends(irc, [energy[float(X[0, 0])] for X in irc], R_a, R_b, None, 0.2, False)
        return ReactionResult(
            converged=False, failed_stage="verify", message="not connected", irc_match=match, irc_ends=ends, n_force_calls=100,
            R_initial=R_a, R_final=R_b, e_initial=energy[float(R_a[0, 0])], e_final=energy[float(R_b[0, 0])],
            ts_energy=1.0 + len(calls), R_ts=M, saddle_index=1,
        )  # fmt: skip

    monkeypatch.setattr(mechanism, "find_reaction", search)
    mech = mechanism.find_mechanism(A, B, Potential(lambda R, system, params: 0.0, None, None), relax=False)
    assert mech.converged and len(mech.steps) == 1 and mech.n_searches == 2, mech.message
    assert np.array_equal(calls[1][0], M)  # the second search ran from the intermediate
    (step,) = mech.steps
    assert step.ts_energy == 3.0 and np.array_equal(step.R_initial, A) and np.array_equal(step.R_final, B)
    assert step.barrier == 3.0 and step.reaction_energy == -0.5 and mech.n_force_calls == 200
