"""Quickstart: find the three Muller-Brown minima and draw the surface.

    python examples/quickstart.py [--out DIR]

Writes DIR/muller_brown.png (default DIR: out/).
"""

import argparse
import os

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jaxrxn  # noqa: E402
from jaxrxn.plot import plot_surface  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="out")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    mb = jaxrxn.muller_brown()
    starts = jnp.array([[[-0.5, 1.5]], [[0.6, 0.1]], [[0.0, 0.5]]])
    relax = jax.jit(jax.vmap(lambda R: jaxrxn.minimize(mb, R, "lbfgs", fmax=1e-6, max_steps=500)))
    res = relax(starts)
    points = {}
    for label, R, e, ok, n in zip("ABC", res.R, res.energy, res.converged, res.n_force_calls):
        print(f"minimum {label}: x = {R[0, 0]: .6f}, y = {R[0, 1]: .6f}, E = {e:.4f}"
              f"  (converged={bool(ok)}, {int(n)} force calls)")  # fmt: skip
        points[label] = np.asarray(R[0])
    fn = os.path.join(args.out, "muller_brown.png")
    plot_surface(mb, fn, points=points, title="Muller-Brown minima")
    print(f"wrote {fn}")


if __name__ == "__main__":
    main()
