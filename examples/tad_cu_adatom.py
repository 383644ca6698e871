"""TAD of a Cu adatom on Cu(100): hops at 300 K from MD at 800 K.

EMT (jaxrxn.potentials.emt, identical to ASE's EMT): 3x3 surface cell, 3 layers (bottom one
fixed), adatom in a hollow. The hop barrier is 0.412 eV with nu = 5.1e12 Hz
(rare_events.md §2.2.3), so at 300 K one of the 4 hops occurs every ~2 ns on average. Each
detected escape is refined by climbing-image NEB (jaxrxn.path.neb); with the known minimum
barrier E_min = 0.40 eV (Montalenti & Voter 2002) the stop time comes right after the first
hop instead of ~17 mean hop times later, so each event costs a few thousand MD steps.

Run: ``python examples/tad_cu_adatom.py [n_events]`` (minutes on a CPU).
"""

import sys

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from ase.build import add_adsorbate, fcc100  # noqa: E402

from jaxrxn.dynamics import TAD, MaxDisplacement, Quench, event_table, run_tad, tad_init  # noqa: E402
from jaxrxn.path.interpolation import linear  # noqa: E402
from jaxrxn.path.elastic_band import NEB, neb  # noqa: E402
from jaxrxn.potentials.emt import emt  # noqa: E402

N_EVENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 3

slab = fcc100("Cu", size=(3, 3, 3), a=3.5898, vacuum=6.0)
add_adsorbate(slab, "Cu", 1.7, "hollow")
fixed = slab.positions[:, 2] < slab.positions[:, 2].min() + 0.5
pot = emt(slab.numbers, slab.cell.array, (True, True, False), fixed=fixed)


def neb_barrier(R_min, E_min, R_new, E_new):
    """Forward barrier (eV) from a 5-image climbing-image NEB between the two minima."""
    res = neb(pot, linear(R_min, R_new, 5, system=pot.system), NEB(k=0.5), fmax=0.05, max_steps=300)
    return res.barrier


tad = TAD(
    T_lo=300.0, T_hi=800.0, delta=0.01, nu_min=1e-3, E_min=0.40, dt=5.0, friction=0.005,
    t_event=100, same_basin=MaxDisplacement(1.0), quench=Quench(fmax=0.02, max_steps=400), max_steps=400_000,
)  # fmt: skip

run = tad_init(pot, tad, jnp.asarray(slab.positions), jax.random.PRNGKey(0), max_events=N_EVENTS)
run = run_tad(pot, tad, run, neb_barrier, n_events=N_EVENTS, checkpoint="tad_cu_adatom.npz")
table = event_table(run)
print("barriers (eV):", np.round(table["Ea"], 4))
print("low-T clock (ns):", np.round(table["t_lo"] * 1e-6, 3))
print(f"mean 300 K residence per hop: {np.mean(np.diff(np.r_[0.0, table['t_lo']])) * 1e-6:.2f} ns "
      f"(HTST, 4 hops of 5.1e12 Hz at 0.412 eV: {1e9 / (4 * 5.12e12 * np.exp(-0.4117 / (8.617333e-5 * 300))):.2f} ns)")  # fmt: skip
