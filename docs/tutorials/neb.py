"""NEB and interpolation: a band on the Muller-Brown surface, then an Au adatom hop on
Al(100) with EMT (ASE's NEB tutorial), from linear and IDPP starting bands.

    python docs/tutorials/neb.py [FIGURE_DIR]      # default: docs/tutorials/figures
"""

import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)  # saddle work needs float64; jaxrxn never sets it

import numpy as np  # noqa: E402

import jaxrxn  # noqa: E402
from jaxrxn import systems  # noqa: E402
from jaxrxn.path import NEB, interpolate, linear, neb  # noqa: E402
from jaxrxn.plot import plot_profile, plot_surface  # noqa: E402

out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "figures")
out.mkdir(parents=True, exist_ok=True)

# --- 1. Muller-Brown: a plain band and a climbing-image band from the same straight line
mb = jaxrxn.muller_brown()  # a Potential: energy_fn(R, system, params), params, system
A, B = np.array([[-0.558224, 1.441726]]), np.array([[0.623499, 0.028038]])  # minima, (1 atom, 2D)
band0 = linear(A, B, 11)  # (n_images, n_atoms, dim), end points included
plain = neb(mb, band0, NEB(climb=False), fmax=0.05)  # NEB() climbs by default
climbing = neb(mb, band0, NEB(climb=True), fmax=0.05)
for name, r in (("NEB", plain), ("CI-NEB", climbing)):
    print(f"{name:6s}: barrier {float(r.barrier):.4f} at image {int(r.ts_index)}, "
          f"{int(r.n_force_calls)} force calls, converged={bool(r.converged)}")
ts = np.asarray(climbing.path[climbing.ts_index, 0])
print(f"climbing image at ({ts[0]:.6f}, {ts[1]:.6f}); the saddle S1 is at (-0.822002, 0.624313)")
plot_surface(mb, str(out / "neb_muller_brown.png"), paths=[np.asarray(band0), np.asarray(plain.path), np.asarray(climbing.path)],
             points={"A": A[0], "B": B[0], "S1": ts}, title="straight line, NEB and CI-NEB on Muller-Brown")

# --- 2. Au on Al(100) with EMT: the exchange-free hop of ASE's NEB tutorial
slab, final = systems.au_on_al100()  # ASE Atoms, bottom layer fixed
R0, pot = jaxrxn.emt_from_atoms(slab)  # positions and the JAX EMT potential of this system
ends = [jaxrxn.minimize(pot, R, "fire", fmax=0.001, max_steps=2000).R for R in (R0, np.asarray(final.positions))]
t = time.perf_counter()
path0 = interpolate(ends[0], ends[1], 7, "idpp", system=pot.system)  # or "linear"; cell, pbc, fixed atoms from the system
r = neb(pot, path0, NEB(optimizer="lbfgs"), fmax=0.05)  # the potential's system carries the periodicity
print(f"Au/Al(100): barrier {float(r.barrier):.4f} eV (EMT reference 0.3745), "
      f"{int(r.n_force_calls)} force calls, {time.perf_counter() - t:.1f} s with compilation")
plot_profile(r, str(out / "neb_au_al_profile.png"), system=pot.system, label="CI-NEB, IDPP start")
