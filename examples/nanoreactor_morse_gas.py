"""NanoReactor on a reactive Morse gas: A2 + B2 -> 2 AB, with and without compression pulses.

16 A2 and 16 B2 molecules (valence-limited Morse, D_AA = D_BB = 2.0 eV, D_AB = 2.5 eV, so
the exchange is 1 eV downhill but needs a collision over a barrier) at 1500 K in a sphere.
Same start, same thermostat noise: once with the piston pulsing between r1 = 14 Å and
r2 = 6 Å (r1 as in the authors' example input; Wang et al., Nat. Chem. 6, 1044 (2014)),
once with a static 14 Å wall. Reactions
are bond-graph changes that survive distance hysteresis (1.6/2.2 Å) and 5 saved frames.

Run: ``python examples/nanoreactor_morse_gas.py``
"""

import collections

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jaxrxn.dynamics import Langevin, SphericalPiston, detect_reactions, run_md, valence_morse  # noqa: E402
from jaxrxn.dynamics.bonds import bond_graph, formulas  # noqa: E402

N_MOL, N_STEPS, SAVE = 32, 20_000, 10  # 0.5 fs steps: 10 ps
species = np.array([0, 0, 1, 1] * (N_MOL // 2))
symbols = ["A" if s == 0 else "B" for s in species]
pot = valence_morse(species, np.array([[2.0, 2.5], [2.5, 2.0]]), masses=np.full(species.size, 10.0))

rng = np.random.default_rng(1)
centers = np.array([[i, j, k] for i in range(-2, 2) for j in range(-2, 2) for k in range(-1, 1)], float) * 3.2 + 1.6
u = rng.normal(size=(N_MOL, 3))
u /= np.linalg.norm(u, axis=1, keepdims=True)
R0 = jnp.asarray(np.stack([centers + 0.6 * u, centers - 0.6 * u], 1).reshape(-1, 3))
integ = Langevin(dt=0.5, temperature=1500.0, friction=0.01)


@jax.jit
def trajectory(r2):
    wall = SphericalPiston(r1=14.0, r2=r2, k1=0.5, k2=0.5, t1=750.0, t2=250.0)
    bias = wall.bias(pot, R0)
    st = integ.init(pot, R0, jax.random.PRNGKey(0), bias=bias)
    return run_md(pot, integ, st, N_STEPS, bias=bias, save_every=SAVE)[1].R


for label, r2 in [("pulsed piston (14 <-> 6 Å)", 6.0), ("static wall (14 Å)", 14.0)]:
    frames = trajectory(r2)
    rx = detect_reactions(frames, 1.6, 2.2, persist=5)
    final = collections.Counter(formulas(np.asarray(bond_graph(frames[-1], 1.9)), symbols))
    print(f"{label}: {len(rx)} reactions in {N_STEPS * 0.5 / 1000:.0f} ps; final species {dict(final)}")
