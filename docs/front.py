"""The picture of the README and the docs' home page (docs/front.png): the transition state
of the Claisen rearrangement (allyl vinyl ether -> pent-4-enal) found with GFN2-xTB by
restricted-step P-RFO from Baker's guess, and its imaginary mode.

    python docs/front.py      # needs tblite (the [test] or [xtb] extra); about 15 s
"""

from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from ase.data import covalent_radii  # noqa: E402
from ase.io import read  # noqa: E402

import jaxrxn  # noqa: E402
from jaxrxn.potentials.qm import xtb_potential  # noqa: E402
from jaxrxn.saddle import RSPRFO  # noqa: E402
from jaxrxn.vibrations import vibrations  # noqa: E402

HERE = Path(__file__).parent
atoms = read(HERE / "data" / "17_claisen.xyz")
xtb = xtb_potential(atoms.numbers)
ts = jaxrxn.saddle_search(xtb, jnp.asarray(atoms.positions), RSPRFO(), fmax=0.01, check_index=False)
vib = vibrations(xtb, ts.R)
R, mode = np.asarray(ts.R), vib.modes[0]
print(f"TS energy {float(ts.energy):.4f} eV, converged {bool(ts.converged)}, {int(ts.n_force_calls)} gradients; "
      f"imaginary frequency {vib.imaginary_frequency:.0f} cm^-1 ({vib.n_imaginary} imaginary)")

# view along the axis of least spread (principal axes of the TS)
centred = R - R.mean(0)
axes = np.linalg.svd(centred, full_matrices=False)[2]
xy, dxy = centred @ axes[:2].T, mode @ axes[:2].T
depth = centred @ axes[2]
Z = atoms.numbers
colour = {1: "#f2f2f2", 6: "#555555", 8: "#d62728"}
fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=150)
radii = covalent_radii[Z]
d = np.linalg.norm(R[:, None] - R[None], axis=-1)
rsum = radii[:, None] + radii[None]
bonded = d < 1.1 * rsum
np.fill_diagonal(bonded, False)
for i in range(len(Z)):
    for j in range(i):
        if bonded[i, j]:
            ax.plot(*xy[[i, j]].T, "-", color="k", lw=2.0, zorder=1)
        # the bonds forming and breaking at the TS: heavy atoms up to 1.45x their radii apart
        elif Z[i] != 1 and Z[j] != 1 and d[i, j] < 1.45 * rsum[i, j]:
            ax.plot(*xy[[i, j]].T, "--", color="#1f77b4", lw=2.0, zorder=1)
            ax.annotate(f"{d[i, j]:.2f} Å", xy[[i, j]].mean(0), textcoords="offset points", xytext=(8, -4),
                        color="#1f77b4", fontsize=10, weight="bold")
for k in np.argsort(depth):
    ax.scatter(*xy[k], s=700 * radii[k], c=colour[int(Z[k])], edgecolors="k", zorder=2)
ax.quiver(xy[:, 0], xy[:, 1], dxy[:, 0], dxy[:, 1], color="#ff7f0e", scale=2.2, width=0.006, zorder=3)
ax.set_aspect("equal")
ax.axis("off")
ax.set_title(f"Claisen rearrangement transition state, GFN2-xTB\n"
             f"jaxrxn saddle from Baker's guess: {int(ts.n_force_calls)} gradients; "
             f"imaginary mode {abs(vib.imaginary_frequency):.0f}i cm$^{{-1}}$ (arrows)", fontsize=10)
fig.tight_layout()
fig.savefig(HERE / "front.png")
