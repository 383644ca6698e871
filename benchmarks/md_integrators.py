"""jaxrxn's MD integrators against jax_md.simulate's, same process, same system (issue #17).

Can ``jaxrxn.dynamics.VelocityVerlet`` / ``Langevin`` (BAOAB) be replaced by
``jax_md.simulate.nve`` / ``nvt_langevin`` (BAOAB, Davidchack et al. 2015)? Both integrate in
the same units (Å, eV, amu; time in Å·sqrt(amu/eV), ``jaxrxn.units.FS`` per fs), so the jax-md
step is ``dt_fs * FS`` and its friction ``friction_per_fs / FS``. jax-md moves positions with
``space.free()``'s shift (plain addition), as jaxrxn does.

Systems: EMT Cu, fcc 3x3x3 cubic cells (108 atoms, periodic, jaxrxn's EMT, a realistic force
cost) and 2D LJ7 (reduced units, 1 amu; a cheap force, so integrator overhead shows).

- NVE from the same positions and velocities: largest position difference after `n` steps
  (both are velocity Verlet, so equal to rounding), total-energy drift, steps/s.
- Langevin at 300 K (EMT; friction 0.01/fs, 2 fs) or kT = 0.2 (LJ7; friction 0.05): both
  split the PRNG key and draw the O-step normals the same way, so from the same key the
  trajectories coincide (largest position difference after `n` steps); also the mean
  kinetic temperature over the second half (+- block standard error, 20 blocks) against
  the thermostat's value; steps/s.

Measured (2D LJ7, 2000 steps, float64, 2 shared cores at load average 13-25, so the rates
are rough): NVE positions equal to 1.0e-7 Å after 2000 steps (jax-md updates momenta, jaxrxn
velocities: rounding, grown by the chaotic dynamics), the same energy drift 2.50e-4 eV;
Langevin positions identical (0.0 Å); 1.41e6 vs 1.52e6 NVE steps/s and 4.7e5 vs 6.2e5
Langevin steps/s (jaxrxn vs jax-md). The EMT Cu run did not finish on the loaded machine
(killed after 15 min of compilation at ~4% of a core); not measured.

Each timing is the best of 3 warm runs of one jitted ``lax.scan`` of `n` steps. Run:
``python benchmarks/md_integrators.py [n_steps] [lj7|emt]`` (default 2000 steps, both systems). Results are written to
benchmarks/results/md_integrators.json.
"""

from __future__ import annotations

import json
import os
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402
from jax_md import simulate, space  # noqa: E402

import jaxrxn  # noqa: E402
from jaxrxn.dynamics import Langevin, VelocityVerlet, run_md  # noqa: E402
from jaxrxn.dynamics.md import kinetic_energy  # noqa: E402
from jaxrxn.units import FS, KB  # noqa: E402

N = int(next((a for a in sys.argv[1:] if a.isdigit()), 2000))


def best_of(run, *args, repeat: int = 3) -> float:
    jax.block_until_ready(run(*args))  # compile
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        jax.block_until_ready(run(*args))
        best = min(best, time.perf_counter() - t)
    return best


def block_mean(x: np.ndarray, n_blocks: int = 20) -> tuple[float, float]:
    b = np.asarray(x)[: len(x) // n_blocks * n_blocks].reshape(n_blocks, -1).mean(1)
    return float(b.mean()), float(b.std(ddof=1) / np.sqrt(n_blocks))


def systems():
    from ase.build import bulk

    from jaxrxn.potentials.emt import emt_from_atoms

    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((3, 3, 3))
    atoms.rattle(0.05, seed=1)
    R, emt = emt_from_atoms(atoms)
    th = np.arange(6) * np.pi / 3
    hexagon = np.concatenate([[[0.0, 0.0]], 1.1224620483 * np.stack([np.cos(th), np.sin(th)], 1)])
    lj = jaxrxn.lennard_jones(dim=2)
    # (name, potential, R, dt fs, temperature K, friction 1/fs)
    return [
        ("EMT Cu 108 atoms", emt, jnp.asarray(R), 2.0, 300.0, 0.01),
        ("2D LJ7", lj, jnp.asarray(hexagon), 0.05, 0.2 / KB, 0.05),
    ]


def compare(name, pot, R, dt, T, friction) -> dict:
    m = pot.atom_masses(R)
    energy = pot.energy
    _, shift = space.free()
    out = {"system": name, "n_atoms": int(R.shape[0]), "n_steps": N, "dt_fs": dt}

    # ---- NVE ------------------------------------------------------------------------
    vv = VelocityVerlet(dt=dt)
    st0 = vv.init(pot, R, jax.random.PRNGKey(0), temperature=T)
    init_nve, apply_nve = simulate.nve(energy, shift, dt * FS)
    js0 = init_nve(jax.random.PRNGKey(0), R, KB * T, mass=m[:, None], momenta=st0.V * m[:, None])

    def total(R, V):
        return energy(R) + kinetic_energy(V, m)

    @jax.jit
    def run_jaxrxn_nve(st):
        def body(s, _):
            s = vv.step(pot, s)
            return s, total(s.R, s.V)

        return lax.scan(body, st, None, length=N)

    @jax.jit
    def run_jaxmd_nve(s):
        def body(s, _):
            s = apply_nve(s)
            return s, total(s.position, s.momentum / s.mass)

        return lax.scan(body, s, None, length=N)

    (a, ea), (b, eb) = run_jaxrxn_nve(st0), run_jaxmd_nve(js0)
    e0 = float(total(R, st0.V))
    out["nve"] = {
        "max_position_difference_A": float(jnp.max(jnp.abs(a.R - b.position))),
        "jaxrxn_energy_drift_eV": float(ea[-1] - e0),
        "jaxmd_energy_drift_eV": float(eb[-1] - e0),
        "jaxrxn_max_energy_error_eV": float(jnp.max(jnp.abs(ea - e0))),
        "jaxmd_max_energy_error_eV": float(jnp.max(jnp.abs(eb - e0))),
        "jaxrxn_steps_per_s": N / best_of(jax.jit(lambda s: run_md(pot, vv, s, N)[0]), st0),
        "jaxmd_steps_per_s": N / best_of(jax.jit(lambda s: lax.fori_loop(0, N, lambda i, s: apply_nve(s), s)), js0),
    }

    # ---- Langevin -------------------------------------------------------------------
    lv = Langevin(dt=dt, temperature=T, friction=friction)
    init_l, apply_l = simulate.nvt_langevin(energy, shift, dt * FS, KB * T, gamma=friction / FS)
    ls0 = lv.init(pot, R, jax.random.PRNGKey(1))
    jl0 = init_l(jax.random.PRNGKey(1), R, mass=m[:, None], momenta=ls0.V * m[:, None])
    n_dof = R.size

    @jax.jit
    def temps_jaxrxn(st):
        return lax.scan(lambda s, _: (lv.step(pot, s), 2 * kinetic_energy(s.V, m) / (n_dof * KB)), st, None, length=N)[1]

    @jax.jit
    def temps_jaxmd(s):
        def body(s, _):
            s = apply_l(s)
            return s, 2 * kinetic_energy(s.momentum / s.mass, m) / (n_dof * KB)

        return lax.scan(body, s, None, length=N)[1]

    ta, tb = np.asarray(temps_jaxrxn(ls0))[N // 2 :], np.asarray(temps_jaxmd(jl0))[N // 2 :]
    # both split the thermostat key the same way and draw the same normals: the noise
    # streams coincide, so the Langevin trajectories can be compared point by point too
    end_a = jax.jit(lambda s: run_md(pot, lv, s, N)[0])(ls0)
    end_b = jax.jit(lambda s: lax.fori_loop(0, N, lambda i, s: apply_l(s), s))(jl0)
    (ma, sa), (mb, sb) = block_mean(ta), block_mean(tb)
    out["langevin"] = {
        "target_K": T,
        "jaxrxn_mean_T_K": ma, "jaxrxn_T_se_K": sa,
        "jaxmd_mean_T_K": mb, "jaxmd_T_se_K": sb,
        "difference_in_sigma": abs(ma - mb) / float(np.hypot(sa, sb)),
        "max_position_difference_A": float(jnp.max(jnp.abs(end_a.R - end_b.position))),
        "jaxrxn_steps_per_s": N / best_of(jax.jit(lambda s: run_md(pot, lv, s, N)[0]), ls0),
        "jaxmd_steps_per_s": N / best_of(jax.jit(lambda s: lax.fori_loop(0, N, lambda i, s: apply_l(s), s)), jl0),
    }  # fmt: skip
    return out


def main() -> None:
    load = os.getloadavg()[0]
    only = [a for a in sys.argv[1:] if not a.isdigit()]
    results = []
    for s in systems():
        if only and not any(o.lower() in s[0].lower() for o in only):
            continue
        r = compare(*s)
        results.append(r)
        nve, lg = r["nve"], r["langevin"]
        print(f"{r['system']} ({r['n_steps']} steps of {r['dt_fs']} fs)")
        print(f"  NVE: |R_jaxrxn - R_jaxmd| max {nve['max_position_difference_A']:.2e} Å; energy drift "
              f"{nve['jaxrxn_energy_drift_eV']:.2e} / {nve['jaxmd_energy_drift_eV']:.2e} eV (max error "
              f"{nve['jaxrxn_max_energy_error_eV']:.2e} / {nve['jaxmd_max_energy_error_eV']:.2e}); steps/s "
              f"{nve['jaxrxn_steps_per_s']:.0f} jaxrxn / {nve['jaxmd_steps_per_s']:.0f} jax-md")
        print(f"  Langevin: <T> {lg['jaxrxn_mean_T_K']:.2f} +- {lg['jaxrxn_T_se_K']:.2f} jaxrxn / {lg['jaxmd_mean_T_K']:.2f} "
              f"+- {lg['jaxmd_T_se_K']:.2f} jax-md (target {lg['target_K']:.2f} K; {lg['difference_in_sigma']:.1f} sigma "
              f"apart; |R| diff {lg['max_position_difference_A']:.1e} Å); steps/s {lg['jaxrxn_steps_per_s']:.0f} jaxrxn / {lg['jaxmd_steps_per_s']:.0f} jax-md", flush=True)  # fmt: skip
    print(f"load average at start: {load:.1f}")
    os.makedirs("benchmarks/results", exist_ok=True)
    with open("benchmarks/results/md_integrators.json", "w") as f:
        json.dump({"load_average_at_start": load, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
