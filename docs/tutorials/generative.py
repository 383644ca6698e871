"""Generative models: a flow-matching path generator (flax, optax) trained on CI-NEB paths
of random 2D surfaces, asked for the path between the end points of surfaces it has never
seen, against linear interpolation.

    python docs/tutorials/generative.py [FIGURE_DIR]      # default: docs/tutorials/figures
"""

import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jaxrxn.generative.data import build_surface_paths, surface_pathset  # noqa: E402
from jaxrxn.generative.flow import FlowConfig, SurfaceFlow, generate, path_rmsd, train  # noqa: E402
from jaxrxn.generative.surfaces import stack_params, surface_from_params  # noqa: E402
from jaxrxn.path import linear  # noqa: E402
from jaxrxn.plot import plot_surface  # noqa: E402

out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "figures")
out.mkdir(parents=True, exist_ok=True)

# --- 1. data: CI-NEB reactions between neighbouring minima of random multi-Gaussian surfaces
train_seeds, test_seeds = list(range(120)), list(range(10**6, 10**6 + 30))  # disjoint surfaces
reactions = build_surface_paths(train_seeds + test_seeds, grid=6, n_images=13)  # one vmapped CI-NEB build
# most neighbour-to-neighbour paths are nearly straight; keep the curved ones, where
# interpolation is wrong (straight line longer than the path by 20 % or more)
curved = [r for r in reactions if float(r.extras["linear_excess"]) >= 0.2]
train_rx = [r for r in curved if int(r.extras["seed"]) < 10**6]
test_rx = [r for r in curved if int(r.extras["seed"]) >= 10**6]
print(f"{len(reactions)} reactions, {len(curved)} curved: {len(train_rx)} for training, {len(test_rx)} on held-out surfaces")

# --- 2. train the conditioned flow (the network sees the surface and the wanted final state)
model, cfg = SurfaceFlow(features=32), FlowConfig(n_steps=600, batch_size=64, learning_rate=3e-3)
state = train(model, surface_pathset(train_rx), cfg, log_every=150, callback=lambda step, m: print(f"  step {step}: loss {m['loss']:.4f}"))

# --- 3. generate the held-out paths from their end points, one vmap
test = surface_pathset(test_rx)
x_is, x_fs = test.paths[:, 0], test.paths[:, -1]
frames, _ = jax.jit(jax.vmap(lambda a, c, d: generate(model, state.params, a, c, d, 1.0, n_steps=30)))(x_is, test.context, test.cond)
generated = jnp.concatenate([frames, x_fs[:, None]], axis=1)
straight = jax.vmap(lambda a, b: linear(a, b, 21))(x_is, x_fs)
rmsd_gen = np.asarray(jax.vmap(path_rmsd)(generated, test.paths))
rmsd_lin = np.asarray(jax.vmap(path_rmsd)(straight, test.paths))
print(f"path RMSD to the CI-NEB path, median over {len(test_rx)} held-out reactions: "
      f"generated {np.median(rmsd_gen):.3f}, linear {np.median(rmsd_lin):.3f}")

k = int(np.argmax(rmsd_lin))  # the most curved held-out reaction
surface = surface_from_params(jax.tree_util.tree_map(lambda x: x[k], stack_params([int(r.extras["seed"]) for r in test_rx])))
shown = [np.asarray(p).reshape(-1, 2) for p in (straight[k], test.paths[k], generated[k])]
lo, hi = np.min([p.min(0) for p in shown], 0) - 0.5, np.max([p.max(0) for p in shown], 0) + 0.5
plot_surface(surface, str(out / "generative_path.png"), paths=shown, xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]), vmax=None,
             points={"IS": np.asarray(x_is[k, 0]), "FS": np.asarray(x_fs[k, 0])},
             title="held-out surface: linear, CI-NEB and generated paths")
