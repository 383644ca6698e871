"""MD, TAD and NanoReactor: vmapped Langevin replicas escaping a double well, compared with
harmonic TST, and the NanoReactor's piston schedule.

    python docs/tutorials/dynamics.py [FIGURE_DIR]      # default: docs/tutorials/figures
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
from jaxrxn.dynamics import Langevin, SphericalPiston, md_until_transition  # noqa: E402
from jaxrxn.units import KB  # noqa: E402

out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "figures")
out.mkdir(parents=True, exist_ok=True)

# --- 1. a particle of 1 amu in E = (x^2 - 1)^2 + 2 y^2 (eV): barrier 1 eV between x = -1 and x = 1
well = jaxrxn.Potential(lambda R, system, p: (R[0, 0] ** 2 - 1) ** 2 + 2 * R[0, 1] ** 2, None, masses=jnp.array([1.0]))
R0, S = jnp.array([[-1.0, 0.0]]), jnp.array([[0.0, 0.0]])
kT = 0.2  # eV
integrator = Langevin(dt=1.0, temperature=kT / KB, friction=0.02)  # fs, K, 1/fs


@jax.jit
@jax.vmap
def escape(key):
    """MD until a quenched snapshot (every 20 steps) leaves the basin of R0."""
    return md_until_transition(well, integrator, integrator.init(well, R0, key), R0, t_event=20, max_steps=200_000)


res = escape(jax.random.split(jax.random.key(0), 128))  # 128 replicas in one compiled call
t_fs = np.asarray(res.step) * integrator.dt  # detected within t_event steps of the crossing
k_htst = float(jaxrxn.htst_rate(well, R0, S, kT / KB))  # Hz
print(f"{int(res.transitioned.sum())}/128 replicas escaped; mean waiting time {t_fs.mean():.0f} fs, "
      f"harmonic TST 1/k = {1e15 / k_htst:.0f} fs")
fig, ax = plt.subplots(figsize=(4.5, 3.2), dpi=120)
ax.hist(t_fs, bins=20, density=True, label="MD, 128 replicas")
t = np.linspace(0, t_fs.max(), 200)
ax.plot(t, k_htst * 1e-15 * np.exp(-k_htst * 1e-15 * t), label="HTST exponential")
ax.set(xlabel="escape time (fs)", ylabel="density", title=f"double well, barrier 1 eV, kT {kT} eV")
ax.legend()
fig.tight_layout()
fig.savefig(out / "dynamics_escape.png")

# --- 2. the NanoReactor piston: wall radius and force constant over two cycles (0.5 fs steps)
piston = SphericalPiston()  # Wang et al., Nat. Chem. 6, 1044 (2014): 14 Å / 9 Å
steps = jnp.arange(0.0, 4000.0)
radius, k = piston.schedule(steps)
fig, ax = plt.subplots(figsize=(4.5, 3.0), dpi=120)
ax.plot(np.asarray(steps) * 0.5 / 1000, np.asarray(radius))
ax.set(xlabel="time (ps)", ylabel="wall radius (Å)", title="NanoReactor piston schedule")
fig.tight_layout()
fig.savefig(out / "dynamics_piston.png")
