"""Harmonic vibrational analysis (jaxrxn.vibrations) against ase.vibrations.Vibrations on the
same calculator in the same test, and PySCF's analytic Hessian against finite differences."""

import jax.numpy as jnp
import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.vibrations import Vibrations as ASEVibrations

from jaxrxn import minimize
from jaxrxn.ase_calculator import JaxrxnCalculator
from jaxrxn.potentials.core import Potential
from jaxrxn.vibrations import cartesian_hessian, vibrations

tblite_ase = pytest.importorskip("tblite.ase")

from jaxrxn.potentials.qm import pyscf_potential, xtb_potential  # noqa: E402


def relaxed(potential, atoms, fmax=1e-4):
    res = minimize(potential, jnp.asarray(atoms.positions), "lbfgs", fmax=fmax, max_steps=500)
    assert bool(res.converged)
    out = atoms.copy()
    out.positions = np.asarray(res.R)
    return out


def ase_reference(atoms, calc, tmp_path, delta=0.01):
    atoms = atoms.copy()
    atoms.calc = calc
    vib = ASEVibrations(atoms, name=str(tmp_path / "vib"), delta=delta, nfree=2)
    vib.run()
    return np.real(vib.get_energies()), np.real(vib.get_frequencies())


def test_water_gfn2_matches_ase_vibrations_and_counts_one_batched_call(tmp_path):
    atoms = molecule("H2O")
    pot = xtb_potential(atoms.numbers, workers=2)
    atoms = relaxed(pot, atoms)
    calls, host_calls = pot.energy_fn.n_calls, pot.energy_fn.n_host_calls
    vib = vibrations(pot, atoms.positions)
    assert pot.energy_fn.n_calls - calls == 18 == vib.n_force_calls  # 2 per coordinate
    assert pot.energy_fn.n_host_calls - host_calls == 1 and vib.n_hessian_calls == 0
    energies, freqs = ase_reference(atoms, tblite_ase.TBLite(method="GFN2-xTB", verbosity=0), tmp_path)
    # ASE keeps the six (near-)zero rigid-body modes; jaxrxn projects them out
    assert vib.frequencies.shape == (3,) and vib.n_imaginary == 0
    np.testing.assert_allclose(vib.frequencies, freqs[-3:], atol=1.0)
    assert vib.zero_point_energy == pytest.approx(0.5 * energies[-3:].sum(), abs=2e-4)
    assert 1400 < vib.frequencies[0] < 1700  # the H-O-H bend
    # modes: unit Cartesian vectors; the bend keeps the molecule's plane
    np.testing.assert_allclose(np.linalg.norm(vib.modes.reshape(3, -1), axis=1), 1.0)


def test_linear_co2_has_four_modes(tmp_path):
    atoms = Atoms("CO2", positions=[[0, 0, 0], [0, 0, 1.17], [0, 0, -1.17]])
    pot = xtb_potential(atoms.numbers)
    atoms = relaxed(pot, atoms)
    vib = vibrations(pot, atoms.positions)
    assert vib.frequencies.shape == (4,)  # 3N - 5
    assert vib.frequencies[1] == pytest.approx(vib.frequencies[0], abs=1.0)  # degenerate bend
    _, freqs = ase_reference(atoms, tblite_ase.TBLite(method="GFN2-xTB", verbosity=0), tmp_path)
    np.testing.assert_allclose(vib.frequencies, freqs[-4:], atol=1.0)


def test_hcn_relaxed_short_of_the_line_is_linear(tmp_path):
    """HCN relaxed to 0.01 eV/Å (as find_reaction relaxes end states) is bent by ~0.01°:
    still a linear molecule, 4 modes with a degenerate bend, as ASE's Vibrations finds on
    the same geometry (its 4 highest of 9 energies; until session 32 the axial rotation was
    projected out as a rotation and one bend, 0.048 eV of zero-point energy, was lost)."""
    from jaxrxn.geometry import is_linear

    # reaction 02_hcn of Birkholz & Schlegel, JCC 36, 1157 (2015): C, H, N (Å)
    atoms = Atoms("CHN", positions=[[-0.06691149, 0.03559170, -0.06792498], [0.03449593, 1.07179205, 0.03558137],
                                    [0.03241556, -1.10738375, 0.03234362]])  # fmt: skip
    pot = xtb_potential(atoms.numbers)
    atoms = relaxed(pot, atoms, fmax=0.01)
    X = atoms.positions
    bend = np.degrees(np.arccos(np.dot(X[1] - X[0], X[2] - X[0]) / np.linalg.norm(X[1] - X[0]) / np.linalg.norm(X[2] - X[0])))
    assert 1e-3 < 180.0 - bend < 0.05
    energies, freqs = ase_reference(atoms, tblite_ase.TBLite(method="GFN2-xTB", verbosity=0), tmp_path)
    for vib in (vibrations(pot, X), vibrations(pot, X, vibrational_only=True)):
        assert vib.frequencies.shape == (4,) and vib.n_imaginary == 0
        np.testing.assert_allclose(vib.frequencies, freqs[-4:], atol=2.0)
        assert vib.zero_point_energy == pytest.approx(0.5 * energies[-4:].sum(), abs=2e-4)
    assert vib.n_force_calls == 8
    # bent by 5 degrees it is not linear
    masses = atoms.get_masses()
    C, H = X[0], X[1]
    u = (H - C) / np.linalg.norm(H - C)
    w = np.cross(u, [0.0, 0.0, 1.0])
    w /= np.linalg.norm(w)
    bent = X.copy()
    bent[1] = C + np.linalg.norm(H - C) * (np.cos(np.radians(5.0)) * u + np.sin(np.radians(5.0)) * w)
    assert is_linear(X, masses) and not is_linear(bent, masses)


@pytest.mark.parametrize("name", ["H2O", "CO2"])
def test_vibrational_only_differences_match_ase_with_fewer_calls(name, tmp_path):
    """Central differences along the 3N-6 (3N-5) vibrational directions only: ASE's
    frequencies (all 6N displacements, computed here) for 2 (3N-6) force calls."""
    atoms = molecule(name)
    pot = xtb_potential(atoms.numbers)
    atoms = relaxed(pot, atoms)
    calls = pot.energy_fn.n_calls
    vib = vibrations(pot, atoms.positions, vibrational_only=True)
    n_modes = 3 if name == "H2O" else 4
    assert pot.energy_fn.n_calls - calls == vib.n_force_calls == 2 * n_modes
    _, freqs = ase_reference(atoms, tblite_ase.TBLite(method="GFN2-xTB", verbosity=0), tmp_path)
    assert vib.frequencies.shape == (n_modes,) and vib.n_imaginary == 0
    np.testing.assert_allclose(vib.frequencies, freqs[-n_modes:], atol=1.0)
    # the Cartesian Hessian handed on (to an IRC) is flat along translations
    translation = np.tile(np.eye(3)[0], len(atoms))
    assert np.abs(vib.hessian @ translation).max() < 1e-8
    with pytest.raises(ValueError, match="vibrational_only"):
        vibrations(pot, atoms.positions, vibrational_only=True, project=False)


def test_jax_potential_uses_exact_hessian(tmp_path):
    # a Morse tetrahedron with every bond at r0 is an exact minimum; no force calls are
    # spent, and ASE's finite differences on the same surface agree
    def energy(R, system, params):
        i, j = np.triu_indices(4, 1)
        r = jnp.linalg.norm(R[i] - R[j], axis=-1)
        return jnp.sum(0.35 * (1.0 - jnp.exp(-1.4 * (r - 2.5))) ** 2 - 0.35)

    pot = Potential(energy, masses=jnp.full(4, 63.546))
    tetra = Atoms("Cu4", positions=2.5 / np.sqrt(8) * np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]))
    vib = vibrations(pot, tetra.positions)
    assert vib.n_force_calls == 0 and vib.n_hessian_calls == 0 and vib.frequencies.shape == (6,)
    _, freqs = ase_reference(tetra, JaxrxnCalculator(pot), tmp_path, delta=1e-3)
    np.testing.assert_allclose(vib.frequencies, freqs[-6:], atol=0.5)
    # closed form: the breathing mode of a tetrahedron of springs k = 2 D a^2 has
    # omega^2 = 4 k / m (in eV/(Å² amu))
    from ase import units  # CODATA 2014; jaxrxn uses 2018 (~1e-8 relative apart)

    k, m = 2 * 0.35 * 1.4**2, 63.546
    breathing = units._hbar * 1e10 / np.sqrt(units._e * units._amu) * np.sqrt(4 * k / m) / units.invcm
    assert vib.frequencies[-1] == pytest.approx(breathing, rel=1e-7)


def test_pyscf_analytic_hessian_matches_finite_differences():
    atoms = molecule("H2O")
    atoms.rattle(0.03, seed=1)
    pot = pyscf_potential(atoms.numbers, "hf/3-21g")
    H, n_force, n_hess = cartesian_hessian(pot, atoms.positions)
    assert (n_force, n_hess) == (0, 1) and pot.energy_fn.n_hessian_calls == 1
    H_fd, n_force, n_hess = cartesian_hessian(pot, atoms.positions, method="finite-difference", delta=0.005)
    assert (n_force, n_hess) == (18, 0)
    assert np.abs(H).max() > 10.0  # O-H stretches: tens of eV/Å²
    np.testing.assert_allclose(H, H_fd, atol=2e-2)


def test_bad_hessian_method_raises():
    atoms = molecule("H2O")
    pot = xtb_potential(atoms.numbers)
    with pytest.raises(ValueError, match="no JAX Hessian"):
        cartesian_hessian(pot, atoms.positions, method="jax")
    with pytest.raises(ValueError, match="no analytic Hessian"):
        cartesian_hessian(pot, atoms.positions, method="analytic")
