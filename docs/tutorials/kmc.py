"""Kinetic Monte Carlo: residence-time KMC of an interstitial H atom in an fcc metal,
1,000 replicas vmapped inside lax.scan, and the diffusion coefficient from the mean
squared displacement against the closed form.

    python docs/tutorials/kmc.py [FIGURE_DIR]      # default: docs/tutorials/figures
"""

import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from jaxrxn.kmc import diffusion_coefficient, fcc_hydrogen_walker, init_state, mean_squared_displacement, run_kmc  # noqa: E402
from jaxrxn.units import KB  # noqa: E402

out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "figures")
out.mkdir(parents=True, exist_ok=True)

# H in Pd-like fcc (a = 3.89 Å): direct octahedral-octahedral hops, barrier 0.23 eV, 1e13 Hz
a, Ea, nu = 3.89, 0.23, 1.0e13
walker = fcc_hydrogen_walker(a, 300.0, barrier_oo=Ea, prefactor=nu)


@jax.jit
def diffusion(temperature, key):
    """D (Å^2/s) from 1,000 vmapped replicas of 400 KMC steps each, and the exact D."""
    model = eqx.tree_at(lambda w: w.temperature, walker, temperature)  # the walker is a pytree
    states = jax.vmap(lambda k: init_state(model.start(0), k))(jax.random.split(key, 1000))
    final, traj = jax.vmap(run_kmc, in_axes=(None, 0, None))(model, states, 400)
    t_grid = jnp.linspace(0.05, 0.7, 14) * jnp.min(final.time)  # below every replica's last clock
    msd = mean_squared_displacement(traj.time, traj.config.position, jnp.zeros((1000, 3)), t_grid)
    return diffusion_coefficient(t_grid, msd, 3), model.analytic_diffusion_coefficient()


temperatures = np.array([300.0, 400.0, 500.0, 600.0])
D, exact = np.array([[float(x) * 1e-16 for x in diffusion(T, jax.random.key(i))] for i, T in enumerate(temperatures)]).T
for T, d, e in zip(temperatures, D, exact):
    print(f"T = {T:.0f} K: D = {d:.3e} cm^2/s, exact {e:.3e} (12 O->O hops of a/sqrt(2): k a^2 = "
          f"{nu * np.exp(-Ea / (KB * T)) * a**2 * 1e-16:.3e}), ratio {d / e:.3f}")

fig, ax = plt.subplots(figsize=(4.5, 3.2), dpi=120)
ax.semilogy(1000.0 / temperatures, D, "o", label="KMC, 1,000 replicas")
ax.semilogy(1000.0 / temperatures, exact, label="exact")
ax.set(xlabel="1000 / T (1/K)", ylabel="D (cm$^2$/s)", title="H diffusion on the fcc O sublattice")
ax.legend()
fig.tight_layout()
fig.savefig(out / "kmc_arrhenius.png")
