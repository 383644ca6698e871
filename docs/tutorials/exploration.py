"""Exploration and networks: SC-AFIR from one minimum of Muller-Brown finds the other
minima and the saddles between them; the reaction network as a disconnectivity graph.

    python docs/tutorials/exploration.py [FIGURE_DIR]      # default: docs/tutorials/figures
"""

import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

import jaxrxn  # noqa: E402
from jaxrxn.explore.explorer import AFIRExplorer, ExploreSettings  # noqa: E402
from jaxrxn.plot import plot_surface  # noqa: E402

out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "figures")
out.mkdir(parents=True, exist_ok=True)

mb = jaxrxn.muller_brown()
A = np.array([[-0.558224, 1.441726]])
# one particle on a surface: the artificial force pulls along 12 directions, its strength
# ramped to alpha_max; every AFIR path is refined by CI-NEB, P-RFO and descents to minima
settings = ExploreSettings(alpha_max=400.0, n_alpha=21, n_directions=12, neb_fmax=0.5, descent_step=0.01, saddle_fmax=1e-6)
explorer = AFIRExplorer(mb, settings)
network = explorer.run(A, max_minima=10)
print(network.summary())
print(f"finished: {explorer.finished}; force calls {explorer.stats.force_calls}")
for ts in network.transition_states:
    print(f"TS {ts.energy:9.4f} between minima {ts.minima}")

network.plot_disconnectivity(str(out / "exploration_disconnectivity.png"), energy_unit="Muller-Brown units")
points = {f"EQ{k}": np.asarray(m.R)[0] for k, m in enumerate(network.minima)}
points.update({f"TS{k}": np.asarray(t.R)[0] for k, t in enumerate(network.transition_states)})
plot_surface(mb, str(out / "exploration_surface.png"), points=points, title="minima and saddles found by SC-AFIR from EQ0")
