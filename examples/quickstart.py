"""Quickstart: climbing-image NEB on Muller-Brown (A -> B) and on Au/Al(100) with EMT, then
one real reaction, HCN -> HNC with GFN2-xTB, from its two end states to a verified
transition state (``jaxrxn.find_reaction``: relax, geodesic interpolation, saddle search
from its highest image, IRC; a CI-NEB only where that saddle does not verify).

    python examples/quickstart.py [--out DIR]

Prints each barrier and writes DIR/muller_brown_path.png (the surface with the band),
DIR/muller_brown_profile.png, DIR/au_al_profile.png and DIR/hcn_hnc_profile.png (default
DIR: out/). The last part needs tblite (``pip install "jaxrxn[xtb]"``, in ``[test]``).
"""

import argparse
import os
import time

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

import jaxrxn  # noqa: E402
from jaxrxn.path import NEB, interpolate, linear, neb  # noqa: E402
from jaxrxn.plot import plot_profile, plot_surface  # noqa: E402


def muller_brown(out: str) -> None:
    mb = jaxrxn.muller_brown()
    A, B = np.array([[-0.558224, 1.441726]]), np.array([[0.623499, 0.028038]])
    t = time.perf_counter()
    r = neb(mb, linear(A, B, 11), NEB(), fmax=0.05)
    ts = np.asarray(r.path[r.ts_index, 0])
    print(f"Muller-Brown A->B: barrier {float(r.barrier):.4f}, saddle ({ts[0]:.6f}, {ts[1]:.6f}), "
          f"converged={bool(r.converged)}, {int(r.n_force_calls)} force calls, {time.perf_counter() - t:.2f} s")  # fmt: skip
    plot_surface(mb, os.path.join(out, "muller_brown_path.png"), paths=[np.asarray(r.path)],
                 points={"A": A[0], "B": B[0], "TS": ts}, title="CI-NEB on Muller-Brown")  # fmt: skip
    plot_profile(r, os.path.join(out, "muller_brown_profile.png"))


def au_on_al100(out: str) -> None:
    from jaxrxn.potentials.emt import emt_from_atoms
    from jaxrxn import systems

    slab, final = systems.au_on_al100()  # ASE's NEB tutorial set-up
    R0, pot = emt_from_atoms(slab)
    R1 = np.array(final.positions)
    t = time.perf_counter()
    ends = [jaxrxn.minimize(pot, R, "fire", fmax=0.001, max_steps=2000).R for R in (R0, R1)]
    path0 = interpolate(ends[0], ends[1], 5, "idpp", system=pot.system)
    r = neb(pot, path0, NEB(), fmax=0.05)
    print(f"Au/Al(100) hop (EMT): barrier {float(r.barrier):.4f} eV, converged={bool(r.converged)}, "
          f"{int(r.n_force_calls)} force calls, {time.perf_counter() - t:.2f} s")  # fmt: skip
    plot_profile(r, os.path.join(out, "au_al_profile.png"), system=pot.system)


def hcn_to_hnc(out: str) -> None:
    try:
        from jaxrxn.potentials.qm import xtb_potential
    except ImportError:
        print('HCN -> HNC skipped: GFN2-xTB needs tblite (pip install "jaxrxn[xtb]")')
        return
    from jaxrxn.commands.reaction import plot_reaction_profile

    # end states of reaction 02_hcn of A. B. Birkholz & H. B. Schlegel, JCC 36, 1157 (2015), Å
    hcn = [[-0.06691149, 0.03559170, -0.06792498], [0.03449593, 1.07179205, 0.03558137], [0.03241556, -1.10738375, 0.03234362]]
    hnc = [[-0.65518272, -0.57740142, -0.66558476], [0.58073853, 0.61739497, 0.59001319], [0.07444419, -0.03999355, 0.07557157]]
    t = time.perf_counter()
    r = jaxrxn.find_reaction(np.array(hcn), np.array(hnc), xtb_potential(["C", "H", "N"]))
    print(f"HCN -> HNC (GFN2-xTB): barrier {r.barrier:.4f} eV, imaginary frequency "
          f"{-r.imaginary_frequency_cm1:.0f}i cm^-1, IRC connects both ends: {r.connects}, "
          f"{r.n_force_calls} force calls, {time.perf_counter() - t:.1f} s")  # fmt: skip
    plot_reaction_profile(r, os.path.join(out, "hcn_hnc_profile.png"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="out")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    muller_brown(args.out)
    au_on_al100(args.out)
    hcn_to_hnc(args.out)
    print(f"wrote figures to {args.out}/")


if __name__ == "__main__":
    main()
