"""jaxrxn.tune.fit_to_barriers with a regularizer (how the neural-network potential is fitted
to barriers jointly with its energy and force loss, benchmarks/nnp_fit_barriers.py)."""

import jax
import jax.numpy as jnp
import numpy as np


def test_fit_to_barriers_adds_the_regularizer_to_the_loss():
    """A target whose stationary point is ``a* = theta`` (``E(a) = (a - theta)^2``) with value
    ``v``, plus ``lam (theta - theta0)^2``: the minimum of ``(theta - v)^2 + lam (theta -
    theta0)^2`` is ``theta = (v + lam theta0) / (1 + lam)``, not the target itself."""
    import optax

    from jaxrxn.potentials.core import Potential
    from jaxrxn.tune import LatticeConstantTarget, fit_to_barriers

    jax.config.update("jax_enable_x64", True)
    v, theta0, lam = 2.0, 1.0, 3.0
    target = LatticeConstantTarget(lambda a, p: (a - p["theta"]) ** 2, a_guess=theta0, value=v)
    pot = Potential(lambda R, system, p: 0.0 * jnp.sum(R), {"theta": jnp.asarray(theta0)})
    reg = lambda p: lam * (p["theta"] - theta0) ** 2  # noqa: E731
    fit = fit_to_barriers(pot, [target], optimizer=optax.adam(0.05), n_steps=400, regularizer=reg, print_every=None)
    np.testing.assert_allclose(float(fit.params["theta"]), (v + lam * theta0) / (1 + lam), atol=1e-4)
    theta = float(fit.params["theta"])
    np.testing.assert_allclose(fit.loss_history[-1], (theta - v) ** 2 + lam * (theta - theta0) ** 2, rtol=1e-8)
