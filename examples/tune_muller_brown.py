"""Tune Muller-Brown amplitudes so that the A -> S1 barrier reaches a target height.

    python examples/tune_muller_brown.py [--target 100.0]

Only the four amplitudes A_i are fitted (optax.multi_transform freezes the rest); each
step warm-starts the Newton refinement of minimum A and saddle S1 from the previous
step and differentiates the barrier by the envelope theorem.
"""

import argparse

import jax

jax.config.update("jax_enable_x64", True)
import numpy as np  # noqa: E402
import optax  # noqa: E402

import jaxrxn  # noqa: E402
from jaxrxn.tune import BarrierTarget, fit_to_barriers  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", type=float, default=100.0)
    args = parser.parse_args()
    mb = jaxrxn.muller_brown()
    A = np.array([[-0.558224, 1.441726]])
    S1 = np.array([[-0.822002, 0.624313]])
    labels = {k: ("fit" if k == "A" else "frozen") for k in mb.params}
    opt = optax.multi_transform({"fit": optax.adam(1.0), "frozen": optax.set_to_zero()}, labels)
    res = fit_to_barriers(mb, [BarrierTarget(A, S1, args.target, name="A->S1")], optimizer=opt, n_steps=400, tol=1e-4, print_every=25)
    print(f"barrier before {res.initial_values[0]:.4f}, after {res.values[0]:.4f} (target {args.target})")
    print("amplitudes before", np.asarray(mb.params["A"]), "after", np.round(np.asarray(res.params["A"]), 4))


if __name__ == "__main__":
    main()
