"""The generative models' polishing helpers on Muller-Brown, against its tabulated points
(paths_saddles.md §1.1): A (-146.6995), C (-80.7678), S1 (-40.6648): barrier A -> C 106.0347."""

import jax.numpy as jnp
import numpy as np

import jaxrxn
from jaxrxn.generative.diffusion import neb_from_path
from jaxrxn.generative.flow import refine_path, relax_final
from jaxrxn.path import NEB, linear

MB = jaxrxn.muller_brown()
A = np.array([[-0.558224, 1.441726]])
C = np.array([[-0.050011, 0.466694]])


def test_relax_final_lands_on_the_minimum():
    res = relax_final(MB, jnp.asarray(C + 0.05))
    assert bool(res.converged)
    np.testing.assert_allclose(res.R, C, atol=2e-4)
    np.testing.assert_allclose(float(res.energy), -80.7678, atol=1e-4)


def test_refine_path_puts_the_relaxed_final_state_last_and_climbs_to_s1():
    # a "generated" path that ends off the minimum; R_final is the relaxed minimum
    frames = jnp.asarray(linear(A, C + 0.05, 30))
    short = refine_path(MB, frames, jnp.asarray(C), n_images=9, max_steps=0)
    np.testing.assert_allclose(short.path[0], A)
    np.testing.assert_allclose(short.path[-1], C)
    long = refine_path(MB, frames, jnp.asarray(C), n_images=9, max_steps=500, solver=NEB())
    assert bool(long.converged)
    np.testing.assert_allclose(float(long.barrier), 106.0347, atol=5e-3)


def test_neb_from_path_resamples_and_relaxes_to_s1():
    res = neb_from_path(MB, jnp.asarray(linear(A, C, 40)), n_images=9, solver=NEB())
    assert bool(res.converged) and res.path.shape == (9, 1, 2)
    np.testing.assert_allclose(float(res.barrier), 106.0347, atol=5e-3)
