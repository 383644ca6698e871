"""Flax neural-network potential (jaxrxn.potentials.neural): training, smoothness, save/load."""

import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import central_difference_forces, lj7_hexagon

from jaxrxn.potentials.neural import load_params, neural_potential, save_params, train_nnp
from jaxrxn.potentials.pair import lennard_jones

R_CUT = 3.0

#: One compiled evaluator shared by every test (the potential is a pytree argument, so the
#: untrained, trained and reloaded networks reuse the same executable).
batch_energy_and_forces = jax.jit(jax.vmap(lambda pot, R: pot.energy_and_forces(R), (None, 0)))


@pytest.fixture(scope="module")
def lj7_data():
    """2D LJ7 (Dellago, Bolhuis & Chandler 1998; eps = sigma = 1) rattled by 0.05 sigma:
    300 configurations, the first 200 for training, the rest held out."""
    lj = lennard_jones(1.0, 1.0, dim=2)
    R = lj7_hexagon()[None] + np.random.default_rng(0).normal(scale=0.05, size=(300, 7, 2))
    E, F = jax.jit(jax.vmap(lambda R: lj.energy_and_forces(R)))(jnp.asarray(R))
    return jnp.asarray(R), E, F


@pytest.fixture(scope="module")
def trained(lj7_data):
    R, E, F = lj7_data
    pot = neural_potential([18] * 7, dim=2, r_cutoff=R_CUT, n_features=16, n_rbf=16, seed=0)
    t0 = time.perf_counter()
    trained, losses = train_nnp(pot, R[:200], E[:200], F[:200], n_steps=2000, batch_size=16, seed=0)
    print(f"NNP training (2000 Adam steps, compile included): {time.perf_counter() - t0:.1f} s")
    return pot, trained, losses


def test_trained_nnp_reproduces_held_out_energies_and_forces(lj7_data, trained):
    R, E, F = lj7_data
    untrained, pot, losses = trained
    e, f = batch_energy_and_forces(pot, R[200:])
    e_mae, f_mae = float(jnp.mean(jnp.abs(e - E[200:]))), float(jnp.mean(jnp.abs(f - F[200:])))
    e_std, f_std = float(jnp.std(E[200:])), float(jnp.std(F[200:]))
    print(f"held out: energy MAE {e_mae:.4f} (std {e_std:.3f}), force MAE {f_mae:.4f} (std {f_std:.3f})")
    # Stated accuracy: held-out MAEs below 5% of the spread of the reference data.
    assert e_mae < 0.05 * e_std
    assert f_mae < 0.05 * f_std
    assert float(losses[-100:].mean()) < 0.05 * float(losses[:10].mean())
    e0 = batch_energy_and_forces(untrained, R[200:])[0]
    assert float(jnp.mean(jnp.abs(e0 - E[200:]))) > 10 * e_mae  # training did the work


def test_save_load_round_trip_is_exact(trained, lj7_data, tmp_path):
    untrained, pot, _ = trained
    R = lj7_data[0][200:]
    save_params(pot, tmp_path / "nnp.msgpack")
    loaded = load_params(untrained, tmp_path / "nnp.msgpack")
    np.testing.assert_array_equal(batch_energy_and_forces(loaded, R)[0], batch_energy_and_forces(pot, R)[0])
    other = neural_potential([18] * 7, dim=2, r_cutoff=R_CUT, n_features=8)
    with pytest.raises(ValueError, match="params"):
        load_params(other, tmp_path / "nnp.msgpack")


def test_forces_fd_grad_over_params_and_invariance(trained):
    _, pot, _ = trained
    R = jnp.asarray(lj7_hexagon() + np.random.default_rng(1).normal(scale=0.05, size=(7, 2)))
    energy = jax.jit(lambda R: pot.energy(R))
    e, f = batch_energy_and_forces(pot, R[None])
    np.testing.assert_allclose(f[0], central_difference_forces(energy, R), atol=1e-6)
    g = jax.jit(jax.grad(lambda p: pot.replace(params=p).energy(R)))(pot.params)
    assert float(g["shift"]) == pytest.approx(7.0)  # E = scale * net + shift * n_atoms
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree_util.tree_leaves(g))
    c, s = np.cos(0.7), np.sin(0.7)
    rotated = R @ jnp.array([[c, -s], [s, c]]) + 3.0
    assert float(energy(rotated)) == pytest.approx(float(e[0]), abs=1e-10)
    assert float(energy(R[::-1])) == pytest.approx(float(e[0]), abs=1e-10)


def test_smooth_cutoff_3d():
    pot = neural_potential([29, 29], dim=3, r_cutoff=4.0, n_features=8, n_rbf=8)
    dimer = jax.jit(jax.vmap(lambda r: pot.energy_and_forces(jnp.array([[0.0, 0.0, 0.0], [r, 0.0, 0.0]]))))
    e, f = dimer(jnp.array([3.999, 4.0, 4.001, 6.0]))
    np.testing.assert_allclose(e, e[-1], atol=1e-6)  # no jump at the cutoff
    assert float(jnp.abs(f[:3]).max()) < 1e-3
    e_near = dimer(jnp.array([2.5]))[0]
    assert abs(float(e_near[0] - e[-1])) > 1e-3  # but the atoms do interact inside it


def test_bad_input():
    pot = neural_potential([1] * 3, dim=2, r_cutoff=2.0, n_features=8)
    with pytest.raises(ValueError, match="3 atoms"):
        pot.energy(jnp.zeros((4, 2)))
    with pytest.raises(ValueError, match="training data"):
        train_nnp(pot, jnp.zeros((5, 3, 2)), jnp.zeros(4), jnp.zeros((5, 3, 2)))
    with pytest.raises(ValueError, match="2 x cutoff"):
        neural_potential([1] * 3, dim=2, r_cutoff=2.0, cell=[3.0, 3.0], pbc=[True, True])
