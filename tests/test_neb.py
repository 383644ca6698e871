"""CI-NEB: saddles of Muller-Brown, ASE-parity counts, batches, bad input.

Reference numbers: ../shared/reference/paths_saddles.md §1.1 (Muller-Brown stationary
points, found by Newton iteration to |g| < 1e-12) and §2a (ASE 3.29 NEB baselines).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrxn
from jaxrxn import RESULTS
from jaxrxn.optimize import FIRE, LBFGS
from jaxrxn.path import NEB, linear, neb, neb_forces
from jaxrxn.systems import au_on_al100, cu_adatom_on_cu100

MB = jaxrxn.muller_brown()
A = np.array([[-0.558224, 1.441726]])
B = np.array([[0.623499, 0.028038]])
C = np.array([[-0.050011, 0.466694]])
S1, E_S1 = np.array([-0.822002, 0.624313]), -40.6648  # paths_saddles.md §1.1
S2, E_S2 = np.array([0.212487, 0.292988]), -72.2489
PATH_AB = linear(A, B, 11)  # 9 interior images, as in the ASE baseline of §2a


@pytest.mark.parametrize("optimizer", [FIRE(maxstep=0.05), LBFGS()], ids=["fire", "lbfgs"])
def test_muller_brown_a_to_b_finds_s1(optimizer):
    # ASE's BFGS, LBFGS and MDMin diverge on this band (§2a); every jaxrxn optimizer converges.
    r = neb(MB, PATH_AB, NEB(optimizer=optimizer), fmax=0.05)
    assert bool(r.converged) and r.result == RESULTS.successful
    np.testing.assert_allclose(r.path[r.ts_index, 0], S1, atol=1e-3)
    assert float(r.energies[r.ts_index]) == pytest.approx(E_S1, abs=1e-3)
    assert float(r.barrier) == pytest.approx(106.0347, abs=1e-3)
    assert float(r.max_force) <= 0.05
    # ASE's improved-tangent CI-NEB with FIRE needs 497 force calls here (§2a)
    assert int(r.n_force_calls) < 497
    # ASE's counting: the end points once, then 9 interior images per iteration
    assert int(r.n_force_calls) == 2 + 9 * (int(r.n_steps) + 1)


def test_muller_brown_c_to_b_finds_s2():
    r = neb(MB, linear(C, B, 7), NEB(), fmax=0.01)
    assert bool(r.converged)
    np.testing.assert_allclose(r.path[r.ts_index, 0], S2, atol=1e-3)
    assert float(r.energies[r.ts_index]) == pytest.approx(E_S2, abs=1e-3)


def test_climbing_image_needed_for_the_saddle():
    # Without climbing the top image sits below S1 (ASE: 104.280 vs 106.0347, §2a).
    r = neb(MB, PATH_AB, NEB(climb=False), fmax=0.05)
    assert bool(r.converged)
    assert float(r.barrier) < 106.0347 - 0.5


def test_energy_weighted_springs_and_delayed_climb_reach_s1():
    r = neb(MB, PATH_AB, NEB(energy_weighted=True, climb_after=20.0), fmax=0.05)
    assert bool(r.converged)
    np.testing.assert_allclose(r.path[r.ts_index, 0], S1, atol=1e-3)


def test_step_cap_reports_not_converged():
    r = neb(MB, PATH_AB, NEB(), fmax=0.05, max_steps=3)
    assert not bool(r.converged) and r.result == RESULTS.step_cap_reached
    with pytest.raises(Exception, match="step cap"):
        neb(MB, PATH_AB, NEB(), fmax=0.05, max_steps=3, throw=True)


def test_diverging_band_stops_early_and_says_so():
    # An absurd step size blows the band up on the stiff Muller-Brown surface; the run
    # must stop at once with band_diverged instead of running to the step cap.
    r = neb(MB, PATH_AB, NEB(optimizer=FIRE(dt=1.0, dt_max=5.0, maxstep=5.0)), max_steps=500)
    assert not bool(r.converged) and r.result == RESULTS.band_diverged
    assert int(r.n_steps) < 10


def test_neb_forces_match_hand_projection():
    # One interior image on a monotonic stretch: tangent = R_{i+1} - R_i (HJ 2000 eq. 8).
    path = jnp.array([[[0.0, 0.0]], [[1.0, 0.0]], [[1.0, 2.0]]])
    E = jnp.array([0.0, 1.0, 2.0])
    F = jnp.array([[[0.0, 0.0]], [[3.0, 4.0]], [[0.0, 0.0]]])
    f = neb_forces(path, E, F, k=0.5)
    # tau = (0,1); F_perp = (3,0); spring 0.5*(2-1) along tau
    np.testing.assert_allclose(f[0, 0], [3.0, 0.5])
    f_ci = neb_forces(path, E, F, k=0.5, climbing=True)
    np.testing.assert_allclose(f_ci[0, 0], [3.0, -4.0])


def test_vmap_over_bands_equals_one_by_one():
    rng = np.random.default_rng(0)
    starts = A + 0.03 * rng.standard_normal((3, 1, 2))
    ends = B + 0.03 * rng.standard_normal((3, 1, 2))
    bands = jnp.stack([linear(s, e, 11) for s, e in zip(starts, ends)])
    batched = jax.vmap(lambda p: neb(MB, p, NEB(), fmax=0.05))(bands)
    for i in range(3):
        one = neb(MB, bands[i], NEB(), fmax=0.05)
        np.testing.assert_allclose(batched.path[i], one.path, atol=1e-10)
        assert int(batched.n_force_calls[i]) == int(one.n_force_calls)
    assert bool(jnp.all(batched.converged))


def test_vmap_over_potential_params():
    # Scaling every Muller-Brown amplitude by s scales the barrier by s exactly.
    scales = jnp.array([1.0, 0.5])
    pots = jax.vmap(lambda s: MB.replace(params={**MB.params, "A": MB.params["A"] * s}))(scales)
    run = jax.vmap(lambda pot: neb(pot, PATH_AB, NEB(), fmax=0.05))
    r = run(pots)
    assert bool(jnp.all(r.converged))
    np.testing.assert_allclose(r.barrier, 106.0347 * scales, atol=5e-3)


def test_fixed_atoms_and_periodic_band_lj():
    # LJ trimer in a periodic 2D box: atom 2 hops across the boundary; atom 0 is fixed.
    cell = np.eye(2) * 6.0
    pot = jaxrxn.lennard_jones(1.0, 1.0, r_cutoff=2.5, cell=cell, pbc=[True, True], dim=2, fixed=[True, False, False])
    R0 = np.array([[0.5, 3.0], [1.6, 3.0], [1.05, 3.0 + 0.95]])
    R1 = R0.copy()
    R1[2, 1] = 3.0 - 0.95
    R1 = R1 % 6.0
    path0 = linear(R0, R1, 5, system=pot.system)
    r = neb(pot, path0, NEB(), fmax=0.01)
    assert bool(r.converged)
    # the potential's system is the one source of periodicity: the old arguments may only
    # repeat it (same compiled band, a deprecation warning) and may not contradict it
    with pytest.warns(DeprecationWarning, match="one source of periodicity"):
        again = neb(pot, path0, NEB(), fmax=0.01, cell=cell, pbc=[True, True])
    np.testing.assert_array_equal(again.path, r.path)
    for cell_, pbc_ in ((cell * 1.1, None), (cell, [True, False]), (None, [True, True])):
        with pytest.raises(ValueError, match="from potential.system"):
            neb(pot, path0, NEB(), fmax=0.01, cell=cell_, pbc=pbc_)
    np.testing.assert_allclose(r.path[:, 0], np.broadcast_to(R0[0], (5, 2)))
    # Closed form: a labelled triangle changes its orientation only through a straight chain
    # (any order), whose stationary spacing r minimises 2 V(r) + V(2 r) (2 r < 2.25: no
    # switching, periodic images > 4.9 apart); the ends are the unrelaxed R0 and R1.
    from scipy.optimize import minimize_scalar

    V = lambda r: 4 * (r**-12 - r**-6)  # noqa: E731
    chain = minimize_scalar(lambda r: 2 * V(r) + V(2 * r), bounds=(1.0, 1.2), method="bounded", options={"xatol": 1e-12})
    E0 = sum(V(np.linalg.norm(R0[i] - R0[j])) for i, j in ((0, 1), (0, 2), (1, 2)))
    np.testing.assert_allclose(float(r.barrier), chain.fun - E0, atol=1e-5)  # 0.91132 eps


@pytest.mark.parametrize(
    "path, message",
    [
        (np.stack([A, B]), "at least 3 images"),
        (np.stack([A, np.array([[np.nan, 0.0]]), B]), "NaN"),
        (np.zeros((3, 2, 3)), "overlapping atoms"),
        (np.zeros((3, 2)), "shape"),
    ],
)
def test_bad_bands_raise(path, message):
    with pytest.raises(ValueError, match=message):
        neb(MB, path, NEB())


def test_bad_interpolation_inputs():
    with pytest.raises(ValueError, match="different shapes"):
        linear(np.zeros((2, 3)) + [[0, 0, 0], [1, 0, 0]], np.zeros((3, 3)) + [[0, 0, 0], [1, 0, 0], [2, 0, 0]], 5)
    with pytest.raises(ValueError, match="at least 3 images"):
        linear(A, B, 2)


# ---- EMT surface hops (paths_saddles.md §1.2; rare_events.md §6.2) ----------------------
def _au_al_ends():
    # ASE's NEB tutorial (diffusion1.py): Au on Al(100), 2x2x3, tags > 1 fixed
    return au_on_al100()


def _cu_cu_ends():
    # Cu adatom on Cu(100) at EMT's lattice constant, 4x4x4, bottom two layers fixed
    return cu_adatom_on_cu100()


def _relaxed(atoms):
    from ase.calculators.emt import EMT
    from ase.optimize import BFGS

    atoms.calc = EMT()
    BFGS(atoms, logfile=None).run(fmax=0.001)
    return atoms


def _ase_barrier(images):
    from ase.calculators.emt import EMT
    from ase.mep import NEB as AseNEB
    from ase.optimize import BFGS

    images = [im.copy() for im in images]
    for im in images:
        im.calc = EMT()
    band = AseNEB(images, climb=True, method="improvedtangent")
    BFGS(band, logfile=None).run(fmax=0.01, steps=500)
    E = [im.get_potential_energy() for im in images]
    return max(E[1:-1]) - E[0]


@pytest.mark.parametrize(
    "ends, n_interior, reference",
    [(_au_al_ends, 3, 0.3745), (_au_al_ends, 4, 0.3745), (_cu_cu_ends, 4, 0.4117)],
    ids=["au_al_3", "au_al_4_even", "cu_cu_4_even"],
)
def test_emt_hop_barrier_matches_reference_and_ase(ends, n_interior, reference):
    from ase.mep import NEB as AseNEB

    from jaxrxn.potentials.emt import emt_from_atoms

    initial, final = (_relaxed(a) for a in ends())
    images = [initial] + [initial.copy() for _ in range(n_interior)] + [final]
    AseNEB(images).interpolate()
    R, pot = emt_from_atoms(initial)
    path0 = np.stack([im.positions for im in images])
    r = neb(pot, path0, NEB(), fmax=0.01)
    assert bool(r.converged)
    # with an even number of interior images no image sits on the symmetric saddle:
    # only a working climbing image reaches it
    assert float(r.barrier) == pytest.approx(reference, abs=2e-3)
    assert float(r.barrier) == pytest.approx(_ase_barrier(images), abs=1e-3)


def test_float32_band_stays_float32():
    # the design: results follow the input dtype (x64 is on in the tests; the band is f32)
    path = jnp.asarray(PATH_AB, jnp.float32)
    E64 = jax.vmap(MB.energy)(jnp.asarray(PATH_AB))
    F64 = jax.vmap(MB.forces)(jnp.asarray(PATH_AB))
    f32 = neb_forces(path, E64.astype(jnp.float32), F64.astype(jnp.float32), climbing=True)
    f64 = neb_forces(jnp.asarray(PATH_AB), E64, F64, climbing=True)
    assert f32.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(f32), np.asarray(f64), rtol=1e-4, atol=1e-3 * float(jnp.max(jnp.abs(f64))))
    r = neb(MB, path, NEB(), fmax=0.05)
    assert r.path.dtype == r.energies.dtype == r.forces.dtype == jnp.float32
    assert bool(r.converged)
    np.testing.assert_allclose(np.asarray(r.path[r.ts_index, 0]), S1, atol=2e-3)
    m = jaxrxn.minimize(MB, path[1], "lbfgs", fmax=1e-2)
    assert m.R.dtype == m.energy.dtype == jnp.float32 and bool(m.converged)
