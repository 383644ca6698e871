"""jaxrxn.tune.BarrierBatchTarget: barriers of molecules of different sizes under one
potential, padded to one shape and refined in one vmapped Newton loop (how
benchmarks/nnp_fit_barriers.py fits the neural-network potential to many reactions).

Lennard-Jones LJ3 (equilateral triangle minimum, linear-chain saddle) and LJ4 (tetrahedron
minimum, square stationary point): closed-form energies, barriers proportional to epsilon
and independent of sigma."""

import jax
import numpy as np
import optax

from jaxrxn import System, lennard_jones
from jaxrxn.batch import pad_positions, stack_potentials
from jaxrxn.tune import BarrierBatchTarget, fit_to_barriers


def closed_form_barriers() -> np.ndarray:
    """With ``x = r^-6`` (eps = sigma = 1): the chain ``2 V(r) + V(2r) = (8 + 1/1024) x^2 -
    (8 + 1/16) x`` and the square ``4 V(r) + 2 V(sqrt2 r) = (16 + 1/8) x^2 - 17 x``, each
    minimal at ``-b^2 / 4a``, against the triangle's -3 and the tetrahedron's -6."""
    chain = -((8 + 1 / 16) ** 2) / (4 * (8 + 1 / 1024))
    square = -(17**2) / (4 * (16 + 1 / 8))
    return np.array([chain + 3.0, square + 6.0])


def geometries():
    r = 2 ** (1 / 6)
    tri = np.array([[0, 0, 0], [r, 0, 0], [r / 2, r * np.sqrt(3) / 2, 0]])
    chain = np.array([[-1.1, 0, 0], [0, 0, 0], [1.1, 0, 0]])
    tet = r / np.sqrt(8) * np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]])
    square = 1.1 * np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]])
    return [(tri, chain), (tet, square)]


def test_batch_barriers_closed_form_gradient_and_fit():
    jax.config.update("jax_enable_x64", True)
    pots = [lennard_jones(system=System(numbers=[18] * n, fixed=np.zeros(n, bool))) for n in (3, 4)]
    stacked = stack_potentials(pots)
    (m3, s3), (m4, s4) = geometries()
    target = BarrierBatchTarget(
        stacked.system, np.stack([pad_positions(m3, 4), m4]), np.stack([pad_positions(s3, 4), s4]),
        value=closed_form_barriers(), name=("LJ3", "LJ4"),
    )  # fmt: skip

    def values(params):
        v, _, ok = target.evaluate(pots[0].replace(params=params), target.initial_guess(), "free")
        return v, (v, ok)

    jac, (v, ok) = jax.jit(jax.jacrev(values, has_aux=True))(pots[0].params)
    assert bool(ok.all())
    np.testing.assert_allclose(np.asarray(v), closed_form_barriers(), rtol=1e-10)
    # E scales with epsilon at fixed geometry, and sigma only scales the geometry
    np.testing.assert_allclose(np.asarray(jac["epsilon"]), closed_form_barriers(), rtol=1e-8)
    np.testing.assert_allclose(np.asarray(jac["sigma"]), 0.0, atol=1e-8)

    # fit epsilon (sigma frozen) to barriers 10 % higher: the optimum is epsilon = 1.1
    goal = 1.1 * closed_form_barriers()
    fit_target = BarrierBatchTarget(target.systems, target.minima, target.saddles, value=goal, name=("LJ3", "LJ4"))
    opt = optax.multi_transform({"fit": optax.sgd(0.1), "frozen": optax.set_to_zero()}, {"epsilon": "fit", "sigma": "frozen"})
    fit = fit_to_barriers(pots[1], [fit_target], optimizer=opt, n_steps=100, tol=1e-7, zero_modes_spec="free", print_every=None)
    assert fit.names == ("LJ3", "LJ4") and fit.values.shape == (2,) and len(fit.loss_history) < 100
    np.testing.assert_allclose(float(fit.params["epsilon"]), 1.1, atol=1e-6)
    np.testing.assert_allclose(fit.values, goal, atol=1e-6)
