"""A padded batch of different CI-NEBs split over two processes with ``jax.distributed``.

    python benchmarks/sharded_batch_neb.py [--family emt|nnp] [--n N] [--out RESULT.json]

Starts two local CPU processes that join one JAX cluster (``jax.distributed.initialize``,
gloo collectives), so ``jax.devices()`` lists one device per process. Each process builds the
same padded batch, places it with the batch axis sharded over the two devices (each process
computes only its half), runs the vmapped CI-NEB in one jitted call, and gathers the
barriers. Process 0 then runs the whole batch alone in one process
(:func:`jaxrxn.batch.batch_neb`) and prints both lists, both wall times (compilation
included) and the largest difference; exit 1 if the two differ in which bands converged, or
by more than 1e-9 eV on a converged band (bands stopped at the step cap differ in their last
bits: the two batch shapes reduce in other orders, and hundreds of steps grow it).

On one machine the one-process batch already spreads XLA's work over the cores, so two
processes there save no time; the split pays where each process has its own device
(several GPUs or hosts).

Families:

- ``emt`` (default ``--n 8``): EMT adatom hops, different metals and slab sizes
  (``benchmarks/batch_neb.py``), end points relaxed, linear bands of 5 images, CI-NEB to
  0.01 eV/Å.
- ``nnp``: the shipped neural-network potential (``xtb-painn``) on the data set's held-out
  reactions (``benchmarks/nnp_batch_neb.py``: geodesic bands of 8 images between the data
  set's reactant and product, the reaction pipeline's CI-NEB to 0.05 eV/Å, 500 steps);
  ``--n`` takes the first N (default: all; an odd batch gets one repeated member).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time

N_PROCESSES = 2


def emt_batch(n: int):
    """(potentials, bands, solver, solve options) of `n` EMT adatom hops."""
    import jax
    import numpy as np
    from batch_neb import reactions

    from jaxrxn import NEB, linear
    from jaxrxn.batch import batch_minimize

    rxns = reactions(n)
    pots = [r[1] for r in rxns]
    # end points relaxed locally (every process gets the same numbers)
    with jax.default_device(jax.local_devices()[0]):
        relaxed = batch_minimize(pots * 2, [r[2] for r in rxns] + [r[3] for r in rxns], fmax=1e-3, max_steps=5000)
    bands = [np.asarray(linear(relaxed[k].R, relaxed[k + n].R, 5)) for k in range(n)]
    return pots, bands, NEB(), {"fmax": 0.01, "max_steps": 1000}


def nnp_batch(n: int | None):
    """(potentials, bands, solver, solve options) of the NNP on the held-out reactions."""
    import jax.numpy as jnp
    import numpy as np
    from nnp_batch_neb import NEB_FMAX, NEB_STEPS, reactions

    from jaxrxn.nnp.model import pretrained
    from jaxrxn.path.geodesic_interpolation import geodesic
    from jaxrxn.reaction import pipeline_neb
    from jaxrxn.system import System

    rx = reactions(heldout_only=True)[:n]
    pots = [pretrained(r["numbers"]) for r in rx]
    bands = [np.asarray(geodesic(jnp.asarray(r["R0"]), jnp.asarray(r["R1"]), 8, System(r["numbers"])).path) for r in rx]
    return pots, bands, pipeline_neb(remove_rigid=True), {"fmax": NEB_FMAX, "max_steps": NEB_STEPS}


def worker(process_id: int, port: int, family: str, n: int | None, out: str | None) -> None:
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(f"localhost:{port}", num_processes=N_PROCESSES, process_id=process_id)
    import jax.numpy as jnp
    import numpy as np
    from jax.experimental import multihost_utils
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from jaxrxn import neb
    from jaxrxn.batch import batch_neb, pad_positions, stack_potentials

    assert len(jax.devices()) == N_PROCESSES, jax.devices()
    pots, bands, solver, options = emt_batch(n) if family == "emt" else nnp_batch(n)
    n = len(pots)
    # an odd batch is padded with a copy of its last member (dropped from the results)
    members = list(range(n)) + [n - 1] * (n % N_PROCESSES)
    stacked = stack_potentials([pots[k] for k in members])
    n_pad = stacked.system.numbers.shape[-1]
    paths = np.stack([np.asarray(pad_positions(bands[k], n_pad)) for k in members])

    mesh = Mesh(np.asarray(jax.devices()), ("batch",))

    def place(x):
        x = np.asarray(x)
        sharding = NamedSharding(mesh, PartitionSpec("batch", *([None] * (x.ndim - 1))))
        return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

    def one(p, b):
        r = neb(p, b, solver, **options)
        return r.barrier, r.converged

    run = jax.jit(jax.vmap(one))
    t = time.perf_counter()
    sharded = run(jax.tree_util.tree_map(place, stacked), place(paths))
    barriers, converged = (np.asarray(multihost_utils.process_allgather(x, tiled=True))[:n] for x in sharded)
    t_sharded = time.perf_counter() - t
    if process_id == 0:
        t = time.perf_counter()
        with jax.default_device(jax.local_devices()[0]):
            res = batch_neb(pots, [jnp.asarray(b) for b in bands], solver, **options)
        alone = np.array([float(r.barrier) for r in res])
        t_alone = time.perf_counter() - t
        same_verdicts = bool(np.array_equal(converged, [bool(r.converged) for r in res]))
        diff = np.abs(barriers - alone)
        # bands stopped at the step cap differ by the last bits of their arithmetic (the
        # two batch shapes reduce in other orders), grown over hundreds of steps
        diff_converged = float(np.max(diff[converged], initial=0.0))
        print(f"{family}: {n} reactions ({int(converged.sum())} converged), {N_PROCESSES} processes, "
              f"{len(jax.devices())} devices, load {os.getloadavg()[0]:.1f}")  # fmt: skip
        print("barriers, 2 processes:", np.round(barriers, 6).tolist())
        print("barriers, 1 process:  ", np.round(alone, 6).tolist())
        print(f"wall (compilation included): 2 processes {t_sharded:.1f} s, 1 process {t_alone:.1f} s")
        print(f"max |difference|: converged bands {diff_converged:.2e} eV, all {diff.max():.2e} eV; "
              f"same convergence verdicts: {same_verdicts}")  # fmt: skip
        if out:
            with open(out, "w") as f:
                json.dump({"family": family, "n_reactions": n, "processes": N_PROCESSES, "barriers_sharded": barriers.tolist(),
                           "barriers_one_process": alone.tolist(), "converged": converged.tolist(),
                           "max_abs_difference_converged_eV": diff_converged, "max_abs_difference_eV": float(diff.max()),
                           "same_verdicts": same_verdicts, "sharded_s": t_sharded, "one_process_s": t_alone,
                           "load_average": os.getloadavg()[0], "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())},
                          f, indent=1)  # fmt: skip
        sys.exit(0 if diff_converged <= 1e-9 and same_verdicts else 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", choices=("emt", "nnp"), default="emt")
    parser.add_argument("--n", type=int, default=None, help="reactions (emt: 8; nnp: every held-out one)")
    parser.add_argument("--out", default=None, help="write the numbers to this JSON file")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    n = 8 if args.n is None and args.family == "emt" else args.n
    if args.worker is not None:
        worker(args.worker, args.port, args.family, n, args.out)
        return
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    common = ["--family", args.family] + (["--n", str(n)] if n is not None else []) + (["--out", args.out] if args.out else [])
    procs = [
        subprocess.Popen([sys.executable, __file__, *common, "--worker", str(i), "--port", str(port)], env=env)
        for i in range(N_PROCESSES)
    ]
    codes = [p.wait() for p in procs]
    sys.exit(max(codes))


if __name__ == "__main__":
    main()
