"""Cost of a barrier gradient vs a forward solve, and vs differentiating by unrolling.

    python benchmarks/tune_gradient_cost.py

For Muller-Brown (barrier A -> S1) and the 2D LJ7 hexagon exit (-11.0403):
- forward: P-RFO saddle search from a perturbed guess + minimisation of the minimum +
  Newton polish of both (what a user runs to get the barrier);
- implicit gradient: the same forward solve plus the envelope-theorem derivative
  (jax.grad of jaxrxn.tune.barrier), and the implicit-function-theorem Jacobian of the
  saddle geometry;
- unrolled: jax.grad through a fixed number of Newton steps written as lax.scan (the
  alternative a user would write without implicit differentiation), with XLA's memory
  estimate for both.
Prints seconds (median of repeats, after compilation) and the ratios.
"""

import os
import statistics
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jaxrxn  # noqa: E402
from jaxrxn.saddle import PRFO, saddle_search  # noqa: E402
from jaxrxn.tune import barrier, stationary_point  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from helpers import LJ7_SADDLE_11_0403, lj7_hexagon  # noqa: E402


def timeit(fn, *args, repeats=7):
    jax.block_until_ready(fn(*args))  # compile
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def memory(fn, *args):
    try:
        m = jax.jit(fn).lower(*args).compile().memory_analysis()
        return (m.temp_size_in_bytes + m.output_size_in_bytes) / 1e6
    except Exception:  # backend without memory analysis
        return float("nan")


def case(name, pot, R_min_guess, R_ts_guess, zero_modes_spec, n_unroll):
    def forward(params):
        p = pot.replace(params=params)
        ts = saddle_search(p, R_ts_guess, PRFO(), fmax=1e-6, max_steps=100, zero_modes_spec=zero_modes_spec)
        mn = jaxrxn.minimize(p, R_min_guess, "lbfgs", fmax=1e-6, max_steps=500)
        return barrier(p, mn.R, ts.R, zero_modes_spec=zero_modes_spec, gtol=1e-9)

    def geometry(params):
        p = pot.replace(params=params)
        ts = saddle_search(p, R_ts_guess, PRFO(), fmax=1e-6, max_steps=100, zero_modes_spec=zero_modes_spec)
        return stationary_point(p, ts.R, zero_modes_spec=zero_modes_spec, gtol=1e-9)[0]

    def unrolled(params):
        # Newton from the guess, unrolled for a fixed number of steps and differentiated
        # through every step (no implicit differentiation).
        p = pot.replace(params=params)

        def newton(R, _):
            g = jax.grad(p.energy)(R).reshape(-1)
            H = jax.hessian(p.energy)(R).reshape(R.size, R.size) + 1e-8 * jnp.eye(R.size)
            return R - jnp.linalg.lstsq(H, g)[0].reshape(R.shape), None

        Rts, _ = jax.lax.scan(newton, R_ts_guess, None, length=n_unroll)
        Rmin, _ = jax.lax.scan(newton, R_min_guess, None, length=n_unroll)
        return p.energy(Rts) - p.energy(Rmin)

    params = pot.params
    f_fwd = jax.jit(forward)
    f_grad = jax.jit(jax.value_and_grad(forward))
    f_jac = jax.jit(jax.jacfwd(geometry))
    f_unroll = jax.jit(jax.value_and_grad(unrolled))
    t_fwd, t_grad, t_jac, t_unroll = (timeit(f, params) for f in (f_fwd, f_grad, f_jac, f_unroll))
    b = float(f_fwd(params))
    b_unroll, _ = f_unroll(params)
    print(f"\n{name}: barrier {b:.6f} (unrolled Newton x{n_unroll}: {float(b_unroll):.6f})")
    print(f"  forward solve               {t_fwd * 1e3:9.2f} ms")
    print(f"  value + implicit gradient   {t_grad * 1e3:9.2f} ms   ratio to forward {t_grad / t_fwd:5.2f}")
    print(f"  saddle geometry Jacobian    {t_jac * 1e3:9.2f} ms   ratio to forward {t_jac / t_fwd:5.2f}")
    print(f"  unrolled value + gradient   {t_unroll * 1e3:9.2f} ms   ratio to implicit {t_unroll / t_grad:5.2f}")
    print(f"  XLA memory: implicit {memory(jax.value_and_grad(forward), params):.2f} MB, "
          f"unrolled {memory(jax.value_and_grad(unrolled), params):.2f} MB")  # fmt: skip


def main():
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}")
    mb = jaxrxn.muller_brown()
    case("Muller-Brown A -> S1", mb, jnp.array([[-0.5, 1.45]]), jnp.array([[-0.8, 0.6]]), "none", 20)
    lj = jaxrxn.lennard_jones(dim=2)
    rng = np.random.default_rng(0)
    ts_guess = jnp.asarray(LJ7_SADDLE_11_0403 + 0.01 * rng.normal(size=(7, 2)))
    case("2D LJ7 hexagon exit", lj, jnp.asarray(lj7_hexagon()), ts_guess, "free", 20)


if __name__ == "__main__":
    main()
