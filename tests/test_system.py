"""jaxrxn.System: ASE round trip, the cell as differentiable data, potentials in float32."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from jaxrxn import System
from jaxrxn.batch import pad_system
from jaxrxn.potentials.emt import emt_from_atoms
from jaxrxn.potentials.manybody import sutton_chen
from jaxrxn.potentials.pair import morse_preset
from jaxrxn.systems import au_on_al100


def test_from_atoms_and_back_drops_padding():
    atoms, _ = au_on_al100()
    atoms.info["multiplicity"] = 2
    system = System.from_atoms(atoms)
    assert system.n_atoms == 13 and system.periodic and int(system.fixed.sum()) == 8
    assert int(system.multiplicity) == 2 and float(system.charge) == 0.0
    back = pad_system(system, 17).to_atoms(np.concatenate([atoms.positions, np.zeros((4, 3))]))
    assert len(back) == 13 and list(back.numbers) == list(atoms.numbers)
    np.testing.assert_allclose(back.cell[:], atoms.cell[:])
    assert list(back.pbc) == list(atoms.pbc) and back.info["multiplicity"] == 2
    assert len(back.constraints) == 1 and sorted(back.constraints[0].get_indices()) == sorted(
        atoms.constraints[0].get_indices()
    )


def test_stress_from_the_cell_matches_ase():
    # the cell is data: straining it with the atoms gives the stress, ASE's EMT stress
    atoms = bulk("Cu", "fcc", a=3.65, cubic=True)
    atoms.numbers[1] = 79
    atoms.rattle(0.05, seed=2)
    R, pot = emt_from_atoms(atoms)

    def strained_energy(eps):
        F = jnp.eye(3) + eps
        return pot.replace(system=pot.system.replace(cell=pot.system.cell @ F)).energy(R @ F)

    stress = jax.grad(strained_energy)(jnp.zeros((3, 3))) / atoms.get_volume()
    atoms.calc = EMT()
    np.testing.assert_allclose(0.5 * (stress + stress.T), atoms.get_stress(voigt=False), atol=1e-9)


def _cluster():
    return np.array([[0, 0, 0], [2.5, 0.1, 0], [1.2, 2.2, 0.1], [1.3, 0.8, 2.0], [3.6, 2.0, 1.0]])


@pytest.mark.parametrize("name", ["emt_slab", "morse", "sutton_chen"])
def test_potentials_follow_float32(name):
    if name == "emt_slab":
        atoms, _ = au_on_al100()
        R, pot = emt_from_atoms(atoms)
        R = np.asarray(R)
    elif name == "morse":
        R, pot = _cluster(), morse_preset("Cu")
    else:
        R, pot = _cluster(), sutton_chen("Cu")
    e64, f64 = pot.energy_and_forces(jnp.asarray(R, jnp.float64))
    e32, f32 = pot.energy_and_forces(jnp.asarray(R, jnp.float32))
    assert e32.dtype == jnp.float32 and f32.dtype == jnp.float32
    assert float(e32) == pytest.approx(float(e64), rel=1e-5, abs=1e-4)
    np.testing.assert_allclose(np.asarray(f32), np.asarray(f64), atol=1e-4 * (1.0 + float(jnp.abs(f64).max())))
