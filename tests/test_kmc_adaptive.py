"""Adaptive KMC (eOn style; Xu & Henkelman, JCP 129, 114104 (2008)) on the Muller-Brown surface.

From minimum A (-0.558224, 1.441726), E = -146.6995, the lowest saddle is at
(-0.822002, 0.624313), E = -40.6648, leading to minimum C (-0.050011, 0.466694),
E = -80.7678 (rare_events.md §0, [run]). MB energies are in its own units; the test treats
them as eV with a fixed prefactor and kT = 10 so the window holds the process.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import lambertw

import jaxrxn
from jaxrxn.kmc.adaptive import AdaptiveKMC, akmc_step, confidence, lambert_w0
from jaxrxn.system import System
from jaxrxn.units import KB

A = np.array([[-0.558224, 1.441726]])


def test_lambert_w0_and_confidence():
    z = -np.exp(-1.0 / np.array([0.05, 0.2, 0.5, 0.9])) / np.array([0.05, 0.2, 0.5, 0.9])
    z = np.concatenate([z, [-0.3678794, -0.3, -1e-3, 0.0]])
    np.testing.assert_allclose(np.asarray(lambert_w0(jnp.asarray(z))), lambertw(z).real, atol=1e-7)
    # x = 1 (every search found a new process): no confidence; x -> 0: certainty
    assert abs(float(confidence(4, 4))) < 1e-6
    assert float(confidence(1, 50)) > 0.999
    assert float(confidence(0, 0)) == 0.0
    # monotone in the number of repeated finds
    assert float(confidence(2, 4)) < float(confidence(2, 8)) < float(confidence(2, 16))


def test_akmc_muller_brown_finds_a_to_c():
    mb = jaxrxn.muller_brown()
    akmc = AdaptiveKMC(temperature=10.0 / KB, prefactor=1e12, batch_size=8, max_searches=48)
    step = akmc_step(akmc, mb, jnp.asarray(A), jax.random.key(0))
    table = step.table
    assert table.confidence >= 0.99, table.confidence
    lowest = int(np.argmin(table.barrier))
    np.testing.assert_allclose(table.saddle_energy[lowest], -40.6648, atol=2e-3)
    np.testing.assert_allclose(table.barrier[lowest], -40.6648 + 146.6995, atol=2e-3)
    np.testing.assert_allclose(table.saddle[lowest, 0], [-0.822002, 0.624313], atol=2e-3)
    np.testing.assert_allclose(table.product[lowest, 0], [-0.050011, 0.466694], atol=2e-3)
    np.testing.assert_allclose(step.energy, table.product_energy[step.event])
    assert np.isfinite(step.dt) and step.dt > 0
    print(f"MB A: {table.n_searches} searches, {len(table.barrier)} processes, "
          f"found {table.times_found}, confidence {table.confidence:.4f}")


def test_state_library_matches_translated_permuted_periodic_copies():
    # a state moved by a rigid translation, its atoms renumbered and wrapped into the cell
    # is recognised, and a process (here a random displacement field) is carried over
    from jaxrxn.geometry import minimum_image
    from jaxrxn.kmc.adaptive import StateLibrary, StateMatch

    rng = np.random.default_rng(0)
    cell = np.diag([7.0, 8.0, 20.0])
    R_ref = rng.uniform(0, 1, (12, 3)) * [7.0, 8.0, 3.0] + [0, 0, 5.0]
    R_ref[-1, 2] += 4.0  # one "adatom", the least coordinated atom
    lib = StateLibrary(AdaptiveKMC(temperature=500.0, coordination_cutoff=3.5), None,
                       system=System(None, cell, (True, True, False)))  # fmt: skip
    lib._free = np.ones(12, bool)
    lib.states, lib.energies, lib._anchors = [R_ref], [-1.0], [lib._least_coordinated(R_ref)]
    lib.tables = [None]
    t = np.array([2.3, -1.1, 0.0])
    perm = rng.permutation(12)
    R_new = (R_ref + t)[perm] + np.array([7.0, 0, 0]) * rng.integers(-2, 3, (12, 1))
    m = lib.match(R_new, -1.0 + 1e-4)
    assert isinstance(m, StateMatch) and m.index == 0
    np.testing.assert_array_equal(m.perm, perm)
    np.testing.assert_allclose(m.apply(R_ref), R_new, atol=1e-12)
    move = rng.normal(0, 0.3, (12, 3))
    np.testing.assert_allclose(minimum_image(m.apply(R_ref + move) - R_new - move[perm], cell, (1, 1, 0)), 0, atol=1e-12)
    assert lib.match(R_new, -0.9) is None  # another energy
    R_bad = R_new.copy()
    R_bad[0] += 0.3
    assert lib.match(R_bad, -1.0) is None  # one atom off


def _ase_hop_barrier_and_prefactor(relaxed_slab, a: float) -> tuple[float, float]:
    """The adatom hop on `relaxed_slab` by ASE alone: CI-NEB barrier (eV; 3 images, FIRE to
    fmax 1e-3) and the Vineyard prefactor (Hz) from central-difference Hessians (h = 1e-3 Å)
    of the free atoms at the minimum and the climbing image."""
    from ase import units
    from ase.calculators.emt import EMT
    from ase.mep import NEB
    from ase.optimize import BFGS, FIRE

    initial = relaxed_slab.copy()
    final = relaxed_slab.copy()
    final.positions[-1, 0] += a / np.sqrt(2)
    for atoms in (initial, final):
        atoms.calc = EMT()
        BFGS(atoms, logfile=None).run(fmax=1e-3)
    images = [initial] + [initial.copy() for _ in range(3)] + [final]
    for image in images[1:-1]:
        image.calc = EMT()
    band = NEB(images, climb=True, method="improvedtangent")
    band.interpolate()
    FIRE(band, logfile=None).run(fmax=1e-3, steps=2000)
    energies = [image.get_potential_energy() for image in images]
    saddle = images[int(np.argmax(energies))]
    free = np.flatnonzero(~np.isin(np.arange(len(initial)), initial.constraints[0].get_indices()))
    dofs = [3 * i + k for i in free for k in range(3)]

    def mass_weighted_hessian_eigenvalues(structure):
        atoms = structure.copy()
        atoms.set_constraint()
        atoms.calc = EMT()
        H = np.zeros((len(dofs), len(dofs)))
        for column, j in enumerate(dofs):
            forces = []
            for step in (1e-3, -1e-3):
                atoms.positions[j // 3, j % 3] += step
                forces.append(atoms.get_forces().reshape(-1)[dofs])
                atoms.positions[j // 3, j % 3] -= step
            H[:, column] = -(forces[0] - forces[1]) / 2e-3
        m = np.repeat(atoms.get_masses()[free], 3)
        return np.linalg.eigvalsh(0.5 * (H + H.T) / np.sqrt(np.outer(m, m)))

    at_minimum, at_saddle = mass_weighted_hessian_eigenvalues(initial), mass_weighted_hessian_eigenvalues(saddle)
    assert at_minimum[0] > 0 and at_saddle[0] < 0 < at_saddle[1]
    log_ratio = 0.5 * (np.sum(np.log(at_minimum)) - np.sum(np.log(at_saddle[1:])))
    return max(energies) - energies[0], float(np.exp(log_ratio) * units.second / (2 * np.pi))


@pytest.mark.compute_bound
def test_akmc_cu_adatom_on_cu100_finds_four_hops_and_diffusion():
    # EMT Cu adatom on Cu(100) (jaxrxn.systems.cu_adatom_on_cu100 at a = 3.5898 Å, here a
    # 3x3x3 slab, adatom + top layer free): searches from the adatom find the hop four times
    # by symmetry, each product the start translated by a/sqrt(2) = 2.5384 Å along +-x or
    # +-y. Barrier and prefactor are checked against ASE in this test: ASE's CI-NEB with
    # ASE's EMT (0.4148 eV) and the Vineyard prefactor from ASE finite-difference Hessians of
    # the free atoms at ASE's minimum and climbing image (5.20e12 Hz). The process table as a
    # lattice model gives D within 10% of k a^2 with k = 5.12e12 exp(-0.4117/kT) Hz at 500 K
    # (rare_events.md §5.1 [run]: D = 2.34e-11 m^2/s; this table: 0.943 of it).
    #
    # Why all four hops are found whatever the key: only the adatom is displaced (radius
    # 0.5 Å), by an isotropic Gaussian, from a site of fourfold symmetry, so a search ends on
    # each of the four hops with the same probability p/4, p the probability that it finds a
    # hop at all (measured 111 of 128 searches = 0.87 over 16 other keys; the rest found the
    # 0.82 eV exchange). With confidence=1 the exploration runs all n = 64 independent
    # searches, and P(some hop missed) <= 4 (1 - p/4)^n < 1.8e-5 for any p >= 0.7 (6.1e-7
    # at the measured p).
    # Every process found below 0.6 eV must be one of those four hops (no seed dependence).
    from ase.calculators.emt import EMT
    from ase.optimize import BFGS

    from jaxrxn.kmc.adaptive import StateLibrary, least_coordinated_position
    from jaxrxn.potentials.emt import emt_from_atoms
    from jaxrxn.systems import cu_adatom_on_cu100

    a = 3.5898
    slab, _ = cu_adatom_on_cu100(a, size=(3, 3, 3), n_fixed_layers=2)
    slab.calc = EMT()  # ASE's EMT equals jaxrxn's (test_emt.py); relaxing there compiles nothing
    BFGS(slab, logfile=None).run(fmax=1e-3)
    R, pot = emt_from_atoms(slab)
    n_searches = 64
    akmc = AdaptiveKMC(temperature=500.0, batch_size=8, max_searches=n_searches, confidence=1.0, displace_radius=0.5,
                       saddle_max_steps=200, min_reverse_barrier=0.02)  # fmt: skip
    lib = StateLibrary(akmc, pot)  # periodicity from the potential's system
    lib.lookup(np.asarray(R), float(pot.energy(R)), jax.random.key(3))
    table = lib.tables[0]
    assert table.n_searches == n_searches  # the bound above assumes every search was run
    track = least_coordinated_position(slab.cell.array, slab.pbc, axes=(0, 1))
    hops = np.flatnonzero(table.barrier < 0.6)
    assert len(hops) == 4, table.barrier
    barrier_ase, prefactor_ase = _ase_hop_barrier_and_prefactor(slab, a)
    np.testing.assert_allclose(table.barrier[hops], barrier_ase, atol=1e-3)
    np.testing.assert_allclose(table.prefactor[hops], prefactor_ase, rtol=0.03)
    moves = []
    for p in hops:
        m = lib.match(table.product[p], table.product_energy[p])
        assert m is not None and m.index == 0  # the product is the start, moved
        moves.append(track(table.product[p]) - track(np.asarray(R)))
    moves = np.asarray(moves)
    np.testing.assert_allclose(np.linalg.norm(moves, axis=1), a / np.sqrt(2), atol=0.01)
    np.testing.assert_allclose(np.sort(np.round(moves / (a / np.sqrt(2)), 1).sum(axis=1)), [-1, -1, 1, 1], atol=0.02)
    np.testing.assert_allclose(moves.sum(axis=0), 0.0, atol=0.02)  # +x, -x, +y, -y

    walker, lost = lib.walker(500.0, track, lambda tb: tb.barrier < 0.6)
    d_ref = 5.12e12 * np.exp(-0.4117 / (KB * 500.0)) * (a / np.sqrt(2)) ** 2  # Å^2/s
    assert float(walker.analytic_diffusion_coefficient()) == pytest.approx(d_ref, rel=0.10)
    # the lattice model's exact D; its KMC/MSD estimate is checked in test_kmc_lattice.py and
    # examples/akmc_cu_adatom.py (0.931 +- 0.013 of d_ref at 500 K on the 4x4x4 slab)
    print(f"4 hops {table.barrier[hops]} eV, nu {table.prefactor[hops]} Hz; D lattice "
          f"{float(walker.analytic_diffusion_coefficient()):.4e}, ref {d_ref:.4e} A^2/s, left out {lost}")


def test_state_library_walker_drops_states_without_exits():
    # state 0 hops to itself translated by 1 Å (rate k_hop) and to state 1 (k_up); state 1
    # only leads to an unexplored state, so the lattice model keeps state 0 alone and counts
    # k_up as lost
    from jaxrxn.kmc.adaptive import ProcessTable, StateLibrary

    cell, pbc, T = np.diag([3.0, 3.0, 20.0]), (True, True, False), 500.0
    R0 = np.array([[0.0, 0.0, 5.0], [1.5, 1.5, 5.0], [0.0, 1.5, 7.0]])
    R1 = R0 + [[0, 0, 0], [0, 0, 0], [0.7, 0.3, 0.4]]
    R2 = R0 + [[0, 0, 0], [0.5, 0, 0], [0, 0, 0]]

    def table(products, energies, barriers):
        n = len(products)
        return ProcessTable(np.stack(products), np.zeros(n), np.stack(products), np.asarray(energies),
                            np.asarray(barriers), np.full(n, 1e13), np.ones(n, int), 8, 0, 1.0)  # fmt: skip

    lib = StateLibrary(AdaptiveKMC(temperature=T), None, system=System(None, cell, pbc))
    lib._free = np.ones(3, bool)
    lib.states, lib.energies = [R0, R1], [0.0, 0.5]
    lib._anchors = [lib._least_coordinated(R) for R in lib.states]
    lib.tables = [table([R0 + [1.0, 0, 0], R1], [0.0, 0.5], [0.4, 0.6]), table([R2], [0.7], [0.3])]
    walker, lost = lib.walker(T, lambda R: R[2, :2])
    assert walker.hop_vectors.shape == (1, 1, 2)
    np.testing.assert_allclose(np.asarray(walker.hop_vectors[0, 0]), [1.0, 0.0], atol=1e-12)
    k_hop, k_up = (1e13 * np.exp(-b / (KB * T)) for b in (0.4, 0.6))
    np.testing.assert_allclose(lost[0], k_up / (k_hop + k_up), rtol=1e-12)
    assert np.isnan(lost[1])


def test_run_akmc_on_muller_brown_hops_over_the_tabulated_saddles():
    # paths_saddles.md §1.1: A (-146.6995) -> C (-80.7678) over S1 (-40.6648): 106.0347;
    # from C: to B (-108.1667) over S2 (-72.2489): 8.5189, back to A over S1: 40.1030.
    # Whatever the seed, the first hop is A -> C and the second goes to B or back to A.
    from jaxrxn.kmc.adaptive import StateLibrary, run_akmc

    mb = jaxrxn.muller_brown()
    A = np.array([[-0.558224, 1.441726]])
    akmc = AdaptiveKMC(temperature=15.0 / KB, batch_size=8, max_searches=16, displacement=0.1, prefactor=1.0, confidence=0.9)
    traj = run_akmc(StateLibrary(akmc, mb), A, float(mb.energy(jnp.asarray(A))), jax.random.key(0), 2, lambda R: np.asarray(R)[0])
    np.testing.assert_allclose(traj.energy[:2], [-146.6995, -80.7678], atol=1e-3)
    np.testing.assert_allclose(traj.barrier[0], 106.0347, atol=1e-3)
    second = {8.5189: -108.1667, 40.1030: -146.6995}
    b = min(second, key=lambda k: abs(k - traj.barrier[1]))
    assert abs(traj.barrier[1] - b) < 1e-3 and abs(traj.energy[2] - second[b]) < 1e-3
    assert np.all(np.diff(traj.time) > 0)


def test_periodicity_comes_from_the_system_and_old_keywords_are_deprecated():
    from jaxrxn.kmc.adaptive import StateLibrary, explore_minimum

    cell, pbc = np.diag([7.0, 8.0, 20.0]), (True, True, False)
    periodic = jaxrxn.lennard_jones(0.01, 2.5, r_cutoff=3.4, system=System(None, cell, pbc))
    lib = StateLibrary(AdaptiveKMC(temperature=500.0), periodic)
    np.testing.assert_array_equal(lib.cell, cell)
    np.testing.assert_array_equal(lib.pbc, pbc)
    # atoms 0 and 1, 6.5 Å apart along x, are 0.5 Å apart through the periodic face; atom 2
    # is 3.2 Å from both (beyond the 3 Å coordination cutoff): the least coordinated atom
    R = np.array([[0.2, 1.0, 5.0], [6.7, 1.0, 5.0], [3.45, 1.0, 5.0]])
    assert lib._least_coordinated(R).tolist() == [2] and StateLibrary(AdaptiveKMC(500.0), None).cell is None
    with pytest.warns(DeprecationWarning, match="potential's system"):
        old = StateLibrary(AdaptiveKMC(temperature=500.0), None, cell=cell, pbc=pbc)
    np.testing.assert_array_equal(old.cell, cell)
    with pytest.raises(ValueError, match="differ"), pytest.warns(DeprecationWarning):
        StateLibrary(AdaptiveKMC(500.0), periodic, cell=2 * cell, pbc=pbc)
    with pytest.raises(ValueError, match="differ"), pytest.warns(DeprecationWarning, match="explore_minimum"):
        explore_minimum(AdaptiveKMC(500.0), periodic, jnp.asarray(R), jax.random.key(0), cell=2 * cell)
