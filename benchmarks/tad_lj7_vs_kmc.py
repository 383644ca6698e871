"""2D LJ7 escapes from the hexagon C0: vmapped MD and TAD vs HTST residence-time KMC.

Units: eps = 1 eV, sigma = 1 Å, m = 1 amu, so the Lennard-Jones time tau = 1/FS fs.
Reference (rare_events.md §6.3, [run]): the two lowest exits of C0, six symmetric copies each,
- saddle -11.0403 eps -> C2 (-11.4769): Ea = 1.4946 eps, nu = 2.778/tau,
- saddle -11.0373 eps -> C1 (-11.5013): Ea = 1.4976 eps, nu = 2.980/tau.
These saddle -> product labels are re-checked here first: each saddle of tests/helpers.py is
displaced by +-0.03 (largest atomic component) along its unstable mode and minimized.

HTST-KMC: the escape time is exponential with mean 1/K, K = 6 (k_C1 + k_C2), and the first
exit is C1 with probability k_C1 / (k_C1 + k_C2).

1. Direct Langevin MD at kT (quench every `t_event` steps, detect with 0.2 Å aligned largest
   displacement). Products are classified twice: (a) by the quench that detected the escape,
   and (b) by the first basin entered: the block before detection is replayed bit-exactly from the
   last in-basin state (the PRNG key lives in the state) quenching every `FINE` steps, and the
   first quench outside C0 names the product. (b) is what HTST's branching ratio predicts.
2. TAD at kT_lo from kT_hi (tests/test_tad.py settings), product classified as in (a).

Errors: standard error of the mean time; binomial standard error of the C1 share.
Run: ``python benchmarks/tad_lj7_vs_kmc.py [n_replicas] [kT_md] [kT_lo] [kT_hi]``.

Measured (2-core CPU, float64, dt 0.1 fs, friction 0.1/fs, t_event 50 steps = 0.49 tau):
- TAD kT_lo 0.2 from kT_hi 0.25, 128 replicas: mean 53.6 +- 3.5 tau (HTST-KMC 51.3), C1 share
  0.460 +- 0.045 (HTST 0.514), 2/128 other products. Agrees.
- MD kT 0.25, 128 replicas: 11.70 +- 0.79 tau (11.50), C1 share 0.567 (0.515 +- 0.046). Agrees.
- MD kT 0.2, 384 replicas: 34.2 +- 1.7 tau (51.3), C1 share of first basin 0.511 (0.514 +- 0.026).
  The branching agrees; the mean time is 1.5x shorter than HTST (not explained yet: anharmonic
  saddle entropy, or returns to C0 within one t_event hiding escapes at 0.25 more than at 0.2).
"""

import sys
import time

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jaxrxn  # noqa: E402
from jaxrxn.dynamics import FS, KB, Langevin, MaxDisplacement, Quench, md_until_transition, run_md  # noqa: E402
from jaxrxn.dynamics.tad import TAD, tad_basin  # noqa: E402

sys.path.insert(0, "tests")
from helpers import LJ7_SADDLE_11_0373, LJ7_SADDLE_11_0403, lj7_hexagon  # noqa: E402

TAU = 1.0 / FS
E_C1, E_C2 = -11.5013, -11.4769
EXITS = {"C1": (1.4976, 2.980), "C2": (1.4946, 2.778)}
LJ7 = jaxrxn.lennard_jones(dim=2)
# C1 lies only 0.46 Å (aligned largest displacement) from C0 and C2 0.58 Å, while quenches of C0
# scatter by ~1e-3 Å: a 0.5 Å threshold would count C1 as C0 and miss its exits.
SAME = MaxDisplacement(0.2, align=True)
QUENCH = Quench(jaxrxn.LBFGS(maxstep=0.05), fmax=0.05, max_steps=300)
# The replay quenches tightly: a loose quench started on the ridge stops at the saddle itself.
FINE_QUENCH = Quench(jaxrxn.LBFGS(maxstep=0.05), fmax=1e-4, max_steps=3000)
DT, FRICTION, T_EVENT, FINE = 0.1, 0.1, 50, 5

args = [float(a) for a in sys.argv[1:]]
N = int(args[0]) if args else 128
KT_MD = args[1] if len(args) > 1 else 0.2
KT_LO = args[2] if len(args) > 2 else 0.2
KT_HI = args[3] if len(args) > 3 else 0.25


def htst(kT):
    k = {name: nu * np.exp(-Ea / kT) for name, (Ea, nu) in EXITS.items()}
    return 1.0 / (6 * sum(k.values())), k["C1"] / sum(k.values())


def classify(E):
    E = np.asarray(E)
    return np.where(np.abs(E - E_C1) < 5e-3, "C1", np.where(np.abs(E - E_C2) < 5e-3, "C2", "other"))


def report(label, t, E, kT):
    prod = classify(E)
    mean_kmc, p1_kmc = htst(kT)
    n = len(t)
    n1, n2 = int(np.sum(prod == "C1")), int(np.sum(prod == "C2"))
    p1 = n1 / max(n1 + n2, 1)
    se_p = np.sqrt(p1_kmc * (1 - p1_kmc) / max(n1 + n2, 1))
    print(f"{label}: n = {n}, mean escape {t.mean():.2f} +- {t.std(ddof=1) / np.sqrt(n):.2f} tau "
          f"(HTST-KMC {mean_kmc:.2f}); C1:C2:other = {n1}:{n2}:{n - n1 - n2}, C1 share {p1:.3f} "
          f"(HTST {p1_kmc:.3f} +- {se_p:.3f}); other energies {np.unique(np.round(np.asarray(E)[prod == 'other'], 3))}",
          flush=True)  # fmt: skip


def check_saddles():
    for S, E_expected in ((LJ7_SADDLE_11_0403, E_C2), (LJ7_SADDLE_11_0373, E_C1)):
        S = jnp.asarray(S)
        w, v = np.linalg.eigh(np.asarray(LJ7.hessian(S)))
        u = v[:, 0].reshape(S.shape)
        u = u / np.abs(u).max()
        ends = [float(jaxrxn.minimize(LJ7, S + s * 0.03 * u, fmax=1e-6, max_steps=20_000).energy) for s in (1, -1)]
        print(f"saddle {float(LJ7.energy(S)):.4f} (lowest Hessian eigenvalue {w[0]:.3f}) connects "
              f"{ends[0]:.4f} and {ends[1]:.4f}")  # fmt: skip
        assert min(abs(e + 12.5349) for e in ends) < 1e-3 and min(abs(e - E_expected) for e in ends) < 1e-3


R0 = jaxrxn.minimize(LJ7, jnp.asarray(lj7_hexagon()), fmax=1e-6).R


def first_basin(last, integ):
    """Replay the detection block from `last` quenching every FINE steps; first non-C0 energy."""

    def body(c, _):
        st, E_first, found = c
        st = run_md(LJ7, integ, st, FINE)[0]
        q = FINE_QUENCH(LJ7, st.R)
        out = ~SAME(R0, q.R)
        E_first = jnp.where(found | ~out, E_first, q.energy)
        return (st, E_first, found | out), None

    (_, E_first, found), _ = jax.lax.scan(body, (last, jnp.nan, jnp.array(False)), None, length=T_EVENT // FINE)
    return E_first, found


def md_escapes(kT, seed=11):
    integ = Langevin(DT, kT / KB, FRICTION)

    @jax.jit
    @jax.vmap
    def replica(key):
        res = md_until_transition(LJ7, integ, integ.init(LJ7, R0, key), R0, t_event=T_EVENT,
                                  max_steps=2_000_000, same_basin=SAME, quench=QUENCH)  # fmt: skip
        E_first, found = first_basin(res.last_in_basin, integ)
        return res.transitioned, res.step, res.E_new, E_first, found

    t0 = time.perf_counter()
    moved, step, E_det, E_first, found = replica(jax.random.split(jax.random.PRNGKey(seed), N))
    print(f"MD at kT = {kT}: {time.perf_counter() - t0:.1f} s; all escaped: {bool(np.all(moved))}, "
          f"replay found the crossing in {int(np.sum(found))}/{N}")  # fmt: skip
    t = np.asarray(step) * DT / TAU - 0.5 * T_EVENT * DT / TAU  # midpoint of the detection block
    report(f"MD kT={kT}, product at detection", t, E_det, kT)
    report(f"MD kT={kT}, first basin entered", t, E_first, kT)


def tad_escapes(kT_lo, kT_hi):
    tad = TAD(T_lo=kT_lo / KB, T_hi=kT_hi / KB, delta=0.05, nu_min=2.0 / TAU, dt=DT, friction=FRICTION,
              t_event=T_EVENT, same_basin=SAME, quench=QUENCH, max_steps=2_000_000)  # fmt: skip

    def barrier(R_min, E_min, R_new, E_new):
        return jnp.where(jnp.abs(E_new - E_C1) < 5e-3, EXITS["C1"][0],
                         jnp.where(jnp.abs(E_new - E_C2) < 5e-3, EXITS["C2"][0], jnp.maximum(E_new - E_min, 0.0) + 0.44))  # fmt: skip

    @jax.jit
    @jax.vmap
    def replica(key):
        return tad_basin(LJ7, tad, R0, tad.integrator.init(LJ7, R0, key), barrier)

    t0 = time.perf_counter()
    res = replica(jax.random.split(jax.random.PRNGKey(3), N))
    print(f"TAD kT_lo = {kT_lo} from kT_hi = {kT_hi}: {time.perf_counter() - t0:.1f} s; "
          f"accepted {int(np.sum(res.accepted))}/{N}")  # fmt: skip
    report(f"TAD kT_lo={kT_lo}", np.asarray(res.dt_lo) / TAU, res.E_new, kT_lo)


if __name__ == "__main__":
    check_saddles()
    md_escapes(KT_MD)
    tad_escapes(KT_LO, KT_HI)
