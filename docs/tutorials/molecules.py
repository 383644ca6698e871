"""Molecules with quantum chemistry: HCN -> HNC from its two end states to a verified
transition state with GFN2-xTB (tblite), the same reaction at Hartree-Fock (PySCF), the
harmonic analysis at both stationary points, and bad input refused before any calculator
call.

    python docs/tutorials/molecules.py [FIGURE_DIR]      # default: docs/tutorials/figures

Needs tblite and PySCF (``pip install "jaxrxn[qm]"``; both are in ``[test]``).
"""

import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import jaxrxn  # noqa: E402
from jaxrxn.potentials.qm import pyscf_potential, xtb_potential  # noqa: E402
from jaxrxn.vibrations import vibrations  # noqa: E402

out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "figures")
out.mkdir(parents=True, exist_ok=True)

# end states of reaction 02_hcn of A. B. Birkholz & H. B. Schlegel, JCC 36, 1157 (2015):
# C, H, N in Å, as the benchmark set gives them (not yet minima at either level)
hcn = np.array([[-0.06691149, 0.03559170, -0.06792498], [0.03449593, 1.07179205, 0.03558137], [0.03241556, -1.10738375, 0.03234362]])
hnc = np.array([[-0.65518272, -0.57740142, -0.66558476], [0.58073853, 0.61739497, 0.59001319], [0.07444419, -0.03999355, 0.07557157]])
elements = ["C", "H", "N"]


def report(label: str, r: jaxrxn.ReactionResult, seconds: float) -> None:
    state = f"barrier {r.barrier:.4f} eV, {-r.imaginary_frequency_cm1:.0f}i cm^-1" if r.converged else f"NOT verified: {r.message}"
    print(f"{label}: {state}, verified from the {r.ts_source}, {r.n_force_calls} calculator calls "
          f"{r.n_force_calls_by_stage}, {seconds:.1f} s")  # fmt: skip


# --- 1. one call: relax both ends, align, interpolate (geodesic), refine the interpolation's
# highest image to a first-order saddle, check its frequencies, follow the IRC both ways
# and check that it ends in the two end states. Every calculator call is counted.
t = time.perf_counter()
xtb = xtb_potential(elements)  # GFN2-xTB; charge and multiplicity keywords as in xtb
gfn2 = jaxrxn.find_reaction(hcn, hnc, xtb)
report("GFN2-xTB", gfn2, time.perf_counter() - t)
print("  IRC ends against the relaxed end states (RMSD, Å):",
      {side: round(m["rmsd"], 4) for side, m in gfn2.irc_match.items() if side in ("initial", "final")})  # fmt: skip

# --- 2. the CI-NEB instead: the same saddle, from the band's climbing image, with more calls
t = time.perf_counter()
band = jaxrxn.find_reaction(hcn, hnc, xtb_potential(elements), refine_interpolation_max=False)
report("GFN2-xTB, band alone", band, time.perf_counter() - t)
print(f"  the two saddles' energies differ by {abs(band.ts_energy - gfn2.ts_energy):.1e} eV")

# --- 3. Hartree-Fock through PySCF: the same function, another calculator (this atom count's
# solvers are already compiled: outside calculators share them)
t = time.perf_counter()
hf = jaxrxn.find_reaction(hcn, hnc, pyscf_potential(elements, "hf/3-21g"))
report("HF/3-21G", hf, time.perf_counter() - t)

# --- 4. harmonic analysis (central differences along the vibrational directions only):
# the zero-point energies turn the electronic barrier into the 0 K one
vib_is = vibrations(xtb, gfn2.R_initial, vibrational_only=True)
vib_ts = vibrations(xtb, gfn2.R_ts, vibrational_only=True)
print(f"GFN2-xTB frequencies (cm^-1): HCN {np.round(vib_is.frequencies).astype(int).tolist()}, "
      f"TS {np.round(vib_ts.frequencies).astype(int).tolist()}")  # fmt: skip
print(f"  zero-point corrected barrier {gfn2.barrier + vib_ts.zero_point_energy - vib_is.zero_point_energy:.4f} eV "
      f"({vib_is.n_force_calls + vib_ts.n_force_calls} calls)")  # fmt: skip

# --- 5. bad input is refused with a message naming the problem, before any calculator call
for what, R_final in (("a missing atom", hnc[:2]), ("overlapping atoms", np.array([hnc[0], hnc[0], hnc[2]]))):
    try:
        jaxrxn.find_reaction(hcn, R_final, xtb)
    except ValueError as err:
        print(f"{what}: ValueError: {err}")


# --- the energy profiles along the IRC (arc length scaled to 0..1) and the band's images
def arc(path: np.ndarray) -> np.ndarray:
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(path, axis=0).reshape(len(path) - 1, -1), axis=1))])
    return s / s[-1]


fig, ax = plt.subplots(figsize=(5.5, 3.8))
for r, label, color in ((gfn2, "GFN2-xTB", "C0"), (hf, "HF/3-21G", "C2")):
    s = arc(r.irc_path)  # from the initial state's side, as the band
    ax.plot(s, r.irc_energies - r.e_initial, "-", color=color, label=f"{label} IRC")
    ax.plot([s[np.argmax(r.irc_energies)]], [r.barrier], "*", color=color, ms=11)
ax.plot(arc(band.band), band.band_energies - band.e_initial, "o", color="C1", label="GFN2-xTB CI-NEB images")
ax.set_xlabel("reaction coordinate (scaled arc length)")
ax.set_ylabel("energy above HCN (eV)")
ax.set_title("HCN -> HNC")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(out / "molecules_hcn_profile.png", dpi=120)
print(f"wrote {out / 'molecules_hcn_profile.png'}")
