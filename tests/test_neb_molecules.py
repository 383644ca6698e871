"""Bands for free molecules: IDPP between nearly collinear end states (checked at the end
points only, atoms kept apart as ASE's IDPP keeps them) and rigid-motion removal from the
NEB forces (closed form: no net force, no net torque, internal part unchanged)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)

# HCN and HNC relaxed with GFN2-xTB (from Birkholz & Schlegel 2015, reaction 02_hcn), Å,
# HNC Kabsch-aligned onto HCN with equal weights: both linear along y, C and N trade
# places, and the straight line passes N through C (0.01 Å apart halfway).
HCN = np.array([[0.00000479, 0.0263841, 0.00001849], [0.00006024, 1.0848735, 0.00062139], [-0.00006503, -1.1112576, -0.00063987]])
HNC = np.array([[-0.00005091, -1.10481215, -0.0006222], [0.00005121, 1.05119466, 0.00059482], [-0.0000003, 0.05361749, 0.00002739]])


def _min_distance(band) -> float:
    band = np.asarray(band)
    d = np.linalg.norm(band[:, :, None] - band[:, None], axis=-1)
    d += 1e9 * np.eye(band.shape[1])
    return float(d.min())


def test_idpp_repairs_colliding_straight_line_like_ase():
    from ase import Atoms
    from ase.mep import NEB

    from jaxrxn.path import idpp, linear

    n = 9
    assert _min_distance(linear(HCN, HNC, n)) < 0.02  # what the old check refused
    band = idpp(HCN, HNC, n)
    np.testing.assert_allclose(band[0], HCN)
    np.testing.assert_allclose(band[-1], HNC)
    images = [Atoms("CHN", positions=HCN) for _ in range(n - 1)] + [Atoms("CHN", positions=HNC)]
    NEB(images, method="improvedtangent").interpolate("idpp")
    ase_min = _min_distance(np.stack([im.positions for im in images]))
    assert ase_min > 0.9
    assert _min_distance(band) >= ase_min - 0.05


def test_idpp_still_checks_end_points():
    from jaxrxn.path import idpp

    bad = HNC.copy()
    bad[1] = bad[0] + [0.1, 0.0, 0.0]
    with pytest.raises(ValueError, match="final state has overlapping atoms"):
        idpp(HCN, bad, 5)
    with pytest.raises(ValueError, match="NaN"):
        idpp(HCN, np.where(np.arange(9).reshape(3, 3) == 4, np.nan, HNC), 5)


def test_remove_rigid_motion_closed_form():
    from jaxrxn.geometry import rigid_body_modes
    from jaxrxn.path.elastic_band import remove_rigid_motion

    rng = np.random.default_rng(0)
    R = jnp.asarray(rng.normal(size=(5, 3)))
    V = np.asarray(rigid_body_modes(R))
    internal = rng.normal(size=15)
    internal -= V.T @ (V @ internal)
    rigid = V.T @ rng.normal(size=6)
    f = np.asarray(remove_rigid_motion(R, jnp.asarray((internal + rigid).reshape(5, 3))))
    np.testing.assert_allclose(f.reshape(-1), internal, atol=1e-12)
    # no net force and no net torque about the centre
    np.testing.assert_allclose(f.sum(0), 0.0, atol=1e-12)
    X = np.asarray(R) - np.asarray(R).mean(0)
    np.testing.assert_allclose(np.cross(X, f).sum(0), 0.0, atol=1e-12)


def test_neb_forces_without_rigid_motion_on_a_band():
    """With ``remove_rigid`` every image's NEB force is free of translation and rotation;
    without it a band whose images are turned against each other gets a net torque."""
    from jaxrxn.path import NEB, idpp
    from jaxrxn.path.elastic_band import NEBArgs
    from jaxrxn.potentials import lennard_jones

    band = np.array(idpp(HCN, HNC, 5))
    theta = 0.3  # turn the middle image: the spring force then has a rotational part
    c, s = np.cos(theta), np.sin(theta)
    band[2] = (band[2] - band[2].mean(0)) @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) + band[2].mean(0)
    pot = lennard_jones(0.01, 1.0)
    args = NEBArgs(jnp.asarray(0.05))

    def torques(solver):
        state = solver.init(pot, jnp.asarray(band), args)
        f = np.asarray(state.neb_forces)
        X = band[1:-1] - band[1:-1].mean(1, keepdims=True)
        return np.abs(np.cross(X, f).sum(1)).max(), np.abs(f.sum(1)).max()

    torque, net = torques(NEB(k=1.0, climb=False, remove_rigid=True))
    assert torque < 1e-10 and net < 1e-10
    torque_plain, _ = torques(NEB(k=1.0, climb=False))
    assert torque_plain > 1e-3


def _muller_brown_3d(R):
    """Muller-Brown (K. Muller & L. D. Brown, Theor. Chim. Acta 53, 75 (1979)) in x, y plus
    z^2, for one atom in 3D, in NumPy: ``(energy, forces)``."""
    A, a, b, c = (-200.0, -100.0, -170.0, 15.0), (-1.0, -1.0, -6.5, 0.7), (0.0, 0.0, 11.0, 0.6), (-10.0, -10.0, -6.5, 0.7)
    x0, y0 = (1.0, 0.0, -0.5, -1.0), (0.0, 0.5, 1.5, 1.0)
    x, y, z = R[0]
    e, gx, gy = z * z, 0.0, 0.0
    for Ak, ak, bk, ck, xk, yk in zip(A, a, b, c, x0, y0):
        dx, dy = x - xk, y - yk
        t = Ak * np.exp(ak * dx * dx + bk * dx * dy + ck * dy * dy)
        e, gx, gy = e + t, gx + t * (2 * ak * dx + bk * dy), gy + t * (bk * dx + 2 * ck * dy)
    return e, -np.array([[gx, gy, 2 * z]])


class _Flaky:
    """The surface above, failing (like an unconverged SCF) on evaluations `first` to `last`."""

    def __init__(self, first: int, last: int):
        self.first, self.last, self.calls = first, last, 0

    def __call__(self, R, attempt):
        self.calls += 1
        if self.first <= self.calls <= self.last:
            raise RuntimeError("SCF not converged")
        return _muller_brown_3d(R)


@pytest.mark.parametrize("rollback", [False, True])
def test_rollback_steps_back_from_a_calculator_failure(rollback):
    """A band whose calculator fails for one band evaluation: with `rollback` the band goes
    back to its best state and converges to the Muller-Brown saddle S1 (-0.822, 0.624),
    -40.665 (Muller & Brown 1979) with every call counted; without, it stops non-finite."""
    from jaxrxn.path import NEB, linear, neb
    from jaxrxn.potentials.core import Potential
    from jaxrxn.potentials.external import HostEnergy

    flaky = _Flaky(17, 23)  # the 7 interior images of the 2nd step (9 initial + 7 + 7)
    pot = Potential(HostEnergy(lambda: flaky, 1, max_retries=0))
    band0 = linear(np.array([[-0.558, 1.442, 0.0]]), np.array([[0.623, 0.028, 0.0]]), 9)
    res = neb(pot, band0, NEB(rollback=rollback), fmax=0.05, max_steps=1000)
    assert len(pot.energy_fn.failures) == 7
    if not rollback:
        assert not bool(res.converged)
        return
    assert bool(res.converged) and int(res.n_force_calls) == pot.energy_fn.n_calls
    top = np.asarray(res.path[int(res.ts_index)])
    np.testing.assert_allclose(top[0, :2], [-0.822, 0.624], atol=2e-3)
    assert float(res.energies[int(res.ts_index)]) == pytest.approx(-40.665, abs=0.01)
