"""NanoReactor wall (Wang et al., Nat. Chem. 6, 1044 (2014)) and the bond-graph reaction detector."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import central_difference_forces

from jaxrxn.dynamics import Langevin, run_md
from jaxrxn.dynamics.bonds import bond_graphs, covalent_cutoffs, detect_reactions, formulas, molecules, reaction_frames
from jaxrxn.dynamics.nanoreactor import LogFermiWall, SphericalPiston, valence_morse
from jaxrxn.units import KCAL_PER_MOL

PISTON = SphericalPiston()
MASSES = jnp.array([1.008, 12.011, 15.999])


def test_defaults_are_the_example_input_in_ev():
    # leeping/nanoreactor example.md/start.in: r1 14, k1 1.0, r2 9, k2 0.5 kcal/mol/A^2/amu,
    # t1 3000 and t2 1000 steps of 0.5 fs
    assert (PISTON.r1, PISTON.r2, PISTON.t1, PISTON.t2) == (14.0, 9.0, 1500.0, 500.0)
    np.testing.assert_allclose([PISTON.k1, PISTON.k2], [0.0433641, 0.0216820], rtol=1e-5)
    assert PISTON.mass_scaled and KCAL_PER_MOL == pytest.approx(0.0433641, rel=1e-5)


def test_schedule_is_periodic():
    ts = jnp.array([0.0, 1499.0, 1500.0, 1999.0, 2000.0, 3600.0])
    R, k = PISTON.schedule(ts)
    np.testing.assert_array_equal(np.asarray(R), [14, 14, 9, 9, 14, 9])
    R2, k2 = PISTON.schedule(ts + 3 * 2000.0)
    np.testing.assert_array_equal(np.asarray(R), np.asarray(R2))
    np.testing.assert_array_equal(np.asarray(k), np.asarray(k2))


def test_wall_energy_and_force_continuous_at_radius():
    e_at = lambda r: PISTON.energy(jnp.array([[r, 0.0, 0.0]] * 3), 0.0, MASSES)  # noqa: E731
    f_at = lambda r: -jax.grad(lambda x: e_at(x))(r)  # noqa: E731
    for eps in (1e-4, 1e-6):
        assert abs(float(e_at(14.0 + eps)) - float(e_at(14.0 - eps))) < 1e-6
        # the jump shrinks linearly with eps: the force is continuous (C1 energy)
        assert abs(float(f_at(14.0 + eps)) - float(f_at(14.0 - eps))) <= 1.01 * PISTON.k1 * float(MASSES.sum()) * eps
    assert float(e_at(13.9)) == 0.0 and float(e_at(14.5)) > 0


@pytest.mark.parametrize("wall", [PISTON, SphericalPiston(mass_scaled=False, center=(1.0, -2.0, 0.5)), LogFermiWall(radius=9.0)])
def test_wall_force_is_minus_gradient(wall):
    R = jnp.array([[15.1, 0.3, -0.4], [-2.0, 9.5, 3.0], [1.0, 1.0, 1.0]])
    F = -jax.grad(wall.energy)(R, 2600.0, MASSES)
    F_fd = central_difference_forces(lambda x: wall.energy(x, 2600.0, MASSES), R)
    np.testing.assert_allclose(np.asarray(F), F_fd, atol=1e-6)
    assert float(jnp.max(jnp.abs(F))) > 1e-3


def test_mass_scaled_acceleration_independent_of_mass():
    R = jnp.array([[16.0, 0.0, 0.0], [0.0, 16.0, 0.0], [0.0, 0.0, -16.0]])
    a = -jax.grad(PISTON.energy)(R, 0.0, MASSES) / MASSES[:, None]
    mags = jnp.linalg.norm(a, axis=1)
    np.testing.assert_allclose(np.asarray(mags), float(PISTON.k1) * 2.0, rtol=1e-12)


def test_jit_and_grad_through_time():
    R = jnp.array([[10.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    e = jax.jit(PISTON.energy)
    assert float(e(R, 100.0, MASSES)) == 0.0  # expanded: inside r1 = 14
    assert float(e(R, 1800.0, MASSES)) > 0.0  # compressed: outside r2 = 9
    dE_dt = jax.jit(jax.grad(PISTON.energy, argnums=1))(R, jnp.asarray(1800.0), MASSES)
    assert np.isfinite(float(dE_dt))
    g = jax.jit(jax.grad(PISTON.energy))(R, jnp.asarray(1800.0), MASSES)
    np.testing.assert_allclose(np.asarray(g[0]), [0.5 * 0.0216820 * 1.008 * 2 * 1.0, 0, 0], rtol=1e-4)


# ---------------------------------------------------------------------------------------
# bond graphs and reactions
# ---------------------------------------------------------------------------------------
def test_hysteresis_ignores_vibrations_and_counts_a_swap():
    t = np.arange(300)
    r_ab = 1.45 + 0.12 * np.sin(0.7 * t)  # a bond vibrating across r_form = 1.5
    frames = np.zeros((300, 3, 3))
    frames[:, 1, 0] = r_ab
    frames[:, 2, 0] = 6.0
    # at frame 150 atom 0 swaps partner 1 -> 2
    frames[150:, 1, 0] = 6.0
    frames[150:, 2, 0] = r_ab[150:]
    rx = detect_reactions(frames, 1.5, 1.9, persist=5)
    assert len(rx) == 1 and rx[0].frame == 150
    assert rx[0].broken == [(0, 1)] and rx[0].formed == [(0, 2)]
    assert reaction_frames(frames, rx[0], 4, 4).shape == (9, 3, 3)
    # without hysteresis the vibration alone flickers the graph
    g = np.asarray(bond_graphs(jnp.asarray(frames[:150]), 1.5, 1.5000001))
    assert np.any(g[:, 0, 1]) and not np.all(g[:, 0, 1])


def test_molecules_and_formulas():
    adj = np.zeros((5, 5), bool)
    adj[0, 1] = adj[1, 0] = adj[1, 2] = adj[2, 1] = True
    np.testing.assert_array_equal(np.asarray(molecules(jnp.asarray(adj))), [0, 0, 0, 3, 4])
    assert formulas(adj, ["H", "O", "H", "H", "H"]) == ["H", "H", "H2O"]
    np.testing.assert_allclose(covalent_cutoffs([1, 8])[0, 1], 1.2 * (0.31 + 0.66))


def test_simultaneous_reactions_are_split():
    # two A2 + B2 -> 2 AB exchanges (atoms 0-3 and 4-7) completing in the same frame: one
    # graph change, two reactions
    frames = np.zeros((20, 8, 3))
    frames[:, :, 0] = np.arange(8) * 10.0
    for a, b, c in ((0, 1, 2), (4, 5, 6)):
        frames[:, b] = frames[:, a] + [1.2, 0, 0]  # a-b bonded before frame 10
        frames[:, c] = frames[:, a] + [0, 5.0, 0]
        frames[10:, b] = frames[:, a][10:] + [0, 0, 5.0]
        frames[10:, c] = frames[:, a][10:] + [0, 1.2, 0]  # a-c bonded after
    whole = detect_reactions(frames, 1.6, 2.2, persist=5, split=False)
    split = detect_reactions(frames, 1.6, 2.2, persist=5)
    assert len(whole) == 1 and len(split) == 2
    assert [r.formed for r in split] == [[(0, 2)], [(4, 6)]] and [r.broken for r in split] == [[(0, 1)], [(4, 5)]]


def test_morse_gas_reacts_only_under_compression():
    # 8 molecules A2/B2 (D_AA = D_BB = 2.0, D_AB = 2.5 eV; valence_morse's four-centre saddle
    # is 1.93 eV above A2 + B2, examples/nanoreactor_morse_gas.py) at 1500 K, 2.4 ps, 4 vmapped
    # replicas, with the piston at k = 3 kcal/mol/A^2/amu (stenczelt/nanoreactor inputgen.py)
    # pulsing 8 <-> 3.5 A, or held at 8 A. Thermal exchange (exp(-1.93/0.129) ~ 3e-7) cannot
    # happen in 2.4 ps: every reaction is the compression's. Measured: 15, 11, 13, 18 vs 0.
    species = np.array([0, 0, 1, 1] * 4)
    pot = valence_morse(species, np.array([[2.0, 2.5], [2.5, 2.0]]), masses=np.full(16, 10.0))
    rng = np.random.default_rng(0)
    grid = 3.0 * np.array([[i, j, k] for i in (-1, 1) for j in (-1, 1) for k in (-1, 1)], float)
    u = rng.normal(size=(8, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    R0 = jnp.asarray(np.stack([grid + 0.6 * u, grid - 0.6 * u], 1).reshape(16, 3))
    integ = Langevin(dt=0.5, temperature=1500.0, friction=0.01)
    k = 3.0 * KCAL_PER_MOL

    @jax.jit
    def trajectories(r2):  # one compilation for both walls
        def one(key):
            wall = SphericalPiston(r1=8.0, r2=r2, k1=k, k2=k, t1=400.0, t2=200.0)
            bias = wall.bias(pot, R0)
            st = integ.init(pot, R0, key, bias=bias)
            return run_md(pot, integ, st, 4800, bias=bias, save_every=10)[1].R

        return jax.vmap(one)(jax.random.split(jax.random.PRNGKey(0), 4))

    pulsed, static = ([len(detect_reactions(f, 1.6, 2.2, persist=5)) for f in np.asarray(trajectories(r2))] for r2 in (3.5, 8.0))
    assert min(pulsed) >= 4 and sum(pulsed) >= 30 and sum(static) == 0, (pulsed, static)


def test_morse_gas_and_walls_follow_float32():
    # float32 params and positions give float32 energies and forces, equal to float64's
    species = np.array([0, 0, 1, 1])
    D, m = np.array([[2.0, 2.5], [2.5, 2.0]]), np.full(4, 10.0)
    R = np.array([[0.0, 0.0, 0.0], [1.2, 0.0, 0.0], [0.3, 2.4, 0.0], [1.4, 2.5, 0.2]])
    e32, g32 = jax.value_and_grad(valence_morse(species, D, masses=m, dtype=jnp.float32).energy)(jnp.asarray(R, jnp.float32))
    e64, g64 = jax.value_and_grad(valence_morse(species, D, masses=m).energy)(jnp.asarray(R))
    assert e32.dtype == g32.dtype == jnp.float32
    np.testing.assert_allclose(e32, e64, rtol=1e-5)
    np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-5)
    for wall in (LogFermiWall(radius=1.0), SphericalPiston(r1=1.0, r2=0.5)):
        assert wall.energy(jnp.asarray(R, jnp.float32), 0.0, jnp.asarray(m, jnp.float32)).dtype == jnp.float32
