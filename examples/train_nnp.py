"""Train a flax neural-network potential on a Morse (Girifalco-Weizer Cu) 13-atom cluster,
check it on held-out configurations, save it, and relax a cluster with it.

    python examples/train_nnp.py [--steps 3000] [--out DIR]

Reference data: 400 rattled configurations of the relaxed Cu13 icosahedron (0.1 Å Gaussian
noise), energies and forces from jaxrxn's Morse potential; 300 train, 100 held out.
"""

import argparse
import os
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from ase.cluster import Icosahedron  # noqa: E402

from jaxrxn import minimize, morse_preset  # noqa: E402
from jaxrxn.potentials.neural import load_params, neural_potential, save_params, train_nnp  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--out", default="out")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    morse = morse_preset("Cu")
    R_min = minimize(morse, jnp.asarray(Icosahedron("Cu", noshells=2).positions), "lbfgs", fmax=1e-4).R
    R = np.asarray(R_min)[None] + np.random.default_rng(0).normal(scale=0.1, size=(400, 13, 3))
    E, F = jax.jit(jax.vmap(lambda R: morse.energy_and_forces(R)))(jnp.asarray(R))

    nnp = neural_potential([29] * 13, dim=3, r_cutoff=5.0, n_features=32, seed=0)
    t0 = time.perf_counter()
    trained, losses = train_nnp(
        nnp, R[:300], E[:300], F[:300], n_steps=args.steps, batch_size=16, seed=0,
        callback=lambda step, loss: print(f"step {step:5d}  loss {loss:.5f}"),
    )  # fmt: skip
    print(f"training: {time.perf_counter() - t0:.1f} s")

    e, f = jax.jit(jax.vmap(lambda R: trained.energy_and_forces(R)))(jnp.asarray(R[300:]))
    print(f"held out: energy MAE {float(jnp.mean(jnp.abs(e - E[300:]))) * 1e3:.2f} meV "
          f"(std {float(jnp.std(E[300:])) * 1e3:.1f} meV), force MAE "
          f"{float(jnp.mean(jnp.abs(f - F[300:]))) * 1e3:.1f} meV/A (std {float(jnp.std(F[300:])) * 1e3:.0f} meV/A)")  # fmt: skip

    path = os.path.join(args.out, "cu13_nnp.msgpack")
    save_params(trained, path)
    reloaded = load_params(nnp, path)
    relaxed = minimize(reloaded, jnp.asarray(R[300]), "lbfgs", fmax=0.01)
    print(f"relaxed with the reloaded NNP: E_nnp = {float(relaxed.energy):.4f} eV, "
          f"E_morse there = {float(morse.energy(relaxed.R)):.4f} eV, Morse minimum = {float(morse.energy(R_min)):.4f} eV")  # fmt: skip


if __name__ == "__main__":
    main()
