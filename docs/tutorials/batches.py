"""Batches and sharding: 200 CI-NEB bands in one vmap, different EMT reactions padded into
one compiled call, and the same batch laid out over every device.

    python docs/tutorials/batches.py [FIGURE_DIR]      # default: docs/tutorials/figures
"""

import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import jaxrxn  # noqa: E402
from jaxrxn import systems  # noqa: E402
from jaxrxn.parallel import sharded_vmap  # noqa: E402
from jaxrxn.path import NEB, interpolate, linear, neb  # noqa: E402

out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "figures")
out.mkdir(parents=True, exist_ok=True)

# --- 1. one vmap over end points: 200 Muller-Brown bands, one compiled while_loop
mb = jaxrxn.muller_brown()
A, B = np.array([[-0.558224, 1.441726]]), np.array([[0.623499, 0.028038]])
key_a, key_b = jax.random.split(jax.random.key(0))
As = A + 0.05 * jax.random.normal(key_a, (200, 1, 2))  # (batch, n_atoms, dim)
Bs = B + 0.05 * jax.random.normal(key_b, (200, 1, 2))
solve = jax.jit(jax.vmap(lambda a, b: neb(mb, linear(a, b, 11), NEB(), fmax=0.05)))
t = time.perf_counter()
bands = solve(As, Bs)
bands.barrier.block_until_ready()
print(f"200 bands: {int(bands.converged.sum())} converged, {time.perf_counter() - t:.1f} s with compilation")
saddles = np.asarray(bands.path[jnp.arange(200), bands.ts_index, 0])
print(f"every climbing image on S1: largest distance {np.abs(saddles - [-0.822002, 0.624313]).max():.1e}")

fig, ax = plt.subplots(figsize=(4.5, 3.2), dpi=120)
ax.hist(np.asarray(bands.barrier), bins=25)
ax.set(xlabel="barrier E(S1) - E(start)", ylabel="bands", title="200 vmapped CI-NEB bands, unrelaxed ends")
fig.tight_layout()
fig.savefig(out / "batches_barriers.png")

# --- 2. different reactions, different atom counts: padded into one compiled call
hops = [systems.adatom_hop_fcc100(metal, size) for metal, size in (("Cu", (2, 2, 3)), ("Ag", (2, 2, 3)), ("Ni", (2, 2, 2)))]
potentials, paths = [], []
for initial, final in hops:
    R0, pot = jaxrxn.emt_from_atoms(initial)
    ends = jaxrxn.batch_minimize([pot, pot], [R0, np.asarray(final.positions)], fmax=0.01)
    potentials.append(pot)
    paths.append(interpolate(ends[0].R, ends[1].R, 5, "linear", system=pot.system))
t = time.perf_counter()
results = jaxrxn.batch_neb(potentials, paths, NEB(), fmax=0.05)
for (initial, _), r in zip(hops, results):
    print(f"{initial.get_chemical_formula():8s} ({len(initial)} atoms): barrier {float(r.barrier):.4f} eV, converged={bool(r.converged)}")
print(f"3 reactions in one call: {time.perf_counter() - t:.1f} s with compilation")

# --- 3. the same vmapped function with the batch sharded over all devices (1 CPU here)
barriers = sharded_vmap(lambda ab: neb(mb, linear(ab[0], ab[1], 11), NEB(), fmax=0.05).barrier, jnp.stack([As, Bs], 1))
print(f"sharded over {len(jax.devices())} device(s): equal to the vmap: {bool(jnp.allclose(barriers, bands.barrier))}")
