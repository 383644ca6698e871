"""SC-AFIR on 2D LJ7 from the hexagon alone, against the reference landscape.

Reference (rare_events.md section 6.3, [run]): minima -12.5349, -11.5013, -11.4769,
-11.4034 and the eight lowest distinct saddles below. Prints which were found (to 1e-3,
with the minima they join), force calls per stage and wall time.

SC-AFIR alone (push/pull ramps between atom pairs and atom-vs-rest) reaches all four
minima but only half of these saddles: pulling fragments apart breaks a 7-atom cluster
before its bound rearrangements show. Mode-following P-RFO from every minimum along its
softest modes (both signs; ``n_follow_modes``) and along 40 random directions
(``n_follow_random``, as the reference table was built) supplies the rest.

    python benchmarks/explore_lj7.py [alpha_max] [n_alpha] [n_follow_modes]

Measured (2026-11-25, 2 shared CPU cores): defaults -> 4/4 minima, 8/8 saddles with the
right connections, 346,717 force calls (AFIR 215,285, quench 97,138, CI-NEB 9,267, P-RFO
25,027; P-RFO Hessians not counted). ``0 2`` (mode following only, no AFIR) -> also 8/8,
38,388 force calls. AFIR alone (``n_follow_modes = 0`` and no random directions) found 4/8.
"""

import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

import jaxrxn  # noqa: E402
from jaxrxn.explore.explorer import AFIRExplorer, ExploreSettings  # noqa: E402

MINIMA = [-12.5349, -11.5013, -11.4769, -11.4034]  # C0..C3
SADDLES = [  # energy, (Ci, Cj)
    (-11.0403, (0, 2)), (-11.0373, (0, 1)), (-10.9352, (1, 1)), (-10.9198, (1, 2)),
    (-10.8985, (1, 2)), (-10.8826, (2, 2)), (-10.7980, (2, 3)), (-10.7714, (2, 3)),
]  # fmt: skip


def hexagon() -> np.ndarray:
    th = np.arange(6) * np.pi / 3
    return np.concatenate([[[0.0, 0.0]], 2 ** (1 / 6) * np.stack([np.cos(th), np.sin(th)], 1)])


def main(alpha_max: float = 5.0, n_alpha: int = 21, n_follow_modes: int = 11) -> None:
    lj = jaxrxn.lennard_jones(dim=2)
    settings = ExploreSettings(
        alpha_max=alpha_max, n_alpha=n_alpha, n_images=9, prefactors=True, time_unit_s=1.0,
        n_follow_modes=n_follow_modes, n_follow_random=40,
    )  # fmt: skip
    ex = AFIRExplorer(lj, settings, radii=np.full(7, 0.5 * 2 ** (1 / 6)))
    t0 = time.perf_counter()
    net = ex.run(hexagon(), max_minima=10, verbose=True)
    wall = time.perf_counter() - t0
    print(net.summary())
    label = {}
    for k, m in enumerate(net.minima):
        hit = [c for c, e in enumerate(MINIMA) if abs(e - m.energy) < 1e-3]
        label[k] = hit[0] if hit else None
    print(f"minima found: {sum(v is not None for v in label.values())}/4")
    n_ok = 0
    for e_ref, pair in SADDLES:
        hits = [t for t in net.transition_states if abs(t.energy - e_ref) < 1e-3]
        right = [t for t in hits if sorted((label[t.minima[0]], label[t.minima[1]])) == sorted(pair)]
        n_ok += bool(right)
        print(f"saddle {e_ref:.4f} C{pair[0]}-C{pair[1]}: "
              + (f"found ({right[0].energy:.5f}, nu_f {right[0].prefactor_forward:.3f})" if right else "MISSING"))  # fmt: skip
    s = ex.stats
    print(f"eight lowest saddles found with the right connections: {n_ok}/8")
    print(f"force calls {s.force_calls}: AFIR {s.afir_force_calls}, quench {s.quench_force_calls}, "
          f"CI-NEB {s.neb_force_calls}, P-RFO {s.saddle_force_calls}; {s.n_afir_paths} AFIR paths, "
          f"{s.n_bands} bands, {s.n_saddle_searches} saddle searches; wall {wall:.1f} s (compilation included)")  # fmt: skip


if __name__ == "__main__":
    args = [float(sys.argv[1]), int(sys.argv[2])] if len(sys.argv) > 2 else []
    args += [int(sys.argv[3])] if len(sys.argv) > 3 else []
    main(*args)
