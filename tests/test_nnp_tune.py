"""Barriers of the shipped neural-network potential are differentiable in its parameters:
the implicit gradient (jaxrxn.tune: envelope theorem at Newton-polished stationary points)
equals central finite differences with both points re-converged at every displaced
parameter vector.

The barrier is ethane's internal rotation: the staggered (D3d) minimum and the eclipsed
(D3h) first-order saddle, both stationary by symmetry, so Newton polish from the ideal
geometries stays on them for any parameters near the trained ones."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrxn.nnp.model import pretrained
from jaxrxn.tune import stationary_energy


def ethane(twist_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """C2H6 (Å) with C-C 1.53, C-H 1.094, H-C-C 111.2 degrees; the lower methyl turned by
    `twist_deg` against the eclipsed form (60: staggered)."""
    z, rho = 0.765 + 1.094 * np.cos(np.radians(180 - 111.2)), 1.094 * np.sin(np.radians(180 - 111.2))
    R = [[0, 0, 0.765], [0, 0, -0.765]]
    for sign, offset in ((1, 0.0), (-1, twist_deg)):
        for k in range(3):
            a = np.radians(120 * k + offset)
            R.append([rho * np.cos(a), rho * np.sin(a), sign * z])
    return np.array([6, 6, 1, 1, 1, 1, 1, 1]), np.array(R)


@pytest.mark.slow  # one compilation of Newton polish with the PaiNN Hessian: ~25 s of CPU
def test_nnp_barrier_gradient_equals_reconverged_finite_differences():
    jax.config.update("jax_enable_x64", True)
    Z, R_min = ethane(60.0)
    _, R_ts = ethane(0.0)
    pot = pretrained(Z)
    guesses = jnp.stack([jnp.asarray(R_ts), jnp.asarray(R_min)])

    def barrier_of(params):
        # both points Newton-polished in one vmapped loop (one compilation, not two)
        polish = lambda R: stationary_energy(pot.replace(params=params), R, zero_modes_spec="free", gtol=1e-9, max_iterations=30)  # noqa: E731
        e, _, ok = jax.vmap(polish)(guesses)
        return e[0] - e[1], ok

    value_and_grad = jax.jit(jax.value_and_grad(barrier_of, has_aux=True))
    (b0, ok), grad = value_and_grad(pot.params)
    assert bool(ok.all())
    assert 0.02 < float(b0) < 0.5  # a torsion barrier of about 0.1 eV (GFN2-xTB and experiment: 0.1-0.13 eV)
    # the force scale and two weights of a hidden layer
    leaves, treedef = jax.tree_util.tree_flatten(pot.params)
    matrices = [k for k, leaf in enumerate(leaves) if leaf.ndim == 2]
    picks = [(k, ()) for k, leaf in enumerate(leaves) if leaf.ndim == 0] + [(matrices[-2], (0, 0)), (matrices[-2], (1, 0))]
    g_leaves = jax.tree_util.tree_leaves(grad)
    h = 1e-4
    for k, idx in picks:

        def shifted(d):
            new = list(leaves)
            new[k] = leaves[k].at[idx].add(d)
            (b, ok), _ = value_and_grad(jax.tree_util.tree_unflatten(treedef, new))
            assert bool(ok.all())
            return float(b)

        fd = (shifted(h) - shifted(-h)) / (2 * h)
        want = float(g_leaves[k][idx])
        assert abs(want) > 1e-5  # the parameter matters
        np.testing.assert_allclose(want, fd, rtol=1e-4, atol=1e-9)


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
