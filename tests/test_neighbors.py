"""Neighbour lists as state (jaxrxn.neighbors): potentials evaluated through a carried list
against ASE's EMT and the list-free sums, the Verlet rebuild rule, overflow, padding, MD
carrying the list, and a vmap over different cells."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase.build import bulk, fcc111
from ase.calculators.emt import EMT
from ase.cluster import Icosahedron

from jaxrxn.batch import pad_positions, pad_system
from jaxrxn.dynamics import VelocityVerlet, run_md
from jaxrxn.neighbors import allocate
from jaxrxn.potentials.manybody import sutton_chen
from jaxrxn.potentials.pair import lennard_jones
from jaxrxn.potentials.emt import R_LIST, emt_from_atoms

E_TOL = 1e-8  # eV/atom


def _cases():
    skewed = bulk("Ni", "fcc", a=3.52).repeat((7, 7, 7))  # primitive fcc cell: 60° angles
    slab = fcc111("Pt", (6, 6, 4), vacuum=6.0)
    cluster = Icosahedron("Cu", 4)
    big = bulk("Cu", cubic=True).repeat((4, 4, 7))  # 448 atoms: one bin along x, y, several along z
    return {"ni_skewed": skewed, "pt111_slab": slab, "cu_cluster": cluster, "cu_bins": big}


@pytest.mark.parametrize("name", list(_cases()))
def test_emt_through_carried_list_equals_ase(name):
    atoms = _cases()[name]
    atoms.rattle(0.05, seed=3)
    R, pot = emt_from_atoms(atoms, neighbor_list=True)
    assert pot.neighbors is not None
    atoms.calc = EMT()
    e_ref, f_ref = atoms.get_potential_energy(), atoms.get_forces()
    e, f = jax.jit(lambda p, R: p.energy_and_forces(R))(pot, R)
    assert abs(float(e) - e_ref) < E_TOL * len(atoms)
    np.testing.assert_allclose(np.asarray(f), f_ref, rtol=0, atol=1e-8)
    # Moved by less than half the skin: the list is not rebuilt and stays exact.
    step = np.random.default_rng(0).normal(size=R.shape)
    step *= 0.2 / np.linalg.norm(step, axis=1, keepdims=True)  # 0.2 Å < skin / 2 = 0.25 Å
    atoms.positions += step
    e2 = pot.energy(R + step)
    assert int(pot.neighbors.update(R + step, pot.system).n_builds) == 1
    assert abs(float(e2) - atoms.get_potential_energy()) < E_TOL * len(atoms)


def test_analytic_list_gradient_supports_hessian_and_parameter_gradients():
    atoms = Icosahedron("Cu", 2)  # 13 atoms
    atoms.rattle(0.05, seed=1)
    R, dense = emt_from_atoms(atoms)
    listed = dense.with_neighbors(R)
    np.testing.assert_allclose(np.asarray(listed.hessian(R)), np.asarray(dense.hessian(R)), atol=1e-9)
    g_list = jax.grad(lambda p: listed.replace(params=p).energy(R))(listed.params)
    g_dense = jax.grad(lambda p: dense.replace(params=p).energy(R))(dense.params)
    for k in g_dense:
        np.testing.assert_allclose(np.asarray(g_list[k]), np.asarray(g_dense[k]), atol=1e-9)


def test_rebuild_only_past_half_the_skin():
    atoms = bulk("Cu", cubic=True).repeat(4)
    R, pot = emt_from_atoms(atoms, neighbor_list=True)
    nbrs, skin = pot.neighbors, pot.neighbors.skin
    update = jax.jit(lambda nl, R: nl.update(R, pot.system))
    # half the skin is the threshold: 0.49 skin keeps the list, 0.51 skin rebuilds it
    for fraction, rebuilt in ((0.49, False), (0.51, True)):
        moved = R.at[17, 1].add(fraction * skin)
        assert int(update(nbrs, moved).n_builds) == 1 + rebuilt, fraction
    # the rebuilt list is right where the old one would miss pairs: carry the list while
    # one atom walks 2 Å towards a neighbour shell, and compare with ASE at the end
    walk = R
    for _ in range(20):
        walk = walk.at[17].add(jnp.asarray([0.1, 0.0, 0.0]))
        nbrs = update(nbrs, walk)
    assert int(nbrs.n_builds) > 1
    atoms.positions = np.asarray(walk)
    atoms.calc = EMT()
    e = pot.replace(neighbors=nbrs).energy(walk)
    assert abs(float(e) - atoms.get_potential_energy()) < E_TOL * len(atoms)


def test_padding_atoms_never_enter_the_list():
    atoms = Icosahedron("Cu", 3)  # 55 atoms
    atoms.rattle(0.05, seed=2)
    R, pot = emt_from_atoms(atoms)
    system = pad_system(pot.system, len(atoms) + 3)
    # padding placed right among the real atoms, where a list that ignored the mask
    # would count them as neighbours
    R_pad = jnp.concatenate([R, R[:3] + 0.9], axis=0)
    padded = pot.replace(system=system).with_neighbors(R_pad)
    idx = np.asarray(padded.neighbors.idx)
    assert not np.isin(np.arange(len(atoms), len(atoms) + 3), idx).any()
    atoms.calc = EMT()
    assert abs(float(padded.energy(R_pad)) - atoms.get_potential_energy()) < E_TOL * len(atoms)
    far = pad_positions(R, len(atoms) + 3)
    assert abs(float(padded.energy(far)) - atoms.get_potential_energy()) < E_TOL * len(atoms)


def test_overflow_raises_under_jit_and_md_reallocates():
    atoms = bulk("Cu", cubic=True).repeat(4)
    R, pot = emt_from_atoms(atoms, neighbor_list=True)
    centre = R.mean(0)
    with pytest.raises(Exception, match="neighbour list overflowed"):
        jax.jit(lambda p, R: p.energy_and_forces(R))(pot, centre + 0.8 * (R - centre))

    # An MD run whose list is too small from the start: run_md reallocates outside jit and
    # gives the trajectory of the potential without a list.
    tight = pot.replace(neighbors=allocate(R, pot.system, R_LIST, skin=0.3, capacity_multiplier=0.6))
    assert bool(tight.neighbors.overflow)
    dense = pot.replace(neighbors=None)
    vv = VelocityVerlet(dt=2.0)
    key = jnp.asarray([0, 1], jnp.uint32)
    s_list = vv.init(tight, R, key, temperature=600.0)
    s_dense = vv.init(dense, R, key, temperature=600.0)
    end_list, _ = run_md(tight, vv, s_list, 30)
    end_dense, _ = run_md(dense, vv, s_dense, 30)
    assert end_list.neighbors.capacity > tight.neighbors.capacity
    assert not bool(end_list.neighbors.overflow)
    np.testing.assert_allclose(np.asarray(end_list.R), np.asarray(end_dense.R), rtol=0, atol=1e-9)
    # under jit the same overflow raises instead
    with pytest.raises(Exception, match="neighbour list overflowed"):
        jax.block_until_ready(jax.jit(lambda s: run_md(tight, vv, s, 30)[0].R)(s_list))


def test_md_carries_the_list_and_rebuilds():
    atoms = Icosahedron("Cu", 3)
    R, pot = emt_from_atoms(atoms)
    listed = pot.with_neighbors(R, skin=0.2)
    vv = VelocityVerlet(dt=5.0)
    key = jnp.asarray([0, 7], jnp.uint32)
    end_list, _ = run_md(listed, vv, vv.init(listed, R, key, temperature=1500.0), 60)
    end_dense, _ = run_md(pot, vv, vv.init(pot, R, key, temperature=1500.0), 60)
    assert int(end_list.neighbors.n_builds) > 1  # atoms moved past half the skin
    np.testing.assert_allclose(np.asarray(end_list.R), np.asarray(end_dense.R), rtol=0, atol=1e-9)


def test_vmap_over_two_different_cells():
    cells = [bulk("Cu", cubic=True, a=3.61).repeat(4), bulk("Cu", cubic=True, a=3.75).repeat(4)]
    for atoms, seed in zip(cells, (1, 2)):
        atoms.rattle(0.05, seed=seed)
    R = np.stack([a.positions for a in cells])
    pots = [emt_from_atoms(a)[1] for a in cells]
    systems = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *[p.system for p in pots])
    nbrs = allocate(R, systems, R_LIST)
    assert nbrs.idx.shape[0] == 2
    stacked = pots[0].replace(system=systems, neighbors=nbrs)
    in_axes = pots[0].replace(params=None, system=0, neighbors=0)
    e, f = jax.jit(jax.vmap(lambda p, R: p.energy_and_forces(R), in_axes=(in_axes, 0)))(stacked, jnp.asarray(R))
    for k, atoms in enumerate(cells):
        atoms.calc = EMT()
        assert abs(float(e[k]) - atoms.get_potential_energy()) < E_TOL * len(atoms)
        np.testing.assert_allclose(np.asarray(f[k]), atoms.get_forces(), rtol=0, atol=1e-8)


def test_pair_and_embedded_atom_potentials_through_a_list():
    atoms = bulk("Cu", cubic=True).repeat((4, 4, 4))
    atoms.rattle(0.05, seed=5)
    R = jnp.asarray(atoms.positions)
    cell = atoms.cell[:]
    for dense in (
        lennard_jones(0.4, 2.3, r_cutoff=6.0, cell=cell),
        sutton_chen("Cu", r_cutoff=6.0, cell=cell),
    ):
        listed = dense.with_neighbors(R)
        e_d, f_d = dense.energy_and_forces(R)
        e_l, f_l = listed.energy_and_forces(R)
        assert abs(float(e_l - e_d)) < 1e-9
        np.testing.assert_allclose(np.asarray(f_l), np.asarray(f_d), rtol=0, atol=1e-9)


def test_small_cells_are_refused_with_the_widths():
    atoms = bulk("Cu", cubic=True).repeat(3)  # 10.8 Å < 2 (R_LIST + skin)
    with pytest.raises(ValueError, match="periodic cell width"):
        emt_from_atoms(atoms, neighbor_list=True)
    with pytest.raises(ValueError, match="outside jit"):
        jax.jit(lambda R: allocate(R, None, 3.0).idx)(jnp.zeros((1, 3)))


def test_minimize_on_a_list_carrying_potential():
    # The solver driver carries the list between steps (jaxrxn._iterate); results equal
    # the potential without a list.
    from jaxrxn.optimize import minimize

    atoms = Icosahedron("Cu", 3)
    atoms.rattle(0.15, seed=4)
    R, pot = emt_from_atoms(atoms)
    listed = pot.with_neighbors(R, skin=0.2)
    a = minimize(listed, R, "fire", fmax=0.01, max_steps=300)
    b = minimize(pot, R, "fire", fmax=0.01, max_steps=300)
    assert bool(a.converged) and int(a.n_force_calls) == int(b.n_force_calls)
    np.testing.assert_allclose(np.asarray(a.R), np.asarray(b.R), rtol=0, atol=1e-9)


def test_neb_carries_one_list_per_image():
    # NEB keeps the interior images' lists in its state and rebuilds them together (one
    # real branch per step, not a vmapped cond that rebuilds every step): the band equals
    # the potential without a list, force calls too, with far fewer builds than steps.
    from jaxrxn._iterate import iterative_solve
    from jaxrxn.path.elastic_band import NEB, NEBArgs

    start, end = Icosahedron("Cu", 3), Icosahedron("Cu", 3)
    start.rattle(0.1, seed=1)
    end.rattle(0.1, seed=2)
    R0, pot = emt_from_atoms(start)
    R1 = jnp.asarray(end.positions)
    path = jnp.stack([R0 + t * (R1 - R0) for t in np.linspace(0.0, 1.0, 5)])
    listed = pot.with_neighbors(R0, skin=0.1)
    args = NEBArgs(jnp.asarray(0.01))
    a = iterative_solve(NEB(), listed, path, args, max_steps=30, throw=False)
    b = iterative_solve(NEB(), pot, path, args, max_steps=30, throw=False)
    assert int(a.stats.num_steps) == int(b.stats.num_steps) == 30
    assert int(a.stats.n_force_calls) == int(b.stats.n_force_calls)
    builds = np.asarray(a.state.neighbors.n_builds)
    # built at the start (the allocation counts as one build), rebuilt together since
    assert builds.shape == (3,) and np.all(builds == builds[0]) and 3 <= builds[0] <= 15, builds
    np.testing.assert_allclose(np.asarray(a.value), np.asarray(b.value), rtol=0, atol=1e-9)


def test_batched_lists_decide_together_and_stay_a_branch_under_vmap():
    # update_batch under an outer vmap (a batch of bands) folds the batches into one and
    # keeps a real cond: a member that moved past half the skin rebuilds every member.
    from jaxrxn.neighbors import build_batch, update_batch

    atoms = bulk("Cu", cubic=True).repeat(4)
    R, pot = emt_from_atoms(atoms, neighbor_list=True)
    skin = pot.neighbors.skin
    bands = jnp.stack([jnp.stack([R, R + 0.01]), jnp.stack([R, R + 0.02])])  # (2 bands, 2 images)
    lists = jax.vmap(lambda b: build_batch(pot.neighbors, b, pot.system))(bands)
    moved = bands.at[1, 0, 17, 1].add(0.6 * skin)  # one atom of one image of band 1
    update = jax.vmap(lambda nl, b: update_batch(nl, b, pot.system))
    assert "cond" in str(jax.make_jaxpr(update)(lists, moved))
    new = jax.jit(update)(lists, moved)
    np.testing.assert_array_equal(np.asarray(new.n_builds), np.full((2, 2), 3))
    alone = update_batch(jax.tree_util.tree_map(lambda x: x[0], lists), bands[0], pot.system)
    np.testing.assert_array_equal(np.asarray(alone.n_builds), [2, 2])  # band 0 alone keeps its lists
    energy = jax.jit(lambda p, R: p.energy(R))
    for b in range(2):
        for i in range(2):
            nl = jax.tree_util.tree_map(lambda x: x[b, i], new)
            fresh = pot.neighbors.rebuild(moved[b, i], pot.system)
            e, e_fresh = (energy(pot.replace(neighbors=x), moved[b, i]) for x in (nl, fresh))
            assert abs(float(e - e_fresh)) < 1e-9


def test_stacked_potentials_get_one_list_per_member():
    # a padded batch of two different crystals, each potential carrying its own list:
    # stack_potentials allocates lists for the padded systems; the vmapped energies equal ASE
    from jaxrxn.batch import stack_potentials

    crystals = [bulk("Cu", cubic=True, a=3.61).repeat(4), bulk("Ni", cubic=True, a=3.52).repeat((4, 4, 5))]
    for atoms, seed in zip(crystals, (1, 2)):
        atoms.rattle(0.05, seed=seed)
    pairs = [emt_from_atoms(atoms, neighbor_list=True) for atoms in crystals]
    stacked = stack_potentials([pot for _, pot in pairs])
    assert stacked.neighbors.idx.shape[:2] == (2, 320)
    R = jnp.stack([pad_positions(R, 320) for R, _ in pairs])
    e, f = jax.jit(jax.vmap(lambda p, R: p.energy_and_forces(R)))(stacked, R)
    for k, atoms in enumerate(crystals):
        atoms.calc = EMT()
        assert abs(float(e[k]) - atoms.get_potential_energy()) < E_TOL * len(atoms)
        np.testing.assert_allclose(np.asarray(f[k, : len(atoms)]), atoms.get_forces(), rtol=0, atol=1e-8)


# ---- overflow in the drivers: widened outside jit, the same result as a list that fits ----
def _swollen_argon():
    """An Ar55 icosahedron (LJ, eV and Å) swollen by 8%, and a list allocated there with no
    head room: relaxed, its second shell (6.8 Å here, 6.4 Å relaxed) comes within the
    list's 6.6 Å, so the list overflows mid-run."""
    atoms = Icosahedron("Ar", 3)
    atoms.rattle(0.05, seed=3)  # no symmetry: degenerate modes would make saddle steps chaotic
    centre = atoms.positions.mean(0)
    R = jnp.asarray(centre + 1.08 * (atoms.positions - centre))
    dense = lennard_jones(0.0104, 3.4, r_cutoff=6.3)
    tight = dense.replace(neighbors=allocate(R, None, 6.3, skin=0.3, capacity_multiplier=1.0))
    assert not bool(tight.neighbors.overflow)
    return R, dense, tight


def _overflows_under_jit(run):
    with pytest.raises(Exception, match="neighbour list overflowed"):
        jax.block_until_ready(jax.jit(run)())


def test_minimize_widens_an_overflowing_list_and_continues():
    from jaxrxn.optimize import minimize

    R, dense, tight = _swollen_argon()
    a = minimize(tight, R, "fire", fmax=0.01, max_steps=200)
    b = minimize(dense, R, "fire", fmax=0.01, max_steps=200)
    assert bool(a.converged) and int(a.n_steps) == int(b.n_steps)
    # the step whose list overflowed was undone and taken again: its evaluation is counted
    assert int(a.n_force_calls) > int(b.n_force_calls)
    assert bool(tight.neighbors.rebuild(a.R, None).overflow)  # the list allocated at R no longer fits
    np.testing.assert_allclose(np.asarray(a.R), np.asarray(b.R), rtol=0, atol=1e-9)
    _overflows_under_jit(lambda: minimize(tight, R, "fire", fmax=0.01, max_steps=200).R)


def test_neb_widens_a_list_too_small_for_its_images():
    from jaxrxn.path import NEB, neb

    # the list is allocated at the swollen cluster; the band's images are packed denser, so
    # their lists overflow as the band is set up, and neb starts again with wider ones
    _, dense, tight = _swollen_argon()
    atoms = Icosahedron("Ar", 3)
    start, end = atoms.copy(), atoms.copy()
    start.rattle(0.05, seed=1)
    end.rattle(0.05, seed=2)
    R0, R1 = (jnp.asarray(a.positions) for a in (start, end))
    path = jnp.stack([R0 + t * (R1 - R0) for t in np.linspace(0.0, 1.0, 4)])
    assert bool(tight.neighbors.rebuild(R0, None).overflow)
    a = neb(tight, path, NEB(), fmax=0.05, max_steps=10)
    b = neb(dense, path, NEB(), fmax=0.05, max_steps=10)
    assert int(a.n_steps) == int(b.n_steps)
    np.testing.assert_allclose(np.asarray(a.path), np.asarray(b.path), rtol=0, atol=1e-9)
    assert abs(float(a.barrier - b.barrier)) < 1e-9


def test_md_widens_an_overflowing_list_and_continues():
    # the swollen cluster falls together: the list overflows mid-run, the run stops at the
    # last step that fitted and continues there with a wider list (with frames: it runs
    # again from the start with room for where it stopped)
    R, dense, tight = _swollen_argon()
    vv = VelocityVerlet(dt=5.0)
    key = jnp.asarray([0, 3], jnp.uint32)
    s_list, s_dense = (vv.init(p, R, key, temperature=50.0) for p in (tight, dense))
    end_dense, fr_dense = run_md(dense, vv, s_dense, 49, save_every=7)
    end_list, _ = run_md(tight, vv, s_list, 49)
    assert end_list.neighbors.capacity > tight.neighbors.capacity and int(end_list.step) == 49
    np.testing.assert_allclose(np.asarray(end_list.R), np.asarray(end_dense.R), rtol=0, atol=1e-9)
    end_list, fr_list = run_md(tight, vv, s_list, 49, save_every=7)
    np.testing.assert_array_equal(np.asarray(fr_list.step), np.arange(7, 50, 7))
    np.testing.assert_allclose(np.asarray(fr_list.R), np.asarray(fr_dense.R), rtol=0, atol=1e-9)


def test_saddle_search_sees_an_overflow_in_a_discarded_probe():
    from jaxrxn.saddle import Dimer, saddle_search

    # A wide dimer (0.2 Å) on a list with a thin skin (0.05 Å): its rotation probes rebuild
    # the list at points the search then discards, and one of them overflows. The driver
    # sees it all the same, widens the list and takes the step again, so the search follows
    # the run without a list (unseen, the NaN probe sent it 0.4 Å elsewhere in 10 steps).
    R, dense, _ = _swollen_argon()
    tight = dense.replace(neighbors=allocate(R, None, 6.3, skin=0.05, capacity_multiplier=1.0))
    dimer, mode0 = Dimer(dimer_separation=0.2), jax.random.normal(jax.random.key(1), R.shape, R.dtype)
    a, b = (saddle_search(p, R, dimer, fmax=1e-4, max_steps=10, mode0=mode0, check_index=False) for p in (tight, dense))
    assert int(a.n_steps) == int(b.n_steps) == 10
    assert int(a.n_force_calls) > int(b.n_force_calls)  # the probes of the undone step count
    np.testing.assert_allclose(np.asarray(a.R), np.asarray(b.R), rtol=0, atol=1e-9)
    assert abs(float(a.energy - b.energy)) < 1e-9
