"""Differentiable barriers: envelope theorem, implicit function theorem, fitting.

Reference values: shared/reference/paths_saddles.md §1.1 [run] (Muller-Brown barrier
gradients and the saddle-position derivative), rare_events.md §6.3 (2D LJ7 saddles).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from ase.build import add_adsorbate, fcc100
from ase.constraints import FixAtoms

import jaxrxn
from jaxrxn.io import from_atoms
from jaxrxn.saddle import PRFO, saddle_search
from jaxrxn.tune import BarrierTarget, barrier, fit_to_barriers, polish_stationary_point, stationary_point

from helpers import LJ7_SADDLE_11_0403, lj7_hexagon

MB = jaxrxn.muller_brown()
MB_A = jnp.array([[-0.558224, 1.441726]])
MB_S1 = jnp.array([[-0.822002, 0.624313]])


def _fd_grad(f, params, h_rel=1e-5):
    """Central differences of a scalar f over every entry of a dict of arrays."""
    out = {}
    for k, v in params.items():
        g = np.zeros(v.shape)
        for idx in np.ndindex(v.shape):
            h = h_rel * max(1.0, abs(float(v[idx])))
            up = {**params, k: v.at[idx].add(h)}
            dn = {**params, k: v.at[idx].add(-h)}
            g[idx] = (float(f(up)) - float(f(dn))) / (2 * h)
        out[k] = g
    return out


# Re-converges both stationary points from the same guesses at every perturbed parameter.
mb_barrier = jax.jit(lambda p: barrier(MB.replace(params=p), MB_A, MB_S1, gtol=1e-11))
mb_barrier_grad = jax.jit(jax.grad(lambda p: barrier(MB.replace(params=p), MB_A, MB_S1, gtol=1e-11)))


def test_muller_brown_barrier_and_amplitude_gradient():
    assert float(mb_barrier(MB.params)) == pytest.approx(106.0347, abs=1e-4)
    g = np.asarray(mb_barrier_grad(MB.params)["A"])
    # paths_saddles.md §1.1: (7.34000e-4, 0.435849, -0.915672, -0.393194); the first entry
    # is given there to 3 significant digits only (re-converged finite differences give
    # 7.33741e-4, see the next test).
    np.testing.assert_allclose(g[0], 7.34e-4, rtol=2e-3)
    np.testing.assert_allclose(g[1:], [0.435849, -0.915672, -0.393194], atol=2e-6)


def test_muller_brown_gradient_matches_finite_differences_all_params():
    g = mb_barrier_grad(MB.params)
    fd = _fd_grad(mb_barrier, MB.params)
    for k in MB.params:
        np.testing.assert_allclose(np.asarray(g[k]), fd[k], rtol=1e-5, atol=1e-7, err_msg=k)


def test_muller_brown_saddle_position_derivative():
    jac = jax.jit(jax.jacfwd(lambda p: stationary_point(MB.replace(params=p), MB_S1, gtol=1e-11)[0]))(MB.params)
    # paths_saddles.md §1.1: dS1/dA_0 = (1.5e-5, 1.3e-6)
    np.testing.assert_allclose(np.asarray(jac["A"])[0, :, 0], [1.5e-5, 1.3e-6], rtol=0.05)
    geom = jax.jit(lambda p: stationary_point(MB.replace(params=p), MB_S1, gtol=1e-11)[0][0])
    for k in ("A", "x0", "c"):
        for comp in range(2):
            fd = _fd_grad(lambda p: geom(p)[comp], MB.params, h_rel=1e-5)[k]
            np.testing.assert_allclose(np.asarray(jac[k])[0, comp], fd, rtol=1e-4, atol=1e-9, err_msg=f"{k}[{comp}]")
    # reverse mode agrees with forward mode
    jrev = jax.jacrev(lambda p: stationary_point(MB.replace(params=p), MB_S1, gtol=1e-11)[0])(MB.params)
    np.testing.assert_allclose(np.asarray(jrev["A"]), np.asarray(jac["A"]), rtol=1e-10, atol=1e-14)


def test_vmap_over_a_batch_of_reactions():
    scales = jnp.array([0.9, 1.0, 1.1])
    batch = jax.tree_util.tree_map(lambda x: jnp.stack([x * s if x is MB.params["A"] else x for s in scales]), MB.params)
    vals = jax.vmap(lambda p: barrier(MB.replace(params=p), MB_A, MB_S1))(batch)
    grads = jax.vmap(jax.grad(lambda p: barrier(MB.replace(params=p), MB_A, MB_S1)))(batch)
    for i, s in enumerate(scales):
        p = {**MB.params, "A": MB.params["A"] * s}
        np.testing.assert_allclose(vals[i], 106.0347 * s, rtol=1e-6)  # E is linear in A
        np.testing.assert_allclose(grads["A"][i], mb_barrier_grad(p)["A"], rtol=1e-8)


def test_lj7_barrier_scaling_laws_and_geometry_derivative():
    # 2D LJ7 without cutoff: E(R; eps, sigma) = eps f(R / sigma), so the barrier is
    # proportional to eps and independent of sigma, and the saddle scales with sigma.
    lj = jaxrxn.lennard_jones(dim=2)
    hexagon = jaxrxn.minimize(lj, jnp.asarray(lj7_hexagon()), "lbfgs", fmax=1e-8, max_steps=2000).R
    f = lambda p: barrier(lj.replace(params=p), hexagon, jnp.asarray(LJ7_SADDLE_11_0403), zero_modes_spec="free", gtol=1e-10)
    b = float(f(lj.params))
    assert b == pytest.approx(1.4946, abs=1e-4)  # rare_events.md §6.3
    g = jax.grad(f)(lj.params)
    np.testing.assert_allclose(float(g["epsilon"]), b, rtol=1e-8)
    assert abs(float(g["sigma"])) < 1e-7
    fd = _fd_grad(jax.jit(f), lj.params, h_rel=1e-5)
    np.testing.assert_allclose(float(g["epsilon"]), fd["epsilon"], rtol=1e-5)
    np.testing.assert_allclose(float(g["sigma"]), fd["sigma"], atol=1e-6)
    # dR*/dsigma = R*/sigma up to a rigid-body motion (the implicit solve returns the
    # component on the true degrees of freedom)
    jac = jax.jacfwd(lambda p: stationary_point(lj.replace(params=p), jnp.asarray(LJ7_SADDLE_11_0403), zero_modes_spec="free", gtol=1e-10)[0])(lj.params)
    R = np.asarray(stationary_point(lj, jnp.asarray(LJ7_SADDLE_11_0403), zero_modes_spec="free", gtol=1e-10)[0])
    V = np.asarray(jaxrxn.geometry.rigid_body_modes(jnp.asarray(R)))
    expect = R.reshape(-1) - V.T @ (V @ R.reshape(-1))
    np.testing.assert_allclose(np.asarray(jac["sigma"]).reshape(-1), expect, atol=1e-7)


def _morse_hop():
    # Cu adatom hop on a Girifalco-Weizer Morse Cu(100) slab at Morse's own lattice
    # constant (6x6 in plane so the cell is wider than twice the 6.76 Å cutoff; three
    # layers, bottom one fixed, to keep the test small).
    slab = fcc100("Cu", (6, 6, 3), a=3.6447, vacuum=6.0)
    add_adsorbate(slab, "Cu", 1.7, "hollow")
    slab.set_constraint(FixAtoms(mask=slab.get_tags() == 3))
    R, system = from_atoms(slab)
    pot = jaxrxn.morse_preset("Cu", cell=system.cell, pbc=system.pbc, fixed=system.fixed)
    # a seeded 0.01 Å rattle of the free atoms: from the perfectly symmetric slab L-BFGS can
    # stop on a stationary point with a soft negative slab mode (-0.024 eV/Å² with one BLAS
    # thread), and P-RFO then converges to an index-2 point of hop + slab mode
    rattle = np.random.default_rng(0).normal(scale=1e-2, size=np.shape(R))
    R = np.asarray(R) + np.where(np.asarray(system.fixed)[:, None], 0.0, rattle)
    rmin = jaxrxn.minimize(pot, jnp.asarray(R), "lbfgs", fmax=1e-6, max_steps=2000).R
    guess = rmin.at[-1, 0].add(slab.cell[0, 0] / 12)  # adatom over the bridge
    ts = saddle_search(pot, guess, PRFO(), fmax=1e-6, max_steps=100)
    assert bool(ts.converged) and int(ts.saddle_index) == 1
    return pot, rmin, ts.R


def test_morse_hop_barrier_gradient_matches_finite_differences():
    pot, rmin, rts = _morse_hop()
    f = jax.jit(lambda p: barrier(pot.replace(params=p), rmin, rts, gtol=1e-10))
    g = jax.grad(lambda p: barrier(pot.replace(params=p), rmin, rts, gtol=1e-10))(pot.params)
    # h_rel 1e-6: the saddle has a soft slab mode (0.021 eV/Å²), so the re-converged saddle
    # moves far along it when r0 changes and B(r0) is strongly curved: central differences
    # of the r0 component are off by 4.2e-2 / 5.2e-3 / 4.6e-5 relative at h_rel 1e-3 / 1e-4 /
    # 1e-5 (falling as h^2, a truncation error) and by 6e-8 at 1e-6 (measured 2026-12-04)
    fd = _fd_grad(f, pot.params, h_rel=1e-6)
    # the value equals the energy difference of the points L-BFGS and P-RFO converged to
    # (fmax 1e-6) without the implicit machinery: 0.2328 eV on this 6x6x3 slab
    # (rare_events.md §6.2 gives 0.2360 on a 6x6x4 slab with 3 layers fixed)
    assert float(f(pot.params)) == pytest.approx(float(pot.energy(rts) - pot.energy(rmin)), abs=1e-8)
    assert float(f(pot.params)) == pytest.approx(0.2360, abs=0.02)
    for k in pot.params:
        np.testing.assert_allclose(float(g[k]), fd[k], rtol=1e-5, err_msg=k)


def test_unconverged_stationary_point_has_nan_gradient():
    far = jnp.array([[0.3, 1.0]])
    g = jax.grad(lambda p: barrier(MB.replace(params=p), MB_A, far, max_iterations=1))(MB.params)
    assert np.all(np.isnan(np.asarray(g["A"])))
    j = jax.jacfwd(lambda p: stationary_point(MB.replace(params=p), far, max_iterations=1)[0])(MB.params)
    assert np.all(np.isnan(np.asarray(j["A"])))
    sp = polish_stationary_point(MB, far, max_iterations=1)
    assert not bool(sp.converged)


def test_fit_amplitudes_to_a_target_barrier(capsys):
    labels = {k: ("fit" if k == "A" else "frozen") for k in MB.params}
    opt = optax.multi_transform({"fit": optax.adam(1.0), "frozen": optax.set_to_zero()}, labels)
    res = fit_to_barriers(MB, [BarrierTarget(np.asarray(MB_A), np.asarray(MB_S1), 100.0)], optimizer=opt, n_steps=300, tol=1e-3, print_every=50)
    assert res.converged and abs(res.errors[0]) <= 1e-3
    assert res.initial_values[0] == pytest.approx(106.0347, abs=1e-4)
    np.testing.assert_array_equal(np.asarray(res.params["x0"]), np.asarray(MB.params["x0"]))
    assert "fit step" in capsys.readouterr().out


def test_fit_that_loses_its_saddle_keeps_the_last_converged_parameters(capsys):
    """Adam at lr 3 moves the Muller-Brown surface so far in one step that Newton cannot
    re-polish the saddle from the previous geometry: the fit ends with converged=False,
    stationary_point_lost, and step 0's parameters and values (barrier 106.0347), not an
    exception that throws the fit away. Starting geometries that do not converge at all
    are bad input (ValueError)."""
    target = BarrierTarget(np.asarray(MB_A), np.asarray(MB_S1), 100.0)
    res = fit_to_barriers(MB, [target], optimizer=optax.adam(3.0), n_steps=20, print_every=1)
    assert not res.converged and res.result == jaxrxn.RESULTS.stationary_point_lost
    assert res.lost == ("barrier",) and len(res.loss_history) == 1
    for k in MB.params:
        np.testing.assert_array_equal(np.asarray(res.params[k]), np.asarray(MB.params[k]))
    assert res.values[0] == pytest.approx(106.0347, abs=1e-4)
    assert "stationary points lost" in capsys.readouterr().out
    with pytest.raises(ValueError, match="do not converge with the starting parameters"):
        fit_to_barriers(MB, [BarrierTarget(np.asarray(MB_A), np.array([[0.3, 1.0]]), 100.0)], n_steps=2, print_every=None)


def test_polish_cap_and_counts_are_reported():
    # Newton from a guess 0.1 Å off the Muller-Brown saddle needs more than one iteration
    sp = polish_stationary_point(MB, MB_S1 + 0.1, max_iterations=1)
    assert not bool(sp.converged) and sp.result == jaxrxn.RESULTS.step_cap_reached
    assert int(sp.n_iterations) == 1 and int(sp.n_hessian_calls) == 1
    with pytest.raises(Exception, match="step cap"):
        polish_stationary_point(MB, MB_S1 + 0.1, max_iterations=1, throw=True)
    sp = polish_stationary_point(MB, MB_S1 + 0.01)
    assert bool(sp.converged) and sp.result == jaxrxn.RESULTS.successful


def _lj_pair_energy(a, p):
    """LJ "lattice" of one pair at spacing `a`: its minimum is at a* = 2^(1/6) sigma."""
    return 4 * p["eps"] * ((p["sigma"] / a) ** 12 - (p["sigma"] / a) ** 6)


def _params_only_potential(params):
    """A potential that only carries `params` (a lattice-constant target has its own energy)."""
    from jaxrxn.potentials.core import Potential

    return Potential(lambda R, system, p: jnp.sum(R) * 0.0, params)


def test_lattice_constant_target_closed_form_value_and_gradient():
    # a* = 2^(1/6) sigma, so da*/dsigma = 2^(1/6) and da*/deps = 0
    from jaxrxn.tune import LatticeConstantTarget

    target = LatticeConstantTarget(_lj_pair_energy, 1.5, 1.46)
    params = {"eps": jnp.asarray(0.7), "sigma": jnp.asarray(1.3)}
    pot = _params_only_potential(params)

    def a_star(p):
        value, _, ok = target.evaluate(pot.replace(params=p), target.initial_guess(), "auto")
        return value

    np.testing.assert_allclose(float(a_star(params)), 2 ** (1 / 6) * 1.3, rtol=1e-10)
    g = jax.grad(a_star)(params)
    np.testing.assert_allclose([float(g["sigma"]), float(g["eps"])], [2 ** (1 / 6), 0.0], atol=1e-8)


def test_reaction_energy_target_value_and_envelope_gradient():
    # Muller-Brown A -> B: -108.1667 - (-146.6995) = 38.5328 (paths_saddles.md §1.1); by the
    # envelope theorem its parameter gradient is dE/dp at fixed B minus dE/dp at fixed A
    from jaxrxn.tune import ReactionEnergyTarget

    MB_B = jnp.array([[0.623499, 0.028038]])
    target = ReactionEnergyTarget(np.asarray(MB_A) + 0.01, np.asarray(MB_B) - 0.01, 38.0)

    def dE(p):
        value, _, ok = target.evaluate(MB.replace(params=p), target.initial_guess(), "auto")
        return value

    assert float(dE(MB.params)) == pytest.approx(38.5328, abs=1e-4)
    g = jax.grad(dE)(MB.params)
    e_at = lambda R: jax.grad(lambda p: MB.replace(params=p).energy(R))(MB.params)  # noqa: E731
    gB, gA = e_at(MB_B), e_at(MB_A)
    for k in MB.params:
        np.testing.assert_allclose(np.asarray(g[k]), np.asarray(gB[k]) - np.asarray(gA[k]), rtol=1e-4, atol=1e-4, err_msg=k)


def test_huber_fit_follows_the_majority_not_one_far_target():
    """Three lattice-constant targets on one LJ pair, a* = 2^(1/6) sigma: 1.0, 1.1 and a far
    3.0 Å. Squared errors put a* at their mean (1.7 Å); Huber errors with delta 0.05 Å
    reach 1.1 Å, where the two outer targets' clipped slopes (+-delta) cancel and the middle
    one is met (the Huber M-estimate of location, Huber, Ann. Math. Stat. 35, 73 (1964)).
    The first loss is twice optax's Huber loss of the errors at sigma = 1."""
    from jaxrxn.tune import LatticeConstantTarget

    pot = _params_only_potential({"eps": jnp.asarray(0.7), "sigma": jnp.asarray(1.0)})
    targets = [LatticeConstantTarget(_lj_pair_energy, 1.12, v, name=f"a = {v}") for v in (1.0, 1.1, 3.0)]
    res = fit_to_barriers(pot, targets, optimizer=optax.adam(0.02), n_steps=300, huber_delta=0.05, print_every=None)
    assert res.converged
    np.testing.assert_allclose(res.values, 1.1, atol=1e-6)
    e = 2 ** (1 / 6) - np.array([1.0, 1.1, 3.0])
    assert res.loss_history[0] == pytest.approx(2 * 0.05 * (abs(e[0]) - 0.025) + e[1] ** 2 + 2 * 0.05 * (abs(e[2]) - 0.025), rel=1e-10)
    with pytest.raises(ValueError, match="huber_delta must be positive"):
        fit_to_barriers(pot, targets, huber_delta=0.0)
