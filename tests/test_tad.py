"""TAD: the LAMMPS examples/tad bookkeeping, exact restarts, and LJ7 escape statistics."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import LJ7_SADDLE_11_0373, LJ7_SADDLE_11_0403, TwoExitSurface, lj7_hexagon

import jaxrxn
from jaxrxn.dynamics import MaxDisplacement, Quench
from jaxrxn.dynamics.tad import (
    NEBBarrier,
    TAD,
    advance_book,
    best_event,
    book_stop_time,
    empty_book,
    extrapolate_time,
    is_confident,
    load_tad,
    record_event,
    run_tad,
    tad_basin,
    tad_init,
)
from jaxrxn.path import NEB
from jaxrxn.rates import vineyard_prefactor
from jaxrxn.saddle import PRFO, saddle_search
from jaxrxn.units import FS, KB

# ---------------------------------------------------------------------------------------
# LAMMPS examples/tad (Si vacancy, Stillinger-Weber; log.5Oct16.tad.g++.3), rare_events.md §2.2.1
# ---------------------------------------------------------------------------------------
LAMMPS_KB = 8.617343e-5
LAMMPS_EVENTS = [(150, 2.957), (550, 0.510), (950, 2.971), (1350, 0.510), (1800, 2.971)]
LAMMPS_DT_LO = [17626.8, 1251.4, 114049.5, 3071.4, 216079.5]
LAMMPS_MARGIN = [0.049, 0.610, 0.867, 1.156]  # events 2..5: dt_hi / stop time before them


def _lammps_tad():
    # tmax = 1 ps, dt = 1 fs: times below are in fs = steps; nu_min = 1/tmax.
    return TAD(T_lo=1800.0, T_hi=2400.0, delta=0.05, nu_min=1e-3, kB=LAMMPS_KB)


def _any_state():
    pot = jaxrxn.lennard_jones(dim=2)
    return jaxrxn.dynamics.Langevin().init(pot, jnp.asarray(lj7_hexagon()), jax.random.PRNGKey(0))


def test_lammps_tad_log_bookkeeping():
    tad = _lammps_tad()
    book = empty_book(tad, _any_state())
    margins, stops = [], []
    for (t_hi, Ea), dt_lo_ref in zip(LAMMPS_EVENTS, LAMMPS_DT_LO):
        margins.append(t_hi / float(book_stop_time(tad, book)))
        book = advance_book(book, t_hi - book.t_hi)
        confident_before = bool(is_confident(tad, book))
        book = record_event(tad, book, Ea)
        stops.append(float(book_stop_time(tad, book)))
        # the log prints barriers to 3 decimals: 0.1 % on the extrapolated times
        np.testing.assert_allclose(float(extrapolate_time(tad, t_hi, Ea)), dt_lo_ref, rtol=1e-3)
        assert confident_before == (t_hi == 1800)  # only the fifth check is past the stop time
    np.testing.assert_allclose(margins[1:], LAMMPS_MARGIN, atol=1.5e-3)
    np.testing.assert_allclose(stops[1], 1556.6, rtol=1e-3)
    i, dt_lo = best_event(book)
    assert int(i) == 1 and float(book.Ea[i]) == 0.510
    np.testing.assert_allclose(float(dt_lo), 1251.4, rtol=1e-3)
    assert int(book.n_events) == 5


def test_known_minimum_barrier_stops_earlier():
    # Montalenti & Voter 2002: t_stop = dt_lo_short exp(-E_min dbeta) when E_min is known.
    tad = _lammps_tad()
    with_emin = TAD(T_lo=1800.0, T_hi=2400.0, delta=0.05, nu_min=1e-3, kB=LAMMPS_KB, E_min=0.5)
    book = record_event(tad, advance_book(empty_book(tad, _any_state()), 550.0), 0.510)
    t_emin = float(book_stop_time(with_emin, book))
    dbeta = 1 / (LAMMPS_KB * 1800) - 1 / (LAMMPS_KB * 2400)
    np.testing.assert_allclose(t_emin, 1251.2572 * np.exp(-0.5 * dbeta), rtol=1e-6)
    assert t_emin < float(book_stop_time(tad, book))


def test_tad_rejects_bad_temperatures():
    with pytest.raises(ValueError, match="T_hi > T_lo"):
        TAD(T_lo=600.0, T_hi=500.0)


# ---------------------------------------------------------------------------------------
# 2D LJ7 (eps = 1 eV, sigma = 1 Å, m = 1 amu, so tau = 1/FS fs), rare_events.md §2.2.2 / §6.3
# ---------------------------------------------------------------------------------------
TAU = 1.0 / FS  # fs per Lennard-Jones time unit
E_C1, E_C2 = -11.5013, -11.4769
# (barrier eps, prefactor 1/tau); 12 labelled copies each (benchmarks/tad_lj7_vs_kmc.py count_copies)
EXITS = {"C1": (1.4976, 2.980), "C2": (1.4946, 2.778)}
LJ7 = jaxrxn.lennard_jones(dim=2)


def lj7_barrier(R_min, E_min, R_new, E_new):
    """Barrier of the C0 exits by the product's energy (§6.3); other products get E_new - E_min + 0.44."""
    return jnp.where(
        jnp.abs(E_new - E_C1) < 5e-3,
        EXITS["C1"][0],
        jnp.where(jnp.abs(E_new - E_C2) < 5e-3, EXITS["C2"][0], jnp.maximum(E_new - E_min, 0.0) + 0.44),
    )


def lj7_tad(kT_lo, kT_hi, **kw):
    # C1 is only 0.46 Å (aligned largest displacement) from C0, C2 0.58 Å; quenched C0 copies
    # scatter by ~1e-3 Å. A 0.5 Å threshold would miss the C1 exits (benchmarks/tad_lj7_vs_kmc.py).
    return TAD(
        T_lo=kT_lo / KB, T_hi=kT_hi / KB, delta=0.05, nu_min=2.0 / TAU, dt=0.1, friction=0.1,
        t_event=50, same_basin=MaxDisplacement(0.2, align=True),
        quench=Quench(jaxrxn.LBFGS(maxstep=0.05), fmax=0.05, max_steps=2000), max_steps=200_000, **kw,
    )  # fmt: skip


def test_restart_from_checkpoint_is_bit_exact(tmp_path):
    tad = lj7_tad(0.26, 0.3)
    run0 = tad_init(LJ7, tad, jnp.asarray(lj7_hexagon()), jax.random.PRNGKey(7), max_events=2)
    full = run_tad(LJ7, tad, run0, lj7_barrier, n_events=2, callback=None)
    ck = tmp_path / "tad.npz"
    part = run_tad(LJ7, tad, run0, lj7_barrier, n_events=1, checkpoint=ck, callback=None)
    resumed = run_tad(LJ7, tad, load_tad(ck, run0), lj7_barrier, n_events=2, callback=None)
    assert int(part.n_done) == 1 and int(full.n_done) == 2
    for a, b in zip(jax.tree.leaves(full), jax.tree.leaves(resumed)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert np.all(np.diff(np.asarray(full.hist_t_lo)) > 0)  # the low-T clock advances


@pytest.mark.compute_bound
def test_tad_two_exit_model_matches_kramers_htst():
    """TAD on a surface with two exits whose low-temperature escape is known in closed form.

    :class:`helpers.TwoExitSurface`: barriers 0.4448 (C1) and 0.5314 eV (C2), Vineyard
    prefactors 0.173 and 0.330 per ASE time unit, all harmonic quantities in closed form.
    The library's P-RFO and Vineyard prefactor must reproduce them; the barriers TAD uses
    are the P-RFO ones. Langevin friction 2 per ASE time unit puts both exits in Kramers'
    spatial-diffusion regime (energy loss per oscillation ~30 kT), where the escape rate is
    ``kappa nu exp(-Ea/kT)`` with the Kramers-Langer factor ``kappa`` (0.570, 0.584), a
    temperature-independent prefactor, as TAD's extrapolation assumes. TAD runs at Ea1/kT =
    5.5 and extrapolates to Ea1/kT = 8.5, where residence-time KMC over the two rates has
    mean escape time 1/(k1 + k2) = 36,248 ASE time units and first-exit share
    k1/(k1 + k2) = 0.728 into C1 (0.599 at the high temperature). 200 replicas: the bounds
    are 3 standard errors (sample standard error of the mean, binomial on the share), so a
    correct TAD passes for 99.7 % of seeds per assertion; the windows exclude uncorrected
    HTST (kappa = 1: 20,813), the unextrapolated high-temperature time, swapped channels and
    the high-temperature branching. benchmarks/tad_two_exit.py checks the closed form
    against direct MD and runs 1,000 TAD replicas.
    """
    model = TwoExitSurface()
    pot = model.potential()
    R0 = jnp.zeros((1, 2))
    guesses = jnp.array([[[0.9, 0.05]], [[-0.95, 0.05]]])
    S = jax.vmap(lambda R: saddle_search(pot, R, PRFO(), fmax=1e-8))(guesses)
    assert np.all(S.converged) and np.all(S.saddle_index == 1)
    np.testing.assert_allclose(S.R[:, 0, 0], model.saddles_x, atol=1e-6)
    Ea = np.asarray(S.energy - pot.energy(R0))
    np.testing.assert_allclose(Ea, model.barriers, atol=1e-10)
    np.testing.assert_allclose(S.curvature, model.barrier_curvatures, rtol=1e-6)  # mass 1
    nu = [float(vineyard_prefactor(pot, R0, S.R[i], time_unit_s=1.0)) for i in (0, 1)]
    np.testing.assert_allclose(nu, model.prefactors, rtol=1e-8)

    n, friction = 200, 2.0  # friction per ASE time unit (= FS / fs)
    kT_lo, kT_hi = Ea[0] / 8.5, Ea[0] / 5.5
    k_lo, k_hi = model.rates(kT_lo, friction), model.rates(kT_hi, friction)
    tad = TAD(
        T_lo=kT_lo / KB, T_hi=kT_hi / KB, delta=0.05, nu_min=0.05 * FS, dt=0.1 / FS, friction=friction * FS,
        t_event=200, same_basin=MaxDisplacement(0.5), quench=Quench(jaxrxn.LBFGS(maxstep=0.2), fmax=0.02),
        max_steps=10_000_000,
    )  # fmt: skip
    Ea_c1, Ea_c2 = jnp.asarray(Ea)
    barrier = lambda R_min, E_min, R_new, E_new: jnp.where(R_new[0, 0] > 0, Ea_c1, Ea_c2)  # noqa: E731

    @jax.jit
    def replicas(keys):
        return jax.vmap(lambda k: tad_basin(pot, tad, R0, tad.integrator.init(pot, R0, k), barrier))(keys)

    res = replicas(jax.random.split(jax.random.PRNGKey(1), n))
    assert bool(np.all(res.accepted))
    x_new = np.asarray(res.R_new)[:, 0, 0]
    to_c1 = np.abs(x_new - model.products_x[0]) < 0.05
    assert np.all(to_c1 | (np.abs(x_new - model.products_x[1]) < 0.05))
    t = np.asarray(res.dt_lo) * FS  # ASE time units
    mean_ref, se = 1.0 / k_lo.sum(), t.std(ddof=1) / np.sqrt(n)
    assert abs(t.mean() - mean_ref) < 3 * se, (t.mean(), se, mean_ref)
    # the window excludes uncorrected HTST (6.0 expected standard errors away) and the
    # unextrapolated time (13.6)
    htst = 1.0 / np.sum(model.prefactors * np.exp(-Ea / kT_lo))
    assert min(abs(htst - mean_ref), mean_ref - 1.0 / k_hi.sum()) > 6 * mean_ref / np.sqrt(n)
    p_c1 = k_lo[0] / k_lo.sum()
    se_p = np.sqrt(p_c1 * (1 - p_c1) / n)
    assert abs(to_c1.mean() - p_c1) < 3 * se_p, (to_c1.mean(), p_c1)
    # ... and swapped channels (14.5 standard errors away) and the high-temperature
    # branching (4.1: an executed first event with each barrier's own extrapolation matters)
    assert abs(p_c1 - (1 - p_c1)) > 14 * se_p and abs(p_c1 - k_hi[0] / k_hi.sum()) > 4 * se_p


def test_default_barrier_is_ci_neb_to_the_lj7_saddles():
    """The default barrier (NEBBarrier, CI-NEB) in a TAD visit of C0 on 2D LJ7.

    Reference: the P-RFO saddles of tests/helpers.py, -11.0373 eps (to C1) and -11.0403 eps
    (to C2), with C0 at -12.5349 eps: barriers 1.4976 and 1.4946 (rare_events.md §2.2.2).
    With `barrier_fn` omitted, every recorded event into C1 or C2 must carry that exit's
    barrier, whatever the seed (seed 5 finds one of each). The band's product is
    Kabsch-aligned by default (no fixed atoms, no cell): unaligned, the thermostat's drift
    and rotation gave 1.03 and 1.06 eps in two of three visits.
    """
    R0 = jaxrxn.minimize(LJ7, jnp.asarray(lj7_hexagon()), fmax=1e-6).R
    E0 = LJ7.energy(R0)
    Ea_c1, Ea_c2 = (float(LJ7.energy(jnp.asarray(S)) - E0) for S in (LJ7_SADDLE_11_0373, LJ7_SADDLE_11_0403))
    np.testing.assert_allclose([Ea_c1, Ea_c2], [1.4976, 1.4946], atol=1e-4)
    tad = lj7_tad(0.26, 0.3)
    res = jax.jit(lambda k: tad_basin(LJ7, tad, R0, tad.integrator.init(LJ7, R0, k)))(jax.random.PRNGKey(5))
    n = int(res.book.n_events)
    assert bool(res.accepted) and n >= 1
    E_new, Ea = np.asarray(res.book.E_new[:n]), np.asarray(res.book.Ea[:n])
    to_c1, to_c2 = np.abs(E_new - E_C1) < 5e-3, np.abs(E_new - E_C2) < 5e-3
    assert np.any(to_c1 | to_c2), E_new
    np.testing.assert_allclose(Ea[to_c1], Ea_c1, atol=1e-4)
    np.testing.assert_allclose(Ea[to_c2], Ea_c2, atol=1e-4)
    # a higher exit (rare) still gets a CI-NEB barrier above its endothermicity
    assert np.all(Ea[~(to_c1 | to_c2)] >= E_new[~(to_c1 | to_c2)] - float(E0))


def test_neb_barrier_refuses_an_unconverged_band():
    # Muller-Brown A -> C climbs over S1: -40.6648 - (-146.6995) = 106.0347 (paths_saddles.md §1.1);
    # a lone particle on a model surface must not be Kabsch-aligned (it would land on A)
    mb = jaxrxn.muller_brown()
    A, C = jnp.array([[-0.558224, 1.441726]]), jnp.array([[-0.050011, 0.466694]])
    E_A, E_C = mb.energy(A), mb.energy(C)
    Ea = eqx.filter_jit(NEBBarrier(mb, n_images=9, interpolation="linear", align=False, solver=NEB(), fmax=0.05))(A, E_A, C, E_C)
    assert float(Ea) == pytest.approx(106.0347, abs=2e-3)
    # the default (align=None) sees that the energy depends on where the particle sits
    default = eqx.filter_jit(NEBBarrier(mb, n_images=9, interpolation="linear", solver=NEB(), fmax=0.05))(A, E_A, C, E_C)
    assert float(default) == pytest.approx(106.0347, abs=2e-3)
    short = NEBBarrier(mb, n_images=9, interpolation="linear", align=False, solver=NEB(), fmax=0.05, max_steps=20)
    with pytest.raises(Exception, match="step cap"):
        jax.block_until_ready(eqx.filter_jit(short)(A, E_A, C, E_C))
    rough = eqx.filter_jit(NEBBarrier(mb, n_images=9, interpolation="linear", align=False, solver=NEB(), fmax=0.05, max_steps=20, throw=False))(A, E_A, C, E_C)
    assert np.isfinite(float(rough))  # throw=False: the unconverged band's highest image, as before
