"""TAD: the LAMMPS examples/tad bookkeeping, exact restarts, and LJ7 escape statistics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import LJ7_SADDLE_11_0373, LJ7_SADDLE_11_0403, lj7_hexagon

import jaxrxn
from jaxrxn.dynamics import FS, KB, MaxDisplacement, Quench
from jaxrxn.dynamics.tad import (
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
        quench=Quench(jaxrxn.LBFGS(maxstep=0.05), fmax=0.05, max_steps=300), max_steps=200_000, **kw,
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


def test_lj7_tad_escape_time_matches_extrapolated_md():
    """TAD from the hexagon at kT_lo = 0.2 eps, from MD at kT_hi = 0.25 eps, vmapped replicas.

    TAD extrapolates the kT_hi dynamics to kT_lo by Arrhenius with each event's barrier. The
    reference is that extrapolation of directly measured MD: escape time 11.70 +- 0.79 tau at
    kT = 0.25 (128 replicas, benchmarks/tad_lj7_vs_kmc.py), split between C1 and C2 by their
    HTST branching and scaled by exp(Ea (1/kT_lo - 1/kT_hi)): 52.2 +- 3.5 tau. (Harmonic TST
    itself, with the 12 labelled copies of each saddle, gives 5.75 tau at 0.25 and 25.7 at
    0.2: at these temperatures the true escape is 1.3-2x slower than HTST, which becomes exact
    near kT = 0.15; the benchmark's docstring has the numbers.) 24 replicas keep CI fast; the
    bounds are 3 combined standard errors on the mean time and (binomial) on the share of
    first exits into C1, which HTST puts at k_C1 / (k_C1 + k_C2) = 0.514 at kT = 0.2 eps.
    """
    kT_lo, kT_hi, n = 0.2, 0.25, 24
    tad = lj7_tad(kT_lo, kT_hi)
    R0 = jaxrxn.minimize(LJ7, jnp.asarray(lj7_hexagon()), fmax=1e-6).R
    integ = tad.integrator

    @jax.jit
    def replica(key):
        return tad_basin(LJ7, tad, R0, integ.init(LJ7, R0, key), lj7_barrier)

    res = jax.vmap(replica)(jax.random.split(jax.random.PRNGKey(3), n))
    assert bool(np.all(res.accepted))
    t = np.asarray(res.dt_lo) / TAU
    k_hi = {name: nu * np.exp(-Ea / kT_hi) for name, (Ea, nu) in EXITS.items()}
    md_hi, md_hi_se = 11.70, 0.79  # tau, MD escape time at kT_hi (benchmark)
    K_lo = sum(k_hi[name] / sum(k_hi.values()) / md_hi * np.exp(-Ea * (1 / kT_lo - 1 / kT_hi)) for name, (Ea, _) in EXITS.items())
    mean_ref = 1.0 / K_lo
    np.testing.assert_allclose(mean_ref, 52.2, atol=0.1)
    err = np.hypot(mean_ref / np.sqrt(n), mean_ref * md_hi_se / md_hi)
    assert abs(t.mean() - mean_ref) < 3 * err, (t.mean(), mean_ref)
    E_new = np.asarray(res.E_new)
    to_c1, to_c2 = np.abs(E_new - E_C1) < 5e-3, np.abs(E_new - E_C2) < 5e-3
    # higher exits are rare first events (2 of 128 replicas in the benchmark)
    n_low = int(np.sum(to_c1 | to_c2))
    assert n_low >= 0.9 * n, E_new
    k1, k2 = (nu * np.exp(-Ea / kT_lo) for Ea, nu in (EXITS["C1"], EXITS["C2"]))
    p_c1 = k1 / (k1 + k2)
    share = to_c1.sum() / n_low
    assert abs(share - p_c1) < 3 * np.sqrt(p_c1 * (1 - p_c1) / n_low), (share, p_c1)


def test_default_barrier_is_ci_neb_to_the_lj7_saddles():
    """The default barrier (NEBBarrier, CI-NEB) in a TAD visit of C0 on 2D LJ7.

    Reference: the P-RFO saddles of tests/helpers.py, -11.0373 eps (to C1) and -11.0403 eps
    (to C2), with C0 at -12.5349 eps: barriers 1.4976 and 1.4946 (rare_events.md §2.2.2).
    With `barrier_fn` omitted, seed 5 escapes first to C1, then to C2. The band's product
    is Kabsch-aligned by default (no fixed atoms, no cell): unaligned, the thermostat's drift
    and rotation gave 1.03 and 1.06 eps in two of three visits.
    """
    R0 = jaxrxn.minimize(LJ7, jnp.asarray(lj7_hexagon()), fmax=1e-6).R
    E0 = LJ7.energy(R0)
    Ea_c1, Ea_c2 = (float(LJ7.energy(jnp.asarray(S)) - E0) for S in (LJ7_SADDLE_11_0373, LJ7_SADDLE_11_0403))
    np.testing.assert_allclose([Ea_c1, Ea_c2], [1.4976, 1.4946], atol=1e-4)
    tad = lj7_tad(0.26, 0.3)
    res = jax.jit(lambda k: tad_basin(LJ7, tad, R0, tad.integrator.init(LJ7, R0, k)))(jax.random.PRNGKey(5))
    n = int(res.book.n_events)
    assert bool(res.accepted) and n == 2
    E_new = np.asarray(res.book.E_new[:n])
    np.testing.assert_allclose(E_new, [E_C1, E_C2], atol=5e-3)
    np.testing.assert_allclose(np.asarray(res.book.Ea[:n]), [Ea_c1, Ea_c2], atol=1e-4)
