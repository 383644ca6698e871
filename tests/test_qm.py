"""Quantum-chemistry potentials (GFN-xTB through tblite, HF/DFT through PySCF), the batched
host bridge and failing calculators, checked against tblite's own ASE calculator, PySCF run
directly and finite differences in the same test."""

import json
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.io import write
from ase.units import Hartree

from jaxrxn import minimize
from jaxrxn._results import RESULTS
from jaxrxn.cli import main
from jaxrxn.potentials.external import HostEnergy, ase_potential, calculator_result, failure_result, time_limit
from jaxrxn.potentials.core import Potential

tblite_ase = pytest.importorskip("tblite.ase")
pyscf = pytest.importorskip("pyscf")

from jaxrxn.potentials.qm import pyscf_potential, xtb_potential  # noqa: E402


def water(rattle=0.0, seed=0):
    atoms = molecule("H2O")
    if rattle:
        atoms.rattle(rattle, seed=seed)
    return atoms


@pytest.mark.parametrize(
    "atoms, method, charge, mult",
    [
        (water(0.05), "gfn2", 0, 1),
        (water(0.05), "gfn1", 0, 1),
        (Atoms("OH", positions=[[0, 0, 0], [0, 0, 0.98]]), "gfn2", 0, 2),  # radical
        (Atoms("OH", positions=[[0, 0, 0], [0, 0, 0.97]]), "gfn2", -1, 1),  # hydroxide
    ],
)
def test_xtb_matches_tblite_ase_calculator(atoms, method, charge, mult):
    ref = atoms.copy()
    ref.calc = tblite_ase.TBLite(method=f"{method.upper()}-xTB", charge=charge, multiplicity=mult, verbosity=0)
    pot = xtb_potential(atoms.numbers, method, charge=charge, multiplicity=mult)
    e, f = jax.jit(lambda R: pot.energy_and_forces(R))(jnp.asarray(atoms.positions))
    assert float(e) == pytest.approx(ref.get_potential_energy(), abs=1e-8)
    np.testing.assert_allclose(f, ref.get_forces(), atol=1e-7)
    assert np.abs(ref.get_forces()).max() > 1e-2
    np.testing.assert_allclose(pot.masses, atoms.get_masses())


def test_ase_potential_accepts_atoms_that_carry_their_calculator():
    atoms = water(0.05)
    atoms.calc = tblite_ase.TBLite(method="GFN2-xTB", verbosity=0)  # not picklable: no deepcopy
    e_ref = atoms.get_potential_energy()
    pot = ase_potential(atoms.calc, atoms)
    assert float(pot.energy(jnp.asarray(atoms.positions))) == pytest.approx(e_ref, abs=1e-10)


def test_xtb_relaxes_water_like_ase():
    from ase.optimize import BFGS

    atoms = water(0.1, seed=1)
    pot = xtb_potential(atoms.numbers)
    res = minimize(pot, jnp.asarray(atoms.positions), "lbfgs", fmax=1e-3, max_steps=200)
    assert bool(res.converged) and pot.energy_fn.n_calls == int(res.n_force_calls)
    ref = atoms.copy()
    ref.calc = tblite_ase.TBLite(method="GFN2-xTB", verbosity=0)
    assert BFGS(ref, logfile=None).run(fmax=1e-3, steps=200)
    assert float(res.energy) == pytest.approx(ref.get_potential_energy(), abs=1e-5)


def test_pyscf_hf_matches_pyscf_and_finite_differences():
    from pyscf import gto, scf

    atoms = water(0.05, seed=2)
    pot = pyscf_potential(atoms.get_chemical_symbols(), "hf/3-21g")
    R = np.asarray(atoms.positions)
    e, f = pot.energy_and_forces(jnp.asarray(R))
    mol = gto.M(atom=[(s, x) for s, x in zip(atoms.get_chemical_symbols(), R)], basis="3-21g", verbose=0)
    assert float(e) == pytest.approx(scf.RHF(mol).kernel() * Hartree, abs=1e-6)
    h = 1e-3  # central differences of the energy for two force components
    for atom, axis in [(0, 2), (1, 1)]:
        Rp, Rm = R.copy(), R.copy()
        Rp[atom, axis] += h
        Rm[atom, axis] -= h
        fd = -(float(pot.energy(jnp.asarray(Rp))) - float(pot.energy(jnp.asarray(Rm)))) / (2 * h)
        assert float(f[atom, axis]) == pytest.approx(fd, abs=1e-4)  # O(h^2) truncation ~4e-5


def test_xtb_and_pyscf_potentials_share_one_trace_and_keep_their_own_calculator():
    """PySCF's energy (a HostEnergy subclass with a host-side Hessian) and GFN2-xTB's on the
    same atom count: one trace of a jitted function serves both (so find_reaction compiles
    its solvers once for both), and each call reaches its own calculator, run here directly."""
    from pyscf import gto, scf

    atoms = water(0.05, seed=3)
    R = np.asarray(atoms.positions)
    symbols = atoms.get_chemical_symbols()
    traces = []

    @jax.jit
    def energy(potential, R):
        traces.append(1)
        return potential.energy(R)

    e_xtb = float(energy(xtb_potential(symbols), jnp.asarray(R)))
    e_hf = float(energy(pyscf_potential(symbols, "hf/3-21g"), jnp.asarray(R)))
    assert len(traces) == 1
    ref = atoms.copy()
    ref.calc = tblite_ase.TBLite(method="GFN2-xTB", verbosity=0)
    assert e_xtb == pytest.approx(ref.get_potential_energy(), abs=1e-8)
    mol = gto.M(atom=[(s, x) for s, x in zip(symbols, R)], basis="3-21g", verbose=0)
    assert e_hf == pytest.approx(scf.RHF(mol).kernel() * Hartree, abs=1e-6)


def test_pyscf_open_shell_dft():
    from pyscf import dft, gto

    R = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.98]])
    pot = pyscf_potential(["O", "H"], "b3lyp/sto-3g", multiplicity=2)
    mol = gto.M(atom=[("O", R[0]), ("H", R[1])], basis="sto-3g", spin=1, verbose=0)
    mf = dft.UKS(mol)
    mf.xc = "b3lyp"
    # 1e-5 eV: the gradient scanner and a plain UKS agree to ~4e-8 Hartree (SCF and grid tolerances)
    assert float(pot.energy(jnp.asarray(R))) == pytest.approx(mf.kernel() * Hartree, abs=1e-5)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: xtb_potential([8, 1, 1], "gfn3"), "unknown xTB method"),
        (lambda: xtb_potential([87, 1], multiplicity=1, charge=1), "no parameters for element Fr"),
        (lambda: xtb_potential([8, 1]), "odd number of electrons (9)"),
        (lambda: xtb_potential([8, 1, 1], multiplicity=2), "even number of electrons (10)"),
        (lambda: pyscf_potential([8, 1, 1], "nosuch/3-21g"), "unknown PySCF method 'nosuch'"),
        (lambda: pyscf_potential([8, 1, 1], "hf/nosuch-basis"), "basis 'nosuch-basis'"),
        (lambda: pyscf_potential([86, 1], "hf/3-21g", multiplicity=2), "not found for Rn"),
        (lambda: pyscf_potential([8, 1], "hf/3-21g"), "odd number of electrons (9)"),
        (lambda: pyscf_potential([8, 1, 1], "hf"), "METHOD/BASIS"),
    ],
)
def test_bad_calculator_input_is_one_line_value_error(build, message):
    with pytest.raises(ValueError) as err:
        build()
    assert message in str(err.value) and "\n" not in str(err.value)


# ---- batched host evaluation ----------------------------------------------------------------
@pytest.mark.parametrize("workers", [1, 2])
def test_vmap_is_one_host_call_with_exact_counts(workers):
    atoms = water()
    pot = xtb_potential(atoms.numbers, workers=workers)
    batch = jnp.stack([jnp.asarray(water(0.05, seed=k).positions) for k in range(5)])
    e, f = jax.jit(jax.vmap(lambda R: pot.energy_and_forces(R)))(batch)
    assert pot.energy_fn.n_calls == 5 and pot.energy_fn.n_host_calls == 1
    single = xtb_potential(atoms.numbers)
    for k in range(5):
        e_k, f_k = single.energy_and_forces(batch[k])
        assert float(e[k]) == pytest.approx(float(e_k), abs=1e-9)
        np.testing.assert_allclose(f[k], f_k, atol=1e-8)
    # nested vmap (e.g. a batch of bands): still one host call, every configuration counted
    g = jax.jit(jax.vmap(jax.vmap(jax.grad(lambda R: pot.energy(R)))))(jnp.stack([batch, batch + 0.01]))
    assert g.shape == (2, 5, 3, 3) and pot.energy_fn.n_calls == 15 and pot.energy_fn.n_host_calls == 2
    np.testing.assert_allclose(g[0], -f, atol=1e-8)


def test_ase_factory_workers_and_instance_rules():
    from ase.calculators.emt import EMT

    atoms = Atoms("Cu3", positions=[[0, 0, 0], [2.5, 0, 0], [0, 2.5, 0]])
    pot = ase_potential(EMT, atoms, workers=2)
    batch = jnp.stack([jnp.asarray(atoms.positions) * s for s in (0.98, 1.0, 1.02)])
    e = jax.vmap(lambda R: pot.energy(R))(batch)
    for k, s in enumerate((0.98, 1.0, 1.02)):
        ref = atoms.copy()
        ref.positions *= s
        ref.calc = EMT()
        assert float(e[k]) == pytest.approx(ref.get_potential_energy(), abs=1e-12)
    with pytest.raises(ValueError, match="factory"):
        ase_potential(EMT(), atoms, workers=2)


# ---- failing calculators --------------------------------------------------------------------
class FlakyHarmonic:
    """A harmonic well whose evaluations fail from call `fail_after` on: raising like an
    unconverged SCF (retries do not help), or only on first attempts (a retry helps)."""

    def __init__(self, fail_after, mode="raise"):
        self.fail_after, self.mode, self.calls = fail_after, mode, 0

    def __call__(self, R, attempt):
        self.calls += 1
        if self.calls > self.fail_after:
            if self.mode == "nan":
                return float("nan"), np.zeros_like(R)
            if self.mode == "raise" or attempt == 0:
                raise RuntimeError("SCF not converged in 250 cycles")
        d = R - np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
        return 0.5 * float(np.sum(d**2)), -d


@pytest.mark.parametrize("mode", ["raise", "nan"])
def test_failed_calculator_gives_result_code_and_keeps_last_geometry(mode):
    flaky = FlakyHarmonic(fail_after=4, mode=mode)
    pot = Potential(HostEnergy(lambda: flaky, 2, max_retries=1))
    R0 = jnp.array([[0.3, 0.2, 0.0], [1.4, -0.3, 0.1]])
    res = minimize(pot, R0, "fire", fmax=1e-6, max_steps=100)
    assert calculator_result(res.result, pot) == RESULTS.calculator_failed
    # the solver stopped at the last good point: finite, with the well's own energy there
    d = np.asarray(res.R) - np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    assert float(res.energy) == pytest.approx(0.5 * np.sum(d**2), abs=1e-12)
    assert float(res.energy) < float(0.5 * np.sum((np.asarray(R0) - [[0, 0, 0], [1, 0, 0]]) ** 2))
    assert int(res.n_force_calls) == 5  # every call counted, the failed one too
    failures = pot.energy_fn.failures
    assert len(failures) == 1 and ("SCF not converged" in failures[0] or "non-finite" in failures[0])
    assert pot.energy_fn.n_retries == 1
    assert flaky.calls == 6  # 4 good, then one failed call and its retry


def test_failed_calculator_in_a_band_keeps_the_last_good_band():
    from jaxrxn.path import linear, neb

    flaky = FlakyHarmonic(fail_after=9, mode="raise")  # the 5-image start, one step, then 2 fail
    pot = Potential(HostEnergy(lambda: flaky, 2, max_retries=0))
    A = jnp.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    band = linear(A, A.at[1, 0].set(1.6), 5).at[1:-1, 0, 1].add(0.2)
    res = neb(pot, band, fmax=1e-6, max_steps=50)
    assert calculator_result(res.result, pot) == RESULTS.calculator_failed
    assert np.all(np.isfinite(np.asarray(res.path))) and np.all(np.isfinite(np.asarray(res.energies)))
    # one host call per band evaluation; every image counted, the failed ones too
    assert pot.energy_fn.n_host_calls == 3 and pot.energy_fn.n_calls == 5 + 3 + 3 == int(res.n_force_calls)
    assert len(pot.energy_fn.failures) == 2


def test_retry_that_helps_is_invisible_to_the_solver():
    flaky = FlakyHarmonic(fail_after=2, mode="first-attempt")
    pot = Potential(HostEnergy(lambda: flaky, 2, max_retries=2))
    res = minimize(pot, jnp.array([[0.3, 0.2, 0.0], [1.4, -0.3, 0.1]]), "lbfgs", fmax=1e-6, max_steps=100)
    assert bool(res.converged) and calculator_result(res.result, pot) == RESULTS.successful
    assert pot.energy_fn.failures == [] and pot.energy_fn.n_retries >= 1
    assert pot.energy_fn.n_calls == int(res.n_force_calls)


class SlowHarmonic(FlakyHarmonic):
    """The harmonic well of :class:`FlakyHarmonic` at `seconds` per evaluation (a struggling SCF)."""

    def __init__(self, seconds):
        super().__init__(fail_after=10**9)
        self.seconds = seconds

    def __call__(self, R, attempt):
        time.sleep(self.seconds)
        return super().__call__(R, attempt)


def test_time_limit_stops_a_run_on_a_slow_calculator_and_says_so():
    R0 = jnp.array([[0.3, 0.2, 0.0], [1.4, -0.3, 0.1]])
    run = lambda pot: minimize(pot, R0, "fire", fmax=1e-8, max_steps=400)  # noqa: E731  (~100 steps)
    fast = HostEnergy(lambda: SlowHarmonic(0.0), 2, handle_in_params=True).potential()
    assert bool(run(fast).converged)  # and compiles the run, so the limit below times only the calculator
    slow = SlowHarmonic(0.05)
    pot = HostEnergy(lambda: slow, 2, handle_in_params=True).potential()
    with time_limit(pot, 0.5):
        res = run(pot)
    assert not bool(res.converged) and calculator_result(res.result, pot) == RESULTS.time_limit_reached
    assert pot.energy_fn.failures[0] == "time limit of 0.5 s reached"
    # the limit is told by the message's type: a calculator's own message worded alike is its failure
    assert failure_result(pot.energy_fn.failures)[0] == RESULTS.time_limit_reached
    assert failure_result(["time limit of 0.5 s reached"])[0] == RESULTS.calculator_failed
    assert 2 <= slow.calls <= 0.5 / 0.05 + 1  # it worked until the limit, then stopped asking
    assert np.all(np.isfinite(np.asarray(res.R))) and int(res.n_force_calls) == slow.calls + 1
    # outside the block the calculator answers again
    assert bool(minimize(pot, res.R, "lbfgs", fmax=1e-6, max_steps=50).converged)
    with pytest.raises(ValueError, match="positive"):
        time_limit(pot, 0).__enter__()
    with pytest.raises(ValueError, match="outside calculators"):
        time_limit(Potential(lambda R, system=None, params=None: jnp.sum(R**2)), 1.0)


def test_reaction_progress_names_the_calculator_retries_of_each_stage():
    from jaxrxn import find_reaction

    flaky = FlakyHarmonic(fail_after=2, mode="first-attempt")  # from the 3rd call on, only retries succeed
    pot = HostEnergy(lambda: flaky, 2, max_retries=1, handle_in_params=True).potential()
    lines: list[str] = []
    R0 = jnp.array([[0.3, 0.2, 0.0], [1.4, -0.3, 0.1]])
    find_reaction(R0, R0.at[1, 0].add(0.3), pot, progress=lines.append)  # one well: it fails after relaxing
    relax = next(line for line in lines if line.startswith("relax:"))
    assert pot.energy_fn.n_retries > 0 and f", {pot.energy_fn.n_retries} calculator retries," in relax, lines


class Ticking(FlakyHarmonic):
    """:class:`FlakyHarmonic`'s well advancing a :func:`ticking_clock` one second per evaluation."""

    def __init__(self, clock):
        super().__init__(fail_after=10**9)
        self.clock = clock

    def __call__(self, R, attempt):
        self.clock[0] += 1.0
        return super().__call__(R, attempt)


class TickingDoubleWell:
    """A bond with minima at 1.0 and 1.5 Å and a 1 eV barrier between (a band has work to
    do), advancing a :func:`ticking_clock` one second per evaluation."""

    def __init__(self, clock):
        self.clock = clock

    def __call__(self, R, attempt):
        self.clock[0] += 1.0
        d = R[1] - R[0]
        r = float(np.linalg.norm(d))
        c = 1.0 / 0.25**4
        u = (r - 1.0) * (r - 1.5)
        dE = 2 * c * u * (2 * r - 2.5) * d / r  # dE/dR of atom 1; atom 0 gets minus it
        return c * u**2, np.stack([dE, -dE])


def ticking_clock(monkeypatch) -> list[float]:
    """The bridge's clock made a counter that :class:`Ticking` advances, so a time limit
    falls on a known call, whatever compiling takes."""
    from types import SimpleNamespace

    from jaxrxn.potentials import external

    clock = [0.0]
    monkeypatch.setattr(external, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    return clock


def test_time_limit_ends_the_reaction_pipeline_where_it_is_reached(monkeypatch):
    """A first attempt (the interpolation's highest image) stopped by the limit ends the
    pipeline there, with ``time_limit_reached``, instead of going on to a band that could
    not get an answer either."""
    from jaxrxn import find_reaction
    from jaxrxn.system import System

    clock = ticking_clock(monkeypatch)
    pot = HostEnergy(lambda: Ticking(clock), 2, handle_in_params=True).potential(System([1, 1]))
    R0 = jnp.array([[0.0, 0.0, 0.0], [0.9, 0.0, 0.0]])
    with time_limit(pot, 11.5):  # end states (2) and the band's 6 inner images, then 3 saddle steps
        out = find_reaction(R0, R0.at[1, 0].set(1.2), pot, relax=False, refine_interpolation_max=True)
    assert out.failed_stage == "saddle" and "neb" not in out.n_force_calls_by_stage, out.n_force_calls_by_stage
    assert out.message == f"{RESULTS[RESULTS.time_limit_reached]} (time limit of 11.5 s reached)"
    # the 12th call was asked for at 11 "s", the 13th after the limit; the last good geometry is kept
    assert not out.converged and pot.energy_fn.n_calls == 12 and np.all(np.isfinite(out.R_ts))


# ---- command line -----------------------------------------------------------------------
def test_cli_batch_time_limit_is_each_reactions_and_a_stopped_one_runs_again(tmp_path, capsys, monkeypatch):
    from jaxrxn import calculators

    clock = ticking_clock(monkeypatch)
    monkeypatch.setitem(calculators._REGISTRY, "ticking", lambda arg, R, system: HostEnergy(lambda: TickingDoubleWell(clock), 2, handle_in_params=True).potential(system))
    for name, d in (("a", 1.0), ("b", 1.5), ("c", 1.5)):
        write(str(tmp_path / f"{name}.xyz"), Atoms("H2", positions=[[0.0, 0.0, 0.0], [d, 0.0, 0.0]]))
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("a.xyz b.xyz\na.xyz c.xyz\n")
    argv = ["reaction", "--batch", str(pairs), "--calc", "ticking", "--no-relax", "--time-limit", "11.5", "--json"]
    assert main(argv) == 1
    reports = json.loads(capsys.readouterr().out)
    assert all("time limit of 11.5 s reached" in r["message"] and not r["converged"] for r in reports)
    # each reaction had its own 11.5 s: the end states' 2 energies, the band's first
    # evaluation (8 images, asked for at 2 s) and its next (6 inner images, at 10 s); the one
    # asked for at 16 s fails. One limit for the whole batch would leave the second reaction
    # no call at all (16 in all).
    per_reaction = 2 + 8 + 6
    assert clock[0] == 2 * per_reaction
    checkpoint = json.loads((tmp_path / "pairs.txt.checkpoint.json").read_text())
    assert [entry.get("time_limited") for entry in checkpoint.values()] == [True, True]
    assert main(argv) == 1  # the next run runs them again: the checkpoint holds no answer for them
    assert clock[0] == 4 * per_reaction and "from the checkpoint" not in capsys.readouterr().err
    # a padded batch on a JAX potential is bounded by its step caps
    assert main(["reaction", "--batch", str(pairs), "--calc", "lj", "--no-relax", "--time-limit", "5", "--checkpoint", str(tmp_path / "lj.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "time_limit is for outside calculators" in err[0]


def test_cli_energy_with_xtb_charge_and_multiplicity(tmp_path, capsys):
    fn = str(tmp_path / "oh.xyz")
    atoms = Atoms("OH", positions=[[0, 0, 0], [0, 0, 0.98]])
    write(fn, atoms)
    assert main(["energy", fn, "--calc", "xtb", "--mult", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.splitlines()[0])
    ref = atoms.copy()
    ref.calc = tblite_ase.TBLite(method="GFN2-xTB", multiplicity=2, verbosity=0)
    assert out["energy"] == pytest.approx(ref.get_potential_energy(), abs=1e-8)
    assert main(["energy", fn, "--calc", "xtb:gfn1", "--charge", "-1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.splitlines()[0])
    ref.calc = tblite_ase.TBLite(method="GFN1-xTB", charge=-1, verbosity=0)
    assert out["energy"] == pytest.approx(ref.get_potential_energy(), abs=1e-8)


@pytest.mark.parametrize(
    "calc, extra, message",
    [
        (["xtb:gfn7"], [], "unknown xTB method"),
        (["xtb"], [], "odd number of electrons"),
        (["pyscf:hf/nosuch-basis"], ["--mult", "2"], "basis 'nosuch-basis'"),
        (["pyscf:nosuchxc/3-21g"], ["--mult", "2"], "unknown PySCF method"),
        (["lj"], ["--charge", "1"], "no electrons"),
    ],
)
def test_cli_bad_calculator_exit_2_one_line(tmp_path, capsys, calc, extra, message):
    fn = str(tmp_path / "oh.xyz")
    write(fn, Atoms("OH", positions=[[0, 0, 0], [0, 0, 0.98]]))
    assert main(["energy", fn, "--calc", *calc, *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_cli_saddle_xtb_json_reports_frequency_like_ase(tmp_path, capsys):
    from ase.io import read
    from ase.vibrations import Vibrations as ASEVibrations

    out, guess = str(tmp_path / "ts.xyz"), str(tmp_path / "guess.xyz")
    # Baker & Chan's HCN -> HNC guess (J. Comput. Chem. 17, 888 (1996), case 01)
    write(guess, Atoms("CNH", positions=[[0, 0, 0], [0, 0, 1.14838], [1.58536, 0, 1.14838]]))
    assert main(["saddle", guess, "--calc", "xtb", "--json", "--output", out]) == 0
    report = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert {"energy", "converged", "saddle_index", "n_force_calls", "n_hessian_calls", "imaginary_frequency_cm1"} <= set(report)
    assert report["converged"] and report["saddle_index"] == 1 and report["n_hessian_calls"] == 0
    assert report["n_force_calls"] >= 18  # the frequency analysis alone spends 2 per coordinate
    ts = read(out)
    ts.calc = tblite_ase.TBLite(method="GFN2-xTB", verbosity=0)
    assert ts.get_potential_energy() == pytest.approx(report["energy"], abs=1e-6)
    vib = ASEVibrations(ts, name=str(tmp_path / "vib"), delta=0.01, nfree=2)
    vib.run()
    f = vib.get_frequencies()
    assert abs(f[0].imag) > 500 and abs(f[1:].imag).max() < 50  # one clearly imaginary mode
    assert report["imaginary_frequency_cm1"] == pytest.approx(-abs(f[0].imag), abs=2.0)
    from ase.optimize import BFGS

    # the IRC through an outside calculator (first step along the harmonic analysis' mode)
    # ends at HCN and HNC: minima relaxed independently by ASE's BFGS on tblite's calculator
    assert main(["irc", out, "--calc", "xtb", "--json", "-q"]) == 0
    irc_report = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert irc_report["n_force_calls"] > 18  # the mode's Hessian (2 per coordinate) is counted
    assert irc_report["n_hessian_calls"] == 0  # xTB has no analytic Hessian: finite differences
    assert irc_report["energy"] == pytest.approx(report["energy"], abs=1e-8)
    ends = []
    for symbols, z in (("CNH", [0.0, 1.16, -1.07]), ("NCH", [0.0, 1.17, -1.0])):
        m = Atoms(symbols, positions=[[0, 0, z[0]], [0, 0, z[1]], [0.05, 0, z[2]]])
        m.calc = tblite_ase.TBLite(method="GFN2-xTB", verbosity=0)
        BFGS(m, logfile=None).run(fmax=1e-3)
        ends.append(m.get_potential_energy())
    # HNC is the higher minimum: the IRC's forward/reverse naming depends on the mode's sign
    got = sorted([irc_report["energy_forward"], irc_report["energy_reverse"]])
    assert got == pytest.approx(sorted(ends), abs=2e-3)
    # exit 1: not converged in 1 step; exit 2: a radical given multiplicity 1
    assert main(["saddle", guess, "--calc", "xtb", "--max-steps", "1", "--json"]) == 1
    capsys.readouterr()
    write(guess, Atoms("CH3O", positions=[[0, 0, 0], [1.09, 0, 0], [-0.4, 1.0, 0], [-0.4, -0.5, 0.9], [-0.4, -0.5, -0.9]]))
    assert main(["saddle", guess, "--calc", "xtb"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "odd number of electrons" in err[0]


def test_cli_calculator_failure_exit_1_one_line_and_last_good_geometry(tmp_path, capsys, monkeypatch):
    from ase.io import read

    from jaxrxn import calculators

    flaky = FlakyHarmonic(fail_after=6, mode="raise")
    monkeypatch.setitem(calculators._REGISTRY, "flaky", lambda arg, R, system: Potential(HostEnergy(lambda: flaky, 2, max_retries=1)))
    guess, out = str(tmp_path / "guess.xyz"), str(tmp_path / "out.xyz")
    write(guess, Atoms("H2", positions=[[0.3, 0.2, 0.0], [1.4, -0.3, 0.1]]))
    assert main(["saddle", guess, "--calc", "flaky", "--method", "dimer", "--output", out, "--json"]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "calculator failed" in err[0] and "SCF not converged" in err[0]
    report = json.loads(captured.out.splitlines()[-1])
    assert report["converged"] is False and "outside calculator failed" in report["result"]
    kept = read(out).positions
    d = kept - np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    assert np.all(np.isfinite(kept)) and report["energy"] == pytest.approx(0.5 * np.sum(d**2), abs=1e-9)


def test_cli_time_limit_ends_the_run_with_exit_1_and_refuses_what_it_cannot_bound(tmp_path, capsys, monkeypatch):
    from jaxrxn import calculators

    monkeypatch.setitem(calculators._REGISTRY, "slow", lambda arg, R, system: Potential(HostEnergy(lambda: SlowHarmonic(0.05), 2)))
    guess = str(tmp_path / "guess.xyz")
    write(guess, Atoms("H2", positions=[[0.3, 0.2, 0.0], [1.4, -0.3, 0.1]]))
    # a harmonic well has no saddle: without the limit the dimer would climb for 400 steps (20 s)
    assert main(["saddle", guess, "--calc", "slow", "--method", "dimer", "--max-steps", "400", "--time-limit", "0.5", "--json"]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "time limit of 0.5 s reached" in err[0]
    report = json.loads(captured.out.splitlines()[-1])
    assert report["converged"] is False and report["calculator_failure"] == "time limit of 0.5 s reached"
    assert report["result"].startswith("The run's time limit") and err[0].startswith("jaxrxn: time limit of 0.5 s reached;")
    for argv, message in (
        (["saddle", guess, "--calc", "slow", "--time-limit", "0"], "positive number of seconds"),
        (["saddle", guess, "--calc", "lj", "--time-limit", "5"], "JAX potential"),
    ):
        try:
            code = main(argv)
        except SystemExit as parser_exit:  # argparse's own errors exit from the parser
            code = parser_exit.code
        assert code == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err


def test_cli_json_stays_strict_json_when_the_calculator_never_answered(tmp_path, capsys, monkeypatch):
    from jaxrxn import calculators

    def strict(text):  # json.loads alone would accept NaN, which jq and JSON.parse refuse
        return json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))

    monkeypatch.setitem(calculators._REGISTRY, "broken", lambda arg, R, system: Potential(HostEnergy(lambda: FlakyHarmonic(0), 2, max_retries=0)))
    guess = str(tmp_path / "guess.xyz")
    write(guess, Atoms("H2", positions=[[0.3, 0.2, 0.0], [1.4, -0.3, 0.1]]))
    assert main(["saddle", guess, "--calc", "broken", "--method", "dimer", "--json"]) == 1
    report = strict(capsys.readouterr().out.splitlines()[-1])
    assert report["converged"] is False and report["energy"] is None and report["fmax"] is None
    # energy: the failed frame is printed with nulls and named on stderr, exit 1
    assert main(["energy", guess, "--calc", "broken", "--json"]) == 1
    captured = capsys.readouterr()
    report = strict(captured.out.splitlines()[-1])
    assert report["energy"] is None and report["forces"] == [[None] * 3] * 2 and "SCF not converged" in report["calculator_failure"]
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "no energy for frame(s) 0" in err[0]
