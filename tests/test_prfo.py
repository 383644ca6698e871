"""P-RFO (Baker 1986) on Muller-Brown and 2D LJ7; saddle-index reporting.

Reference values: paths_saddles.md §1.1 (Muller-Brown saddles [run]) and rare_events.md §6.3
(2D LJ7 saddles -11.0403 and -11.0373, Vineyard prefactors 2.778 and 2.980 [run]).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import LJ7_SADDLE_11_0373, LJ7_SADDLE_11_0403, lj7_hexagon

from jaxrxn import RESULTS
from jaxrxn.optimize import minimize
from jaxrxn.path import NEB, linear, neb
from jaxrxn.potentials import lennard_jones, muller_brown
from jaxrxn.rates import vineyard_prefactor
from jaxrxn.saddle import PRFO, Dimer, saddle_index, saddle_search, zero_modes

MB = muller_brown()
S1 = np.array([-0.822002, 0.624313])
S2 = np.array([0.212487, 0.292988])
LJ2D = lennard_jones(dim=2)

mb_search = jax.jit(jax.vmap(lambda R: saddle_search(MB, R, PRFO(), fmax=1e-3, max_steps=100)))
lj_search = jax.jit(jax.vmap(lambda R: saddle_search(LJ2D, R, PRFO(), fmax=1e-5, max_steps=200)))


def random_starts(center, n, radius, seed):
    rng = np.random.default_rng(seed)
    d = rng.normal(size=(n, 2))
    d *= (radius * rng.uniform(size=n) / np.linalg.norm(d, axis=1))[:, None]
    return jnp.asarray((center + d)[:, None, :])


@pytest.mark.parametrize("saddle, energy, curvature", [(S1, -40.6648, -750.86), (S2, -72.2489, -735.25)])
def test_prfo_muller_brown_from_random_starts(saddle, energy, curvature):
    res = mb_search(random_starts(saddle, 16, 0.1, seed=1))
    assert np.all(res.converged)
    assert np.all(res.saddle_index == 1)
    np.testing.assert_allclose(res.R[:, 0], np.broadcast_to(saddle, (16, 2)), atol=2e-6)
    np.testing.assert_allclose(res.energy, energy, atol=1e-4)
    assert np.all(res.n_hessian_calls <= res.n_force_calls)  # rejected steps cost no Hessian
    # P-RFO's own budget (each step also takes an exact 2x2 Hessian: n_hessian_calls);
    # the like-for-like count against Sella is benchmarks/saddle_vs_sella.py
    assert np.max(res.n_force_calls) <= 8
    # the unstable curvature is the Hessian eigenvalue of §1.1 (Newton iteration, 2 decimals)
    np.testing.assert_allclose(res.curvature, curvature, atol=0.01)



def test_one_compiled_search_with_or_without_a_first_mode():
    """A search given a first mode (a climbing image with its band's tangent) and one
    without (a TS guess) run one compiled program: ``mode0=None`` travels as zeros, which
    each solver reads as "none given" at run time (jaxrxn.saddle.index.first_mode). With
    ``None`` as a pytree leaf the pipeline compiled its molecular search twice per
    molecule, 20-25 s each on GFN2-xTB (2026-12-07). The search without a mode equals the
    one given zeros to the last bit; Muller-Brown's S1 (the §1.1 reference above) is
    reached both ways by each solver."""
    from jaxrxn._iterate import _solve
    from jaxrxn.potentials.core import Potential
    from jaxrxn.saddle import RSPRFO

    # a new energy function object: its programs are compiled in this test only
    pot = Potential(lambda R, system, params: MB.energy_fn(R, system, params), MB.params, MB.system)
    R0, tangent = jnp.asarray((S1 + [0.06, -0.04])[None]), jnp.asarray([[1.0, -0.6]])
    for solver in (PRFO(), Dimer(), RSPRFO(initial_hessian="exact")):
        plain = saddle_search(pot, R0, solver, fmax=1e-4, max_steps=200)
        compiled = _solve._cached._cache_size()
        zeros = saddle_search(pot, R0, solver, fmax=1e-4, max_steps=200, mode0=jnp.zeros_like(R0))
        guided = saddle_search(pot, R0, solver, fmax=1e-4, max_steps=200, mode0=tangent)
        assert _solve._cached._cache_size() == compiled, type(solver).__name__
        assert int(plain.n_force_calls) == int(zeros.n_force_calls)
        np.testing.assert_array_equal(np.asarray(plain.R), np.asarray(zeros.R))
        for res in (plain, guided):
            assert bool(res.converged) and int(res.saddle_index) == 1, type(solver).__name__
            np.testing.assert_allclose(np.asarray(res.R[0]), S1, atol=1e-4)

def test_prfo_lj7_rattled_saddles_and_prefactors():
    hexagon = minimize(LJ2D, jnp.asarray(lj7_hexagon()), "lbfgs", fmax=1e-8, max_steps=2000).R
    assert float(LJ2D.energy(hexagon)) == pytest.approx(-12.5349, abs=1e-4)
    rng = np.random.default_rng(7)
    saddles = np.stack([LJ7_SADDLE_11_0403, LJ7_SADDLE_11_0373])
    starts = saddles + 0.03 * rng.normal(size=(2, 7, 2))
    res = lj_search(jnp.asarray(starts))
    assert np.all(res.converged) and np.all(res.saddle_index == 1)
    np.testing.assert_allclose(res.energy, [-11.0403, -11.0373], atol=1e-4)
    nu = [float(vineyard_prefactor(LJ2D, hexagon, res.R[i], time_unit_s=1.0)) for i in (0, 1)]
    np.testing.assert_allclose(nu, [2.778, 2.980], rtol=1e-3)


def test_start_at_a_minimum_is_not_a_transition_state():
    A = jnp.array([[-0.558224, 1.441726]])
    res = saddle_search(MB, A, PRFO(), fmax=0.1)
    assert not bool(res.converged)
    assert int(res.saddle_index) == 0
    assert res.result == RESULTS.saddle_wrong_index
    with pytest.raises(Exception, match="not a first-order saddle"):
        saddle_search(MB, A, PRFO(), fmax=0.1, throw=True)


def test_zero_modes_detected_and_not_counted():
    # a free cluster has translations and the rotation as zero modes; a model surface none
    zm = zero_modes(LJ2D, jnp.asarray(LJ7_SADDLE_11_0403))
    assert np.all(zm.translations) and np.all(zm.rotations)
    zm = zero_modes(MB, jnp.asarray(S1[None]))
    assert not np.any(zm.translations)
    # without projection the near-zero rigid modes could be counted; with it, index 1
    assert int(saddle_index(LJ2D, jnp.asarray(LJ7_SADDLE_11_0403))) == 1


def test_bad_input_raises_value_error():
    with pytest.raises(ValueError, match="shape"):
        saddle_search(MB, jnp.zeros(2), PRFO())
    # a (1, 3) configuration on a 2D model surface is refused, naming the shape it needs
    # (it used to read x and y, ignore z, and report a converged saddle)
    for solver in (PRFO(), Dimer()):
        with pytest.raises(ValueError, match=r"one particle in 2D: configurations have shape \(1, 2\); got \(1, 3\)"):
            saddle_search(MB, jnp.array([[-0.82, 0.62, 0.0]]), solver)
    with pytest.raises(ValueError, match="zero_modes"):
        saddle_search(MB, jnp.zeros((1, 2)), PRFO(), zero_modes_spec="rigid")
    for solver in (PRFO(), Dimer()):
        with pytest.raises(ValueError, match="NaN or infinite"):
            saddle_search(MB, jnp.array([[jnp.nan, 0.3]]), solver)
        with pytest.raises(ValueError, match="NaN or infinite"):
            saddle_search(MB, jnp.array([[0.2, jnp.inf]]), solver)


def test_prfo_emt_cu_adatom_hop_barrier_and_vineyard_prefactor():
    # rare_events.md §6.2 / §5.2 [run]: Cu adatom hop on Cu(100), EMT, a = 3.5898 Å, 4x4x4
    # slab, bottom two layers fixed: 0.4117 eV (CI-NEB); adatom + top layer free:
    # Vineyard prefactor 5.12e12 Hz.
    from ase.constraints import FixAtoms

    from jaxrxn.potentials.emt import emt_from_atoms
    from jaxrxn.systems import cu_adatom_on_cu100
    from jaxrxn.rates import vineyard_prefactor

    a = 3.5898
    slab, _ = cu_adatom_on_cu100(a)
    for n_free_layers, check in ((2, "barrier"), (1, "prefactor")):
        slab.set_constraint(FixAtoms(mask=[t > n_free_layers for t in slab.get_tags()]))
        R, pot = emt_from_atoms(slab)

        @jax.jit
        def hop(R):
            m = minimize(pot, R, "lbfgs", fmax=1e-4, max_steps=1000)
            guess = m.R.at[-1, 0].add(a / np.sqrt(2) / 2)  # adatom over the bridge
            s = saddle_search(pot, guess, PRFO(), fmax=1e-4)
            return m, s, vineyard_prefactor(pot, m.R, s.R) if check == "prefactor" else 0.0

        m, s, nu = hop(jnp.asarray(R))
        assert bool(m.converged) and bool(s.converged) and int(s.saddle_index) == 1
        if check == "barrier":
            assert float(s.energy - m.energy) == pytest.approx(0.4117, abs=1e-3)
            assert int(s.n_force_calls) <= 15  # P-RFO's budget; it also takes one exact Hessian per step
        else:
            assert float(nu) == pytest.approx(5.12e12, rel=0.05)


MIN_A = np.array([-0.558224, 1.441726])
MIN_B = np.array([0.623499, 0.028038])
MIN_C = np.array([-0.050011, 0.466694])


@jax.jit
def neb_then_saddles(ends_initial, ends_final):
    # CI-NEB (fmax 0.05) gives the climbing image; both solvers refine it to fmax 1e-4
    def one(Ri, Rf):
        band = neb(MB, linear(Ri, Rf, 9), NEB(), fmax=0.05)
        guess = band.path[band.ts_index]
        return band, saddle_search(MB, guess, PRFO(), fmax=1e-4), saddle_search(MB, guess, Dimer(), fmax=1e-4)

    return jax.vmap(one)(ends_initial, ends_final)


def test_prfo_and_dimer_refine_neb_climbing_images_to_both_saddles():
    # paths_saddles.md §1.1 [run]: connectivity A-S1-C-S2-B, so A->C climbs to S1 and
    # C->B to S2; saddle coordinates and energies from Newton iteration (|g| < 1e-12).
    starts = jnp.asarray(np.stack([MIN_A, MIN_C])[:, None])
    ends = jnp.asarray(np.stack([MIN_C, MIN_B])[:, None])
    band, prfo, dimer = neb_then_saddles(starts, ends)
    assert np.all(band.converged)
    for res in (prfo, dimer):
        assert np.all(res.converged) and np.all(res.saddle_index == 1)
        np.testing.assert_allclose(res.R[:, 0], np.stack([S1, S2]), atol=1e-3)
        np.testing.assert_allclose(res.energy, [-40.6648, -72.2489], atol=1e-4)
