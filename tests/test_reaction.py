"""find_reaction / ``jaxrxn reaction``: reactant and product to a verified transition state.

References: ASE + Sella run in the same test on the same calculator (GFN2-xTB) and the same
relaxed end points; Sella on PySCF called directly (HF/3-21G); closed-form Muller-Brown
minima for the not-connected case.
"""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase.calculators.calculator import Calculator, all_changes
from helpers import run_cli

pytest.importorskip("tblite")

jax.config.update("jax_enable_x64", True)

# HCN -> HNC: A. B. Birkholz & H. B. Schlegel, JCC 36, 1157 (2015), reaction 02_hcn
# (first and last frame; C, H, N), Å.
NUMBERS = np.array([6, 1, 7])
HCN = np.array([[-0.06691149, 0.03559170, -0.06792498], [0.03449593, 1.07179205, 0.03558137], [0.03241556, -1.10738375, 0.03234362]])
HNC = np.array([[-0.65518272, -0.57740142, -0.66558476], [0.58073853, 0.61739497, 0.59001319], [0.07444419, -0.03999355, 0.07557157]])


def _xyz(path, R, numbers=NUMBERS):
    from ase import Atoms

    Atoms(numbers=numbers, positions=R).write(path)
    return str(path)


def _xtb():
    from jaxrxn.potentials.qm import xtb_potential

    return xtb_potential(NUMBERS)


def _ase_sella_ts_energy(R_initial, R_final, numbers=NUMBERS, n_images: int = 8) -> float:
    """ASE's pipeline on the same end points: IDPP, CI-NEB (improved tangent) with FIRE to
    0.05 eV/Å, then Sella (internal coordinates) from the climbing image to 0.01 eV/Å. Run
    on a worker thread: tblite spin-waits when called from the main thread of a busy
    machine (seconds per call); from a worker thread it takes milliseconds, as in jaxrxn's
    bridge."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(_ase_sella_pipeline, R_initial, R_final, numbers, n_images).result()


def _ase_sella_pipeline(R_initial, R_final, numbers, n_images: int) -> float:
    from ase import Atoms
    from ase.mep import NEB
    from ase.optimize import FIRE
    from sella import Sella
    from tblite.ase import TBLite

    from ase.build import minimize_rotation_and_translation

    images = [Atoms(numbers=numbers, positions=R_initial) for _ in range(n_images - 1)]
    images.append(Atoms(numbers=numbers, positions=R_final))
    minimize_rotation_and_translation(images[0], images[-1])
    for im in images:
        im.calc = TBLite(method="GFN2-xTB", verbosity=0)
    band = NEB(images, climb=True, method="improvedtangent")
    band.interpolate("idpp")
    FIRE(band, logfile=None).run(fmax=0.05, steps=1000)
    top = max(range(1, n_images - 1), key=lambda i: images[i].get_potential_energy())
    ts = images[top].copy()
    ts.calc = TBLite(method="GFN2-xTB", verbosity=0)
    Sella(ts, order=1, internal=True, logfile=None).run(fmax=0.01, steps=300)
    return float(ts.get_potential_energy())


@pytest.fixture(scope="module")
def hcn_result():
    from jaxrxn.reaction import find_reaction

    potential = _xtb()
    result = find_reaction(HCN, HNC, potential)  # geodesic band
    return result, potential.energy_fn.n_calls


@pytest.fixture(scope="module")
def ase_ts_energy(hcn_result):
    result, _ = hcn_result
    return _ase_sella_ts_energy(result.R_initial, result.R_final)


def test_hcn_hnc_api_matches_ase_sella(hcn_result, ase_ts_energy):
    result, n_calls = hcn_result
    assert result.converged and result.connects and result.failed_stage is None, result.message
    assert result.saddle_index == 1 and result.imaginary_frequency_cm1 < -500
    # the same saddle from both pipelines, relative to the same relaxed initial state
    assert result.barrier == pytest.approx(ase_ts_energy - result.e_initial, abs=1e-3)
    assert result.reaction_energy == pytest.approx(result.e_final - result.e_initial)
    assert result.reverse_barrier == pytest.approx(result.barrier - result.reaction_energy)
    # every calculator evaluation is counted, per stage and in total
    assert result.n_force_calls == n_calls == sum(result.n_force_calls_by_stage.values())
    # a molecule on an outside calculator: the interpolation's highest image first, and from
    # it the saddle verified with no band
    assert result.ts_source == "interpolation" and result.band is None
    assert set(result.n_force_calls_by_stage) == {"relax", "interpolation", "saddle", "frequencies", "irc"}
    assert result.n_force_calls_by_stage["interpolation"] == 6  # the 8-image band's interior
    # the IRC ends are the relaxed end states
    assert result.irc_match["initial"]["rmsd"] < 0.05 and result.irc_match["final"]["rmsd"] < 0.05
    # and the IRC runs from HCN to HNC, as the band would (its reverse end is HNC's side)
    from jaxrxn.geometry import rmsd_numpy

    for end, near, far in ((0, result.R_initial, result.R_final), (-1, result.R_final, result.R_initial)):
        assert rmsd_numpy(result.irc_path[end], near) < 0.1 < rmsd_numpy(result.irc_path[end], far)
    assert result.irc_energies[0] < result.irc_energies[-1] < result.ts_energy  # HNC lies 0.87 eV above HCN


def test_hcn_hnc_cli(tmp_path, capsys, ase_ts_energy, hcn_result):
    is_file, fs_file = _xyz(tmp_path / "hcn.xyz", HCN), _xyz(tmp_path / "hnc.xyz", HNC)
    out = tmp_path / "out"
    code, report, err = run_cli(
        ["reaction", is_file, fs_file, "--calc", "xtb", "--interpolation", "idpp", "--no-refine-interpolation-max",
         "--json", "-o", str(out)], capsys,
    )  # fmt: skip
    assert code == 0, err
    assert report["ts_source"] == "band" and report["n_force_calls_by_stage"]["interpolation"] == 0
    for key in (
        "barrier", "reverse_barrier", "reaction_energy", "ts_energy", "imaginary_frequency_cm1",
        "saddle_index", "connects", "converged", "n_force_calls", "n_force_calls_by_stage", "failed_stage",
    ):  # fmt: skip
        assert key in report
    assert report["connects"] and report["converged"] and report["saddle_index"] == 1
    assert report["barrier"] == pytest.approx(ase_ts_energy - hcn_result[0].e_initial, abs=1e-3)
    for name in ("ts.xyz", "path.extxyz", "irc.extxyz", "profile.png"):
        assert (out / name).stat().st_size > 0
    from ase.io import read

    assert read(out / "ts.xyz").get_potential_energy() == pytest.approx(report["ts_energy"])
    assert len(read(out / "irc.extxyz", ":")) > 10


# H2 + CO -> H2CO: Birkholz & Schlegel reaction 11_h2co (first and last frame; C, O, H, H), Å.
H2CO_NUMBERS = np.array([6, 8, 1, 1])
H2_CO = np.array([[1.2842725, -0.1359925, 0.0], [1.2842725, -1.2758495, 0.0], [-1.3907835, 0.3390385, 0.0], [-1.1777615, 1.0728035, 0.0]])
H2CO = np.array([[-0.00920611, 0.0071142, 0.0], [0.95908199, -0.71993969, 0.0], [-1.03349904, -0.38774949, 0.0], [0.08362316, 1.10057498, 0.0]])


@pytest.fixture(scope="module")
def h2co_result():
    from jaxrxn.potentials.qm import xtb_potential
    from jaxrxn.reaction import find_reaction

    potential = xtb_potential(H2CO_NUMBERS)
    return find_reaction(H2_CO, H2CO, potential), potential.energy_fn.n_calls


def test_h2_co_to_formaldehyde_api_matches_ase_sella(h2co_result):
    """A second molecule through the Python API: 1,1-elimination in reverse (H2 adds to the
    carbon of CO), the saddle of the ASE + Sella pipeline run here from the same relaxed end
    states, ``connects`` true with both IRC ends matched."""
    result, n_calls = h2co_result
    assert result.converged and result.connects and result.saddle_index == 1, result.message
    assert result.n_force_calls == n_calls
    e_ts = _ase_sella_ts_energy(result.R_initial, result.R_final, H2CO_NUMBERS)
    assert result.barrier == pytest.approx(e_ts - result.e_initial, abs=1e-3)
    assert result.irc_match["initial"]["rmsd"] < 0.05 and result.irc_match["final"]["rmsd"] < 0.05


def test_hessian_from_the_nnp_starts_the_pipelines_saddle_search(tmp_path, capsys, h2co_result):
    """``jaxrxn reaction --calc xtb --hessian-from nnp`` (``find_reaction(hessian_from=...)``):
    from the same relaxed end states of H2 + CO -> H2CO, the saddle search started from the
    shipped NNP's exact Hessian (an ML Hessian; E. C.-Y. Yuan et al., Nat. Commun. 15, 8865
    (2024)) reaches the saddle that the model-Hessian pipeline verifies (itself checked
    against ASE + Sella above) in fewer GFN2-xTB gradients (25 vs 28 when written); the
    other stages are unchanged; ``--batch`` does the same. A JAX --calc (its search has its own exact Hessian), an
    outside calculator as the Hessian, or a Hessian potential for other atoms, is refused."""
    from jaxrxn.batch import find_reactions
    from jaxrxn.nnp import pretrained
    from jaxrxn.potentials.qm import xtb_potential
    from jaxrxn.reaction import find_reaction

    before, _ = h2co_result
    is_file = _xyz(tmp_path / "is.xyz", before.R_initial, H2CO_NUMBERS)
    fs_file = _xyz(tmp_path / "fs.xyz", before.R_final, H2CO_NUMBERS)
    code, report, err = run_cli(["reaction", is_file, fs_file, "--calc", "xtb", "--hessian-from", "nnp", "--no-relax", "--json", "--quiet"], capsys)
    assert code == 0 and report["converged"], err
    assert report["ts_source"] == before.ts_source == "interpolation"
    assert report["barrier"] == pytest.approx(before.barrier, abs=1e-4)
    calls, calls_before = report["n_force_calls_by_stage"], before.n_force_calls_by_stage
    assert calls["saddle"] < calls_before["saddle"]
    assert {k: calls[k] for k in ("interpolation", "frequencies")} == {k: calls_before[k] for k in ("interpolation", "frequencies")}
    # --batch hands each reaction its own Hessian potential: the same search
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(f"{is_file} {fs_file}\n")
    code, reports, err = run_cli(["reaction", "--batch", str(pairs), "--calc", "xtb", "--hessian-from", "nnp", "--no-relax", "--json", "--quiet"], capsys)
    assert code == 0 and reports[0]["n_force_calls_by_stage"] == calls, err

    for extra, fragment in ((["--calc", "nnp", "--hessian-from", "nnp"], "outside calculator"),
                            (["--calc", "xtb", "--hessian-from", "xtb"], "outside calculator")):  # fmt: skip
        code, _, err = run_cli(["reaction", is_file, fs_file, *extra, "--json"], capsys)
        assert code == 2 and len(err.splitlines()) == 1 and fragment in err, err
    with pytest.raises(ValueError, match="built for atoms"):
        find_reaction(H2_CO, H2CO, xtb_potential(H2CO_NUMBERS), hessian_from=pretrained(NUMBERS[[0, 1, 1, 2]]))
    with pytest.raises(ValueError, match="free molecules on an outside calculator"):
        find_reaction(H2_CO, H2CO, pretrained(H2CO_NUMBERS), hessian_from=pretrained(H2CO_NUMBERS))
    with pytest.raises(ValueError, match="reaction 0: hessian_from is for free molecules"):
        find_reactions([(H2_CO, H2CO)], [pretrained(H2CO_NUMBERS)], hessian_from=[pretrained(H2CO_NUMBERS)])


class _PySCFDirect(Calculator):
    """An ASE calculator on PySCF called directly (RHF/3-21G energy and analytic gradient),
    independent of jaxrxn's PySCF bridge: the oracle's surface."""

    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        from ase.units import Bohr, Hartree
        from pyscf import gto, scf

        super().calculate(atoms, properties, system_changes)
        mol = gto.M(atom=list(zip(self.atoms.get_chemical_symbols(), self.atoms.positions)), basis="3-21g", unit="Angstrom", verbose=0)
        mf = scf.RHF(mol)
        mf.conv_tol = 1e-10
        energy = mf.kernel()
        self.results = {"energy": energy * Hartree, "forces": -mf.nuc_grad_method().kernel() * Hartree / Bohr}


def test_hcn_hnc_hartree_fock_saddle_is_sellas_on_pyscf():
    """The pipeline on PySCF (HF/3-21G): HCN -> HNC verified from the interpolation's highest
    image, its frequencies from PySCF's analytic Hessian (no force calls); Sella (internal
    coordinates) started 0.05 Å away from that saddle on PySCF called directly (not through
    jaxrxn) converges to the same saddle: energies within 1e-4 eV, geometries 0.01 Å."""
    from ase import Atoms
    from sella import Sella

    from jaxrxn.geometry import rmsd_numpy
    from jaxrxn.potentials.qm import pyscf_potential
    from jaxrxn.reaction import find_reaction

    res = find_reaction(HCN, HNC, pyscf_potential(["C", "H", "N"], "hf/3-21g"))
    assert res.converged and res.saddle_index == 1 and res.ts_source == "interpolation", res.message
    assert res.n_force_calls_by_stage["frequencies"] == 0 and res.n_hessian_calls >= 1
    ts = Atoms("CHN", positions=res.R_ts + np.random.default_rng(0).normal(scale=0.05 / np.sqrt(3), size=(3, 3)))
    ts.calc = _PySCFDirect()
    Sella(ts, order=1, internal=True, logfile=None).run(fmax=1e-3, steps=200)
    assert ts.get_potential_energy() == pytest.approx(res.ts_energy, abs=1e-4)
    assert rmsd_numpy(ts.positions, res.R_ts) < 0.01


# --- not connected: a particle on the Muller-Brown surface (z harmonic) ---------------
# Minima A (-0.558, 1.442) -> C (-0.050, 0.467) -> B (0.623, 0.028): the band from A to B
# climbs the higher saddle, between A and C, whose IRC ends in C, not in B.
MB_A, MB_B, MB_C = (-0.558224, 1.441726), (0.623499, 0.028038), (-0.050011, 0.466694)


def _mb3d_energy(R, system, params):
    from jaxrxn.potentials import muller_brown

    return muller_brown().energy(R[:, :2]) + 10.0 * jnp.sum(R[:, 2] ** 2)


def _mb3d(arg, R, system):
    from jaxrxn.potentials.core import Potential

    return Potential(_mb3d_energy, None, system)


def _point(xy):
    return np.array([[xy[0], xy[1], 0.0]])


def test_not_connected_api():
    """Muller-Brown A -> B past the intermediate C: the IRC ends in A and C. Both pipelines
    relax the IRC's ends on to the saddle's fmax before calling the reaction unconnected; a
    find_reactions batch must do that as find_reaction does (same calls per stage)."""
    from jaxrxn.batch import find_reactions
    from jaxrxn.reaction import find_reaction
    from jaxrxn.system import System

    pot = _mb3d(None, None, System(numbers=[1]))  # one atom: not a molecule; the batch needs numbers
    options = {"n_images": 9, "neb_fmax": 0.5}
    res = find_reaction(_point(MB_A), _point(MB_B), pot, **options)
    assert not res.connects and not res.converged and res.failed_stage == "verify"
    assert res.saddle_index == 1
    assert "final state" in res.message and "initial state" not in res.message
    assert res.irc_match["initial"]["match"] and not res.irc_match["final"]["match"]
    # the IRC's other end is the intermediate minimum C
    assert min(res.irc_match["irc_end_energies"]) < max(res.irc_match["irc_end_energies"])
    (batch,) = find_reactions([(_point(MB_A), _point(MB_B))], [pot], **options)
    assert batch.failed_stage == "verify" and batch.message == res.message
    assert batch.n_force_calls_by_stage == res.n_force_calls_by_stage
    assert batch.irc_match["irc_end_energies"] == pytest.approx(res.irc_match["irc_end_energies"], abs=1e-8)


def test_band_step_caps_per_threshold():
    """`neb_max_steps` caps each band of the `neb_fmax` schedule separately: the loose first
    band stops at its own cap, and the fallback band (the A -> B saddle never connects, so
    it always runs) at its own."""
    import re

    from jaxrxn.reaction import find_reaction

    lines = []
    res = find_reaction(
        _point(MB_A), _point(MB_B), _mb3d(None, None, None), n_images=9, neb_fmax=(0.5, 0.001), neb_max_steps=(3, 8),
        progress=lines.append,
    )  # fmt: skip
    assert not res.converged
    steps = [int(m.group(1)) for line in lines if (m := re.match(r"neb: .*, (\d+) steps,", line))]
    assert steps == [3, 8], lines
    with pytest.raises(ValueError, match="neb_max_steps"):
        find_reaction(_point(MB_A), _point(MB_B), _mb3d(None, None, None), neb_fmax=(0.5, 0.1), neb_max_steps=(3, 8, 9))


# The two Muller-Brown saddles (shared/reference/rare_events.md, [run]; Müller & Brown,
# Theor. Chim. Acta 53, 75 (1979)): S1 between A and C, S2 between C and B.
MB_S1, MB_S2 = (-0.822002, 0.624313), (0.212487, 0.292988)


def test_ts_guess_first_then_the_band(tmp_path, capsys, monkeypatch):
    """`ts_guess`: from a guess near the reaction's own saddle (A -> C, S1) the pipeline
    verifies it with no band at all; from a guess near another saddle (S2, whose IRC ends
    in C and B) it does not verify and the CI-NEB finds S1. The CLI's ``--ts-guess`` does
    the same; a guess with other atoms exits 2."""
    from jaxrxn import calculators
    from jaxrxn.reaction import find_reaction

    pot = _mb3d(None, None, None)
    near = lambda xy: _point((xy[0] + 0.05, xy[1] - 0.04))  # noqa: E731
    res = find_reaction(_point(MB_A), _point(MB_C), pot, n_images=9, ts_guess=near(MB_S1))
    assert res.converged and res.ts_source == "guess" and res.guess_failure is None, res.message
    assert "neb" not in res.n_force_calls_by_stage and res.band is None
    np.testing.assert_allclose(res.R_ts[0, :2], MB_S1, atol=1e-4)
    assert res.ts_energy == pytest.approx(-40.6648, abs=1e-3)
    res = find_reaction(_point(MB_A), _point(MB_C), pot, n_images=9, ts_guess=near(MB_S2))
    assert res.converged and res.ts_source == "band", res.message
    assert res.guess_failure.startswith("verify") and "initial state" in res.guess_failure
    assert res.n_force_calls_by_stage["neb"] > 0
    np.testing.assert_allclose(res.R_ts[0, :2], MB_S1, atol=1e-4)
    with pytest.raises(ValueError, match="TS guess"):
        find_reaction(_point(MB_A), _point(MB_C), pot, ts_guess=np.zeros((2, 3)))
    # a guess made by a function (a TS generator) sees the end states the pipeline relaxed
    seen = []
    res = find_reaction(_point(MB_A) + 0.02, _point(MB_C), pot, n_images=9, ts_guess=lambda a, b: seen.append((a, b)) or near(MB_S1))
    assert res.converged and res.ts_source == "guess" and len(seen) == 1
    np.testing.assert_allclose(seen[0][0], res.R_initial)
    np.testing.assert_allclose(seen[0][1], res.R_final)
    assert np.abs(seen[0][0] - (_point(MB_A) + 0.02)).max() > 0.01  # relaxed, not as given
    with pytest.raises(ValueError, match="generated TS guess has 2 atoms"):
        find_reaction(_point(MB_A), _point(MB_C), pot, ts_guess=lambda a, b: np.zeros((2, 3)))

    monkeypatch.setitem(calculators._REGISTRY, "mb3d", _mb3d)
    a, c = _xyz(tmp_path / "a.xyz", _point(MB_A), [1]), _xyz(tmp_path / "c.xyz", _point(MB_C), [1])
    guess = _xyz(tmp_path / "guess.xyz", near(MB_S1), [1])
    code, report, _ = run_cli(["reaction", a, c, "--calc", "mb3d", "--images", "9", "--ts-guess", guess, "--json", "--quiet"], capsys)
    assert code == 0 and report["ts_source"] == "guess" and "neb" not in report["n_force_calls_by_stage"]
    other = _xyz(tmp_path / "other.xyz", near(MB_S1), [2])
    code, _, err = run_cli(["reaction", a, c, "--calc", "mb3d", "--ts-guess", other, "--json"], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "TS guess" in err


def test_refine_interpolation_max_before_the_band(tmp_path, capsys, monkeypatch):
    """`refine_interpolation_max`: Muller-Brown A -> C is verified from the interpolation's
    highest image with no band (S1 of shared/reference/rare_events.md, as the CI-NEB finds
    it; 7 energies for the 9-image interpolation), after a guess near S2 that does not
    verify; A -> B (two steps) fails from there and goes on with the band. The CLI flag
    does the same; a padded batch on a JAX potential refuses it."""
    from jaxrxn import calculators
    from jaxrxn.batch import find_reactions
    from jaxrxn.reaction import find_reaction

    pot = _mb3d(None, None, None)
    guess = _point((MB_S2[0] + 0.05, MB_S2[1] - 0.04))
    res = find_reaction(_point(MB_A), _point(MB_C), pot, n_images=9, ts_guess=guess, refine_interpolation_max=True)
    assert res.converged and res.ts_source == "interpolation", res.message
    assert res.guess_failure.startswith("verify") and res.interpolation_failure is None
    assert "neb" not in res.n_force_calls_by_stage and res.n_force_calls_by_stage["interpolation"] == 7
    np.testing.assert_allclose(res.R_ts[0, :2], MB_S1, atol=1e-4)
    res = find_reaction(_point(MB_A), _point(MB_B), pot, n_images=9, refine_interpolation_max=True)
    assert not res.converged and res.interpolation_failure.startswith("verify") and res.n_force_calls_by_stage["neb"] > 0
    with pytest.raises(ValueError, match="refine_interpolation_max"):
        find_reactions([(_point(MB_A), _point(MB_C))], [pot], refine_interpolation_max=True)
    with pytest.raises(ValueError, match="ts_guess is for outside calculators"):
        find_reactions([(_point(MB_A), _point(MB_C))], [pot], ts_guess=[_point(MB_S1)])

    monkeypatch.setitem(calculators._REGISTRY, "mb3d", _mb3d)
    a, c = _xyz(tmp_path / "a.xyz", _point(MB_A), [1]), _xyz(tmp_path / "c.xyz", _point(MB_C), [1])
    code, report, _ = run_cli(["reaction", a, c, "--calc", "mb3d", "--images", "9", "--refine-interpolation-max", "--json", "--quiet"], capsys)
    assert code == 0 and report["ts_source"] == "interpolation" and report["interpolation_failure"] is None


def test_a_saddle_that_led_elsewhere_outlives_a_band_that_failed_before_its_irc(monkeypatch):
    """Muller-Brown A -> B (two steps, through C): the interpolation's highest image refines
    to a first-order saddle whose IRC ends elsewhere (verify fails). When the band's saddle
    search then fails (made to here, as on Birkholz 07 and 08 with GFN2-xTB), the result
    is that saddle with its IRC's ends, not the band's failure, and find_mechanism goes on
    from them to the two steps (before session 32 it stopped at the band's failure)."""
    import jaxrxn.reaction as reaction
    from jaxrxn.mechanism import find_mechanism

    real = reaction._saddle_and_irc

    def band_fails(potential, out, stage_done, broken, R_start, tangent, *rest):
        if tangent is None:  # the interpolation's highest image: no band tangent
            return real(potential, out, stage_done, broken, R_start, tangent, *rest)
        return "saddle", "made to fail", R_start

    monkeypatch.setattr(reaction, "_saddle_and_irc", band_fails)
    pot = _mb3d(None, None, None)
    res = reaction.find_reaction(_point(MB_A), _point(MB_B), pot, n_images=9, refine_interpolation_max=True)
    assert not res.converged and res.failed_stage == "verify" and res.interpolation_failure.startswith("verify")
    assert res.message.endswith("; the band then failed at saddle: made to fail") and res.n_force_calls_by_stage["neb"] > 0
    assert res.saddle_index == 1 and res.irc_ends is not None and res.irc_match["initial"]["match"] != res.irc_match["final"]["match"]
    mech = find_mechanism(_point(MB_A), _point(MB_B), pot, n_images=9, refine_interpolation_max=True)
    assert mech.converged and len(mech.steps) == 2, mech.message
    assert sorted(round(float(s.ts_energy), 3) for s in mech.steps) == pytest.approx([-72.249, -40.665], abs=2e-3)  # S2, S1


def test_not_connected_cli_exit_1(tmp_path, capsys, monkeypatch):
    """A -> B past C: not one elementary step (exit 1); ``--stepwise`` finds the two steps
    through C (exit 0), as find_mechanism does."""
    from jaxrxn import calculators

    monkeypatch.setitem(calculators._REGISTRY, "mb3d", _mb3d)
    is_file = _xyz(tmp_path / "a.xyz", _point(MB_A), [1])
    fs_file = _xyz(tmp_path / "b.xyz", _point(MB_B), [1])
    argv = ["reaction", is_file, fs_file, "--calc", "mb3d", "--images", "9", "--neb-fmax", "0.5", "--json", "--quiet"]
    code, report, err = run_cli(argv, capsys)
    assert code == 1
    assert report["connects"] is False and report["converged"] is False and report["failed_stage"] == "verify"
    code, report, err = run_cli([*argv, "--stepwise", "-o", str(tmp_path / "out")], capsys)
    assert code == 0 and report["converged"] and len(report["steps"]) == 2, report["message"]
    assert report["barrier"] == pytest.approx(-40.6648 + 146.6995, abs=1e-3)
    assert [s["ts_energy"] for s in report["steps"]] == pytest.approx([-40.6648, -72.2489], abs=1e-3)
    assert sorted(os.listdir(tmp_path / "out")) == ["step1", "step2"]
    assert os.path.exists(tmp_path / "out" / "step2" / "ts.xyz")
    code, _, err = run_cli([*argv, "--stepwise", "--max-steps", "0"], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "--max-steps" in err

    # a batch with --stepwise: A -> B goes on from the batch's search to the same two
    # steps; A -> C, verified in the batch, is one step
    _xyz(tmp_path / "c.xyz", _point(MB_C), [1])
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("a.xyz b.xyz\na.xyz c.xyz\n")
    batch = ["reaction", "--batch", str(pairs), *argv[3:], "--stepwise"]
    code, reports, err = run_cli(batch, capsys)
    assert code == 0, err
    assert [len(r["steps"]) for r in reports] == [2, 1] and all(r["converged"] for r in reports)
    assert reports[0]["n_searches"] == 2 and reports[0]["is"].endswith("a.xyz") and reports[1]["fs"].endswith("c.xyz")
    assert [s["ts_energy"] for s in reports[0]["steps"]] == pytest.approx([s["ts_energy"] for s in report["steps"]], abs=1e-6)
    assert reports[1]["barrier"] == pytest.approx(-40.6648 + 146.6995, abs=1e-3)
    assert run_cli([*batch, "--max-steps", "1"], capsys)[0] == 1  # other settings: not from the checkpoint


def test_stepwise_mechanism_through_an_intermediate():
    """Muller-Brown A -> B: the band passes the minimum C, and the saddle found (S1) joins A
    to C. find_mechanism takes that as the step A -> C and searches C -> B (S2). Oracle:
    the surface's stationary points by Newton iteration (../shared/reference/paths_saddles.md
    1.1: A -146.6995, B -108.1667, C -80.7678, S1 -40.6648, S2 -72.2489). B -> A runs the
    same steps backwards; with one search the mechanism is find_reaction's failure."""
    import dataclasses

    from jaxrxn.mechanism import _joining_step, find_mechanism
    from jaxrxn.reaction import ReactionResult, find_reaction

    pot = _mb3d(None, None, None)
    options = {"n_images": 9, "neb_fmax": 0.5}
    mech = find_mechanism(_point(MB_A), _point(MB_B), pot, **options)
    assert mech.converged and mech.failed_step is None and len(mech.steps) == 2, mech.message
    first, second = mech.steps
    np.testing.assert_allclose(first.R_ts[0, :2], MB_S1, atol=1e-4)
    np.testing.assert_allclose(second.R_ts[0, :2], MB_S2, atol=1e-4)
    np.testing.assert_allclose(first.R_final[0, :2], MB_C, atol=1e-3)  # the intermediate
    np.testing.assert_allclose(second.R_initial, first.R_final)
    assert first.converged and first.connects and first.failed_stage is None
    assert first.irc_match["initial"]["match"] and first.irc_match["final"]["match"]
    assert first.barrier == pytest.approx(-40.6648 + 146.6995, abs=1e-3)
    assert first.reverse_barrier == pytest.approx(-40.6648 + 80.7678, abs=1e-3)
    assert second.barrier == pytest.approx(-72.2489 + 80.7678, abs=1e-3)
    assert mech.intermediate_energies == pytest.approx([-80.7678 + 146.6995], abs=1e-3)
    assert mech.barrier == mech.energy_span == pytest.approx(106.0347, abs=1e-3) and mech.ts_step == 0
    assert mech.n_force_calls == first.n_force_calls + second.n_force_calls
    # neither step joins A and B by itself; of a "mechanism" A -> C -> C the first step does
    assert _joining_step(mech.steps, (first.R_initial, second.R_final, first.e_initial, second.e_final), None, 0.2, False) is None
    to_c = dataclasses.replace(second, R_final=first.R_final, e_final=first.e_final)
    a_to_c = (first.R_initial, first.R_final, first.e_initial, first.e_final)
    assert _joining_step([first, to_c], a_to_c, None, 0.2, False).ts_energy == first.ts_energy

    # the first search made elsewhere (e.g. by a batch): the mechanism goes on from it and
    # counts it, without searching A -> B again
    # (its calls marked: +1000, to tell it from a search made again)
    single = find_reaction(_point(MB_A), _point(MB_B), pot, **options)
    marked = dataclasses.replace(single, n_force_calls=single.n_force_calls + 1000)
    reused = find_mechanism(_point(MB_A), _point(MB_B), pot, first=marked, **options)
    assert reused.converged and reused.n_searches == mech.n_searches == 2
    assert [s.ts_energy for s in reused.steps] == pytest.approx([s.ts_energy for s in mech.steps], abs=1e-9)
    assert reused.n_force_calls == mech.n_force_calls + 1000
    with pytest.raises(ValueError, match="first is a search of 1 atoms"):
        find_mechanism(np.zeros((2, 3)), np.ones((2, 3)), pot, first=single)
    # a first search that stopped before it had end states (e.g. a batch's bad input) is the mechanism's failure
    stopped = ReactionResult(failed_stage="input", message="the initial and final states are the same structure")
    same = find_mechanism(_point(MB_A), _point(MB_A), pot, first=stopped)
    assert not same.converged and same.n_searches == 1 and same.failed_step == 0 and "input" in same.message

    back = find_mechanism(_point(MB_B), _point(MB_A), pot, **options)
    assert back.converged and [s.ts_energy for s in back.steps] == pytest.approx([-72.2489, -40.6648], abs=1e-3)
    assert back.barrier == pytest.approx(-40.6648 + 108.1667, abs=1e-3) and back.ts_step == 1

    once = find_mechanism(_point(MB_A), _point(MB_B), pot, max_steps=1, **options)
    assert not once.converged and once.failed_step == 0 and len(once.steps) == 1
    assert "max_steps spent" in once.message and once.steps[0].failed_stage == "verify"
    with pytest.raises(ValueError, match="max_steps"):
        find_mechanism(_point(MB_A), _point(MB_B), pot, max_steps=0)


# --- bad input: exit 2 with one line ------------------------------------------------
@pytest.mark.parametrize(
    "case, fragment",
    [
        ("order", "different atoms or atom order"),
        ("atoms", "different shapes"),
        ("nan", "NaN"),
        ("overlap", "overlapping atoms"),
        ("missing", "does not exist"),
    ],
)
def test_bad_input_exit_2(tmp_path, capsys, case, fragment):
    is_file = _xyz(tmp_path / "is.xyz", HCN)
    fs = {
        "order": lambda: _xyz(tmp_path / "fs.xyz", HNC, [1, 6, 7]),
        "atoms": lambda: _xyz(tmp_path / "fs.xyz", np.vstack([HNC, [[3.0, 0, 0]]]), [6, 1, 7, 1]),
        "nan": lambda: _nan_file(tmp_path / "fs.xyz"),
        "overlap": lambda: _xyz(tmp_path / "fs.xyz", np.array([[0, 0, 0], [0.1, 0, 0], [1.2, 0, 0]])),
        "missing": lambda: str(tmp_path / "nope.xyz"),
    }[case]()
    code, _, err = run_cli(["reaction", is_file, fs, "--calc", "xtb", "--json"], capsys)
    assert code == 2
    assert len(err.splitlines()) == 1 and fragment in err


def _nan_file(path):
    with open(path, "w") as fh:
        fh.write("3\n\nC nan 0 0\nH 0 1.07 0\nN 0 -1.1 0\n")
    return str(path)


def test_batch_checkpoint_resumes(tmp_path, capsys, monkeypatch):
    """Two reactions; the second run reads both from the checkpoint and computes nothing."""
    from jaxrxn import calculators

    evaluations = []

    def counted(arg, R, system):
        pot = _mb3d(arg, R, system)
        evaluations.append(1)
        return pot

    monkeypatch.setitem(calculators._REGISTRY, "mb3d", counted)
    for name, point in (("a", MB_A), ("b", MB_B), ("c", MB_C)):
        _xyz(tmp_path / f"{name}.xyz", _point(point), [1])
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("a.xyz c.xyz\n# a comment\nc.xyz b.xyz\n")
    # the band's own default threshold (a JAX potential: 0.1 eV/Å; until session 30 a batch
    # without --neb-fmax stopped at bad input)
    argv = ["reaction", "--batch", str(pairs), "--calc", "mb3d", "--images", "9", "--json", "--quiet"]
    code, reports, err = run_cli(argv, capsys)
    assert code == 0, err
    assert [r["converged"] for r in reports] == [True, True] and len(evaluations) == 2
    # A -> C over the higher saddle, C -> B over the lower one (Muller-Brown's S1, S2)
    assert reports[0]["ts_energy"] == pytest.approx(-40.66484, abs=1e-4)
    assert reports[1]["ts_energy"] == pytest.approx(-72.24894, abs=1e-4)
    saved = json.loads((tmp_path / "pairs.txt.checkpoint.json").read_text())
    assert len(saved) == 2
    code, again, _ = run_cli(argv, capsys)
    assert code == 0 and again == reports and len(evaluations) == 2
    assert all((tmp_path / f"{name}.xyz").exists() for name in "abc")
    # a checkpoint from before the interpolation's maximum became the default for molecules
    # on outside calculators (its settings without the key) ran the band alone: run again
    for entry in saved.values():
        del entry["settings"]["refine_interpolation_max"]
    (tmp_path / "pairs.txt.checkpoint.json").write_text(json.dumps(saved))
    code, again, _ = run_cli(argv, capsys)
    assert code == 0 and len(evaluations) == 4
    assert [r["ts_energy"] for r in again] == pytest.approx([r["ts_energy"] for r in reports], abs=1e-8)


def test_irc_along_a_given_mode_matches_the_hessian_irc():
    """irc(mode=...) starts along the given mode without a Hessian and reaches the same
    minima as the Hessian-started IRC (Muller-Brown S1 -> A and C, z harmonic)."""
    from jaxrxn.irc import irc

    pot = _mb3d(None, None, None)
    S1 = jnp.array([[-0.822002, 0.624313, 0.0]])
    w, U = np.linalg.eigh(np.asarray(pot.hessian(S1)))
    # ends relaxed to 1e-4: the two descents differ (the given mode's steps start from a
    # model Hessian), and at the default fmax their L-BFGS stops differed by 3e-8
    plain = irc(pot, S1, zero_modes_spec="none", fmax=1e-4)
    given = irc(pot, S1, zero_modes_spec="none", mode=jnp.asarray(U[:, 0].reshape(1, 3)), fmax=1e-4)
    assert bool(plain.converged) and bool(given.converged)
    assert int(given.n_hessian_calls) == 0 and int(plain.n_hessian_calls) == 1
    ends = sorted([float(given.forward.energy_min), float(given.reverse.energy_min)])
    assert ends == pytest.approx([-146.6995, -80.7678], abs=2e-4)  # A and C
    assert ends == pytest.approx(sorted([float(plain.forward.energy_min), float(plain.reverse.energy_min)]), abs=1e-8)
    with pytest.raises(ValueError, match="mode must be"):
        irc(pot, S1, mode=jnp.zeros((1, 3)))


class _FailingXTB:
    """GFN2-xTB whose evaluations raise like an unconverged SCF after call `fail_after`
    (up to call `fail_until`, if given)."""

    def __init__(self, fail_after: int, fail_until: int | None = None):
        from jaxrxn.potentials.qm import XTBEvaluator

        self.inner = XTBEvaluator(NUMBERS, "GFN2-xTB", 0, 1, {"temperature": 300.0, "accuracy": 1.0, "max-iter": 250})
        self.fail_after, self.fail_until, self.calls = fail_after, fail_until, 0

    def __call__(self, R, attempt):
        self.calls += 1
        if self.fail_after < self.calls <= (self.fail_until or self.calls):
            raise RuntimeError("SCF not converged in 250 cycles")
        return self.inner(R, attempt)


def test_pipeline_saddle_stage_holds_half_formed_bonds():
    """The saddle stage for a molecule on an outside calculator is ``RSPRFO.molecular``
    with bonds to 1.45x covalent: a ring closing at 1.33x (2.02 Å between C0 and C3 of a
    cis C4 chain, as the forming C-C bond of the Claisen rearrangement at 1.35x at its
    climbing image) is a primitive, which ``molecular``'s own 1.3 leaves out (the case
    where the Claisen search ended on a torsional saddle; jaxrxn.reaction.saddle_solver)."""
    from jaxrxn.potentials.qm import xtb_potential
    from jaxrxn.reaction import saddle_solver
    from jaxrxn.saddle import RSPRFO

    a = np.deg2rad(100.0)
    R = np.array([[-1.5 * np.cos(np.pi - a), 1.5 * np.sin(a), 0.0], [0.0, 0.0, 0.0], [1.5, 0.0, 0.0],
                  [1.5 + 1.5 * np.cos(np.pi - a), 1.5 * np.sin(a), 0.0]])  # fmt: skip
    numbers = np.array([6, 6, 6, 6])
    assert 2.0 < np.linalg.norm(R[0] - R[3]) < 2.05
    solver = saddle_solver(xtb_potential(numbers), R, outside=True, molecule=True)
    bonds = {tuple(sorted(b)) for b in np.asarray(solver.coordinates.bonds).tolist()}
    plain = {tuple(sorted(b)) for b in np.asarray(RSPRFO.molecular(numbers, R).coordinates.bonds).tolist()}
    assert (0, 3) in bonds and (0, 3) not in plain and plain < bonds
    assert (solver.initial_hessian, solver.hessian_update, solver.step_norm) == ("fischer", "ts-bfgs", "max")


def test_scf_failure_in_the_band_gives_result_code_and_kept_geometry():
    from jaxrxn.potentials.core import Potential
    from jaxrxn.potentials.external import HostEnergy
    from jaxrxn.reaction import find_reaction
    from jaxrxn.system import System

    flaky = _FailingXTB(fail_after=40)  # the end-point relaxations take 18; the band fails
    pot = Potential(HostEnergy(lambda: flaky, 3, max_retries=1), system=System(NUMBERS))
    res = find_reaction(HCN, HNC, pot, interpolation="idpp", refine_interpolation_max=False)
    assert res.failed_stage == "neb" and not res.converged and not res.connects
    assert "outside calculator failed" in res.message and "SCF not converged" in res.message
    # the last good band is kept: finite, its ends the relaxed states
    assert res.band is not None and np.all(np.isfinite(res.band)) and np.all(np.isfinite(res.band_energies))
    assert res.R_ts is not None and np.all(np.isfinite(res.R_ts))
    np.testing.assert_allclose(res.band[0], res.R_initial)
    # every call counted, the failed one and its retry included
    assert res.n_force_calls_by_stage["relax"] == 18
    assert res.n_force_calls == pot.energy_fn.n_calls


def test_scf_failure_from_the_guess_ends_that_attempt_not_the_reaction():
    """An SCF failure in the saddle search from a TS guess (calls 21-24 of HCN -> HNC fail,
    retries included) is the guess's failure; the pipeline goes on to the interpolation's
    highest image, which verifies the TS (until session 31 the reaction stopped there, as
    held-out rxn0017_0000 did from its interpolation maximum)."""
    from jaxrxn.potentials.core import Potential
    from jaxrxn.potentials.external import HostEnergy
    from jaxrxn.reaction import find_reaction
    from jaxrxn.system import System

    flaky = _FailingXTB(fail_after=20, fail_until=24)  # the end-point relaxations take 18
    pot = Potential(HostEnergy(lambda: flaky, 3, max_retries=1), system=System(NUMBERS))
    res = find_reaction(HCN, HNC, pot, interpolation="idpp", ts_guess=0.5 * (HCN + HNC))
    assert res.converged and res.ts_source == "interpolation", (res.failed_stage, res.message)
    assert res.guess_failure.startswith("saddle: ") and "SCF not converged" in res.guess_failure
    assert res.n_force_calls == pot.energy_fn.n_calls


def test_end_states_with_one_bond_graph_are_matched_by_rmsd():
    """cis and trans HOOH have the same bonds: an IRC that ends twice in cis does not connect
    them (a bond-graph match would accept either end for either state)."""
    from jaxrxn.reaction import match_irc_ends

    numbers = [8, 8, 1, 1]
    cis = np.array([[0.0, 0.0, 0.0], [1.45, 0.0, 0.0], [-0.3, 0.92, 0.0], [1.75, 0.92, 0.0]])
    trans = cis.copy()
    trans[3, 1] = -0.92
    twice_cis = match_irc_ends((cis, cis), (0.0, 0.0), cis, trans, numbers, 0.2, True)
    assert twice_cis["initial"]["match"] and not twice_cis["final"]["match"]
    both = match_irc_ends((trans, cis), (0.0, 0.0), cis, trans, numbers, 0.2, True)
    assert both["initial"]["match"] and both["final"]["match"]



def test_loose_irc_ends_are_relaxed_before_the_reaction_is_called_unconnected():
    """GFN2-xTB, the shipped data set's held-out rxn0186_0004 (10 atoms, a conformational
    change: both end states have one bond graph, so only the RMSD decides). From the data
    set's TS the pipeline's IRC ends, relaxed to the loose 0.05 eV/Å, stopped 0.28 and 0.33
    Å from the end states on flat stretches and the reaction was called unconnected (session
    26); relaxed on to the saddle's 0.01 eV/Å they are the end states. Oracle: ASE's BFGS on
    the same tblite surface (independent of jaxrxn) relaxes the stored end states to the
    minima the IRC's ends must be."""
    from ase import Atoms
    from ase.optimize import BFGS
    from tblite.ase import TBLite

    from jaxrxn.datasets import heldout_reactions
    from jaxrxn.geometry import rmsd_numpy
    from jaxrxn.potentials.qm import xtb_potential
    from jaxrxn.reaction import find_reaction

    (r,) = [r for r in heldout_reactions() if r.rxn == "rxn0186_0004"]
    numbers = np.asarray(r.numbers)
    R0, R1, R_ts = (np.asarray(R, float) for R in (r.reactant, r.product, r.transition_state))  # stored as float32
    res = find_reaction(jnp.asarray(R0), jnp.asarray(R1), xtb_potential(numbers), relax=False, ts_guess=jnp.asarray(R_ts))
    assert res.converged and res.ts_source == "guess", (res.failed_stage, res.message)
    minima = []
    for R in (R0, R1):
        atoms = Atoms(numbers=numbers, positions=R)
        atoms.calc = TBLite(method="GFN2-xTB", verbosity=0)
        BFGS(atoms, logfile=None).run(fmax=0.005, steps=200)
        minima.append((atoms.get_positions(), atoms.get_potential_energy()))
    ends = (res.irc_path[0], res.irc_path[-1])  # the descent's last points, before any relaxation
    assert min(rmsd_numpy(ends[0], minima[0][0]), rmsd_numpy(ends[-1], minima[1][0])) > 0.1  # they are short of the minima
    for key, R, (R_min, _) in zip(("initial", "final"), (R0, R1), minima):
        assert rmsd_numpy(R, R_min) < 0.05  # the stored end states are these minima
        assert res.irc_match[key]["rmsd"] < 0.05, res.irc_match  # measured 0.001 and 0.04 (0.29 and 0.33 unrelaxed)
    e_ends = res.irc_match["irc_end_energies"]
    assert e_ends == pytest.approx([minima[0][1], minima[1][1]], abs=1e-3)


def test_an_end_with_like_atoms_renumbered_is_named_but_not_matched():
    """An IRC end that is the initial state's species with its two H atoms exchanged (same
    shape, other atom mapping) is reported as ``renumbered`` and not matched; an end of
    another species is not renumbered."""
    from jaxrxn.reaction import match_irc_ends, not_connected_message

    numbers = [6, 6, 8, 1, 1]  # H3 on C0, H4 on O2
    initial = np.array([[0.0, 0.0, 0.0], [1.5, 0.0, 0.0], [2.2, 1.2, 0.0], [-0.6, 0.9, 0.0], [3.1, 1.0, 0.3]])
    final = initial.copy()
    final[4] = [1.9, -0.9, 0.2]  # H4 moved to C1
    swapped = initial[[0, 1, 2, 4, 3]]  # H3 on O2, H4 on C0
    match = match_irc_ends((swapped, final), (0.0, 0.0), initial, final, numbers, 0.2, True)
    assert match["final"]["match"] and not match["initial"]["match"]
    assert match["initial"]["renumbered"] and match["initial"]["rmsd"] > 1.0
    assert "initial state's species with like atoms renumbered" in not_connected_message(match)
    other = final.copy()
    other[3] = [1.6, 0.3, -1.0]  # both H on C1: another species
    match = match_irc_ends((other, final), (0.0, 0.0), initial, final, numbers, 0.2, True)
    assert not match["initial"]["match"] and not match["initial"]["renumbered"]
    assert "renumbered" not in not_connected_message(match)


# GFN2-xTB, held-out rxn0184_0002 (C4H7N): the stationary point the pipeline's saddle stage
# reached from its climbing image (session 27; Å): 0.25 Å from the data set's TS, 0.108 eV
# above it, with a second imaginary mode of 137i cm^-1 beside the reaction's 839i.
_INDEX_2_POINT = [
    [0.713173, -0.349891, 1.009423], [0.327816, 0.885921, 0.215324], [0.807169, 0.877679, -1.225767],
    [0.505791, 2.35058, 1.029046], [1.663395, 2.0509, 0.909612], [0.424198, -0.238325, 2.051683],
    [0.193611, -1.213288, 0.595277], [1.784454, -0.52732, 0.962891], [-0.763983, 0.975237, 0.218131],
    [0.57991, 1.825265, -1.708142], [0.294618, 0.081599, -1.764728], [1.879195, 0.707619, -1.281468],
]


def test_the_pipeline_steps_off_a_second_order_point_to_the_ts(tmp_path):
    """From a stationary point of index 2 (the pipeline's saddle stage reached it from the
    band on held-out rxn0184_0002 and stopped there before session 27) the pipeline steps
    off along the second imaginary mode and reaches the data set's TS, which its IRC
    connects. Oracle for the indices: ASE's Vibrations (central differences) on the same
    tblite surface, independent of jaxrxn: two imaginary modes at the start, one at the end."""
    from ase import Atoms
    from ase.vibrations import Vibrations
    from tblite.ase import TBLite

    from jaxrxn.datasets import heldout_reactions
    from jaxrxn.geometry import rmsd_numpy
    from jaxrxn.potentials.qm import xtb_potential
    from jaxrxn.reaction import find_reaction

    (r,) = [r for r in heldout_reactions() if r.rxn == "rxn0184_0002"]
    numbers = np.asarray(r.numbers)

    def imaginary_modes(R, name):
        atoms = Atoms(numbers=numbers, positions=R)
        atoms.calc = TBLite(method="GFN2-xTB", verbosity=0)
        vib = Vibrations(atoms, name=str(tmp_path / name))
        vib.run()
        # the rigid-body modes come out within a few tens of i cm^-1 of zero; the second
        # imaginary mode here is 137i
        return int(np.sum(np.asarray(vib.get_frequencies()).imag > 60.0))

    point = np.array(_INDEX_2_POINT)
    assert imaginary_modes(point, "start") == 2
    R0, R1 = np.asarray(r.reactant, float), np.asarray(r.product, float)  # stored as float32
    res = find_reaction(jnp.asarray(R0), jnp.asarray(R1), xtb_potential(numbers), relax=False, ts_guess=jnp.asarray(point))
    assert res.converged and res.ts_source == "guess", (res.failed_stage, res.message)
    assert res.saddle_index == 1 and rmsd_numpy(res.R_ts, np.asarray(r.transition_state, float)) < 0.05  # measured 0.002
    assert imaginary_modes(res.R_ts, "end") == 1
