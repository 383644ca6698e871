"""The neural-network potential: a SchNet-style network (flax) trained with optax on the
energies and forces of a reference potential, then used like any other potential.

    python docs/tutorials/nnp.py [FIGURE_DIR]      # default: docs/tutorials/figures
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
from jaxrxn.potentials.neural import neural_potential, train_nnp  # noqa: E402

out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "figures")
out.mkdir(parents=True, exist_ok=True)

# reference: a 2D Lennard-Jones trimer (reduced units). Data: atom 2 swung around atom 1
# from the triangle (angle 120 degrees) to the straight line (0 degrees), rattled
reference = jaxrxn.lennard_jones(dim=2)
r6 = 2 ** (1 / 6)  # pair distance at the minimum


def trimer(phi):
    return r6 * np.array([[0.0, 0.0], [1.0, 0.0], [1.0 + np.cos(phi), np.sin(phi)]])


triangle = trimer(2 * np.pi / 3)
rng = np.random.default_rng(0)
R = jnp.asarray([trimer(phi) for phi in rng.uniform(0, 2 * np.pi / 3, 400)] + 0.05 * rng.normal(size=(400, 3, 2)))
E, G = jax.vmap(jax.value_and_grad(reference.energy))(R)
train, test = slice(0, 320), slice(320, 400)

net = neural_potential([18, 18, 18], dim=2, r_cutoff=3.0, n_features=16, n_interactions=2)
net, losses = train_nnp(net, R[train], E[train], -G[train], n_steps=800, batch_size=32, learning_rate=5e-3)
E_net = jax.vmap(net.energy)(R[test])
mae = float(jnp.mean(jnp.abs(E_net - E[test])))
print(f"held-out energy MAE {mae:.4f} (energies span {float(E.min()):.2f} .. {float(E.max()):.2f})")

fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), dpi=120)
axes[0].plot(np.asarray(E[test]), np.asarray(E_net), ".")
lo, hi = float(E[test].min()), float(E[test].max())
axes[0].plot([lo, hi], [lo, hi], "k-", lw=0.8)
axes[0].set(xlabel="reference energy", ylabel="network energy", title=f"held-out, MAE {mae:.3f}")

# the trained network is a Potential like any other: the same calls work on it
scan = jnp.asarray([trimer(phi) for phi in np.linspace(2 * np.pi / 3, 0.0, 21)])  # no rattling
for pot, label in ((reference, "Lennard-Jones"), (net, "network")):
    axes[1].plot(np.asarray(jax.vmap(pot.energy)(scan)), "o-", ms=3, label=label)
m_ref = jaxrxn.minimize(reference, jnp.asarray(triangle) * 1.03, fmax=1e-6)
m_net = jaxrxn.minimize(net, jnp.asarray(triangle) * 1.03, fmax=1e-6)
print(f"relaxed triangle: reference E {float(m_ref.energy):.4f}, network E {float(m_net.energy):.4f}")
axes[1].set(xlabel="scan point (triangle -> line)", ylabel="energy", title="bending scan, unrattled")
axes[1].legend()
fig.tight_layout()
fig.savefig(out / "nnp_parity_and_band.png")
