"""Differentiable barriers and fitting: d(barrier)/d(params) by the implicit function
theorem, checked against finite differences, then a fit of Muller-Brown's amplitudes to a
target barrier with optax.

    python docs/tutorials/tuning.py [FIGURE_DIR]      # default: docs/tutorials/figures
"""

import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import jaxrxn  # noqa: E402
from jaxrxn.tune import BarrierTarget  # noqa: E402

out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "figures")
out.mkdir(parents=True, exist_ok=True)

mb = jaxrxn.muller_brown()
A = np.array([[-0.558224, 1.441726]])  # minimum
S1 = np.array([[-0.822002, 0.624313]])  # saddle


# --- 1. the barrier as a differentiable function of the potential's parameters
def barrier_of(params):
    # both points are refined by Newton polish; the gradient comes from the envelope theorem
    return jaxrxn.barrier(mb.replace(params=params), A, S1)


value, grad = jax.value_and_grad(barrier_of)(mb.params)
print(f"barrier {float(value):.4f}; d(barrier)/dA_i = {np.round(np.asarray(grad['A']), 5)}")
h, i = 1e-4, 0
plus = {**mb.params, "A": mb.params["A"].at[i].add(h)}
minus = {**mb.params, "A": mb.params["A"].at[i].add(-h)}
fd = (float(barrier_of(plus)) - float(barrier_of(minus))) / (2 * h)
print(f"d(barrier)/dA_0: implicit {float(grad['A'][i]):.6f}, central difference {fd:.6f}")

# --- 2. fit the four amplitudes A_i (the rest frozen) so that the barrier becomes 100
labels = {k: ("fit" if k == "A" else "frozen") for k in mb.params}
optimizer = optax.multi_transform({"fit": optax.adam(1.0), "frozen": optax.set_to_zero()}, labels)
fit = jaxrxn.fit_to_barriers(mb, [BarrierTarget(A, S1, 100.0, name="A->S1")], optimizer=optimizer,
                             n_steps=200, tol=1e-3, print_every=None)
print(f"barrier before {fit.initial_values[0]:.4f}, after {fit.values[0]:.4f} (target 100), "
      f"{len(fit.loss_history) - 1} steps; amplitudes {np.round(np.asarray(fit.params['A']), 3)}")

fig, ax = plt.subplots(figsize=(4.5, 3.2), dpi=120)
ax.semilogy(np.maximum(np.asarray(fit.loss_history), 1e-12))
ax.set(xlabel="optax step", ylabel="(barrier - 100)$^2$", title="fitting Muller-Brown to a barrier")
fig.tight_layout()
fig.savefig(out / "tuning_fit.png")
