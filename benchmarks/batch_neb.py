"""A padded batch of different CI-NEBs in one compiled call vs the same reactions one by one.

    python benchmarks/batch_neb.py [--n 64] [--images 5] [--fmax 0.01]

Reactions: an adatom hopping between hollow sites on fcc(100) EMT slabs
(:func:`jaxrxn.systems.adatom_hop_fcc100`) of seven metals (Al, Cu, Ni, Pd, Pt, Ag, Au),
four slab sizes (2x2x2, 2x2x3, 3x2x2, 3x2x3: 9, 13, 13 and 19 atoms, bottom layer fixed)
and three in-plane strains (0.98, 1.00, 1.02 of ASE's lattice constant), the first `--n`
of these 84. End points are relaxed by :func:`jaxrxn.batch.batch_minimize` (all 2n in one
call, fmax 0.001); bands are linear with `--images` images.

Batch: :func:`jaxrxn.batch.batch_neb` (CI-NEB, FIRE, k = 0.1) over all n, padded to 19
atoms. One by one: :func:`jaxrxn.neb` per reaction with the same settings (one compilation
per atom count / image reach, reused across reactions). Both are timed cold (compilation
included) and warm (second call). Printed: wall times, the ratio one-by-one / batch, the
largest |barrier(batch) - barrier(alone)| and how many converged.
"""

from __future__ import annotations

import argparse
import itertools
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jaxrxn import NEB, linear, neb  # noqa: E402
from jaxrxn.batch import batch_minimize, batch_neb  # noqa: E402
from jaxrxn.potentials.emt import emt_from_atoms  # noqa: E402
from jaxrxn.systems import adatom_hop_fcc100  # noqa: E402

METALS = ("Al", "Cu", "Ni", "Pd", "Pt", "Ag", "Au")
SIZES = ((2, 2, 2), (2, 2, 3), (3, 2, 2), (3, 2, 3))
STRAINS = (0.98, 1.0, 1.02)


def reactions(n: int):
    """``n`` (label, potential, initial positions, final positions), unrelaxed."""
    out = []
    for metal, size, strain in itertools.islice(itertools.product(METALS, SIZES, STRAINS), n):
        initial, final = adatom_hop_fcc100(metal, size)
        for atoms in (initial, final):
            atoms.set_cell(atoms.cell[:] * np.array([strain, strain, 1.0])[:, None], scale_atoms=True)
        _, pot = emt_from_atoms(initial)
        out.append((f"{metal} {size} x{strain}", pot, jnp.asarray(initial.positions), jnp.asarray(final.positions)))
    return out


def timed(fn):
    t = time.perf_counter()
    out = fn()
    jax.block_until_ready([getattr(r, "barrier", r) for r in out] if isinstance(out, list) else out)
    return out, time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--images", type=int, default=5)
    parser.add_argument("--fmax", type=float, default=0.01)
    args = parser.parse_args()

    rxns = reactions(args.n)
    pots = [r[1] for r in rxns]
    sizes = sorted({int(r[2].shape[0]) for r in rxns})
    metals = sorted({r[0].split()[0] for r in rxns})
    print(f"{len(rxns)} reactions, metals {', '.join(metals)}, atom counts {sizes}")
    relaxed, t_min = timed(lambda: batch_minimize(pots * 2, [r[2] for r in rxns] + [r[3] for r in rxns], fmax=1e-3, max_steps=5000))
    n = len(rxns)
    print(f"end points: {sum(bool(r.converged) for r in relaxed)}/{2 * n} relaxed in one call, {t_min:.1f} s")
    bands = [linear(relaxed[k].R, relaxed[k + n].R, args.images) for k in range(n)]
    solver = NEB()

    batch, t_batch_cold = timed(lambda: batch_neb(pots, bands, solver, fmax=args.fmax))
    _, t_batch_warm = timed(lambda: batch_neb(pots, bands, solver, fmax=args.fmax))
    alone, t_alone_cold = timed(lambda: [neb(p, b, solver, fmax=args.fmax) for p, b in zip(pots, bands)])
    _, t_alone_warm = timed(lambda: [neb(p, b, solver, fmax=args.fmax) for p, b in zip(pots, bands)])

    diff = max(abs(float(a.barrier) - float(b.barrier)) for a, b in zip(batch, alone))
    conv = sum(bool(r.converged) for r in batch)
    print(f"batch CI-NEB:  {t_batch_cold:8.1f} s cold, {t_batch_warm:8.1f} s warm ({conv}/{n} converged)")
    print(f"one by one:    {t_alone_cold:8.1f} s cold, {t_alone_warm:8.1f} s warm")
    print(f"ratio one-by-one / batch: {t_alone_cold / t_batch_cold:.2f} cold, {t_alone_warm / t_batch_warm:.2f} warm")
    print(f"max |barrier(batch) - barrier(alone)| = {diff:.2e} eV")
    for (label, *_), r in zip(rxns, batch):
        print(f"  {label:22s} barrier {float(r.barrier):.4f} eV  converged {bool(r.converged)}  force calls {int(r.n_force_calls)}")


if __name__ == "__main__":
    main()
