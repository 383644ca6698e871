"""Sutton-Chen and setfl EAM (jaxrxn.potentials.manybody)."""

import io

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import central_difference_forces

from jaxrxn.calculators import potential_from_name
from jaxrxn.io import System
from jaxrxn.potentials.manybody import SUTTON_CHEN, eam_from_setfl, sutton_chen

A_CU = SUTTON_CHEN["Cu"][4]
FCC_PRIMITIVE = np.array([[0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]])
FCC_BASIS = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])


def fcc_lattice_sum(n: int, radius: float = 19.6) -> float:
    """sum_j (a/r_j)^n over an fcc lattice with a = 1, plus the continuum tail beyond `radius`."""
    g = np.arange(-20, 21)
    pts = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    r = 0.5 * np.linalg.norm(pts[pts.sum(1) % 2 == 0], axis=1)
    r = r[(r > 0) & (r < radius)]
    return np.sum(r ** -float(n)) + 16 * np.pi / (n - 3) * radius ** (3.0 - n)


def cluster13(a=A_CU, seed=0):
    """Cuboctahedral 13-atom fcc cluster, rattled by 0.05 Å."""
    shell = FCC_BASIS[1:]
    pts = [np.zeros(3)]
    for s in shell:
        for sign in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
            v = s.copy()
            nz = np.nonzero(v)[0]
            v[nz] *= sign
            pts.append(v)
    R = a * np.array(pts)
    return R + 0.05 * np.random.default_rng(seed).normal(size=R.shape)


# ---- Sutton-Chen ---------------------------------------------------------------------
@pytest.mark.parametrize("element", sorted(SUTTON_CHEN))
def test_sutton_chen_table_is_stationary_at_a(element):
    # Sutton & Chen (1990) fix c by requiring dE/da = 0 of the infinite fcc lattice at a:
    # c = n S_n / (m sqrt(S_m)) with S_k the fcc lattice sums. Re-derive it from the table.
    n, m, eps, c, a = SUTTON_CHEN[element]
    c_derived = n * fcc_lattice_sum(n) / (m * np.sqrt(fcc_lattice_sum(m)))
    np.testing.assert_allclose(c_derived, c, rtol=1e-4)


SC_BULK = sutton_chen("Cu", cell=A_CU * FCC_PRIMITIVE, pbc=[True] * 3, r_cutoff=8 * A_CU, r_onset=7.2 * A_CU)


def test_sutton_chen_bulk_energy_from_one_atom_cell():
    # Images are summed, so a one-atom cell 2.55 Å wide with an 29 Å cutoff gives the bulk.
    # Infinite lattice: E/atom = eps S_n (1/2 - n/m) = -3.500 eV for Cu (experiment 3.49 eV,
    # Kittel); the 8a cutoff drops ~1e-3 of the m=6 density sum.
    n, m, eps, c, a = SUTTON_CHEN["Cu"]
    exact = eps * fcc_lattice_sum(n) * (0.5 - n / m)
    e = jax.jit(lambda R: SC_BULK.energy(R))(jnp.zeros((1, 3)))
    assert exact == pytest.approx(-3.5001, abs=1e-3)
    assert float(e) == pytest.approx(exact, rel=1e-3)
    assert float(e) != pytest.approx(exact, rel=1e-5)  # the cutoff is really there


def test_sutton_chen_cluster_matches_direct_sum_and_fd():
    n, m, eps, c, a = SUTTON_CHEN["Au"]
    R = cluster13(a)
    rij = np.linalg.norm(R[:, None] - R[None], axis=-1)
    np.fill_diagonal(rij, np.inf)
    direct = eps * (0.5 * np.sum((a / rij) ** n) - c * np.sum(np.sqrt(np.sum((a / rij) ** m, 1))))
    pot = sutton_chen("Au")
    energy = jax.jit(lambda R: pot.energy(R))
    assert float(energy(jnp.asarray(R))) == pytest.approx(direct, abs=1e-10)
    F = jax.jit(lambda R: pot.forces(R))(jnp.asarray(R))
    np.testing.assert_allclose(F, central_difference_forces(energy, R), atol=1e-7)
    assert np.abs(F).max() > 0.1  # rattled: the check is not trivially zero


def test_sutton_chen_periodic_jit_vmap_grad_params_and_fd():
    pot = sutton_chen("Cu", cell=A_CU * np.diag([2.0, 1.0, 1.0]), pbc=[True] * 3, r_cutoff=2.5 * A_CU)
    R0 = A_CU * np.concatenate([FCC_BASIS, FCC_BASIS + [1, 0, 0]])
    batch = jnp.asarray(R0 + 0.03 * np.random.default_rng(1).normal(size=(3, *R0.shape)))
    energy = jax.jit(jax.vmap(lambda R: pot.energy(R)))
    e = energy(batch)
    assert e.shape == (3,) and np.all(np.isfinite(e))
    # d E / d epsilon = E / epsilon (E is linear in epsilon)
    energy_of_params = jax.jit(lambda p: pot.replace(params=p).energy(batch[0]))
    g = jax.jit(jax.grad(energy_of_params))(pot.params)
    assert float(g["epsilon"]) == pytest.approx(float(e[0] / pot.params["epsilon"]), rel=1e-10)
    h = 1e-6
    fd_a = float(energy_of_params({**pot.params, "a": pot.params["a"] + h})
                 - energy_of_params({**pot.params, "a": pot.params["a"] - h})) / (2 * h)  # fmt: skip
    assert float(g["a"]) == pytest.approx(float(fd_a), rel=1e-6)
    F = jax.jit(lambda R: pot.forces(R))(batch[0])
    e1 = jax.jit(lambda R: pot.energy(R))
    np.testing.assert_allclose(F, central_difference_forces(e1, batch[0]), atol=1e-6)


def test_sutton_chen_bad_input():
    with pytest.raises(ValueError, match="Fe"):
        sutton_chen("Fe")
    with pytest.raises(ValueError, match="r_cutoff"):
        sutton_chen("Cu", cell=10 * np.eye(3), pbc=[True] * 3)
    with pytest.raises(ValueError, match="Zz"):
        potential_from_name("sutton-chen:Zz", np.zeros((1, 3)), _system(1, periodic=False))


# ---- EAM from setfl ------------------------------------------------------------------
RC = 5.0


def _switch(r):
    return np.where(r < RC, (1 - r / RC) ** 3, 0.0)


def density(r):
    return np.exp(-1.8 * (r - 2.5)) * _switch(r)


def pair(r):
    x = np.exp(-1.4 * (r - 2.5))
    return 0.6 * (x * x - 2 * x) * _switch(r)


def embedding(rho):
    return -1.2 * np.sqrt(rho + 1.0) + 0.02 * rho


def setfl_text(n_r=2001, n_rho=2001, d_rho=0.03):
    """A single-element setfl file tabulating the analytic EAM above (LAMMPS layout)."""
    d_r = RC / (n_r - 1)
    r = np.arange(n_r) * d_r
    rho = np.arange(n_rho) * d_rho
    lines = ["setfl: analytic test EAM written by tests/test_manybody.py", "", "",
             "1 Cu", f"{n_rho} {d_rho!r} {n_r} {d_r!r} {RC!r}", "29 63.546 3.61 fcc"]  # fmt: skip
    values = np.concatenate([embedding(rho), density(r), r * pair(r)])
    lines += [" ".join(f"{v:.16e}" for v in chunk) for chunk in np.array_split(values, len(values) // 5)]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def setfl_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("eam") / "analytic.eam.alloy"
    path.write_text(setfl_text())
    return path


def direct_eam(R, cell=None, n_img=0):
    """E = sum_i F(rho_i) + 1/2 sum phi, summing images explicitly with numpy."""
    shifts = [np.zeros(3)] if cell is None else [np.array(k) @ cell for k in np.ndindex(*(2 * n_img + 1,) * 3)]
    shifts = [s - (n_img * cell.sum(0) if cell is not None else 0) for s in shifts]
    rho, e_pair = np.zeros(len(R)), 0.0
    for i in range(len(R)):
        for j in range(len(R)):
            for s in shifts:
                r = np.linalg.norm(R[j] + s - R[i])
                if r < 1e-8:
                    continue
                rho[i] += density(r)
                e_pair += 0.5 * pair(r)
    return np.sum(embedding(rho)) + e_pair


def test_eam_cluster_matches_analytic_form(setfl_file):
    R = cluster13(3.61)
    pot = eam_from_setfl(setfl_file)
    energy = jax.jit(lambda R: pot.energy(R))
    e = float(energy(jnp.asarray(R)))
    assert e == pytest.approx(direct_eam(R), abs=1e-7)
    np.testing.assert_allclose(jax.jit(lambda R: pot.forces(R))(R), central_difference_forces(energy, R), atol=1e-6)


def test_eam_periodic_small_cell_sums_images(setfl_file):
    # A 4-atom cubic cell 3.61 Å wide with a 5 Å cutoff: the images do the work.
    cell = 3.61 * np.eye(3)
    R = 3.61 * FCC_BASIS + 0.05 * np.random.default_rng(2).normal(size=(4, 3))
    pot = eam_from_setfl(setfl_file, cell=cell, pbc=[True] * 3)
    energy = jax.jit(lambda R: pot.energy(R))
    assert float(energy(jnp.asarray(R))) == pytest.approx(direct_eam(R, cell, n_img=2), abs=1e-7)
    np.testing.assert_allclose(jax.jit(lambda R: pot.forces(R))(R), central_difference_forces(energy, R), atol=1e-6)
    # vmap over configurations, grad over the tabulated params
    batch = jnp.stack([jnp.asarray(R), jnp.asarray(R) * 1.01])
    e_batch = jax.jit(jax.vmap(lambda R: pot.energy(R)))(batch)
    assert float(e_batch[0]) == pytest.approx(float(energy(batch[0])), abs=1e-12)
    g = jax.jit(jax.grad(lambda p: pot.replace(params=p).energy(jnp.asarray(R))))(pot.params)
    # Shifting F by a constant adds n_atoms times it: dE/dF sums to the atom count.
    assert float(jnp.sum(g["F"])) == pytest.approx(4.0, rel=1e-10)


def test_eam_file_is_readable_by_jax_md(setfl_file):
    # The same file through jax-md's reader: its density spline agrees with the analytic form.
    # (jax-md 0.2.29 chokes on the final newline every LAMMPS file has, hence the rstrip.)
    from jax_md.energy import load_lammps_eam_parameters

    charge_fn, embedding_fn, pairwise_fn, cutoff = load_lammps_eam_parameters(io.StringIO(setfl_text(n_r=401, n_rho=401, d_rho=0.15).rstrip()))
    r = jnp.array([2.3, 2.9, 3.7])
    assert cutoff == RC
    np.testing.assert_allclose(charge_fn(r), density(np.asarray(r)), rtol=1e-6)


def test_eam_bad_files(tmp_path):
    text = setfl_text(n_r=50, n_rho=50)
    bad = tmp_path / "bad.eam"
    bad.write_text(text.rsplit("\n", 3)[0])  # tables truncated
    with pytest.raises(ValueError, match="tabulated numbers"):
        eam_from_setfl(bad)
    bad.write_text(text.replace("1 Cu", "2 Cu Ni"))
    with pytest.raises(ValueError, match="single-element"):
        eam_from_setfl(bad)
    bad.write_text(text.replace("29 63.546", "29 heavy"))
    with pytest.raises(ValueError, match="malformed"):
        eam_from_setfl(bad)
    with pytest.raises(ValueError, match="cannot read"):
        eam_from_setfl(tmp_path / "missing.eam")
    with pytest.raises(ValueError, match="cannot read"):
        potential_from_name(f"eam:{tmp_path / 'missing.eam'}", np.zeros((1, 3)), _system(1, periodic=False))
    assert eam_from_setfl(io.StringIO(text)).params["F"].shape == (50,)


def _system(n, periodic):
    return System(numbers=np.full(n, 29), masses=np.full(n, 63.546), cell=10 * np.eye(3) if periodic else np.zeros((3, 3)),
                  pbc=np.array([periodic] * 3), fixed=np.zeros(n, bool))  # fmt: skip


def test_cli_names(setfl_file):
    R = A_CU * FCC_BASIS
    system = System(numbers=np.full(4, 29), masses=np.full(4, 63.546), cell=A_CU * np.eye(3),
                    pbc=np.array([True] * 3), fixed=np.zeros(4, bool))  # fmt: skip
    sc = potential_from_name("sutton-chen:Cu", R, system)
    e_sc = jax.jit(lambda R: sc.energy(R))(jnp.asarray(R)) / 4
    assert float(e_sc) == pytest.approx(-3.48, abs=0.02)  # 3a cutoff: within 0.6% of -3.500
    eam = potential_from_name(f"eam:{setfl_file}", R, system)
    e_eam = jax.jit(lambda R: eam.energy(R))(jnp.asarray(R))
    assert float(e_eam) == pytest.approx(direct_eam(R, A_CU * np.eye(3), n_img=2), abs=1e-7)
