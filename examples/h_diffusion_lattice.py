"""H diffusion in fcc Pd on a lattice model with barriers from jaxrxn CI-NEB: D(T), Arrhenius plot.

    python examples/h_diffusion_lattice.py [--cells 3] [--out DIR]
    python examples/h_diffusion_lattice.py --source input [--barrier-ot 0.221] [--barrier-to 0.10]
        [--barrier-oo EV] [--prefactor 1e13] [--a 3.89]

``--source neb`` (default): H in a ``cells^3`` conventional supercell of Pd with jaxrxn's
EMT (ASE's parameter set, which has H; ASE calls its H, C, N, O parameters "not for any
serious use") at EMT's own lattice constant. The H octahedral (O) and tetrahedral (T) sites
are relaxed with every atom free; climbing-image NEB O -> T (9 images) gives the O->T and
T->O barriers, P-RFO refines the climbing image, and Vineyard prefactors (all atoms free,
translations removed) give the attempt frequencies. ``--source input`` takes barriers (eV)
and one prefactor (1/s) from the command line instead.

The barriers feed the O/T lattice model (``jaxrxn.kmc.lattice.fcc_hydrogen_walker``);
residence-time KMC over vmapped replicas and temperatures gives D(T) from the
mean-squared displacement, printed next to the model's exact D and the experimental Pd fit
D = 2.40e-3 cm^2/s exp(-0.221 eV/kT) (Hagi, Mater. Trans. JIM 31, 842 (1990), 278-333 K);
DIR/h_diffusion_arrhenius.png is the plot.

The agreement with experiment depends entirely on the potential (or the input barriers).
EMT's H is crude: its O -> T barrier in Pd is 2.5 times the measured activation energy,
and D falls orders of magnitude below the measured one at room temperature; the numbers
are a demonstration of the NEB -> rates -> KMC pipeline, not a prediction for Pd.

Measured (``--cells 3``: 108 Pd + H, a = 3.8791 Å; 5.8 min wall on a shared 2-core CPU):
E(T) - E(O) = 0.5466 eV (T is a shallow minimum); CI-NEB O->T 0.5500 eV, T->O 0.0034 eV
(P-RFO saddle index 1, same barriers); Vineyard O->T 7.08e12 Hz, T->O 5.39e11 Hz. KMC D
(4,000 replicas) within 2% of the model's exact D at 280-800 K; Arrhenius fit D0 =
5.34e-3 cm^2/s, Ea = 0.5501 eV against Hagi's 2.40e-3 cm^2/s, 0.221 eV, so D(EMT)/D(expt)
= 2.6e-6 at 280 K, 1.1e-3 at 500 K, 1.9e-2 at 800 K. (rare_events.md §5.4 [run]: EMT Pd
O->T->O 0.548 eV.) With 2^3 cells the relaxation of the host is cut off by the images and
E(T) - E(O) is 1.38 eV: use 3^3 or larger.
"""

import argparse
import os

import jax

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jaxrxn.kmc.lattice import fcc_hydrogen_walker  # noqa: E402
from jaxrxn.kmc.residence import (  # noqa: E402
    diffusion_coefficient,
    init_state,
    mean_squared_displacement,
    run_kmc,
)
from jaxrxn.units import KB  # noqa: E402

ANG2_TO_CM2 = 1e-16


def hagi_pd(temperature):
    """Experimental H in Pd, cm^2/s (Hagi 1990, 278-333 K)."""
    return 2.40e-3 * np.exp(-0.221 / (KB * temperature))


def emt_lattice_constant(symbol="Pd"):
    """fcc lattice constant (Å) minimising ASE's EMT energy (equal to jaxrxn's EMT)."""
    from ase.build import bulk
    from ase.calculators.emt import EMT

    grid = np.linspace(3.7, 4.1, 41) if symbol == "Pd" else np.linspace(3.4, 4.3, 91)
    energies = []
    for a in grid:
        atoms = bulk(symbol, "fcc", a=a, cubic=True)
        atoms.calc = EMT()
        energies.append(atoms.get_potential_energy())
    i = int(np.argmin(energies))
    fit = np.polyfit(grid[i - 3 : i + 4], energies[i - 3 : i + 4], 2)
    return float(-fit[1] / (2 * fit[0]))


def neb_barriers(cells: int):
    """EMT Pd-H: relax O and T, CI-NEB O -> T, P-RFO, Vineyard. Returns a dict (eV, Hz, Å)."""
    from ase.build import bulk

    from jaxrxn.optimize import minimize
    from jaxrxn.path import NEB, linear, neb
    from jaxrxn.potentials.emt import emt
    from jaxrxn.rates import vineyard_prefactor
    from jaxrxn.saddle import PRFO, saddle_search

    a = emt_lattice_constant("Pd")
    host = bulk("Pd", "fcc", a=a, cubic=True).repeat((cells, cells, cells))
    pot = emt(np.r_[host.numbers, 1], host.cell.array, (True, True, True))

    def with_h(site):
        return jnp.asarray(np.vstack([host.positions, np.asarray(site) * a]))

    relax = jax.jit(lambda R: minimize(pot, R, "lbfgs", fmax=1e-4, max_steps=3000))
    octa = relax(with_h([0.5, 0.5, 0.5]))
    tetra = relax(with_h([0.25, 0.25, 0.25]) + 0.01)  # nudged off the exact site
    h_moved = float(jnp.linalg.norm(tetra.R[-1] - 0.25 * a))
    if h_moved > 0.3:
        raise RuntimeError(f"H left the T site ({h_moved:.2f} Å): T is no minimum for this potential and cell")
    band = neb(pot, linear(octa.R, tetra.R, 9, system=pot.system), NEB(climb=True), fmax=0.005, max_steps=3000)
    ts = jax.jit(lambda R: saddle_search(pot, R, PRFO(), fmax=1e-4))(band.path[band.ts_index])
    vineyard = jax.jit(lambda Rm, Rs: vineyard_prefactor(pot, Rm, Rs))
    out = dict(
        a=a, n_atoms=len(host) + 1, neb_converged=bool(band.converged), saddle_index=int(ts.saddle_index),
        e_t=float(tetra.energy - octa.energy), neb_ot=float(band.barrier),
        neb_to=float(jnp.max(band.energies) - tetra.energy), barrier_ot=float(ts.energy - octa.energy),
        barrier_to=float(ts.energy - tetra.energy), nu_ot=float(vineyard(octa.R, ts.R)),
        nu_to=float(vineyard(tetra.R, ts.R)),
    )  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=("neb", "input"), default="neb")
    parser.add_argument("--cells", type=int, default=3, help="NEB supercell: cells^3 conventional fcc cells")
    parser.add_argument("--a", type=float, default=3.89, help="input mode: fcc lattice constant, Å")
    parser.add_argument("--barrier-ot", type=float, default=0.221, help="input mode: O->T barrier, eV")
    parser.add_argument("--barrier-to", type=float, default=0.10, help="input mode: T->O barrier, eV")
    parser.add_argument("--barrier-oo", type=float, default=None, help="input mode: direct O-O barrier, eV")
    parser.add_argument("--prefactor", type=float, default=1e13, help="input mode: attempt frequency, 1/s")
    parser.add_argument("--replicas", type=int, default=4000)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--out", default="out")
    args = parser.parse_args()

    if args.source == "neb":
        r = neb_barriers(args.cells)
        print(f"EMT Pd-H, {r['n_atoms']} atoms ({args.cells}^3 cells, a = {r['a']:.4f} Å, all atoms free):")
        print(f"  E(T) - E(O) = {r['e_t']:.4f} eV")
        print(f"  CI-NEB O->T {r['neb_ot']:.4f} eV, T->O {r['neb_to']:.4f} eV (converged {r['neb_converged']})")
        print(f"  P-RFO saddle (index {r['saddle_index']}): O->T {r['barrier_ot']:.4f} eV, T->O {r['barrier_to']:.4f} eV")
        print(f"  Vineyard prefactors: O->T {r['nu_ot']:.3e} Hz, T->O {r['nu_to']:.3e} Hz")
        walker = fcc_hydrogen_walker(
            r["a"], 300.0, barrier_ot=r["barrier_ot"], barrier_to=r["barrier_to"], prefactor_ot=r["nu_ot"],
            prefactor_to=r["nu_to"],
        )  # fmt: skip
        label = "lattice KMC, EMT CI-NEB barriers + HTST"
    else:
        walker = fcc_hydrogen_walker(
            args.a, 300.0, barrier_oo=args.barrier_oo, barrier_ot=args.barrier_ot,
            barrier_to=args.barrier_to, prefactor=args.prefactor,
        )  # fmt: skip
        label = "lattice KMC, input barriers"
    temperatures = np.array([280.0, 300.0, 333.0, 400.0, 500.0, 650.0, 800.0])

    @jax.jit
    def d_of_t(temperature, key):
        model = eqx.tree_at(lambda w: w.temperature, walker, temperature)
        states = jax.vmap(lambda k: init_state(model.start(0), k))(jax.random.split(key, args.replicas))
        final, traj = jax.vmap(run_kmc, in_axes=(None, 0, None))(model, states, args.steps)
        t_grid = jnp.linspace(0.05, 0.7, 14) * jnp.min(final.time)
        msd = mean_squared_displacement(traj.time, traj.config.position, jnp.zeros((args.replicas, 3)), t_grid)
        return diffusion_coefficient(t_grid, msd, 3), model.analytic_diffusion_coefficient()

    keys = jax.random.split(jax.random.key(0), len(temperatures))
    d_kmc, d_exact = (np.asarray(x) * ANG2_TO_CM2 for x in jax.lax.map(lambda tk: d_of_t(*tk), (jnp.asarray(temperatures), keys)))
    print(f"{'T (K)':>6} {'D KMC (cm2/s)':>14} {'D exact':>11} {'KMC/exact':>9} {'Hagi Pd':>11} {'model/expt':>10}")
    for t, dk, de in zip(temperatures, d_kmc, d_exact):
        print(f"{t:6.0f} {dk:14.3e} {de:11.3e} {dk / de:9.3f} {hagi_pd(t):11.3e} {dk / hagi_pd(t):10.2e}")
    slope, intercept = np.polyfit(1 / (KB * temperatures), np.log(d_kmc), 1)
    print(f"KMC Arrhenius fit: D0 = {np.exp(intercept):.3e} cm^2/s, Ea = {-slope:.4f} eV "
          f"(Hagi Pd: 2.40e-3 cm^2/s, 0.221 eV); the agreement depends on the potential")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(args.out, exist_ok=True)
    inv = 1000 / temperatures
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.semilogy(inv, d_kmc, "o", label=label)
    ax.semilogy(inv, d_exact, "-", lw=1, label="lattice model, exact")
    ax.semilogy(inv, hagi_pd(temperatures), "--", label="H in Pd, expt. (Hagi 1990)")
    ax.set_xlabel("1000 / T (1/K)")
    ax.set_ylabel("D (cm$^2$/s)")
    ax.set_title("Agreement depends on the potential (EMT's H is crude)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(args.out, "h_diffusion_arrhenius.png")
    fig.savefig(path, dpi=150)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
