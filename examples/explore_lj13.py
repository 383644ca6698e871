"""SC-AFIR on the 3D Lennard-Jones 13-atom cluster (reduced units, eps = sigma = m = 1).

From the Mackay icosahedron (E = -44.326801, the global minimum; Wales & Doye, JPCA 101,
5111 (1997)) every atom pair is pushed together and pulled apart, and every atom against
the rest, with AFIR force constants ramped to `ALPHA_MAX`; each reaction is refined by
CI-NEB, P-RFO and descents. Mode-following P-RFO uphill along every Hessian mode of each
minimum (both signs) adds the bound rearrangements AFIR's pushes and pulls skip. Prints the network, writes network JSON and a
disconnectivity graph.

    python examples/explore_lj13.py [max_minima] [--n-alpha 16] [--follow-modes 33]

Measured (max_minima = 2, 2 shared CPU cores, 2026-11-25): exploring the icosahedron and
then the lowest new minimum (-41.471980) gave 44 EQ, 64 TS, 66 DC; the lowest TS out of
the icosahedron is -41.555195 (a degenerate Ih <-> Ih rearrangement, barrier 2.7716),
the lowest into another minimum -40.906283 (to -41.444597, barrier 3.4205). 1,118,645
force calls (AFIR 590,645, quench 464,317, CI-NEB 48,111, P-RFO 15,572; Hessians not
counted), 478 s wall.
"""

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

import jaxrxn  # noqa: E402
from jaxrxn.explore.explorer import AFIRExplorer, ExploreSettings  # noqa: E402

ALPHA_MAX = 20.0  # eps / sigma


def icosahedron13() -> np.ndarray:
    phi = (1 + 5**0.5) / 2
    v = [(0, s1, s2 * phi) for s1 in (-1, 1) for s2 in (-1, 1)]
    v = np.array([p for x in v for p in (x, x[1:] + x[:1], x[2:] + x[:2])], float)
    v *= 1.1 / np.linalg.norm(v[0])
    return np.concatenate([np.zeros((1, 3)), v])


def main(max_minima: int = 2, n_alpha: int = 16, n_follow_modes: int = 33) -> None:
    lj = jaxrxn.lennard_jones(dim=3)
    settings = ExploreSettings(
        alpha_max=ALPHA_MAX, n_alpha=n_alpha, neb_fmax=0.05, descent_step=0.05,
        prefactors=True, time_unit_s=1.0, energy_window=3.0, n_follow_modes=n_follow_modes,
    )  # fmt: skip
    ex = AFIRExplorer(lj, settings, radii=np.full(13, 0.5 * 2 ** (1 / 6)), checkpoint="lj13_network.json")
    t0 = time.perf_counter()
    net = ex.run(icosahedron13(), max_minima=max_minima, verbose=True)
    print(net.summary())
    print(f"force calls {ex.stats.force_calls} (AFIR {ex.stats.afir_force_calls}, quench "
          f"{ex.stats.quench_force_calls}, NEB {ex.stats.neb_force_calls}, saddle "
          f"{ex.stats.saddle_force_calls}); wall {time.perf_counter() - t0:.1f} s")  # fmt: skip
    if net.transition_states:
        net.plot_disconnectivity("lj13_disconnectivity.png", energy_unit="eps")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("max_minima", type=int, nargs="?", default=2, help="minima to explore (2)")
    parser.add_argument("--n-alpha", type=int, default=16, help="AFIR force constants on the ramp (16)")
    parser.add_argument("--follow-modes", type=int, default=33, help="Hessian modes followed uphill per minimum (33)")
    args = parser.parse_args()
    main(args.max_minima, args.n_alpha, args.follow_modes)
