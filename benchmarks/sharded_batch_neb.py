"""A padded batch of different CI-NEBs split over two processes with ``jax.distributed``.

    python benchmarks/sharded_batch_neb.py [--n 8]

Starts two local CPU processes that join one JAX cluster (``jax.distributed.initialize``,
gloo collectives), so ``jax.devices()`` lists one device per process. Each process builds the
same padded batch of EMT adatom hops (different metals and slab sizes, see
``benchmarks/batch_neb.py``), places it with the batch axis sharded over the two devices
(each process computes only its half), runs the vmapped CI-NEB, and gathers the barriers.
Process 0 then runs the whole batch alone in one process (:func:`jaxrxn.batch.batch_neb`)
and prints both lists and the largest difference; exit 1 if it exceeds 1e-9 eV.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys

N_PROCESSES = 2


def worker(process_id: int, port: int, n: int) -> None:
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(f"localhost:{port}", num_processes=N_PROCESSES, process_id=process_id)
    import jax.numpy as jnp
    import numpy as np
    from jax.experimental import multihost_utils
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from batch_neb import reactions

    from jaxrxn import NEB, linear, neb
    from jaxrxn.batch import batch_minimize, batch_neb, pad_positions, stack_potentials

    assert len(jax.devices()) == N_PROCESSES, jax.devices()
    rxns = reactions(n)
    pots = [r[1] for r in rxns]
    # end points relaxed locally (every process gets the same numbers)
    with jax.default_device(jax.local_devices()[0]):
        relaxed = batch_minimize(pots * 2, [r[2] for r in rxns] + [r[3] for r in rxns], fmax=1e-3, max_steps=5000)
    bands = [np.asarray(linear(relaxed[k].R, relaxed[k + n].R, 5)) for k in range(n)]
    stacked = stack_potentials(pots)
    n_pad = stacked.system.numbers.shape[-1]
    paths = np.stack([np.asarray(pad_positions(b, n_pad)) for b in bands])

    mesh = Mesh(np.asarray(jax.devices()), ("batch",))

    def place(x):
        x = np.asarray(x)
        sharding = NamedSharding(mesh, PartitionSpec("batch", *([None] * (x.ndim - 1))))
        return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

    solver = NEB()
    run = jax.jit(jax.vmap(lambda p, b: neb(p, b, solver, fmax=0.01).barrier))
    sharded = run(jax.tree_util.tree_map(place, stacked), place(paths))
    barriers = np.asarray(multihost_utils.process_allgather(sharded, tiled=True))
    if process_id == 0:
        with jax.default_device(jax.local_devices()[0]):
            alone = np.array([float(r.barrier) for r in batch_neb(pots, [jnp.asarray(b) for b in bands], solver, fmax=0.01)])
        diff = float(np.max(np.abs(barriers - alone)))
        print(f"{n} reactions, {N_PROCESSES} processes, {len(jax.devices())} devices")
        print("barriers, 2 processes:", np.round(barriers, 6).tolist())
        print("barriers, 1 process:  ", np.round(alone, 6).tolist())
        print(f"max |difference| = {diff:.2e} eV")
        sys.exit(0 if diff <= 1e-9 else 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8, help="reactions (even: split evenly)")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        worker(args.worker, args.port, args.n)
        return
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    procs = [
        subprocess.Popen([sys.executable, __file__, "--n", str(args.n), "--worker", str(i), "--port", str(port)], env=env)
        for i in range(N_PROCESSES)
    ]
    codes = [p.wait() for p in procs]
    sys.exit(max(codes))


if __name__ == "__main__":
    main()
