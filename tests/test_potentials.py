"""Potentials: forces = -grad (central differences), jit/vmap/grad over params, presets."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase.build import bulk

from jaxrxn.potentials import double_well, leps_harmonic, muller_brown, wolfe_quapp
from jaxrxn.potentials.pair import lennard_jones, morse, morse_preset

from helpers import central_difference_forces, lj7_hexagon

CU = bulk("Cu", "fcc", a=3.6447, cubic=True).repeat((4, 4, 4))  # 58.3 Å box > 2 x 6.76
RNG = np.random.default_rng(0)


def _cases():
    return {
        "muller_brown": (muller_brown(), np.array([[-0.3, 0.8]])),
        "leps_harmonic": (leps_harmonic(), np.array([[1.2, 0.4]])),
        "wolfe_quapp": (wolfe_quapp(), np.array([[0.4, -0.7]])),
        "double_well": (double_well(), np.array([[0.3, 0.2]])),
        "lj_2d_free": (lennard_jones(dim=2), lj7_hexagon() + 0.05 * RNG.normal(size=(7, 2))),
        "morse_free": (morse(0.3429, 1.3588, 2.866), CU.positions[:13] + 0.05 * RNG.normal(size=(13, 3))),
        "morse_periodic": (
            morse_preset("Cu", cell=CU.cell[:], pbc=CU.pbc),
            CU.positions + 0.05 * RNG.normal(size=CU.positions.shape),
        ),
        "morse_neighbor_list": (
            morse_preset("Cu", cell=np.diag(CU.cell[:]), pbc=CU.pbc, neighbor_list=True, R_reference=CU.positions),
            CU.positions + 0.05 * RNG.normal(size=CU.positions.shape),
        ),
    }


CASES = _cases()


@pytest.mark.parametrize("name", list(CASES))
def test_forces_are_minus_gradient(name):
    pot, R = CASES[name]
    F = np.asarray(jax.jit(lambda R: pot.forces(R))(jnp.asarray(R)))
    if R.shape[0] > 20:  # finite differences on a subset of atoms of large systems
        idx = [0, 5, 17]
        E = jax.jit(lambda R: pot.energy(R))
        for i in idx:
            for a in range(3):
                Rp, Rm = R.copy(), R.copy()
                Rp[i, a] += 1e-5
                Rm[i, a] -= 1e-5
                fd = -(float(E(jnp.asarray(Rp))) - float(E(jnp.asarray(Rm)))) / 2e-5
                np.testing.assert_allclose(F[i, a], fd, rtol=1e-6, atol=1e-7)
    else:
        np.testing.assert_allclose(F, central_difference_forces(pot.energy, R), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", list(CASES))
def test_jit_vmap_grad_params(name):
    pot, R = CASES[name]
    batch = jnp.stack([jnp.asarray(R), jnp.asarray(R) + 0.01])
    e_batch = jax.jit(jax.vmap(lambda R: pot.energy(R)))(batch)
    np.testing.assert_allclose(e_batch[0], pot.energy(jnp.asarray(R)), rtol=1e-12)
    # grad with respect to params, checked against a finite difference on one leaf
    g = jax.grad(lambda p: pot.replace(params=p).energy(jnp.asarray(R)))(pot.params)
    leaf_path, leaf = jax.tree_util.tree_flatten_with_path(pot.params)[0][0]
    gleaf = jax.tree_util.tree_flatten(g)[0][0]
    h = 1e-6
    unflat = jax.tree_util.tree_structure(pot.params)
    leaves = jax.tree_util.tree_leaves(pot.params)
    bump = jnp.zeros_like(leaf).reshape(-1).at[0].set(h).reshape(leaf.shape)
    e = lambda l0: pot.replace(params=jax.tree_util.tree_unflatten(unflat, [l0] + leaves[1:])).energy(jnp.asarray(R))
    fd = (e(leaf + bump) - e(leaf - bump)) / (2 * h)
    np.testing.assert_allclose(jnp.reshape(gleaf, -1)[0], fd, rtol=1e-5, atol=1e-6)
    # float64 evaluations are reproducible bit for bit
    assert float(pot.energy(jnp.asarray(R))) == float(pot.energy(jnp.asarray(R)))


def test_neighbor_list_matches_all_pairs():
    dense, R = CASES["morse_periodic"]
    nl, _ = CASES["morse_neighbor_list"]
    np.testing.assert_allclose(nl.energy(jnp.asarray(R)), dense.energy(jnp.asarray(R)), rtol=1e-12)


def test_morse_cu_lattice_constant_and_cohesive_energy():
    # rare_events.md §6.2 [run]: jax-md Morse(GW) Cu with r_onset 6.0, r_cutoff 6.76:
    # a0 = 3.6447 Å, E_coh = 3.4126 eV/atom.
    def e_per_atom(a):
        at = bulk("Cu", "fcc", a=a, cubic=True).repeat((4, 4, 4))
        pot = morse_preset("Cu", cell=at.cell[:], pbc=at.pbc)
        return float(pot.energy(jnp.asarray(at.positions))) / len(at)

    h = 1e-4
    dE = (e_per_atom(3.6447 + h) - e_per_atom(3.6447 - h)) / (2 * h)
    dE_off = (e_per_atom(3.66 + h) - e_per_atom(3.66 - h)) / (2 * h)
    assert abs(dE) < 2e-3 and dE_off > 0.02  # stationary at 3.6447, not at 3.66
    assert e_per_atom(3.6447) == pytest.approx(-3.4126, abs=1e-4)


def test_lj_neighbor_list_10000_atoms():
    # 10,000 atoms in a periodic box: the neighbour-list path must handle it.
    n = 22  # 4 * 22^3 = 42,592 is too many for CI; use a simple-cubic 22^3 = 10,648 lattice
    g = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 3) * 1.1
    box = np.full(3, n * 1.1)
    pot = lennard_jones(r_cutoff=2.5, cell=box, pbc=[True] * 3, neighbor_list=True, R_reference=g)
    e, f = jax.jit(lambda R: pot.energy_and_forces(R))(jnp.asarray(g))
    assert g.shape[0] > 10000
    # closed form: half the lattice sum over shells 1.1 |n| < 2.5, with jax-md's multiplicative
    # switch between r_onset = 2.25 and r_cutoff = 2.5; an empty or short list gives less
    n_vec = np.stack(np.meshgrid(*[np.arange(-3, 4)] * 3, indexing="ij"), -1).reshape(-1, 3)
    r = 1.1 * np.linalg.norm(n_vec[np.any(n_vec != 0, axis=1)], axis=1)
    r = r[r < 2.5]
    rc2, ro2 = 2.5**2, 2.25**2
    switch = np.where(r < 2.25, 1.0, (rc2 - r**2) ** 2 * (rc2 + 2 * r**2 - 3 * ro2) / (rc2 - ro2) ** 3)
    e_atom = 0.5 * np.sum(4 * (r**-12 - r**-6) * switch)
    np.testing.assert_allclose(float(e) / g.shape[0], e_atom, rtol=1e-10)
    assert np.abs(np.asarray(f)).max() < 1e-8  # perfect lattice: forces cancel by symmetry


def test_small_periodic_box_raises():
    small = bulk("Cu", "fcc", a=3.6447, cubic=True).repeat((3, 3, 3))  # 10.9 Å < 13.52 Å
    with pytest.raises(ValueError, match="below 2 x cutoff"):
        morse_preset("Cu", cell=small.cell[:], pbc=small.pbc)


def test_unknown_morse_element_raises():
    with pytest.raises(ValueError, match="no Girifalco-Weizer Morse parameters for element 'Xx'"):
        morse_preset("Xx")


def test_fixed_atoms_have_zero_force_and_hessian_rows():
    pot = lennard_jones(dim=2, fixed=[True] + [False] * 6)
    R = jnp.asarray(lj7_hexagon() + 0.05 * RNG.normal(size=(7, 2)))
    assert np.all(np.asarray(pot.forces(R))[0] == 0)
    H = np.asarray(pot.hessian(R))
    assert np.all(H[:2] == 0) and np.all(H[:, :2] == 0)
    np.testing.assert_allclose(H, H.T, atol=1e-10)


def test_muller_brown_reference_energies():
    # Muller & Brown 1979; stationary points from shared/reference/paths_saddles.md §1.1 [run]
    mb = muller_brown()
    for xy, e in [((-0.558224, 1.441726), -146.6995), ((0.623499, 0.028038), -108.1667),
                  ((-0.050011, 0.466694), -80.7678), ((-0.822002, 0.624313), -40.6648),
                  ((0.212487, 0.292988), -72.2489)]:  # fmt: skip
        assert float(mb.energy(jnp.array([xy]))) == pytest.approx(e, abs=1e-4)
