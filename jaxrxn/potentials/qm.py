"""Quantum-chemistry potentials: GFN2-xTB/GFN1-xTB (tblite) and Hartree-Fock/DFT (PySCF).

Both run on the host through :class:`~jaxrxn.potentials.external.HostEnergy`, so every
jaxrxn method (minimisation, NEB, saddle searches, IRC, MD, exploration) uses them unchanged,
a band's images are evaluated concurrently, and failed SCFs are retried and then reported
(``RESULTS.calculator_failed``). Energies are in eV and forces in eV/Å (ASE's units), so
numbers agree with ``tblite.ase.TBLite`` and ASE's PySCF interfaces.

References: GFN2-xTB, C. Bannwarth, S. Ehlert, S. Grimme, J. Chem. Theory Comput. 15, 1652
(2019); GFN1-xTB, S. Grimme, C. Bannwarth, P. Shushkov, J. Chem. Theory Comput. 13, 1989
(2017); PySCF, Q. Sun et al., J. Chem. Phys. 153, 024109 (2020).

tblite and pyscf are imported only when a potential is built.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jaxrxn.potentials.core import Potential
from jaxrxn.potentials.external import HostEnergy

#: method spellings accepted by :func:`xtb_potential` -> tblite's name
XTB_METHODS = {"gfn2": "GFN2-xTB", "gfn2-xtb": "GFN2-xTB", "gfn1": "GFN1-xTB", "gfn1-xtb": "GFN1-xTB"}
#: heaviest element with GFN1/GFN2 parameters (radon)
XTB_MAX_Z = 86
_HF = ("hf", "rhf", "uhf")


def _units():
    from ase.units import Bohr, Hartree

    return Hartree, Bohr


def atomic_numbers(numbers: Sequence[int | str] | np.ndarray) -> np.ndarray:
    """Atomic numbers from numbers or chemical symbols; ``ValueError`` for unknown ones."""
    from ase.data import atomic_numbers as by_symbol

    out = []
    for x in np.asarray(numbers).reshape(-1).tolist():
        if isinstance(x, str):
            if x not in by_symbol or by_symbol[x] == 0:
                raise ValueError(f"unknown element {x!r}.")
            out.append(by_symbol[x])
        else:
            out.append(int(x))
    if not out:
        raise ValueError("a molecule needs at least one atom.")
    return np.asarray(out, int)


def check_charge_multiplicity(numbers: np.ndarray, charge: int, multiplicity: int) -> int:
    """Number of electrons of the molecule; ``ValueError`` if `charge` and `multiplicity`
    (2S+1) are impossible together (negative electron count, more unpaired electrons than
    electrons, or an electron count whose parity does not match the multiplicity)."""
    if int(charge) != charge or int(multiplicity) != multiplicity or multiplicity < 1:
        raise ValueError(f"charge must be an integer and multiplicity a positive integer, got {charge} and {multiplicity}.")
    n_electrons = int(np.sum(numbers)) - int(charge)
    unpaired = int(multiplicity) - 1
    if n_electrons < 0 or unpaired > n_electrons:
        raise ValueError(
            f"charge {charge} and multiplicity {multiplicity} are impossible: {n_electrons} "
            f"electrons cannot have {unpaired} unpaired."
        )
    if (n_electrons - unpaired) % 2:
        parity, needs = ("odd", "an even") if n_electrons % 2 else ("even", "an odd")
        raise ValueError(
            f"charge {charge} and multiplicity {multiplicity} are impossible: an {parity} number "
            f"of electrons ({n_electrons}) needs {needs} multiplicity."
        )
    return n_electrons


def _molecule(numbers, charge: int, multiplicity: int, fixed, masses):
    """The :class:`~jaxrxn.System` of a free molecule: atomic numbers, masses (amu; default
    the standard ones), fixed atoms, total charge and multiplicity, so that methods that need
    the elements (geodesic interpolation, bond graphs, harmonic analysis) read them from the
    potential like from any other."""
    from jaxrxn.system import System

    return System(numbers, masses=masses, fixed=fixed, charge=charge, multiplicity=multiplicity)


# ---- GFN-xTB through tblite ---------------------------------------------------------------
class XTBEvaluator:
    """One tblite calculator for one molecule: ``(R Å, attempt) -> (E eV, F eV/Å)``.

    Every evaluation starts from tblite's atomic guess, so a configuration's energy and forces
    do not depend on what the worker computed before (restarting from the previous
    wavefunction saves ~30% of the time but moves forces by ~1e-5 eV/Å depending on the
    history, which concurrent workers and finite-difference Hessians cannot afford). A retry
    (``attempt > 0``) uses twice (four times, ...) the SCF iterations and a smaller mixer
    damping. Picklable (process workers rebuild it).
    """

    def __init__(self, numbers, method: str, charge: int, multiplicity: int, options: dict):
        self.numbers = np.asarray(numbers)
        self.method, self.charge, self.multiplicity = method, charge, multiplicity
        self.options = dict(options)
        self._calc = None

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_calc"} | {"_calc": None}

    def _new(self, positions_bohr, attempt: int):
        from tblite.interface import Calculator

        calc = Calculator(
            self.method, self.numbers, positions_bohr, charge=float(self.charge),
            uhf=int(self.multiplicity) - 1,
        )  # fmt: skip
        calc.set("verbosity", 0)
        opts = dict(self.options)
        from ase.units import kB

        opts["temperature"] = opts["temperature"] * kB / _units()[0]  # K -> Hartree, as TBLite
        if attempt:
            opts["max-iter"] = int(opts.get("max-iter", 250)) * 2**attempt
            opts["mixer-damping"] = float(opts.get("mixer-damping", 0.4)) / 2**attempt
        for key, value in opts.items():
            calc.set(key, value)
        return calc

    def __call__(self, R: np.ndarray, attempt: int):
        hartree, bohr = _units()
        x = np.asarray(R, float) / bohr
        if attempt or self._calc is None:
            self._calc = self._new(x, attempt)
        else:
            self._calc.update(x)
        try:
            res = self._calc.singlepoint()
        except Exception:
            self._calc = None  # the next call starts clean
            raise
        return res.get("energy") * hartree, -res.get("gradient") * (hartree / bohr)


def xtb_potential(
    numbers: Sequence[int | str] | np.ndarray,
    method: str = "gfn2",
    *,
    charge: int = 0,
    multiplicity: int = 1,
    electronic_temperature: float = 300.0,
    accuracy: float = 1.0,
    max_iterations: int = 250,
    workers: int = 1,
    executor: str = "thread",
    max_retries: int = 2,
    fixed=None,
    masses=None,
) -> Potential:
    """GFN2-xTB or GFN1-xTB (tblite) for the molecule with atomic `numbers`.

    **Arguments:**

    - `numbers`: atomic numbers or symbols ``(n_atoms,)``; configurations are ``(n_atoms, 3)`` Å.
    - `method`: ``"gfn2"`` (default) or ``"gfn1"`` (``"GFN2-xTB"`` spellings also accepted).
    - `charge`, `multiplicity`: total charge (e) and spin multiplicity 2S+1.
    - `electronic_temperature` (K), `accuracy`, `max_iterations`: tblite's SCC settings
      (defaults as ``tblite.ase.TBLite``).
    - `workers`, `executor`, `max_retries`: concurrency and retries of
      :class:`~jaxrxn.potentials.external.HostEnergy`.
    - `fixed`, `masses` (amu; default: standard atomic masses): as :class:`Potential`.

    Raises ``ValueError`` for an unknown method, an element without parameters (Z > 86) or an
    impossible charge/multiplicity. ``potential.energy_fn.n_calls`` counts xTB evaluations.
    """
    key = method.lower()
    if key not in XTB_METHODS:
        raise ValueError(f"unknown xTB method {method!r}; use gfn2 or gfn1.")
    Z = atomic_numbers(numbers)
    if Z.min() < 1 or Z.max() > XTB_MAX_Z:
        from ase.data import chemical_symbols

        bad = next(int(z) for z in Z if z < 1 or z > XTB_MAX_Z)
        name = chemical_symbols[bad] if 0 < bad < len(chemical_symbols) else f"Z={bad}"
        raise ValueError(f"{XTB_METHODS[key]} has no parameters for element {name} (only Z = 1-{XTB_MAX_Z}).")
    check_charge_multiplicity(Z, charge, multiplicity)
    options = {"temperature": float(electronic_temperature), "accuracy": accuracy, "max-iter": max_iterations}
    evaluator = XTBEvaluator(Z, XTB_METHODS[key], int(charge), int(multiplicity), options)
    energy_fn = HostEnergy(
        _Fresh(evaluator), len(Z), workers=workers, executor=executor, max_retries=max_retries,
        name=f"{XTB_METHODS[key]} calculator", handle_in_params=True,
    )  # fmt: skip
    return energy_fn.potential(_molecule(Z, charge, multiplicity, fixed, masses))


class _Fresh:
    """Evaluator factory: an independent copy of a template evaluator per worker."""

    def __init__(self, template):
        self.template = template

    def __call__(self):
        import copy

        return copy.deepcopy(self.template)


# ---- Hartree-Fock / DFT through PySCF -------------------------------------------------------
def parse_method(method: str) -> tuple[str, str]:
    """``"b3lyp/def2-svp"`` -> ``("b3lyp", "def2-svp")``; ``ValueError`` without a basis."""
    name, sep, basis = method.partition("/")
    if not sep or not name.strip() or not basis.strip():
        raise ValueError(f"PySCF method {method!r} needs the form METHOD/BASIS, e.g. hf/3-21g or b3lyp/def2-svp.")
    return name.strip().lower(), basis.strip().lower()


class PySCFEvaluator:
    """One PySCF gradient scanner: ``(R Å, attempt) -> (E eV, F eV/Å)``.

    Restricted (RHF/RKS) for singlets, unrestricted (UHF/UKS) otherwise. The scanner starts
    each SCF from the previous density; a retry (``attempt > 0``) starts from a fresh
    atomic guess with more cycles and a level shift, and the second-order (Newton) solver
    from the second retry on. Raises on an unconverged SCF (so that it is retried).
    """

    def __init__(self, numbers, method: str, basis: str, charge: int, multiplicity: int, options: dict):
        self.numbers = np.asarray(numbers)
        self.method, self.basis = method, basis
        self.charge, self.multiplicity = charge, multiplicity
        self.options = dict(options)
        self._scanner = None

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_scanner"} | {"_scanner": None}

    def molecule(self, R: np.ndarray):
        from pyscf import gto

        return gto.M(
            atom=[(int(z), tuple(map(float, x))) for z, x in zip(self.numbers, R)], unit="Angstrom",
            basis=self.basis, charge=self.charge, spin=self.multiplicity - 1, verbose=0,
        )  # fmt: skip

    def mean_field(self, mol, attempt: int = 0):
        """The SCF object (not run) for `mol`."""
        from pyscf import dft, scf

        restricted = self.multiplicity == 1
        if self.method in _HF:
            kind = {"rhf": scf.RHF, "uhf": scf.UHF}.get(self.method, scf.RHF if restricted else scf.UHF)
            mf = kind(mol)
        else:
            mf = (dft.RKS if restricted else dft.UKS)(mol)
            mf.xc = self.method
        mf.conv_tol = self.options.get("conv_tol", 1e-9)
        mf.max_cycle = self.options.get("max_cycle", 100) * (1 + attempt)
        if attempt:
            mf.level_shift = 0.2
        if attempt >= 2:
            mf = mf.newton()
        return mf

    def __call__(self, R: np.ndarray, attempt: int):
        hartree, bohr = _units()
        R = np.asarray(R, float)
        if attempt or self._scanner is None:
            self._scanner = self.mean_field(self.molecule(R), attempt).nuc_grad_method().as_scanner()
        mol = self._scanner.mol.set_geom_(R, unit="Angstrom", inplace=False)
        e, g = self._scanner(mol)
        if not self._scanner.converged:
            self._scanner = None
            raise RuntimeError(f"SCF not converged ({self.method}/{self.basis})")
        return e * hartree, -np.asarray(g) * (hartree / bohr)


def pyscf_potential(
    numbers: Sequence[int | str] | np.ndarray,
    method: str = "hf/3-21g",
    *,
    charge: int = 0,
    multiplicity: int = 1,
    conv_tol: float = 1e-9,
    max_cycle: int = 100,
    workers: int = 1,
    executor: str = "thread",
    max_retries: int = 2,
    fixed=None,
    masses=None,
) -> Potential:
    """Hartree-Fock or Kohn-Sham DFT (PySCF) for the molecule with atomic `numbers`.

    **Arguments:**

    - `numbers`: atomic numbers or symbols ``(n_atoms,)``; configurations are ``(n_atoms, 3)`` Å.
    - `method`: ``"METHOD/BASIS"``: METHOD is ``hf`` (``rhf``/``uhf`` to force one) or any
      libxc functional PySCF knows (``b3lyp``, ``pbe``, ``wb97x``); BASIS any basis PySCF
      knows (``3-21g``, ``6-31g*``, ``def2-svp``, ``cc-pvdz``).
    - `charge`, `multiplicity`: total charge (e) and spin multiplicity 2S+1 (restricted for
      singlets, unrestricted otherwise).
    - `conv_tol` (Hartree), `max_cycle`: SCF convergence settings.
    - `workers`, `executor`, `max_retries`, `fixed`, `masses`: as :func:`xtb_potential`.

    Raises ``ValueError`` for a malformed or unknown method, an unknown basis, an element
    the basis does not cover, or an impossible charge/multiplicity.
    ``potential.energy_fn.hessian(R)`` gives PySCF's analytic Hessian (eV/Å²).
    """
    name, basis = parse_method(method)
    Z = atomic_numbers(numbers)
    check_charge_multiplicity(Z, charge, multiplicity)
    if name not in _HF:
        from pyscf.dft import libxc

        try:
            libxc.parse_xc(name)
        except KeyError:
            raise ValueError(f"unknown PySCF method {name!r}: neither hf nor a functional libxc knows.") from None
    evaluator = PySCFEvaluator(Z, name, basis, int(charge), int(multiplicity), {"conv_tol": conv_tol, "max_cycle": max_cycle})
    import warnings

    from pyscf.gto.basis import BasisNotFoundError

    try:
        with warnings.catch_warnings():  # PySCF suggests installing basis-set-exchange
            warnings.simplefilter("ignore")
            evaluator.molecule(np.zeros((len(Z), 3)) + np.arange(len(Z))[:, None])
    except BasisNotFoundError as err:
        text = str(err).strip().splitlines()[0]
        raise ValueError(f"basis {basis!r}: {text}.") from None
    energy_fn = PySCFEnergy(
        _Fresh(evaluator), len(Z), workers=workers, executor=executor, max_retries=max_retries,
        name=f"PySCF {name}/{basis} calculator", handle_in_params=True,
    )  # fmt: skip
    energy_fn.template = evaluator
    return energy_fn.potential(_molecule(Z, charge, multiplicity, fixed, masses))


class PySCFEnergy(HostEnergy):
    """:class:`HostEnergy` that can also give PySCF's analytic Hessian."""

    template: PySCFEvaluator
    n_hessian_calls: int = 0

    def hessian(self, R) -> np.ndarray:
        """Analytic Cartesian Hessian ``(3 n_atoms, 3 n_atoms)`` in eV/Å² at ``R`` (Å);
        counted in `n_hessian_calls` (its SCF is not counted in `n_calls`)."""
        hartree, bohr = _units()
        R = np.asarray(R, float)
        mf = self.template.mean_field(self.template.molecule(R))
        mf.kernel()
        if not mf.converged:
            raise RuntimeError(f"SCF not converged ({self.template.method}/{self.template.basis})")
        h = mf.Hessian().kernel()  # (n, n, 3, 3), Hartree/Bohr^2
        self.n_hessian_calls += 1
        n = len(R)
        return np.asarray(h).transpose(0, 2, 1, 3).reshape(3 * n, 3 * n) * (hartree / bohr**2)
