"""Saddles, IRC and rates on Muller-Brown: P-RFO and the dimer from a rough guess, the
IRC down both sides, the harmonic-TST rate from the exact Hessians.

    python docs/tutorials/saddles.py [FIGURE_DIR]      # default: docs/tutorials/figures
"""

import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import jaxrxn  # noqa: E402
from jaxrxn.irc import irc  # noqa: E402
from jaxrxn.plot import plot_surface  # noqa: E402

out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "figures")
out.mkdir(parents=True, exist_ok=True)

mb = jaxrxn.muller_brown()
A = jnp.array([[-0.558224, 1.441726]])  # the deep minimum
guess = jnp.array([[-0.70, 0.60]])  # a rough guess near the saddle S1 (-0.822002, 0.624313)

# --- 1. two saddle solvers on one entry point; every result carries a RESULTS code
for solver in (jaxrxn.PRFO(), jaxrxn.Dimer()):
    ts = jaxrxn.saddle_search(mb, guess, solver, fmax=1e-4)
    print(f"{type(solver).__name__:5s}: E = {float(ts.energy):.4f} at {np.round(np.asarray(ts.R[0]), 6)}, "
          f"index {int(ts.saddle_index)}, {int(ts.n_force_calls)} force + {int(ts.n_hessian_calls)} Hessian calls, "
          f"result: {jaxrxn.RESULTS[ts.result] if ts.result != jaxrxn.RESULTS.successful else 'successful'}")
ts = jaxrxn.saddle_search(mb, guess, jaxrxn.PRFO(), fmax=1e-6)

# --- 2. the IRC from the saddle to both minima (mass-weighted Gonzalez-Schlegel steps)
path = irc(mb, ts.R, step=0.05)
s, e = path.profile()  # arc length (Å amu^1/2) and energy along reverse end -> saddle -> forward end
print(f"IRC ends: {float(path.reverse.energy_min):.4f} and {float(path.forward.energy_min):.4f} "
      f"(S1 joins minima A -146.6995 and C -80.7678), converged={bool(path.converged)}")
nf, nr = int(path.forward.n_points), int(path.reverse.n_points)
line = np.concatenate([np.asarray(path.reverse.path[:nr])[::-1], np.asarray(ts.R)[None], np.asarray(path.forward.path[:nf])])[:, 0]
plot_surface(mb, str(out / "saddles_irc.png"), paths=[line[:, None, :]], points={"guess": guess[0], "TS": np.asarray(ts.R[0])},
             title="P-RFO saddle from a guess, and its IRC")

# --- 3. harmonic TST: Vineyard prefactor from both Hessians, then Arrhenius
nu = jaxrxn.vineyard_prefactor(mb, A, ts.R, time_unit_s=1.0)  # Muller-Brown is in reduced units
Ea = float(jaxrxn.barrier(mb, A, ts.R))
T = np.linspace(5.0, 20.0, 31)  # kB T in the surface's energy units: pass T with kB = 1 via Ea/kT
k = nu * np.exp(-Ea / T)
print(f"barrier A -> S1 {Ea:.4f}, Vineyard prefactor {float(nu):.4f} per time unit")
fig, ax = plt.subplots(figsize=(4.5, 3.2), dpi=120)
ax.semilogy(1.0 / T, k)
ax.set(xlabel="1 / kT", ylabel="k (per time unit)", title=f"HTST: prefactor {float(nu):.3f}, barrier {Ea:.1f}")
fig.tight_layout()
fig.savefig(out / "saddles_arrhenius.png")
