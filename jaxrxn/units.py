"""Units and physical constants: energies in eV, lengths in Å, masses in amu, time in fs,
temperatures in K.

One set of values for the whole package, CODATA 2018. Since the 2019 SI redefinition the
Boltzmann, Planck and Avogadro constants and the elementary charge are exact, so ``KB``,
``H`` and ``KJMOL_PER_EV`` are exact ratios, given here as CODATA prints them (ten digits;
CODATA 2022 and ``scipy.constants`` give the same values). ASE's ``ase.units`` still defaults to CODATA 2014, whose kB (8.6173303e-5
eV/K) is 3.4e-7 relative lower; jaxrxn's results differ from ASE's by that much where kB
enters.
"""

from __future__ import annotations

import math

_ELEMENTARY_CHARGE = 1.602176634e-19  # C, exact
_AVOGADRO = 6.02214076e23  # 1/mol, exact
_ATOMIC_MASS_UNIT = 1.66053906660e-27  # kg, CODATA 2018

#: Boltzmann constant, eV/K (k / e).
KB = 8.617333262e-5

#: Planck constant, eV s (h / e).
H = 4.135667696e-15

#: The time unit of (eV, Å, amu), Å·sqrt(amu/eV), in seconds (10.18 fs): the square root of
#: a Hessian eigenvalue in eV/(Å² amu) is an angular frequency in 1/(this unit).
TIME_UNIT_S = 1e-10 * math.sqrt(_ATOMIC_MASS_UNIT / _ELEMENTARY_CHARGE)

#: One femtosecond in that time unit (0.0982; ASE's ``units.fs``): MD integrates in it, so
#: ``F / m`` in eV/(Å·amu) is an acceleration.
FS = 1e-15 / TIME_UNIT_S

#: kJ/mol per eV (96.485).
KJMOL_PER_EV = _ELEMENTARY_CHARGE * _AVOGADRO / 1e3

#: One kcal/mol (thermochemical calorie, 4.184 J) in eV.
KCAL_PER_MOL = 4.184 / KJMOL_PER_EV

#: Bohr radius, Å (CODATA 2018).
BOHR = 0.529177210903
