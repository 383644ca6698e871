"""TAD and direct Langevin MD on tests/helpers.py's TwoExitSurface against the closed form.

The surface (one particle in 2D, mass 1 amu, eV, Å) has two exits with barriers 0.4448 eV
(C1) and 0.5314 eV (C2) and Vineyard prefactors 0.173 and 0.330 per ASE time unit
(Å sqrt(amu/eV) = 10.18 fs), all in closed form. With Langevin friction 2 per ASE time
unit the escape rate of each exit is ``kappa nu exp(-Ea/kT)``, with Kramers-Langer's
``kappa`` (0.570, 0.584); residence-time KMC over the two rates has mean escape time
1/(k1 + k2) and first-exit share k1/(k1 + k2), printed as "closed form" (the KMC is this
closed form: one state, two exponential exits).

1. Direct MD at kT_hi (Ea1/kT = 5.5) and kT_lo (8.5): the particle escapes when it is past
   x = 1.5 (C1 side) or x = -1.6 (C2 side) at the end of a 50-step block; replicas stop at
   `window` (ASE time units) and the total rate is the censored exponential estimate
   escapes / (time at risk), standard error rate / sqrt(escapes). This checks that the
   closed form, which tests/test_tad.py uses as its reference, describes the dynamics.
2. TAD at kT_lo from kT_hi with tests/test_tad.py's settings, `n` replicas.

Run: ``python benchmarks/tad_two_exit.py [n_tad] [n_md] [window_lo]``.
"""

from __future__ import annotations

import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, "tests")
from helpers import TwoExitSurface  # noqa: E402

import jaxrxn  # noqa: E402
from jaxrxn.dynamics import Langevin, MaxDisplacement, Quench  # noqa: E402
from jaxrxn.units import FS, KB  # noqa: E402
from jaxrxn.dynamics.md import run_md  # noqa: E402
from jaxrxn.dynamics.tad import TAD, tad_basin  # noqa: E402

N_TAD = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
N_MD = int(sys.argv[2]) if len(sys.argv) > 2 else 400
WINDOW_LO = float(sys.argv[3]) if len(sys.argv) > 3 else 36_000.0
FRICTION, DT, BLOCK = 2.0, 0.1, 50  # per ASE time unit, ASE time units, steps

MODEL = TwoExitSurface()
POT = MODEL.potential()
R0 = jnp.zeros((1, 2))
EA = MODEL.barriers
KT_LO, KT_HI = EA[0] / 8.5, EA[0] / 5.5


def closed_form(kT):
    k = MODEL.rates(kT, FRICTION)
    return 1.0 / k.sum(), k[0] / k.sum()


def direct_md(kT, n, window):
    integ = Langevin(DT / FS, kT / KB, FRICTION * FS)
    n_blocks = int(np.ceil(window / (BLOCK * DT)))

    def one(key):
        def body(c):
            st, i, t_esc, side = c
            st = run_md(POT, integ, st, BLOCK)[0]
            x = st.R[0, 0]
            now = jnp.where(x > 1.5, 1, jnp.where(x < -1.6, 2, 0))
            first = (side == 0) & (now > 0)
            return st, i + 1, jnp.where(first, (i + 1) * BLOCK * DT, t_esc), jnp.where(first, now, side)

        c0 = (integ.init(POT, R0, key), jnp.array(0), jnp.array(window), jnp.array(0))
        _, _, t_esc, side = jax.lax.while_loop(lambda c: (c[3] == 0) & (c[1] < n_blocks), body, c0)
        return t_esc, side

    t0 = time.perf_counter()
    t_esc, side = jax.block_until_ready(jax.jit(jax.vmap(one))(jax.random.split(jax.random.PRNGKey(11), n)))
    sec = time.perf_counter() - t0
    t_esc, side = np.asarray(t_esc), np.asarray(side)
    n_esc = int(np.sum(side > 0))
    rate = n_esc / t_esc.sum()
    share = np.mean(side[side > 0] == 1)
    return 1 / rate, 1 / rate / np.sqrt(n_esc), share, np.sqrt(share * (1 - share) / n_esc), n_esc, sec


def tad_run(n):
    tad = TAD(
        T_lo=KT_LO / KB, T_hi=KT_HI / KB, delta=0.05, nu_min=0.05 * FS, dt=DT / FS, friction=FRICTION * FS,
        t_event=200, same_basin=MaxDisplacement(0.5), quench=Quench(jaxrxn.LBFGS(maxstep=0.2), fmax=0.02),
        max_steps=10_000_000,
    )  # fmt: skip
    Ea_c1, Ea_c2 = jnp.asarray(EA)
    barrier = lambda R_min, E_min, R_new, E_new: jnp.where(R_new[0, 0] > 0, Ea_c1, Ea_c2)  # noqa: E731
    run = jax.jit(jax.vmap(lambda k: tad_basin(POT, tad, R0, tad.integrator.init(POT, R0, k), barrier)))
    t0 = time.perf_counter()
    res = jax.block_until_ready(run(jax.random.split(jax.random.PRNGKey(2), n)))
    sec = time.perf_counter() - t0
    t = np.asarray(res.dt_lo) * FS
    c1 = np.asarray(res.R_new)[:, 0, 0] > 0
    assert bool(np.all(res.accepted))
    return t.mean(), t.std(ddof=1) / np.sqrt(n), c1.mean(), np.sqrt(c1.mean() * (1 - c1.mean()) / n), sec


if __name__ == "__main__":
    print(f"barriers {EA}, prefactors {MODEL.prefactors}, kappa {MODEL.kramers_factor(FRICTION)}")
    for label, kT, window in (("kT_hi", KT_HI, 10_000.0), ("kT_lo", KT_LO, WINDOW_LO)):
        tau, share = closed_form(kT)
        m, m_se, s, s_se, n_esc, sec = direct_md(kT, N_MD, window)
        print(f"MD {label} (Ea1/kT {EA[0] / kT:.1f}), {N_MD} replicas, window {window:.0f}: {n_esc} escapes, "
              f"mean time {m:.1f} +- {m_se:.1f} vs closed form {tau:.1f} (ratio {m / tau:.3f} +- {m_se / tau:.3f}); "
              f"C1 share {s:.3f} +- {s_se:.3f} vs {share:.3f}; {sec:.0f} s")  # fmt: skip
    tau, share = closed_form(KT_LO)
    m, m_se, s, s_se, sec = tad_run(N_TAD)
    print(f"TAD kT_lo from kT_hi, {N_TAD} replicas: {m:.0f} +- {m_se:.0f} vs closed form {tau:.0f} "
          f"(ratio {m / tau:.3f} +- {m_se / tau:.3f}); C1 share {s:.3f} +- {s_se:.3f} vs {share:.3f} "
          f"(kT_hi {closed_form(KT_HI)[1]:.3f}); {sec:.0f} s")
